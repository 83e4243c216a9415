package nemesis

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in    string
		text  string
		kinds []string
		err   string
	}{
		{in: "", text: "none"},
		{in: " none ", text: "none"},
		{in: "all", text: "all", kinds: KindNames()},
		{in: "partition:leader+bridge,kill", text: "partition:leader+bridge,kill", kinds: []string{FaultPartition, FaultKill}},
		{in: "meteor", err: `"meteor"`},
		{in: "kill,kill", err: "twice"},
		{in: "partition:sideways", err: "sideways"},
	}
	for _, tc := range tests {
		sp, err := ParseSpec(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSpec(%q) = %v, want an error containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseSpec(%q): %v", tc.in, err)
		}
		if sp.String() != tc.text || !slices.Equal(sp.Kinds(), tc.kinds) {
			t.Errorf("ParseSpec(%q) = %q %v, want %q %v", tc.in, sp, sp.Kinds(), tc.text, tc.kinds)
		}
		var back Spec
		b, _ := json.Marshal(sp)
		if err := json.Unmarshal(b, &back); err != nil || back.String() != sp.String() || !slices.Equal(back.Kinds(), sp.Kinds()) {
			t.Errorf("JSON round trip of %q: %s -> %q (%v)", tc.in, b, back, err)
		}
	}
	var zero Spec
	if zero.String() != "none" || !zero.IsNone() {
		t.Errorf("zero Spec = %q, want none", zero)
	}
}
