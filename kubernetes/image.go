package kubernetes

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/kubernetes/agent"
)

// ImageLoaderExtension names the kubeconfig cluster extension that tells
// how to put a local Docker image onto the cluster's nodes, for clusters
// without a registry. Its value is {"command": ["prog", "arg", ...]}; the
// runtime runs the command with the image names appended. k8s/cluster.sh
// writes it into the local cluster's kubeconfig (`cluster.sh import`).
const ImageLoaderExtension = "faultline.dev/image-loader"

// AgentImageRepo is the repository of the agent image's tags.
const AgentImageRepo = "faultline-agent"

// imageSet is what the pods run: the images and how the kubelet gets them.
// Loaded images are never pulled: a cluster without a registry must not
// try one (and reach out of the machine) when an image is missing.
type imageSet struct {
	node, agent string
	pull        corev1.PullPolicy
}

// loadKubeconfig reads a kubeconfig the way kubectl does (explicit file,
// else $KUBECONFIG, else ~/.kube/config) and returns the client config and
// the cluster's image loader command, if it names one.
func loadKubeconfig(file, context string) (*rest.Config, []string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if file != "" {
		rules.ExplicitPath = file
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	restCfg, err := cc.ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes: kubeconfig %s: %w (pass --kubeconfig FILE, or set KUBECONFIG)", orDefault(file, "(default rules)"), err)
	}
	// The streams of exec and port-forward are long-lived; a client-side
	// rate limit would delay nemesis operations under load.
	restCfg.QPS, restCfg.Burst = 100, 200
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes: kubeconfig: %w", err)
	}
	ctxName := raw.CurrentContext
	if context != "" {
		ctxName = context
	}
	var loader []string
	if kctx := raw.Contexts[ctxName]; kctx != nil {
		if cl := raw.Clusters[kctx.Cluster]; cl != nil {
			if loader, err = imageLoader(cl.Extensions[ImageLoaderExtension]); err != nil {
				return nil, nil, fmt.Errorf("kubernetes: kubeconfig cluster %s: extension %s: %w", kctx.Cluster, ImageLoaderExtension, err)
			}
		}
	}
	return restCfg, loader, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// imageLoader decodes the loader extension's command (nil when absent).
func imageLoader(ext runtime.Object) ([]string, error) {
	if ext == nil {
		return nil, nil
	}
	u, ok := ext.(*runtime.Unknown)
	if !ok {
		return nil, fmt.Errorf("unexpected type %T", ext)
	}
	var v struct {
		Command []string `json:"command"`
	}
	if err := json.Unmarshal(u.Raw, &v); err != nil {
		return nil, err
	}
	if len(v.Command) == 0 {
		return nil, fmt.Errorf("no command in %s", u.Raw)
	}
	return v.Command, nil
}

// prepareImages builds the images cfg leaves empty (on the local Docker
// engine) and loads them onto the cluster's nodes when it can.
func prepareImages(ctx context.Context, cfg *Config, loader []string) (imageSet, error) {
	var err error
	im := imageSet{node: cfg.Image, agent: cfg.AgentImage, pull: corev1.PullIfNotPresent}
	if im.node == "" {
		b := cfg.Build
		if b.Logger == nil {
			b.Logger = cfg.Logger
		}
		if im.node, err = docker.BuildImage(ctx, b); err != nil {
			return im, fmt.Errorf("kubernetes: node image: %w", err)
		}
	}
	if im.agent == "" {
		if im.agent, err = BuildAgentImage(ctx, cfg.Build); err != nil {
			return im, err
		}
	}
	load := cfg.LoadImages
	if load == nil && loader != nil {
		load = func(ctx context.Context, images ...string) error {
			cmd := exec.CommandContext(ctx, loader[0], append(loader[1:], images...)...)
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
			}
			return nil
		}
	}
	if load != nil {
		cfg.Logger.Info("kubernetes: loading images onto the cluster's nodes", "node", im.node, "agent", im.agent)
		if err := load(ctx, im.node, im.agent); err != nil {
			return im, fmt.Errorf("kubernetes: load images: %w", err)
		}
		im.pull = corev1.PullNever
	}
	return im, nil
}

// BuildAgentImage builds the agent image (FROM scratch, the static
// faultline-agent binary at agent.ImagePath) on the local Docker engine,
// from the module b.ModuleDir names (default: the one around the working
// directory), and returns its tag, faultline-agent:<content hash>. An
// existing tag is not rebuilt.
func BuildAgentImage(ctx context.Context, b docker.BuildConfig) (string, error) {
	dir, err := os.MkdirTemp("", "faultline-agent-image-")
	if err != nil {
		return "", fmt.Errorf("kubernetes: agent image: %w", err)
	}
	defer os.RemoveAll(dir)
	gobin := orDefault(b.GoBin, "go")
	if b.ModuleDir == "" {
		// The module around the working directory (tests run in their
		// package's directory).
		out, err := exec.CommandContext(ctx, gobin, "env", "GOMOD").Output()
		if gomod := strings.TrimSpace(string(out)); err == nil && gomod != "" && gomod != os.DevNull {
			b.ModuleDir = filepath.Dir(gomod)
		}
	}
	build := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "faultline-agent"), agentPackage)
	build.Dir = b.ModuleDir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("kubernetes: agent image: go build %s: %w\n%s\n(run from the faultline repository, or set BuildConfig.ModuleDir)", agentPackage, err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "faultline-agent"))
	if err != nil {
		return "", fmt.Errorf("kubernetes: agent image: %w", err)
	}
	sum := sha256.Sum256(append(slices.Clone(agentDockerfile), bin...))
	tag := AgentImageRepo + ":" + hex.EncodeToString(sum[:])[:12]
	docker.SetEnvDefaults()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return "", fmt.Errorf("kubernetes: agent image: connect to the Docker engine: %w", err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return tag, nil
	}
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	for _, f := range []struct {
		name string
		body []byte
		mode int64
	}{{"Dockerfile", agentDockerfile, 0o644}, {"faultline-agent", bin, 0o755}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		tw.Write(f.body)
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("kubernetes: agent image: build context: %w", err)
	}
	resp, err := cli.ImageBuild(ctx, &tarball, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return "", fmt.Errorf("kubernetes: agent image: docker build: %w", err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := cli.ImageInspect(ctx, tag); err != nil {
		return "", fmt.Errorf("kubernetes: agent image: docker build %s failed: %s", tag, out)
	}
	return tag, nil
}

// agentPackage is the agent's main package in the faultline module.
const agentPackage = "./kubernetes/cmd/faultline-agent"

// agentDockerfile is the agent image: one static binary.
var agentDockerfile = []byte("FROM scratch\nCOPY faultline-agent " + agent.ImagePath + "\nENTRYPOINT [\"" + agent.ImagePath + "\"]\n")
