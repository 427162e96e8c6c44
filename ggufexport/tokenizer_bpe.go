package ggufexport

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Byte-level BPE vocabulary export (_set_vocab_gpt2 / get_vocab_base) from
// tokenizer.json or from a GPT-2 style vocab.json + merges.txt directory.

// readTokenizerJSON parses tokenizer.json once; nil if absent.
func (l *vocabLoader) readTokenizerJSON() (*hfTokenizerJSON, error) {
	if l.tjRead {
		return l.tj, l.tjErr
	}
	l.tjRead = true
	b, err := l.d.read("tokenizer.json")
	if err != nil || b == nil {
		l.tjErr = err
		return nil, err
	}
	var tj hfTokenizerJSON
	if err := json.Unmarshal(b, &tj); err != nil {
		l.tjErr = fmt.Errorf("%w: tokenizer.json: %v", ErrTokenizer, err)
		return nil, l.tjErr
	}
	if len(tj.AddedTokens) > maxVocabSize {
		l.tjErr = fmt.Errorf("%w: tokenizer.json has %d added tokens", ErrTokenizer, len(tj.AddedTokens))
		return nil, l.tjErr
	}
	for _, t := range tj.AddedTokens {
		if err := checkID("tokenizer.json added_tokens", t.ID); err != nil {
			l.tjErr = err
			return nil, err
		}
	}
	l.tj = &tj
	return l.tj, nil
}

// isLlamaHF reports whether tokenizer.json is the SentencePiece-style BPE
// gguf-py's LlamaHfVocab accepts (byte_fallback BPE with a Sequence decoder,
// and not Llama 3's ignore_merges layout).
func (l *vocabLoader) isLlamaHF() bool {
	tj, err := l.readTokenizerJSON()
	if err != nil || tj == nil {
		return false
	}
	m := tj.Model
	if m.Type == "BPE" && m.IgnoreMerges && !m.ByteFallback {
		return false
	}
	var dec struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(tj.Decoder, &dec)
	return m.Type == "BPE" && m.ByteFallback && dec.Type == "Sequence"
}

// bpeSource is a BPE tokenizer in either file layout.
type bpeSource struct {
	vocab        map[string]int // model vocabulary
	added        []hfAddedToken // added tokens (tokenizer.json order)
	ignoreMerges bool           // tokenizer.json model.ignore_merges
	pipeline     func() (*hfPipeline, error)
}

// bpe exports a byte-level BPE vocabulary.
func (l *vocabLoader) bpe() error {
	tj, err := l.readTokenizerJSON()
	if err != nil {
		return err
	}
	var src *bpeSource
	if tj != nil {
		src, err = l.bpeFromTokenizerJSON(tj)
	} else if l.d.exists("vocab.json") {
		src, err = l.bpeFromVocabJSON()
	} else {
		return fmt.Errorf("%w: no tokenizer.model, tokenizer.json or vocab.json in %s", ErrTokenizer, l.d.dir)
	}
	if err != nil {
		return err
	}
	if err := l.requireMerges(tj != nil); err != nil {
		return err
	}

	toks, err := newBPETokens(src)
	if err != nil {
		return err
	}
	n, err := l.vocabSize(toks.distinct, "vocab_size")
	if err != nil {
		return err
	}
	if toks.maxModelID >= n {
		return fmt.Errorf("%w: token id %d is outside the vocabulary size %d", ErrTokenizer, toks.maxModelID, n)
	}
	if toks.maxID >= n {
		// convert_hf_to_gguf.py asserts here; the SentencePiece path drops
		// such ids, and so does this one (Gemma 3's <image_soft_token>
		// 262144 past a 262144-row text embedding, as mlx-lm writes it).
		l.v.warnf("ignore added tokens from id %d: id is out of range, max=%d", n, n-1)
	}

	l.v.Model = "gpt2"
	if err := l.bpePre(src); err != nil {
		return err
	}
	toks.fill(l.v, n)
	l.setArrays()
	sv := newSpecialVocab(l, nil, -1, true)
	if err := sv.load(); err != nil {
		return err
	}
	sv.apply()
	return nil
}

