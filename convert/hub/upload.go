package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mlxconv/mlxconv/internal/fsx"
)

// CreateRepo creates the model repo (private if asked) and returns its
// URL. An existing repo is not an error (huggingface_hub's exist_ok=True);
// its visibility is left unchanged.
func (c *Client) CreateRepo(ctx context.Context, repo string, private bool) (string, error) {
	return c.CreateRepoWith(ctx, repo, CreateRepoOptions{Private: private})
}

// CreateRepoOptions configures CreateRepoWith.
type CreateRepoOptions struct {
	// Type is the kind of repo (default a model).
	Type RepoType
	// Private creates the repo private (an existing repo keeps its
	// visibility).
	Private bool
	// SpaceSDK is a new Space's SDK (default "gradio", as hf upload).
	SpaceSDK string
}

// CreateRepoWith is CreateRepo for any repo type.
func (c *Client) CreateRepoWith(ctx context.Context, repo string, opts CreateRepoOptions) (string, error) {
	if err := ValidateRepoID(repo); err != nil {
		return "", err
	}
	if err := opts.Type.check(); err != nil {
		return "", err
	}
	if err := c.needToken("create a repo"); err != nil {
		return "", err
	}
	payload := map[string]any{"type": opts.Type.String()}
	ns, name, found := strings.Cut(repo, "/")
	if found {
		payload["organization"], payload["name"] = ns, name
	} else {
		payload["name"] = repo
	}
	if opts.Private {
		payload["visibility"] = "private"
	}
	if opts.Type == RepoSpace {
		payload["sdk"] = firstNonEmpty(opts.SpaceSDK, "gradio")
	}
	var out struct {
		URL string `json:"url"`
	}
	err := c.postJSON(ctx, c.apiURL("/api/repos/create"), nil, payload, &out, false)
	repoURL := c.endpointStr + opts.Type.webPath(repo)
	if err == nil {
		return repoURL, nil
	}
	var he *HTTPError
	if errors.As(err, &he) {
		switch he.Status {
		case http.StatusConflict:
			return repoURL, nil
		case http.StatusUnauthorized, http.StatusPaymentRequired, http.StatusForbidden:
			// A token without the create scope may still write to an
			// existing repo.
			if _, ierr := c.RepoInfo(ctx, opts.Type, repo, ""); ierr == nil {
				return repoURL, nil
			}
		}
	}
	return "", fmt.Errorf("create repo %s: %w", repo, err)
}

// CreateBranch creates branch in repo from the head of main, as
// huggingface_hub's create_branch with exist_ok=True: a branch that
// exists is not an error.
func (c *Client) CreateBranch(ctx context.Context, typ RepoType, repo, branch string) error {
	if err := ValidateRepoID(repo); err != nil {
		return err
	}
	if err := typ.check(); err != nil {
		return err
	}
	if err := ValidateRevision(branch); err != nil {
		return err
	}
	if err := c.needToken("create a branch"); err != nil {
		return err
	}
	err := c.postJSON(ctx, c.apiURL(typ.apiPath(repo)+"/branch/"+quoteAll(branch)), nil, map[string]any{}, nil, false)
	var he *HTTPError
	if err == nil || errors.As(err, &he) && he.Status == http.StatusConflict {
		return nil
	}
	return fmt.Errorf("create branch %s of %s: %w", branch, repo, err)
}

func (c *Client) needToken(what string) error {
	if c.token == "" {
		return fmt.Errorf("%w: a token is needed to %s: set HF_TOKEN or log in with `hf auth login`", ErrUnauthorized, what)
	}
	return nil
}

