package raftlog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
)

// Reason names a kind of damage. Open reports the ones below; a caller
// may record others (RecordDamage), such as lost snapshots.
type Reason string

// The damage Open tells apart from a torn write (see the package
// documentation, Recovery).
const (
	// ReasonBadRecord: a record that does not validate, with valid
	// records after it (a flipped bit, or garbage, in the middle of the
	// log).
	ReasonBadRecord Reason = "bad record followed by valid records"
	// ReasonZeroedRange: zeros where records were, with valid records
	// after them (a range lost or rolled back).
	ReasonZeroedRange Reason = "zeroed range followed by valid records"
	// ReasonBadLastRecord: the last record does not validate and its
	// bytes do not show a write cut short: a synced record that changed.
	ReasonBadLastRecord Reason = "bad last record, not a torn write"
	// ReasonTruncated: a segment ends before its records do: shorter than
	// its preallocated size, or short of the index the next one starts at.
	ReasonTruncated Reason = "segment truncated"
	// ReasonBadHeader: a segment's header does not validate, or names
	// another segment, and the segment holds more than zeros.
	ReasonBadHeader Reason = "bad segment header"
	// ReasonMissingSegment: a segment file is missing between two others.
	ReasonMissingSegment Reason = "missing segment"
)

// Damage describes corruption: what was found where, and what the log
// kept. Open cuts the log at the first bad point, so it stays a prefix of
// what was written, and records the damage durably until ClearDamage.
type Damage struct {
	// File is the damaged file's path (for a missing segment, the first
	// segment after the gap); Offset is the byte offset of the first bad
	// point in it.
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Reason Reason `json:"reason"`
	// LastGood is the last index kept before the damage (0: none).
	LastGood uint64 `json:"last_good"`
	// Beyond is the highest index seen in records that validate past the
	// damage, all of them dropped (0: none seen, which does not mean none
	// were there).
	Beyond uint64 `json:"beyond,omitempty"`
}

func (d Damage) String() string {
	s := fmt.Sprintf("%s: %s", d.Reason, d.File)
	if d.Offset > 0 {
		s += fmt.Sprintf(" at offset %d", d.Offset)
	}
	s += fmt.Sprintf("; log kept up to index %d", d.LastGood)
	if d.Beyond > 0 {
		s += fmt.Sprintf(", lost entries seen up to index %d", d.Beyond)
	}
	return s
}

// damageKey is the meta key under which damage not yet cleared is kept.
// Raft's own stable-store keys never collide with it.
const damageKey = "raftlog.damage"

func decodeDamage(b []byte) ([]Damage, error) {
	if b == nil {
		return nil, nil
	}
	var ds []Damage
	if err := json.Unmarshal(b, &ds); err != nil {
		return nil, fmt.Errorf("recorded damage (%s key of the meta file) does not decode: %w", damageKey, err)
	}
	return ds, nil
}

// sector is the unit a disk writes atomically; a torn write stops at a
// sector boundary (a killed process's partial write at a page boundary,
// which is one too).
const sector = 512

// tailKind is what follows a segment's last valid record.
type tailKind int

const (
	tailEnd   tailKind = iota // the end of the file, right after the record
	tailZeros                 // zeros up to the end of the file: a clean end
	tailTorn                  // one record cut short at a sector boundary, then zeros or the end of the file
	tailBad                   // anything else
)

// classifyTail says what follows the valid records of b, which end at
// end, and where the trailing run of zeros (or the end of the file)
// begins.
func classifyTail(b []byte, end int) (tailKind, int) {
	z := len(b)
	for z > end && b[z-1] == 0 {
		z--
	}
	switch {
	case end == len(b):
		return tailEnd, z
	case z == end:
		return tailZeros, z
	case cutShort(b, end, z):
		return tailTorn, z
	}
	return tailBad, z
}

// cutShort reports whether the record at end is one that a write
// stopping at a sector boundary cut short, with zeros (or the end of the
// file) from z on. The bytes of a torn batch that reached the disk are a
// prefix of it, sector by sector (page by page for a killed process): the
// write stopped at the first sector boundary at or after z (zero bytes
// before that boundary may be the record's own), or at the end of the
// file, which must then be one. The record runs past that point: its
// header is incomplete, or claims more bytes than reach it. A flipped bit
// in a whole record does not look like that, unless the record's own
// trailing zero bytes span a sector boundary.
func cutShort(b []byte, end, z int) bool {
	stop := min((z+sector-1)/sector*sector, len(b))
	if stop%sector != 0 {
		return false
	}
	if stop-end < recHeader {
		return true
	}
	n := int(binary.BigEndian.Uint32(b[end+4:]))
	return n >= bodyFixed && end+recHeader+n > stop
}

// beyond returns the highest index of the records that validate in b from
// offset from on, where the chain from the last good record is broken.
// Each candidate is a pair of records whose second chains from the first's
// stored crc (a random match has odds of 2^-32), followed as far as the
// chain goes; the record right after a bad one whose crc field alone
// changed is found by chaining from the bad record's recomputed crc
// (prev is the crc it chains from). Indexes must lie above after, within
// what the bytes could hold.
func beyond(b []byte, from int, after uint64, prev uint32) uint64 {
	limit := after + uint64(len(b)/(recHeader+bodyFixed)) + 1
	candidate := func(q int) bool {
		if _, ok := plausibleLen(b, q); !ok {
			return false
		}
		idx := recordIndex(b[q:])
		return idx > after && idx <= limit
	}
	// follow validates the record at q against prev and returns the last
	// index of the chain it starts and where the chain ends.
	follow := func(q int, prev uint32) (uint64, int, bool) {
		size, c, err := decodeRecord(b[q:], prev, nil)
		if err != nil {
			return 0, 0, false
		}
		idx, end := recordIndex(b[q:]), q+size
		for {
			size, next, err := decodeRecord(b[end:], c, nil)
			if err != nil || recordIndex(b[end:]) != idx+1 {
				return idx, end, true
			}
			idx, c, end = idx+1, next, end+size
		}
	}
	var hi uint64
	if size, ok := plausibleLen(b, from); ok && candidate(from+size) {
		if idx, _, ok := follow(from+size, crc32.Update(prev, castagnoli, b[from+4:from+size])); ok {
			hi = idx
		}
	}
	for p := from; p < len(b); p++ {
		size, ok := plausibleLen(b, p)
		if !ok || !candidate(p+size) {
			continue
		}
		if idx, end, ok := follow(p+size, binary.BigEndian.Uint32(b[p:])); ok {
			hi = max(hi, idx)
			p = end - 1
		}
	}
	return hi
}

// plausibleLen returns the size of the record at p if its length field
// fits in b.
func plausibleLen(b []byte, p int) (int, bool) {
	if p+recHeader > len(b) {
		return 0, false
	}
	n := int(binary.BigEndian.Uint32(b[p+4:]))
	if n < bodyFixed || n > len(b)-p-recHeader {
		return 0, false
	}
	return recHeader + n, true
}

func allZero(b []byte) bool {
	return len(bytes.TrimLeft(b, "\x00")) == 0
}
