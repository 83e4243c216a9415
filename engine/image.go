package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/faultline/faultline/sut"
)

// Dockerfile is the node image recipe (engine/Dockerfile).
//
//go:embed Dockerfile
var Dockerfile []byte

// ImageRepo is the repository part of node image tags.
const ImageRepo = "faultline-node"

// NetctlPath is netctl's path in every node image (run it with
// Cluster.Exec, as root).
const NetctlPath = sut.BinDir + "/netctl"

// FaultfsPath is faultfs's path in every node image: the power-failure
// filesystem a node's data lives on when a run has disk faults, and the
// tool that corrupts a down node's files.
const FaultfsPath = sut.BinDir + "/faultfs"

// tools are the binaries the runtime adds to every system's image.
var tools = []sut.Binary{
	{Name: "netctl", Module: ".", Package: "./cmd/netctl"},
	{Name: "faultfs", Module: ".", Package: "./cmd/faultfs"},
}

// NodeUID is the numeric user nodes run as inside the image; /data is
// owned by it.
const NodeUID = 65532

// BuildConfig says what to build the node image from.
type BuildConfig struct {
	// System is whose binaries the image holds, beside netctl; nil means
	// sut.Default() (our store).
	System sut.System
	// ModuleDir is the root of the faultline repository (holding the
	// faultline go.mod); systems' modules are found relative to it.
	// Empty: found by walking up from the working directory.
	ModuleDir string
	// GoBin is the go command; default "go".
	GoBin string
	// Options are the system's run options: their Version picks the
	// server release the system's binaries are built at.
	Options sut.Options
	// Force runs the docker build even when the tag exists, without the
	// layer cache (for measuring an uncached build).
	Force bool
	// Logger receives progress lines; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultBuildConfig builds our store's image from the repository around
// the working directory.
func DefaultBuildConfig() BuildConfig {
	return BuildConfig{System: sut.Default()}
}

// binaries are the image's binaries: the system's, netctl and faultfs.
func (b BuildConfig) binaries() []sut.Binary {
	return append(slices.Clone(b.System.Binaries(b.Options)), tools...)
}

// buildMu serializes builds in this process: concurrent Starts share one.
// built memoizes tags by build config: a process builds the image once (a
// later source change needs a new process, or BuildConfig.Force).
var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// BuildImage compiles the system's binaries, netctl and faultfs (CGO_ENABLED=0,
// -trimpath, for linux) into a temporary build context and builds the node
// image from it, tagged faultline-node:<system>-<first 12 hex digits of
// sha256 over the Dockerfile and binaries>. When that tag already exists
// the docker build is skipped. It returns the tag.
func BuildImage(ctx context.Context, cfg BuildConfig) (string, error) {
	SetEnvDefaults()
	buildMu.Lock()
	defer buildMu.Unlock()
	if cfg.System == nil {
		cfg.System = sut.Default()
	}
	cfg.Logger = orDefaultLogger(cfg.Logger)
	name := cfg.System.Info().Name
	key := fmt.Sprint(cfg.ModuleDir, cfg.GoBin, name, cfg.Options.Version)
	if tag, ok := built[key]; ok && !cfg.Force && imageExists(ctx, tag) {
		cfg.Logger.Info("docker: image already built by this process", "tag", tag)
		return tag, nil
	}
	tag, err := Build(ctx, cfg, Image{Repo: ImageRepo, Name: name, Dockerfile: Dockerfile, Binaries: cfg.binaries()})
	if err == nil {
		built[key] = tag
	}
	return tag, err
}

// Image is an image of static Go binaries to Build: each binary is
// compiled into bin/<name> of the build context, beside an empty data/
// directory owned by NodeUID and the Dockerfile.
type Image struct {
	// Repo is the tag's repository; Name, if set, prefixes its version:
	// <Repo>:<Name>-<hash12>, else <Repo>:<hash12>.
	Repo, Name string
	// Dockerfile is the recipe.
	Dockerfile []byte
	// Binaries are built from the faultline repository (cfg.ModuleDir).
	Binaries []sut.Binary
}

// imageExists reports whether tag is present in the engine (it may have
// been pruned since this process built it).
func imageExists(ctx context.Context, tag string) bool {
	cli, err := Client(ctx)
	if err != nil {
		return false
	}
	defer cli.Close()
	_, err = cli.ImageInspect(ctx, tag)
	return err == nil
}

// Build compiles img's binaries (with cfg's module, go command and
// logger; cfg.System is not used) and builds img, tagged by the content
// hash of its Dockerfile and binaries. An existing tag is not rebuilt
// unless cfg.Force. It returns the tag.
func Build(ctx context.Context, cfg BuildConfig, img Image) (string, error) {
	log := orDefaultLogger(cfg.Logger)
	dir, err := os.MkdirTemp("", "faultline-image-")
	if err != nil {
		return "", fmt.Errorf("create build context: %w", err)
	}
	defer os.RemoveAll(dir)

	start := time.Now()
	if err := goBuild(ctx, cfg, img.Binaries, dir, log); err != nil {
		return "", err
	}
	log.Info("docker: binaries built", "image", img.Repo, "name", img.Name, "elapsed", time.Since(start).Round(time.Millisecond))

	files := map[string][]byte{}
	for _, bin := range img.Binaries {
		b, err := os.ReadFile(filepath.Join(dir, bin.Name))
		if err != nil {
			return "", fmt.Errorf("read built %s: %w", bin.Name, err)
		}
		files[bin.Name] = b
	}
	tag := img.Repo + ":" + contentHash(img.Dockerfile, files)
	if img.Name != "" {
		tag = img.Repo + ":" + img.Name + "-" + contentHash(img.Dockerfile, files)
	}

	cli, err := Client(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	if !cfg.Force {
		if _, err := cli.ImageInspect(ctx, tag); err == nil {
			log.Info("docker: image up to date, build skipped", "tag", tag)
			return tag, nil
		} else if !errdefs.IsNotFound(err) {
			return "", fmt.Errorf("inspect image %s: %w", tag, err)
		}
	}

	tarball, err := buildContext(img.Dockerfile, files)
	if err != nil {
		return "", err
	}
	log.Info("docker: building image", "tag", tag, "context_bytes", len(tarball))
	start = time.Now()
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(tarball), client.ImageBuildOptions{
		Tags:        []string{tag},
		Remove:      true,
		ForceRemove: true,
		NoCache:     cfg.Force,
		PullParent:  false,
	})
	if err != nil {
		return "", fmt.Errorf("docker build %s: %w", tag, err)
	}
	defer resp.Body.Close()
	if err := followBuild(resp.Body, log); err != nil {
		return "", fmt.Errorf("docker build %s: %w", tag, err)
	}
	if _, err := cli.ImageInspect(ctx, tag); err != nil {
		return "", fmt.Errorf("docker build %s finished but the image is missing: %w", tag, err)
	}
	log.Info("docker: image built", "tag", tag, "elapsed", time.Since(start).Round(time.Millisecond))
	return tag, nil
}

func orDefaultLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// goBuild compiles every binary of bins into dir/<name>.
func goBuild(ctx context.Context, cfg BuildConfig, bins []sut.Binary, dir string, log *slog.Logger) error {
	root := cfg.ModuleDir
	if root == "" {
		var err error
		if root, err = findModuleDir(); err != nil {
			return err
		}
	}
	gobin := cfg.GoBin
	if gobin == "" {
		gobin = "go"
	}
	// One go command per binary, concurrently: they share the build
	// cache, and the links (most of a cached build) overlap. A module
	// other than faultline's may download its dependencies first (etcd's
	// from the Go module proxy: minutes on a cold cache).
	var g errgroup.Group
	for _, bin := range bins {
		g.Go(func() error {
			mod := filepath.Join(root, bin.Module)
			pkg := bin.Package
			log.Info("docker: go build", "module", bin.Module, "package", pkg, "require", bin.Require)
			args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, bin.Name)}
			if len(bin.Require) > 0 {
				modfile, err := requireModfile(ctx, gobin, mod, bin.Require, log)
				if err != nil {
					return err
				}
				args = append(args, "-modfile="+modfile)
			}
			cmd := exec.CommandContext(ctx, gobin, append(args, pkg)...)
			cmd.Dir = mod
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=-buildvcs=false")
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("go build %s (in %s): %w\n%s\nfix the build error above, then retry", pkg, mod, err, strings.TrimSpace(string(out)))
			}
			return nil
		})
	}
	return g.Wait()
}

