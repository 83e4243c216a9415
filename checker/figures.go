package checker

// Figures returns the checkers every run gets besides its workload's
// model: counts by f and type (stats), latency and throughput (perf), and
// availability during and after faults, for concurrency client workers.
func Figures(concurrency int) []Checker {
	return []Checker{NewStats(), NewLatency(), NewAvailability(AvailabilityConfig{Concurrency: concurrency})}
}
