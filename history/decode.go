package history

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Format is a history file format.
type Format uint8

const (
	// JSONL is faultline's streaming format: one JSON op object per line.
	JSONL Format = iota + 1
	// JSON is a JSON array of op objects (Jepsen's JSON form), or JSONL.
	JSON
	// EDN is Jepsen's format: one op map per line, or a vector of op maps.
	EDN
)

func (f Format) String() string {
	switch f {
	case JSONL:
		return "jsonl"
	case JSON:
		return "json"
	case EDN:
		return "edn"
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// FormatOf tells the format of a history file from its extension.
func FormatOf(path string) (Format, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".jsonl":
		return JSONL, nil
	case ".json":
		return JSON, nil
	case ".edn":
		return EDN, nil
	default:
		return 0, fmt.Errorf("history: cannot tell the format of %s from its extension %q: use .jsonl or .json (faultline, Jepsen JSON) or .edn (Jepsen, Knossos, Elle), renaming the file if needed", path, ext)
	}
}

// Decoder reads a history one op at a time, so that a history larger than
// memory can be checked as it streams by. It reads every form Jepsen,
// Knossos and Elle write:
//
//   - EDN: one op map per line, or one vector (or list) of op maps; commas
//     are whitespace; ; comments, #_ discards and tagged records
//     (#jepsen.history.Op{...}) are allowed; keys may be keywords or
//     strings. JSON: one op object per line (JSONL), or an array of them.
//   - :type is required. :process is an integer or :nemesis; an op without
//     one gets NoProcess (see Pairing for how such ops pair). :f may be
//     missing (transaction histories), as may :value, :error and :node.
//   - An op without :index gets its position. An op without :time gets the
//     time of the op before it, so a history with no :time at all has
//     every Time 0: HasTimes tells, and checkers then order ops by their
//     position in the history, as Knossos does (they always do; a history
//     whose times run against its order gets a warning, see TimeOrder).
//   - Keyword and string values may carry a leading colon in JSON
//     (":invoke"); it is dropped for :type, :process and :f.
//   - Integers are exact: int64, or *big.Int beyond its range.
//
// A torn last op (the input ends inside it, as a killed writer leaves it)
// is an error, as is anything else malformed, naming its line; with
// DropTornTail it is dropped and counted instead. Stats says what was read,
// dropped and refused.
type Decoder struct {
	next  func() (Op, int, error) // the op and the line it starts on
	n     int64                   // ops returned so far
	time  int64                   // time of the last op
	jsonl *bufio.Reader
	err   error // the error that ended the history, returned ever after

	dropTorn bool
	pairs    *pairCheck
	order    TimeOrder
	stats    ReadStats
}

// DecoderOption configures a Decoder.
type DecoderOption func(*Decoder)

// DropTornTail makes a Decoder drop a torn last op and count it in Stats,
// rather than fail: the rule for our own history.jsonl read back after the
// harness was killed while writing it. A history from elsewhere gets no
// such benefit of the doubt.
func DropTornTail() DecoderOption { return func(d *Decoder) { d.dropTorn = true } }

// CheckPairs makes a Decoder refuse ops that cannot be paired under p.
func CheckPairs(p Pairing) DecoderOption {
	return func(d *Decoder) { d.pairs = &pairCheck{rules: p} }
}

// NewDecoder returns a Decoder reading format f from r.
func NewDecoder(r io.Reader, f Format, opts ...DecoderOption) *Decoder {
	d := &Decoder{}
	for _, o := range opts {
		o(d)
	}
	switch f {
	case JSONL:
		d.jsonl = bufio.NewReaderSize(r, 256<<10)
		d.next = d.jsonlNext(newScanner(nil, true))
	case JSON:
		br := bufio.NewReaderSize(r, 256<<10)
		if c, err := firstByte(br); err == nil && c != '[' {
			d.jsonl = br
			d.next = d.jsonlNext(newScanner(nil, true))
		} else {
			d.next = formsNext(newScanner(br, true), JSON)
		}
	default:
		d.next = formsNext(newScanner(r, false), EDN)
	}
	return d
}

// firstByte peeks at the first byte that is not whitespace.
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c, br.UnreadByte()
		}
	}
}

// tornError is a last op the input ends inside of.
type tornError struct {
	format Format
	line   int
}

func (e *tornError) Error() string {
	return fmt.Sprintf("history: %s line %d is cut off: the input ends inside the op it starts, as a killed writer leaves a torn last line; a history that was not read whole gets no verdict: complete the line or remove it (faultline analyze drops a torn last line of a run's own history.jsonl, and says so)", e.format, e.line)
}

