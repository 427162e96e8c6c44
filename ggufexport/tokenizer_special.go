package ggufexport

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/fsx"
)

// The port of gguf-py's SpecialVocab (gguf/vocab.py): merges, special token
// ids, add_*_token flags, chat templates and normalizer flags, with the same
// precedence rules and the same quirks (for instance a trailing special
// token in TemplateProcessing that is not the EOS token becomes the EOS
// token, and the configured EOS token becomes EOT).

// pyTruthy is Python truthiness of a decoded JSON value.
func pyTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return err != nil || f != 0
	case []any:
		return len(x) > 0
	case jsonObj:
		return len(x) > 0
	}
	return true
}

// pyEq is Python == for the values SpecialVocab compares (strings, None,
// and occasionally dicts, which never equal a string).
func pyEq(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}

// dictGet is Python's d.get(key) on a value that should be a dict; a
// non-dict gives nil, as the SpecialVocab code's `.get(..., {})` chains do
// for the shapes real files have.
func dictGet(v any, key string) any {
	if m, ok := v.(jsonObj); ok {
		return m[key]
	}
	return nil
}

func sortedKeys(m jsonObj) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sortedIDKeys orders added_tokens_decoder keys by numeric id.
func sortedIDKeys(m jsonObj) []string {
	keys := sortedKeys(m)
	sort.SliceStable(keys, func(i, j int) bool {
		a, errA := strconv.ParseInt(keys[i], 10, 64)
		b, errB := strconv.ParseInt(keys[j], 10, 64)
		if errA != nil || errB != nil {
			return errA == nil
		}
		return a < b
	})
	return keys
}

// parseIDKey parses an added_tokens_decoder key (Python int(str)).
func parseIDKey(k string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(k), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: added_tokens_decoder key %q is not an integer", ErrTokenizer, k)
	}
	return id, checkID("added_tokens_decoder", id)
}

type kindID struct {
	kind string
	id   int64
}

type kindBool struct {
	kind string
	on   bool
}

// specialVocab is one SpecialVocab instance.
type specialVocab struct {
	l          *vocabLoader
	types      []string
	nVocab     int // < 0: no range check (gguf-py's n_vocab=None)
	loadMerges bool

	merges        []string
	ids           []kindID
	add           []kindBool
	chatTemplate  any // nil, string or []any
	normLowercase *bool
	normStrip     *bool
}

var defaultSpecialTypes = []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"}

func newSpecialVocab(l *vocabLoader, types []string, nVocab int, loadMerges bool) *specialVocab {
	if types == nil {
		types = defaultSpecialTypes
	}
	return &specialVocab{l: l, types: append([]string(nil), types...), nVocab: nVocab, loadMerges: loadMerges}
}

func (s *specialVocab) hasType(t string) bool {
	for _, x := range s.types {
		if x == t {
			return true
		}
	}
	return false
}

func (s *specialVocab) getAdd(kind string) (bool, bool) {
	for _, a := range s.add {
		if a.kind == kind {
			return a.on, true
		}
	}
	return false, false
}

// setAdd assigns add[kind] (dict assignment: the position of an existing
// key is kept).
func (s *specialVocab) setAdd(kind string, on bool) {
	for i := range s.add {
		if s.add[i].kind == kind {
			s.add[i].on = on
			return
		}
	}
	s.add = append(s.add, kindBool{kind, on})
}

func (s *specialVocab) setDefaultAdd(kind string, on bool) {
	if _, ok := s.getAdd(kind); !ok {
		s.add = append(s.add, kindBool{kind, on})
	}
}