// bpeTokens is tokenizer.vocab of a BPE tokenizer: the model vocabulary
// with the added tokens over it (by text; an added token also takes its
// id).
type bpeTokens struct {
	byID    map[int]string
	added   map[string]bool // added token texts
	special map[int]bool    // ids of added tokens marked special
	maxID   int
	// maxModelID is the largest id of a model vocabulary token.
	maxModelID int
	distinct   int // distinct tokens
}

func newBPETokens(src *bpeSource) (*bpeTokens, error) {
	bt := &bpeTokens{
		byID:    make(map[int]string, len(src.vocab)+len(src.added)),
		added:   map[string]bool{},
		special: map[int]bool{},
		maxID:   -1, maxModelID: -1,
	}
	for _, a := range src.added {
		bt.added[a.Content] = true
		bt.special[int(a.ID)] = bt.special[int(a.ID)] || a.Special
	}
	for t, id := range src.vocab {
		if bt.added[t] {
			continue
		}
		if prev, dup := bt.byID[id]; dup {
			return nil, fmt.Errorf("%w: tokens %q and %q share id %d", ErrTokenizer, min(prev, t), max(prev, t), id)
		}
		bt.byID[id] = t
		bt.maxID = max(bt.maxID, id)
		bt.maxModelID = max(bt.maxModelID, id)
		bt.distinct++
	}
	seenAdded := map[string]bool{}
	for _, a := range src.added {
		id := int(a.ID)
		if !seenAdded[a.Content] {
			seenAdded[a.Content] = true
			bt.distinct++
		}
		bt.byID[id] = a.Content
		bt.maxID = max(bt.maxID, id)
	}
	return bt, nil
}

// fill sets v's n tokens and their types: [PADi] for the ids without a
// token, added tokens control (special or special-looking) or
// user-defined, the rest normal.
func (bt *bpeTokens) fill(v *ggufVocab, n int) {
	v.Tokens = make([]string, n)
	v.Types = make([]tokenType, n)
	for i := 0; i < n; i++ {
		t, ok := bt.byID[i]
		switch {
		case !ok:
			v.Tokens[i], v.Types[i] = fmt.Sprintf("[PAD%d]", i), tokenUnused
		case bt.added[t] && (bt.special[i] || looksSpecial(t)):
			v.Tokens[i], v.Types[i] = t, tokenControl
		case bt.added[t]:
			v.Tokens[i], v.Types[i] = strings.ReplaceAll(t, "▁", " "), tokenUserDefined
		default:
			v.Tokens[i], v.Types[i] = t, tokenNormal
		}
	}
}

// bpePre sets the pre-tokenizer: the one asked for, else the one
// llama.cpp's table names for the tokenizer's chkhsh.
func (l *vocabLoader) bpePre(src *bpeSource) error {
	v := l.v
	if l.opts.Pre != "" {
		v.Pre = l.opts.Pre
		return nil
	}
	p, err := src.pipeline()
	if err != nil {
		return fmt.Errorf("%w (pass a pre-tokenizer name to override): %w", ErrUnknownPre, err)
	}
	hash, _, err := p.chkHash()
	if err != nil {
		return fmt.Errorf("%w (pass a pre-tokenizer name to override): %w", ErrUnknownPre, err)
	}
	v.PreHash = hash
	name, ok := preTokenizerName(hash)
	if !ok {
		return fmt.Errorf("%w: chkhsh %s is not in llama.cpp's table (pass a pre-tokenizer name to override)", ErrUnknownPre, hash)
	}
	v.Pre, v.PreConverter = name, name
	if fix, ok := preIgnoreMergesFix[name]; ok && src.ignoreMerges {
		v.Pre = fix
		v.warnf("pre-tokenizer: llama.cpp's converter names this tokenizer %q, which makes llama.cpp apply merges the tokenizer ignores (ignore_merges); writing %q, which has the same pre-tokenizer and ignores them", name, fix)
	}
	return nil
}

