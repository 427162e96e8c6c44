package ggufexport

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// spmModel encodes a sentencepiece ModelProto with the given pieces and a
// trainer_spec (unk/bos/eos ids 0/1/2, byte_fallback, which the
// sentencepiece library requires when there are byte pieces) and a
// normalizer_spec, which the parser must skip.
func spmModel(pieces []spmPiece) []byte {
	var b []byte
	for _, p := range pieces {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.BytesType)
		m = protowire.AppendString(m, p.piece)
		m = protowire.AppendTag(m, 2, protowire.Fixed32Type)
		m = protowire.AppendFixed32(m, math.Float32bits(p.score))
		if p.typ != spmNormal {
			m = protowire.AppendTag(m, 3, protowire.VarintType)
			m = protowire.AppendVarint(m, uint64(p.typ))
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	var spec []byte
	for _, f := range [][2]uint64{{35, 1}, {40, 0}, {41, 1}, {42, 2}} { // byte_fallback, unk_id, bos_id, eos_id
		spec = protowire.AppendTag(spec, protowire.Number(f[0]), protowire.VarintType)
		spec = protowire.AppendVarint(spec, f[1])
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, spec)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte{0x0a, 0x04, 'n', 'm', 'f', 'c'})
	return b
}

var testPieces = []spmPiece{
	{"<unk>", 0, spmUnknown},
	{"<s>", 0, spmControl},
	{"</s>", 0, spmControl},
	{"<0x0A>", 0, spmByte},
	{"▁t", -1, spmNormal},
	{"▁the", -2.5, spmNormal},
	{"<user>", 0, spmUserDefined},
	{"<unused0>", 0, spmUnused},
	{"e", -7, spmNormal},
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

func kvKeys(v *ggufVocab) []string {
	var keys []string
	for _, kv := range v.KVs() {
		keys = append(keys, kv.Key)
	}
	return keys
}

func lookup[T gguf.Data](t *testing.T, v *ggufVocab, key string) T {
	t.Helper()
	val, ok := v.Lookup(key)
	require.True(t, ok, "missing %s", key)
	x, err := gguf.As[T](val)
	require.NoError(t, err, key)
	return x
}

func TestParseSentencePiece(t *testing.T) {
	got, err := parseSentencePiece(spmModel(testPieces))
	require.NoError(t, err)
	assert.Equal(t, testPieces, got)

	good := spmModel(testPieces[:1])
	for name, b := range map[string][]byte{
		"empty":      nil,
		"truncated":  good[:len(good)-3],
		"bad tag":    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"long piece": protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.BytesType), 1<<40),
		"bad utf8":   protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{0xff})),
		"bad type":   protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), protowire.AppendVarint(protowire.AppendTag(protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "a"), 3, protowire.VarintType), 9)),
		"no string":  protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), protowire.AppendFixed32(protowire.AppendTag(nil, 2, protowire.Fixed32Type), 0)),
		"no pieces":  protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), nil),
	} {
		_, err := parseSentencePiece(b)
		assert.ErrorIs(t, err, ErrTokenizer, name)
	}
}

func FuzzParseSentencePiece(f *testing.F) {
	f.Add(spmModel(testPieces))
	f.Add([]byte{0x0a, 0x03, 0x0a, 0x01, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		pieces, err := parseSentencePiece(b)
		if err == nil && len(pieces) == 0 {
			t.Fatal("no error and no pieces")
		}
	})
}

func TestLoadVocabSentencePiece(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tokenizer.model":   string(spmModel(testPieces)),
		"config.json":       `{"vocab_size": 12, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 99}`,
		"added_tokens.json": `{"<extra>": 9, "<far>": 40}`,
		"tokenizer_config.json": `{"add_bos_token": true, "add_eos_token": false, "add_prefix_space": false,
			"bos_token": "<s>", "unk_token": {"content": "<unk>"},
			"added_tokens_decoder": {
				"10": {"content": "<|im_end|>", "special": false},
				"11": {"content": "▁hi▁", "special": false},
				"3": {"content": "<nl>", "special": true},
				"50": {"content": "<out>", "special": true}},
			"chat_template": "{{ bos_token }}"}`,
		"tokenizer.json": `{"added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}],
			"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
			"special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}}`,
	})
	v, err := loadVocab(dir, vocabOptions{Arch: "llama"})
	require.NoError(t, err)
	assert.Equal(t, "llama", v.Model)
	assert.Equal(t, "default", v.Pre)
	assert.Equal(t, []string{"<unk>", "<s>", "</s>", "<nl>", "▁t", "▁the", "<user>", "<unused0>", "e", "<extra>", "<|im_end|>", " hi "}, v.Tokens)
	assert.Equal(t, []float32{0, 0, 0, -1000, -1, -2.5, 0, 0, -7, -1000, -1000, -1000}, v.Scores)
	assert.Equal(t, []tokenType{tokenUnknown, tokenControl, tokenControl, tokenControl, tokenNormal, tokenNormal,
		tokenNormal, tokenUnused, tokenNormal, tokenUserDefined, tokenControl, tokenUserDefined}, v.Types)
	assert.Equal(t, []string{
		keyAddSpacePrefix, keyTokenizerModel, keyTokenizerPre, keyTokenList, keyTokenScores, keyTokenType,
		"tokenizer.ggml.bos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.eos_token_id",
		"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", keyChatTemplate,
	}, kvKeys(v))
	assert.Equal(t, false, lookup[bool](t, v, keyAddSpacePrefix))
	assert.Equal(t, uint32(1), lookup[uint32](t, v, "tokenizer.ggml.bos_token_id"))
	assert.Equal(t, uint32(0), lookup[uint32](t, v, "tokenizer.ggml.unknown_token_id"))
	assert.Equal(t, uint32(2), lookup[uint32](t, v, "tokenizer.ggml.eos_token_id"))
	assert.Equal(t, true, lookup[bool](t, v, "tokenizer.ggml.add_bos_token"))
	assert.Equal(t, "{{ bos_token }}", lookup[string](t, v, keyChatTemplate))
	types := lookup[[]int32](t, v, keyTokenType)
	assert.Len(t, types, 12)
	// Out-of-range ids are warned about: <far> 40, <out> 50, pad 99; <nl> replaced <0x0A>.
	joined := strings.Join(v.Warnings, "\n")
	assert.Contains(t, joined, "ignore token 40")
	assert.Contains(t, joined, "ignore token 50")
	assert.Contains(t, joined, "id 99 out of range")
	assert.Contains(t, joined, `replacing token 3: "<0x0A>" -> "<nl>"`)
}

