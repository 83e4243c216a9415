package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/kubernetes/agent"
	"github.com/faultline/faultline/sut"
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
		if im.node, err = engine.BuildImage(ctx, b); err != nil {
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
func BuildAgentImage(ctx context.Context, b engine.BuildConfig) (string, error) {
	tag, err := engine.Build(ctx, b, engine.Image{Repo: AgentImageRepo, Dockerfile: agentDockerfile,
		Binaries: []sut.Binary{{Name: "faultline-agent", Module: ".", Package: agentPackage}}})
	if err != nil {
		return "", fmt.Errorf("kubernetes: agent image: %w", err)
	}
	return tag, nil
}

// agentPackage is the agent's main package in the faultline module.
const agentPackage = "./kubernetes/cmd/faultline-agent"

// agentDockerfile is the agent image: one static binary.
var agentDockerfile = []byte("FROM scratch\nCOPY bin/faultline-agent " + agent.ImagePath + "\nENTRYPOINT [\"" + agent.ImagePath + "\"]\n")