// Next returns the next op, or io.EOF after the last one. An error ends
// the history: Next returns it again on every later call.
func (d *Decoder) Next() (Op, error) {
	if d.err != nil {
		return Op{}, d.err
	}
	op, line, err := d.next()
	if err != nil {
		var torn *tornError
		switch {
		case err == io.EOF:
			if w := d.order.Warning(); w != "" {
				d.stats.Warnings = append(d.stats.Warnings, w)
			}
		case errors.As(err, &torn) && d.dropTorn:
			d.stats.Dropped++
			d.stats.Why = append(d.stats.Why, fmt.Sprintf("dropped the torn last line %d (the input ends inside its op, as a killed writer leaves it)", torn.line))
			err = io.EOF
		default:
			d.stats.Refused++
			d.stats.Why = append(d.stats.Why, fmt.Sprintf("refused after %s: %v", Count(d.n, "op"), err))
		}
		d.err = err
		return Op{}, err
	}
	if op.Index == missingInt {
		op.Index = d.n
	}
	if op.Time == missingInt {
		op.Time = d.time
	}
	if d.pairs != nil {
		if err := d.pairs.add(op, line); err != nil {
			d.err = fmt.Errorf("history: %w", err)
			d.stats.Refused++
			d.stats.Why = append(d.stats.Why, fmt.Sprintf("refused after %s: %v", Count(d.n, "op"), err))
			return Op{}, d.err
		}
	}
	d.order.Add(op)
	d.time = op.Time
	d.n++
	d.stats.Read++
	if op.IsNemesis() {
		d.stats.Nemesis++
	}
	return op, nil
}

// Stats says what was read so far, dropped and refused, and why.
func (d *Decoder) Stats() ReadStats {
	s := d.stats
	s.Why = slices.Clone(s.Why)
	s.Warnings = slices.Clone(s.Warnings)
	return s
}

// All reads the rest of the history into memory.
func (d *Decoder) All() ([]Op, error) {
	var ops []Op
	for {
		op, err := d.Next()
		if err == io.EOF {
			return ops, nil
		}
		if err != nil {
			return ops, err
		}
		if len(ops) == cap(ops) {
			ops = slices.Grow(ops, max(len(ops), 1024)) // double: fewer copies of a long history
		}
		ops = append(ops, op)
	}
}

// missingInt marks :index and :time absent from an op until Next fills
// them in.
const missingInt = -1 << 63

// formsNext reads EDN or JSON ops as a stream of forms: top-level op maps,
// or op maps inside top-level vectors.
func formsNext(s *scanner, format Format) func() (Op, int, error) {
	var close byte // closing byte of the vector being read, 0 outside
	form := 0
	return func() (Op, int, error) {
		for {
			c, ok, err := s.skipSpace()
			if err != nil {
				return Op{}, s.line, fmt.Errorf("history: %s form %d: %w", format, form+1, err)
			}
			if !ok {
				if close != 0 {
					return Op{}, s.line, fmt.Errorf("history: %s: line %d: the input ends inside the vector of ops (cut off?): a history that was not read whole gets no verdict", format, s.line)
				}
				return Op{}, s.line, io.EOF
			}
			switch {
			case close == 0 && (c == '[' || (c == '(' && !s.json)):
				close = ']'
				if c == '(' {
					close = ')'
				}
				s.pos++
				continue
			case close != 0 && c == close:
				close = 0
				s.pos++
				continue
			}
			form++
			line := s.line
			s.cut = false
			op, err := s.op()
			if err == nil {
				return op, line, nil
			}
			var se *syntaxError
			if close == 0 && errors.As(err, &se) && s.line == line && (se.eof || s.cut) {
				return Op{}, line, &tornError{format: format, line: line}
			}
			return Op{}, line, fmt.Errorf("history: %s form %d: %w", format, form, err)
		}
	}
}

