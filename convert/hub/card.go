package hub

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// CardInfo describes the model card (README.md) of a converted model.
type CardInfo struct {
	// BaseModel is the source repo id ("" for a local source); it becomes
	// base_model and the provenance link.
	BaseModel string
	// Source is the source's README.md, if any: its YAML front matter
	// (license, language, datasets, …) is kept, as mlx-lm does.
	Source []byte
	// Repo is the repo the model is (or will be) uploaded to; it titles the
	// card and appears in the usage snippet. "" gives a card without title
	// whose snippet loads "path/to/model".
	Repo string
	// Version is the mlxconv version named in the provenance line.
	Version string
	// Command, if set, is the conversion command shown in the card.
	Command string
}

// maxCardSize bounds a source card read into memory.
const maxCardSize = 1 << 20

// ModelCard renders README.md like mlx-lm's create_model_card +
// upload_to_hub: YAML front matter with library_name: mlx, pipeline_tag:
// text-generation, tags including mlx, base_model (Hub sources only), the
// source card's other metadata kept; then a body with the title, a
// provenance line naming mlxconv, and a "Use with mlx" section.
func ModelCard(info CardInfo) ([]byte, error) {
	if info.BaseModel != "" {
		if err := ValidateRepoID(info.BaseModel); err != nil {
			return nil, err
		}
	}
	if info.Repo != "" {
		if err := ValidateRepoID(info.Repo); err != nil {
			return nil, err
		}
	}
	if len(info.Source) > maxCardSize {
		return nil, fmt.Errorf("%w: source model card of %d bytes", ErrInvalid, len(info.Source))
	}
	meta, _ := splitFrontMatter(string(info.Source))
	var b strings.Builder
	b.WriteString("---\n")
	b.WriteString(cardMetadata(meta, info.BaseModel))
	b.WriteString("---\n")
	b.WriteString(cardBody(info))
	return []byte(b.String()), nil
}

// WriteModelCard writes ModelCard(info) to dir/README.md.
func WriteModelCard(dir string, info CardInfo) error {
	data, err := ModelCard(info)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "README.md"), data)
}

// PrepareUploadCard readies dir/README.md for an upload to repo, like
// mlx-lm's upload_to_hub: a card whose front matter says library_name: mlx
// (one mlxconv or mlx-lm wrote) keeps its metadata and gets the title and
// usage for repo; a missing card is created; any other card is the user's
// and is left alone. It reports whether the file was written.
func PrepareUploadCard(dir, repo, version string) (bool, error) {
	if err := ValidateRepoID(repo); err != nil {
		return false, err
	}
	p := filepath.Join(dir, "README.md")
	data, err := readSmall(p, maxCardSize)
	if errors.Is(err, fs.ErrNotExist) {
		return true, WriteModelCard(dir, CardInfo{Repo: repo, Version: version})
	}
	if err != nil {
		return false, err
	}
	meta, _ := splitFrontMatter(string(data))
	if !isMLXCard(meta) {
		return false, nil
	}
	base := ""
	for _, e := range frontMatterEntries(meta) {
		if e.key == "base_model" {
			if v := unquoteScalar(strings.TrimSpace(e.inline)); ValidateRepoID(v) == nil {
				base = v
			}
		}
	}
	cmd := ""
	if m := reCardCommand.FindSubmatch(data); m != nil {
		cmd = string(m[1])
	}
	out, err := ModelCard(CardInfo{BaseModel: base, Source: data, Repo: repo, Version: version, Command: cmd})
	if err != nil {
		return false, err
	}
	if bytes.Equal(out, data) {
		return false, nil
	}
	return true, writeFileAtomic(p, out)
}

var reCardCommand = regexp.MustCompile("(?m)^Converted with `([^`\n]+)`")

func isMLXCard(meta string) bool {
	for _, e := range frontMatterEntries(meta) {
		if e.key == "library_name" && unquoteScalar(strings.TrimSpace(e.inline)) == "mlx" {
			return true
		}
	}
	return false
}

