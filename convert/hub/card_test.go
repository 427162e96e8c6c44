package hub

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlxconv/mlxconv/internal/modelcard"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModelCardFromHubSource(t *testing.T) {
	src := "---\nlicense: apache-2.0\nlanguage:\n- en\n- fr\ntags: [text, \"chat\"]\nlibrary_name: transformers\npipeline_tag: image-text-to-text\nbase_model: meta/Llama-3\ndatasets:\n  - wiki\n---\n# Original card\nlots of text\n"
	card, err := ModelCard(CardInfo{BaseModel: "org/tiny", Source: []byte(src), Repo: "me/tiny-4bit", Version: "0.1.0",
		Command: "mlxconv convert --hf-path org/tiny -q"})
	require.NoError(t, err)
	meta, body := modelcard.SplitFrontMatter(string(card))
	// In place, as huggingface_hub's ModelCard (mlx-lm) writes them.
	assert.Equal(t, "license: apache-2.0\nlanguage:\n- en\n- fr\ntags:\n- text\n- chat\n- mlx\nlibrary_name: mlx\npipeline_tag: text-generation\nbase_model: org/tiny\ndatasets:\n  - wiki\n", meta+"\n")
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
	meta, _ := modelcard.SplitFrontMatter(string(card))
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

func ExampleModelCard() {
	card, _ := ModelCard(CardInfo{BaseModel: "org/tiny", Repo: "me/tiny-4bit", Version: "0.1.0"})
	meta, _ := modelcard.SplitFrontMatter(string(card))
	fmt.Println(meta)
	// Output:
	// base_model: org/tiny
	// library_name: mlx
	// pipeline_tag: text-generation
	// tags:
	// - mlx
}

// A folder of GGUF files gets a GGUF card (gguf tag, llama.cpp usage).
func TestPrepareUploadCardGGUF(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "m-Q8_0.gguf"), []byte("GGUF"), 0o644))
	changed, err := PrepareUploadCard(dir, "me/m-gguf", "0.1.0")
	require.NoError(t, err)
	assert.True(t, changed)
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	meta, body := modelcard.SplitFrontMatter(string(b))
	assert.Equal(t, "language: en\npipeline_tag: text-generation\ntags:\n- gguf", meta)
	assert.Contains(t, body, "llama-cli -hf me/m-gguf")
}

// An upload keeps the recipe section of the card convert wrote.
func TestPrepareUploadCardKeepsRecipe(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, WriteModelCard(dir, CardInfo{BaseModel: "org/tiny", Version: "0.1.0",
		Recipe: []modelcard.Field{{Name: "Quantization", Value: "affine, 4 bits, group size 64"}}}))
	_, err := PrepareUploadCard(dir, "me/tiny-4bit", "0.1.0")
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	assert.Contains(t, string(b), "# me/tiny-4bit\n")
	assert.Contains(t, string(b), "\n## Recipe\n\n- **Quantization:** affine, 4 bits, group size 64\n\n## Use with mlx\n")
}
