package hub

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMatchPattern(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"*.json", "config.json", true},
		{"*.json", "sub/dir/config.json", true}, // fnmatch '*' crosses '/'
		{"*.json", "config.jsonl", false},
		{"model*.safetensors", "model-00001-of-00002.safetensors", true},
		{"model*.safetensors", "original/model.safetensors", false},
		{"model*.safetensors", "consolidated.safetensors", false},
		{"tokenizer.model", "tokenizer.model", true},
		{"tokenizer.model", "tokenizer_model", false},
		{"?.txt", "a.txt", true},
		{"?.txt", "ab.txt", false},
		{"[ab].txt", "b.txt", true},
		{"[!ab].txt", "b.txt", false},
		{"[!ab].txt", "c.txt", true},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[]]x", "]x", true},
		{"[abc", "[abc", true}, // unclosed: literal
		{"sub/", "sub/file.json", true},
		{"sub/", "subx/file.json", false},
		{`sub\*`, "sub/a", true},
		{"*", "", true},
		{"**", "a/b/c", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"*.JSON", "config.json", false}, // case-sensitive (fnmatchcase)
	}
	for _, tc := range cases {
		t.Run(tc.pattern+" "+tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, MatchPattern(tc.pattern, tc.name))
		})
	}
}

func TestDefaultPatternsSelection(t *testing.T) {
	names := []string{"config.json", "model.safetensors", "model-00001-of-00003.safetensors", "pytorch_model.bin",
		"tokenizer.model", "tokenizer.json", "vocab.txt", "merges.txt", "chat_template.jinja", "README.md", "LICENSE",
		"consolidated.safetensors", "modeling_x.py", "qwen.tiktoken", "additional_chat_templates/tool_use.jinja",
		"model.gguf", "original/params.json"}
	got := filterNames(names, DefaultAllowPatterns(), nil)
	assert.Equal(t, []string{"config.json", "model.safetensors", "model-00001-of-00003.safetensors", "tokenizer.model",
		"tokenizer.json", "vocab.txt", "merges.txt", "chat_template.jinja", "modeling_x.py", "qwen.tiktoken",
		"additional_chat_templates/tool_use.jinja", "original/params.json"}, got)
	assert.Equal(t, []string{"config.json", "tokenizer.json"}, filterNames(names, []string{"*.json"}, []string{"original/*"}))
}

func TestValidateRepoID(t *testing.T) {
	for _, ok := range []string{"gpt2", "org/name", "mlx-community/Qwen2.5-0.5B-Instruct-4bit", "a_b/c.d", strings.Repeat("a", 96)} {
		assert.NoError(t, ValidateRepoID(ok), ok)
	}
	for _, bad := range []string{"", "a/b/c", "../x", "org/..", "a--b", "a..b", "-a", "a-", ".a", "org/name.git", "a b", "org/na me",
		"org/", "/name", strings.Repeat("a", 97), "org/name?x", "org/näme"} {
		assert.ErrorIs(t, ValidateRepoID(bad), ErrInvalid, bad)
	}
}

func TestValidateFilenameAndRevision(t *testing.T) {
	for _, ok := range []string{"config.json", "sub/dir/x.bin", "a..b.json", ".gitattributes", "x y.txt"} {
		assert.NoError(t, ValidateFilename(ok), ok)
	}
	for _, bad := range []string{"", "..", "../x", "a/../b", "/abs", `a\b`, "C:x", "c:/x", "a//b", "a/", "./a", "a/.", "x\x00y", "x\ny",
		"ok/C:evil"} {
		assert.ErrorIs(t, ValidateFilename(bad), ErrUnsafePath, "%q", bad)
	}
	for _, ok := range []string{"main", "v1.0", "refs/pr/1", "0123456789abcdef0123456789abcdef01234567"} {
		assert.NoError(t, ValidateRevision(ok), ok)
	}
	for _, bad := range []string{"", "../main", "refs/../../x", "/main", `a\b`} {
		assert.ErrorIs(t, ValidateRevision(bad), ErrInvalid, bad)
	}
}

func TestQuote(t *testing.T) {
	assert.Equal(t, "refs%2Fpr%2F1", quoteAll("refs/pr/1"))
	assert.Equal(t, "sub/a%20b%23c%3F.json", quotePath("sub/a b#c?.json"))
	assert.Equal(t, "a-b_c.d~", quoteAll("a-b_c.d~"))
	assert.Equal(t, "%C3%A9", quoteAll("é"))
}

