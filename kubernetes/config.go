package kubernetes

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline/faultline/cluster"
)

// DefaultStartTimeout bounds Start when the spec leaves StartTimeout at
// zero: pods start slower than containers.
const DefaultStartTimeout = 3 * time.Minute

// Config describes a cluster to Start: the cluster (Spec) and where and
// how the Kubernetes runtime reaches it.
type Config struct {
	cluster.Spec
	// Kubeconfig is the kubeconfig file; empty follows kubectl's rules
	// ($KUBECONFIG, then ~/.kube/config).
	Kubeconfig string
	// Context is the kubeconfig context; empty uses its current context.
	Context string
	// AgentImage is the image holding the faultline-agent binary (see
	// package agent). Empty builds it on the local Docker engine.
	AgentImage string
	// LoadImages makes images available to the cluster's nodes before the
	// pods start (a cluster without a registry). Nil uses the kubeconfig's
	// image-loader extension when it has one (the local cluster of
	// k8s/cluster.sh does), else assumes the nodes can pull the images.
	LoadImages func(ctx context.Context, images ...string) error
}

// DefaultConfig is a 3-node cluster of our store built from the working
// tree, with namespaces of dead runs reaped, through kubectl's kubeconfig.
func DefaultConfig() Config { return Config{Spec: cluster.DefaultSpec()} }

// withDefaults fills zero fields with the defaults and validates.
func (c Config) withDefaults() (Config, error) {
	var err error
	c.Spec, err = c.Spec.WithDefaults(DefaultStartTimeout)
	if err != nil {
		return c, fmt.Errorf("kubernetes: invalid config: %w", err)
	}
	return c, nil
}
