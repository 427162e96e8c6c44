package hub

import (
	"fmt"
	"regexp"
	"strings"
)

// maxRepoPart is the longest namespace or name the Hub accepts.
const maxRepoPart = 96

// ValidateRepoID reports whether id is a Hub repo id: "name" or
// "namespace/name", each part 1..96 characters of [A-Za-z0-9_.-], not
// starting or ending with '-' or '.', without "--" or "..". The rules are
// huggingface_hub's validate_repo_id; they also make the id safe to use in
// URLs and in the cache folder name.
func ValidateRepoID(id string) error {
	parts := strings.Split(id, "/")
	if len(parts) > 2 {
		return fmt.Errorf("%w: repo id %q: want \"name\" or \"namespace/name\"", ErrInvalid, id)
	}
	for _, p := range parts {
		if problem := repoPartProblem(p); problem != "" {
			return fmt.Errorf("%w: repo id %q: %s", ErrInvalid, id, problem)
		}
	}
	if strings.Contains(id, "--") || strings.Contains(id, "..") {
		return fmt.Errorf("%w: repo id %q: cannot contain \"--\" or \"..\"", ErrInvalid, id)
	}
	if strings.HasSuffix(id, ".git") {
		return fmt.Errorf("%w: repo id %q: cannot end with \".git\"", ErrInvalid, id)
	}
	return nil
}

// repoPartProblem says what is wrong with one part (namespace or name) of
// a repo id, or "" if nothing is.
func repoPartProblem(p string) string {
	if len(p) == 0 || len(p) > maxRepoPart {
		return fmt.Sprintf("each part must have 1 to %d characters", maxRepoPart)
	}
	for i := 0; i < len(p); i++ {
		if !isRepoIDChar(p[i]) {
			return "only letters, digits, '-', '_' and '.' are allowed"
		}
	}
	if strings.ContainsAny(p[:1], "-.") || strings.ContainsAny(p[len(p)-1:], "-.") {
		return "a part cannot start or end with '-' or '.'"
	}
	return ""
}

// isRepoIDChar reports whether c is allowed in a repo id part.
func isRepoIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// ValidateRevision reports whether rev (a branch, tag or commit, e.g.
// "main", "v1.0", "refs/pr/1") is safe to store under refs/ in the cache.
func ValidateRevision(rev string) error {
	if rev == "" || len(rev) > 256 {
		return fmt.Errorf("%w: revision %q: must have 1 to 256 characters", ErrInvalid, rev)
	}
	if err := checkRelPath(rev); err != nil {
		return fmt.Errorf("%w: revision %q: %v", ErrInvalid, rev, err)
	}
	return nil
}

// ValidateFilename reports whether name, a '/'-separated path from a Hub
// listing, is safe to join onto a local directory: no empty, "." or ".."
// segments, not absolute, no backslashes, drive letters or control
// characters. Names that fail are refused with ErrUnsafePath.
func ValidateFilename(name string) error {
	if len(name) == 0 || len(name) > 4096 {
		return fmt.Errorf("%w: file name of %d bytes", ErrUnsafePath, len(name))
	}
	if err := checkRelPath(name); err != nil {
		return fmt.Errorf("%w: file name %q: %v", ErrUnsafePath, name, err)
	}
	return nil
}

// checkRelPath is the shared rule for names joined onto local directories.
func checkRelPath(p string) error {
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("absolute path")
	}
	if strings.ContainsRune(p, '\\') {
		return fmt.Errorf("backslash")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("control character")
		}
	}
	if len(p) >= 2 && p[1] == ':' {
		return fmt.Errorf("drive letter")
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return fmt.Errorf("empty path segment")
		case ".", "..":
			return fmt.Errorf("%q path segment", seg)
		}
		if strings.ContainsRune(seg, ':') && len(seg) >= 2 && seg[1] == ':' {
			return fmt.Errorf("drive letter")
		}
	}
	return nil
}

var (
	reCommit = regexp.MustCompile(`^[0-9a-f]{40}$`)
	reSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)
	reEtag   = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)
)

