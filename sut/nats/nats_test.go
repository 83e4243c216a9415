package nats

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/faultline/faultline/sut"
	"github.com/nats-io/nats.go/jetstream"
)

var layout = sut.Layout{Nodes: []string{"n1", "n2", "n3"}}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     sut.Options
		want     []string
		wantNone []string
	}{
		{"default", sut.Options{}, []string{`server_name: "n2"`, `store_dir: "/data/nats"`, "http: 8222",
			`routes: [nats://n1:6222, nats://n3:6222]`}, []string{"sync_interval", "n2:6222"}},
		{"sync always", sut.Options{Settings: map[string]string{"sync_interval": "always"}}, []string{`sync_interval: "always"`}, nil},
		{"client setting", sut.Options{Settings: map[string]string{"msg_bytes": "4096"}}, nil, []string{"msg_bytes", "4096"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Config(layout, tc.opts, "n2")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("config lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.wantNone {
				if strings.Contains(got, w) {
					t.Errorf("config has %q:\n%s", w, got)
				}
			}
		})
	}
	spec := System{}.Node(layout, sut.Options{}, "n1")
	if spec.Env["NATS_CONFIG_TEXT"] == "" || spec.Command[len(spec.Command)-1] != configFile || !strings.HasPrefix(spec.DataDir, sut.DataRoot) {
		t.Errorf("node spec %+v", spec)
	}
}

// The release the nested module requires builds as it is; any other is
// a requirement resolved per version.
func TestBinariesPerVersion(t *testing.T) {
	mod, err := os.ReadFile("natsserver/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mod), "github.com/nats-io/nats-server/v2 "+ModuleVersion+"\n") {
		t.Fatalf("natsserver/go.mod does not require nats-server %s (ModuleVersion)", ModuleVersion)
	}
	for _, tc := range []struct {
		version, require string
	}{
		{ModuleVersion, "[]"},
		{"", "[github.com/nats-io/nats-server/v2@" + NewestVersion + "]"},
		{"v2.14.0", "[github.com/nats-io/nats-server/v2@v2.14.0]"},
	} {
		b := System{}.Binaries(sut.Options{Version: tc.version})
		if len(b) != 1 || fmt.Sprint(b[0].Require) != tc.require || b[0].Module != "sut/nats/natsserver" {
			t.Errorf("version %q: binaries %+v, want require %q", tc.version, b, tc.require)
		}
	}
}

func TestInfoValidate(t *testing.T) {
	info := System{}.Info()
	for _, tc := range []struct {
		opts sut.Options
		want string
	}{
		{sut.Options{}, ""},
		{sut.Options{Version: "v2.12.1", Settings: map[string]string{"sync_interval": "always"}}, ""},
		{sut.Options{Settings: map[string]string{"max_mem": "1G"}}, `unknown setting "max_mem": use sync_interval or msg_bytes`},
		{sut.Options{Settings: map[string]string{"msg_bytes": "64"}}, ""},
		{sut.Options{Settings: map[string]string{"msg_bytes": "1048576"}}, ""},
		{sut.Options{Settings: map[string]string{"msg_bytes": "63"}}, "nats: setting msg_bytes=63: use a whole number of bytes from 64 to 1048576"},
		{sut.Options{Settings: map[string]string{"msg_bytes": "1048577"}}, "msg_bytes=1048577: use a whole number"},
		{sut.Options{Settings: map[string]string{"msg_bytes": "16k"}}, "msg_bytes=16k: use a whole number"},
		{sut.Options{Version: "latest"}, `version "latest"`},
		{sut.Options{ReadMode: "stale"}, `unknown read mode "stale"`},
	} {
		err := info.Validate(tc.opts)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.opts, err, tc.want)
		}
	}
}

