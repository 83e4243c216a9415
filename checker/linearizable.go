package checker

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline/faultline/history"
)

// RegisterF is the function of a register operation.
type RegisterF uint8

const (
	// RegRead reads the register.
	RegRead RegisterF = iota
	// RegWrite writes the register.
	RegWrite
	// RegCAS compares and sets the register.
	RegCAS
)

// RegisterInput is the porcupine input of a register, cas-register or kv
// operation.
type RegisterInput struct {
	Key string
	F   RegisterF
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
}

type regState struct {
	v  int64
	ok bool
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
	}
	return false, st
}

func describeRegOp(input, output any) string {
	in := input.(RegisterInput)
	out := output.(RegisterOutput)
	val := func(v int64, isNil bool) string {
		if isNil {
			return "nil"
		}
		return fmt.Sprint(v)
	}
	var s string
	switch in.F {
	case RegRead:
		s = "read() -> " + val(out.Value, !out.Exists)
		if out.Unknown {
			s = "read() -> ?"
		}
		return s
	case RegWrite:
		s = "write(" + val(in.Value, in.Nil) + ")"
	case RegCAS:
		s = "cas(" + val(in.Old, in.OldNil) + ", " + val(in.Value, in.Nil) + ")"
	}
	if out.Unknown {
		s += " -> ?"
	}
	return s
}

func partitionByKey(ops []porcupine.Operation) [][]porcupine.Operation {
	idx := map[string]int{}
	var out [][]porcupine.Operation
	for _, o := range ops {
		k := o.Input.(RegisterInput).Key
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], o)
	}
	return out
}

func partitionEventsByKey(evs []porcupine.Event) [][]porcupine.Event {
	keyOf := map[int]string{}
	idx := map[string]int{}
	var out [][]porcupine.Event
	for _, e := range evs {
		var k string
		if e.Kind == porcupine.CallEvent {
			k = e.Value.(RegisterInput).Key
			keyOf[e.Id] = k
		} else {
			k = keyOf[e.Id]
		}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], e)
	}
	return out
}

