// Command faultline-image builds the faultline node image (FROM scratch +
// kvnode + netctl) and prints its tag; `make image` runs it.
//
//	faultline-image [-force] [-reap] [-prune]
//
// -force rebuilds without the layer cache even when the tag exists; -reap
// first removes containers and networks left by dead faultline runs;
// -prune then removes older faultline-node images no container uses.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/faultline/faultline/docker"
)

func main() {
	force := flag.Bool("force", false, "rebuild without the layer cache even when the image exists")
	reap := flag.Bool("reap", false, "first remove containers and networks left by dead faultline runs")
	prune := flag.Bool("prune", false, "afterwards remove older faultline-node images that no container uses")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: faultline-image [-force] [-reap] [-prune]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *reap {
		if err := docker.Reap(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "faultline-image:", err)
			os.Exit(1)
		}
	}
	cfg := docker.DefaultBuildConfig()
	cfg.Force = *force
	tag, err := docker.BuildImage(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultline-image:", err)
		os.Exit(1)
	}
	fmt.Println(tag)
	if *prune {
		removed, err := docker.PruneImages(ctx, tag)
		for _, r := range removed {
			fmt.Fprintln(os.Stderr, "removed", r)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "faultline-image:", err)
			os.Exit(1)
		}
	}
}
