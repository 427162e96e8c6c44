package family

import (
	"fmt"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Mistral3 is mlx-lm's mistral3, the VLM wrapper: the text model of
// text_config (ministral3, else llama) under "language_model.", the
// vision tower and projector dropped.
var Mistral3 = &model.Family{
	Name:  "mistral3",
	Types: []string{"mistral3"},
	MLX: model.MLX{ConfigEdit: mistral3Rope, Build: buildMistral3, Sanitize: sanitizeMistral3, Rules: []model.SanitizeRule{
		model.Drop{model.Contains("vision_tower"), model.Contains("multi_modal_projector")},
		model.Rename{From: "model.language_model.", To: "model.", Prefix: true},
		model.Rename{From: "language_model.", Prefix: true},
	}},
	// llama.cpp's Mistral3Model: the text model as Ministral3Model, a
	// LlamaModel (Q/K permuted, llama3 rope_freqs) named mistral3, with the
	// yarn log multiplier and attention temperature of a ministral3 text
	// model; the vision tower is not exported.
	GGUF: mistral3GGUF("mistral3"),
}

// mistral3GGUF is Mistral3Model's rules for the model types (the
// Ministral3ForCausalLM text model, ministral3, too).
func mistral3GGUF(types ...string) *model.GGUF {
	return &model.GGUF{
		Types: types, Arch: "mistral3", Vocab: "mistral3", SetVocab: llamaVocab, TokenizerClass: "LlamaTokenizerFast",
		PermuteQK: true, Layer: model.CommonLayer, Params: mistral3Params, Extra: llamaExtra,
		TextType: Llama.Types[1], // mistral: Mistral3Config's default text_config
	}
}

// mistral3Params is Ministral3Model.set_gguf_parameters: LlamaModel's,
// and for a ministral3 text model (yarn rope_parameters required) the
// yarn log multiplier (mscale_all_dim) and attention temperature scale
// (llama_4_scaling_beta).
func mistral3Params(m *model.Meta) error {
	if err := llamaParams(m); err != nil {
		return err
	}
	if mt, _, _ := m.H.FindString("model_type"); mt != ministral3Type {
		return nil
	}
	t, err := m.Rope.Top().RopeType()
	if err != nil {
		return err
	}
	if t != "yarn" {
		return fmt.Errorf("%w: ministral3 rope_parameters.rope_type must be yarn, not %q", model.ErrExport, t)
	}
	for _, kv := range []struct{ suffix, key string }{
		{"rope.scaling.yarn_log_multiplier", "mscale_all_dim"}, {"attention.temperature_scale", "llama_4_scaling_beta"},
	} {
		f, ok, err := m.Rope.Top().Float(kv.key)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: ministral3 rope_parameters has no %s", model.ErrExport, kv.key)
		}
		m.F32(kv.suffix, f)
	}
	return nil
}

// mistral4Type is the text model_type mlx-lm builds as mistral4 (MoE,
// not converted here).
const mistral4Type = "mistral4"

// mistral3Text returns text_config as ModelArgs.__post_init__ leaves it
// (tie_word_embeddings false unless set; in place, as mlx-lm's dict is the
// config it saves) and the family building it.
func mistral3Text(c model.Config) (model.Config, *model.Family, error) {
	if err := model.NeedKeys(c, "text_config"); err != nil {
		return model.Config{}, nil, err
	}
	o := c.Object("text_config")
	if o == nil {
		return model.Config{}, nil, c.Errf("text_config", "is not an object")
	}
	if _, ok := o.Get("tie_word_embeddings"); !ok {
		o.Set("tie_word_embeddings", false)
	}
	tc := model.NewConfig(o, "config.json text_config")
	mt, _ := o.Get("model_type")
	switch mt {
	case Ministral3.Types[0]:
		return tc, Ministral3, nil
	case mistral4Type:
		return tc, nil, tc.Errf("model_type", "is %q: mistral3 with a mistral4 text model is not supported", mistral4Type)
	}
	return tc, Llama, model.NeedKeys(tc, "model_type") // llama.ModelArgs requires it
}

func buildMistral3(c model.Config, ts model.Tensors) (*model.Tree, error) {
	tc, f, err := mistral3Text(c)
	if err != nil {
		return nil, err
	}
	t, err := f.MLX.Build(tc, ts)
	if err != nil {
		return nil, err
	}
	for i := range t.Modules {
		t.Modules[i].Path = "language_model." + t.Modules[i].Path
	}
	return t, nil
}

// sanitizeMistral3 is the rest of mistral3's sanitize, after its rules
// dropped the vision tensors and took the text model's names out of
// either layout (language_model.model.* or model.language_model.*): the
// text model's sanitize, with the text config, then every name under
// "language_model.".
func sanitizeMistral3(_ *model.Tree, c model.Config, ts model.Tensors) error {
	tc, f, err := mistral3Text(c)
	if err != nil {
		return err
	}
	if err := f.MLX.SanitizeTensors(nil, tc, ts); err != nil {
		return fmt.Errorf("mistral3 text model: %w", err)
	}
	for _, n := range ts.Names() {
		if err := ts.Rename(n, "language_model."+n); err != nil {
			return err
		}
	}
	return nil
}

// mistral3Rope is LegacyRope for a mistral (llama) text model: mlx-lm's
// llama reads only rope_theta/rope_scaling (proven by mistral3_t5), while
// its ministral3 reads rope_parameters itself, so a ministral3 text_config
// is written through unchanged, as mlx_lm.convert does.
func mistral3Rope(c *pyjson.Object) {
	if tc, ok := c.Get("text_config"); ok {
		if o, ok := tc.(*pyjson.Object); ok {
			if mt, _ := o.Get("model_type"); mt == Ministral3.Types[0] {
				return
			}
		}
	}
	model.AddLegacyRope(c)
}
