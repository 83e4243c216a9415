package history

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestDecoderJepsenForms reads the forms Jepsen, Knossos and Elle write:
// each case is one history, written several ways that must read alike.
func TestDecoderJepsenForms(t *testing.T) {
	// Knossos' published histories: no :time, no :index.
	knossos := []string{
		`{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value 1}`,
		// the same as a vector, commas and comments, string keys
		`; knossos
[{"process" 0 "type" :invoke "f" :write "value" 1},
 {:process 0, :type :ok, :f :write, :value 1} #_ {:process 9, :type :ok}
 {:process 1, :type :invoke, :f :read, :value nil}
 #jepsen.history.Op{:process 1, :type :ok, :f :read, :value 1}]`,
		// as a list, and JSON
		`({:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
  {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 1})`,
	}
	want := []Op{
		{Index: 0, Type: Invoke, Process: 0, F: "write", Value: int64(1)},
		{Index: 1, Type: OK, Process: 0, F: "write", Value: int64(1)},
		{Index: 2, Type: Invoke, Process: 1, F: "read"},
		{Index: 3, Type: OK, Process: 1, F: "read", Value: int64(1)},
	}
	for i, in := range knossos {
		got, err := ReadEDN(strings.NewReader(in))
		if err != nil {
			t.Fatalf("form %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("form %d:\n got %+v\nwant %+v", i, got, want)
		}
		if HasTimes(got) {
			t.Errorf("form %d: a history without :time has times", i)
		}
	}
	js := `[{"process": 0, "type": "invoke", "f": "write", "value": 1}, {"process": 0, "type": ":ok", "f": ":write", "value": 1},
	        {"process": 1, "type": "invoke", "f": "read", "value": null}, {"process": 1, "type": "ok", "f": "read", "value": 1}]`
	got, err := NewDecoder(strings.NewReader(js), JSON).All()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("json: %v\n got %+v\nwant %+v", err, got, want)
	}
}

func TestDecoderFields(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		format   Format
		want     []Op
		err      string
	}{
		{"elle: completions only, no process, no f", `[{:index 5, :type :ok, :value [[:append :x 1] [:r :y [1]]]}
 {:type :info, :value [[:append :y 1]]}]`, EDN, []Op{
			{Index: 5, Type: OK, Process: NoProcess, Value: []any{[]any{"append", "x", int64(1)}, []any{"r", "y", []any{int64(1)}}}},
			{Index: 1, Type: Info, Process: NoProcess, Value: []any{[]any{"append", "y", int64(1)}}},
		}, ""},
		{"time carried over a gap", `{:type :invoke, :process 0, :time 10}
{:type :ok, :process 0}
{:type :invoke, :process 0, :time 30}`, EDN, []Op{
			{Index: 0, Time: 10, Type: Invoke}, {Index: 1, Time: 10, Type: OK}, {Index: 2, Time: 30, Type: Invoke},
		}, ""},
		{"values", `{:type :ok, :process :nemesis, :f :start, :value {:a nil, "b" [1 -2 3.5 "s" :k true], 7 #{2 1}}, :error :timeout}`, EDN, []Op{
			{Type: OK, Process: NemesisProcess, F: "start", Error: "timeout",
				Value: map[string]any{"a": nil, "b": []any{int64(1), int64(-2), 3.5, "s", "k", true}, "7": []any{int64(1), int64(2)}}},
		}, ""},
		{"jsonl: faultline's nemesis is process -1", `{"index":0,"time":1,"type":"info","process":-1,"f":"kill","value":["n1"]}`, JSONL, []Op{
			{Time: 1, Type: Info, Process: NemesisProcess, F: "kill", Value: []any{"n1"}},
		}, ""},
		{"invocation without process", `{:type :invoke, :f :read}`, EDN, []Op{{Type: Invoke, F: "read"}}, ""},
		{"no type", `{:process 0, :f :read}`, EDN, nil, "no :type"},
		{"bad process", `{:type :ok, :process "client"}`, EDN, nil, ":process"},
		{"bad time", `{:type :ok, :process 0, :time "soon"}`, EDN, nil, ":time"},
		{"unclosed vector", `[{:type :ok, :process 0}`, EDN, nil, "inside the vector"},
		{"json array: trailing garbage", `[{"type": "ok", "process": 0}] x`, JSON, nil, "unexpected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewDecoder(strings.NewReader(tc.in), tc.format).All()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.want {
				if tc.want[i].Process == 0 && tc.format == EDN && !strings.Contains(tc.in, ":process") {
					tc.want[i].Process = NoProcess
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPairsStandaloneCompletions(t *testing.T) {
	ops := []Op{
		{Type: OK, Process: NoProcess, F: "txn"},
		{Type: Invoke, Process: 3, F: "read"},
		{Type: OK, Process: 3, F: "read"},
		{Type: Fail, Process: 4, F: "read"},
	}
	ps := Pairs(ops)
	if len(ps) != 3 {
		t.Fatalf("%d pairs: %+v", len(ps), ps)
	}
	if ps[0].InvokePos != -1 || ps[0].CompletePos != 0 || ps[0].Invoke.Type != Invoke || ps[0].Open {
		t.Errorf("standalone: %+v", ps[0])
	}
	if ps[1].InvokePos != 1 || ps[1].CompletePos != 2 || ps[2].InvokePos != -1 || ps[2].CompletePos != 3 {
		t.Errorf("positions: %+v", ps)
	}
}

// TestDecoderStreams reads a history larger than the scanner's buffer a
// few bytes at a time: values split across reads must come out whole.
func TestDecoderStreams(t *testing.T) {
	var ops []Op
	for i := range 20000 {
		ops = append(ops, Op{Index: int64(i), Time: int64(i) * 7, Type: OK, Process: i % 7, F: "txn",
			Value: []any{[]any{"append", int64(i % 13), int64(i)}, []any{"r", "key-with-a-long-name", []any{int64(1), "é", 2.5}}}, Error: "x y"})
	}
	for _, f := range []Format{EDN, JSONL} {
		var buf bytes.Buffer
		var err error
		if f == EDN {
			err = WriteEDN(&buf, ops)
		} else {
			err = WriteJSONL(&buf, ops)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := NewDecoder(io.LimitReader(&trickle{b: buf.Bytes()}, int64(buf.Len())), f).All()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !reflect.DeepEqual(got, ops) {
			t.Errorf("%s: streamed ops differ", f)
		}
	}
}

// trickle reads at most 7 bytes at a time.
type trickle struct{ b []byte }

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 7)], t.b)
	t.b = t.b[n:]
	return n, nil
}

func BenchmarkDecode(b *testing.B) {
	var ops []Op
	for i := range 100000 {
		ops = append(ops, Op{Index: int64(i), Time: int64(i) * 1000, Type: OK, Process: i % 10, F: "write", Value: []any{int64(i % 1000), int64(i)}})
	}
	for _, f := range []Format{EDN, JSONL} {
		var buf bytes.Buffer
		if f == EDN {
			_ = WriteEDN(&buf, ops)
		} else {
			_ = WriteJSONL(&buf, ops)
		}
		b.Run(f.String(), func(b *testing.B) {
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				if _, err := NewDecoder(bytes.NewReader(buf.Bytes()), f).All(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(ops))*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
