package ggufexport_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// Tiny deterministic checkpoints of every exported architecture, in the
// Hugging Face layout of each family (per-expert MoE weights, fused Phi-3
// projections, Gemma 3's multimodal wrapper with a vision tower), with a
// small tokenizer: byte-level BPE tokenizer.json for the Llama/Qwen/Mixtral
// families, SentencePiece tokenizer.model for Gemma and Phi-3. Values
// depend only on the tensor name.

type fxTensor struct {
	name  string
	dtype mlx.DType
	shape []int
}

type fxModel struct {
	arch    string // directory name
	config  map[string]any
	tensors []fxTensor
	spm     bool // tokenizer.model instead of tokenizer.json
	files   map[string]string
	shards  int
}

const (
	fxHidden  = 64
	fxHeads   = 4
	fxKV      = 2
	fxHeadDim = 16
	fxInter   = 128
	fxLayers  = 2
	fxVocab   = 160
	fxExperts = 4
)

// fxValues returns the deterministic values of a tensor (before rounding
// to its dtype): roughly uniform in [-0.25, 0.25) with rare outliers.
func fxValues(name string, n int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(name))
	s := h.Sum64()
	out := make([]float32, n)
	for i := range out {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		v := float32(int64(z>>40)-(1<<23)) / float32(1<<25)
		if z&0xff == 7 {
			v *= 12
		}
		out[i] = v
	}
	return out
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// fxData returns the tensor's bytes and its values as stored (rounded to
// the dtype, widened to float32).
func fxData(t fxTensor) ([]byte, []float32) {
	vals := fxValues(t.name, numel(t.shape))
	b := make([]byte, len(vals)*t.dtype.Size())
	for i, v := range vals {
		switch t.dtype {
		case mlx.F32:
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		case mlx.F16:
			h := gguf.F32ToF16(v)
			binary.LittleEndian.PutUint16(b[2*i:], h)
			vals[i] = gguf.F16ToF32(h)
		case mlx.BF16:
			h := gguf.F32ToBF16(v)
			binary.LittleEndian.PutUint16(b[2*i:], h)
			vals[i] = gguf.BF16ToF32(h)
		}
	}
	return b, vals
}

func fxT(dt mlx.DType) func(string, ...int) fxTensor {
	return func(name string, shape ...int) fxTensor { return fxTensor{name, dt, shape} }
}

// fxLlamaLayers appends the attention, norms and (unless mlp is false) the
// dense MLP of each layer.
func fxLlamaLayers(ts []fxTensor, prefix string, mk func(string, ...int) fxTensor, bias, qkNorm, mlp bool, norms ...string) []fxTensor {
	for l := 0; l < fxLayers; l++ {
		p := prefix + "layers." + strconv.Itoa(l) + "."
		ts = append(ts,
			mk(p+"self_attn.q_proj.weight", fxHeads*fxHeadDim, fxHidden),
			mk(p+"self_attn.k_proj.weight", fxKV*fxHeadDim, fxHidden),
			mk(p+"self_attn.v_proj.weight", fxKV*fxHeadDim, fxHidden),
			mk(p+"self_attn.o_proj.weight", fxHidden, fxHeads*fxHeadDim))
		if bias {
			ts = append(ts, mk(p+"self_attn.q_proj.bias", fxHeads*fxHeadDim), mk(p+"self_attn.k_proj.bias", fxKV*fxHeadDim),
				mk(p+"self_attn.v_proj.bias", fxKV*fxHeadDim))
		}
		if qkNorm {
			ts = append(ts, mk(p+"self_attn.q_norm.weight", fxHeadDim), mk(p+"self_attn.k_norm.weight", fxHeadDim))
		}
		if mlp {
			ts = append(ts, mk(p+"mlp.gate_proj.weight", fxInter, fxHidden), mk(p+"mlp.up_proj.weight", fxInter, fxHidden),
				mk(p+"mlp.down_proj.weight", fxHidden, fxInter))
		}
		if len(norms) == 0 {
			norms = []string{"input_layernorm", "post_attention_layernorm"}
		}
		for _, n := range norms {
			ts = append(ts, mk(p+n+".weight", fxHidden))
		}
	}
	return ts
}

