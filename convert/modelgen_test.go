package convert

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// Tiny deterministic Hugging Face checkpoints for the tests. Values are a
// function of the tensor name only, so a model can be regenerated anywhere
// (convert/testdata/golden/mkgolden.py converts the same inputs with
// mlx_lm to produce the committed expectations).

type genTensor struct {
	name  string
	dtype mlx.DType
	shape []int
}

type genModel struct {
	name    string
	config  string            // config.json
	files   map[string]string // extra files (generation_config.json, ...)
	tensors []genTensor
	shards  int // > 1: split into model-0000i-of-0000n.safetensors + index
}

// splitmix64 is a small deterministic generator.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// tensorData returns deterministic bytes for a tensor: floats roughly
// uniform in [-0.25, 0.25) with a few larger outliers, integers as random
// bits.
func tensorData(t genTensor) []byte {
	h := fnv.New64a()
	h.Write([]byte(t.name))
	rng := splitmix64(h.Sum64())
	n := int(numElements(t.shape))
	out := make([]byte, n*t.dtype.Size())
	for i := 0; i < n; i++ {
		r := rng.next()
		if !t.dtype.IsFloat() {
			switch t.dtype.Size() {
			case 1:
				out[i] = byte(r)
			case 2:
				binary.LittleEndian.PutUint16(out[2*i:], uint16(r))
			case 4:
				binary.LittleEndian.PutUint32(out[4*i:], uint32(r))
			case 8:
				binary.LittleEndian.PutUint64(out[8*i:], r)
			}
			continue
		}
		v := float32(int64(r>>40)-(1<<23)) / float32(1<<25) // [-0.25, 0.25)
		if r&0xff == 7 {
			v *= 12 // outliers exercise the quantizers' ranges
		}
		putFloat(out, i, t.dtype, v)
	}
	return out
}

// tinyTokenizer is a valid WordLevel tokenizer.json with 16 tokens.
func tinyTokenizer() string {
	s := `{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,` +
		`"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,` +
		`"model":{"type":"WordLevel","vocab":{"<unk>":0`
	for i := 1; i < 16; i++ {
		s += `,"t` + strconv.Itoa(i) + `":` + strconv.Itoa(i)
	}
	return s + `},"unk_token":"<unk>"}}`
}

const tinyTokenizerConfig = `{"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "<unk>", "eos_token": "t1", "bos_token": "t2"}`

// writeModel writes m into dir as an HF checkpoint.
func writeModel(t testing.TB, dir string, m genModel) {
	t.Helper()
	require.NoError(t, writeModelErr(dir, m))
}

func writeModelErr(dir string, m genModel) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]string{"config.json": m.config, "tokenizer.json": tinyTokenizer(), "tokenizer_config.json": tinyTokenizerConfig}
	for name, body := range m.files {
		files[name] = body
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	shards := max(m.shards, 1)
	groups := make([][]safetensors.Tensor, shards)
	for i, gt := range m.tensors {
		st := safetensors.Tensor{TensorInfo: safetensors.TensorInfo{Name: gt.name, DType: gt.dtype, Shape: gt.shape}, Data: tensorData(gt)}
		groups[i*shards/len(m.tensors)] = append(groups[i*shards/len(m.tensors)], st)
	}
	index := `{"metadata": {}, "weight_map": {`
	for s, g := range groups {
		slices.SortFunc(g, func(a, b safetensors.Tensor) int { return safetensors.CompareHF(a.TensorInfo, b.TensorInfo) })
		name := "model.safetensors"
		if shards > 1 {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, shards)
		}
		if err := safetensors.WriteFile(filepath.Join(dir, name), g, map[string]string{"format": "pt"}, safetensors.HF); err != nil {
			return err
		}
		for j, st := range g {
			if s > 0 || j > 0 {
				index += ", "
			}
			index += strconv.Quote(st.Name) + ": " + strconv.Quote(name)
		}
	}
	if shards > 1 {
		return os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(index+"}}"), 0o644)
	}
	return nil
}

