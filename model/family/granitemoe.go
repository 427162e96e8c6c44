package family

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// GraniteMoE is mlx-lm's granitemoe: fused per-layer expert tensors
// (input_linear = gate|up, output_linear = down) split into a SwitchGLU,
// a top-k router (router.layer), 8-bit router, o_proj and lm_head.
var GraniteMoE = &model.Family{
	Name:  "granitemoe",
	Types: []string{"granitemoe"},
	MLX:   model.MLX{LegacyRope: true, Build: buildGraniteMoE, Sanitize: sanitizeGraniteMoE, Pred: granitePred},
	GGUF: &model.GGUF{
		Types: []string{"granitemoe"}, Arch: "granitemoe", Vocab: "granitemoe", SetVocab: llamaVocab, TokenizerClass: "LlamaTokenizerFast",
		PermuteQK: true, Params: graniteMoEParams,
		Layer: model.WithLayer(map[string]string{
			"block_sparse_moe.router.layer":         "ffn_gate_inp",
			"block_sparse_moe.switch_mlp.gate_proj": "ffn_gate_exps",
			"block_sparse_moe.switch_mlp.up_proj":   "ffn_up_exps",
			"block_sparse_moe.switch_mlp.down_proj": "ffn_down_exps",
		}),
		ExpertOrder: []string{"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"},
		Configs: map[string]*model.HFConfig{"granitemoe": {Defaults: map[string]any{"vocab_size": 32000, "max_position_embeddings": 2048,
			"hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
			"rope_scaling": nil, "embedding_multiplier": 1.0, "logits_scaling": 1.0, "residual_multiplier": 1.0, "attention_multiplier": 1.0,
			"num_local_experts": 8, "num_experts_per_tok": 2, "tie_word_embeddings": false, "attention_bias": false}, KVHeads: model.KVHeadsNullOrAbsent}},
	},
}

// graniteMoEParams is GraniteMoeModel.set_gguf_parameters: LlamaModel's
// (head_dim ignored), then the nonzero multipliers as scales and the
// shared expert size.
func graniteMoEParams(m *model.Meta) error {
	if m.H.Has("head_dim") {
		return fmt.Errorf("%w: granitemoe with head_dim is not supported (the converter drops it)", model.ErrExport)
	}
	if err := llamaParams(m); err != nil {
		return err
	}
	for _, s := range [][2]string{{"attention.scale", "attention_multiplier"}, {"embedding_scale", "embedding_multiplier"},
		{"residual_scale", "residual_multiplier"}, {"logit_scale", "logits_scaling"}} {
		f, ok, err := m.H.FindFloat(s[1])
		if err != nil {
			return err
		}
		if ok && f != 0 {
			m.F32(s[0], f)
		}
	}
	if n, ok, err := m.H.FindInt("shared_intermediate_size"); err != nil || (ok && n != 0) {
		if err != nil {
			return err
		}
		return m.U32("expert_shared_feed_forward_length", n)
	}
	return nil
}

var eightBit = model.RouterPred("")

// granitePred is granitemoe's quant_predicate.
func granitePred(path string) *pyjson.Object {
	for _, s := range []string{"block_sparse_moe.router.layer", "self_attn.o_proj", "mlp.down_proj"} {
		if strings.HasSuffix(path, s) {
			return eightBit(path)
		}
	}
	if path == "lm_head" {
		return eightBit(path)
	}
	return nil
}

func buildGraniteMoE(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeysRope(c, "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
		"rms_norm_eps", "vocab_size", "logits_scaling", "attention_multiplier", "embedding_multiplier", "residual_multiplier",
		"max_position_embeddings", "num_key_value_heads", "attention_bias", "rope_theta", "num_local_experts",
		"num_experts_per_tok"); err != nil {
		return nil, err
	}
	d, err := model.ReadDims(c)
	if err != nil {
		return nil, err
	}
	layers, err := model.LayerCount(c)
	if err != nil {
		return nil, err
	}
	var kv, experts int
	var bias, tie bool
	err = model.Steps(
		func() (err error) { kv, err = c.PosInt("num_key_value_heads"); return },
		func() (err error) { experts, err = c.ReqInt("num_local_experts"); return },
		func() (err error) { bias, err = c.BoolOr("attention_bias", false); return },
		func() (err error) { tie, err = c.BoolOr("tie_word_embeddings", true); return },
	)
	if err != nil {
		return nil, err
	}
	headDim := d.Hidden / d.Heads
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, bias, bias)
		b.SwitchGLU(p+".block_sparse_moe.switch_mlp", d.Hidden, d.Inter, experts)
		b.Linear(p+".block_sparse_moe.router.layer", d.Hidden, experts, false)
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
	}
	b.Norm("model.norm", d.Hidden)
	if !tie {
		b.Linear("lm_head", d.Hidden, d.Vocab, false)
	}
	return b.Tree(layers), nil
}

func sanitizeGraniteMoE(m *model.Tree, c model.Config, ts model.Tensors) error {
	if !ts.Has("model.layers.0.block_sparse_moe.input_linear.weight") {
		return nil
	}
	return model.ApplyRules(graniteRules, m, c, ts)
}

// graniteRules are granitemoe's sanitize once the checkpoint has fused
// experts.
var graniteRules = []model.SanitizeRule{
	model.Split{From: "input_linear", Into: []string{"switch_mlp.gate_proj", "switch_mlp.up_proj"}, Axis: 1},
	model.Rename{From: "output_linear", To: "switch_mlp.down_proj"},
	model.TiedHead{Default: true},
}
