package history

import (
	"encoding/json"
	"fmt"
)

// Type is the kind of an Op: an invocation or one of three completions.
type Type uint8

const (
	// Invoke marks the start of an operation.
	Invoke Type = iota + 1
	// OK marks an operation that definitely happened.
	OK
	// Fail marks an operation that definitely did not happen.
	Fail
	// Info marks an operation whose outcome is unknown.
	Info
)

// NemesisProcess is the process id of every nemesis operation.
const NemesisProcess = -1

// NoProcess is the process of an imported op that has none (some of
// Elle's example histories have no :process). Such ops pair in order, as
// jepsen.history reads them, as if of one shared process (see Pairing),
// and are in no process order.
const NoProcess = -1 << 31

// String returns the Jepsen name of t: invoke, ok, fail or info.
func (t Type) String() string {
	switch t {
	case Invoke:
		return "invoke"
	case OK:
		return "ok"
	case Fail:
		return "fail"
	case Info:
		return "info"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseType parses a Jepsen type name (invoke, ok, fail, info).
func ParseType(s string) (Type, error) {
	switch s {
	case "invoke":
		return Invoke, nil
	case "ok":
		return OK, nil
	case "fail":
		return Fail, nil
	case "info":
		return Info, nil
	}
	return 0, fmt.Errorf("history: unknown op type %q (want invoke, ok, fail or info)", s)
}

// MarshalText encodes t as its Jepsen name.
func (t Type) MarshalText() ([]byte, error) {
	if t < Invoke || t > Info {
		return nil, fmt.Errorf("history: cannot encode invalid op type %d", uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText decodes a Jepsen type name.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Op is one entry of a history.
//
// Value conventions by workload (JSON-compatible so histories round-trip):
//   - register: f read|write|cas; Value is [key, v] where v is an int64 for
//     read/write (nil for a read whose result is unknown or a missing key) and
//     [old, new] for cas.
//   - bank: f read (Value map account->balance) | transfer (Value
//     {"from":a,"to":b,"amount":n}).
//   - list-append: f txn; Value is a list of micro-ops [f, k, v] with f "r"
//     or "append"; a read's v is the list read (nil at invoke).
//   - set: f add (Value element) | read (Value list of elements).
//   - nemesis: f start-partition, stop-partition, kill, start, pause,
//     resume, bump-clock, strobe-clock, reset-clock, start-loss, stop-loss;
//     Value describes what was done (grudge, nodes, offsets).
type Op struct {
	// Index is the position of the op in the history, from 0.
	Index int64 `json:"index"`
	// Time is nanoseconds since the start of the run (monotonic clock).
	Time int64 `json:"time"`
	// Type is invoke, ok, fail or info.
	Type Type `json:"type"`
	// Process is the logical client process; NemesisProcess for the nemesis.
	Process int `json:"process"`
	// F is the function: read, write, cas, txn, transfer, add, kill, ...
	F string `json:"f"`
	// Value is the argument at invoke and the result at completion.
	Value any `json:"value"`
	// Error says why an op failed or is indeterminate.
	Error string `json:"error,omitempty"`
	// Node is the node the client talked to, if known.
	Node string `json:"node,omitempty"`
}

// IsNemesis reports whether op was performed by the nemesis.
func (o Op) IsNemesis() bool { return o.Process == NemesisProcess }

// String renders op compactly for explanations and logs.
func (o Op) String() string {
	proc := fmt.Sprint(o.Process)
	if o.IsNemesis() {
		proc = ":nemesis"
	}
	v, err := json.Marshal(o.Value)
	if err != nil {
		v = []byte(fmt.Sprint(o.Value))
	}
	s := fmt.Sprintf("#%d p%s %s %s %s", o.Index, proc, o.Type, o.F, v)
	if o.Error != "" {
		s += " (" + o.Error + ")"
	}
	return s
}

// HasTimes reports whether ops carry times: false for a history read from
// a file without :time (every Time is then 0), where only positions order
// ops.
func HasTimes(ops []Op) bool {
	for i := range ops {
		if ops[i].Time != 0 {
			return true
		}
	}
	return false
}

// Pair links an invocation with its completion.
type Pair struct {
	Invoke Op
	// Complete is the completion; its Type is Info if the history ended
	// before the op completed.
	Complete Op
	// Open is true when the history holds no completion for the invoke.
	Open bool
	// InvokePos and CompletePos are the positions of the two ops in the
	// history given to Pairs. InvokePos is -1 for a completion the history
	// holds no invocation for (Invoke is then a copy of the completion):
	// it may have begun any time before it completed. CompletePos is
	// len(history) when Open.
	InvokePos, CompletePos int
}

// Pairs matches each invocation with the next completion of the same
// process, in history order (see Pairer for the rules). Invocations that
// never complete are returned with Open set and an info completion at
// time +infinity (math.MaxInt64), as Jepsen treats them.
func Pairs(ops []Op) []Pair {
	const inf = int64(^uint64(0) >> 1)
	var p Pairer[int] // index into out
	out := make([]Pair, 0, len(ops)/2+1)
	for pos, o := range ops {
		if p.Opens(o) {
			p.Open(o.Process, len(out))
			out = append(out, Pair{Invoke: o, Open: true, InvokePos: pos, CompletePos: len(ops),
				Complete: Op{Index: -1, Time: inf, Type: Info, Process: o.Process, F: o.F, Value: o.Value}})
			continue
		}
		if i, ok := p.Close(o.Process); ok {
			out[i].Complete, out[i].Open, out[i].CompletePos = o, false, pos
			continue
		}
		inv := o
		inv.Type = Invoke
		out = append(out, Pair{Invoke: inv, Complete: o, InvokePos: -1, CompletePos: pos})
	}
	return out
}

// Pairer matches completions with invocations as a history streams by;
// T is what the caller keeps of an invocation. The rules, Jepsen's:
//   - An invocation opens an op on its process; the next completion on
//     that process closes it.
//   - Jepsen records a nemesis op as two :info ops: an :info of the
//     nemesis with no nemesis op open opens one.
//   - A completion with nothing open on its process stands alone (Elle's
//     histories of completions only): the caller treats it as an op that
//     may have begun any time before it completed. Histories read from
//     files are held to Pairing first, which refuses such completions
//     where Knossos does, and an invocation while its process is busy.
//
// The zero Pairer is ready to use.
type Pairer[T any] struct{ open map[int]T }

// Opens reports whether op opens an operation (see Pairer).
func (p *Pairer[T]) Opens(op Op) bool {
	if op.Type == Invoke {
		return true
	}
	if op.Process == NemesisProcess && op.Type == Info {
		_, busy := p.open[NemesisProcess]
		return !busy
	}
	return false
}

// Open records an invocation on process. An invocation still open on it
// (malformed: it never completed) is returned, with true, so the caller
// can treat it as never completed.
func (p *Pairer[T]) Open(process int, v T) (prev T, had bool) {
	if p.open == nil {
		p.open = map[int]T{}
	}
	prev, had = p.open[process]
	p.open[process] = v
	return prev, had
}

// Close returns the invocation open on process, if any, and closes it.
func (p *Pairer[T]) Close(process int) (T, bool) {
	v, ok := p.open[process]
	if ok {
		delete(p.open, process)
	}
	return v, ok
}

// Pending returns the invocations still open, in no particular order.
func (p *Pairer[T]) Pending() []T {
	out := make([]T, 0, len(p.open))
	for _, v := range p.open {
		out = append(out, v)
	}
	return out
}