func newRegModel() porcupine.Model {
	return porcupine.Model{
		Partition:      partitionByKey,
		PartitionEvent: partitionEventsByKey,
		Init:           func() any { return regState{} },
		Step:           regStep,
		Equal:          func(a, b any) bool { return a.(regState) == b.(regState) },
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
}

// Models are the porcupine models by name: "register" (read/write),
// "cas-register" (read/write/cas) and "kv" (read/write/cas where a value
// may be nil: absent or deleted). All three are partitioned per key; their
// inputs and outputs are RegisterInput and RegisterOutput, as built by
// RegisterOperations.
var Models = map[string]porcupine.Model{
	"register":     newRegModel(),
	"cas-register": newRegModel(),
	"kv":           newRegModel(),
}

// ModelNames lists the names of Models, sorted.
func ModelNames() []string {
	out := make([]string, 0, len(Models))
	for k := range Models {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// RegisterOperations converts a register history into porcupine operations
// for the named model, grouped by key (keys sorted). Values are [key, v]
// (cas: [key, [old, new]]), or, for Jepsen single-register histories, v
// (cas: [old, new]) under the key SingleKey. Fail ops are dropped
// (they did not happen), info reads are dropped (they constrain nothing),
// and info writes and cas ops return after every other op (they may take
// effect at any time after their invocation). Nemesis ops are ignored.
func RegisterOperations(model string, ops []history.Op) (keys []string, byKey map[string][]porcupine.Operation, err error) {
	if _, ok := Models[model]; !ok {
		return nil, nil, fmt.Errorf("checker: unknown model %q (want one of %s)", model, strings.Join(ModelNames(), ", "))
	}
	var maxTime int64
	for _, o := range ops {
		if o.Time > maxTime && o.Time != math.MaxInt64 {
			maxTime = o.Time
		}
	}
	inf := maxTime + 1
	byKey = map[string][]porcupine.Operation{}
	for _, p := range clientPairs(ops) {
		c := p.Complete
		if c.Type == history.Fail {
			continue
		}
		in, out, err := registerOp(model, p)
		if err != nil {
			return nil, nil, err
		}
		ret := c.Time
		if c.Type == history.Info {
			if in.F == RegRead {
				continue
			}
			out = RegisterOutput{Unknown: true}
			ret = inf
		}
		if _, seen := byKey[in.Key]; !seen {
			keys = append(keys, in.Key)
		}
		byKey[in.Key] = append(byKey[in.Key], porcupine.Operation{
			ClientId: p.Invoke.Process,
			Input:    in,
			Call:     p.Invoke.Time,
			Output:   out,
			Return:   ret,
			Metadata: OpMeta{Index: opID(p), Invoke: p.Invoke.Index, Process: p.Invoke.Process},
		})
	}
	sort.Strings(keys)
	return keys, byKey, nil
}

func registerOp(model string, p history.Pair) (RegisterInput, RegisterOutput, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checker: op #%d (%s): %s", p.Invoke.Index, p.Invoke.F, fmt.Sprintf(format, args...))
	}
	var in RegisterInput
	var out RegisterOutput
	kv, keyed := splitKey(p.Invoke.F, p.Invoke.Value)
	if keyed {
		in.Key = keyString(kv[0])
	} else {
		in.Key = SingleKey
	}
	num := func(v any, what string) (int64, bool, error) {
		if v == nil {
			if model != "kv" && what != "read" {
				return 0, true, bad("%s of nil is only allowed in the kv model", what)
			}
			return 0, true, nil
		}
		i, ok := history.Int(v)
		if !ok {
			return 0, false, bad("%s value %s is not an integer", what, showValue(v))
		}
		return i, false, nil
	}
	var err error
	switch p.Invoke.F {
	case "read":
		in.F = RegRead
		if p.Complete.Type == history.OK {
			rv := p.Complete.Value
			if l, ok := history.List(rv); ok && len(l) == 2 {
				rv = l[1]
			} else if keyed {
				return in, out, bad("read result %s is not [key, value]", showValue(rv))
			}
			var isNil bool
			out.Value, isNil, err = num(rv, "read")
			out.Exists = !isNil
		}
	case "write":
		in.F = RegWrite
		in.Value, in.Nil, err = num(kv[1], "write")
	case "cas":
		if model == "register" {
			return in, out, bad("cas is not an operation of the register model (use cas-register)")
		}
		in.F = RegCAS
		on, ok := history.List(kv[1])
		if !ok || len(on) != 2 {
			return in, out, bad("cas value %s is not [key, [old, new]]", showValue(p.Invoke.Value))
		}
		if in.Old, in.OldNil, err = num(on[0], "cas"); err != nil {
			return in, out, err
		}
		in.Value, in.Nil, err = num(on[1], "cas")
	default:
		return in, out, bad("unknown register function %q", p.Invoke.F)
	}
	return in, out, err
}

// SingleKey is the key given to ops of a history without keys (a Jepsen
// single-register history: write v, cas [old new], read v).
const SingleKey = "register"

// splitKey returns [key, v] for a keyed register value, or [nil, value]
// and false for an unkeyed (single-register) value. A keyed value is a
// two-element list; for cas, whose unkeyed value is [old, new] itself,
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

// LinearizableConfig configures the linearizability checker.
type LinearizableConfig struct {
	// Model is "register", "cas-register" (default) or "kv".
	Model string
	// TimeLimit bounds the whole check; 0 means only ctx bounds it. When
	// it is reached the verdict is Unknown (unless a key already failed).
	TimeLimit time.Duration
	// OutDir is where the HTML visualisation of the failing key is
	// written; empty means none is written.
	OutDir string
	// MaxExplained bounds how many failing keys are analysed in detail and
	// reported as anomalies (default 10); one visualisation is written,
	// for the first failing key.
	MaxExplained int
}

// Linearizable checks a register history for linearizability with
// porcupine, one key at a time.
type Linearizable struct {
	cfg   LinearizableConfig
	model porcupine.Model
}

// NewLinearizable returns a linearizability checker; it fails on an unknown
// model name.
func NewLinearizable(cfg LinearizableConfig) (*Linearizable, error) {
	if cfg.Model == "" {
		cfg.Model = "cas-register"
	}
	m, ok := Models[cfg.Model]
	if !ok {
		return nil, fmt.Errorf("checker: unknown model %q (want one of %s)", cfg.Model, strings.Join(ModelNames(), ", "))
	}
	if cfg.MaxExplained <= 0 {
		cfg.MaxExplained = 10
	}
	return &Linearizable{cfg: cfg, model: m}, nil
}

// Name implements Checker.
func (l *Linearizable) Name() string { return "linearizable" }

// TimeLimit implements Limited.
func (l *Linearizable) TimeLimit() time.Duration { return l.cfg.TimeLimit }

type keyVerdict struct {
	key string
	res porcupine.CheckResult
}

// Check implements Checker.
func (l *Linearizable) Check(ctx context.Context, ops []history.Op) Result {
	name := l.Name()
	start := time.Now()
	keys, byKey, err := RegisterOperations(l.cfg.Model, ops)
	if err != nil {
		return unknown(name, err)
	}
	if l.cfg.TimeLimit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.cfg.TimeLimit)
		defer cancel()
	}
	model := l.model
	model.Partition, model.PartitionEvent = nil, nil // we partition ourselves
	model.Step = nil
	model.StepContext = func(pctx context.Context, s, in, out any) (bool, any) {
		if ctx.Err() != nil {
			return false, s // unwind quickly; the verdict becomes Unknown
		}
		return regStep(s, in, out)
	}

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
				results <- keyVerdict{k, l.checkKey(ctx, model, byKey[k])}
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
		"seconds": time.Since(start).Seconds(),
	}}
	if len(bad) > 0 {
		res.Valid = Invalid
		res.Details["failing_keys"] = bad
		var expl []string
		for i, k := range bad {
			if i >= l.cfg.MaxExplained {
				expl = append(expl, fmt.Sprintf("... and %d more keys", len(bad)-i))
				break
			}
			a, artifact := l.explainKey(ctx, model, k, byKey[k], i == 0)
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
		res.Error = fmt.Errorf("linearizable: %d of %d keys undecided: %s", len(keys)-checked+len(undecided), len(keys), why).Error()
		res.Explanation = fmt.Sprintf("no key was found non-linearizable, but %d of %d keys could not be checked (%s)",
			len(keys)-checked+len(undecided), len(keys), why)
		if len(undecided) > 0 {
			res.Details["undecided_keys"] = undecided
		}
	}
	return res
}

