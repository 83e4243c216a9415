package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/faultfs"
	"github.com/faultline/faultline/sut"
)

// Spec is the cluster a runtime starts. Use DefaultSpec and change fields.
type Spec struct {
	// Nodes is the cluster size: nodes n1..nN. Default 3; at most 9.
	Nodes int
	// System is the system under test; nil means sut.Default() (our
	// store). It says what the image holds and how each node runs.
	System sut.System
	// Options configure the system (read mode, planted bugs, ...); they
	// must pass the system's Info().Validate.
	Options sut.Options
	// Image is the node image tag to run; empty builds it with
	// engine.BuildImage (using Build, for System).
	Image string
	// Build configures the image build when Image is empty; the image of
	// System is built whatever Build.System says.
	Build engine.BuildConfig
	// Disk puts every node's data on faultfs, the power-failure
	// filesystem (package faultfs), for the disk faults: the node's
	// volume is mounted at faultfs.Volume and its command runs under
	// `faultfs mount` (Command), which needs root and FUSE in the node.
	Disk bool
	// StartTimeout bounds the start from creating the nodes to "every
	// node ready and a leader agreed" (image builds are not included).
	// Zero: the runtime's default.
	StartTimeout time.Duration
	// RunID names this run in resource names and in the faultline.run
	// label. Empty: generated, "<pid>-<random>".
	RunID string
	// Labels are extra labels for every resource of the run.
	Labels map[string]string
	// Reap removes leftovers of crashed earlier runs (labelled
	// faultline=1, owner process gone) before starting. DefaultSpec turns
	// it on.
	Reap bool
	// Logger receives progress lines; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultSpec is a 3-node cluster of our store built from the working
// tree, with leftovers of dead runs reaped.
func DefaultSpec() Spec {
	return Spec{Nodes: 3, System: sut.Default(), Build: engine.DefaultBuildConfig(), Reap: true}
}

// runIDPattern keeps a run id valid in every runtime's names (a DNS label
// once prefixed: Kubernetes' namespace faultline-<run id>).
var runIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$`)

// Validate reports every problem with s, each saying what to change.
func (s Spec) Validate() error {
	var errs []error
	if s.Nodes < 1 || s.Nodes > 9 {
		errs = append(errs, fmt.Errorf("Nodes = %d: use 1..9 (3 or 5 for a fault-tolerant cluster)", s.Nodes))
	}
	if s.System == nil {
		errs = append(errs, fmt.Errorf("System is nil: use sut.ByName(one of %s)", strings.Join(sut.Names(), ", ")))
	} else if err := s.System.Info().Validate(s.Options); err != nil {
		errs = append(errs, fmt.Errorf("Options: %w", err))
	}
	if s.StartTimeout < 0 {
		errs = append(errs, fmt.Errorf("StartTimeout = %v: use a positive duration (0 means the default)", s.StartTimeout))
	}
	if s.RunID != "" && !runIDPattern.MatchString(s.RunID) {
		errs = append(errs, fmt.Errorf("RunID = %q: use 1-42 characters [a-z0-9-], starting and ending with a letter or digit", s.RunID))
	}
	for k := range s.Labels {
		if k == LabelFaultline || strings.HasPrefix(k, LabelFaultline+".") {
			errs = append(errs, fmt.Errorf("Labels[%q]: the faultline label namespace is reserved; pick another key", k))
		}
	}
	return errors.Join(errs...)
}

// WithDefaults fills s's zero fields from DefaultSpec, the start timeout
// with the runtime's own default, and validates the result.
func (s Spec) WithDefaults(startTimeout time.Duration) (Spec, error) {
	d := DefaultSpec()
	if s.Nodes == 0 {
		s.Nodes = d.Nodes
	}
	if s.System == nil {
		s.System = d.System
	}
	s.Build.System = s.System
	s.Build.Options = s.Options
	if s.StartTimeout == 0 {
		s.StartTimeout = startTimeout
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.RunID == "" {
		s.RunID = NewRunID()
	}
	return s, s.Validate()
}

// Command is a node's command line in this cluster: spec's own, or with
// Disk, spec's under `faultfs mount` (run as root; it runs spec's command
// as the image's node user on the mount).
func (s Spec) Command(spec sut.NodeSpec) []string {
	if !s.Disk {
		return spec.Command
	}
	d := faultfs.DefaultDaemonConfig()
	d.Backing, d.Mountpoint, d.Control = faultfs.Backing, sut.DataRoot, faultfs.Control
	d.UID, d.GID, d.Command = engine.NodeUID, engine.NodeUID, spec.Command
	return faultfs.MountArgs(engine.FaultfsPath, d)
}

// Layout is the cluster layout of s: node ids n1..nN, reached by their ids.
func (s Spec) Layout() sut.Layout { return sut.Layout{Nodes: NodeIDs(s.Nodes)} }

// NodeIDs returns n1..nN for a cluster of n nodes.
func NodeIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	return ids
}