// setSpecial is _set_special_token.
func (s *specialVocab) setSpecial(kind string, v any) error {
	id, ok := pyInt(v)
	if !ok {
		return nil
	}
	if id < 0 {
		return fmt.Errorf("%w: invalid value for special token type %s: %d", ErrTokenizer, kind, id)
	}
	if s.nVocab < 0 || id < int64(s.nVocab) {
		for _, x := range s.ids {
			if x.kind == kind {
				return nil
			}
		}
		if id > 1<<32-1 {
			return fmt.Errorf("%w: special token type %s id %d does not fit UINT32", ErrTokenizer, kind, id)
		}
		s.ids = append(s.ids, kindID{kind, id})
		return nil
	}
	s.l.v.warnf("special token type %s, id %d out of range, must be under %d - skipping", kind, id, s.nVocab)
	return nil
}

func (s *specialVocab) load() error {
	if err := s.loadTokenizerJSON(); err != nil {
		return err
	}
	if err := s.loadConfigJSON(); err != nil {
		return err
	}
	if s.loadMerges && len(s.merges) == 0 {
		return s.loadMergesTxt()
	}
	return nil
}

// jsonMerges is tokenizer.json model.merges decoded once, in both the
// forms this package needs.
type jsonMerges struct {
	pairs  [][2]string // as tokenizers reads them
	ggufPy []string    // as gguf-py's SpecialVocab writes them ("a b")
}

// decodeJSONMerges reads model.merges: a list of "a b" strings or (since
// transformers 4.45) of [a, b] pairs. gguf-py keeps strings as they are and
// joins pairs with a space after encoding spaces inside them as U+0120;
// tokenizers splits a string merge at its single space.
func decodeJSONMerges(raw json.RawMessage) (*jsonMerges, error) {
	m := &jsonMerges{}
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		if len(strs) > gguf.MaxArrayLen {
			return nil, fmt.Errorf("%w: %s: %d merges", ErrTokenizer, mergesField, len(strs))
		}
		m.ggufPy = strs
		m.pairs = make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				m.pairs = nil // tokenizers would refuse the file; hashing fails later
				break
			}
			m.pairs[i] = [2]string{a, b}
		}
		return m, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("%w: %s: unknown merges format (want a list of \"a b\" strings or of [a, b] pairs)", ErrTokenizer, mergesField)
	}
	if len(pairs) > gguf.MaxArrayLen {
		return nil, fmt.Errorf("%w: %s: %d merges", ErrTokenizer, mergesField, len(pairs))
	}
	m.pairs = make([][2]string, len(pairs))
	m.ggufPy = make([]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("%w: %s: merge %d is not a pair of tokens", ErrTokenizer, mergesField, i)
		}
		m.pairs[i] = [2]string{p[0], p[1]}
		m.ggufPy[i] = strings.ReplaceAll(p[0], " ", "\u0120") + " " + strings.ReplaceAll(p[1], " ", "\u0120")
	}
	return m, nil
}

// merges returns tokenizer.json's merges, decoded once.
func (l *vocabLoader) merges() (*jsonMerges, error) {
	if l.jm == nil && l.jmErr == nil {
		tj, err := l.readTokenizerJSON()
		if err != nil {
			return nil, err
		}
		if tj == nil {
			return &jsonMerges{}, nil
		}
		l.jm, l.jmErr = decodeJSONMerges(tj.Model.Merges)
	}
	return l.jm, l.jmErr
}

// parseNormalizer is SpecialVocab._parse_normalizer.
func (s *specialVocab) parseNormalizer(n any) {
	m, ok := n.(jsonObj)
	if !ok {
		return
	}
	t := true
	switch m["type"] {
	case "Lowercase":
		s.normLowercase = &t
	case "StripAccents":
		s.normStrip = &t
	case "BertNormalizer":
		if v, ok := m["lowercase"]; ok {
			s.normLowercase = optBool(v)
		}
		if v, ok := m["strip_accents"]; ok {
			s.normStrip = optBool(v)
		}
	case "Sequence":
		for _, x := range objList(m, "normalizers") {
			s.parseNormalizer(x)
		}
	}
}

func optBool(v any) *bool {
	if b, ok := v.(bool); ok {
		return &b
	}
	return nil
}

