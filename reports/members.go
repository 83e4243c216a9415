package reports

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
)

// memberChange is one change of the cluster's members, as a membership
// fault's completion records it, with the member list read back after it.
type memberChange struct {
	Time    int64 // ns since start
	Index   int64
	F       string // leave, replace, join
	OK      bool   // confirmed: the member list shows it
	Change  string // what changed, in words
	Members []string
	Error   string
}

// memberChanges lists the membership ops' completions in history order:
// the cluster's members over time.
func memberChanges(nemOps []history.Op) []memberChange {
	var out []memberChange
	for _, op := range nemOps {
		k, _, ok := nemesis.KindOfOp(op.F)
		if !ok || k.Name != nemesis.FaultMembership || op.Type == history.Invoke {
			continue
		}
		v, _ := op.Value.(map[string]any)
		c := memberChange{Time: op.Time, Index: op.Index, F: op.F, OK: op.Type == history.OK, Error: op.Error}
		for _, m := range anyList(v["members"]) {
			c.Members = append(c.Members, fmt.Sprint(m))
		}
		node, _ := v["node"].(string)
		switch op.F {
		case nemesis.FLeave, nemesis.FReplace:
			c.Change = fmt.Sprintf("%s: member %v removed", node, orDash(v["removed"]))
			if op.F == nemesis.FReplace {
				c.Change += fmt.Sprintf(", joined again as %v", orDash(v["joined"]))
			}
		case nemesis.FJoin:
			joined, _ := v["joined"].(map[string]any)
			var parts []string
			for _, n := range slices.Sorted(maps.Keys(joined)) {
				parts = append(parts, fmt.Sprintf("%s joined as %v", n, joined[n]))
			}
			c.Change = strings.Join(parts, "; ")
			if note, _ := v["note"].(string); c.Change == "" {
				c.Change = note
			}
		}
		out = append(out, c)
	}
	return out
}

func anyList(v any) []any {
	l, _ := v.([]any)
	return l
}

func orDash(v any) any {
	if v == nil {
		return "-"
	}
	return v
}

// memberView is a memberChange as the report's table shows it.
type memberView struct {
	At, F, Change, Members, Error string
	Index                         int64
	OK                            bool
}

func memberViews(cs []memberChange) []memberView {
	out := make([]memberView, len(cs))
	for i, c := range cs {
		members := strings.Join(c.Members, ", ")
		if c.Members == nil {
			members = "-"
		}
		out[i] = memberView{At: fmtSec(c.Time), F: c.F, Change: c.Change, Members: members, Error: c.Error, Index: c.Index, OK: c.OK}
	}
	return out
}