// UploadOptions configures UploadFolder.
type UploadOptions struct {
	// RepoType is the kind of repo (default a model).
	RepoType RepoType
	// Revision is the branch to commit to (default main).
	Revision string
	// Message is the commit summary (default "Upload folder using mlxconv",
	// "Upload <path> using mlxconv" for UploadFile).
	Message string
	// Description is the commit description.
	Description string
	// PathInRepo is where the files go in the repo: the folder UploadFolder
	// puts the folder's files under ("" or "." for the root), the path of
	// UploadFile's file (default its base name; under that folder when
	// PathInRepo ends with '/').
	PathInRepo string
	// AllowPatterns, if not empty, keeps only the local files matching one
	// of them; IgnorePatterns drops those matching one of them. Both are
	// fnmatch rules (see MatchPattern) on the path relative to the folder,
	// as huggingface_hub's upload_folder. ".git/" and ".cache/huggingface/"
	// are always left out. UploadFile ignores them.
	AllowPatterns  []string
	IgnorePatterns []string
}

// CommitInfo is the outcome of UploadFolder.
type CommitInfo struct {
	URL       string // commit URL ("" when nothing changed)
	OID       string // commit id ("" when nothing changed)
	Files     int    // files in the folder
	Uploaded  int    // LFS files whose bytes were sent
	Unchanged int    // files already on the Hub with the same content
	NoChanges bool   // nothing to commit
}

// localFile is one file of the folder being uploaded.
type localFile struct {
	rel       string // repo path
	abs       string
	size      int64
	sha256    string
	gitOID    string
	sample    []byte
	lfs       bool
	remoteOID string
	ignore    bool
}

// UploadFolder uploads every file of dir to repo in one commit: it hashes
// the files, asks the Hub (preupload) which ones go to LFS, leaves out
// files already there with the same content (sha256 for LFS, git blob id
// for regular files), sends new LFS objects through the LFS batch API
// (objects the Hub already stores are not sent again, so an interrupted
// upload resumes where it stopped) and creates the commit. The repo must
// exist (see CreateRepo).
func (c *Client) UploadFolder(ctx context.Context, dir, repo string, opts UploadOptions) (*CommitInfo, error) {
	if err := c.checkUpload(repo, opts); err != nil {
		return nil, err
	}
	files, err := selectFolder(dir, opts)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		if len(opts.AllowPatterns)+len(opts.IgnorePatterns) > 0 {
			return nil, fmt.Errorf("%w: %s has no files to upload that the patterns select", ErrInvalid, dir)
		}
		return nil, fmt.Errorf("%w: %s has no files to upload", ErrInvalid, dir)
	}
	return c.uploadFiles(ctx, repo, opts, firstNonEmpty(opts.Message, "Upload folder using mlxconv"), files)
}

// UploadFile uploads one local file to repo in one commit, at
// opts.PathInRepo (default the file's base name), like UploadFolder
// otherwise. The repo must exist (see CreateRepo).
func (c *Client) UploadFile(ctx context.Context, file, repo string, opts UploadOptions) (*CommitInfo, error) {
	if err := c.checkUpload(repo, opts); err != nil {
		return nil, err
	}
	rel := strings.Trim(opts.PathInRepo, "/")
	switch {
	case rel == "" || rel == ".":
		rel = filepath.Base(file)
	case strings.HasSuffix(opts.PathInRepo, "/"):
		rel += "/" + filepath.Base(file) // a folder of the repo
	}
	if err := ValidateFilename(rel); err != nil {
		return nil, err
	}
	st, err := os.Stat(file) // follows symlinks
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fsx.NotRegularError{Path: file, Mode: st.Mode().Type()}
	}
	f := &localFile{rel: rel, abs: file, size: st.Size()}
	return c.uploadFiles(ctx, repo, opts, firstNonEmpty(opts.Message, "Upload "+rel+" using mlxconv"), []*localFile{f})
}