func templateSpecialID(item any) any {
	return dictGet(dictGet(item, "SpecialToken"), "id")
}

func (s *specialVocab) loadTokenizerJSON() error {
	l := s.l
	tj, err := l.readTokenizerJSON()
	if err != nil {
		return err
	}
	var addedTokens []hfAddedToken
	var post any
	if tj != nil {
		if post, err = s.readTokenizerJSON(tj); err != nil {
			return err
		}
		addedTokens = tj.AddedTokens
	}
	tc, err := l.tokenizerConfig()
	if err != nil {
		return err
	}
	if tj != nil { // Python truthiness of the parsed tokenizer.json
		if err := s.postProcessor(tc, post); err != nil {
			return err
		}
	}
	if !pyTruthy(tc) {
		return nil
	}
	if err := s.loadChatTemplate(tc); err != nil {
		return err
	}
	for i := 0; i < len(s.types); i++ {
		if err := s.configSpecial(tc, s.types[i], addedTokens); err != nil {
			return err
		}
	}
	return nil
}

// readTokenizerJSON takes the merges (if loaded) and the normalizer's
// settings from tokenizer.json and returns its post_processor.
func (s *specialVocab) readTokenizerJSON(tj *hfTokenizerJSON) (post any, err error) {
	if s.loadMerges {
		jm, err := s.l.merges()
		if err != nil {
			return nil, err
		}
		s.merges = jm.ggufPy
	}
	norm, err := decodeJSONValue(tj.Normalizer)
	if err != nil {
		return nil, fmt.Errorf("%w: tokenizer.json normalizer: %v", ErrTokenizer, err)
	}
	if pyTruthy(norm) {
		s.parseNormalizer(norm)
	}
	if post, err = decodeJSONValue(tj.PostProcessor); err != nil {
		return nil, fmt.Errorf("%w: tokenizer.json post_processor: %v", ErrTokenizer, err)
	}
	return post, nil
}

// configSpecial applies tokenizer_config.json's add_<typ>_token flag and
// <typ>_token (its id from the added tokens, where one has its content).
func (s *specialVocab) configSpecial(tc jsonObj, typ string, addedTokens []hfAddedToken) error {
	if b, ok := tc["add_"+typ+"_token"].(bool); ok {
		if cur, set := s.getAdd(typ); !set {
			s.setAdd(typ, b)
		} else if cur != b {
			s.l.v.warnf("mismatch between tokenizer_config add_%s_token(%v) and tokenizer post_processor<%s>(%v) - opting for the latter", typ, b, typ, cur)
		}
	}
	var content string
	switch e := tc[typ+"_token"].(type) {
	case string:
		content = e
	case jsonObj:
		c, ok := e["content"].(string)
		if !ok {
			return nil
		}
		content = c
	default:
		return nil
	}
	var id any
	for _, a := range addedTokens {
		if a.Content == content {
			id = json.Number(strconv.FormatInt(a.ID, 10))
			break
		}
	}
	return s.setSpecial(typ, id)
}

// postProcessor derives add_* flags (and adjusts the special token
// strings in tc) from tokenizer.json's post_processor.
func (s *specialVocab) postProcessor(tc jsonObj, post any) error {
	cfg := func(key string) any {
		if tc == nil {
			return nil
		}
		return tc[key]
	}
	pt := &postTokens{s: s, tc: tc, hasTC: pyTruthy(tc)}
	pt.bos, pt.cls, pt.eos, pt.sep = cfg("bos_token"), cfg("cls_token"), cfg("eos_token"), cfg("sep_token")
	if !pyTruthy(pt.bos) && pyTruthy(pt.cls) && pt.hasTC {
		tc["bos_token"], pt.bos = pt.cls, pt.cls
	}
	if !pyTruthy(pt.eos) && pyTruthy(pt.sep) && pt.hasTC {
		tc["eos_token"], pt.eos = pt.sep, pt.sep
	}
	if !pyTruthy(post) {
		return nil
	}
	procs, err := postProcessorList(post)
	if err != nil {
		return err
	}
	for _, pr := range procs {
		switch dictGet(pr, "type") {
		case "ByteLevel":
			s.setDefaultAdd("bos", false)
			s.setDefaultAdd("eos", false)
		case "RobertaProcessing":
			pt.roberta(pr)
		case "TemplateProcessing":
			pt.template(pr)
		}
	}
	return nil
}

