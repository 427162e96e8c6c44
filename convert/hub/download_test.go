package hub

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/convert/hub/hubtest"
)

func TestDownloadLayout(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	commit := e.hub.AddRepo("org/tiny", files)
	c := e.client(t)

	dir, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.NoError(t, err)
	root := filepath.Join(e.cache, "models--org--tiny")
	require.Equal(t, filepath.Join(root, "snapshots", commit), dir)
	requireSameFiles(t, dir, files, convNames)

	ref, err := os.ReadFile(filepath.Join(root, "refs", "main"))
	require.NoError(t, err)
	assert.Equal(t, commit, string(ref), "refs/main holds the bare commit id")

	for _, n := range convNames {
		p := filepath.Join(dir, filepath.FromSlash(n))
		target, err := os.Readlink(p)
		require.NoError(t, err, "%s is a symlink", n)
		assert.False(t, filepath.IsAbs(target), "relative symlink")
		want := gitBlobID(files[n])
		if strings.HasSuffix(n, ".safetensors") {
			want = sha256hex(files[n])
		}
		assert.Equal(t, filepath.Join("..", "..", "blobs", want), target, n)
	}
	// Nothing partial is left behind; the tree listing and the cache tag exist.
	blobs, _ := os.ReadDir(filepath.Join(root, "blobs"))
	for _, b := range blobs {
		assert.NotContains(t, b.Name(), ".incomplete")
	}
	assert.FileExists(t, filepath.Join(root, "trees", commit+".json"))
	assert.FileExists(t, filepath.Join(e.cache, "CACHEDIR.TAG"))
	assert.Zero(t, e.hub.Count(hubtest.EndpointResolve, "pytorch_model.bin"))
	assert.Zero(t, e.hub.Count(hubtest.EndpointResolve, "README.md"))

	// A second download is served from the cache: only the listing is asked.
	e.hub.ResetLog()
	dir2, err := c.Download(context.Background(), "org/tiny", "main", DownloadOptions{})
	require.NoError(t, err)
	assert.Equal(t, dir, dir2)
	assert.Zero(t, e.hub.Count(hubtest.EndpointResolve, ""))
	assert.Zero(t, e.hub.Count(hubtest.EndpointCDN, ""))
}

func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func TestDownloadTokenNeverReachesCDN(t *testing.T) {
	e := newEnv(t)
	e.hub.AddRepo("org/tiny", tinyRepo())
	e.hub.SetPrivate("org/tiny", true)
	c := e.client(t)
	_, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.NoError(t, err)
	var hub, cdn int
	for _, r := range e.hub.Requests() {
		switch r.Server {
		case "cdn":
			cdn++
			assert.Empty(t, r.Authorization, "token sent to the CDN: %s", r.Path)
		case "hub":
			hub++
			assert.Equal(t, "Bearer "+testToken, r.Authorization, r.Path)
		}
	}
	assert.Equal(t, 2, cdn, "the two LFS shards come from the CDN")
	assert.NotZero(t, hub)
	e.noTokenLeak(t)
}

func TestDownloadResumesDroppedConnection(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	e.hub.AddRepo("org/tiny", files)
	shard := "model-00001-of-00002.safetensors"
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointCDN, File: shard, Times: 2, Drop: true, DropAfter: 100 << 10})
	c := e.client(t)
	dir, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.NoError(t, err)
	requireSameFiles(t, dir, files, convNames)

	var ranges []string
	for _, r := range e.hub.Requests() {
		if r.Server == "cdn" && r.File == shard {
			ranges = append(ranges, r.Range)
		}
	}
	// First attempt from 0, then resumed from each drop point.
	assert.Equal(t, []string{"", "bytes=102400-", "bytes=204800-"}, ranges)
	var retries int
	for _, ev := range e.events {
		if ev.Kind == EventRetry && ev.File == shard {
			retries++
		}
	}
	assert.Equal(t, 2, retries)
}

