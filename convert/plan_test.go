package convert

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
)

// planListing renders a plan as one line per output tensor.
func planListing(p *mlxPlan) string {
	var b strings.Builder
	for i, t := range p.Tensors {
		fmt.Fprintf(&b, "%s %s %s %d: %s\n", t.Name, t.DType.SafetensorsName(), shapeString(t.Shape), t.Shard+1, p.Describe(i))
	}
	return b.String()
}

func mustPlan(t *testing.T, m genModel, o Options) *mlxPlan {
	t.Helper()
	p, err := makePlan(inventoryOf(t, m), o)
	require.NoError(t, err)
	return p
}

// tiny one-layer models of every architecture, HF names and shapes.
func tinyDense(modelType, cfgExtra string, mk func(string, ...int) genTensor, names []string, extra ...genTensor) genModel {
	var ts []genTensor
	for _, n := range names {
		shape := map[string][]int{
			"embed": {32, 32}, "q": {32, 32}, "k": {16, 32}, "v": {16, 32}, "o": {32, 32},
			"gate": {64, 32}, "up": {64, 32}, "down": {32, 64}, "norm": {32}, "head": {32, 32},
			"qn": {8}, "kn": {8}, "qb": {32}, "kb": {16}, "vb": {16}, "inv": {4},
		}
		name := map[string]string{
			"embed": "model.embed_tokens.weight", "q": "model.layers.0.self_attn.q_proj.weight",
			"k": "model.layers.0.self_attn.k_proj.weight", "v": "model.layers.0.self_attn.v_proj.weight",
			"o": "model.layers.0.self_attn.o_proj.weight", "gate": "model.layers.0.mlp.gate_proj.weight",
			"up": "model.layers.0.mlp.up_proj.weight", "down": "model.layers.0.mlp.down_proj.weight",
			"head": "lm_head.weight", "qn": "model.layers.0.self_attn.q_norm.weight", "kn": "model.layers.0.self_attn.k_norm.weight",
			"qb": "model.layers.0.self_attn.q_proj.bias", "kb": "model.layers.0.self_attn.k_proj.bias",
			"vb": "model.layers.0.self_attn.v_proj.bias", "inv": "model.layers.0.self_attn.rotary_emb.inv_freq",
		}
		kind, suffix, _ := strings.Cut(n, ":")
		nm := name[kind]
		if suffix != "" {
			nm = suffix
		}
		ts = append(ts, mk(nm, shape[kind]...))
	}
	ts = append(ts, extra...)
	return genModel{tensors: ts, config: `{"model_type": "` + modelType + `", "hidden_size": 32, "intermediate_size": 64,
"num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "vocab_size": 32` + cfgExtra + `}`}
}

var denseNames = []string{"embed", "q", "k", "v", "o", "gate", "up", "down",
	"norm:model.layers.0.input_layernorm.weight", "norm:model.layers.0.post_attention_layernorm.weight", "norm:model.norm.weight"}

