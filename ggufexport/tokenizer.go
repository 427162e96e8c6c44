package ggufexport

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/fsx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/family"
)

// Tokenizer export.
//
// loadVocab builds, from a Hugging Face model directory, every tokenizer.*
// key llama.cpp's convert_hf_to_gguf.py writes for the architectures mlxconv
// exports, with the same values, value types and order:
//
//   - SentencePiece (tokenizer.ggml.model "llama", pre "default") from
//     tokenizer.model: pieces, real scores and piece types; the vocabulary
//     pre-filled with "[PAD{i}]" (score -10000, UNUSED) up to the vocabulary
//     size; added tokens from added_tokens.json (USER_DEFINED) and
//     tokenizer_config.json added_tokens_decoder (CONTROL when special or
//     when they look special, else USER_DEFINED with "▁" turned into a
//     space), both with score -1000; Phi-3's variant of these rules.
//   - Byte-level BPE (model "gpt2") from tokenizer.json (model type BPE) or
//     from a GPT-2 style vocab.json + merges.txt: tokens by id, gaps and the
//     tail up to the vocabulary size filled with "[PAD{i}]" (UNUSED), added
//     tokens CONTROL or USER_DEFINED by the converter's rules, merges as
//     "a b" from either merges format (pairs with spaces encoded as U+0120).
//     tokenizer.ggml.pre is named as the converter names it: the check
//     text is encoded by a Go emulation of the tokenizers library and the
//     SHA-256 of the id list looked up in llama.cpp's table (tokenizer_pre.go).
//     An unknown digest or an unsupported tokenizer component is an error
//     wrapping ErrUnknownPre unless vocabOptions.Pre names the pre-tokenizer.
//     The merges are checked as HF tokenizers checks them (present, pairs,
//     tokens in the vocabulary) and must not be empty, whether or not Pre
//     is given: those errors wrap ErrTokenizer.
//     One deliberate difference: a tokenizer.json with ignore_merges whose
//     digest the converter calls smaug-bpe (the original Meta-Llama-3 file)
//     is written as llama-bpe, whose llama.cpp pre-tokenizer is the same but
//     ignores merges as the tokenizer does; ggufVocab.PreConverter keeps the
//     converter's name.
//   - Special token ids, add_bos/add_eos/add_sep, the chat template(s) and
//     normalizer flags as gguf-py's SpecialVocab derives them from
//     tokenizer.json, tokenizer_config.json, chat_template.jinja /
//     chat_template.json / additional_chat_templates/*.jinja and config.json;
//     plus the per-architecture additions (llama: add_space_prefix from
//     add_prefix_space, CodeLlama EOT; gemma*: add_space_prefix false,
//     Gemma's EOT 107).
//
// Deviations, all deliberate: tokenizer.chat_templates lists template names
// sorted (gguf-py writes a Python set, whose order varies run to run);
// non-normalized added tokens are not round-tripped through
// encode/decode (an identity for the tokens of real models); the HF-side
// emulation follows tokenizer.json alone, as transformers 5 does (4.x
// re-templated Llama/Gemma post-processors from add_bos_token).
//   - SentencePiece-style BPE tokenizer.json without tokenizer.model
//     (llama: gguf-py's LlamaHfVocab, model "llama"; tokenizer_llamahf.go).
//     The SentencePiece rules of gemma, gemma2 and phi3 take LlamaHfVocab's
//     tokens as their pieces there (mlx-lm 0.32.2 writes no
//     tokenizer.model; the converter fails instead), then fill and drop
//     to the vocabulary size as with tokenizer.model.
//   - Byte-level BPE added tokens at or past the vocabulary size (the
//     embedding rows) are dropped with a warning where the converter
//     asserts (Gemma 3 text models as mlx-lm writes them:
//     <image_soft_token> 262144 past 262144 rows).
//
// Unsupported: WordPiece/Unigram tokenizer.json, Mistral tekken; these are errors wrapping ErrTokenizer. Files are read whole with
// size caps; counts and ids from them are validated before use.

