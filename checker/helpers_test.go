package checker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/history"
)

// loadJSONL reads a test history: one history.Op JSON object per line.
func loadJSONL(t testing.TB, path string) []history.Op {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ops []history.Op
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var o history.Op
		if err := dec.Decode(&o); err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		o.Value = history.Normalize(o.Value)
		ops = append(ops, o)
	}
	return ops
}

var jepsenLine = regexp.MustCompile(`^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s+(.*)$`)

// loadJepsenLog parses one of porcupine's etcd Jepsen logs into an
// unkeyed single-register history, as Jepsen records it (write v, cas
// [old new], read v). Time is the line number.
func loadJepsenLog(t testing.TB, path string) []history.Op {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ops []history.Op
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		m := jepsenLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		proc, _ := strconv.Atoi(m[1])
		typ, err := history.ParseType(m[2])
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		var v any
		arg := strings.TrimSpace(m[4])
		switch {
		case arg == "nil" || strings.HasPrefix(arg, ":"):
			v = nil
		case strings.HasPrefix(arg, "["):
			fs := strings.Fields(strings.Trim(arg, "[]"))
			a, _ := strconv.ParseInt(fs[0], 10, 64)
			b, _ := strconv.ParseInt(fs[1], 10, 64)
			v = []any{a, b}
		default:
			n, err := strconv.ParseInt(arg, 10, 64)
			if err != nil {
				t.Fatalf("%s:%d: bad value %q", path, line, arg)
			}
			v = n
		}
		if typ == history.Info || (typ == history.Fail && m[3] == "read") {
			v = nil
		}
		if v == nil && m[3] != "read" && typ != history.Invoke {
			// completion without a value: repeat the invocation's
			for i := len(ops) - 1; i >= 0; i-- {
				if ops[i].Process == proc && ops[i].Type == history.Invoke {
					v = ops[i].Value
					break
				}
			}
		}
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: int64(line), Type: typ,
			Process: proc, F: m[3], Value: v})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ops
}

func testdata(parts ...string) string {
	return filepath.Join(append([]string{"testdata"}, parts...)...)
}
