package history

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// Int returns v as an int64 when it is an integral number of any Go numeric
// type, a *big.Int or a json.Number, and exactly representable as an int64;
// ok is false otherwise (IntOf says why). Values read back from JSONL or
// EDN, and values built in memory by workloads, go through it so that
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
		return Int(uint64(n))
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
		// Exactly the whole numbers in [-2^63, 2^63): a conversion of
		// anything else would not be exact (and 1e19 would become
		// -2^63, equal to every other out-of-range float).
		if n != math.Trunc(n) || n < -(1<<63) || n >= 1<<63 {
			return 0, false
		}
		return int64(n), true
	case float32:
		return Int(float64(n))
	case *big.Int:
		if n == nil || !n.IsInt64() {
			return 0, false
		}
		return n.Int64(), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// IntOf is Int with an error that says what v is when it is not an exact
// int64: an integer beyond the 64-bit range, a number with a fraction, a
// floating-point number too large to be one, or no number at all.
func IntOf(v any) (int64, error) {
	if i, ok := Int(v); ok {
		return i, nil
	}
	return 0, fmt.Errorf("%s is %s", showEDN(v), numberKind(v))
}

// numberKind says what a value that is not an exact int64 is.
func numberKind(v any) string {
	f, isFloat := v.(float64)
	if x, ok := v.(float32); ok {
		f, isFloat = float64(x), true
	}
	switch {
	case isFloat && (math.IsNaN(f) || math.IsInf(f, 0)):
		return "not a number"
	case isFloat && f == math.Trunc(f):
		return "a floating-point number beyond the 64-bit integer range (faultline keeps integers exact, and a float this large is not)"
	case isFloat:
		return "not a whole number"
	}
	switch n := v.(type) {
	case *big.Int, uint, uint64:
		return "an integer beyond the 64-bit range (-9223372036854775808 to 9223372036854775807)"
	case json.Number:
		if _, err := strconv.ParseFloat(string(n), 64); err == nil {
			return "not a whole number"
		}
	case nil:
		return "nil, not an integer"
	}
	return "not an integer"
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

// Normalize rewrites a decoded value so that integers are int64 (or
// *big.Int beyond the 64-bit range: never rounded), other numbers float64,
// lists are []any and maps are map[string]any, recursively. Readers call it
// on every Value they decode.
func Normalize(v any) any {
	if i, ok := Int(v); ok {
		return i
	}
	switch x := v.(type) {
	case json.Number:
		if b, ok := new(big.Int).SetString(string(x), 10); ok {
			return b // an integer beyond int64
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case uint64:
		return new(big.Int).SetUint64(x)
	case uint:
		return new(big.Int).SetUint64(uint64(x))
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
