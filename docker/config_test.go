package docker

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/sut"
)

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Nodes != 3 || c.System.Name() != "kvnode" || !c.Reap || c.StartTimeout <= 0 {
		t.Errorf("DefaultConfig = %+v", c)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Nodes = 0 }, "Nodes = 0"},
		{func(c *Config) { c.Nodes = 10 }, "Nodes = 10"},
		{func(c *Config) { c.Options.ReadMode = "fast" }, `kvnode: unknown read mode "fast"`},
		{func(c *Config) { c.System, c.Options.ReadMode = sut.Etcd{}, "lease" }, `etcd: unknown read mode "lease": use linearizable or serializable`},
		{func(c *Config) { c.Options.Bugs = []string{"nope"} }, `unknown planted bug "nope": use no-dedup`},
		{func(c *Config) { c.System = nil }, "System is nil"},
		{func(c *Config) { c.StartTimeout = -time.Second }, "StartTimeout"},
		{func(c *Config) { c.RunID = "bad id!" }, "RunID"},
		{func(c *Config) { c.Labels = map[string]string{"faultline.run": "x"} }, "reserved"},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want mention of %q", err, tc.want)
		}
	}
	c := DefaultConfig()
	c.Nodes, c.Options.ReadMode = 0, "x"
	if err := c.Validate(); err == nil || len(strings.Split(err.Error(), "\n")) != 2 {
		t.Errorf("want both problems reported: %v", err)
	}
}

// TestSpecs: every node gets its system's spec, with the node ids as the
// host names of the layout (the network aliases).
func TestSpecs(t *testing.T) {
	c := DefaultConfig()
	c.System, c.Nodes = sut.Etcd{}, 3
	specs := c.specs()
	if len(specs) != 3 {
		t.Fatalf("%d specs", len(specs))
	}
	cmd := specs["n2"].Command
	i := slices.Index(cmd, "--initial-cluster")
	if cmd[0] != sut.BinDir+"/etcd" || i < 0 || cmd[i+1] != "n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380" ||
		!slices.Contains(cmd, "http://n2:2379") {
		t.Errorf("etcd spec of n2: %q", cmd)
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Nodes != 3 || c.StartTimeout == 0 || c.Logger == nil || c.System == nil {
		t.Errorf("withDefaults = %+v", c)
	}
}