// Tokenizer errors.
var (
	// ErrTokenizer reports a missing, malformed or unsupported tokenizer.
	ErrTokenizer = errors.New("gguf: unsupported or invalid tokenizer")
	// ErrUnknownPre reports a BPE pre-tokenizer llama.cpp's converter would
	// not recognise either (or one this package cannot emulate): pass
	// vocabOptions.Pre to name it.
	ErrUnknownPre = errors.New("gguf: BPE pre-tokenizer not recognised")
)

// tokenType is llama.cpp's token type (tokenizer.ggml.token_type, INT32).
type tokenType int32

// Token types, as llama.cpp numbers them.
const (
	tokenNormal      tokenType = 1
	tokenUnknown     tokenType = 2
	tokenControl     tokenType = 3
	tokenUserDefined tokenType = 4
	tokenUnused      tokenType = 5
	tokenByte        tokenType = 6
)

var tokenTypeNames = map[tokenType]string{
	tokenNormal: "NORMAL", tokenUnknown: "UNKNOWN", tokenControl: "CONTROL",
	tokenUserDefined: "USER_DEFINED", tokenUnused: "UNUSED", tokenByte: "BYTE",
}

// String returns the llama.cpp name of t.
func (t tokenType) String() string {
	if s, ok := tokenTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("TokenType(%d)", int32(t))
}

// Tokenizer metadata keys.
const (
	keyTokenizerModel  = "tokenizer.ggml.model"
	keyTokenizerPre    = "tokenizer.ggml.pre"
	keyTokenList       = "tokenizer.ggml.tokens"
	keyTokenScores     = "tokenizer.ggml.scores"
	keyTokenType       = "tokenizer.ggml.token_type"
	keyTokenMerges     = "tokenizer.ggml.merges"
	keyAddSpacePrefix  = "tokenizer.ggml.add_space_prefix"
	keyChatTemplate    = "tokenizer.chat_template"
	keyChatTemplates   = "tokenizer.chat_templates"
	keyChatTemplateFmt = "tokenizer.chat_template.%s"
)

// specialKeys maps SpecialVocab token kinds to their id keys (gguf-py's
// add_{kind}_token_id handlers); kinds without a handler are not written.
var specialKeys = map[string]string{
	"bos": "tokenizer.ggml.bos_token_id", "eos": "tokenizer.ggml.eos_token_id",
	"unk": "tokenizer.ggml.unknown_token_id", "sep": "tokenizer.ggml.seperator_token_id",
	"pad": "tokenizer.ggml.padding_token_id", "mask": "tokenizer.ggml.mask_token_id",
	"eot": "tokenizer.ggml.eot_token_id", "eom": "tokenizer.ggml.eom_token_id",
}

// addSpecialKeys maps kinds to their add_{kind}_token keys.
var addSpecialKeys = map[string]string{
	"bos": "tokenizer.ggml.add_bos_token", "eos": "tokenizer.ggml.add_eos_token",
	"sep": "tokenizer.ggml.add_sep_token",
}

// Size limits for tokenizer input.
const (
	// maxVocabSize caps vocabulary sizes and token ids (real vocabularies
	// stay below 2^20; the cap bounds what a hostile config.json can make
	// loadVocab allocate for padding).
	maxVocabSize = 1 << 22
	// maxTokenizerFile caps the size of any tokenizer file read.
	maxTokenizerFile = 1 << 30
)

// vocabOptions tune loadVocab.
type vocabOptions struct {
	// Arch is the GGUF architecture whose set_vocab rules apply: llama
	// (also Mistral, Mixtral), qwen2, qwen3, qwen2moe, qwen3moe, gemma,
	// gemma2, gemma3, phi3. Empty: SentencePiece if tokenizer.model exists,
	// else BPE, with no architecture additions.
	Arch string
	// VocabSize is the vocabulary size to pad to (the token embedding's
	// row count); it takes the place of config.json's vocab_size. Zero:
	// config.json vocab_size (or text_config's), else the tokenizer's own
	// size.
	VocabSize int
	// Pre names tokenizer.ggml.pre for a BPE vocabulary instead of
	// detecting it (mlxconv gguf --pre). It validates nothing less.
	Pre string
}