func fxBase(mt string, extra map[string]any) map[string]any {
	c := map[string]any{
		"model_type": mt, "hidden_size": fxHidden, "intermediate_size": fxInter, "num_hidden_layers": fxLayers,
		"num_attention_heads": fxHeads, "num_key_value_heads": fxKV, "rms_norm_eps": 1e-5, "vocab_size": fxVocab,
		"max_position_embeddings": 4096, "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// fxModels returns every fixture model by architecture name.
func fxModels() map[string]fxModel {
	bf := fxT(mlx.BF16)
	f16 := fxT(mlx.F16)
	f32 := fxT(mlx.F32)
	m := map[string]fxModel{}

	// llama: tied (no lm_head), llama3 rope scaling, attention biases.
	ts := []fxTensor{bf("model.embed_tokens.weight", fxVocab, fxHidden), bf("model.norm.weight", fxHidden)}
	ts = fxLlamaLayers(ts, "model.", bf, true, false, true)
	for l := 0; l < fxLayers; l++ {
		ts = append(ts, bf("model.layers."+strconv.Itoa(l)+".self_attn.o_proj.bias", fxHidden))
	}
	m["llama"] = fxModel{arch: "llama", tensors: ts, config: fxBase("llama", map[string]any{
		"tie_word_embeddings": true, "attention_bias": true, "head_dim": fxHeadDim,
		"rope_scaling": map[string]any{"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
			"original_max_position_embeddings": 64, "rope_type": "llama3"},
	}), files: map[string]string{"generation_config.json": `{"bos_token_id": 1, "eos_token_id": 2, "temperature": 0.6, "top_p": 0.9}`}}

	// mistral: sharded, untied, linear rope scaling, no head_dim.
	ts = []fxTensor{bf("model.embed_tokens.weight", fxVocab, fxHidden), bf("model.norm.weight", fxHidden), bf("lm_head.weight", fxVocab, fxHidden)}
	ts = fxLlamaLayers(ts, "model.", bf, false, false, true)
	m["mistral"] = fxModel{arch: "mistral", tensors: ts, shards: 2, config: fxBase("mistral", map[string]any{
		"rope_scaling": map[string]any{"type": "linear", "factor": 2.0}, "sliding_window": nil})}

	// qwen2: biases, tied with the head present (convert_hf_to_gguf.py
	// writes it), inv_freq buffers.
	ts = []fxTensor{bf("model.embed_tokens.weight", fxVocab, fxHidden), bf("model.norm.weight", fxHidden), bf("lm_head.weight", fxVocab, fxHidden)}
	ts = fxLlamaLayers(ts, "model.", bf, true, false, true)
	for l := 0; l < fxLayers; l++ {
		ts = append(ts, f32("model.layers."+strconv.Itoa(l)+".self_attn.rotary_emb.inv_freq", fxHeadDim/2))
	}
	m["qwen2"] = fxModel{arch: "qwen2", tensors: ts, config: fxBase("qwen2", map[string]any{"tie_word_embeddings": true,
		"rope_scaling": map[string]any{"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024, "beta_fast": 32.0}})}

	// qwen3: q/k norms, head_dim * heads != hidden.
	ts = []fxTensor{bf("model.embed_tokens.weight", fxVocab, fxHidden), bf("model.norm.weight", fxHidden)}
	q3 := func(name string, shape ...int) fxTensor { return bf(name, shape...) }
	ts = fxLlamaLayers(ts, "model.", q3, false, true, true)
	m["qwen3"] = fxModel{arch: "qwen3", tensors: ts, config: fxBase("qwen3", map[string]any{"head_dim": fxHeadDim, "tie_word_embeddings": true})}

	// gemma: float16, norms shifted by one, no lm_head.
	ts = []fxTensor{f16("model.embed_tokens.weight", fxVocab, fxHidden), f16("model.norm.weight", fxHidden)}
	ts = fxLlamaLayers(ts, "model.", f16, false, false, true)
	m["gemma"] = fxModel{arch: "gemma", tensors: ts, spm: true, config: fxBase("gemma", map[string]any{"head_dim": fxHeadDim, "torch_dtype": "float16"})}

	// gemma2: four norms per layer, softcapping, sliding window.
	ts = []fxTensor{bf("model.embed_tokens.weight", fxVocab, fxHidden), f32("model.norm.weight", fxHidden)}
	ts = fxLlamaLayers(ts, "model.", bf, false, false, true, "input_layernorm", "post_attention_layernorm",
		"pre_feedforward_layernorm", "post_feedforward_layernorm")
	m["gemma2"] = fxModel{arch: "gemma2", tensors: ts, spm: true, config: fxBase("gemma2", map[string]any{
		"head_dim": fxHeadDim, "sliding_window": 128, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0})}

	// gemma3_text: q/k norms, local rope base, sliding window pattern.
	ts = []fxTensor{bf("model.embed_tokens.weight", fxVocab, fxHidden), bf("model.norm.weight", fxHidden)}
	ts = fxLlamaLayers(ts, "model.", bf, false, true, true, "input_layernorm", "post_attention_layernorm",
		"pre_feedforward_layernorm", "post_feedforward_layernorm")
	m["gemma3_text"] = fxModel{arch: "gemma3_text", tensors: ts, spm: true, config: fxBase("gemma3_text", map[string]any{
		"head_dim": fxHeadDim, "sliding_window": 64, "sliding_window_pattern": 2, "rope_local_base_freq": 10000.0,
		"rope_theta": 1000000.0, "query_pre_attn_scalar": fxHeadDim})}

	// gemma3: the multimodal wrapper (language_model.*, a vision tower).
	ts = []fxTensor{bf("language_model.model.embed_tokens.weight", fxVocab, fxHidden), bf("language_model.model.norm.weight", fxHidden),
		bf("vision_tower.vision_model.embeddings.patch_embedding.weight", 8, 3, 4, 4), bf("multi_modal_projector.mm_input_projection_weight", 8, fxHidden)}
	ts = fxLlamaLayers(ts, "language_model.model.", bf, false, true, true, "input_layernorm", "post_attention_layernorm",
		"pre_feedforward_layernorm", "post_feedforward_layernorm")
	text := fxBase("gemma3_text", map[string]any{"head_dim": fxHeadDim, "sliding_window": 64, "sliding_window_pattern": 2,
		"rope_scaling": map[string]any{"factor": 8.0, "rope_type": "linear"}, "tie_word_embeddings": nil, "torch_dtype": nil})
	m["gemma3"] = fxModel{arch: "gemma3", tensors: ts, spm: true, config: map[string]any{
		"model_type": "gemma3", "text_config": text, "vocab_size": fxVocab, "torch_dtype": "bfloat16",
		"vision_config": map[string]any{"model_type": "siglip_vision_model", "hidden_size": 8},
	}}

	// phi3: fused qkv and gate_up, float32, longrope factors.
	ts = []fxTensor{f32("model.embed_tokens.weight", fxVocab, fxHidden), f32("model.norm.weight", fxHidden), f32("lm_head.weight", fxVocab, fxHidden)}
	for l := 0; l < fxLayers; l++ {
		p := "model.layers." + strconv.Itoa(l) + "."
		ts = append(ts, f32(p+"self_attn.qkv_proj.weight", 3*fxHidden, fxHidden), f32(p+"self_attn.o_proj.weight", fxHidden, fxHidden),
			f32(p+"mlp.gate_up_proj.weight", 2*fxInter, fxHidden), f32(p+"mlp.down_proj.weight", fxHidden, fxInter),
			f32(p+"input_layernorm.weight", fxHidden), f32(p+"post_attention_layernorm.weight", fxHidden))
	}
	long, short := make([]float64, 8), make([]float64, 8)
	for i := range long {
		long[i], short[i] = 1+float64(i)*0.37, 1+float64(i)*0.01
	}
	m["phi3"] = fxModel{arch: "phi3", tensors: ts, spm: true, config: fxBase("phi3", map[string]any{
		"num_key_value_heads": fxHeads, "torch_dtype": "float32", "max_position_embeddings": 16384,
		"original_max_position_embeddings": 4096, "sliding_window": 2047,
		"rope_scaling": map[string]any{"type": "longrope", "long_factor": long, "short_factor": short}}),
		files: map[string]string{"tokenizer_config.json": `{"tokenizer_class": "LlamaTokenizer", "add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>"}`}}

	// mixtral: per-expert w1/w2/w3 and the router.
	ts = []fxTensor{bf("model.embed_tokens.weight", fxVocab, fxHidden), bf("model.norm.weight", fxHidden), bf("lm_head.weight", fxVocab, fxHidden)}
	ts = fxLlamaLayers(ts, "model.", bf, false, false, false)
	for l := 0; l < fxLayers; l++ {
		p := "model.layers." + strconv.Itoa(l) + ".block_sparse_moe."
		ts = append(ts, bf(p+"gate.weight", fxExperts, fxHidden))
		for e := 0; e < fxExperts; e++ {
			q := p + "experts." + strconv.Itoa(e) + "."
			ts = append(ts, bf(q+"w1.weight", fxInter, fxHidden), bf(q+"w2.weight", fxHidden, fxInter), bf(q+"w3.weight", fxInter, fxHidden))
		}
	}
	m["mixtral"] = fxModel{arch: "mixtral", tensors: ts, config: fxBase("mixtral", map[string]any{"num_local_experts": fxExperts, "num_experts_per_tok": 2})}

	// qwen2_moe: experts, a shared expert and its gate.
	ts = []fxTensor{bf("model.embed_tokens.weight", fxVocab, fxHidden), bf("model.norm.weight", fxHidden), bf("lm_head.weight", fxVocab, fxHidden)}
	ts = fxLlamaLayers(ts, "model.", bf, true, false, false)
	const moeInter = 32
	for l := 0; l < fxLayers; l++ {
		p := "model.layers." + strconv.Itoa(l) + ".mlp."
		ts = append(ts, bf(p+"gate.weight", fxExperts, fxHidden), bf(p+"shared_expert_gate.weight", 1, fxHidden),
			bf(p+"shared_expert.gate_proj.weight", fxInter, fxHidden), bf(p+"shared_expert.up_proj.weight", fxInter, fxHidden),
			bf(p+"shared_expert.down_proj.weight", fxHidden, fxInter))
		for e := 0; e < fxExperts; e++ {
			q := p + "experts." + strconv.Itoa(e) + "."
			ts = append(ts, bf(q+"gate_proj.weight", moeInter, fxHidden), bf(q+"up_proj.weight", moeInter, fxHidden), bf(q+"down_proj.weight", fxHidden, moeInter))
		}
	}
	m["qwen2_moe"] = fxModel{arch: "qwen2_moe", tensors: ts, config: fxBase("qwen2_moe", map[string]any{"num_experts": fxExperts,
		"num_experts_per_tok": 2, "moe_intermediate_size": moeInter, "shared_expert_intermediate_size": fxInter})}

	// qwen3_moe: experts on every layer, q/k norms.
	ts = []fxTensor{bf("model.embed_tokens.weight", fxVocab, fxHidden), bf("model.norm.weight", fxHidden), bf("lm_head.weight", fxVocab, fxHidden)}
	ts = fxLlamaLayers(ts, "model.", bf, false, true, false)
	for l := 0; l < fxLayers; l++ {
		p := "model.layers." + strconv.Itoa(l) + ".mlp."
		ts = append(ts, bf(p+"gate.weight", fxExperts, fxHidden))
		for e := 0; e < fxExperts; e++ {
			q := p + "experts." + strconv.Itoa(e) + "."
			ts = append(ts, bf(q+"gate_proj.weight", moeInter, fxHidden), bf(q+"up_proj.weight", moeInter, fxHidden), bf(q+"down_proj.weight", fxHidden, moeInter))
		}
	}
	m["qwen3_moe"] = fxModel{arch: "qwen3_moe", tensors: ts, config: fxBase("qwen3_moe", map[string]any{"num_experts": fxExperts,
		"num_experts_per_tok": 2, "moe_intermediate_size": moeInter, "decoder_sparse_step": 1, "mlp_only_layers": []int{},
		"head_dim": fxHeadDim, "norm_topk_prob": true})}
	return m
}

// fxSPM is a SentencePiece model with control, byte and normal pieces.
func fxSPM() []byte {
	type piece struct {
		s     string
		score float32
		typ   uint64 // 1 normal, 2 unknown, 3 control, 6 byte
	}
	pieces := []piece{{"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}}
	for b := 0; b < 16; b++ {
		pieces = append(pieces, piece{fmt.Sprintf("<0x%02X>", b), 0, 6})
	}
	for i, w := range []string{"▁", "a", "b", "c", "▁a", "▁the", "he", "▁t", "th", "e"} {
		pieces = append(pieces, piece{w, -float32(i), 1})
	}
	var b []byte
	for _, p := range pieces {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.BytesType)
		m = protowire.AppendString(m, p.s)
		m = protowire.AppendTag(m, 2, protowire.Fixed32Type)
		m = protowire.AppendFixed32(m, math.Float32bits(p.score))
		if p.typ != 1 {
			m = protowire.AppendTag(m, 3, protowire.VarintType)
			m = protowire.AppendVarint(m, p.typ)
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	var spec []byte
	for _, f := range [][2]uint64{{35, 1}, {40, 0}, {41, 1}, {42, 2}} { // byte_fallback, unk, bos, eos ids
		spec = protowire.AppendTag(spec, protowire.Number(f[0]), protowire.VarintType)
		spec = protowire.AppendVarint(spec, f[1])
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, spec)
}

// fxBPE is a byte-level BPE tokenizer.json: printable ASCII, "Ġ", a few
// merges, two special added tokens.
func fxBPE() (string, string) {
	vocab := map[string]int{}
	for c := '!'; c <= '~'; c++ {
		vocab[string(c)] = len(vocab)
	}
	vocab["Ġ"] = len(vocab)
	merges := []string{"Ġ t", "h e", "Ġt he", "Ġ a"}
	for _, mg := range merges {
		vocab[string(slices.DeleteFunc([]rune(mg), func(r rune) bool { return r == ' ' }))] = len(vocab)
	}
	bos, eos := len(vocab), len(vocab)+1
	doc := map[string]any{
		"version": "1.0",
		"added_tokens": []map[string]any{
			{"id": bos, "content": "<|begin|>", "special": true, "normalized": false, "single_word": false, "lstrip": false, "rstrip": false},
			{"id": eos, "content": "<|end|>", "special": true, "normalized": false, "single_word": false, "lstrip": false, "rstrip": false},
		},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": nil,
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model":          map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
	}
	tj, _ := json.Marshal(doc)
	tc := `{"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin|>", "eos_token": "<|end|>", "add_bos_token": false, "chat_template": "{{ messages }}"}`
	return string(tj), tc
}

// writeFx writes model m into a new directory named after its arch and
// returns the directory and every tensor's stored values by name.
func writeFx(t testing.TB, m fxModel) (string, map[string][]float32) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), m.arch)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	cfg, err := json.MarshalIndent(m.config, "", "  ")
	require.NoError(t, err)
	files := map[string]string{"config.json": string(cfg)}
	if m.spm {
		files["tokenizer.model"] = string(fxSPM())
		files["tokenizer_config.json"] = `{"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}`
	} else {
		files["tokenizer.json"], files["tokenizer_config.json"] = fxBPE()
	}
	for k, v := range m.files {
		files[k] = v
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	values := map[string][]float32{}
	shards := max(m.shards, 1)
	groups := make([][]safetensors.Tensor, shards)
	for i, ft := range m.tensors {
		data, vals := fxData(ft)
		values[ft.name] = vals
		g := i * shards / len(m.tensors)
		groups[g] = append(groups[g], safetensors.Tensor{TensorInfo: safetensors.TensorInfo{Name: ft.name, DType: ft.dtype, Shape: ft.shape}, Data: data})
	}
	weightMap := map[string]string{}
	for s, g := range groups {
		name := "model.safetensors"
		if shards > 1 {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, shards)
		}
		require.NoError(t, safetensors.WriteFile(filepath.Join(dir, name), g, map[string]string{"format": "pt"}, safetensors.HF))
		for _, st := range g {
			weightMap[st.Name] = name
		}
	}
	if shards > 1 {
		idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
		require.NoError(t, os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), idx, 0o644))
	}
	return dir, values
}
