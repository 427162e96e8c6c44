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
	d, err := phi3ParamDims(m)
	if err != nil {
		return err
	}
	return model.Steps(
		func() error { return m.ReqU32("context_length", "n_positions", "max_position_embeddings") },
		func() error { return m.U32("rope.scaling.original_context_length", d.orig) },
		func() error { return m.U32("embedding_length", d.nEmbd) },
		func() error { return m.ReqU32("feed_forward_length", "intermediate_size") },
		func() error { return m.U32("block_count", m.BlockCount) },
		func() error { return m.U32("attention.head_count", d.nHead) },
		func() error { return m.ReqU32("attention.head_count_kv", "num_key_value_heads", "n_head_kv") },
		func() error { return m.ReqF32("attention.layer_norm_rms_epsilon", "rms_norm_eps") },
		func() error { return m.U32("rope.dimension_count", d.ropeDims) },
		func() error { return phi3Theta(m) },
		func() error { return phi3SlidingWindow(m) },
	)
}

// phi3Dims are the sizes phi3Params and phi3RopeFactors derive.
type phi3Dims struct {
	nEmbd, nHead, orig, ropeDims int64
}

// phi3ParamDims reads the sizes phi3Params needs.
func phi3ParamDims(m *model.Meta) (phi3Dims, error) {
	var d phi3Dims
	var err error
	if d.nEmbd, err = m.H.ReqU32("hidden_size", "n_embd"); err != nil {
		return d, err
	}
	if d.nHead, err = m.H.ReqU32("num_attention_heads", "n_head"); err != nil {
		return d, err
	}
	if d.nHead <= 0 {
		return d, fmt.Errorf("%w: num_attention_heads is %d", model.ErrExport, d.nHead)
	}
	rp := m.Rope.Top()
	orig, ok, err := rp.U32("original_max_position_embeddings")
	if err != nil {
		return d, err
	}
	if !ok {
		return d, fmt.Errorf("%w: phi3 needs original_max_position_embeddings", model.ErrExport)
	}
	d.orig = orig
	d.ropeDims, err = phi3RopeDims(rp, d.nEmbd, d.nHead)
	return d, err
}

// phi3RopeDims is the rotary dimension count: partial_rotary_factor of
// the head size.
func phi3RopeDims(rp *model.Rope, nEmbd, nHead int64) (int64, error) {
	rot, err := rp.FloatOr("partial_rotary_factor", 1.0)
	if err != nil {
		return 0, err
	}
	return int64(math.Trunc(rot*float64(nEmbd))) / nHead, nil
}

// phi3Theta writes the required rope_theta and the file type.
func phi3Theta(m *model.Meta) error {
	theta, ok, err := m.Rope.Float("rope_theta")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: phi3 needs rope_theta", model.ErrExport)
	}
	m.F32("rope.freq_base", theta)
	m.Set("general.file_type", gguf.NewValue(uint32(m.FileType)))
	return nil
}

// phi3SlidingWindow writes sliding_window, 0 when absent.
func phi3SlidingWindow(m *model.Meta) error {
	sw, _, err := m.H.FindU32("sliding_window")
	if err != nil {
		return err
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
	d, scale, err := phi3FactorDims(h, rp)
	if err != nil {
		return nil, nil, err
	}
	attn, err := phi3AttnFactor(rp, scale, d.orig)
	if err != nil {
		return nil, nil, err
	}
	kvs := []gguf.KV{{Key: "phi3.rope.scaling.attn_factor", Value: gguf.NewValue(float32(attn))}}
	sf, err := rp.Floats("short_factor")
	if err != nil {
		return nil, nil, err
	}
	if sf == nil {
		return nil, nil, fmt.Errorf("%w: phi3 rope_scaling has no short_factor", model.ErrExport)
	}
	if len(lf) != len(sf) || float64(len(lf)) != float64(d.ropeDims)/2 {
		return nil, nil, fmt.Errorf("%w: phi3 rope factors: long %d, short %d, want %g", model.ErrExport, len(lf), len(sf), float64(d.ropeDims)/2)
	}
	return []model.ExtraTensor{{Name: "rope_factors_long.weight", Values: lf}, {Name: "rope_factors_short.weight", Values: sf}}, kvs, nil
}

// phi3FactorDims reads the sizes phi3RopeFactors needs, and the context
// scale: max_position_embeddings over the original.
func phi3FactorDims(h *model.HParams, rp *model.Rope) (d phi3Dims, scale float64, err error) {
	if d.nEmbd, err = h.ReqU32("hidden_size", "n_embd"); err != nil {
		return d, 0, err
	}
	if d.nHead, err = h.ReqU32("num_attention_heads", "n_head"); err != nil {
		return d, 0, err
	}
	if d.nHead <= 0 {
		return d, 0, fmt.Errorf("%w: phi3 needs num_attention_heads", model.ErrExport)
	}
	maxPos, err := h.ReqU32("n_positions", "max_position_embeddings")
	if err != nil {
		return d, 0, err
	}
	orig, ok, err := rp.U32("original_max_position_embeddings")
	if err != nil {
		return d, 0, err
	}
	if !ok || orig <= 0 {
		return d, 0, fmt.Errorf("%w: phi3 needs original_max_position_embeddings", model.ErrExport)
	}
	d.orig = orig
	d.ropeDims, err = phi3RopeDims(rp, d.nEmbd, d.nHead)
	return d, float64(maxPos) / float64(orig), err
}

// phi3AttnFactor is the attention factor of the rope scaling type.
func phi3AttnFactor(rp *model.Rope, scale float64, orig int64) (float64, error) {
	t, err := rp.RopeType()
	if err != nil {
		return 0, err
	}
	t = strings.ToLower(t)
	switch t {
	case "":
		return 0, fmt.Errorf("%w: phi3 rope_scaling has no type", model.ErrExport)
	case "su", "longrope":
		if scale > 1 {
			return math.Sqrt(1 + math.Log(scale)/math.Log(float64(orig))), nil
		}
		return 1, nil
	case "yarn":
		if scale > 1 {
			return float64(0.1*math.Log(scale)) + 1, nil // Python rounds the product: no FMA
		}
		return 1, nil
	default:
		return 0, fmt.Errorf("%w: phi3 rope scaling type %q is not supported", model.ErrExport, t)
	}
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
