package family

import (
	"fmt"
	"math"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// Llama is mlx-lm's llama, with MODEL_REMAPPING's mistral, iquestcoder and
// xverse.
var Llama = &model.Family{
	Name:  "llama",
	Types: []string{"llama", "mistral", "iquestcoder", "xverse"},
	MLX:   llamaMLX(),
	GGUF: &model.GGUF{
		Types: []string{"llama", "mistral"}, Arch: "llama", Vocab: "llama", SetVocab: llamaVocab, TokenizerClass: "LlamaTokenizerFast", PermuteQK: true, Layer: model.CommonLayer,
		Params: llamaParams, Extra: llamaExtra,
		Configs: map[string]*model.HFConfig{
			"llama": {Defaults: map[string]any{"max_position_embeddings": 2048, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "rope_scaling": nil},
				KVHeads: model.KVHeadsNullOrAbsent, HeadDimFromHidden: true},
			"mistral": {Defaults: map[string]any{"max_position_embeddings": 131072, "num_key_value_heads": 8, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "head_dim": nil, "sliding_window": 4096},
				KVHeads: model.KVHeadsNull},
		},
	},
}

// llamaDense is mlx-lm's llama.Model, which smollm3 and mistral3 build too.
var llamaDense = model.Dense{
	Required:   []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size"},
	LayerTypes: true, HeadDim: model.HeadDimOptional, HeadDimFirst: true,
	AttnBias: "attention_bias", MlpBias: "mlp_bias", TieDefault: true,
	Norms: model.TwoNorms, Rules: []model.SanitizeRule{dropInvFreq, model.TiedHead{Default: true}},
}

// llamaMLX is llamaDense with LegacyRope: mlx-lm's llama reads only
// rope_theta and rope_scaling (llama_t5.json proves the rewrite). smollm3
// and mistral3 share llamaDense without it.
func llamaMLX() model.MLX {
	d := llamaDense
	d.LegacyRope = true
	return d.MLX()
}

// dropInvFreq drops the precomputed rotary frequencies some checkpoints
// carry (llama's and qwen2's sanitize).
var dropInvFreq = model.Drop{model.Contains("self_attn.rotary_emb.inv_freq")}

func llamaParams(m *model.Meta) error {
	if err := model.TextParams(m); err != nil {
		return err
	}
	if err := m.ReqU32("vocab_size", "vocab_size"); err != nil {
		return err
	}
	dim, err := model.RopeDim(m.H)
	if err != nil {
		return err
	}
	return m.U32("rope.dimension_count", dim)
}

// llamaExtra is LlamaModel.generate_extra_tensors: rope_freqs for llama3
// rope scaling.
func llamaExtra(h *model.HParams, rope *model.Rope) ([]model.ExtraTensor, []gguf.KV, error) {
	t, err := rope.RopeType()
	if err != nil {
		return nil, nil, err
	}
	if strings.ToLower(t) != "llama3" {
		return nil, nil, nil
	}
	f, err := llama3RopeFreqs(h, rope, 8.0)
	if err != nil {
		return nil, nil, err
	}
	return []model.ExtraTensor{{Name: "rope_freqs.weight", Values: f}}, nil, nil
}

// llama3RopeFreqs computes LlamaModel's rope_freqs with torch float32
// arithmetic (x/y on a tensor by a Python number is a float32 operation;
// number/tensor is tensor.reciprocal() * number). defFactor is the factor
// of a rope_scaling without one (8 for LlamaModel, 16 for Exaone4Model).
func llama3RopeFreqs(h *model.HParams, rope *model.Rope, defFactor float64) ([]float32, error) {
	var vals [5]float64
	for i, k := range []struct {
		key string
		def float64
	}{{"rope_theta", 10000.0}, {"factor", defFactor}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}} {
		f, err := rope.FloatOr(k.key, k.def)
		if err != nil {
			return nil, err
		}
		vals[i] = f
	}
	base, factor, low, high, old := vals[0], vals[1], vals[2], vals[3], vals[4]
	dim, err := model.RopeDim(h)
	if err != nil {
		return nil, err
	}
	if dim <= 0 || dim > 1<<20 {
		return nil, fmt.Errorf("%w: rope dimension %d", model.ErrExport, dim)
	}
	lowWavelen := old / low
	highWavelen := old / high
	twoPi := float32(2 * math.Pi)
	out := make([]float32, 0, (dim+1)/2)
	for i := int64(0); i < dim; i += 2 {
		x := float32(i) / float32(dim)
		p := float32(math.Pow(float64(float32(base)), float64(x)))
		freq := 1 / p
		wavelen := (1 / freq) * twoPi
		switch {
		case wavelen < float32(highWavelen):
			out = append(out, 1)
		case wavelen > float32(lowWavelen):
			out = append(out, float32(factor))
		default:
			// The product is rounded before the subtraction, as torch's
			// separate ops do (float32() keeps arm64 from fusing them).
			smooth := (float32((1/wavelen)*float32(old)) - float32(low)) / float32(high-low)
			d := (1-smooth)/float32(factor) + smooth
			out = append(out, 1/d)
		}
	}
	return out, nil
}

// llamaVocab is LlamaModel.set_vocab.
func llamaVocab(l model.VocabLoader) error {
	tc, err := l.TokenizerConfig()
	if err != nil {
		return err
	}
	if v, ok := tc["add_prefix_space"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return l.Errorf("tokenizer_config.json add_prefix_space is not a bool")
		}
		l.SetAddSpacePrefix(b)
	}
	if cls, _ := tc["tokenizer_class"].(string); cls == "HybridDNATokenizer" {
		return l.Errorf("HybridDNATokenizer is not supported")
	}
	switch {
	case l.HasSPM():
		err = l.SPM(false)
	case l.IsLlamaHF():
		err = l.LlamaHF()
	default:
		err = l.BPE()
	}
	if err != nil {
		return err
	}
	vs := l.HParamInt("vocab_size", 32000)
	if vs == 32016 { // CodeLlama
		if err := l.ExtraSpecials([]string{"prefix", "suffix", "middle", "eot"},
			map[string]int64{"prefix": 32007, "suffix": 32008, "middle": 32009, "eot": 32010}, true); err != nil {
			return err
		}
	}
	if vs == 49152 { // granite small models
		l.SetAddBOS(false)
	}
	return nil
}
