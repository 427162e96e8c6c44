package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/convert"
	"github.com/mlxconv/mlxconv/convert/hub/hubtest"
)

const hubTestToken = "hf_cliTESTtoken42"

// hubTestEnv starts a fake Hub (see hubtest) and returns it with an
// environment whose getenv points mlxconv at it: HF_ENDPOINT, HF_TOKEN,
// HF_HUB_CACHE under a temporary directory and HF_HOME beside it (so no
// real token file or cache is touched). Use it for end-to-end tests:
//
//	h, env, out, errb := hubTestEnv(t)
//	h.AddRepo("org/tiny", files)
//	code := runMain(ctx, env, []string{"convert", "--hf-path", "org/tiny", ...})
//	stored, _ := h.Files("org/tiny-4bit", "main")
//
// tinyLlamaSrc is the bundled demo model, the Hub tests' source repo.
var tinyLlamaSrc = filepath.Join("..", "..", "testdata", "tiny-llama")

// tinyLlamaFiles returns the demo model's files by name, for a fake Hub repo.
func tinyLlamaFiles(t *testing.T) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(tinyLlamaSrc)
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(tinyLlamaSrc, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = b
	}
	return files
}

func hubTestEnv(t *testing.T) (*hubtest.Hub, *environment, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	h := hubtest.New(t)
	h.Token = hubTestToken
	vars := h.Env(filepath.Join(t.TempDir(), "hub"))
	var out, errb bytes.Buffer
	env := &environment{stdout: &out, stderr: &errb, stdin: strings.NewReader(""),
		getenv: func(k string) string { return vars[k] }}
	return h, env, &out, &errb
}

func TestDownloadCommand(t *testing.T) {
	h, env, out, errb := hubTestEnv(t)
	commit := h.AddRepo("org/tiny", map[string][]byte{
		"config.json":       []byte(`{"model_type":"llama"}`),
		"model.safetensors": bytes.Repeat([]byte{1, 2, 3}, 1000),
		"README.md":         []byte("# x"),
	})
	code := runMain(context.Background(), env, []string{"download", "org/tiny"})
	require.Equal(t, 0, code, errb.String())
	dir := strings.TrimSpace(out.String())
	assert.Equal(t, commit, filepath.Base(dir))
	assert.FileExists(t, filepath.Join(dir, "config.json"))
	assert.FileExists(t, filepath.Join(dir, "model.safetensors"))
	assert.NoFileExists(t, filepath.Join(dir, "README.md"))
	assert.Contains(t, errb.String(), "downloaded model.safetensors")
	assert.NotContains(t, errb.String(), hubTestToken)

	out.Reset()
	local := filepath.Join(t.TempDir(), "m")
	code = runMain(context.Background(), env, []string{"download", "org/tiny", "--all", "--local-dir", local, "--quiet"})
	require.Equal(t, 0, code, errb.String())
	assert.Equal(t, local, strings.TrimSpace(out.String()))
	assert.FileExists(t, filepath.Join(local, "README.md"))

	for _, args := range [][]string{{"download"}, {"download", "a/b/c"}, {"download", "org/tiny", "--all", "--include", "*.json"}} {
		assert.Equal(t, 2, runMain(context.Background(), env, args), args)
	}
	errb.Reset()
	assert.Equal(t, 1, runMain(context.Background(), env, []string{"download", "org/missing"}))
	assert.Contains(t, errb.String(), "404")
}