func TestModelInfoValidation(t *testing.T) {
	good := `{"id":"org/x","sha":"0123456789abcdef0123456789abcdef01234567","siblings":[
		{"rfilename":"config.json","size":10,"blobId":"0123456789abcdef0123456789abcdef01234567"},
		{"rfilename":"model.safetensors","size":5,"blobId":"0123456789abcdef0123456789abcdef01234567",
		 "lfs":{"sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":5,"pointerSize":130}}]}`
	var raw rawModelInfo
	require.NoError(t, json.Unmarshal([]byte(good), &raw))
	info, err := raw.validate()
	require.NoError(t, err)
	require.Len(t, info.Siblings, 2)
	assert.Equal(t, int64(5), info.Siblings[1].LFS.Size)

	bad := map[string]string{
		"sha":       `{"sha":"../../etc","siblings":[]}`,
		"blobId":    `{"sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"rfilename":"a","blobId":"../x"}]}`,
		"lfs sha":   `{"sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"rfilename":"a","lfs":{"sha256":"zz","size":1}}]}`,
		"size":      `{"sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"rfilename":"a","size":-1}]}`,
		"huge":      `{"sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"rfilename":"a","size":9223372036854775807}]}`,
		"duplicate": `{"sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"rfilename":"a"},{"rfilename":"a"}]}`,
		"no name":   `{"sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"size":1}]}`,
	}
	for name, js := range bad {
		t.Run(name, func(t *testing.T) {
			var raw rawModelInfo
			require.NoError(t, json.Unmarshal([]byte(js), &raw))
			_, err := raw.validate()
			require.ErrorIs(t, err, ErrFormat)
		})
	}
}

func TestParseContentRange(t *testing.T) {
	cases := []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes -1-5/10", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes 1-2", 0, 0, false},
		{"bytes x-2/3", 0, 0, false},
		{"bytes 1-2/-3", 0, 0, false},
	}
	for _, tc := range cases {
		s, total, ok := parseContentRange(tc.in)
		assert.Equal(t, tc.ok, ok, tc.in)
		if ok {
			assert.Equal(t, tc.start, s, tc.in)
			assert.Equal(t, tc.total, total, tc.in)
		}
	}
}

func FuzzValidateFilename(f *testing.F) {
	for _, s := range []string{"config.json", "../x", "a/b", `a\b`, "C:x", "a//b", "é/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateFilename(name) != nil {
			return
		}
		base := filepath.Join(string(filepath.Separator), "base")
		p := filepath.Join(base, filepath.FromSlash(name))
		rel, err := filepath.Rel(base, p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			t.Fatalf("accepted %q escapes: %q", name, p)
		}
		if filepath.ToSlash(rel) != name {
			t.Fatalf("accepted %q is not canonical: %q", name, rel)
		}
	})
}

func FuzzModelInfo(f *testing.F) {
	f.Add([]byte(`{"sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"rfilename":"a","size":1,"blobId":"0123456789abcdef0123456789abcdef01234567"}]}`))
	f.Add([]byte(`{"sha":"x","siblings":[{"rfilename":"a","lfs":{"oid":"1","size":-3}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var raw rawModelInfo
		if json.Unmarshal(data, &raw) != nil {
			return
		}
		info, err := raw.validate()
		if err != nil {
			return
		}
		if !IsCommitHash(info.SHA) {
			t.Fatalf("bad sha accepted: %q", info.SHA)
		}
		for _, s := range info.Siblings {
			if s.Size < -1 || s.Size > maxFileSize {
				t.Fatalf("bad size accepted: %d", s.Size)
			}
			if s.LFS != nil && !reSHA256.MatchString(s.LFS.SHA256) {
				t.Fatalf("bad LFS sha accepted: %q", s.LFS.SHA256)
			}
			if s.BlobID != "" && !reCommit.MatchString(s.BlobID) {
				t.Fatalf("bad blob id accepted: %q", s.BlobID)
			}
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	f.Add("bytes 1-2/3")
	f.Add("bytes 0-0/*")
	f.Fuzz(func(t *testing.T, v string) {
		start, total, ok := parseContentRange(v)
		if ok && (start < 0 || total < -1) {
			t.Fatalf("%q -> %d %d", v, start, total)
		}
	})
}

func FuzzMatchPattern(f *testing.F) {
	f.Add("*.json", "a/b.json")
	f.Add("[!a-", "[!a-")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 64 || len(name) > 256 {
			return
		}
		MatchPattern(pattern, name) // must not panic
		if !strings.ContainsAny(pattern, "*?[\\") && MatchPattern(pattern, name) != (strings.TrimSuffix(pattern, "/") == name && !strings.HasSuffix(pattern, "/")) &&
			!strings.HasSuffix(pattern, "/") {
			t.Fatalf("literal %q vs %q", pattern, name)
		}
	})
}

func ExampleMatchPattern() {
	for _, name := range []string{"config.json", "sub/special.json", "model-00001-of-00002.safetensors", "pytorch_model.bin"} {
		fmt.Println(name, MatchPattern("*.json", name) || MatchPattern("model*.safetensors", name))
	}
	// Output:
	// config.json true
	// sub/special.json true
	// model-00001-of-00002.safetensors true
	// pytorch_model.bin false
}
