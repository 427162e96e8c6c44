package family

import "github.com/mlxconv/mlxconv/model"

// Generic covers the mlx-lm model types without a sanitize method, whose
// checkpoint names are the MLX names: the parameter tree is read off the
// checkpoint.
var Generic = &model.Family{
	Name: "generic",
	Types: []string{
		"exaone", "gpt_bigcode", "helium",
		"iquestloopcoder", "llama4_text", "minicpm3", "nanochat", "nemotron", "olmo",
		"openelm", "phi", "plamo", "qwen", "stablelm", "telechat3",
	},
	MLX: model.MLX{Build: model.BuildFromCheckpoint},
}
