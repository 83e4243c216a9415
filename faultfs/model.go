package faultfs

import "fmt"

// PowerModel is what a power failure loses. The models are listed once,
// in PowerModels; the nemesis's `power` options and `faultfs powerfail
// --model` both read that list.
type PowerModel string

const (
	// PowerPOSIX loses what POSIX lets a power failure lose: file content
	// and sizes not fsynced, and the directory operations (creates,
	// mkdirs, renames, unlinks, ...) whose directory was not fsynced
	// after them. The default.
	PowerPOSIX PowerModel = "posix"
	// PowerDataOnly loses only file content and sizes not fsynced: every
	// directory operation is durable at once. It is LazyFS's clear-cache
	// fault (dsrhaslab/lazyfs), which Jepsen's analyses use: LazyFS
	// passes create, mkdir, rename, unlink, link and symlink straight to
	// its backing filesystem and keeps only written pages (and the size
	// they give a file) in its cache until an fsync writes them back. A
	// file created and written but never fsynced is left existing and
	// empty, at the size it had on the backing store (0).
	PowerDataOnly PowerModel = "data-only"
)

// PowerModels lists the power-failure models, the default first.
var PowerModels = []PowerModel{PowerPOSIX, PowerDataOnly}

// Validate says whether m is one of PowerModels.
func (m PowerModel) Validate() error {
	for _, k := range PowerModels {
		if m == k {
			return nil
		}
	}
	return fmt.Errorf("faultfs: unknown power-failure model %q (want one of %v)", m, PowerModels)
}
