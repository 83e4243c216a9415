// Package ownsystem shows how a program outside faultline tests its own
// system with faultline's workloads, nemeses and checkers, from its own
// go test and without a fork: it implements sut.System, registers it with
// sut.Register, and runs a faultline.Test that names it.
//
// A real user's System builds its own server (Binaries names a main
// package in the user's module); to run anywhere, this one stands in
// faultline's own store, kvnode, under a name of its own, and declares no
// clock hook (though kvnode has one), so that the clock fault is refused
// up front.
package ownsystem

import (
	"context"

	"github.com/faultline/faultline/sut"
)

// Name is the name the system registers under (--system, Test.System).
const Name = "example-store"

// System is the example system.
type System struct{}

var _ sut.System = System{}

// Info implements sut.System: what the harness may do to it.
func (System) Info() sut.Info {
	return sut.Info{Name: Name, DiskFiles: sut.KVNode{}.Info().DiskFiles}
}

// Binaries implements sut.System: the server's static binary, built from
// a module of the repository the image is built from.
func (System) Binaries(opts sut.Options) []sut.Binary { return sut.KVNode{}.Binaries(opts) }

// Node implements sut.System: the server's command line, ports and data
// directory.
func (System) Node(layout sut.Layout, opts sut.Options, id string) sut.NodeSpec {
	return sut.KVNode{}.Node(layout, opts, id)
}

// Probe implements sut.System.
func (System) Probe(ctx context.Context, addrs map[string]string) (sut.Status, error) {
	return sut.KVNode{}.Probe(ctx, addrs)
}

// NewClient implements sut.System.
func (System) NewClient(ctx context.Context, cfg sut.ClientConfig) (sut.Client, error) {
	return sut.KVNode{}.NewClient(ctx, cfg)
}
