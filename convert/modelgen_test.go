package convert

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/testfamilies"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
	"github.com/mlxconv/mlxconv/model/source"
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

// The test models are the go_convert sections of testdata/families/*.json
// (config.json byte for byte, files, shards, layout); famModel builds the
// tensors from the layout, its options and the config's dimensions.

// modelLlama: tied embeddings, 4 layers (so the recipes differ per
// layer), bf16 torch_dtype over f32 storage, inv_freq buffers, an eos list
// in generation_config.json, a non-ASCII config string.
func modelLlama() genModel { return famModel("llama") }

// modelPhi3: hidden 96 (not a multiple of 64), fused projections, float32.
func modelPhi3() genModel { return famModel("phi3") }

// modelMixtral: 2 layers of 4 experts (w1/w2/w3 per expert), sharded input.
func modelMixtral() genModel { return famModel("mixtral") }

// modelQwen3MoE: one MoE layer and one dense layer (mlp_only_layers), the
// 8-bit router override.
func modelQwen3MoE() genModel { return famModel("qwen3_moe") }

// modelGemma3: the multimodal wrapper with a vision tower to drop, no
// lm_head (tied).
func modelGemma3() genModel { return famModel("gemma3") }

// modelAWQ: a llama with AutoAWQ 4-bit layers (qweight/qzeros/scales),
// group size 32, float16 scales (testdata/families/llama_awq.json).
func modelAWQ() genModel { return famModel("llama_awq") }

var testModels = map[string]func() genModel{
	"llama": modelLlama, "phi3": modelPhi3, "mixtral": modelMixtral, "qwen3_moe": modelQwen3MoE,
	"gemma3": modelGemma3, "awq": modelAWQ,
}

var famDTypes = map[string]mlx.DType{"bfloat16": mlx.BF16, "float16": mlx.F16, "float32": mlx.F32}

