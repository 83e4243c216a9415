package workload

// Test helpers for the external tests (package workload_test), which may
// import packages that import workload (sut).
var (
	RunBothPhases  = runBothPhases
	CheckSemantics = checkSemantics
	MustWorkload   = mustWorkload
)
