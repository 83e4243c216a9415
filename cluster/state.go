package cluster

// Node states as every runtime's State and ObservedState report them: the
// nemesis's words (running, paused, killed), plus the two ends of a
// node's life.
const (
	StateCreated = "created" // created, its process not started yet
	StateRunning = "running"
	StatePaused  = "paused"
	StateKilled  = "killed"
	StateRemoved = "removed" // the cluster was closed
)
