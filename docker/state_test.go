package docker

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckTransition(t *testing.T) {
	all := []State{StateCreated, StateRunning, StatePaused, StateKilled, StateRemoved}
	legal := map[string]map[State]State{
		"start":  {StateCreated: StateRunning, StateKilled: StateRunning},
		"pause":  {StateRunning: StatePaused},
		"resume": {StatePaused: StateRunning},
		"kill":   {StateRunning: StateKilled, StatePaused: StateKilled},
		"remove": {StateCreated: StateRemoved, StateRunning: StateRemoved, StatePaused: StateRemoved, StateKilled: StateRemoved},
	}
	for op, table := range legal {
		for _, from := range all {
			to, err := checkTransition("n2", op, from)
			want, ok := table[from]
			switch {
			case ok && (err != nil || to != want):
				t.Errorf("%s from %s = %s, %v; want %s", op, from, to, err, want)
			case !ok && err == nil:
				t.Errorf("%s from %s succeeded (-> %s); want ErrIllegalTransition", op, from, to)
			case !ok:
				if !errors.Is(err, ErrIllegalTransition) {
					t.Errorf("%s from %s: %v does not wrap ErrIllegalTransition", op, from, err)
				}
				var te *TransitionError
				if !errors.As(err, &te) || te.Node != "n2" || te.From != from || te.Op != op {
					t.Errorf("%s from %s: error %#v lacks node/op/from", op, from, err)
				}
				if msg := err.Error(); !strings.Contains(msg, "n2") || !strings.Contains(msg, from.String()) {
					t.Errorf("message %q does not name the node and state", msg)
				}
			}
		}
	}
	if _, err := checkTransition("n1", "explode", StateRunning); err == nil || errors.Is(err, ErrIllegalTransition) {
		t.Errorf("unknown op: %v", err)
	}
}

func TestTransitionMessages(t *testing.T) {
	for _, tc := range []struct {
		op   string
		from State
		want string
	}{
		{"pause", StateKilled, "node n1: cannot pause (killed -> paused) while killed: pause needs a running node"},
		{"start", StateRunning, "node n1: cannot start (running -> running) while running: it is already running"},
		{"start", StatePaused, "resume it instead"},
		{"kill", StateRemoved, "the cluster was closed"},
	} {
		_, err := checkTransition("n1", tc.op, tc.from)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s from %s: %v; want %q", tc.op, tc.from, err, tc.want)
		}
	}
}

func TestStatesHoldWhatTheyNeed(t *testing.T) {
	states := []nodeState{
		stCreated{container: "c"}, stRunning{container: "c", ip: "10.0.0.2"},
		stPaused{container: "c", ip: "10.0.0.2"}, stKilled{container: "c"}, stRemoved{},
	}
	for _, s := range states {
		wantID := "c"
		if s.state() == StateRemoved {
			wantID = ""
		}
		if got := containerOf(s); got != wantID {
			t.Errorf("%s: container %q, want %q", s.state(), got, wantID)
		}
		wantIP := ""
		if s.state() == StateRunning || s.state() == StatePaused {
			wantIP = "10.0.0.2"
		}
		if got := ipOf(s); got != wantIP {
			t.Errorf("%s: ip %q, want %q", s.state(), got, wantIP)
		}
	}
	if StateRunning.String() != "running" || StateKilled.String() != "killed" || State(0).String() != "state(0)" {
		t.Error("State.String names")
	}
}
