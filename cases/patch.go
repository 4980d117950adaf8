package cases

func init() {
	register(Case{
		Name:  "patch",
		Doc:   "enable the livepatch while workers call the patched functions, wait, disable, wait, unload",
		Steps: seq([]Step{{Do: DoSettle}}, patchSteps, unpatchSteps),
	})
}
