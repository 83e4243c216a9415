package sut

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/faultline/faultline/workload"
)

// NewClient implements System: a clientv3 client bound to cfg.Home alone,
// as Jepsen's etcd client is bound to its node (etcd forwards writes to the
// leader itself); without a Home, to every member. Reads are linearizable
// unless cfg.Options.ReadMode is EtcdReadSerializable. The whole request's context
// bounds it: a bound client has no other member to retry on, so
// cfg.AttemptTimeout does not apply.
func (Etcd) NewClient(_ context.Context, cfg ClientConfig) (Client, error) {
	var endpoints []string
	if cfg.Home != "" {
		a, ok := cfg.Addrs[cfg.Home]
		if !ok {
			return nil, fmt.Errorf("etcd: home node %q has no client address: use one of %v", cfg.Home, slices.Sorted(maps.Keys(cfg.Addrs)))
		}
		endpoints = []string{"http://" + a}
	} else {
		for _, id := range slices.Sorted(maps.Keys(cfg.Addrs)) {
			endpoints = append(endpoints, "http://"+cfg.Addrs[id])
		}
	}
	if len(endpoints) == 0 {
		return nil, errors.New("etcd: no member addresses: set ClientConfig.Addrs")
	}
	// DialTimeout 0: connect lazily, so that a client of a member that is
	// down can still be made (its requests fail as info until it is back).
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd: client for %v: %w", endpoints, err)
	}
	ec := &etcdClient{c: c, node: cfg.Home}
	if cfg.Options.ReadMode == EtcdReadSerializable {
		ec.readOpts = []clientv3.OpOption{clientv3.WithSerializable()}
	}
	return ec, nil
}

// etcdClient implements workload.KV on etcd:
//
//   - Get is a Get, Put a Put; CAS is a Txn comparing the value;
//   - a Txn without appends (and writing each key once) is one etcd Txn:
//     compares in If, reads and writes in Then, in order (etcd's reads
//     see the transaction's own writes);
//   - a Txn with appends reads every key it reads, appends to or compares
//     in one Txn, computes the new lists and read results, then commits
//     one Txn guarded on each of those keys' mod revision, as Jepsen's
//     etcd append workload does: a changed key fails the guard, a definite
//     failure;
//   - Append is such a Txn, retried after a failed guard (nothing was
//     applied) until its context ends.
//
// Lists are stored as the concatenation of uvarint-length-prefixed
// elements.
type etcdClient struct {
	c        *clientv3.Client
	node     string
	readOpts []clientv3.OpOption // WithSerializable in the unsafe read mode
}

var (
	_ Client                = (*etcdClient)(nil)
	_ workload.NodeReporter = (*etcdClient)(nil)
)

// LastNode implements workload.NodeReporter: the member the client is
// bound to ("" when it is not).
func (c *etcdClient) LastNode() string { return c.node }

// Close implements Client.
func (c *etcdClient) Close() error { return c.c.Close() }

// Get implements workload.KV.
func (c *etcdClient) Get(ctx context.Context, key string) ([]byte, bool, error) {
	resp, err := c.c.Get(ctx, key, c.readOpts...)
	if err != nil {
		return nil, false, etcdErr(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, false, nil
	}
	return resp.Kvs[0].Value, true, nil
}

// Put implements workload.KV.
func (c *etcdClient) Put(ctx context.Context, key string, value []byte) error {
	_, err := c.c.Put(ctx, key, string(value))
	return etcdErr(err)
}

// CAS implements workload.KV.
func (c *etcdClient) CAS(ctx context.Context, key string, expected, value []byte) error {
	resp, err := c.c.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(key), "=", string(expected))).
		Then(clientv3.OpPut(key, string(value))).
		Commit()
	if err != nil {
		return etcdErr(err)
	}
	if !resp.Succeeded {
		return &etcdError{err: fmt.Errorf("cas: %s does not hold the expected value (or is missing)", key), definite: true}
	}
	return nil
}

// Append implements workload.KV.
func (c *etcdClient) Append(ctx context.Context, key string, elem []byte) error {
	op := []workload.MicroOp{{Kind: workload.MicroAppend, Key: key, Value: elem}}
	for {
		_, err := c.guardedTxn(ctx, op)
		if !errors.Is(err, errGuard) {
			return err
		}
		// Another append won the race; retry after a short random pause
		// so that contending clients spread out.
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(rand.Int64N(int64(5 * time.Millisecond)))):
		}
	}
}

