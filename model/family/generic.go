package family

import "github.com/mlxconv/mlxconv/model"

// Generic covers the mlx-lm model types without a sanitize method, whose
// checkpoint names are the MLX names: the parameter tree is read off the
// checkpoint. (starcoder2, cohere, cohere2, exaone4, ernie4_5, glm4,
// olmo3, gpt_bigcode, nemotron, phi and stablelm are converted the same way by their own family files, which add
// their GGUF rules.) Each type is proven by a transformers-made fixture
// (testdata/families/TYPE.json, breadth matrix): mlxconv's output is
// byte-identical to mlx_lm.convert's and mlx_lm loads and generates from
// it (ernie4_5's with the tie_word_embeddings=true its Hub repositories
// ship: transformers omits it, a default, from config.json, and mlx-lm
// requires it). Types whose fixture failed are not listed (refused as
// unsupported): llama4_text (fused experts.gate_up_proj, router and
// shared expert that mlx-lm's llama4_text does not load), olmo (mlx-lm's
// olmo is the ai2-olmo format and exits without the hf_olmo package),
// minicpm3 and nanochat (transformers 5 only; rope_parameters instead of
// rope_scaling, and nanochat's names are not mlx-lm's), and the types
// transformers cannot build (exaone, iquestloopcoder, openelm, plamo,
// qwen, telechat3: remote code, no Hub-layout fixture).
var Generic = &model.Family{
	Name:  "generic",
	Types: []string{},
	MLX:   model.MLX{Build: model.BuildFromCheckpoint, LegacyRope: true},
}

// GenericGateUpDown is Generic for the mlx-lm model files whose MLP
// constructs gate_proj, up_proj, down_proj in that order (the order of a
// mixed recipe's "quantization" entries in config.json).
var GenericGateUpDown = &model.Family{
	Name:  "generic_gate_up_down",
	Types: []string{"helium"},
	MLX:   model.MLX{Build: model.BuildFromCheckpointRanked(map[string]int{"up_proj": 1, "down_proj": 2}), LegacyRope: true},
}
