package netrule

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: any line either fails to parse or parses to a valid rule
// whose list form parses back to the same rule.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"drop from 10.0.0.1", "loss 20% to fd00::2", "loss 5% inbound", "drop inbound", "loss 100% from x", "delay 50ms±10ms seed 7 from 10.0.0.1", "delay 5ms inbound"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := Parse(line)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %+v, which does not validate: %v", line, r, err)
		}
		if back, err := Parse(r.String()); err != nil || back != r {
			t.Fatalf("Parse(%q) = %+v; String %q parses to %+v, %v", line, r, r.String(), back, err)
		}
	})
}

// FuzzParseArgs: any command line either fails with an *ArgsError or
// gives rules that Args writes back to a command line parsing to them.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"drop --from 10.0.0.1,10.0.0.2", "loss --percent 30 --to fd00::1", "loss --percent 7", "delay --ms 50 --jitter-ms 5 --seed 3 --to 10.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		rules, err := ParseArgs(strings.Fields(line))
		if err != nil {
			if _, ok := err.(*ArgsError); !ok {
				t.Fatalf("ParseArgs(%q): %T %v, want *ArgsError", line, err, err)
			}
			return
		}
		args, err := Args(rules...)
		if err != nil {
			t.Fatalf("ParseArgs(%q) = %+v; Args: %v", line, rules, err)
		}
		if back, err := ParseArgs(args); err != nil || !reflect.DeepEqual(back, rules) {
			t.Fatalf("ParseArgs(%q) = %+v; Args %q parses to %+v, %v", line, rules, args, back, err)
		}
	})
}
