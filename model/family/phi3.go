package family

import (
	"fmt"
	"math"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// Phi3 is mlx-lm's phi3: fused qkv_proj and gate_up_proj, no sanitize.
var Phi3 = &model.Family{
	Name:  "phi3",
	Types: []string{"phi3"},
	MLX: (&model.Dense{
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size"},
		HeadDim:  model.HeadDimFromHidden, Fused: true, Norms: model.TwoNorms,
	}).MLX(),
	GGUF: &model.GGUF{
		Types: []string{"phi3"}, Arch: "phi3", Vocab: "phi3", SetVocab: phi3Vocab,
		Layer:  model.WithLayer(map[string]string{"self_attn.qkv_proj": "attn_qkv", "mlp.gate_up_proj": "ffn_up"}),
		Params: phi3Params, Extra: phi3RopeFactors,
		Configs: map[string]*model.HFConfig{"phi3": {Defaults: map[string]any{"max_position_embeddings": 4096, "original_max_position_embeddings": 4096,
			"rope_theta": 10000.0, "rms_norm_eps": 1e-5, "rope_scaling": nil, "partial_rotary_factor": 1.0, "sliding_window": nil},
			KVHeads: model.KVHeadsNullOrAbsent}},
	},
}

func phi3Params(m *model.Meta) error {
	nEmbd, err := m.H.ReqU32("hidden_size", "n_embd")
	if err != nil {
		return err
	}
	nHead, err := m.H.ReqU32("num_attention_heads", "n_head")
	if err != nil {
		return err
	}
	if nHead <= 0 {
		return fmt.Errorf("%w: num_attention_heads is %d", model.ErrExport, nHead)
	}
	rp := m.Rope.Top()
	orig, ok, err := rp.U32("original_max_position_embeddings")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: phi3 needs original_max_position_embeddings", model.ErrExport)
	}
	rot, err := rp.FloatOr("partial_rotary_factor", 1.0)
	if err != nil {
		return err
	}
	ropeDims := int64(math.Trunc(rot*float64(nEmbd))) / nHead
	if err := m.ReqU32("context_length", "n_positions", "max_position_embeddings"); err != nil {
		return err
	}
	if err := m.U32("rope.scaling.original_context_length", orig); err != nil {
		return err
	}
	if err := m.U32("embedding_length", nEmbd); err != nil {
		return err
	}
	if err := m.ReqU32("feed_forward_length", "intermediate_size"); err != nil {
		return err
	}
	if err := m.U32("block_count", m.BlockCount); err != nil {
		return err
	}
	if err := m.U32("attention.head_count", nHead); err != nil {
		return err
	}
	if err := m.ReqU32("attention.head_count_kv", "num_key_value_heads", "n_head_kv"); err != nil {
		return err
	}
	if err := m.ReqF32("attention.layer_norm_rms_epsilon", "rms_norm_eps"); err != nil {
		return err
	}
	if err := m.U32("rope.dimension_count", ropeDims); err != nil {
		return err
	}
	theta, ok, err := m.Rope.Float("rope_theta")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: phi3 needs rope_theta", model.ErrExport)
	}
	m.F32("rope.freq_base", theta)
	m.Set("general.file_type", gguf.Uint32(uint32(m.FileType)))
	sw := int64(0)
	if n, ok, err := m.H.FindU32("sliding_window"); err != nil {
		return err
	} else if ok {
		sw = n
	}
	return m.U32("attention.sliding_window", sw)
}

// phi3RopeFactors is Phi3MiniModel.generate_extra_tensors.
func phi3RopeFactors(h *model.HParams, rope *model.Rope) ([]model.ExtraTensor, []gguf.KV, error) {
	rp := rope.Top()
	lf, err := rp.Floats("long_factor")
	if err != nil || len(lf) == 0 {
		return nil, nil, err
	}
	nEmbd, err := h.ReqU32("hidden_size", "n_embd")
	if err != nil {
		return nil, nil, err
	}
	nHead, err := h.ReqU32("num_attention_heads", "n_head")
	if err != nil {
		return nil, nil, err
	}
	if nHead <= 0 {
		return nil, nil, fmt.Errorf("%w: phi3 needs num_attention_heads", model.ErrExport)
	}
	maxPos, err := h.ReqU32("n_positions", "max_position_embeddings")
	if err != nil {
		return nil, nil, err
	}
	orig, ok, err := rp.U32("original_max_position_embeddings")
	if err != nil {
		return nil, nil, err
	}
	if !ok || orig <= 0 {
		return nil, nil, fmt.Errorf("%w: phi3 needs original_max_position_embeddings", model.ErrExport)
	}
	rot, err := rp.FloatOr("partial_rotary_factor", 1.0)
	if err != nil {
		return nil, nil, err
	}
	ropeDims := int64(math.Trunc(rot*float64(nEmbd))) / nHead
	scale := float64(maxPos) / float64(orig)
	t, err := rp.RopeType()
	if err != nil {
		return nil, nil, err
	}
	t = strings.ToLower(t)
	var attn float64
	switch t {
	case "":
		return nil, nil, fmt.Errorf("%w: phi3 rope_scaling has no type", model.ErrExport)
	case "su", "longrope":
		attn = 1
		if scale > 1 {
			attn = math.Sqrt(1 + math.Log(scale)/math.Log(float64(orig)))
		}
	case "yarn":
		attn = 1
		if scale > 1 {
			attn = float64(0.1*math.Log(scale)) + 1 // Python rounds the product: no FMA
		}
	default:
		return nil, nil, fmt.Errorf("%w: phi3 rope scaling type %q is not supported", model.ErrExport, t)
	}
	kvs := []gguf.KV{{Key: "phi3.rope.scaling.attn_factor", Value: gguf.Float32(float32(attn))}}
	sf, err := rp.Floats("short_factor")
	if err != nil {
		return nil, nil, err
	}
	if sf == nil {
		return nil, nil, fmt.Errorf("%w: phi3 rope_scaling has no short_factor", model.ErrExport)
	}
	if len(lf) != len(sf) || float64(len(lf)) != float64(ropeDims)/2 {
		return nil, nil, fmt.Errorf("%w: phi3 rope factors: long %d, short %d, want %g", model.ErrExport, len(lf), len(sf), float64(ropeDims)/2)
	}
	return []model.ExtraTensor{{Name: "rope_factors_long.weight", Values: lf}, {Name: "rope_factors_short.weight", Values: sf}}, kvs, nil
}

// phi3Vocab is Phi3MiniModel.set_vocab.
func phi3Vocab(l model.VocabLoader) error {
	tc, err := l.TokenizerConfig()
	if err != nil {
		return err
	}
	if tc != nil {
		cls, ok := tc["tokenizer_class"]
		if !ok {
			return l.Errorf("tokenizer_config.json has no tokenizer_class (Phi-3 rules need it)")
		}
		if cls == "GPT2Tokenizer" {
			return l.BPE()
		}
	}
	return l.SPM(true)
}