func decodeVocabMap(raw json.RawMessage, what string) (map[string]int, error) {
	var vocab map[string]int64
	if err := json.Unmarshal(raw, &vocab); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTokenizer, what, err)
	}
	if len(vocab) > maxVocabSize {
		return nil, fmt.Errorf("%w: %s has %d tokens", ErrTokenizer, what, len(vocab))
	}
	out := make(map[string]int, len(vocab))
	for t, id := range vocab {
		if err := checkID(what, id); err != nil {
			return nil, err
		}
		out[t] = int(id)
	}
	return out, nil
}

func (l *vocabLoader) bpeFromTokenizerJSON(tj *hfTokenizerJSON) (*bpeSource, error) {
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("%w: tokenizer.json model type %q (only BPE is supported)", ErrTokenizer, tj.Model.Type)
	}
	vocab, err := decodeVocabMap(tj.Model.Vocab, "tokenizer.json model.vocab")
	if err != nil {
		return nil, err
	}
	added, err := l.configAddedTokens(append([]hfAddedToken(nil), tj.AddedTokens...))
	if err != nil {
		return nil, err
	}
	// Validated whether or not the pre-tokenizer is named (--pre).
	m, err := l.jsonBPEModel(tj, vocab)
	if err != nil {
		return nil, err
	}
	src := &bpeSource{vocab: vocab, added: added, ignoreMerges: tj.Model.IgnoreMerges}
	src.pipeline = func() (*hfPipeline, error) {
		if tj.Model.Dropout != nil && *tj.Model.Dropout != 0 {
			return nil, fmt.Errorf("%w: BPE dropout", ErrTokenizer)
		}
		configureBPEModel(m, tj, vocab)
		tjc := *tj
		tjc.AddedTokens = added
		return newHFPipeline(&tjc, m)
	}
	return src, nil
}

// configureBPEModel sets the model options of tokenizer.json on m.
func configureBPEModel(m *bpeModel, tj *hfTokenizerJSON, vocab map[string]int) {
	if tj.Model.UnkToken != nil {
		id, ok := vocab[*tj.Model.UnkToken]
		if ok {
			m.unk = id
		}
	}
	m.fuseUnk, m.byteFallback, m.ignoreMerges = tj.Model.FuseUnk, tj.Model.ByteFallback, tj.Model.IgnoreMerges
	if tj.Model.ContinuingSubwordPrefix != nil {
		m.prefix = *tj.Model.ContinuingSubwordPrefix
	}
	if tj.Model.EndOfWordSuffix != nil {
		m.suffix = *tj.Model.EndOfWordSuffix
	}
}

// configAddedTokens appends to added the added tokens declared only in
// tokenizer_config.json's added_tokens_decoder (by id).
func (l *vocabLoader) configAddedTokens(added []hfAddedToken) ([]hfAddedToken, error) {
	tc, err := l.tokenizerConfig()
	if err != nil {
		return nil, err
	}
	dec, ok := tc["added_tokens_decoder"].(jsonObj)
	if !ok {
		return added, nil
	}
	have := map[int64]bool{}
	for _, a := range added {
		have[a.ID] = true
	}
	for _, k := range sortedIDKeys(dec) {
		id, err := parseIDKey(k)
		if err != nil {
			return nil, err
		}
		if have[id] {
			continue
		}
		a, err := decodeAddedTokenEntry(k, dec[k])
		if err != nil {
			return nil, err
		}
		a.ID = id
		added = append(added, a)
	}
	return added, nil
}

// decodeAddedTokenEntry decodes added_tokens_decoder's entry for key k.
func decodeAddedTokenEntry(k string, entry any) (hfAddedToken, error) {
	var a hfAddedToken
	raw, err := json.Marshal(entry)
	if err != nil {
		return a, fmt.Errorf("%w: added_tokens_decoder %q: %v", ErrTokenizer, k, err)
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		// The entry has no id field: take it from the key.
		var b struct {
			Content    *string `json:"content"`
			Special    bool    `json:"special"`
			Normalized *bool   `json:"normalized"`
		}
		if json.Unmarshal(raw, &b) != nil || b.Content == nil {
			return a, fmt.Errorf("%w: added_tokens_decoder %q: no content", ErrTokenizer, k)
		}
		a = hfAddedToken{Content: *b.Content, Special: b.Special, Normalized: !b.Special}
		if b.Normalized != nil {
			a.Normalized = *b.Normalized
		}
	}
	return a, nil
}