// uploadFiles hashes files, leaves out those the Hub has, sends the LFS
// objects and commits the rest with msg.
func (c *Client) uploadFiles(ctx context.Context, repo string, opts UploadOptions, msg string, files []*localFile) (*CommitInfo, error) {
	typ, rev := opts.RepoType, firstNonEmpty(opts.Revision, "main")
	if err := c.hashFiles(ctx, files); err != nil {
		return nil, err
	}
	if err := c.preupload(ctx, typ, repo, rev, files); err != nil {
		return nil, err
	}
	info := &CommitInfo{Files: len(files)}
	changed, lfs := c.changedFiles(files, info)
	if len(changed) == 0 {
		info.NoChanges = true
		return info, nil
	}
	n, err := c.uploadLFS(ctx, typ, repo, rev, lfs)
	info.Uploaded = n
	if err != nil {
		return info, err
	}
	c.emit(Event{Kind: EventCommit, Phase: PhaseUpload})
	url, oid, err := c.commit(ctx, typ, repo, rev, msg, opts.Description, changed)
	if err != nil {
		return info, err
	}
	info.URL, info.OID = url, oid
	return info, nil
}

// checkUpload checks an upload's target and that the client may upload
// (online, with a token).
func (c *Client) checkUpload(repo string, opts UploadOptions) error {
	if err := ValidateRepoID(repo); err != nil {
		return err
	}
	if err := opts.RepoType.check(); err != nil {
		return err
	}
	if err := ValidateRevision(firstNonEmpty(opts.Revision, "main")); err != nil {
		return err
	}
	if c.offline {
		return fmt.Errorf("%w: cannot upload with HF_HUB_OFFLINE set", ErrOffline)
	}
	return c.needToken("upload")
}

// changedFiles returns the files the commit must include and, among them,
// those to send through LFS. Files the Hub ignores or already has with the
// same content are counted in info.Unchanged and reported as cached.
func (c *Client) changedFiles(files []*localFile, info *CommitInfo) (changed, lfs []*localFile) {
	for _, f := range files {
		if f.unchanged() {
			info.Unchanged++
			c.emit(Event{Kind: EventCached, Phase: PhaseUpload, File: f.rel, FileDone: f.size, FileSize: f.size})
			continue
		}
		changed = append(changed, f)
		if f.lfs {
			lfs = append(lfs, f)
		}
	}
	return changed, lfs
}

// unchanged reports whether f needs no upload: the Hub ignores it, or its
// remote object id (sha256 for LFS, git blob id otherwise) matches.
func (f *localFile) unchanged() bool {
	local := f.gitOID
	if f.lfs {
		local = f.sha256
	}
	return f.ignore || (f.remoteOID != "" && f.remoteOID == local)
}

// FolderFiles returns the repo paths UploadFolder(dir, …, opts) would
// commit (before leaving out those the Hub already has), sorted.
func FolderFiles(dir string, opts UploadOptions) ([]string, error) {
	files, err := selectFolder(dir, opts)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.rel
	}
	return out, nil
}

// selectFolder lists the files of dir that opts' patterns select, named
// by their repo path (under opts.PathInRepo).
func selectFolder(dir string, opts UploadOptions) ([]*localFile, error) {
	prefix := strings.Trim(opts.PathInRepo, "/")
	if prefix == "." {
		prefix = ""
	}
	if prefix != "" {
		if err := ValidateFilename(prefix); err != nil {
			return nil, fmt.Errorf("path in repo: %w", err)
		}
	}
	files, err := listFolder(dir, opts.IgnorePatterns)
	if err != nil {
		return nil, err
	}
	out := files[:0]
	for _, f := range files {
		if !opts.Selects(f.rel) {
			continue
		}
		if prefix != "" {
			f.rel = prefix + "/" + f.rel
		}
		out = append(out, f)
	}
	return out, nil
}

// Selects reports whether o's patterns keep the file at rel (its path
// relative to the folder): an allow pattern matches it, or there is none,
// and no ignore pattern does.
func (o UploadOptions) Selects(rel string) bool {
	return (len(o.AllowPatterns) == 0 || matchAny(o.AllowPatterns, rel)) && !matchAny(o.IgnorePatterns, rel)
}

