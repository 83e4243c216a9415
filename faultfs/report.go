package faultfs

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// PowerFailReport is what a power failure dropped: every byte and
// directory entry that was not durable. It is the JSON `faultfs powerfail`
// prints; Encode and ParsePowerFailReport are its only encoder and decoder.
type PowerFailReport struct {
	// Model is the power-failure model the rollback followed.
	Model PowerModel `json:"model"`
	// BytesDropped is the sum of the files' BytesDropped.
	BytesDropped int64 `json:"bytes_dropped"`
	// FilesChanged is how many files lost bytes (len(Files)).
	FilesChanged int `json:"files_changed"`
	// EntriesUndone is len(Entries).
	EntriesUndone int `json:"entries_undone"`
	// Files are the files rolled back to their durable content, by path.
	Files []FileLoss `json:"files"`
	// Entries are the directory operations undone, newest first (the
	// order they were undone in).
	Entries []EntryUndone `json:"entries"`
	// Journal is the undo journal's state at the moment of the failure.
	Journal JournalStats `json:"journal"`
}

// FileLoss is one file's rollback.
type FileLoss struct {
	// Path is the file's last name under the mount (slash-separated,
	// relative), before directory operations were undone; "" when it had
	// none (unlinked while open).
	Path string `json:"path"`
	// DurableSize is the size it was rolled back to.
	DurableSize int64 `json:"durable_size"`
	// SizeBefore is its size at the failure.
	SizeBefore int64 `json:"size_before"`
	// BytesDropped counts the bytes restored to their durable content
	// plus the bytes cut off past DurableSize.
	BytesDropped int64 `json:"bytes_dropped"`
}

// EntryUndone is one directory operation undone.
type EntryUndone struct {
	// Op is the operation: create, mkdir, mknod, symlink, link, unlink,
	// rmdir, rename or exchange.
	Op string `json:"op"`
	// Path is the entry the operation made or removed (for rename, the
	// old name), relative to the mount.
	Path string `json:"path"`
	// To is a rename's new name.
	To string `json:"to,omitempty"`
	// Note says why the undo was not exact, when it was not (a later
	// durable operation had taken the name).
	Note string `json:"note,omitempty"`
}

// JournalStats is the undo journal's size and counters.
type JournalStats struct {
	// Bytes is the memory the journal holds now (saved bytes plus a
	// fixed overhead per saved range); Peak the most it held; Limit the
	// bound (Config.MaxJournalBytes).
	Bytes int64 `json:"bytes"`
	Peak  int64 `json:"peak_bytes"`
	Limit int64 `json:"limit_bytes"`
	// DirtyFiles have writes not yet synced; PendingEntries are
	// directory operations not yet durable.
	DirtyFiles     int `json:"dirty_files"`
	PendingEntries int `json:"pending_entries"`
	// Evictions counts files made durable because the journal reached
	// its limit (as a kernel writes dirty pages back under memory
	// pressure); EvictedBytes is the journal memory they freed.
	Evictions    int64 `json:"evictions"`
	EvictedBytes int64 `json:"evicted_bytes"`
	// Writes and WriteBytes count every write the filesystem served;
	// Syncs every fsync, fdatasync and directory fsync.
	Writes     int64 `json:"writes"`
	WriteBytes int64 `json:"write_bytes"`
	Syncs      int64 `json:"syncs"`
}

// Encode is the report's JSON (indented, one trailing newline).
func (r PowerFailReport) Encode() []byte { return encodeJSON(r) }

// ParsePowerFailReport decodes Encode's output; unknown fields and totals
// that disagree with the lists are errors.
func ParsePowerFailReport(data []byte) (PowerFailReport, error) {
	var r PowerFailReport
	if err := decodeJSON(data, &r); err != nil {
		return r, fmt.Errorf("parse power-failure report: %w (expected the JSON of faultfs powerfail)", err)
	}
	if err := r.Model.Validate(); err != nil {
		return r, fmt.Errorf("parse power-failure report: %w", err)
	}
	var bytes int64
	for _, f := range r.Files {
		bytes += f.BytesDropped
	}
	if r.FilesChanged != len(r.Files) || r.EntriesUndone != len(r.Entries) || r.BytesDropped != bytes {
		return r, fmt.Errorf("parse power-failure report: totals (%d bytes, %d files, %d entries) disagree with the lists (%d bytes, %d files, %d entries): the report was altered or truncated",
			r.BytesDropped, r.FilesChanged, r.EntriesUndone, bytes, len(r.Files), len(r.Entries))
	}
	return r, nil
}

// Encode is the stats' JSON (indented, one trailing newline).
func (s JournalStats) Encode() []byte { return encodeJSON(s) }

// ParseJournalStats decodes JournalStats.Encode's output.
func ParseJournalStats(data []byte) (JournalStats, error) {
	var s JournalStats
	if err := decodeJSON(data, &s); err != nil {
		return s, fmt.Errorf("parse journal stats: %w (expected the JSON of faultfs status)", err)
	}
	return s, nil
}

func encodeJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		// The report types hold only strings and numbers.
		panic(fmt.Sprintf("faultfs: encode %T: %v", v, err))
	}
	return append(b, '\n')
}

func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}
