package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

const (
	segMagic   = "FLRAFTL1"
	headerSize = 32
	segSuffix  = ".seg"
	// recHeader is a record's crc and length; bodyFixed the body's fixed
	// fields (index, term, type, appended-at, data length).
	recHeader = 8
	bodyFixed = 8 + 8 + 1 + 8 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segment is one segment file. offs and crcs describe its valid records:
// record first+i starts at offs[i] and its chained crc is crcs[i].
type segment struct {
	seq   uint64
	first uint64
	seed  uint32
	path  string
	f     *os.File
	offs  []int64
	crcs  []uint32
	end   int64 // just past the last valid record
}

// n is the number of records.
func (s *segment) n() int { return len(s.offs) }

// last is the index of the last record (first-1 when empty).
func (s *segment) last() uint64 { return s.first + uint64(len(s.offs)) - 1 }

// tailCRC is the crc the next record chains from.
func (s *segment) tailCRC() uint32 {
	if len(s.crcs) == 0 {
		return s.seed
	}
	return s.crcs[len(s.crcs)-1]
}

// span returns the byte range of record i.
func (s *segment) span(i int) (int64, int64) {
	if i+1 < len(s.offs) {
		return s.offs[i], s.offs[i+1]
	}
	return s.offs[i], s.end
}

func segName(seq, first uint64) string {
	return fmt.Sprintf("%016x-%016x%s", seq, first, segSuffix)
}

// parseSegName parses a segment file name; ok is false for other files.
func parseSegName(name string) (seq, first uint64, ok bool) {
	base, found := strings.CutSuffix(name, segSuffix)
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(base, "-")
	if !found || len(a) != 16 || len(b) != 16 {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseUint(a, 16, 64)
	first, err2 := strconv.ParseUint(b, 16, 64)
	return seq, first, err1 == nil && err2 == nil
}

func encodeHeader(seq, first uint64, seed uint32) []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, segMagic...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, first)
	b = binary.BigEndian.AppendUint32(b, seed)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadHeader = errors.New("bad segment header")

func decodeHeader(b []byte) (seq, first uint64, seed uint32, err error) {
	if len(b) < headerSize || string(b[:8]) != segMagic ||
		crc32.Checksum(b[:28], castagnoli) != binary.BigEndian.Uint32(b[28:32]) {
		return 0, 0, 0, errBadHeader
	}
	return binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:]), binary.BigEndian.Uint32(b[24:]), nil
}

// recordSize is the encoded size of l.
func recordSize(l *raft.Log) int {
	return recHeader + bodyFixed + len(l.Data) + len(l.Extensions)
}

// appendRecord encodes l after b, chaining its crc from prev, and returns
// the new buffer and the record's crc.
func appendRecord(b []byte, l *raft.Log, prev uint32) ([]byte, uint32) {
	start := len(b)
	n := bodyFixed + len(l.Data) + len(l.Extensions)
	b = binary.BigEndian.AppendUint32(b, 0) // crc, filled below
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint64(b, l.Index)
	b = binary.BigEndian.AppendUint64(b, l.Term)
	b = append(b, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.Data)))
	b = append(b, l.Data...)
	b = append(b, l.Extensions...)
	crc := crc32.Update(prev, castagnoli, b[start+4:])
	binary.BigEndian.PutUint32(b[start:], crc)
	return b, crc
}

// errTorn marks a record that does not validate: where the valid records
// of a segment end.
var errTorn = errors.New("torn, stale or corrupt record")

// decodeRecord checks the record at the start of b against prev and, when
// out is not nil, decodes it (out's slices alias b). It returns the
// record's size and crc.
func decodeRecord(b []byte, prev uint32, out *raft.Log) (int, uint32, error) {
	if len(b) < recHeader {
		return 0, 0, errTorn
	}
	n := int(binary.BigEndian.Uint32(b[4:]))
	if n < bodyFixed || n > len(b)-recHeader {
		return 0, 0, errTorn
	}
	crc := crc32.Update(prev, castagnoli, b[4:recHeader+n])
	if crc != binary.BigEndian.Uint32(b) {
		return 0, 0, errTorn
	}
	body := b[recHeader : recHeader+n]
	dlen := int(binary.BigEndian.Uint32(body[25:]))
	if dlen > n-bodyFixed {
		return 0, 0, fmt.Errorf("record data length %d exceeds its body (%d bytes)", dlen, n)
	}
	if out != nil {
		*out = raft.Log{
			Index: binary.BigEndian.Uint64(body),
			Term:  binary.BigEndian.Uint64(body[8:]),
			Type:  raft.LogType(body[16]),
			Data:  body[bodyFixed : bodyFixed+dlen : bodyFixed+dlen],
		}
		if ext := body[bodyFixed+dlen:]; len(ext) > 0 {
			out.Extensions = ext
		}
		if at := int64(binary.BigEndian.Uint64(body[17:])); at != 0 {
			out.AppendedAt = time.Unix(0, at)
		}
	}
	return recHeader + n, crc, nil
}

// recordIndex is the index field of a record that decodeRecord accepted.
func recordIndex(b []byte) uint64 { return binary.BigEndian.Uint64(b[recHeader:]) }

// scanned is a segment file as Open found it: its valid records, its
// size, and what follows the records.
type scanned struct {
	seg   *segment
	size  int64
	tail  tailKind
	zeros int64 // where the trailing zeros (or the end of the file) begin
}

// scanSegment validates the records of the segment b (the file at path)
// up to the first that does not validate, or does not carry the next
// index, and classifies what follows. A header that does not validate,
// or names another segment than the file name, gives errBadHeader.
func scanSegment(path string, b []byte, seq, first uint64) (*scanned, error) {
	hseq, hfirst, seed, err := decodeHeader(b)
	if err != nil {
		return nil, err
	}
	if hseq != seq || hfirst != first {
		return nil, fmt.Errorf("%w: it says seq %d first index %d, the file name seq %d first index %d", errBadHeader, hseq, hfirst, seq, first)
	}
	return scanRecords(path, b, seq, first, seed), nil
}

// scanRecords validates the records of segment b from the header on,
// chaining from seed; see scanSegment.
func scanRecords(path string, b []byte, seq, first uint64, seed uint32) *scanned {
	s := &segment{seq: seq, first: first, seed: seed, path: path, end: headerSize}
	prev := seed
	for off := headerSize; off < len(b); {
		size, crc, err := decodeRecord(b[off:], prev, nil)
		if err != nil || recordIndex(b[off:]) != first+uint64(len(s.offs)) {
			break
		}
		s.offs = append(s.offs, int64(off))
		s.crcs = append(s.crcs, crc)
		prev = crc
		off += size
		s.end = int64(off)
	}
	tail, z := classifyTail(b, int(s.end))
	return &scanned{seg: s, size: int64(len(b)), tail: tail, zeros: int64(z)}
}