func cardBody(info CardInfo) string {
	var b strings.Builder
	load := "path/to/model"
	if info.Repo != "" {
		load = info.Repo
		fmt.Fprintf(&b, "\n# %s\n", info.Repo)
	}
	version := info.Version
	if version == "" {
		version = "(development)"
	}
	b.WriteString("\n")
	switch {
	case info.BaseModel != "" && info.Repo != "":
		fmt.Fprintf(&b, "This model [%s](https://huggingface.co/%s) was converted to MLX format from [%s](https://huggingface.co/%s) using mlxconv version **%s**.\n",
			info.Repo, info.Repo, info.BaseModel, info.BaseModel, version)
	case info.BaseModel != "":
		fmt.Fprintf(&b, "This model was converted to MLX format from [%s](https://huggingface.co/%s) using mlxconv version **%s**.\n",
			info.BaseModel, info.BaseModel, version)
	default:
		fmt.Fprintf(&b, "This model was converted to MLX format using mlxconv version **%s**.\n", version)
	}
	if info.Command != "" && !strings.ContainsAny(info.Command, "`\n") {
		fmt.Fprintf(&b, "\nConverted with `%s`.\n", info.Command)
	}
	fmt.Fprintf(&b, `
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
	return b.String()
}

// splitFrontMatter returns the YAML between the leading "---" lines and
// the rest; no front matter gives ("", card).
func splitFrontMatter(card string) (meta, body string) {
	s := strings.TrimPrefix(card, "\ufeff")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	trimmed := strings.TrimLeft(s, " \t\n")
	if !strings.HasPrefix(trimmed, "---\n") {
		return "", card
	}
	rest := trimmed[4:]
	if strings.HasPrefix(rest, "---\n") || rest == "---" {
		return "", rest[min(4, len(rest)):]
	}
	end := strings.Index(rest, "\n---\n")
	if end < 0 {
		if strings.HasSuffix(rest, "\n---") {
			return rest[:len(rest)-4], ""
		}
		return "", card
	}
	return rest[:end], rest[end+5:]
}

// fmEntry is one top-level key of a YAML front matter with its lines.
type fmEntry struct {
	key    string
	inline string   // text after "key:" on its line
	lines  []string // the key line and its continuation lines
}

// frontMatterEntries splits YAML into top-level entries: a line at column
// 0 that is not a comment, a list item or a document marker starts an
// entry; other lines continue the current one.
func frontMatterEntries(meta string) []fmEntry {
	var out []fmEntry
	for _, line := range strings.Split(meta, "\n") {
		if line != "" && line[0] != ' ' && line[0] != '\t' && line[0] != '#' && line[0] != '-' {
			key, inline, _ := strings.Cut(line, ":")
			out = append(out, fmEntry{key: strings.TrimSpace(unquoteScalar(strings.TrimSpace(key))), inline: inline, lines: []string{line}})
			continue
		}
		if len(out) == 0 {
			out = append(out, fmEntry{})
		}
		out[len(out)-1].lines = append(out[len(out)-1].lines, line)
	}
	return out
}

// cardMetadata keeps the source metadata except the keys mlx-lm sets, then
// appends base_model, library_name, pipeline_tag and tags (with mlx).
func cardMetadata(meta, base string) string {
	var b strings.Builder
	var tags []string
	hadAny := false
	for _, e := range frontMatterEntries(meta) {
		switch e.key {
		case "library_name", "pipeline_tag", "base_model":
			continue
		case "tags":
			tags = parseTags(e)
			continue
		}
		lines := e.lines
		for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
			lines = lines[:len(lines)-1]
		}
		for _, l := range lines {
			b.WriteString(l)
			b.WriteString("\n")
			hadAny = true
		}
	}
	if !hadAny {
		b.WriteString("language: en\n")
	}
	if base != "" {
		fmt.Fprintf(&b, "base_model: %s\n", yamlScalar(base))
	}
	b.WriteString("library_name: mlx\npipeline_tag: text-generation\ntags:\n")
	hasMLX := false
	for _, t := range tags {
		if t == "mlx" {
			hasMLX = true
		}
		fmt.Fprintf(&b, "- %s\n", yamlScalar(t))
	}
	if !hasMLX {
		b.WriteString("- mlx\n")
	}
	return b.String()
}

// parseTags reads "tags: [a, b]", "tags: a" or a block list.
func parseTags(e fmEntry) []string {
	var out []string
	in := strings.TrimSpace(e.inline)
	if strings.HasPrefix(in, "[") && strings.HasSuffix(in, "]") {
		for _, t := range strings.Split(in[1:len(in)-1], ",") {
			if t = unquoteScalar(strings.TrimSpace(t)); t != "" {
				out = append(out, t)
			}
		}
		return out
	}
	if in != "" {
		return []string{unquoteScalar(in)}
	}
	for _, l := range e.lines[1:] {
		l = strings.TrimSpace(l)
		if item, ok := strings.CutPrefix(l, "-"); ok {
			if t := unquoteScalar(strings.TrimSpace(item)); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func unquoteScalar(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

var rePlainScalar = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./+-]*$`)

// yamlScalar writes s plain when that is unambiguous, else double-quoted.
func yamlScalar(s string) string {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "~":
		return `"` + s + `"`
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil && rePlainScalar.MatchString(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
