package sut

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// ErrNoLeader is wrapped by AgreedLeader's error when no leader is agreed
// on.
var ErrNoLeader = errors.New("no leader agreed by a majority")

// AgreedLeader picks the node (by node id) whose status ID a majority of
// n nodes name as their leader; the leader itself must be among sts and
// name itself. sts maps node ids to the probes that answered (status IDs
// are the system's own, e.g. etcd's member ids); errs maps the others to
// why not, for the error, which wraps ErrNoLeader and says what each node
// answered. A runtime calls it with its probes of the running nodes, so
// paused, killed and unreachable nodes do not vote.
func AgreedLeader(n int, sts map[string]Status, errs map[string]error) (string, error) {
	votes := map[string]int{}
	for _, st := range sts {
		if st.Leader != "" {
			votes[st.Leader]++
		}
	}
	for node, st := range sts {
		if st.ID != "" && st.Leader == st.ID && votes[st.ID] > n/2 {
			return node, nil
		}
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(sts)) {
		parts = append(parts, fmt.Sprintf("%s: %s id=%q leader=%q term=%d", id, sts[id].State, sts[id].ID, sts[id].Leader, sts[id].Term))
	}
	for _, id := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s: %v", id, errs[id]))
	}
	return "", fmt.Errorf("%w (%d nodes; %s)", ErrNoLeader, n, strings.Join(parts, "; "))
}

// Healthy is one round of a runtime's WaitHealthy: nil when every node of
// ids answered its probe (sts; errs holds why the others did not) and all
// of them name the leader a majority agreed on.
func Healthy(ids []string, sts map[string]Status, errs map[string]error) error {
	if len(errs) > 0 {
		var all []error
		for _, id := range slices.Sorted(maps.Keys(errs)) {
			all = append(all, errs[id])
		}
		return errors.Join(all...)
	}
	leader, err := AgreedLeader(len(ids), sts, errs)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if sts[id].Leader != sts[leader].ID {
			return fmt.Errorf("node %s names leader %q, the majority %q (node %s)", id, sts[id].Leader, sts[leader].ID, leader)
		}
	}
	return nil
}

// ProbeAll probes the nodes of ids concurrently, for AgreedLeader and
// Healthy. down says why a node cannot answer (it is not running), or nil;
// such nodes are not probed. Nodes that answered are in the status map,
// the others' errors in the error map.
func ProbeAll(ctx context.Context, ids []string, down func(id string) error, probe func(ctx context.Context, id string) (Status, error)) (map[string]Status, map[string]error) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		sts  = map[string]Status{}
		errs = map[string]error{}
	)
	for _, id := range ids {
		if err := down(id); err != nil {
			errs[id] = err
			continue
		}
		wg.Go(func() {
			st, err := probe(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[id] = err
			} else {
				sts[id] = st
			}
		})
	}
	wg.Wait()
	return sts, errs
}
