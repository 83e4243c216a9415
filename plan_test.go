package faultline

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/nemesis"
)

func TestTestValidate(t *testing.T) {
	good := DefaultTest()
	if err := good.Validate(); err != nil {
		t.Fatalf("default test invalid: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Test)
		want string
	}{
		{"workload", func(t *Test) { t.Workload = "stack" }, `unknown workload "stack"`},
		{"nodes", func(t *Test) { t.Nodes = 0 }, "nodes = 0"},
		{"read mode", func(t *Test) { t.ReadMode = "eventual" }, `read mode "eventual"`},
		{"unsafe", func(t *Test) { t.Unsafe = []string{"meteor"} }, `kvnode: unknown planted bug "meteor"`},
		{"system", func(t *Test) { t.System = "zookeeper" }, `unknown system "zookeeper": use one of kvnode, etcd`},
		{"nats register", func(t *Test) { t.System, t.Workload = "nats", "register" }, "nats runs only the queue workload, not register: use --workload=queue"},
		{"nats clock", func(t *Test) { t.System, t.Workload, t.Nemesis = "nats", "queue", nemesis.MustParseSpec("clock") },
			"nats does not support the clock fault (it has no clock hook)"},
		{"nats setting", func(t *Test) { t.System, t.Workload, t.SystemOpt = "nats", "queue", []string{"fsync=yes"} },
			`nats: unknown setting "fsync": use sync_interval`},
		{"nats malformed setting", func(t *Test) { t.System, t.Workload, t.SystemOpt = "nats", "queue", []string{"sync_interval"} },
			`--system-opt "sync_interval": use key=value`},
		{"nats version", func(t *Test) { t.System, t.Workload, t.SystemVersion = "nats", "queue", "2.12" }, `nats: version "2.12": use a release tag such as v2.15.3`},
		{"kvnode version", func(t *Test) { t.SystemVersion = "v1.0.0" }, `kvnode has one build, no versions to choose: drop the system version "v1.0.0"`},
		{"kvnode setting", func(t *Test) { t.SystemOpt = []string{"a=b"} }, `kvnode: unknown setting "a": use snapshot-threshold or snapshot-interval`},
		{"etcd clock", func(t *Test) { t.System, t.Nemesis = "etcd", nemesis.MustParseSpec("partition,clock") },
			"etcd does not support the clock fault (it has no clock hook); use partition, loss, kill, pause, delay, membership, power or corrupt"},
		{"etcd lease read", func(t *Test) { t.System, t.ReadMode = "etcd", "lease" }, `etcd: unknown read mode "lease"`},
		{"time limit", func(t *Test) { t.TimeLimit = 0 }, "time limit"},
		{"name", func(t *Test) { t.Name = "../x" }, "name"},
		{"schedule and nemesis", func(t *Test) {
			t.Schedule, t.Nemesis = "testdata/schedule/kill-late.json", nemesis.MustParseSpec("kill")
		},
			"--schedule and --nemesis kill cannot be given together"},
		{"schedule missing", func(t *Test) { t.Schedule = "testdata/schedule/none.json" }, "no such file"},
		{"schedule past the limit", func(t *Test) { t.Schedule = "testdata/schedule/kill-late.json" },
			"fault 2 (partition:one [n1 n7] at 41s-heal): starts at 41s, outside the main phase of --time-limit 30s"},
		{"schedule unknown node", func(t *Test) { t.Schedule = "testdata/schedule/kill-late.json" }, `node "n7" is not one of the cluster's [n1 n2 n3]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := DefaultTest()
			tc.mod(&x)
			err := x.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestNATSBitflipSchedules: the hand-written schedules README's "Reproducing
// published findings" runs (a bit flip in one node's stream raft log, and
// the same schedule with a plain kill instead) are valid for a 3-node NATS
// run of 40 s.
func TestNATSBitflipSchedules(t *testing.T) {
	for _, path := range []string{"testdata/schedule/nats-bitflip-wal.json", "testdata/schedule/nats-bitflip-wal-kill.json"} {
		x := DefaultTest()
		x.System, x.Workload, x.SystemVersion, x.SystemOpt = "nats", "queue", "v2.12.1", []string{"sync_interval=always"}
		x.Nemesis, x.Schedule, x.TimeLimit = nemesis.MustParseSpec("none"), path, 40*time.Second
		if err := x.Validate(); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
