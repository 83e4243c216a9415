package nemesis

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/history"
)

// ScheduleFileVersion is the version of the schedule file format
// (schedule.json) this faultline writes and reads.
const ScheduleFileVersion = 1

// ScheduleFile is an explicit fault schedule: the faults a run did, as
// they happened (Realise reads them from its history), or a schedule to
// replay (faultline run --schedule, faultline shrink). Each fault names
// its nodes and what it did to them, so a replay draws nothing.
type ScheduleFile struct {
	// Version is ScheduleFileVersion.
	Version int `json:"version"`
	// TimeLimit is the main phase the schedule was recorded in.
	TimeLimit Duration `json:"time_limit"`
	// Nodes are the cluster's nodes.
	Nodes []string `json:"nodes"`
	// Faults are the faults, by start.
	Faults []Planned `json:"faults"`
	// Leader is the node the cluster agreed was its leader when the main
	// phase began ("" when none answered). A replay relabels the nodes so
	// that its own leader then plays this node's part (Relabel): which
	// node wins the first election is chance, and a fault that cut off
	// the leader in the original should cut off the leader again.
	Leader string `json:"leader,omitempty"`
}

// Relabel returns s with the nodes leader and s.Leader swapped in every
// fault's nodes and value (map keys and strings equal to a node name; a
// list written in order stays in order), so that leader plays the part
// s.Leader played; s itself is not changed.
// Without a recorded leader, or with leader already it or not one of
// s.Nodes, s is returned as it is.
func (s ScheduleFile) Relabel(leader string) ScheduleFile {
	from := s.Leader
	if from == "" || leader == from || !slices.Contains(s.Nodes, leader) {
		return s
	}
	swap := func(n string) string {
		switch n {
		case from:
			return leader
		case leader:
			return from
		}
		return n
	}
	var deep func(v any) any
	deep = func(v any) any {
		switch v := v.(type) {
		case string:
			return swap(v)
		case []string:
			out := make([]string, len(v))
			for i, x := range v {
				out[i] = swap(x)
			}
			if slices.IsSorted(v) { // a set of nodes, written in order
				slices.Sort(out)
			}
			return out
		case []any:
			out := make([]any, len(v))
			names := make([]string, 0, len(v))
			for i, x := range v {
				out[i] = deep(x)
				if n, ok := x.(string); ok {
					names = append(names, n)
				}
			}
			if len(names) == len(v) && slices.IsSorted(names) {
				slices.SortFunc(out, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
			}
			return out
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, x := range v {
				out[swap(k)] = deep(x)
			}
			return out
		}
		return v
	}
	out := s
	out.Leader = leader
	out.Faults = make([]Planned, len(s.Faults))
	for i, f := range s.Faults {
		if f.Nodes != nil {
			f.Nodes = deep(f.Nodes).([]string)
		}
		if f.Value != nil {
			f.Value = deep(f.Value).(map[string]any)
		}
		out.Faults[i] = f
	}
	return out
}

// Planned is one fault of a ScheduleFile.
type Planned struct {
	// Kind is the fault kind (Kinds), Option its option (the grudge kind,
	// the target, the mode), for people: the replay uses F, Nodes and
	// Value.
	Kind   string `json:"kind"`
	Option string `json:"option,omitempty"`
	// F is the start op (kill, start-partition, bump-clock, ...).
	F string `json:"f"`
	// Start is when the start op is invoked, from the start of the main
	// phase; Stop when the kind's stop op is, or nil when the fault stays
	// in effect until the final heal.
	Start Duration  `json:"start"`
	Stop  *Duration `json:"stop,omitempty"`
	// Nodes are the nodes the fault hit.
	Nodes []string `json:"nodes"`
	// Value is what the kind needs to do it again (Kind.record): the
	// grudge, the loss percentage, the clock deltas, the corruption's
	// mode and seed, ...
	Value map[string]any `json:"value,omitempty"`
}

// Duration is a time.Duration written as text ("5.2s") in JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	x, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(x)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Fault returns the fault p runs, as --nemesis names it.
func (p Planned) Fault() Fault { return Fault{Kind: p.Kind, Option: p.Option} }

// End is when p stops: its Stop, or limit when the final heal stops it.
func (p Planned) End(limit time.Duration) time.Duration {
	if p.Stop == nil {
		return limit
	}
	return p.Stop.D()
}

// String describes p in a line: "kill:one n2 at 5.1s-10.6s".
func (p Planned) String() string {
	end := "heal"
	if p.Stop != nil {
		end = p.Stop.D().String()
	}
	return fmt.Sprintf("%s %v at %v-%s", p.Fault(), p.Nodes, p.Start.D(), end)
}

// Kinds returns the kinds of the faults of s, in canonical order.
func (s ScheduleFile) Kinds() []string {
	var out []string
	for _, k := range Kinds {
		if slices.ContainsFunc(s.Faults, func(p Planned) bool { return p.Kind == k.Name }) {
			out = append(out, k.Name)
		}
	}
	return out
}

// Realise returns the schedule a run's history shows: every fault whose
// completion is ok and shows it in effect, or a leave a later join found
// done (as Happened counts them), with
// the nodes it hit and what a replay needs, its start and the invoke of
// its kind's next stop, both from mainStart (the history time the main
// phase began). A stop invoked at healStart or later is the final heal's:
// such a fault has no Stop. An op that waited for another past the time
// limit is kept in the main phase a replay can run: a stop that late is
// left to the final heal, a start that late starts a millisecond before
// the limit.
func Realise(ops []history.Op, mainStart, healStart time.Duration, limit time.Duration, nodes []string) ScheduleFile {
	s := ScheduleFile{Version: ScheduleFileVersion, TimeLimit: Duration(limit), Nodes: slices.Clone(nodes), Faults: []Planned{}}
	invokes := map[string]history.Op{} // the last nemesis invoke per f
	open := map[string][]int{}         // kind -> faults waiting for a stop
	at := func(t int64) Duration {
		return Duration((time.Duration(t) - mainStart).Round(time.Millisecond))
	}
	last := Duration(limit - time.Millisecond)
	for _, op := range confirmLeaves(ops) {
		if !op.IsNemesis() {
			continue
		}
		if op.Type == history.Invoke {
			invokes[op.F] = op
			continue
		}
		inv, ok := invokes[op.F]
		if !ok {
			continue
		}
		delete(invokes, op.F)
		if time.Duration(inv.Time) >= healStart {
			continue
		}
		k, starts, ok := KindOfOp(op.F)
		switch {
		case !ok:
		case !starts:
			stop := at(inv.Time)
			if stop > last {
				continue // the final heal's, as far as a replay goes
			}
			for kind, is := range open {
				if o, _ := KindOf(kind); !ends(k, o) {
					continue
				}
				for _, i := range is {
					s.Faults[i].Stop = &stop
				}
				delete(open, kind)
			}
		case op.Type == history.OK && inEffect(op, k) && k.record != nil:
			f, _, _ := faultOf(op)
			v, hit := k.record(op)
			open[k.Name] = append(open[k.Name], len(s.Faults))
			s.Faults = append(s.Faults, Planned{Kind: k.Name, Option: f.Option, F: op.F, Start: min(at(inv.Time), last), Nodes: hit, Value: v})
		}
	}
	return s
}

// ReadScheduleFile reads and decodes a schedule file (it does not
// validate it against a run: Validate).
func ReadScheduleFile(path string) (ScheduleFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ScheduleFile{}, fmt.Errorf("nemesis: schedule: %w", err)
	}
	var s ScheduleFile
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("nemesis: schedule %s: %w (see the README's schedule file format)", path, err)
	}
	if s.Version != ScheduleFileVersion {
		return s, fmt.Errorf("nemesis: schedule %s: version %d, this faultline reads version %d", path, s.Version, ScheduleFileVersion)
	}
	return s, nil
}

