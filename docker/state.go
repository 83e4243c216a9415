package docker

import (
	"errors"
	"fmt"
	"time"

	"github.com/faultline/faultline/cluster"
)

// State is a node's lifecycle state as this package drives it.
type State int

// Node states. The legal transitions are:
//
//	Created -> Running (start)          Running -> Paused (pause)
//	Running -> Killed  (kill)           Paused  -> Running (resume)
//	Paused  -> Killed  (kill)           Killed  -> Running (start)
//	any but Removed and Left -> Left (leave: container and data gone)
//	Left    -> Created (join: a new container for a new identity)
//	any but Removed -> Removed (remove)
const (
	StateCreated State = iota + 1
	StateRunning
	StatePaused
	StateKilled
	StateRemoved
	StateLeft
)

// String returns the lower-case name used by Cluster.State: "created",
// "running", "paused", "killed", "removed", "left".
func (s State) String() string {
	switch s {
	case StateCreated:
		return "created"
	case StateRunning:
		return "running"
	case StatePaused:
		return "paused"
	case StateKilled:
		return "killed"
	case StateRemoved:
		return "removed"
	case StateLeft:
		return cluster.StateLeft
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// ErrIllegalTransition is wrapped by every error for an operation the
// node's current state does not allow (pause a killed node, start a
// running one, ...).
var ErrIllegalTransition = errors.New("illegal node state transition")

// TransitionError is an illegal transition of one node.
type TransitionError struct {
	Node     string
	Op       string // start, pause, resume, kill, leave, join, remove
	From, To State
}

func (e *TransitionError) Error() string {
	hint := ""
	switch {
	case e.From == StateRemoved:
		hint = ": the cluster was closed"
	case e.From == StateLeft:
		hint = ": it left the cluster; it comes back only by joining as a new member"
	case e.Op == "start" && e.From == StatePaused:
		hint = ": resume it instead"
	case e.Op == "start" && e.From == StateRunning:
		hint = ": it is already running"
	case e.Op == "pause" || e.Op == "resume" || e.Op == "kill":
		hint = fmt.Sprintf(": %s needs a %s node", e.Op, map[string]string{"pause": "running", "resume": "paused", "kill": "running or paused"}[e.Op])
	}
	return fmt.Sprintf("node %s: cannot %s (%s -> %s) while %s%s", e.Node, e.Op, e.From, e.To, e.From, hint)
}

// Unwrap makes errors.Is(err, ErrIllegalTransition) true.
func (e *TransitionError) Unwrap() error { return ErrIllegalTransition }

// nodeState is what a node holds in each state. Every state carries the
// container id (the container exists until Removed) and what that state
// needs: when it was entered, the IP while running, the pause time...
type nodeState interface {
	state() State
}

type (
	stCreated struct{ container string }
	stRunning struct {
		container string
		ip        string    // address on the private network
		since     time.Time // last start / resume
	}
	stPaused struct {
		container string
		ip        string
		since     time.Time
	}
	stKilled struct {
		container string
		since     time.Time
	}
	stRemoved struct{ since time.Time }
	stLeft    struct{ since time.Time }
)

func (stCreated) state() State { return StateCreated }
func (stRunning) state() State { return StateRunning }
func (stPaused) state() State  { return StatePaused }
func (stKilled) state() State  { return StateKilled }
func (stRemoved) state() State { return StateRemoved }
func (stLeft) state() State    { return StateLeft }

// ops maps an operation to its legal source states and its target.
var ops = map[string]struct {
	from []State
	to   State
}{
	"start":  {[]State{StateCreated, StateKilled}, StateRunning},
	"pause":  {[]State{StateRunning}, StatePaused},
	"resume": {[]State{StatePaused}, StateRunning},
	"kill":   {[]State{StateRunning, StatePaused}, StateKilled},
	"remove": {[]State{StateCreated, StateRunning, StatePaused, StateKilled, StateLeft}, StateRemoved},
	"leave":  {[]State{StateCreated, StateRunning, StatePaused, StateKilled}, StateLeft},
	"join":   {[]State{StateLeft}, StateCreated},
}

// checkTransition returns the target state of op from from, or a
// *TransitionError wrapping ErrIllegalTransition.
func checkTransition(node, op string, from State) (State, error) {
	o, ok := ops[op]
	if !ok {
		return 0, fmt.Errorf("node %s: unknown operation %q", node, op)
	}
	for _, f := range o.from {
		if f == from {
			return o.to, nil
		}
	}
	return 0, &TransitionError{Node: node, Op: op, From: from, To: o.to}
}

// containerOf returns the container id a state holds ("" once removed).
func containerOf(s nodeState) string {
	switch s := s.(type) {
	case stCreated:
		return s.container
	case stRunning:
		return s.container
	case stPaused:
		return s.container
	case stKilled:
		return s.container
	}
	return ""
}

// ipOf returns the IP a state holds ("" when not running or paused).
func ipOf(s nodeState) string {
	switch s := s.(type) {
	case stRunning:
		return s.ip
	case stPaused:
		return s.ip
	}
	return ""
}
