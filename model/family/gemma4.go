package family

import (
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Gemma4 is mlx-lm's gemma4, the text model of the multimodal checkpoint
// (gemma4_unified, the encoder-free variant, is a MODEL_REMAPPING alias):
// vision/audio towers, embedders and projector dropped, "model." stripped
// and "model.language_model." moved to "language_model.model.", then
// gemma4_text's sanitize under "language_model.".
var Gemma4 = &model.Family{
	Name:  "gemma4",
	Types: []string{"gemma4", "gemma4_unified"},
	MLX: model.MLX{
		Build: buildGemma4,
		Rules: append([]model.SanitizeRule{
			model.Drop(gemma4Towers()),
			model.Rename{From: "model.language_model.", To: "language_model.model.", Prefix: true},
			model.Rename{From: "model.", To: "", Prefix: true},
		}, gemma4TextRules...),
		Sanitize: func(_ *model.Tree, c model.Config, ts model.Tensors) error {
			t, err := gemma4TextConfig(c)
			if err != nil {
				return err
			}
			return sanitizeGemma4Text(t, ts)
		},
		Pred: model.RouterPred("router.proj"),
	},
}

// gemma4Towers matches the names Model.sanitize skips: after an optional
// "model.", a string prefix naming a tower.
func gemma4Towers() []model.Match {
	var ms []model.Match
	for _, t := range []string{"vision_tower", "multi_modal_projector", "audio_tower", "embed_audio", "embed_vision", "vision_embedder"} {
		ms = append(ms, model.Prefix("model."+t), model.Prefix(t))
	}
	return ms
}

// gemma4TextConfig returns the text_config as gemma4's ModelArgs rewrites
// it in place (the saved config.json shows it): vocab_size from the top
// level (default 262144), head counts defaulted to 8 and 1. An absent
// text_config is a fresh {} that is not saved.
func gemma4TextConfig(c model.Config) (model.Config, error) {
	tc := c.Object("text_config")
	if tc == nil {
		if c.Has("text_config") {
			return model.Config{}, c.Errf("text_config", "is not an object")
		}
		tc = pyjson.NewObject()
	}
	vocab, err := c.IntOr("vocab_size", 262144)
	if err != nil {
		return model.Config{}, err
	}
	tc.Set("vocab_size", pyjson.Int(int64(vocab)))
	if _, ok := tc.Get("num_attention_heads"); !ok {
		tc.Set("num_attention_heads", pyjson.Int(8))
	}
	if _, ok := tc.Get("num_key_value_heads"); !ok {
		tc.Set("num_key_value_heads", pyjson.Int(1))
	}
	return model.NewConfig(tc, "config.json text_config"), nil
}

func buildGemma4(c model.Config, _ model.Tensors) (*model.Tree, error) {
	t, err := gemma4TextConfig(c)
	if err != nil {
		return nil, err
	}
	return buildGemma4Text(t, "language_model.")
}