// Write writes s as indented JSON to path.
func (s ScheduleFile) Write(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("nemesis: encode schedule: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("nemesis: write schedule: %w", err)
	}
	return nil
}

// Validate reports every reason s cannot be replayed in a main phase of
// limit on a cluster of nodes: an unknown kind or start op, a fault that
// starts or stops past the time limit (or stops before it starts), a node
// the cluster lacks, two faults of one kind in effect at once (the first
// one's stop would end both), and a fault that hits a node another fault
// left in a state it cannot hit (a pause of a killed node).
func (s ScheduleFile) Validate(limit time.Duration, nodes []string) error {
	var errs []error
	bad := func(i int, format string, a ...any) {
		errs = append(errs, fmt.Errorf("fault %d (%s): %s", i+1, s.Faults[i], fmt.Sprintf(format, a...)))
	}
	for i, p := range s.Faults {
		k, ok := KindOf(p.Kind)
		switch {
		case !ok:
			bad(i, "unknown kind %q (want one of %v)", p.Kind, KindNames())
			continue
		case !slices.Contains(k.Starts, p.F):
			bad(i, "f %q does not start a %s fault (want one of %v)", p.F, p.Kind, k.Starts)
		}
		if p.Start < 0 || p.Start.D() >= limit {
			bad(i, "starts at %v, outside the main phase of --time-limit %v: raise --time-limit or move it earlier", p.Start.D(), limit)
		}
		if p.Stop != nil && (*p.Stop <= p.Start || p.Stop.D() >= limit) {
			bad(i, "stops at %v: it must stop after its start and before --time-limit %v (or leave stop out: the final heal stops it)", p.Stop.D(), limit)
		}
		if len(p.Nodes) == 0 {
			bad(i, "hits no node")
		}
		for _, n := range p.Nodes {
			if !slices.Contains(nodes, n) {
				bad(i, "node %q is not one of the cluster's %v", n, nodes)
			}
		}
		for j, q := range s.Faults[:i] {
			if !overlap(p, q, limit) {
				continue
			}
			qk, _ := KindOf(q.Kind)
			if ends(k, qk) && q.End(limit) != p.End(limit) {
				bad(i, "overlaps fault %d, and the first stop of the two would end both: stop them together or apart", j+1)
				continue
			}
			first, later, lk := q, p, k
			if p.Start < q.Start {
				first, later, lk = p, q, qk
			}
			for _, n := range later.Nodes {
				if st := first.leaves(); st != "" && slices.Contains(first.Nodes, n) && lk.eligible != nil && !lk.eligible(st) {
					bad(i, "cannot overlap fault %d on %s: %s leaves it %s", j+1, n, first.Kind, st)
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nemesis: schedule: %w", err)
	}
	return nil
}

// leaves is the state p leaves its nodes in until its stop ("" when they
// stay running): its kind's, unless its start op is one the kind keeps
// nodes running through (Kind.keeps).
func (p Planned) leaves() string {
	k, _ := KindOf(p.Kind)
	if slices.Contains(k.keeps, p.F) {
		return ""
	}
	return k.leaves
}

// ends reports whether the stop op of kind stop also ends a fault of kind
// k: its own kind's, and every kind's that takes nodes down for good for
// such a kind (each restarts every node that is down). A network kind's
// stop removes its own rules only.
func ends(stop, k Kind) bool {
	return stop.Name == k.Name || stop.Downs == 2 && k.Downs == 2
}

// overlap reports whether p and q are in effect at once.
func overlap(p, q Planned, limit time.Duration) bool {
	return p.Start.D() < q.End(limit) && q.Start.D() < p.End(limit)
}

// Steps returns the schedule that replays s: each fault on its own lane,
// its start op due Start after the schedule began, pinned to its nodes
// (Kind.replay), and its kind's stop due at Stop, both Fixed: a start op
// that takes longer in the replay (a delay's probe under load) does not
// push its stop, and with it every step after it, past the recorded times.
func (s ScheduleFile) Steps() Schedule {
	var out Schedule
	for i, p := range s.Faults {
		k, _ := KindOf(p.Kind)
		start := Step{Lane: i, Offset: p.Start.D(), Fixed: true, Fault: p.Fault(),
			Op: history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: p.F, Value: k.replay(p.Value, p.Nodes)}}
		out = append(out, start)
		if p.Stop != nil {
			out = append(out, Step{Lane: i, Offset: p.Stop.D(), Fixed: true,
				Op: history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: k.Stop}})
		}
	}
	slices.SortStableFunc(out, func(a, b Step) int { return cmp.Compare(a.Offset, b.Offset) })
	return out
}
