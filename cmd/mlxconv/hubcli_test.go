package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/convert/hub/hubtest"
)

// mlxCard is the card mlxconv writes for a converted model (library_name:
// mlx), which upload completes for the repo.
const mlxCard = "---\nlanguage: en\nbase_model: org/tiny\nlibrary_name: mlx\ntags:\n- mlx\n---\n"

// uploadFixture writes parent/m, a converted-model folder with a GGUF
// export beside the MLX weights (what gguf writes by default), and
// returns parent and the folder.
func uploadFixture(t *testing.T) (parent, dir string) {
	t.Helper()
	parent = t.TempDir()
	dir = filepath.Join(parent, "m")
	for name, data := range map[string]string{
		"config.json":       `{"model_type":"llama","quantization":{"group_size":64,"bits":4}}`,
		"model.safetensors": strings.Repeat("w", 3000),
		"tokenizer.json":    `{"version":"1.0"}`,
		"README.md":         mlxCard,
		"tiny-F16.gguf":     "GGUF" + strings.Repeat("g", 100),
		"sub/extra.txt":     "x",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	return parent, dir
}

// storedNames lists a fake Hub repo's files, without the .gitattributes a
// new repo starts with.
func storedNames(t *testing.T, h *hubtest.Hub, id string) []string {
	t.Helper()
	rev := "main"
	if i := strings.Index(id, "@"); i >= 0 {
		id, rev = id[:i], id[i+1:]
	}
	files, ok := h.Files(id, rev)
	require.True(t, ok, "no repo %s at %s", id, rev)
	var out []string
	for n := range files {
		if n != ".gitattributes" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

var mlxNames = []string{"README.md", "config.json", "model.safetensors", "sub/extra.txt", "tokenizer.json"}

const ggufSkipped = "mlxconv: skipped 1 *.gguf file(s); --include '*.gguf' uploads them\n"

func prefixed(p string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p + n
	}
	return out
}

// upload's hf forms: REPO [DIR|FILE] [PATH_IN_REPO], the patterns, the
// *.gguf rule of a model folder and the repo types.
func TestUploadForms(t *testing.T) {
	for _, tc := range []struct {
		name string
		cwd  string // "parent", "dir" or "" (unchanged)
		args []string
		id   string   // the fake Hub's repo key
		want []string // repo paths committed
		skip bool     // the *.gguf note is printed
		card bool     // README.md got the repo's title
	}{
		{"REPO uploads the current folder", "dir", []string{"me/x"}, "me/x", mlxNames, true, true},
		{"REPO uploads the folder named like it", "parent", []string{"me/m"}, "me/m", mlxNames, true, true},
		{"REPO DIR", "", []string{"me/x", "DIR"}, "me/x", mlxNames, true, true},
		{"REPO GLOB", "dir", []string{"me/x", "*.json"}, "me/x", []string{"config.json", "tokenizer.json"}, false, false},
		{"REPO DIR PATH_IN_REPO", "", []string{"me/x", "DIR", "v2"}, "me/x", prefixed("v2/", mlxNames), true, false},
		{"REPO FILE", "", []string{"me/x", "DIR/tiny-F16.gguf"}, "me/x", []string{"tiny-F16.gguf"}, false, false},
		{"REPO FILE PATH_IN_REPO", "", []string{"me/x", "DIR/config.json", "cfg/c.json"}, "me/x", []string{"cfg/c.json"}, false, false},
		{"REPO FILE FOLDER/", "", []string{"me/x", "DIR/config.json", "cfg/"}, "me/x", []string{"cfg/config.json"}, false, false},
		{"--include", "", []string{"me/x", "DIR", "--include", "*.json", "--include", "sub/*"}, "me/x",
			[]string{"config.json", "sub/extra.txt", "tokenizer.json"}, false, false},
		{"--exclude", "", []string{"me/x", "DIR", "--exclude", "sub/*", "--exclude", "*.md"}, "me/x",
			[]string{"config.json", "model.safetensors", "tokenizer.json"}, true, false},
		{"--include *.gguf", "", []string{"me/x", "DIR", "--include", "*.gguf"}, "me/x", []string{"tiny-F16.gguf"}, false, false},
		{"--include * takes the GGUF too", "", []string{"me/x", "DIR", "--include", "*"}, "me/x",
			[]string{"README.md", "config.json", "model.safetensors", "sub/extra.txt", "tiny-F16.gguf", "tokenizer.json"}, false, true},
		{"dataset", "", []string{"me/d", "DIR", "data", "--repo-type", "dataset", "--exclude", "*.safetensors"}, "datasets/me/d",
			[]string{"data/README.md", "data/config.json", "data/sub/extra.txt", "data/tiny-F16.gguf", "data/tokenizer.json"}, false, false},
		{"space", "", []string{"me/s", "DIR", "--repo-type", "space", "--include", "*.md"}, "spaces/me/s", []string{"README.md"}, false, false},
		{"--revision creates the branch", "", []string{"me/x", "DIR", "--revision", "dev", "--include", "*.json"}, "me/x@dev",
			[]string{"config.json", "tokenizer.json"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, env, out, errb := hubTestEnv(t)
			parent, dir := uploadFixture(t)
			switch tc.cwd {
			case "parent":
				t.Chdir(parent)
			case "dir":
				t.Chdir(dir)
			}
			args := []string{"upload"}
			for _, a := range tc.args {
				args = append(args, strings.Replace(a, "DIR", dir, 1))
			}
			code := runMain(context.Background(), env, args)
			require.Equal(t, 0, code, errb.String())
			assert.Equal(t, tc.want, storedNames(t, h, tc.id))
			assert.Equal(t, tc.skip, strings.Contains(errb.String(), ggufSkipped), errb.String())
			readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
			require.NoError(t, err)
			assert.Equal(t, tc.card, string(readme) != mlxCard, "README.md readied for the repo")
			id, _, _ := strings.Cut(tc.id, "@")
			assert.Contains(t, out.String(), "/"+id+"/commit/")
			for _, r := range h.Requests() {
				if r.Server == "hub" && r.Endpoint != hubtest.EndpointCreate {
					assert.True(t, strings.Contains(r.Path, "/"+id+"/") || strings.Contains(r.Path, "/"+id+".git/"), "%s %s", r.Method, r.Path)
				}
			}
		})
	}
}

// The commit message flags: --commit-message, and --message, its old
// name, still honoured with a deprecation note.
func TestUploadCommitMessage(t *testing.T) {
	for _, tc := range []struct{ flag, note string }{{"--commit-message", ""}, {"--message", "deprecated"}} {
		h, env, _, errb := hubTestEnv(t)
		_, dir := uploadFixture(t)
		code := runMain(context.Background(), env, []string{"upload", "me/x", dir, tc.flag, "first try", "--commit-description", "d", "--quiet"})
		require.Equal(t, 0, code, errb.String())
		commits := h.Commits("me/x")
		assert.Equal(t, "first try", commits[len(commits)-1].Message, tc.flag)
		assert.Equal(t, "d", commits[len(commits)-1].Description, tc.flag)
		if tc.note != "" {
			assert.Contains(t, errb.String(), tc.note)
		}
	}
}

// The old argument order (upload DIR REPO) stops before any request with
// the command line in the new order.
func TestUploadOldOrderHint(t *testing.T) {
	h, env, _, errb := hubTestEnv(t)
	parent, _ := uploadFixture(t)
	spaced := filepath.Join(parent, "my model")
	require.NoError(t, os.Mkdir(spaced, 0o755))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"upload", filepath.Join(parent, "m"), "me/m"},
			"mlxconv upload me/m " + filepath.Join(parent, "m")},
		{[]string{"upload", "--private", spaced, "me/m", "--message", "first try"},
			"mlxconv upload me/m '" + spaced + "' --private --commit-message 'first try'"},
	} {
		errb.Reset()
		code := runMain(context.Background(), env, tc.args)
		assert.Equal(t, 2, code)
		lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
		assert.Equal(t, "mlxconv: upload takes REPO first, as hf upload does: "+tc.want+" (see 'mlxconv upload --help')", lines[len(lines)-1])
	}
	assert.Empty(t, h.Requests())

	// REPO DIR where REPO is also a local folder is the new order.
	t.Chdir(parent)
	errb.Reset()
	code := runMain(context.Background(), env, []string{"upload", "m", "m", "--quiet"})
	require.Equal(t, 0, code, errb.String())
	assert.Equal(t, mlxNames, storedNames(t, h, "m"))

	for _, args := range [][]string{{"upload"}, {"upload", "me/x", "nope"}, {"upload", "me/x", ".", "a", "b"},
		{"upload", "me/x", ".", "--repo-type", "models"}, {"upload", "a/b/c", "."},
		{"upload", "me/x", "*.json", "--include", "*.md"}, {"upload", "me/x", "*.json", "sub"}} {
		assert.Equal(t, 2, runMain(context.Background(), env, args), args)
	}
}

