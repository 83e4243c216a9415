package checker

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/history"
)

// RegisterF is the function of an operation of the register, kv and
// mutex models.
type RegisterF uint8

const (
	// RegRead reads the register.
	RegRead RegisterF = iota
	// RegWrite writes the register.
	RegWrite
	// RegCAS compares and sets the register.
	RegCAS
	// RegAcquire acquires the lock (mutex model).
	RegAcquire
	// RegRelease releases the lock (mutex model).
	RegRelease
)

// RegisterInput is the porcupine input of a register, cas-register, kv or
// mutex operation (of one key: histories are checked key by key).
type RegisterInput struct {
	F RegisterF
	// Value is the value written (write) or the new value (cas); Nil means
	// nil: the key is deleted (kv model only).
	Value int64
	Nil   bool
	// Old is the value a cas expects; OldNil means it expects the key to
	// be absent.
	Old    int64
	OldNil bool
}

// RegisterOutput is the porcupine output of a register operation.
type RegisterOutput struct {
	// Value and Exists are the result of a read (Exists false: nil).
	Value  int64
	Exists bool
	// Unknown marks an info op: it may or may not have taken effect.
	Unknown bool
}

// OpMeta is the porcupine metadata of an operation: where it is in the
// history.
type OpMeta struct {
	Index   int64 // completion index (invocation index for open ops)
	Invoke  int64 // invocation index
	Process int
	Time    int64 // invocation time (completion time when there is no invocation)
	End     int64 // completion time; -1 when it never completed
}

// regState is a register's value (ok false: nil), or whether a lock is
// held (ok).
type regState struct {
	v  int64
	ok bool
}

// lockState describes a lock's state.
func lockState(s regState) string {
	if s.ok {
		return "held"
	}
	return "free"
}

func (s regState) String() string {
	if !s.ok {
		return "nil"
	}
	return fmt.Sprint(s.v)
}

func regStep(state, input, output any) (bool, any) {
	st := state.(regState)
	in := input.(RegisterInput)
	out := output.(RegisterOutput)
	switch in.F {
	case RegRead:
		if out.Unknown {
			return true, st
		}
		return out.Exists == st.ok && (!st.ok || out.Value == st.v), st
	case RegWrite:
		return true, regState{v: in.Value, ok: !in.Nil}
	case RegCAS:
		match := (in.OldNil && !st.ok) || (!in.OldNil && st.ok && st.v == in.Old)
		next := st
		if match {
			next = regState{v: in.Value, ok: !in.Nil}
		}
		if out.Unknown {
			// An info cas applies if it can; if it did not happen, the
			// op can be linearized after every other op instead, where
			// its effect is unobservable.
			return true, next
		}
		return match, next
	case RegAcquire, RegRelease:
		// Acquire needs a free lock, release a held one; an info op that
		// cannot apply is linearized after every other op instead.
		legal := st.ok == (in.F == RegRelease)
		if !legal {
			return out.Unknown, st
		}
		return true, regState{ok: in.F == RegAcquire}
	}
	return false, st
}

func describeRegOp(input, output any) string {
	in := input.(RegisterInput)
	out := output.(RegisterOutput)
	var s string
	switch in.F {
	case RegRead:
		if out.Unknown {
			return "read() -> ?"
		}
		return "read() -> " + valText(out.Value, !out.Exists)
	case RegWrite:
		s = "write(" + valText(in.Value, in.Nil) + ")"
	case RegCAS:
		s = "cas(" + valText(in.Old, in.OldNil) + ", " + valText(in.Value, in.Nil) + ")"
	case RegAcquire:
		s = "acquire()"
	case RegRelease:
		s = "release()"
	}
	if out.Unknown {
		s += " -> ?"
	}
	return s
}

func valText(v int64, isNil bool) string {
	if isNil {
		return "nil"
	}
	return fmt.Sprint(v)
}

// regModel is the porcupine model of one register or lock; Linearizable
// partitions histories by key itself.
var regModel = porcupine.Model{
	Init:  func() any { return regState{} },
	Step:  regStep,
	Equal: func(a, b any) bool { return a.(regState) == b.(regState) },
	Hash: func(s any) uint64 {
		st := s.(regState)
		if !st.ok {
			return 0x9e3779b97f4a7c15
		}
		return uint64(st.v) * 0xff51afd7ed558ccd
	},
	DescribeOperation: describeRegOp,
	DescribeState:     func(s any) string { return s.(regState).String() },
	DescribeOperationMetadata: func(m any) string {
		if om, ok := m.(OpMeta); ok {
			return fmt.Sprintf("#%d (invoked #%d) process %d", om.Index, om.Invoke, om.Process)
		}
		return ""
	},
}

