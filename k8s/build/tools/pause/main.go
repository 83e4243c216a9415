// Command pause is the pod sandbox ("infra") container of the local
// Kubernetes: no registry is reachable, so registry.k8s.io/pause cannot be
// pulled and this stands in for it. It holds the pod's namespaces, reaps
// orphans as the pod's PID 1 (pods that share a process namespace), and
// exits on SIGINT or SIGTERM.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
