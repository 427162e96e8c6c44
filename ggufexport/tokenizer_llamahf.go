package ggufexport

import (
	"fmt"
	"slices"
	"sort"

	"github.com/mlxconv/mlxconv/model/family"
)

// SentencePiece-style tokenizer.json without tokenizer.model: llama.cpp's
// _set_vocab_llama_hf over gguf-py's LlamaHfVocab, which reads the vocabulary
// through transformers' fast tokenizer (transformers 4.x semantics, the
// version the converter runs with). Facts it rests on:
//
//   - the base vocabulary is the model vocabulary of tokenizer.json; its
//     size is the number of entries (tokenizers' BPE get_vocab_size), and
//     token i is the content with id i in the merged vocabulary (model
//     vocabulary with the added tokens over it);
//   - every token is scored -1000; base tokens are BYTE when they look like
//     <0xHH>, CONTROL when their id is one of the tokenizer's named special
//     tokens (bos, eos, unk, sep, pad, cls, mask and
//     additional_special_tokens: class defaults for a Llama tokenizer
//     overridden by tokenizer_config.json; special_tokens_map.json and
//     added_tokens.json only when tokenizer_config.json has no
//     added_tokens_decoder),
//     else NORMAL — the tokenizer.json "special" flag plays no part;
//   - added tokens with ids at or past the base size follow in id order,
//     CONTROL when they are named special tokens, else USER_DEFINED; the
//     tokenizer adds, at load time, tokenizer_config.json
//     added_tokens_decoder entries and named special tokens missing from the
//     vocabulary, at the next free id;
//   - no padding to config.json vocab_size; model "llama", pre "default";
//     then SpecialVocab with n_vocab = the token count and no merges.

// llamaTokenizerDefaults are the special tokens transformers'
// LlamaTokenizerFast constructor defaults to.
var llamaTokenizerDefaults = map[string]string{"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}

// specialTokenAttrs are transformers' SPECIAL_TOKENS_ATTRIBUTES without
// additional_special_tokens, in its order.
var specialTokenAttrs = []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}

var llamaHFAttr = map[string]bool{"bos_token": true, "eos_token": true, "unk_token": true,
	"sep_token": true, "pad_token": true, "cls_token": true, "mask_token": true}

// checkSpecialValue rejects what transformers' constructor rejects (the
// converter then falls back to byte-level BPE, which this package does not
// follow): a tokenizer_config.json special token that is an object without
// "__type": "AddedToken".
func checkSpecialValue(k string, v any) error {
	if o, ok := v.(jsonObj); ok && o["__type"] != "AddedToken" {
		return fmt.Errorf("%w: tokenizer_config.json %s is an object without __type AddedToken (transformers rejects it)", ErrTokenizer, k)
	}
	return nil
}

// addedTokenContent reads a special token value of tokenizer_config.json or
// special_tokens_map.json: a string or an AddedToken object.
func addedTokenContent(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case jsonObj:
		s, ok := x["content"].(string)
		return s, ok
	}
	return "", false
}

