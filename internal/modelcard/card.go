package modelcard

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Format is the converted model's format; it picks the tag, library_name
// and the usage section.
type Format string

// The formats.
const (
	MLX  Format = "mlx"
	GGUF Format = "gguf"
)

// Field is one line of the card's recipe section ("- **Name:** Value").
type Field struct {
	Name, Value string
	// Details, if set, are listed under the line (collapsed).
	Details []string
}

// Info describes the card of a converted model.
type Info struct {
	// Format is MLX (the zero value) or GGUF.
	Format Format
	// BaseModel is the source repo id, "" when unknown; it becomes
	// base_model and the provenance link.
	BaseModel string
	// Source is the source's README.md, if any: its front matter is kept.
	Source []byte
	// Repo is the repo the model is (or will be) uploaded to; it titles
	// the card and appears in the usage snippet.
	Repo string
	// Version is the tool version named in the provenance and the recipe.
	Version string
	// Command, if set, is the conversion command shown in the card.
	Command string
	// Recipe lists what the conversion did (bits, group size, mode,
	// per-module rules, bits per weight, …).
	Recipe []Field
	// RecipeText, if set and Recipe is empty, is an earlier card's recipe
	// section body, kept verbatim (see RecipeSection).
	RecipeText string
}

// ErrCard is wrapped by the errors of this package.
var ErrCard = errors.New("model card")

// MaxSourceSize bounds a source card.
const MaxSourceSize = 1 << 20

// Render returns README.md: the front matter of info.Source with
// base_model, library_name, pipeline_tag and tags set in place and the
// missing ones appended in that order (what mlx-lm's create_model_card
// writes through huggingface_hub's ModelCard), then the body.
func Render(info Info) ([]byte, error) {
	if len(info.Source) > MaxSourceSize {
		return nil, fmt.Errorf("%w: source model card of %d bytes (limit %d)", ErrCard, len(info.Source), MaxSourceSize)
	}
	if info.Format == "" {
		info.Format = MLX
	}
	if info.Format != MLX && info.Format != GGUF {
		return nil, fmt.Errorf("%w: format %q (want mlx or gguf)", ErrCard, string(info.Format))
	}
	meta, _ := SplitFrontMatter(string(info.Source))
	var b strings.Builder
	b.WriteString("---\n")
	b.WriteString(metadata(meta, info))
	b.WriteString("---\n")
	b.WriteString(body(info))
	return []byte(b.String()), nil
}

// setKeys are the keys Render sets, in the order it appends them.
var setKeys = []string{"base_model", "library_name", "pipeline_tag", "tags"}

// metadata keeps the source entries, replacing the keys Render sets in
// place; with no source metadata and no base model it starts from
// mlx-lm's template (language: en).
func metadata(meta string, info Info) string {
	entries := Entries(meta)
	var b strings.Builder
	done := map[string]bool{}
	kept := 0
	for _, e := range entries {
		if slices.Contains(setKeys, e.Key) {
			if !done[e.Key] {
				done[e.Key] = true
				b.WriteString(setEntry(e.Key, e, info))
			}
			continue
		}
		lines := e.Lines
		for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
			lines = lines[:len(lines)-1]
		}
		for _, l := range lines {
			b.WriteString(l)
			b.WriteString("\n")
			kept++
		}
	}
	var head string
	if kept == 0 && len(done) == 0 && info.BaseModel == "" {
		head = "language: en\n"
	}
	for _, k := range setKeys {
		if !done[k] {
			b.WriteString(setEntry(k, Entry{}, info))
		}
	}
	return head + b.String()
}

// setEntry renders one of setKeys; "" drops it.
func setEntry(key string, src Entry, info Info) string {
	switch key {
	case "base_model":
		if info.BaseModel == "" {
			return "" // the source's own base is not this model's
		}
		return "base_model: " + yamlScalar(info.BaseModel) + "\n"
	case "library_name":
		if info.Format == GGUF {
			return "" // the Hub recognises GGUF files by themselves
		}
		return "library_name: mlx\n"
	case "pipeline_tag":
		return "pipeline_tag: text-generation\n"
	}
	tags := src.List()
	if !slices.Contains(tags, string(info.Format)) {
		tags = append(tags, string(info.Format))
	}
	var b strings.Builder
	b.WriteString("tags:\n")
	for _, t := range tags {
		fmt.Fprintf(&b, "- %s\n", yamlScalar(t))
	}
	return b.String()
}

