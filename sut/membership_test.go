package sut

import (
	"errors"
	"slices"
	"testing"
)

func TestLayoutIncarnations(t *testing.T) {
	l := Layout{Nodes: []string{"n1", "n2", "n3"}, Hosts: map[string]string{"n3": "n3.faultline"},
		Incarnations: map[string]int{"n2": 3}, Members: []string{"n1", "n2"}}
	for _, tt := range []struct {
		id, name string
		joining  bool
	}{{"n1", "n1", false}, {"n2", "n2.3", true}, {"n3", "n3", false}} {
		if got := l.Name(tt.id); got != tt.name || l.Joining(tt.id) != tt.joining {
			t.Errorf("%s: name %q joining %v, want %q %v", tt.id, got, l.Joining(tt.id), tt.name, tt.joining)
		}
	}
	if got := l.NodeOfHost("n3.faultline"); got != "n3" {
		t.Errorf("NodeOfHost(n3.faultline) = %q", got)
	}
	if got := l.NodeOfHost("n9"); got != "" {
		t.Errorf("NodeOfHost(n9) = %q, want none", got)
	}
	if got := l.CurrentMembers(); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Errorf("CurrentMembers = %v", got)
	}
	if got := (Layout{Nodes: []string{"n1"}}).CurrentMembers(); !slices.Equal(got, []string{"n1"}) {
		t.Errorf("CurrentMembers of a layout without Members = %v, want every node", got)
	}
}

// A node's later incarnation joins the running cluster under its new
// name: kvnode waits to be added (--join), etcd starts as an existing
// cluster's member, with the current members' names.
func TestJoiningNode(t *testing.T) {
	l := Layout{Nodes: []string{"n1", "n2", "n3"}, Incarnations: map[string]int{"n1": 2, "n3": 2}, Members: []string{"n1", "n3"}}
	kv := KVNode{}.Node(l, Options{}, "n3").Command
	if !slices.Contains(kv, "--join") || kv[slices.Index(kv, "--id")+1] != "n3.2" ||
		kv[slices.Index(kv, "--peers")+1] != "n1.2=n1:7000,n2=n2:7000,n3.2=n3:7000" {
		t.Errorf("kvnode's joining node: %q", kv)
	}
	if kv := (KVNode{}).Node(l, Options{}, "n2").Command; slices.Contains(kv, "--join") {
		t.Errorf("kvnode's first incarnation joins: %q", kv)
	}
	e := Etcd{}.Node(l, Options{}, "n3").Command
	arg := func(flag string) string { return e[slices.Index(e, flag)+1] }
	if arg("--name") != "n3.2" || arg("--initial-cluster-state") != "existing" ||
		arg("--initial-cluster") != "n1.2=http://n1:2380,n3.2=http://n3:2380" {
		t.Errorf("etcd's joining node: %q", e)
	}
}

func TestMembershipOf(t *testing.T) {
	for _, s := range []System{KVNode{}, Etcd{}} {
		if _, err := MembershipOf(s); err != nil {
			t.Errorf("%s: %v", s.Info().Name, err)
		}
	}
	if _, err := MembershipOf(noMembers{}); !errors.Is(err, ErrNoMembership) {
		t.Errorf("a system without membership changes: %v", err)
	}
	if got := (Member{Name: "n3.2", Learner: true}).String(); got != "n3.2 (learner)" {
		t.Errorf("a learner shows as %q", got)
	}
}

// noMembers is a system that declares no membership changes.
type noMembers struct{ KVNode }

func (noMembers) Info() Info { return Info{Name: "static"} }
