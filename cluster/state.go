package cluster

// Node states as every runtime's State and ObservedState report them: the
// nemesis's words (running, paused, killed), the two ends of a node's
// life, and a node out of the cluster between two identities.
const (
	StateCreated = "created" // created, its process not started yet
	StateRunning = "running"
	StatePaused  = "paused"
	StateKilled  = "killed"
	StateRemoved = "removed" // the cluster was closed
	// StateLeft: the node left the cluster (Core.Leave): no process, its
	// data wiped, until it joins again as a new member (Core.Join).
	StateLeft = "left"
)