func TestDownloadResumesAcrossRuns(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	e.hub.AddRepo("org/tiny", files)
	shard := "model-00001-of-00002.safetensors"
	// The connection drops, then the CDN fails: the run fails but keeps
	// the partial blob.
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointCDN, File: shard, Times: 1, Drop: true, DropAfter: 100 << 10})
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointCDN, File: shard, Status: 500})
	c := e.client(t, func(o *Options) { o.MaxRetries = 1 })
	_, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{Files: []string{shard}})
	require.ErrorIs(t, err, ErrServer)
	partial := filepath.Join(e.cache, "models--org--tiny", "blobs", sha256hex(files[shard])+".incomplete")
	fi, err := os.Stat(partial)
	require.NoError(t, err, "the partial download is kept for resuming")
	assert.Equal(t, int64(100<<10), fi.Size())
	assert.NoFileExists(t, filepath.Join(e.cache, "models--org--tiny", "snapshots", e.hub.Commits("org/tiny")[0].OID, shard))

	// Next run (fault gone) continues from the partial file.
	e.hub.ClearFaults()
	e.hub.ResetLog()
	dir, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{Files: []string{shard}})
	require.NoError(t, err)
	requireSameFiles(t, dir, files, []string{shard})
	var ranges []string
	for _, r := range e.hub.Requests() {
		if r.Server == "cdn" {
			ranges = append(ranges, r.Range)
		}
	}
	assert.Equal(t, []string{"bytes=102400-"}, ranges)
	assert.NoFileExists(t, partial)
}

func TestDownloadCorruptBytesNeverReachSnapshot(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	commit := e.hub.AddRepo("org/tiny", files)
	shard := "model-00002-of-00002.safetensors"
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointCDN, File: shard, Corrupt: true})
	c := e.client(t)
	_, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.ErrorIs(t, err, ErrIntegrity)
	assert.Contains(t, err.Error(), shard)
	assert.Contains(t, err.Error(), "sha256")
	root := filepath.Join(e.cache, "models--org--tiny")
	assert.NoFileExists(t, filepath.Join(root, "snapshots", commit, shard))
	assert.NoFileExists(t, filepath.Join(root, "blobs", sha256hex(files[shard])))
	assert.NoFileExists(t, filepath.Join(root, "blobs", sha256hex(files[shard])+".incomplete"), "corrupt partials are deleted")
}

func TestDownloadCorruptRegularFile(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	commit := e.hub.AddRepo("org/tiny", files)
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointResolve, File: "config.json", Method: http.MethodGet, Corrupt: true})
	c := e.client(t)
	_, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{Files: []string{"config.json"}})
	require.ErrorIs(t, err, ErrIntegrity)
	assert.Contains(t, err.Error(), "git blob id")
	assert.NoFileExists(t, filepath.Join(e.cache, "models--org--tiny", "snapshots", commit, "config.json"))
}

func TestDownloadRefusesTraversalNames(t *testing.T) {
	for _, name := range []string{"../evil.json", "a/../../evil.json", "/etc/evil.json", `sub\..\evil.json`, "C:/evil.json", "sub//x.json", "./x.json"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			files := tinyRepo()
			files[name] = []byte(`{"pwned": true}`)
			e.hub.AddRepo("org/tiny", files)
			c := e.client(t)
			_, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{AllowPatterns: []string{}})
			require.ErrorIs(t, err, ErrUnsafePath)
			assert.Zero(t, e.hub.Count(hubtest.EndpointResolve, ""), "nothing is downloaded from a hostile listing")
			assert.NoFileExists(t, filepath.Join(filepath.Dir(e.cache), "evil.json"))
		})
	}
}

