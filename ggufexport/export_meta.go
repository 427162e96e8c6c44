package ggufexport

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/fsx"
	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// General metadata (general.*) as gguf-py's Metadata.load derives it for
// convert_hf_to_gguf.py: the model card's YAML front matter (README.md),
// config.json _name_or_path, the directory name, generation_config.json's
// sampling defaults and a size label from the parameter count.
//
// The model card reader understands the front matter subset model cards
// use: "key: scalar", "key: [a, b]" and block lists ("- item"); nested
// mappings are ignored (gguf-py would read them; an entry in the exporter's
// allow-list documents it).

// exportMeta is gguf-py's Metadata (the fields the exporter fills).
type exportMeta struct {
	sampling []gguf.KV // general.sampling.*, in writing order

	name, author, version, organization, finetune, basename, description string
	sizeLabel, license, licenseName, licenseLink                         string
	sourceURL, sourceDOI, sourceUUID, sourceRepoURL                      string
	baseModels, datasets                                                 []map[string]string
	hasBaseModels, hasDatasets                                           bool
	tags, languages                                                      []string
}

// paramCounts is gguf-py's GGUFWriter.get_total_parameter_count.
type paramCounts struct {
	total, shared, expert, expertCount int64
}

func countParams(tensors []gguf.TensorInfo) paramCounts {
	var c paramCounts
	var expertSum, nExpertTensors int64
	for _, t := range tensors {
		size := int64(1)
		for _, d := range t.Shape {
			size *= int64(d)
		}
		if strings.Contains(t.Name, "_exps.") && len(t.Shape) >= 3 {
			// shape is reversed in ggml order: numpy shape[-3] is ne[2],
			// shape[-2] (for a bias) is ne[1].
			var ec int64
			if strings.Contains(t.Name, ".bias") {
				ec = int64(t.Shape[1])
			} else {
				ec = int64(t.Shape[2])
			}
			if ec > 0 {
				c.expert += size / ec
			}
			expertSum += ec
			nExpertTensors++
		} else {
			c.shared += size
		}
		c.total += size
	}
	if nExpertTensors > 0 {
		c.expertCount = expertSum / nExpertTensors
	}
	return c
}

// weightCountNotation is gguf-py's model_weight_count_rounded_notation.
func weightCountNotation(n int64, minDigits int) string {
	f := float64(n)
	var scaled float64
	var suffix string
	switch {
	case f > 1e12:
		scaled, suffix = f*1e-12, "T"
	case f > 1e9:
		scaled, suffix = f*1e-9, "B"
	case f > 1e6:
		scaled, suffix = f*1e-6, "M"
	default:
		scaled, suffix = f*1e-3, "K"
	}
	r := strconv.FormatFloat(math.RoundToEven(scaled), 'f', 0, 64)
	r = strings.TrimLeft(r, "0")
	fix := max(minDigits-len(r), 0)
	return strconv.FormatFloat(scaled, 'f', fix, 64) + suffix
}

// sizeLabel is gguf-py's size_label.
func sizeLabel(c paramCounts) string {
	if c.expertCount > 0 {
		return fmt.Sprintf("%dx%s", c.expertCount, weightCountNotation(abs64(c.shared)+abs64(c.expert), 2))
	}
	return weightCountNotation(abs64(c.total), 2)
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// pyTitle is Python's str.title().
func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, r := range s {
		cased := unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r)
		switch {
		case cased && !prevCased:
			b.WriteRune(unicode.ToTitle(r))
		case cased:
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
		prevCased = cased
	}
	return b.String()
}

// pyIsLower is Python's str.islower().
func pyIsLower(s string) bool {
	cased := false
	for _, r := range s {
		if unicode.IsUpper(r) || unicode.IsTitle(r) {
			return false
		}
		if unicode.IsLower(r) {
			cased = true
		}
	}
	return cased
}

var versionWordRE = regexp.MustCompile(`^(v\d+(?:\.\d+)*|\d.*)$`)

