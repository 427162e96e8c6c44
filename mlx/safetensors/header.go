package safetensors

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/mlxconv/mlxconv/mlx"
)

// MaxHeaderSize is the largest JSON header accepted or written, in bytes.
// It is the limit of Hugging Face's safetensors library (100,000,000).
const MaxHeaderSize = 100_000_000

// MetadataKey is the reserved header key holding the string→string metadata.
const MetadataKey = "__metadata__"

// rawEntry is one tensor entry as it appears in the header, before
// validation.
type rawEntry struct {
	name    string
	dtype   string
	shape   []uint64
	offsets []uint64
}

// rawHeader is a syntactically valid header.
type rawHeader struct {
	entries []rawEntry
	meta    map[string]string // nil when absent or null
}

// parser is a strict recursive-descent parser for the one JSON shape a
// safetensors header may take:
//
//	{ "__metadata__": null | {string: string, ...},
//	  name: {"dtype": string, "shape": [uint, ...], "data_offsets": [uint, uint]}, ... }
//
// Duplicate keys (top level, in __metadata__, inside an entry) and unknown
// entry fields are rejected. The input must already be valid UTF-8.
type parser struct {
	b      []byte
	i      int
	file   string
	tensor string // key whose value is being parsed, for errors
}

func (p *parser) fail(format string, args ...any) error {
	return &FormatError{File: p.file, Tensor: p.tensor,
		Msg: fmt.Sprintf(format, args...) + fmt.Sprintf(" (header byte %d)", p.i)}
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *parser) expect(c byte, what string) error {
	if p.peek() != c {
		if p.i >= len(p.b) {
			return p.fail("unexpected end of header, want %s", what)
		}
		return p.fail("invalid JSON: found %q, want %s", p.b[p.i], what)
	}
	p.i++
	return nil
}

func parseHeader(file string, b []byte) (*rawHeader, error) {
	p := &parser{b: b, file: file}
	h := &rawHeader{}
	p.ws()
	if err := p.expect('{', "'{' opening the header object"); err != nil {
		return nil, err
	}
	p.ws()
	seen := make(map[string]struct{})
	metaSeen := false
	if p.peek() == '}' {
		p.i++
	} else {
		for {
			p.tensor = ""
			key, err := p.str()
			if err != nil {
				return nil, err
			}
			p.tensor = key
			p.ws()
			if err := p.expect(':', "':'"); err != nil {
				return nil, err
			}
			p.ws()
			if key == MetadataKey {
				if metaSeen {
					return nil, p.fail("duplicate key")
				}
				metaSeen = true
				if h.meta, err = p.metadata(); err != nil {
					return nil, err
				}
			} else {
				if _, dup := seen[key]; dup {
					return nil, p.fail("duplicate tensor name")
				}
				seen[key] = struct{}{}
				e, err := p.entry(key)
				if err != nil {
					return nil, err
				}
				h.entries = append(h.entries, e)
			}
			p.ws()
			if p.peek() == ',' {
				p.i++
				p.ws()
				continue
			}
			if err := p.expect('}', "',' or '}'"); err != nil {
				return nil, err
			}
			break
		}
	}
	p.tensor = ""
	p.ws()
	if p.i != len(p.b) {
		return nil, p.fail("unexpected data after the header object")
	}
	return h, nil
}

// metadata parses null or an object of strings.
func (p *parser) metadata() (map[string]string, error) {
	if p.peek() == 'n' {
		if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
			p.i += 4
			return nil, nil
		}
		return nil, p.fail("invalid JSON literal")
	}
	if err := p.expect('{', "an object of strings or null"); err != nil {
		return nil, err
	}
	m := make(map[string]string)
	p.ws()
	if p.peek() == '}' {
		p.i++
		return m, nil
	}
	for {
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if err := p.expect(':', "':'"); err != nil {
			return nil, err
		}
		p.ws()
		if p.peek() != '"' {
			return nil, p.fail("metadata value for key %s is not a string", quoteName(k))
		}
		v, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, p.fail("duplicate metadata key %s", quoteName(k))
		}
		m[k] = v
		p.ws()
		if p.peek() == ',' {
			p.i++
			p.ws()
			continue
		}
		if err := p.expect('}', "',' or '}'"); err != nil {
			return nil, err
		}
		return m, nil
	}
}

