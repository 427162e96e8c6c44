package bridge_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/bridge"
)

// fakeFS is an in-memory file-system view: path -> isDir.
type fakeFS map[string]bool

type fileInfo struct {
	name string
	dir  bool
}

func (f fileInfo) Name() string       { return f.name }
func (f fileInfo) Size() int64        { return 0 }
func (f fileInfo) Mode() fs.FileMode  { return map[bool]fs.FileMode{true: fs.ModeDir}[f.dir] }
func (f fileInfo) ModTime() time.Time { return time.Time{} }
func (f fileInfo) IsDir() bool        { return f.dir }
func (f fileInfo) Sys() any           { return nil }

func env(goos, goarch string, vars map[string]string, files fakeFS) bridge.Env {
	return bridge.Env{
		GOOS:   goos,
		GOARCH: goarch,
		Getenv: func(k string) string { return vars[k] },
		Stat: func(name string) (fs.FileInfo, error) {
			dir, ok := files[name]
			if !ok {
				return nil, fmt.Errorf("stat %s: %w", name, fs.ErrNotExist)
			}
			return fileInfo{name, dir}, nil
		},
	}
}

func TestSearchPaths(t *testing.T) {
	tests := []struct {
		goos, goarch string
		want         []string
	}{
		{"darwin", "arm64", []string{"/opt/homebrew/lib/libmlxc.dylib", "/opt/local/lib/libmlxc.dylib", "/usr/local/lib/libmlxc.dylib"}},
		{"darwin", "amd64", []string{"/opt/homebrew/lib/libmlxc.dylib", "/opt/local/lib/libmlxc.dylib", "/usr/local/lib/libmlxc.dylib"}},
		{"linux", "amd64", []string{"/usr/local/lib/libmlxc.so", "/usr/lib/x86_64-linux-gnu/libmlxc.so", "/usr/lib64/libmlxc.so", "/usr/lib/libmlxc.so"}},
		{"linux", "arm64", []string{"/usr/local/lib/libmlxc.so", "/usr/lib/aarch64-linux-gnu/libmlxc.so", "/usr/lib64/libmlxc.so", "/usr/lib/libmlxc.so"}},
		{"windows", "amd64", nil},
	}
	for _, tt := range tests {
		t.Run(tt.goos+"/"+tt.goarch, func(t *testing.T) {
			assert.Equal(t, tt.want, bridge.SearchPaths(env(tt.goos, tt.goarch, nil, nil)))
		})
	}
}