func TestPlanArchitectures(t *testing.T) {
	cases := []struct {
		name  string
		model genModel
		opts  Options
		want  string
	}{
		{"llama tied, inv_freq dropped, cast", tinyDense("llama", `, "torch_dtype": "bfloat16"`, f32, append(denseNames, "inv", "head")), Options{}, `
model.embed_tokens.weight BF16 [32,32] 1: cast F32->BF16
model.layers.0.self_attn.q_proj.weight BF16 [32,32] 1: cast F32->BF16
model.layers.0.self_attn.k_proj.weight BF16 [16,32] 1: cast F32->BF16
model.layers.0.self_attn.v_proj.weight BF16 [16,32] 1: cast F32->BF16
model.layers.0.self_attn.o_proj.weight BF16 [32,32] 1: cast F32->BF16
model.layers.0.mlp.gate_proj.weight BF16 [64,32] 1: cast F32->BF16
model.layers.0.mlp.down_proj.weight BF16 [32,64] 1: cast F32->BF16
model.layers.0.mlp.up_proj.weight BF16 [64,32] 1: cast F32->BF16
model.layers.0.input_layernorm.weight BF16 [32] 1: cast F32->BF16
model.layers.0.post_attention_layernorm.weight BF16 [32] 1: cast F32->BF16
model.norm.weight BF16 [32] 1: cast F32->BF16
`},
		{"mistral untied, quantized g32", tinyDense("mistral", `, "tie_word_embeddings": false, "head_dim": 8`, bf16, append(denseNames, "head")),
			Options{Quantize: true, QGroupSize: 32}, `
model.embed_tokens.weight U32 [32,4] 1: quantize affine 4-bit g32 from BF16
model.embed_tokens.scales BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of model.embed_tokens.weight
model.embed_tokens.biases BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of model.embed_tokens.weight
model.layers.0.self_attn.q_proj.weight U32 [32,4] 1: quantize affine 4-bit g32 from BF16
model.layers.0.self_attn.q_proj.scales BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.q_proj.weight
model.layers.0.self_attn.q_proj.biases BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.q_proj.weight
model.layers.0.self_attn.k_proj.weight U32 [16,4] 1: quantize affine 4-bit g32 from BF16
model.layers.0.self_attn.k_proj.scales BF16 [16,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.k_proj.weight
model.layers.0.self_attn.k_proj.biases BF16 [16,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.k_proj.weight
model.layers.0.self_attn.v_proj.weight U32 [16,4] 1: quantize affine 4-bit g32 from BF16
model.layers.0.self_attn.v_proj.scales BF16 [16,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.v_proj.weight
model.layers.0.self_attn.v_proj.biases BF16 [16,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.v_proj.weight
model.layers.0.self_attn.o_proj.weight U32 [32,4] 1: quantize affine 4-bit g32 from BF16
model.layers.0.self_attn.o_proj.scales BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.o_proj.weight
model.layers.0.self_attn.o_proj.biases BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.o_proj.weight
model.layers.0.mlp.gate_proj.weight U32 [64,4] 1: quantize affine 4-bit g32 from BF16
model.layers.0.mlp.gate_proj.scales BF16 [64,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.mlp.gate_proj.weight
model.layers.0.mlp.gate_proj.biases BF16 [64,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.mlp.gate_proj.weight
model.layers.0.mlp.down_proj.weight U32 [32,8] 1: quantize affine 4-bit g32 from BF16
model.layers.0.mlp.down_proj.scales BF16 [32,2] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.mlp.down_proj.weight
model.layers.0.mlp.down_proj.biases BF16 [32,2] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.mlp.down_proj.weight
model.layers.0.mlp.up_proj.weight U32 [64,4] 1: quantize affine 4-bit g32 from BF16
model.layers.0.mlp.up_proj.scales BF16 [64,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.mlp.up_proj.weight
model.layers.0.mlp.up_proj.biases BF16 [64,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.mlp.up_proj.weight
model.layers.0.input_layernorm.weight BF16 [32] 1: copy
model.layers.0.post_attention_layernorm.weight BF16 [32] 1: copy
model.norm.weight BF16 [32] 1: copy
lm_head.weight U32 [32,4] 1: quantize affine 4-bit g32 from BF16
lm_head.scales BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of lm_head.weight
lm_head.biases BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of lm_head.weight
`},
		{"qwen2 biases, tied lm_head dropped", tinyDense("qwen2", "", bf16, append(denseNames, "qb", "kb", "vb", "inv", "head")), Options{}, `
model.embed_tokens.weight BF16 [32,32] 1: copy
model.layers.0.self_attn.q_proj.weight BF16 [32,32] 1: copy
model.layers.0.self_attn.q_proj.bias BF16 [32] 1: copy
model.layers.0.self_attn.k_proj.weight BF16 [16,32] 1: copy
model.layers.0.self_attn.k_proj.bias BF16 [16] 1: copy
model.layers.0.self_attn.v_proj.weight BF16 [16,32] 1: copy
model.layers.0.self_attn.v_proj.bias BF16 [16] 1: copy
model.layers.0.self_attn.o_proj.weight BF16 [32,32] 1: copy
model.layers.0.mlp.gate_proj.weight BF16 [64,32] 1: copy
model.layers.0.mlp.down_proj.weight BF16 [32,64] 1: copy
model.layers.0.mlp.up_proj.weight BF16 [64,32] 1: copy
model.layers.0.input_layernorm.weight BF16 [32] 1: copy
model.layers.0.post_attention_layernorm.weight BF16 [32] 1: copy
model.norm.weight BF16 [32] 1: copy
`},
		{"qwen3 q/k norms, untied, float16", tinyDense("qwen3", `, "head_dim": 8, "tie_word_embeddings": false, "max_position_embeddings": 64, "rope_theta": 1e6`,
			bf16, append(denseNames, "qn", "kn", "head")), Options{DType: mlx.F16}, `
model.embed_tokens.weight F16 [32,32] 1: cast BF16->F16
model.layers.0.self_attn.q_proj.weight F16 [32,32] 1: cast BF16->F16
model.layers.0.self_attn.k_proj.weight F16 [16,32] 1: cast BF16->F16
model.layers.0.self_attn.v_proj.weight F16 [16,32] 1: cast BF16->F16
model.layers.0.self_attn.o_proj.weight F16 [32,32] 1: cast BF16->F16
model.layers.0.self_attn.q_norm.weight F16 [8] 1: cast BF16->F16
model.layers.0.self_attn.k_norm.weight F16 [8] 1: cast BF16->F16
model.layers.0.mlp.gate_proj.weight F16 [64,32] 1: cast BF16->F16
model.layers.0.mlp.down_proj.weight F16 [32,64] 1: cast BF16->F16
model.layers.0.mlp.up_proj.weight F16 [64,32] 1: cast BF16->F16
model.layers.0.input_layernorm.weight F16 [32] 1: cast BF16->F16
model.layers.0.post_attention_layernorm.weight F16 [32] 1: cast BF16->F16
model.norm.weight F16 [32] 1: cast BF16->F16
lm_head.weight F16 [32,32] 1: cast BF16->F16
`},
		{"gemma2 norms", tinyDense("gemma2", `, "head_dim": 8`, bf16, append(denseNames,
			"norm:model.layers.0.pre_feedforward_layernorm.weight", "norm:model.layers.0.post_feedforward_layernorm.weight")), Options{}, `
model.embed_tokens.weight BF16 [32,32] 1: copy
model.layers.0.self_attn.q_proj.weight BF16 [32,32] 1: copy
model.layers.0.self_attn.k_proj.weight BF16 [16,32] 1: copy
model.layers.0.self_attn.v_proj.weight BF16 [16,32] 1: copy
model.layers.0.self_attn.o_proj.weight BF16 [32,32] 1: copy
model.layers.0.mlp.gate_proj.weight BF16 [64,32] 1: copy
model.layers.0.mlp.down_proj.weight BF16 [32,64] 1: copy
model.layers.0.mlp.up_proj.weight BF16 [64,32] 1: copy
model.layers.0.input_layernorm.weight BF16 [32] 1: copy
model.layers.0.pre_feedforward_layernorm.weight BF16 [32] 1: copy
model.layers.0.post_feedforward_layernorm.weight BF16 [32] 1: copy
model.layers.0.post_attention_layernorm.weight BF16 [32] 1: copy
model.norm.weight BF16 [32] 1: copy
`},
		{"gemma3_text without lm_head (tied)", tinyDense("gemma3_text", `, "head_dim": 8`, bf16, append(denseNames, "qn", "kn",
			"norm:model.layers.0.pre_feedforward_layernorm.weight", "norm:model.layers.0.post_feedforward_layernorm.weight")),
			Options{Quantize: true, QGroupSize: 32, Rules: mustRules(t, `layers\.0\.mlp=8/32`, `embed=skip`, `norm=float32`)}, `
model.embed_tokens.weight BF16 [32,32] 1: copy [rule embed=skip]
model.layers.0.self_attn.q_proj.weight U32 [32,4] 1: quantize affine 4-bit g32 from BF16
model.layers.0.self_attn.q_proj.scales BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.q_proj.weight
model.layers.0.self_attn.q_proj.biases BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.q_proj.weight
model.layers.0.self_attn.k_proj.weight U32 [16,4] 1: quantize affine 4-bit g32 from BF16
model.layers.0.self_attn.k_proj.scales BF16 [16,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.k_proj.weight
model.layers.0.self_attn.k_proj.biases BF16 [16,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.k_proj.weight
model.layers.0.self_attn.v_proj.weight U32 [16,4] 1: quantize affine 4-bit g32 from BF16
model.layers.0.self_attn.v_proj.scales BF16 [16,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.v_proj.weight
model.layers.0.self_attn.v_proj.biases BF16 [16,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.v_proj.weight
model.layers.0.self_attn.o_proj.weight U32 [32,4] 1: quantize affine 4-bit g32 from BF16
model.layers.0.self_attn.o_proj.scales BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.o_proj.weight
model.layers.0.self_attn.o_proj.biases BF16 [32,1] 1: quantize affine 4-bit g32 from BF16 of model.layers.0.self_attn.o_proj.weight
model.layers.0.self_attn.q_norm.weight F32 [8] 1: cast BF16->F32 [rule norm=float32]
model.layers.0.self_attn.k_norm.weight F32 [8] 1: cast BF16->F32 [rule norm=float32]
model.layers.0.mlp.gate_proj.weight U32 [64,8] 1: quantize affine 8-bit g32 from BF16 [rule layers\.0\.mlp=8/32]
model.layers.0.mlp.gate_proj.scales BF16 [64,1] 1: quantize affine 8-bit g32 from BF16 of model.layers.0.mlp.gate_proj.weight [rule layers\.0\.mlp=8/32]
model.layers.0.mlp.gate_proj.biases BF16 [64,1] 1: quantize affine 8-bit g32 from BF16 of model.layers.0.mlp.gate_proj.weight [rule layers\.0\.mlp=8/32]
model.layers.0.mlp.down_proj.weight U32 [32,16] 1: quantize affine 8-bit g32 from BF16 [rule layers\.0\.mlp=8/32]
model.layers.0.mlp.down_proj.scales BF16 [32,2] 1: quantize affine 8-bit g32 from BF16 of model.layers.0.mlp.down_proj.weight [rule layers\.0\.mlp=8/32]
model.layers.0.mlp.down_proj.biases BF16 [32,2] 1: quantize affine 8-bit g32 from BF16 of model.layers.0.mlp.down_proj.weight [rule layers\.0\.mlp=8/32]
model.layers.0.mlp.up_proj.weight U32 [64,8] 1: quantize affine 8-bit g32 from BF16 [rule layers\.0\.mlp=8/32]
model.layers.0.mlp.up_proj.scales BF16 [64,1] 1: quantize affine 8-bit g32 from BF16 of model.layers.0.mlp.up_proj.weight [rule layers\.0\.mlp=8/32]
model.layers.0.mlp.up_proj.biases BF16 [64,1] 1: quantize affine 8-bit g32 from BF16 of model.layers.0.mlp.up_proj.weight [rule layers\.0\.mlp=8/32]
model.layers.0.input_layernorm.weight F32 [32] 1: cast BF16->F32 [rule norm=float32]
model.layers.0.post_attention_layernorm.weight F32 [32] 1: cast BF16->F32 [rule norm=float32]
model.layers.0.pre_feedforward_layernorm.weight F32 [32] 1: cast BF16->F32 [rule norm=float32]
model.layers.0.post_feedforward_layernorm.weight F32 [32] 1: cast BF16->F32 [rule norm=float32]
model.norm.weight F32 [32] 1: cast BF16->F32 [rule norm=float32]
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustPlan(t, c.model, c.opts)
			assert.Equal(t, strings.TrimPrefix(c.want, "\n"), planListing(p))
		})
	}
}

func mustRules(t testing.TB, specs ...string) []Rule {
	t.Helper()
	var out []Rule
	for _, s := range specs {
		r, err := ParseRule(s)
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

type dumpCase struct {
	name string
	m    genModel
	o    Options
}

// moeModel builds one-layer MoE checkpoints.
func moeModel(modelType, cfgExtra string, experts int, router, expert string, projs [3]string, extra ...genTensor) genModel {
	m := tinyDense(modelType, cfgExtra, bf16, denseNames[:5], extra...)
	m.tensors = append(m.tensors, bf16("model.layers.0."+router, experts, 32),
		bf16("model.layers.0.input_layernorm.weight", 32), bf16("model.layers.0.post_attention_layernorm.weight", 32),
		bf16("model.norm.weight", 32), bf16("lm_head.weight", 32, 32))
	for e := 0; e < experts; e++ {
		p := "model.layers.0." + expert + "." + strconv.Itoa(e) + "."
		m.tensors = append(m.tensors, bf16(p+projs[0]+".weight", 16, 32), bf16(p+projs[1]+".weight", 32, 16), bf16(p+projs[2]+".weight", 16, 32))
	}
	return m
}

// TestPlanListings compares whole plans with the reviewed listings in
// testdata/plans (one file per case, named after it).
func TestPlanListings(t *testing.T) {
	for _, c := range dumpCases(t) {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join("testdata", "plans", strings.ReplaceAll(c.name, " ", "_")+".txt")
			p, err := makePlan(inventoryOf(t, c.m), c.o)
			require.NoError(t, err)
			got := planListing(p)
			if os.Getenv("MLXCONV_UPDATE_PLANS") != "" {
				require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
			}
			want, err := os.ReadFile(file)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}

func dumpCases(t testing.TB) []dumpCase {
	return []dumpCase{
		{"gemma f16", tinyDense("gemma", `, "head_dim": 8, "torch_dtype": "float16"`, func(n string, s ...int) genTensor { return genTensor{n, mlx.F16, s} }, denseNames), Options{Quantize: true, QMode: mlx.MXFP4}},
		{"mixtral", moeModel("mixtral", `, "num_local_experts": 2, "intermediate_size": 16`, 2, "block_sparse_moe.gate.weight", "block_sparse_moe.experts", [3]string{"w1", "w2", "w3"}), Options{Quantize: true, QGroupSize: 32}},
		{"qwen2_moe", moeModel("qwen2_moe", `, "num_experts": 2, "num_experts_per_tok": 1, "moe_intermediate_size": 16, "shared_expert_intermediate_size": 64`, 2, "mlp.gate.weight", "mlp.experts",
			[3]string{"gate_proj", "down_proj", "up_proj"}, bf16("model.layers.0.self_attn.q_proj.bias", 32), bf16("model.layers.0.self_attn.k_proj.bias", 16), bf16("model.layers.0.self_attn.v_proj.bias", 16),
			bf16("model.layers.0.mlp.shared_expert.gate_proj.weight", 64, 32), bf16("model.layers.0.mlp.shared_expert.up_proj.weight", 64, 32),
			bf16("model.layers.0.mlp.shared_expert.down_proj.weight", 32, 64), bf16("model.layers.0.mlp.shared_expert_gate.weight", 1, 32)), Options{}},
		{"qwen3_moe", moeModel("qwen3_moe", `, "num_experts": 2, "num_experts_per_tok": 1, "moe_intermediate_size": 16, "head_dim": 8, "decoder_sparse_step": 1, "mlp_only_layers": [], "rope_theta": 1e6, "tie_word_embeddings": false, "max_position_embeddings": 64, "norm_topk_prob": true`, 2, "mlp.gate.weight", "mlp.experts",
			[3]string{"gate_proj", "down_proj", "up_proj"}, bf16("model.layers.0.self_attn.q_norm.weight", 8), bf16("model.layers.0.self_attn.k_norm.weight", 8)), Options{Quantize: true, QGroupSize: 32, Rules: mustRules(t, "mlp.gate$=4/32")}},
		{"gemma3", modelGemma3(), Options{Quantize: true, QuantPredicate: "mixed_3_4"}},
		{"phi3 hidden 96", modelPhi3(), Options{Quantize: true}},
		{"generic starcoder2", genericModel(), Options{Quantize: true, QGroupSize: 32}},
		{"awq", modelAWQ(), Options{}},
		{"awq -d", modelAWQ(), Options{Dequantize: true, DType: mlx.BF16}},
	}
}

// genericModel is a starcoder2-like checkpoint (LayerNorms with biases,
// Linear biases) converted by the generic architecture.
func genericModel() genModel {
	ts := []genTensor{bf16("model.embed_tokens.weight", 32, 32), bf16("model.norm.weight", 32), bf16("model.norm.bias", 32)}
	for l := 0; l < 2; l++ {
		p := "model.layers." + strconv.Itoa(l) + "."
		ts = append(ts, bf16(p+"self_attn.q_proj.weight", 32, 32), bf16(p+"self_attn.q_proj.bias", 32),
			bf16(p+"mlp.c_fc.weight", 64, 32), bf16(p+"mlp.c_fc.bias", 64), bf16(p+"mlp.c_proj.weight", 32, 64),
			bf16(p+"input_layernorm.weight", 32), bf16(p+"input_layernorm.bias", 32))
	}
	return genModel{tensors: ts, config: `{"model_type": "starcoder2", "hidden_size": 32, "num_hidden_layers": 2}`}
}
