package sut

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestByName(t *testing.T) {
	if got := Names(); !slices.Equal(got[:2], []string{"kvnode", "etcd"}) {
		t.Errorf("Names() = %v", got)
	}
	for _, n := range Names() {
		s, err := ByName(n)
		if err != nil || s.Info().Name != n {
			t.Errorf("ByName(%q) = %v, %v", n, s, err)
		}
	}
	if _, err := ByName("zookeeper"); err == nil || !strings.Contains(err.Error(), "use one of kvnode, etcd") {
		t.Errorf("ByName(zookeeper) error = %v", err)
	}
	if Default().Info().Name != "kvnode" {
		t.Errorf("Default() = %s", Default().Info().Name)
	}
}

// ownSystem is a user's system, registered by name.
type ownSystem struct{ Etcd }

func (ownSystem) Info() Info { return Info{Name: "own-store"} }

// TestRegister: a program adds its own system, which is then known by
// name; a taken or empty name is refused.
func TestRegister(t *testing.T) {
	if err := Register(ownSystem{}); err != nil {
		t.Fatal(err)
	}
	if s, err := ByName("own-store"); err != nil || s.Info().Name != "own-store" {
		t.Fatalf("ByName(own-store) = %v, %v", s, err)
	}
	if !slices.Contains(Names(), "own-store") {
		t.Errorf("Names() = %v", Names())
	}
	if err := Register(ownSystem{}); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("registering own-store twice: %v", err)
	}
	if err := Register(KVNode{}); err == nil {
		t.Errorf("registering a second kvnode was accepted")
	}
}

// TestSystemsDeclareSanely: every system's read modes start with the safe
// one, its bug names are distinct, its safe options validate, it exposes a
// client port, and it has an admin port exactly when it declares a clock
// hook.
func TestSystemsDeclareSanely(t *testing.T) {
	for _, s := range []System{KVNode{}, Etcd{}} {
		info := s.Info()
		name := info.Name
		if m := info.ReadModes(); len(m) == 0 || m[0] != Linearizable {
			t.Errorf("%s: read modes %v: the safe one must come first", name, m)
		}
		for i, b := range info.Bugs {
			if b.Name == "" || b.Doc == "" || slices.ContainsFunc(info.Bugs[:i], func(x Bug) bool { return x.Name == b.Name }) {
				t.Errorf("%s: bug %+v: a distinct name and a doc each", name, b)
			}
		}
		if err := info.Validate(Options{}); err != nil {
			t.Errorf("%s: the safe options are refused: %v", name, err)
		}
		spec := s.Node(Layout{Nodes: []string{"n1", "n2", "n3"}}, Options{}, "n1")
		if spec.Port(PortClient) == 0 || !strings.HasPrefix(spec.Command[0], BinDir+"/") || !strings.HasPrefix(spec.DataDir, DataRoot) {
			t.Errorf("%s: node spec %+v", name, spec)
		}
		if hasAdmin := spec.Port(PortAdmin) != 0; hasAdmin != info.ClockHook {
			t.Errorf("%s: the clock hook is the admin port's (admin port %v, clock hook %v)", name, hasAdmin, info.ClockHook)
		}
		if !slices.ContainsFunc(s.Binaries(Options{}), func(b Binary) bool { return BinDir+"/"+b.Name == spec.Command[0] }) {
			t.Errorf("%s: command %s is none of its binaries %v", name, spec.Command[0], s.Binaries(Options{}))
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		sys  System
		opts Options
		want string // "" valid
	}{
		{KVNode{}, Options{}, ""},
		{KVNode{}, Options{ReadMode: "lease", LeaseDuration: time.Second, Bugs: []string{"no-dedup"}}, ""},
		{KVNode{}, Options{ReadMode: "serializable"}, `kvnode: unknown read mode "serializable": use linearizable, lease or stale`},
		{KVNode{}, Options{Bugs: []string{"x"}}, `kvnode: unknown planted bug "x": use no-dedup, nonatomic-txn`},
		{KVNode{}, Options{Bugs: []string{"ack-before-commit", "definite-timeouts"}}, ""},
		{KVNode{}, Options{LeaseDuration: -time.Second}, "kvnode: lease duration -1s"},
		{Etcd{}, Options{ReadMode: EtcdReadSerializable}, ""},
		{Etcd{}, Options{ReadMode: "stale"}, `etcd: unknown read mode "stale": use linearizable or serializable`},
		{Etcd{}, Options{Bugs: []string{"no-dedup"}}, `etcd: unknown planted bug "no-dedup": it has none (its unsafe read modes are serializable)`},
		{Etcd{}, Options{LeaseDuration: time.Second}, "etcd has no read lease to set"},
		{Etcd{}, Options{Version: "v3.5.36", Settings: map[string]string{"snapshot-count": "100"}}, ""},
		{Etcd{}, Options{Settings: map[string]string{"max-txn-ops": "1"}}, `etcd: unknown setting "max-txn-ops": use snapshot-count, heartbeat-interval`},
		{Etcd{}, Options{Version: "3.5"}, `etcd: version "3.5": use a release tag such as v3.7.3`},
		{KVNode{}, Options{Version: "v1.0.0"}, `kvnode has one build, no versions to choose`},
		{KVNode{}, Options{Settings: map[string]string{"x": "1"}}, `kvnode: unknown setting "x": use snapshot-threshold or snapshot-interval`},
		{KVNode{}, Options{Settings: map[string]string{"snapshot-threshold": "1000", "snapshot-interval": "1s"}}, ""},
		{KVNode{}, Options{Settings: map[string]string{"snapshot-threshold": "0"}}, "kvnode: setting snapshot-threshold=0: want a count"},
		{KVNode{}, Options{Settings: map[string]string{"snapshot-interval": "1"}}, "kvnode: setting snapshot-interval=1: want a duration"},
	} {
		name := tc.sys.Info().Name
		err := tc.sys.Info().Validate(tc.opts)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s.Validate(%+v) = %v, want nil", name, tc.opts, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s.Validate(%+v) = %v, want %q", name, tc.opts, err, tc.want)
		}
	}
}

