package history

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
//     one gets NoProcess (only completions may lack it: Elle's example
//     histories hold only :ok, :info and :fail ops). :f may be missing
//     (transaction histories), as may :value, :error and :node.
//   - An op without :index gets its position. An op without :time gets the
//     time of the op before it, so a history with no :time at all has
//     every Time 0: HasTimes tells, and checkers then order ops by their
//     position in the history, as Knossos does (they always do: positions
//     follow time in every well-formed history).
//   - Keyword and string values may carry a leading colon in JSON
//     (":invoke"); it is dropped for :type, :process and :f.
//
// A torn final op (a killed writer) is skipped silently: in EDN an op cut
// off by the end of the input on its last line, in JSONL any malformed
// last line. Anything else malformed is an error naming its line.
type Decoder struct {
	next  func() (Op, error)
	n     int64 // ops returned so far
	time  int64 // time of the last op
	jsonl *bufio.Reader
}

// NewDecoder returns a Decoder reading format f from r.
func NewDecoder(r io.Reader, f Format) *Decoder {
	d := &Decoder{}
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

// Next returns the next op, or io.EOF after the last one.
func (d *Decoder) Next() (Op, error) {
	op, err := d.next()
	if err != nil {
		return Op{}, err
	}
	if op.Index == missingInt {
		op.Index = d.n
	}
	if op.Time == missingInt {
		op.Time = d.time
	}
	d.time = op.Time
	d.n++
	if op.Process == NoProcess && op.Type == Invoke {
		return Op{}, fmt.Errorf("history: op %d (index %d) is an invocation without :process: it cannot be paired with its completion; give every invocation and completion a :process (completions alone may omit it)", d.n-1, op.Index)
	}
	return op, nil
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
func formsNext(s *scanner, format Format) func() (Op, error) {
	var close byte // closing byte of the vector being read, 0 outside
	form := 0
	return func() (Op, error) {
		for {
			c, ok, err := s.skipSpace()
			if err != nil {
				return Op{}, fmt.Errorf("history: %s form %d: %w", format, form+1, err)
			}
			if !ok {
				if close != 0 {
					return Op{}, fmt.Errorf("history: %s: line %d: input ends inside the vector of ops", format, s.line)
				}
				return Op{}, io.EOF
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
				return op, nil
			}
			var se *syntaxError
			if close == 0 && errors.As(err, &se) && s.line == line && (se.eof || s.cut) {
				return Op{}, io.EOF // a torn last line: the writer was killed
			}
			return Op{}, fmt.Errorf("history: %s form %d: %w", format, form, err)
		}
	}
}

// jsonlNext reads JSONL ops, one per line.
func (d *Decoder) jsonlNext(s *scanner) func() (Op, error) {
	line := 0
	var long []byte
	return func() (Op, error) {
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
				return Op{}, fmt.Errorf("history: read jsonl: %w", rerr)
			}
			if len(b) == 0 && rerr == io.EOF {
				return Op{}, io.EOF
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
				return op, nil
			}
			if rerr == io.EOF || d.restIsBlank() {
				return Op{}, io.EOF // a torn last line: the writer was killed
			}
			return Op{}, fmt.Errorf("history: jsonl line %d: %w", line, err)
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
		i, ok := Int(v)
		if !ok {
			return s.errorf("%s %s is not an integer", fieldName(k), showEDN(v))
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

// ReadEDN reads a Jepsen EDN history (see Decoder).
func ReadEDN(r io.Reader) ([]Op, error) { return NewDecoder(r, EDN).All() }

// ReadJSONL reads a JSONL history (see Decoder).
func ReadJSONL(r io.Reader) ([]Op, error) { return NewDecoder(r, JSONL).All() }

// ReadFile reads a history file, choosing the format by extension (see
// FormatOf and Decoder).
func ReadFile(path string) ([]Op, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("history: read %s: %w", path, err)
	}
	defer f.Close()
	ops, err := NewDecoder(f, format).All()
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return ops, nil
}
