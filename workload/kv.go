package workload

import (
	"context"
	"errors"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/system"
)

// KV is the store client a workload needs. *system.Client satisfies it.
// Errors follow system's contract: a *system.Error with a definite status
// means "not applied"; anything else (timeouts, lost connections, context
// deadlines) is indeterminate.
type KV interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Put(ctx context.Context, key string, value []byte) error
	CAS(ctx context.Context, key string, expected, value []byte) error
	Append(ctx context.Context, key string, elem []byte) error
	Txn(ctx context.Context, ops []system.MicroOp) ([]system.MicroResult, error)
}

// NodeReporter is implemented by clients that know which node answered the
// last request; the runner copies it into each completion's Node.
type NodeReporter interface {
	LastNode() string
}

// Recorder stores history ops; *history.Recorder satisfies it.
type Recorder interface {
	Record(op history.Op) history.Op
}

// DefiniteError marks a failure decided on the client side before or
// instead of applying anything (e.g. a bank transfer with insufficient
// funds): the runner records it as fail, like a definite store error.
type DefiniteError struct {
	Reason string
}

func (e *DefiniteError) Error() string { return "workload: not applied: " + e.Reason }

// IsDefinite reports whether err certainly means "not applied": a definite
// store error or a *DefiniteError.
func IsDefinite(err error) bool {
	var d *DefiniteError
	return errors.As(err, &d) || system.IsDefinite(err)
}
