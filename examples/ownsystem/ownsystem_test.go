package ownsystem_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine/enginetest"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/sut"

	"example.com/ownsystem"
)

func TestMain(m *testing.M) {
	if err := sut.Register(ownsystem.System{}); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// test is a short run of the set workload on the example system.
func test(spec string) faultline.Test {
	t := faultline.DefaultTest()
	t.System, t.Workload, t.Nemesis = ownsystem.Name, "set", nemesis.MustParseSpec(spec)
	t.TimeLimit, t.NemesisInterval, t.OpTimeout = 8*time.Second, 2*time.Second, time.Second
	t.Quiet = true
	return t
}

// The registered system is known by name, and what it declares decides
// which faults it takes.
func TestRegisteredSystemIsChecked(t *testing.T) {
	if _, err := sut.ByName(ownsystem.Name); err != nil {
		t.Fatal(err)
	}
	if err := test("kill").Validate(); err != nil {
		t.Errorf("a kill on the example system is refused: %v", err)
	}
	err := test("clock").Validate()
	if err == nil || !strings.Contains(err.Error(), ownsystem.Name+" does not support the clock fault") {
		t.Errorf("clock on a system without a clock hook: %v, want it refused by name", err)
	}
}

// A whole run, from this module's own go test: build, start, kill,
// check.
func TestRunOnDocker(t *testing.T) {
	enginetest.RequireDocker(t)
	x := test("kill")
	x.Store = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := faultline.Run(ctx, x, faultline.Env{Runtime: func(ctx context.Context, spec cluster.Spec) (faultline.Cluster, error) {
		return docker.Start(ctx, spec)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid != checker.Valid || res.OK == 0 {
		t.Fatalf("verdict %v with %d ok ops: want valid; report %s", res.Valid, res.OK, res.Dir)
	}
}
