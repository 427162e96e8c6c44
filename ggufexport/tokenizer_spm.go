package ggufexport

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// SentencePiece model parsing (tokenizer.model) and the SentencePiece
// vocabulary export.
//
// tokenizer.model is a serialized sentencepiece.ModelProto. Only the pieces
// are needed: ModelProto field 1 (repeated SentencePiece), whose fields are
// 1 piece (string), 2 score (float, default 0) and 3 type (enum, default
// NORMAL = 1; UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6). The
// other fields (trainer and normalizer specs, ...) are skipped after their
// wire format is checked.

// spmPiece is one SentencePiece.
type spmPiece struct {
	piece string
	score float32
	typ   int32
}

// spm piece types (sentencepiece_model.proto).
const (
	spmNormal      = 1
	spmUnknown     = 2
	spmControl     = 3
	spmUserDefined = 4
	spmUnused      = 5
	spmByte        = 6
)

// parseSentencePiece decodes the pieces of a ModelProto. The input is
// hostile: every length is checked by protowire against the bytes left,
// and the piece count is capped by maxVocabSize.
func parseSentencePiece(b []byte) ([]spmPiece, error) {
	var pieces []spmPiece
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: tokenizer.model: %v", ErrTokenizer, protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			msg, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: tokenizer.model piece %d: %v", ErrTokenizer, len(pieces), protowire.ParseError(n))
			}
			b = b[n:]
			if len(pieces) >= maxVocabSize {
				return nil, fmt.Errorf("%w: tokenizer.model has more than %d pieces", ErrTokenizer, maxVocabSize)
			}
			p, err := parseSPMPiece(msg)
			if err != nil {
				return nil, fmt.Errorf("%w: tokenizer.model piece %d: %v", ErrTokenizer, len(pieces), err)
			}
			pieces = append(pieces, p)
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, fmt.Errorf("%w: tokenizer.model field %d: %v", ErrTokenizer, num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	if len(pieces) == 0 {
		return nil, fmt.Errorf("%w: tokenizer.model has no pieces", ErrTokenizer)
	}
	return pieces, nil
}

func parseSPMPiece(b []byte) (spmPiece, error) {
	p := spmPiece{typ: spmNormal}
	hasPiece := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return p, protowire.ParseError(n)
		}
		b = b[n:]
		n, err := p.parseField(num, typ, b)
		if err != nil {
			return p, err
		}
		hasPiece = hasPiece || num == 1 && typ == protowire.BytesType
		b = b[n:]
	}
	if !hasPiece {
		return p, fmt.Errorf("no piece string")
	}
	return p, nil
}

// parseField reads one field value of a SentencePiece message into p
// (1: the piece, 2: its score, 3: its type; anything else is skipped)
// and returns its length.
func (p *spmPiece) parseField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch {
	case num == 1 && typ == protowire.BytesType:
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		if !utf8.Valid(v) {
			return 0, fmt.Errorf("piece is not valid UTF-8")
		}
		p.piece = string(v)
		return n, nil
	case num == 2 && typ == protowire.Fixed32Type:
		v, n := protowire.ConsumeFixed32(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		p.score = math.Float32frombits(v)
		return n, nil
	case num == 3 && typ == protowire.VarintType:
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		if v < spmNormal || v > spmByte {
			return 0, fmt.Errorf("piece type %d", v)
		}
		p.typ = int32(v)
		return n, nil
	}
	n := protowire.ConsumeFieldValue(num, typ, b)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	return n, nil
}

// spmTokenType maps a piece type as convert_hf_to_gguf.py does: the
// IsUnknown / IsControl / IsUnused / IsByte checks in that order, anything
// else (NORMAL and USER_DEFINED) NORMAL. A negative type is a llama.cpp
// token type already (-t: pieces taken from tokenizer.json).
func spmTokenType(t int32) tokenType {
	if t < 0 {
		return tokenType(-t)
	}
	switch t {
	case spmUnknown:
		return tokenUnknown
	case spmControl:
		return tokenControl
	case spmUnused:
		return tokenUnused
	case spmByte:
		return tokenByte
	}
	return tokenNormal
}