// linModels are the models Linearizable checks, by name, with the
// functions each takes.
var linModels = map[string][]string{
	"register":     {"read", "write"},
	"cas-register": {"read", "write", "cas"},
	"kv":           {"read", "write", "cas"},
	"mutex":        {"acquire", "release"},
}

// SingleKey is the key given to ops of a history without keys (a Jepsen
// single-register history: write v, cas [old new], read v; a Knossos
// lock: acquire, release).
const SingleKey = "register"

// splitKey returns [key, v] for a keyed value (Jepsen's independent
// tuples), or [nil, value] and false for an unkeyed one. A keyed value is
// a two-element list; for cas, whose unkeyed value is [old, new] itself,
// its second element must be a list too.
func splitKey(f string, v any) ([]any, bool) {
	l, ok := history.List(v)
	if ok && len(l) == 2 {
		if f != "cas" {
			return l, true
		}
		if _, inner := history.List(l[1]); inner {
			return l, true
		}
	}
	return []any{nil, v}, false
}

// regOp decodes an op of a register, kv or mutex history and names its
// key. inv is the invocation, comp the completion (the invocation again
// when it never completed).
func regOp(model string, inv, comp history.Op) (string, RegisterInput, RegisterOutput, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("op #%d (%s): %s", inv.Index, inv.F, fmt.Sprintf(format, args...))
	}
	var in RegisterInput
	var out RegisterOutput
	if !slices.Contains(linModels[model], inv.F) {
		return "", in, out, bad("%q is not an operation of the %s model (it takes %s)", inv.F, model, strings.Join(linModels[model], ", "))
	}
	kv, keyed := splitKey(inv.F, inv.Value)
	key := SingleKey
	if keyed {
		key = keyString(kv[0])
	}
	num := func(v any, what string) (int64, bool, error) {
		if v == nil {
			if model != "kv" && what != "read" {
				return 0, true, bad("%s of nil is only allowed in the kv model", what)
			}
			return 0, true, nil
		}
		i, err := history.IntOf(v)
		if err != nil {
			return 0, false, bad("%s value %v (the register models take 64-bit integers and nil)", what, err)
		}
		return i, false, nil
	}
	var err error
	switch inv.F {
	case "read":
		in.F = RegRead
		if comp.Type == history.OK {
			rv := comp.Value
			if l, ok := history.List(rv); ok && len(l) == 2 {
				rv = l[1]
			} else if keyed {
				return "", in, out, bad("read result %s is not [key, value]", showValue(rv))
			}
			var isNil bool
			out.Value, isNil, err = num(rv, "read")
			out.Exists = !isNil
		}
	case "write":
		in.F = RegWrite
		in.Value, in.Nil, err = num(kv[1], "write")
	case "cas":
		in.F = RegCAS
		on, ok := history.List(kv[1])
		if !ok || len(on) != 2 {
			return "", in, out, bad("cas value %s is not [key, [old, new]]", showValue(inv.Value))
		}
		if in.Old, in.OldNil, err = num(on[0], "cas"); err != nil {
			return "", in, out, err
		}
		in.Value, in.Nil, err = num(on[1], "cas")
	case "acquire":
		in.F = RegAcquire
	case "release":
		in.F = RegRelease
	}
	return key, in, out, err
}

// LinearizableConfig configures the linearizability checker.
type LinearizableConfig struct {
	// Model is "register", "cas-register" (default), "kv" or "mutex".
	Model string
	// TimeLimit bounds the whole check; 0 means only ctx bounds it. When
	// it is reached the verdict is Unknown (unless a key already failed).
	TimeLimit time.Duration
	// OutDir is where the HTML visualisation of the failing key is
	// written; empty means none is written.
	OutDir string
	// MaxExplained bounds how many failing keys are analysed in detail and
	// reported as anomalies (default DefaultMaxReported); one
	// visualisation is written, for the first failing key.
	MaxExplained int
	// NilReadsUnknown reads a read of nil as "value unknown", as Knossos'
	// register and cas-register do: it constrains nothing. By default nil
	// is the register's initial value, and a read of nil after a write
	// is a stale read. Only for register and cas-register.
	NilReadsUnknown bool
	// Progress, if set, follows the check.
	Progress *Progress
}

