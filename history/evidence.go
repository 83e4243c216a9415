package history

import (
	"fmt"
	"strings"
)

// ReadStats says how much of a history a Decoder read, what it left out,
// and why: what a verdict on the history rests on. A history with a
// refused op has no verdict; a dropped op is left out of the verdict, and
// the verdict must say so.
type ReadStats struct {
	// Read counts the ops read and handed on; Nemesis counts those of
	// them the nemesis performed, which checkers skip.
	Read    int64 `json:"read"`
	Nemesis int64 `json:"nemesis"`
	// Dropped counts ops left out: the torn last line of our own
	// history.jsonl, left by a killed harness (see DropTornTail).
	Dropped int64 `json:"dropped"`
	// Refused counts ops refused: malformed, cut off, or impossible to
	// pair with their invocation or completion (see CheckPairs).
	Refused int64 `json:"refused"`
	// Why says, a sentence each, why ops were dropped or refused.
	Why []string `json:"why,omitempty"`
	// Warnings are what a reader of the verdict should know, such as
	// :time running against the order of the file.
	Warnings []string `json:"warnings,omitempty"`
}

// String says it in a line: "read 12 ops (2 nemesis); dropped 1: ...".
func (s ReadStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %s", Count(s.Read, "op"))
	if s.Nemesis > 0 {
		fmt.Fprintf(&b, " (%d nemesis)", s.Nemesis)
	}
	if s.Dropped > 0 {
		fmt.Fprintf(&b, ", dropped %d", s.Dropped)
	}
	if s.Refused > 0 {
		fmt.Fprintf(&b, ", refused %d", s.Refused)
	}
	for _, w := range s.Why {
		b.WriteString("; ")
		b.WriteString(w)
	}
	return b.String()
}

// Pairing is the rule by which a history's invocations and completions
// must pair (see Pairer), checked as the history is read (CheckPairs).
// Every history is held to Knossos' rules, with one exception a checker
// may ask for:
//   - A process runs one op at a time: an invocation while the process's
//     previous op is still pending is refused (Knossos: "process already
//     running"). After an :info completion the process is free again.
//   - Ops without :process pair in order, as jepsen.history reads them
//     (one shared process): an invocation, then its completion. Two
//     invocations in a row without :process cannot be paired: refused.
//   - A completion with no invocation before it is refused (Knossos:
//     "completed an operation without a prior invocation"): it would read
//     as an op that may have begun at any earlier time, hiding a stale
//     read. LoneCompletions accepts it, for Elle's histories of
//     completions only.
//
// Nemesis ops are not held to these rules: checkers skip them.
type Pairing struct {
	LoneCompletions bool
}

// pairCheck follows a history op by op under a Pairing.
type pairCheck struct {
	rules Pairing
	open  Pairer[pendingOp]
}

type pendingOp struct {
	index int64
	line  int
}

// add checks op, read from line, against the ops before it.
func (p *pairCheck) add(op Op, line int) error {
	if op.IsNemesis() {
		return nil
	}
	if p.open.Opens(op) {
		if prev, had := p.open.Open(op.Process, pendingOp{op.Index, line}); had {
			if op.Process == NoProcess {
				return fmt.Errorf("op #%d (line %d) is an invocation without :process while invocation #%d (line %d), also without one, is still pending: ops without :process pair in order, as jepsen.history reads them, so these two cannot be paired; give every op a :process", op.Index, line, prev.index, prev.line)
			}
			return fmt.Errorf("process %d invoked op #%d (line %d) while its op #%d (line %d) was still pending (Knossos: \"process already running\"): a process runs one op at a time; give the op that never completed an :info completion, or the new op a fresh process, as Jepsen does after an :info", op.Process, op.Index, line, prev.index, prev.line)
		}
		return nil
	}
	if _, ok := p.open.Close(op.Process); ok || p.rules.LoneCompletions {
		return nil
	}
	who := fmt.Sprintf("process %d", op.Process)
	if op.Process == NoProcess {
		who = "an op without :process"
	}
	return fmt.Errorf("op #%d (line %d, %s) completed an operation without a prior invocation (Knossos refuses such a history): it would read as an op that began at any earlier time, which can hide a stale read; add its :invoke, or check a whole history rather than a cut or filtered one", op.Index, line, who)
}

// TimeOrder follows whether ops' times run with their order in a history,
// as they must: checkers order ops by position (as Knossos does), and an
// explanation that gave times running against that order would contradict
// itself. The zero TimeOrder is ready to use.
type TimeOrder struct {
	last       int64
	seen       bool
	backwards  int64
	firstIndex int64
	firstTime  int64
	firstAfter int64
}

// Add takes the next op.
func (t *TimeOrder) Add(op Op) {
	if t.seen && op.Time < t.last {
		if t.backwards == 0 {
			t.firstIndex, t.firstTime, t.firstAfter = op.Index, op.Time, t.last
		}
		t.backwards++
	}
	t.last, t.seen = op.Time, true
}

// Backwards reports whether some op's time is earlier than the op's
// before it.
func (t *TimeOrder) Backwards() bool { return t.backwards > 0 }

// Warning says how times run against the order of the history, or "".
func (t *TimeOrder) Warning() string {
	if t.backwards == 0 {
		return ""
	}
	return fmt.Sprintf(":time runs against the order of the file at %s (first op #%d: time %d ns, after %d ns): ops are ordered by their position, as Knossos orders them, and explanations give no times", Count(t.backwards, "op"), t.firstIndex, t.firstTime, t.firstAfter)
}

// Count says n things: "1 op", "2 ops".
func Count(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
