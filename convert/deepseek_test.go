package convert

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mlxconv/mlxconv/mlx"
)

// deepseekModel is a two-layer kimi_k2 (deepseek_v3) checkpoint: layer 0
// dense, layer 1 with two routed experts and no shared ones, q_proj
// without LoRA, an FP8 block-scaled o_proj and kv_b_proj in layer 1, the
// MTP layer 2 and rotary buffers to drop, and a float32
// e_score_correction_bias.
func deepseekModel() genModel {
	f8 := func(name string, shape ...int) genTensor { return genTensor{name, mlx.F8E4M3, shape} }
	ts := []genTensor{bf16("model.embed_tokens.weight", 16, 32), bf16("model.norm.weight", 32), bf16("lm_head.weight", 16, 32)}
	for _, l := range []string{"0", "1", "2"} {
		p := "model.layers." + l + "."
		ts = append(ts, bf16(p+"self_attn.q_proj.weight", 2*48, 32), bf16(p+"self_attn.kv_a_proj_with_mqa.weight", 32+16, 32),
			bf16(p+"self_attn.kv_a_layernorm.weight", 32), f32(p+"self_attn.rotary_emb.inv_freq", 8),
			bf16(p+"input_layernorm.weight", 32), bf16(p+"post_attention_layernorm.weight", 32))
		if l == "1" {
			ts = append(ts, f8(p+"self_attn.o_proj.weight", 32, 2*16), f32(p+"self_attn.o_proj.weight_scale_inv", 1, 1),
				f8(p+"self_attn.kv_b_proj.weight", 2*(32+16), 32), f32(p+"self_attn.kv_b_proj.weight_scale_inv", 1, 1),
				bf16(p+"mlp.gate.weight", 2, 32), f32(p+"mlp.gate.e_score_correction_bias", 2))
			for _, e := range []string{"0", "1"} {
				ts = append(ts, bf16(p+"mlp.experts."+e+".gate_proj.weight", 8, 32), bf16(p+"mlp.experts."+e+".up_proj.weight", 8, 32),
					bf16(p+"mlp.experts."+e+".down_proj.weight", 32, 8))
			}
			continue
		}
		ts = append(ts, bf16(p+"self_attn.o_proj.weight", 32, 2*16), bf16(p+"self_attn.kv_b_proj.weight", 2*(32+16), 32),
			bf16(p+"mlp.gate_proj.weight", 64, 32), bf16(p+"mlp.up_proj.weight", 64, 32), bf16(p+"mlp.down_proj.weight", 32, 64))
	}
	return genModel{config: `{"model_type": "kimi_k2", "vocab_size": 16, "hidden_size": 32, "intermediate_size": 64,
"moe_intermediate_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "n_routed_experts": 2, "n_shared_experts": null,
"kv_lora_rank": 32, "q_lora_rank": null, "qk_rope_head_dim": 16, "v_head_dim": 16, "qk_nope_head_dim": 32,
"first_k_dense_replace": 1, "torch_dtype": "bfloat16"}`, tensors: ts}
}

// TestDeepseekV3Plan: the tree, order, sanitize and dtypes of deepseek_v3
// (as kimi_k2), plain and quantized (MultiLinear embed_q/unembed_out
// quantize along kv_lora_rank / qk_nope_head_dim like any module).
func TestDeepseekV3Plan(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{{"plain", Options{}, `
model.embed_tokens.weight BF16 [16,32] 1: copy
model.layers.0.self_attn.q_proj.weight BF16 [96,32] 1: copy
model.layers.0.self_attn.kv_a_proj_with_mqa.weight BF16 [48,32] 1: copy
model.layers.0.self_attn.kv_a_layernorm.weight BF16 [32] 1: copy
model.layers.0.self_attn.embed_q.weight BF16 [2,32,32] 1: copy, view
model.layers.0.self_attn.unembed_out.weight BF16 [2,16,32] 1: copy, view
model.layers.0.self_attn.o_proj.weight BF16 [32,32] 1: copy
model.layers.0.mlp.gate_proj.weight BF16 [64,32] 1: copy
model.layers.0.mlp.up_proj.weight BF16 [64,32] 1: copy
model.layers.0.mlp.down_proj.weight BF16 [32,64] 1: copy
model.layers.0.input_layernorm.weight BF16 [32] 1: copy
model.layers.0.post_attention_layernorm.weight BF16 [32] 1: copy
model.layers.1.self_attn.q_proj.weight BF16 [96,32] 1: copy
model.layers.1.self_attn.kv_a_proj_with_mqa.weight BF16 [48,32] 1: copy
model.layers.1.self_attn.kv_a_layernorm.weight BF16 [32] 1: copy
model.layers.1.self_attn.embed_q.weight BF16 [2,32,32] 1: copy, view, fp8 128x128-block dequant
model.layers.1.self_attn.unembed_out.weight BF16 [2,16,32] 1: copy, view, fp8 128x128-block dequant
model.layers.1.self_attn.o_proj.weight BF16 [32,32] 1: copy, fp8 128x128-block dequant
model.layers.1.mlp.switch_mlp.gate_proj.weight BF16 [2,8,32] 1: copy, stack 2 experts
model.layers.1.mlp.switch_mlp.up_proj.weight BF16 [2,8,32] 1: copy, stack 2 experts
model.layers.1.mlp.switch_mlp.down_proj.weight BF16 [2,32,8] 1: copy, stack 2 experts
model.layers.1.mlp.gate.weight BF16 [2,32] 1: copy
model.layers.1.mlp.gate.e_score_correction_bias F32 [2] 1: copy
model.layers.1.input_layernorm.weight BF16 [32] 1: copy
model.layers.1.post_attention_layernorm.weight BF16 [32] 1: copy
model.norm.weight BF16 [32] 1: copy
lm_head.weight BF16 [16,32] 1: copy
`}, {"q g32 float16", Options{Quantize: true, QGroupSize: 32, DType: mlx.F16}, `
model.embed_tokens.weight U32 [16,4] 1: quantize affine 4-bit g32 from BF16->F16
model.embed_tokens.scales F16 [16,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.embed_tokens.weight
model.embed_tokens.biases F16 [16,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.embed_tokens.weight
model.layers.0.self_attn.q_proj.weight U32 [96,4] 1: quantize affine 4-bit g32 from BF16->F16
model.layers.0.self_attn.q_proj.scales F16 [96,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.self_attn.q_proj.weight
model.layers.0.self_attn.q_proj.biases F16 [96,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.self_attn.q_proj.weight
model.layers.0.self_attn.kv_a_proj_with_mqa.weight U32 [48,4] 1: quantize affine 4-bit g32 from BF16->F16
model.layers.0.self_attn.kv_a_proj_with_mqa.scales F16 [48,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.self_attn.kv_a_proj_with_mqa.weight
model.layers.0.self_attn.kv_a_proj_with_mqa.biases F16 [48,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.self_attn.kv_a_proj_with_mqa.weight
model.layers.0.self_attn.kv_a_layernorm.weight F16 [32] 1: cast BF16->F16
model.layers.0.self_attn.embed_q.weight U32 [2,32,4] 1: quantize affine 4-bit g32 from BF16->F16, view
model.layers.0.self_attn.embed_q.scales F16 [2,32,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.self_attn.embed_q.weight, view
model.layers.0.self_attn.embed_q.biases F16 [2,32,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.self_attn.embed_q.weight, view
model.layers.0.self_attn.unembed_out.weight U32 [2,16,4] 1: quantize affine 4-bit g32 from BF16->F16, view
model.layers.0.self_attn.unembed_out.scales F16 [2,16,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.self_attn.unembed_out.weight, view
model.layers.0.self_attn.unembed_out.biases F16 [2,16,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.self_attn.unembed_out.weight, view
model.layers.0.self_attn.o_proj.weight U32 [32,4] 1: quantize affine 4-bit g32 from BF16->F16
model.layers.0.self_attn.o_proj.scales F16 [32,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.self_attn.o_proj.weight
model.layers.0.self_attn.o_proj.biases F16 [32,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.self_attn.o_proj.weight
model.layers.0.mlp.gate_proj.weight U32 [64,4] 1: quantize affine 4-bit g32 from BF16->F16
model.layers.0.mlp.gate_proj.scales F16 [64,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.mlp.gate_proj.weight
model.layers.0.mlp.gate_proj.biases F16 [64,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.mlp.gate_proj.weight
model.layers.0.mlp.up_proj.weight U32 [64,4] 1: quantize affine 4-bit g32 from BF16->F16
model.layers.0.mlp.up_proj.scales F16 [64,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.mlp.up_proj.weight
model.layers.0.mlp.up_proj.biases F16 [64,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.mlp.up_proj.weight
model.layers.0.mlp.down_proj.weight U32 [32,8] 1: quantize affine 4-bit g32 from BF16->F16
model.layers.0.mlp.down_proj.scales F16 [32,2] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.mlp.down_proj.weight
model.layers.0.mlp.down_proj.biases F16 [32,2] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.0.mlp.down_proj.weight
model.layers.0.input_layernorm.weight F16 [32] 1: cast BF16->F16
model.layers.0.post_attention_layernorm.weight F16 [32] 1: cast BF16->F16
model.layers.1.self_attn.q_proj.weight U32 [96,4] 1: quantize affine 4-bit g32 from BF16->F16
model.layers.1.self_attn.q_proj.scales F16 [96,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.self_attn.q_proj.weight
model.layers.1.self_attn.q_proj.biases F16 [96,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.self_attn.q_proj.weight
model.layers.1.self_attn.kv_a_proj_with_mqa.weight U32 [48,4] 1: quantize affine 4-bit g32 from BF16->F16
model.layers.1.self_attn.kv_a_proj_with_mqa.scales F16 [48,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.self_attn.kv_a_proj_with_mqa.weight
model.layers.1.self_attn.kv_a_proj_with_mqa.biases F16 [48,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.self_attn.kv_a_proj_with_mqa.weight
model.layers.1.self_attn.kv_a_layernorm.weight F16 [32] 1: cast BF16->F16
model.layers.1.self_attn.embed_q.weight U32 [2,32,4] 1: quantize affine 4-bit g32 from BF16->F16, view, fp8 128x128-block dequant
model.layers.1.self_attn.embed_q.scales F16 [2,32,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.self_attn.embed_q.weight, view, fp8 128x128-block dequant
model.layers.1.self_attn.embed_q.biases F16 [2,32,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.self_attn.embed_q.weight, view, fp8 128x128-block dequant
model.layers.1.self_attn.unembed_out.weight U32 [2,16,4] 1: quantize affine 4-bit g32 from BF16->F16, view, fp8 128x128-block dequant
model.layers.1.self_attn.unembed_out.scales F16 [2,16,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.self_attn.unembed_out.weight, view, fp8 128x128-block dequant
model.layers.1.self_attn.unembed_out.biases F16 [2,16,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.self_attn.unembed_out.weight, view, fp8 128x128-block dequant
model.layers.1.self_attn.o_proj.weight U32 [32,4] 1: quantize affine 4-bit g32 from BF16->F16, fp8 128x128-block dequant
model.layers.1.self_attn.o_proj.scales F16 [32,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.self_attn.o_proj.weight, fp8 128x128-block dequant
model.layers.1.self_attn.o_proj.biases F16 [32,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.self_attn.o_proj.weight, fp8 128x128-block dequant
model.layers.1.mlp.switch_mlp.gate_proj.weight U32 [2,8,4] 1: quantize affine 4-bit g32 from BF16->F16, stack 2 experts
model.layers.1.mlp.switch_mlp.gate_proj.scales F16 [2,8,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.mlp.switch_mlp.gate_proj.weight, stack 2 experts
model.layers.1.mlp.switch_mlp.gate_proj.biases F16 [2,8,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.mlp.switch_mlp.gate_proj.weight, stack 2 experts
model.layers.1.mlp.switch_mlp.up_proj.weight U32 [2,8,4] 1: quantize affine 4-bit g32 from BF16->F16, stack 2 experts
model.layers.1.mlp.switch_mlp.up_proj.scales F16 [2,8,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.mlp.switch_mlp.up_proj.weight, stack 2 experts
model.layers.1.mlp.switch_mlp.up_proj.biases F16 [2,8,1] 1: quantize affine 4-bit g32 from BF16->F16 of model.layers.1.mlp.switch_mlp.up_proj.weight, stack 2 experts
model.layers.1.mlp.switch_mlp.down_proj.weight F16 [2,32,8] 1: cast BF16->F16, stack 2 experts [last dimension 8 is not a multiple of 32]
model.layers.1.mlp.gate.weight F16 [2,32] 1: cast BF16->F16
model.layers.1.mlp.gate.e_score_correction_bias F32 [2] 1: copy
model.layers.1.input_layernorm.weight F16 [32] 1: cast BF16->F16
model.layers.1.post_attention_layernorm.weight F16 [32] 1: cast BF16->F16
model.norm.weight F16 [32] 1: cast BF16->F16
lm_head.weight U32 [16,4] 1: quantize affine 4-bit g32 from BF16->F16
lm_head.scales F16 [16,1] 1: quantize affine 4-bit g32 from BF16->F16 of lm_head.weight
lm_head.biases F16 [16,1] 1: quantize affine 4-bit g32 from BF16->F16 of lm_head.weight
`}}
	for _, tc := range cases {
		p := mustPlan(t, deepseekModel(), tc.opts)
		assert.Equal(t, strings.TrimPrefix(tc.want, "\n"), planListing(p), tc.name)
	}
}
