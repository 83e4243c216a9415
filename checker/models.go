package checker

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faultline/faultline/history"
)

// Model names a checker `faultline check --model NAME` runs, under the
// name Jepsen's users know it by.
type Model struct {
	Name string
	// Summary says in one line what histories it takes and what it checks.
	Summary string
	new     func(Config) (Checker, error)
	// pairing is what a history read for it is held to: Knossos' rules,
	// and for Elle's models lone completions too (history.Pairing).
	pairing history.Pairing
}

// Config configures a checker made by New. Each field applies to the
// models its comment names; others ignore it.
type Config struct {
	// ConsistencyModel is what list-append and rw-register hold a history
	// to: one of ConsistencyModels (default strict-serializable).
	ConsistencyModel string
	// TimeLimit bounds a check; past it the verdict is unknown. 0: none.
	TimeLimit time.Duration
	// OutDir receives the linearizability visualisation of a failing key
	// (register models, mutex); empty: none is written.
	OutDir string
	// BankTotal is the bank's constant total; 0 infers it from the reads.
	BankTotal int64
	// BankAccounts, if set, are the accounts every bank read must show
	// exactly; empty infers them from the first read and the transfers.
	BankAccounts []string
	// NilReadsUnknown reads a read of nil as "value unknown", as Knossos'
	// register and cas-register do (register, cas-register); by default
	// nil is the initial value.
	NilReadsUnknown bool
	// GroupSize is how many keys every long-fork read must read (Jepsen's
	// group size n); 0 takes reads of any size, grouped by the keys they
	// read.
	GroupSize int
	// Linearizable makes stale set elements invalid (set).
	Linearizable bool
	// MaxReported bounds the anomalies of each type listed in full
	// (default DefaultMaxReported).
	MaxReported int
	// Progress, if set, follows a long check (register models, mutex,
	// list-append, rw-register).
	Progress *Progress
}

// DefaultConfig returns the configuration of our own runs.
func DefaultConfig() Config {
	return Config{ConsistencyModel: DefaultConsistencyModel, MaxReported: DefaultMaxReported}
}

// Validate checks c.
func (c Config) Validate() error {
	var errs []error
	if c.ConsistencyModel != "" {
		errs = append(errs, validConsistencyModel(c.ConsistencyModel))
	}
	if c.TimeLimit < 0 {
		errs = append(errs, fmt.Errorf("checker: time limit %v is negative", c.TimeLimit))
	}
	if c.MaxReported < 0 {
		errs = append(errs, fmt.Errorf("checker: max reported %d is negative", c.MaxReported))
	}
	if c.GroupSize < 0 {
		errs = append(errs, fmt.Errorf("checker: group size %d is negative", c.GroupSize))
	}
	return errors.Join(errs...)
}

func (c Config) txn() TxnConfig {
	return TxnConfig{ConsistencyModel: c.ConsistencyModel, MaxReported: c.MaxReported, Progress: c.Progress}
}

func (c Config) linearizable(model string) (Checker, error) {
	l, err := NewLinearizable(LinearizableConfig{Model: model, TimeLimit: c.TimeLimit, OutDir: c.OutDir,
		MaxExplained: c.MaxReported, NilReadsUnknown: c.NilReadsUnknown, Progress: c.Progress})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// elle accepts Elle's histories of completions only.
var elle = history.Pairing{LoneCompletions: true}

var models = []Model{
	{Name: "cas-register", Summary: "registers (one per key in [k v] tuples, or one): read, write, cas [old new]; linearizable (Knossos' cas-register)",
		new: func(c Config) (Checker, error) { return c.linearizable("cas-register") }},
	{Name: "register", Summary: "registers: read and write, no cas; linearizable",
		new: func(c Config) (Checker, error) { return c.linearizable("register") }},
	{Name: "kv", Summary: "registers whose values may be nil (deleted): read, write, cas; linearizable",
		new: func(c Config) (Checker, error) { return c.linearizable("kv") }},
	{Name: "mutex", Summary: "a lock (one per key): acquire and release; linearizable (Knossos' mutex)",
		new: func(c Config) (Checker, error) { return c.linearizable("mutex") }},
	{Name: "list-append", Summary: "transactions of [:append k v] and [:r k list]; Elle's anomalies under --consistency-model",
		new: func(c Config) (Checker, error) { return NewListAppend(c.txn()), nil }, pairing: elle},
	{Name: "rw-register", Summary: "transactions of [:r k v] and [:w k v], unique writes; Elle's anomalies under --consistency-model",
		new: func(c Config) (Checker, error) { return NewRWRegister(c.txn()), nil }, pairing: elle},
	{Name: "long-fork", Summary: "writes [[:w k v]] of keys written once, reads [[:r k v] ...] of groups of keys: no two reads see writes in orders that cannot be reconciled (Jepsen's long-fork)",
		new: func(c Config) (Checker, error) {
			return NewLongFork(LongForkConfig{GroupSize: c.GroupSize, MaxReported: c.MaxReported}), nil
		}},
	{Name: "bank", Summary: "reads of every balance and transfers: constant total, no negative balance, every account in every read (Jepsen's bank)",
		new: func(c Config) (Checker, error) {
			return NewBank(BankConfig{Total: c.BankTotal, Accounts: c.BankAccounts, MaxReported: c.MaxReported}), nil
		}},
	{Name: "set", Summary: "adds of unique elements and reads of the set: lost, stale, never-read, unexpected, duplicated (Jepsen's set-full)",
		new: func(c Config) (Checker, error) {
			return NewSet(SetConfig{Linearizable: c.Linearizable, MaxReported: c.MaxReported}), nil
		}},
	{Name: "queue", Summary: "synchronous enqueues of unique values and final drains through each node: lost (by writer: prefix, middle, postfix), lost-on-node, unexpected, recovered, duplicated (Jepsen's NATS queue test)",
		new: func(c Config) (Checker, error) { return NewQueue(QueueConfig{MaxReported: c.MaxReported}), nil }},
	{Name: "counter", Summary: "adds and reads of a counter from 0: every read within the bounds of the adds (Jepsen's counter)",
		new: func(c Config) (Checker, error) { return NewCounter(CounterConfig{MaxReported: c.MaxReported}), nil }},
}

// Models lists the models New makes, in the order `faultline check
// --help` shows them.
func Models() []Model { return append([]Model(nil), models...) }

// model returns the named model.
func model(name string) (Model, error) {
	for _, m := range models {
		if m.Name == name {
			return m, nil
		}
	}
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	return Model{}, fmt.Errorf("checker: unknown model %q (want one of %s)", name, strings.Join(names, ", "))
}

// New returns the checker of the named model, with cfg's time limit (if
// any) enforced by Run, RunOne and RunStream.
func New(name string, cfg Config) (Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := model(name)
	if err != nil {
		return nil, err
	}
	c, err := m.new(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.TimeLimit > 0 {
		if _, ok := c.(Limited); !ok {
			c = WithTimeLimit(c, cfg.TimeLimit)
		}
	}
	return c, nil
}