// ---- model builders

func f32(name string, shape ...int) genTensor  { return genTensor{name, mlx.F32, shape} }
func bf16(name string, shape ...int) genTensor { return genTensor{name, mlx.BF16, shape} }

// llamaLayers appends llama-style layer tensors.
func llamaLayers(ts []genTensor, prefix string, layers, hidden, inter, heads, kv, headDim int, mk func(string, ...int) genTensor, invFreq bool) []genTensor {
	for l := 0; l < layers; l++ {
		p := prefix + "layers." + strconv.Itoa(l) + "."
		ts = append(ts,
			mk(p+"self_attn.q_proj.weight", heads*headDim, hidden),
			mk(p+"self_attn.k_proj.weight", kv*headDim, hidden),
			mk(p+"self_attn.v_proj.weight", kv*headDim, hidden),
			mk(p+"self_attn.o_proj.weight", hidden, heads*headDim),
			mk(p+"mlp.gate_proj.weight", inter, hidden),
			mk(p+"mlp.up_proj.weight", inter, hidden),
			mk(p+"mlp.down_proj.weight", hidden, inter),
			mk(p+"input_layernorm.weight", hidden),
			mk(p+"post_attention_layernorm.weight", hidden),
		)
		if invFreq {
			ts = append(ts, f32(p+"self_attn.rotary_emb.inv_freq", headDim/2))
		}
	}
	return ts
}

// modelLlama: tied embeddings, 4 layers (so the recipes differ per
// layer), bf16 torch_dtype over f32 storage, inv_freq buffers, an eos list
// in generation_config.json, a non-ASCII config string.
func modelLlama() genModel {
	ts := []genTensor{f32("model.embed_tokens.weight", 96, 64), f32("model.norm.weight", 64)}
	ts = llamaLayers(ts, "model.", 4, 64, 128, 4, 2, 16, f32, true)
	return genModel{name: "llama", tensors: ts, config: `{
  "_name_or_path": "tiny/llama",
  "architectures": ["LlamaForCausalLM"],
  "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
  "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 0.00001,
  "vocab_size": 96, "rope_theta": 500000.0, "tie_word_embeddings": true,
  "max_position_embeddings": 1024, "model_type": "llama", "torch_dtype": "bfloat16",
  "note": "caf\u00e9 \ud83d\ude00", "initializer_range": 0.02, "eos_token_id": 1
}`, files: map[string]string{"generation_config.json": `{"bos_token_id": 2, "eos_token_id": [1, 3]}`,
		"chat_template.jinja": "{{ messages }}"}}
}

// modelPhi3: hidden 96 (not a multiple of 64), fused projections, float32.
func modelPhi3() genModel {
	ts := []genTensor{f32("model.embed_tokens.weight", 64, 96), f32("model.norm.weight", 96), f32("lm_head.weight", 64, 96)}
	for l := 0; l < 2; l++ {
		p := "model.layers." + strconv.Itoa(l) + "."
		ts = append(ts, f32(p+"self_attn.qkv_proj.weight", 3*96, 96), f32(p+"self_attn.o_proj.weight", 96, 96),
			f32(p+"mlp.gate_up_proj.weight", 2*128, 96), f32(p+"mlp.down_proj.weight", 96, 128),
			f32(p+"input_layernorm.weight", 96), f32(p+"post_attention_layernorm.weight", 96))
	}
	return genModel{name: "phi3", tensors: ts, config: `{"model_type": "phi3", "hidden_size": 96, "intermediate_size": 128,
"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4, "rms_norm_eps": 1e-05, "vocab_size": 64,
"tie_word_embeddings": false, "torch_dtype": "float32", "rope_theta": 10000.0}`}
}

