package ggufexport

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// This file emulates the encode path of the Hugging Face tokenizers library
// (added-token splitting, normalizer, pre-tokenizer, BPE model,
// post-processor) for byte-level BPE tokenizers, far enough to encode
// llama.cpp's pre-tokenizer check text exactly as
// AutoTokenizer.encode(chktxt) does (tokenizer_pre.go). Components it does
// not implement are refused with ErrTokenizer rather than approximated.
// Unicode normalization forms are only supported on text made of the check
// text's own runes (see unicodeNormalize).

// jsonObj is a decoded JSON object (numbers as json.Number).
type jsonObj = map[string]any

func decodeJSONValue(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// decodePyJSONValue is decodeJSONValue for a file Python's json module
// reads (config.json): NaN, Infinity and -Infinity are numbers there
// (Mamba-2's time_step_limit [0.0, Infinity]).
func decodePyJSONValue(raw json.RawMessage) (any, error) {
	v, err := pyjson.Parse(raw)
	if err != nil {
		return nil, err
	}
	return fromPyJSON(v), nil
}

// fromPyJSON is a pyjson value as decodeJSONValue gives it (numbers as
// json.Number).
func fromPyJSON(v pyjson.Value) any {
	switch x := v.(type) {
	case *pyjson.Object:
		m := make(jsonObj, x.Len())
		for _, k := range x.Keys() {
			e, _ := x.Get(k)
			m[k] = fromPyJSON(e)
		}
		return m
	case []pyjson.Value:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = fromPyJSON(e)
		}
		return l
	case pyjson.Number:
		return json.Number(x)
	}
	return v
}

func objStr(m jsonObj, key string) (string, bool) {
	s, ok := m[key].(string)
	return s, ok
}

func objBool(m jsonObj, key string, def bool) bool {
	if b, ok := m[key].(bool); ok {
		return b
	}
	return def
}

func objList(m jsonObj, key string) []any {
	l, _ := m[key].([]any)
	return l
}

// pyInt reports v as a Python int would be read from JSON: an integer
// literal, or a bool (Python's bool is an int subclass).
func pyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case float64: // from decoders without UseNumber
		if x == float64(int64(x)) {
			return int64(x), true
		}
	}
	return 0, false
}

// hfAddedToken is one entry of tokenizer.json "added_tokens".
type hfAddedToken struct {
	ID         int64  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	Lstrip     bool   `json:"lstrip"`
	Rstrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// UnmarshalJSON applies the tokenizers library's defaults (normalized =
// !special when absent).
func (t *hfAddedToken) UnmarshalJSON(b []byte) error {
	type raw struct {
		ID         *int64  `json:"id"`
		Content    *string `json:"content"`
		SingleWord bool    `json:"single_word"`
		Lstrip     bool    `json:"lstrip"`
		Rstrip     bool    `json:"rstrip"`
		Normalized *bool   `json:"normalized"`
		Special    bool    `json:"special"`
	}
	var r raw
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	if r.ID == nil || r.Content == nil {
		return fmt.Errorf("added token without id or content")
	}
	*t = hfAddedToken{ID: *r.ID, Content: *r.Content, SingleWord: r.SingleWord, Lstrip: r.Lstrip,
		Rstrip: r.Rstrip, Special: r.Special, Normalized: !r.Special}
	if r.Normalized != nil {
		t.Normalized = *r.Normalized
	}
	return nil
}

// hfTokenizerJSON is the part of tokenizer.json this package reads.
type hfTokenizerJSON struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
		Type                    string          `json:"type"`
		Vocab                   json.RawMessage `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
		UnkToken                *string         `json:"unk_token"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		FuseUnk                 bool            `json:"fuse_unk"`
		ByteFallback            bool            `json:"byte_fallback"`
		IgnoreMerges            bool            `json:"ignore_merges"`
		Dropout                 *float64        `json:"dropout"`
	} `json:"model"`
}

// byteLevelAlphabet is GPT-2's bytes_to_unicode table: printable Latin-1
// bytes map to themselves, the others to U+0100 upwards in byte order.
var byteLevelAlphabet = func() (t [256]rune) {
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			t[b] = rune(b)
		} else {
			t[b] = rune(256 + n)
			n++
		}
	}
	return t
}()

func byteLevelEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteLevelAlphabet[s[i]])
	}
	return b.String()
}

// gpt2Pattern is the regex of the ByteLevel pre-tokenizer (use_regex).
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// splitBehavior is tokenizers' SplitDelimiterBehavior.
type splitBehavior uint8

const (
	splitRemoved splitBehavior = iota
	splitIsolated
	splitMergedWithPrevious
	splitMergedWithNext
	splitContiguous
)

func parseSplitBehavior(s string) (splitBehavior, error) {
	switch strings.ToLower(s) {
	case "removed":
		return splitRemoved, nil
	case "isolated":
		return splitIsolated, nil
	case "mergedwithprevious", "merged_with_previous":
		return splitMergedWithPrevious, nil
	case "mergedwithnext", "merged_with_next":
		return splitMergedWithNext, nil
	case "contiguous":
		return splitContiguous, nil
	}
	return 0, fmt.Errorf("%w: unknown split behavior %q", ErrTokenizer, s)
}

// segment is a [start, end) rune range of a piece and whether the split
// pattern matched it.
type segment struct {
	start, end int
	match      bool
}

// matcher finds the matches of a split pattern in s (rune offsets).
type matcher func(s []rune) ([][2]int, error)

func literalMatcher(lit string) matcher {
	l := []rune(lit)
	return func(s []rune) ([][2]int, error) {
		var out [][2]int
		if len(l) == 0 {
			return nil, nil
		}
		for i := 0; i+len(l) <= len(s); {
			if string(s[i:i+len(l)]) == lit {
				out = append(out, [2]int{i, i + len(l)})
				i += len(l)
				continue
			}
			i++
		}
		return out, nil
	}
}

func runeMatcher(f func(rune) bool) matcher {
	return func(s []rune) ([][2]int, error) {
		var out [][2]int
		for i, r := range s {
			if f(r) {
				out = append(out, [2]int{i, i + 1})
			}
		}
		return out, nil
	}
}

func regexMatcher(re *tokRegex) matcher { return re.findAll }

// splitPiece splits s as NormalizedString.split(pattern, behavior) does,
// with invert flipping which parts count as matches.
func splitPiece(s string, m matcher, behavior splitBehavior, invert bool) ([]string, error) {
	rs := []rune(s)
	found, err := m(rs)
	if err != nil {
		return nil, err
	}
	var res []string
	for _, p := range splitParts(splitSegments(found, len(rs), invert), behavior) {
		if p.remove || p.end <= p.start {
			continue
		}
		res = append(res, string(rs[p.start:p.end]))
	}
	return res, nil
}

// splitSegments cuts n runes into the matches found and the runs between
// them, with invert flipping which count as matches.
func splitSegments(found [][2]int, n int, invert bool) []segment {
	var segs []segment
	prev := 0
	for _, f := range found {
		if f[0] > prev {
			segs = append(segs, segment{prev, f[0], invert})
		}
		segs = append(segs, segment{f[0], f[1], !invert})
		prev = f[1]
	}
	if prev < n {
		segs = append(segs, segment{prev, n, invert})
	}
	return segs
}

// splitPart is a run of runes splitPiece returns, unless removed.
type splitPart struct {
	start, end int
	remove     bool
}

// splitParts applies a SplitDelimiterBehavior to the segments.
func splitParts(segs []segment, behavior splitBehavior) []splitPart {
	switch behavior {
	case splitIsolated, splitRemoved:
		var out []splitPart
		for _, g := range segs {
			out = append(out, splitPart{g.start, g.end, behavior == splitRemoved && g.match})
		}
		return out
	case splitContiguous:
		return mergeContiguous(segs)
	case splitMergedWithPrevious:
		return mergeWithPrevious(segs)
	case splitMergedWithNext:
		return mergeWithNext(segs)
	}
	return nil
}

