package hub

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/convert/hub/hubtest"
)

func TestEnvironmentResolution(t *testing.T) {
	home := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".cache", "huggingface"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(home, ".cache", "huggingface", "token"), []byte("  hf_fromfile\r\n"), 0o600))
	alt := filepath.Join(t.TempDir(), "tok")
	require.NoError(t, os.WriteFile(alt, []byte("hf_alt\n"), 0o600))

	cases := []struct {
		name      string
		env       map[string]string
		opts      Options
		cache     string
		token     string
		offline   bool
		endpoint  string
		implicitd bool
	}{
		{name: "defaults", env: map[string]string{"HOME": home},
			cache: filepath.Join(home, ".cache", "huggingface", "hub"), token: "hf_fromfile", endpoint: DefaultEndpoint},
		{name: "HF_HOME", env: map[string]string{"HOME": home, "HF_HOME": "/x/hf"},
			cache: "/x/hf/hub", token: "", endpoint: DefaultEndpoint},
		{name: "XDG", env: map[string]string{"HOME": home, "XDG_CACHE_HOME": "/xdg"},
			cache: "/xdg/huggingface/hub", endpoint: DefaultEndpoint},
		{name: "HF_HUB_CACHE wins", env: map[string]string{"HOME": home, "HF_HOME": "/x/hf", "HF_HUB_CACHE": "~/c", "HUGGINGFACE_HUB_CACHE": "/legacy"},
			cache: filepath.Join(home, "c"), endpoint: DefaultEndpoint},
		{name: "legacy cache var", env: map[string]string{"HOME": home, "HUGGINGFACE_HUB_CACHE": "/legacy"},
			cache: "/legacy", token: "hf_fromfile", endpoint: DefaultEndpoint},
		{name: "HF_TOKEN wins over file", env: map[string]string{"HOME": home, "HF_TOKEN": "hf_env", "HUGGING_FACE_HUB_TOKEN": "hf_old"},
			cache: filepath.Join(home, ".cache", "huggingface", "hub"), token: "hf_env", endpoint: DefaultEndpoint},
		{name: "legacy token var", env: map[string]string{"HOME": home, "HUGGING_FACE_HUB_TOKEN": "hf_old"},
			cache: filepath.Join(home, ".cache", "huggingface", "hub"), token: "hf_old", endpoint: DefaultEndpoint},
		{name: "HF_TOKEN_PATH", env: map[string]string{"HOME": home, "HF_TOKEN_PATH": alt},
			cache: filepath.Join(home, ".cache", "huggingface", "hub"), token: "hf_alt", endpoint: DefaultEndpoint},
		{name: "options win", env: map[string]string{"HOME": home, "HF_TOKEN": "hf_env", "HF_ENDPOINT": "https://mirror.example"},
			opts:  Options{Token: "hf_opt", CacheDir: "/opt/c", Endpoint: "https://other.example/"},
			cache: "/opt/c", token: "hf_opt", endpoint: "https://other.example"},
		{name: "offline", env: map[string]string{"HOME": home, "HF_HUB_OFFLINE": "yes", "HF_ENDPOINT": "https://mirror.example/"},
			cache: filepath.Join(home, ".cache", "huggingface", "hub"), token: "hf_fromfile", offline: true, endpoint: "https://mirror.example"},
		{name: "transformers offline", env: map[string]string{"HOME": home, "TRANSFORMERS_OFFLINE": "1"},
			cache: filepath.Join(home, ".cache", "huggingface", "hub"), token: "hf_fromfile", offline: true, endpoint: DefaultEndpoint},
		{name: "offline false", env: map[string]string{"HOME": home, "HF_HUB_OFFLINE": "0"},
			cache: filepath.Join(home, ".cache", "huggingface", "hub"), token: "hf_fromfile", endpoint: DefaultEndpoint},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Getenv = func(k string) string { return tc.env[k] }
			c, err := New(opts)
			require.NoError(t, err)
			assert.Equal(t, tc.cache, c.CacheDir())
			assert.Equal(t, tc.token, c.token)
			assert.Equal(t, tc.token != "", c.HasToken())
			assert.Equal(t, tc.offline, c.Offline())
			assert.Equal(t, tc.endpoint, c.Endpoint())
		})
	}
}

func TestImplicitTokenDisabled(t *testing.T) {
	e := newEnv(t)
	e.hub.AddRepo("org/tiny", tinyRepo())
	e.env["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
	c := e.client(t)
	_, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{Files: []string{"config.json"}})
	require.NoError(t, err)
	for _, r := range e.hub.Requests() {
		assert.Empty(t, r.Authorization, "reads carry no implicit token")
	}
	// Writes still authenticate.
	_, err = c.CreateRepo(context.Background(), "org/new", false)
	require.NoError(t, err)
}

func TestHTTPErrorText(t *testing.T) {
	resp := &http.Response{StatusCode: 404, Header: http.Header{"X-Error-Code": {"EntryNotFound"}, "X-Repo-Commit": {"0123456789abcdef0123456789abcdef01234567"}}}
	e := newHTTPError("GET", "https://cdn.example/blob?X-Amz-Signature=secret&x=1", resp, []byte(`{"error":"Entry not found"}`), false, "")
	assert.Equal(t, "GET https://cdn.example/blob: 404 Not Found (EntryNotFound): Entry not found; no such file at this revision", e.Error())
	assert.ErrorIs(t, e, ErrEntryNotFound)
	assert.Equal(t, "0123456789abcdef0123456789abcdef01234567", e.RepoCommit)

	resp = &http.Response{StatusCode: 500, Header: http.Header{}}
	e = newHTTPError("POST", "https://h/x", resp, []byte("<html>oops</html>"), true, "")
	assert.ErrorIs(t, e, ErrServer)
	assert.NotContains(t, e.Error(), "html")
}

func TestRetryAfterParsing(t *testing.T) {
	assert.Equal(t, 3*time.Second, parseRetryAfter("3"))
	assert.Equal(t, time.Duration(0), parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"))
	assert.Equal(t, time.Hour, parseRetryAfter("999999"))
	assert.Equal(t, time.Duration(0), parseRetryAfter("-1"))
}

func TestCancelStopsDownload(t *testing.T) {
	e := newEnv(t)
	e.hub.AddRepo("org/tiny", tinyRepo())
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointCDN, Stall: true, DropAfter: 10})
	c := e.client(t, func(o *Options) { o.IdleTimeout = time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Download(ctx, "org/tiny", "", DownloadOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 3*time.Second)
}