func body(info Info) string {
	var b strings.Builder
	if info.Repo != "" {
		fmt.Fprintf(&b, "\n# %s\n", info.Repo)
	}
	version := info.Version
	if version == "" {
		version = "(development)"
	}
	format := "MLX"
	if info.Format == GGUF {
		format = "GGUF"
	}
	b.WriteString("\n")
	switch {
	case info.BaseModel != "" && info.Repo != "":
		fmt.Fprintf(&b, "This model [%s](https://huggingface.co/%s) was converted to %s format from [%s](https://huggingface.co/%s) using mlxconv version **%s**.\n",
			info.Repo, info.Repo, format, info.BaseModel, info.BaseModel, version)
	case info.BaseModel != "":
		fmt.Fprintf(&b, "This model was converted to %s format from [%s](https://huggingface.co/%s) using mlxconv version **%s**.\n",
			format, info.BaseModel, info.BaseModel, version)
	default:
		fmt.Fprintf(&b, "This model was converted to %s format using mlxconv version **%s**.\n", format, version)
	}
	if info.Command != "" && !strings.ContainsAny(info.Command, "`\n") {
		fmt.Fprintf(&b, "\nConverted with `%s`.\n", info.Command)
	}
	b.WriteString(recipe(info))
	if info.Format == GGUF {
		b.WriteString(ggufUsage(info.Repo))
	} else {
		b.WriteString(mlxUsage(info.Repo))
	}
	return b.String()
}

const recipeHeading = "\n## Recipe\n\n"

// recipe renders the recipe section ("" for none).
func recipe(info Info) string {
	if len(info.Recipe) == 0 {
		if strings.TrimSpace(info.RecipeText) == "" {
			return ""
		}
		return recipeHeading + strings.TrimSpace(info.RecipeText) + "\n"
	}
	var b strings.Builder
	b.WriteString(recipeHeading)
	for _, f := range info.Recipe {
		fmt.Fprintf(&b, "- **%s:** %s\n", f.Name, f.Value)
		if len(f.Details) > 0 {
			b.WriteString("  <details><summary>list</summary>\n\n")
			for _, d := range f.Details {
				fmt.Fprintf(&b, "  - %s\n", d)
			}
			b.WriteString("\n  </details>\n")
		}
	}
	return b.String()
}

var reRecipe = regexp.MustCompile(`(?s)\n## Recipe\n\n(.*?)(?:\n## |\z)`)

// RecipeSection returns the recipe section body of a card Render wrote
// ("" if it has none), for re-rendering it with Info.RecipeText.
func RecipeSection(card string) string {
	if m := reRecipe.FindStringSubmatch(strings.ReplaceAll(card, "\r\n", "\n")); m != nil {
		return strings.TrimSpace(m[1])
	}
	return ""
}

var reCommand = regexp.MustCompile("(?m)^Converted with `([^`\n]+)`")

// Command returns the conversion command a card Render wrote names ("").
func Command(card string) string {
	if m := reCommand.FindStringSubmatch(card); m != nil {
		return m[1]
	}
	return ""
}

// Meta returns the front matter entries of a card.
func Meta(card string) []Entry {
	meta, _ := SplitFrontMatter(card)
	return Entries(meta)
}

func mlxUsage(repo string) string {
	load := "path/to/model"
	if repo != "" {
		load = repo
	}
	return fmt.Sprintf(`
## Use with mlx

`+"```bash"+`
pip install mlx-lm
`+"```"+`

`+"```python"+`
from mlx_lm import load, generate

model, tokenizer = load(%q)

prompt = "hello"

if tokenizer.chat_template is not None:
    messages = [{"role": "user", "content": prompt}]
    prompt = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_dict=False,
    )

response = generate(model, tokenizer, prompt=prompt, verbose=True)
`+"```"+`
`, load)
}

func ggufUsage(repo string) string {
	run := "llama-cli -m model.gguf -p \"hello\""
	if repo != "" {
		run = fmt.Sprintf("llama-cli -hf %s -p \"hello\"", repo)
	}
	return "\n## Use with llama.cpp\n\n```bash\n" + run + "\n```\n"
}
