package history

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner parses EDN or JSON values from a byte stream, refilling its
// buffer as it goes. It is the one reader of history files: EDN (Jepsen,
// Knossos, Elle), JSONL (faultline) and JSON arrays (Jepsen's JSON form)
// differ only in a few tokens, and the field rules of an op are the same
// for all three (see scanner.op).
//
// EDN values come out in the normalized shapes (see Normalize): integers
// int64 (*big.Int beyond its range), other numbers float64, strings, keywords and symbols string
// (keywords without their colon), nil, bool, vectors, lists and sets
// []any (sets sorted), maps map[string]any. Tagged literals (#inst,
// #uuid, #jepsen.history.Op{...}) read as their value.
type scanner struct {
	r    io.Reader // nil: buf is the whole input
	buf  []byte
	pos  int
	end  int
	done bool // r is drained (or failed: rerr)
	rerr error

	line  int  // 1-based line of buf[pos]
	json  bool // JSON syntax: "key": value, null; no keywords, comments or tags
	depth int

	scratch []byte            // a token that spans refills
	stack   []any             // elements of the collections being read
	intern  map[string]string // keywords, symbols and short strings
	// capture, when >= 0, is where in buf the text being captured
	// starts; text already shifted out of buf is in captured.
	capture  int
	captured []byte
	// cut is set when a token ran into the end of the input inside a
	// collection: the input may have been cut off there.
	cut bool
}

// maxDepth bounds the nesting of values, so hostile input cannot exhaust
// the stack.
const maxDepth = 1000

// maxInterned bounds the intern table, so hostile input cannot grow it
// without limit.
const maxInterned = 1 << 14

func newScanner(r io.Reader, json bool) *scanner {
	return &scanner{r: r, buf: make([]byte, 256<<10), line: 1, json: json, capture: -1,
		intern: map[string]string{}}
}

// reset points s at an in-memory input (one JSONL line).
func (s *scanner) reset(b []byte, line int) {
	s.r, s.buf, s.pos, s.end, s.done, s.rerr, s.line, s.depth, s.cut = nil, b, 0, len(b), true, nil, line, 0, false
}

// syntaxError is a malformed input; eof marks an input that ended inside
// a value (a torn write).
type syntaxError struct {
	line int
	msg  string
	eof  bool
}

func (e *syntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func (s *scanner) errorf(format string, args ...any) error {
	return &syntaxError{line: s.line, msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) eofError(what string) error {
	if s.rerr != nil {
		return fmt.Errorf("line %d: reading %s: %w", s.line, what, s.rerr)
	}
	return &syntaxError{line: s.line, msg: "input ends inside " + what, eof: true}
}

// fill reads more input once buf[pos:end] is consumed; false at the end.
func (s *scanner) fill() bool {
	if s.done {
		return false
	}
	if s.capture >= 0 {
		s.captured = append(s.captured, s.buf[s.capture:s.end]...)
		s.capture = 0
	}
	for {
		n, err := s.r.Read(s.buf)
		s.pos, s.end = 0, n
		if err != nil {
			s.done = true
			if err != io.EOF {
				s.rerr = err
			}
		}
		if n > 0 || s.done {
			return n > 0
		}
	}
}

func (s *scanner) peek() (byte, bool) {
	if s.pos < s.end || s.fill() {
		return s.buf[s.pos], true
	}
	return 0, false
}

// skipSpace skips whitespace, commas, comments and #_ discards and
// returns the next byte, not consumed; false at the end of the input.
func (s *scanner) skipSpace() (byte, bool, error) {
	for {
		for s.pos < s.end {
			c := s.buf[s.pos]
			switch c {
			case ' ', '\t', '\r', ',', '\v', '\f':
				s.pos++
				continue
			case '\n':
				s.line++
				s.pos++
				continue
			case ';':
				if s.json {
					return c, true, nil
				}
				s.skipLine()
				continue
			case '#':
				if s.json || !s.ensure(2) || s.buf[s.pos+1] != '_' {
					return c, true, nil
				}
				s.pos += 2
				if _, err := s.value(); err != nil {
					return 0, false, err
				}
				continue
			}
			return c, true, nil
		}
		if !s.fill() {
			return 0, false, nil
		}
	}
}

// ensure makes n bytes available at buf[pos:] if the input has them.
func (s *scanner) ensure(n int) bool {
	for s.end-s.pos < n {
		if s.done {
			return false
		}
		if s.capture >= 0 {
			s.captured = append(s.captured, s.buf[s.capture:s.pos]...)
			s.capture = 0
		}
		k := copy(s.buf, s.buf[s.pos:s.end])
		s.pos, s.end = 0, k
		m, err := s.r.Read(s.buf[k:])
		s.end += m
		if err != nil {
			s.done = true
			if err != io.EOF {
				s.rerr = err
			}
		}
	}
	return true
}

func (s *scanner) skipLine() {
	for {
		for s.pos < s.end {
			if s.buf[s.pos] == '\n' {
				return
			}
			s.pos++
		}
		if !s.fill() {
			return
		}
	}
}

// delimiter reports whether c ends a symbol, number or keyword.
func delimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', '\v', '\f', '(', ')', '[', ']', '{', '}', '"', ';', '\\':
		return true
	}
	return false
}