// postProcessorList is the post_processor's processors: its list for a
// Sequence, else itself.
func postProcessorList(post any) ([]any, error) {
	pm, ok := post.(jsonObj)
	if !ok {
		return nil, fmt.Errorf("%w: tokenizer.json post_processor is not an object", ErrTokenizer)
	}
	procs := []any{pm}
	if p, ok := pm["processors"]; ok {
		l, ok := p.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: tokenizer.json post_processor processors is not a list", ErrTokenizer)
		}
		procs = l
	}
	return procs, nil
}

// postTokens is postProcessor's state across the processors:
// tokenizer_config.json (tc, which it updates where it has one) and the
// special tokens as known so far.
type postTokens struct {
	s                  *specialVocab
	tc                 jsonObj
	hasTC              bool
	bos, cls, eos, sep any
}

// roberta applies a RobertaProcessing: bos, eos and sep added; its cls
// and sep tokens where the config names none.
func (pt *postTokens) roberta(pr any) {
	pt.s.setAdd("bos", true)
	pt.s.setAdd("eos", true)
	pt.s.setAdd("sep", true)
	if !pyTruthy(pt.cls) && pt.hasTC {
		pt.cls = firstOr(dictGet(pr, "cls"), pt.bos)
		pt.tc["cls_token"] = pt.cls
	}
	if !pyTruthy(pt.sep) && pt.hasTC {
		pt.sep = firstOr(dictGet(pr, "sep"), pt.eos)
		pt.tc["sep_token"] = pt.sep
	}
}

// template applies a TemplateProcessing: the single template's leading
// and trailing special tokens, then the pair template's.
func (pt *postTokens) template(pr any) {
	single, _ := dictGet(pr, "single").([]any)
	pair, _ := dictGet(pr, "pair").([]any)
	var first, last any
	if len(single) > 1 {
		first = templateSpecialID(single[0])
		if pyTruthy(first) {
			pt.leading(first)
		}
		last = templateSpecialID(single[len(single)-1])
		if pyTruthy(last) {
			pt.trailing(last)
		}
	}
	if len(pair) > 0 {
		pt.pair(pair, first, last)
	}
}

// leading handles the single template's leading special token: bos (or
// cls), added.
func (pt *postTokens) leading(first any) {
	if !pt.hasTC {
		pt.bos = first
	} else if !pyEq(first, pt.bos) && !pyEq(first, pt.cls) {
		if !pyTruthy(pt.bos) {
			pt.tc["bos_token"], pt.bos = first, first
		}
		if !pyTruthy(pt.cls) {
			pt.tc["cls_token"], pt.cls = first, first
		}
	}
	in := pyEq(first, pt.bos) || pyEq(first, pt.cls)
	pt.s.setAdd("bos", in)
	if !in {
		pt.s.l.v.warnf("unknown leading special token %v in TemplateProcessing<single>", first)
	}
}