func TestUploadCommand(t *testing.T) {
	h, env, out, errb := hubTestEnv(t)
	dir := t.TempDir()
	card := "---\nlanguage: en\nbase_model: org/tiny\nlibrary_name: mlx\npipeline_tag: text-generation\ntags:\n- mlx\n---\n"
	files := map[string]string{"config.json": `{"model_type":"llama"}`, "model.safetensors": strings.Repeat("w", 5000), "README.md": card}
	for n, d := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte(d), 0o644))
	}
	code := runMain(context.Background(), env, []string{"upload", "me/tiny-4bit", dir, "--private", "--commit-message", "first"})
	require.Equal(t, 0, code, errb.String())
	assert.Contains(t, out.String(), "/me/tiny-4bit/commit/")
	exists, private := h.Exists("me/tiny-4bit")
	assert.True(t, exists)
	assert.True(t, private)
	stored, _ := h.Files("me/tiny-4bit", "main")
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	assert.Equal(t, string(readme), string(stored["README.md"]), "the card is completed locally, then uploaded")
	assert.Contains(t, string(readme), "# me/tiny-4bit")
	assert.Contains(t, string(readme), "using mlxconv version")
	assert.Equal(t, files["model.safetensors"], string(stored["model.safetensors"]))
	commits := h.Commits("me/tiny-4bit")
	assert.Equal(t, "first", commits[len(commits)-1].Message)

	errb.Reset()
	code = runMain(context.Background(), env, []string{"upload", "me/tiny-4bit", dir})
	require.Equal(t, 0, code, errb.String())
	assert.Contains(t, errb.String(), "nothing to commit")
	assert.NotContains(t, errb.String(), hubTestToken)

	assert.Equal(t, 2, runMain(context.Background(), env, []string{"upload", dir}))
	assert.Equal(t, 2, runMain(context.Background(), env, []string{"upload", filepath.Join(dir, "nope"), "me/x"}))
}

func TestPreflightConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) { require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(s), 0o644)) }
	write(`{"model_type": "llama"}`)
	require.NoError(t, preflightConfig(dir))
	write(`{"model_type": "minicpmv"}`)
	require.ErrorIs(t, preflightConfig(dir), convert.ErrUnsupported)
	write(`{"model_type": "llama", "model_file": "x.py"}`)
	require.ErrorIs(t, preflightConfig(dir), convert.ErrUnsupported)
	write(`{}`)
	require.ErrorIs(t, preflightConfig(dir), convert.ErrConfig)
}

// The ResolveHub hook refuses an unsupported model before any weight byte.
func TestHubHooksPreflight(t *testing.T) {
	h, env, _, _ := hubTestEnv(t)
	h.AddRepo("org/vlm", map[string][]byte{
		"config.json":       []byte(`{"model_type":"minicpmv"}`),
		"model.safetensors": bytes.Repeat([]byte{9}, 4096),
	})
	c, hp, err := newHubClient(env, true)
	require.NoError(t, err)
	resolve, _ := hubHooks(c, hp, preflightConfig)
	_, err = resolve(context.Background(), "org/vlm", "")
	require.ErrorIs(t, err, convert.ErrUnsupported)
	assert.Contains(t, err.Error(), "minicpmv")
	assert.Zero(t, h.Count(hubtest.EndpointCDN, ""), "no weight requested")
	assert.Zero(t, h.Count(hubtest.EndpointResolve, "model.safetensors"))
}

// The hooks wired into convert.Options: download (with pre-flight),
// convert, upload; the Hub then holds exactly the output folder.
func TestConvertThroughHubHooks(t *testing.T) {
	h, env, _, _ := hubTestEnv(t)
	files := tinyLlamaFiles(t)
	files["README.md"] = []byte("---\nlicense: mit\n---\n# tiny\n")
	h.AddRepo("org/tiny", files)
	c, hp, err := newHubClient(env, true)
	require.NoError(t, err)
	resolve, upload := hubHooks(c, hp, preflightConfig)
	out := filepath.Join(t.TempDir(), "out")
	_, err = convert.Run(context.Background(), convert.Options{
		HFPath: "org/tiny", MLXPath: out, Quantize: true, UploadRepo: "org/tiny-4bit",
		ResolveHub: resolve, Upload: upload,
	})
	require.NoError(t, err)
	stored, ok := h.Files("org/tiny-4bit", "main")
	require.True(t, ok)
	delete(stored, ".gitattributes")
	local, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, stored, len(local))
	for _, e := range local {
		b, err := os.ReadFile(filepath.Join(out, e.Name()))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(b, stored[e.Name()]), e.Name())
	}
	assert.True(t, h.IsStoredAsLFS("org/tiny-4bit", "main", "model.safetensors"))
	assert.Contains(t, string(stored["README.md"]), "base_model: org/tiny")
	assert.Contains(t, string(stored["README.md"]), "# org/tiny-4bit")
}

