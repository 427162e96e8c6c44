package modelcard

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMetadataAsMLXLM: the front matter mlx-lm 0.32.2's create_model_card
// writes (through huggingface_hub 2.4.0's ModelCard, run on these sources
// with base_model "Org/M"), key for key in the same order; kept entries
// keep their source lines (the same YAML data).
func TestMetadataAsMLXLM(t *testing.T) {
	cases := []struct{ name, src, base, want string }{
		{"local, no card", "", "",
			"language: en\nlibrary_name: mlx\npipeline_tag: text-generation\ntags:\n- mlx\n"},
		{"license only", "---\nlicense: mit\n---\nbody\n", "Org/M",
			"license: mit\nbase_model: Org/M\nlibrary_name: mlx\npipeline_tag: text-generation\ntags:\n- mlx\n"},
		{"tags in place", "---\nlicense: mit\nlanguage: [en]\ntags: [a, 'b']\nextra:\n  k: v\n---\n", "Org/M",
			"license: mit\nlanguage: [en]\ntags:\n- a\n- b\n- mlx\nextra:\n  k: v\nbase_model: Org/M\nlibrary_name: mlx\npipeline_tag: text-generation\n"},
		{"no front matter", "no front matter\n", "Org/M",
			"base_model: Org/M\nlibrary_name: mlx\npipeline_tag: text-generation\ntags:\n- mlx\n"},
		{"replaced in place", "---\nbase_model: x/y\nlibrary_name: transformers\ndatasets:\n  - wiki\nlicense: other\nlicense_name: foo\n---\n", "Org/M",
			"base_model: Org/M\nlibrary_name: mlx\ndatasets:\n  - wiki\nlicense: other\nlicense_name: foo\npipeline_tag: text-generation\ntags:\n- mlx\n"},
		{"local source card kept, its base_model dropped",
			"---\nlicense: apache-2.0\nlicense_link: https://x.org/LICENSE\nbase_model: Qwen/Qwen3-0.6B-Base\npipeline_tag: image-text-to-text\n---\n", "",
			"license: apache-2.0\nlicense_link: https://x.org/LICENSE\npipeline_tag: text-generation\nlibrary_name: mlx\ntags:\n- mlx\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			card, err := Render(Info{Source: []byte(tc.src), BaseModel: tc.base})
			require.NoError(t, err)
			meta, _ := SplitFrontMatter(string(card))
			assert.Equal(t, tc.want, meta+"\n")
		})
	}
}

func TestGGUFCard(t *testing.T) {
	card, err := Render(Info{Format: GGUF, Source: []byte("---\nlibrary_name: transformers\ntags: [mlx]\n---\n"), BaseModel: "org/m", Repo: "me/m-gguf"})
	require.NoError(t, err)
	s := string(card)
	meta, body := SplitFrontMatter(s)
	assert.Equal(t, "tags:\n- mlx\n- gguf\nbase_model: org/m\npipeline_tag: text-generation", meta)
	assert.Contains(t, body, "converted to GGUF format from [org/m]")
	assert.Contains(t, body, "llama-cli -hf me/m-gguf")
	assert.NotContains(t, body, "mlx_lm")
	_, err = Render(Info{Format: "onnx"})
	require.ErrorIs(t, err, ErrCard)
}

func TestRecipeRoundTrip(t *testing.T) {
	info := Info{BaseModel: "org/m", Version: "v1.2.3", Command: "mlxconv convert --hf-path org/m -q",
		Recipe: []Field{
			{Name: "Quantization", Value: "affine, 4 bits, group size 64"},
			{Name: "Modules at other settings", Value: "2", Details: []string{"`lm_head`: affine 6-bit, group 64", "`model.layers.0.mlp.down_proj`: affine 6-bit, group 64"}},
			{Name: "Bits per weight", Value: "4.501"},
		}}
	card, err := Render(info)
	require.NoError(t, err)
	s := string(card)
	assert.Contains(t, s, "\n## Recipe\n\n- **Quantization:** affine, 4 bits, group size 64\n")
	assert.Contains(t, s, "  - `lm_head`: affine 6-bit, group 64\n")
	assert.Contains(t, s, "- **Bits per weight:** 4.501\n")
	assert.Contains(t, s, "using mlxconv version **v1.2.3**")
	assert.Equal(t, info.Command, Command(s))
	// Re-rendered from the card (an upload): the recipe is kept verbatim.
	again, err := Render(Info{BaseModel: "org/m", Version: "v1.2.3", Command: Command(s), Source: card, RecipeText: RecipeSection(s), Repo: "me/m"})
	require.NoError(t, err)
	assert.Equal(t, RecipeSection(s), RecipeSection(string(again)))
	assert.Contains(t, string(again), "# me/m\n")
	assert.Less(t, strings.Index(string(again), "## Recipe"), strings.Index(string(again), "## Use with mlx"))
}

func TestRenderRefusesHugeSource(t *testing.T) {
	_, err := Render(Info{Source: make([]byte, MaxSourceSize+1)})
	require.ErrorIs(t, err, ErrCard)
}

func TestSplitFrontMatter(t *testing.T) {
	cases := []struct{ in, meta, body string }{
		{"---\na: 1\n---\nbody", "a: 1", "body"},
		{"\ufeff---\r\na: 1\r\n---\r\nbody", "a: 1", "body"},
		{"no front matter", "", "no front matter"},
		{"---\na: 1\n", "", "---\na: 1\n"},
		{"---\n---\nx", "", "x"},
		{"---\na: 1\n---", "a: 1", ""},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			m, b := SplitFrontMatter(tc.in)
			assert.Equal(t, tc.meta, m)
			assert.Equal(t, tc.body, b)
		})
	}
}

func TestTagsQuoted(t *testing.T) {
	card, err := Render(Info{BaseModel: "org/x", Source: []byte("---\ntags:\n- mlx\n- 2024\n- \"a: b\"\n---\n")})
	require.NoError(t, err)
	meta, _ := SplitFrontMatter(string(card))
	assert.Equal(t, 1, strings.Count(meta, "- mlx"))
	assert.Contains(t, meta, "- \"2024\"")
	assert.Contains(t, meta, "- \"a: b\"")
}

func FuzzRender(f *testing.F) {
	f.Add([]byte("---\nlicense: mit\ntags: [a, b]\n---\n# x\n"))
	f.Add([]byte("---\ntags:\n- x\n  - y\n---"))
	f.Add([]byte("---\n: \n- \n#\n---\n"))
	f.Add([]byte("---\ntags:\n---\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		card, err := Render(Info{BaseModel: "org/x", Source: src})
		if err != nil {
			return
		}
		var lib, tags int
		for _, e := range Meta(string(card)) {
			switch e.Key {
			case "library_name":
				lib++
			case "tags":
				tags++
				if !slices.Contains(e.List(), "mlx") {
					t.Fatalf("tags without mlx: %q", card)
				}
			}
		}
		if lib != 1 || tags != 1 {
			t.Fatalf("library_name x%d, tags x%d in %q", lib, tags, card)
		}
	})
}
