package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Queue is the client the queue workload drives: an append-only log of
// unique values, published through the client's home node and read back
// through it. A system whose client does not implement it runs the
// workload on its KV as one list (QueueKey), appended to and read whole.
type Queue interface {
	// CreateQueue makes the queue exist (idempotent): a NATS stream with
	// a replica on every node.
	CreateQueue(ctx context.Context) error
	// Enqueue publishes value and waits for its acknowledgement (nil),
	// or says it was not published (a definite error) or may have been
	// (any other).
	Enqueue(ctx context.Context, value int64) error
	// Drain reads the whole queue, from the start, through the client's
	// home node. ErrQueueGone says the queue no longer exists.
	Drain(ctx context.Context) ([]int64, error)
}

// ErrQueueGone is Queue.Drain's error when the queue itself no longer
// exists (a stream lost whole): the queue checker's total loss.
var ErrQueueGone = errors.New("the queue no longer exists")

// QueueGoneReason is the error text a drain of a queue that no longer
// exists completes with (fail), for the checker.
const QueueGoneReason = "queue gone: the queue no longer exists"

// QueueKey is the list a KV holds the queue in.
const QueueKey = "queue"

// kvQueue is a KV as a Queue: one list, appended to and read whole.
type kvQueue struct{ kv KV }

func (q kvQueue) CreateQueue(context.Context) error { return nil }

func (q kvQueue) Enqueue(ctx context.Context, v int64) error {
	return q.kv.Append(ctx, QueueKey, encodeInt(v))
}