// ggufVocab is an exported tokenizer: the arrays, and every tokenizer.* KV in
// the order convert_hf_to_gguf.py writes them.
type ggufVocab struct {
	Model  string      // tokenizer.ggml.model: "llama" or "gpt2"
	Pre    string      // tokenizer.ggml.pre
	Tokens []string    // tokenizer.ggml.tokens
	Scores []float32   // tokenizer.ggml.scores (SentencePiece only)
	Types  []tokenType // tokenizer.ggml.token_type
	Merges []string    // tokenizer.ggml.merges (BPE only)
	// PreHash is the chkhsh digest computed for a BPE vocabulary (empty for
	// SentencePiece, or when Pre was given and detection was skipped).
	PreHash string
	// PreConverter is the name llama.cpp's converter gives PreHash. It
	// differs from Pre only where the converter's name would make llama.cpp
	// tokenize differently from the tokenizer (see preIgnoreMergesFix).
	PreConverter string
	// Warnings are the conditions convert_hf_to_gguf.py logs as warnings
	// (ignored out-of-range ids, replaced tokens, ...).
	Warnings []string

	kvs kvList
}

// KVs returns the tokenizer metadata in writing order, typed as llama.cpp
// reads it, ready to append to the architecture's KVs for NewPlan.
func (v *ggufVocab) KVs() []gguf.KV { return append([]gguf.KV(nil), v.kvs.List...) }

// Lookup returns the value of a tokenizer key.
func (v *ggufVocab) Lookup(key string) (gguf.Value, bool) {
	return v.kvs.Lookup(key)
}

func (v *ggufVocab) warnf(format string, args ...any) {
	v.Warnings = append(v.Warnings, fmt.Sprintf(format, args...))
}

// kvList is an insertion-ordered map with gguf-py's GGUFWriter semantics.
type kvList = model.KVList

// modelDir gives access to the files of an HF model directory.
type modelDir struct {
	dir string
}

func (d modelDir) path(name string) string { return filepath.Join(d.dir, name) }

// exists reports whether something is at name (symlinks followed). A
// named pipe, socket, device or directory counts, so that read then
// refuses it by name instead of the file being taken as absent.
func (d modelDir) exists(name string) bool {
	_, err := os.Stat(d.path(name))
	return !errors.Is(err, fs.ErrNotExist)
}

// read returns the file's bytes, or (nil, nil) if it does not exist. Only
// a regular file is read (fsx.ReadFile: a FIFO never blocks); anything
// else, or one over maxTokenizerFile bytes, is an ErrTokenizer naming it.
func (d modelDir) read(name string) ([]byte, error) {
	p := d.path(name)
	b, err := fsx.ReadFile(p, maxTokenizerFile)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.Is(err, fsx.ErrNotRegular), errors.Is(err, fsx.ErrTooLarge):
		return nil, fmt.Errorf("%w: %w", ErrTokenizer, err)
	default:
		return nil, fmt.Errorf("%s: %w", name, err)
	}
}

// loadVocab exports the tokenizer of the Hugging Face model directory dir
// as convert_hf_to_gguf.py does for opts.Arch. See the file comment for the
// rules. Errors wrap ErrTokenizer, ErrUnknownPre or ErrInvalid.
func loadVocab(dir string, opts vocabOptions) (*ggufVocab, error) {
	if opts.VocabSize < 0 || opts.VocabSize > maxVocabSize {
		return nil, fmt.Errorf("%w: vocabulary size %d out of range [0, %d]", gguf.ErrInvalid, opts.VocabSize, maxVocabSize)
	}
	if opts.Pre != "" && !validPreName(opts.Pre) {
		return nil, fmt.Errorf("%w: pre-tokenizer name %q", gguf.ErrInvalid, opts.Pre)
	}
	d := modelDir{dir: dir}
	cfg, err := readHParams(d)
	if err != nil {
		return nil, err
	}
	l := &vocabLoader{d: d, opts: opts, hp: cfg, v: &ggufVocab{}}
	if err := l.run(); err != nil {
		return nil, err
	}
	return l.v, nil
}

