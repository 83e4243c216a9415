package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// BankConfig configures the bank workload.
type BankConfig struct {
	// Accounts is the number of accounts, named "0".."N-1".
	Accounts int
	// Total is the sum of all balances, split evenly at setup (the
	// remainder goes to account 0).
	Total int64
	// MaxTransfer bounds the amount of one transfer (1..MaxTransfer).
	MaxTransfer int64
	// ReadWeight and TransferWeight set the mix of operations.
	ReadWeight, TransferWeight float64
}

// DefaultBankConfig returns 5 accounts holding 100 in total, transfers of
// 1..5, reads and transfers in equal parts.
func DefaultBankConfig() BankConfig {
	return BankConfig{Accounts: 5, Total: 100, MaxTransfer: 5, ReadWeight: 1, TransferWeight: 1}
}

// Validate reports the first invalid field.
func (c BankConfig) Validate() error {
	switch {
	case c.Accounts < 2:
		return fmt.Errorf("workload: bank accounts %d: want at least 2", c.Accounts)
	case c.Total < 0:
		return fmt.Errorf("workload: bank total %d: want >= 0", c.Total)
	case c.MaxTransfer < 1:
		return fmt.Errorf("workload: bank max transfer %d: want at least 1", c.MaxTransfer)
	case c.ReadWeight < 0 || c.TransferWeight < 0 || c.ReadWeight+c.TransferWeight == 0:
		return errors.New("workload: bank weights must be >= 0 with a positive sum")
	}
	return nil
}

// Bank moves money between accounts whose total must stay constant. Values
// (see history.Op): read has Value nil at invoke and map[string]any
// account -> int64 balance at completion (accounts "0".."N-1"); transfer
// has {"from": a, "to": b, "amount": n} with int64 a, b, n. A transfer
// reads both balances, then commits one TXN guarded by compares on both
// (CAS_MISMATCH: fail); a transfer that would overdraw fails client-side.
type Bank struct {
	cfg BankConfig
}

// NewBank returns the bank workload.
func NewBank(cfg BankConfig) (*Bank, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Bank{cfg: cfg}, nil
}

func bankKey(a int64) string { return "bank/" + strconv.FormatInt(a, 10) }

// Info implements Workload.
func (w *Bank) Info() Info {
	accts := make([]string, w.cfg.Accounts)
	for i := range accts {
		accts[i] = strconv.Itoa(i)
	}
	return Info{Name: "bank", Model: "bank", Accounts: accts, Total: w.cfg.Total}
}

// Setup implements Workload: writes the initial balances in one TXN.
func (w *Bank) Setup(ctx context.Context, kv KV) error {
	n := int64(w.cfg.Accounts)
	ops := make([]MicroOp, n)
	for a := range n {
		bal := w.cfg.Total / n
		if a == 0 {
			bal += w.cfg.Total % n
		}
		ops[a] = MicroOp{Kind: MicroWrite, Key: bankKey(a), Value: encodeInt(bal)}
	}
	if _, err := kv.Txn(ctx, ops); err != nil {
		return fmt.Errorf("workload: bank setup: %w", err)
	}
	return nil
}

// Generator implements Workload.
func (w *Bank) Generator() Generator {
	return func(WorkerInfo) Gen {
		return GenFunc(func(_ context.Context, r *rand.Rand) (Op, error) {
			if weighted(r, w.cfg.ReadWeight, w.cfg.TransferWeight) == 0 {
				return Op{F: "read"}, nil
			}
			n := w.cfg.Accounts
			from := r.IntN(n)
			to := (from + 1 + r.IntN(n-1)) % n
			amount := 1 + r.Int64N(w.cfg.MaxTransfer)
			return Op{F: "transfer", Value: map[string]any{"from": int64(from), "to": int64(to), "amount": amount}}, nil
		})
	}
}

// Final implements Workload: one final read by worker 0.
func (w *Bank) Final() Generator { return OnWorker(0, Once(Op{F: "read"})) }

// Invoke implements Workload.
func (w *Bank) Invoke(ctx context.Context, kv KV, op Op) (any, error) {
	switch op.F {
	case "read":
		n := int64(w.cfg.Accounts)
		ops := make([]MicroOp, n)
		for a := range n {
			ops[a] = MicroOp{Kind: MicroRead, Key: bankKey(a)}
		}
		res, err := kv.Txn(ctx, ops)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, n)
		for a, r := range res {
			if !r.Found {
				continue // the checker reports missing accounts
			}
			bal, err := decodeInt(r.Value)
			if err != nil {
				return nil, err
			}
			out[strconv.Itoa(a)] = bal
		}
		return out, nil
	case "transfer":
		return op.Value, w.transfer(ctx, kv, op.Value)
	}
	return nil, &DefiniteError{Reason: fmt.Sprintf("bank: unknown f %q", op.F)}
}

func (w *Bank) transfer(ctx context.Context, kv KV, v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return &DefiniteError{Reason: fmt.Sprintf("bank: transfer value %v is not a map", v)}
	}
	from, err := intOf(m["from"], "from account")
	if err != nil {
		return err
	}
	to, err := intOf(m["to"], "to account")
	if err != nil {
		return err
	}
	amount, err := intOf(m["amount"], "amount")
	if err != nil {
		return err
	}
	fk, tk := bankKey(from), bankKey(to)
	res, err := kv.Txn(ctx, []MicroOp{{Kind: MicroRead, Key: fk}, {Kind: MicroRead, Key: tk}})
	if err != nil {
		// Nothing was written yet: a failed read means the transfer
		// certainly did not happen.
		return &DefiniteError{Reason: "bank: reading balances: " + err.Error()}
	}
	if len(res) != 2 {
		return &DefiniteError{Reason: fmt.Sprintf("bank: reading balances: %d results for 2 reads", len(res))}
	}
	var bal [2]int64
	for i, r := range res {
		if r.Found {
			if bal[i], err = decodeInt(r.Value); err != nil {
				return &DefiniteError{Reason: "bank: " + err.Error()}
			}
		}
	}
	if bal[0] < amount {
		return &DefiniteError{Reason: fmt.Sprintf("bank: insufficient funds: account %d has %d < %d", from, bal[0], amount)}
	}
	guard := func(k string, r MicroResult) MicroOp {
		return MicroOp{Kind: MicroCompare, Key: k, Value: r.Value, Absent: !r.Found}
	}
	_, err = kv.Txn(ctx, []MicroOp{
		guard(fk, res[0]), guard(tk, res[1]),
		{Kind: MicroWrite, Key: fk, Value: encodeInt(bal[0] - amount)},
		{Kind: MicroWrite, Key: tk, Value: encodeInt(bal[1] + amount)},
	})
	return err
}
