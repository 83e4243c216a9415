package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// WriteJSONL writes ops to w, one JSON object per line, with the Jepsen
// field names (index, time, type, process, f, value, error, node).
func WriteJSONL(w io.Writer, ops []Op) error {
	return writeLines(w, ops, "jsonl", func(b []byte, op *Op) ([]byte, error) {
		return appendJSONOp(b, op), nil
	})
}

// writeLines writes each op encoded by enc on its own line.
func writeLines(w io.Writer, ops []Op, format string, enc func([]byte, *Op) ([]byte, error)) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf []byte
	for i := range ops {
		if ops[i].Type < Invoke || ops[i].Type > Info {
			return fmt.Errorf("history: write %s: op %d has invalid type %d", format, i, uint8(ops[i].Type))
		}
		var err error
		if buf, err = enc(buf[:0], &ops[i]); err != nil {
			return fmt.Errorf("history: write %s: op %d: %w", format, ops[i].Index, err)
		}
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("history: write %s: %w", format, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("history: write %s: %w", format, err)
	}
	return nil
}

// WriteFile writes ops to path in the format its extension names (.jsonl,
// .json as JSONL, .edn).
func WriteFile(path string, ops []Op) (err error) {
	ext := strings.ToLower(filepath.Ext(path))
	var write func(io.Writer, []Op) error
	switch ext {
	case ".jsonl", ".json":
		write = WriteJSONL
	case ".edn":
		write = WriteEDN
	default:
		return fmt.Errorf("history: cannot tell the format for %s from its extension %q: use .jsonl, .json or .edn", path, ext)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("history: write %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("history: close %s: %w", path, cerr)
		}
	}()
	if err := write(f, ops); err != nil {
		return fmt.Errorf("%w (file %s)", err, path)
	}
	return nil
}

// appendJSONOp appends op as one JSON object (no newline).
func appendJSONOp(b []byte, op *Op) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, op.Index, 10)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, op.Time, 10)
	b = append(b, `,"type":"`...)
	b = append(b, op.Type.String()...)
	b = append(b, '"')
	if op.Process != NoProcess {
		b = append(b, `,"process":`...)
		b = strconv.AppendInt(b, int64(op.Process), 10)
	}
	b = append(b, `,"f":`...)
	b = appendJSONString(b, op.F)
	b = append(b, `,"value":`...)
	b = appendJSONValue(b, op.Value)
	if op.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, op.Error)
	}
	if op.Node != "" {
		b = append(b, `,"node":`...)
		b = appendJSONString(b, op.Node)
	}
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	if !plainASCII(s) {
		q, _ := json.Marshal(s) // strings always marshal
		return append(b, q...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainASCII reports whether s is printable ASCII with no quote or
// backslash, so it needs no escaping in JSON or EDN.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendJSONValue encodes the value shapes histories use without
// reflection, falling back to encoding/json for anything else.
func appendJSONValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case string:
		return appendJSONString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case float64:
		if !math.IsInf(x, 0) && !math.IsNaN(x) {
			// A whole float keeps its point, so it reads back a float.
			n := len(b)
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
			if !bytes.ContainsAny(b[n:], ".eE") {
				b = append(b, ".0"...)
			}
			return b
		}
	case json.Number:
		return append(b, x...)
	case *big.Int:
		if x != nil {
			return x.Append(b, 10)
		}
	case []any:
		return appendSeq(b, x, ",", appendJSONValue)
	case []int64:
		return appendSeq(b, x, ",", func(b []byte, e int64) []byte { return strconv.AppendInt(b, e, 10) })
	case map[string]any:
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONValue(b, x[k])
		}
		return append(b, '}')
	}
	j, err := json.Marshal(v)
	if err != nil {
		// Not representable in JSON (NaN, channels, ...): keep a readable
		// trace rather than losing the op.
		return appendJSONString(b, fmt.Sprint(v))
	}
	return append(b, j...)
}

// appendSeq appends xs as a bracketed sequence, elements separated by sep.
func appendSeq[T any](b []byte, xs []T, sep string, enc func([]byte, T) []byte) []byte {
	b = append(b, '[')
	for i, e := range xs {
		if i > 0 {
			b = append(b, sep...)
		}
		b = enc(b, e)
	}
	return append(b, ']')
}
