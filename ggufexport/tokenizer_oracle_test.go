package ggufexport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/oracle"
)

// Oracle checks of the tokenizer export, against the real peers that
// scripts/oracle/llama_npm.sh installs (MLXCONV_ORACLE_NPM) and the oracle
// venv (MLXCONV_ORACLE_PYTHON):
//
//   - the Llama 2 tokenizer.model and the GPT-2 vocab.json/merges.txt export
//     to exactly the tokenizer KVs of llama.cpp's ggml-vocab-llama-spm.gguf
//     and ggml-vocab-gpt-2.gguf, and with those files' other KVs the GGUF is
//     byte-identical to llama.cpp's;
//   - the Llama 3 tokenizer.json exports llama.cpp's ggml-vocab-llama-bpe.gguf
//     tokens, types, merges and special ids;
//   - llama.cpp (node-llama-cpp) tokenizes llama.cpp's 46 test strings with
//     our GGUFs to exactly its .out vectors (llama-spm, gpt-2, and llama-bpe /
//     qwen2 for the Llama 3 / Qwen3 exports), and to the ids
//     @huggingface/tokenizers gives with the original tokenizer.json (Llama 3,
//     Qwen3);
//   - the pre-tokenizer hash equals transformers' for five real tokenizers.
//
// TestTokenizerOracle logs "tokenizer: N passed, M failed"
// (scripts/oracle/tokenizer_check.sh prints it).

type tokCounter struct {
	t              *testing.T
	passed, failed int
}

func (c *tokCounter) check(ok bool, format string, args ...any) {
	c.t.Helper()
	if ok {
		c.passed++
		return
	}
	c.failed++
	c.t.Errorf(format, args...)
}

