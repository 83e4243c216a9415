package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/faultline/faultline/cluster"
)

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
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: cluster.LabelFaultline + "=1"})
	if err != nil {
		return fmt.Errorf("list faultline namespaces: %w", err)
	}
	var errs []error
	for _, ns := range list.Items {
		if ns.DeletionTimestamp != nil || cluster.OwnerAlive(ns.Labels, ns.CreationTimestamp.Time) {
			continue
		}
		log.Info("kubernetes: reaping the namespace of a dead run", "namespace", ns.Name, "pid", ns.Labels[cluster.LabelPID])
		if err := deleteNamespace(ctx, cs, ns.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
