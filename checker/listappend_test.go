package checker

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestListAppendGolden(t *testing.T) {
	cases := []struct {
		file  string
		want  []string // anomaly types that must be found
		exact bool     // and no others
		ruled string   // a model that must be ruled out
	}{
		{"valid", nil, true, ""},
		{"G0", []string{"G0"}, true, "read-uncommitted"},
		{"G1a", []string{"G1a"}, true, "read-committed"},
		{"G1b", []string{"G1b"}, false, "read-committed"},
		{"G1c", []string{"G1c"}, true, "read-committed"},
		{"G-single", []string{"G-single"}, true, "snapshot-isolation"},
		{"G2", []string{"G2"}, true, "serializable"},
		{"G-single-realtime", []string{"G-single-realtime"}, true, "strict-serializable"},
		{"G-single-realtime-lost", []string{"G-single-realtime"}, false, "strict-serializable"},
		{"internal", []string{"internal"}, true, "read-uncommitted"},
		{"duplicate", []string{"duplicate"}, true, "read-uncommitted"},
		{"incompatible-order", []string{"incompatible-order"}, true, "read-uncommitted"},
		{"unexpected", []string{"unexpected"}, true, "read-uncommitted"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			r := NewListAppend(ListAppendConfig{}).Check(context.Background(), loadJSONL(t, testdata("list-append", c.file+".jsonl")))
			got := map[string]bool{}
			for _, a := range r.Anomalies {
				got[a.Type] = true
				if a.Explanation == "" || len(a.Ops) == 0 {
					t.Errorf("anomaly without explanation or ops: %+v", a)
				}
			}
			if len(c.want) == 0 {
				if r.Valid != Valid {
					t.Fatalf("verdict %s: %s", r.Valid, r.Explanation)
				}
				return
			}
			if r.Valid != Invalid {
				t.Fatalf("verdict %s, want false: %s", r.Valid, r.Explanation)
			}
			for _, w := range c.want {
				if !got[w] {
					t.Errorf("missing %s; got %v: %s", w, got, r.Explanation)
				}
			}
			if c.exact && len(got) != len(c.want) {
				t.Errorf("got %v, want exactly %v: %s", got, c.want, r.Explanation)
			}
			if !slices.Contains(r.RuledOut, c.ruled) {
				t.Errorf("%s not ruled out: %v", c.ruled, r.RuledOut)
			}
			if !strings.Contains(r.Explanation, "T1 (#") {
				t.Errorf("explanation does not name txns: %s", r.Explanation)
			}
			for _, a := range r.Anomalies {
				t.Logf("%s: %s", a.Type, a.Explanation)
			}
			t.Logf("ruled out: %v", r.RuledOut)
		})
	}
}