// mergeContiguous joins neighbouring segments that both match or both do
// not.
func mergeContiguous(segs []segment) []splitPart {
	var out []splitPart
	prevMatch := false
	for _, g := range segs {
		if g.match == prevMatch && len(out) > 0 {
			out[len(out)-1].end = g.end
		} else {
			out = append(out, splitPart{g.start, g.end, false})
		}
		prevMatch = g.match
	}
	return out
}

// mergeWithPrevious joins each match to the segment before it.
func mergeWithPrevious(segs []segment) []splitPart {
	var out []splitPart
	prevMatch := false
	for _, g := range segs {
		if g.match && !prevMatch && len(out) > 0 {
			out[len(out)-1].end = g.end
		} else {
			out = append(out, splitPart{g.start, g.end, false})
		}
		prevMatch = g.match
	}
	return out
}

// mergeWithNext joins each match to the segment after it.
func mergeWithNext(segs []segment) []splitPart {
	var out []splitPart
	prevMatch := false
	for i := len(segs) - 1; i >= 0; i-- {
		g := segs[i]
		if g.match && !prevMatch && len(out) > 0 {
			out[len(out)-1].start = g.start
		} else {
			out = append(out, splitPart{g.start, g.end, false})
		}
		prevMatch = g.match
	}
	slices.Reverse(out)
	return out
}

// preStep transforms the list of pre-token pieces.
type preStep func(pieces []string) ([]string, error)

func eachPiece(f func(string) ([]string, error)) preStep {
	return func(pieces []string) ([]string, error) {
		var out []string
		for _, p := range pieces {
			r, err := f(p)
			if err != nil {
				return nil, err
			}
			out = append(out, r...)
		}
		return out, nil
	}
}

// hfPipeline is a compiled tokenizer.json encode path.
type hfPipeline struct {
	normalize func(string) (string, error) // nil: none
	pre       []preStep
	byteLevel bool // a ByteLevel pre-tokenizer maps pieces to its alphabet
	model     *bpeModel
	post      func(ids []int) []int
	added     []hfAddedToken
}

func compileNormalizer(v any) (func(string) (string, error), error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(jsonObj)
	if !ok {
		return nil, fmt.Errorf("%w: normalizer is not an object", ErrTokenizer)
	}
	typ, _ := objStr(m, "type")
	switch typ {
	case "Sequence":
		return sequenceNormalizer(m)
	case "NFC", "NFD", "NFKC", "NFKD":
		return func(s string) (string, error) { return unicodeNormalize(typ, s) }, nil
	case "Lowercase":
		return func(s string) (string, error) { return strings.ToLower(s), nil }, nil
	case "Strip":
		return stripNormalizer(m), nil
	case "Prepend":
		pre, _ := objStr(m, "prepend")
		return func(s string) (string, error) {
			if s == "" {
				return s, nil
			}
			return pre + s, nil
		}, nil
	case "Replace":
		return replaceNormalizer(m)
	case "ByteLevel":
		return func(s string) (string, error) { return byteLevelEncode(s), nil }, nil
	}
	return nil, fmt.Errorf("%w: normalizer %q is not supported", ErrTokenizer, typ)
}

// sequenceNormalizer compiles a Sequence normalizer: its normalizers in
// order.
func sequenceNormalizer(m jsonObj) (func(string) (string, error), error) {
	var fs []func(string) (string, error)
	for _, n := range objList(m, "normalizers") {
		f, err := compileNormalizer(n)
		if err != nil {
			return nil, err
		}
		if f != nil {
			fs = append(fs, f)
		}
	}
	return func(s string) (string, error) {
		var err error
		for _, f := range fs {
			if s, err = f(s); err != nil {
				return "", err
			}
		}
		return s, nil
	}, nil
}

// stripNormalizer compiles a Strip normalizer: whitespace trimmed on the
// configured sides.
func stripNormalizer(m jsonObj) func(string) (string, error) {
	left, right := objBool(m, "strip_left", true), objBool(m, "strip_right", true)
	return func(s string) (string, error) {
		if left {
			s = strings.TrimLeftFunc(s, unicode.IsSpace)
		}
		if right {
			s = strings.TrimRightFunc(s, unicode.IsSpace)
		}
		return s, nil
	}
}