// idToTitle is Metadata.id_to_title.
func idToTitle(s string) string {
	words := strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "-", " "))
	for i, w := range words {
		if pyIsLower(w) && !versionWordRE.MatchString(w) {
			words[i] = pyTitle(w)
		}
	}
	return strings.Join(words, " ")
}

var (
	reVersion    = regexp.MustCompile(`(?i)^(v|iter)?\d+([.]\d+)*$`)
	reQuantType  = regexp.MustCompile(`(?i)^(i?q\d(_\w)*|b?fp?(16|32))$`)
	reSize       = regexp.MustCompile(`(?i)^(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)$`)
	reFinetuneID = regexp.MustCompile(`(?i)^(chat|instruct|vision|lora)$`)
)

// idComponents is the result of Metadata.get_model_id_components (nil:
// None).
type idComponents struct {
	full, org, basename, finetune, version, sizeLabel *string
}

func strp(s string) *string { return &s }

// modelIDComponents is Metadata.get_model_id_components.
func modelIDComponents(id string, totalParams int64) idComponents {
	if strings.Contains(id, " ") {
		return idComponents{full: strp(id)}
	}
	var org *string
	full := id
	if o, rest, ok := strings.Cut(id, "/"); ok {
		org, full = strp(o), rest
	}
	if org != nil && len(*org) > 0 && (*org)[0] == '.' {
		org = nil
	}
	ip := classifyIDParts(full, totalParams)
	ip.dropAlphaSizeLabels()
	ip.markBasename()
	c := idComponents{full: strp(full), org: org}
	c.basename = ip.join("basename", "", false)
	c.sizeLabel = ip.join("size_label", "", true)
	c.finetune = ip.join("finetune", "", false)
	c.version = ip.join("version", "basename", false)
	if c.sizeLabel == nil && c.finetune == nil && c.version == nil {
		c.basename = nil
	}
	return c
}

// idParts are a model id's dash-separated parts and what each is taken
// for (version, type, size_label, finetune, basename).
type idParts struct {
	parts []string
	types []map[string]bool
}

// classifyIDParts splits the model id (without its organization) and
// classifies each part by its form: version, quantization type, size
// label (normalized; a finetune when totalParams contradicts it) or
// finetune word.
func classifyIDParts(full string, totalParams int64) *idParts {
	ip := &idParts{}
	for _, p := range strings.Split(full, "-") {
		if p != "" {
			ip.parts = append(ip.parts, p)
		}
	}
	ip.types = make([]map[string]bool, len(ip.parts))
	for i := range ip.types {
		ip.types[i] = map[string]bool{}
	}
	for i, part := range ip.parts {
		t := ip.types[i]
		switch {
		case reVersion.MatchString(part):
			t["version"] = true
		case reQuantType.MatchString(part):
			t["type"] = true
			ip.parts[i] = strings.ToUpper(part)
		case i > 0 && reSize.MatchString(part):
			part, finetune := sizeLabelPart(part, totalParams)
			if finetune {
				t["finetune"] = true
			}
			if len(t) == 0 {
				t["size_label"] = true
			}
			ip.parts[i] = part
		case i > 0 && reFinetuneID.MatchString(part):
			if totalParams < 0 && strings.ToLower(part) == "lora" {
				t["type"] = true
			} else {
				t["finetune"] = true
			}
		}
	}
	return ip
}

