package runner

// Step names a step of a run, as its progress events report it: the whole
// engine-to-UI protocol is Event, so a UI switches on these and the runner
// never prints.
type Step string

// The steps, in the order a run goes through them.
const (
	StepKernel    Step = "kernel"    // resolve, fetch or build the kernel
	StepKselftest Step = "kselftest" // the kernel's selftests: modules, helper, userland
	StepModules   Step = "modules"   // build klptest's test modules
	StepInitramfs Step = "initramfs" // build the initramfs
	StepBoot      Step = "boot"      // start QEMU, wait for the agent
	StepCase      Step = "case"      // a case started in the guest
	StepForensics Step = "forensics" // a stall's or a hang's evidence, a memory dump
	StepShell     Step = "shell"     // a shell on the console
	StepCheck     Step = "check"     // the host checks a boot's trace
	StepRun       Step = "run"       // a --repeat run ended (its verdicts)
)

// Event is one progress report: a step and what it is doing.
type Event struct {
	Step   Step
	Detail string
}

// progressFunc is how the steps report; it never is nil inside the runner.
type progressFunc func(Step, string)

func (o Options) progress() progressFunc {
	return func(s Step, detail string) {
		if o.Progress != nil {
			o.Progress(Event{Step: s, Detail: detail})
		}
	}
}