// mergesField names tokenizer.json's merges in errors.
const mergesField = `tokenizer.json: "model.merges"`

// jsonBPEModel checks tokenizer.json's merges as HF tokenizers does when it
// loads the file (it refuses a BPE model without a merges list, a merge that
// is not two tokens, and a merge whose tokens or result are not in the
// model vocabulary) and builds the BPE model from them.
func (l *vocabLoader) jsonBPEModel(tj *hfTokenizerJSON, vocab map[string]int) (*bpeModel, error) {
	if raw := strings.TrimSpace(string(tj.Model.Merges)); raw == "" || raw == "null" {
		return nil, fmt.Errorf("%w: %s: the BPE model has no merges (the field is missing or null; HF tokenizers refuses to load it)", ErrTokenizer, mergesField)
	}
	jm, err := l.merges()
	if err != nil {
		return nil, err
	}
	if jm.pairs == nil && len(jm.ggufPy) > 0 {
		for i, s := range jm.ggufPy {
			if _, b, ok := strings.Cut(s, " "); !ok || strings.Contains(b, " ") {
				return nil, fmt.Errorf("%w: %s: merge %d (%q) is not two tokens separated by one space", ErrTokenizer, mergesField, i, s)
			}
		}
	}
	return newBPEModel(vocab, jm.pairs, mergesField)
}

// requireMerges fails when the merges gguf-py's SpecialVocab would write
// (tokenizer.json's, else merges.txt's) are empty: the converter writes
// such a file with a warning, but llama.cpp refuses to load a gpt2
// vocabulary without tokenizer.ggml.merges.
func (l *vocabLoader) requireMerges(fromJSON bool) error {
	where := "merges.txt"
	if fromJSON {
		jm, err := l.merges()
		if err != nil || len(jm.ggufPy) > 0 {
			return err
		}
		where = mergesField
	}
	b, err := l.d.read("merges.txt")
	if err != nil {
		return err
	}
	if b != nil {
		ms, err := parseMergesTxt(string(b), nil)
		if err != nil || len(ms) > 0 {
			return err
		}
	}
	return fmt.Errorf("%w: %s is empty: the BPE model has no merges (llama.cpp cannot load a BPE vocabulary without them)", ErrTokenizer, where)
}

// gpt2DefaultSpecial is GPT2Tokenizer's default bos/eos/unk token.
const gpt2DefaultSpecial = "<|endoftext|>"

// bpeFromVocabJSON reads a GPT-2 style directory: vocab.json, merges.txt,
// optional added_tokens.json, and the special tokens of
// tokenizer_config.json / special_tokens_map.json (GPT2Tokenizer's default
// "<|endoftext|>" for bos, eos and unk when neither names them).
func (l *vocabLoader) bpeFromVocabJSON() (*bpeSource, error) {
	b, err := l.d.read("vocab.json")
	if err != nil {
		return nil, err
	}
	vocab, err := decodeVocabMap(b, "vocab.json")
	if err != nil {
		return nil, err
	}
	tc, err := l.tokenizerConfig()
	if err != nil {
		return nil, err
	}
	stm, err := l.d.readJSONObject("special_tokens_map.json")
	if err != nil {
		return nil, err
	}
	added, err := l.vocabJSONAdded(vocab, tc, stm)
	if err != nil {
		return nil, err
	}
	// The merges are validated whether or not the pre-tokenizer is named.
	model, err := l.mergesTxtModel(vocab)
	if err != nil {
		return nil, err
	}
	src := &bpeSource{vocab: vocab, added: added}
	src.pipeline = func() (*hfPipeline, error) {
		return gpt2Pipeline(tc, vocab, model, added)
	}
	return src, nil
}

// addedList collects added tokens, the first of each content.
type addedList struct {
	tokens []hfAddedToken
	seen   map[string]bool
}

func (al *addedList) add(content string, id int, special bool) {
	if al.seen[content] {
		return
	}
	al.seen[content] = true
	al.tokens = append(al.tokens, hfAddedToken{ID: int64(id), Content: content, Special: special, Normalized: !special})
}