// trailing handles the single template's trailing special token: eos,
// added; a different configured eos moves to eot (or eom).
func (pt *postTokens) trailing(last any) {
	s := pt.s
	if !pt.hasTC {
		pt.eos = last
	} else if !pyEq(last, pt.eos) {
		switch {
		case !s.hasType("eot"):
			s.types = append(s.types, "eot")
			pt.tc["eot_token"] = pt.eos
		case !s.hasType("eom"):
			s.types = append(s.types, "eom")
			pt.tc["eom_token"] = pt.eos
		default:
			s.l.v.warnf("overriding EOS token %v with %v without EOT/EOM fallback", pt.eos, last)
		}
		pt.tc["eos_token"], pt.eos = last, last
	}
	s.setAdd("eos", pyEq(last, pt.eos))
	if !pyEq(last, pt.eos) {
		s.l.v.warnf("unknown trailing special token %v in TemplateProcessing<single>", last)
	}
}

// pair checks the pair template against the single one (first, last) and
// derives add_sep from the tokens between its sequences A and B.
func (pt *postTokens) pair(pair []any, first, last any) {
	mid := pt.pairMiddle(pair, first, last)
	if len(mid) == 0 {
		return
	}
	a := dictGet(dictGet(mid[0], "Sequence"), "id")
	b := dictGet(dictGet(mid[len(mid)-1], "Sequence"), "id")
	if !pyEq(a, "A") || !pyEq(b, "B") {
		pt.s.l.v.warnf("unknown sequence %v...%v in TemplateProcessing<pair>", a, b)
	}
	if pyEq(a, "A") && pyEq(b, "B") && len(mid) > 2 {
		pt.separators(mid[1:len(mid)-1], last)
	}
}

// pairMiddle is the pair template without the single template's leading
// (first) and trailing (last) special tokens, warning where it lacks
// them.
func (pt *postTokens) pairMiddle(pair []any, first, last any) []any {
	start, stop := 0, len(pair)
	if pyTruthy(first) && pyEq(templateSpecialID(pair[0]), first) {
		start = 1
	}
	if pyTruthy(last) && pyEq(templateSpecialID(pair[len(pair)-1]), last) {
		stop = len(pair) - 1
	}
	if pyTruthy(first) && start == 0 || pyTruthy(last) && stop == len(pair) {
		pt.s.l.v.warnf("TemplateProcessing<single> leading/trailing special tokens do not match TemplateProcessing<pair>")
	}
	if start < stop {
		return pair[start:stop]
	}
	return nil
}

// isSep reports whether e is the sep or the eos token.
func (pt *postTokens) isSep(e any) bool { return pyEq(e, pt.sep) || pyEq(e, pt.eos) }

// separators sets add_sep from the special tokens between the pair
// template's sequences (mid).
func (pt *postTokens) separators(mid []any, last any) {
	warnf := pt.s.l.v.warnf
	addSep := false
	if e := templateSpecialID(mid[0]); pyTruthy(e) {
		if pt.isSep(e) && !pyTruthy(last) {
			addSep = true
		}
		if !pt.isSep(e) {
			// (Llama 2's own tokenizer.json joins pairs with "<s>":
			// worth a line that says what it means, not a puzzle.)
			warnf("tokenizer.json post_processor: the pair template joins its two sequences with %s, "+
				"neither the sep nor the eos token; the GGUF gets no separator (as convert_hf_to_gguf.py)", quoteToken(e))
		}
	} else {
		warnf("unknown middle sequence in TemplateProcessing<pair>")
	}
	if len(mid) == 2 {
		if e := templateSpecialID(mid[1]); pyTruthy(e) {
			if pt.isSep(e) {
				addSep = true
			} else {
				warnf("tokenizer.json post_processor: the pair template's second separator %s is "+
					"neither the sep nor the eos token; the GGUF gets no separator for it (as convert_hf_to_gguf.py)", quoteToken(e))
			}
		} else {
			warnf("unknown second middle sequence in TemplateProcessing<pair>")
		}
	}
	pt.s.setAdd("sep", addSep)
	if addSep && !pyTruthy(pt.sep) && pt.hasTC {
		pt.tc["sep_token"] = pt.eos
	}
}

// firstOr is Python's processor.get(key, [def])[0].
func firstOr(v any, def any) any {
	if v == nil {
		return def
	}
	if l, ok := v.([]any); ok && len(l) > 0 {
		return l[0]
	}
	return nil
}

