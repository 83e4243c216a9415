package system

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Wire format (big endian throughout):
//
//	frame   = u32 length | u64 request id | u8 opcode | payload
//	length  = number of bytes after the length field (9 + len(payload))
//	string  = u32 length | bytes            ("str" below; also used for values)
//
// Request payloads:
//
//	GET     str key
//	SET     session | str key | str value
//	CLEAR   session | str key
//	CAS     session | str key | str expected | str new
//	APPEND  session | str key | str elem
//	TXN     session | u32 n | n * (u8 kind | str key | str value | u8 absent)
//	session = u64 client id | u64 seq | u64 floor
//
// A client id of 0 disables deduplication for that request. floor is the
// client's lowest sequence number still awaiting an answer: the server may
// forget saved responses below it.
//
// Response payloads start with a u8 status. For OK: GET carries str value,
// TXN carries u32 n | n * (u8 found | str value), other ops carry nothing.
// Every other status carries str message | str leader id | str leader addr.

const (
	// DefaultMaxFrameSize is the default limit on a frame's length field.
	DefaultMaxFrameSize = 4 << 20
	// frameHeaderLen is the length field plus request id plus opcode.
	frameHeaderLen = 4 + 8 + 1
	// minFrameLen is the smallest legal value of the length field.
	minFrameLen = 8 + 1
	// sessionLen is the size of a mutation's session fields.
	sessionLen = 3 * 8
)

// Log-only opcodes, never on the wire: opNoop is the fresh leader's
// readiness entry, opBatch a log entry holding several commands.
const (
	opNoop  Opcode = 0
	opBatch Opcode = 0x80
)

// Frame is one decoded frame.
type Frame struct {
	ID      uint64
	Op      Opcode
	Payload []byte
}

// Framing errors.
var (
	// ErrShortFrame means the buffer holds less than one whole frame.
	ErrShortFrame = errors.New("kv wire: incomplete frame (need more bytes)")
	// ErrFrameTooLarge means a frame's length exceeds the configured maximum;
	// the connection must be closed because the stream cannot be trusted.
	ErrFrameTooLarge = errors.New("kv wire: frame too large (raise the max frame size or send smaller values)")
	// ErrBadFrame means the length field is too small to hold a header.
	ErrBadFrame = errors.New("kv wire: malformed frame header (length below 9); the stream is corrupt")
)

// ValidOpcode reports whether op is a known client opcode.
func ValidOpcode(op Opcode) bool { return op >= OpGet && op <= OpTxn }

// String returns the protocol name of op.
func (op Opcode) String() string {
	switch op {
	case opNoop:
		return "NOOP"
	case OpGet:
		return "GET"
	case OpSet:
		return "SET"
	case OpClear:
		return "CLEAR"
	case OpCAS:
		return "CAS"
	case OpAppend:
		return "APPEND"
	case OpTxn:
		return "TXN"
	}
	return fmt.Sprintf("OP(%d)", uint8(op))
}

// AppendFrame appends the encoding of f to dst.
func AppendFrame(dst []byte, f Frame) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(minFrameLen+len(f.Payload)))
	dst = binary.BigEndian.AppendUint64(dst, f.ID)
	dst = append(dst, byte(f.Op))
	return append(dst, f.Payload...)
}

// decodeFrame decodes one frame from the start of b and returns it with the
// number of bytes consumed. The payload aliases b. maxSize <= 0 means
// DefaultMaxFrameSize. On ErrFrameTooLarge the returned frame carries the
// request id and opcode when b holds them, so the caller can answer.
func decodeFrame(b []byte, maxSize int) (Frame, int, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxFrameSize
	}
	if len(b) < 4 {
		return Frame{}, 0, ErrShortFrame
	}
	n := binary.BigEndian.Uint32(b)
	if n < minFrameLen {
		return Frame{}, 0, ErrBadFrame
	}
	if uint64(n) > uint64(maxSize) {
		var f Frame
		if len(b) >= frameHeaderLen {
			f.ID = binary.BigEndian.Uint64(b[4:])
			f.Op = Opcode(b[12])
		}
		return f, 0, &FrameSizeError{Size: n, Max: maxSize}
	}
	total := 4 + int(n)
	if len(b) < total {
		return Frame{}, 0, ErrShortFrame
	}
	return Frame{
		ID:      binary.BigEndian.Uint64(b[4:]),
		Op:      Opcode(b[12]),
		Payload: b[frameHeaderLen:total:total],
	}, total, nil
}

