package workload

import (
	"fmt"
	"strings"
)

// Name names a registered workload. Set accepts only registered names, so
// a configuration that holds a Name holds a workload that exists.
type Name string

// String implements pflag.Value.
func (n Name) String() string { return string(n) }

// Set implements pflag.Value: it parses a workload name.
func (n *Name) Set(s string) error {
	if _, ok := registry[s]; !ok {
		return fmt.Errorf("workload %q is unknown: use one of %s", s, strings.Join(Names(), ", "))
	}
	*n = Name(s)
	return nil
}

// Type implements pflag.Value.
func (n Name) Type() string { return "workload" }

// UnmarshalText implements encoding.TextUnmarshaler (test.json).
func (n *Name) UnmarshalText(b []byte) error { return n.Set(string(b)) }
