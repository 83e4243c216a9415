package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/sut"
)

// Config describes a cluster to Start. Use DefaultConfig and change fields.
type Config struct {
	// Kubeconfig is the kubeconfig file; empty follows kubectl's rules
	// ($KUBECONFIG, then ~/.kube/config).
	Kubeconfig string
	// Context is the kubeconfig context; empty uses its current context.
	Context string
	// Nodes is the cluster size: pods n1..nN. Default 3; at most 9.
	Nodes int
	// System is the system under test; nil means sut.Default() (our
	// store). It says what the node image holds and how each node runs.
	System sut.System
	// Options configure the system (read mode, planted bugs, ...); they
	// must pass System.Validate.
	Options sut.Options
	// Image is the node image. The cluster's nodes must have it or be able
	// to pull it (see LoadImages). Empty builds System's image on the
	// local Docker engine with docker.BuildImage (using Build).
	Image string
	// Build configures that build when Image is empty; Start builds the
	// image of System whatever Build.System says.
	Build docker.BuildConfig
	// AgentImage is the image holding the faultline-agent binary (see
	// package agent). Empty builds it on the local Docker engine.
	AgentImage string
	// LoadImages makes images available to the cluster's nodes before the
	// pods start (a cluster without a registry). Nil uses the kubeconfig's
	// image-loader extension when it has one (the local cluster of
	// k8s/cluster.sh does), else assumes the nodes can pull the images.
	LoadImages func(ctx context.Context, images ...string) error
	// StartTimeout bounds Start from creating the namespace to "every node
	// healthy and a leader elected" (image builds and loads are not
	// included). Default 3m: pods start slower than containers.
	StartTimeout time.Duration
	// RunID names this run: the namespace is faultline-<RunID>. Empty:
	// generated, "<pid>-<random>".
	RunID string
	// Labels are extra labels for the namespace and every pod.
	Labels map[string]string
	// Reap deletes namespaces of crashed earlier runs (labelled
	// faultline=1, owner process gone) before starting. DefaultConfig
	// turns it on.
	Reap bool
	// Logger receives progress lines; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig is a 3-node cluster of our store built from the working
// tree, with namespaces of dead runs reaped.
func DefaultConfig() Config {
	return Config{
		Nodes:        3,
		System:       sut.Default(),
		Build:        docker.DefaultBuildConfig(),
		StartTimeout: 3 * time.Minute,
		Reap:         true,
	}
}

// runIDPattern keeps faultline-<RunID> a valid namespace name (a DNS label).
var runIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$`)

// Validate reports every problem with c, saying what to change.
func (c Config) Validate() error {
	var errs []error
	if c.Nodes < 1 || c.Nodes > 9 {
		errs = append(errs, fmt.Errorf("Nodes = %d: use 1..9 (3 or 5 for a fault-tolerant cluster)", c.Nodes))
	}
	if c.StartTimeout < 0 {
		errs = append(errs, fmt.Errorf("StartTimeout = %v: use a positive duration (0 means the default)", c.StartTimeout))
	}
	if c.RunID != "" && !runIDPattern.MatchString(c.RunID) {
		errs = append(errs, fmt.Errorf("RunID = %q: use 1-42 characters [a-z0-9-], starting and ending with a letter or digit (it names a namespace)", c.RunID))
	}
	for k := range c.Labels {
		if k == docker.LabelFaultline || strings.HasPrefix(k, docker.LabelFaultline+".") {
			errs = append(errs, fmt.Errorf("Labels[%q]: the faultline label namespace is reserved; pick another key", k))
		}
	}
	if c.System == nil {
		errs = append(errs, fmt.Errorf("System is nil: use sut.ByName(one of %s)", strings.Join(sut.Names(), ", ")))
	} else if err := c.System.Validate(c.Options, nil); err != nil {
		errs = append(errs, fmt.Errorf("Options: %w", err))
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields with DefaultConfig's values.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Nodes == 0 {
		c.Nodes = d.Nodes
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = d.StartTimeout
	}
	if c.System == nil {
		c.System = d.System
	}
	c.Build.System = c.System
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