func (q kvQueue) Drain(ctx context.Context) ([]int64, error) {
	res, err := q.kv.Txn(ctx, []MicroOp{{Kind: MicroReadList, Key: QueueKey}})
	if err != nil {
		return nil, err
	}
	out := make([]int64, 0, len(res[0].List))
	for _, b := range res[0].List {
		v, err := decodeInt(b)
		if err != nil {
			return nil, fmt.Errorf("workload: queue: %w", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// QueueOf returns kv's Queue: kv itself when it is one, else the KV's
// list.
func QueueOf(kv KV) Queue {
	if q, ok := kv.(Queue); ok {
		return q
	}
	return kvQueue{kv}
}

// QueueConfig configures the queue workload.
type QueueConfig struct {
	// DrainInterval is the pause between a worker's drains in the final
	// phase, which go on until a drain holds every writer's highest
	// acknowledged value or the final phase's time (the recovery
	// timeout) ends.
	DrainInterval time.Duration
	// DrainsUnchanged stops a worker's drains early: after this many
	// drains in a row that read the same number of values and still miss
	// a highest acknowledged value, it is taken as lost rather than
	// waited for (the queue is not recovering). 0: drain until the
	// phase's time ends.
	DrainsUnchanged int
}

// DefaultQueueConfig drains every second and stops after five drains
// that read nothing new.
func DefaultQueueConfig() QueueConfig {
	return QueueConfig{DrainInterval: time.Second, DrainsUnchanged: 5}
}

// Validate reports the first invalid field.
func (c QueueConfig) Validate() error {
	if c.DrainInterval <= 0 {
		return fmt.Errorf("workload: queue drain interval %v: want > 0", c.DrainInterval)
	}
	if c.DrainsUnchanged < 0 {
		return fmt.Errorf("workload: queue drains unchanged %d: want 0 (no early stop) or more", c.DrainsUnchanged)
	}
	return nil
}

// QueueWorkload is Jepsen's NATS queue test: each worker publishes unique
// values through its own node, synchronously (enqueue: ok on an
// acknowledgement, fail when nothing could take it, info on a timeout);
// the final phase drains the whole queue through every worker's node
// until the drain holds every writer's highest acknowledged value.
// Values (see history.Op): enqueue has an int64 value; drain has its
// worker (int64) at invoke and the []any of int64 values read, in order,
// at completion, or fails with QueueGoneReason.
type QueueWorkload struct {
	cfg QueueConfig

	mu sync.Mutex
	// workers is the number of workers, from the generator.
	workers int
	// highest maps a writer (worker) to its highest acknowledged value.
	highest map[int64]int64
	// acks counts acknowledged enqueues.
	acks int
	// drains follows each worker's drains.
	drains map[int64]*drainState
}

// drainState is what a worker's drains have read so far.
type drainState struct {
	// complete: the last drain held every writer's highest acknowledged
	// value.
	complete bool
	// read is how many values the last drain read; unchanged counts the
	// drains in a row that read that many.
	read, unchanged int
}

// NewQueue returns the queue workload.
func NewQueue(cfg QueueConfig) (*QueueWorkload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &QueueWorkload{cfg: cfg, highest: map[int64]int64{}, drains: map[int64]*drainState{}}, nil
}

// Info implements Workload.
func (w *QueueWorkload) Info() Info { return Info{Name: "queue", Model: "queue"} }

// Setup implements Workload: the queue is created.
func (w *QueueWorkload) Setup(ctx context.Context, kv KV) error {
	return QueueOf(kv).CreateQueue(ctx)
}

// Generator implements Workload: unique values, per worker.
func (w *QueueWorkload) Generator() Generator {
	return func(wi WorkerInfo) Gen {
		w.mu.Lock()
		w.workers = wi.Workers
		w.mu.Unlock()
		vals := newUniqueValues(wi)
		return GenFunc(func(context.Context, *rand.Rand) (Op, error) {
			return Op{F: "enqueue", Value: vals.next(0)}, nil
		})
	}
}

// Final implements Workload: every worker drains through its node, again
// after each DrainInterval, until one of its drains holds every writer's
// highest acknowledged value (or the phase's time ends). A drain's invoke
// value is its worker, so that its completion can be told apart.
func (w *QueueWorkload) Final() Generator {
	return func(wi WorkerInfo) Gen {
		first := true
		return GenFunc(func(ctx context.Context, _ *rand.Rand) (Op, error) {
			if !first {
				if w.drained(wi.Worker) {
					return Op{}, ErrExhausted
				}
				t := time.NewTimer(w.cfg.DrainInterval)
				defer t.Stop()
				select {
				case <-ctx.Done():
					return Op{}, ErrExhausted
				case <-t.C:
				}
			}
			first = false
			return Op{F: "drain", Value: int64(wi.Worker)}, nil
		})
	}
}

// drainChunk is how many values one request of a drain is taken to
// read: a NATS drain fetches a thousand messages at a time.
const drainChunk = 1000

// Requests implements Requests: a drain reads the whole queue, a request
// per drainChunk acknowledged values and one more, each with the op
// timeout.
func (w *QueueWorkload) Requests(op Op) int {
	if op.F != "drain" {
		return 1
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return 1 + w.acks/drainChunk
}

// drained reports whether worker is done draining: its last drain held
// every writer's highest acknowledged value, or DrainsUnchanged drains
// read no more.
func (w *QueueWorkload) drained(worker int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.drains[int64(worker)]
	return d != nil && (d.complete || w.cfg.DrainsUnchanged > 0 && d.unchanged >= w.cfg.DrainsUnchanged)
}

// Invoke implements Workload.
func (w *QueueWorkload) Invoke(ctx context.Context, kv KV, op Op) (any, error) {
	q := QueueOf(kv)
	switch op.F {
	case "enqueue":
		v, err := intOf(op.Value, "queue value")
		if err != nil {
			return nil, err
		}
		if err := q.Enqueue(ctx, v); err != nil {
			return nil, err
		}
		w.acked(v)
		return op.Value, nil
	case "drain":
		worker, _ := op.Value.(int64)
		vals, err := q.Drain(ctx)
		if errors.Is(err, ErrQueueGone) {
			w.noteDrain(worker, nil, true)
			return nil, &DefiniteError{Reason: QueueGoneReason}
		}
		if err != nil {
			return nil, err
		}
		w.noteDrain(worker, vals, false)
		out := make([]any, len(vals))
		for i, v := range vals {
			out[i] = v
		}
		return out, nil
	}
	return nil, &DefiniteError{Reason: fmt.Sprintf("queue: unknown f %q", op.F)}
}

// acked notes v's acknowledgement: its writer's highest so far?
func (w *QueueWorkload) acked(v int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.workers == 0 {
		return
	}
	w.acks++
	writer := (v - 1) % int64(w.workers)
	w.highest[writer] = max(w.highest[writer], v)
}

// noteDrain records whether worker's drain vals held every writer's
// highest acknowledged value; a queue gone reads as -1 values, so that
// drains that keep finding it gone stop after DrainsUnchanged.
func (w *QueueWorkload) noteDrain(worker int64, vals []int64, gone bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	read := make(map[int64]bool, len(vals))
	for _, v := range vals {
		read[v] = true
	}
	all := true
	for _, v := range w.highest {
		all = all && read[v]
	}
	d := w.drains[worker]
	if d == nil {
		d = &drainState{read: -2}
		w.drains[worker] = d
	}
	n := len(vals)
	if gone {
		n, all = -1, false
	}
	if n == d.read {
		d.unchanged++
	} else {
		d.read, d.unchanged = n, 1
	}
	d.complete = all
}