// TestBugs: the planted bugs a run turns on come back in the table's
// words, each with the flag that turns it on.
func TestBugs(t *testing.T) {
	on := KVNode{}.Info().On(Options{ReadMode: KVNodeReadStale, Bugs: []string{"no-dedup"}})
	if len(on) != 2 || on[0].Flag() != "--read-mode=stale" || on[1].Flag() != "--unsafe=no-dedup" || on[1].Doc == "" {
		t.Errorf("On = %+v", on)
	}
	if on := (Etcd{}).Info().On(Options{}); len(on) != 0 {
		t.Errorf("the safe options turn on %+v", on)
	}
}

func TestKVNodeNode(t *testing.T) {
	l := Layout{Nodes: []string{"n1", "n2", "n3"}, Hosts: map[string]string{"n3": "n3.faultline"}}
	got := KVNode{}.Node(l, Options{ReadMode: "lease", LeaseDuration: 5 * time.Second, Bugs: []string{"no-dedup"}}, "n2").Command
	want := []string{
		"/usr/local/bin/kvnode", "--id", "n2", "--peers", "n1=n1:7000,n2=n2:7000,n3=n3.faultline:7000", "--data", "/data",
		"--raft-addr", "0.0.0.0:7000", "--client-addr", "0.0.0.0:7001", "--admin-addr", "0.0.0.0:7002",
		"--enable-fault-injection", "--read-mode", "lease", "--lease-duration", "5s", "--unsafe-no-dedup",
	}
	if !slices.Equal(got, want) {
		t.Errorf("kvnode command =\n %q\nwant\n %q", got, want)
	}
	if got := (KVNode{}).Node(l, Options{}, "n1").Command; slices.Contains(got, "--read-mode") {
		t.Errorf("the safe default passes no --read-mode: %q", got)
	}
}

func TestEtcdNode(t *testing.T) {
	l := Layout{Nodes: []string{"n1", "n2", "n3"}}
	s := Etcd{}.Node(l, Options{ReadMode: EtcdReadSerializable}, "n3")
	want := []string{
		"/usr/local/bin/etcd", "--name", "n3", "--data-dir", "/data/etcd",
		"--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://n3:2379",
		"--listen-peer-urls", "http://0.0.0.0:2380", "--initial-advertise-peer-urls", "http://n3:2380",
		"--initial-cluster", "n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380",
		"--initial-cluster-state", "new", "--initial-cluster-token", "faultline",
	}
	if !slices.Equal(s.Command, want) {
		t.Errorf("etcd command =\n %q\nwant\n %q", s.Command, want)
	}
	if s.Port(PortClient) != 2379 || s.Port("peer") != 2380 || s.Port(PortAdmin) != 0 {
		t.Errorf("etcd ports %+v", s.Ports)
	}
}