// FrameSizeError is the error for a frame whose length field exceeds the
// maximum; errors.Is(err, ErrFrameTooLarge) holds. Size bytes follow the
// length field.
type FrameSizeError struct {
	Size uint32
	Max  int
}

func (e *FrameSizeError) Error() string {
	return fmt.Sprintf("%v: %d bytes > max %d", ErrFrameTooLarge, e.Size, e.Max)
}

// Unwrap makes errors.Is(err, ErrFrameTooLarge) hold.
func (e *FrameSizeError) Unwrap() error { return ErrFrameTooLarge }

// ReadFrame reads one frame from r. The payload is freshly allocated and
// grows as its bytes arrive, so a header claiming a large frame costs
// memory only for the bytes that really follow it. On ErrFrameTooLarge (a
// *FrameSizeError) the frame carries the id and opcode and the stream is
// left just after the header: close it, or skip the payload with
// SkipPayload.
func ReadFrame(r io.Reader, maxSize int) (Frame, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxFrameSize
	}
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < minFrameLen {
		return Frame{}, ErrBadFrame
	}
	if _, err := io.ReadFull(r, hdr[4:]); err != nil {
		return Frame{}, noEOF(err)
	}
	f := Frame{ID: binary.BigEndian.Uint64(hdr[4:]), Op: Opcode(hdr[12])}
	if uint64(n) > uint64(maxSize) {
		return f, &FrameSizeError{Size: n, Max: maxSize}
	}
	var err error
	f.Payload, err = readGrowing(r, int(n)-minFrameLen)
	return f, err
}

// SkipPayload discards the payload of the frame whose header gave err (a
// *FrameSizeError from ReadFrame), so the stream is at the next frame.
func SkipPayload(r io.Reader, err *FrameSizeError) error {
	_, cerr := io.CopyN(io.Discard, r, int64(err.Size)-minFrameLen)
	return noEOF(cerr)
}

// growChunk is the first allocation for a payload, and the whole
// allocation for payloads up to this size (almost all of them).
const growChunk = 8 << 10

// readGrowing reads exactly n bytes, allocating as they arrive: growChunk
// first, then doubling, never beyond n.
func readGrowing(r io.Reader, n int) ([]byte, error) {
	if n <= growChunk {
		buf := make([]byte, n)
		_, err := io.ReadFull(r, buf)
		return buf, noEOF(err)
	}
	buf := make([]byte, 0, growChunk)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(2*cap(buf), n))
			copy(nb, buf)
			buf = nb
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			return buf, noEOF(err)
		}
	}
	return buf, nil
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: the stream ended mid-frame.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Request is a decoded request payload. Fields not used by Op are zero.
type Request struct {
	Op Opcode
	// ClientID, Seq and Floor identify a mutating request for exactly-once
	// application (see the package doc). ClientID 0 disables dedup.
	ClientID, Seq, Floor uint64
	Key                  string
	Expected             []byte // CAS
	Value                []byte // SET value, CAS new value, APPEND element
	Ops                  []MicroOp
}

// Mutating reports whether op changes state (and so carries a session).
func Mutating(op Opcode) bool { return op != OpGet && op != opNoop }

// ReadOnly reports whether the request only reads: a GET, or a TXN made only
// of reads (compares included).
func (r *Request) ReadOnly() bool {
	switch r.Op {
	case OpGet:
		return true
	case OpTxn:
		for _, m := range r.Ops {
			if m.Kind != MicroRead && m.Kind != MicroCompare {
				return false
			}
		}
		return true
	}
	return false
}