func TestLoadVocabSentencePiecePadding(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tokenizer.model": string(spmModel(testPieces))})
	v, err := loadVocab(dir, vocabOptions{VocabSize: 11})
	require.NoError(t, err)
	require.Len(t, v.Tokens, 11)
	assert.Equal(t, []string{"[PAD9]", "[PAD10]"}, v.Tokens[9:])
	assert.Equal(t, []float32{-10000, -10000}, v.Scores[9:])
	assert.Equal(t, []tokenType{tokenUnused, tokenUnused}, v.Types[9:])
	assert.Equal(t, []string{keyTokenizerModel, keyTokenizerPre, keyTokenList, keyTokenScores, keyTokenType}, kvKeys(v))

	// A smaller vocabulary drops the tail with a warning.
	v, err = loadVocab(dir, vocabOptions{VocabSize: 5})
	require.NoError(t, err)
	assert.Equal(t, []string{"<unk>", "<s>", "</s>", "<0x0A>", "▁t"}, v.Tokens)
	assert.Contains(t, v.Warnings[0], "ignore tokens from 5")

	// vocab_size_per_layer_input wins over vocab_size (Gemma 3n).
	dir2 := writeFiles(t, map[string]string{"tokenizer.model": string(spmModel(testPieces)),
		"config.json": `{"text_config": {"vocab_size_per_layer_input": 10, "vocab_size": 20}}`})
	v, err = loadVocab(dir2, vocabOptions{})
	require.NoError(t, err)
	assert.Len(t, v.Tokens, 10)
}

func TestLoadVocabPhi3(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tokenizer.model":       string(spmModel(testPieces)),
		"config.json":           `{"vocab_size": 11}`,
		"tokenizer_config.json": `{"tokenizer_class": "LlamaTokenizer", "added_tokens_decoder": {"9": {"content": "<|end|>", "special": false}, "10": {"content": "▁x", "special": true}}}`,
		"tokenizer.json":        `{"added_tokens": [{"id": 9, "content": "<|endoftext|>", "special": true}]}`,
	})
	v, err := loadVocab(dir, vocabOptions{Arch: "phi3"})
	require.NoError(t, err)
	// No looks-special rule and no "▁" replacement; tokenizer.json overrides.
	assert.Equal(t, []string{"<|endoftext|>", "▁x"}, v.Tokens[9:])
	assert.Equal(t, []tokenType{tokenControl, tokenControl}, v.Types[9:])
	assert.Equal(t, []float32{-1000, -1000}, v.Scores[9:])

	// Phi-3 needs tokenizer_class, and its GPT2Tokenizer variant is BPE.
	dir = writeFiles(t, map[string]string{"tokenizer.model": string(spmModel(testPieces)), "tokenizer_config.json": `{}`})
	_, err = loadVocab(dir, vocabOptions{Arch: "phi3"})
	assert.ErrorIs(t, err, ErrTokenizer)
}

func TestLoadVocabGemma(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tokenizer.model":       string(spmModel(testPieces)),
		"tokenizer_config.json": `{"bos_token": "<s>", "chat_template": "x"}`,
		"tokenizer.json":        `{"added_tokens": [{"id": 1, "content": "<s>", "special": true}]}`,
	})
	v, err := loadVocab(dir, vocabOptions{Arch: "gemma"})
	require.NoError(t, err)
	assert.Equal(t, []string{keyTokenizerModel, keyTokenizerPre, keyTokenList, keyTokenScores, keyTokenType,
		"tokenizer.ggml.bos_token_id", keyChatTemplate, "tokenizer.ggml.eot_token_id", keyAddSpacePrefix}, kvKeys(v))
	assert.Equal(t, uint32(107), lookup[uint32](t, v, "tokenizer.ggml.eot_token_id"))
	assert.Equal(t, false, lookup[bool](t, v, keyAddSpacePrefix))

	for _, arch := range []string{"gemma2", "gemma3"} {
		v, err := loadVocab(dir, vocabOptions{Arch: arch})
		require.NoError(t, err)
		keys := kvKeys(v)
		assert.Equal(t, keyAddSpacePrefix, keys[len(keys)-1], arch)
		_, hasEOT := v.Lookup("tokenizer.ggml.eot_token_id")
		assert.False(t, hasEOT, arch)
	}
}

func TestLoadVocabCodeLlama(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tokenizer.model": string(spmModel(testPieces)), "config.json": `{"vocab_size": 32016}`})
	v, err := loadVocab(dir, vocabOptions{Arch: "llama"})
	require.NoError(t, err)
	assert.Len(t, v.Tokens, 32016)
	assert.Equal(t, uint32(32010), lookup[uint32](t, v, "tokenizer.ggml.eot_token_id"))
	for _, w := range []string{"prefix", "suffix", "middle"} {
		assert.Contains(t, strings.Join(v.Warnings, "\n"), "no handler for special token type "+w)
	}
}