// entry parses one tensor object.
func (p *parser) entry(name string) (rawEntry, error) {
	e := rawEntry{name: name}
	if err := p.expect('{', "a tensor object"); err != nil {
		return e, err
	}
	var have int
	p.ws()
	if p.peek() != '}' {
		for {
			k, err := p.str()
			if err != nil {
				return e, err
			}
			p.ws()
			if err := p.expect(':', "':'"); err != nil {
				return e, err
			}
			p.ws()
			bit, err := p.entryField(k, &e)
			if err != nil {
				return e, err
			}
			if have&bit != 0 {
				return e, p.fail("duplicate field %q", k)
			}
			have |= bit
			p.ws()
			if p.peek() == ',' {
				p.i++
				p.ws()
				continue
			}
			break
		}
	}
	if err := p.expect('}', "',' or '}'"); err != nil {
		return e, err
	}
	switch {
	case have&hasDType == 0:
		return e, p.fail("missing field \"dtype\"")
	case have&hasShape == 0:
		return e, p.fail("missing field \"shape\"")
	case have&hasOffsets == 0:
		return e, p.fail("missing field \"data_offsets\"")
	}
	if len(e.offsets) != 2 {
		return e, p.fail("data_offsets has %d values, want 2", len(e.offsets))
	}
	return e, nil
}

// Bits for the fields of a tensor object that entry has seen.
const (
	hasDType = 1 << iota
	hasShape
	hasOffsets
)

// entryField parses the value of field k of a tensor object into e and
// returns the field's bit.
func (p *parser) entryField(k string, e *rawEntry) (bit int, err error) {
	switch k {
	case "dtype":
		if p.peek() != '"' {
			return 0, p.fail("dtype is not a string")
		}
		e.dtype, err = p.str()
		return hasDType, err
	case "shape":
		e.shape, err = p.uints("shape")
		return hasShape, err
	case "data_offsets":
		e.offsets, err = p.uints("data_offsets")
		return hasOffsets, err
	}
	return 0, p.fail("unknown field %s", quoteName(k))
}

// uints parses an array of non-negative JSON integers.
func (p *parser) uints(field string) ([]uint64, error) {
	if err := p.expect('[', "an array for "+field); err != nil {
		return nil, err
	}
	out := []uint64{}
	p.ws()
	if p.peek() == ']' {
		p.i++
		return out, nil
	}
	for {
		v, err := p.uint(field)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.ws()
		if p.peek() == ',' {
			p.i++
			p.ws()
			continue
		}
		if err := p.expect(']', "',' or ']'"); err != nil {
			return nil, err
		}
		return out, nil
	}
}

// uint parses a JSON number that must be a non-negative integer without
// fraction or exponent.
func (p *parser) uint(field string) (uint64, error) {
	c := p.peek()
	if c == '-' {
		return 0, p.fail("negative value in %s", field)
	}
	if c < '0' || c > '9' {
		return 0, p.fail("invalid JSON: want an integer in %s", field)
	}
	var v uint64
	if c == '0' {
		p.i++
	} else {
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			d := uint64(p.b[p.i] - '0')
			if v > (math.MaxUint64-d)/10 {
				return 0, p.fail("value in %s overflows 64 bits", field)
			}
			v = v*10 + d
			p.i++
		}
	}
	switch p.peek() {
	case '.', 'e', 'E':
		return 0, p.fail("non-integer value in %s", field)
	case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return 0, p.fail("invalid JSON: leading zero in %s", field)
	}
	return v, nil
}

// str parses a JSON string.
func (p *parser) str() (string, error) {
	if err := p.expect('"', "a string"); err != nil {
		return "", err
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.fail("invalid JSON: control character in string")
		}
		p.i++
	}
	return p.escapedStr(append([]byte(nil), p.b[start:p.i]...))
}

// escapedStr parses the rest of a JSON string from its first escape (or
// the end of the input) on, appending to buf the part before it.
func (p *parser) escapedStr(buf []byte) (string, error) {
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(buf), nil
		case c < 0x20:
			return "", p.fail("invalid JSON: control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.b) {
			break
		}
		var err error
		if buf, err = p.escape(buf); err != nil {
			return "", err
		}
	}
	return "", p.fail("invalid JSON: unterminated string")
}

// singleEscapes maps the character after a backslash to the one it
// stands for, for every escape but \u; 0 marks an invalid escape.
var singleEscapes = [256]byte{
	'"': '"', '\\': '\\', '/': '/',
	'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t',
}

// escape parses the escape whose backslash is just before p.i and appends
// the character it stands for to buf.
func (p *parser) escape(buf []byte) ([]byte, error) {
	e := p.b[p.i]
	p.i++
	if c := singleEscapes[e]; c != 0 {
		return append(buf, c), nil
	}
	if e != 'u' {
		return nil, p.fail("invalid JSON: invalid escape \\%c", e)
	}
	r, err := p.unicodeEscape()
	if err != nil {
		return nil, err
	}
	return utf8.AppendRune(buf, r), nil
}

