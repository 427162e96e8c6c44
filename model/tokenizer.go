package model

// VocabLoader is the GGUF tokenizer export as a family's tokenizer rules
// (convert_hf_to_gguf.py's set_vocab) drive it.
type VocabLoader interface {
	// HasSPM reports whether tokenizer.model exists.
	HasSPM() bool
	// HasTokenizerJSON reports whether tokenizer.json exists.
	HasTokenizerJSON() bool
	// TokenizerConfig returns tokenizer_config.json (nil when absent).
	TokenizerConfig() (map[string]any, error)
	// GenerationConfig returns generation_config.json (nil when absent).
	GenerationConfig() (map[string]any, error)
	// SPM loads a SentencePiece vocabulary (Phi-3's added-token rules
	// when phi3).
	SPM(phi3 bool) error
	// BPE loads a GPT-2 style vocabulary.
	BPE() error
	// IsLlamaHF reports whether tokenizer.json is what gguf-py's
	// LlamaHfVocab accepts; LlamaHF loads it.
	IsLlamaHF() bool
	LlamaHF() error
	// LlamaHFAs loads tokenizer.json as LlamaHfVocab lists it under the
	// tokenizer model name, without a pre-tokenizer name, with the merges,
	// and with the tokens of userDefined typed USER_DEFINED (Gemma 4's
	// set_vocab).
	LlamaHFAs(name string, userDefined []string) error
	// ExtraSpecials adds special token ids of the given kinds.
	ExtraSpecials(kinds []string, ids map[string]int64, keepTemplate bool) error
	// SetTokenID writes the id of a special token kind (bos, eos, eot, ...)
	// as gguf-py's add_{kind}_token_id does, replacing what the vocabulary
	// set.
	SetTokenID(kind string, id int64) error
	// SetAddSpacePrefix and SetAddBOS write tokenizer.ggml.add_space_prefix
	// and tokenizer.ggml.add_bos_token.
	SetAddSpacePrefix(b bool)
	SetAddBOS(b bool)
	// AddedTokenID is the id of tokenizer.json's added token content
	// (tokenizer.get_added_vocab()[content]); an error when absent.
	AddedTokenID(content string) (int64, error)
	// HParamInt returns an integer of config.json, or def when absent.
	HParamInt(key string, def int64) int64
	// Errorf returns a tokenizer error (ggufexport.ErrTokenizer).
	Errorf(format string, args ...any) error
}

// DefaultVocab is set_vocab of the architectures without quirks:
// SentencePiece when tokenizer.model exists, else BPE.
func DefaultVocab(l VocabLoader) error {
	if l.HasSPM() {
		return l.SPM(false)
	}
	return l.BPE()
}

// SPMNoSpacePrefix loads a SentencePiece vocabulary and writes
// add_space_prefix false (the Gemma models).
func SPMNoSpacePrefix(l VocabLoader) error {
	if err := l.SPM(false); err != nil {
		return err
	}
	l.SetAddSpacePrefix(false)
	return nil
}
