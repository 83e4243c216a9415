package history

import (
	"encoding/json"
	"math"
)

// Int returns v as an int64 when it is an integral number of any Go numeric
// type or a json.Number; ok is false otherwise. Values read back from JSONL
// or EDN, and values built in memory by workloads, go through it so that
// checkers need not care where a history came from.
func Int(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case float64:
		if n != math.Trunc(n) || math.IsInf(n, 0) {
			return 0, false
		}
		return int64(n), true
	case float32:
		return Int(float64(n))
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// List returns v as a []any when it is a slice of any element type that
// histories use ([]any, []int64, []int, []string); ok is false otherwise.
func List(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []int64:
		out := make([]any, len(l))
		for i, x := range l {
			out[i] = x
		}
		return out, true
	case []int:
		out := make([]any, len(l))
		for i, x := range l {
			out[i] = int64(x)
		}
		return out, true
	case []string:
		out := make([]any, len(l))
		for i, x := range l {
			out[i] = x
		}
		return out, true
	}
	return nil, false
}

// Normalize rewrites a decoded value so that integral numbers are int64,
// other numbers float64,
// lists are []any and maps are map[string]any, recursively. Readers call it
// on every Value they decode.
func Normalize(v any) any {
	if i, ok := Int(v); ok {
		return i
	}
	switch x := v.(type) {
	case json.Number: // not integral: a float
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case []any:
		for i := range x {
			x[i] = Normalize(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = Normalize(x[k])
		}
		return x
	}
	if l, ok := List(v); ok {
		return Normalize(l)
	}
	return v
}
