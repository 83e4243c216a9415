package faultline

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/nemesis"
)

// everyField is a test whose every parameter differs from DefaultTest, so
// a parameter dropped anywhere shows.
func everyField() Test {
	return Test{
		Name: "custom-name", System: "kvnode", SystemVersion: "v1.2.3", SystemOpt: []string{"a=b", "c=d"}, Workload: "set",
		Nemesis:         nemesis.MustParseSpec("partition:leader+bridge,kill:one,loss:30+all"),
		NemesisInterval: 1500 * time.Millisecond, NemesisConcurrent: true,
		Nodes: 5, Concurrency: 16, Rate: 250.5,
		TimeLimit: 42 * time.Second, OpTimeout: 3 * time.Second,
		RecoveryTimeout: 90 * time.Second, CheckTimeout: 7 * time.Minute, Seed: 14071,
		ReadMode: "lease", LeaseDuration: 5 * time.Second, Unsafe: []string{"no-dedup"},
		Expect: ExpectInvalid, Store: "/tmp/some store", Image: "faultline-node:abc",
		Runtime: RuntimeKubernetes, Kubeconfig: "/tmp/kube config", Schedule: "/tmp/min schedule.json",
	}
}

func TestEveryFieldDiffersFromDefault(t *testing.T) {
	x, d := reflect.ValueOf(everyField()), reflect.ValueOf(DefaultTest())
	for i := range x.NumField() {
		name := x.Type().Field(i).Name
		if name == "Quiet" || name == "System" {
			continue // Quiet is not a run parameter; everyField's options are kvnode's
		}
		if reflect.DeepEqual(x.Field(i).Interface(), d.Field(i).Interface()) {
			t.Errorf("everyField().%s equals the default: the round trips below would not notice it dropped", name)
		}
	}
}

func TestRerunCommandRoundTrips(t *testing.T) {
	for _, want := range []Test{DefaultTest(), everyField()} {
		cmd := want.RerunCommand()
		words := shellWords(t, cmd)
		if !slices.Equal(words[:2], []string{"faultline", "run"}) {
			t.Fatalf("rerun %q does not start with faultline run", cmd)
		}
		got, err := parseArgs(words[2:])
		if err != nil {
			t.Fatalf("parse rerun %q: %v", cmd, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("rerun %q parses back to\n%+v\nwant\n%+v", cmd, got, want)
		}
	}
}

// TestListFlagsAddUp: a list flag given twice is both lists, as pflag's
// slices; the second used to replace the first, and a run with two
// --system-opt flags ran with the last setting only.
func TestListFlagsAddUp(t *testing.T) {
	got, err := parseArgs([]string{"--system-opt", "snapshot-threshold=1000", "--system-opt", "snapshot-interval=1s,a=b",
		"--unsafe", "no-fsync", "--unsafe", "no-dedup"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"snapshot-threshold=1000", "snapshot-interval=1s", "a=b"}; !slices.Equal(got.SystemOpt, want) {
		t.Errorf("--system-opt twice: %v, want %v", got.SystemOpt, want)
	}
	if want := []string{"no-fsync", "no-dedup"}; !slices.Equal(got.Unsafe, want) {
		t.Errorf("--unsafe twice: %v, want %v", got.Unsafe, want)
	}
}

func TestTestJSONRoundTripsAndMatchesFlags(t *testing.T) {
	want := everyField()
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got Test
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("test.json round trip:\n%s\ngives %+v\nwant %+v", b, got, want)
	}
	var keys map[string]any
	_ = json.Unmarshal(b, &keys)
	var flags []string
	for _, p := range params {
		flags = append(flags, jsonKey(p.flag))
	}
	slices.Sort(flags)
	if jk := slices.Sorted(maps.Keys(keys)); !slices.Equal(jk, flags) {
		t.Errorf("test.json keys %v\ndiffer from the flags' keys %v: add the field to params (params.go) or its json tag", jk, flags)
	}
	if ck := slices.Sorted(maps.Keys(want.Config())); !slices.Equal(ck, flags) {
		t.Errorf("report config keys %v differ from the flags' keys %v", ck, flags)
	}
}

func TestRerunCommandReadable(t *testing.T) {
	x := DefaultTest()
	x.Workload, x.Nemesis, x.Seed, x.ReadMode, x.Unsafe = "set", nemesis.MustParseSpec("kill,pause"), 42, "lease", []string{"no-dedup"}
	got := x.RerunCommand()
	for _, w := range []string{"--workload=set", "--nemesis=kill,pause", "--seed=42", "--read-mode=lease", "--unsafe=no-dedup", "--time-limit=30s"} {
		if !strings.Contains(got, w) {
			t.Errorf("rerun %q lacks %q", got, w)
		}
	}
	if strings.Contains(got, "--nodes") {
		t.Errorf("rerun %q repeats a default", got)
	}
}

// shellWords splits a command line the way a POSIX shell does for the
// quoting shellQuote writes (single quotes, '\” for a quote).
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	in, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case in && c == '\'':
			in = false
		case in:
			cur.WriteByte(c)
		case c == '\'':
			in, have = true, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			have = true
		case c == ' ':
			if have {
				words = append(words, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if in {
		t.Fatalf("unterminated quote in %q", s)
	}
	if have {
		words = append(words, cur.String())
	}
	return words
}