// The whole command line of the issue: mlxconv convert --hf-path org/tiny
// --mlx-path out -q --upload-repo org/tiny-4bit against the fake Hub
// downloads, converts and uploads; the Hub then holds exactly out/, and the
// converted tensors equal a local conversion of the same files.
func TestConvertCommandHubEndToEnd(t *testing.T) {
	h, env, _, errb := hubTestEnv(t)
	files := tinyLlamaFiles(t)
	h.AddRepo("org/tiny", files)
	out := filepath.Join(t.TempDir(), "out")
	code := runMain(context.Background(), env, []string{"convert", "--hf-path", "org/tiny", "--mlx-path", out,
		"-q", "--upload-repo", "org/tiny-4bit", "--backend", "native"})
	require.Equal(t, 0, code, errb.String())
	assert.NotContains(t, errb.String(), hubTestToken)

	stored, ok := h.Files("org/tiny-4bit", "main")
	require.True(t, ok)
	delete(stored, ".gitattributes")
	local, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, stored, len(local))
	for _, e := range local {
		b, err := os.ReadFile(filepath.Join(out, e.Name()))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(b, stored[e.Name()]), e.Name())
	}

	ref := filepath.Join(t.TempDir(), "ref")
	code = runMain(context.Background(), env, []string{"convert", "--hf-path", tinyLlamaSrc, "--mlx-path", ref, "-q", "--backend", "native", "--quiet"})
	require.Equal(t, 0, code, errb.String())
	for _, name := range []string{"model.safetensors", "model.safetensors.index.json", "config.json"} {
		a, err := os.ReadFile(filepath.Join(ref, name))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(a, stored[name]), "%s differs from a local conversion", name)
	}
}

// gguf --model REPO downloads through the Hub (pre-flight first) and writes
// the default output file in the current directory, not into the cache.
func TestGGUFCommandFromHub(t *testing.T) {
	h, env, _, errb := hubTestEnv(t)
	files := tinyLlamaFiles(t)
	h.AddRepo("org/tiny-llama", files)
	h.AddRepo("org/starcoder", map[string][]byte{
		"config.json":          []byte(`{"model_type":"helium"}`),
		"model-sc.safetensors": bytes.Repeat([]byte{9}, 4096),
	})
	out := filepath.Join(t.TempDir(), "tiny.gguf")
	code := runMain(context.Background(), env, []string{"gguf", "--model", "org/tiny-llama", "--outfile", out, "--outtype", "f16", "--quiet"})
	require.Equal(t, 0, code, errb.String())
	ref := filepath.Join(t.TempDir(), "ref.gguf")
	code = runMain(context.Background(), env, []string{"gguf", "--model", tinyLlamaSrc, "--outfile", ref, "--outtype", "f16", "--quiet"})
	require.Equal(t, 0, code, errb.String())
	a, err := os.ReadFile(out)
	require.NoError(t, err)
	b, err := os.ReadFile(ref)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(a, b), "the Hub export differs from the local one")

	errb.Reset()
	code = runMain(context.Background(), env, []string{"gguf", "--model", "org/starcoder", "--outfile", filepath.Join(t.TempDir(), "s.gguf")})
	assert.Equal(t, 1, code)
	assert.Contains(t, errb.String(), "has no GGUF export")
	assert.Zero(t, h.Count(hubtest.EndpointResolve, "model-sc.safetensors"), "no weight requested before the pre-flight refusal")
}