// requireModfile returns a go.mod for module dir mod that requires
// exactly requires ("module@version" each), resolved through the Go module
// proxy: a fresh go.mod (the module's path and go line only) and go.sum
// under the user cache directory, filled by `go get` and `go mod tidy`, so
// that a release builds with the dependencies it asks for rather than
// with the newer ones the module pins (etcd 3.5 does not build with
// otelgrpc's newer API). One per module and set of requirements, made
// once: a cold resolve and build of a server takes a minute or more, a
// later build comes from Go's build cache. The module's own go.mod is
// never changed.
func requireModfile(ctx context.Context, gobin, mod string, requires []string, log *slog.Logger) (string, error) {
	require := strings.Join(requires, " ")
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("go build %s with %s: %w", mod, require, err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return fail(fmt.Errorf("no cache directory for its go.mod: %w (set HOME or XDG_CACHE_HOME)", err))
	}
	sum := sha256.Sum256([]byte("fresh\n" + mod + "\n" + require))
	dir := filepath.Join(cache, "faultline", "modfiles", hex.EncodeToString(sum[:])[:16])
	modfile := filepath.Join(dir, "go.mod")
	if _, err := os.Stat(filepath.Join(dir, "resolved")); err == nil {
		return modfile, nil
	}
	orig, err := os.ReadFile(filepath.Join(mod, "go.mod"))
	if err != nil {
		return fail(err)
	}
	var head []string
	for _, l := range strings.Split(string(orig), "\n") {
		if strings.HasPrefix(l, "module ") || strings.HasPrefix(l, "go ") {
			head = append(head, l)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(modfile, []byte(strings.Join(head, "\n\n")+"\n"), 0o644); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), nil, 0o644); err != nil {
		return fail(err)
	}
	log.Info("docker: resolving a release through the Go module proxy (once per version)", "module", mod, "require", require)
	for _, args := range [][]string{append([]string{"get", "-modfile=" + modfile}, requires...), {"mod", "tidy", "-modfile=" + modfile}} {
		cmd := exec.CommandContext(ctx, gobin, args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go %s (for %s): %w\n%s\ncheck that the version is a release the Go module proxy serves", strings.Join(args[:2], " "), mod, err, strings.TrimSpace(string(out)))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "resolved"), []byte(require+"\n"), 0o644); err != nil {
		return fail(err)
	}
	return modfile, nil
}

// findModuleDir walks up from the working directory to the directory whose
// go.mod declares the faultline module.
func findModuleDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/faultline/faultline\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no faultline go.mod above %s: set BuildConfig.ModuleDir or run from the repository", dir)
		}
	}
}