// unicodeEscape parses the four hex digits of a \u escape and, after a
// high surrogate, the \u escape of the low one that must follow.
func (p *parser) unicodeEscape() (rune, error) {
	r, err := p.hex4()
	if err != nil || !utf16.IsSurrogate(r) {
		return r, err
	}
	if r >= 0xDC00 || len(p.b)-p.i < 2 || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
		return 0, p.fail("invalid JSON: lone surrogate in \\u escape")
	}
	p.i += 2
	r2, err := p.hex4()
	if err != nil {
		return 0, err
	}
	r = utf16.DecodeRune(r, r2)
	if r == utf8.RuneError {
		return 0, p.fail("invalid JSON: lone surrogate in \\u escape")
	}
	return r, nil
}

func (p *parser) hex4() (rune, error) {
	if len(p.b)-p.i < 4 {
		return 0, p.fail("invalid JSON: short \\u escape")
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, p.fail("invalid JSON: bad hex digit in \\u escape")
		}
	}
	p.i += 4
	return r, nil
}

// errOverflow is the cause for shapes whose byte size does not fit in int64.
var errOverflow = errors.New("byte size overflows int64")

// tensorBytes returns the number of bytes of a tensor of dtype dt and the
// given shape. Dimensions must be non-negative, and the product of the
// non-zero dimensions times the element size must fit in an int64 (so that
// no partial product a consumer may compute can overflow, whatever the order
// of the dimensions). dt must be valid.
func tensorBytes(dt mlx.DType, shape []int) (int64, error) {
	prod := uint64(dt.Size())
	zero := false
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape dimension %d is negative (%d)", i, d)
		}
		if d == 0 {
			zero = true
			continue
		}
		hi, lo := bits.Mul64(prod, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("shape %v of %s: %w", shape, dt.SafetensorsName(), errOverflow)
		}
		prod = lo
	}
	if zero {
		return 0, nil
	}
	return int64(prod), nil
}

// validate turns a parsed header into tensor infos ordered by data offset,
// checking every rule of the format against a data section of dataLen
// bytes: known dtypes, shapes whose byte size equals end-begin, offsets
// inside the data section, and tensors that tile the data section exactly
// (no gap, no overlap, no trailing bytes), as Hugging Face's safetensors
// requires.
func validate(file string, h *rawHeader, dataLen int64) ([]TensorInfo, error) {
	ferr := func(tensor, format string, args ...any) error {
		return &FormatError{File: file, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
	}
	infos := make([]TensorInfo, 0, len(h.entries))
	for _, e := range h.entries {
		dt, err := mlx.ParseSafetensorsDType(e.dtype)
		if err != nil {
			return nil, ferr(e.name, "unknown dtype %s", quoteName(e.dtype))
		}
		shape := make([]int, len(e.shape))
		for i, d := range e.shape {
			if d > math.MaxInt {
				return nil, ferr(e.name, "shape dimension %d (%d) is too large", i, d)
			}
			shape[i] = int(d)
		}
		n, err := tensorBytes(dt, shape)
		if err != nil {
			return nil, ferr(e.name, "%v", err)
		}
		b, end := e.offsets[0], e.offsets[1]
		if b > end {
			return nil, ferr(e.name, "data_offsets [%d,%d] end before they begin", b, end)
		}
		if end > uint64(dataLen) {
			return nil, ferr(e.name, "data_offsets [%d,%d] end past the data section (%d bytes)", b, end, dataLen)
		}
		if end-b != uint64(n) {
			return nil, ferr(e.name, "data_offsets [%d,%d] hold %d bytes, shape %v of %s needs %d",
				b, end, end-b, shape, dt.SafetensorsName(), n)
		}
		infos = append(infos, TensorInfo{Name: e.name, DType: dt, Shape: shape, Begin: int64(b), End: int64(end)})
	}
	slices.SortFunc(infos, func(a, b TensorInfo) int {
		return cmp.Or(cmp.Compare(a.Begin, b.Begin), cmp.Compare(a.End, b.End), cmp.Compare(a.Name, b.Name))
	})
	var pos int64
	for i, t := range infos {
		if t.Begin != pos {
			if i == 0 {
				return nil, ferr(t.Name, "data_offsets [%d,%d] leave a gap at the start of the data section", t.Begin, t.End)
			}
			prev := infos[i-1]
			what := "overlap"
			if t.Begin > pos {
				what = "leave a gap after"
			}
			return nil, ferr(t.Name, "data_offsets [%d,%d] %s tensor %s [%d,%d]",
				t.Begin, t.End, what, quoteName(prev.Name), prev.Begin, prev.End)
		}
		pos = t.End
	}
	if pos != dataLen {
		if len(infos) == 0 {
			return nil, ferr("", "no tensors, but the data section holds %d bytes", dataLen)
		}
		last := infos[len(infos)-1]
		return nil, ferr(last.Name, "data section has %d bytes after the last tensor, which ends at %d", dataLen-pos, pos)
	}
	return infos, nil
}
