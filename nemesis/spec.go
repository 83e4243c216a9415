package nemesis

import (
	"fmt"
	"slices"
	"strings"
)

// Spec is a parsed --nemesis value: which fault kinds run, each with its
// options (see Config.WithSpec for the grammar). It is parsed once, at the
// edge, and travels as this value: its text form is what the user wrote,
// so a rerun command and test.json say it back verbatim.
type Spec struct {
	text  string
	kinds []string
}

// None is the spec that injects no fault.
var None = Spec{text: "none"}

// ParseSpec parses and validates a --nemesis value: "none" (or empty),
// "all", or a comma-separated list of kinds with options, e.g.
// "partition:leader+bridge,kill:one,loss:30+all".
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return None, nil
	}
	cfg, err := DefaultConfig().WithSpec(s)
	if err != nil {
		return Spec{}, fmt.Errorf("--nemesis %q: %w (or none, or all)", s, err)
	}
	return Spec{text: s, kinds: cfg.Faults}, nil
}

// MustParseSpec is ParseSpec for specs written in code; it panics on a bad
// one.
func MustParseSpec(s string) Spec {
	sp, err := ParseSpec(s)
	if err != nil {
		panic(err)
	}
	return sp
}

// String returns the spec as written ("none" for no faults).
func (s Spec) String() string {
	if s.text == "" {
		return None.text
	}
	return s.text
}

// Kinds returns the enabled fault kinds, in the order written.
func (s Spec) Kinds() []string { return slices.Clone(s.kinds) }

// IsNone reports whether the spec injects no fault.
func (s Spec) IsNone() bool { return len(s.kinds) == 0 }

// Apply returns base with the spec's faults and options enabled.
func (s Spec) Apply(base Config) (Config, error) { return base.WithSpec(s.String()) }

// Set implements pflag.Value.
func (s *Spec) Set(v string) error {
	sp, err := ParseSpec(v)
	if err != nil {
		return err
	}
	*s = sp
	return nil
}

// Type implements pflag.Value.
func (s *Spec) Type() string { return "spec" }

// MarshalText implements encoding.TextMarshaler (test.json).
func (s Spec) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Spec) UnmarshalText(b []byte) error { return s.Set(string(b)) }