// modelMixtral: 2 layers of 4 experts (w1/w2/w3 per expert), sharded input.
func modelMixtral() genModel {
	ts := []genTensor{bf16("model.embed_tokens.weight", 64, 64), bf16("model.norm.weight", 64), bf16("lm_head.weight", 64, 64)}
	for l := 0; l < 2; l++ {
		p := "model.layers." + strconv.Itoa(l) + "."
		ts = append(ts, bf16(p+"self_attn.q_proj.weight", 64, 64), bf16(p+"self_attn.k_proj.weight", 32, 64),
			bf16(p+"self_attn.v_proj.weight", 32, 64), bf16(p+"self_attn.o_proj.weight", 64, 64),
			bf16(p+"block_sparse_moe.gate.weight", 4, 64),
			bf16(p+"input_layernorm.weight", 64), bf16(p+"post_attention_layernorm.weight", 64))
		for e := 0; e < 4; e++ {
			q := p + "block_sparse_moe.experts." + strconv.Itoa(e) + "."
			ts = append(ts, bf16(q+"w1.weight", 32, 64), bf16(q+"w2.weight", 64, 32), bf16(q+"w3.weight", 32, 64))
		}
	}
	return genModel{name: "mixtral", tensors: ts, shards: 2, config: `{"model_type": "mixtral", "hidden_size": 64,
"intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
"num_local_experts": 4, "num_experts_per_tok": 2, "rms_norm_eps": 1e-05, "vocab_size": 64, "torch_dtype": "bfloat16"}`}
}

// modelQwen3MoE: one MoE layer and one dense layer (mlp_only_layers), the
// 8-bit router override.
func modelQwen3MoE() genModel {
	ts := []genTensor{bf16("model.embed_tokens.weight", 64, 64), bf16("model.norm.weight", 64), bf16("lm_head.weight", 64, 64)}
	for l := 0; l < 2; l++ {
		p := "model.layers." + strconv.Itoa(l) + "."
		ts = append(ts, bf16(p+"self_attn.q_proj.weight", 64, 64), bf16(p+"self_attn.k_proj.weight", 32, 64),
			bf16(p+"self_attn.v_proj.weight", 32, 64), bf16(p+"self_attn.o_proj.weight", 64, 64),
			bf16(p+"self_attn.q_norm.weight", 16), bf16(p+"self_attn.k_norm.weight", 16),
			bf16(p+"input_layernorm.weight", 64), bf16(p+"post_attention_layernorm.weight", 64))
		if l == 1 {
			ts = append(ts, bf16(p+"mlp.gate_proj.weight", 128, 64), bf16(p+"mlp.up_proj.weight", 128, 64), bf16(p+"mlp.down_proj.weight", 64, 128))
			continue
		}
		ts = append(ts, bf16(p+"mlp.gate.weight", 4, 64))
		for e := 0; e < 4; e++ {
			q := p + "mlp.experts." + strconv.Itoa(e) + "."
			ts = append(ts, bf16(q+"gate_proj.weight", 32, 64), bf16(q+"up_proj.weight", 32, 64), bf16(q+"down_proj.weight", 64, 32))
		}
	}
	return genModel{name: "qwen3_moe", tensors: ts, config: `{"model_type": "qwen3_moe", "hidden_size": 64,
"intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
"num_experts": 4, "num_experts_per_tok": 2, "decoder_sparse_step": 1, "mlp_only_layers": [1],
"moe_intermediate_size": 32, "rms_norm_eps": 1e-06, "vocab_size": 64, "rope_theta": 1000000.0,
"tie_word_embeddings": false, "max_position_embeddings": 512, "norm_topk_prob": true, "torch_dtype": "bfloat16"}`}
}