// replaceNormalizer compiles a Replace normalizer: every match of the
// pattern replaced by the content.
func replaceNormalizer(m jsonObj) (func(string) (string, error), error) {
	content, _ := objStr(m, "content")
	mt, err := compilePattern(m["pattern"])
	if err != nil {
		return nil, err
	}
	return func(s string) (string, error) {
		rs := []rune(s)
		found, err := mt(rs)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		prev := 0
		for _, f := range found {
			b.WriteString(string(rs[prev:f[0]]))
			b.WriteString(content)
			prev = f[1]
		}
		b.WriteString(string(rs[prev:]))
		return b.String(), nil
	}, nil
}

// compilePattern reads a tokenizers Pattern: {"String": s} or {"Regex": r}.
func compilePattern(v any) (matcher, error) {
	m, ok := v.(jsonObj)
	if !ok {
		return nil, fmt.Errorf("%w: missing pattern", ErrTokenizer)
	}
	if s, ok := objStr(m, "String"); ok {
		return literalMatcher(s), nil
	}
	if s, ok := objStr(m, "Regex"); ok {
		re, err := compileTokRegex(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrTokenizer, err)
		}
		return regexMatcher(re), nil
	}
	return nil, fmt.Errorf("%w: unknown pattern %v", ErrTokenizer, v)
}

func (p *hfPipeline) compilePre(v any) error {
	if v == nil {
		return nil
	}
	m, ok := v.(jsonObj)
	if !ok {
		return fmt.Errorf("%w: pre_tokenizer is not an object", ErrTokenizer)
	}
	typ, _ := objStr(m, "type")
	if typ == "Sequence" {
		for _, s := range objList(m, "pretokenizers") {
			if err := p.compilePre(s); err != nil {
				return err
			}
		}
		return nil
	}
	compile, ok := preTokenizers[typ]
	if !ok {
		return fmt.Errorf("%w: pre_tokenizer %q is not supported", ErrTokenizer, typ)
	}
	step, err := compile(m)
	if err != nil {
		return err
	}
	if typ == "ByteLevel" {
		p.byteLevel = true
	}
	p.pre = append(p.pre, step)
	return nil
}

// preTokenizers compile the pre-tokenizers other than Sequence, by type.
var preTokenizers = map[string]func(jsonObj) (preStep, error){
	"ByteLevel":       byteLevelPre,
	"Split":           splitPre,
	"Digits":          digitsPre,
	"Punctuation":     punctuationPre,
	"Whitespace":      whitespacePre,
	"WhitespaceSplit": whitespaceSplitPre,
	"Metaspace":       metaspacePre,
}

// digitsPre compiles a Digits pre-tokenizer: runs of digits, or each
// digit alone.
func digitsPre(m jsonObj) (preStep, error) {
	b := splitContiguous
	if objBool(m, "individual_digits", false) {
		b = splitIsolated
	}
	mt := runeMatcher(func(r rune) bool { return unicode.In(r, unicode.Nd, unicode.Nl, unicode.No) })
	return eachPiece(func(s string) ([]string, error) { return splitPiece(s, mt, b, false) }), nil
}

// whitespacePre compiles a Whitespace pre-tokenizer: word runs and
// punctuation runs, whitespace dropped.
func whitespacePre(jsonObj) (preStep, error) {
	re, err := compileTokRegex(`\w+|[^\w\s]+`)
	if err != nil {
		return nil, err
	}
	return eachPiece(func(s string) ([]string, error) {
		return splitPiece(s, regexMatcher(re), splitRemoved, true)
	}), nil
}

// whitespaceSplitPre compiles a WhitespaceSplit pre-tokenizer: split on
// whitespace, which is dropped.
func whitespaceSplitPre(jsonObj) (preStep, error) {
	mt := runeMatcher(unicode.IsSpace)
	return eachPiece(func(s string) ([]string, error) { return splitPiece(s, mt, splitRemoved, false) }), nil
}

