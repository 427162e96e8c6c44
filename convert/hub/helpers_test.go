package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/convert/hub/hubtest"
)

const testToken = "hf_testSECRETtoken0123456789"

// tinyRepo is a small model repo: config, tokenizer files, a chat
// template, two weight shards (LFS), and files conversion does not need.
func tinyRepo() map[string][]byte {
	rng := rand.New(rand.NewSource(7))
	shard := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	return map[string][]byte{
		"config.json":                       []byte(`{"model_type": "llama", "hidden_size": 64}`),
		"generation_config.json":            []byte(`{"eos_token_id": 2}`),
		"tokenizer.json":                    []byte(`{"version": "1.0", "model": {"type": "BPE"}}`),
		"tokenizer_config.json":             []byte(`{"bos_token": "<s>"}`),
		"chat_template.jinja":               []byte("{% for m in messages %}{{ m.content }}{% endfor %}"),
		"model.safetensors.index.json":      []byte(`{"metadata": {}, "weight_map": {}}`),
		"model-00001-of-00002.safetensors":  shard(300 << 10),
		"model-00002-of-00002.safetensors":  shard(200 << 10),
		"README.md":                         []byte("---\nlicense: apache-2.0\nlanguage: en\ntags:\n- text\n---\n# tiny\n"),
		"pytorch_model.bin":                 shard(1000),
		"original/consolidated.safetensors": shard(1000),
		".gitattributes":                    []byte("*.safetensors filter=lfs\n"),
	}
}

// convNames are the tinyRepo files DefaultAllowPatterns selects.
var convNames = []string{
	"chat_template.jinja", "config.json", "generation_config.json",
	"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
	"model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
}

type testEnv struct {
	hub    *hubtest.Hub
	cache  string
	env    map[string]string
	events []Event
	mu     sync.Mutex
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	h := hubtest.New(t)
	h.Token = testToken
	cache := filepath.Join(t.TempDir(), "hub")
	return &testEnv{hub: h, cache: cache, env: h.Env(cache)}
}

func (e *testEnv) client(t *testing.T, mod ...func(*Options)) *Client {
	t.Helper()
	opts := Options{
		Getenv:       func(k string) string { return e.env[k] },
		RetryBase:    time.Millisecond,
		MaxRetryWait: 20 * time.Millisecond,
		Timeout:      5 * time.Second,
		IdleTimeout:  2 * time.Second,
		Progress: func(ev Event) {
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		},
	}
	for _, m := range mod {
		m(&opts)
	}
	c, err := New(opts)
	require.NoError(t, err)
	return c
}

func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// listDir returns the relative paths of the regular files under dir
// (following symlinks), sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if fi.Name() == ".cache" {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		st, err := os.Stat(p)
		if err == nil && st.Mode().IsRegular() {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(out)
	return out
}

// requireSameFiles checks dir holds exactly names with the repo's bytes.
func requireSameFiles(t *testing.T, dir string, files map[string][]byte, names []string) {
	t.Helper()
	require.Equal(t, names, listDir(t, dir))
	for _, n := range names {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
		require.NoError(t, err)
		require.Equal(t, sha256hex(files[n]), sha256hex(got), n)
	}
}

// noTokenAnywhere checks an error text or events never contain the token.
func (e *testEnv) noTokenLeak(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			require.NotContains(t, err.Error(), testToken)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.events {
		if ev.Err != nil {
			require.NotContains(t, ev.Err.Error(), testToken)
		}
		require.False(t, strings.Contains(ev.File, testToken))
	}
}
