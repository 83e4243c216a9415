package history

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"olympos.io/encoding/edn"
)

// WriteEDN writes ops as a Jepsen history.edn: one map per line,
//
//	{:index 0, :time 0, :type :invoke, :process 0, :f :write, :value 3}
//
// The nemesis process is written as :nemesis; type and f as keywords;
// strings as strings; lists as vectors; maps with keys that look like
// integers as integer keys, keys that are valid keyword names as keywords
// and other keys as strings. In list-append txns the micro-op function
// ("r", "append") is written as a keyword, as Elle expects.
func WriteEDN(w io.Writer, ops []Op) error {
	return writeLines(w, ops, "edn", appendEDNOp)
}

// appendEDNOp appends op as one EDN map (no newline).
func appendEDNOp(buf []byte, op *Op) ([]byte, error) {
	buf = append(buf, "{:index "...)
	buf = strconv.AppendInt(buf, op.Index, 10)
	buf = append(buf, ", :time "...)
	buf = strconv.AppendInt(buf, op.Time, 10)
	buf = append(buf, ", :type :"...)
	buf = append(buf, op.Type.String()...)
	buf = append(buf, ", :process "...)
	if op.IsNemesis() {
		buf = append(buf, ":nemesis"...)
	} else {
		buf = strconv.AppendInt(buf, int64(op.Process), 10)
	}
	buf = append(buf, ", :f "...)
	buf = appendEDNName(buf, op.F)
	buf = append(buf, ", :value "...)
	var err error
	if op.F == "txn" {
		buf, err = appendEDNTxn(buf, op.Value)
	} else {
		buf, err = appendEDNValue(buf, op.Value)
	}
	if err != nil {
		return nil, err
	}
	if op.Error != "" {
		buf = append(buf, ", :error "...)
		buf = appendEDNString(buf, op.Error)
	}
	if op.Node != "" {
		buf = append(buf, ", :node "...)
		buf = appendEDNString(buf, op.Node)
	}
	return append(buf, '}'), nil
}

// isKeywordName reports whether s can be written as :s and read back as s.
func isKeywordName(s string) bool {
	if s == "" || s == "nil" || s == "true" || s == "false" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9', c == '-' || c == '+' || c == '.':
			if i == 0 {
				return false
			}
		case c == '_' || c == '*' || c == '!' || c == '?' || c == '<' || c == '>' || c == '=':
		default:
			return false
		}
	}
	return true
}

// appendEDNName writes s as a keyword if it can be one, else as a string.
func appendEDNName(b []byte, s string) []byte {
	if isKeywordName(s) {
		b = append(b, ':')
		return append(b, s...)
	}
	return appendEDNString(b, s)
}

