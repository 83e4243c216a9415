package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/faultline/faultline/docker"
)

// foreignHostMaxAge is how old a namespace created from another host must
// be before it is reaped: its owner's pid cannot be checked from here.
const foreignHostMaxAge = 6 * time.Hour

// ownerLabels say which process owns a run: the same labels as the Docker
// runtime's, so that one look tells whose a leftover is.
func ownerLabels() map[string]string {
	host, _ := os.Hostname()
	return map[string]string{
		docker.LabelFaultline: "1",
		docker.LabelPID:       strconv.Itoa(os.Getpid()),
		docker.LabelPIDStart:  startTicks(os.Getpid()),
		docker.LabelHost:      labelValue(host),
	}
}

// labelValue trims s to a valid label value (63 characters of [A-Za-z0-9._-]).
func labelValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, s)
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "._-")
}

// startTicks is the process's start time in clock ticks since boot
// (/proc/PID/stat field 22), which tells a live owner from a reused pid.
func startTicks(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	_, after, ok := strings.Cut(string(b), ") ")
	if f := strings.Fields(after); ok && len(f) >= 20 {
		return f[19]
	}
	return ""
}

// alive reports whether the namespace's owner may still be running.
func alive(labels map[string]string, created time.Time) bool {
	pid, err := strconv.Atoi(labels[docker.LabelPID])
	if err != nil || pid <= 0 {
		return true // not ours to judge
	}
	host, _ := os.Hostname()
	if labels[docker.LabelHost] != labelValue(host) {
		return time.Since(created) < foreignHostMaxAge
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	want := labels[docker.LabelPIDStart]
	return want == "" || want == startTicks(pid)
}

// Reap deletes the namespaces of runs whose owning process is gone, using
// the kubeconfig (empty: kubectl's rules).
func Reap(ctx context.Context, kubeconfig string) error {
	restCfg, _, err := loadKubeconfig(kubeconfig, "")
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	return reap(ctx, cs, slog.Default())
}

func reap(ctx context.Context, cs kubernetes.Interface, log *slog.Logger) error {
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: docker.LabelFaultline + "=1"})
	if err != nil {
		return fmt.Errorf("list faultline namespaces: %w", err)
	}
	var errs []error
	for _, ns := range list.Items {
		if ns.DeletionTimestamp != nil || alive(ns.Labels, ns.CreationTimestamp.Time) {
			continue
		}
		log.Info("kubernetes: reaping the namespace of a dead run", "namespace", ns.Name, "pid", ns.Labels[docker.LabelPID])
		if err := deleteNamespace(ctx, cs, ns.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
