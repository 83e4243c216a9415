package sut

import (
	"errors"
	"testing"
)

func TestAgreedLeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		sts  map[string]Status
		want string // "" wants ErrNoLeader
	}{
		{"kvnode ids", map[string]Status{
			"n1": {ID: "n1", State: "Leader", Leader: "n1"},
			"n2": {ID: "n2", State: "Follower", Leader: "n1"},
		}, "n1"},
		// Status ids are the system's own (etcd member ids): the answer
		// is the node id.
		{"etcd member ids", map[string]Status{
			"n1": {ID: "8e9e05c52164694d", Leader: "91bc3c398fb3c146"},
			"n2": {ID: "91bc3c398fb3c146", Leader: "91bc3c398fb3c146"},
			"n3": {ID: "fd422379fda50e48", Leader: "91bc3c398fb3c146"},
		}, "n2"},
		{"stale minority leader", map[string]Status{
			"n1": {ID: "n1", State: "Leader", Leader: "n1"},
			"n2": {ID: "n2", State: "Candidate"},
			"n3": {ID: "n3", State: "Candidate"},
		}, ""},
		{"unreachable leader", map[string]Status{
			"n2": {ID: "n2", Leader: "n1"}, "n3": {ID: "n3", Leader: "n1"},
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AgreedLeader(3, tc.sts, nil)
			if tc.want == "" {
				if !errors.Is(err, ErrNoLeader) {
					t.Fatalf("AgreedLeader = %q, %v; want ErrNoLeader", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("AgreedLeader = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestHealthy(t *testing.T) {
	ids := []string{"n1", "n2", "n3"}
	all := map[string]Status{
		"n1": {ID: "n1", Leader: "n1"}, "n2": {ID: "n2", Leader: "n1"}, "n3": {ID: "n3", Leader: "n1"},
	}
	if err := Healthy(ids, all, nil); err != nil {
		t.Errorf("all agree: %v", err)
	}
	split := map[string]Status{
		"n1": {ID: "n1", Leader: "n1"}, "n2": {ID: "n2", Leader: "n1"}, "n3": {ID: "n3", Leader: "n3"},
	}
	if err := Healthy(ids, split, nil); err == nil {
		t.Error("a node naming another leader passed")
	}
	down := map[string]Status{"n1": all["n1"], "n2": all["n2"]}
	if err := Healthy(ids, down, map[string]error{"n3": errors.New("n3 is paused")}); err == nil {
		t.Error("a node that did not answer passed")
	}
}
