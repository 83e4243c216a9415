package nats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/workload"
)

// client is one worker's connection to its home node only (no other
// server of the cluster is dialled, so a drain reads through that node),
// as a workload.Queue. Its key-value operations are refused: the run's
// workload must be queue (Info.Workloads).
type client struct {
	nc       *natsgo.Conn
	js       jetstream.JetStream
	home     string
	replicas int
	msgBytes int // each published message's size (msg_bytes); 0: the value alone

	mu   sync.Mutex
	last string
}

var (
	_ workload.Queue        = (*client)(nil)
	_ workload.NodeReporter = (*client)(nil)
)

// NewClient implements sut.System: a connection to cfg.Home (or the
// first node), reconnecting to it alone for ever.
func (System) NewClient(_ context.Context, cfg sut.ClientConfig) (sut.Client, error) {
	home := cfg.Home
	if home == "" {
		for id := range cfg.Addrs {
			if home == "" || id < home {
				home = id
			}
		}
	}
	msgBytes, err := parseMsgBytes(cfg.Options.Settings)
	if err != nil {
		return nil, err
	}
	addr, ok := cfg.Addrs[home]
	if !ok {
		return nil, fmt.Errorf("nats: no client address for node %q (have %d nodes)", home, len(cfg.Addrs))
	}
	timeout := cfg.AttemptTimeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	nc, err := natsgo.Connect("nats://"+addr,
		natsgo.Name("faultline-"+home),
		natsgo.DontRandomize(),
		natsgo.IgnoreDiscoveredServers(),
		natsgo.RetryOnFailedConnect(true),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(100*time.Millisecond),
		natsgo.Timeout(timeout),
	)
	if err != nil {
		return nil, fmt.Errorf("nats: connect to %s (%s): %w", home, addr, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	return &client{nc: nc, js: js, home: home, replicas: len(cfg.Addrs), msgBytes: msgBytes, last: home}, nil
}

// LastNode implements workload.NodeReporter: always the home node.
func (c *client) LastNode() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Close implements sut.Client.
func (c *client) Close() error {
	c.nc.Close()
	return nil
}

// noPeersForPlacement is JetStream's answer to a stream it cannot place
// yet: "no suitable peers for placement, peer offline". Right after the
// cluster came up, the meta leader may not count every peer yet.
const noPeersForPlacement jetstream.ErrorCode = 10005

// CreateQueue implements workload.Queue: the stream, with a replica on
// every node and file storage (creating an identical stream again is a
// no-op). A stream that cannot be placed yet is asked for again, until
// ctx ends.
func (c *client) CreateQueue(ctx context.Context) error {
	for {
		_, err := c.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:     Stream,
			Subjects: []string{Subject},
			Storage:  jetstream.FileStorage,
			Replicas: c.replicas,
		})
		if err == nil {
			return nil
		}
		var api *jetstream.APIError
		if errors.As(err, &api) && api.ErrorCode == noPeersForPlacement {
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
				continue
			}
		}
		return fmt.Errorf("nats: create stream %s (replicas %d): %w", Stream, c.replicas, err)
	}
}

// Enqueue implements workload.Queue: a synchronous publish. A PubAck is
// ok; no responders or a JetStream error answer (e.g. 503 unavailable)
// mean it was not stored (fail); a timeout or a lost connection may
// have stored it (info).
func (c *client) Enqueue(ctx context.Context, v int64) error {
	_, err := c.js.Publish(ctx, Subject, encode(v, c.msgBytes))
	return classify(err)
}

// The msg_bytes setting: Jepsen's runs publish hundreds of thousands of
// small messages, which span many of the stream's 8 MB message blocks
// (nats-server's block size for a stream of limits retention); a run
// here publishes a few thousand, which fit in one. Padding each message
// gives a run as many blocks as a long one has, which is what a bit
// flipped in a block other than the last needs in order to cost the
// middle of the stream. It changes the messages' size only: what the
// checker reads is the value.
const (
	msgBytesName = "msg_bytes"
	minMsgBytes  = 64
	maxMsgBytes  = 1 << 20 // NATS's default max_payload
)

