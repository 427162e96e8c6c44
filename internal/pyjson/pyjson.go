package pyjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("pyjson: invalid JSON")

// MaxDepth bounds nesting while parsing (Python's default recursion limit is
// of the same order).
const MaxDepth = 512

// Value is one of: *Object, []Value, string, Number, bool, or nil (null).
type Value any

// Number is a JSON number kept as its source text.
type Number string

// IsInt reports whether the number is written as an integer (no fraction or
// exponent), which Python parses as int.
func (n Number) IsInt() bool { return !strings.ContainsAny(string(n), ".eE") && !n.isSpecial() }

func (n Number) isSpecial() bool { return n == "NaN" || n == "Infinity" || n == "-Infinity" }

// Float64 returns the number's value as a float64.
func (n Number) Float64() (float64, error) {
	switch n {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(string(n), 64)
}

// Int64 returns the number as an int64 if it is an integer that fits.
func (n Number) Int64() (int64, bool) {
	if !n.IsInt() {
		return 0, false
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	return v, err == nil
}

// Int returns an integer Number.
func Int(v int64) Number { return Number(strconv.FormatInt(v, 10)) }

// Float returns a Number that Python would parse as this float.
func Float(v float64) Number { return Number(FormatFloat(v)) }

// Object is a JSON object with its keys in insertion order.
type Object struct {
	keys []string
	vals map[string]Value
}

// NewObject returns an empty object.
func NewObject() *Object { return &Object{vals: map[string]Value{}} }

// Len returns the number of keys.
func (o *Object) Len() int { return len(o.keys) }

// Keys returns the keys in order (the slice must not be modified).
func (o *Object) Keys() []string { return o.keys }

// Get returns the value of key k.
func (o *Object) Get(k string) (Value, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// Set sets k to v. A new key goes last; an existing key keeps its position,
// as in a Python dict.
func (o *Object) Set(k string, v Value) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// Delete removes k (a no-op if absent), as dict.pop(k, None) does.
func (o *Object) Delete(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			break
		}
	}
}

// SortKeys reorders the keys bytewise (Python's sorted() on str keys orders
// by code point, which UTF-8 byte order preserves). Nested objects are not
// touched.
func (o *Object) SortKeys() {
	keys := append([]string(nil), o.keys...)
	sort.Strings(keys)
	o.keys = keys
}

// Parse reads one JSON value from data. Trailing non-space bytes are an error.
func Parse(data []byte) (Value, error) {
	p := parser{data: data}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.errf("extra data")
	}
	return v, nil
}

type parser struct {
	data []byte
	pos  int
}

func (p *parser) errf(format string, args ...any) error {
	line, col := 1, 1
	for _, c := range p.data[:min(p.pos, len(p.data))] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return fmt.Errorf("%w: %s at line %d column %d", ErrSyntax, fmt.Sprintf(format, args...), line, col)
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (Value, error) {
	if depth > MaxDepth {
		return nil, p.errf("nesting deeper than %d", MaxDepth)
	}
	if p.pos >= len(p.data) {
		return nil, p.errf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.str()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == 'N':
		return Number("NaN"), p.literal("NaN")
	case c == 'I':
		return Number("Infinity"), p.literal("Infinity")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return nil, p.errf("unexpected character %q", c)
	}
}

func (p *parser) literal(s string) error {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(s)) {
		return p.errf("invalid literal")
	}
	p.pos += len(s)
	return nil
}

func (p *parser) object(depth int) (Value, error) {
	p.pos++ // {
	o := NewObject()
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return o, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errf("expected a string key")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errf("expected ':'")
		}
		p.pos++
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		o.Set(k, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errf("unterminated object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return o, nil
		default:
			return nil, p.errf("expected ',' or '}'")
		}
	}
}

func (p *parser) array(depth int) (Value, error) {
	p.pos++ // [
	out := []Value{}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return out, nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errf("unterminated array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return out, nil
		default:
			return nil, p.errf("expected ',' or ']'")
		}
	}
}

func (p *parser) number() (Value, error) {
	start := p.pos
	if p.accept("-") && bytes.HasPrefix(p.data[p.pos:], []byte("Infinity")) {
		p.pos += len("Infinity")
		return Number("-Infinity"), nil
	}
	if !p.accept("0") && p.digits() == 0 { // integer part
		return nil, p.errf("invalid number")
	}
	if p.accept(".") && p.digits() == 0 { // fraction
		return nil, p.errf("invalid number")
	}
	if p.accept("eE") { // exponent
		p.accept("+-")
		if p.digits() == 0 {
			return nil, p.errf("invalid number")
		}
	}
	return Number(p.data[start:p.pos]), nil
}

// accept consumes the next byte if it is one of chars.
func (p *parser) accept(chars string) bool {
	if p.pos < len(p.data) && strings.IndexByte(chars, p.data[p.pos]) >= 0 {
		p.pos++
		return true
	}
	return false
}

// digits consumes a run of decimal digits and returns its length.
func (p *parser) digits() int {
	n := 0
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	var sb strings.Builder
	for {
		if p.pos >= len(p.data) {
			return "", p.errf("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return sb.String(), nil
		case c == '\\':
			if err := p.escape(&sb); err != nil {
				return "", err
			}
		case c < 0x20:
			return "", p.errf("control character in string")
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", p.errf("invalid UTF-8 in string")
			}
			sb.Write(p.data[p.pos : p.pos+size])
			p.pos += size
		}
	}
}