// tinyBPE is a GPT-2 style byte-level vocabulary: the printable ASCII
// characters, "Ġ" and a few merges.
func tinyBPE(extra map[string]int) (vocab map[string]int, merges []string) {
	vocab = map[string]int{}
	for c := '!'; c <= '~'; c++ {
		vocab[string(c)] = len(vocab)
	}
	vocab["Ġ"] = len(vocab)
	merges = []string{"Ġ t", "h e", "Ġt he", "Ġ a"}
	for _, m := range merges {
		vocab[strings.ReplaceAll(m, " ", "")] = len(vocab)
	}
	for k, id := range extra {
		vocab[k] = id
	}
	return vocab, merges
}

func tokenizerJSON(t *testing.T, vocab map[string]int, merges any, added []hfAddedToken, post string) string {
	t.Helper()
	type at struct {
		ID         int64  `json:"id"`
		Content    string `json:"content"`
		Special    bool   `json:"special"`
		Normalized bool   `json:"normalized"`
	}
	var ats []at
	for _, a := range added {
		ats = append(ats, at{a.ID, a.Content, a.Special, a.Normalized})
	}
	doc := map[string]any{
		"added_tokens":  ats,
		"normalizer":    nil,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
	}
	if post != "" {
		var p any
		require.NoError(t, json.Unmarshal([]byte(post), &p))
		doc["post_processor"] = p
	}
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	return string(b)
}

