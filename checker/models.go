package checker

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Model names a checker `faultline check --model NAME` runs, under the
// name Jepsen's users know it by.
type Model struct {
	Name string
	// Summary says in one line what histories it takes and what it checks.
	Summary string
	new     func(Config) (Checker, error)
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
	// exactly; empty takes them from the reads.
	BankAccounts []string
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
	return errors.Join(errs...)
}

func (c Config) txn() TxnConfig {
	return TxnConfig{ConsistencyModel: c.ConsistencyModel, MaxReported: c.MaxReported, Progress: c.Progress}
}

func (c Config) linearizable(model string) (Checker, error) {
	l, err := NewLinearizable(LinearizableConfig{Model: model, TimeLimit: c.TimeLimit, OutDir: c.OutDir,
		MaxExplained: c.MaxReported, Progress: c.Progress})
	if err != nil {
		return nil, err
	}
	return l, nil
}

var models = []Model{
	{"cas-register", "registers (one per key in [k v] tuples, or one): read, write, cas [old new]; linearizable (Knossos' cas-register)",
		func(c Config) (Checker, error) { return c.linearizable("cas-register") }},
	{"register", "registers: read and write, no cas; linearizable",
		func(c Config) (Checker, error) { return c.linearizable("register") }},
	{"kv", "registers whose values may be nil (deleted): read, write, cas; linearizable",
		func(c Config) (Checker, error) { return c.linearizable("kv") }},
	{"mutex", "a lock (one per key): acquire and release; linearizable (Knossos' mutex)",
		func(c Config) (Checker, error) { return c.linearizable("mutex") }},
	{"list-append", "transactions of [:append k v] and [:r k list]; Elle's anomalies under --consistency-model",
		func(c Config) (Checker, error) { return NewListAppend(c.txn()), nil }},
	{"rw-register", "transactions of [:r k v] and [:w k v], unique writes; Elle's anomalies under --consistency-model",
		func(c Config) (Checker, error) { return NewRWRegister(c.txn()), nil }},
	{"bank", "reads of every balance and transfers: constant total, no negative balance (Jepsen's bank)",
		func(c Config) (Checker, error) {
			return NewBank(BankConfig{Total: c.BankTotal, Accounts: c.BankAccounts, MaxReported: c.MaxReported}), nil
		}},
	{"set", "adds of unique elements and reads of the set: lost, stale, never-read, unexpected, duplicated (Jepsen's set-full)",
		func(c Config) (Checker, error) {
			return NewSet(SetConfig{Linearizable: c.Linearizable, MaxReported: c.MaxReported}), nil
		}},
	{"counter", "adds and reads of a counter from 0: every read within the bounds of the adds (Jepsen's counter)",
		func(c Config) (Checker, error) { return NewCounter(CounterConfig{MaxReported: c.MaxReported}), nil }},
}

// Models lists the models New makes, in the order `faultline check
// --help` shows them.
func Models() []Model { return append([]Model(nil), models...) }

// New returns the checker of the named model, with cfg's time limit (if
// any) enforced by Run, RunOne and RunStream.
func New(model string, cfg Config) (Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, m := range models {
		if m.Name != model {
			continue
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
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	return nil, fmt.Errorf("checker: unknown model %q (want one of %s)", model, strings.Join(names, ", "))
}
