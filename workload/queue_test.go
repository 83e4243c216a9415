package workload

import (
	"context"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

// goneQueue is a Queue whose queue is gone: every drain says so.
type goneQueue struct{ KV }

func (goneQueue) CreateQueue(context.Context) error      { return nil }
func (goneQueue) Enqueue(context.Context, int64) error   { return nil }
func (goneQueue) Drain(context.Context) ([]int64, error) { return nil, ErrQueueGone }

// lossyQueue acknowledges every enqueue and keeps none of them.
type lossyQueue struct{ goneQueue }

func (lossyQueue) Drain(context.Context) ([]int64, error) { return []int64{}, nil }

// The final drains stop by themselves when they read nothing new, and a
// queue gone completes its drains as fail, naming it.
func TestQueueDrainsStopWhenNothingChanges(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kv       KV
		wantType history.Type
	}{
		{"gone", goneQueue{NewMemKV(DefaultMemKVConfig())}, history.Fail},
		{"lossy", lossyQueue{}, history.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewQueue(QueueConfig{DrainInterval: time.Millisecond, DrainsUnchanged: 3})
			if err != nil {
				t.Fatal(err)
			}
			cfg := DefaultRunConfig()
			cfg.Concurrency, cfg.Limit, cfg.FinalAttempts = 2, 10, 1
			rec := newRecorder(t)
			r, err := NewRunner(cfg, w, func(int) (KV, error) { return tc.kv, nil }, rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			main := rec.Len()
			if err := r.RunFinal(context.Background()); err != nil {
				t.Fatal(err)
			}
			drains := 0
			for _, o := range rec.Ops()[main:] {
				if o.Type == history.Invoke {
					drains++
					continue
				}
				if o.F != "drain" || o.Type != tc.wantType {
					t.Fatalf("final op %v: want a %v drain", o, tc.wantType)
				}
				if o.Type == history.Fail && o.Error != (&DefiniteError{Reason: QueueGoneReason}).Error() {
					t.Errorf("a drain of a queue gone fails with %q", o.Error)
				}
			}
			if drains != 2*3 {
				t.Errorf("%d drains, want 3 per worker", drains)
			}
		})
	}
}

// A drain gets the op timeout per thousand acknowledged values, so that a
// long queue is not called unavailable for taking long to read.
func TestQueueDrainRequests(t *testing.T) {
	w, err := NewQueue(DefaultQueueConfig())
	if err != nil {
		t.Fatal(err)
	}
	draw(t, w.Generator(), 1, 0, 1, 1) // learns the number of workers
	for v := range int64(2500) {
		w.acked(v + 1)
	}
	if got := w.Requests(Op{F: "drain"}); got != 3 {
		t.Errorf("a drain of 2,500 acknowledged values: %d requests, want 3", got)
	}
	if got := w.Requests(Op{F: "enqueue"}); got != 1 {
		t.Errorf("an enqueue: %d requests, want 1", got)
	}
}
