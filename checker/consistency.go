package checker

import (
	"fmt"
	"slices"
	"strings"
)

// Consistency models and the anomalies they forbid, as Elle relates them
// (elle.consistency-model): a graph of which models imply which, the
// anomalies each model forbids directly, and a graph of which anomalies
// imply which. A model forbids the anomalies it and every model it
// implies forbid directly, and every anomaly that implies one of those.
// Only the models and anomalies our checkers can tell apart are kept.
//
// Two choices where Elle is silent or knowingly loose:
//   - Our cycles are item-level (we have no predicate reads), so a G-single
//     or G-nonadjacent cycle is Elle's G-single-item or G-nonadjacent-item,
//     which imply G2-item: repeatable read forbids them.
//   - A garbage read (a value no transaction wrote) is forbidden by every
//     model, as Elle's read uncommitted forbids duplicate elements and
//     cyclic versions.

// ConsistencyModels are the models a transactional checker can hold a
// history to (--consistency-model), strongest first.
var ConsistencyModels = []string{"strict-serializable", "serializable", "snapshot-isolation",
	"repeatable-read", "read-committed", "read-uncommitted"}

// DefaultConsistencyModel is the model of our own runs.
const DefaultConsistencyModel = "strict-serializable"

// modelImplies: a history that satisfies the key also satisfies each model
// listed.
var modelImplies = map[string][]string{
	"strict-serializable":               {"serializable", "snapshot-isolation", "strong-snapshot-isolation", "strong-session-serializable"},
	"serializable":                      {"repeatable-read", "update-serializable", "snapshot-isolation"},
	"repeatable-read":                   {"cursor-stability", "monotonic-atomic-view"},
	"cursor-stability":                  {"read-committed"},
	"read-committed":                    {"read-uncommitted"},
	"update-serializable":               {"forward-consistent-view"},
	"forward-consistent-view":           {"consistent-view"},
	"consistent-view":                   {"cursor-stability", "monotonic-view"},
	"monotonic-view":                    {"read-committed"},
	"snapshot-isolation":                {"forward-consistent-view", "monotonic-atomic-view", "monotonic-snapshot-read", "parallel-snapshot-isolation", "prefix"},
	"monotonic-snapshot-read":           {"read-committed"},
	"parallel-snapshot-isolation":       {"causal-cerone", "ROLA"},
	"prefix":                            {"causal-cerone"},
	"causal-cerone":                     {"read-atomic"},
	"ROLA":                              {"read-atomic"},
	"read-atomic":                       {"monotonic-atomic-view"},
	"monotonic-atomic-view":             {"read-committed"},
	"strong-snapshot-isolation":         {"strong-session-snapshot-isolation", "strong-read-committed"},
	"strong-session-snapshot-isolation": {"snapshot-isolation", "strong-session-read-committed"},
	"strong-read-committed":             {"strong-session-read-committed", "strong-read-uncommitted"},
	"strong-session-read-committed":     {"read-committed", "strong-session-read-uncommitted"},
	"strong-read-uncommitted":           {"strong-session-read-uncommitted"},
	"strong-session-read-uncommitted":   {"read-uncommitted"},
	"strong-session-serializable":       {"serializable", "strong-session-snapshot-isolation"},
}

// modelForbids: the anomalies each model forbids directly.
var modelForbids = map[string][]string{
	"read-uncommitted":                  {"G0", "duplicate-elements", "cyclic-versions", "garbage-read"},
	"read-committed":                    {"G1"},
	"cursor-stability":                  {"G1", "lost-update"},
	"repeatable-read":                   {"G1", "G2-item", "lost-update"},
	"consistent-view":                   {"G1", "G-single"},
	"forward-consistent-view":           {"G1"},
	"monotonic-view":                    {"G1"},
	"monotonic-snapshot-read":           {"G1"},
	"snapshot-isolation":                {"internal", "G1", "G-nonadjacent"},
	"parallel-snapshot-isolation":       {"internal", "G1a"},
	"prefix":                            {"internal", "G1a"},
	"causal-cerone":                     {"internal", "G1a"},
	"read-atomic":                       {"internal", "G1a", "future-read"},
	"ROLA":                              {"lost-update"},
	"serializable":                      {"G1", "G2", "internal"},
	"update-serializable":               {"G1"},
	"strict-serializable":               {"G1", "G1c-realtime", "G2-realtime"},
	"strong-session-read-uncommitted":   {"G0-process"},
	"strong-session-read-committed":     {"G1c-process"},
	"strong-read-uncommitted":           {"G0-realtime"},
	"strong-read-committed":             {"G1c-realtime"},
	"strong-session-snapshot-isolation": {"internal", "G1-process", "G-nonadjacent-process"},
	"strong-snapshot-isolation":         {"internal", "G1-realtime", "G-nonadjacent-realtime"},
	"strong-session-serializable":       {"G1-process", "G2-process"},
}

