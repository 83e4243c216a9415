package engine

import (
	"archive/tar"
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/faultline/faultline/sut"
)

func TestBuildContext(t *testing.T) {
	files := map[string][]byte{"kvnode": []byte("K"), "netctl": []byte("N")}
	if len(DefaultBuildConfig().binaries()) != 3 {
		t.Errorf("binaries of the default build: %v, want kvnode, netctl and faultfs", DefaultBuildConfig().binaries())
	}
	b, err := buildContext(Dockerfile, files)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(b))
	seen := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = h
	}
	if h := seen["data/"]; h == nil || h.Typeflag != tar.TypeDir || h.Uid != NodeUID || h.Gid != NodeUID {
		t.Errorf("data/ entry = %+v, want a directory owned by %d", h, NodeUID)
	}
	for _, name := range []string{"bin/kvnode", "bin/netctl"} {
		if h := seen[name]; h == nil || h.Mode != 0o755 {
			t.Errorf("%s entry = %+v, want mode 0755", name, h)
		}
	}
	if seen["Dockerfile"] == nil {
		t.Error("no Dockerfile in the context")
	}
}

func TestDockerfile(t *testing.T) {
	df := string(Dockerfile)
	for _, want := range []string{"FROM scratch", "--chown=65532:65532 data/ /data/", "USER 65532", "COPY bin/ " + sut.BinDir + "/\n"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Contains(df, "\nENTRYPOINT") || !strings.HasPrefix(NetctlPath, sut.BinDir+"/") {
		t.Error("the Dockerfile must leave the command to the system's node spec, and netctl live in sut.BinDir")
	}
	for _, line := range strings.Split(df, "\n") {
		if strings.HasPrefix(line, "FROM ") && line != "FROM scratch" {
			t.Errorf("Dockerfile pulls a base image: %q", line)
		}
	}
}

func TestContentHash(t *testing.T) {
	a := contentHash([]byte("df"), map[string][]byte{"kvnode": []byte("1"), "netctl": []byte("2")})
	b := contentHash([]byte("df"), map[string][]byte{"netctl": []byte("2"), "kvnode": []byte("1")})
	c := contentHash([]byte("df"), map[string][]byte{"kvnode": []byte("1"), "netctl": []byte("3")})
	d := contentHash([]byte("df2"), map[string][]byte{"kvnode": []byte("1"), "netctl": []byte("2")})
	if a != b || len(a) != 12 {
		t.Errorf("hash not stable: %s %s", a, b)
	}
	if a == c || a == d {
		t.Error("hash ignores content")
	}
}

func TestFollowBuild(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ok := `{"stream":"Step 1/2 : FROM scratch\n"}` + "\n" + `{"stream":" ---> abc\n"}`
	if err := followBuild(strings.NewReader(ok), log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "Step 1/2") {
		t.Errorf("progress not logged: %q", logs.String())
	}
	bad := `{"stream":"Step 1/2\n"}{"errorDetail":{"message":"COPY failed: no such file"},"error":"COPY failed"}`
	if err := followBuild(strings.NewReader(bad), log); err == nil || !strings.Contains(err.Error(), "COPY failed: no such file") {
		t.Errorf("followBuild error = %v", err)
	}
}
