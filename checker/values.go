package checker

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/faultline/faultline/history"
)

// keyString renders a key (string or integer) canonically so that keys
// decoded from JSON and keys built in memory compare equal.
func keyString(v any) string {
	switch k := v.(type) {
	case string:
		return k
	case nil:
		return "nil"
	}
	if i, ok := history.Int(v); ok {
		return strconv.FormatInt(i, 10)
	}
	return fmt.Sprint(v)
}

// elemString renders a set or list element canonically.
func elemString(v any) string { return keyString(v) }

// showValue renders a value compactly as JSON for explanations.
func showValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// opID names a pair by a history index: the completion's, or the
// invocation's when the op never completed.
func opID(p history.Pair) int64 {
	if p.Complete.Index >= 0 && !p.Open {
		return p.Complete.Index
	}
	return p.Invoke.Index
}

// clientPairs returns the invoke/completion pairs of client (non-nemesis)
// ops.
func clientPairs(ops []history.Op) []history.Pair {
	ps := history.Pairs(ops)
	out := ps[:0]
	for _, p := range ps {
		if p.Invoke.Process != history.NemesisProcess {
			out = append(out, p)
		}
	}
	return out
}