// sizeLabelPart normalizes a size label part ("7b1" -> "7.1B", "7b" ->
// "7B"); finetune is set (and the unit lowercased) when totalParams
// contradicts it.
func sizeLabelPart(part string, totalParams int64) (string, bool) {
	part = strings.ReplaceAll(part, "_", ".")
	rs := []rune(part)
	if unicode.IsDigit(rs[len(rs)-1]) && len(rs) >= 2 {
		// bloom-7b1 notation: "7b1" -> "7.1b"
		part = string(rs[:len(rs)-2]) + "." + string(rs[len(rs)-1]) + string(rs[len(rs)-2])
		rs = []rune(part)
	}
	if len(rs) > 1 && unicode.IsDigit(rs[len(rs)-2]) && strings.ContainsRune("kmbt", rs[len(rs)-1]) {
		part = string(rs[:len(rs)-1]) + strings.ToUpper(string(rs[len(rs)-1]))
		rs = []rune(part)
	}
	if totalParams == 0 {
		return part, false
	}
	last := rs[len(rs)-1]
	f, err := strconv.ParseFloat(string(rs[:len(rs)-1]), 64)
	if err != nil {
		return part, false
	}
	// float64(): Python rounds the product before the subtraction in
	// sizeContradicts (arm64 would fuse them).
	label := float64(f * math.Pow(1000, float64(strings.IndexRune(" KMBT", last))))
	if sizeContradicts(label, totalParams) {
		return string(rs[:len(rs)-1]) + strings.ToLower(string(last)), true
	}
	return part, false
}

// sizeContradicts reports whether a size label's parameter count is far
// from the model's (negative totalParams: a LoRA adapter's, which is far
// smaller than the label).
func sizeContradicts(label float64, totalParams int64) bool {
	return (totalParams < 0 && label < float64(abs64(totalParams)/8)) ||
		(totalParams > 0 && math.Abs(label-float64(totalParams)) > float64(7*totalParams/8))
}

// dropAlphaSizeLabels drops the all-letter size labels ("small", "xl")
// when some size label is numeric.
func (ip *idParts) dropAlphaSizeLabels() {
	numericSize := false
	for i, t := range ip.types {
		if t["size_label"] && strings.ContainsFunc(ip.parts[i], unicode.IsDigit) {
			numericSize = true
		}
	}
	if !numericSize {
		return
	}
	notLetter := func(r rune) bool { return !unicode.IsLetter(r) }
	for i, t := range ip.types {
		if t["size_label"] && !strings.ContainsFunc(ip.parts[i], notLetter) {
			delete(t, "size_label")
		}
	}
}

// markBasename takes the leading unclassified words and versions for the
// basename (the others unclassified for finetune), except trailing ones
// that are also something else.
func (ip *idParts) markBasename() {
	atStart := true
	for i, part := range ip.parts {
		t := ip.types[i]
		if atStart && ((len(t) == 0 && unicode.IsLetter([]rune(part)[0])) || t["version"]) {
			t["basename"] = true
		} else {
			atStart = false
			if len(t) == 0 {
				t["finetune"] = true
			}
		}
	}
	for i := len(ip.parts) - 1; i >= 0; i-- {
		if t := ip.types[i]; t["basename"] && len(t) > 1 {
			delete(t, "basename")
		} else {
			break
		}
	}
}

// join joins the parts of a kind (not also of exclude) with "-"; nil for
// none.
func (ip *idParts) join(kind string, exclude string, dedup bool) *string {
	var out []string
	seen := map[string]bool{}
	for i, p := range ip.parts {
		if ip.types[i][kind] && (exclude == "" || !ip.types[i][exclude]) {
			if dedup && seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return strp(strings.Join(out, "-"))
}

// cardValue is a model card front matter value: a scalar string or a list.
type cardValue struct {
	s      string
	list   []string
	isList bool
	null   bool
}

// loadModelCard reads the YAML front matter of dir/README.md (see the file
// comment for the subset understood).
func loadModelCard(dir string) (map[string]cardValue, error) {
	b, err := fsx.ReadFile(filepath.Join(dir, "README.md"), 16<<20)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fsx.ErrTooLarge) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gguf: model card: %w", err)
	}
	return parseModelCard(string(b)), nil
}

