package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/model/family"
)

// TestListFamilies: --list-families prints one row per family with every
// model type of the registry, on both commands, and the unsupported-type
// errors name the families and point at the flag.
func TestListFamilies(t *testing.T) {
	for _, cmd := range []string{"convert", "gguf"} {
		code, stdout, stderr := runCLI(t, cmd, "--list-families")
		require.Equal(t, 0, code, stderr)
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		require.Regexp(t, `^FAMILY\s+MODEL TYPES\s+MLX\s+GGUF$`, lines[0])
		for _, mt := range family.ModelTypes() {
			assert.Regexp(t, `(^|[ ,])`+regexp.QuoteMeta(mt)+`(,| |$)`, stdout, "model type %q missing", mt)
		}
		assert.Regexp(t, `(?m)^qwen3_moe\s+qwen3_moe\s+yes\s+yes$`, stdout)
		assert.Regexp(t, `(?m)^starcoder2\s+starcoder2\s+yes\s+yes$`, stdout)
		assert.Regexp(t, `(?m)^helium\s+helium\s+yes\s+-$`, stdout)
		assert.Regexp(t, `(?m)^minimax\s+minimax \(MLX only\), minimax_m2\s+yes\s+yes$`, stdout) // a MoE family with a remapped type
		assert.Regexp(t, `(?m)^mamba\s+mamba, falcon_mamba\s+yes\s+yes$`, stdout)                // a state-space family and its alias
		assert.Regexp(t, `(?m)^gemma3n\s+gemma3n\s+yes\s+-$`, stdout)                            // a multimodal checkpoint, text model only
		assert.Regexp(t, `(?m)^gemma4\s+gemma4, gemma4_unified\s+yes\s+-$`, stdout)              // a MODEL_REMAPPING alias
		assert.Regexp(t, `(?m)^glm4_moe_lite\s+glm4_moe_lite\s+yes\s+yes$`, stdout)
		assert.Len(t, lines, 1+len(family.Names(false)))
	}

	dir := filepath.Join(t.TempDir(), "m")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "not_a_model"}`), 0o644))
	code, _, stderr := runCLI(t, "convert", "--hf-path", dir, "--mlx-path", filepath.Join(t.TempDir(), "o"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `model type "not_a_model" is not supported; supported families: apertus, cohere, `)
	assert.Contains(t, stderr, "(--list-families shows their model types)")
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, stderr)

	code, _, stderr = runCLI(t, "gguf", "--model", dir, "--outfile", filepath.Join(t.TempDir(), "o.gguf"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `model type "not_a_model" has no GGUF export (supported families: apertus, cohere, `)
	assert.NotContains(t, stderr, "helium") // MLX-only families are not offered for GGUF
}