// listFolder lists the regular files under dir (symlinks to files are
// followed, symlinked folders are not), sorted by path.
func listFolder(dir string, ignore []string) ([]*localFile, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrInvalid, dir)
	}
	var out []*localFile
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		f, err := folderEntry(root, p, d, ignore)
		if f != nil {
			out = append(out, f)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}

// folderEntry is the file to upload for the walked entry p under root, or
// nil for an entry left out: a directory (filepath.SkipDir for git and
// huggingface_hub metadata), an ignored name or a symlink to a directory.
// Anything but a regular file is refused, as is an unsafe name.
func folderEntry(root, p string, d fs.DirEntry, ignore []string) (*localFile, error) {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return nil, err
	}
	rel = filepath.ToSlash(rel)
	if d.IsDir() {
		if isMetadataDir(d.Name(), rel) {
			return nil, filepath.SkipDir
		}
		return nil, nil
	}
	if matchAny(ignore, rel) {
		return nil, nil
	}
	st, err := os.Stat(p) // follows symlinks
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, nil // a symlink to a directory: not followed
	}
	if !st.Mode().IsRegular() {
		// A FIFO would block the hash pass; a device would be read forever.
		return nil, &fsx.NotRegularError{Path: p, Mode: st.Mode().Type()}
	}
	if err := ValidateFilename(rel); err != nil {
		return nil, err
	}
	return &localFile{rel: rel, abs: p, size: st.Size()}, nil
}

// isMetadataDir reports whether the directory name at rel holds git or
// huggingface_hub metadata, never uploaded.
func isMetadataDir(name, rel string) bool {
	return name == ".git" || rel == ".cache/huggingface" || strings.HasSuffix(rel, "/.cache/huggingface")
}

// hashFiles computes sha256, the git blob id and the 512-byte sample of
// every file, in parallel, in one read each.
func (c *Client) hashFiles(ctx context.Context, files []*localFile) error {
	m := &meter{c: c, phase: PhaseHash}
	for _, f := range files {
		m.addTotal(f.size)
	}
	return parallel(ctx, c.workers, len(files), func(ctx context.Context, i int) error {
		f := files[i]
		in, err := fsx.OpenRegular(f.abs)
		if err != nil {
			return err
		}
		defer in.Close()
		m.start(f.rel, 0, f.size)
		s256, s1 := sha256.New(), sha1.New()
		fmt.Fprintf(s1, "blob %d\x00", f.size)
		buf := make([]byte, 1<<20)
		var n int64
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			k, rerr := in.Read(buf)
			if k > 0 {
				if len(f.sample) < 512 {
					f.sample = append(f.sample, buf[:min(k, 512-len(f.sample))]...)
				}
				s256.Write(buf[:k])
				s1.Write(buf[:k])
				n += int64(k)
				m.progress(f.rel, n, f.size, int64(k))
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return fmt.Errorf("hash %s: %w", f.rel, rerr)
			}
		}
		if n != f.size {
			return fmt.Errorf("hash %s: the file changed size while reading (%d, then %d bytes)", f.rel, f.size, n)
		}
		f.sha256, f.gitOID = hex.EncodeToString(s256.Sum(nil)), hex.EncodeToString(s1.Sum(nil))
		m.finish(f.rel, n)
		return nil
	})
}