// token scans bytes up to a delimiter. The result is valid until the next
// call that reads input.
func (s *scanner) token() []byte {
	start := s.pos
	for s.pos < s.end {
		if delimiter(s.buf[s.pos]) || (s.json && s.buf[s.pos] == ':') {
			return s.buf[start:s.pos]
		}
		s.pos++
	}
	// The token runs into the end of the buffer.
	s.scratch = append(s.scratch[:0], s.buf[start:s.end]...)
	for s.fill() {
		for s.pos < s.end {
			if delimiter(s.buf[s.pos]) || (s.json && s.buf[s.pos] == ':') {
				s.scratch = append(s.scratch, s.buf[:s.pos]...)
				return s.scratch
			}
			s.pos++
		}
		s.scratch = append(s.scratch, s.buf[:s.end]...)
	}
	s.cut = s.depth > 0
	return s.scratch
}

// name returns b as a string, shared with earlier equal names; bytes
// that are not UTF-8 read as U+FFFD, as in strings.
func (s *scanner) name(b []byte) string {
	if n, ok := s.intern[string(b)]; ok {
		return n
	}
	if !utf8.Valid(b) {
		b = validUTF8(b)
	}
	n := string(b)
	if len(s.intern) < maxInterned {
		s.intern[n] = n
	}
	return n
}

// value parses the next value.
func (s *scanner) value() (any, error) {
	c, ok, err := s.skipSpace()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.eofError("a value")
	}
	switch c {
	case '[':
		s.pos++
		return s.seq(']')
	case '{':
		s.pos++
		return s.mapping()
	case '"':
		s.pos++
		return s.str()
	case ']', '}', ')':
		return nil, s.errorf("unexpected %q", c)
	}
	if s.json {
		tok := s.token()
		if len(tok) == 0 {
			return nil, s.errorf("unexpected %q", c)
		}
		switch string(tok) {
		case "null":
			return nil, nil
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		if v, ok := number(tok, true); ok {
			return v, nil
		}
		if _, err := strconv.ParseFloat(string(tok), 64); errors.Is(err, strconv.ErrRange) {
			return nil, s.errorf("number %s is beyond the range of a 64-bit float (JSON has no infinity)", tok)
		}
		return nil, s.errorf("unexpected %q", tok)
	}
	switch c {
	case '(':
		s.pos++
		return s.seq(')')
	case ':':
		s.pos++
		tok := s.token()
		if len(tok) > 0 && tok[0] == ':' { // ::auto-resolved
			tok = tok[1:]
		}
		if len(tok) == 0 {
			return nil, s.errorf("empty keyword")
		}
		return s.name(tok), nil
	case '\\':
		s.pos++
		return s.char()
	case '#':
		s.pos++
		return s.dispatch()
	}
	tok := s.token()
	if len(tok) == 0 {
		return nil, s.errorf("unexpected %q", c)
	}
	switch string(tok) {
	case "nil":
		return nil, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	if c >= '0' && c <= '9' || ((c == '-' || c == '+') && len(tok) > 1 && tok[1] >= '0' && tok[1] <= '9') {
		if v, ok := number(tok, false); ok {
			return v, nil
		}
		return nil, s.errorf("bad number %q", tok)
	}
	return s.name(tok), nil
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > maxDepth {
		return s.errorf("values nested more than %d deep", maxDepth)
	}
	return nil
}

// seq parses the elements of a vector, list or set up to close.
func (s *scanner) seq(close byte) ([]any, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer func() { s.depth-- }()
	// Elements gather on a stack shared by nested collections, and are
	// copied out once, to a list of the right size.
	base := len(s.stack)
	defer func() { clear(s.stack[base:]); s.stack = s.stack[:base] }()
	for {
		c, ok, err := s.skipSpace()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, s.eofError("a collection")
		}
		if c == close {
			s.pos++
			return append(make([]any, 0, len(s.stack)-base), s.stack[base:]...), nil
		}
		v, err := s.value()
		if err != nil {
			return nil, err
		}
		s.stack = append(s.stack, v)
	}
}