// AppendPayload appends the request payload for r.Op to dst.
func (r *Request) AppendPayload(dst []byte) []byte {
	if Mutating(r.Op) {
		dst = binary.BigEndian.AppendUint64(dst, r.ClientID)
		dst = binary.BigEndian.AppendUint64(dst, r.Seq)
		dst = binary.BigEndian.AppendUint64(dst, r.Floor)
	}
	switch r.Op {
	case OpGet, OpClear:
		dst = appendStr(dst, r.Key)
	case OpSet, OpAppend:
		dst = appendStr(dst, r.Key)
		dst = appendBytes(dst, r.Value)
	case OpCAS:
		dst = appendStr(dst, r.Key)
		dst = appendBytes(dst, r.Expected)
		dst = appendBytes(dst, r.Value)
	case OpTxn:
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.Ops)))
		for _, m := range r.Ops {
			dst = append(dst, byte(m.Kind))
			dst = appendStr(dst, m.Key)
			dst = appendBytes(dst, m.Value)
			if m.Absent {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		}
	}
	return dst
}

// DecodeRequest decodes a request payload for op. Byte slices in the result
// alias payload. Errors describe the malformation (answer BAD_REQUEST).
func DecodeRequest(op Opcode, payload []byte) (Request, error) {
	d := decoder{b: payload}
	r := Request{Op: op}
	if !ValidOpcode(op) && op != opNoop {
		return r, fmt.Errorf("unknown opcode %d (valid: 1..6)", uint8(op))
	}
	if Mutating(op) {
		r.ClientID = d.u64()
		r.Seq = d.u64()
		r.Floor = d.u64()
	}
	switch op {
	case OpGet, OpClear:
		r.Key = d.str()
	case OpSet, OpAppend:
		r.Key = d.str()
		r.Value = d.bytes()
	case OpCAS:
		r.Key = d.str()
		r.Expected = d.bytes()
		r.Value = d.bytes()
	case OpTxn:
		n := d.u32()
		// Each micro-op takes at least 10 bytes: bound n before allocating.
		if d.err == nil && uint64(n)*10 > uint64(len(d.b)-d.off) {
			d.fail("txn op count %d exceeds payload", n)
		}
		if d.err == nil {
			r.Ops = make([]MicroOp, 0, n)
		}
		for i := uint32(0); i < n && d.err == nil; i++ {
			var m MicroOp
			m.Kind = MicroKind(d.u8())
			m.Key = d.str()
			m.Value = d.bytes()
			switch absent := d.u8(); absent {
			case 0, 1:
				m.Absent = absent == 1
			default:
				d.fail("txn op %d: absent flag must be 0 or 1, got %d", i, absent)
			}
			switch m.Kind {
			case MicroRead, MicroWrite, MicroAppend, MicroCompare:
			default:
				d.fail("txn op %d: unknown micro-op kind %q (valid: r w a c)", i, rune(m.Kind))
			}
			r.Ops = append(r.Ops, m)
		}
	}
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d trailing bytes", len(d.b)-d.off)
	}
	if d.err != nil {
		return r, fmt.Errorf("malformed %s request: %w", op, d.err)
	}
	return r, nil
}

// Response is a decoded response payload.
type Response struct {
	Status Status
	// Value is the GET result (Status OK).
	Value []byte
	// Results are the TXN micro-op results (Status OK), one per micro-op.
	Results []MicroResult
	// Msg, LeaderID and LeaderAddr accompany every non-OK status.
	Msg, LeaderID, LeaderAddr string
}

// Err converts a non-OK response to an *Error; OK gives nil.
func (r *Response) Err() error {
	if r.Status == StatusOK {
		return nil
	}
	return &Error{Status: r.Status, Msg: r.Msg, LeaderID: r.LeaderID, LeaderAddr: r.LeaderAddr}
}