// Linearizable checks a register (or kv, or lock) history for
// linearizability with porcupine, one key at a time. Ops are ordered by
// their positions in the history, not their times (the two agree in every
// well-formed history; a history without :time has only positions, as
// Knossos reads it). Failed ops did not happen; info ops may take effect
// at any time after their invocation (or never); a completion with no
// invocation may have begun at any time before it.
type Linearizable struct {
	cfg LinearizableConfig
}

// NewLinearizable returns a linearizability checker; it fails on an unknown
// model name.
func NewLinearizable(cfg LinearizableConfig) (*Linearizable, error) {
	if cfg.Model == "" {
		cfg.Model = "cas-register"
	}
	if _, ok := linModels[cfg.Model]; !ok {
		names := make([]string, 0, len(linModels))
		for n := range linModels {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("checker: unknown model %q (want one of %s)", cfg.Model, strings.Join(names, ", "))
	}
	if cfg.NilReadsUnknown && cfg.Model != "register" && cfg.Model != "cas-register" {
		return nil, fmt.Errorf("checker: reading nil as unknown is Knossos' register and cas-register semantics, not the %s model's: drop it, or use --model cas-register", cfg.Model)
	}
	if cfg.MaxExplained <= 0 {
		cfg.MaxExplained = DefaultMaxReported
	}
	return &Linearizable{cfg: cfg}, nil
}

// Name implements Checker.
func (l *Linearizable) Name() string { return "linearizable" }

// TimeLimit implements Limited.
func (l *Linearizable) TimeLimit() time.Duration { return l.cfg.TimeLimit }

// Check implements Checker.
func (l *Linearizable) Check(ctx context.Context, ops []history.Op) Result {
	return checkStream(ctx, l, ops)
}

// Stream implements Streamer.
func (l *Linearizable) Stream() Stream {
	return &linStream{l: l, start: time.Now(), byKey: map[string][]linOp{}}
}

// linStream gathers a history into operations per key.
type linStream struct {
	l     *Linearizable
	start time.Time
	open  history.Pairer[linPending]
	cursor
	clientOps int64
	keys      []string
	byKey     map[string][]linOp
}

// linOp is an operation kept until its key is checked: without pointers,
// so that a history of millions costs the garbage collector nothing.
type linOp struct {
	in        RegisterInput
	out       RegisterOutput
	call, ret int64
	meta      OpMeta
}

// porcupineOps makes a key's ops porcupine's.
func porcupineOps(ops []linOp) []porcupine.Operation {
	out := make([]porcupine.Operation, len(ops))
	for i, o := range ops {
		out[i] = porcupine.Operation{ClientId: o.meta.Process, Input: o.in, Call: o.call, Output: o.out, Return: o.ret, Metadata: o.meta}
	}
	return out
}

type linPending struct {
	op  history.Op
	pos int64
}

// never is the return position of an op that never completed (or whose
// outcome is unknown): after every other.
const never = 1 << 62

// Add implements Stream.
func (s *linStream) Add(op history.Op) error {
	pos, client := s.next(op)
	if !client {
		return nil
	}
	s.clientOps++
	if s.open.Opens(op) {
		if prev, had := s.open.Open(op.Process, linPending{op, pos}); had {
			return s.add(prev.op, prev.op, prev.pos, -1)
		}
		return nil
	}
	inv, ok := s.open.Close(op.Process)
	if !ok {
		return s.add(op, op, -1, pos)
	}
	return s.add(inv.op, op, inv.pos, pos)
}

// add records one op: invoked at position call (-1: any time before it
// completed), completed at position ret (-1: never).
func (s *linStream) add(inv, comp history.Op, call, ret int64) error {
	if ret >= 0 && comp.Type == history.Fail {
		return nil // it did not happen
	}
	unknown := ret < 0 || comp.Type == history.Info
	if ret < 0 {
		comp = inv
	}
	key, in, out, err := regOp(s.l.cfg.Model, inv, comp)
	if err != nil {
		return fmt.Errorf("linearizable: %w", err)
	}
	meta := OpMeta{Index: comp.Index, Invoke: inv.Index, Process: inv.Process, Time: inv.Time, End: comp.Time}
	if in.F == RegRead && !unknown && !out.Exists && s.l.cfg.NilReadsUnknown {
		return nil // Knossos: nil is "value unknown", which constrains nothing
	}
	if unknown {
		if in.F == RegRead {
			return nil // constrains nothing
		}
		out = RegisterOutput{Unknown: true}
		if ret < 0 {
			meta.End = -1
		}
		ret = never
	}
	ops, seen := s.byKey[key]
	if !seen {
		s.keys = append(s.keys, key)
	}
	s.byKey[key] = append(ops, linOp{in: in, out: out, call: call, ret: ret, meta: meta})
	return nil
}

type keyVerdict struct {
	key string
	res porcupine.CheckResult
}

// Result implements Stream.
func (s *linStream) Result(ctx context.Context) Result {
	l := s.l
	name := l.Name()
	for _, p := range s.open.Pending() {
		if err := s.add(p.op, p.op, p.pos, -1); err != nil {
			return unknown(name, err)
		}
	}
	if s.clientOps == 0 {
		err := fmt.Errorf("linearizable: the history holds no client op to check (it is empty, or holds only nemesis ops); a history with nothing in it is no evidence either way")
		return unknown(name, err)
	}
	keys, byKey := s.keys, s.byKey
	sort.Strings(keys)
	if l.cfg.TimeLimit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.cfg.TimeLimit)
		defer cancel()
	}
	model := regModel
	if l.cfg.Model == "mutex" {
		model.DescribeState = func(s any) string { return lockState(s.(regState)) }
	}
	model.Step = nil
	model.StepContext = func(pctx context.Context, st, in, out any) (bool, any) {
		if ctx.Err() != nil {
			return false, st // unwind quickly; the verdict becomes Unknown
		}
		return regStep(st, in, out)
	}
	l.cfg.Progress.Phase("checking keys", int64(len(keys)))

	// Biggest keys first so that the pool finishes evenly.
	order := append([]string(nil), keys...)
	sort.SliceStable(order, func(i, j int) bool { return len(byKey[order[i]]) > len(byKey[order[j]]) })
	jobs := make(chan string)
	results := make(chan keyVerdict, len(order))
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				results <- keyVerdict{k, checkKey(ctx, model, porcupineOps(byKey[k]))}
				l.cfg.Progress.Step(1)
			}
		}()
	}
