package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"

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
	switch op.Process {
	case NemesisProcess:
		buf = append(buf, ", :process :nemesis"...)
	case NoProcess:
	default:
		buf = append(buf, ", :process "...)
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
		switch {
		case math.IsNaN(x):
			return append(b, "##NaN"...), nil
		case math.IsInf(x, 1):
			return append(b, "##Inf"...), nil
		case math.IsInf(x, -1):
			return append(b, "##-Inf"...), nil
		}
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !bytes.ContainsAny([]byte(s), ".eE") {
			s += ".0"
		}
		return append(b, s...), nil
	case json.Number:
		return append(b, x...), nil
	case *big.Int:
		if x == nil {
			return append(b, "nil"...), nil
		}
		return x.Append(b, 10), nil
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
