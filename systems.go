package faultline

import (
	"log/slog"
	"sync"

	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/sut/nats"
)

// systems are the systems runs name beyond sut's own (kvnode, etcd): each
// lives in a package of its own and registers through sut.Register, as a
// user's system does.
var systems = []sut.System{nats.System{}}

var registerOnce sync.Once

// RegisterSystems registers the built-in systems of the systems table,
// once per process (a name a program registered first keeps its system).
// Resolving a run calls it; so do commands that list systems.
func RegisterSystems() {
	registerOnce.Do(func() {
		for _, s := range systems {
			if err := sut.Register(s); err != nil {
				slog.Warn("built-in system not registered", "system", s.Info().Name, "err", err)
			}
		}
	})
}