// simpleEscapes maps the byte after a backslash to what it stands for,
// for every escape but \u.
var simpleEscapes = map[byte]byte{
	'"': '"', '\\': '\\', '/': '/',
	'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t',
}

// escape decodes the backslash escape at p.pos into sb.
func (p *parser) escape(sb *strings.Builder) error {
	if p.pos+1 >= len(p.data) {
		return p.errf("unterminated string")
	}
	e := p.data[p.pos+1]
	p.pos += 2
	if c, ok := simpleEscapes[e]; ok {
		sb.WriteByte(c)
		return nil
	}
	if e != 'u' {
		return p.errf("invalid escape \\%c", e)
	}
	r, err := p.hex4()
	if err != nil {
		return err
	}
	if utf16.IsSurrogate(r) {
		if d, ok := p.lowSurrogate(r); ok {
			sb.WriteRune(d)
			return nil
		}
	}
	// A lone surrogate: Python keeps it; Go strings cannot hold
	// it as UTF-8, so it becomes U+FFFD.
	sb.WriteRune(r)
	return nil
}

// lowSurrogate consumes a \u escape following the surrogate r when the
// two form a pair, and returns the rune they encode.
func (p *parser) lowSurrogate(r rune) (rune, bool) {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(`\u`)) {
		return 0, false
	}
	save := p.pos
	p.pos += 2
	if r2, err := p.hex4(); err == nil {
		if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
			return d, true
		}
	}
	p.pos = save
	return 0, false
}

func (p *parser) hex4() (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.errf("invalid \\u escape")
	}
	v, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, p.errf("invalid \\u escape")
	}
	p.pos += 4
	return rune(v), nil
}

// Marshal returns v formatted as Python's json.dumps(v, indent=4).
func Marshal(v Value) ([]byte, error) {
	var b bytes.Buffer
	if err := write(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write writes v to w as Python's json.dump(v, w, indent=4).
func Write(w io.Writer, v Value) error {
	b, err := Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func indent(b *bytes.Buffer, level int) {
	b.WriteByte('\n')
	for i := 0; i < level; i++ {
		b.WriteString("    ")
	}
}

func write(b *bytes.Buffer, v Value, level int) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		writeString(b, x)
	case Number:
		s, err := formatNumber(x)
		if err != nil {
			return err
		}
		b.WriteString(s)
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(FormatFloat(x))
	case []Value:
		return writeArray(b, x, level)
	case *Object:
		return writeObject(b, x, level)
	default:
		return fmt.Errorf("pyjson: cannot write a %T", v)
	}
	return nil
}

func writeArray(b *bytes.Buffer, x []Value, level int) error {
	if len(x) == 0 {
		b.WriteString("[]")
		return nil
	}
	b.WriteByte('[')
	for i, e := range x {
		if i > 0 {
			b.WriteByte(',')
		}
		indent(b, level+1)
		if err := write(b, e, level+1); err != nil {
			return err
		}
	}
	indent(b, level)
	b.WriteByte(']')
	return nil
}

func writeObject(b *bytes.Buffer, x *Object, level int) error {
	if x.Len() == 0 {
		b.WriteString("{}")
		return nil
	}
	b.WriteByte('{')
	for i, k := range x.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		indent(b, level+1)
		writeString(b, k)
		b.WriteString(": ")
		if err := write(b, x.vals[k], level+1); err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
	}
	indent(b, level)
	b.WriteByte('}')
	return nil
}

func formatNumber(n Number) (string, error) {
	if n.IsInt() {
		var z big.Int
		if _, ok := z.SetString(string(n), 10); !ok {
			return "", fmt.Errorf("%w: number %q", ErrSyntax, string(n))
		}
		return z.String(), nil
	}
	f, err := n.Float64()
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return "", fmt.Errorf("%w: number %q", ErrSyntax, string(n))
	}
	return FormatFloat(f), nil
}

// FormatFloat formats f as Python's float.__repr__ does inside json.dumps:
// the shortest digits that round-trip, fixed notation for decimal exponents
// in [-4, 16), scientific ("1e-06", "1.5e+16") otherwise, and NaN, Infinity,
// -Infinity for the non-finite values.
func FormatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	// Shortest round-trip digits and exponent, from the 'e' format.
	s := strconv.FormatFloat(f, 'e', -1, 64)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	mant, expStr, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	if exp >= -4 && exp < 16 {
		switch {
		case exp < 0:
			out = "0." + strings.Repeat("0", -exp-1) + digits
		case len(digits) > exp+1:
			out = digits[:exp+1] + "." + digits[exp+1:]
		default:
			out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
		}
	} else {
		out = digits[:1]
		if len(digits) > 1 {
			out += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		out += fmt.Sprintf("e%s%02d", sign, exp)
	}
	if neg {
		out = "-" + out
	}
	return out
}

const hexDigits = "0123456789abcdef"

// writeString writes s quoted with Python's ensure_ascii escaping.
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (r >= 0x7f && r < 0x10000):
				writeU(b, r)
			case r >= 0x10000:
				r1, r2 := utf16.EncodeRune(r)
				writeU(b, r1)
				writeU(b, r2)
			default:
				b.WriteByte(byte(r))
			}
		}
	}
	b.WriteByte('"')
}

func writeU(b *bytes.Buffer, r rune) {
	b.WriteString(`\u`)
	b.WriteByte(hexDigits[(r>>12)&0xf])
	b.WriteByte(hexDigits[(r>>8)&0xf])
	b.WriteByte(hexDigits[(r>>4)&0xf])
	b.WriteByte(hexDigits[r&0xf])
}