func TestLoadVocabBPE(t *testing.T) {
	vocab, merges := tinyBPE(nil)
	n := len(vocab)
	added := []hfAddedToken{
		{ID: int64(n), Content: "<|endoftext|>", Special: true},
		{ID: int64(n + 1), Content: "<think>"},
		{ID: int64(n + 2), Content: "<|tool|>"},                 // looks special
		{ID: int64(n + 4), Content: "▁user▁", Normalized: true}, // id n+3 is a gap
	}
	dir := writeFiles(t, map[string]string{
		"tokenizer.json": tokenizerJSON(t, vocab, merges, added, `{"type": "ByteLevel"}`),
		"tokenizer_config.json": `{"bos_token": null, "eos_token": "<|endoftext|>", "pad_token": {"content": "<|endoftext|>"},
			"add_bos_token": true, "chat_template": [{"name": "default", "template": "D"}, {"name": "tool use", "template": "T"}, {"name": "rag", "template": "R"}]}`,
		"config.json": `{"vocab_size": ` + itoa(n+7) + `, "bos_token_id": ` + itoa(n) + `}`,
	})
	_, err := loadVocab(dir, vocabOptions{})
	require.ErrorIs(t, err, ErrUnknownPre)
	v, err := loadVocab(dir, vocabOptions{Pre: "qwen2"})
	require.NoError(t, err)
	assert.Equal(t, "gpt2", v.Model)
	assert.Equal(t, "qwen2", v.Pre)
	assert.Empty(t, v.PreHash)
	require.Len(t, v.Tokens, n+7)
	assert.Equal(t, []string{"<|endoftext|>", "<think>", "<|tool|>", "[PAD" + itoa(n+3) + "]", " user ", "[PAD" + itoa(n+5) + "]", "[PAD" + itoa(n+6) + "]"}, v.Tokens[n:])
	assert.Equal(t, []tokenType{tokenControl, tokenUserDefined, tokenControl, tokenUnused, tokenUserDefined, tokenUnused, tokenUnused}, v.Types[n:])
	assert.Equal(t, tokenNormal, v.Types[0])
	assert.Nil(t, v.Scores)
	assert.Equal(t, merges, v.Merges)
	assert.Equal(t, []string{keyTokenizerModel, keyTokenizerPre, keyTokenList, keyTokenType, keyTokenMerges,
		"tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.ggml.bos_token_id",
		"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
		"tokenizer.chat_template.tool_use", "tokenizer.chat_template.rag", keyChatTemplates, keyChatTemplate}, kvKeys(v))
	// The ByteLevel post-processor's add_bos=False wins over tokenizer_config.
	assert.Equal(t, false, lookup[bool](t, v, "tokenizer.ggml.add_bos_token"))
	assert.Contains(t, strings.Join(v.Warnings, "\n"), "mismatch between tokenizer_config add_bos_token(true)")
	assert.Equal(t, []string{"rag", "tool_use"}, lookup[[]string](t, v, keyChatTemplates))
	assert.Equal(t, "D", lookup[string](t, v, keyChatTemplate))
	assert.Equal(t, uint32(n), lookup[uint32](t, v, "tokenizer.ggml.eos_token_id"))
	assert.Equal(t, uint32(n), lookup[uint32](t, v, "tokenizer.ggml.bos_token_id"))

	// Added token ids at or past the vocabulary size (the embedding rows)
	// are dropped with a warning, as the SentencePiece path drops them
	// (mlx-lm's gemma3_text: <image_soft_token> 262144 past 262144 rows).
	v, err = loadVocab(dir, vocabOptions{Pre: "qwen2", VocabSize: n + 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"<|endoftext|>", "<think>"}, lookup[[]string](t, v, keyTokenList)[n:])
	assert.Contains(t, strings.Join(v.Warnings, "\n"), "ignore added tokens from id "+itoa(n+2))
	// A model vocabulary id past it is an error.
	_, err = loadVocab(dir, vocabOptions{Pre: "qwen2", VocabSize: n - 1})
	assert.ErrorIs(t, err, ErrTokenizer)
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestLoadVocabBPEMergeFormats(t *testing.T) {
	vocab, _ := tinyBPE(map[string]int{"a b": 99, "a bc": 100})
	pairs := [][]string{{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"Ġ", "a"}, {"a b", "c"}}
	dir := writeFiles(t, map[string]string{"tokenizer.json": tokenizerJSON(t, vocab, pairs, nil, "")})
	v, err := loadVocab(dir, vocabOptions{Pre: "llama-bpe"})
	require.NoError(t, err)
	assert.Equal(t, []string{"Ġ t", "h e", "Ġt he", "Ġ a", "aĠb c"}, v.Merges)

	// merges.txt: header line, blank and malformed lines, CRLF.
	ms, err := parseMergesTxt("#version: 0.2\r\nĠ t\r\n\n  h   e  \nbad\nx y z\n", v)
	require.NoError(t, err)
	assert.Equal(t, []string{"Ġ t", "h e"}, ms)

	for name, raw := range map[string]string{
		"numbers":     `[1, 2]`,
		"triples":     `[["a", "b", "c"]]`,
		"mixed pairs": `[["a", "b"], "c d"]`,
	} {
		_, err := decodeJSONMerges(json.RawMessage(raw))
		assert.ErrorIs(t, err, ErrTokenizer, name)
	}
	m, err := decodeJSONMerges(json.RawMessage(`["a b", "ab c d"]`))
	require.NoError(t, err)
	assert.Equal(t, []string{"a b", "ab c d"}, m.ggufPy)
	assert.Nil(t, m.pairs) // tokenizers would refuse "ab c d"
}

func TestLoadVocabGPT2Dir(t *testing.T) {
	vocab, merges := tinyBPE(map[string]int{"<|endoftext|>": 99})
	vj, err := json.Marshal(vocab)
	require.NoError(t, err)
	dir := writeFiles(t, map[string]string{
		"vocab.json":  string(vj),
		"merges.txt":  "#version: 0.2\n" + strings.Join(merges, "\n") + "\n",
		"config.json": `{"bos_token_id": 99, "eos_token_id": 99}`,
	})
	v, err := loadVocab(dir, vocabOptions{Pre: "gpt-2"})
	require.NoError(t, err)
	require.Len(t, v.Tokens, 100)
	assert.Equal(t, "<|endoftext|>", v.Tokens[99])
	assert.Equal(t, tokenControl, v.Types[99])
	assert.Equal(t, "Ġa", v.Tokens[98])
	assert.Equal(t, merges, v.Merges)
	assert.Equal(t, []string{keyTokenizerModel, keyTokenizerPre, keyTokenList, keyTokenType, keyTokenMerges,
		"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}, kvKeys(v))
}

// TestPreTokenizerHashTiny checks the encode emulation and chkhsh against
// transformers' output for a small trained tokenizer with an NFC
// normalizer, a Llama-3 Split regex, ignore_merges, a BOS template and
// added tokens of every kind (testdata/tokenizer/tiny-bpe, generated by
// scripts/oracle/tokenizer_fixtures.py).
func TestPreTokenizerHashTiny(t *testing.T) {
	dir := filepath.Join("testdata", "tokenizer", "tiny-bpe")
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	require.NoError(t, err)
	var want struct {
		ChkHsh  string `json:"chkhsh"`
		IDs     []int  `json:"ids"`
		Encodes []struct {
			Text string
			IDs  []int
		}
	}
	require.NoError(t, json.Unmarshal(b, &want))
	l := &vocabLoader{d: modelDir{dir: dir}, v: &ggufVocab{}}
	tj, err := l.readTokenizerJSON()
	require.NoError(t, err)
	src, err := l.bpeFromTokenizerJSON(tj)
	require.NoError(t, err)
	p, err := src.pipeline()
	require.NoError(t, err)
	hash, ids, err := p.chkHash()
	require.NoError(t, err)
	assert.Equal(t, want.IDs, ids)
	assert.Equal(t, want.ChkHsh, hash)

	// General texts and added-token edge cases (lstrip, rstrip,
	// single_word, longest match) against tokenizers' encode.
	// The tokenizer normalizes with NFC, which the emulation only knows for
	// ASCII and the check text's characters: other text is refused.
	compared := 0
	for _, e := range want.Encodes {
		got, err := p.encode(e.Text)
		if strings.ContainsFunc(e.Text, func(r rune) bool { return r >= 0x80 && !chkRunes[r] }) {
			assert.ErrorIs(t, err, ErrTokenizer, "%q", e.Text)
			continue
		}
		require.NoError(t, err, "%q", e.Text)
		assert.Equal(t, e.IDs, got, "%q", e.Text)
		compared++
	}
	assert.GreaterOrEqual(t, compared, 14)

	// The digest is not in llama.cpp's table.
	_, err = loadVocab(dir, vocabOptions{})
	require.ErrorIs(t, err, ErrUnknownPre)
	assert.Contains(t, err.Error(), want.ChkHsh)
	v, err := loadVocab(dir, vocabOptions{Pre: "llama-bpe"})
	require.NoError(t, err)
	assert.Equal(t, "llama-bpe", v.Pre)
	assert.Equal(t, true, lookup[bool](t, v, "tokenizer.ggml.add_bos_token"))
	assert.Equal(t, false, lookup[bool](t, v, "tokenizer.ggml.add_sep_token"))
	assert.Equal(t, uint32(0), lookup[uint32](t, v, "tokenizer.ggml.bos_token_id"))
	assert.Equal(t, uint32(1), lookup[uint32](t, v, "tokenizer.ggml.eos_token_id"))
}

func TestPreTokenizerName(t *testing.T) {
	for hash, want := range map[string]string{
		"0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",
		"e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",
		"3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
		// Repeated digests: the later entry of the converter's if-chain wins.
		"b6dc8df998e1cfbdc4eac8243701a65afe638679230920b50d6f17d81c098166": "olmo",
		"0876d13b50744004aa9aeae05e7b0647eac9d801b5ba4668afc01e709c15e19f": "jina-v2-en",
	} {
		got, ok := preTokenizerName(hash)
		assert.True(t, ok)
		assert.Equal(t, want, got)
	}
	_, ok := preTokenizerName("00")
	assert.False(t, ok)
	assert.Equal(t, "[]", pyIntListRepr(nil))
	assert.Equal(t, "[1, 22, 333]", pyIntListRepr([]int{1, 22, 333}))
	assert.Len(t, preTokenizerCheckText, 431)
}

func TestSplitPieceBehaviors(t *testing.T) {
	// Reference: tokenizers' pre_tokenizers.Split(Regex(`\s+|-`), behavior, invert).
	re, err := compileTokRegex(`\s+|-`)
	require.NoError(t, err)
	s := "Hello  world, 123 foo--bar  "
	for _, tc := range []struct {
		b      splitBehavior
		invert bool
		want   []string
	}{
		{splitRemoved, false, []string{"Hello", "world,", "123", "foo", "bar"}},
		{splitRemoved, true, []string{"  ", " ", " ", "-", "-", "  "}},
		{splitIsolated, false, []string{"Hello", "  ", "world,", " ", "123", " ", "foo", "-", "-", "bar", "  "}},
		{splitMergedWithPrevious, false, []string{"Hello  ", "world, ", "123 ", "foo-", "-", "bar  "}},
		{splitMergedWithPrevious, true, []string{"Hello", "  world,", " 123", " foo", "-", "-bar", "  "}},
		{splitMergedWithNext, false, []string{"Hello", "  world,", " 123", " foo", "-", "-bar", "  "}},
		{splitMergedWithNext, true, []string{"Hello  ", "world, ", "123 ", "foo-", "-", "bar  "}},
		{splitContiguous, false, []string{"Hello", "  ", "world,", " ", "123", " ", "foo", "--", "bar", "  "}},
	} {
		got, err := splitPiece(s, regexMatcher(re), tc.b, tc.invert)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "behavior %d invert %v", tc.b, tc.invert)
	}
}

func TestSpecialVocabPostProcessors(t *testing.T) {
	added := `[{"id": 0, "content": "<s>", "special": true}, {"id": 1, "content": "</s>", "special": true},
		{"id": 2, "content": "<|end|>", "special": true}, {"id": 3, "content": "<sep>", "special": true}]`
	for _, tc := range []struct {
		name, post, config string
		want               map[string]any
		keys               []string
	}{
		{
			name:   "roberta",
			post:   `{"type": "RobertaProcessing", "sep": ["</s>", 1], "cls": ["<s>", 0]}`,
			config: `{"bos_token": "<s>", "eos_token": "</s>"}`,
			want:   map[string]any{"bos_token_id": uint32(0), "eos_token_id": uint32(1), "seperator_token_id": uint32(1), "add_bos_token": true, "add_eos_token": true, "add_sep_token": true},
			keys:   []string{"bos_token_id", "eos_token_id", "seperator_token_id", "add_bos_token", "add_eos_token", "add_sep_token"},
		},
		{
			// A trailing special token that is not EOS becomes EOS; the old
			// EOS becomes EOT.
			name:   "template trailing",
			post:   `{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "<|end|>"}}], "special_tokens": {}}`,
			config: `{"bos_token": "<s>", "eos_token": "</s>"}`,
			want:   map[string]any{"bos_token_id": uint32(0), "eos_token_id": uint32(2), "eot_token_id": uint32(1), "add_bos_token": true, "add_eos_token": true},
			keys:   []string{"bos_token_id", "eos_token_id", "eot_token_id", "add_bos_token", "add_eos_token"},
		},
		{
			name: "template pair separator",
			post: `{"type": "Sequence", "processors": [{"type": "ByteLevel"}, {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}], "pair": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "<sep>"}}, {"Sequence": {"id": "B"}}], "special_tokens": {}}]}`,
			// Without eos_token the separator stands in for it; the
			// ByteLevel step's add_eos=False beats tokenizer_config's.
			config: `{"bos_token": "<s>", "sep_token": "<sep>", "add_eos_token": true}`,
			want:   map[string]any{"bos_token_id": uint32(0), "eos_token_id": uint32(3), "seperator_token_id": uint32(3), "add_bos_token": true, "add_eos_token": false, "add_sep_token": true},
			keys:   []string{"bos_token_id", "eos_token_id", "seperator_token_id", "add_bos_token", "add_eos_token", "add_sep_token"},
		},
		{
			name:   "no tokenizer_config",
			post:   `{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "</s>"}}], "special_tokens": {}}`,
			config: "",
			want:   map[string]any{"add_bos_token": true, "add_eos_token": true},
			keys:   []string{"add_bos_token", "add_eos_token"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{
				"tokenizer.model": string(spmModel(testPieces)),
				"tokenizer.json":  `{"added_tokens": ` + added + `, "post_processor": ` + tc.post + `}`,
			}
			if tc.config != "" {
				files["tokenizer_config.json"] = tc.config
			}
			v, err := loadVocab(writeFiles(t, files), vocabOptions{})
			require.NoError(t, err)
			var keys []string
			for _, k := range kvKeys(v)[5:] {
				keys = append(keys, strings.TrimPrefix(k, "tokenizer.ggml."))
			}
			assert.Equal(t, tc.keys, keys)
			for k, want := range tc.want {
				val, ok := v.Lookup("tokenizer.ggml." + k)
				require.True(t, ok, k)
				assert.Equal(t, want, val.Any(), k)
			}
		})
	}
}

func TestSpecialVocabSources(t *testing.T) {
	// config.json ids (also under text_config) fill what tokenizer_config
	// did not give; floats are not ids, bools are (Python's int rules);
	// negative ids are errors.
	base := map[string]string{"tokenizer.model": string(spmModel(testPieces))}
	with := func(cfg string) map[string]string {
		m := map[string]string{"config.json": cfg}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	v, err := loadVocab(writeFiles(t, with(`{"bos_token_id": 1.0, "eos_token_id": true, "text_config": {"pad_token_id": 3, "unk_token_id": [0]}}`)), vocabOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id"}, kvKeys(v)[5:])
	assert.Equal(t, uint32(1), lookup[uint32](t, v, "tokenizer.ggml.eos_token_id"))

	_, err = loadVocab(writeFiles(t, with(`{"bos_token_id": -1}`)), vocabOptions{})
	assert.ErrorIs(t, err, ErrTokenizer)
}

func TestChatTemplateSources(t *testing.T) {
	base := func(extra map[string]string) string {
		m := map[string]string{"tokenizer.model": string(spmModel(testPieces))}
		for k, v := range extra {
			m[k] = v
		}
		return writeFiles(t, m)
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  map[string]string // key -> template; nil value map: no template keys
		names []string
	}{
		{"config string", map[string]string{"tokenizer_config.json": `{"chat_template": "C"}`, "chat_template.jinja": "J"},
			map[string]string{keyChatTemplate: "C"}, nil},
		{"jinja", map[string]string{"tokenizer_config.json": `{"x": 1}`, "chat_template.jinja": "J"},
			map[string]string{keyChatTemplate: "J"}, nil},
		{"jinja and additional", map[string]string{"tokenizer_config.json": `{"x": 1}`, "chat_template.jinja": "J",
			"additional_chat_templates/tool-use.jinja": "T", "additional_chat_templates/a.jinja": "A"},
			map[string]string{keyChatTemplate: "J", "tokenizer.chat_template.tool_use": "T", "tokenizer.chat_template.a": "A"}, []string{"a", "tool_use"}},
		{"json", map[string]string{"tokenizer_config.json": `{"x": 1}`, "chat_template.json": `{"chat_template": "JS"}`},
			map[string]string{keyChatTemplate: "JS"}, nil},
		{"list without default", map[string]string{"tokenizer_config.json": `{"chat_template": [{"name": "rag", "template": "R"}, {"name": "", "template": "E"}, {"name": "x"}]}`},
			map[string]string{"tokenizer.chat_template.rag": "R"}, []string{"rag"}},
		// gguf-py reads templates only when tokenizer_config.json has content.
		{"no tokenizer_config", map[string]string{"chat_template.jinja": "J"}, nil, nil},
		{"empty tokenizer_config", map[string]string{"tokenizer_config.json": `{}`, "chat_template.jinja": "J"}, nil, nil},
		{"null template", map[string]string{"tokenizer_config.json": `{"chat_template": null}`, "chat_template.jinja": "J"}, nil, nil},
		{"bad type", map[string]string{"tokenizer_config.json": `{"chat_template": 3}`}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := loadVocab(base(tc.files), vocabOptions{})
			require.NoError(t, err)
			got := map[string]string{}
			for _, kv := range v.KVs() {
				if strings.HasPrefix(kv.Key, keyChatTemplate) && kv.Key != keyChatTemplates {
					s, err := gguf.As[string](kv.Value)
					require.NoError(t, err)
					got[kv.Key] = s
				}
			}
			if tc.want == nil {
				tc.want = map[string]string{}
			}
			assert.Equal(t, tc.want, got)
			if tc.names != nil {
				assert.Equal(t, tc.names, lookup[[]string](t, v, keyChatTemplates))
			}
		})
	}
}

func TestLoadVocabErrors(t *testing.T) {
	vocab, merges := tinyBPE(nil)
	spm := string(spmModel(testPieces))
	for _, tc := range []struct {
		name  string
		files map[string]string
		opts  vocabOptions
		err   error
	}{
		{"empty dir", nil, vocabOptions{}, ErrTokenizer},
		{"unknown arch", map[string]string{"tokenizer.model": spm}, vocabOptions{Arch: "bert"}, gguf.ErrInvalid},
		{"negative size", map[string]string{"tokenizer.model": spm}, vocabOptions{VocabSize: -1}, gguf.ErrInvalid},
		{"huge size", map[string]string{"tokenizer.model": spm}, vocabOptions{VocabSize: maxVocabSize + 1}, gguf.ErrInvalid},
		{"bad pre name", map[string]string{"tokenizer.model": spm}, vocabOptions{Pre: "a b"}, gguf.ErrInvalid},
		{"gemma without model", map[string]string{"tokenizer.json": "{}"}, vocabOptions{Arch: "gemma"}, ErrTokenizer},
		{"wordpiece", map[string]string{"tokenizer.json": `{"model": {"type": "WordPiece", "vocab": {}}}`}, vocabOptions{Pre: "x"}, ErrTokenizer},
		{"bad json", map[string]string{"tokenizer.json": `{"model": `}, vocabOptions{Pre: "x"}, ErrTokenizer},
		{"negative id", map[string]string{"tokenizer.json": `{"model": {"type": "BPE", "vocab": {"a": -1}}}`}, vocabOptions{Pre: "x"}, ErrTokenizer},
		{"shared id", map[string]string{"tokenizer.json": `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}}}`}, vocabOptions{Pre: "x"}, ErrTokenizer},
		{"bad added id", map[string]string{"tokenizer.json": `{"added_tokens": [{"id": 99999999999, "content": "x"}], "model": {"type": "BPE", "vocab": {}}}`}, vocabOptions{Pre: "x"}, ErrTokenizer},
		{"config size", map[string]string{"tokenizer.model": spm, "config.json": `{"vocab_size": 99999999999}`}, vocabOptions{}, ErrTokenizer},
		{"config not object", map[string]string{"tokenizer.model": spm, "config.json": `[]`}, vocabOptions{}, ErrTokenizer},
		{"tekken", map[string]string{"tekken.json": "{}"}, vocabOptions{Arch: "llama"}, ErrTokenizer},
		{"llama hf id gap", map[string]string{"tokenizer.json": `{"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 1}}, "decoder": {"type": "Sequence"}}`}, vocabOptions{Arch: "llama"}, ErrTokenizer},
		{"merge not in vocab", map[string]string{"tokenizer.json": tokenizerJSON(t, vocab, append([]string{"x y"}, merges...), nil, "")}, vocabOptions{}, ErrTokenizer},
		{"unsupported pre-tokenizer", map[string]string{"tokenizer.json": `{"pre_tokenizer": {"type": "BertPreTokenizer"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}`}, vocabOptions{}, ErrUnknownPre},
		{"unsupported normalizer", map[string]string{"tokenizer.json": `{"normalizer": {"type": "Precompiled"}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}`}, vocabOptions{}, ErrUnknownPre},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadVocab(writeFiles(t, tc.files), tc.opts)
			assert.ErrorIs(t, err, tc.err)
		})
	}
}

// TestLoadVocabMergesValidated checks that the merges are validated as HF
// tokenizers does whether or not the pre-tokenizer is named (--pre), and
// that each error names the file and field and says what is wrong (not
// "unknown pre-tokenizer").
func TestLoadVocabMergesValidated(t *testing.T) {
	vocab, merges := tinyBPE(nil)
	vj, err := json.Marshal(vocab)
	require.NoError(t, err)
	llamaHF := func(merges any) string { // a SentencePiece-style BPE (LlamaHfVocab)
		doc := map[string]any{"model": map[string]any{"type": "BPE", "byte_fallback": true, "vocab": map[string]int{"a": 0, "b": 1, "ab": 2}}, "decoder": map[string]any{"type": "Sequence"}}
		if merges != nil {
			doc["model"].(map[string]any)["merges"] = merges
		}
		b, err := json.Marshal(doc)
		require.NoError(t, err)
		return string(b)
	}
	noMerges := strings.Replace(tokenizerJSON(t, vocab, nil, nil, ""), `"merges":null,`, "", 1)
	require.NotContains(t, noMerges, "merges")
	for _, tc := range []struct {
		name      string
		files     map[string]string
		arch      string
		fragments []string
	}{
		{"missing", map[string]string{"tokenizer.json": noMerges}, "",
			[]string{`tokenizer.json: "model.merges"`, "has no merges"}},
		{"null", map[string]string{"tokenizer.json": tokenizerJSON(t, vocab, nil, nil, "")}, "qwen2",
			[]string{`tokenizer.json: "model.merges"`, "has no merges"}},
		{"empty", map[string]string{"tokenizer.json": tokenizerJSON(t, vocab, []string{}, nil, "")}, "",
			[]string{`tokenizer.json: "model.merges" is empty`, "has no merges"}},
		{"unknown token", map[string]string{"tokenizer.json": tokenizerJSON(t, vocab, append(merges, "Ġ zzq"), nil, "")}, "",
			[]string{`tokenizer.json: "model.merges"`, `merge 4 ("Ġ" "zzq")`, `token "zzq" is not in the vocabulary`}},
		{"unknown merged token", map[string]string{"tokenizer.json": tokenizerJSON(t, vocab, append(merges, "a b"), nil, "")}, "",
			[]string{`tokenizer.json: "model.merges"`, `merged token "ab" is not in the vocabulary`}},
		{"not a pair", map[string]string{"tokenizer.json": tokenizerJSON(t, vocab, append(merges, "a b c"), nil, "")}, "",
			[]string{`tokenizer.json: "model.merges"`, `merge 4 ("a b c") is not two tokens`}},
		{"pair with unknown token", map[string]string{"tokenizer.json": tokenizerJSON(t, vocab, [][]string{{"Ġ", "t"}, {"q q", "x"}}, nil, "")}, "",
			[]string{`tokenizer.json: "model.merges"`, `token "q q" is not in the vocabulary`}},
		{"merges.txt missing", map[string]string{"vocab.json": string(vj)}, "",
			[]string{"vocab.json without merges.txt", "has no merges"}},
		{"merges.txt empty", map[string]string{"vocab.json": string(vj), "merges.txt": "#version: 0.2\n"}, "",
			[]string{"merges.txt is empty", "has no merges"}},
		{"merges.txt unknown token", map[string]string{"vocab.json": string(vj), "merges.txt": "Ġ t\nzzq a\n"}, "",
			[]string{"merges.txt: merge 1", `token "zzq" is not in the vocabulary`}},
		{"llama hf missing", map[string]string{"tokenizer.json": llamaHF(nil)}, "llama",
			[]string{`tokenizer.json: "model.merges"`, "has no merges"}},
		{"llama hf unknown token", map[string]string{"tokenizer.json": llamaHF([]string{"a zzq"})}, "llama",
			[]string{`tokenizer.json: "model.merges"`, `token "zzq" is not in the vocabulary`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			for _, pre := range []string{"", "llama-bpe"} {
				_, err := loadVocab(dir, vocabOptions{Arch: tc.arch, Pre: pre})
				require.Error(t, err, "pre %q", pre)
				assert.ErrorIs(t, err, ErrTokenizer, "pre %q", pre)
				assert.NotErrorIs(t, err, ErrUnknownPre, "pre %q", pre)
				for _, f := range tc.fragments {
					assert.Contains(t, err.Error(), f, "pre %q", pre)
				}
				assert.NotContains(t, err.Error(), "pre-tokenizer", "pre %q: the error must not point at the pre-tokenizer", pre)
			}
		})
	}

	// An empty list is a valid tokenizer.json for a SentencePiece-style
	// BPE (its GGUF has no merges).
	_, err = loadVocab(writeFiles(t, map[string]string{"tokenizer.json": llamaHF([]string{})}), vocabOptions{Arch: "llama"})
	require.NoError(t, err)
}

func TestLooksSpecial(t *testing.T) {
	for tok, want := range map[string]bool{
		"<|im_start|>": true, "<｜begin▁of▁sentence｜>": true, "<unused12>": true, "<pad>": true, "<mask>": true,
		"<2mass>": true, "[@BOS@]": true, "<think>": false, "<s>": false, "|>": false, "<|": false, "hello": false,
	} {
		assert.Equal(t, want, looksSpecial(tok), tok)
	}
}

func TestTokenTypeString(t *testing.T) {
	assert.Equal(t, "USER_DEFINED", tokenUserDefined.String())
	assert.Equal(t, "TokenType(9)", tokenType(9).String())
}

// FuzzLoadVocabTokenizerJSON feeds arbitrary tokenizer.json bytes to the
// BPE export (with and without pre-tokenizer detection): it may fail, but
// must not panic.
func FuzzLoadVocabTokenizerJSON(f *testing.F) {
	vocab, merges := tinyBPE(nil)
	f.Add([]byte(`{"added_tokens": [{"id": 0, "content": "<s>", "special": true}], "model": {"type": "BPE", "vocab": {"a": 1}, "merges": ["a a"]}}`))
	b, _ := json.Marshal(map[string]any{"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\s+(?!\S)|\p{L}+`}, "behavior": "Isolated"},
			map[string]any{"type": "ByteLevel", "use_regex": false}}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644))
		for _, pre := range []string{"", "gpt-2"} {
			v, err := loadVocab(dir, vocabOptions{Pre: pre})
			if err == nil && len(v.Tokens) != len(v.Types) {
				t.Fatalf("%d tokens, %d types", len(v.Tokens), len(v.Types))
			}
		}
	})
}