feed:
	for _, k := range order {
		select {
		case jobs <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(results)

	var bad, undecided []string
	checked := 0
	for kv := range results {
		checked++
		switch kv.res {
		case porcupine.Illegal:
			bad = append(bad, kv.key)
		case porcupine.Unknown:
			undecided = append(undecided, kv.key)
		}
	}
	sort.Strings(bad)
	sort.Strings(undecided)
	nops := 0
	for _, k := range keys {
		nops += len(byKey[k])
	}
	res := Result{Checker: name, Valid: Valid, Details: map[string]any{
		"model": l.cfg.Model, "keys": len(keys), "ops": nops,
		"keys_checked": checked - len(undecided), "keys_nonlinearizable": len(bad),
		"seconds": time.Since(s.start).Seconds(),
	}}
	if len(bad) > 0 {
		res.Valid = Invalid
		res.Details["failing_keys"] = bad
		res.Details["max_visualized"] = MaxVisualized
		var expl []string
		for i, k := range bad {
			if i >= l.cfg.MaxExplained {
				expl = append(expl, fmt.Sprintf("... and %d more keys", len(bad)-i))
				break
			}
			a, artifact := s.explainKey(ctx, model, k, porcupineOps(byKey[k]), i < MaxVisualized)
			res.Anomalies = append(res.Anomalies, a)
			if artifact != "" {
				res.Artifacts = append(res.Artifacts, artifact)
			}
			expl = append(expl, a.Explanation)
		}
		res.Explanation = fmt.Sprintf("%d of %d keys are not linearizable (model %s): %s",
			len(bad), len(keys), l.cfg.Model, strings.Join(expl, "; "))
		return res
	}
	if ctx.Err() != nil || len(undecided) > 0 || checked < len(keys) {
		res.Valid = Unknown
		why := "time limit reached"
		if ctx.Err() != nil {
			why = context.Cause(ctx).Error()
		}
		left := len(keys) - checked + len(undecided)
		res.Error = fmt.Errorf("linearizable: %d of %d keys undecided: %s", left, len(keys), why).Error()
		res.Explanation = fmt.Sprintf("no key was found non-linearizable, but %d of %d keys could not be checked (%s)", left, len(keys), why)
		if len(undecided) > 0 {
			res.Details["undecided_keys"] = undecided
		}
	}
	return res
}

func checkKey(ctx context.Context, model porcupine.Model, ops []porcupine.Operation) porcupine.CheckResult {
	if ctx.Err() != nil {
		return porcupine.Unknown
	}
	var timeout time.Duration
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
		if timeout <= 0 {
			return porcupine.Unknown
		}
	}
	r := porcupine.CheckOperationsTimeout(model, ops, timeout)
	if ctx.Err() != nil && r != porcupine.Ok {
		return porcupine.Unknown // our step gave up; not a real violation
	}
	return r
}

