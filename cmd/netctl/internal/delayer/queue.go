package delayer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// MaxHeld bounds the packets one queue holds (the kernel's queue length).
// Beyond it, and whenever the delayer cannot keep up, the kernel lets
// packets through undelayed (the queue is fail-open) rather than drop them.
const MaxHeld = 1 << 14

// headerBytes is how much of each packet the kernel copies to the
// delayer: enough for the IPv6 header and the ports.
const headerBytes = 128

// Queue is a bound nfnetlink queue: the packets the kernel hands to it, and
// their verdicts.
type Queue struct {
	nf      *nfqueue.Nfqueue
	packets chan Packet
	cancel  context.CancelFunc

	mu  sync.Mutex
	err error // why the packets channel was closed
}

var _ Acceptor = (*Queue)(nil)

// Open binds nfnetlink queue num in the caller's network namespace. It
// fails when another process is bound to it.
func Open(num uint16, log *slog.Logger) (*Queue, error) {
	nf, err := nfqueue.Open(&nfqueue.Config{
		NfQueue:      num,
		MaxQueueLen:  MaxHeld,
		MaxPacketLen: headerBytes,
		Copymode:     nfqueue.NfQnlCopyPacket,
		// Fail-open: a full queue accepts rather than drops. GSO: the
		// kernel hands over large segments as they are, unsplit.
		Flags:        nfqueue.NfQaCfgFlagFailOpen | nfqueue.NfQaCfgFlagGSO,
		AfFamily:     unix.AF_INET,
		WriteTimeout: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("open nfnetlink queue socket: %w", err)
	}
	// Overruns are survivable (the kernel fails open); keep receiving.
	if err := nf.SetOption(netlink.NoENOBUFS, true); err != nil {
		nf.Close()
		return nil, fmt.Errorf("nfnetlink queue socket: set NETLINK_NO_ENOBUFS: %w", err)
	}
	if err := nf.Con.SetReadBuffer(8 << 20); err != nil {
		log.Warn("delayer: cannot enlarge the queue socket's receive buffer", "err", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{nf: nf, packets: make(chan Packet, 1024), cancel: cancel}
	// Both callbacks run on the library's one receive goroutine, which
	// is the only sender on q.packets.
	hook := func(a nfqueue.Attribute) int {
		if a.PacketID == nil {
			return 0
		}
		p := Packet{ID: *a.PacketID, Arrived: time.Now()}
		if a.Payload != nil {
			p.Flow = FlowOf(*a.Payload)
		}
		select {
		case q.packets <- p:
			return 0
		case <-ctx.Done():
			return 1
		}
	}
	onErr := func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		var op *netlink.OpError
		if errors.As(err, &op) && (op.Timeout() || errors.Is(err, unix.ENOBUFS)) {
			return 0
		}
		q.mu.Lock()
		q.err = fmt.Errorf("receive from nfnetlink queue %d: %w", num, err)
		q.mu.Unlock()
		close(q.packets)
		return 1
	}
	if err := nf.RegisterWithErrorFunc(ctx, hook, onErr); err != nil {
		cancel()
		nf.Close()
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("bind nfnetlink queue %d: another process is bound to it: %w", num, err)
		}
		return nil, fmt.Errorf("bind nfnetlink queue %d: %w", num, err)
	}
	return q, nil
}

// Packets delivers the queued packets; it is closed when receiving fails
// (Err says why).
func (q *Queue) Packets() <-chan Packet { return q.packets }

// Err is why Packets was closed; nil while it is open.
func (q *Queue) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// Accept lets packet id through.
func (q *Queue) Accept(id uint32) error {
	return q.nf.SetVerdict(id, nfqueue.NfAccept)
}

// Close unbinds the queue. Packets still queued in the kernel are dropped
// by it: accept them first.
func (q *Queue) Close() error {
	q.cancel()
	err := q.nf.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
