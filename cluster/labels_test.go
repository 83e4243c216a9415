package cluster

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestOwnerAlive(t *testing.T) {
	host := hostLabel()
	if !OwnerAlive(map[string]string{LabelPID: "1", LabelHost: host}, nowMinus(0)) {
		t.Error("pid 1 reported dead")
	}
	if OwnerAlive(map[string]string{LabelPID: "999999999", LabelHost: host}, nowMinus(0)) {
		t.Error("a non-existent pid reported alive")
	}
	if OwnerAlive(map[string]string{LabelPID: "1", LabelHost: host, LabelPIDStart: "not-the-start-time"}, nowMinus(0)) {
		t.Error("a reused pid reported as the owner")
	}
	foreign := map[string]string{LabelPID: "999999999", LabelHost: "other"}
	if !OwnerAlive(foreign, nowMinus(1)) || OwnerAlive(foreign, nowMinus(ForeignHostMaxAge*2)) {
		t.Error("foreign-host age rule")
	}
	if !OwnerAlive(map[string]string{}, nowMinus(0)) {
		t.Error("resources without a pid label must be kept")
	}
	// This process's own labels say it is alive.
	if l := Labels(nil, "r", "n1"); !OwnerAlive(l, nowMinus(0)) || l[LabelPID] != strconv.Itoa(os.Getpid()) || l[LabelNode] != "n1" {
		t.Errorf("own labels %v", l)
	}
}

func nowMinus(d time.Duration) time.Time { return time.Now().Add(-d) }
