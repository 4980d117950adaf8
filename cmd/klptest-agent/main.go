// Command klptest-agent is klptest's guest agent, installed as u-root's
// uinit in the initramfs. See package guest/agent.
package main

import "github.com/klptest/klptest/guest/agent"

func main() { agent.Main() }