// jsonlNext reads JSONL ops, one per line.
func (d *Decoder) jsonlNext(s *scanner) func() (Op, int, error) {
	line := 0
	var long []byte
	return func() (Op, int, error) {
		for {
			b, rerr := d.jsonl.ReadSlice('\n')
			if rerr == bufio.ErrBufferFull { // a line longer than the buffer
				long = append(long[:0], b...)
				for rerr == bufio.ErrBufferFull {
					b, rerr = d.jsonl.ReadSlice('\n')
					long = append(long, b...)
				}
				b = long
			}
			if rerr != nil && rerr != io.EOF {
				return Op{}, line, fmt.Errorf("history: read jsonl: %w", rerr)
			}
			if len(b) == 0 && rerr == io.EOF {
				return Op{}, line, io.EOF
			}
			line++
			text := bytes.TrimSpace(b)
			if len(text) == 0 {
				continue
			}
			s.reset(text, line)
			op, err := s.op()
			if err == nil {
				if c, ok, _ := s.skipSpace(); ok {
					err = s.errorf("trailing data %q after the op", c)
				}
			}
			if err == nil {
				return op, line, nil
			}
			// Our own JSONL is only ever cut, never malformed otherwise:
			// dropping, any bad last line is a torn one. Refusing, only
			// one the input ends inside of is called torn.
			var se *syntaxError
			last := rerr == io.EOF || d.restIsBlank()
			if last && (d.dropTorn || errors.As(err, &se) && se.eof) {
				return Op{}, line, &tornError{format: JSONL, line: line}
			}
			return Op{}, line, fmt.Errorf("history: jsonl line %d: %w", line, err)
		}
	}
}

// restIsBlank reports whether only whitespace is left of a JSONL input.
func (d *Decoder) restIsBlank() bool {
	for {
		c, err := d.jsonl.ReadByte()
		if err != nil {
			return true
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			_ = d.jsonl.UnreadByte()
			return false
		}
	}
}

// op parses one op map (EDN, possibly tagged) or object (JSON).
func (s *scanner) op() (Op, error) {
	c, ok, err := s.skipSpace()
	if err != nil {
		return Op{}, err
	}
	if !ok {
		return Op{}, s.eofError("an op")
	}
	if c == '#' && !s.json && s.ensure(2) && s.buf[s.pos+1] != '{' && !delimiter(s.buf[s.pos+1]) {
		s.pos++
		s.token() // a tagged record: #jepsen.history.Op{...}
		if c, ok, err = s.skipSpace(); err != nil {
			return Op{}, err
		}
		if !ok {
			return Op{}, s.eofError("an op")
		}
	}
	if c != '{' {
		v, err := s.value()
		if err != nil {
			return Op{}, err
		}
		return Op{}, s.errorf("want an op map or a vector of op maps, got %s", showEDN(v))
	}
	s.pos++
	if err := s.enter(); err != nil {
		return Op{}, err
	}
	defer func() { s.depth-- }()
	op := Op{Index: missingInt, Time: missingInt, Process: NoProcess}
	for {
		c, ok, err := s.skipSpace()
		if err != nil {
			return op, err
		}
		if !ok {
			return op, s.eofError("an op")
		}
		if c == '}' {
			s.pos++
			break
		}
		k, err := s.opKey()
		if err != nil {
			return op, err
		}
		if err := s.colon(); err != nil {
			return op, err
		}
		if err := s.opField(&op, k); err != nil {
			return op, err
		}
	}
	if op.Type == 0 {
		return op, s.errorf("op has no :type")
	}
	return op, nil
}

// Op fields by key.
const (
	fieldOther = iota
	fieldIndex
	fieldTime
	fieldType
	fieldProcess
	fieldF
	fieldValue
	fieldError
	fieldNode
)

// opKey parses an op map key and says which field it names.
func (s *scanner) opKey() (int, error) {
	c, _, _ := s.skipSpace()
	var b []byte
	switch {
	case c == ':' && !s.json:
		s.pos++
		b = s.token()
	case c == '"':
		s.pos++
		var err error
		if b, err = s.strBytes(); err != nil {
			return 0, err
		}
		if len(b) > 0 && b[0] == ':' {
			b = b[1:]
		}
	default:
		if _, err := s.value(); err != nil {
			return 0, err
		}
		return fieldOther, nil
	}
	switch string(b) {
	case "index":
		return fieldIndex, nil
	case "time":
		return fieldTime, nil
	case "type":
		return fieldType, nil
	case "process":
		return fieldProcess, nil
	case "f":
		return fieldF, nil
	case "value":
		return fieldValue, nil
	case "error":
		return fieldError, nil
	case "node":
		return fieldNode, nil
	}
	return fieldOther, nil
}

