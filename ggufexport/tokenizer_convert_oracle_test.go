package ggufexport

import (
	"bufio"
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

// TestVocabConverterOracle runs llama.cpp's own convert_hf_to_gguf.py
// --vocab-only (the oracle of scripts/oracle/llama/setup.sh, in
// MLXCONV_LLAMA_CACHE) on real and synthetic tokenizers and requires every
// tokenizer.* KV of its output, in order and with its type, to equal
// loadVocab's. The one allowed difference is the documented pre-tokenizer
// name of the original Meta-Llama-3 tokenizer.json (llama-bpe for the
// converter's smaug-bpe; see preIgnoreMergesFix).
func TestVocabConverterOracle(t *testing.T) {
	npm := oracle.Env(t, "MLXCONV_ORACLE_NPM")
	cache := oracle.Env(t, "MLXCONV_LLAMA_CACHE")
	t.Parallel()
	py := filepath.Join(cache, "venv", "bin", "python")
	conv := filepath.Join(cache, "llama.cpp")
	for _, p := range []string{py, filepath.Join(conv, "convert_hf_to_gguf.py")} {
		_, err := os.Stat(p)
		require.NoError(t, err, "run scripts/oracle/llama/setup.sh")
	}
	// ref_convert.py runs a batch with torch imported once; without it,
	// each conversion is a convert_hf_to_gguf.py process.
	ref, err := filepath.Abs(filepath.Join("..", "scripts", "oracle", "llama", "ref_convert.py"))
	require.NoError(t, err)
	if _, err := os.Stat(ref); err != nil {
		ref = ""
	}

	hp := func(arch, modelType string, extra string) string {
		return `{"architectures": ["` + arch + `"], "model_type": "` + modelType + `", "hidden_size": 64,
			"intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
			"max_position_embeddings": 128, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "head_dim": 16, ` + extra + `}`
	}
	type vcase struct {
		name, arch string
		dir        string
	}
	link := func(sub string) map[string]string {
		return map[string]string{
			"tokenizer.json":        filepath.Join(npm, sub, "tokenizer.json"),
			"tokenizer_config.json": filepath.Join(npm, sub, "tokenizer_config.json"),
		}
	}
	cases := []vcase{
		{"llama3", "llama", oracleDir(t, link("llama3"), map[string]string{
			"config.json": hp("LlamaForCausalLM", "llama", `"bos_token_id": 128000, "eos_token_id": 128001, "vocab_size": 128256`)})},
		{"qwen3", "qwen3", oracleDir(t, link("qwen3"), map[string]string{
			"config.json": hp("Qwen3ForCausalLM", "qwen3", `"bos_token_id": 151643, "eos_token_id": 151645, "vocab_size": 151936`)})},
		{"gemma3", "gemma3", oracleDir(t, link("gemma3"), map[string]string{
			"config.json": hp("Gemma3ForCausalLM", "gemma3_text", `"sliding_window": 64, "bos_token_id": 2, "eos_token_id": [1, 106], "vocab_size": 262208`)})},
		// 3 specials, the 256 byte pieces sentencepiece insists on, 5 more
		// pieces (264), padded to 268.
		{"spm", "llama", oracleDir(t, nil, map[string]string{
			"tokenizer.model":   string(spmModel(spmPiecesWithBytes())),
			"config.json":       hp("LlamaForCausalLM", "llama", `"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 999, "vocab_size": 268`),
			"added_tokens.json": `{"<extra>": 264, "<far>": 400}`,
			"tokenizer_config.json": `{"add_bos_token": true, "add_eos_token": false, "add_prefix_space": false,
				"bos_token": "<s>", "unk_token": {"content": "<unk>"},
				"added_tokens_decoder": {"265": {"content": "<|im_end|>", "special": false}, "266": {"content": "▁hi▁", "special": false},
				"3": {"content": "<nl>", "special": true}}, "chat_template": "{{ bos_token }}"}`,
			"tokenizer.json": `{"added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}],
				"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
				"special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}}`,
		})},
		{"gpt2", "", oracleDir(t,
			map[string]string{"vocab.json": filepath.Join(npm, "gpt2", "vocab.json"), "merges.txt": filepath.Join(npm, "gpt2", "merges.txt")},
			map[string]string{"config.json": `{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_ctx": 128, "n_embd": 64,
				"n_head": 4, "n_layer": 2, "layer_norm_epsilon": 1e-05, "bos_token_id": 50256, "eos_token_id": 50256, "vocab_size": 50257}`})},
		{"gemma-spm", "gemma", oracleDir(t, map[string]string{"tokenizer.model": filepath.Join(npm, "llama2-spm", "tokenizer.model")},
			map[string]string{
				"config.json":           hp("GemmaForCausalLM", "gemma", `"bos_token_id": 1, "eos_token_id": 2, "vocab_size": 32000`),
				"tokenizer_config.json": `{"bos_token": "<s>", "chat_template": "x", "add_bos_token": true}`,
			})},
		// SentencePiece-style tokenizer.json without tokenizer.model
		// (LlamaHfVocab): the bundled demo model, Mistral-7B's, and a
		// synthetic one with added and configured special tokens.
		{"tiny-llama", "llama", oracleDir(t, testdataLinks(t, "tiny-llama",
			"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"), nil)},
		{"mistral-hf", "llama", oracleDir(t, link("llama2"), map[string]string{
			"config.json": hp("MistralForCausalLM", "mistral", `"bos_token_id": 1, "eos_token_id": 2, "vocab_size": 32000`)})},
		{"llamahf-synthetic", "llama", oracleDir(t, fixtureLinks(t, "llamahf",
			"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"), nil)},
	}
	work := t.TempDir()
	type job struct {
		Model   string   `json:"model"`
		Outfile string   `json:"outfile"`
		Outtype string   `json:"outtype"`
		Args    []string `json:"args"`
	}
	var jobs []job
	for _, c := range cases {
		jobs = append(jobs, job{c.dir, filepath.Join(work, c.name+".gguf"), "f32", []string{"--vocab-only"}})
	}
	status := map[string]string{}
	var out []byte
	if ref != "" {
		b, err := json.Marshal(jobs)
		require.NoError(t, err)
		jpath := filepath.Join(work, "jobs.json")
		require.NoError(t, os.WriteFile(jpath, b, 0o644))
		cmd := exec.Command(py, ref, "--converter", conv, "--jobs", jpath)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err = cmd.Output()
		require.NoError(t, err, "ref_convert.py: %s", stderr.String())
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			var r struct {
				Outfile string `json:"outfile"`
				OK      bool   `json:"ok"`
				Error   string `json:"error"`
			}
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Outfile != "" {
				status[r.Outfile] = r.Error
				if !r.OK && r.Error == "" {
					status[r.Outfile] = "failed"
				}
			}
		}
	} else {
		for _, j := range jobs {
			args := append([]string{filepath.Join(conv, "convert_hf_to_gguf.py"), j.Model, "--outfile", j.Outfile, "--outtype", j.Outtype}, j.Args...)
			cmd := exec.Command(py, args...)
			cmd.Env = append(os.Environ(), "HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "TOKENIZERS_PARALLELISM=false")
			log, err := cmd.CombinedOutput()
			status[j.Outfile] = ""
			if err != nil {
				status[j.Outfile] = fmt.Sprintf("%v: %s", err, log)
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outfile := filepath.Join(work, c.name+".gguf")
			e, ok := status[outfile]
			require.True(t, ok, "no result for %s: %s", c.name, out)
			require.Empty(t, e, "converter failed on %s (log %s.log)", c.name, outfile)
			f, err := gguf.Open(outfile)
			require.NoError(t, err)
			want, _ := tokenizerKVs(f.KVs())
			require.NoError(t, f.Close())
			v, err := loadVocab(c.dir, vocabOptions{Arch: c.arch})
			require.NoError(t, err)
			got := v.KVs()
			require.Equal(t, keysOf(want), keysOf(got))
			for i := range want {
				if want[i].Key == keyTokenizerPre && v.PreConverter != "" && v.PreConverter != v.Pre {
					assert.Equal(t, want[i].Value, gguf.NewValue(v.PreConverter), "converter's pre-tokenizer name")
					continue
				}
				assert.True(t, got[i].Value.Equal(want[i].Value), "%s: ours %v, converter %v", want[i].Key, got[i].Value, want[i].Value)
			}
		})
	}
}

// spmPiecesWithBytes is a consistent byte-fallback model: the special
// pieces, the 256 byte pieces, then normal, user-defined and unused ones.
func spmPiecesWithBytes() []spmPiece {
	pieces := []spmPiece{{"<unk>", 0, spmUnknown}, {"<s>", 0, spmControl}, {"</s>", 0, spmControl}}
	for b := 0; b < 256; b++ {
		pieces = append(pieces, spmPiece{fmt.Sprintf("<0x%02X>", b), 0, spmByte})
	}
	return append(pieces, spmPiece{"▁t", -1, spmNormal}, spmPiece{"▁the", -2.5, spmNormal},
		spmPiece{"<user>", 0, spmUserDefined}, spmPiece{"<unused0>", 0, spmUnused}, spmPiece{"e", -7, spmNormal})
}

func keysOf(kvs []gguf.KV) string {
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
	}
	return strings.Join(keys, "\n")
}

// testdataLinks links files of the repository's testdata/<model>.
func testdataLinks(t *testing.T, model string, names ...string) map[string]string {
	t.Helper()
	return linksIn(t, filepath.Join("..", "testdata", model), names)
}

// fixtureLinks links files of gguf/testdata/<name>.
func fixtureLinks(t *testing.T, name string, names ...string) map[string]string {
	t.Helper()
	return linksIn(t, filepath.Join("testdata", name), names)
}

func linksIn(t *testing.T, rel string, names []string) map[string]string {
	t.Helper()
	dir, err := filepath.Abs(rel)
	require.NoError(t, err)
	m := map[string]string{}
	for _, n := range names {
		m[n] = filepath.Join(dir, n)
	}
	return m
}