// byteLevelPre compiles a ByteLevel pre-tokenizer: an optional prefix
// space, GPT-2's split, the pieces mapped to the byte alphabet.
func byteLevelPre(m jsonObj) (preStep, error) {
	addPrefix := objBool(m, "add_prefix_space", true)
	useRegex := objBool(m, "use_regex", true)
	var re *tokRegex
	if useRegex {
		var err error
		if re, err = compileTokRegex(gpt2Pattern); err != nil {
			return nil, err
		}
	}
	return eachPiece(func(s string) ([]string, error) {
		if addPrefix && !strings.HasPrefix(s, " ") {
			s = " " + s
		}
		parts := []string{s}
		if re != nil {
			var err error
			if parts, err = splitPiece(s, regexMatcher(re), splitIsolated, false); err != nil {
				return nil, err
			}
		}
		for i := range parts {
			parts[i] = byteLevelEncode(parts[i])
		}
		return parts, nil
	}), nil
}

// splitPre compiles a Split pre-tokenizer.
func splitPre(m jsonObj) (preStep, error) {
	mt, err := compilePattern(m["pattern"])
	if err != nil {
		return nil, err
	}
	bs, _ := objStr(m, "behavior")
	b, err := parseSplitBehavior(bs)
	if err != nil {
		return nil, err
	}
	invert := objBool(m, "invert", false)
	return eachPiece(func(s string) ([]string, error) { return splitPiece(s, mt, b, invert) }), nil
}

// punctuationPre compiles a Punctuation pre-tokenizer (isolated unless a
// behavior is given).
func punctuationPre(m jsonObj) (preStep, error) {
	b := splitIsolated
	if bs, ok := objStr(m, "behavior"); ok {
		var err error
		if b, err = parseSplitBehavior(bs); err != nil {
			return nil, err
		}
	}
	mt := runeMatcher(func(r rune) bool {
		return r < utf8.RuneSelf && unicode.IsPunct(r) || r < utf8.RuneSelf && unicode.IsSymbol(r) || unicode.In(r, unicode.P)
	})
	return eachPiece(func(s string) ([]string, error) { return splitPiece(s, mt, b, false) }), nil
}

// metaspacePre compiles a Metaspace pre-tokenizer: spaces replaced, the
// replacement prepended as the scheme says, split before each one.
func metaspacePre(m jsonObj) (preStep, error) {
	repl := "▁"
	if r, ok := objStr(m, "replacement"); ok {
		repl = r
	}
	scheme := "always"
	if s, ok := objStr(m, "prepend_scheme"); ok {
		scheme = s
	} else if !objBool(m, "add_prefix_space", true) {
		scheme = "never"
	}
	if scheme == "first" {
		// Depends on the piece's position in the original text,
		// which this emulation does not track.
		return nil, fmt.Errorf("%w: Metaspace prepend_scheme \"first\" is not supported", ErrTokenizer)
	}
	split := objBool(m, "split", true)
	lit := literalMatcher(repl)
	return eachPiece(func(s string) ([]string, error) {
		s = strings.ReplaceAll(s, " ", repl)
		if scheme == "always" && !strings.HasPrefix(s, repl) {
			s = repl + s
		}
		if !split {
			return []string{s}, nil
		}
		return splitPiece(s, lit, splitMergedWithNext, false)
	}), nil
}

func compilePost(v any, vocabID func(string) (int, bool)) (func([]int) []int, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(jsonObj)
	if !ok {
		return nil, fmt.Errorf("%w: post_processor is not an object", ErrTokenizer)
	}
	typ, _ := objStr(m, "type")
	switch typ {
	case "ByteLevel":
		return nil, nil
	case "Sequence":
		return sequencePost(m, vocabID)
	case "RobertaProcessing", "BertProcessing":
		return pairPost(m, typ)
	case "TemplateProcessing":
		return templatePost(m)
	}
	return nil, fmt.Errorf("%w: post_processor %q is not supported", ErrTokenizer, typ)
}

// sequencePost compiles a Sequence post-processor: its processors in
// order.
func sequencePost(m jsonObj, vocabID func(string) (int, bool)) (func([]int) []int, error) {
	var fs []func([]int) []int
	for _, s := range objList(m, "processors") {
		f, err := compilePost(s, vocabID)
		if err != nil {
			return nil, err
		}
		if f != nil {
			fs = append(fs, f)
		}
	}
	return func(ids []int) []int {
		for _, f := range fs {
			ids = f(ids)
		}
		return ids
	}, nil
}