func (l *Linearizable) checkKey(ctx context.Context, model porcupine.Model, ops []porcupine.Operation) porcupine.CheckResult {
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

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// explainKey reruns porcupine verbosely on one failing key, names the ops
// that could not be linearized and writes the visualisation.
func (l *Linearizable) explainKey(ctx context.Context, model porcupine.Model, key string, ops []porcupine.Operation, visualize bool) (Anomaly, string) {
	a := Anomaly{Type: "nonlinearizable", Key: key}
	var timeout time.Duration
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Second)
	}
	model.StepContext = func(_ context.Context, s, in, out any) (bool, any) { return regStep(s, in, out) }
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
		return a, ""
	}
	a.Explanation, a.Ops = explainLinearization(model, key, ops, info)
	artifact := ""
	if visualize && l.cfg.OutDir != "" {
		name := "linearizability-" + unsafeFileChars.ReplaceAllString(key, "_") + ".html"
		if err := os.MkdirAll(l.cfg.OutDir, 0o755); err == nil {
			if err := porcupine.VisualizePath(model, info, filepath.Join(l.cfg.OutDir, name)); err == nil {
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
// porcupine found, the ops that could come next and cannot.
func explainLinearization(model porcupine.Model, key string, ops []porcupine.Operation, info porcupine.LinearizationInfo) (string, []int64) {
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
	var prefix []string
	for _, id := range longest {
		in[id] = true
		_, state = regStep(state, ops[id].Input, ops[id].Output)
	}
	for i := max(0, len(longest)-3); i < len(longest); i++ {
		id := longest[i]
		prefix = append(prefix, fmt.Sprintf("#%d %s", ops[id].Metadata.(OpMeta).Index, describeRegOp(ops[id].Input, ops[id].Output)))
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
	sort.Slice(cands, func(a, b int) bool { return ops[cands[a]].Call < ops[cands[b]].Call })
	var idx []int64
	var names []string
	for _, i := range cands {
		m := ops[i].Metadata.(OpMeta)
		idx = append(idx, m.Index)
		names = append(names, fmt.Sprintf("#%d process %d %s", m.Index, m.Process, describeRegOp(ops[i].Input, ops[i].Output)))
	}
	st := model.DescribeState(state)
	var b strings.Builder
	fmt.Fprintf(&b, "key %s: not linearizable: at most %d of its %d ops can be linearized", key, len(longest), len(ops))
	if len(prefix) > 0 {
		fmt.Fprintf(&b, " (ending ... %s)", strings.Join(prefix, ", "))
	}
	fmt.Fprintf(&b, "; then the register holds %s and none of the ops that must come next can take effect: %s", st, strings.Join(names, "; "))
	return b.String(), idx
}