// opField parses the value of field k into op.
func (s *scanner) opField(op *Op, k int) error {
	if k == fieldError {
		return s.opError(op)
	}
	v, err := s.value()
	if err != nil {
		return err
	}
	switch k {
	case fieldIndex, fieldTime:
		if v == nil {
			return nil // as if absent
		}
		i, err := IntOf(v)
		if err != nil {
			return s.errorf("%s %v", fieldName(k), err)
		}
		if k == fieldIndex {
			op.Index = i
		} else {
			op.Time = i
		}
	case fieldType:
		t, ok := v.(string)
		if !ok {
			return s.errorf(":type %s is not a keyword", showEDN(v))
		}
		typ, err := ParseType(strings.TrimPrefix(t, ":"))
		if err != nil {
			return s.errorf("%v", err)
		}
		op.Type = typ
	case fieldProcess:
		switch p := v.(type) {
		case nil:
		case int64:
			if p <= NoProcess || p > 1<<31-1 {
				return s.errorf(":process %d is out of range", p)
			}
			op.Process = int(p) // -1, as faultline's JSONL writes the nemesis, is NemesisProcess
		case *big.Int:
			return s.errorf(":process %s is out of range", p)
		case string:
			if strings.TrimPrefix(p, ":") != "nemesis" {
				return s.errorf(":process %q: want an integer or :nemesis", p)
			}
			op.Process = NemesisProcess
		default:
			return s.errorf(":process %s: want an integer or :nemesis", showEDN(v))
		}
	case fieldF:
		switch f := v.(type) {
		case nil:
		case string:
			op.F = strings.TrimPrefix(f, ":")
		default:
			op.F = showEDN(f)
		}
	case fieldValue:
		op.Value = v
	case fieldNode:
		if n, ok := v.(string); ok {
			op.Node = n
		}
	}
	return nil
}

func fieldName(k int) string {
	if k == fieldIndex {
		return ":index"
	}
	return ":time"
}

// opError parses :error, keeping a structured error's text as written
// (e.g. [:timeout "no response"]).
func (s *scanner) opError(op *Op) error {
	if _, _, err := s.skipSpace(); err != nil {
		return err
	}
	s.capture, s.captured = s.pos, s.captured[:0]
	v, err := s.value()
	if s.capture >= 0 {
		s.captured = append(s.captured, s.buf[s.capture:s.pos]...)
	}
	s.capture = -1
	if err != nil {
		return err
	}
	switch e := v.(type) {
	case nil:
	case string:
		op.Error = e // keywords without their colon
	default:
		op.Error = string(s.captured)
		if !utf8.ValidString(op.Error) {
			op.Error = string(validUTF8(s.captured))
		}
	}
	return nil
}

// showEDN renders a value for an error message.
func showEDN(v any) string {
	b, err := appendEDNValue(nil, v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// ReadEDN reads an EDN history (see Decoder).
func ReadEDN(r io.Reader) ([]Op, error) { return NewDecoder(r, EDN).All() }

// ReadJSONL reads our own JSONL history (see Decoder), dropping a torn
// last line as a killed harness leaves it.
func ReadJSONL(r io.Reader) ([]Op, error) { return NewDecoder(r, JSONL, DropTornTail()).All() }

// OpenFile opens a history file and tells its format from its extension
// (see FormatOf); a directory is refused as one.
func OpenFile(path string) (*os.File, Format, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, 0, fmt.Errorf("history: %s is a directory, not a history file: give the history file itself (an .edn, .json or .jsonl file); `faultline analyze DIR` re-checks a stored run's directory", path)
	}
	format, err := FormatOf(path)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("history: read %s: %w", path, err)
	}
	return f, format, nil
}

// ReadFile reads a history file of our own, choosing the format by
// extension (see FormatOf and Decoder). A torn last line of a .jsonl file
// (a killed harness) is dropped; ReadFileStats counts it.
func ReadFile(path string) ([]Op, error) {
	ops, _, err := ReadFileStats(path)
	return ops, err
}

// ReadFileStats is ReadFile, with what was read, dropped and why: a run's
// history.jsonl read back after the harness was killed may end in a torn
// line, dropped (Stats.Dropped 1, and Why says which line).
func ReadFileStats(path string) ([]Op, ReadStats, error) {
	f, format, err := OpenFile(path)
	if err != nil {
		return nil, ReadStats{}, err
	}
	defer f.Close()
	var opts []DecoderOption
	if format == JSONL {
		opts = append(opts, DropTornTail())
	}
	dec := NewDecoder(f, format, opts...)
	ops, err := dec.All()
	if err != nil {
		return nil, dec.Stats(), fmt.Errorf("%w (file %s)", err, path)
	}
	return ops, dec.Stats(), nil
}