// parseModelCard parses the front matter of a README.md's content (nil
// when it has none).
func parseModelCard(content string) map[string]cardValue {
	lines := strings.Split(strings.ReplaceAll(content, "\r\n", "\n"), "\n")
	if len(lines) == 0 || lines[0] != "---" {
		return nil
	}
	card := map[string]cardValue{}
	var listKey string
	for _, line := range lines[1:] {
		if line == "---" {
			break
		}
		line = strings.ReplaceAll(line, "\t", "  ")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasPrefix(trimmed, "- ") || trimmed == "-" {
			if listKey != "" {
				v := card[listKey]
				item := yamlScalar(strings.TrimSpace(strings.TrimPrefix(trimmed, "-")))
				v.list = append(v.list, item)
				v.isList, v.null = true, false
				card[listKey] = v
			}
			continue
		}
		if line[0] == ' ' {
			continue // nested mapping content: not understood
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			listKey = ""
			continue
		}
		key = strings.TrimSpace(key)
		listKey = ""
		if key == "" {
			continue
		}
		v := cardValueOf(strings.TrimSpace(val))
		card[key] = v
		if v.null {
			listKey = key // a block list may follow
		}
	}
	return card
}

// cardValueOf is a top-level key's value: none (null), a flow list
// [a, b] or a scalar.
func cardValueOf(val string) cardValue {
	switch {
	case val == "":
		return cardValue{null: true}
	case strings.HasPrefix(val, "[") && strings.HasSuffix(val, "]"):
		var items []string
		inner := strings.TrimSpace(val[1 : len(val)-1])
		if inner != "" {
			for _, it := range strings.Split(inner, ",") {
				items = append(items, yamlScalar(strings.TrimSpace(it)))
			}
		}
		return cardValue{list: items, isList: true}
	}
	return cardValue{s: yamlScalar(val)}
}

// yamlScalar unquotes a YAML scalar.
func yamlScalar(s string) string {
	if i := strings.Index(s, " #"); i >= 0 && !strings.HasPrefix(s, "'") && !strings.HasPrefix(s, `"`) {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) >= 2 {
		if s[0] == '\'' && s[len(s)-1] == '\'' {
			return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
		}
		if s[0] == '"' && s[len(s)-1] == '"' {
			if u, err := strconv.Unquote(s); err == nil {
				return u
			}
			return s[1 : len(s)-1]
		}
	}
	return s
}

// loadMetadata is Metadata.load for a model directory (no override file);
// nameDir is the directory whose base name fills in the model id components
// (the model directory itself, or a Hub repo id's name).
func loadMetadata(dir, nameDir string, cfg *pyjson.Object, genCfg pyjson.Value, totalParams int64) (*exportMeta, error) {
	md := &exportMeta{}
	card, err := loadModelCard(dir)
	if err != nil {
		return nil, err
	}
	if card != nil {
		md.applyCard(card, totalParams)
	}
	if cfg != nil {
		if v, ok := cfg.Get("_name_or_path"); ok {
			if s, ok := v.(string); ok && strings.Count(s, "/") <= 1 {
				md.applyIDComponents(modelIDComponents(s, totalParams))
			}
		}
	}
	abs, err := filepath.Abs(nameDir)
	if err == nil {
		md.applyIDComponents(modelIDComponents(filepath.Base(abs), totalParams))
	}
	if gc, ok := genCfg.(*pyjson.Object); ok {
		md.sampling = samplingKVs(gc)
	}
	return md, nil
}

