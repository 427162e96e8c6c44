package ggufexport

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTokRegexOnig checks the engine against the match offsets the
// tokenizers library (Oniguruma) gives for real pre-tokenizer patterns
// (testdata/tokenizer/regex_onig.json, scripts/oracle/tokenizer_fixtures.py).
func TestTokRegexOnig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "tokenizer", "regex_onig.json"))
	require.NoError(t, err)
	var ref []struct {
		Name    string
		Pattern string
		Cases   []struct {
			Text    string
			Matches [][2]int
		}
	}
	require.NoError(t, json.Unmarshal(b, &ref))
	require.NotEmpty(t, ref)
	for _, p := range ref {
		t.Run(p.Name, func(t *testing.T) {
			re, err := compileTokRegex(p.Pattern)
			require.NoError(t, err)
			for _, c := range p.Cases {
				got, err := re.findAll([]rune(c.Text))
				require.NoError(t, err)
				if len(c.Matches) == 0 {
					c.Matches = nil
				}
				assert.Equal(t, c.Matches, got, "%q", c.Text)
			}
		})
	}
}

// runeOffsets converts RE2 byte offsets to rune offsets.
func runeOffsets(s string, idx [][]int) [][2]int {
	var out [][2]int
	for _, m := range idx {
		out = append(out, [2]int{utf8.RuneCountInString(s[:m[0]]), utf8.RuneCountInString(s[:m[1]])})
	}
	return out
}

// TestTokRegexAgainstRE2 compares the engine with Go's regexp on random
// text for patterns both support (RE2 has the same leftmost-first
// semantics and the same rule for empty matches after a match; its \s is
// ASCII-only, so the text's whitespace is too).
func TestTokRegexAgainstRE2(t *testing.T) {
	patterns := []string{
		`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+`,
		`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+`,
		`[\p{Lu}\p{Lt}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|\p{N}|\s*`,
		`a*?b?|x{2,3}|(?:ab|a)(?:c|bc)`,
		`[^abc\d]+|\d+?|.`,
		`^\s+|\s+$|\S+`,
	}
	alphabet := []rune("abcxXyABC '\t\n\r.,!?-019é漢ÄßŉǅⅣ½\u0301\u200d🦙😀٣")
	rng := rand.New(rand.NewSource(1))
	for _, p := range patterns {
		re, err := compileTokRegex(p)
		require.NoError(t, err, p)
		goPat := strings.ReplaceAll(p, `\d`, `\p{Nd}`) // RE2's \d is ASCII-only
		if p == `^\s+|\s+$|\S+` {
			goPat = `(?m)` + p // Ruby anchors are line anchors
		}
		std := regexp.MustCompile(goPat)
		for i := 0; i < 400; i++ {
			n := rng.Intn(24)
			rs := make([]rune, n)
			for j := range rs {
				rs[j] = alphabet[rng.Intn(len(alphabet))]
			}
			s := string(rs)
			got, err := re.findAll(rs)
			require.NoError(t, err)
			want := runeOffsets(s, std.FindAllStringIndex(s, -1))
			require.Equal(t, want, got, "pattern %q text %q", p, s)
		}
	}
}

func TestTokRegexFeatures(t *testing.T) {
	for _, tc := range []struct {
		pattern, text string
		want          [][2]int
	}{
		{`\s+(?!\S)|\s+`, "a   b", [][2]int{{1, 3}, {3, 4}}},
		{`a(?=b)`, "aab ab", [][2]int{{1, 2}, {4, 5}}},
		{`(?>a+)b|a`, "aaa", [][2]int{{0, 1}, {1, 2}, {2, 3}}},
		{`(?i)ab`, "AB aB", [][2]int{{0, 2}, {3, 5}}},
		{`(?i:k)`, "K\u212a", [][2]int{{0, 1}, {1, 2}}}, // Kelvin sign folds to k
		{`\x41\u0042\x{43}`, "ABC", [][2]int{{0, 3}}},
		{`\Aa|a\z`, "aba", [][2]int{{0, 1}, {2, 3}}},
		{`a\Z`, "a\n", [][2]int{{0, 1}}},
		{`[\-a]+|x{,2}`, "-a-xxx", [][2]int{{0, 3}, {3, 5}, {5, 6}}}, // no empty match right after a match
		{`\p{Han}+|\p{^L}`, "漢字a1", [][2]int{{0, 2}, {3, 4}}},
		{`\P{L}\h\H`, "1fg", [][2]int{{0, 3}}},
		{`\w+\W\d\D`, "ab_\u0301 1x", [][2]int{{0, 7}}},
		{`{x`, "{x", [][2]int{{0, 2}}},
		{`.+`, "ab\ncd", [][2]int{{0, 2}, {3, 5}}},
	} {
		re, err := compileTokRegex(tc.pattern)
		require.NoError(t, err, tc.pattern)
		got, err := re.findAll([]rune(tc.text))
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%q on %q", tc.pattern, tc.text)
	}
}

func TestTokRegexRefused(t *testing.T) {
	for _, p := range []string{
		`(?<=a)b`, `(?<!a)b`, `(a)\1`, `(?<n>a)`, `(a`, `a)`, `[a`, `*a`, `[[a]]`, `[a&&b]`,
		`\p{Nope}`, `\q`, `\`, `(?x)a`, `(?i`, `^*`, `(?=a)+`, `[z-a]`, `\x{110000}`, `\uZZZZ`, `[a-\d]`,
	} {
		_, err := compileTokRegex(p)
		assert.ErrorIs(t, err, errTokRegex, "%q", p)
	}
}

// TestTokRegexBudget: catastrophic backtracking ends with an error, fast.
func TestTokRegexBudget(t *testing.T) {
	re, err := compileTokRegex(`(a*)*b|(a|aa)+c`)
	require.NoError(t, err)
	rs := []rune("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	start := time.Now()
	_, err = re.findAll(rs)
	assert.ErrorIs(t, err, errTokRegex)
	assert.Less(t, time.Since(start), 30*time.Second)
}

func FuzzTokRegex(f *testing.F) {
	f.Add(`\s+(?!\S)|\s+`, "a   b\n")
	f.Add(gpt2Pattern, preTokenizerCheckText)
	f.Add(`(?i:'s|'t)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}`, "I'S 123456 ab")
	f.Add(`(?>a+?)b{2,}+|x*?`, "aabbb xx")
	f.Fuzz(func(t *testing.T, pattern, text string) {
		re, err := compileTokRegex(pattern)
		if err != nil {
			return
		}
		rs := []rune(text)
		if len(rs) > 256 {
			rs = rs[:256]
		}
		got, err := re.findAll(rs)
		if err != nil {
			return
		}
		prev := 0
		for _, m := range got {
			if m[0] < prev || m[1] < m[0] || m[1] > len(rs) {
				t.Fatalf("bad match %v after %d in %d runes", m, prev, len(rs))
			}
			prev = m[1]
		}
	})
}
