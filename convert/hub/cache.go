package hub

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlxconv/mlxconv/internal/fsx"
)

// repoCache is one repo's folder in the huggingface_hub cache:
//
//	<cache>/models--org--name/
//	    blobs/<etag>                  file contents (etag: sha256 for LFS, git oid otherwise)
//	    blobs/<etag>.incomplete       a download in progress (resumed with HTTP Range)
//	    snapshots/<commit>/<path>     relative symlinks to ../../blobs/<etag>
//	    refs/<revision>               the commit a branch or tag resolved to
//	    trees/<commit>.json           the file listing of the commit (huggingface_hub >= 2.x)
//	    .no_exist/<commit>/<path>     empty markers for files known to be absent
//	<cache>/.locks/models--org--name/<etag>.lock
//
// Dataset and space repos live beside them as datasets--org--name and
// spaces--org--name.
type repoCache struct {
	cacheDir string
	folder   string // models--org--name
	root     string
}

func (c *Client) repoCache(typ RepoType, repo string) repoCache {
	folder := typ.folderName(repo)
	return repoCache{cacheDir: c.cacheDir, folder: folder, root: filepath.Join(c.cacheDir, folder)}
}

func (rc repoCache) snapshotDir(commit string) string {
	return filepath.Join(rc.root, "snapshots", commit)
}

// pointerPath is the snapshot entry of a validated file name.
func (rc repoCache) pointerPath(commit, name string) string {
	return filepath.Join(rc.snapshotDir(commit), filepath.FromSlash(name))
}

func (rc repoCache) blobPath(etag string) string { return filepath.Join(rc.root, "blobs", etag) }

func (rc repoCache) lockPath(etag string) string {
	return filepath.Join(rc.cacheDir, ".locks", rc.folder, etag+".lock")
}

// readRef returns the commit a cached ref points to ("" if none).
func (rc repoCache) readRef(rev string) string {
	if IsCommitHash(rev) {
		return rev
	}
	b, err := readSmall(filepath.Join(rc.root, "refs", filepath.FromSlash(rev)), 256)
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if !IsCommitHash(s) {
		return ""
	}
	return s
}

// writeRef records rev -> commit atomically; a no-op for commit revisions
// and unchanged refs.
func (rc repoCache) writeRef(rev, commit string) error {
	if rev == commit || IsCommitHash(rev) {
		return nil
	}
	if rc.readRef(rev) == commit {
		return nil
	}
	p := filepath.Join(rc.root, "refs", filepath.FromSlash(rev))
	return writeFileAtomic(p, []byte(commit))
}

func (rc repoCache) noExistPath(commit, name string) string {
	return filepath.Join(rc.root, ".no_exist", commit, filepath.FromSlash(name))
}

func (rc repoCache) markNoExist(commit, name string) {
	p := rc.noExistPath(commit, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
		if f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			f.Close()
		}
	}
}

func (rc repoCache) isNoExist(commit, name string) bool {
	fi, err := os.Stat(rc.noExistPath(commit, name))
	return err == nil && fi.Mode().IsRegular()
}

// treeEntry is one file of huggingface_hub's trees/<commit>.json.
type treeEntry struct {
	Size      int64  `json:"size"`
	BlobID    string `json:"blob_id"`
	LFSSHA256 string `json:"lfs_sha256,omitempty"`
	LFSSize   *int64 `json:"lfs_size,omitempty"`
	XetHash   string `json:"xet_hash,omitempty"`
}

type treeFile struct {
	FormatVersion int                  `json:"format_version"`
	Files         map[string]treeEntry `json:"files"`
}

func (rc repoCache) treePath(commit string) string {
	return filepath.Join(rc.root, "trees", commit+".json")
}

// readTree returns the cached listing of commit, or nil if absent or not
// in the known format (as huggingface_hub does, unknown formats are
// ignored).
func (rc repoCache) readTree(commit string) map[string]treeEntry {
	b, err := readSmall(rc.treePath(commit), 512<<20)
	if err != nil {
		return nil
	}
	var t treeFile
	if json.Unmarshal(b, &t) != nil || t.FormatVersion != 1 || t.Files == nil {
		return nil
	}
	return t.Files
}

// writeTree stores the listing of commit unless one is already there.
func (rc repoCache) writeTree(commit string, files map[string]treeEntry) error {
	p := rc.treePath(commit)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	data, err := json.MarshalIndent(treeFile{FormatVersion: 1, Files: files}, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p, data)
}

// treeFromInfo builds the trees/<commit>.json entries of a listing; ok is
// false when some file lacks the metadata huggingface_hub requires.
func treeFromInfo(info *ModelInfo) (map[string]treeEntry, bool) {
	m := make(map[string]treeEntry, len(info.Siblings))
	for _, s := range info.Siblings {
		if s.BlobID == "" || s.Size < 0 {
			return nil, false
		}
		e := treeEntry{Size: s.Size, BlobID: s.BlobID}
		if s.LFS != nil {
			sz := s.LFS.Size
			e.LFSSHA256, e.LFSSize = s.LFS.SHA256, &sz
		}
		m[s.Name] = e
	}
	return m, true
}

// linkPointer makes pointer a relative symlink to blob (as
// huggingface_hub does, so a moved cache keeps working). Where symlinks
// are not possible the blob is copied.
func linkPointer(blob, pointer string) error {
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(pointer), blob)
	if err != nil {
		rel = blob
	}
	if target, err := os.Readlink(pointer); err == nil && target == rel {
		return nil
	}
	os.Remove(pointer)
	if err := os.Symlink(rel, pointer); err == nil {
		return nil
	} else if errors.Is(err, fs.ErrExist) {
		if t, rerr := os.Readlink(pointer); rerr == nil && t == rel {
			return nil
		}
		return err
	}
	return copyFileAtomic(blob, pointer)
}

const cachedirTag = "Signature: 8a477f597d28d172789f06886806bc55\n" +
	"# This file is a cache directory tag created by huggingface_hub.\n" +
	"# For information about cache directory tags, see:\n" +
	"#\thttps://bford.info/cachedir/\n"

// tagCacheDir writes CACHEDIR.TAG (backup tools skip the cache) once.
func tagCacheDir(dir string) {
	p := filepath.Join(dir, "CACHEDIR.TAG")
	if _, err := os.Stat(p); err == nil {
		return
	}
	_ = writeFileAtomic(p, []byte(cachedirTag))
}

// readSmall reads a local regular file of at most limit bytes (a FIFO or
// device in its place is refused, not waited on).
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := fsx.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, creating parent folders.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := createTemp(filepath.Dir(path), "."+filepath.Base(path))
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
	}
	return werr
}

// copyFileAtomic copies src (following symlinks) to dst via a temporary
// file and a rename.
func copyFileAtomic(src, dst string) error {
	in, err := fsx.OpenRegular(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := createTemp(filepath.Dir(dst), "."+filepath.Base(dst))
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := io.Copy(f, in)
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, dst)
	}
	if werr != nil {
		os.Remove(tmp)
	}
	return werr
}

// createTemp creates a new file "<prefix>.<random>.tmp" in dir with mode
// 0666 minus the umask (os.CreateTemp would use 0600, which breaks caches
// shared between users, as huggingface_hub's are).
func createTemp(dir, prefix string) (*os.File, error) {
	for i := 0; ; i++ {
		var rnd [6]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return nil, err
		}
		name := filepath.Join(dir, prefix+"."+hex.EncodeToString(rnd[:])+".tmp")
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil || !errors.Is(err, fs.ErrExist) || i > 100 {
			return f, err
		}
	}
}
