package checker

import (
	"context"
	"strings"
	"testing"

	"github.com/faultline/faultline/history"
)

func TestQueueDetails(t *testing.T) {
	for _, tc := range []struct {
		golden string
		want   map[string]any
	}{
		{"queue-valid", map[string]any{"acknowledged_count": 2, "recovered_count": 1, "duplicated_count": 1, "lost_count": 0, "drains": 2}},
		{"queue-lost", map[string]any{"lost_count": 3, "lost_prefix_count": 1, "lost_middle_count": 1, "lost_postfix_count": 1}},
		{"queue-lost-on-node", map[string]any{"lost_count": 0, "lost_on_node": map[string]int{"n2": 1}, "lost_in_read_count": 0}},
		{"queue-lost-in-read", map[string]any{"lost_count": 0, "lost_in_read_count": 1, "reads_with_loss": 1, "lost_on_node": map[string]int{"n2": 2}}},
		{"queue-lost", map[string]any{"lost_in_read_count": 0}},
		{"queue-total-loss", map[string]any{"lost_count": 2, "drains": 0}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			r := NewQueue(QueueConfig{}).Check(context.Background(), golden(t, tc.golden))
			for k, want := range tc.want {
				if got := r.Details[k]; showValue(got) != showValue(want) {
					t.Errorf("%s = %v, want %v (details %v)", k, got, want, r.Details)
				}
			}
		})
	}
}

func TestQueueTotalLossSaysSo(t *testing.T) {
	r := NewQueue(QueueConfig{}).Check(context.Background(), golden(t, "queue-total-loss"))
	if r.Valid != Invalid || !strings.Contains(r.Explanation, "the stream no longer exists at the end: total loss") {
		t.Errorf("verdict %v, explanation %q: want invalid, naming total loss", r.Valid, r.Explanation)
	}
}

func TestQueueNeverValidOnNothing(t *testing.T) {
	enq := func(typ history.Type, v int64) []history.Op {
		return []history.Op{{Type: history.Invoke, F: "enqueue", Value: v}, {Type: typ, F: "enqueue", Value: v}}
	}
	drain := []history.Op{{Type: history.Invoke, Process: 1, F: "drain"}, {Type: history.OK, Process: 1, F: "drain", Value: []any{}, Node: "n1"}}
	for _, tc := range []struct {
		name string
		ops  []history.Op
	}{
		{"empty", nil},
		{"only drains", drain},
		{"only failed enqueues", append(enq(history.Fail, 1), drain...)},
		{"no drain", enq(history.OK, 1)},
		{"enqueue of a non-integer", []history.Op{{Type: history.Invoke, F: "enqueue", Value: "x"}, {Type: history.OK, F: "enqueue", Value: "x"}}},
		{"a value enqueued twice", append(append(enq(history.OK, 1), enq(history.OK, 1)...), drain...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := append([]history.Op(nil), tc.ops...)
			for i := range ops {
				ops[i].Index = int64(i)
			}
			if r := NewQueue(QueueConfig{}).Check(context.Background(), ops); r.Valid != Unknown {
				t.Errorf("verdict %v (%s): want unknown", r.Valid, r.Explanation)
			}
		})
	}
}
