package family

import "github.com/mlxconv/mlxconv/model"

// SmolLM3 is mlx-lm's smollm3: llama's model and sanitize, with rotary
// embeddings switched off in some layers (no parameters of their own).
var SmolLM3 = &model.Family{
	Name:  "smollm3",
	Types: []string{"smollm3"},
	MLX:   smolLM3Dense().MLX(),
	// llama.cpp's SmolLM3Model: LlamaModel under its own architecture.
	GGUF: &model.GGUF{
		Types: []string{"smollm3"}, Arch: "smollm3", Vocab: "smollm3", SetVocab: llamaVocab, TokenizerClass: "LlamaTokenizerFast",
		PermuteQK: true, Layer: model.CommonLayer, Params: llamaParams, Extra: llamaExtra,
		Configs: map[string]*model.HFConfig{"smollm3": {Defaults: map[string]any{"vocab_size": 128256, "max_position_embeddings": 32768,
			"hidden_size": 2048, "intermediate_size": 11008, "num_attention_heads": 16, "num_key_value_heads": 4, "rms_norm_eps": 1e-6,
			"rope_theta": 2000000.0, "rope_scaling": nil, "tie_word_embeddings": true}, KVHeads: model.KVHeadsNullOrAbsent, SlidingWindowFlag: true}},
	},
}

func smolLM3Dense() *model.Dense {
	d := llamaDense
	d.Check = checkNoRopeLayers
	d.LegacyRope = true
	return &d
}

// checkNoRopeLayers is smollm3's ModelArgs.__post_init__: no_rope_layers
// has one entry a layer; when absent, no_rope_layer_interval (default 4)
// derives it, and must not be 0.
func checkNoRopeLayers(c model.Config) error {
	layers, err := model.LayerCount(c)
	if err != nil {
		return err
	}
	n, ok, err := c.ListLen("no_rope_layers")
	if err != nil {
		return err
	}
	if ok {
		if n != layers {
			return c.Errf("no_rope_layers", "has %d entries for %d layers", n, layers)
		}
		return nil
	}
	interval, err := c.IntOr("no_rope_layer_interval", 4)
	if err == nil && interval == 0 && layers > 0 {
		err = c.Errf("no_rope_layer_interval", "is 0")
	}
	return err
}
