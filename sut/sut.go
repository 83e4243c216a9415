// Package sut is the seam for the system under test: what a distributed
// system gives the harness so that a runtime can build its image and start
// its nodes, the nemeses can fault it and the workloads can drive it.
// Our own store is one implementation; etcd is the second, and the worked
// example for users who plug in their own.
package sut

import "fmt"

// ReadMode names how a system serves reads. Each system lists the modes it
// offers, the safe one first; the others are planted bugs (stale, lease,
// serializable reads) that exist to prove the checkers.
type ReadMode string

// Linearizable is the safe read mode every system offers.
const Linearizable ReadMode = "linearizable"

// String implements pflag.Value.
func (m ReadMode) String() string { return string(m) }

// Set implements pflag.Value; the system validates the name.
func (m *ReadMode) Set(s string) error {
	if s == "" {
		return fmt.Errorf("read mode: empty: use %s or one of the system's unsafe modes", Linearizable)
	}
	*m = ReadMode(s)
	return nil
}

// Type implements pflag.Value.
func (m ReadMode) Type() string { return "mode" }