// famModel builds the go_convert model of testdata/families/family.json.
func famModel(family string) genModel {
	f, err := testfamilies.Load(family)
	if err == nil && f.GoConvert == nil {
		err = fmt.Errorf("no go_convert section")
	}
	if err != nil {
		panic(fmt.Sprintf("testdata/families/%s.json: %v", family, err))
	}
	s := f.GoConvert
	cfg, err := s.ConfigMap()
	if err != nil {
		panic(fmt.Sprintf("testdata/families/%s.json: go_convert config: %v", family, err))
	}
	text, prefix := cfg, "model."
	if s.Layout == "gemma3" {
		text, prefix = cfg["text_config"].(map[string]any), "language_model.model."
	}
	dim := func(k string) int {
		v, ok := text[k].(float64)
		if !ok {
			v, ok = cfg[k].(float64)
		}
		if !ok {
			panic(fmt.Sprintf("testdata/families/%s.json: go_convert config has no %s", family, k))
		}
		return int(v)
	}
	dt := famDTypes[s.DType]
	mk := func(name string, shape ...int) genTensor { return genTensor{name, dt, shape} }
	o := s.Options
	hidden, inter, layers, vocab := dim("hidden_size"), dim("intermediate_size"), dim("num_hidden_layers"), dim("vocab_size")
	heads, kv := dim("num_attention_heads"), dim("num_key_value_heads")
	headDim := hidden / heads
	if _, ok := text["head_dim"]; ok {
		headDim = dim("head_dim")
	}
	ts := []genTensor{mk(prefix+"embed_tokens.weight", vocab, hidden), mk(prefix+"norm.weight", hidden)}
	if o.LMHead {
		ts = append(ts, mk("lm_head.weight", vocab, hidden))
	}
	layer := func(l int) string { return prefix + "layers." + strconv.Itoa(l) + "." }
	attn := func(p string) {
		ts = append(ts, mk(p+"self_attn.q_proj.weight", heads*headDim, hidden), mk(p+"self_attn.k_proj.weight", kv*headDim, hidden),
			mk(p+"self_attn.v_proj.weight", kv*headDim, hidden), mk(p+"self_attn.o_proj.weight", hidden, heads*headDim))
	}
	mlp := func(p string, inter int) {
		ts = append(ts, mk(p+"gate_proj.weight", inter, hidden), mk(p+"up_proj.weight", inter, hidden), mk(p+"down_proj.weight", hidden, inter))
	}
	norms := func(p string) {
		ts = append(ts, mk(p+"input_layernorm.weight", hidden), mk(p+"post_attention_layernorm.weight", hidden))
	}
	switch s.Layout {
	case "llama":
		ts = llamaLayers(ts, prefix, layers, hidden, inter, heads, kv, headDim, mk, o.InvFreq)
	case "phi3":
		for l := 0; l < layers; l++ {
			p := layer(l)
			ts = append(ts, mk(p+"self_attn.qkv_proj.weight", 3*hidden, hidden), mk(p+"self_attn.o_proj.weight", hidden, hidden),
				mk(p+"mlp.gate_up_proj.weight", 2*inter, hidden), mk(p+"mlp.down_proj.weight", hidden, inter))
			norms(p)
		}
	case "mixtral":
		n := dim("num_local_experts")
		for l := 0; l < layers; l++ {
			p := layer(l)
			attn(p)
			ts = append(ts, mk(p+"block_sparse_moe.gate.weight", n, hidden))
			norms(p)
			for e := 0; e < n; e++ {
				q := p + "block_sparse_moe.experts." + strconv.Itoa(e) + "."
				ts = append(ts, mk(q+"w1.weight", inter, hidden), mk(q+"w2.weight", hidden, inter), mk(q+"w3.weight", inter, hidden))
			}
		}
	case "qwen3_moe":
		n, moe := dim("num_experts"), dim("moe_intermediate_size")
		var dense []int
		for _, v := range cfg["mlp_only_layers"].([]any) {
			dense = append(dense, int(v.(float64)))
		}
		for l := 0; l < layers; l++ {
			p := layer(l)
			attn(p)
			ts = append(ts, mk(p+"self_attn.q_norm.weight", headDim), mk(p+"self_attn.k_norm.weight", headDim))
			norms(p)
			if slices.Contains(dense, l) {
				mlp(p+"mlp.", inter)
				continue
			}
			ts = append(ts, mk(p+"mlp.gate.weight", n, hidden))
			for e := 0; e < n; e++ {
				mlp(p+"mlp.experts."+strconv.Itoa(e)+".", moe)
			}
		}
	case "gemma3":
		vh := int(cfg["vision_config"].(map[string]any)["hidden_size"].(float64))
		ts = append(ts, mk("vision_tower.vision_model.embeddings.patch_embedding.weight", vh, 3, o.PatchSize, o.PatchSize),
			mk("multi_modal_projector.mm_input_projection_weight", vh, hidden))
		for l := 0; l < layers; l++ {
			p := layer(l)
			attn(p)
			ts = append(ts, mk(p+"self_attn.q_norm.weight", headDim), mk(p+"self_attn.k_norm.weight", headDim))
			mlp(p+"mlp.", inter)
			norms(p)
			ts = append(ts, mk(p+"pre_feedforward_layernorm.weight", hidden), mk(p+"post_feedforward_layernorm.weight", hidden))
		}
	case "awq":
		// AutoAWQ GEMM layers: qweight int32 [in, out/8], qzeros int32
		// [in/group, out/8], scales [in/group, out].
		group := int(cfg["quantization_config"].(map[string]any)["group_size"].(float64))
		awq := func(p string, in, out int) {
			ts = append(ts, genTensor{p + ".qweight", mlx.I32, []int{in, out / 8}}, genTensor{p + ".qzeros", mlx.I32, []int{in / group, out / 8}},
				mk(p+".scales", in/group, out))
		}
		for l := 0; l < layers; l++ {
			p := layer(l)
			awq(p+"self_attn.q_proj", hidden, heads*headDim)
			awq(p+"self_attn.k_proj", hidden, kv*headDim)
			awq(p+"self_attn.v_proj", hidden, kv*headDim)
			awq(p+"self_attn.o_proj", heads*headDim, hidden)
			awq(p+"mlp.gate_proj", hidden, inter)
			awq(p+"mlp.up_proj", hidden, inter)
			awq(p+"mlp.down_proj", inter, hidden)
			norms(p)
		}
	default:
		panic(fmt.Sprintf("testdata/families/%s.json: unknown go_convert layout %q", family, s.Layout))
	}
	name := s.Name
	if name == "" {
		name = family
	}
	return genModel{name: name, tensors: ts, config: string(s.Config), files: s.Files, shards: s.Shards}
}

// inventoryOf builds an in-memory inventory of a generated model (no
// files), for plan tests.
func inventoryOf(t testing.TB, m genModel) *source.Inventory {
	t.Helper()
	cfg, err := parseObject([]byte(m.config))
	require.NoError(t, err)
	inv := &source.Inventory{Config: cfg, Files: []string{"model.safetensors"}}
	for _, gt := range m.tensors {
		inv.Tensors = append(inv.Tensors, source.SourceTensor{Name: gt.name, DType: gt.dtype, Shape: gt.shape})
	}
	if gc, ok := m.files["generation_config.json"]; ok {
		v, err := parseObject([]byte(gc))
		require.NoError(t, err)
		inv.GenerationConfig = v
	}
	return inv
}

// putFloat writes element i of a float dtype.
func putFloat(b []byte, i int, dt mlx.DType, v float32) {
	switch dt {
	case mlx.F16:
		binary.LittleEndian.PutUint16(b[2*i:], mlx.F32ToF16(v))
	case mlx.BF16:
		binary.LittleEndian.PutUint16(b[2*i:], mlx.F32ToBF16(v))
	case mlx.F32:
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	case mlx.F64:
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(float64(v)))
	}
}
