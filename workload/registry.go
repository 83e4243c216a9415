package workload

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Options holds the configuration of every workload; ByName uses the one
// of the workload it builds.
type Options struct {
	Register   RegisterConfig
	Bank       BankConfig
	ListAppend ListAppendConfig
	Set        SetConfig
	Queue      QueueConfig
}

// DefaultOptions returns every workload's defaults.
func DefaultOptions() Options {
	return Options{
		Register:   DefaultRegisterConfig(),
		Bank:       DefaultBankConfig(),
		ListAppend: DefaultListAppendConfig(),
		Set:        DefaultSetConfig(),
		Queue:      DefaultQueueConfig(),
	}
}

// Validate checks every workload's configuration.
func (o Options) Validate() error {
	for _, err := range []error{o.Register.Validate(), o.Bank.Validate(), o.ListAppend.Validate(), o.Set.Validate(), o.Queue.Validate()} {
		if err != nil {
			return err
		}
	}
	return nil
}

var registry = map[string]func(Options) (Workload, error){
	"register":    func(o Options) (Workload, error) { return NewRegister(o.Register) },
	"bank":        func(o Options) (Workload, error) { return NewBank(o.Bank) },
	"list-append": func(o Options) (Workload, error) { return NewListAppend(o.ListAppend) },
	"set":         func(o Options) (Workload, error) { return NewSet(o.Set) },
	"queue":       func(o Options) (Workload, error) { return NewQueue(o.Queue) },
}

// Names returns the registered workload names, sorted.
func Names() []string { return slices.Sorted(maps.Keys(registry)) }

// ByName builds the named workload with its configuration from opts.
func ByName(name string, opts Options) (Workload, error) {
	mk, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("workload: unknown workload %q (valid: %s)", name, strings.Join(Names(), ", "))
	}
	return mk(opts) // config errors name the workload
}
