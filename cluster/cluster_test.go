package cluster

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/sut"
)

func TestDefaultSpecValid(t *testing.T) {
	c := DefaultSpec()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Nodes != 3 || c.System.Info().Name != "kvnode" || !c.Reap {
		t.Errorf("DefaultSpec = %+v", c)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Spec)
		want string
	}{
		{func(c *Spec) { c.Nodes = 0 }, "Nodes = 0"},
		{func(c *Spec) { c.Nodes = 10 }, "Nodes = 10"},
		{func(c *Spec) { c.Options.ReadMode = "fast" }, `kvnode: unknown read mode "fast"`},
		{func(c *Spec) { c.System, c.Options.ReadMode = sut.Etcd{}, "lease" }, `etcd: unknown read mode "lease": use linearizable or serializable`},
		{func(c *Spec) { c.Options.Bugs = []string{"nope"} }, `unknown planted bug "nope": use no-dedup`},
		{func(c *Spec) { c.System = nil }, "System is nil"},
		{func(c *Spec) { c.StartTimeout = -time.Second }, "StartTimeout"},
		{func(c *Spec) { c.RunID = "bad id!" }, "RunID"},
		{func(c *Spec) { c.Labels = map[string]string{"faultline.run": "x"} }, "reserved"},
	} {
		c := DefaultSpec()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want mention of %q", err, tc.want)
		}
	}
	c := DefaultSpec()
	c.Nodes, c.Options.ReadMode = 0, "x"
	if err := c.Validate(); err == nil || len(strings.Split(err.Error(), "\n")) != 2 {
		t.Errorf("want both problems reported: %v", err)
	}
}

// TestSpecs: every node gets its system's spec, with the node ids as the
// host names of the layout (the network aliases).
func TestSpecs(t *testing.T) {
	c := DefaultSpec()
	c.System, c.Nodes = sut.Etcd{}, 3
	l := c.Layout()
	if !slices.Equal(l.Nodes, []string{"n1", "n2", "n3"}) {
		t.Fatalf("layout %+v", l)
	}
	cmd := c.System.Node(l, c.Options, "n2").Command
	i := slices.Index(cmd, "--initial-cluster")
	if cmd[0] != sut.BinDir+"/etcd" || i < 0 || cmd[i+1] != "n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380" ||
		!slices.Contains(cmd, "http://n2:2379") {
		t.Errorf("etcd spec of n2: %q", cmd)
	}
}

func TestWithDefaults(t *testing.T) {
	c, err := Spec{}.WithDefaults(time.Minute)
	if err != nil || c.Nodes != 3 || c.StartTimeout != time.Minute || c.Logger == nil || c.System == nil || c.RunID == "" {
		t.Errorf("WithDefaults = %+v, %v", c, err)
	}
	if _, err := (Spec{Nodes: 12}).WithDefaults(time.Minute); err == nil {
		t.Error("WithDefaults validates nothing")
	}
}
