package ggufexport

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds a small backtracking regular-expression engine for the
// pre-tokenizer patterns of Hugging Face tokenizer.json files. The tokenizers
// library compiles them with Oniguruma (Ruby syntax), and they use features
// Go's regexp (RE2) lacks, above all the lookahead in `\s+(?!\S)`. The engine
// implements the subset those patterns use, with Oniguruma's leftmost-first
// semantics:
//
//   - literals and escapes (\t \n \r \f \v \e \a \0, \xHH, \x{H..}, \uHHHH,
//     escaped punctuation), `.` (any rune but \n);
//   - classes: [...] with ranges and negation, \s \S \d \D \w \W \h \H,
//     \p{Name} \P{Name} \p{^Name} for general categories and scripts;
//   - groups (...) (captures are not recorded), (?:...), (?i:...), (?-i:...),
//     a leading (?i), lookahead (?=...) and (?!...), atomic (?>...);
//   - alternation; quantifiers * + ? {n} {n,} {n,m} {,m} in greedy, lazy (?)
//     and possessive (+) forms;
//   - anchors ^ and $ (line anchors, as in Ruby), \A, \z, \Z.
//
// Anything else (lookbehind, backreferences, named groups, class
// intersection) is refused at compile time with errTokRegex, so an unknown
// pattern is never silently mis-run. Matching works on runes; a step budget
// bounds pathological backtracking. It is used only to pre-tokenize the fixed
// check text of llama.cpp's pre-tokenizer hash (tokenizer_pre.go).

var errTokRegex = errors.New("unsupported pre-tokenizer regex")

type reOp uint8

const (
	reLit    reOp = iota // one rune (fold: case-insensitive)
	reClass              // a rune class
	reAny                // any rune but \n
	reCat                // sequence
	reAlt                // alternation
	reRepeat             // quantifier
	reLook               // lookahead (neg: negative)
	reAtomic             // atomic group
	reBOL                // ^
	reEOL                // $
	reBOT                // \A
	reEOT                // \z
	reEOTNL              // \Z
	reEmpty              // matches the empty string
)

type reNode struct {
	op         reOp
	r          rune
	fold       bool
	class      func(rune) bool
	subs       []*reNode
	min, max   int // max < 0: unbounded
	lazy       bool
	possessive bool
	neg        bool
}

// tokRegex is a compiled pattern.
type tokRegex struct {
	root *reNode
	src  string
}

// reMaxSteps bounds the work of one search.
const reMaxSteps = 1 << 22

type reParser struct {
	src  string
	pos  int
	fold bool
}

func compileTokRegex(src string) (*tokRegex, error) {
	p := &reParser{src: src}
	n, err := p.alt()
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", errTokRegex, src, err)
	}
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("%w: %q: unexpected %q at offset %d", errTokRegex, src, p.src[p.pos], p.pos)
	}
	return &tokRegex{root: n, src: src}, nil
}

func (p *reParser) eof() bool { return p.pos >= len(p.src) }

func (p *reParser) peek() rune {
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return r
}

func (p *reParser) next() rune {
	r, n := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += n
	return r
}