// anomalyImplies: a history with the key anomaly also has each listed.
var anomalyImplies = map[string][]string{
	"G0":                     {"G1c", "G0-process"},
	"G0-process":             {"G1c-process", "G0-realtime"},
	"G0-realtime":            {"G1c-realtime"},
	"G1a":                    {"G1"},
	"G1b":                    {"G1"},
	"G1c":                    {"G1", "G1c-process"},
	"G1c-process":            {"G1c-realtime", "G1-process"},
	"G1c-realtime":           {"G1-realtime"},
	"G1":                     {"G1-process"},
	"G1-process":             {"G1-realtime"},
	"G-single":               {"G-nonadjacent", "G-single-process", "G2-item"},
	"G-single-process":       {"G-nonadjacent-process", "G-single-realtime", "G2-item-process"},
	"G-single-realtime":      {"G-nonadjacent-realtime", "G2-item-realtime"},
	"G-nonadjacent":          {"G2", "G-nonadjacent-process", "G2-item"},
	"G-nonadjacent-process":  {"G2-process", "G-nonadjacent-realtime", "G2-item-process"},
	"G-nonadjacent-realtime": {"G2-realtime", "G2-item-realtime"},
	"G2":                     {"G2-process"},
	"G2-item":                {"G2", "G2-item-process"},
	"G2-item-process":        {"G2-process", "G2-item-realtime"},
	"G2-item-realtime":       {"G2-realtime"},
	"G2-process":             {"G2-realtime"},
	"incompatible-order":     {"G1a"},
	"future-read":            {"G1c"},
	"dirty-update":           {"G1a"},
	"lost-update":            {"G2-item"},
}

// closure returns every vertex reachable from start in g, start included.
func closure(g map[string][]string, start ...string) map[string]bool {
	seen := map[string]bool{}
	stack := append([]string(nil), start...)
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[v] {
			continue
		}
		seen[v] = true
		stack = append(stack, g[v]...)
	}
	return seen
}

// Forbids reports whether consistency model model forbids anomaly typ.
func Forbids(model, typ string) bool {
	forbidden := map[string]bool{}
	for m := range closure(modelImplies, model) {
		for _, a := range modelForbids[m] {
			forbidden[a] = true
		}
	}
	for a := range closure(anomalyImplies, typ) {
		if forbidden[a] {
			return true
		}
	}
	return false
}

// shownModels are the models RuledOut names, weakest first: the ones a
// user picks from and their session and realtime variants (the graphs
// hold more, to get the implications right).
var shownModels = []string{"read-uncommitted", "read-committed", "repeatable-read", "snapshot-isolation", "serializable",
	"strong-session-read-uncommitted", "strong-session-read-committed", "strong-read-uncommitted",
	"strong-read-committed", "strong-session-snapshot-isolation", "strong-snapshot-isolation",
	"strong-session-serializable", "strict-serializable"}

// RuledOut returns the consistency models that anomalies of the given
// types rule out, weakest first.
func RuledOut(types ...string) []string {
	var out []string
	for _, m := range shownModels {
		for _, t := range types {
			if Forbids(m, t) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// validConsistencyModel checks a --consistency-model value.
func validConsistencyModel(m string) error {
	if slices.Contains(ConsistencyModels, m) {
		return nil
	}
	return fmt.Errorf("checker: unknown consistency model %q (want one of %s)", m, strings.Join(ConsistencyModels, ", "))
}