// spm exports a SentencePiece vocabulary (_set_vocab_sentencepiece, or
// Phi-3's set_vocab when phi3 is set).
//
// Without tokenizer.model, a SentencePiece-style tokenizer.json (what
// gguf-py's LlamaHfVocab accepts; mlx-lm 0.32.2 writes no tokenizer.model)
// stands in for it: its LlamaHfVocab tokens (BYTE, CONTROL, USER_DEFINED,
// NORMAL; score -1000) take the place of the pieces, and the rest of the
// rules (vocabulary size, [PADi] filling, ids past it dropped, added
// tokens) apply unchanged. convert_hf_to_gguf.py fails there instead
// ("Missing tokenizer.model"); this is a deliberate extension, with one
// difference from LlamaHfVocab: NORMAL pieces score -rank (their order
// among the NORMAL pieces by id, as in the SentencePiece BPE models these
// files were converted from) instead of -1000, since llama.cpp's
// SentencePiece tokenizer merges by score and equal scores make it
// tokenize otherwise than the tokenizer does.
func (l *vocabLoader) spm(phi3 bool) error {
	pieces, err := l.spmPieces()
	if err != nil {
		return err
	}
	keys := []string{"vocab_size_per_layer_input", "vocab_size"}
	if phi3 {
		keys = []string{"vocab_size"}
	}
	n, err := l.vocabSize(len(pieces), keys...)
	if err != nil {
		return err
	}
	l.v.Model, l.v.Pre = "llama", "default"
	l.v.setSPMPieces(pieces, n)

	if err := l.spmAddedTokensJSON(n, phi3); err != nil {
		return err
	}
	tc, err := l.tokenizerConfig()
	if err != nil {
		return err
	}
	if dec, ok := tc["added_tokens_decoder"].(jsonObj); ok {
		if err := l.spmAddedTokensDecoder(dec, n, phi3); err != nil {
			return err
		}
	}
	if phi3 {
		if err := l.phi3TokenizerJSONAdded(n); err != nil {
			return err
		}
	}
	l.setArrays()
	sv := newSpecialVocab(l, nil, n, false)
	if err := sv.load(); err != nil {
		return err
	}
	sv.apply()
	return nil
}

// spmPieces reads the pieces of tokenizer.model or, without one, of a
// SentencePiece-style tokenizer.json as LlamaHfVocab lists them.
func (l *vocabLoader) spmPieces() ([]spmPiece, error) {
	b, err := l.d.read("tokenizer.model")
	if err != nil {
		return nil, err
	}
	if b != nil {
		return parseSentencePiece(b)
	}
	if !l.isLlamaHF() {
		return nil, fmt.Errorf("%w: tokenizer.model not found in %s (and tokenizer.json is not a SentencePiece-style BPE)", ErrTokenizer, l.d.dir)
	}
	if _, err := l.llamaHFTokens(); err != nil {
		return nil, err
	}
	v := l.v
	pieces := make([]spmPiece, len(v.Tokens))
	rank := 0
	for i, t := range v.Tokens {
		pieces[i] = spmPiece{piece: t, score: v.Scores[i], typ: -int32(v.Types[i])}
		if v.Types[i] == tokenNormal {
			pieces[i].score = -float32(rank)
			rank++
		}
	}
	v.Tokens, v.Scores, v.Types = nil, nil, nil
	return pieces, nil
}

// setSPMPieces sets n tokens: the pieces, then [PADi] placeholders (the
// pieces beyond n are dropped with a warning).
func (v *ggufVocab) setSPMPieces(pieces []spmPiece, n int) {
	v.Tokens = make([]string, n)
	v.Scores = make([]float32, n)
	v.Types = make([]tokenType, n)
	for i := range v.Tokens {
		v.Tokens[i] = fmt.Sprintf("[PAD%d]", i)
		v.Scores[i] = -10000
		v.Types[i] = tokenUnused
	}
	for i, p := range pieces {
		if i >= n {
			v.warnf("ignore tokens from %d: id is out of range, max=%d", i, n-1)
			break
		}
		v.Tokens[i], v.Scores[i], v.Types[i] = p.piece, p.score, spmTokenType(p.typ)
	}
}