// applyCard takes the metadata the model card gives.
func (md *exportMeta) applyCard(card map[string]cardValue, totalParams int64) {
	use := func(dst *string, key string) {
		if v, ok := card[key]; ok && *dst == "" && !v.isList && !v.null {
			*dst = v.s
		}
	}
	for _, p := range []struct {
		dst *string
		key string
	}{
		{&md.name, "name"}, {&md.author, "author"}, {&md.version, "version"}, {&md.organization, "organization"},
		{&md.description, "description"}, {&md.finetune, "finetune"}, {&md.basename, "basename"},
		{&md.sizeLabel, "size_label"}, {&md.sourceURL, "url"}, {&md.sourceDOI, "doi"}, {&md.sourceUUID, "uuid"},
		{&md.sourceRepoURL, "repo_url"},
		{&md.name, "model_name"}, {&md.author, "model_author"}, {&md.version, "model_version"},
		{&md.organization, "model_organization"}, {&md.description, "model_description"},
		{&md.finetune, "model_finetune"}, {&md.basename, "model_basename"}, {&md.sizeLabel, "model_size_label"},
		{&md.sourceURL, "model_url"}, {&md.sourceDOI, "model_doi"}, {&md.sourceUUID, "model_uuid"},
		{&md.sourceRepoURL, "model_repo_url"},
		{&md.author, "model_creator"}, {&md.basename, "model_type"},
	} {
		use(p.dst, p.key)
	}
	md.baseModels, md.hasBaseModels = cardSources(card, totalParams, "base_model", "base_models", "base_model_sources")
	md.datasets, md.hasDatasets = cardSources(card, totalParams, "datasets", "dataset", "dataset_sources")
	if v, ok := card["license"]; ok && !v.null {
		if v.isList {
			md.license = strings.Join(v.list, ",")
		} else {
			md.license = v.s
		}
	}
	use(&md.licenseName, "license_name")
	use(&md.licenseLink, "license_link")
	md.tags = append(md.tags, cardLists(card, "tags", "pipeline_tag")...)
	md.languages = append(md.languages, cardLists(card, "languages", "language")...)
}

// cardSources are the source entries of the first of keys the card has
// (ok: one is there).
func cardSources(card map[string]cardValue, totalParams int64, keys ...string) (entries []map[string]string, ok bool) {
	v, key, ok := firstCard(card, keys...)
	if !ok {
		return nil, false
	}
	for _, id := range cardItems(v) {
		entries = append(entries, sourceEntry(id, totalParams, key))
	}
	return entries, true
}

// cardLists are the items of all of keys the card has, in order.
func cardLists(card map[string]cardValue, keys ...string) []string {
	var out []string
	for _, k := range keys {
		if v, ok := card[k]; ok {
			out = append(out, cardItems(v)...)
		}
	}
	return out
}

// applyIDComponents fills the fields still empty from a model id's
// components.
func (md *exportMeta) applyIDComponents(c idComponents) {
	if md.name == "" && c.full != nil {
		md.name = idToTitle(*c.full)
	}
	if md.organization == "" && c.org != nil {
		md.organization = idToTitle(*c.org)
	}
	setIfEmpty(&md.basename, c.basename)
	setIfEmpty(&md.finetune, c.finetune)
	setIfEmpty(&md.version, c.version)
	setIfEmpty(&md.sizeLabel, c.sizeLabel)
}

// setIfEmpty sets *dst to *v where dst is empty and v is not None.
func setIfEmpty(dst *string, v *string) {
	if *dst == "" && v != nil {
		*dst = *v
	}
}

func firstCard(card map[string]cardValue, keys ...string) (cardValue, string, bool) {
	for _, k := range keys {
		if v, ok := card[k]; ok {
			return v, k, true
		}
	}
	return cardValue{}, "", false
}

func cardItems(v cardValue) []string {
	if v.null {
		return nil
	}
	if v.isList {
		return v.list
	}
	return []string{v.s}
}

var hfURLRE = regexp.MustCompile(`^https?://huggingface.co/([^/]+/[^/]+)$`)

// sourceEntry is one base model or dataset entry.
func sourceEntry(id string, totalParams int64, _ string) map[string]string {
	e := map[string]string{}
	fill := func(c idComponents, withRepo bool) {
		if c.full != nil {
			e["name"] = idToTitle(*c.full)
		}
		if c.org != nil {
			e["organization"] = idToTitle(*c.org)
		}
		if c.version != nil {
			e["version"] = *c.version
		}
		if withRepo && c.org != nil && c.full != nil {
			e["repo_url"] = "https://huggingface.co/" + *c.org + "/" + *c.full
		}
	}
	if strings.HasPrefix(id, "http://") || strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "ssh://") {
		e["repo_url"] = id
		if strings.Contains(id, "huggingface.co") {
			if m := hfURLRE.FindStringSubmatch(id); m != nil {
				fill(modelIDComponents(m[1], totalParams), false)
			}
		}
		return e
	}
	fill(modelIDComponents(id, totalParams), true)
	return e
}