func validPreName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r)) {
			return false
		}
	}
	return true
}

// vocabLoader carries one loadVocab run.
type vocabLoader struct {
	d    modelDir
	opts vocabOptions
	hp   jsonObj // config.json with text_config hoisted (nil if absent)
	v    *ggufVocab

	tj     *hfTokenizerJSON // tokenizer.json, parsed once
	tjRead bool
	tjErr  error
	jm     *jsonMerges
	jmErr  error
}

func (l *vocabLoader) run() error {
	setVocab := model.DefaultVocab // generic
	if l.opts.Arch != "" {
		if setVocab = family.VocabRules(l.opts.Arch); setVocab == nil {
			return fmt.Errorf("%w: no tokenizer rules for architecture %q", gguf.ErrInvalid, l.opts.Arch)
		}
	}
	if !l.d.exists("tokenizer.model") && l.d.exists("tekken.json") && !l.d.exists("tokenizer.json") {
		return fmt.Errorf("%w: Mistral tekken.json tokenizers are not supported", ErrTokenizer)
	}
	return setVocab(vocabRules{l})
}

// vocabRules is a vocabLoader as the families' set_vocab rules drive it.
type vocabRules struct{ l *vocabLoader }

func (r vocabRules) HasSPM() bool                             { return r.l.d.exists("tokenizer.model") }
func (r vocabRules) HasTokenizerJSON() bool                   { return r.l.d.exists("tokenizer.json") }
func (r vocabRules) TokenizerConfig() (map[string]any, error) { return r.l.tokenizerConfig() }
func (r vocabRules) GenerationConfig() (map[string]any, error) {
	return r.l.d.readJSONObject("generation_config.json")
}
func (r vocabRules) SPM(phi3 bool) error { return r.l.spm(phi3) }
func (r vocabRules) BPE() error          { return r.l.bpe() }
func (r vocabRules) IsLlamaHF() bool     { return r.l.isLlamaHF() }
func (r vocabRules) LlamaHF() error      { return r.l.llamaHF() }
func (r vocabRules) LlamaHFAs(name string, userDefined []string) error {
	return r.l.llamaHFAs(name, userDefined)
}
func (r vocabRules) ExtraSpecials(kinds []string, ids map[string]int64, keepTemplate bool) error {
	return r.l.extraSpecials(kinds, ids, keepTemplate)
}
func (r vocabRules) SetTokenID(kind string, id int64) error {
	key, ok := specialKeys[kind]
	if !ok || id < 0 || id > math.MaxUint32 {
		return fmt.Errorf("%w: special token %s id %d", ErrTokenizer, kind, id)
	}
	r.l.v.kvs.Set(key, gguf.NewValue(uint32(id)))
	return nil
}
func (r vocabRules) SetAddSpacePrefix(b bool)              { r.l.v.kvs.Set(keyAddSpacePrefix, gguf.NewValue(b)) }
func (r vocabRules) SetAddBOS(b bool)                      { r.l.v.kvs.Set(addSpecialKeys["bos"], gguf.NewValue(b)) }
func (r vocabRules) HParamInt(key string, def int64) int64 { return r.l.hparamInt(key, def) }
func (r vocabRules) AddedTokenID(content string) (int64, error) {
	tj, err := r.l.readTokenizerJSON()
	if err != nil {
		return 0, err
	}
	if tj != nil {
		for _, t := range tj.AddedTokens {
			if t.Content == content {
				return t.ID, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: tokenizer.json has no added token %q", ErrTokenizer, content)
}
func (r vocabRules) Errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrTokenizer, fmt.Sprintf(format, args...))
}

// hparamInt returns an integer hyperparameter, or def when absent.
func (l *vocabLoader) hparamInt(key string, def int64) int64 {
	if v, ok := pyInt(l.hp[key]); ok {
		return v
	}
	return def
}

// vocabSize resolves the vocabulary size: the option, else the first of
// keys found in the hyperparameters (Python truthiness: 0 falls through),
// else def.
func (l *vocabLoader) vocabSize(def int, keys ...string) (int, error) {
	if l.opts.VocabSize > 0 {
		return l.opts.VocabSize, nil
	}
	for _, k := range keys {
		if n, ok := pyInt(l.hp[k]); ok && n != 0 {
			if n < 0 || n > maxVocabSize {
				return 0, fmt.Errorf("%w: config.json %s %d out of range", ErrTokenizer, k, n)
			}
			return int(n), nil
		}
	}
	return def, nil
}

// readHParams reads config.json and hoists text_config (and its aliases)
// to the top level as convert_hf_to_gguf.py does. A missing config.json
// gives nil.
func readHParams(d modelDir) (jsonObj, error) {
	b, err := d.read("config.json")
	if err != nil || b == nil {
		return nil, err
	}
	v, err := decodePyJSONValue(b)
	if err != nil {
		return nil, fmt.Errorf("%w: config.json: %v", ErrTokenizer, err)
	}
	cfg, ok := v.(jsonObj)
	if !ok {
		return nil, fmt.Errorf("%w: config.json is not an object", ErrTokenizer)
	}
	hp := jsonObj{}
	for k, x := range cfg {
		hp[k] = x
	}
	text := cfg["text_config"]
	for _, alias := range []string{"llm_config", "lm_config", "language_config", "lfm"} {
		if x, ok := cfg[alias]; ok {
			text = x
		}
	}
	if th, ok := cfg["thinker_config"].(jsonObj); ok {
		text = th["text_config"]
	}
	if tc, ok := text.(jsonObj); ok {
		for k, x := range tc {
			hp[k] = x
		}
	}
	return hp, nil
}

// readJSONObject reads name as a JSON object; a missing file gives nil.
// config.json is read as Python's json module reads it (NaN, Infinity).
func (d modelDir) readJSONObject(name string) (jsonObj, error) {
	b, err := d.read(name)
	if err != nil || b == nil {
		return nil, err
	}
	decode := decodeJSONValue
	if name == "config.json" {
		decode = decodePyJSONValue
	}
	v, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTokenizer, name, err)
	}
	o, ok := v.(jsonObj)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a JSON object", ErrTokenizer, name)
	}
	return o, nil
}

