package history

import (
	"bytes"
	"os"
	"testing"
)

// The readers must never panic, whatever the input, and what they accept
// must survive a write/read round trip.
func addSeeds(f *testing.F) {
	for _, p := range []string{"testdata/jepsen-register.edn", "testdata/jepsen-list-append.edn"} {
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
}

func FuzzReadEDN(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := ReadEDN(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteEDN(&buf, ops); err != nil {
			return // e.g. NaN values cannot be written
		}
		if _, err := ReadEDN(&buf); err != nil {
			t.Fatalf("re-reading written EDN: %v\n%s", err, buf.String())
		}
	})
}

func FuzzReadJSONL(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := ReadJSONL(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteJSONL(&buf, ops); err != nil {
			return
		}
		if _, err := ReadJSONL(&buf); err != nil {
			t.Fatalf("re-reading written JSONL: %v\n%s", err, buf.String())
		}
	})
}
