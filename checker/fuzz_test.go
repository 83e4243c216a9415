package checker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

// recorder is a Streamer that keeps what it is fed and counts the
// verdicts asked of it.
type recorder struct {
	ops     []history.Op
	results int
}

func (r *recorder) Name() string { return "recorder" }
func (r *recorder) Check(ctx context.Context, ops []history.Op) Result {
	return checkStream(ctx, r, ops)
}
func (r *recorder) Stream() Stream { return r }
func (r *recorder) Add(op history.Op) error {
	r.ops = append(r.ops, op)
	return nil
}
func (r *recorder) Result(context.Context) Result {
	r.results++
	return Result{Checker: r.Name(), Valid: Valid}
}

var _ Streamer = (*recorder)(nil)

// FuzzCheckDecoded: no input that fails to decode reaches a checker. A
// history the decoder refuses (malformed, cut off, unpaired under the
// model's rules) comes back as an error with an Unknown result that says
// what was read and why it was refused, and no checker is asked for a
// verdict; a history read whole is fed to the checker exactly as read.
// The model's own checker never panics on what it is fed. Seeded from
// every history under testdata/, in each format and under each model.
func FuzzCheckDecoded(f *testing.F) {
	var files []string
	for _, g := range []string{"../history/testdata/*", "../testdata/check/*.*", "../testdata/check/evidence/*", "testdata/golden/*.edn"} {
		m, err := filepath.Glob(g)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, m...)
	}
	for i, p := range files {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		format := uint8(0)
		switch filepath.Ext(p) {
		case ".json":
			format = 1
		case ".jsonl":
			format = 2
		}
		f.Add(b, format, uint8(i))
	}
	formats := []history.Format{history.EDN, history.JSON, history.JSONL}
	f.Fuzz(func(t *testing.T, b []byte, format, model uint8) {
		fm := formats[int(format)%len(formats)]
		m := models[int(model)%len(models)]
		decoder := func() *history.Decoder {
			return history.NewDecoder(bytes.NewReader(b), fm, history.CheckPairs(m.pairing))
		}
		want, wantErr := decoder().All()
		rec := &recorder{}
		r, err := checkDecoded(context.Background(), rec, decoder(), func() {}, func() {})
		if wantErr != nil {
			if err == nil || rec.results != 0 || r.Valid != Unknown || r.Input == nil || r.Input.Refused != 1 || len(r.Input.Why) == 0 {
				t.Fatalf("%s, %s: the decoder refuses it (%v), but the check gave err %v, %d verdicts, result %+v",
					fm, m.Name, wantErr, err, rec.results, r)
			}
			return
		}
		if err != nil || rec.results != 1 || fmt.Sprintf("%#v", rec.ops) != fmt.Sprintf("%#v", want) ||
			r.Input == nil || r.Input.Read != int64(len(want)) || r.Input.Refused != 0 {
			t.Fatalf("%s, %s: read whole, but the check gave err %v, %d verdicts, %d of %d ops, input %+v",
				fm, m.Name, err, rec.results, len(rec.ops), len(want), r.Input)
		}
		c, err := New(m.Name, Config{TimeLimit: time.Second, MaxReported: 2})
		if err != nil {
			t.Fatal(err)
		}
		r, err = checkDecoded(context.Background(), c, decoder(), func() {}, func() {})
		if err != nil || strings.Contains(r.Error, "panic") {
			t.Fatalf("%s, %s: %v %s", fm, m.Name, err, r.Error)
		}
	})
}
