package nemesis

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

func diskConfig(t *testing.T, spec string) Config {
	t.Helper()
	cfg, err := DefaultConfig().WithSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Disk.Root, cfg.Disk.Files = "/disk/data", []string{"raftlog/*.seg"}
	return cfg
}

// TestPower: a power failure of every node runs faultfs powerfail in each
// (its report read back into the completion), records each node down,
// and power-on brings them back.
func TestPower(t *testing.T) {
	f := newFake(t, 3)
	nem, err := New(f, diskConfig(t, "power"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	c, err := Apply(context.Background(), nem, rec, history.Op{F: FPowerOff, Value: TargetAll})
	if err != nil || c.Type != history.OK {
		t.Fatalf("power-off: %v, %v", c, err)
	}
	v := c.Value.(map[string]any)
	if !reflect.DeepEqual(v["nodes"], []any{"n1", "n2", "n3"}) {
		t.Fatalf("power-off nodes %v", v["nodes"])
	}
	dropped := v["dropped"].(map[string]any)
	for _, n := range f.nodes {
		d, _ := dropped[n].(map[string]any)
		if d["bytes"] != int64(10) || !reflect.DeepEqual(d["undone"], []any{"create raftlog/2.seg"}) {
			t.Errorf("%s dropped %v", n, dropped[n])
		}
		if f.State(n) != StateKilled {
			t.Errorf("%s is %s after a power failure", n, f.State(n))
		}
	}
	if f, k, ok := faultOf(c); !ok || f != (Fault{FaultPower, TargetAll}) || !inEffect(c, k) {
		t.Errorf("the completion does not count as power:all: %v %v", f, ok)
	}
	if c, err := Apply(context.Background(), nem, rec, history.Op{F: FPowerOn}); err != nil || c.Type != history.OK {
		t.Fatalf("power-on: %v, %v", c, err)
	}
	for _, n := range f.nodes {
		if f.State(n) != StateRunning {
			t.Errorf("%s is %s after power-on", n, f.State(n))
		}
	}
}

// TestPowerClientKilled: the power failure kills the node's processes,
// faultfs's client too if it has not exited yet: killed after its whole
// report, the power failure happened; killed before, it is not known to
// have, and the op says so.
func TestPowerClientKilled(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cut    int // bytes of the report printed
		wantOK bool
	}{{"after the report", 1 << 20, true}, {"mid-report", 40, false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, 3)
			f.powerKilled = tc.cut
			nem, err := New(f, diskConfig(t, "power"))
			if err != nil {
				t.Fatal(err)
			}
			c, _ := Apply(context.Background(), nem, &memRecorder{}, history.Op{F: FPowerOff, Value: TargetOne})
			if ok := c.Type == history.OK; ok != tc.wantOK {
				t.Fatalf("power-off with its client killed %s: %v, want ok %v", tc.name, c, tc.wantOK)
			}
		})
	}
}