// contentHash is the image tag: 12 hex digits of sha256 over the Dockerfile
// and the files, in name order.
func contentHash(dockerfile []byte, files map[string][]byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "Dockerfile %d\n", len(dockerfile))
	h.Write(dockerfile)
	for _, name := range sortedKeys(files) {
		fmt.Fprintf(h, "%s %d\n", name, len(files[name]))
		h.Write(files[name])
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// buildContext is the tar build context: the Dockerfile, the binaries
// under bin/ (mode 0755) and an empty data/ directory owned by NodeUID.
func buildContext(dockerfile []byte, files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	add := func(h *tar.Header, body []byte) error {
		h.ModTime = epoch
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	err := add(&tar.Header{Name: "Dockerfile", Mode: 0o644, Typeflag: tar.TypeReg}, dockerfile)
	if err == nil {
		err = add(&tar.Header{Name: "data/", Mode: 0o755, Typeflag: tar.TypeDir, Uid: NodeUID, Gid: NodeUID}, nil)
	}
	if err == nil {
		err = add(&tar.Header{Name: "bin/", Mode: 0o755, Typeflag: tar.TypeDir}, nil)
	}
	for _, name := range sortedKeys(files) {
		if err != nil {
			break
		}
		err = add(&tar.Header{Name: "bin/" + name, Mode: 0o755, Typeflag: tar.TypeReg}, files[name])
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("write build context: %w", err)
	}
	return buf.Bytes(), nil
}

// followBuild logs the build's progress (one slog line per step) and
// returns the build's error, if any.
func followBuild(r io.Reader, log *slog.Logger) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read build output: %w", err)
		}
		if m.Error != "" || m.ErrorDetail.Message != "" {
			msg := m.ErrorDetail.Message
			if msg == "" {
				msg = m.Error
			}
			return errors.New(msg)
		}
		for _, line := range strings.Split(strings.TrimSpace(m.Stream), "\n") {
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			if strings.HasPrefix(line, "Step ") {
				log.Info("docker build: " + line)
			} else {
				log.Debug("docker build: " + line)
			}
		}
	}
}

func sortedKeys(m map[string][]byte) []string {
	return slices.Sorted(maps.Keys(m))
}