// fakeMonitor serves /healthz, /varz and /jsz as a node whose stream has
// leader (or no stream, when leader is "").
func fakeMonitor(t *testing.T, healthy bool, meta, leader string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			if !healthy {
				http.Error(w, `{"status":"unavailable"}`, http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte(`{"status":"ok"}`))
		case "/varz":
			_, _ = w.Write([]byte(`{"server_name":"n2"}`))
		case "/jsz":
			streams := ""
			if leader != "-" {
				streams = `,"account_details":[{"stream_detail":[{"name":"faultline","cluster":{"leader":"` + leader + `"},"state":{"last_seq":42}}]}]`
			}
			_, _ = w.Write([]byte(`{"meta_cluster":{"leader":"` + meta + `"}` + streams + `}`))
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		name          string
		healthy       bool
		meta, leader  string
		want, wantErr string
	}{
		{"stream leader", true, "n1", "n3", "n3", ""},
		{"no stream yet: the meta leader", true, "n1", "-", "n1", ""},
		{"stream without a leader", true, "n1", "", "", "no leader yet"},
		{"unhealthy", false, "n1", "n3", "", "503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := System{}.Probe(context.Background(), map[string]string{PortMonitor: fakeMonitor(t, tc.healthy, tc.meta, tc.leader)})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Probe = %+v, %v; want an error with %q", st, err, tc.wantErr)
				}
				return
			}
			if err != nil || st.ID != "n2" || st.Leader != tc.want {
				t.Fatalf("Probe = %+v, %v; want n2 following %s", st, err, tc.want)
			}
		})
	}
}

// A padded message is the size asked for and reads back as its value; a
// value as long as the size, or longer, is sent alone.
func TestEncodeDecode(t *testing.T) {
	for _, tc := range []struct {
		v       int64
		size    int
		wantLen int
	}{
		{42, 0, 2},
		{42, 64, 64},
		{-7, 16384, 16384},
		{1234567, 5, 7},
		{1234567, 7, 7},
		{1234567, 8, 8},
		{1234567, 10, 10},
	} {
		b := encode(tc.v, tc.size)
		if len(b) != tc.wantLen {
			t.Errorf("encode(%d, %d) is %d bytes, want %d", tc.v, tc.size, len(b), tc.wantLen)
		}
		if got, err := decode(b); err != nil || got != tc.v {
			t.Errorf("decode(encode(%d, %d)) = %d, %v", tc.v, tc.size, got, err)
		}
	}
	for _, bad := range []string{"", " 42", "4x2 ...", "x"} {
		if v, err := decode([]byte(bad)); err == nil {
			t.Errorf("decode(%q) = %d, want an error", bad, v)
		}
	}
}

func TestParseMsgBytes(t *testing.T) {
	for _, tc := range []struct {
		settings map[string]string
		want     int
		wantErr  string
	}{
		{nil, 0, ""},
		{map[string]string{"sync_interval": "always"}, 0, ""},
		{map[string]string{"msg_bytes": "16384"}, 16384, ""},
		{map[string]string{"msg_bytes": "0"}, 0, "nats: msg_bytes=0: use a whole number of bytes from 64 to 1048576"},
	} {
		got, err := parseMsgBytes(tc.settings)
		if got != tc.want || (tc.wantErr == "") != (err == nil) || err != nil && err.Error() != tc.wantErr {
			t.Errorf("parseMsgBytes(%v) = %d, %v; want %d, %q", tc.settings, got, err, tc.want, tc.wantErr)
		}
	}
}

// placingJS answers CreateStream with the errors in answers, one per
// call, then with success.
type placingJS struct {
	jetstream.JetStream
	answers []error
	calls   int
}

func (p *placingJS) CreateStream(context.Context, jetstream.StreamConfig) (jetstream.Stream, error) {
	p.calls++
	if p.calls <= len(p.answers) {
		return nil, p.answers[p.calls-1]
	}
	return nil, nil
}

// TestCreateQueueWaitsForPlacement: a stream JetStream cannot place yet
// is asked for again; any other error is returned at once.
func TestCreateQueueWaitsForPlacement(t *testing.T) {
	noPeers := &jetstream.APIError{Code: 400, ErrorCode: noPeersForPlacement, Description: "no suitable peers for placement, peer offline"}
	for _, tc := range []struct {
		name    string
		answers []error
		calls   int
		fails   bool
	}{
		{"placed at once", nil, 1, false},
		{"placed on the third ask", []error{noPeers, noPeers}, 3, false},
		{"another error", []error{&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeBadRequest}}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := &placingJS{answers: tc.answers}
			c := &client{js: js, replicas: 3}
			err := c.CreateQueue(context.Background())
			if (err != nil) != tc.fails || js.calls != tc.calls {
				t.Errorf("CreateQueue: %v after %d calls; want an error %v after %d", err, js.calls, tc.fails, tc.calls)
			}
		})
	}
}
