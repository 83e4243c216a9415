package history

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// sampleOps covers every workload's value shapes (see the Op doc comment).
func sampleOps() []Op {
	ops := []Op{
		// register
		{Type: Invoke, Process: 0, F: "write", Value: []any{int64(3), int64(1)}},
		{Type: OK, Process: 0, F: "write", Value: []any{int64(3), int64(1)}, Node: "n1"},
		{Type: Invoke, Process: 1, F: "read", Value: []any{int64(3), nil}},
		{Type: OK, Process: 1, F: "read", Value: []any{int64(3), int64(1)}},
		{Type: Invoke, Process: 2, F: "cas", Value: []any{int64(3), []any{int64(1), int64(2)}}},
		{Type: Fail, Process: 2, F: "cas", Value: []any{int64(3), []any{int64(1), int64(2)}}, Error: "kv: CAS_MISMATCH"},
		{Type: Info, Process: 7, F: "write", Value: []any{int64(-4), int64(9)}, Error: "context deadline exceeded"},
		// bank
		{Type: Invoke, Process: 3, F: "read", Value: nil},
		{Type: OK, Process: 3, F: "read", Value: map[string]any{"0": int64(20), "1": int64(20), "2": int64(60)}},
		{Type: Invoke, Process: 4, F: "transfer", Value: map[string]any{"from": int64(0), "to": int64(2), "amount": int64(5)}},
		// list-append
		{Type: Invoke, Process: 5, F: "txn", Value: []any{[]any{"append", int64(1), int64(4)}, []any{"r", int64(2), nil}}},
		{Type: OK, Process: 5, F: "txn", Value: []any{[]any{"append", int64(1), int64(4)}, []any{"r", int64(2), []any{int64(1), int64(2)}}}},
		{Type: OK, Process: 5, F: "txn", Value: []any{[]any{"r", int64(2), []any{}}}},
		// set
		{Type: Invoke, Process: 6, F: "add", Value: int64(42)},
		{Type: OK, Process: 6, F: "read", Value: []any{int64(1), int64(42)}},
		// nemesis
		{Type: Info, Process: NemesisProcess, F: "start-partition", Value: map[string]any{
			"grudge": map[string]any{"n1": []any{"n2", "n3"}}, "kind": "majority"}},
		{Type: Info, Process: NemesisProcess, F: "bump-clock", Value: map[string]any{"n2": int64(-250), "n3": 1.5}},
		{Type: Info, Process: NemesisProcess, F: "kill", Value: []any{"n1"}, Error: "odd \"quoted\"\nerror ✓"},
		{Type: OK, Process: 9, F: "weird f name", Value: "a string \\ with \"quotes\""},
		{Type: OK, Process: 9, F: "read", Value: true},
	}
	for i := range ops {
		ops[i].Index = int64(i)
		ops[i].Time = int64(i) * 1000
	}
	return ops
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer, []Op) error
		read  func(*bytes.Buffer) ([]Op, error)
	}{
		{"jsonl", func(b *bytes.Buffer, o []Op) error { return WriteJSONL(b, o) }, func(b *bytes.Buffer) ([]Op, error) { return ReadJSONL(b) }},
		{"edn", func(b *bytes.Buffer, o []Op) error { return WriteEDN(b, o) }, func(b *bytes.Buffer) ([]Op, error) { return ReadEDN(b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := sampleOps()
			var buf bytes.Buffer
			if err := tc.write(&buf, want); err != nil {
				t.Fatal(err)
			}
			text := buf.String()
			got, err := tc.read(&buf)
			if err != nil {
				t.Fatalf("read: %v\n%s", err, text)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d ops, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("op %d:\n got %#v\nwant %#v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestWriteEDNFormat(t *testing.T) {
	ops := []Op{
		{Index: 0, Time: 0, Type: Invoke, Process: 0, F: "write", Value: int64(3)},
		{Index: 1, Time: 5, Type: Info, Process: NemesisProcess, F: "start-partition", Value: map[string]any{"0": int64(1), "from": "n1", "a b": nil}},
		{Index: 2, Time: 6, Type: OK, Process: 1, F: "txn", Value: []any{[]any{"append", int64(1), int64(2)}, []any{"r", int64(1), []any{int64(2)}}}},
	}
	var buf bytes.Buffer
	if err := WriteEDN(&buf, ops); err != nil {
		t.Fatal(err)
	}
	want := `{:index 0, :time 0, :type :invoke, :process 0, :f :write, :value 3}
{:index 1, :time 5, :type :info, :process :nemesis, :f :start-partition, :value {0 1, "a b" nil, :from "n1"}}
{:index 2, :time 6, :type :ok, :process 1, :f :txn, :value [[:append 1 2] [:r 1 [2]]]}
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestReadEDNTestdata(t *testing.T) {
	for _, tc := range []struct {
		file  string
		n     int
		check func(t *testing.T, ops []Op)
	}{
		{"jepsen-register.edn", 11, func(t *testing.T, ops []Op) {
			if ops[4].Process != NemesisProcess || ops[4].F != "start-partition" || ops[4].Value != "majority" {
				t.Errorf("nemesis op: %#v", ops[4])
			}
			grudge := ops[5].Value.(map[string]any)
			if !reflect.DeepEqual(grudge["n1"], []any{"n2", "n3"}) {
				t.Errorf("grudge set: %#v", grudge)
			}
			if !reflect.DeepEqual(ops[6].Value, []any{int64(3), []any{int64(1), int64(2)}}) {
				t.Errorf("cas value: %#v", ops[6].Value)
			}
			if ops[7].Type != Fail || ops[7].Error != "cas-mismatch" {
				t.Errorf("fail op: %#v", ops[7])
			}
			if ops[9].Error != `[:timeout "no response in 1s"]` {
				t.Errorf("structured error: %q", ops[9].Error)
			}
			// 4 client ops; Jepsen's nemesis :info pair (4, 5) and an
			// :info (10) that opens a nemesis op never completed.
			if ps := Pairs(ops); len(ps) != 6 || ps[2].InvokePos != 4 || ps[2].CompletePos != 5 || !ps[5].Open {
				t.Errorf("pairs: %+v", ps)
			}
		}},
		{"jepsen-list-append.edn", 7, func(t *testing.T, ops []Op) {
			for i, o := range ops {
				if o.Index != int64(i) {
					t.Errorf("op %d: index %d, want position", i, o.Index)
				}
			}
			want := []any{[]any{"append", int64(2), int64(1)}, []any{"append", int64(1), int64(2)}, []any{"r", int64(1), []any{int64(1), int64(2)}}}
			if !reflect.DeepEqual(ops[6].Value, want) {
				t.Errorf("txn: %#v", ops[6].Value)
			}
			if !reflect.DeepEqual(ops[3].Value, []any{[]any{"r", int64(1), []any{int64(1)}}}) {
				t.Errorf("tagged op: %#v", ops[3])
			}
			if ops[4].Process != NemesisProcess {
				t.Errorf("nemesis: %#v", ops[4])
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ops, err := ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(ops) != tc.n {
				t.Fatalf("got %d ops, want %d", len(ops), tc.n)
			}
			tc.check(t, ops)
		})
	}
}

// TestReadTornAndMalformed: a history cut off in its last line is refused
// (a history from elsewhere gets no verdict on what was not read), except
// our own JSONL with DropTornTail, where the torn op is dropped and
// counted. A cut anywhere else is an error either way.
func TestReadTornAndMalformed(t *testing.T) {
	good := `{"index":0,"time":0,"type":"invoke","process":0,"f":"write","value":[1,2]}
{"index":1,"time":5,"type":"ok","process":0,"f":"write","value":[1,2]}
`
	goodEDN := "{:index 0, :time 0, :type :invoke, :process 0, :f :write, :value 3}\n{:index 1, :time 5, :type :ok, :process 0, :f :write, :value 3}\n"
	const torn = "is cut off"
	for _, tc := range []struct {
		name    string
		format  Format
		in      string
		n       int
		wantErr string // refused, whatever the mode
		torn    bool   // a torn last line: refused, or dropped with DropTornTail
	}{
		{"jsonl clean", JSONL, good, 2, "", false},
		{"jsonl no final newline", JSONL, strings.TrimSuffix(good, "\n"), 2, "", false},
		{"jsonl torn last line", JSONL, good + `{"index":2,"time":7,"ty`, 2, "", true},
		{"jsonl torn last line with newline", JSONL, good + `{"index":2,"time":7,"ty` + "\n\n", 2, "", true},
		{"jsonl only torn", JSONL, `{"index":0,"ti`, 0, "", true},
		{"jsonl malformed middle", JSONL, `{"index":0,"time":0,"type":"invoke","process":0,"f":"w","value":1}` + "\n{oops\n" + good, 0, "line 2", false},
		{"jsonl bad type middle", JSONL, `{"index":0,"time":0,"type":"bogus","process":0,"f":"w"}` + "\n" + good, 0, "line 1", false},
		{"edn clean", EDN, goodEDN, 2, "", false},
		{"edn no final newline", EDN, strings.TrimSuffix(goodEDN, "\n"), 2, "", false},
		{"edn torn last line", EDN, goodEDN + "{:index 2, :time 9, :type :o", 2, "", true},
		{"edn torn in string", EDN, goodEDN + `{:index 2, :value "abc`, 2, "", true},
		{"edn torn in vector", EDN, goodEDN + `{:index 2, :value [1 2`, 2, "", true},
		{"edn malformed middle", EDN, "{:index 0 ]}\n" + goodEDN, 0, "form 1", false},
		{"edn unclosed middle", EDN, "{:index 0, :type :ok\n" + goodEDN + "{:index 5", 0, "form 1", false},
		{"edn cut inside a vector of ops", EDN, "[" + goodEDN + "{:index 2, :ty", 0, "input ends inside", false},
		{"edn not a map", EDN, "42\n", 0, "want an op map", false},
		{"edn bad process", EDN, "{:type :ok, :process :client}\n", 0, ":process", false},
		{"json array cut", JSON, `[{"type":"invoke","process":0,"f":"read"}, {"type":"ok","proc`, 0, "input ends inside", false},
	} {
		for _, drop := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/drop=%v", tc.name, drop), func(t *testing.T) {
				var opts []DecoderOption
				if drop {
					opts = append(opts, DropTornTail())
				}
				dec := NewDecoder(strings.NewReader(tc.in), tc.format, opts...)
				ops, err := dec.All()
				st := dec.Stats()
				want := tc.wantErr
				if tc.torn && !drop {
					want = torn
				}
				if want != "" {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Fatalf("err = %v, want one containing %q", err, want)
					}
					if st.Refused != 1 || len(st.Why) != 1 || !strings.Contains(st.Why[0], "refused after") {
						t.Errorf("stats of a refused history: %+v", st)
					}
					if _, again := dec.Next(); again == nil || again.Error() != err.Error() {
						t.Errorf("Next after the error: %v", again)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(ops) != tc.n || st.Read != int64(tc.n) {
					t.Fatalf("got %d ops (stats %+v), want %d: %v", len(ops), st, tc.n, ops)
				}
				if tc.torn != (st.Dropped == 1) || st.Refused != 0 {
					t.Errorf("stats %+v, torn %v", st, tc.torn)
				}
				if tc.torn && (len(st.Why) != 1 || !strings.Contains(st.Why[0], "torn last line")) {
					t.Errorf("no word of the torn line: %+v", st)
				}
			})
		}
	}
}

func TestReadFileExtensions(t *testing.T) {
	dir := t.TempDir()
	ops := sampleOps()
	for _, name := range []string{"h.jsonl", "h.json", "h.edn"} {
		p := filepath.Join(dir, name)
		if err := WriteFile(p, ops); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, ops) {
			t.Errorf("%s: round trip differs", name)
		}
	}
	// A JSON array is accepted as .json.
	arr := filepath.Join(dir, "arr.json")
	if err := os.WriteFile(arr, []byte(`[{"index":0,"time":1,"type":"invoke","process":0,"f":"add","value":7}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(arr)
	if err != nil || len(got) != 1 || got[0].Value != int64(7) {
		t.Errorf("json array: %v %v", got, err)
	}
	if _, err := ReadFile(filepath.Join(dir, "h.txt")); err == nil || !strings.Contains(err.Error(), ".edn") {
		t.Errorf("unknown extension: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.edn")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestRecorderConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	rec, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 16, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(-1)
			for i := range per {
				op := rec.Record(Op{Type: Invoke, Process: w, F: "write", Value: []any{int64(w), int64(i)}})
				if op.Index <= last {
					t.Errorf("worker %d: index %d after %d", w, op.Index, last)
				}
				last = op.Index
				if i%500 == 0 {
					_ = rec.Ops() // readers race with writers
				}
			}
		}()
	}
	wg.Wait()
	if err := rec.Phase("final"); err != nil {
		t.Fatal(err)
	}
	ops := rec.Ops()
	if len(ops) != workers*per {
		t.Fatalf("got %d ops", len(ops))
	}
	for i, o := range ops {
		if o.Index != int64(i) {
			t.Fatalf("op %d has index %d", i, o.Index)
		}
		if i > 0 && o.Time < ops[i-1].Time {
			t.Fatalf("time went backwards at %d", i)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ops) {
		t.Fatal("file differs from memory")
	}
}

func TestRecorderFlushesInBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	rec, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	for i := range 10 {
		rec.Record(Op{Type: Invoke, Process: 0, F: "add", Value: int64(i)})
	}
	// Without Close or Phase the file catches up by itself (every
	// DefaultFlushInterval); the deadline only ends a test that would
	// otherwise wait for ever.
	deadline := time.Now().Add(time.Minute)
	for {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		ops, err := ReadJSONL(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(ops) == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file has %d ops after a minute: the background flush never ran", len(ops))
		}
		time.Sleep(10 * time.Millisecond) // polling the file, not waiting for a time
	}
	// Phase flushes synchronously.
	rec.Record(Op{Type: OK, Process: 0, F: "add", Value: int64(0)})
	if err := rec.Phase("heal"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 11 {
		t.Errorf("after Phase the file has %d lines, want 11", n)
	}
}

func TestRecorderMemoryOnly(t *testing.T) {
	rec, err := NewRecorder("")
	if err != nil {
		t.Fatal(err)
	}
	rec.Record(Op{Type: Invoke, F: "read"})
	if err := rec.Phase("x"); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if rec.Len() != 1 {
		t.Fatal(rec.Len())
	}
	if _, err := NewRecorder(filepath.Join(t.TempDir(), "no", "such", "dir.jsonl")); err == nil {
		t.Error("bad path: no error")
	}
}

func BenchmarkRecorderRecord(b *testing.B) {
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", par), func(b *testing.B) {
			rec, err := NewRecorder(filepath.Join(b.TempDir(), "history.jsonl"))
			if err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(par)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var v any = []any{int64(1), int64(2)}
				for pb.Next() {
					rec.Record(Op{Type: Invoke, Process: 1, F: "write", Value: v})
				}
			})
			el := time.Since(start)
			b.StopTimer()
			if err := rec.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(el.Nanoseconds())/float64(b.N), "ns/record")
		})
	}
}

func BenchmarkAppendJSONOp(b *testing.B) {
	op := Op{Index: 123456, Time: 98765432100, Type: OK, Process: 17, F: "write", Value: []any{int64(3), int64(12345)}, Node: "n1"}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendJSONOp(buf[:0], &op)
	}
}

func BenchmarkRecorderMemoryOnly(b *testing.B) {
	rec, err := NewRecorder("")
	if err != nil {
		b.Fatal(err)
	}
	var v any = []any{int64(1), int64(2)}
	b.ReportAllocs()
	for b.Loop() {
		rec.Record(Op{Type: Invoke, Process: 1, F: "write", Value: v})
	}
}