func TestDownloadHTTPErrors(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(h *hubtest.Hub)
		token  string
		repo   string
		want   []error
		substr string
	}{
		{name: "404 repo", repo: "org/missing", token: testToken, want: []error{ErrRepoNotFound}, substr: "check the repo id"},
		{name: "401 private without token", repo: "org/tiny", setup: func(h *hubtest.Hub) { h.SetPrivate("org/tiny", true) },
			want: []error{ErrUnauthorized, ErrRepoNotFound}, substr: "set HF_TOKEN"},
		{name: "401 bad token", repo: "org/tiny", token: "hf_wrong", want: []error{ErrUnauthorized}, substr: "token was rejected"},
		{name: "403 gated", repo: "org/tiny", token: testToken, setup: func(h *hubtest.Hub) { h.SetGated("org/tiny", true) },
			want: []error{ErrForbidden, ErrGated}, substr: "accept its conditions"},
		{name: "403 forbidden", repo: "org/tiny", token: testToken, setup: func(h *hubtest.Hub) {
			h.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointInfo, Status: 403, Body: `{"error":"nope"}`})
		}, want: []error{ErrForbidden}, substr: "lacks the permission"},
		{name: "429 exhausted", repo: "org/tiny", token: testToken, setup: func(h *hubtest.Hub) {
			h.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointInfo, Status: 429, Header: http.Header{"Retry-After": {"0"}}})
		}, want: []error{ErrRateLimited}, substr: "rate-limited"},
		{name: "500 exhausted", repo: "org/tiny", token: testToken, setup: func(h *hubtest.Hub) {
			h.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointInfo, Status: 502})
		}, want: []error{ErrServer}},
		{name: "revision", repo: "org/tiny", token: testToken, want: []error{ErrRevisionNotFound}, substr: "no such branch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.hub.AddRepo("org/tiny", tinyRepo())
			if tc.setup != nil {
				tc.setup(e.hub)
			}
			e.env["HF_TOKEN"] = tc.token
			c := e.client(t, func(o *Options) { o.MaxRetries = 2 })
			rev := "main"
			if tc.name == "revision" {
				rev = "nope"
			}
			_, err := c.Download(context.Background(), tc.repo, rev, DownloadOptions{})
			require.Error(t, err)
			for _, w := range tc.want {
				assert.ErrorIs(t, err, w)
			}
			var he *HTTPError
			require.ErrorAs(t, err, &he)
			if tc.substr != "" {
				assert.Contains(t, err.Error(), tc.substr)
			}
			e.noTokenLeak(t, err)
			if tc.name == "429 exhausted" {
				assert.Equal(t, 3, e.hub.Count(hubtest.EndpointInfo, ""), "1 try + 2 bounded retries")
			}
		})
	}
}

func TestDownload429ThenSuccess(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	e.hub.AddRepo("org/tiny", files)
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointInfo, Times: 2, Status: 429, Header: http.Header{"Retry-After": {"1"}}})
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointResolve, File: "config.json", Method: http.MethodGet, Times: 1, Status: 503})
	c := e.client(t)
	start := time.Now()
	dir, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.NoError(t, err)
	requireSameFiles(t, dir, files, convNames)
	assert.Less(t, time.Since(start), 2*time.Second, "Retry-After is capped by MaxRetryWait")
	assert.Equal(t, 3, e.hub.Count(hubtest.EndpointInfo, ""))
}

func TestDownloadStallTimesOutAndResumes(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	e.hub.AddRepo("org/tiny", files)
	shard := "model-00002-of-00002.safetensors"
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointCDN, File: shard, Times: 1, Stall: true, DropAfter: 1000})
	c := e.client(t, func(o *Options) { o.IdleTimeout = 200 * time.Millisecond })
	start := time.Now()
	dir, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{Files: []string{shard}})
	require.NoError(t, err)
	requireSameFiles(t, dir, files, []string{shard})
	assert.Less(t, time.Since(start), 3*time.Second)
	var sawTimeout bool
	for _, ev := range e.events {
		if ev.Kind == EventRetry && errors.Is(ev.Err, ErrTimeout) {
			sawTimeout = true
		}
	}
	assert.True(t, sawTimeout, "the stall is reported as a timeout, then resumed")
	var ranges []string
	for _, r := range e.hub.Requests() {
		if r.Server == "cdn" {
			ranges = append(ranges, r.Range)
		}
	}
	assert.Equal(t, []string{"", "bytes=1000-"}, ranges)
}

