package hub

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRepoTypePaths(t *testing.T) {
	for _, tc := range []struct {
		typ              RepoType
		api, web, folder string
	}{
		{"", "/api/models/org/n", "/org/n", "models--org--n"},
		{RepoModel, "/api/models/org/n", "/org/n", "models--org--n"},
		{RepoDataset, "/api/datasets/org/n", "/datasets/org/n", "datasets--org--n"},
		{RepoSpace, "/api/spaces/org/n", "/spaces/org/n", "spaces--org--n"},
	} {
		assert.Equal(t, tc.api, tc.typ.apiPath("org/n"), tc.typ)
		assert.Equal(t, tc.web, tc.typ.webPath("org/n"), tc.typ)
		assert.Equal(t, tc.folder, tc.typ.folderName("org/n"), tc.typ)
	}
	for in, want := range map[string]RepoType{"": RepoModel, "model": RepoModel, "dataset": RepoDataset, "space": RepoSpace} {
		got, err := ParseRepoType(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"datasets", "Model", "spaces", "x"} {
		_, err := ParseRepoType(in)
		require.ErrorIs(t, err, ErrInvalid, in)
	}
}

// A dataset is listed, resolved and cached under its own paths; the model
// routes are never asked.
func TestDownloadDataset(t *testing.T) {
	e := newEnv(t)
	files := map[string][]byte{"data/train.jsonl": []byte(`{"a":1}` + "\n"), "README.md": []byte("# d"), "x.parquet": []byte("PAR1")}
	commit := e.hub.AddRepo("datasets/org/set", files)
	c := e.client(t)
	dir, err := c.Download(context.Background(), "org/set", "", DownloadOptions{RepoType: RepoDataset, AllowPatterns: []string{}})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(e.cache, "datasets--org--set", "snapshots", commit), dir)
	requireSameFiles(t, dir, files, []string{"README.md", "data/train.jsonl", "x.parquet"})
	for _, r := range e.hub.Requests() {
		if r.Server == "hub" {
			assert.True(t, strings.HasPrefix(r.Path, "/api/datasets/org/set/") || strings.HasPrefix(r.Path, "/datasets/org/set/"), r.Path)
		}
	}
	// The model of the same name is another repo.
	_, err = c.Download(context.Background(), "org/set", "", DownloadOptions{AllowPatterns: []string{}})
	require.ErrorIs(t, err, ErrRepoNotFound)
	_, err = c.Download(context.Background(), "org/set", "", DownloadOptions{RepoType: "datasets"})
	require.ErrorIs(t, err, ErrInvalid)
}

// Uploads to a dataset and a Space use their API paths; a Space is
// created with an SDK; PathInRepo and the patterns place and pick files.
func TestUploadTypedAndPlaced(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx := context.Background()
	dir := t.TempDir()
	mlxFolder(t, dir, 4<<10)
	for _, typ := range []RepoType{RepoDataset, RepoSpace} {
		url, err := c.CreateRepoWith(ctx, "org/r", CreateRepoOptions{Type: typ})
		require.NoError(t, err, typ)
		assert.Equal(t, e.hub.URL+"/"+typ.String()+"s/org/r", url)
		e.hub.ResetLog()
		info, err := c.UploadFolder(ctx, dir, "org/r", UploadOptions{RepoType: typ, PathInRepo: "/v1/",
			AllowPatterns: []string{"*.json", "*.safetensors"}, IgnorePatterns: []string{"sub/*"}})
		require.NoError(t, err, typ)
		assert.Equal(t, 4, info.Files)
		stored, ok := e.hub.Files(typ.String()+"s/org/r", "main")
		require.True(t, ok)
		delete(stored, ".gitattributes")
		assert.ElementsMatch(t, []string{"v1/config.json", "v1/model.safetensors", "v1/tokenizer.json", "v1/tokenizer_config.json"}, keys(stored))
		for _, r := range e.hub.Requests() {
			if r.Server == "hub" {
				assert.Contains(t, r.Path, "/"+typ.String()+"s/org/r", r.Path)
			}
		}
		isModel, _ := e.hub.Exists("org/r")
		assert.False(t, isModel, "a %s is not a model repo", typ)
	}
	// One file, at a path of its own or under its base name.
	_, err := c.CreateRepo(ctx, "org/m", false)
	require.NoError(t, err)
	_, err = c.UploadFile(ctx, filepath.Join(dir, "config.json"), "org/m", UploadOptions{PathInRepo: "cfg/a.json"})
	require.NoError(t, err)
	_, err = c.UploadFile(ctx, filepath.Join(dir, "tokenizer.json"), "org/m", UploadOptions{})
	require.NoError(t, err)
	stored, _ := e.hub.Files("org/m", "main")
	delete(stored, ".gitattributes")
	assert.ElementsMatch(t, []string{"cfg/a.json", "tokenizer.json"}, keys(stored))
	commits := e.hub.Commits("org/m")
	assert.Equal(t, "Upload tokenizer.json using mlxconv", commits[len(commits)-1].Message)

	// A branch is created once (exist ok) and takes commits.
	require.NoError(t, c.CreateBranch(ctx, RepoModel, "org/m", "dev"))
	require.NoError(t, c.CreateBranch(ctx, RepoModel, "org/m", "dev"))
	_, err = c.UploadFile(ctx, filepath.Join(dir, "empty.txt"), "org/m", UploadOptions{Revision: "dev"})
	require.NoError(t, err)
	dev, ok := e.hub.Files("org/m", "dev")
	require.True(t, ok)
	assert.Contains(t, dev, "empty.txt")
	assert.Contains(t, dev, "cfg/a.json", "dev starts at main")
	main, _ := e.hub.Files("org/m", "main")
	assert.NotContains(t, main, "empty.txt")
	require.ErrorIs(t, c.CreateBranch(ctx, RepoModel, "org/none", "dev"), ErrRepoNotFound)

	got, err := FolderFiles(dir, UploadOptions{AllowPatterns: []string{"sub/"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"sub/chat_template.json"}, got)
	_, err = c.UploadFolder(ctx, dir, "org/m", UploadOptions{AllowPatterns: []string{"*.nothing"}})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = c.UploadFolder(ctx, dir, "org/m", UploadOptions{PathInRepo: "../x"})
	require.ErrorIs(t, err, ErrUnsafePath)
	_, err = c.UploadFile(ctx, dir, "org/m", UploadOptions{})
	require.Error(t, err, "a folder is not a file")
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