// loadChatTemplate reads the chat template(s) as SpecialVocab does.
func (s *specialVocab) loadChatTemplate(tc jsonObj) error {
	d := s.l.d
	var alt any
	if d.exists("chat_template.jinja") {
		b, err := d.read("chat_template.jinja")
		if err != nil {
			return err
		}
		alt = string(b)
		extra, _ := filepath.Glob(filepath.Join(d.dir, "additional_chat_templates", "*.jinja"))
		sort.Strings(extra)
		if len(extra) > 0 {
			list := []any{jsonObj{"name": "default", "template": string(b)}}
			for _, p := range extra {
				t, err := fsx.ReadFile(p, maxTokenizerFile)
				if err != nil {
					return fmt.Errorf("%w: chat template: %w", ErrTokenizer, err)
				}
				list = append(list, jsonObj{"name": strings.TrimSuffix(filepath.Base(p), ".jinja"), "template": string(t)})
			}
			alt = list
		}
	} else if d.exists("chat_template.json") {
		o, err := d.readJSONObject("chat_template.json")
		if err != nil {
			return err
		}
		alt = o["chat_template"]
	}
	ct, ok := tc["chat_template"]
	if !ok {
		ct = alt
	}
	switch ct.(type) {
	case nil, string, []any:
		s.chatTemplate = ct
	default:
		s.l.v.warnf("bad type for chat_template field in tokenizer_config.json - ignoring")
	}
	return nil
}

func (s *specialVocab) loadConfigJSON() error {
	cfg, err := s.l.d.readJSONObject("config.json")
	if err != nil || cfg == nil {
		return err
	}
	for _, typ := range s.types {
		id, ok := cfg[typ+"_token_id"]
		if (!ok || id == nil) && cfg["text_config"] != nil {
			id = dictGet(cfg["text_config"], typ+"_token_id")
		}
		if err := s.setSpecial(typ, id); err != nil {
			return err
		}
	}
	return nil
}

// loadMergesTxt reads merges.txt (an optional "#" header line, then one
// "a b" pair a line).
func (s *specialVocab) loadMergesTxt() error {
	b, err := s.l.d.read("merges.txt")
	if err != nil || b == nil {
		return err
	}
	merges, err := parseMergesTxt(string(b), s.l.v)
	if err != nil {
		return err
	}
	s.merges = merges
	return nil
}