// preupload asks the Hub how to store each file and what it already has.
func (c *Client) preupload(ctx context.Context, typ RepoType, repo, rev string, files []*localFile) error {
	u := c.apiURL(typ.apiPath(repo) + "/preupload/" + quoteAll(rev))
	byPath := make(map[string]*localFile, len(files))
	for _, f := range files {
		byPath[f.rel] = f
	}
	for start := 0; start < len(files); start += 256 {
		chunk := files[start:min(start+256, len(files))]
		type reqFile struct {
			Path   string `json:"path"`
			Sample string `json:"sample"`
			Size   int64  `json:"size"`
		}
		req := struct {
			Files []reqFile `json:"files"`
		}{}
		for _, f := range chunk {
			req.Files = append(req.Files, reqFile{Path: f.rel, Sample: base64.StdEncoding.EncodeToString(f.sample), Size: f.size})
		}
		var resp struct {
			Files []struct {
				Path         string  `json:"path"`
				UploadMode   string  `json:"uploadMode"`
				ShouldIgnore bool    `json:"shouldIgnore"`
				OID          *string `json:"oid"`
			} `json:"files"`
		}
		if err := c.postJSON(ctx, u, nil, req, &resp, true); err != nil {
			return fmt.Errorf("preupload to %s@%s: %w", repo, rev, err)
		}
		seen := 0
		for _, r := range resp.Files {
			f := byPath[r.Path]
			if f == nil {
				return fmt.Errorf("%w: preupload answered for unknown file %q", ErrFormat, truncate(r.Path, 200))
			}
			switch r.UploadMode {
			case "lfs":
				f.lfs = f.size > 0 // empty files cannot go to LFS
			case "regular":
				f.lfs = false
			default:
				return fmt.Errorf("%w: preupload: upload mode %q for %s", ErrFormat, truncate(r.UploadMode, 40), f.rel)
			}
			f.ignore = r.ShouldIgnore
			if r.OID != nil {
				f.remoteOID = *r.OID
			}
			seen++
		}
		if seen != len(chunk) {
			return fmt.Errorf("%w: preupload answered for %d of %d files", ErrFormat, seen, len(chunk))
		}
	}
	return nil
}

type lfsAction struct {
	Href   string            `json:"href"`
	Header map[string]string `json:"header"`
}