// TestKVNodeProbe: /healthz, then /status, mapped onto Status.
func TestKVNodeProbe(t *testing.T) {
	healthy := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz" && healthy:
			fmt.Fprintln(w, "ok")
		case r.URL.Path == "/healthz":
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		case r.URL.Path == "/status":
			fmt.Fprint(w, `{"id":"n2","state":"Follower","leader_id":"n1","term":4,"commit_index":17,"applied_index":17}`)
		}
	}))
	defer srv.Close()
	addrs := map[string]string{PortAdmin: strings.TrimPrefix(srv.URL, "http://")}
	st, err := KVNode{}.Probe(context.Background(), addrs)
	if err != nil || st != (Status{ID: "n2", Leader: "n1", State: "Follower", Term: 4, CommitIndex: 17}) {
		t.Errorf("Probe = %+v, %v", st, err)
	}
	healthy = false
	if _, err := (KVNode{}).Probe(context.Background(), addrs); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("Probe of an unhealthy node = %v", err)
	}
	if _, err := (KVNode{}).Probe(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "no such port") {
		t.Errorf("Probe without an admin address = %v", err)
	}
}

// etcdStatusJSON is what etcd 3.7.3's gateway answers to
// POST /v3/maintenance/status on a single-member cluster.
const etcdStatusJSON = `{"header":{"cluster_id":"324952591200643719", "member_id":"3319814642761637952", "revision":"1", "raft_term":"2"}, "version":"3.7.3", "dbSize":"20480", "leader":"3319814642761637952", "raftIndex":"4", "raftTerm":"2", "raftAppliedIndex":"4", "dbSizeInUse":"16384", "storageVersion":"3.7.0", "dbSizeQuota":"2147483648", "downgradeInfo":{}}`

func TestEtcdProbe(t *testing.T) {
	health, status := `{"health":"true","reason":""}`, etcdStatusJSON
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/health":
			fmt.Fprint(w, health)
		case r.Method == "POST" && r.URL.Path == "/v3/maintenance/status":
			fmt.Fprint(w, status)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addrs := map[string]string{PortClient: strings.TrimPrefix(srv.URL, "http://")}
	st, err := Etcd{}.Probe(context.Background(), addrs)
	want := Status{ID: "3319814642761637952", Leader: "3319814642761637952", State: "Leader", Term: 2, CommitIndex: 4}
	if err != nil || st != want {
		t.Errorf("Probe = %+v, %v; want %+v", st, err, want)
	}
	status = strings.Replace(etcdStatusJSON, `"leader":"3319814642761637952"`, `"leader":"0"`, 1)
	if st, err := (Etcd{}).Probe(context.Background(), addrs); err != nil || st.Leader != "" || st.State != "Follower" {
		t.Errorf("Probe of a member without a leader = %+v, %v", st, err)
	}
	health = `{"health":"false","reason":"RAFT NO LEADER"}`
	if _, err := (Etcd{}).Probe(context.Background(), addrs); err == nil || !strings.Contains(err.Error(), "RAFT NO LEADER") {
		t.Errorf("Probe of an unhealthy member = %v", err)
	}
}

// kvnode's settings are flags.
func TestKVNodeSettings(t *testing.T) {
	opts := Options{Settings: map[string]string{"snapshot-threshold": "1000", "snapshot-interval": "1s"}}
	spec := KVNode{}.Node(Layout{Nodes: []string{"n1", "n2", "n3"}}, opts, "n1")
	for _, want := range []string{"--snapshot-threshold=1000", "--snapshot-interval=1s"} {
		if !slices.Contains(spec.Command, want) {
			t.Errorf("command %v lacks %s", spec.Command, want)
		}
	}
}

// etcd's settings are flags; another version is a requirement resolved
// per version.
func TestEtcdVersionAndSettings(t *testing.T) {
	opts := Options{Version: "v3.6.17", Settings: map[string]string{"snapshot-count": "100"}}
	spec := Etcd{}.Node(Layout{Nodes: []string{"n1", "n2", "n3"}}, opts, "n1")
	if !slices.Contains(spec.Command, "--snapshot-count=100") {
		t.Errorf("command %v lacks --snapshot-count=100", spec.Command)
	}
	if b := (Etcd{}).Binaries(opts); len(b) != 1 || !slices.Equal(b[0].Require, []string{"go.etcd.io/etcd/server/v3@v3.6.17"}) {
		t.Errorf("binaries at v3.6.17: %+v", b)
	}
	if b := (Etcd{}).Binaries(Options{}); len(b) != 1 || b[0].Require != nil {
		t.Errorf("binaries at the module's version: %+v", b)
	}
}
