package faultfs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The control socket speaks one JSON request line and one JSON response
// line per connection. After a power failure the daemon waits for the
// client to close before it exits, so the answer is read before the node
// (and, in a container, the client with it) goes away.

const (
	opPowerFail = "powerfail"
	opStatus    = "status"
)

type controlRequest struct {
	Op string `json:"op"`
	// Model is a power failure's model.
	Model PowerModel `json:"model,omitempty"`
}

type controlResponse struct {
	OK     bool             `json:"ok"`
	Error  string           `json:"error,omitempty"`
	Report *PowerFailReport `json:"report,omitempty"`
	Stats  *JournalStats    `json:"stats,omitempty"`
}

// RequestPowerFail asks the daemon behind socket to fail the power under
// model: it kills its command, rolls the backing store back and answers
// with what was dropped (and the model it followed), which is written (encoded) to w before the connection
// closes: the daemon kills the node's processes once it does, the caller
// among them if it runs in the node. An error means the rollback was not
// confirmed (the report, when the daemon sent one, is returned with it).
func RequestPowerFail(ctx context.Context, socket string, model PowerModel, w io.Writer) (PowerFailReport, error) {
	var rep PowerFailReport
	_, err := call(ctx, socket, controlRequest{Op: opPowerFail, Model: model}, func(resp controlResponse) error {
		if resp.Report == nil {
			return fmt.Errorf("faultfs: the daemon at %s confirmed the power failure without a report: is it the same faultfs version?", socket)
		}
		if resp.Report.Model != model {
			return fmt.Errorf("faultfs: the daemon at %s failed the power under the %q model, not the %q asked for: is it the same faultfs version?", socket, resp.Report.Model, model)
		}
		rep = *resp.Report
		_, err := w.Write(rep.Encode())
		return err
	})
	return rep, err
}

// RequestStats asks the daemon behind socket for its journal's state.
func RequestStats(ctx context.Context, socket string) (JournalStats, error) {
	resp, err := call(ctx, socket, controlRequest{Op: opStatus}, nil)
	if err != nil {
		return JournalStats{}, err
	}
	if resp.Stats == nil {
		return JournalStats{}, fmt.Errorf("faultfs: the daemon at %s answered without stats: is it the same faultfs version?", socket)
	}
	return *resp.Stats, nil
}

// call sends req to the daemon behind socket and reads its answer; done,
// if set, takes a confirmed answer before the connection closes.
func call(ctx context.Context, socket string, req controlRequest, done func(controlResponse) error) (controlResponse, error) {
	op := req.Op
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return controlResponse{}, fmt.Errorf("faultfs: reach the daemon at %s: %w (is faultfs mount running with --control %s?)", socket, err, socket)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return controlResponse{}, fmt.Errorf("faultfs: send %s to %s: %w", op, socket, err)
	}
	var resp controlResponse
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return resp, fmt.Errorf("faultfs: no answer to %s from %s: %w (the daemon died before confirming: the backing store's state is unknown)", op, socket, errors.Join(err, ctx.Err()))
	}
	if err := decodeJSON(line, &resp); err != nil {
		return resp, fmt.Errorf("faultfs: bad answer to %s from %s: %w", op, socket, err)
	}
	if !resp.OK {
		return resp, fmt.Errorf("faultfs: %s at %s failed: %s", op, socket, resp.Error)
	}
	if done != nil {
		return resp, done(resp)
	}
	return resp, nil
}

// powerFailCall is a power failure asked for on the control socket: the
// daemon's main loop answers on reply, and waits on done until the answer
// was read.
type powerFailCall struct {
	model PowerModel
	reply chan controlResponse
	done  chan struct{}
}

// clientCloseWait bounds how long the daemon waits, after answering a
// power failure, for the client to hang up.
const clientCloseWait = 10 * time.Second

// serveControl answers status requests itself and hands power failures to
// the daemon's main loop, until that loop closes down. It returns when ln
// is closed.
func serveControl(ln net.Listener, e *Engine, powerFails chan<- powerFailCall, down <-chan struct{}) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			line, err := bufio.NewReader(conn).ReadBytes('\n')
			if err != nil {
				return
			}
			var req controlRequest
			resp := controlResponse{}
			if err := decodeJSON(line, &req); err != nil {
				resp.Error = fmt.Sprintf("bad request: %v", err)
				json.NewEncoder(conn).Encode(resp)
				return
			}
			switch req.Op {
			case opStatus:
				s := e.Stats()
				resp.OK, resp.Stats = true, &s
				json.NewEncoder(conn).Encode(resp)
			case opPowerFail:
				if err := req.Model.Validate(); err != nil {
					resp.Error = err.Error()
					json.NewEncoder(conn).Encode(resp)
					return
				}
				c := powerFailCall{model: req.Model, reply: make(chan controlResponse, 1), done: make(chan struct{})}
				select {
				case powerFails <- c:
				case <-down:
					resp.Error = "the node is already down"
					json.NewEncoder(conn).Encode(resp)
					return
				}
				json.NewEncoder(conn).Encode(<-c.reply)
				conn.SetReadDeadline(time.Now().Add(clientCloseWait))
				conn.Read(make([]byte, 1)) // until the client hangs up
				close(c.done)
			default:
				resp.Error = fmt.Sprintf("unknown op %q (want %s or %s)", req.Op, opPowerFail, opStatus)
				json.NewEncoder(conn).Encode(resp)
			}
		}()
	}
}
