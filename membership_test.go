package faultline

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/sut"
)

// staticMembers is kvnode under another name, declaring no membership
// changes.
type staticMembers struct{ sut.KVNode }

func (staticMembers) Info() sut.Info {
	i := sut.KVNode{}.Info()
	i.Name, i.Membership = "kvnode-static", false
	return i
}

// The membership fault runs on systems that declare membership changes
// and is refused by name on the others.
func TestMembershipRefused(t *testing.T) {
	if err := sut.Register(staticMembers{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		system string
		want   string
	}{
		{"kvnode", ""},
		{"etcd", ""},
		{"kvnode-static", "kvnode-static does not support the membership fault (it has no API to change its members)"},
	} {
		x := DefaultTest()
		x.System, x.Nemesis, x.TimeLimit = tt.system, nemesis.MustParseSpec("partition,membership:leave+replace"), time.Minute
		_, err := x.Plan()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Plan() = %v, want %q", tt.system, err, tt.want)
		}
	}
}
