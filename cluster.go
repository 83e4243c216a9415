package faultline

import (
	"context"
	"log/slog"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/kubernetes"
	"github.com/faultline/faultline/nemesis"
)

// Cluster is what a run needs from a started cluster, whatever runtime
// hosts it (Docker or Kubernetes): the nemesis's view of the nodes, where clients
// connect, the nodes' logs, and teardown.
type Cluster interface {
	nemesis.Cluster
	// ClientAddrs maps each node to the host:port the harness dials.
	ClientAddrs() map[string]string
	// SaveLogs writes each node's log to dir/<node>.log.
	SaveLogs(ctx context.Context, dir string) error
	// Close removes every node and network of the cluster.
	Close(ctx context.Context) error
}

var (
	_ Cluster = (*docker.Cluster)(nil)
	_ Cluster = (*kubernetes.Cluster)(nil)
)

// startCluster starts t's cluster on its runtime.
func startCluster(ctx context.Context, t Test, log *slog.Logger) (Cluster, error) {
	if t.Runtime == RuntimeKubernetes {
		return startKubernetes(ctx, t, log)
	}
	sys, opts, err := t.system()
	if err != nil {
		return nil, err
	}
	dcfg := docker.DefaultConfig()
	dcfg.Nodes = t.Nodes
	dcfg.Image = t.Image
	dcfg.System, dcfg.Options = sys, opts
	dcfg.Logger = log
	cl, err := docker.Start(ctx, dcfg)
	if err != nil {
		return nil, err // a nil *docker.Cluster must not become a non-nil Cluster
	}
	return cl, nil
}

// startKubernetes starts t's cluster on the Kubernetes runtime.
func startKubernetes(ctx context.Context, t Test, log *slog.Logger) (Cluster, error) {
	sys, opts, err := t.system()
	if err != nil {
		return nil, err
	}
	kcfg := kubernetes.DefaultConfig()
	kcfg.Kubeconfig = t.Kubeconfig
	kcfg.Nodes = t.Nodes
	kcfg.Image = t.Image
	kcfg.System, kcfg.Options = sys, opts
	kcfg.Logger = log
	cl, err := kubernetes.Start(ctx, kcfg)
	if err != nil {
		return nil, err
	}
	return cl, nil
}