// mapping parses a map's entries up to its '}'; keys become strings (see
// keyName).
func (s *scanner) mapping() (map[string]any, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer func() { s.depth-- }()
	m := make(map[string]any, 4)
	for {
		c, ok, err := s.skipSpace()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, s.eofError("a map")
		}
		if c == '}' {
			s.pos++
			return m, nil
		}
		k, err := s.value()
		if err != nil {
			return nil, err
		}
		if err := s.colon(); err != nil {
			return nil, err
		}
		v, err := s.value()
		if err != nil {
			return nil, err
		}
		m[keyName(k)] = v
	}
}

// colon consumes the ':' between a JSON key and its value.
func (s *scanner) colon() error {
	if !s.json {
		return nil
	}
	c, ok, err := s.skipSpace()
	if err != nil {
		return err
	}
	if !ok {
		return s.eofError("an object")
	}
	if c != ':' {
		return s.errorf("want ':' after an object key, got %q", c)
	}
	s.pos++
	return nil
}

// keyName renders a map key as the string key of a map[string]any.
func keyName(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case nil:
		return "nil"
	}
	b, err := appendEDNValue(nil, k)
	if err != nil {
		return fmt.Sprint(k)
	}
	return string(b)
}

// str parses a string after its opening quote.
func (s *scanner) str() (string, error) {
	b, err := s.strBytes()
	if err != nil {
		return "", err
	}
	if len(b) <= 32 {
		return s.name(b), nil
	}
	if !utf8.Valid(b) {
		b = validUTF8(b)
	}
	return string(b), nil
}

// strBytes parses a string after its opening quote; the result is valid
// until the next call that reads input.
func (s *scanner) strBytes() ([]byte, error) {
	start := s.pos
	for s.pos < s.end {
		c := s.buf[s.pos]
		if c == '"' {
			s.pos++
			return s.buf[start : s.pos-1], nil
		}
		if c == '\\' || c == '\n' || c < 0x20 {
			break
		}
		s.pos++
	}
	// Escapes, newlines or a refill: the slow path.
	s.scratch = append(s.scratch[:0], s.buf[start:s.pos]...)
	for {
		if s.pos >= s.end && !s.fill() {
			return nil, s.eofError("a string")
		}
		c := s.buf[s.pos]
		s.pos++
		switch {
		case c == '"':
			return s.scratch, nil
		case c == '\\':
			r, err := s.escape()
			if err != nil {
				return nil, err
			}
			s.scratch = utf8.AppendRune(s.scratch, r)
		case c < 0x20 && s.json:
			return nil, s.errorf("control character %q in a string", c)
		default:
			if c == '\n' {
				s.line++
			}
			s.scratch = append(s.scratch, c)
		}
	}
}

// validUTF8 replaces each byte of b that is not part of valid UTF-8 with
// U+FFFD, as encoding/json and the edn library do.
func validUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		out = utf8.AppendRune(out, r)
		b = b[size:]
	}
	return out
}

// escape parses a string escape after its backslash; a \u escape of a
// UTF-16 surrogate pair reads as one rune.
func (s *scanner) escape() (rune, error) {
	r, err := s.escape1()
	if err != nil || !utf16.IsSurrogate(r) {
		return r, err
	}
	if !s.ensure(6) || s.buf[s.pos] != '\\' || s.buf[s.pos+1] != 'u' {
		return utf8.RuneError, nil
	}
	var r2 rune
	for _, h := range s.buf[s.pos+2 : s.pos+6] {
		d, ok := hexDigit(h)
		if !ok {
			return utf8.RuneError, nil
		}
		r2 = r2<<4 | rune(d)
	}
	if c := utf16.DecodeRune(r, r2); c != utf8.RuneError {
		s.pos += 6
		return c, nil
	}
	return utf8.RuneError, nil // the second escape reads on its own, as in encoding/json
}

