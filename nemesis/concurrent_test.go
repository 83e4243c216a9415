package nemesis

import (
	"reflect"
	"testing"
	"time"
)

func TestConcurrentSchedule(t *testing.T) {
	cfg, err := DefaultConfig().WithSpec("partition:leader,clock:bump+all,kill")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Seed, cfg.Interval, cfg.Concurrent = 9, 3*time.Second, true
	if cfg.Clock.Targets[0] != TargetAll || cfg.Options[FaultClock][0] != ClockBump {
		t.Fatalf("clock spec: modes %v targets %v, want [bump] [all]", cfg.Options[FaultClock], cfg.Clock.Targets)
	}
	s, err := NewSchedule(cfg, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := NewSchedule(cfg, 30*time.Second)
	if !reflect.DeepEqual(s, again) {
		t.Fatal("same seed gave a different concurrent schedule")
	}
	stopOf := map[string]string{FStartPartition: FStopPartition, FBumpClock: FResetClock, FKill: FStart}
	active := map[string]bool{} // stop f -> fault of that kind in effect
	maxActive := 0
	var last time.Duration
	for i, st := range s {
		if st.Offset < last {
			t.Fatalf("step %d at %v before %v: not in offset order", i, st.Offset, last)
		}
		last = st.Offset
		if stop, ok := stopOf[st.Op.F]; ok {
			if active[stop] {
				t.Fatalf("step %d starts %s while one is in effect", i, st.Op.F)
			}
			active[stop] = true
		} else {
			if !active[st.Op.F] {
				t.Fatalf("step %d: %s stops nothing", i, st.Op.F)
			}
			active[st.Op.F] = false
		}
		n := 0
		for _, on := range active {
			if on {
				n++
			}
		}
		maxActive = max(maxActive, n)
	}
	if maxActive < 2 {
		t.Fatalf("at most %d faults in effect at once: the kinds never overlap", maxActive)
	}
	cfg.Concurrent = false
	serial, _ := NewSchedule(cfg, 30*time.Second)
	for i := 1; i < len(serial); i += 2 {
		if _, starts := stopOf[serial[i].Op.F]; starts {
			t.Fatalf("serial schedule step %d starts %s before the previous fault stopped", i, serial[i].Op.F)
		}
	}
}
