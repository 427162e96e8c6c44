package hub

import (
	"bytes"
	"context"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/convert/hub/hubtest"
)

// mlxFolder writes a converted-model-like folder and returns its files.
func mlxFolder(t *testing.T, dir string, weightSize int) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewSource(11))
	w := make([]byte, weightSize)
	rng.Read(w)
	files := map[string][]byte{
		"config.json":            []byte(`{"model_type":"llama","quantization":{"group_size":64,"bits":4}}`),
		"model.safetensors":      w,
		"tokenizer.json":         []byte(`{"version":"1.0"}`),
		"tokenizer_config.json":  []byte(`{}`),
		"sub/chat_template.json": []byte(`{"chat_template":"x"}`),
		"empty.txt":              {},
	}
	for n, d := range files {
		p := filepath.Join(dir, filepath.FromSlash(n))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, d, 0o644))
	}
	// Ignored: git metadata and huggingface_hub's local bookkeeping.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".git"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte("ref"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".cache", "huggingface"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".cache", "huggingface", "x.metadata"), []byte("m"), 0o644))
	return files
}

// digestsNoGitattributes maps file names to sha256, dropping the
// .gitattributes a created repo starts with (readable failures).
func withoutGitattributes(m map[string][]byte) map[string]string {
	delete(m, ".gitattributes")
	return digests(m)
}

func digests(m map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = sha256hex(v)
	}
	return out
}

func TestUploadFolder(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	dir := t.TempDir()
	files := mlxFolder(t, dir, 64<<10)
	ctx := context.Background()

	url, err := c.CreateRepo(ctx, "org/tiny-4bit", true)
	require.NoError(t, err)
	assert.Equal(t, e.hub.URL+"/org/tiny-4bit", url)
	exists, private := e.hub.Exists("org/tiny-4bit")
	assert.True(t, exists)
	assert.True(t, private)
	// Creating again is fine (exist_ok).
	_, err = c.CreateRepo(ctx, "org/tiny-4bit", false)
	require.NoError(t, err)

	info, err := c.UploadFolder(ctx, dir, "org/tiny-4bit", UploadOptions{Message: "Add 4-bit MLX weights"})
	require.NoError(t, err)
	assert.Equal(t, 6, info.Files)
	assert.Equal(t, 1, info.Uploaded, "one LFS object sent")
	assert.False(t, info.NoChanges)
	stored, ok := e.hub.Files("org/tiny-4bit", "main")
	require.True(t, ok)
	assert.Equal(t, digests(files), withoutGitattributes(stored))
	assert.True(t, e.hub.IsStoredAsLFS("org/tiny-4bit", "main", "model.safetensors"))
	assert.False(t, e.hub.IsStoredAsLFS("org/tiny-4bit", "main", "config.json"))
	commits := e.hub.Commits("org/tiny-4bit")
	assert.Equal(t, "Add 4-bit MLX weights", commits[len(commits)-1].Message)
	assert.Equal(t, commits[len(commits)-1].OID, info.OID)
	assert.Contains(t, info.URL, info.OID)

	for _, r := range e.hub.Requests() {
		if r.Server == "cdn" {
			assert.Empty(t, r.Authorization, "token sent to storage: %s", r.Path)
		} else {
			assert.Equal(t, "Bearer "+testToken, r.Authorization, r.Path)
		}
	}

	// Uploading the same folder again changes nothing and sends nothing.
	e.hub.ResetLog()
	info, err = c.UploadFolder(ctx, dir, "org/tiny-4bit", UploadOptions{})
	require.NoError(t, err)
	assert.True(t, info.NoChanges)
	assert.Equal(t, 6, info.Unchanged)
	assert.Zero(t, e.hub.Count(hubtest.EndpointLFSBatch, ""))
	assert.Zero(t, e.hub.Count(hubtest.EndpointCommit, ""))

	// Changing one small file commits only it; the weights are not re-sent.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"llama"}`), 0o644))
	e.hub.ResetLog()
	info, err = c.UploadFolder(ctx, dir, "org/tiny-4bit", UploadOptions{})
	require.NoError(t, err)
	assert.Equal(t, 5, info.Unchanged)
	assert.Zero(t, e.hub.Count(hubtest.EndpointLFSUpload, ""))
	stored, _ = e.hub.Files("org/tiny-4bit", "main")
	assert.Equal(t, `{"model_type":"llama"}`, string(stored["config.json"]))
	e.noTokenLeak(t)
}

