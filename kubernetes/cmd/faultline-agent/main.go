// Command faultline-agent supervises a node's process inside a pod of the
// Kubernetes runtime: it starts, kills, pauses and resumes it on request,
// so that a killed node stays down, with its disk and address, until the
// nemesis restarts it. See package agent.
package main

import (
	"os"

	"github.com/faultline/faultline/kubernetes/agent"
)

func main() { os.Exit(agent.Main(os.Args, os.Stdout, os.Stderr)) }
