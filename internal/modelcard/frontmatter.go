package modelcard

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// SplitFrontMatter returns the YAML between the leading "---" lines of a
// card and the rest; a card without front matter gives ("", card).
func SplitFrontMatter(card string) (meta, body string) {
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

// Entry is one top-level key of a YAML front matter with its lines.
type Entry struct {
	Key    string
	Inline string   // the text after "key:" on its line
	Lines  []string // the key line and its continuation lines
}

// Entries splits front matter YAML into top-level entries: a line at
// column 0 that is not a comment, a list item or a document marker starts
// an entry; other lines continue the current one.
func Entries(meta string) []Entry {
	var out []Entry
	for _, line := range strings.Split(meta, "\n") {
		if line != "" && line[0] != ' ' && line[0] != '\t' && line[0] != '#' && line[0] != '-' {
			key, inline, _ := strings.Cut(line, ":")
			out = append(out, Entry{Key: strings.TrimSpace(unquoteScalar(strings.TrimSpace(key))), Inline: inline, Lines: []string{line}})
			continue
		}
		if len(out) == 0 {
			out = append(out, Entry{})
		}
		out[len(out)-1].Lines = append(out[len(out)-1].Lines, line)
	}
	return out
}

// Scalar is the entry's inline value unquoted ("" for a block value).
func (e Entry) Scalar() string { return unquoteScalar(strings.TrimSpace(e.Inline)) }

// List reads "key: [a, b]", "key: a" or a block list.
func (e Entry) List() []string {
	var out []string
	in := strings.TrimSpace(e.Inline)
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
	for i, l := range e.Lines {
		if i == 0 {
			continue
		}
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