func (l *vocabLoader) tokenizerConfig() (jsonObj, error) {
	return l.d.readJSONObject("tokenizer_config.json")
}

// looksSpecial is convert_hf_to_gguf.py's does_token_look_special.
func looksSpecial(t string) bool {
	switch t {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return strings.HasPrefix(t, "<|") && strings.HasSuffix(t, "|>") ||
		strings.HasPrefix(t, "<｜") && strings.HasSuffix(t, "｜>") ||
		strings.HasPrefix(t, "<unused") && strings.HasSuffix(t, ">")
}

// setArrays writes the model, pre and array KVs.
func (l *vocabLoader) setArrays() {
	v := l.v
	v.kvs.Set(keyTokenizerModel, gguf.NewValue(v.Model))
	if v.Pre != "" {
		v.kvs.Set(keyTokenizerPre, gguf.NewValue(v.Pre))
	}
	v.kvs.Set(keyTokenList, gguf.NewValue(v.Tokens))
	if v.Scores != nil {
		v.kvs.Set(keyTokenScores, gguf.NewValue(v.Scores))
	}
	types := make([]int32, len(v.Types))
	for i, t := range v.Types {
		types[i] = int32(t)
	}
	v.kvs.Set(keyTokenType, gguf.NewValue(types))
}

// checkID validates a token id read from a file.
func checkID(what string, id int64) error {
	if id < 0 || id >= maxVocabSize {
		return fmt.Errorf("%w: %s: token id %d out of range", ErrTokenizer, what, id)
	}
	return nil
}