func appendEDNString(b []byte, s string) []byte {
	if !plainASCII(s) {
		if q, err := edn.Marshal(s); err == nil {
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendEDNTxn writes a list-append txn value, micro-op functions as
// keywords; anything not shaped like a txn is written generically.
func appendEDNTxn(b []byte, v any) ([]byte, error) {
	mops, ok := v.([]any)
	if !ok {
		return appendEDNValue(b, v)
	}
	b = append(b, '[')
	for i, m := range mops {
		if i > 0 {
			b = append(b, ' ')
		}
		mop, ok := m.([]any)
		f, fok := any(nil), false
		if ok && len(mop) > 0 {
			f, fok = mop[0].(string)
		}
		if !fok || !isKeywordName(f.(string)) {
			var err error
			if b, err = appendEDNValue(b, m); err != nil {
				return nil, err
			}
			continue
		}
		b = append(b, "[:"...)
		b = append(b, f.(string)...)
		for _, e := range mop[1:] {
			b = append(b, ' ')
			var err error
			if b, err = appendEDNValue(b, e); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

func appendEDNValue(b []byte, v any) ([]byte, error) {
	if i, ok := Int(v); ok {
		if _, isFloat := v.(float64); !isFloat {
			return strconv.AppendInt(b, i, 10), nil
		}
	}
	switch x := v.(type) {
	case nil:
		return append(b, "nil"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendEDNString(b, x), nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("cannot write %v in EDN", x)
		}
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !bytes.ContainsAny([]byte(s), ".eE") {
			s += ".0"
		}
		return append(b, s...), nil
	case json.Number:
		return append(b, x...), nil
	case map[string]any:
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b = append(b, ", "...)
			}
			if n, err := strconv.ParseInt(k, 10, 64); err == nil && strconv.FormatInt(n, 10) == k {
				b = append(b, k...)
			} else if isKeywordName(k) {
				b = append(b, ':')
				b = append(b, k...)
			} else {
				b = appendEDNString(b, k)
			}
			b = append(b, ' ')
			var err error
			if b, err = appendEDNValue(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	if l, ok := List(v); ok {
		b = append(b, '[')
		for i, e := range l {
			if i > 0 {
				b = append(b, ' ')
			}
			var err error
			if b, err = appendEDNValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	// Anything else: go through JSON to the shapes above.
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot write value of type %T: %w", v, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var g any
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("cannot write value of type %T: %w", v, err)
	}
	return appendEDNValue(b, Normalize(g))
}

// ReadEDN reads a Jepsen EDN history: one op map per line as WriteEDN
// writes, or Jepsen's wrapped forms (a vector or list of op maps), with ;
// comments and tagged records (#jepsen.history.Op{...}) allowed. Ops
// without :index get their position. :process :nemesis becomes
// NemesisProcess. Values are normalized: integers int64, vectors, lists and
// sets []any, maps map[string]any, keywords and symbols strings without the
// colon (so [:append 1 2] reads as ["append", 1, 2]). A torn final form
// (a killed writer) is skipped.
func ReadEDN(r io.Reader) ([]Op, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("history: read edn: %w", err)
	}
	ops, err := readEDN(data)
	if err == nil || !errors.Is(err, errEDNTruncated) {
		return ops, err
	}
	// The input ended inside a form. If that form is on the last line, it
	// is a torn write: drop the line and read the rest strictly.
	body := bytes.TrimRight(data, " \t\r\n")
	nl := bytes.LastIndexByte(body, '\n')
	if nl < 0 {
		return nil, nil // a single torn line: nothing complete was written
	}
	prefix, perr := readEDN(body[:nl+1])
	if perr != nil {
		return ops, err
	}
	return prefix, nil
}

// errEDNTruncated marks an input that ends inside a form.
var errEDNTruncated = errors.New("input ends inside a form")

func readEDN(data []byte) ([]Op, error) {
	dec := edn.NewDecoder(bytes.NewReader(data))
	var ops []Op
	form := 0
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return ops, nil
		}
		form++
		if err != nil {
			if isTruncated(err) {
				return ops, fmt.Errorf("history: edn form %d: %w: %v", form, errEDNTruncated, err)
			}
			return ops, fmt.Errorf("history: edn form %d: %w", form, err)
		}
		if t, ok := v.(edn.Tag); ok {
			v = t.Value
		}
		switch x := v.(type) {
		case map[any]any:
			op, err := ednOp(x, len(ops))
			if err != nil {
				return ops, fmt.Errorf("history: edn form %d: %w", form, err)
			}
			ops = append(ops, op)
		case []any:
			for i, e := range x {
				if t, ok := e.(edn.Tag); ok {
					e = t.Value
				}
				m, ok := e.(map[any]any)
				if !ok {
					return ops, fmt.Errorf("history: edn form %d, element %d: want an op map, got %T", form, i, e)
				}
				op, err := ednOp(m, len(ops))
				if err != nil {
					return ops, fmt.Errorf("history: edn form %d, element %d: %w", form, i, err)
				}
				ops = append(ops, op)
			}
		default:
			return ops, fmt.Errorf("history: edn form %d: want an op map or a vector of op maps, got %T", form, v)
		}
	}
}

// isTruncated reports whether err means the input ended inside a form. The
// edn package does not export these errors, so match their text.
func isTruncated(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "No more tokens to read") || strings.Contains(msg, "unexpected end of EDN input")
}

func ednOp(m map[any]any, pos int) (Op, error) {
	op := Op{Index: int64(pos)}
	for k, v := range m {
		name, ok := ednKeyName(k)
		if !ok {
			continue
		}
		switch name {
		case "index":
			i, ok := Int(ednValue(v))
			if !ok {
				return op, fmt.Errorf(":index %v is not an integer", v)
			}
			op.Index = i
		case "time":
			i, ok := Int(ednValue(v))
			if !ok {
				return op, fmt.Errorf(":time %v is not an integer", v)
			}
			op.Time = i
		case "type":
			s, ok := ednValue(v).(string)
			if !ok {
				return op, fmt.Errorf(":type %v is not a keyword", v)
			}
			t, err := ParseType(s)
			if err != nil {
				return op, err
			}
			op.Type = t
		case "process":
			switch p := ednValue(v).(type) {
			case int64:
				op.Process = int(p)
			case string:
				if p != "nemesis" {
					return op, fmt.Errorf(":process %q: want an integer or :nemesis", p)
				}
				op.Process = NemesisProcess
			default:
				return op, fmt.Errorf(":process %v: want an integer or :nemesis", v)
			}
		case "f":
			switch f := ednValue(v).(type) {
			case string:
				op.F = f
			default:
				op.F = fmt.Sprint(f)
			}
		case "value":
			op.Value = ednValue(v)
		case "error":
			switch e := ednValue(v).(type) {
			case nil:
			case string:
				op.Error = e
			default:
				op.Error = string(appendRawEDN(nil, v))
			}
		case "node":
			if s, ok := ednValue(v).(string); ok {
				op.Node = s
			}
		}
	}
	if op.Type == 0 {
		return op, errors.New("op has no :type")
	}
	return op, nil
}

func ednKeyName(k any) (string, bool) {
	switch x := k.(type) {
	case edn.Keyword:
		return string(x), true
	case string:
		return x, true
	case edn.Symbol:
		return string(x), true
	}
	return "", false
}

// ednValue converts a decoded EDN value to the normalized history shapes.
func ednValue(v any) any {
	switch x := v.(type) {
	case nil, bool, int64, float64, string:
		return x
	case edn.Keyword:
		return string(x)
	case edn.Symbol:
		return string(x)
	case edn.Rune:
		return string(rune(x))
	case rune:
		return string(x)
	case big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		return x.String()
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		return x.String()
	case edn.Tag:
		return ednValue(x.Value)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = ednValue(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[ednMapKey(k)] = ednValue(e)
		}
		return out
	case map[any]bool: // a set: sorted for determinism
		out := make([]any, 0, len(x))
		for k := range x {
			out = append(out, ednValue(derefKey(k)))
		}
		slices.SortFunc(out, func(a, b any) int {
			ai, aok := a.(int64)
			bi, bok := b.(int64)
			if aok && bok {
				return cmp.Compare(ai, bi)
			}
			return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b))
		})
		return out
	}
	return Normalize(v)
}

func derefKey(k any) any {
	if p, ok := k.(*any); ok {
		return *p
	}
	return k
}

func ednMapKey(k any) string {
	switch x := ednValue(derefKey(k)).(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case nil:
		return "nil"
	default:
		if b, err := edn.Marshal(derefKey(k)); err == nil {
			return string(b)
		}
		return fmt.Sprint(x)
	}
}

// appendRawEDN renders a decoded EDN value back as EDN text, keeping
// keywords (used for structured :error values).
func appendRawEDN(b []byte, v any) []byte {
	switch x := v.(type) {
	case edn.Keyword:
		return append(append(b, ':'), x...)
	case edn.Symbol:
		return append(b, x...)
	case edn.Tag:
		b = append(append(b, '#'), x.Tagname...)
		return appendRawEDN(append(b, ' '), x.Value)
	case []any:
		return appendSeq(b, x, " ", appendRawEDN)
	case map[any]any:
		type kv struct{ k, v []byte }
		kvs := make([]kv, 0, len(x))
		for k, e := range x {
			kvs = append(kvs, kv{appendRawEDN(nil, derefKey(k)), appendRawEDN(nil, e)})
		}
		slices.SortFunc(kvs, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		b = append(b, '{')
		for i, e := range kvs {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(append(append(b, e.k...), ' '), e.v...)
		}
		return append(b, '}')
	}
	out, err := appendEDNValue(b, ednValue(v))
	if err != nil {
		return append(b, fmt.Sprint(v)...)
	}
	return out
}