// MaxVisualized caps the failing keys whose porcupine visualisation is
// written (each is a file of its own; a long history has many).
const MaxVisualized = 10

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// explainKey reruns porcupine verbosely on one failing key, names the ops
// that could not be linearized and writes the visualisation.
func (s *linStream) explainKey(ctx context.Context, model porcupine.Model, key string, ops []porcupine.Operation, visualize bool) (Anomaly, string) {
	a := Anomaly{Type: "nonlinearizable", Key: key}
	var timeout time.Duration
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Second)
	}
	model.StepContext = func(_ context.Context, st, in, out any) (bool, any) { return regStep(st, in, out) }
	// The visualisation draws one row per client id, from 0: number the
	// processes of this key densely (the process is in the metadata).
	dense := map[int]int{}
	ops = append([]porcupine.Operation(nil), ops...)
	for i := range ops {
		id, ok := dense[ops[i].ClientId]
		if !ok {
			id = len(dense)
			dense[ops[i].ClientId] = id
		}
		ops[i].ClientId = id
	}
	r, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if r != porcupine.Illegal {
		a.Explanation = fmt.Sprintf("key %s: not linearizable (%d ops; detail unavailable: rerun gave %v)", key, len(ops), r)
		a.Summary = fmt.Sprintf("key %s: not linearizable (%d ops)", key, len(ops))
		return a, ""
	}
	s.explainLinearization(&a, model, key, ops, info)
	artifact := ""
	if visualize && s.l.cfg.OutDir != "" {
		name := "linearizability-" + unsafeFileChars.ReplaceAllString(key, "_") + ".html"
		if err := os.MkdirAll(s.l.cfg.OutDir, 0o755); err == nil {
			if err := porcupine.VisualizePath(model, info, filepath.Join(s.l.cfg.OutDir, name)); err == nil {
				artifact = name
				a.Explanation += " (visualisation: " + name + ")"
			} else {
				a.Explanation += fmt.Sprintf(" (visualisation failed: %v)", err)
			}
		}
	}
	return a, artifact
}

