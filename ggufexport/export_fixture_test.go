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

	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/internal/testfamilies"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// Tiny deterministic checkpoints of every exported architecture (described
// by the go_export sections of testdata/families/*.json), in the
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
	added   []string // special tokens appended to the BPE tokenizer
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
			h := npfloat.F32ToF16(v)
			binary.LittleEndian.PutUint16(b[2*i:], h)
			vals[i] = npfloat.F16ToF32(h)
		case mlx.BF16:
			h := npfloat.F32ToBF16(v)
			binary.LittleEndian.PutUint16(b[2*i:], h)
			vals[i] = npfloat.BF16ToF32(h)
		}
	}
	return b, vals
}

func fxT(dt mlx.DType) func(string, ...int) fxTensor {
	return func(name string, shape ...int) fxTensor { return fxTensor{name, dt, shape} }
}

// fxDims are the dimensions of a fixture's decoder layers.
type fxDims struct{ hidden, heads, kv, headDim, inter, layers int }

// fxLlamaLayers appends the attention, norms and (unless mlp is false) the
// dense MLP of each layer, with the options' biases, q/k norms (per head, or
// over all heads: QKNormFull), norm names (Norms) and fused gate_up_proj.
func fxLlamaLayers(ts []fxTensor, prefix string, d fxDims, mk func(string, ...int) fxTensor, o testfamilies.Options, mlp bool, norms ...string) []fxTensor {
	bias, qkNorm := o.Bias, o.QKNorm
	if len(norms) == 0 {
		norms = o.Norms
	}
	for l := 0; l < d.layers; l++ {
		p := prefix + "layers." + strconv.Itoa(l) + "."
		ts = append(ts,
			mk(p+"self_attn.q_proj.weight", d.heads*d.headDim, d.hidden),
			mk(p+"self_attn.k_proj.weight", d.kv*d.headDim, d.hidden),
			mk(p+"self_attn.v_proj.weight", d.kv*d.headDim, d.hidden),
			mk(p+"self_attn.o_proj.weight", d.hidden, d.heads*d.headDim))
		if bias {
			ts = append(ts, mk(p+"self_attn.q_proj.bias", d.heads*d.headDim), mk(p+"self_attn.k_proj.bias", d.kv*d.headDim),
				mk(p+"self_attn.v_proj.bias", d.kv*d.headDim))
		}
		if qkNorm {
			ts = append(ts, mk(p+"self_attn.q_norm.weight", d.headDim), mk(p+"self_attn.k_norm.weight", d.headDim))
		}
		if o.QKNormFull {
			ts = append(ts, mk(p+"self_attn.q_norm.weight", d.heads*d.headDim), mk(p+"self_attn.k_norm.weight", d.kv*d.headDim))
		}
		if mlp && o.FusedMLP {
			ts = append(ts, mk(p+"mlp.gate_up_proj.weight", 2*d.inter, d.hidden), mk(p+"mlp.down_proj.weight", d.hidden, d.inter))
		} else if mlp {
			ts = append(ts, mk(p+"mlp.gate_proj.weight", d.inter, d.hidden), mk(p+"mlp.up_proj.weight", d.inter, d.hidden),
				mk(p+"mlp.down_proj.weight", d.hidden, d.inter))
		}
		if len(norms) == 0 {
			norms = []string{"input_layernorm", "post_attention_layernorm"}
		}
		for _, n := range norms {
			ts = append(ts, mk(p+n+".weight", d.hidden))
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

// fxModels returns every fixture model by architecture name: the go_export
// section of each testdata/families/*.json (config, layout, dtype,
// tokenizer kind, files, shards).
func fxModels() map[string]fxModel {
	fams, err := testfamilies.All()
	if err != nil {
		panic(err)
	}
	m := map[string]fxModel{}
	for _, name := range testfamilies.Names(fams) {
		s := fams[name].GoExport
		if s == nil {
			continue
		}
		fm, err := fxFromFamily(name, s)
		if err != nil {
			panic(fmt.Sprintf("testdata/families/%s.json: %v", name, err))
		}
		m[name] = fm
	}
	return m
}

// fxDTypes are the dtype names a family file may use.
var fxDTypes = map[string]mlx.DType{"bfloat16": mlx.BF16, "float16": mlx.F16, "float32": mlx.F32}

// fxFromFamily builds the tensors of a go_export section from its layout,
// options and config dimensions.
func fxFromFamily(name string, s *testfamilies.Section) (fxModel, error) {
	cfg, err := s.ConfigMap()
	if err != nil {
		return fxModel{}, err
	}
	dt, ok := fxDTypes[s.DType]
	if !ok {
		return fxModel{}, fmt.Errorf("dtype %q", s.DType)
	}
	mk := fxT(dt)
	o := s.Options
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
			panic(fmt.Sprintf("testdata/families/%s.json: go_export config has no %s", name, k))
		}
		return int(v)
	}
	d := fxDims{hidden: dim("hidden_size"), heads: dim("num_attention_heads"), kv: dim("num_key_value_heads"),
		inter: dim("intermediate_size"), layers: dim("num_hidden_layers")}
	d.headDim = d.hidden / d.heads
	if _, ok := text["head_dim"]; ok {
		d.headDim = dim("head_dim")
	}
	vocab := dim("vocab_size")
	normDT := dt
	if o.FinalNormDType != "" {
		normDT = fxDTypes[o.FinalNormDType]
	}
	ts := []fxTensor{mk(prefix+"embed_tokens.weight", vocab, d.hidden), fxT(normDT)(prefix+"norm.weight", d.hidden)}
	if o.LMHead {
		ts = append(ts, mk("lm_head.weight", vocab, d.hidden))
	}
	var norms []string
	if o.GemmaNorms {
		norms = []string{"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"}
	}
	layer := func(l int) string { return prefix + "layers." + strconv.Itoa(l) + "." }
	experts := func(p string, n, inter int) {
		for e := 0; e < n; e++ {
			q := p + "experts." + strconv.Itoa(e) + "."
			ts = append(ts, mk(q+"gate_proj.weight", inter, d.hidden), mk(q+"up_proj.weight", inter, d.hidden), mk(q+"down_proj.weight", d.hidden, inter))
		}
	}
	switch s.Layout {
	case "llama":
		ts = fxLlamaLayers(ts, prefix, d, mk, o, true, norms...)
	case "gemma3":
		vh := int(cfg["vision_config"].(map[string]any)["hidden_size"].(float64))
		ts = append(ts, mk("vision_tower.vision_model.embeddings.patch_embedding.weight", vh, 3, o.PatchSize, o.PatchSize),
			mk("multi_modal_projector.mm_input_projection_weight", vh, d.hidden))
		ts = fxLlamaLayers(ts, prefix, d, mk, o, true, norms...)
	case "phi3":
		for l := 0; l < d.layers; l++ {
			p := layer(l)
			ts = append(ts, mk(p+"self_attn.qkv_proj.weight", 3*d.hidden, d.hidden), mk(p+"self_attn.o_proj.weight", d.hidden, d.hidden),
				mk(p+"mlp.gate_up_proj.weight", 2*d.inter, d.hidden), mk(p+"mlp.down_proj.weight", d.hidden, d.inter),
				mk(p+"input_layernorm.weight", d.hidden), mk(p+"post_attention_layernorm.weight", d.hidden))
		}
	case "mixtral":
		ts = fxLlamaLayers(ts, prefix, d, mk, o, false, norms...)
		n := dim("num_local_experts")
		for l := 0; l < d.layers; l++ {
			p := layer(l) + "block_sparse_moe."
			ts = append(ts, mk(p+"gate.weight", n, d.hidden))
			for e := 0; e < n; e++ {
				q := p + "experts." + strconv.Itoa(e) + "."
				ts = append(ts, mk(q+"w1.weight", d.inter, d.hidden), mk(q+"w2.weight", d.hidden, d.inter), mk(q+"w3.weight", d.inter, d.hidden))
			}
		}
	case "qwen2_moe":
		ts = fxLlamaLayers(ts, prefix, d, mk, o, false, norms...)
		n, moe, shared := dim("num_experts"), dim("moe_intermediate_size"), dim("shared_expert_intermediate_size")
		for l := 0; l < d.layers; l++ {
			p := layer(l) + "mlp."
			ts = append(ts, mk(p+"gate.weight", n, d.hidden), mk(p+"shared_expert_gate.weight", 1, d.hidden),
				mk(p+"shared_expert.gate_proj.weight", shared, d.hidden), mk(p+"shared_expert.up_proj.weight", shared, d.hidden),
				mk(p+"shared_expert.down_proj.weight", d.hidden, shared))
			experts(p, n, moe)
		}
	default:
		gen, ok := fxLayouts[s.Layout]
		if !ok {
			return fxModel{}, fmt.Errorf("unknown layout %q", s.Layout)
		}
		ts = gen(fxGen{d: d, mk: mk, prefix: prefix, dim: dim, o: o, text: text, norms: norms}, ts)
	}
	for l := 0; o.OBias && l < d.layers; l++ {
		ts = append(ts, mk(layer(l)+"self_attn.o_proj.bias", d.hidden))
	}
	for l := 0; o.InvFreq && l < d.layers; l++ {
		ts = append(ts, fxT(mlx.F32)(layer(l)+"self_attn.rotary_emb.inv_freq", d.headDim/2))
	}
	return fxModel{arch: name, config: cfg, tensors: ts, spm: s.Tokenizer == "spm", files: s.Files, shards: s.Shards, added: s.AddedTokens}, nil
}

// fxGen is what a layout function of fxLayouts builds the layers from.
type fxGen struct {
	d      fxDims
	mk     func(string, ...int) fxTensor
	prefix string           // "model."
	dim    func(string) int // a config integer (panics when absent)
	o      testfamilies.Options
	text   map[string]any // the (text) config
	norms  []string       // the per-layer norms (nil: the options')
}

func (g fxGen) layer(l int) string { return g.prefix + "layers." + strconv.Itoa(l) + "." }

// fxMLP appends a dense gate/up/down MLP under p (ending in ".").
func (g fxGen) fxMLP(ts []fxTensor, p string, inter int) []fxTensor {
	return append(ts, g.mk(p+"gate_proj.weight", inter, g.d.hidden), g.mk(p+"up_proj.weight", inter, g.d.hidden),
		g.mk(p+"down_proj.weight", g.d.hidden, inter))
}

// fxLayouts are the layouts beyond the llama-like ones of fxFromFamily.
var fxLayouts = map[string]func(fxGen, []fxTensor) []fxTensor{
	"qwen3_moe":   fxQwen3MoE,
	"deepseek_v3": fxDeepseekV3,
	"granitemoe":  fxGraniteMoE,
}

// fxQwen3MoE is Qwen3-MoE's (and OLMoE's) layout: llama attention, a
// router and per-expert MLPs of moe_intermediate_size (OLMoE:
// intermediate_size) in every layer.
func fxQwen3MoE(g fxGen, ts []fxTensor) []fxTensor {
	ts = fxLlamaLayers(ts, g.prefix, g.d, g.mk, g.o, false, g.norms...)
	n, moe := g.dim("num_experts"), g.d.inter
	if _, ok := g.text["moe_intermediate_size"]; ok {
		moe = g.dim("moe_intermediate_size")
	}
	for l := 0; l < g.d.layers; l++ {
		p := g.layer(l) + "mlp."
		ts = append(ts, g.mk(p+"gate.weight", n, g.d.hidden))
		for e := 0; e < n; e++ {
			ts = g.fxMLP(ts, p+"experts."+strconv.Itoa(e)+".", moe)
		}
	}
	return ts
}

// fxDeepseekV3 is DeepSeek-V3's layout: multi-head latent attention
// (q_a/q_b with q_lora_rank, kv_a_proj_with_mqa, kv_b_proj), dense MLPs
// below first_k_dense_replace, then a router with its score correction
// bias, per-expert MLPs and shared experts.
func fxDeepseekV3(g fxGen, ts []fxTensor) []fxTensor {
	h, heads := g.d.hidden, g.d.heads
	qLora, kvLora, nope, rope, v := g.dim("q_lora_rank"), g.dim("kv_lora_rank"), g.dim("qk_nope_head_dim"), g.dim("qk_rope_head_dim"), g.dim("v_head_dim")
	n, moe, dense := g.dim("n_routed_experts"), g.dim("moe_intermediate_size"), g.dim("first_k_dense_replace")
	for l := 0; l < g.d.layers; l++ {
		p := g.layer(l)
		a := p + "self_attn."
		ts = append(ts, g.mk(p+"input_layernorm.weight", h), g.mk(p+"post_attention_layernorm.weight", h),
			g.mk(a+"q_a_proj.weight", qLora, h), g.mk(a+"q_a_layernorm.weight", qLora), g.mk(a+"q_b_proj.weight", heads*(nope+rope), qLora),
			g.mk(a+"kv_a_proj_with_mqa.weight", kvLora+rope, h), g.mk(a+"kv_a_layernorm.weight", kvLora),
			g.mk(a+"kv_b_proj.weight", heads*(nope+v), kvLora), g.mk(a+"o_proj.weight", h, heads*v))
		if l < dense {
			ts = g.fxMLP(ts, p+"mlp.", g.d.inter)
			continue
		}
		ts = append(ts, g.mk(p+"mlp.gate.weight", n, h), fxT(mlx.F32)(p+"mlp.gate.e_score_correction_bias", n))
		for e := 0; e < n; e++ {
			ts = g.fxMLP(ts, p+"mlp.experts."+strconv.Itoa(e)+".", moe)
		}
		ts = g.fxMLP(ts, p+"mlp.shared_experts.", moe*g.dim("n_shared_experts"))
	}
	return ts
}

// fxGraniteMoE is Granite MoE's layout: llama attention, the experts fused
// per layer (block_sparse_moe.input_linear [E, 2·I, H] holding gate and up,
// output_linear [E, H, I]) and the router block_sparse_moe.router.layer.
func fxGraniteMoE(g fxGen, ts []fxTensor) []fxTensor {
	ts = fxLlamaLayers(ts, g.prefix, g.d, g.mk, testfamilies.Options{}, false)
	n := g.dim("num_local_experts")
	for l := 0; l < g.d.layers; l++ {
		p := g.layer(l) + "block_sparse_moe."
		ts = append(ts, g.mk(p+"input_linear.weight", n, 2*g.d.inter, g.d.hidden), g.mk(p+"output_linear.weight", n, g.d.hidden, g.d.inter),
			g.mk(p+"router.layer.weight", n, g.d.hidden))
	}
	return ts
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
// merges, two special added tokens and then the extra ones.
func fxBPE(extra ...string) (string, string) {
	vocab := map[string]int{}
	for c := '!'; c <= '~'; c++ {
		vocab[string(c)] = len(vocab)
	}
	vocab["Ġ"] = len(vocab)
	merges := []string{"Ġ t", "h e", "Ġt he", "Ġ a"}
	for _, mg := range merges {
		vocab[string(slices.DeleteFunc([]rune(mg), func(r rune) bool { return r == ' ' }))] = len(vocab)
	}
	var added []map[string]any
	for i, c := range append([]string{"<|begin|>", "<|end|>"}, extra...) {
		added = append(added, map[string]any{"id": len(vocab) + i, "content": c, "special": true, "normalized": false,
			"single_word": false, "lstrip": false, "rstrip": false})
	}
	doc := map[string]any{
		"version":        "1.0",
		"added_tokens":   added,
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
		files["tokenizer.json"], files["tokenizer_config.json"] = fxBPE(m.added...)
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
