package hub

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/convert/hub/hubtest"
	"github.com/mlxconv/mlxconv/internal/oracle"
)

// pyHub runs a Python snippet with huggingface_hub configured for the fake
// Hub and cache (env), and decodes the JSON it prints.
func pyHub(t *testing.T, env map[string]string, script string, out any) {
	t.Helper()
	py := oracle.Python(t)
	cmd := exec.Command(py, "-c", script)
	home := t.TempDir()
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "PYTHONDONTWRITEBYTECODE=1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	require.NoError(t, err, "python failed:\n%s", stderr.String())
	require.NoError(t, json.Unmarshal(b, out), "python output: %s\nstderr: %s", b, stderr.String())
}

// pyPatterns is mlx-lm's DEFAULT_ALLOW_PATTERNS, as mlx-lm passes them.
const pyPatterns = `["*.json", "model*.safetensors", "*.py", "tokenizer.model", "*.tiktoken", "tiktoken.model", "*.txt", "*.jsonl", "*.jinja"]`

// pyListing prints {relative path: sha256} of a snapshot folder.
const pyListing = `
import hashlib, json, os
def listing(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            if "/.cache/" in p:
                continue
            out[os.path.relpath(p, root)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out
`

func TestInteropPythonReadsOurCache(t *testing.T) {
	oracle.Python(t)
	e := newEnv(t)
	files := tinyRepo()
	commit := e.hub.AddRepo("org/tiny", files)
	e.hub.CommitFiles("org/tiny", "dev", "dev", map[string][]byte{"config.json": []byte(`{"dev": true}`)})
	c := e.client(t)
	dir, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.NoError(t, err)
	_, err = c.Fetch(context.Background(), "org/tiny", "", "missing.json")
	require.ErrorIs(t, err, ErrEntryNotFound)
	devDir, err := c.Download(context.Background(), "org/tiny", "dev", DownloadOptions{Files: []string{"config.json"}})
	require.NoError(t, err)

	env := e.hub.Env(e.cache)
	env["HF_HUB_OFFLINE"] = "1"
	var got struct {
		Path    string            `json:"path"`
		Files   map[string]string `json:"files"`
		Config  string            `json:"config"`
		Missing bool              `json:"missing"`
		Dev     string            `json:"dev"`
		Repos   []string          `json:"repos"`
		Errors  []string          `json:"errors"`
		Refs    []string          `json:"refs"`
		NFiles  int               `json:"nfiles"`
		Tree    int               `json:"tree"`
	}
	pyHub(t, env, pyListing+`
from huggingface_hub import snapshot_download, hf_hub_download, try_to_load_from_cache, scan_cache_dir, get_cached_repo_tree
from huggingface_hub.file_download import _CACHED_NO_EXIST
cache = os.environ["HF_HUB_CACHE"]
p = snapshot_download("org/tiny", allow_patterns=`+pyPatterns+`, local_files_only=True, cache_dir=cache)
cfg = hf_hub_download("org/tiny", "config.json", local_files_only=True, cache_dir=cache)
missing = try_to_load_from_cache("org/tiny", "missing.json", cache_dir=cache) is _CACHED_NO_EXIST
dev = hf_hub_download("org/tiny", "config.json", revision="dev", local_files_only=True, cache_dir=cache)
info = scan_cache_dir(cache)
repo = list(info.repos)[0]
refs = sorted(r for rev in repo.revisions for r in rev.refs)
print(json.dumps({"path": p, "files": listing(p), "config": cfg, "missing": missing, "dev": open(dev).read(),
    "repos": [r.repo_id for r in info.repos], "errors": [str(w) for w in info.warnings], "refs": refs,
    "nfiles": sum(rev.nb_files for rev in repo.revisions),
    "tree": len(get_cached_repo_tree("org/tiny", cache_dir=cache))}))
`, &got)
	assert.Equal(t, dir, got.Path)
	want := map[string]string{}
	for _, n := range convNames {
		want[n] = sha256hex(files[n])
	}
	assert.Equal(t, want, got.Files)
	assert.Equal(t, filepath.Join(dir, "config.json"), got.Config)
	assert.True(t, got.Missing, "our .no_exist marker is understood")
	assert.Equal(t, `{"dev": true}`, got.Dev)
	assert.Equal(t, filepath.Join(devDir, "config.json"), filepath.Join(filepath.Dir(got.Path), filepath.Base(devDir), "config.json"))
	assert.Equal(t, []string{"org/tiny"}, got.Repos)
	assert.Empty(t, got.Errors, "scan_cache_dir finds no corruption")
	assert.Equal(t, []string{"dev", "main"}, got.Refs)
	assert.Equal(t, len(convNames)+1, got.NFiles)
	assert.Equal(t, len(files), got.Tree, "our trees/<commit>.json lists every repo file")
	_ = commit
}

