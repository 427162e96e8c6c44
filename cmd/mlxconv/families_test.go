package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
		// The GGUF column follows the registry (a family exports when it has
		// GGUF rules), and a type the family converts but does not export is
		// marked "(MLX only)".
		exported := family.Names(true)
		for _, name := range family.Names(false) {
			want := "-"
			if slices.Contains(exported, name) {
				want = "yes"
			}
			assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(name)+`\s+.*\s+yes\s+`+regexp.QuoteMeta(want)+`$`, stdout, "family %q", name)
		}
		assert.Regexp(t, `(?m)^qwen3_moe\s+qwen3_moe\s+yes\s+yes$`, stdout)
		assert.Regexp(t, `(?m)^mamba\s+mamba, falcon_mamba\s+yes\s+yes$`, stdout)                         // a state-space family and its alias
		assert.Regexp(t, `(?m)^deepseek_v3\s+deepseek_v3, kimi_k2, joyai_llm_flash\s+yes\s+yes$`, stdout) // aliases the converter takes (DeepseekV3ForCausalLM)
		assert.Regexp(t, `(?m)^helium\s+helium\s+yes\s+-$`, stdout)                                       // no converter class
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