// gpt2SpecialKinds are GPT2Tokenizer's special token attributes.
var gpt2SpecialKinds = []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"}

// vocabJSONAdded is a GPT-2 style directory's added vocabulary:
// added_tokens.json's entries, then the special tokens (from
// tokenizer_config.json, else special_tokens_map.json; bos, eos and unk
// default to "<|endoftext|>") that vocab.json has, checked against it.
func (l *vocabLoader) vocabJSONAdded(vocab map[string]int, tc, stm jsonObj) ([]hfAddedToken, error) {
	al := &addedList{seen: map[string]bool{}}
	// added_tokens.json entries beyond the vocabulary.
	at, err := l.d.readJSONObject("added_tokens.json")
	if err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(at) {
		id, ok := pyInt(at[k])
		if !ok {
			return nil, fmt.Errorf("%w: added_tokens.json %q: id is not an integer", ErrTokenizer, k)
		}
		if err := checkID("added_tokens.json", id); err != nil {
			return nil, err
		}
		al.add(k, int(id), false)
	}
	for _, kind := range gpt2SpecialKinds {
		if c, found := gpt2SpecialToken(kind, tc, stm); found {
			if id, ok := vocab[c]; ok {
				al.add(c, id, true)
			}
		}
	}
	for _, a := range al.tokens {
		if id, ok := vocab[a.Content]; ok && id != int(a.ID) {
			return nil, fmt.Errorf("%w: added token %q has id %d, vocab.json says %d", ErrTokenizer, a.Content, a.ID, id)
		}
	}
	return al.tokens, nil
}

// gpt2SpecialToken is the content of the kind's special token: the first
// of tokenizer_config.json and special_tokens_map.json that has the key,
// else GPT2Tokenizer's default for bos, eos and unk.
func gpt2SpecialToken(kind string, tc, stm jsonObj) (string, bool) {
	key := kind + "_token"
	var c string
	found := false
	for _, src := range []jsonObj{tc, stm} {
		if v, ok := src[key]; ok {
			c, found = addedTokenContent(v)
			break
		}
	}
	if !found && (kind == "bos" || kind == "eos" || kind == "unk") {
		return gpt2DefaultSpecial, true
	}
	return c, found
}

// mergesTxtModel builds the BPE model from vocab.json and merges.txt.
func (l *vocabLoader) mergesTxtModel(vocab map[string]int) (*bpeModel, error) {
	mb, err := l.d.read("merges.txt")
	if err != nil {
		return nil, err
	}
	if mb == nil {
		return nil, fmt.Errorf("%w: vocab.json without merges.txt: the BPE model has no merges", ErrTokenizer)
	}
	ms, err := parseMergesTxt(string(mb), nil)
	if err != nil {
		return nil, err
	}
	pairs := make([][2]string, len(ms))
	for i, m := range ms {
		a, b, _ := strings.Cut(m, " ")
		pairs[i] = [2]string{a, b}
	}
	return newBPEModel(vocab, pairs, "merges.txt")
}

// gpt2Pipeline is GPT2Tokenizer's encode path: the ByteLevel
// pre-tokenizer (add_prefix_space as configured) and, with add_bos_token,
// the BOS token first.
func gpt2Pipeline(tc jsonObj, vocab map[string]int, model *bpeModel, added []hfAddedToken) (*hfPipeline, error) {
	addPrefix := false
	if b, ok := tc["add_prefix_space"].(bool); ok {
		addPrefix = b
	}
	p := &hfPipeline{model: model, added: added, byteLevel: true}
	pre := jsonObj{"type": "ByteLevel", "add_prefix_space": addPrefix, "use_regex": true}
	if err := p.compilePre(pre); err != nil {
		return nil, err
	}
	if b, ok := tc["add_bos_token"].(bool); ok && b {
		bosTok := gpt2DefaultSpecial
		if c, ok := addedTokenContent(tc["bos_token"]); ok {
			bosTok = c
		}
		id, ok := vocab[bosTok]
		if !ok {
			return nil, errors.New("add_bos_token without a BOS token in vocab.json")
		}
		p.post = func(ids []int) []int { return append([]int{id}, ids...) }
	}
	return p, nil
}