// pairPost compiles a RobertaProcessing or BertProcessing (typ)
// post-processor: cls before, sep after.
func pairPost(m jsonObj, typ string) (func([]int) []int, error) {
	tokID := func(key string) (int, error) {
		l := objList(m, key)
		if len(l) != 2 {
			return 0, fmt.Errorf("%w: %s %s is not a [token, id] pair", ErrTokenizer, typ, key)
		}
		id, ok := pyInt(l[1])
		if !ok || id < 0 || id > maxVocabSize {
			return 0, fmt.Errorf("%w: %s %s id", ErrTokenizer, typ, key)
		}
		return int(id), nil
	}
	cls, err := tokID("cls")
	if err != nil {
		return nil, err
	}
	sep, err := tokID("sep")
	if err != nil {
		return nil, err
	}
	return func(ids []int) []int {
		return append(append([]int{cls}, ids...), sep)
	}, nil
}

// templatePost compiles a TemplateProcessing post-processor's single
// template: the special tokens' ids before and after the sequence.
func templatePost(m jsonObj) (func([]int) []int, error) {
	specials, _ := m["special_tokens"].(jsonObj)
	var before, after []int
	seen := false
	for _, item := range objList(m, "single") {
		it, _ := item.(jsonObj)
		if st, ok := it["SpecialToken"].(jsonObj); ok {
			ids, err := templateSpecialIDs(specials, st)
			if err != nil {
				return nil, err
			}
			if seen {
				after = append(after, ids...)
			} else {
				before = append(before, ids...)
			}
			continue
		}
		if _, ok := it["Sequence"]; ok {
			if seen {
				return nil, fmt.Errorf("%w: TemplateProcessing single template with two sequences", ErrTokenizer)
			}
			seen = true
			continue
		}
		return nil, fmt.Errorf("%w: TemplateProcessing template item %v", ErrTokenizer, item)
	}
	return func(ids []int) []int {
		out := append(append([]int{}, before...), ids...)
		return append(out, after...)
	}, nil
}

// templateSpecialIDs are the ids of a template's SpecialToken item st, as
// special_tokens defines them.
func templateSpecialIDs(specials, st jsonObj) ([]int, error) {
	name, _ := objStr(st, "id")
	sp, ok := specials[name].(jsonObj)
	if !ok {
		return nil, fmt.Errorf("%w: TemplateProcessing special token %q undefined", ErrTokenizer, name)
	}
	var ids []int
	for _, x := range objList(sp, "ids") {
		id, ok := pyInt(x)
		if !ok || id < 0 || id > maxVocabSize {
			return nil, fmt.Errorf("%w: TemplateProcessing special token %q id", ErrTokenizer, name)
		}
		ids = append(ids, int(id))
	}
	return ids, nil
}

// newHFPipeline compiles the encode path of a BPE tokenizer.json.
func newHFPipeline(tj *hfTokenizerJSON, model *bpeModel) (*hfPipeline, error) {
	p := &hfPipeline{model: model, added: tj.AddedTokens}
	norm, err := decodeJSONValue(tj.Normalizer)
	if err != nil {
		return nil, fmt.Errorf("%w: normalizer: %v", ErrTokenizer, err)
	}
	if p.normalize, err = compileNormalizer(norm); err != nil {
		return nil, err
	}
	pre, err := decodeJSONValue(tj.PreTokenizer)
	if err != nil {
		return nil, fmt.Errorf("%w: pre_tokenizer: %v", ErrTokenizer, err)
	}
	if err := p.compilePre(pre); err != nil {
		return nil, err
	}
	post, err := decodeJSONValue(tj.PostProcessor)
	if err != nil {
		return nil, fmt.Errorf("%w: post_processor: %v", ErrTokenizer, err)
	}
	if p.post, err = compilePost(post, model.id); err != nil {
		return nil, err
	}
	return p, nil
}

