package cases

func init() {
	register(Case{
		Name: "patch",
		Doc:  "enable the livepatch while workers call the patched functions, wait, disable, wait, unload",
		Steps: []Step{
			{Do: DoSettle},
			{Do: DoEnable}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoDisable}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoUnload},
		},
	})
}
