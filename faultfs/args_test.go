package faultfs

import (
	"errors"
	"reflect"
	"testing"
)

// TestArgsRoundTrip: every command line the harness builds reads back as
// what it was built from.
func TestArgsRoundTrip(t *testing.T) {
	d := DefaultDaemonConfig()
	d.Backing, d.Mountpoint, d.Control, d.UID, d.GID = Backing, "/data", Control, 65532, 65532
	d.Command = []string{"/usr/local/bin/kvnode", "--id", "n1", "--data", "/data"}
	args := MountArgs("/usr/local/bin/faultfs", d)
	got, err := ParseMountArgs(args[2:])
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Errorf("mount: %q read back as %+v, %v; want %+v", args, got, err, d)
	}
	for _, m := range PowerModels {
		if c, got, err := ParsePowerFailArgs(PowerFailArgs("faultfs", Control, m)[2:]); err != nil || c != Control || got != m {
			t.Errorf("powerfail %s: %q, %q, %v", m, c, got, err)
		}
	}
	if _, m, err := ParsePowerFailArgs([]string{"--control", Control}); err != nil || m != PowerPOSIX {
		t.Errorf("powerfail without --model: %q, %v; want %q", m, err, PowerPOSIX)
	}
	if c, err := ParseControlArgs("status", []string{"--control", Control}); err != nil || c != Control {
		t.Errorf("status: %q, %v", c, err)
	}
	for _, mode := range []CorruptMode{ModeBitflip, ModeTruncate, ModeAside, ModeRollback} {
		c := DefaultCorruptConfig()
		c.Root, c.Patterns, c.Mode, c.Seed, c.Files, c.Aside = Backing, []string{"raftlog/*.seg", "snapshots/**"}, mode, 7, 2, Aside
		args := CorruptArgs("faultfs", c)
		got, err := ParseCorruptArgs(args[1], args[2:])
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("%s: %q read back as %+v, %v; want %+v", mode, args, got, err, c)
		}
	}
	var ae *ArgsError
	if _, err := ParseCorruptArgs("corrupt", []string{"--root", "/x", "--pattern", "*", "--mode", "bitflip"}); !errors.As(err, &ae) {
		t.Errorf("a corrupt without --seed: %v, want a usage error", err)
	}
	if _, _, err := ParsePowerFailArgs([]string{"--control", Control, "--model", "ext4"}); !errors.As(err, &ae) {
		t.Errorf("a powerfail with an unknown model: %v, want a usage error", err)
	}
	if _, err := ParseMountArgs([]string{"--backing", "/b", "--control", "/c", "--", "x"}); !errors.As(err, &ae) {
		t.Errorf("a mount without --mount: %v, want a usage error", err)
	}
}