// addedPiece is a piece of input text, either an added token (id >= 0) or
// text to normalize and tokenize (id < 0).
type addedPiece struct {
	text string
	id   int
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_' }

// splitAdded splits s on the given added tokens the way tokenizers'
// AddedVocabulary does: leftmost-longest non-overlapping matches, single_word
// matches only between word boundaries, lstrip/rstrip absorbing adjacent
// whitespace into the token.
func splitAdded(s string, toks []hfAddedToken) []addedPiece {
	if len(toks) == 0 || s == "" {
		return []addedPiece{{s, -1}}
	}
	var out []addedPiece
	prev := 0
	for _, f := range findAdded(s, toks) {
		t := f.tok
		if t.SingleWord && !wordBounded(s, f.start, f.end) {
			continue
		}
		start, end := f.start, f.end
		if t.Lstrip {
			start = trimSpaceBefore(s, prev, start)
		}
		if t.Rstrip {
			end = trimSpaceAfter(s, end)
		}
		if start > prev {
			out = append(out, addedPiece{s[prev:start], -1})
		}
		out = append(out, addedPiece{s[start:end], int(t.ID)})
		prev = end
	}
	if prev < len(s) {
		out = append(out, addedPiece{s[prev:], -1})
	}
	return out
}

// addedMatch is an added token found in a text, at [start, end).
type addedMatch struct {
	start, end int
	tok        *hfAddedToken
}

// findAdded finds the added tokens in s: leftmost-longest, not
// overlapping.
func findAdded(s string, toks []hfAddedToken) []addedMatch {
	var found []addedMatch
	for i := 0; i < len(s); {
		best := -1
		for k := range toks {
			c := toks[k].Content
			if c != "" && strings.HasPrefix(s[i:], c) && (best < 0 || len(c) > len(toks[best].Content)) {
				best = k
			}
		}
		if best < 0 {
			_, n := utf8.DecodeRuneInString(s[i:])
			i += n
			continue
		}
		found = append(found, addedMatch{i, i + len(toks[best].Content), &toks[best]})
		i += len(toks[best].Content)
	}
	return found
}

// wordBounded reports whether s[start:end] has no word character next to
// it on either side.
func wordBounded(s string, start, end int) bool {
	before, _ := utf8.DecodeLastRuneInString(s[:start])
	after, _ := utf8.DecodeRuneInString(s[end:])
	return !(start > 0 && isWordRune(before) || end < len(s) && isWordRune(after))
}

// trimSpaceBefore moves start back over the whitespace before it, not
// past floor.
func trimSpaceBefore(s string, floor, start int) int {
	for start > floor {
		r, n := utf8.DecodeLastRuneInString(s[floor:start])
		if !unicode.IsSpace(r) {
			break
		}
		start -= n
	}
	return start
}

// trimSpaceAfter moves end forward over the whitespace after it.
func trimSpaceAfter(s string, end int) int {
	for end < len(s) {
		r, n := utf8.DecodeRuneInString(s[end:])
		if !unicode.IsSpace(r) {
			break
		}
		end += n
	}
	return end
}

// encode tokenizes text with special tokens added, as
// tokenizer.encode(text) does in transformers.
func (p *hfPipeline) encode(text string) ([]int, error) {
	var raw, norm []hfAddedToken
	for _, t := range p.added {
		if t.Normalized {
			norm = append(norm, t)
		} else {
			raw = append(raw, t)
		}
	}
	var ids []int
	for _, a := range splitAdded(text, raw) {
		if a.id >= 0 {
			ids = append(ids, a.id)
			continue
		}
		s := a.text
		if p.normalize != nil {
			var err error
			if s, err = p.normalize(s); err != nil {
				return nil, err
			}
		}
		for _, b := range splitAdded(s, norm) {
			if b.id >= 0 {
				ids = append(ids, b.id)
				continue
			}
			pieces := []string{b.text}
			if b.text == "" {
				pieces = nil
			}
			for _, step := range p.pre {
				var err error
				if pieces, err = step(pieces); err != nil {
					return nil, err
				}
			}
			for _, w := range pieces {
				tok, err := p.model.tokenize(w)
				if err != nil {
					return nil, err
				}
				ids = append(ids, tok...)
			}
		}
	}
	if p.post != nil {
		ids = p.post(ids)
	}
	return ids, nil
}

// bpeModel is a tokenizers BPE model.
type bpeModel struct {
	vocab        map[string]int
	merges       map[uint64]bpeMerge // (left id, right id) -> merge
	unk          int                 // -1: none
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func (m *bpeModel) id(s string) (int, bool) {
	id, ok := m.vocab[s]
	return id, ok
}

// tokenize runs BPE on one pre-token: characters (or byte-fallback tokens)
// merged lowest rank first, leftmost first on ties.
func (m *bpeModel) tokenize(w string) ([]int, error) {
	if w == "" {
		return nil, nil
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[w]; ok {
			return []int{id}, nil
		}
	}
	syms := m.symbols(w)
	for len(syms) > 1 {
		best := -1
		var bm bpeMerge
		for i := 0; i+1 < len(syms); i++ {
			if mg, ok := m.merges[pairKey(syms[i], syms[i+1])]; ok && (best < 0 || mg.rank < bm.rank) {
				best, bm = i, mg
			}
		}
		if best < 0 {
			break
		}
		syms[best] = int(bm.id)
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	return syms, nil
}

// symbols are w's initial symbols: each character (with the continuing
// prefix and end-of-word suffix) as a token, else its byte-fallback
// tokens, else the unknown token (consecutive ones fused if configured).
func (m *bpeModel) symbols(w string) []int {
	var syms []int
	lastUnk := false
	n := utf8.RuneCountInString(w)
	k := 0
	for _, r := range w {
		s := string(r)
		if k > 0 {
			s = m.prefix + s
		}
		if k == n-1 {
			s += m.suffix
		}
		k++
		if id, ok := m.vocab[s]; ok {
			syms = append(syms, id)
			lastUnk = false
			continue
		}
		if bytes, ok := m.byteFallbackIDs(r); ok {
			syms = append(syms, bytes...)
			lastUnk = false
			continue
		}
		if m.unk >= 0 {
			if !(m.fuseUnk && lastUnk) {
				syms = append(syms, m.unk)
			}
			lastUnk = true
		}
	}
	return syms
}

// byteFallbackIDs are the <0xXX> tokens of r's UTF-8 bytes, if byte
// fallback is on and the vocabulary has them all.
func (m *bpeModel) byteFallbackIDs(r rune) ([]int, bool) {
	if !m.byteFallback {
		return nil, false
	}
	var bytes []int
	for _, b := range []byte(string(r)) {
		id, ok := m.vocab[fmt.Sprintf("<0x%02X>", b)]
		if !ok {
			return nil, false
		}
		bytes = append(bytes, id)
	}
	return bytes, true
}

// bpeMerge is one merge rule: its rank and the id of the merged token.
type bpeMerge struct {
	rank, id int32
}

// newBPEModel builds the model from the vocabulary and the merges (rank =
// index), checking as tokenizers does that every merge's parts and result
// are in the vocabulary; where names the merges' file and field in errors.
func newBPEModel(vocab map[string]int, merges [][2]string, where string) (*bpeModel, error) {
	m := &bpeModel{vocab: vocab, merges: make(map[uint64]bpeMerge, len(merges)), unk: -1}
	for r, mg := range merges {
		a, okA := vocab[mg[0]]
		b, okB := vocab[mg[1]]
		id, okC := vocab[mg[0]+mg[1]]
		if !okA || !okB || !okC {
			tok, what := mg[0], "token"
			switch {
			case okA && okB:
				tok, what = mg[0]+mg[1], "merged token"
			case okA:
				tok = mg[1]
			}
			return nil, fmt.Errorf("%w: %s: merge %d (%q %q): %s %q is not in the vocabulary", ErrTokenizer, where, r, mg[0], mg[1], what, tok)
		}
		// A repeated pair takes its last rank, as tokenizers' merge map
		// (collected into a HashMap) does.
		m.merges[pairKey(a, b)] = bpeMerge{rank: int32(r), id: int32(id)}
	}
	return m, nil
}
