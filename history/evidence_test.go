package history

import (
	"bytes"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCheckPairs: what Knossos refuses is refused (a completion without
// an invocation, a process invoking while its op is pending), Elle's
// completions-only histories stay accepted where asked for, and ops
// without :process pair in order, as jepsen.history reads them. Each
// refused history has a close one that passes.
func TestCheckPairs(t *testing.T) {
	register := Pairing{}
	elle := Pairing{LoneCompletions: true}
	for _, tc := range []struct {
		name  string
		rules Pairing
		in    string
		err   string // "" must pass
	}{
		{"completion without invocation", register, `{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :ok, :f :read, :value nil}`, "completed an operation without a prior invocation"},
		{"the same with its invocation", register, `{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value nil}`, ""},
		{"completion without invocation, no process", register, `{:type :ok, :f :read, :value 1}`, "an op without :process"},
		{"elle: completions only", elle, `{:type :ok, :value [[:append :x 1]]}
{:type :ok, :value [[:r :x [1]]]}`, ""},
		{"elle: lone completion of a process", elle, `{:process 3, :type :ok, :value [[:r :x [1]]]}`, ""},
		{"process already running", register, `{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :invoke, :f :read, :value nil}
{:process 0, :type :ok, :f :read, :value 1}`, "process already running"},
		{"process reused after an info", register, `{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :info, :f :write, :value 1}
{:process 0, :type :invoke, :f :read, :value nil}
{:process 0, :type :ok, :f :read, :value 1}`, ""},
		{"process already running, completions allowed", elle, `{:process 0, :type :invoke, :value [[:append :x 1]]}
{:process 0, :type :invoke, :value [[:r :x nil]]}`, "process already running"},
		{"no process: alternating invocations and completions pair", elle, `{:type :invoke, :f :txn, :value [[:append :x 1]]}
{:type :ok, :f :txn, :value [[:append :x 1]]}
{:type :invoke, :f :txn, :value [[:r :x nil]]}
{:type :ok, :f :txn, :value [[:r :x [1]]]}`, ""},
		{"no process, register: alternating pairs too", register, `{:type :invoke, :f :write, :value 1}
{:type :ok, :f :write, :value 1}`, ""},
		{"no process: two invocations in a row", elle, `{:type :invoke, :f :txn, :value [[:append :x 1]]}
{:type :invoke, :f :txn, :value [[:r :x nil]]}
{:type :ok, :f :txn, :value [[:r :x [1]]]}`, "cannot be paired"},
		{"nemesis ops are not held to it", register, `{:process :nemesis, :type :info, :f :start}
{:process :nemesis, :type :info, :f :start}
{:process :nemesis, :type :info, :f :start}
{:process :nemesis, :type :ok, :f :stop}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec := NewDecoder(strings.NewReader(tc.in), EDN, CheckPairs(tc.rules))
			ops, err := dec.All()
			st := dec.Stats()
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if st.Read != int64(len(ops)) || st.Refused != 0 {
					t.Errorf("stats %+v for %d ops", st, len(ops))
				}
				// Without the check, every one of them reads.
				if _, err := NewDecoder(strings.NewReader(tc.in), EDN).All(); err != nil {
					t.Errorf("unchecked: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want one saying %q", err, tc.err)
			}
			if !strings.Contains(err.Error(), "line ") || st.Refused != 1 || len(st.Why) != 1 {
				t.Errorf("the refusal names no line, or is not counted: %v; %+v", err, st)
			}
		})
	}
}

// TestPairsWithoutProcess: the pairs checkers build from ops without
// :process are the ones CheckPairs accepts: in order.
func TestPairsWithoutProcess(t *testing.T) {
	ops, err := NewDecoder(strings.NewReader(`{:type :invoke, :value [[:append :x 1]]}
{:type :ok, :value [[:append :x 1]]}
{:type :invoke, :value [[:r :x nil]]}
{:type :ok, :value [[:r :x [1]]]}`), EDN, CheckPairs(Pairing{LoneCompletions: true})).All()
	if err != nil {
		t.Fatal(err)
	}
	ps := Pairs(ops)
	if len(ps) != 2 || ps[0].InvokePos != 0 || ps[0].CompletePos != 1 || ps[1].InvokePos != 2 || ps[1].CompletePos != 3 {
		t.Errorf("pairs %+v", ps)
	}
}

// TestExactNumbers: integers are never rounded: beyond int64 they are
// *big.Int, in EDN and JSON, and survive a write and a read; floats too
// large to be an exact integer are not taken for one, and what is not an
// int64 says what it is.
func TestExactNumbers(t *testing.T) {
	big19, _ := new(big.Int).SetString("10000000000000000000", 10)
	neg, _ := new(big.Int).SetString("-9223372036854775809", 10)
	for _, tc := range []struct {
		name   string
		format Format
		in     string
		want   any
	}{
		{"edn integer beyond int64", EDN, `{:type :ok, :process 0, :value 10000000000000000000}`, big19},
		{"edn bigint suffix", EDN, `{:type :ok, :process 0, :value 10000000000000000000N}`, big19},
		{"edn bigdecimal, integral", EDN, `{:type :ok, :process 0, :value 10000000000000000000M}`, big19},
		{"edn below int64", EDN, `{:type :ok, :process 0, :value -9223372036854775809}`, neg},
		{"edn int64 with N", EDN, `{:type :ok, :process 0, :value 7N}`, int64(7)},
		{"edn double", EDN, `{:type :ok, :process 0, :value 1e19}`, 1e19},
		{"json integer beyond int64", JSONL, `{"type":"ok","process":0,"value":10000000000000000000}`, big19},
		{"json exponent", JSONL, `{"type":"ok","process":0,"value":1e19}`, 1e19},
		{"json whole float", JSONL, `{"type":"ok","process":0,"value":3.0}`, 3.0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := NewDecoder(strings.NewReader(tc.in), tc.format).All()
			if err != nil {
				t.Fatal(err)
			}
			if !sameValue(ops[0].Value, tc.want) || reflect.TypeOf(ops[0].Value) != reflect.TypeOf(tc.want) {
				t.Fatalf("value %#v (%T), want %v (%T)", ops[0].Value, ops[0].Value, tc.want, tc.want)
			}
			for _, w := range []struct {
				write func(*bytes.Buffer, []Op) error
				f     Format
			}{{writeEDN, EDN}, {writeJSONL, JSONL}} {
				var buf bytes.Buffer
				if err := w.write(&buf, ops); err != nil {
					t.Fatal(err)
				}
				back, err := NewDecoder(&buf, w.f).All()
				if err != nil || !sameValue(back[0].Value, tc.want) || reflect.TypeOf(back[0].Value) != reflect.TypeOf(tc.want) {
					t.Errorf("%s round trip: %#v, %v", w.f, back, err)
				}
			}
		})
	}

	// Distinct values never compare equal as int64s.
	if i, ok := Int(1e19); ok {
		t.Errorf("Int(1e19) = %d", i)
	}
	if i, ok := Int(float64(math.MaxInt64)); ok { // 2^63: one past the range
		t.Errorf("Int(2^63 as a float) = %d", i)
	}
	if i, ok := Int(float64(math.MinInt64)); !ok || i != math.MinInt64 {
		t.Errorf("Int(-2^63 as a float) = %d, %v", i, ok)
	}
	if i, ok := Int(big19); ok {
		t.Errorf("Int(10^19) = %d", i)
	}
	if i, ok := Int(big.NewInt(-5)); !ok || i != -5 {
		t.Errorf("Int(big -5) = %d, %v", i, ok)
	}
	for v, want := range map[any]string{
		big19: "10000000000000000000 is an integer beyond the 64-bit range",
		1e19:  "1e+19 is a floating-point number beyond the 64-bit integer range",
		2.5:   "2.5 is not a whole number",
		"x":   `"x" is not an integer`,
	} {
		if _, err := IntOf(v); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("IntOf(%v) = %v, want %q", v, err, want)
		}
	}
	// A field beyond int64 says what it is, not "not an integer".
	_, err := ReadEDN(strings.NewReader(`{:type :ok, :process 0, :time 10000000000000000000}`))
	if err == nil || !strings.Contains(err.Error(), ":time 10000000000000000000 is an integer beyond the 64-bit range") {
		t.Errorf("time beyond int64: %v", err)
	}
	_, err = ReadEDN(strings.NewReader(`{:type :ok, :process 10000000000000000000}`))
	if err == nil || !strings.Contains(err.Error(), ":process 10000000000000000000 is out of range") {
		t.Errorf("process beyond int64: %v", err)
	}
}

// TestTimeOrder: times running against the file's order are a warning in
// the stats; times in order, or none, are not.
func TestTimeOrder(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		warn     bool
	}{
		{"in order", "{:type :invoke, :process 0, :time 1}\n{:type :ok, :process 0, :time 5}", false},
		{"equal times", "{:type :invoke, :process 0, :time 5}\n{:type :ok, :process 0, :time 5}", false},
		{"no times", "{:type :invoke, :process 0}\n{:type :ok, :process 0}", false},
		{"backwards", "{:type :invoke, :process 0, :time 10}\n{:type :ok, :process 0, :time 5}", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec := NewDecoder(strings.NewReader(tc.in), EDN)
			if _, err := dec.All(); err != nil {
				t.Fatal(err)
			}
			st := dec.Stats()
			if got := len(st.Warnings) == 1 && strings.Contains(st.Warnings[0], ":time runs against the order of the file at 1 op (first op #1: time 5 ns, after 10 ns)"); got != tc.warn {
				t.Errorf("warnings %q, want a warning: %v", st.Warnings, tc.warn)
			}
		})
	}
}

// TestReadFileStats: our own history.jsonl read back after a crash drops
// a torn last line, and says how many ops it dropped; an EDN file of ours
// cut off is refused; a directory is called one.
func TestReadFileStats(t *testing.T) {
	dir := t.TempDir()
	ops := sampleOps()
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, ops); err != nil {
		t.Fatal(err)
	}
	whole := filepath.Join(dir, "history.jsonl")
	if err := os.WriteFile(whole, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, st, err := ReadFileStats(whole)
	if err != nil || len(got) != len(ops) || st.Read != int64(len(ops)) || st.Dropped != 0 || len(st.Why) != 0 {
		t.Fatalf("whole file: %d ops, %+v, %v", len(got), st, err)
	}
	torn := filepath.Join(dir, "torn", "history.jsonl")
	_ = os.Mkdir(filepath.Dir(torn), 0o755)
	if err := os.WriteFile(torn, buf.Bytes()[:buf.Len()-9], 0o644); err != nil {
		t.Fatal(err)
	}
	got, st, err = ReadFileStats(torn)
	if err != nil || len(got) != len(ops)-1 || st.Dropped != 1 || st.Refused != 0 || len(st.Why) != 1 ||
		!strings.Contains(st.Why[0], "torn last line") || !strings.Contains(st.String(), "dropped 1") {
		t.Fatalf("torn file: %d ops, %+v, %v", len(got), st, err)
	}
	var edn bytes.Buffer
	if err := WriteEDN(&edn, ops); err != nil {
		t.Fatal(err)
	}
	tornEDN := filepath.Join(dir, "history.edn")
	if err := os.WriteFile(tornEDN, edn.Bytes()[:edn.Len()-9], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, st, err := ReadFileStats(tornEDN); err == nil || !strings.Contains(err.Error(), "cut off") || st.Refused != 1 {
		t.Errorf("torn EDN: %+v, %v", st, err)
	}
	if _, _, err := ReadFileStats(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}