// spmAddedTokensJSON applies added_tokens.json ({content: id}).
func (l *vocabLoader) spmAddedTokensJSON(n int, phi3 bool) error {
	at, err := l.d.readJSONObject("added_tokens.json")
	if err != nil || at == nil {
		return err
	}
	for _, key := range sortedKeys(at) {
		id, ok := pyInt(at[key])
		if !ok {
			return fmt.Errorf("%w: added_tokens.json %q: id is not an integer", ErrTokenizer, key)
		}
		if err := checkID("added_tokens.json", id); err != nil {
			return err
		}
		if id >= int64(n) {
			l.v.warnf("ignore token %d: id is out of range, max=%d", id, n-1)
			continue
		}
		l.v.Tokens[id], l.v.Scores[id], l.v.Types[id] = key, -1000, tokenUserDefined
	}
	return nil
}

// spmAddedTokensDecoder applies tokenizer_config.json added_tokens_decoder.
func (l *vocabLoader) spmAddedTokensDecoder(dec jsonObj, n int, phi3 bool) error {
	for _, k := range sortedIDKeys(dec) {
		id, err := parseIDKey(k)
		if err != nil {
			return err
		}
		data, ok := dec[k].(jsonObj)
		if !ok {
			return fmt.Errorf("%w: added_tokens_decoder %q is not an object", ErrTokenizer, k)
		}
		tok, ok := data["content"].(string)
		if !ok {
			return fmt.Errorf("%w: added_tokens_decoder %q has no content", ErrTokenizer, k)
		}
		if !phi3 && id >= int64(n) {
			l.v.warnf("ignore token %d: id is out of range, max=%d", id, n-1)
			continue
		}
		if id >= int64(n) {
			return fmt.Errorf("%w: added_tokens_decoder id %d is outside the vocabulary of %d", ErrTokenizer, id, n)
		}
		v := l.v
		if v.Types[id] != tokenUnused && v.Tokens[id] != tok {
			v.warnf("replacing token %d: %q -> %q", id, v.Tokens[id], tok)
		}
		special := pyTruthy(data["special"])
		switch {
		case phi3 && special:
			v.Types[id] = tokenControl
		case phi3:
			v.Types[id] = tokenUserDefined
		case special || looksSpecial(tok):
			v.Types[id] = tokenControl
		default:
			tok = strings.ReplaceAll(tok, "▁", " ")
			v.Types[id] = tokenUserDefined
		}
		v.Scores[id], v.Tokens[id] = -1000, tok
	}
	return nil
}

// phi3TokenizerJSONAdded applies tokenizer.json added_tokens as Phi-3's
// set_vocab does (after added_tokens_decoder, overriding it).
func (l *vocabLoader) phi3TokenizerJSONAdded(n int) error {
	tj, err := l.readTokenizerJSON()
	if err != nil || tj == nil {
		return err
	}
	v := l.v
	for _, t := range tj.AddedTokens {
		if err := checkID("tokenizer.json added_tokens", t.ID); err != nil {
			return err
		}
		if t.ID >= int64(n) {
			return fmt.Errorf("%w: tokenizer.json added token id %d is outside the vocabulary of %d", ErrTokenizer, t.ID, n)
		}
		if v.Types[t.ID] != tokenUnused && v.Tokens[t.ID] != t.Content {
			v.warnf("replacing token %d: %q -> %q", t.ID, v.Tokens[t.ID], t.Content)
		}
		v.Tokens[t.ID], v.Scores[t.ID], v.Types[t.ID] = t.Content, -1000, tokenUserDefined
		if t.Special {
			v.Types[t.ID] = tokenControl
		}
	}
	return nil
}
