package checker

import (
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/history"
)

func testdata(parts ...string) string {
	return filepath.Join(append([]string{"testdata"}, parts...)...)
}

// golden reads the golden history testdata/golden/<name>.edn.
func golden(t testing.TB, name string) []history.Op {
	t.Helper()
	ops, err := history.ReadFile(testdata("golden", name+".edn"))
	if err != nil {
		t.Fatal(err)
	}
	return ops
}