// oracleDir makes a model directory in a temp dir: links to existing files
// and small files written from strings.
func oracleDir(t *testing.T, links map[string]string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, target := range links {
		_, err := os.Stat(target)
		require.NoError(t, err, "oracle file missing: run scripts/oracle/llama_npm.sh")
		require.NoError(t, os.Symlink(target, filepath.Join(dir, name)))
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

func tokenizerKVs(kvs []gguf.KV) (tok, rest []gguf.KV) {
	for _, kv := range kvs {
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			tok = append(tok, kv)
		} else {
			rest = append(rest, kv)
		}
	}
	return tok, rest
}

func writeVocabGGUF(t *testing.T, path string, kvs []gguf.KV) []byte {
	t.Helper()
	plan, err := gguf.NewPlan(kvs, nil)
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := gguf.NewWriter(&buf, plan)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	return buf.Bytes()
}

// Llama 2's tokenizer files besides tokenizer.model, reduced to what the
// export reads: tokenizer_config.json as the Llama-2-7b-hf repository had it
// when llama.cpp made ggml-vocab-llama-spm.gguf (no added_tokens_decoder),
// the added_tokens of its tokenizer.json, and config.json's token ids.
const (
	llama2TokenizerConfig = `{"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>",
 "unk_token": "<unk>", "pad_token": null, "clean_up_tokenization_spaces": false, "legacy": false,
 "model_max_length": 1000000000000000019884624838656, "tokenizer_class": "LlamaTokenizer"}`
	llama2TokenizerJSON = `{"version": "1.0", "added_tokens": [
 {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
 {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
 {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}]}`
	llama2Config = `{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "bos_token_id": 1, "eos_token_id": 2, "vocab_size": 32000}`
	gpt2Config   = `{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "bos_token_id": 50256, "eos_token_id": 50256, "vocab_size": 50257}`
	llama3Config = `{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "bos_token_id": 128000, "eos_token_id": 128001, "vocab_size": 128256}`
	qwen3Config  = `{"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "bos_token_id": 151643, "eos_token_id": 151645, "vocab_size": 151936}`
)

func TestTokenizerOracle(t *testing.T) {
	npm := oracle.Env(t, "MLXCONV_ORACLE_NPM")
	t.Parallel() // with TestPreTokenizerHashOracle: node and python overlap
	_, err := exec.LookPath("node")
	require.NoError(t, err, "node is needed for the llama.cpp tokenizer checks")
	c := &tokCounter{t: t}
	work := t.TempDir()
	golden := filepath.Join(npm, "llama-vocab")
	vectors, err := filepath.Abs(filepath.Join("testdata", "tokenizer", "llama-vocab"))
	require.NoError(t, err)

	type nodeCase struct {
		Name string            `json:"name"`
		GGUF string            `json:"gguf"`
		Inp  string            `json:"inp"`
		Out  string            `json:"out,omitempty"`
		HF   map[string]string `json:"hf,omitempty"`
	}
	var cases []nodeCase

	// Exact reproductions of llama.cpp's vocab files.
	for _, tc := range []struct {
		name, arch string
		dir        string
	}{
		{"llama-spm", "llama", oracleDir(t,
			map[string]string{"tokenizer.model": filepath.Join(npm, "llama2-spm", "tokenizer.model")},
			map[string]string{"config.json": llama2Config, "tokenizer_config.json": llama2TokenizerConfig, "tokenizer.json": llama2TokenizerJSON})},
		{"gpt-2", "", oracleDir(t,
			map[string]string{"vocab.json": filepath.Join(npm, "gpt2", "vocab.json"), "merges.txt": filepath.Join(npm, "gpt2", "merges.txt")},
			map[string]string{"config.json": gpt2Config})},
	} {
		v, err := loadVocab(tc.dir, vocabOptions{Arch: tc.arch})
		require.NoError(t, err, tc.name)
		gpath := filepath.Join(golden, "ggml-vocab-"+tc.name+".gguf")
		gf, err := gguf.Open(gpath)
		require.NoError(t, err)
		gtok, grest := tokenizerKVs(gf.KVs())
		require.NoError(t, gf.Close())
		ours := v.KVs()
		c.check(len(ours) == len(gtok), "%s: %d tokenizer KVs, llama.cpp has %d", tc.name, len(ours), len(gtok))
		for i := range min(len(ours), len(gtok)) {
			c.check(ours[i].Key == gtok[i].Key && ours[i].Value.Equal(gtok[i].Value),
				"%s: KV %d: ours %s = %v, llama.cpp %s = %v", tc.name, i, ours[i].Key, ours[i].Value, gtok[i].Key, gtok[i].Value)
		}
		out := filepath.Join(work, tc.name+".gguf")
		data := writeVocabGGUF(t, out, append(grest, ours...))
		want, err := os.ReadFile(gpath)
		require.NoError(t, err)
		c.check(bytes.Equal(data, want), "%s: our GGUF (%d bytes) differs from llama.cpp's (%d bytes)", tc.name, len(data), len(want))
		cases = append(cases, nodeCase{Name: tc.name, GGUF: out,
			Inp: filepath.Join(vectors, "ggml-vocab-"+tc.name+".gguf.inp"), Out: filepath.Join(vectors, "ggml-vocab-"+tc.name+".gguf.out")})
	}

	// tokenizer.json exports.
	llama3 := oracleDir(t, map[string]string{
		"tokenizer.json":        filepath.Join(npm, "llama3", "tokenizer.json"),
		"tokenizer_config.json": filepath.Join(npm, "llama3", "tokenizer_config.json"),
	}, map[string]string{"config.json": llama3Config})
	qwen3 := oracleDir(t, map[string]string{
		"tokenizer.json":        filepath.Join(npm, "qwen3", "tokenizer.json"),
		"tokenizer_config.json": filepath.Join(npm, "qwen3", "tokenizer_config.json"),
	}, map[string]string{"config.json": qwen3Config})

	v3, err := loadVocab(llama3, vocabOptions{Arch: "llama"})
	require.NoError(t, err)
	// This tokenizer.json is Meta-Llama-3-8B's first release, whose
	// post-processor adds no BOS; llama.cpp's converter names that hash
	// smaug-bpe (same regex as llama-bpe, which hashes with BOS), and
	// llama.cpp then ignores the tokenizer's ignore_merges. We write
	// llama-bpe, so the pre-tokenizer KV matches llama.cpp's file too.
	c.check(v3.PreConverter == "smaug-bpe" && v3.Pre == "llama-bpe", "llama3: pre %q (converter: %q), want llama-bpe (smaug-bpe)", v3.Pre, v3.PreConverter)
	gf, err := gguf.Open(filepath.Join(golden, "ggml-vocab-llama-bpe.gguf"))
	require.NoError(t, err)
	gtok, grest := tokenizerKVs(gf.KVs())
	require.NoError(t, gf.Close())
	for _, g := range gtok {
		ours, ok := v3.Lookup(g.Key)
		c.check(ok && ours.Equal(g.Value), "llama3: %s = %v, llama.cpp's llama-bpe has %v", g.Key, ours, g.Value)
	}
	out := filepath.Join(work, "llama3.gguf")
	writeVocabGGUF(t, out, append(grest, v3.KVs()...))
	cases = append(cases, nodeCase{Name: "llama3", GGUF: out,
		Inp: filepath.Join(vectors, "ggml-vocab-llama-bpe.gguf.inp"), Out: filepath.Join(vectors, "ggml-vocab-llama-bpe.gguf.out"),
		HF: map[string]string{"tokenizer": filepath.Join(llama3, "tokenizer.json"), "config": filepath.Join(llama3, "tokenizer_config.json")}})

	vq, err := loadVocab(qwen3, vocabOptions{Arch: "qwen3"})
	require.NoError(t, err)
	c.check(vq.Pre == "qwen2", "qwen3: pre %q, want qwen2", vq.Pre)
	c.check(len(vq.Tokens) == 151936, "qwen3: %d tokens, want 151936 (padded to vocab_size)", len(vq.Tokens))
	qwenArch := []gguf.KV{
		{Key: "general.architecture", Value: gguf.NewValue("qwen3")},
		{Key: "general.name", Value: gguf.NewValue("qwen3")},
		{Key: "qwen3.block_count", Value: gguf.NewValue[uint32](28)},
		{Key: "qwen3.context_length", Value: gguf.NewValue[uint32](40960)},
		{Key: "qwen3.embedding_length", Value: gguf.NewValue[uint32](1024)},
		{Key: "qwen3.feed_forward_length", Value: gguf.NewValue[uint32](3072)},
		{Key: "qwen3.attention.head_count", Value: gguf.NewValue[uint32](16)},
		{Key: "qwen3.attention.head_count_kv", Value: gguf.NewValue[uint32](8)},
		{Key: "qwen3.rope.freq_base", Value: gguf.NewValue[float32](1000000)},
		{Key: "qwen3.attention.layer_norm_rms_epsilon", Value: gguf.NewValue[float32](1e-6)},
		{Key: "qwen3.attention.key_length", Value: gguf.NewValue[uint32](128)},
		{Key: "qwen3.attention.value_length", Value: gguf.NewValue[uint32](128)},
		{Key: "general.file_type", Value: gguf.NewValue[uint32](1)},
	}
	out = filepath.Join(work, "qwen3.gguf")
	writeVocabGGUF(t, out, append(qwenArch, vq.KVs()...))
	cases = append(cases, nodeCase{Name: "qwen3", GGUF: out,
		Inp: filepath.Join(vectors, "ggml-vocab-qwen2.gguf.inp"), Out: filepath.Join(vectors, "ggml-vocab-qwen2.gguf.out"),
		HF: map[string]string{"tokenizer": filepath.Join(qwen3, "tokenizer.json"), "config": filepath.Join(qwen3, "tokenizer_config.json")}})

	// llama.cpp tokenization.
	manifest, err := json.Marshal(map[string]any{"cases": cases})
	require.NoError(t, err)
	mpath := filepath.Join(work, "manifest.json")
	require.NoError(t, os.WriteFile(mpath, manifest, 0o644))
	script, err := filepath.Abs(filepath.Join("..", "scripts", "oracle", "tokenizer_check.mjs"))
	require.NoError(t, err)
	cmd := exec.Command("node", script, mpath)
	cmd.Env = append(os.Environ(), "MLXCONV_ORACLE_NPM="+npm)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	require.NoError(t, err, "tokenizer_check.mjs: %s", stderr.String())
	var res struct {
		LlamaCpp string `json:"llama_cpp"`
		Cases    []struct {
			Name, Check    string
			Passed, Failed int
			Failures       []struct {
				Text      string
				Got, Want []int
			}
		}
	}
	require.NoError(t, json.Unmarshal(stdout, &res), "tokenizer_check.mjs output: %s", stdout)
	require.Len(t, res.Cases, 6)
	for _, r := range res.Cases {
		c.passed += r.Passed
		c.failed += r.Failed
		t.Logf("llama.cpp %s, %s vs %s: %d passed, %d failed", res.LlamaCpp, r.Name, r.Check, r.Passed, r.Failed)
		for _, f := range r.Failures {
			t.Errorf("%s (%s): %q: llama.cpp %v, want %v", r.Name, r.Check, f.Text, f.Got, f.Want)
		}
		assert.Equal(t, 46, r.Passed+r.Failed, "%s: strings checked", r.Name)
	}
	t.Logf("tokenizer: %d passed, %d failed", c.passed, c.failed)
	if testing.Verbose() {
		fmt.Printf("tokenizer: %d passed, %d failed\n", c.passed, c.failed)
	}
}

// TestPreTokenizerHashOracle checks the Go emulation of the tokenizers
// encode path on llama.cpp's check text against transformers'
// AutoTokenizer, for four real tokenizers of different construction
// (Llama 3 and Qwen3 byte-level BPE with Split regexes, Mistral's
// SentencePiece-style BPE with byte fallback, GPT-2 from vocab.json and
// merges.txt; Gemma 3's 33 MB tokenizer.json also agrees but is left out to
// keep the check fast), and the Unicode normalization claims against
// Python's unicodedata.
func TestPreTokenizerHashOracle(t *testing.T) {
	npm := oracle.Env(t, "MLXCONV_ORACLE_NPM")
	oracle.Python(t)
	t.Parallel()
	dirs := map[string]string{
		"llama3": filepath.Join(npm, "llama3"),
		"qwen3":  filepath.Join(npm, "qwen3"),
		"llama2": filepath.Join(npm, "llama2"), // Mistral-7B v0.1's tokenizer.json
		"gpt2": oracleDir(t,
			map[string]string{"vocab.json": filepath.Join(npm, "gpt2", "vocab.json"), "merges.txt": filepath.Join(npm, "gpt2", "merges.txt")},
			map[string]string{"config.json": gpt2Config}),
	}
	names := []string{"llama3", "qwen3", "llama2", "gpt2"}
	script, err := filepath.Abs(filepath.Join("..", "scripts", "oracle", "tokenizer_hash.py"))
	require.NoError(t, err)
	args := []string{script}
	for _, n := range names {
		args = append(args, dirs[n])
	}
	var ref struct {
		ChkTxt    string              `json:"chktxt"`
		Normalize map[string]string   `json:"normalize"`
		Unstable  map[string][]string `json:"unstable"`
		Dirs      map[string]struct {
			IDs    []int  `json:"ids"`
			ChkHsh string `json:"chkhsh"`
		} `json:"dirs"`
	}
	require.NoError(t, json.Unmarshal(oracle.Run(t, args...), &ref))
	require.Equal(t, preTokenizerCheckText, ref.ChkTxt)
	assert.Empty(t, ref.Unstable["NFC"])
	assert.Empty(t, ref.Unstable["NFD"])
	assert.Equal(t, []string{"\uff5e"}, ref.Unstable["NFKC"])
	assert.Equal(t, []string{"\uff5e"}, ref.Unstable["NFKD"])
	for form, want := range ref.Normalize {
		got, err := unicodeNormalize(form, preTokenizerCheckText)
		require.NoError(t, err)
		assert.Equal(t, want, got, form)
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			l := &vocabLoader{d: modelDir{dir: dirs[n]}, v: &ggufVocab{}}
			var src *bpeSource
			var err error
			if n == "gpt2" {
				src, err = l.bpeFromVocabJSON()
			} else {
				tj, err2 := l.readTokenizerJSON()
				require.NoError(t, err2)
				src, err = l.bpeFromTokenizerJSON(tj)
			}
			require.NoError(t, err)
			p, err := src.pipeline()
			require.NoError(t, err)
			hash, ids, err := p.chkHash()
			require.NoError(t, err)
			want := ref.Dirs[dirs[n]]
			assert.Equal(t, want.IDs, ids)
			assert.Equal(t, want.ChkHsh, hash)
		})
	}
}