func (p *reParser) alt() (*reNode, error) {
	var alts []*reNode
	for {
		c, err := p.cat()
		if err != nil {
			return nil, err
		}
		alts = append(alts, c)
		if p.eof() || p.peek() != '|' {
			break
		}
		p.pos++
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return &reNode{op: reAlt, subs: alts}, nil
}

func (p *reParser) cat() (*reNode, error) {
	var items []*reNode
	for !p.eof() {
		c := p.peek()
		if c == '|' || c == ')' {
			break
		}
		atom, err := p.atom()
		if err != nil {
			return nil, err
		}
		if atom == nil { // a flag group like (?i) that changed state only
			continue
		}
		atom, err = p.quantifier(atom)
		if err != nil {
			return nil, err
		}
		items = append(items, atom)
	}
	switch len(items) {
	case 0:
		return &reNode{op: reEmpty}, nil
	case 1:
		return items[0], nil
	}
	return &reNode{op: reCat, subs: items}, nil
}

func (p *reParser) quantifier(atom *reNode) (*reNode, error) {
	for !p.eof() {
		min, max := -1, -1
		switch p.peek() {
		case '*':
			p.pos++
			min, max = 0, -1
		case '+':
			p.pos++
			min, max = 1, -1
		case '?':
			p.pos++
			min, max = 0, 1
		case '{':
			lo, hi, ok := p.braces()
			if !ok {
				return atom, nil // a literal '{' follows; handled by atom
			}
			min, max = lo, hi
		default:
			return atom, nil
		}
		switch atom.op {
		case reBOL, reEOL, reBOT, reEOT, reEOTNL, reLook, reEmpty:
			return nil, errors.New("quantified anchor or lookaround")
		}
		rep := &reNode{op: reRepeat, subs: []*reNode{atom}, min: min, max: max}
		if !p.eof() {
			switch p.peek() {
			case '?':
				p.pos++
				rep.lazy = true
			case '+':
				p.pos++
				rep.possessive = true
			}
		}
		atom = rep
	}
	return atom, nil
}

// braces parses {n}, {n,}, {n,m} or {,m} at p.pos. If the text is not a
// valid interval, it consumes nothing and returns ok=false (Oniguruma then
// reads '{' as a literal).
func (p *reParser) braces() (lo, hi int, ok bool) {
	end := strings.IndexByte(p.src[p.pos:], '}')
	if end < 0 {
		return 0, 0, false
	}
	body := p.src[p.pos+1 : p.pos+end]
	a, b, comma := strings.Cut(body, ",")
	num := func(s string, def int) (int, bool) {
		if s == "" {
			return def, true
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 100000 {
			return 0, false
		}
		return v, true
	}
	if !comma {
		v, good := num(a, -2)
		if !good || v < 0 {
			return 0, 0, false
		}
		p.pos += end + 1
		return v, v, true
	}
	if a == "" && b == "" {
		return 0, 0, false
	}
	lo, good1 := num(a, 0)
	hi, good2 := num(b, -1)
	if !good1 || !good2 || (hi >= 0 && hi < lo) {
		return 0, 0, false
	}
	p.pos += end + 1
	return lo, hi, true
}

func (p *reParser) atom() (*reNode, error) {
	c := p.next()
	switch c {
	case '(':
		return p.group()
	case '[':
		f, err := p.bracket()
		if err != nil {
			return nil, err
		}
		return p.classNode(f), nil
	case '.':
		return &reNode{op: reAny}, nil
	case '^':
		return &reNode{op: reBOL}, nil
	case '$':
		return &reNode{op: reEOL}, nil
	case '\\':
		return p.escape()
	case '*', '+', '?':
		return nil, fmt.Errorf("nothing to repeat at offset %d", p.pos-1)
	}
	return p.litNode(c), nil
}

func (p *reParser) litNode(r rune) *reNode {
	if p.fold && unicode.SimpleFold(r) != r {
		return &reNode{op: reLit, r: r, fold: true}
	}
	return &reNode{op: reLit, r: r}
}

func (p *reParser) classNode(f func(rune) bool) *reNode {
	if p.fold {
		inner := f
		f = func(r rune) bool {
			if inner(r) {
				return true
			}
			for o := unicode.SimpleFold(r); o != r; o = unicode.SimpleFold(o) {
				if inner(o) {
					return true
				}
			}
			return false
		}
	}
	return &reNode{op: reClass, class: f}
}

func (p *reParser) group() (*reNode, error) {
	saved := p.fold
	defer func() { p.fold = saved }()
	kind := byte(0)
	if strings.HasPrefix(p.src[p.pos:], "?") {
		p.pos++
		if p.eof() {
			return nil, errors.New("truncated group")
		}
		switch p.src[p.pos] {
		case ':':
			p.pos++
		case '=', '!', '>':
			kind = p.src[p.pos]
			p.pos++
		case 'i', '-':
			on, bare, err := p.caseFlag()
			if err != nil {
				return nil, err
			}
			if bare {
				// A flag for the rest of the enclosing group.
				saved = on
				return nil, nil
			}
			p.fold = on
		default:
			return nil, fmt.Errorf("unsupported group (?%c at offset %d", p.src[p.pos], p.pos)
		}
	}
	inner, err := p.alt()
	if err != nil {
		return nil, err
	}
	if p.eof() || p.src[p.pos] != ')' {
		return nil, errors.New("missing )")
	}
	p.pos++
	switch kind {
	case '=':
		return &reNode{op: reLook, subs: []*reNode{inner}}, nil
	case '!':
		return &reNode{op: reLook, subs: []*reNode{inner}, neg: true}, nil
	case '>':
		return &reNode{op: reAtomic, subs: []*reNode{inner}}, nil
	}
	return inner, nil
}

// caseFlag parses the case-folding flag of (?i) (?-i) (?i:...) (?-i:...)
// after "(?": on is the folding it sets, bare whether it stands alone
// (then it holds for the rest of the enclosing group).
func (p *reParser) caseFlag() (on, bare bool, err error) {
	on = true
	if p.src[p.pos] == '-' {
		on = false
		p.pos++
	}
	if p.eof() || p.src[p.pos] != 'i' {
		return false, false, fmt.Errorf("unsupported group flags at offset %d", p.pos)
	}
	p.pos++
	if p.eof() {
		return false, false, errors.New("truncated group")
	}
	switch p.src[p.pos] {
	case ')':
		p.pos++
		return on, true, nil
	case ':':
		p.pos++
		return on, false, nil
	}
	return false, false, fmt.Errorf("unsupported group flags at offset %d", p.pos)
}

// escape parses the escape after a backslash outside brackets.
func (p *reParser) escape() (*reNode, error) {
	if p.eof() {
		return nil, errors.New("trailing backslash")
	}
	switch p.peek() {
	case 'A':
		p.pos++
		return &reNode{op: reBOT}, nil
	case 'z':
		p.pos++
		return &reNode{op: reEOT}, nil
	case 'Z':
		p.pos++
		return &reNode{op: reEOTNL}, nil
	}
	f, r, err := p.escapeClassOrRune()
	if err != nil {
		return nil, err
	}
	if f != nil {
		return p.classNode(f), nil
	}
	return p.litNode(r), nil
}

// escapeClassOrRune parses an escape (after the backslash) that is either a
// class (f != nil) or a single rune.
func (p *reParser) escapeClassOrRune() (func(rune) bool, rune, error) {
	c := p.next()
	if f, ok := escapeClasses[c]; ok {
		return f, 0, nil
	}
	if r, ok := escapeRunes[c]; ok {
		return nil, r, nil
	}
	switch c {
	case 'p', 'P':
		f, err := p.property()
		if err != nil {
			return nil, 0, err
		}
		if c == 'P' {
			f = not(f)
		}
		return f, 0, nil
	case 'x':
		if !p.eof() && p.peek() == '{' {
			return p.hexBraced()
		}
		return p.hexRune(2)
	case 'u':
		return p.hexRune(4)
	}
	if isASCIIAlnum(c) {
		return nil, 0, fmt.Errorf("unsupported escape \\%c", c)
	}
	return nil, c, nil // escaped punctuation or non-ASCII: literal
}

// isASCIIAlnum reports whether c is an ASCII letter or digit.
func isASCIIAlnum(c rune) bool {
	return c < utf8.RuneSelf && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
}

// escapeClasses are the class escapes: \s \d \w \h and their negations.
var escapeClasses = map[rune]func(rune) bool{
	's': isOnigSpace, 'S': not(isOnigSpace),
	'd': isOnigDigit, 'D': not(isOnigDigit),
	'w': isOnigWord, 'W': not(isOnigWord),
	'h': isHexDigit, 'H': not(isHexDigit),
}

// escapeRunes are the escapes of single control characters.
var escapeRunes = map[rune]rune{
	't': '\t', 'n': '\n', 'r': '\r', 'f': '\f', 'v': '\v', 'a': 7, 'e': 27, '0': 0,
}

// hexBraced parses {hex} after \x.
func (p *reParser) hexBraced() (func(rune) bool, rune, error) {
	end := strings.IndexByte(p.src[p.pos:], '}')
	if end < 0 {
		return nil, 0, errors.New("bad \\x{...}")
	}
	v, err := strconv.ParseUint(p.src[p.pos+1:p.pos+end], 16, 32)
	if err != nil || v > unicode.MaxRune {
		return nil, 0, errors.New("bad \\x{...}")
	}
	p.pos += end + 1
	return nil, rune(v), nil
}

func (p *reParser) hexRune(n int) (func(rune) bool, rune, error) {
	if p.pos+n > len(p.src) {
		return nil, 0, errors.New("truncated hex escape")
	}
	v, err := strconv.ParseUint(p.src[p.pos:p.pos+n], 16, 32)
	if err != nil {
		return nil, 0, errors.New("bad hex escape")
	}
	p.pos += n
	return nil, rune(v), nil
}

// property parses {Name}, {^Name} or a one-letter name after \p.
func (p *reParser) property() (func(rune) bool, error) {
	var name string
	if !p.eof() && p.peek() == '{' {
		end := strings.IndexByte(p.src[p.pos:], '}')
		if end < 0 {
			return nil, errors.New("bad \\p{...}")
		}
		name = p.src[p.pos+1 : p.pos+end]
		p.pos += end + 1
	} else if !p.eof() {
		name = string(p.next())
	}
	neg := strings.HasPrefix(name, "^")
	name = strings.TrimPrefix(name, "^")
	f, ok := unicodeProperty(name)
	if !ok {
		return nil, fmt.Errorf("unsupported property %q", name)
	}
	if neg {
		f = not(f)
	}
	return f, nil
}

// bracket parses a class body after '['.
func (p *reParser) bracket() (func(rune) bool, error) {
	neg := false
	if !p.eof() && p.peek() == '^' {
		neg = true
		p.pos++
	}
	set := &runeSet{}
	for first := true; ; first = false {
		if p.eof() {
			return nil, errors.New("missing ]")
		}
		c := p.next()
		if c == ']' && !first {
			break
		}
		if err := p.bracketItem(c, set); err != nil {
			return nil, err
		}
	}
	if neg {
		return not(set.has), nil
	}
	return set.has, nil
}

// runeSet is a bracket class: its ranges and class escapes.
type runeSet struct {
	ranges []runeRange
	parts  []func(rune) bool
}

type runeRange struct{ lo, hi rune }

func (s *runeSet) has(r rune) bool {
	for _, x := range s.ranges {
		if r >= x.lo && r <= x.hi {
			return true
		}
	}
	for _, g := range s.parts {
		if g(r) {
			return true
		}
	}
	return false
}

// bracketItem parses the class body item that starts with c (read): a
// rune, a range lo-hi or a class escape.
func (p *reParser) bracketItem(c rune, set *runeSet) error {
	if c == '[' {
		return errors.New("nested class")
	}
	if c == '&' && !p.eof() && p.peek() == '&' {
		return errors.New("class intersection")
	}
	lo := c
	if c == '\\' {
		if p.eof() {
			return errors.New("trailing backslash")
		}
		f, r, err := p.escapeClassOrRune()
		if err != nil {
			return err
		}
		if f != nil {
			set.parts = append(set.parts, f)
			return nil
		}
		lo = r
	}
	// A range lo-hi, unless '-' is last.
	hi := lo
	if strings.HasPrefix(p.src[p.pos:], "-") && !strings.HasPrefix(p.src[p.pos:], "-]") {
		p.pos++
		var err error
		if hi, err = p.rangeEnd(); err != nil {
			return err
		}
		if hi < lo {
			return fmt.Errorf("bad range %q-%q", lo, hi)
		}
	}
	set.ranges = append(set.ranges, runeRange{lo, hi})
	return nil
}

// rangeEnd parses the end of a range after '-': a rune or a rune escape.
func (p *reParser) rangeEnd() (rune, error) {
	hi := p.next()
	switch hi {
	case '\\':
		f, r, err := p.escapeClassOrRune()
		if err != nil {
			return 0, err
		}
		if f != nil {
			return 0, errors.New("class escape as range end")
		}
		return r, nil
	case '[':
		return 0, errors.New("nested class")
	}
	return hi, nil
}

func not(f func(rune) bool) func(rune) bool { return func(r rune) bool { return !f(r) } }

// isOnigSpace is Oniguruma's Unicode \s: the White_Space property, which is
// exactly Go's unicode.IsSpace set.
func isOnigSpace(r rune) bool { return unicode.IsSpace(r) }

// isOnigDigit is Oniguruma's Unicode \d: general category Nd.
func isOnigDigit(r rune) bool { return unicode.Is(unicode.Nd, r) }

// isOnigWord approximates Oniguruma's Unicode \w: letters, marks, decimal
// digits, connector punctuation and the join controls.
func isOnigWord(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.Nd, unicode.Pc) || r == 0x200C || r == 0x200D
}

func isHexDigit(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
}

// unicodeProperty resolves \p{name}: a general category (one or two
// letters, or a long name), a script, or one of Oniguruma's POSIX-like names.
func unicodeProperty(name string) (func(rune) bool, bool) {
	long := map[string]string{
		"Letter": "L", "Uppercase_Letter": "Lu", "Lowercase_Letter": "Ll", "Titlecase_Letter": "Lt",
		"Modifier_Letter": "Lm", "Other_Letter": "Lo", "Mark": "M", "Combining_Mark": "M",
		"Nonspacing_Mark": "Mn", "Spacing_Mark": "Mc", "Enclosing_Mark": "Me", "Number": "N",
		"Decimal_Number": "Nd", "Letter_Number": "Nl", "Other_Number": "No", "Punctuation": "P",
		"Connector_Punctuation": "Pc", "Dash_Punctuation": "Pd", "Open_Punctuation": "Ps",
		"Close_Punctuation": "Pe", "Initial_Punctuation": "Pi", "Final_Punctuation": "Pf",
		"Other_Punctuation": "Po", "Symbol": "S", "Math_Symbol": "Sm", "Currency_Symbol": "Sc",
		"Modifier_Symbol": "Sk", "Other_Symbol": "So", "Separator": "Z", "Space_Separator": "Zs",
		"Line_Separator": "Zl", "Paragraph_Separator": "Zp", "Other": "C", "Control": "Cc",
		"Format": "Cf", "Private_Use": "Co", "Surrogate": "Cs",
	}
	if s, ok := long[name]; ok {
		name = s
	}
	if t, ok := unicode.Categories[name]; ok {
		return func(r rune) bool { return unicode.Is(t, r) }, true
	}
	if t, ok := unicode.Scripts[name]; ok {
		return func(r rune) bool { return unicode.Is(t, r) }, true
	}
	switch strings.ToLower(name) {
	case "alpha", "alphabetic":
		return func(r rune) bool { return unicode.In(r, unicode.L, unicode.Nl) }, true
	case "digit":
		return isOnigDigit, true
	case "space", "white_space":
		return isOnigSpace, true
	case "word":
		return isOnigWord, true
	case "upper", "uppercase":
		return unicode.IsUpper, true
	case "lower", "lowercase":
		return unicode.IsLower, true
	case "punct":
		return func(r rune) bool { return unicode.IsPunct(r) }, true
	case "alnum":
		return func(r rune) bool { return unicode.In(r, unicode.L, unicode.Nl, unicode.Nd) }, true
	case "any":
		return func(rune) bool { return true }, true
	}
	return nil, false
}

// reMatcher runs one search over a rune slice.
type reMatcher struct {
	s     []rune
	steps int
	err   error
}

func (m *reMatcher) step() bool {
	m.steps++
	if m.steps > reMaxSteps {
		if m.err == nil {
			m.err = fmt.Errorf("%w: backtracking limit exceeded", errTokRegex)
		}
		return false
	}
	return true
}

func foldEq(a, b rune) bool {
	if a == b {
		return true
	}
	for o := unicode.SimpleFold(a); o != a; o = unicode.SimpleFold(o) {
		if o == b {
			return true
		}
	}
	return false
}

// match tries n at position i and calls k with each end position in
// priority order until k returns true.
func (m *reMatcher) match(n *reNode, i int, k func(int) bool) bool {
	if !m.step() {
		return false
	}
	s := m.s
	switch n.op {
	case reEmpty:
		return k(i)
	case reLit:
		if i < len(s) && (s[i] == n.r || n.fold && foldEq(s[i], n.r)) {
			return k(i + 1)
		}
		return false
	case reClass:
		if i < len(s) && n.class(s[i]) {
			return k(i + 1)
		}
		return false
	case reAny:
		if i < len(s) && s[i] != '\n' {
			return k(i + 1)
		}
		return false
	case reBOL:
		if i == 0 || s[i-1] == '\n' {
			return k(i)
		}
		return false
	case reEOL:
		if i == len(s) || s[i] == '\n' {
			return k(i)
		}
		return false
	case reBOT:
		if i == 0 {
			return k(i)
		}
		return false
	case reEOT:
		if i == len(s) {
			return k(i)
		}
		return false
	case reEOTNL:
		if i == len(s) || i == len(s)-1 && s[i] == '\n' {
			return k(i)
		}
		return false
	case reCat:
		return m.seq(n.subs, i, k)
	case reAlt:
		for _, a := range n.subs {
			if m.match(a, i, k) {
				return true
			}
			if m.err != nil {
				return false
			}
		}
		return false
	case reLook:
		ok := m.match(n.subs[0], i, func(int) bool { return true })
		if m.err != nil {
			return false
		}
		if ok != n.neg {
			return k(i)
		}
		return false
	case reAtomic:
		end := -1
		m.match(n.subs[0], i, func(j int) bool { end = j; return true })
		if end < 0 || m.err != nil {
			return false
		}
		return k(end)
	case reRepeat:
		if n.possessive {
			return m.possessive(n, i, k)
		}
		return m.repeat(n, 0, i, k)
	}
	return false
}

func (m *reMatcher) seq(subs []*reNode, i int, k func(int) bool) bool {
	if len(subs) == 0 {
		return k(i)
	}
	return m.match(subs[0], i, func(j int) bool { return m.seq(subs[1:], j, k) })
}

func (m *reMatcher) repeat(n *reNode, count, i int, k func(int) bool) bool {
	more := func() bool {
		if n.max >= 0 && count >= n.max {
			return false
		}
		return m.match(n.subs[0], i, func(j int) bool {
			if j == i && count >= n.min {
				return false // an empty iteration cannot make progress
			}
			return m.repeat(n, count+1, j, k)
		})
	}
	if count < n.min {
		return more()
	}
	if n.lazy {
		return k(i) || m.err == nil && more()
	}
	return more() || m.err == nil && k(i)
}

func (m *reMatcher) possessive(n *reNode, i int, k func(int) bool) bool {
	count := 0
	for n.max < 0 || count < n.max {
		end := -1
		m.match(n.subs[0], i, func(j int) bool { end = j; return true })
		if m.err != nil {
			return false
		}
		if end < 0 || end == i && count >= n.min {
			break
		}
		i = end
		count++
	}
	if count < n.min {
		return false
	}
	return k(i)
}

// findAll returns the [start, end) rune offsets of successive matches in s,
// as Rust's onig find_iter yields them: each search starts where the last
// match ended, and an empty match right at the end of the previous match is
// skipped by advancing one rune.
func (re *tokRegex) findAll(s []rune) ([][2]int, error) {
	var out [][2]int
	pos, lastEnd := 0, -1
	m := &reMatcher{s: s}
	for pos <= len(s) {
		start, end := -1, -1
		for st := pos; st <= len(s); st++ {
			if m.match(re.root, st, func(j int) bool { end = j; return true }) {
				start = st
				break
			}
			if m.err != nil {
				return nil, m.err
			}
		}
		if start < 0 {
			break
		}
		if start == end && end == lastEnd {
			pos = end + 1
			continue
		}
		out = append(out, [2]int{start, end})
		pos, lastEnd = end, end
		if start == end {
			// Oniguruma continues at the same place; the next empty match
			// there is skipped by the rule above.
			continue
		}
	}
	return out, nil
}