func TestFind(t *testing.T) {
	const (
		brew     = "/opt/homebrew/lib/libmlxc.dylib"
		ports    = "/opt/local/lib/libmlxc.dylib"
		local    = "/usr/local/lib/libmlxc.dylib"
		linLocal = "/usr/local/lib/libmlxc.so"
		linMulti = "/usr/lib/aarch64-linux-gnu/libmlxc.so"
	)
	tests := []struct {
		name    string
		goos    string
		vars    map[string]string
		files   fakeFS
		want    string
		wantErr string // substring; the error must wrap ErrNotFound
	}{
		{name: "darwin homebrew first", goos: "darwin", files: fakeFS{brew: false, ports: false, local: false}, want: brew},
		{name: "darwin macports before usr/local", goos: "darwin", files: fakeFS{ports: false, local: false}, want: ports},
		{name: "darwin usr/local last", goos: "darwin", files: fakeFS{local: false}, want: local},
		{name: "darwin directory named like the library is skipped", goos: "darwin", files: fakeFS{brew: true, local: false}, want: local},
		{name: "darwin nothing", goos: "darwin", files: fakeFS{}, wantErr: "tried /opt/homebrew/lib/libmlxc.dylib, /opt/local/lib/libmlxc.dylib, /usr/local/lib/libmlxc.dylib"},
		{name: "linux usr/local first", goos: "linux", files: fakeFS{linLocal: false, linMulti: false}, want: linLocal},
		{name: "linux multiarch", goos: "linux", files: fakeFS{linMulti: false}, want: linMulti},
		{name: "override file wins", goos: "darwin", vars: map[string]string{"MLXC_LIBRARY": "/x/libmlxc.dylib"}, files: fakeFS{brew: false, "/x/libmlxc.dylib": false}, want: "/x/libmlxc.dylib"},
		{name: "override folder", goos: "linux", vars: map[string]string{"MLXC_LIBRARY": "/x"}, files: fakeFS{"/x": true, "/x/libmlxc.so": false}, want: "/x/libmlxc.so"},
		{name: "override folder without library", goos: "linux", vars: map[string]string{"MLXC_LIBRARY": "/x"}, files: fakeFS{"/x": true, linLocal: false}, wantErr: "MLXC_LIBRARY=/x holds no libmlxc.so"},
		{name: "override missing does not fall back", goos: "darwin", vars: map[string]string{"MLXC_LIBRARY": "/nope.dylib"}, files: fakeFS{brew: false}, wantErr: "MLXC_LIBRARY=/nope.dylib"},
		{name: "unsupported OS", goos: "plan9", files: fakeFS{}, wantErr: "no standard location on plan9/arm64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bridge.Find(env(tt.goos, "arm64", tt.vars, tt.files))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.True(t, errors.Is(err, bridge.ErrNotFound), "%v", err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func ExampleSearchPaths() {
	e := bridge.SystemEnv()
	e.GOOS, e.GOARCH = "darwin", "arm64"
	for _, p := range bridge.SearchPaths(e) {
		fmt.Println(p)
	}
	// Output:
	// /opt/homebrew/lib/libmlxc.dylib
	// /opt/local/lib/libmlxc.dylib
	// /usr/local/lib/libmlxc.dylib
}

// Search skips a candidate that fails the check, with its reason; with
// none left the error wraps both ErrNotFound and the reasons, on one line.
func TestSearchSkipsBadCandidates(t *testing.T) {
	const (
		local = "/usr/local/lib/libmlxc.so"
		multi = "/usr/lib/x86_64-linux-gnu/libmlxc.so"
	)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.so")
	text := filepath.Join(dir, "text.so")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	require.NoError(t, os.WriteFile(text, []byte("not a library\n"), 0o644))
	// Each searched path stands for a real file checked by CheckLibrary.
	withCheck := func(real map[string]string) bridge.Env {
		files := fakeFS{}
		for p := range real {
			files[p] = false
		}
		e := env("linux", "amd64", nil, files)
		e.Check = func(p string) error {
			if r := real[p]; r != "" {
				return bridge.CheckLibrary(r)
			}
			return nil
		}
		return e
	}

	p, skipped, err := bridge.Search(withCheck(map[string]string{local: empty, multi: ""}))
	require.NoError(t, err)
	assert.Equal(t, multi, p, "the bad first candidate is skipped")
	require.Len(t, skipped, 1)
	assert.ErrorIs(t, skipped[0], bridge.ErrBadLibrary)
	assert.Contains(t, skipped[0].Error(), `"`+empty+`": empty file`)

	_, skipped, err = bridge.Search(withCheck(map[string]string{local: empty, multi: text}))
	require.Len(t, skipped, 2)
	require.ErrorIs(t, err, bridge.ErrNotFound)
	require.ErrorIs(t, err, bridge.ErrBadLibrary)
	assert.NotContains(t, err.Error(), "\n")
	assert.Contains(t, err.Error(), `"`+empty+`": empty file`)
	assert.Contains(t, err.Error(), `"`+text+`": not a shared library`)
	assert.Contains(t, err.Error(), "set MLXC_LIBRARY")

	// Without a check (nil), every regular file is a candidate.
	e := withCheck(map[string]string{local: empty})
	e.Check = nil
	p, err = bridge.Find(e)
	require.NoError(t, err)
	assert.Equal(t, local, p)
}