// --token replaces HF_TOKEN and the stored login, for upload and download.
func TestHubToken(t *testing.T) {
	const other = "hf_otherTOKEN77"
	h, env, out, errb := hubTestEnv(t)
	base := env.getenv
	env.getenv = func(k string) string {
		if k == "HF_TOKEN" {
			return "hf_wrong"
		}
		return base(k)
	}
	_, dir := uploadFixture(t)
	h.Token = other
	code := runMain(context.Background(), env, []string{"upload", "me/x", dir, "--token", other, "--quiet"})
	require.Equal(t, 0, code, errb.String())
	code = runMain(context.Background(), env, []string{"download", "me/x", "config.json", "--token", other, "--quiet"})
	require.Equal(t, 0, code, errb.String())
	require.NotEmpty(t, h.Requests())
	for _, r := range h.Requests() {
		if r.Server == "hub" {
			assert.Equal(t, "Bearer "+other, r.Authorization, "%s %s", r.Method, r.Path)
		}
	}
	assert.NotContains(t, errb.String()+out.String(), other)

	errb.Reset()
	code = runMain(context.Background(), env, []string{"download", "me/x", "tokenizer.json", "--quiet"})
	assert.Equal(t, 1, code, "HF_TOKEN (wrong) is used without --token")
	assert.Contains(t, errb.String(), "401")
}