func TestDownloadSlowHeadersTimeout(t *testing.T) {
	e := newEnv(t)
	e.hub.AddRepo("org/tiny", tinyRepo())
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointInfo, Delay: 2 * time.Second})
	c := e.client(t, func(o *Options) { o.Timeout = 100 * time.Millisecond; o.MaxRetries = 1 })
	start := time.Now()
	_, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.ErrorIs(t, err, ErrTimeout)
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
}

func TestDownloadIgnoredRangeRestarts(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	e.hub.AddRepo("org/tiny", files)
	shard := "model-00001-of-00002.safetensors"
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointCDN, File: shard, Times: 1, Drop: true, DropAfter: 4096})
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointCDN, File: shard, Times: 1, IgnoreRange: true})
	c := e.client(t)
	dir, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{Files: []string{shard}})
	require.NoError(t, err)
	requireSameFiles(t, dir, files, []string{shard})
}

func TestPreflightBeforeWeights(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	e.hub.AddRepo("org/tiny", files)
	c := e.client(t)
	errUnsupported := errors.New("model type llama not supported")
	var seen []string
	_, err := c.Resolve(context.Background(), "org/tiny", "", func(dir string) error {
		seen = listDir(t, dir)
		return errUnsupported
	})
	require.ErrorIs(t, err, errUnsupported)
	assert.Contains(t, err.Error(), "no weights downloaded")
	assert.Contains(t, seen, "config.json")
	assert.Contains(t, seen, "model.safetensors.index.json")
	assert.Contains(t, seen, "README.md", "Resolve keeps the source card")
	for _, n := range seen {
		assert.False(t, strings.HasSuffix(n, ".safetensors"), n)
	}
	assert.Zero(t, e.hub.Count(hubtest.EndpointCDN, ""), "not a single weight byte requested")

	// Accepting pre-flight downloads the rest.
	dir, err := c.Resolve(context.Background(), "org/tiny", "", func(dir string) error { return nil })
	require.NoError(t, err)
	requireSameFiles(t, dir, files, append([]string{"README.md"}, convNames...))
}

func TestResolveLocalPath(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	dir := t.TempDir()
	called := false
	got, err := c.Resolve(context.Background(), dir, "", func(d string) error { called = d == dir; return nil })
	require.NoError(t, err)
	assert.Equal(t, dir, got)
	assert.True(t, called)
	assert.Empty(t, e.hub.Requests())

	_, err = c.Resolve(context.Background(), "not a repo!", "", nil)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestFetchAndNoExist(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	commit := e.hub.AddRepo("org/tiny", files)
	c := e.client(t)
	p, err := c.Fetch(context.Background(), "org/tiny", "", "config.json")
	require.NoError(t, err)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, files["config.json"], got)
	assert.Equal(t, filepath.Join(e.cache, "models--org--tiny", "snapshots", commit, "config.json"), p)

	p, err = c.Fetch(context.Background(), "org/tiny", "", "model-00002-of-00002.safetensors")
	require.NoError(t, err)
	got, err = os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, files["model-00002-of-00002.safetensors"], got)

	_, err = c.Fetch(context.Background(), "org/tiny", "", "preprocessor_config.json")
	require.ErrorIs(t, err, ErrEntryNotFound)
	assert.FileExists(t, filepath.Join(e.cache, "models--org--tiny", ".no_exist", commit, "preprocessor_config.json"))

	// Offline, the cache answers the same questions.
	e.env["HF_HUB_OFFLINE"] = "1"
	off := e.client(t)
	e.hub.ResetLog()
	p, err = off.Fetch(context.Background(), "org/tiny", "main", "config.json")
	require.NoError(t, err)
	assert.FileExists(t, p)
	_, err = off.Fetch(context.Background(), "org/tiny", "main", "preprocessor_config.json")
	require.ErrorIs(t, err, ErrEntryNotFound)
	_, err = off.Fetch(context.Background(), "org/tiny", "main", "tokenizer.json")
	require.ErrorIs(t, err, ErrOffline)
	assert.Empty(t, e.hub.Requests())
}

