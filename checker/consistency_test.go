package checker

import (
	"slices"
	"testing"
)

// TestForbids pins what each consistency model forbids, as Elle's
// graphs say (see consistency.go for our two choices).
func TestForbids(t *testing.T) {
	all := []string{"G0", "G1a", "G1b", "G1c", "G-single", "G-nonadjacent", "G2-item", "internal", "future-read",
		"incompatible-order", "dirty-update", "duplicate-elements", "cyclic-versions", "garbage-read", "lost-update",
		"G0-process", "G1c-process", "G-single-process", "G2-item-process", "G0-realtime", "G1c-realtime",
		"G-single-realtime", "G-nonadjacent-realtime", "G2-item-realtime"}
	want := map[string][]string{
		"read-uncommitted": {"G0", "duplicate-elements", "cyclic-versions", "garbage-read"},
		"read-committed": {"G0", "G1a", "G1b", "G1c", "future-read", "incompatible-order", "dirty-update",
			"duplicate-elements", "cyclic-versions", "garbage-read"},
		"repeatable-read": {"G0", "G1a", "G1b", "G1c", "G-single", "G-nonadjacent", "G2-item", "future-read",
			"incompatible-order", "dirty-update", "duplicate-elements", "cyclic-versions", "garbage-read", "lost-update"},
		"snapshot-isolation": {"G0", "G1a", "G1b", "G1c", "G-single", "G-nonadjacent", "internal", "future-read",
			"incompatible-order", "dirty-update", "duplicate-elements", "cyclic-versions", "garbage-read", "lost-update"},
		"serializable": {"G0", "G1a", "G1b", "G1c", "G-single", "G-nonadjacent", "G2-item", "internal", "future-read",
			"incompatible-order", "dirty-update", "duplicate-elements", "cyclic-versions", "garbage-read", "lost-update"},
		"strict-serializable": all,
	}
	for _, m := range ConsistencyModels {
		var got []string
		for _, a := range all {
			if Forbids(m, a) {
				got = append(got, a)
			}
		}
		if !slices.Equal(got, want[m]) {
			t.Errorf("%s forbids\n %v\nwant\n %v", m, got, want[m])
		}
	}
}

func TestRuledOut(t *testing.T) {
	got := RuledOut("G2-item")
	for _, m := range []string{"repeatable-read", "serializable", "strict-serializable"} {
		if !slices.Contains(got, m) {
			t.Errorf("G2-item does not rule out %s: %v", m, got)
		}
	}
	if slices.Contains(got, "snapshot-isolation") || slices.Contains(got, "read-committed") {
		t.Errorf("G2-item rules out too much: %v", got)
	}
	if got := RuledOut("G-single-realtime"); !slices.Equal(got, []string{"strong-snapshot-isolation", "strict-serializable"}) {
		t.Errorf("G-single-realtime rules out %v", got)
	}
	if err := validConsistencyModel("causal"); err == nil {
		t.Error("unknown model accepted")
	}
}
