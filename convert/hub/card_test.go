package hub

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModelCardFromHubSource(t *testing.T) {
	src := "---\nlicense: apache-2.0\nlanguage:\n- en\n- fr\ntags: [text, \"chat\"]\nlibrary_name: transformers\npipeline_tag: image-text-to-text\nbase_model: meta/Llama-3\ndatasets:\n  - wiki\n---\n# Original card\nlots of text\n"
	card, err := ModelCard(CardInfo{BaseModel: "org/tiny", Source: []byte(src), Repo: "me/tiny-4bit", Version: "0.1.0",
		Command: "mlxconv convert --hf-path org/tiny -q"})
	require.NoError(t, err)
	meta, body := splitFrontMatter(string(card))
	assert.Equal(t, "license: apache-2.0\nlanguage:\n- en\n- fr\ndatasets:\n  - wiki\nbase_model: org/tiny\nlibrary_name: mlx\npipeline_tag: text-generation\ntags:\n- text\n- chat\n- mlx\n", meta+"\n")
	assert.True(t, strings.HasPrefix(body, "\n# me/tiny-4bit\n"))
	assert.Contains(t, body, "[me/tiny-4bit](https://huggingface.co/me/tiny-4bit) was converted to MLX format from [org/tiny](https://huggingface.co/org/tiny) using mlxconv version **0.1.0**.")
	assert.Contains(t, body, "Converted with `mlxconv convert --hf-path org/tiny -q`.")
	assert.Contains(t, body, "## Use with mlx")
	assert.Contains(t, body, `model, tokenizer = load("me/tiny-4bit")`)
	assert.NotContains(t, string(card), "Original card", "the source body is replaced, like mlx-lm")
}

func TestModelCardLocalSource(t *testing.T) {
	card, err := ModelCard(CardInfo{Version: "0.1.0"})
	require.NoError(t, err)
	want := "---\nlanguage: en\nlibrary_name: mlx\npipeline_tag: text-generation\ntags:\n- mlx\n---\n\nThis model was converted to MLX format using mlxconv version **0.1.0**.\n"
	assert.True(t, strings.HasPrefix(string(card), want), string(card))
	assert.Contains(t, string(card), `load("path/to/model")`)
	assert.NotContains(t, string(card), "base_model")
}

func TestModelCardTagsAlreadyMLX(t *testing.T) {
	src := "---\ntags:\n- mlx\n- 2024\n- \"a: b\"\n---\n"
	card, err := ModelCard(CardInfo{BaseModel: "org/x", Source: []byte(src)})
	require.NoError(t, err)
	meta, _ := splitFrontMatter(string(card))
	assert.Equal(t, 1, strings.Count(meta, "- mlx"))
	assert.Contains(t, meta, "- \"2024\"")
	assert.Contains(t, meta, "- \"a: b\"")
}

func TestModelCardRejectsBadIDs(t *testing.T) {
	_, err := ModelCard(CardInfo{BaseModel: "../../x"})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = ModelCard(CardInfo{Repo: "a b"})
	require.ErrorIs(t, err, ErrInvalid)
}

func TestPrepareUploadCard(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, WriteModelCard(dir, CardInfo{BaseModel: "org/tiny", Version: "0.1.0", Command: "mlxconv convert -q",
		Source: []byte("---\nlicense: mit\n---\nbody\n")}))
	changed, err := PrepareUploadCard(dir, "me/tiny-4bit", "0.1.0")
	require.NoError(t, err)
	assert.True(t, changed)
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	s := string(b)
	assert.Contains(t, s, "license: mit\n")
	assert.Contains(t, s, "base_model: org/tiny\n")
	assert.Contains(t, s, "# me/tiny-4bit")
	assert.Contains(t, s, "from [org/tiny](https://huggingface.co/org/tiny)")
	assert.Contains(t, s, "Converted with `mlxconv convert -q`.")
	// Idempotent.
	changed, err = PrepareUploadCard(dir, "me/tiny-4bit", "0.1.0")
	require.NoError(t, err)
	assert.False(t, changed)

	// A user's own card is left alone.
	own := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(own, "README.md"), []byte("# my notes\n"), 0o644))
	changed, err = PrepareUploadCard(own, "me/x", "0.1.0")
	require.NoError(t, err)
	assert.False(t, changed)
	b, _ = os.ReadFile(filepath.Join(own, "README.md"))
	assert.Equal(t, "# my notes\n", string(b))

	// A missing card is created.
	none := t.TempDir()
	changed, err = PrepareUploadCard(none, "me/x", "0.1.0")
	require.NoError(t, err)
	assert.True(t, changed)
	assert.FileExists(t, filepath.Join(none, "README.md"))
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
			m, b := splitFrontMatter(tc.in)
			assert.Equal(t, tc.meta, m)
			assert.Equal(t, tc.body, b)
		})
	}
}

func FuzzModelCard(f *testing.F) {
	f.Add([]byte("---\nlicense: mit\ntags: [a, b]\n---\n# x\n"))
	f.Add([]byte("---\ntags:\n- x\n  - y\n---"))
	f.Add([]byte("---\n: \n- \n#\n---\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		card, err := ModelCard(CardInfo{BaseModel: "org/x", Source: src})
		if err != nil {
			return
		}
		meta, _ := splitFrontMatter(string(card))
		entries := frontMatterEntries(meta)
		var lib, tags int
		for _, e := range entries {
			switch e.key {
			case "library_name":
				lib++
			case "tags":
				tags++
				if !contains(parseTags(e), "mlx") {
					t.Fatalf("tags without mlx: %q", meta)
				}
			}
		}
		if lib != 1 || tags != 1 {
			t.Fatalf("library_name x%d, tags x%d in %q", lib, tags, meta)
		}
	})
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func ExampleModelCard() {
	card, _ := ModelCard(CardInfo{BaseModel: "org/tiny", Repo: "me/tiny-4bit", Version: "0.1.0"})
	meta, _ := splitFrontMatter(string(card))
	fmt.Println(meta)
	// Output:
	// language: en
	// base_model: org/tiny
	// library_name: mlx
	// pipeline_tag: text-generation
	// tags:
	// - mlx
}