func TestInteropWeReadPythonCache(t *testing.T) {
	oracle.Python(t)
	e := newEnv(t)
	e.hub.Token = testToken
	files := tinyRepo()
	commit := e.hub.AddRepo("org/tiny", files)
	e.hub.SetPrivate("org/tiny", true)

	var got struct {
		Path string `json:"path"`
	}
	pyHub(t, e.hub.Env(e.cache), `
import json, os
from huggingface_hub import snapshot_download, hf_hub_download
p = snapshot_download("org/tiny", allow_patterns=`+pyPatterns+`, cache_dir=os.environ["HF_HUB_CACHE"])
print(json.dumps({"path": p}))
`, &got)
	require.Equal(t, filepath.Join(e.cache, "models--org--tiny", "snapshots", commit), got.Path)
	// Python talked to the fake like to the Hub, and never sent the token to the CDN.
	for _, r := range e.hub.Requests() {
		if r.Server == "cdn" {
			assert.Empty(t, r.Authorization)
		}
	}

	// Offline, our client reads Python's cache.
	e.env["HF_HUB_OFFLINE"] = "1"
	off := e.client(t)
	e.hub.ResetLog()
	dir, err := off.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.NoError(t, err)
	assert.Equal(t, got.Path, dir)
	requireSameFiles(t, dir, files, convNames)
	p, err := off.Fetch(context.Background(), "org/tiny", "main", "tokenizer.json")
	require.NoError(t, err)
	assert.FileExists(t, p)
	_, err = off.Download(context.Background(), "org/tiny", "", DownloadOptions{AllowPatterns: []string{}})
	require.ErrorIs(t, err, ErrIncomplete, "Python's tree listing shows what is missing")

	// Online, nothing already downloaded by Python is fetched again; the
	// rest lands in the same snapshot.
	delete(e.env, "HF_HUB_OFFLINE")
	on := e.client(t)
	dir, err = on.Download(context.Background(), "org/tiny", "", DownloadOptions{AllowPatterns: []string{"*"}})
	require.NoError(t, err)
	assert.Equal(t, got.Path, dir)
	for _, n := range convNames {
		assert.Zero(t, e.hub.Count(hubtest.EndpointResolve, n), n)
	}
	var all []string
	for n := range files {
		all = append(all, n)
	}
	sort.Strings(all)
	requireSameFiles(t, dir, files, all)

	// And Python, offline, still reads the completed snapshot.
	env := e.hub.Env(e.cache)
	env["HF_HUB_OFFLINE"] = "1"
	var again struct {
		Files map[string]string `json:"files"`
	}
	pyHub(t, env, pyListing+`
from huggingface_hub import snapshot_download
p = snapshot_download("org/tiny", local_files_only=True, cache_dir=os.environ["HF_HUB_CACHE"])
print(json.dumps({"files": listing(p)}))
`, &again)
	assert.Len(t, again.Files, len(files))
}

func TestInteropPythonParsesModelCard(t *testing.T) {
	oracle.Python(t)
	dir := t.TempDir()
	src := "---\nlicense: apache-2.0\ntags:\n- text\n- \"2024\"\ndatasets: [a, b]\n---\n# src\n"
	require.NoError(t, WriteModelCard(dir, CardInfo{BaseModel: "org/tiny", Source: []byte(src), Repo: "me/tiny-4bit", Version: "0.1.0"}))
	var got map[string]any
	pyHub(t, nil, `
import json, sys
from huggingface_hub import ModelCard
card = ModelCard.load("`+filepath.Join(dir, "README.md")+`")
d = card.data.to_dict()
d["_text_has_usage"] = "## Use with mlx" in card.text
print(json.dumps(d))
`, &got)
	assert.Equal(t, "mlx", got["library_name"])
	assert.Equal(t, "text-generation", got["pipeline_tag"])
	assert.Equal(t, "org/tiny", got["base_model"])
	assert.Equal(t, "apache-2.0", got["license"])
	assert.Equal(t, []any{"text", "2024", "mlx"}, got["tags"])
	assert.Equal(t, []any{"a", "b"}, got["datasets"])
	assert.Equal(t, true, got["_text_has_usage"])
}

// Datasets and Spaces: huggingface_hub uploads to the fake Hub through its
// real dataset and Space routes (create, preupload, LFS batch, commit), and
// reads, offline, the dataset snapshot we downloaded into the shared cache.
func TestInteropRepoTypes(t *testing.T) {
	oracle.Python(t)
	e := newEnv(t)
	src := t.TempDir()
	mlxFolder(t, src, 64<<10)
	env := e.hub.Env(e.cache)
	var up struct {
		Dataset string `json:"dataset"`
		Space   string `json:"space"`
	}
	pyHub(t, env, `
import json, os
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("org/set", repo_type="dataset")
d = api.upload_folder(repo_id="org/set", repo_type="dataset", folder_path=`+pyQuote(src)+`, path_in_repo="data")
api.create_repo("org/app", repo_type="space", space_sdk="gradio")
s = api.upload_file(repo_id="org/app", repo_type="space", path_or_fileobj=`+pyQuote(filepath.Join(src, "config.json"))+`, path_in_repo="app/config.json")
print(json.dumps({"dataset": str(d), "space": str(s)}))
`, &up)
	assert.Contains(t, up.Dataset, "/datasets/org/set/")
	assert.Contains(t, up.Space, "/spaces/org/app/")
	stored, ok := e.hub.Files("datasets/org/set", "main")
	require.True(t, ok)
	assert.Contains(t, stored, "data/model.safetensors")
	assert.True(t, e.hub.IsStoredAsLFS("datasets/org/set", "main", "data/model.safetensors"))
	stored, ok = e.hub.Files("spaces/org/app", "main")
	require.True(t, ok)
	assert.Contains(t, stored, "app/config.json")

	c := e.client(t)
	dir, err := c.Download(context.Background(), "org/set", "", DownloadOptions{RepoType: RepoDataset, AllowPatterns: []string{}})
	require.NoError(t, err)
	env["HF_HUB_OFFLINE"] = "1"
	var got struct {
		Path  string            `json:"path"`
		Files map[string]string `json:"files"`
	}
	pyHub(t, env, pyListing+`
from huggingface_hub import snapshot_download
p = snapshot_download("org/set", repo_type="dataset", local_files_only=True, cache_dir=os.environ["HF_HUB_CACHE"])
print(json.dumps({"path": p, "files": listing(p)}))
`, &got)
	assert.Equal(t, dir, got.Path)
	stored, _ = e.hub.Files("datasets/org/set", "main")
	assert.Equal(t, digests(stored), got.Files)
}

// pyQuote is s as a Python string literal.
func pyQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