// pySplitLines splits text into lines as Python's file iteration does
// (keeping only \n as the separator; \r stays part of the line).
func parseMergesTxt(text string, v *ggufVocab) ([]string, error) {
	lines := strings.SplitAfter(text, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	start := 0
	if len(lines) > 0 && strings.HasPrefix(pyStrip(lines[0]), "#") {
		start = 1
	}
	var out []string
	for i := start; i < len(lines); i++ {
		line := pyStrip(lines[i])
		if line == "" {
			continue
		}
		parts := pySplit(line, 3)
		if len(parts) != 2 {
			if v != nil {
				v.warnf("merges.txt: Line %d: Entry malformed, ignoring", i+1)
			}
			continue
		}
		if len(out) >= gguf.MaxArrayLen {
			return nil, fmt.Errorf("%w: merges.txt has too many merges", ErrTokenizer)
		}
		out = append(out, parts[0]+" "+parts[1])
	}
	return out, nil
}

// pyIsSpace is Python's str.isspace for one rune.
func pyIsSpace(r rune) bool {
	return r >= 0x1c && r <= 0x1f || isOnigSpace(r)
}

func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// pySplit is Python's s.split(None, maxsplit).
func pySplit(s string, maxsplit int) []string {
	var out []string
	for {
		s = strings.TrimLeftFunc(s, pyIsSpace)
		if s == "" {
			return out
		}
		if len(out) == maxsplit {
			return append(out, strings.TrimRightFunc(s, pyIsSpace))
		}
		i := strings.IndexFunc(s, pyIsSpace)
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
}

// apply writes the collected values as SpecialVocab.add_to_gguf does.
func (s *specialVocab) apply() {
	v := s.l.v
	kv := &v.kvs
	if len(s.merges) > 0 {
		v.Merges = s.merges
		kv.Set(keyTokenMerges, gguf.NewValue(s.merges))
	} else if s.loadMerges {
		v.warnf("adding merges requested but no merges found, output may be non-functional")
	}
	for _, x := range s.ids {
		key, ok := specialKeys[x.kind]
		if !ok {
			v.warnf("no handler for special token type %s with id %d - skipping", x.kind, x.id)
			continue
		}
		kv.Set(key, gguf.NewValue(uint32(x.id)))
	}
	for _, a := range s.add {
		key, ok := addSpecialKeys[a.kind]
		if !ok {
			v.warnf("no handler for add_%s_token with value %v - skipping", a.kind, a.on)
			continue
		}
		kv.Set(key, gguf.NewValue(a.on))
	}
	if s.chatTemplate != nil {
		s.applyChatTemplate()
	}
	if s.normLowercase != nil {
		kv.Set("tokenizer.ggml.normalizer.lowercase", gguf.NewValue(*s.normLowercase))
	}
	if s.normStrip != nil {
		kv.Set("tokenizer.ggml.normalizer.strip_accents", gguf.NewValue(*s.normStrip))
	}
}

// applyChatTemplate is GGUFWriter.add_chat_template.
func (s *specialVocab) applyChatTemplate() {
	kv := &s.l.v.kvs
	switch t := s.chatTemplate.(type) {
	case string:
		kv.Set(keyChatTemplate, gguf.NewValue(t))
	case []any:
		s.applyChatTemplates(t)
	}
}

// applyChatTemplates writes a list of named chat templates: "default" as
// the chat template, the others under their (sanitized) names, listed.
func (s *specialVocab) applyChatTemplates(list []any) {
	kv := &s.l.v.kvs
	var def *string
	names := map[string]bool{}
	for _, c := range list {
		m, ok := c.(jsonObj)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		tmpl, ok := m["template"].(string)
		name = chatTemplateName(name)
		if name == "" || !ok {
			continue
		}
		if name == "default" {
			def = &tmpl
			continue
		}
		names[name] = true
		kv.Set(fmt.Sprintf(keyChatTemplateFmt, name), gguf.NewValue(tmpl))
	}
	if len(names) > 0 {
		kv.Set(keyChatTemplates, gguf.NewValue(slices.Sorted(maps.Keys(names))))
	}
	if def != nil {
		kv.Set(keyChatTemplate, gguf.NewValue(*def))
	}
}

// chatTemplateName is a template name as a GGUF key part: ASCII letters
// and digits kept, anything else '_'.
func chatTemplateName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if isASCIIAlnum(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// extraSpecials is the second SpecialVocab some architectures run
// (CodeLlama and Gemma FIM/EOT ids): the files are read again for the given
// kinds, the fixed ids are set where the files gave none, and the result is
// written over the existing keys. Gemma drops the chat template there.
func (l *vocabLoader) extraSpecials(kinds []string, ids map[string]int64, keepTemplate bool) error {
	sv := newSpecialVocab(l, kinds, -1, false)
	if err := sv.load(); err != nil {
		return err
	}
	for _, k := range kinds {
		if err := sv.setSpecial(k, json.Number(strconv.FormatInt(ids[k], 10))); err != nil {
			return err
		}
	}
	if !keepTemplate {
		sv.chatTemplate = nil
	}
	sv.apply()
	return nil
}

// quoteToken prints a template's special token as a quoted name (a
// string id) or as it is (a number).
func quoteToken(e any) string {
	if s, ok := e.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(e)
}
