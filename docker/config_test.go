package docker

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Nodes != 3 || !c.EnableFaultInjection || !c.Reap || c.StartTimeout <= 0 {
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
		{func(c *Config) { c.ReadMode = "fast" }, `ReadMode = "fast"`},
		{func(c *Config) { c.StartTimeout = -time.Second }, "StartTimeout"},
		{func(c *Config) { c.RunID = "bad id!" }, "RunID"},
		{func(c *Config) { c.Labels = map[string]string{"faultline.run": "x"} }, "reserved"},
		{func(c *Config) { c.KVNodeArgs = []string{"--peers=a"} }, "--peers is set by the runtime"},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want mention of %q", err, tc.want)
		}
	}
	c := DefaultConfig()
	c.Nodes, c.ReadMode = 0, "x"
	if err := c.Validate(); err == nil || len(strings.Split(err.Error(), "\n")) != 2 {
		t.Errorf("want both problems reported: %v", err)
	}
}

func TestKVNodeArgs(t *testing.T) {
	c := DefaultConfig()
	c.Nodes = 3
	c.ReadMode = ReadLease
	c.UnsafeNoDedup = true
	c.KVNodeArgs = []string{"--log-level", "debug"}
	got := c.kvnodeArgs("n2")
	want := []string{
		"--id", "n2", "--peers", "n1=n1:7000,n2=n2:7000,n3=n3:7000", "--data", "/data",
		"--raft-addr", "0.0.0.0:7000", "--client-addr", "0.0.0.0:7001", "--admin-addr", "0.0.0.0:7002",
		"--read-mode", "lease", "--unsafe-no-dedup", "--enable-fault-injection", "--log-level", "debug",
	}
	if !slices.Equal(got, want) {
		t.Errorf("kvnodeArgs =\n %q\nwant\n %q", got, want)
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Nodes != 3 || c.StartTimeout == 0 || c.Logger == nil || len(c.Build.Packages) != 2 {
		t.Errorf("withDefaults = %+v", c)
	}
}
