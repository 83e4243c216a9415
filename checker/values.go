package checker

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
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

// exactInt returns an integer value exactly, at any size; anything else
// is an error that says what it is (see history.IntOf).
func exactInt(v any) (*big.Int, error) {
	if b, ok := v.(*big.Int); ok && b != nil {
		return b, nil
	}
	i, err := history.IntOf(v)
	if err != nil {
		return nil, err
	}
	return big.NewInt(i), nil
}

// jsonInt is n as results.json should hold it: an int64 when it fits,
// else its digits (JSON numbers beyond int64 lose precision in many
// readers).
func jsonInt(n *big.Int) any {
	if n.IsInt64() {
		return n.Int64()
	}
	return n.String()
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

// interner numbers keys or values densely, telling integers apart by
// value and anything else by its text (keyString).
type interner struct {
	ints  map[int64]int32
	strs  map[string]int32
	names []string
}

// id returns v's number, giving it the next one the first time.
func (in *interner) id(v any) int32 {
	if i, ok := history.Int(v); ok {
		if id, ok := in.ints[i]; ok {
			return id
		}
		if in.ints == nil {
			in.ints = map[int64]int32{}
		}
		id := in.next(v)
		in.ints[i] = id
		return id
	}
	k := keyString(v)
	if id, ok := in.strs[k]; ok {
		return id
	}
	if in.strs == nil {
		in.strs = map[string]int32{}
	}
	id := in.next(v)
	in.strs[k] = id
	return id
}

func (in *interner) next(v any) int32 {
	in.names = append(in.names, keyString(v))
	return int32(len(in.names) - 1)
}

// cursor follows a history fed one op at a time: the position of each op
// and whether times can be given (see clock).
type cursor struct {
	pos   int64
	order history.TimeOrder
	clock clock
}

// next takes the next op and returns its position; client is false for
// the nemesis's ops, which model checkers skip.
func (c *cursor) next(op history.Op) (pos int64, client bool) {
	pos = c.pos
	c.pos++
	c.order.Add(op)
	c.clock.timed = (c.clock.timed || op.Time != 0) && !c.order.Backwards()
	return pos, op.Process != history.NemesisProcess
}

// grow appends v to l, doubling l's capacity when it is full: the big
// tables of a check grow to millions of entries, which Go's own growth
// (by a quarter for large slices) would copy many more times.
func grow[T any](l []T, v T) []T {
	if len(l) == cap(l) {
		l = slices.Grow(l, max(len(l), 64))
	}
	return append(l, v)
}