// download's hf forms: REPO [FILES…], the patterns, --local-dir, the
// repo types, and what it prints.
func TestDownloadForms(t *testing.T) {
	files := map[string][]byte{
		"config.json":       []byte(`{"model_type":"llama"}`),
		"model.safetensors": bytes.Repeat([]byte{1, 2, 3}, 1000),
		"tokenizer.json":    []byte(`{}`),
		"README.md":         []byte("# x"),
		"x.gguf":            []byte("GGUF"),
		"sub/a.txt":         []byte("a"),
	}
	for _, tc := range []struct {
		name    string
		args    []string // after download; LOCAL is a fresh folder
		want    []string // files in the printed folder
		printed string   // "snapshot", "local", or a file name under either
		note    bool     // FILES made the patterns ignored
		typ     string   // "" or datasets/
	}{
		{"REPO", []string{"me/m"}, []string{"config.json", "model.safetensors", "sub/a.txt", "tokenizer.json"}, "snapshot", false, ""},
		{"REPO FILE", []string{"me/m", "sub/a.txt"}, []string{"sub/a.txt"}, "sub/a.txt", false, ""},
		{"REPO FILES", []string{"me/m", "README.md", "x.gguf", "README.md"}, []string{"README.md", "x.gguf"}, "snapshot", false, ""},
		{"FILES win over patterns", []string{"me/m", "x.gguf", "--include", "*.json", "--exclude", "*.gguf"}, []string{"x.gguf"}, "x.gguf", true, ""},
		{"REPO FOLDER/ FILES", []string{"me/m", "sub/", "README.md", "nope.txt"}, []string{"README.md", "sub/a.txt"}, "snapshot", false, ""},
		{"--include", []string{"me/m", "--include", "*.md", "--include", "sub/*"}, []string{"README.md", "sub/a.txt"}, "snapshot", false, ""},
		{"--exclude", []string{"me/m", "--exclude", "*.safetensors", "--exclude", "sub/"}, []string{"config.json", "tokenizer.json"}, "snapshot", false, ""},
		{"--all --exclude", []string{"me/m", "--all", "--exclude", "*.gguf", "--exclude", "sub/*"},
			[]string{"README.md", "config.json", "model.safetensors", "tokenizer.json"}, "snapshot", false, ""},
		{"--local-dir FILE", []string{"me/m", "config.json", "--local-dir", "LOCAL"}, []string{"config.json"}, "config.json", false, ""},
		{"--local-dir", []string{"me/m", "--include", "*.gguf", "--local-dir", "LOCAL"}, []string{"x.gguf"}, "local", false, ""},
		{"dataset gets every file", []string{"me/m", "--repo-type", "dataset"},
			[]string{"README.md", "config.json", "model.safetensors", "sub/a.txt", "tokenizer.json", "x.gguf"}, "snapshot", false, "datasets/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, env, out, errb := hubTestEnv(t)
			h.AddRepo(tc.typ+"me/m", files)
			h.AddRepo("me/other", map[string][]byte{"other.json": []byte("{}")})
			local := filepath.Join(t.TempDir(), "local")
			args := []string{"download"}
			for _, a := range tc.args {
				args = append(args, strings.Replace(a, "LOCAL", local, 1))
			}
			code := runMain(context.Background(), env, args)
			require.Equal(t, 0, code, errb.String())
			printed := strings.TrimSpace(out.String())
			folder := printed
			switch {
			case tc.printed == "local":
				assert.Equal(t, local, printed)
			case tc.printed == "snapshot":
				folderName := "models--me--m"
				if tc.typ != "" {
					folderName = "datasets--me--m"
				}
				assert.Contains(t, printed, string(filepath.Separator)+folderName+string(filepath.Separator)+"snapshots"+string(filepath.Separator))
			default:
				assert.True(t, strings.HasSuffix(printed, string(filepath.Separator)+filepath.FromSlash(tc.printed)), printed)
				assert.FileExists(t, printed)
				folder = strings.TrimSuffix(printed, string(filepath.Separator)+filepath.FromSlash(tc.printed))
			}
			assert.Equal(t, tc.want, filesUnder(t, folder))
			assert.Equal(t, tc.note, strings.Contains(errb.String(), "are ignored"), errb.String())
			for _, r := range h.Requests() {
				if r.Server == "hub" {
					assert.Contains(t, r.Path, "/"+tc.typ+"me/m/", "%s %s", r.Method, r.Path)
				}
			}
		})
	}
}