func TestUploadResumesAfterFailure(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, func(o *Options) { o.MaxRetries = 1 })
	dir := t.TempDir()
	files := mlxFolder(t, dir, 32<<10)
	// A second LFS file, so one object lands before the commit fails.
	big := bytes.Repeat([]byte("weights!"), 4096)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model-2.safetensors"), big, 0o644))
	files["model-2.safetensors"] = big
	ctx := context.Background()
	_, err := c.CreateRepo(ctx, "org/up", false)
	require.NoError(t, err)

	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointCommit, Status: 500})
	_, err = c.UploadFolder(ctx, dir, "org/up", UploadOptions{})
	require.ErrorIs(t, err, ErrServer)
	assert.Equal(t, 1, e.hub.Count(hubtest.EndpointCommit, ""), "a commit is not blindly retried on 500")
	assert.Equal(t, 2, e.hub.Count(hubtest.EndpointLFSUpload, ""))

	// The retry finds both LFS objects on the Hub and sends only the commit.
	e.hub.ClearFaults()
	e.hub.ResetLog()
	info, err := c.UploadFolder(ctx, dir, "org/up", UploadOptions{})
	require.NoError(t, err)
	assert.Zero(t, info.Uploaded)
	assert.Zero(t, e.hub.Count(hubtest.EndpointLFSUpload, ""))
	stored, _ := e.hub.Files("org/up", "main")
	assert.Equal(t, digests(files), withoutGitattributes(stored))
}

func TestUploadMultipartAndRetries(t *testing.T) {
	e := newEnv(t)
	e.hub.MultipartThreshold = 40 << 10
	e.hub.PartSize = 16 << 10
	c := e.client(t)
	dir := t.TempDir()
	files := mlxFolder(t, dir, 100<<10) // 7 parts
	ctx := context.Background()
	_, err := c.CreateRepo(ctx, "org/mp", false)
	require.NoError(t, err)
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointLFSUpload, Times: 1, Status: 503})
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointPreupload, Times: 1, Status: 429, Header: http.Header{"Retry-After": {"1"}}})
	_, err = c.UploadFolder(ctx, dir, "org/mp", UploadOptions{Revision: "main"})
	require.NoError(t, err)
	stored, _ := e.hub.Files("org/mp", "main")
	assert.Equal(t, digests(files), withoutGitattributes(stored))
	assert.Equal(t, 8, e.hub.Count(hubtest.EndpointLFSUpload, ""), "7 parts + 1 retried")
	assert.Equal(t, 1, e.hub.Count(hubtest.EndpointLFSComplete, ""))
	assert.Equal(t, 2, e.hub.Count(hubtest.EndpointPreupload, ""))
}

func TestUploadErrors(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	mlxFolder(t, dir, 1024)
	ctx := context.Background()

	delete(e.env, "HF_TOKEN")
	noTok := e.client(t)
	_, err := noTok.UploadFolder(ctx, dir, "org/x", UploadOptions{})
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.Contains(t, err.Error(), "HF_TOKEN")
	assert.Empty(t, e.hub.Requests(), "fails before hashing or any request")

	e.env["HF_TOKEN"] = "hf_badtoken"
	bad := e.client(t)
	_, err = bad.CreateRepo(ctx, "org/x", false)
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.Contains(t, err.Error(), "token was rejected")

	e.env["HF_TOKEN"] = testToken
	c := e.client(t)
	_, err = c.UploadFolder(ctx, dir, "org/missing", UploadOptions{})
	require.ErrorIs(t, err, ErrRepoNotFound)
	_, err = c.UploadFolder(ctx, filepath.Join(dir, "config.json"), "org/missing", UploadOptions{})
	require.ErrorIs(t, err, ErrInvalid)

	// A server echoing the token in its error must not leak it.
	_, err = c.CreateRepo(ctx, "org/echo", false)
	require.NoError(t, err)
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointPreupload, Status: 403,
		Header: http.Header{"X-Error-Message": {"token " + testToken + " cannot write"}}})
	_, err = c.UploadFolder(ctx, dir, "org/echo", UploadOptions{})
	require.ErrorIs(t, err, ErrForbidden)
	assert.NotContains(t, err.Error(), testToken)
	assert.Contains(t, err.Error(), "***")
}

func TestUploadRefusesUnsafeLocalNames(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, `a\b.json`), []byte("{}"), 0o644))
	c := e.client(t)
	_, err := c.UploadFolder(context.Background(), dir, "org/x", UploadOptions{})
	require.ErrorIs(t, err, ErrUnsafePath)
}

func TestListFolderIgnores(t *testing.T) {
	dir := t.TempDir()
	mlxFolder(t, dir, 10)
	files, err := listFolder(dir, []string{"*.txt"})
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, f.rel)
	}
	assert.Equal(t, []string{"config.json", "model.safetensors", "sub/chat_template.json", "tokenizer.json", "tokenizer_config.json"}, names)
	assert.False(t, strings.Contains(strings.Join(names, ","), ".git"))
}