// Txn implements workload.KV.
func (c *etcdClient) Txn(ctx context.Context, ops []workload.MicroOp) ([]workload.MicroResult, error) {
	written := map[string]bool{}
	for _, o := range ops {
		switch o.Kind {
		case workload.MicroRead, workload.MicroReadList, workload.MicroCompare:
		case workload.MicroWrite:
			if written[o.Key] {
				return c.guardedTxn(ctx, ops) // etcd refuses two puts of a key in one Txn
			}
			written[o.Key] = true
		case workload.MicroAppend:
			return c.guardedTxn(ctx, ops)
		default:
			return nil, &workload.DefiniteError{Reason: fmt.Sprintf("etcd: unknown micro-op kind %d", o.Kind)}
		}
	}
	return c.directTxn(ctx, ops, len(written) == 0)
}

// directTxn runs ops as one etcd Txn; readOnly Txns read in the client's
// read mode.
func (c *etcdClient) directTxn(ctx context.Context, ops []workload.MicroOp, readOnly bool) ([]workload.MicroResult, error) {
	var cmps []clientv3.Cmp
	var then []clientv3.Op
	var readOpts []clientv3.OpOption
	if readOnly {
		readOpts = c.readOpts
	}
	for _, o := range ops {
		switch o.Kind {
		case workload.MicroCompare:
			if o.Absent {
				cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(o.Key), "=", 0))
			} else {
				cmps = append(cmps, clientv3.Compare(clientv3.Value(o.Key), "=", string(o.Value)))
			}
		case workload.MicroRead, workload.MicroReadList:
			then = append(then, clientv3.OpGet(o.Key, readOpts...))
		case workload.MicroWrite:
			then = append(then, clientv3.OpPut(o.Key, string(o.Value)))
		}
	}
	resp, err := c.c.Txn(ctx).If(cmps...).Then(then...).Commit()
	if err != nil {
		return nil, etcdErr(err)
	}
	if !resp.Succeeded {
		return nil, &etcdError{err: errors.New("txn: a compare failed; nothing applied"), definite: true}
	}
	if len(resp.Responses) != len(then) {
		return nil, fmt.Errorf("etcd: txn: %d responses for %d operations", len(resp.Responses), len(then))
	}
	res := make([]workload.MicroResult, len(ops))
	i := 0
	for j, o := range ops {
		if o.Kind == workload.MicroCompare {
			continue
		}
		if o.Kind == workload.MicroRead || o.Kind == workload.MicroReadList {
			if rr := resp.Responses[i].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
				if res[j], err = readResult(o, rr.Kvs[0].Value); err != nil {
					return nil, err
				}
			}
		}
		i++
	}
	return res, nil
}

// readResult is the result of read o of a stored value.
func readResult(o workload.MicroOp, v []byte) (workload.MicroResult, error) {
	if o.Kind != workload.MicroReadList {
		return workload.MicroResult{Value: v, Found: true}, nil
	}
	l, err := decodeEtcdList(v)
	if err != nil {
		return workload.MicroResult{}, &etcdError{err: fmt.Errorf("list at %s: %w", o.Key, err)}
	}
	return workload.MicroResult{List: l, Found: true}, nil
}

// errGuard is the failure of a guarded Txn's mod-revision guard.
var errGuard = errors.New("txn: a key changed since it was read (mod revision guard failed); nothing applied")

// etcdValue is a key's state as the read phase of a guarded Txn saw it.
type etcdValue struct {
	value  []byte
	found  bool
	modRev int64 // 0 for a missing key
}

// guardedTxn reads every key that ops read, append to or compare, then
// commits the writes in one Txn guarded on those keys' mod revisions, so
// the whole Txn takes effect at the commit, as if it had read there.
func (c *etcdClient) guardedTxn(ctx context.Context, ops []workload.MicroOp) ([]workload.MicroResult, error) {
	var keys []string
	for _, o := range ops {
		if o.Kind != workload.MicroWrite && !slices.Contains(keys, o.Key) {
			keys = append(keys, o.Key)
		}
	}
	reads := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		reads[i] = clientv3.OpGet(k, c.readOpts...)
	}
	resp, err := c.c.Txn(ctx).Then(reads...).Commit()
	if err != nil {
		return nil, etcdErr(err)
	}
	if len(resp.Responses) != len(keys) {
		return nil, fmt.Errorf("etcd: read phase: %d responses for %d keys", len(resp.Responses), len(keys))
	}
	seen := make(map[string]etcdValue, len(keys))
	guards := make([]clientv3.Cmp, len(keys))
	for i, k := range keys {
		var v etcdValue
		if rr := resp.Responses[i].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
			v = etcdValue{value: rr.Kvs[0].Value, found: true, modRev: rr.Kvs[0].ModRevision}
		}
		seen[k] = v
		guards[i] = clientv3.Compare(clientv3.ModRevision(k), "=", v.modRev)
	}
	res, puts, err := applyLocally(ops, seen)
	if err != nil {
		return nil, err
	}
	wresp, err := c.c.Txn(ctx).If(guards...).Then(puts...).Commit()
	if err != nil {
		return nil, etcdErr(err)
	}
	if !wresp.Succeeded {
		return nil, &etcdError{err: errGuard, definite: true}
	}
	return res, nil
}