// AppendPayload appends the response payload for a request with opcode op.
func (r *Response) AppendPayload(op Opcode, dst []byte) []byte {
	dst = append(dst, byte(r.Status))
	if r.Status != StatusOK {
		dst = appendStr(dst, r.Msg)
		dst = appendStr(dst, r.LeaderID)
		return appendStr(dst, r.LeaderAddr)
	}
	switch op {
	case OpGet:
		dst = appendBytes(dst, r.Value)
	case OpTxn:
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.Results)))
		for _, res := range r.Results {
			if res.Found {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
			dst = appendBytes(dst, res.Value)
		}
	}
	return dst
}

// DecodeResponse decodes a response payload to a request with opcode op.
func DecodeResponse(op Opcode, payload []byte) (Response, error) {
	d := decoder{b: payload}
	var r Response
	r.Status = Status(d.u8())
	if d.err == nil && r.Status > maxStatus {
		d.fail("unknown status %d", uint8(r.Status))
	}
	if d.err == nil && r.Status != StatusOK {
		r.Msg = d.str()
		r.LeaderID = d.str()
		r.LeaderAddr = d.str()
	} else if d.err == nil {
		switch op {
		case OpGet:
			r.Value = d.bytes()
		case OpTxn:
			n := d.u32()
			if d.err == nil && uint64(n)*5 > uint64(len(d.b)-d.off) {
				d.fail("txn result count %d exceeds payload", n)
			}
			if d.err == nil {
				r.Results = make([]MicroResult, 0, n)
			}
			for i := uint32(0); i < n && d.err == nil; i++ {
				found := d.u8() != 0
				v := d.bytes()
				r.Results = append(r.Results, MicroResult{Value: v, Found: found})
			}
		}
	}
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d trailing bytes", len(d.b)-d.off)
	}
	if d.err != nil {
		return r, fmt.Errorf("malformed %s response: %w", op, d.err)
	}
	return r, nil
}

// encodeList encodes a list value: the concatenation of u32 length | bytes
// for each element (no count, so APPEND only appends bytes). The empty list
// encodes as zero bytes.
func encodeList(elems [][]byte) []byte {
	n := 0
	for _, e := range elems {
		n += 4 + len(e)
	}
	out := make([]byte, 0, n)
	for _, e := range elems {
		out = appendBytes(out, e)
	}
	return out
}

// DecodeList decodes a list value built by APPEND (see encodeList). The
// elements alias b.
func DecodeList(b []byte) ([][]byte, error) {
	var out [][]byte
	d := decoder{b: b}
	for d.err == nil && d.off < len(b) {
		e := d.bytes()
		if d.err == nil {
			out = append(out, e)
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("kv: value is not a list (was it written by PUT rather than APPEND?): %w", d.err)
	}
	return out, nil
}

func validList(b []byte) bool {
	off := 0
	for off < len(b) {
		if len(b)-off < 4 {
			return false
		}
		n := binary.BigEndian.Uint32(b[off:])
		off += 4
		if uint64(n) > uint64(len(b)-off) {
			return false
		}
		off += int(n)
	}
	return true
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// decoder reads big-endian fields with a sticky error.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) need(n int, what string) bool {
	if d.err != nil {
		return false
	}
	if len(d.b)-d.off < n {
		d.fail("truncated %s at offset %d: need %d bytes, have %d", what, d.off, n, len(d.b)-d.off)
		return false
	}
	return true
}

func (d *decoder) u8() uint8 {
	if !d.need(1, "u8") {
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) u32() uint32 {
	if !d.need(4, "u32") {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *decoder) u64() uint64 {
	if !d.need(8, "u64") {
		return 0
	}
	v := binary.BigEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

func (d *decoder) bytes() []byte {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)-d.off) {
		d.fail("truncated string at offset %d: length %d, have %d bytes", d.off, n, len(d.b)-d.off)
		return nil
	}
	v := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }
