package convert

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mlxconv/mlxconv/mlx"
)

// modelGptOssMXFP4 is a one-layer gpt_oss checkpoint as openai ships it:
// MXFP4 experts (*_blocks uint8 [E, out, in/32, 16], *_scales uint8
// [E, out, in/32]), gate_up interleaved, quant_method mxfp4.
func modelGptOssMXFP4() genModel {
	u8 := func(name string, shape ...int) genTensor { return genTensor{name, mlx.U8, shape} }
	p := "model.layers.0."
	return genModel{config: `{"model_type": "gpt_oss", "num_hidden_layers": 1, "num_local_experts": 2, "vocab_size": 32,
"hidden_size": 64, "intermediate_size": 32, "head_dim": 16, "num_attention_heads": 2, "num_key_value_heads": 1,
"layer_types": ["sliding_attention", "full_attention"], "torch_dtype": "bfloat16",
"quantization_config": {"quant_method": "mxfp4"}}`, tensors: []genTensor{
		bf16("model.embed_tokens.weight", 32, 64), bf16("model.norm.weight", 64), bf16("lm_head.weight", 32, 64),
		bf16(p+"self_attn.sinks", 2),
		bf16(p+"self_attn.q_proj.weight", 32, 64), bf16(p+"self_attn.q_proj.bias", 32),
		bf16(p+"self_attn.k_proj.weight", 16, 64), bf16(p+"self_attn.k_proj.bias", 16),
		bf16(p+"self_attn.v_proj.weight", 16, 64), bf16(p+"self_attn.v_proj.bias", 16),
		bf16(p+"self_attn.o_proj.weight", 64, 32), bf16(p+"self_attn.o_proj.bias", 64),
		u8(p+"mlp.experts.gate_up_proj_blocks", 2, 64, 2, 16), u8(p+"mlp.experts.gate_up_proj_scales", 2, 64, 2),
		bf16(p+"mlp.experts.gate_up_proj_bias", 2, 64),
		u8(p+"mlp.experts.down_proj_blocks", 2, 64, 1, 16), u8(p+"mlp.experts.down_proj_scales", 2, 64, 1),
		bf16(p+"mlp.experts.down_proj_bias", 2, 64),
		bf16(p+"mlp.router.weight", 2, 64), bf16(p+"mlp.router.bias", 2),
		bf16(p+"input_layernorm.weight", 64), bf16(p+"post_attention_layernorm.weight", 64),
	}}
}

// TestPlanGptOssMXFP4: the experts stay packed (blocks read as uint32,
// gate_up cut into its even and odd rows, one strided range per expert),
// the sinks are not counted in the parameters, -q quantizes the rest with
// the router at 8 bits.
func TestPlanGptOssMXFP4(t *testing.T) {
	p := mustPlan(t, modelGptOssMXFP4(), Options{})
	assert.Equal(t, strings.TrimPrefix(`
model.embed_tokens.weight BF16 [32,64] 1: copy
model.norm.weight BF16 [64] 1: copy
model.layers.0.self_attn.sinks BF16 [2] 1: copy
model.layers.0.self_attn.q_proj.weight BF16 [32,64] 1: copy
model.layers.0.self_attn.q_proj.bias BF16 [32] 1: copy
model.layers.0.self_attn.k_proj.weight BF16 [16,64] 1: copy
model.layers.0.self_attn.k_proj.bias BF16 [16] 1: copy
model.layers.0.self_attn.v_proj.weight BF16 [16,64] 1: copy
model.layers.0.self_attn.v_proj.bias BF16 [16] 1: copy
model.layers.0.self_attn.o_proj.weight BF16 [64,32] 1: copy
model.layers.0.self_attn.o_proj.bias BF16 [64] 1: copy
model.layers.0.mlp.experts.gate_proj.weight U32 [2,32,8] 1: copy, model.layers.0.mlp.experts.gate_up_proj_blocks[0::2] along the split axis
model.layers.0.mlp.experts.gate_proj.scales U8 [2,32,2] 1: copy, model.layers.0.mlp.experts.gate_up_proj_scales[0::2] along the split axis
model.layers.0.mlp.experts.gate_proj.bias BF16 [2,32] 1: copy, model.layers.0.mlp.experts.gate_up_proj_bias[0::2] along the split axis
model.layers.0.mlp.experts.up_proj.weight U32 [2,32,8] 1: copy, model.layers.0.mlp.experts.gate_up_proj_blocks[1::2] along the split axis
model.layers.0.mlp.experts.up_proj.scales U8 [2,32,2] 1: copy, model.layers.0.mlp.experts.gate_up_proj_scales[1::2] along the split axis
model.layers.0.mlp.experts.up_proj.bias BF16 [2,32] 1: copy, model.layers.0.mlp.experts.gate_up_proj_bias[1::2] along the split axis
model.layers.0.mlp.experts.down_proj.weight U32 [2,64,4] 1: copy, from model.layers.0.mlp.experts.down_proj_blocks
model.layers.0.mlp.experts.down_proj.scales U8 [2,64,1] 1: copy, from model.layers.0.mlp.experts.down_proj_scales
model.layers.0.mlp.experts.down_proj.bias BF16 [2,64] 1: copy, from model.layers.0.mlp.experts.down_proj_bias
model.layers.0.mlp.router.weight BF16 [2,64] 1: copy
model.layers.0.mlp.router.bias BF16 [2] 1: copy
model.layers.0.input_layernorm.weight BF16 [64] 1: copy
model.layers.0.post_attention_layernorm.weight BF16 [64] 1: copy
lm_head.weight BF16 [32,64] 1: copy
`, "\n"), planListing(p))
	var want int64 // mlx-lm's get_total_parameters: leaf modules only, a packed weight at its float size
	for _, tn := range modelGptOssMXFP4().tensors {
		switch {
		case strings.HasSuffix(tn.name, "sinks") || strings.HasSuffix(tn.name, "_scales"):
		case strings.HasSuffix(tn.name, "_blocks"):
			want += numElements(tn.shape) * 2 // two 4-bit values a byte
		default:
			want += numElements(tn.shape)
		}
	}
	assert.Equal(t, want, p.TotalParameters)

	q := planListing(mustPlan(t, modelGptOssMXFP4(), Options{Quantize: true}))
	for _, line := range []string{
		"model.layers.0.self_attn.sinks BF16 [2] 1: copy",
		"model.layers.0.mlp.experts.gate_proj.weight U32 [2,32,8] 1: copy, model.layers.0.mlp.experts.gate_up_proj_blocks[0::2] along the split axis [already quantized]",
		"model.layers.0.mlp.router.weight U32 [2,16] 1: quantize affine 8-bit g64 from BF16 [model override]",
	} {
		assert.Contains(t, q, line+"\n")
	}
}

// modelQwen35 is a one-layer (gated delta-net) Qwen3.5 VLM checkpoint as
// transformers 5 saves it, with a vision tower and an MTP block.
func modelQwen35() genModel {
	p := "model.language_model.layers.0."
	return genModel{config: `{"model_type": "qwen3_5", "torch_dtype": "bfloat16", "text_config": {"hidden_size": 64,
"intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
"linear_num_value_heads": 4, "linear_num_key_heads": 2, "linear_key_head_dim": 16, "linear_value_head_dim": 16,
"linear_conv_kernel_dim": 4, "full_attention_interval": 2, "vocab_size": 32,
"rope_parameters": {"rope_type": "default", "rope_theta": 10000, "partial_rotary_factor": 0.25}}}`, tensors: []genTensor{
		bf16("model.visual.patch_embed.proj.weight", 4, 4), bf16("mtp.fc.weight", 4, 4),
		bf16("model.language_model.embed_tokens.weight", 32, 64),
		bf16(p+"linear_attn.conv1d.weight", 128, 1, 4), bf16(p+"linear_attn.in_proj_qkv.weight", 128, 64),
		bf16(p+"linear_attn.in_proj_z.weight", 64, 64), bf16(p+"linear_attn.in_proj_b.weight", 4, 64),
		bf16(p+"linear_attn.in_proj_a.weight", 4, 64), bf16(p+"linear_attn.dt_bias", 4), bf16(p+"linear_attn.A_log", 4),
		bf16(p+"linear_attn.norm.weight", 16), bf16(p+"linear_attn.out_proj.weight", 64, 64),
		bf16(p+"mlp.gate_proj.weight", 64, 64), bf16(p+"mlp.up_proj.weight", 64, 64), bf16(p+"mlp.down_proj.weight", 64, 64),
		bf16(p+"input_layernorm.weight", 64), bf16(p+"post_attention_layernorm.weight", 64),
		bf16("model.language_model.norm.weight", 64), bf16("lm_head.weight", 32, 64),
	}}
}

// TestPlanQwen35: vision and MTP dropped, the text model nested under
// language_model, conv1d's kernel axis moved last, the (1 + w) norms
// shifted (not the gated norm), A_log kept out of the --dtype cast, and
// rope_parameters' rope_type renamed to type in the saved config.
func TestPlanQwen35(t *testing.T) {
	p := mustPlan(t, modelQwen35(), Options{DType: mlx.F16})
	got := planListing(p)
	for _, line := range []string{
		"language_model.model.embed_tokens.weight F16 [32,64] 1: cast BF16->F16, from model.language_model.embed_tokens.weight",
		"language_model.model.layers.0.linear_attn.conv1d.weight F16 [128,4,1] 1: cast BF16->F16, value",
		"language_model.model.layers.0.linear_attn.dt_bias F16 [4] 1: cast BF16->F16, from model.language_model.layers.0.linear_attn.dt_bias",
		"language_model.model.layers.0.linear_attn.A_log BF16 [4] 1: copy, from model.language_model.layers.0.linear_attn.A_log",
		"language_model.model.layers.0.linear_attn.norm.weight F16 [16] 1: cast BF16->F16, from model.language_model.layers.0.linear_attn.norm.weight",
		"language_model.model.layers.0.input_layernorm.weight F16 [64] 1: cast BF16->F16, value",
		"language_model.model.norm.weight F16 [64] 1: cast BF16->F16, value",
		"language_model.lm_head.weight F16 [32,64] 1: cast BF16->F16, from lm_head.weight",
	} {
		assert.Contains(t, got, line+"\n")
	}
	assert.NotContains(t, got, "visual")
	assert.NotContains(t, got, "mtp")
	assert.Contains(t, string(p.Config), `"rope_parameters": {
            "rope_theta": 10000,
            "partial_rotary_factor": 0.25,
            "type": "default"
        }`)
}