func (s *scanner) escape1() (rune, error) {
	c, ok := s.peek()
	if !ok {
		return 0, s.eofError("a string")
	}
	s.pos++
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'n':
		return '\n', nil
	case 't':
		return '\t', nil
	case 'r':
		return '\r', nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'u':
		var r rune
		for range 4 {
			h, ok := s.peek()
			if !ok {
				return 0, s.eofError("a string")
			}
			s.pos++
			d, ok := hexDigit(h)
			if !ok {
				return 0, s.errorf("bad \\u escape")
			}
			r = r<<4 | rune(d)
		}
		return r, nil
	}
	return 0, s.errorf("unknown escape \\%c", c)
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// char parses an EDN character after its backslash, as a one-rune string.
func (s *scanner) char() (any, error) {
	c, ok := s.peek()
	if !ok {
		return nil, s.eofError("a character")
	}
	if delimiter(c) { // \( \" \space-as-byte ...
		s.pos++
		return string(rune(c)), nil
	}
	tok := s.token()
	switch string(tok) {
	case "newline":
		return "\n", nil
	case "space":
		return " ", nil
	case "tab":
		return "\t", nil
	case "return":
		return "\r", nil
	case "formfeed":
		return "\f", nil
	case "backspace":
		return "\b", nil
	}
	if r, size := utf8.DecodeRune(tok); size == len(tok) && r != utf8.RuneError {
		return string(r), nil
	}
	if len(tok) == 5 && tok[0] == 'u' {
		if n, err := strconv.ParseUint(string(tok[1:]), 16, 16); err == nil {
			return string(rune(n)), nil
		}
	}
	return nil, s.errorf("bad character \\%s", tok)
}

// dispatch parses what follows an EDN '#': a set, a symbolic value
// (##Inf), a regex (as its source) or a tagged value (as the value).
func (s *scanner) dispatch() (any, error) {
	c, ok := s.peek()
	if !ok {
		return nil, s.eofError("a tagged value")
	}
	switch c {
	case '{':
		s.pos++
		l, err := s.seq('}')
		if err != nil {
			return nil, err
		}
		return setOf(l), nil
	case '#':
		s.pos++
		tok := s.token()
		switch string(tok) {
		case "Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		case "NaN":
			return math.NaN(), nil
		}
		return nil, s.errorf("unknown symbolic value ##%s", tok)
	case '"':
		s.pos++
		return s.str()
	}
	if delimiter(c) {
		return nil, s.errorf("bad tag")
	}
	s.token() // the tag: #inst, #uuid, #jepsen.history.Op, ...
	return s.value()
}

// setOf turns the elements of an EDN set into a list that reads the same
// every time: sorted (integers numerically, then the rest by their text),
// without repeats (keywords, symbols and strings are all strings here, so
// #{:a "a"} reads as ["a"]).
func setOf(l []any) []any {
	slices.SortFunc(l, func(a, b any) int {
		ai, aok := a.(int64)
		bi, bok := b.(int64)
		switch {
		case aok && bok:
			return cmp.Compare(ai, bi)
		case aok:
			return -1
		case bok:
			return 1
		}
		return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
	return slices.CompactFunc(l, func(a, b any) bool { return reflect.DeepEqual(a, b) })
}

// number parses an EDN or JSON number token. Integers are exact: int64
// when they fit, *big.Int when they do not (never rounded to a float),
// with or without EDN's N (bigint) or M (bigdecimal) suffix. Other numbers
// (decimals, exponents, ratios) are float64, as Clojure reads a double;
// beyond its range they are infinite in EDN and refused in JSON.
func number(tok []byte, json bool) (any, bool) {
	if i, ok := parseInt(tok); ok {
		return i, true
	}
	t := tok
	if !json {
		switch t[len(t)-1] {
		case 'N':
			t = t[:len(t)-1]
			if !integral(t) {
				return nil, false
			}
		case 'M':
			t = t[:len(t)-1]
		}
	}
	if integral(t) {
		if i, ok := parseInt(t); ok {
			return i, true
		}
		b, ok := new(big.Int).SetString(string(t), 10)
		return b, ok
	}
	if !json {
		for i, c := range t {
			if c == '/' && i > 0 {
				n, err1 := strconv.ParseFloat(string(t[:i]), 64)
				d, err2 := strconv.ParseFloat(string(t[i+1:]), 64)
				if err1 != nil || err2 != nil || d == 0 {
					return nil, false
				}
				return n / d, true
			}
		}
	}
	if len(t) == 0 || !(t[0] == '-' || t[0] == '+' || t[0] >= '0' && t[0] <= '9') {
		return nil, false
	}
	f, err := strconv.ParseFloat(string(t), 64)
	if err != nil && (json || !errors.Is(err, strconv.ErrRange)) {
		return nil, false // JSON has no infinity to read 1e400 as
	}
	return f, true
}

// integral reports whether b is an optionally signed run of digits.
func integral(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// parseInt parses a plain decimal int64 without allocating.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}