// filesUnder lists the files under dir (following the cache's symlinks),
// leaving out huggingface_hub's .cache folder.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() && fi.Name() == ".cache" {
			return filepath.SkipDir
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	}))
	sort.Strings(out)
	return out
}

func TestDownloadErrors(t *testing.T) {
	h, env, _, errb := hubTestEnv(t)
	h.AddRepo("me/m", map[string][]byte{"config.json": []byte("{}")})
	code := runMain(context.Background(), env, []string{"download", "me/m", "nope.json"})
	assert.Equal(t, 1, code)
	assert.Contains(t, errb.String(), `"nope.json"`)
	for _, args := range [][]string{{"download"}, {"download", "me/m", "--repo-type", "spaces"}, {"download", "me/m", "--all", "--include", "*"},
		{"download", "me/m", "sub/", "--exclude", "*.txt"}} {
		assert.Equal(t, 2, runMain(context.Background(), env, args), args)
	}
}

// The completion scripts offer the new flags, not the deprecated --message.
func TestHubCompletionFlags(t *testing.T) {
	for _, c := range commandTable(context.Background()) {
		var names []string
		for _, f := range c.flags {
			names = append(names, f.Name)
		}
		switch c.name {
		case "upload":
			assert.Subset(t, names, []string{"include", "exclude", "token", "repo-type", "private", "commit-message", "revision", "quiet"})
			assert.NotContains(t, names, "message")
		case "download":
			assert.Subset(t, names, []string{"include", "exclude", "local-dir", "revision", "token", "repo-type", "quiet", "all"})
		}
	}
}

// Beside a FOLDER/, the other FILES stay exact names, glob characters
// included.
func TestDownloadFolderAndExactNames(t *testing.T) {
	h, env, out, errb := hubTestEnv(t)
	h.AddRepo("me/m", map[string][]byte{"w[1].txt": []byte("a"), "w1.txt": []byte("b"), "w*.txt": []byte("c"), "sub/x": []byte("x")})
	code := runMain(context.Background(), env, []string{"download", "me/m", "sub/", "w[1].txt", "w*.txt", "--quiet"})
	require.Equal(t, 0, code, errb.String())
	assert.Equal(t, []string{"sub/x", "w*.txt", "w[1].txt"}, filesUnder(t, strings.TrimSpace(out.String())))
}