var msgBytesSetting = sut.Setting{
	Name: msgBytesName,
	Doc: fmt.Sprintf("the client's, not the server's: pads each published message to this many bytes (the value's decimal text, a space, then filler), "+
		"so that a short run's stream spans many 8 MB message blocks as a long run's does; %d to %d; unset: the value alone", minMsgBytes, maxMsgBytes),
	Check: func(v string) error { _, err := msgBytes(v); return err },
}

// msgBytes parses a msg_bytes value.
func msgBytes(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < minMsgBytes || n > maxMsgBytes {
		return 0, fmt.Errorf("use a whole number of bytes from %d to %d", minMsgBytes, maxMsgBytes)
	}
	return n, nil
}

// parseMsgBytes is the run's msg_bytes: 0 when unset.
func parseMsgBytes(settings map[string]string) (int, error) {
	v, ok := settings[msgBytesName]
	if !ok {
		return 0, nil
	}
	n, err := msgBytes(v)
	if err != nil {
		return 0, fmt.Errorf("nats: %s=%s: %w", msgBytesName, v, err)
	}
	return n, nil
}

// padding is the filler after a padded value's separator.
const padding = '.'

// encode is v's message: its decimal text, then, when size is longer,
// a space and filler up to size bytes.
func encode(v int64, size int) []byte {
	b := strconv.AppendInt(make([]byte, 0, max(size, 20)), v, 10)
	if len(b) >= size {
		return b
	}
	b = append(b, ' ')
	for len(b) < size {
		b = append(b, padding)
	}
	return b
}

// decode is the value of a message encode made.
func decode(data []byte) (int64, error) {
	text, _, _ := bytes.Cut(data, []byte{' '})
	v, err := strconv.ParseInt(string(text), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("nats: message %.40q is not a value: %w", data, err)
	}
	return v, nil
}

// classify maps a publish error onto the workloads' contract.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, natsgo.ErrNoResponders) {
		return &definite{err}
	}
	var jerr jetstream.JetStreamError
	if errors.As(err, &jerr) && jerr.APIError() != nil {
		return &definite{err}
	}
	return err
}

// definite is an error that certainly did not publish.
type definite struct{ err error }

func (e *definite) Error() string  { return "nats: not published: " + e.err.Error() }
func (e *definite) Unwrap() error  { return e.err }
func (e *definite) Definite() bool { return true }

// fetchBatch is how many messages a drain fetches at a time.
const fetchBatch = 1000

// Drain implements workload.Queue: an ordered consumer from the first
// message, fetched through the home node until it has read the last
// message the stream held when the drain began.
func (c *client) Drain(ctx context.Context) ([]int64, error) {
	s, err := c.js.Stream(ctx, Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, workload.ErrQueueGone
	}
	if err != nil {
		return nil, fmt.Errorf("nats: stream info: %w", err)
	}
	last := s.CachedInfo().State.LastSeq
	out := []int64{}
	if s.CachedInfo().State.Msgs == 0 {
		return out, nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("nats: ordered consumer: %w", err)
	}
	for {
		wait := 2 * time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = max(min(wait, time.Until(d)), 100*time.Millisecond)
		}
		batch, err := cons.Fetch(fetchBatch, jetstream.FetchMaxWait(wait))
		if err != nil {
			return nil, fmt.Errorf("nats: fetch: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			v, err := decode(m.Data())
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			md, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("nats: message metadata: %w", err)
			}
			if md.Sequence.Stream >= last || md.NumPending == 0 {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("nats: fetch after %d messages: %w", len(out), err)
		}
		if n == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("nats: drain after %d messages: %w", len(out), err)
			}
		}
	}
}

// errNotKV refuses the key-value operations.
var errNotKV = &workload.DefiniteError{Reason: "nats is a message stream: run the queue workload"}

func (c *client) Get(context.Context, string) ([]byte, bool, error) { return nil, false, errNotKV }
func (c *client) Put(context.Context, string, []byte) error         { return errNotKV }
func (c *client) CAS(context.Context, string, []byte, []byte) error { return errNotKV }
func (c *client) Append(context.Context, string, []byte) error      { return errNotKV }
func (c *client) Txn(context.Context, []workload.MicroOp) ([]workload.MicroResult, error) {
	return nil, errNotKV
}