// modelGemma3: the multimodal wrapper with a vision tower to drop, no
// lm_head (tied).
func modelGemma3() genModel {
	ts := []genTensor{bf16("language_model.model.embed_tokens.weight", 64, 64), bf16("language_model.model.norm.weight", 64),
		bf16("vision_tower.vision_model.embeddings.patch_embedding.weight", 8, 3, 4, 4),
		bf16("multi_modal_projector.mm_input_projection_weight", 8, 64)}
	for l := 0; l < 2; l++ {
		p := "language_model.model.layers." + strconv.Itoa(l) + "."
		ts = append(ts, bf16(p+"self_attn.q_proj.weight", 64, 64), bf16(p+"self_attn.k_proj.weight", 32, 64),
			bf16(p+"self_attn.v_proj.weight", 32, 64), bf16(p+"self_attn.o_proj.weight", 64, 64),
			bf16(p+"self_attn.q_norm.weight", 16), bf16(p+"self_attn.k_norm.weight", 16),
			bf16(p+"mlp.gate_proj.weight", 128, 64), bf16(p+"mlp.up_proj.weight", 128, 64), bf16(p+"mlp.down_proj.weight", 64, 128),
			bf16(p+"input_layernorm.weight", 64), bf16(p+"post_attention_layernorm.weight", 64),
			bf16(p+"pre_feedforward_layernorm.weight", 64), bf16(p+"post_feedforward_layernorm.weight", 64))
	}
	return genModel{name: "gemma3", tensors: ts, config: `{"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
"text_config": {"model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-06, "sliding_window": 32},
"vision_config": {"hidden_size": 8, "model_type": "siglip_vision_model"}, "vocab_size": 64, "torch_dtype": "bfloat16"}`}
}

// modelAWQ: a llama with AutoAWQ 4-bit layers (qweight/qzeros/scales),
// group size 32, float16 scales.
func modelAWQ() genModel {
	ts := []genTensor{{"model.embed_tokens.weight", mlx.F16, []int{64, 64}}, {"model.norm.weight", mlx.F16, []int{64}},
		{"lm_head.weight", mlx.F16, []int{64, 64}}}
	awq := func(p string, in, out int) []genTensor {
		return []genTensor{{p + ".qweight", mlx.I32, []int{in, out / 8}}, {p + ".qzeros", mlx.I32, []int{in / 32, out / 8}},
			{p + ".scales", mlx.F16, []int{in / 32, out}}}
	}
	for l := 0; l < 2; l++ {
		p := "model.layers." + strconv.Itoa(l) + "."
		ts = append(ts, awq(p+"self_attn.q_proj", 64, 64)...)
		ts = append(ts, awq(p+"self_attn.k_proj", 64, 32)...)
		ts = append(ts, awq(p+"self_attn.v_proj", 64, 32)...)
		ts = append(ts, awq(p+"self_attn.o_proj", 64, 64)...)
		ts = append(ts, awq(p+"mlp.gate_proj", 64, 128)...)
		ts = append(ts, awq(p+"mlp.up_proj", 64, 128)...)
		ts = append(ts, awq(p+"mlp.down_proj", 128, 64)...)
		ts = append(ts, genTensor{p + "input_layernorm.weight", mlx.F16, []int{64}}, genTensor{p + "post_attention_layernorm.weight", mlx.F16, []int{64}})
	}
	return genModel{name: "awq", tensors: ts, config: `{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-05, "vocab_size": 64,
"tie_word_embeddings": false, "torch_dtype": "float16",
"quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 32, "zero_point": true, "version": "gemm"}}`}
}

var testModels = map[string]func() genModel{
	"llama": modelLlama, "phi3": modelPhi3, "mixtral": modelMixtral, "qwen3_moe": modelQwen3MoE,
	"gemma3": modelGemma3, "awq": modelAWQ,
}

// inventoryOf builds an in-memory inventory of a generated model (no
// files), for plan tests.
func inventoryOf(t testing.TB, m genModel) *Inventory {
	t.Helper()
	cfg, err := parseObject([]byte(m.config))
	require.NoError(t, err)
	inv := &Inventory{Config: cfg, Files: []string{"model.safetensors"}}
	for _, gt := range m.tensors {
		inv.Tensors = append(inv.Tensors, SourceTensor{Name: gt.name, DType: gt.dtype, Shape: gt.shape})
	}
	if gc, ok := m.files["generation_config.json"]; ok {
		v, err := parseObject([]byte(gc))
		require.NoError(t, err)
		inv.GenerationConfig = v
	}
	return inv
}