type lfsObject struct {
	OID     string `json:"oid"`
	Size    int64  `json:"size"`
	Actions *struct {
		Upload *lfsAction `json:"upload"`
		Verify *lfsAction `json:"verify"`
	} `json:"actions"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// uploadLFS sends the LFS objects the Hub does not have yet and returns
// how many were sent.
func (c *Client) uploadLFS(ctx context.Context, typ RepoType, repo, rev string, files []*localFile) (int, error) {
	if len(files) == 0 {
		return 0, nil
	}
	byOID := map[string]*localFile{}
	var uniq []*localFile
	for _, f := range files {
		if byOID[f.sha256] == nil {
			byOID[f.sha256] = f
			uniq = append(uniq, f)
		}
	}
	m := &meter{c: c, phase: PhaseUpload}
	var work []func(context.Context) error
	for start := 0; start < len(uniq); start += 256 {
		chunk := uniq[start:min(start+256, len(uniq))]
		type obj struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		}
		payload := map[string]any{
			"operation": "upload", "transfers": []string{"basic", "multipart"}, "hash_algo": "sha256",
			"ref": map[string]string{"name": rev},
		}
		var objs []obj
		for _, f := range chunk {
			objs = append(objs, obj{OID: f.sha256, Size: f.size})
		}
		payload["objects"] = objs
		var resp struct {
			Objects []lfsObject `json:"objects"`
		}
		hdr := http.Header{"Accept": {"application/vnd.git-lfs+json"}, "Content-Type": {"application/vnd.git-lfs+json"}}
		u := c.apiURL(typ.webPath(repo) + ".git/info/lfs/objects/batch")
		if err := c.postJSON(ctx, u, hdr, payload, &resp, true); err != nil {
			return 0, fmt.Errorf("LFS batch for %s: %w", repo, err)
		}
		for i := range resp.Objects {
			o := resp.Objects[i]
			f := byOID[o.OID]
			if f == nil || o.Size != f.size {
				return 0, fmt.Errorf("%w: LFS batch answered for unknown object %q", ErrFormat, truncate(o.OID, 80))
			}
			if o.Error != nil {
				return 0, fmt.Errorf("LFS batch: %s: %d %s", f.rel, o.Error.Code, sanitizeText(o.Error.Message, 300, c.token))
			}
			if o.Actions == nil || o.Actions.Upload == nil {
				c.emit(Event{Kind: EventCached, Phase: PhaseUpload, File: f.rel, FileDone: f.size, FileSize: f.size})
				continue // already stored: nothing to send
			}
			up, verify := *o.Actions.Upload, o.Actions.Verify
			m.addTotal(f.size)
			work = append(work, func(ctx context.Context) error { return c.lfsUpload(ctx, f, up, verify, m) })
		}
	}
	err := parallel(ctx, c.workers, len(work), func(ctx context.Context, i int) error { return work[i](ctx) })
	if err != nil {
		return 0, err
	}
	return len(work), nil
}

// lfsUpload sends one object (single PUT or multipart) and verifies it.
func (c *Client) lfsUpload(ctx context.Context, f *localFile, up lfsAction, verify *lfsAction, m *meter) error {
	m.start(f.rel, 0, f.size)
	if cs, ok := up.Header["chunk_size"]; ok {
		chunk, err := strconv.ParseInt(cs, 10, 64)
		if err != nil || chunk <= 0 {
			return fmt.Errorf("%w: LFS chunk_size %q", ErrFormat, truncate(cs, 40))
		}
		nparts := (f.size + chunk - 1) / chunk
		var parts []string
		for i := int64(1); i <= nparts; i++ {
			href, ok := up.Header[strconv.FormatInt(i, 10)]
			if !ok {
				break
			}
			parts = append(parts, href)
		}
		if int64(len(parts)) != nparts || int64(len(up.Header)-1) != nparts {
			return fmt.Errorf("%w: LFS multipart for %s: %d part URLs for %d parts", ErrFormat, f.rel, len(up.Header)-1, nparts)
		}
		type part struct {
			PartNumber int    `json:"partNumber"`
			ETag       string `json:"etag"`
		}
		done := make([]part, nparts)
		for i, href := range parts {
			off := int64(i) * chunk
			n := min(chunk, f.size-off)
			etag, err := c.putSection(ctx, href, f, off, n, m)
			if err != nil {
				return fmt.Errorf("upload %s part %d: %w", f.rel, i+1, err)
			}
			if etag == "" {
				return fmt.Errorf("%w: upload %s part %d: no ETag in the answer", ErrFormat, f.rel, i+1)
			}
			done[i] = part{PartNumber: i + 1, ETag: etag}
		}
		hdr := http.Header{"Accept": {"application/vnd.git-lfs+json"}, "Content-Type": {"application/vnd.git-lfs+json"}}
		if err := c.postJSON(ctx, up.Href, hdr, map[string]any{"oid": f.sha256, "parts": done}, nil, true); err != nil {
			return fmt.Errorf("upload %s: completing multipart: %w", f.rel, err)
		}
	} else {
		if _, err := c.putSection(ctx, up.Href, f, 0, f.size, m); err != nil {
			return fmt.Errorf("upload %s: %w", f.rel, err)
		}
	}
	if verify != nil {
		if err := c.postJSON(ctx, verify.Href, nil, map[string]any{"oid": f.sha256, "size": f.size}, nil, true); err != nil {
			return fmt.Errorf("upload %s: LFS verify: %w", f.rel, err)
		}
	}
	m.finish(f.rel, f.size)
	return nil
}

// putSection PUTs n bytes of f from off to href (a presigned storage URL:
// the token is only attached if href is on the Hub endpoint) and returns
// the response ETag. A stalled transfer is aborted after IdleTimeout and
// retried like any transient failure.
func (c *Client) putSection(ctx context.Context, href string, f *localFile, off, n int64, m *meter) (string, error) {
	if _, err := url.Parse(href); err != nil {
		return "", fmt.Errorf("%w: upload URL: %v", ErrFormat, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dog := time.AfterFunc(c.idleTimeout, func() { cancel(errStall) })
	defer dog.Stop()
	var mu sync.Mutex
	var sent int64 // bytes counted in the meter by the current attempt
	resp, err := c.do(ctx, call{
		method: http.MethodPut, url: href, idempotent: true, noTimeout: true, length: n,
		body: func() (io.ReadCloser, error) {
			in, err := fsx.OpenRegular(f.abs)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			m.send(EventBytes, f.rel, off, f.size, -sent) // a retry starts the part over
			sent = 0
			mu.Unlock()
			return &countingReader{r: io.NewSectionReader(in, off, n), c: in, fn: func(k int) {
				dog.Reset(c.idleTimeout)
				mu.Lock()
				sent += int64(k)
				mu.Unlock()
				m.progress(f.rel, off+sent, f.size, int64(k))
			}}, nil
		},
	})
	if err != nil {
		if context.Cause(ctx) == errStall {
			return "", fmt.Errorf("%w: upload stalled for %s", ErrTimeout, c.idleTimeout)
		}
		return "", err
	}
	defer resp.Close()
	return resp.Header.Get("ETag"), nil
}

type countingReader struct {
	r  io.Reader
	c  io.Closer
	fn func(int)
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.fn(n)
	}
	return n, err
}

func (r *countingReader) Close() error { return r.c.Close() }

// commit posts the NDJSON commit (header, then one line per file; regular
// files inline in base64, LFS files by oid). The body is streamed.
func (c *Client) commit(ctx context.Context, typ RepoType, repo, rev, msg, desc string, files []*localFile) (string, string, error) {
	u := c.apiURL(typ.apiPath(repo) + "/commit/" + quoteAll(rev))
	body := func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeCommit(pw, msg, desc, files)) }()
		return pr, nil
	}
	resp, err := c.do(ctx, call{
		method: http.MethodPost, url: u, body: body, auth: true, write: true, noTimeout: true,
		header: http.Header{"Content-Type": {"application/x-ndjson"}},
	})
	if err != nil {
		return "", "", fmt.Errorf("commit to %s@%s: %w", repo, rev, err)
	}
	defer resp.Close()
	var out struct {
		CommitURL string `json:"commitUrl"`
		CommitOID string `json:"commitOid"`
	}
	if err := decodeJSON(resp.Body, &out, 1<<20, u); err != nil {
		return "", "", fmt.Errorf("commit to %s@%s: %w", repo, rev, err)
	}
	return out.CommitURL, out.CommitOID, nil
}

func writeCommit(w io.Writer, msg, desc string, files []*localFile) error {
	enc := json.NewEncoder(w) // one JSON value per line
	if err := enc.Encode(map[string]any{"key": "header", "value": map[string]string{"summary": msg, "description": desc}}); err != nil {
		return err
	}
	for _, f := range files {
		if f.lfs {
			if err := enc.Encode(map[string]any{"key": "lfsFile", "value": map[string]any{
				"path": f.rel, "algo": "sha256", "oid": f.sha256, "size": f.size,
			}}); err != nil {
				return err
			}
			continue
		}
		// {"key":"file","value":{"content":"<base64>","path":...,"encoding":"base64"}}
		// written by hand to stream the content.
		path, _ := json.Marshal(f.rel)
		if _, err := io.WriteString(w, `{"key":"file","value":{"content":"`); err != nil {
			return err
		}
		in, err := fsx.OpenRegular(f.abs)
		if err != nil {
			return err
		}
		b64 := base64.NewEncoder(base64.StdEncoding, w)
		n, err := io.Copy(b64, in)
		in.Close()
		if err != nil {
			return err
		}
		if err := b64.Close(); err != nil {
			return err
		}
		if n != f.size {
			return fmt.Errorf("%s changed size during the upload", f.rel)
		}
		if _, err := fmt.Fprintf(w, `","path":%s,"encoding":"base64"}}`+"\n", path); err != nil {
			return err
		}
	}
	return nil
}