func TestOfflineDownload(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	e.hub.AddRepo("org/tiny", files)
	c := e.client(t)
	dir, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.NoError(t, err)

	e.env["HF_HUB_OFFLINE"] = "true"
	off := e.client(t)
	e.hub.ResetLog()
	got, err := off.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.NoError(t, err)
	assert.Equal(t, dir, got)
	// Asking for more than was downloaded is reported as incomplete.
	_, err = off.Download(context.Background(), "org/tiny", "", DownloadOptions{AllowPatterns: []string{}})
	require.ErrorIs(t, err, ErrIncomplete)
	_, err = off.Download(context.Background(), "org/other", "", DownloadOptions{})
	require.ErrorIs(t, err, ErrOffline)
	_, err = off.UploadFolder(context.Background(), dir, "org/x", UploadOptions{})
	require.ErrorIs(t, err, ErrOffline)
	assert.Empty(t, e.hub.Requests())

	// Online but the Hub is down: the cache answers too.
	delete(e.env, "HF_HUB_OFFLINE")
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointInfo, Status: 503})
	got, err = e.client(t, func(o *Options) { o.MaxRetries = 1 }).Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.NoError(t, err)
	assert.Equal(t, dir, got)
}

func TestDownloadRevisionAndLocalDir(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	first := e.hub.AddRepo("org/tiny", files)
	second := e.hub.CommitFiles("org/tiny", "dev", "tweak", map[string][]byte{"config.json": []byte(`{"model_type": "qwen2"}`)})
	e.hub.SetRef("org/tiny", "v1.0", first)
	c := e.client(t)

	dir, err := c.Download(context.Background(), "org/tiny", "dev", DownloadOptions{Files: []string{"config.json"}})
	require.NoError(t, err)
	assert.Equal(t, second, filepath.Base(dir))
	ref, _ := os.ReadFile(filepath.Join(e.cache, "models--org--tiny", "refs", "dev"))
	assert.Equal(t, second, string(ref))

	dir, err = c.Download(context.Background(), "org/tiny", "v1.0", DownloadOptions{Files: []string{"config.json"}})
	require.NoError(t, err)
	assert.Equal(t, first, filepath.Base(dir))
	got, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	assert.Equal(t, files["config.json"], got)

	dir, err = c.Download(context.Background(), "org/tiny", first, DownloadOptions{Files: []string{"config.json"}})
	require.NoError(t, err)
	assert.Equal(t, first, filepath.Base(dir))
	assert.NoFileExists(t, filepath.Join(e.cache, "models--org--tiny", "refs", first), "no ref for a commit")

	local := filepath.Join(t.TempDir(), "out")
	dir, err = c.Download(context.Background(), "org/tiny", "", DownloadOptions{LocalDir: local})
	require.NoError(t, err)
	assert.Equal(t, local, dir)
	requireSameFiles(t, local, files, convNames)
	fi, err := os.Lstat(filepath.Join(local, "config.json"))
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "local-dir files are real files")
	meta, err := os.ReadFile(filepath.Join(local, ".cache", "huggingface", "download", "config.json.metadata"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(meta), first+"\n"+gitBlobID(files["config.json"])+"\n"))

	// A second local-dir run downloads nothing.
	e.hub.ResetLog()
	_, err = c.Download(context.Background(), "org/tiny", "", DownloadOptions{LocalDir: local})
	require.NoError(t, err)
	assert.Zero(t, e.hub.Count(hubtest.EndpointResolve, ""))
}

