// Package family is the family registry: one file per model family, each
// one *model.Family value, all listed in All. Adding a family is adding
// its file and its entry here; the sinks are not touched.
package family

import (
	"slices"

	"github.com/mlxconv/mlxconv/model"
)

// All lists every family. A model_type belongs to exactly one.
var All = []*model.Family{
	Llama, Qwen2, Qwen3, Gemma, Gemma2, Phi3,
	SmolLM3, Olmo2, Granite, SeedOSS, InternLM3, HunyuanV1Dense,
	Mistral3, Ministral3, Apertus,
	Mamba, Mamba2, LFM2, LFM2MoE, NemotronH, Jamba, GraniteMoEHybrid, FalconH1,
	Gemma3, Gemma3Text, Mixtral, Qwen2MoE, Qwen3MoE,
	Glm4MoE, OLMoE, GraniteMoE, Llama4, Ernie45MoE, Dots1, PhiMoE, Hunyuan, MiniMax, DeepseekV3,
	GptOss, Qwen3Next, Qwen35, Qwen35MoE,
	StarCoder2, Cohere, Cohere2, Exaone4, Ernie45, Glm4, Olmo3,
	Phi, GPTBigCode, StableLM, Nemotron,
	Gemma3n, Gemma4, Gemma4Text, Glm4MoELite,
	Generic, GenericGateUpDown,
}

// Lookup returns the family converting modelType, or nil.
func Lookup(modelType string) *model.Family {
	for _, f := range All {
		if slices.Contains(f.Types, modelType) {
			return f
		}
	}
	return nil
}

// ModelTypes returns every model_type of All, sorted.
func ModelTypes() []string {
	var out []string
	for _, f := range All {
		out = append(out, f.Types...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// LookupGGUF returns the GGUF rules exporting modelType, or nil.
func LookupGGUF(modelType string) *model.GGUF {
	for _, f := range All {
		if f.GGUF != nil && slices.Contains(f.GGUF.Types, modelType) {
			return f.GGUF
		}
	}
	return nil
}

// GGUFModelTypes returns every exported model_type, sorted.
func GGUFModelTypes() []string {
	var out []string
	for _, f := range All {
		if f.GGUF != nil {
			out = append(out, f.GGUF.Types...)
		}
	}
	slices.Sort(out)
	return out
}

// HFConfig returns the transformers config class of modelType as the GGUF
// exporter reads it, or nil.
func HFConfig(modelType string) *model.HFConfig {
	for _, f := range All {
		if f.GGUF != nil && f.GGUF.Configs[modelType] != nil {
			return f.GGUF.Configs[modelType]
		}
	}
	return nil
}

// VocabRules returns the set_vocab of the tokenizer rule set named vocab
// (a GGUF.Vocab), or nil when no family has it.
func VocabRules(vocab string) func(model.VocabLoader) error {
	for _, f := range All {
		if g := f.GGUF; g != nil && g.Vocab == vocab {
			if g.SetVocab == nil {
				return model.DefaultVocab
			}
			return g.SetVocab
		}
	}
	return nil
}

// PerType reports whether f is one of the generic families, whose model
// types are each its own mlx-lm model, converted as read off the
// checkpoint: they are listed one by one.
func PerType(f *model.Family) bool { return f == Generic || f == GenericGateUpDown }

// Names returns the supported families by name, sorted: each family's
// Name, except that the model types Generic and GenericGateUpDown convert
// as read are listed one by one (each is its own mlx-lm model). withGGUF
// keeps only families with a GGUF export.
func Names(withGGUF bool) []string {
	var out []string
	for _, f := range All {
		switch {
		case withGGUF && f.GGUF == nil:
		case PerType(f):
			out = append(out, f.Types...)
		default:
			out = append(out, f.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