// TestCorrupt: a corruption kills a minority and changes its files through
// the runtime's disk exec, from the system's globs; rollback first copies
// chunks aside while the node runs. Without a way to reach a down node's
// disk the fault fails, said in words.
func TestCorrupt(t *testing.T) {
	defer func(d time.Duration) { asideWait = d }(asideWait)
	asideWait = 0
	for _, mode := range CorruptModes {
		t.Run(mode, func(t *testing.T) {
			f := newFake(t, 3)
			nem, err := New(diskFake{f}, diskConfig(t, "corrupt:"+mode))
			if err != nil {
				t.Fatal(err)
			}
			c, err := Apply(context.Background(), nem, &memRecorder{}, history.Op{F: FCorrupt, Value: map[string]any{"mode": mode}})
			if err != nil || c.Type != history.OK {
				t.Fatalf("corrupt: %v, %v", c, err)
			}
			v := c.Value.(map[string]any)
			nodes, _ := v["nodes"].([]any)
			if v["target"] != TargetMinority || len(nodes) != 1 {
				t.Fatalf("corrupt hit %v (target %v), want a minority of one", nodes, v["target"])
			}
			n := nodes[0].(string)
			if f.State(n) != StateKilled {
				t.Errorf("%s is %s after its corruption, want down", n, f.State(n))
			}
			changes, _ := v["changes"].(map[string]any)[n].([]any)
			if len(changes) != 1 {
				t.Fatalf("changes %v", v["changes"])
			}
			var disk, aside bool
			for _, call := range f.calls {
				disk = disk || strings.HasPrefix(call, "disk-exec "+n) && strings.Contains(call, "--mode "+mode) &&
					strings.Contains(call, "--root /disk/data --pattern raftlog/*.seg")
				aside = aside || strings.HasPrefix(call, "exec "+n) && strings.Contains(call, " aside ")
			}
			if !disk || aside != (mode == CorruptRollback) {
				t.Errorf("calls %q: want a disk exec of %s (and an aside before, for a rollback)", f.calls, mode)
			}
		})
	}
	f := newFake(t, 3)
	nem, err := New(f, diskConfig(t, "corrupt:bitflip"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := Apply(context.Background(), nem, &memRecorder{}, history.Op{F: FCorrupt, Value: map[string]any{"mode": CorruptBitflip}})
	if c.Type != history.Info || !strings.Contains(c.Error, "cannot reach a down node's disk") {
		t.Errorf("corrupt without a disk exec: %v", c)
	}
}

// TestCorruptStaysInAMinority: corruption outlives its restart, so every
// corrupt op of a run hits the same minority, however many ops there are
// and whichever nodes are up; with that minority down, corrupt fails
// rather than damage another node.
func TestCorruptStaysInAMinority(t *testing.T) {
	for _, size := range []int{3, 5} {
		f := newFake(t, size)
		nem, err := New(diskFake{f}, diskConfig(t, "corrupt:bitflip"))
		if err != nil {
			t.Fatal(err)
		}
		rec := &memRecorder{}
		hit := map[string]bool{}
		for i := range 12 {
			target := []string{TargetOne, TargetMinority}[i%2]
			c, err := Apply(context.Background(), nem, rec, history.Op{F: FCorrupt, Value: map[string]any{"target": target}})
			if err != nil || c.Type != history.OK {
				t.Fatalf("%d nodes, corrupt %d: %v, %v", size, i, c, err)
			}
			for _, n := range c.Value.(map[string]any)["nodes"].([]any) {
				hit[n.(string)] = true
			}
			if c, err := Apply(context.Background(), nem, rec, history.Op{F: FRestartCorrupt}); err != nil || c.Type != history.OK {
				t.Fatalf("restart-corrupt: %v, %v", c, err)
			}
		}
		if len(hit) != Majority(size)-1 {
			t.Errorf("%d nodes: corruption hit %v over a run, want one minority (%d nodes)", size, hit, Majority(size)-1)
		}
		for n := range hit {
			if err := f.Kill(context.Background(), n); err != nil {
				t.Fatal(err)
			}
		}
		c, _ := Apply(context.Background(), nem, rec, history.Op{F: FCorrupt, Value: map[string]any{"target": TargetOne}})
		if c.Type == history.OK || !strings.Contains(c.Error, "pool") {
			t.Errorf("%d nodes: corrupt with its minority down: %v, want a failure naming the pool", size, c)
		}
	}
}

// TestDiskSpec: the corrupt fault's spec words narrow its files and its
// targets; unknown words are refused.
func TestDiskSpec(t *testing.T) {
	cfg, err := DefaultConfig().WithSpec("corrupt:bitflip+one+file=**/*.blk")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Disk.Files, []string{"**/*.blk"}) || !slices.Equal(cfg.CorruptTargets, []string{TargetOne}) ||
		!slices.Equal(cfg.Options[FaultCorrupt], []string{CorruptBitflip}) {
		t.Errorf("parsed %+v", cfg)
	}
	for _, bad := range []string{"corrupt:melt", "corrupt:file=[", "power:sideways"} {
		if _, err := DefaultConfig().WithSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