// applyLocally plays ops over the state the read phase saw: compares
// against it, reads see earlier writes and appends. It returns the
// results and one put per written key, in the order keys were first
// written.
func applyLocally(ops []workload.MicroOp, seen map[string]etcdValue) ([]workload.MicroResult, []clientv3.Op, error) {
	for _, o := range ops {
		if o.Kind != workload.MicroCompare {
			continue
		}
		v := seen[o.Key]
		if o.Absent == v.found || (!o.Absent && string(v.value) != string(o.Value)) {
			return nil, nil, &etcdError{err: fmt.Errorf("txn: compare on %s failed; nothing applied", o.Key), definite: true}
		}
	}
	state := make(map[string]etcdValue, len(seen))
	maps.Copy(state, seen)
	var order []string
	res := make([]workload.MicroResult, len(ops))
	for i, o := range ops {
		v := state[o.Key]
		switch o.Kind {
		case workload.MicroRead, workload.MicroReadList:
			if v.found {
				r, err := readResult(o, v.value)
				if err != nil {
					return nil, nil, err
				}
				res[i] = r
			}
			continue
		case workload.MicroWrite:
			v.value = o.Value
		case workload.MicroAppend:
			v.value = appendEtcdList(v.value, o.Value)
		default:
			continue
		}
		v.found = true
		state[o.Key] = v
		if !slices.Contains(order, o.Key) {
			order = append(order, o.Key)
		}
	}
	puts := make([]clientv3.Op, len(order))
	for i, k := range order {
		puts[i] = clientv3.OpPut(k, string(state[k].value))
	}
	return res, puts, nil
}

// appendEtcdList appends elem to an encoded list (a new slice).
func appendEtcdList(list, elem []byte) []byte {
	out := make([]byte, 0, len(list)+binary.MaxVarintLen64+len(elem))
	out = append(out, list...)
	out = binary.AppendUvarint(out, uint64(len(elem)))
	return append(out, elem...)
}

// decodeEtcdList splits an encoded list into its elements. Each length
// must be in its shortest varint form, the only one appendEtcdList writes:
// a longer one (80 00 for 0) would let two encodings read as one list.
func decodeEtcdList(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n || w != len(binary.AppendUvarint(nil, n)) {
			return nil, fmt.Errorf("malformed list encoding after %d elements", len(out))
		}
		out = append(out, b[w:w+int(n)])
		b = b[w+int(n):]
	}
	return out, nil
}

// etcdError is an etcd client error classified the Jepsen way: definite
// (the request certainly did not apply: Jepsen's fail) or not (info).
type etcdError struct {
	err      error
	definite bool
}

func (e *etcdError) Error() string  { return "etcd: " + e.err.Error() }
func (e *etcdError) Unwrap() error  { return e.err }
func (e *etcdError) Definite() bool { return e.definite }

// etcdErr classifies an error of the etcd client, following Jepsen's etcd
// client: timeouts, deadlines, cancellations and unavailability
// ("etcdserver: request timed out", "leader changed", "no leader", lost
// connections) may have applied: info. Errors with which etcd refuses a
// request before applying it (a compacted or future revision, too many
// requests, no space, a duplicate key, any other invalid argument or
// failed precondition) are definite: fail.
func etcdErr(err error) error {
	if err == nil {
		return nil
	}
	return &etcdError{err: err, definite: definiteCode(grpcCode(err))}
}

// grpcCode is the gRPC code of an etcd client error, codes.Unknown for an
// error that carries none (e.g. a context's).
func grpcCode(err error) codes.Code {
	if errors.Is(err, context.DeadlineExceeded) {
		return codes.DeadlineExceeded
	}
	if errors.Is(err, context.Canceled) {
		return codes.Canceled
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code()
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return codes.Unknown
}

// definiteCode reports whether etcd answers with code only for requests
// it did not apply.
func definiteCode(c codes.Code) bool {
	switch c {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.ResourceExhausted,
		codes.NotFound, codes.AlreadyExists, codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented:
		return true
	}
	// Unavailable, DeadlineExceeded, Canceled, Unknown, Internal, Aborted,
	// DataLoss: the request may have been applied.
	return false
}