// explainLinearization names, from the longest linearizable prefix
// porcupine found, the ops that could come next and cannot, and the most
// telling of them.
func (s *linStream) explainLinearization(a *Anomaly, model porcupine.Model, key string, ops []porcupine.Operation, info porcupine.LinearizationInfo) {
	parts := info.PartialLinearizations()
	var longest []int
	if len(parts) > 0 {
		for _, p := range parts[0] {
			if len(p) > len(longest) {
				longest = p
			}
		}
	}
	in := make([]bool, len(ops))
	state := model.Init()
	setter := -1 // the op in the prefix that last changed the state
	var prefix []string
	for _, id := range longest {
		in[id] = true
		prev := state
		_, state = regStep(state, ops[id].Input, ops[id].Output)
		if state != prev || ops[id].Input.(RegisterInput).F != RegRead {
			setter = id
		}
	}
	meta := func(i int) OpMeta { return ops[i].Metadata.(OpMeta) }
	for i := max(0, len(longest)-3); i < len(longest); i++ {
		id := longest[i]
		prefix = append(prefix, fmt.Sprintf("#%d %s", meta(id).Index, describeRegOp(ops[id].Input, ops[id].Output)))
	}
	// The ops that could be linearized next: not yet linearized and
	// called no later than the earliest return among those left.
	minRet := int64(math.MaxInt64)
	for i, o := range ops {
		if !in[i] && o.Return < minRet {
			minRet = o.Return
		}
	}
	var cands []int
	for i, o := range ops {
		if !in[i] && o.Call <= minRet {
			cands = append(cands, i)
		}
	}
	sort.Slice(cands, func(x, y int) bool { return ops[cands[x]].Call < ops[cands[y]].Call })
	// The most telling: one whose own result the state contradicts.
	tell := -1
	for _, i := range cands {
		if ok, _ := regStep(state, ops[i].Input, ops[i].Output); !ok {
			tell = i
			break
		}
	}
	if tell < 0 && len(cands) > 0 {
		tell = cands[0]
	}
	var names []string
	if tell >= 0 {
		a.Ops = append(a.Ops, meta(tell).Index)
	}
	if setter >= 0 {
		a.Ops = append(a.Ops, meta(setter).Index)
	}
	for _, i := range cands {
		if i != tell {
			a.Ops = append(a.Ops, meta(i).Index)
		}
		names = append(names, fmt.Sprintf("#%d process %d %s", meta(i).Index, meta(i).Process, describeRegOp(ops[i].Input, ops[i].Output)))
	}
	st := model.DescribeState(state)
	var b strings.Builder
	if key != SingleKey {
		fmt.Fprintf(&b, "key %s: ", key)
	}
	fmt.Fprintf(&b, "not linearizable: at most %d of its %d ops can be linearized", len(longest), len(ops))
	if len(prefix) > 0 {
		fmt.Fprintf(&b, " (ending ... %s)", strings.Join(prefix, ", "))
	}
	fmt.Fprintf(&b, "; then the %s is %s and none of the ops that must come next can take effect: %s",
		s.object(), st, strings.Join(names, "; "))
	a.Explanation = b.String()
	if tell >= 0 {
		s.clock.stamp(a, meta(tell).Time)
		a.Summary = s.summary(key, ops, tell, setter, state.(regState))
	}
}

// object names what a key holds.
func (s *linStream) object() string {
	if s.l.cfg.Model == "mutex" {
		return "lock"
	}
	return "register"
}

// summary says in a line what op tell did that the state (set by op
// setter, -1: the initial state) contradicts.
func (s *linStream) summary(key string, ops []porcupine.Operation, tell, setter int, st regState) string {
	m := ops[tell].Metadata.(OpMeta)
	in, out := ops[tell].Input.(RegisterInput), ops[tell].Output.(RegisterOutput)
	where := ""
	if key != SingleKey {
		where = "key " + key + ": "
	}
	at := s.clock.at(m.Time)
	by := " (its initial state)"
	if setter >= 0 {
		sm := ops[setter].Metadata.(OpMeta)
		so := ops[setter].Output.(RegisterOutput)
		var what string
		switch {
		case so.Unknown && sm.End < 0:
			what = "which never completed"
		case so.Unknown:
			what = "whose outcome is unknown: info" + s.clock.at(sm.End)
		default:
			what = "completed" + s.clock.at(sm.End)
		}
		desc := describeRegOp(ops[setter].Input, RegisterOutput{})
		if !so.Unknown && ops[setter].Return < ops[tell].Call {
			by = fmt.Sprintf(" after %s by #%d %s", desc, sm.Index, what)
		} else {
			// The setter overlaps the op: say what the search found, no
			// more (its times could not show an order).
			by = fmt.Sprintf(", set by %s #%d (%s), which the longest order found puts first", desc, sm.Index, what)
		}
	}
	switch in.F {
	case RegRead:
		return fmt.Sprintf("%sread %s%s (#%d), but the register held %s%s", where, valText(out.Value, !out.Exists), at, m.Index, st, by)
	case RegCAS:
		return fmt.Sprintf("%scas %s->%s succeeded%s (#%d), but the register held %s%s", where,
			valText(in.Old, in.OldNil), valText(in.Value, in.Nil), at, m.Index, st, by)
	case RegAcquire:
		return fmt.Sprintf("%sprocess %d acquired the lock%s (#%d) while it was held%s", where, m.Process, at, m.Index, by)
	case RegRelease:
		return fmt.Sprintf("%sprocess %d released the lock%s (#%d) while it was free%s", where, m.Process, at, m.Index, by)
	}
	return fmt.Sprintf("%s%s%s (#%d) cannot take effect: the %s held %s%s", where, describeRegOp(in, out), at, m.Index, s.object(), st, by)
}
