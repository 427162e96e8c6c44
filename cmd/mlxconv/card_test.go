package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/modelcard"
)

const sourceCard = "---\nlicense: apache-2.0\nlicense_link: https://example.org/LICENSE\nlanguage:\n- en\n- fr\ntags:\n- chat\ndatasets:\n- org/data\npipeline_tag: text-generation\nlibrary_name: transformers\n---\n\n# The source model\n"

// wantCardMeta is sourceCard's front matter as the output card has it.
func wantCardMeta(base string) string {
	s := "license: apache-2.0\nlicense_link: https://example.org/LICENSE\nlanguage:\n- en\n- fr\ntags:\n- chat\n- mlx\ndatasets:\n- org/data\npipeline_tag: text-generation\nlibrary_name: mlx"
	if base != "" {
		s += "\nbase_model: " + base
	}
	return s
}

// copyTiny copies the demo model with sourceCard as its README.md.
func copyTiny(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-llama")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, b := range tinyLlamaFiles(t) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte(sourceCard), 0o644))
	return dir
}

// The card of a local and of a (fake) Hub source keeps the source card's
// front matter, names the Hub source as base_model, and holds the recipe.
func TestConvertModelCard(t *testing.T) {
	h, env, _, errb := hubTestEnv(t)
	src := copyTiny(t)
	files := tinyLlamaFiles(t)
	files["README.md"] = []byte(sourceCard)
	h.AddRepo("org/tiny", files)
	cases := []struct {
		name, from, base string
		args             []string
		recipe           []string
	}{
		{"local", src, "", []string{"-q", "--q-bits", "3", "--quant-rule", "layers\\.0\\..*down_proj=6/32"},
			[]string{"- **Quantization:** affine, 3 bits, group size 64\n", "- **Per-module rules (first match wins):** `layers\\.0\\..*down_proj=6/32`\n",
				"- **Quantized modules:** 1 × affine 6-bit, group 32; 28 × affine 3-bit, group 64\n",
				"- **Modules not at affine 3-bit, group 64:** 1\n", "  - `model.layers.0.mlp.down_proj`: affine 6-bit, group 32\n"}},
		{"hub", "org/tiny", "org/tiny", []string{"-q", "--quant-predicate", "mixed_3_6"},
			[]string{"- **Quantization:** mixed-precision recipe mixed_3_6 (affine, group size 64)\n",
				"- **Modules not at affine 3-bit, group 64:** 4\n", "  - `model.layers.3.mlp.down_proj`: affine 6-bit, group 64\n", "[org/tiny](https://huggingface.co/org/tiny)"}},
		{"float", src, "", []string{"--dtype", "float16"}, []string{"- **Quantization:** none\n", "- **Other parameters:** float16\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"convert", "--hf-path", tc.from, "--mlx-path", out, "--backend", "native", "--quiet"}, tc.args...)
			require.Equal(t, 0, runMain(context.Background(), env, args), errb.String())
			b, err := os.ReadFile(filepath.Join(out, "README.md"))
			require.NoError(t, err)
			card := string(b)
			meta, body := modelcard.SplitFrontMatter(card)
			assert.Equal(t, wantCardMeta(tc.base), meta)
			assert.NotContains(t, body, "The source model")
			assert.Contains(t, body, "using mlxconv version **"+versionString()+"**")
			assert.Contains(t, body, "- **Bits per weight:** ")
			assert.Contains(t, body, "- **Tool:** mlxconv "+versionString()+"\n")
			for _, r := range tc.recipe {
				assert.Contains(t, body, r)
			}
			// The command, with local paths reduced to their base name.
			cmd := modelcard.Command(card)
			assert.True(t, strings.HasPrefix(cmd, "mlxconv convert --hf-path "+cardPath(tc.from)+" --mlx-path out "), cmd)
			assert.NotContains(t, cmd, t.TempDir()[:8])
		})
	}
}

func TestCardCommand(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--hf-path", dir, "--mlx-path=" + filepath.Join(dir, "o"), "-q"}, "mlxconv convert --hf-path " + filepath.Base(dir) + " --mlx-path=o -q"},
		{[]string{"--model", "org/m", "--quant-rule", "a b=4"}, "mlxconv convert --model org/m --quant-rule 'a b=4'"},
		{[]string{"--quant-rule", "it's=4"}, `mlxconv convert --quant-rule 'it'\''s=4'`},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, cardCommand("convert", tc.args))
	}
}