// samplingKVs reads generation_config.json's sampling defaults
// (general.sampling.*).
func samplingKVs(gc *pyjson.Object) []gguf.KV {
	var out []gguf.KV
	num := func(v pyjson.Value) (float64, bool) { return pyFloat(v) }
	add := func(key, src string, isInt bool, alt ...string) {
		v, ok := gc.Get(src)
		for _, a := range alt {
			if !ok {
				v, ok = gc.Get(a)
			}
		}
		if !ok || v == nil {
			return
		}
		if s, isStr := v.(string); isStr && key == "general.sampling.sequence" {
			if s != "" {
				out = append(out, gguf.KV{Key: key, Value: gguf.NewValue(s)})
			}
			return
		}
		f, ok := num(v)
		if !ok {
			return
		}
		if isInt {
			out = append(out, gguf.KV{Key: key, Value: gguf.NewValue(int32(f))})
		} else {
			out = append(out, gguf.KV{Key: key, Value: gguf.NewValue(float32(f))})
		}
	}
	add("general.sampling.sequence", "sequence", false)
	add("general.sampling.top_k", "top_k", true)
	add("general.sampling.top_p", "top_p", false)
	add("general.sampling.min_p", "min_p", false)
	add("general.sampling.xtc_probability", "xtc_probability", false)
	add("general.sampling.xtc_threshold", "xtc_threshold", false)
	add("general.sampling.temp", "temperature", false)
	add("general.sampling.penalty_last_n", "penalty_last_n", true)
	add("general.sampling.penalty_repeat", "penalty_repeat", false, "repetition_penalty")
	add("general.sampling.mirostat", "mirostat", true)
	add("general.sampling.mirostat_tau", "mirostat_tau", false)
	add("general.sampling.mirostat_eta", "mirostat_eta", false)
	return out
}

// kvs returns the general.* keys in set_gguf_meta_model's order (empty
// strings and lists are skipped, as GGUFWriter.add_string/add_array do).
func (md *exportMeta) kvs() []gguf.KV {
	var out []gguf.KV
	str := func(key, v string) {
		if v != "" {
			out = append(out, gguf.KV{Key: key, Value: gguf.NewValue(v)})
		}
	}
	out = append(out, md.sampling...)
	str("general.name", md.name)
	str("general.author", md.author)
	str("general.version", md.version)
	str("general.organization", md.organization)
	str("general.finetune", md.finetune)
	str("general.basename", md.basename)
	str("general.description", md.description)
	str("general.size_label", md.sizeLabel)
	str("general.license", md.license)
	str("general.license.name", md.licenseName)
	str("general.license.link", md.licenseLink)
	str("general.source.url", md.sourceURL)
	str("general.source.doi", md.sourceDOI)
	str("general.source.uuid", md.sourceUUID)
	str("general.source.repo_url", md.sourceRepoURL)
	entries := func(prefix string, has bool, list []map[string]string) {
		if !has {
			return
		}
		out = append(out, gguf.KV{Key: prefix + ".count", Value: gguf.NewValue(uint32(len(list)))})
		for i, e := range list {
			for _, f := range []string{"name", "author", "version", "organization", "description", "url", "doi", "uuid", "repo_url"} {
				str(fmt.Sprintf("%s.%d.%s", prefix, i, f), e[f])
			}
		}
	}
	entries("general.base_model", md.hasBaseModels, md.baseModels)
	entries("general.dataset", md.hasDatasets, md.datasets)
	if len(md.tags) > 0 {
		out = append(out, gguf.KV{Key: "general.tags", Value: gguf.NewValue(md.tags)})
	}
	if len(md.languages) > 0 {
		out = append(out, gguf.KV{Key: "general.languages", Value: gguf.NewValue(md.languages)})
	}
	return out
}