func TestDownloadProgress(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	e.hub.AddRepo("org/tiny", files)
	c := e.client(t)
	_, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.NoError(t, err)
	var total int64
	for _, n := range convNames {
		total += int64(len(files[n]))
	}
	last := e.events[len(e.events)-1]
	assert.Equal(t, total, last.Total)
	assert.Equal(t, total, last.Done)
	done := map[string]bool{}
	for _, ev := range e.events {
		if ev.Kind == EventDone {
			done[ev.File] = true
		}
		assert.LessOrEqual(t, ev.Done, ev.Total)
	}
	assert.Len(t, done, len(convNames))
}

func TestDownloadHeadFallback(t *testing.T) {
	// A mirror whose listing lacks blob metadata: the client asks HEAD.
	e := newEnv(t)
	files := tinyRepo()
	e.hub.AddRepo("org/tiny", files)
	c := e.client(t)
	info := &ModelInfo{SHA: e.hub.Commits("org/tiny")[0].OID}
	for _, n := range []string{"config.json", "model-00001-of-00002.safetensors"} {
		info.Siblings = append(info.Siblings, Sibling{Name: n, Size: -1})
	}
	dir, err := c.downloadInfo(context.Background(), "org/tiny", "main", info, DownloadOptions{})
	require.NoError(t, err)
	requireSameFiles(t, dir, files, []string{"config.json", "model-00001-of-00002.safetensors"})
	assert.Equal(t, 2, e.hub.Count(hubtest.EndpointResolve, "config.json"), "HEAD then GET")
}

func TestInsecureEndpoints(t *testing.T) {
	for _, ep := range []string{"http://example.com", "ftp://127.0.0.1", "https://user:pw@huggingface.co", "http://10.0.0.1:8080"} {
		_, err := New(Options{Endpoint: ep, Getenv: func(string) string { return "" }})
		require.ErrorIs(t, err, ErrInsecureEndpoint, ep)
	}
	for _, ep := range []string{"https://hf-mirror.example/", "http://127.0.0.1:9999", "http://localhost", "http://[::1]:80"} {
		c, err := New(Options{Endpoint: ep, Getenv: func(string) string { return "" }})
		require.NoError(t, err, ep)
		assert.False(t, strings.HasSuffix(c.Endpoint(), "/"))
	}
}

func TestRedirectToPlainHTTPRefused(t *testing.T) {
	e := newEnv(t)
	e.hub.AddRepo("org/tiny", tinyRepo())
	e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointResolve, File: "config.json", Method: http.MethodGet,
		Status: http.StatusFound, Header: http.Header{"Location": {"http://cdn.example.com/x"}}})
	c := e.client(t)
	_, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{Files: []string{"config.json"}})
	require.ErrorIs(t, err, ErrInsecureEndpoint)
}

func TestLocalDirUpdatesChangedFiles(t *testing.T) {
	e := newEnv(t)
	files := tinyRepo()
	e.hub.AddRepo("org/tiny", files)
	c := e.client(t)
	local := filepath.Join(t.TempDir(), "out")
	_, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{LocalDir: local, Files: []string{"config.json"}})
	require.NoError(t, err)
	// Same size, different content in a new commit: the local file is replaced.
	changed := []byte(strings.Replace(string(files["config.json"]), "llama", "LLAMA", 1))
	require.Len(t, changed, len(files["config.json"]))
	e.hub.CommitFiles("org/tiny", "main", "upper", map[string][]byte{"config.json": changed})
	_, err = c.Download(context.Background(), "org/tiny", "", DownloadOptions{LocalDir: local, Files: []string{"config.json"}})
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(local, "config.json"))
	require.NoError(t, err)
	assert.Equal(t, changed, got)
}
