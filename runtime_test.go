package faultline_test

import (
	"github.com/faultline/faultline"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/kubernetes"
	"github.com/faultline/faultline/nemesis"
)

// Both runtimes give a run everything it needs, and the nemesis what it
// reads back from the runtime.
var (
	_ faultline.Cluster     = (*docker.Cluster)(nil)
	_ faultline.Cluster     = (*kubernetes.Cluster)(nil)
	_ nemesis.StateObserver = (*docker.Cluster)(nil)
	_ nemesis.StateObserver = (*kubernetes.Cluster)(nil)
	_ nemesis.ClockHooker   = (*docker.Cluster)(nil)
	_ nemesis.ClockHooker   = (*kubernetes.Cluster)(nil)
	_ nemesis.MemberCluster = (*docker.Cluster)(nil)
	_ nemesis.MemberCluster = (*kubernetes.Cluster)(nil)
)