// TestHFComponents checks each emulated normalizer and pre-tokenizer
// against what the tokenizers library makes of the same texts
// (testdata/tokenizer/pretokenizers.json, scripts/oracle/tokenizer_fixtures.py).
func TestHFComponents(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "tokenizer", "pretokenizers.json"))
	require.NoError(t, err)
	var ref struct {
		PreTokenizers []struct {
			Spec  json.RawMessage
			Cases []struct {
				Text   string
				Pieces []string
			}
		} `json:"pre_tokenizers"`
		Normalizers []struct {
			Spec  json.RawMessage
			Cases []struct {
				Text       string
				Normalized string
			}
		}
	}
	require.NoError(t, json.Unmarshal(b, &ref))
	require.NotEmpty(t, ref.PreTokenizers)
	require.NotEmpty(t, ref.Normalizers)
	for _, pt := range ref.PreTokenizers {
		spec, err := decodeJSONValue(pt.Spec)
		require.NoError(t, err)
		p := &hfPipeline{}
		require.NoError(t, p.compilePre(spec), string(pt.Spec))
		for _, c := range pt.Cases {
			pieces := []string{c.Text}
			if c.Text == "" {
				pieces = nil
			}
			for _, step := range p.pre {
				pieces, err = step(pieces)
				require.NoError(t, err)
			}
			if len(c.Pieces) == 0 {
				c.Pieces = nil
			}
			assert.Equal(t, c.Pieces, pieces, "%s on %q", pt.Spec, c.Text)
		}
	}
	for _, nz := range ref.Normalizers {
		spec, err := decodeJSONValue(nz.Spec)
		require.NoError(t, err)
		f, err := compileNormalizer(spec)
		require.NoError(t, err, string(nz.Spec))
		for _, c := range nz.Cases {
			got, err := f(c.Text)
			require.NoError(t, err)
			assert.Equal(t, c.Normalized, got, "%s on %q", nz.Spec, c.Text)
		}
	}
}

// The bundled demo model's tokenizer (Llama 2's post-processor, pairs
// joined with "<s>") gets one warning that says what it means.
func TestLoadVocabPairSeparatorWarning(t *testing.T) {
	v, err := loadVocab(filepath.Join("..", "testdata", "tiny-llama"), vocabOptions{Arch: "llama"})
	require.NoError(t, err)
	require.Len(t, v.Warnings, 1)
	assert.Equal(t, `tokenizer.json post_processor: the pair template joins its two sequences with "<s>", `+
		`neither the sep nor the eos token; the GGUF gets no separator (as convert_hf_to_gguf.py)`, v.Warnings[0])
	assert.Equal(t, false, lookup[bool](t, v, "tokenizer.ggml.add_sep_token"))
}