// IsCommitHash reports whether rev is a full 40-hex commit id.
func IsCommitHash(rev string) bool { return reCommit.MatchString(rev) }

// quoteAll percent-encodes everything except ASCII letters, digits and
// "_.-~" (Python's urllib.parse.quote with safe="").
func quoteAll(s string) string { return quote(s, "") }

// quotePath is quoteAll that also keeps '/' (Python's quote default).
func quotePath(s string) string { return quote(s, "/") }

func quote(s, safe string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == '-' || c == '~' || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// DefaultAllowPatterns returns the files a conversion needs: mlx-lm's
// DEFAULT_ALLOW_PATTERNS plus chat templates (which "*.jinja" and "*.json"
// already cover at the top level; the explicit entries document the intent
// and catch templates in sub-folders). The result is a fresh slice.
func DefaultAllowPatterns() []string {
	return []string{
		"*.json", "model*.safetensors", "*.py", "tokenizer.model", "*.tiktoken",
		"tiktoken.model", "*.txt", "*.jsonl", "*.jinja",
		"chat_template.json", "chat_template.jinja", "additional_chat_templates/*",
	}
}

// MatchPattern reports whether name matches pattern with Python's
// fnmatch.fnmatchcase rules, as huggingface_hub's allow/ignore patterns do:
// '*' matches any run of characters including '/', '?' one character,
// "[seq]" and "[!seq]" a set; a '[' without a closing ']' is literal. A
// pattern ending in '/' matches everything below that folder.
func MatchPattern(pattern, name string) bool {
	pattern = strings.ReplaceAll(pattern, "\\", "/")
	if strings.HasSuffix(pattern, "/") {
		pattern += "*"
	}
	return fnmatch(pattern, name)
}

// filterNames keeps the names matching at least one allow pattern (all
// names when allow is nil) and no ignore pattern, preserving order.
func filterNames(names, allow, ignore []string) []string {
	var out []string
	for _, n := range names {
		if allow != nil && !matchAny(allow, n) {
			continue
		}
		if matchAny(ignore, n) {
			continue
		}
		out = append(out, n)
	}
	return out
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if MatchPattern(p, name) {
			return true
		}
	}
	return false
}

// fnmatch is an iterative glob matcher with single-star backtracking;
// its cost is O(len(pattern)*len(name)).
func fnmatch(pattern, name string) bool {
	p, n := 0, 0
	starP, starN := -1, 0
	for n < len(name) {
		if p < len(pattern) {
			switch pattern[p] {
			case '*':
				starP, starN = p, n
				p++
				continue
			case '?':
				p++
				n++
				continue
			case '[':
				if ok, width, valid := matchClass(pattern[p:], name[n]); valid {
					if ok {
						p += width
						n++
						continue
					}
				} else if name[n] == '[' {
					p++
					n++
					continue
				}
			default:
				if pattern[p] == name[n] {
					p++
					n++
					continue
				}
			}
		}
		if starP >= 0 {
			starN++
			p, n = starP+1, starN
			continue
		}
		return false
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches c against the class at the start of pat ("[...]").
// valid is false when the class is not closed (then '[' is literal).
func matchClass(pat string, c byte) (ok bool, width int, valid bool) {
	i := 1
	negate := false
	if i < len(pat) && pat[i] == '!' {
		negate = true
		i++
	}
	start := i
	// A ']' right after '[' or '[!' is a literal member.
	if i < len(pat) && pat[i] == ']' {
		i++
	}
	for i < len(pat) && pat[i] != ']' {
		i++
	}
	if i >= len(pat) {
		return false, 0, false
	}
	set := pat[start:i]
	for j := 0; j < len(set); j++ {
		if j+2 < len(set) && set[j+1] == '-' {
			if set[j] <= c && c <= set[j+2] {
				ok = true
			}
			j += 2
			continue
		}
		if set[j] == c {
			ok = true
		}
	}
	if negate {
		ok = !ok
	}
	return ok, i + 1, true
}
