package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/oracle"
)

// upload's argument forms commit what hf upload (huggingface_hub's CLI,
// from the oracle environment) commits for the same arguments, both run
// against the fake Hub from the same folder: REPO py/NAME for hf, go/NAME
// for mlxconv.
func TestUploadMatchesHF(t *testing.T) {
	hf := filepath.Join(filepath.Dir(oracle.Python(t)), "hf")
	if _, err := os.Stat(hf); err != nil {
		t.Skipf("no hf CLI beside the oracle python: %v", err)
	}
	h, env, _, errb := hubTestEnv(t)
	parent := t.TempDir()
	for name, data := range map[string]string{
		"data/a.txt": "a", "data/b.json": "{}", "data/sub/c.json": "{}", "data/sub/d.bin": "\x00\x01", "data/w.gguf": "GGUF",
	} {
		p := filepath.Join(parent, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	t.Chdir(parent)
	vars := h.Env(filepath.Join(t.TempDir(), "hf-cache"))
	for _, tc := range []struct {
		name string
		args []string // after REPO
		key  string   // the fake Hub's key for REPO: "datasets/" prefix, "@rev" suffix
	}{
		{"data", nil, "%s"}, // REPO named like the local folder
		{"dir", []string{"data"}, "%s"},
		{"dir-path", []string{"data", "v1"}, "%s"},
		{"file", []string{"data/b.json"}, "%s"},
		{"file-path", []string{"data/b.json", "x/y.json"}, "%s"},
		{"patterns", []string{"data", "--include", "*.json", "--include", "*.bin", "--exclude", "sub/c*"}, "%s"},
		{"glob", []string{"data/*.json"}, "%s"},
		{"dataset", []string{"data", "d", "--repo-type", "dataset"}, "datasets/%s"},
		{"branch", []string{"data", "--revision", "dev", "--exclude", "*.gguf"}, "%s@dev"},
	} {
		cmd := exec.Command(hf, append([]string{"upload", "py/" + tc.name}, tc.args...)...)
		cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		for k, v := range vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, "hf upload %s: %s", tc.name, b)
		errb.Reset()
		code := runMain(context.Background(), env, append([]string{"upload", "go/" + tc.name, "--quiet"}, tc.args...))
		require.Equal(t, 0, code, "%s: %s", tc.name, errb.String())
		// mlxconv also writes a model card where the folder has none (as
		// mlx_lm.upload); it is not what is compared, and hf must not see it.
		_ = os.Remove(filepath.Join(parent, "data", "README.md"))
		key := func(ns string) string { return strings.Replace(tc.key, "%s", ns+"/"+tc.name, 1) }
		var goNames []string
		for _, n := range storedNames(t, h, key("go")) {
			if !strings.HasSuffix(n, "README.md") {
				goNames = append(goNames, n)
			}
		}
		assert.Equal(t, storedNames(t, h, key("py")), goNames, tc.name)
	}
}

// download's forms print and fetch what hf download does for the same
// arguments (each with its own cache; LOCAL is a fresh folder per run).
// Without FILES or --include, mlxconv differs on purpose (a model repo
// gets what a conversion needs), so that form is not compared.
func TestDownloadMatchesHF(t *testing.T) {
	hf := filepath.Join(filepath.Dir(oracle.Python(t)), "hf")
	if _, err := os.Stat(hf); err != nil {
		t.Skipf("no hf CLI beside the oracle python: %v", err)
	}
	h, env, out, errb := hubTestEnv(t)
	files := map[string][]byte{"config.json": []byte("{}"), "model.safetensors": []byte("weights"), "sub/a.txt": []byte("a"),
		"sub/b.json": []byte("{}"), "README.md": []byte("# r")}
	h.AddRepo("me/m", files)
	h.AddRepo("datasets/me/d", files)
	goCache := env.getenv("HF_HUB_CACHE")
	pyCache := filepath.Join(t.TempDir(), "py-cache")
	vars := h.Env(pyCache)
	for _, args := range [][]string{
		{"me/m", "config.json"},
		{"me/m", "sub/a.txt", "README.md"},
		{"me/m", "sub/"},
		{"me/m", "--include", "*.json", "--exclude", "sub/*"},
		{"me/m", "--include", "sub/*", "--local-dir", "LOCAL"},
		{"me/m", "sub/b.json", "--local-dir", "LOCAL"},
		{"me/d", "--repo-type", "dataset", "--include", "*"},
		{"me/d", "sub/a.txt", "--repo-type", "dataset"},
	} {
		run := func(local string) []string {
			out := make([]string, len(args))
			for i, a := range args {
				out[i] = strings.Replace(a, "LOCAL", local, 1)
			}
			return out
		}
		pyLocal, goLocal := filepath.Join(t.TempDir(), "l"), filepath.Join(t.TempDir(), "l")
		cmd := exec.Command(hf, append([]string{"download", "--quiet"}, run(pyLocal)...)...)
		cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		for k, v := range vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		b, err := cmd.Output()
		require.NoError(t, err, "hf download %v", args)
		pyPath := strings.TrimSpace(string(b))
		out.Reset()
		errb.Reset()
		code := runMain(context.Background(), env, append([]string{"download", "--quiet"}, run(goLocal)...))
		require.Equal(t, 0, code, "%v: %s", args, errb.String())
		goPath := strings.TrimSpace(out.String())
		rel := func(p, cache, local string) string {
			p = strings.Replace(p, cache, "CACHE", 1)
			return strings.Replace(p, local, "LOCAL", 1)
		}
		assert.Equal(t, rel(pyPath, pyCache, pyLocal), rel(goPath, goCache, goLocal), "printed path, %v", args)
		if st, err := os.Stat(pyPath); err == nil && st.IsDir() {
			assert.Equal(t, filesUnder(t, pyPath), filesUnder(t, goPath), "files, %v", args)
		}
	}
}
