// Package wire owns the contract between the guest agent and the host, and
// nothing else: the versioned event stream the agent writes to the result
// port (Event, one JSON line each, ending with an explicit done), the Trace
// the host folds it into (Apply, Read), the host's replies on the same port,
// the kernel command line parameters the host boots the agent with
// (BootParams), and the paths inside the initramfs both sides agree on.
//
// It is stdlib-only and pure, so that it builds into the guest agent for
// every GOARCH; the host's checker, reports and CLI read the same types.
// Modelled on hugelgupf/vmtest's internal/eventchannel.
package wire
