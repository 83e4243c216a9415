package history

import (
	"bytes"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode"
)

// The decoders are fuzzed, seeded from every history under testdata/
// (ours, the check command's and the checkers' golden ones). Each target
// asserts that decoding never panics, that Stats agree with the outcome
// (a refused history counts its refusal and says why; one read whole
// refuses nothing), and that a history read whole writes and reads back
// as the same ops (in its own format; JSON's in EDN too, which holds every
// JSON value, where JSON has no NaN or infinity for EDN's). That no input that fails to decode reaches a checker
// is FuzzCheckDecoded's, in package checker.
func addSeeds(f *testing.F) {
	var files []string
	for _, g := range []string{"testdata/*", "../testdata/check/*.*", "../testdata/check/evidence/*", "../checker/testdata/golden/*.edn"} {
		m, err := filepath.Glob(g)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 50 {
		f.Fatalf("only %d seed histories", len(files))
	}
	for _, p := range files {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, sampleOps()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	for _, s := range []string{`{:type :ok, :value [[:r :x 1N] [:w :y 2.5M] [:r :z 1/2]]}`, `#{1 :a "b" \c}`,
		`[1, 2, ; comment` + "\n" + ` #_ 3 4]`, `{"type": ":ok", "value": [1.5e3, null, true]}`, `##Inf`, `#inst "2020-01-01"`,
		`{:type :ok, :process 0, :value [10000000000000000000 -9223372036854775809 1e19 ##NaN ##-Inf]}`,
		`{"type": "ok", "process": 0, "value": [18446744073709551616, 3.0, 1e400]}`} {
		f.Add([]byte(s))
	}
}

// decodeChecked decodes b and checks the decoder's stats against what
// came of it.
func decodeChecked(t *testing.T, b []byte, f Format, opts ...DecoderOption) ([]Op, ReadStats, error) {
	t.Helper()
	dec := NewDecoder(bytes.NewReader(b), f, opts...)
	ops, err := dec.All()
	st := dec.Stats()
	if err != nil {
		if st.Refused != 1 || len(st.Why) != int(st.Dropped)+1 || st.Read != int64(len(ops)) {
			t.Fatalf("refused (%v) with stats %+v after %d ops", err, st, len(ops))
		}
		if _, again := dec.Next(); again == nil {
			t.Fatalf("Next after the error %v read on", err)
		}
		return nil, st, err
	}
	if st.Refused != 0 || st.Read != int64(len(ops)) || len(st.Why) != int(st.Dropped) {
		t.Fatalf("read whole with stats %+v, %d ops", st, len(ops))
	}
	return ops, st, nil
}

// sameOps reports whether two histories hold the same ops (values by
// sameValue).
func sameOps(a, b []Op) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !sameValue(x.Value, y.Value) {
			return false
		}
		x.Value, y.Value = nil, nil
		if x != y {
			return false
		}
	}
	return true
}

// reencodes checks that ops, written by write, read back by read as the
// same ops.
func reencodes(t *testing.T, ops []Op, write func(*bytes.Buffer, []Op) error, f Format) {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf, ops); err != nil {
		t.Fatalf("writing ops read whole: %v", err)
	}
	text := buf.String()
	back, _, err := decodeChecked(t, buf.Bytes(), f)
	if err != nil {
		t.Fatalf("re-reading written ops: %v\n%s", err, text)
	}
	if !sameOps(back, ops) {
		t.Fatalf("ops do not survive a write and a read:\n read %#v\nwrote %s\n back %#v", ops, text, back)
	}
}

func writeEDN(b *bytes.Buffer, ops []Op) error   { return WriteEDN(b, ops) }
func writeJSONL(b *bytes.Buffer, ops []Op) error { return WriteJSONL(b, ops) }

func FuzzReadEDN(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, opts := range [][]DecoderOption{nil, {CheckPairs(Pairing{})}} {
			if ops, _, err := decodeChecked(t, b, EDN, opts...); err == nil {
				reencodes(t, ops, writeEDN, EDN)
			}
		}
	})
}

func FuzzReadJSONL(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, opts := range [][]DecoderOption{nil, {DropTornTail()}, {CheckPairs(Pairing{LoneCompletions: true})}} {
			if ops, st, err := decodeChecked(t, b, JSONL, opts...); err == nil {
				if st.Dropped > 1 {
					t.Fatalf("dropped %d ops", st.Dropped)
				}
				reencodes(t, ops, writeJSONL, JSONL)
			}
		}
	})
}

func FuzzReadJSON(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if ops, _, err := decodeChecked(t, b, JSON); err == nil {
			reencodes(t, ops, writeJSONL, JSONL)
			reencodes(t, ops, writeEDN, EDN)
		}
	})
}

// FuzzEDNValue checks the EDN scanner against the edn library: where both
// read a value, they read the same value.
func FuzzEDNValue(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.ContainsFunc(b, func(r rune) bool { return r > 0x7f && unicode.IsSpace(r) }) {
			return // Unicode spaces: the library takes them as whitespace, EDN does not
		}
		want, err := ednOracle(b)
		if err != nil {
			return
		}
		got, err := newScanner(bytes.NewReader(b), false).value()
		if err != nil {
			if bytes.ContainsAny(b, `\#`) {
				return // characters and tags the library reads more loosely
			}
			t.Fatalf("the edn library reads %q as %#v; the scanner fails: %v", b, want, err)
		}
		if !sameValue(got, want) {
			t.Fatalf("%q: scanner %#v, edn library %#v", b, got, want)
		}
	})
}

// FuzzJSONValue checks the scanner in JSON mode against encoding/json.
func FuzzJSONValue(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		want, err := jsonOracle(b)
		if err != nil {
			return
		}
		got, err := newScanner(bytes.NewReader(b), true).value()
		if err != nil {
			t.Fatalf("encoding/json reads %q as %#v; the scanner fails: %v", b, want, err)
		}
		if !sameValue(got, want) {
			t.Fatalf("%q: scanner %#v, encoding/json %#v", b, got, want)
		}
	})
}

// sameValue is reflect.DeepEqual with NaN equal to NaN and big integers
// equal by value.
func sameValue(a, b any) bool {
	if ba, ok := a.(*big.Int); ok {
		bb, ok := b.(*big.Int)
		return ok && ba.Cmp(bb) == 0
	}
	fa, aok := a.(float64)
	fb, bok := b.(float64)
	if aok && bok && math.IsNaN(fa) && math.IsNaN(fb) {
		return true
	}
	la, aok := a.([]any)
	lb, bok := b.([]any)
	if aok && bok {
		if len(la) != len(lb) {
			return false
		}
		for i := range la {
			if !sameValue(la[i], lb[i]) {
				return false
			}
		}
		return true
	}
	ma, aok := a.(map[string]any)
	mb, bok := b.(map[string]any)
	if aok && bok {
		if len(ma) != len(mb) {
			return false
		}
		for k, v := range ma {
			w, ok := mb[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
