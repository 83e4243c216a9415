package history

import (
	"bytes"
	"math"
	"math/big"
	"os"
	"reflect"
	"testing"
	"unicode"
)

// The readers must never panic, whatever the input, and what they accept
// must survive a write/read round trip.
func addSeeds(f *testing.F) {
	for _, p := range []string{"testdata/jepsen-register.edn", "testdata/jepsen-list-append.edn", "testdata/jepsen.json"} {
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
		`[1, 2, ; comment` + "\n" + ` #_ 3 4]`, `{"type": ":ok", "value": [1.5e3, null, true]}`, `##Inf`, `#inst "2020-01-01"`} {
		f.Add([]byte(s))
	}
}

// roundTrip checks that ops read by read survive write and read again.
func roundTrip(t *testing.T, ops []Op, write func(*bytes.Buffer, []Op) error, read func(*bytes.Buffer) ([]Op, error)) {
	var buf bytes.Buffer
	if err := write(&buf, ops); err != nil {
		return // e.g. NaN values cannot be written
	}
	text := buf.String()
	back, err := read(&buf)
	if err != nil {
		t.Fatalf("re-reading written ops: %v\n%s", err, text)
	}
	if len(back) != len(ops) {
		t.Fatalf("re-read %d ops, wrote %d\n%s", len(back), len(ops), text)
	}
}

func writeEDN(b *bytes.Buffer, ops []Op) error   { return WriteEDN(b, ops) }
func readEDN(b *bytes.Buffer) ([]Op, error)      { return ReadEDN(b) }
func writeJSONL(b *bytes.Buffer, ops []Op) error { return WriteJSONL(b, ops) }
func readJSONL(b *bytes.Buffer) ([]Op, error)    { return ReadJSONL(b) }

func FuzzReadEDN(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := ReadEDN(bytes.NewReader(b))
		if err == nil {
			roundTrip(t, ops, writeEDN, readEDN)
		}
	})
}

func FuzzReadJSONL(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := ReadJSONL(bytes.NewReader(b))
		if err == nil {
			roundTrip(t, ops, writeJSONL, readJSONL)
		}
	})
}

func FuzzReadJSON(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := NewDecoder(bytes.NewReader(b), JSON).All()
		if err == nil {
			roundTrip(t, ops, writeJSONL, readJSONL)
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