// llamaHFSpecials returns the tokenizer's named special tokens, in
// all_special_tokens order (duplicates removed).
func (l *vocabLoader) llamaHFSpecials(tc jsonObj) ([]string, error) {
	vals := l.defaultSpecialTokens(l.tokenizerClass(tc))
	var extra []any
	for _, k := range specialTokenAttrs {
		if v, ok := tc[k]; ok {
			if err := checkSpecialValue(k, v); err != nil {
				return nil, err
			}
			vals[k] = v
		}
	}
	if v, ok := tc["additional_special_tokens"].([]any); ok {
		extra = v
	}
	// special_tokens_map.json counts only without added_tokens_decoder
	// (transformers' legacy branch): its entries replace the configured
	// ones and extend additional_special_tokens.
	if _, ok := tc["added_tokens_decoder"]; !ok {
		var err error
		if extra, err = l.legacySpecialTokensMap(vals, extra); err != nil {
			return nil, err
		}
	}

	var out []string
	seen := map[string]bool{}
	add := func(v any) {
		s, ok := addedTokenContent(v)
		if ok && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, k := range specialTokenAttrs {
		if v := vals[k]; v != nil {
			add(v)
		}
	}
	for _, v := range extra {
		add(v)
	}
	return out, nil
}

// tokenizerClass is tokenizer_config.json's tokenizer_class, else the
// model family's.
func (l *vocabLoader) tokenizerClass(tc jsonObj) string {
	cls, _ := tc["tokenizer_class"].(string)
	if cls == "" {
		if mt, _ := l.hp["model_type"].(string); mt != "" {
			if g := family.LookupGGUF(mt); g != nil {
				cls = g.TokenizerClass
			}
		}
	}
	return cls
}

// defaultSpecialTokens are the special tokens the tokenizer class's
// constructor sets by default (warning for an unknown class).
func (l *vocabLoader) defaultSpecialTokens(cls string) map[string]any {
	vals := map[string]any{}
	switch cls {
	case "LlamaTokenizer", "LlamaTokenizerFast":
		for k, v := range llamaTokenizerDefaults {
			vals[k] = v
		}
	case "PreTrainedTokenizerFast":
	default:
		l.v.warnf("tokenizer class %q: its constructor's default special tokens are not known; only the configured ones are used", cls)
	}
	return vals
}

// legacySpecialTokensMap applies special_tokens_map.json: its special
// token attributes set in vals, its additional_special_tokens appended to
// extra (returned).
func (l *vocabLoader) legacySpecialTokensMap(vals map[string]any, extra []any) ([]any, error) {
	stm, err := l.d.readJSONObject("special_tokens_map.json")
	if err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(stm) {
		v := stm[k]
		if k == "additional_special_tokens" {
			if list, ok := v.([]any); ok {
				extra = append(extra, list...)
				continue
			}
		}
		if _, isAttr := llamaHFAttr[k]; isAttr {
			vals[k] = v
		}
	}
	return extra, nil
}

// llamaHF exports a SentencePiece-style BPE tokenizer.json (isLlamaHF).
func (l *vocabLoader) llamaHF() error {
	n, err := l.llamaHFTokens()
	if err != nil {
		return err
	}
	l.setArrays()
	sv := newSpecialVocab(l, nil, n, false)
	if err := sv.load(); err != nil {
		return err
	}
	sv.apply()
	return nil
}

// llamaHFAs is llamaHF under the tokenizer model name, without a
// pre-tokenizer name, with merges, and with the tokens of userDefined
// typed USER_DEFINED.
func (l *vocabLoader) llamaHFAs(name string, userDefined []string) error {
	n, err := l.llamaHFTokens()
	if err != nil {
		return err
	}
	l.v.Model, l.v.Pre = name, ""
	for i, t := range l.v.Tokens {
		if slices.Contains(userDefined, t) {
			l.v.Types[i] = tokenUserDefined
		}
	}
	l.setArrays()
	sv := newSpecialVocab(l, nil, n, true)
	if err := sv.load(); err != nil {
		return err
	}
	sv.apply()
	return nil
}

// llamaHFTokens sets the model, pre and token arrays of l.v as
// LlamaHfVocab.all_tokens lists them and returns their count.
func (l *vocabLoader) llamaHFTokens() (int, error) {
	tj, err := l.readTokenizerJSON()
	if err != nil {
		return 0, err
	}
	if tj == nil {
		return 0, fmt.Errorf("%w: tokenizer.json not found in %s", ErrTokenizer, l.d.dir)
	}
	model, err := decodeVocabMap(tj.Model.Vocab, "tokenizer.json model.vocab")
	if err != nil {
		return 0, err
	}
	// The fast tokenizer LlamaHfVocab loads refuses merges it cannot use.
	if _, err := l.jsonBPEModel(tj, model); err != nil {
		return 0, err
	}
	tc, err := l.tokenizerConfig()
	if err != nil {
		return 0, err
	}
	specials, err := l.llamaHFSpecials(tc)
	if err != nil {
		return 0, err
	}

	av := newAddedVocab(model, tj.AddedTokens)
	dec, hasDec, err := l.llamaHFDecoder(tc, tj.AddedTokens)
	if err != nil {
		return 0, err
	}
	if hasDec {
		if err := av.addDecoded(dec); err != nil {
			return 0, err
		}
	}
	for _, s := range specials {
		if err := av.addNew(s); err != nil {
			return 0, err
		}
	}
	return av.fill(l.v, specials)
}

// llamaHFDecoder is tokenizer_config.json's added_tokens_decoder or, in
// the legacy branch without one, added_tokens.json's entries and the
// added tokens as a decoder (id -> content); ok is false when there is
// none.
func (l *vocabLoader) llamaHFDecoder(tc jsonObj, addedTokens []hfAddedToken) (dec jsonObj, ok bool, err error) {
	dec, ok = tc["added_tokens_decoder"].(jsonObj)
	if _, present := tc["added_tokens_decoder"]; present {
		return dec, ok, nil
	}
	at, err := l.d.readJSONObject("added_tokens.json")
	if err != nil {
		return nil, false, err
	}
	dec = jsonObj{}
	for k, v := range at {
		id, ok := pyInt(v)
		if !ok {
			return nil, false, fmt.Errorf("%w: added_tokens.json %q: id is not an integer", ErrTokenizer, k)
		}
		if err := checkID("added_tokens.json", id); err != nil {
			return nil, false, err
		}
		dec[fmt.Sprint(id)] = k
	}
	for _, t := range addedTokens {
		dec[fmt.Sprint(t.ID)] = t.Content
	}
	return dec, true, nil
}

// addedVocab is the added vocabulary as the fast tokenizer holds it after
// loading, over the model vocabulary.
type addedVocab struct {
	model    map[string]int
	base     int // model vocabulary size
	added    map[string]int
	byID     map[int]string
	maxAdded int
}

// newAddedVocab starts from tokenizer.json's added tokens (the first of
// each content).
func newAddedVocab(model map[string]int, tokens []hfAddedToken) *addedVocab {
	av := &addedVocab{model: model, base: len(model), added: map[string]int{}, byID: map[int]string{}, maxAdded: -1}
	for _, t := range tokens {
		if _, dup := av.added[t.Content]; dup {
			continue
		}
		av.add(t.Content, int(t.ID))
	}
	for _, id := range av.added {
		av.maxAdded = max(av.maxAdded, id)
	}
	return av
}

func (av *addedVocab) add(s string, id int) {
	av.added[s] = id
	av.byID[id] = s
}

func (av *addedVocab) lookup(s string) (int, bool) {
	if id, ok := av.added[s]; ok {
		return id, true
	}
	id, ok := av.model[s]
	return id, ok
}

// addNew adds s, if it is not a token yet, with the next id.
func (av *addedVocab) addNew(s string) error {
	if _, ok := av.lookup(s); ok {
		return nil
	}
	id := av.base
	if av.maxAdded >= av.base || av.base == 0 {
		id = av.maxAdded + 1
	}
	if err := checkID("added token "+s, int64(id)); err != nil {
		return err
	}
	av.add(s, id)
	av.maxAdded = max(av.maxAdded, id)
	return nil
}

// addDecoded adds the decoder's tokens (in id order) that are new.
func (av *addedVocab) addDecoded(dec jsonObj) error {
	for _, k := range sortedIDKeys(dec) {
		if s, ok := addedTokenContent(dec[k]); ok {
			if err := av.addNew(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// fill sets v's tokens, scores and types: the base ids (added tokens
// replacing model tokens), then the added ids beyond them in order; the
// special tokens are control tokens. It returns the vocabulary size.
func (av *addedVocab) fill(v *ggufVocab, specials []string) (int, error) {
	specialIDs := map[int]bool{}
	specialSet := map[string]bool{}
	for _, s := range specials {
		id, _ := av.lookup(s)
		specialIDs[id] = true
		specialSet[s] = true
	}
	reverse := av.baseTokens()
	extraIDs := av.extraIDs()
	n := av.base + len(extraIDs)
	v.Model, v.Pre = "llama", "default"
	v.Tokens = make([]string, 0, n)
	v.Scores = make([]float32, 0, n)
	v.Types = make([]tokenType, 0, n)
	for id := 0; id < av.base; id++ {
		s, ok := reverse[id]
		if !ok {
			return 0, fmt.Errorf("%w: tokenizer.json has no token with id %d (its vocabulary has %d entries)", ErrTokenizer, id, av.base)
		}
		typ := tokenNormal
		switch {
		case isBytePiece(s):
			typ = tokenByte
		case specialIDs[id]:
			typ = tokenControl
		}
		v.Tokens, v.Scores, v.Types = append(v.Tokens, s), append(v.Scores, -1000), append(v.Types, typ)
	}
	for _, id := range extraIDs {
		s := av.byID[id]
		typ := tokenUserDefined
		if specialSet[s] {
			typ = tokenControl
		}
		v.Tokens, v.Scores, v.Types = append(v.Tokens, s), append(v.Scores, -1000), append(v.Types, typ)
	}
	return n, nil
}

// baseTokens maps the base ids to their tokens, added tokens over model
// tokens.
func (av *addedVocab) baseTokens() map[int]string {
	reverse := make(map[int]string, av.base)
	for s, id := range av.model {
		if id < av.base {
			reverse[id] = s
		}
	}
	for id, s := range av.byID {
		if id < av.base {
			reverse[id] = s
		}
	}
	return reverse
}

// extraIDs are the added ids beyond the base vocabulary, sorted.
func (av *addedVocab) extraIDs() []int {
	var ids []int
	for id := range av.byID {
		if id >= av.base {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	return ids
}

// isBytePiece matches <0x[0-9A-Fa-f]{2}>.
func isBytePiece(s string) bool {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return false
	}
	for _, c := range []byte(s[3:5]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
