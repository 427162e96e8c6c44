package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DownloadOptions selects what Download fetches and where it puts it.
type DownloadOptions struct {
	// RepoType is the kind of repo (default a model).
	RepoType RepoType
	// Files are exact repo paths; a missing one is ErrEntryNotFound. When
	// set, the patterns are ignored.
	Files []string
	// AllowPatterns keeps files matching any pattern (fnmatch rules, see
	// MatchPattern). Nil means DefaultAllowPatterns(); an empty non-nil
	// slice means every file.
	AllowPatterns []string
	// IgnorePatterns drops files matching any pattern.
	IgnorePatterns []string
	// LocalDir, if set, receives real files instead of the cache (like
	// huggingface_hub's local_dir: metadata under LocalDir/.cache/huggingface).
	LocalDir string
	// Preflight, if set, is called with the destination directory once the
	// small files (config.json, the safetensors index, tokenizer files, …)
	// are in place and before any weight file is downloaded. An error stops
	// the download and is returned (wrapped).
	Preflight func(dir string) error
}

// job is one file to materialize.
type job struct {
	name   string
	etag   string // blob name (sha256 for LFS, git oid otherwise)
	size   int64  // -1 unknown
	sha256 string // expected content sha256 ("" unknown)
	gitOID string // expected git blob id of a regular file ("" unknown)
	head   bool   // metadata must come from a HEAD request first
}

// Download fetches the selected files of repo at revision ("" = main) and
// returns the directory holding them: the cache snapshot
// <cache>/models--org--name/snapshots/<commit> (datasets--… and spaces--…
// for opts.RepoType), or opts.LocalDir.
//
// Files already cached are not fetched again. New files are downloaded in
// parallel into blobs/<etag>.incomplete, resumed with HTTP Range after a
// dropped connection or a stall, verified (sha256 for LFS files, the git
// blob id or at least the size for others), and only then renamed into
// blobs/ and linked from snapshots/. refs/<revision> records the commit.
// Offline (HF_HUB_OFFLINE) the cache alone answers; online, a Hub that
// cannot be reached falls back to the cache too.
func (c *Client) Download(ctx context.Context, repo, revision string, opts DownloadOptions) (string, error) {
	if err := ValidateRepoID(repo); err != nil {
		return "", err
	}
	if revision == "" {
		revision = "main"
	}
	if err := ValidateRevision(revision); err != nil {
		return "", err
	}
	if err := opts.RepoType.check(); err != nil {
		return "", err
	}
	for _, f := range opts.Files {
		if err := ValidateFilename(f); err != nil {
			return "", err
		}
	}
	if c.offline {
		return c.fromCache(repo, revision, opts)
	}
	info, err := c.RepoInfo(ctx, opts.RepoType, repo, revision)
	if err != nil {
		if canFallBack(ctx, err) {
			if dir, cerr := c.fromCache(repo, revision, opts); cerr == nil {
				c.emit(Event{Kind: EventRetry, Err: fmt.Errorf("using the cached snapshot: %w", err)})
				return dir, nil
			}
		}
		return "", err
	}
	return c.downloadInfo(ctx, repo, revision, info, opts)
}

// canFallBack tells whether an online failure may be answered from the
// cache (as huggingface_hub does): not for a missing revision or file, nor
// for bad arguments or cancellation.
func canFallBack(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	for _, e := range []error{ErrRevisionNotFound, ErrEntryNotFound, ErrInvalid, ErrUnsafePath, context.Canceled} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

func (c *Client) downloadInfo(ctx context.Context, repo, revision string, info *ModelInfo, opts DownloadOptions) (string, error) {
	commit := info.SHA
	rc := c.repoCache(opts.RepoType, repo)
	jobs, err := planJobs(repo, revision, info, opts, rc)
	if err != nil {
		return "", err
	}
	dest := rc.snapshotDir(commit)
	if opts.LocalDir != "" {
		dest = opts.LocalDir
		if abs, err := filepath.Abs(dest); err == nil {
			dest = abs
		}
	}
	if err := c.prepareDest(rc, dest, revision, info, opts.LocalDir != ""); err != nil {
		return "", err
	}

	t := &transfer{c: c, typ: opts.RepoType, repo: repo, commit: commit, rc: rc, localDir: "", meter: &meter{c: c, phase: PhaseDownload}}
	if opts.LocalDir != "" {
		t.localDir = dest
	}
	if opts.Preflight == nil {
		err = t.run(ctx, jobs)
	} else {
		err = t.runWithPreflight(ctx, jobs, dest, revision, opts.Preflight)
	}
	if err != nil {
		return "", err
	}
	return dest, nil
}

// planJobs turns the files of info to download (opts.Files, all of which
// must exist, or the names the allow and ignore patterns select) into jobs,
// refusing unsafe names. A missing requested file is remembered in the
// cache (not for a local dir).
func planJobs(repo, revision string, info *ModelInfo, opts DownloadOptions, rc repoCache) ([]job, error) {
	byName := make(map[string]*Sibling, len(info.Siblings))
	names := make([]string, 0, len(info.Siblings))
	for i := range info.Siblings {
		byName[info.Siblings[i].Name] = &info.Siblings[i]
		names = append(names, info.Siblings[i].Name)
	}
	selected := opts.Files
	if selected == nil {
		selected = filterNames(names, allowPatterns(opts.AllowPatterns), opts.IgnorePatterns)
	}
	for _, f := range opts.Files {
		if byName[f] == nil {
			if opts.LocalDir == "" {
				rc.markNoExist(info.SHA, f)
			}
			return nil, fmt.Errorf("%s@%s: %q: %w", repo, revision, f, ErrEntryNotFound)
		}
	}
	jobs := make([]job, 0, len(selected))
	for _, name := range selected {
		if err := ValidateFilename(name); err != nil {
			return nil, fmt.Errorf("%s@%s: refusing the listing: %w", repo, revision, err)
		}
		jobs = append(jobs, newJob(name, byName[name]))
	}
	return jobs, nil
}

// allowPatterns is the allow list in effect: the defaults for nil, none
// (allow everything) for an empty list.
func allowPatterns(allow []string) []string {
	switch {
	case allow == nil:
		return DefaultAllowPatterns()
	case len(allow) == 0:
		return nil
	default:
		return allow
	}
}

// newJob is the download of the listed file s: verified and cached by its
// LFS sha256 or git blob id, or, with neither, after a HEAD for its etag.
func newJob(name string, s *Sibling) job {
	j := job{name: name, size: s.Size}
	switch {
	case s.LFS != nil:
		j.etag, j.sha256, j.size = s.LFS.SHA256, s.LFS.SHA256, s.LFS.Size
	case s.BlobID != "":
		j.etag, j.gitOID = s.BlobID, s.BlobID
	default:
		j.head = true
	}
	return j
}

// prepareDest creates dest and records the listing's tree (an optimisation
// for huggingface_hub, never fatal) and, in the cache, the revision's ref.
func (c *Client) prepareDest(rc repoCache, dest, revision string, info *ModelInfo, localDir bool) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	if tree, ok := treeFromInfo(info); ok {
		treeRoot := rc
		if localDir {
			treeRoot = repoCache{root: filepath.Join(dest, ".cache", "huggingface")}
		}
		_ = treeRoot.writeTree(info.SHA, tree) // an optimisation for huggingface_hub; never fatal
	}
	if !localDir {
		tagCacheDir(c.cacheDir)
		if err := rc.writeRef(revision, info.SHA); err != nil {
			return fmt.Errorf("cache ref %s: %w", revision, err)
		}
	}
	return nil
}

// runWithPreflight downloads the small files, runs preflight on dest, and
// only when it passes downloads the weights.
func (t *transfer) runWithPreflight(ctx context.Context, jobs []job, dest, revision string, preflight func(dir string) error) error {
	var small, big []job
	for _, j := range jobs {
		if isWeightFile(j.name, j.size) {
			big = append(big, j)
		} else {
			small = append(small, j)
		}
	}
	if err := t.run(ctx, small); err != nil {
		return err
	}
	t.c.emit(Event{Kind: EventPreflight, Phase: PhaseDownload})
	if err := preflight(dest); err != nil {
		return fmt.Errorf("pre-flight check of %s@%s (no weights downloaded): %w", t.repo, revision, err)
	}
	return t.run(ctx, big)
}

// weightExts are the extensions of tensor files; with a pre-flight check
// they (and any file over 256 MiB) are fetched after it.
var weightExts = []string{".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".h5", ".msgpack", ".npz", ".onnx", ".pkl"}

func isWeightFile(name string, size int64) bool {
	if size > 256<<20 {
		return true
	}
	lower := strings.ToLower(name)
	for _, e := range weightExts {
		if strings.HasSuffix(lower, e) {
			return true
		}
	}
	return false
}

// transfer runs the jobs of one Download.
type transfer struct {
	c        *Client
	typ      RepoType
	repo     string
	commit   string
	rc       repoCache
	localDir string
	meter    *meter
}

// run downloads jobs with at most c.workers in flight; the first error
// cancels the rest. Jobs sharing a blob run once.
func (t *transfer) run(ctx context.Context, jobs []job) error {
	if len(jobs) == 0 {
		return nil
	}
	// Group by blob so identical contents are fetched once (cache mode).
	groups := map[string][]job{}
	var order []string
	for _, j := range jobs {
		key := j.name
		if t.localDir == "" && !j.head {
			key = "blob:" + j.etag
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], j)
	}
	sort.Strings(order)
	for _, k := range order {
		t.meter.addTotal(groups[k][0].size)
	}
	return parallel(ctx, t.c.workers, len(order), func(ctx context.Context, i int) error {
		g := groups[order[i]]
		return t.materialize(ctx, g)
	})
}

// parallel runs fn(0..n-1) on up to workers goroutines and returns the
// first error (which cancels the context passed to the others).
func parallel(ctx context.Context, workers, n int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	idx := make(chan int)
	var once sync.Once
	var first error
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel(err) })
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// materialize makes the files of one group (same content) present.
func (t *transfer) materialize(ctx context.Context, group []job) error {
	j := group[0]
	if j.head {
		m, err := t.c.headFile(ctx, t.typ, t.repo, t.commit, j.name)
		if err != nil {
			return fmt.Errorf("%s: %w", j.name, err)
		}
		j.etag, j.size = m.etag, m.size
		if reSHA256.MatchString(m.etag) {
			j.sha256 = m.etag
		}
		t.meter.addTotal(j.size)
	}
	url := t.c.resolveURL(t.typ, t.repo, t.commit, j.name)
	if t.localDir != "" {
		return t.toLocalDir(ctx, j, url)
	}
	blob := t.rc.blobPath(j.etag)
	if err := t.fetchBlob(ctx, j, url, blob, blob+".incomplete", t.rc.lockPath(j.etag)); err != nil {
		return err
	}
	for _, g := range group {
		if err := linkPointer(blob, t.rc.pointerPath(t.commit, g.name)); err != nil {
			return fmt.Errorf("%s: snapshot link: %w", g.name, err)
		}
	}
	return nil
}

// toLocalDir downloads into LocalDir/<name>, keeping huggingface_hub's
// metadata (commit, etag, time) in .cache/huggingface/download/<name>.metadata.
func (t *transfer) toLocalDir(ctx context.Context, j job, url string) error {
	final := filepath.Join(t.localDir, filepath.FromSlash(j.name))
	meta := filepath.Join(t.localDir, ".cache", "huggingface", "download", filepath.FromSlash(j.name)+".metadata")
	if b, err := readSmall(meta, 4096); err == nil {
		lines := strings.Split(string(b), "\n")
		if len(lines) >= 2 && strings.TrimSpace(lines[1]) == j.etag {
			if fi, err := os.Stat(final); err == nil && (j.size < 0 || fi.Size() == j.size) {
				t.meter.cached(j.name, fi.Size())
				return nil
			}
		}
	}
	lock := strings.TrimSuffix(meta, ".metadata") + ".lock"
	if err := t.fetchBlob(ctx, j, url, final, strings.TrimSuffix(meta, ".metadata")+"."+j.etag+".incomplete", lock); err != nil {
		return err
	}
	gi := filepath.Join(t.localDir, ".cache", "huggingface", ".gitignore")
	if _, err := os.Stat(gi); err != nil {
		_ = writeFileAtomic(gi, []byte("*"))
	}
	ts := strconv.FormatFloat(float64(time.Now().UnixNano())/1e9, 'f', 6, 64)
	return writeFileAtomic(meta, []byte(t.commit+"\n"+j.etag+"\n"+ts+"\n"))
}

// errStall is the cause set when a download receives nothing for too long.
var errStall = errors.New("stalled")

// fetchBlob makes final hold the verified content of j, downloading into
// incomplete (resuming what is there) under the file lock.
func (t *transfer) fetchBlob(ctx context.Context, j job, url, final, incomplete, lockPath string) error {
	// A blob is named by its content hash, so an existing one is the
	// content (huggingface_hub trusts it too). A local-dir file is not:
	// toLocalDir only gets here when its metadata does not match.
	haveBlob := func() bool {
		fi, err := os.Stat(final)
		return t.localDir == "" && err == nil && fi.Mode().IsRegular() && (j.size < 0 || fi.Size() == j.size)
	}
	if haveBlob() {
		t.meter.cached(j.name, j.size)
		return nil
	}
	lk, err := lockFile(ctx, lockPath)
	if err != nil {
		return fmt.Errorf("%s: lock: %w", j.name, err)
	}
	defer lk.unlock()
	if haveBlob() { // another process finished it while we waited
		t.meter.cached(j.name, j.size)
		return nil
	}
	return t.fetchLocked(ctx, j, url, final, incomplete)
}

// fetchLocked is fetchBlob once the lock is held: resume or start
// incomplete, download the rest, verify it and move it to final. A file
// that fails verification is removed.
func (t *transfer) fetchLocked(ctx context.Context, j job, url, final, incomplete string) (err error) {
	if err := os.MkdirAll(filepath.Dir(incomplete), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(incomplete, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return fmt.Errorf("%s: %w", j.name, err)
	}
	ok := false
	defer func() {
		if f != nil {
			f.Close()
		}
		if !ok && errors.Is(err, ErrIntegrity) {
			os.Remove(incomplete)
		}
	}()
	v := newVerifier(j)
	offset, err := v.resume(f, j.size)
	if err != nil {
		return fmt.Errorf("%s: reading partial download: %w", j.name, err)
	}
	t.meter.start(j.name, offset, j.size)
	if offset, err = t.download(ctx, j, url, f, v, offset); err != nil {
		return fmt.Errorf("%s: %w", j.name, err)
	}
	if err = v.check(offset); err != nil {
		return fmt.Errorf("%s: %w", j.name, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", j.name, err)
	}
	err, f = f.Close(), nil
	if err != nil {
		return fmt.Errorf("%s: %w", j.name, err)
	}
	if err = os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	if err = os.Rename(incomplete, final); err != nil {
		return fmt.Errorf("%s: %w", j.name, err)
	}
	ok = true
	t.meter.finish(j.name, offset)
	return nil
}

// download appends to f from offset until j is complete and returns the
// final size. Transient failures are retried within the retry budget (an
// attempt that made progress starts the count afresh); a server that
// mishandles the Range gets the file restarted from zero, at most three
// times.
func (t *transfer) download(ctx context.Context, j job, url string, f *os.File, v *verifier, offset int64) (int64, error) {
	failures, restarts := 0, 0
	for j.size < 0 || offset < j.size || offset == 0 && j.size == 0 {
		n, done, err := t.attempt(ctx, j, url, f, v, offset)
		offset += n
		switch {
		case err == nil && done:
			return offset, nil
		case err == nil:
		case errors.Is(err, errRestart):
			if restarts++; restarts > 3 {
				return offset, fmt.Errorf("%w: the server keeps answering with the wrong range", ErrFormat)
			}
			if offset, err = v.reset(f); err != nil {
				return offset, err
			}
			t.meter.rewind(j.name, j.size)
		default:
			if n > 0 {
				failures = 0
			}
			if err := t.backOff(ctx, j, err, failures, offset); err != nil {
				return offset, err
			}
			failures++
		}
	}
	return offset, nil
}

// backOff decides whether the failed attempt (after failures earlier
// ones without progress) is retried; if so it reports the retry and sleeps,
// and returns nil. Otherwise, or when ctx ends meanwhile, it returns err.
func (t *transfer) backOff(ctx context.Context, j job, err error, failures int, offset int64) error {
	if ctx.Err() != nil || errors.Is(err, ErrIntegrity) {
		return err
	}
	c := t.c
	wait, retry := c.shouldRetry(call{idempotent: true}, err, failures)
	if !retry {
		return err
	}
	c.emit(Event{Kind: EventRetry, Phase: PhaseDownload, File: j.name, FileDone: offset, FileSize: j.size, Err: err,
		Retry: failures + 1, Retries: c.maxRetries, Budget: c.retryBudget()})
	if sleepCtx(ctx, wait) != nil {
		return err
	}
	return nil
}

// errRestart asks fetchBlob to drop the partial file and start over (the
// server ignored or refused the Range).
var errRestart = errors.New("restart download")

// attempt makes one GET from offset and appends what arrives. It returns
// the bytes appended, whether the file is complete, and an error (the
// bytes appended stay valid even with an error).
func (t *transfer) attempt(ctx context.Context, j job, url string, f *os.File, v *verifier, offset int64) (int64, bool, error) {
	c := t.c
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dog := time.AfterFunc(c.timeout, func() { cancel(errStall) })
	defer dog.Stop()

	resp, err := t.get(ctx, url, offset)
	if err != nil {
		return 0, false, err
	}
	defer resp.Close()
	if err := checkLinkedEtag(j, resp); err != nil {
		return 0, false, err
	}
	if err := checkRange(j, resp, offset); err != nil {
		return 0, false, err
	}
	dog.Reset(c.idleTimeout)
	return t.appendBody(ctx, j, resp.Body, f, v, offset, dog)
}

// get requests url from offset. A stall before the response (ctx's cause
// errStall) is ErrTimeout; a 416 for a resumed download is errRestart.
func (t *transfer) get(ctx context.Context, url string, offset int64) (*response, error) {
	c := t.c
	h := http.Header{"Accept-Encoding": {"identity"}}
	if offset > 0 {
		h.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := c.once(ctx, call{method: http.MethodGet, url: url, header: h, auth: true, noTimeout: true, idempotent: true})
	if err == nil {
		return resp, nil
	}
	if context.Cause(ctx) == errStall {
		return nil, fmt.Errorf("%w: no response within %s", ErrTimeout, c.timeout)
	}
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusRequestedRangeNotSatisfiable && offset > 0 {
		return nil, errRestart
	}
	return nil, err
}

// checkLinkedEtag fails before any byte is downloaded when, for an LFS
// file, the Hub's redirect names a different content hash than the listing.
func checkLinkedEtag(j job, resp *response) error {
	if got := normalizeEtag(resp.first.Get("X-Linked-Etag")); j.sha256 != "" && reSHA256.MatchString(got) && got != j.sha256 {
		return fmt.Errorf("%w: the Hub serves sha256 %s, the listing said %s", ErrIntegrity, got, j.sha256)
	}
	return nil
}

// checkRange checks that resp continues the download at offset: a 206
// with the matching Content-Range, or a 200 of the expected length for a
// download from the start. A mismatching range is errRestart.
func checkRange(j job, resp *response, offset int64) error {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset || (j.size >= 0 && total >= 0 && total != j.size) {
			return errRestart
		}
	case http.StatusOK:
		if offset > 0 {
			return errRestart // Range ignored: start over
		}
		if j.size >= 0 && resp.ContentLength >= 0 && resp.ContentLength != j.size {
			return fmt.Errorf("%w: server announces %d bytes, expected %d", ErrIntegrity, resp.ContentLength, j.size)
		}
	default:
		return fmt.Errorf("%w: unexpected status %d", ErrFormat, resp.StatusCode)
	}
	return nil
}

// appendBody copies body to f (and v) until EOF, never past j's size,
// resetting the stall watchdog dog on every chunk. It returns the bytes
// appended and whether the file is complete.
func (t *transfer) appendBody(ctx context.Context, j job, body io.Reader, f *os.File, v *verifier, offset int64, dog *time.Timer) (int64, bool, error) {
	c := t.c
	limit := maxFileSize - offset
	if j.size >= 0 {
		limit = j.size - offset
	}
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, rerr := body.Read(buf)
		if k > 0 {
			if int64(k) > limit-n {
				return n, false, fmt.Errorf("%w: server sent more than the expected %d bytes", ErrIntegrity, j.size)
			}
			if _, werr := f.Write(buf[:k]); werr != nil {
				return n, false, werr
			}
			v.write(buf[:k])
			n += int64(k)
			dog.Reset(c.idleTimeout)
			t.meter.progress(j.name, offset+n, j.size, int64(k))
		}
		if rerr == io.EOF {
			if j.size >= 0 && offset+n < j.size {
				return n, false, fmt.Errorf("connection closed after %d of %d bytes: %w", offset+n, j.size, io.ErrUnexpectedEOF)
			}
			return n, true, nil
		}
		if rerr != nil {
			if context.Cause(ctx) == errStall {
				return n, false, fmt.Errorf("%w: no data for %s", ErrTimeout, c.idleTimeout)
			}
			return n, false, rerr
		}
	}
}

// parseContentRange reads "bytes start-end/total" (total -1 for "*").
func parseContentRange(v string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	s, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(s, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total < 0 {
			return 0, 0, false
		}
	}
	return start, total, true
}

// verifier hashes a download as it is written, including a resumed prefix.
type verifier struct {
	j   job
	sha hash.Hash // content sha256 (LFS)
	git hash.Hash // git blob sha1 (regular files with a known blob id and size)
}

func newVerifier(j job) *verifier {
	v := &verifier{j: j}
	v.init()
	return v
}

func (v *verifier) init() {
	v.sha, v.git = nil, nil
	if v.j.sha256 != "" {
		v.sha = sha256.New()
	}
	if v.j.gitOID != "" && v.j.size >= 0 {
		v.git = sha1.New()
		fmt.Fprintf(v.git, "blob %d\x00", v.j.size)
	}
}

func (v *verifier) write(p []byte) {
	if v.sha != nil {
		v.sha.Write(p)
	}
	if v.git != nil {
		v.git.Write(p)
	}
}

// resume hashes the partial file already on disk and positions f at its
// end; a partial file longer than the expected size is discarded.
func (v *verifier) resume(f *os.File, size int64) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	n := fi.Size()
	if size >= 0 && n > size {
		return v.reset(f)
	}
	if n > 0 {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		w := io.MultiWriter(hashWriters(v)...)
		if _, err := io.CopyN(w, f, n); err != nil {
			return 0, err
		}
	}
	return f.Seek(n, io.SeekStart)
}

func hashWriters(v *verifier) []io.Writer {
	ws := []io.Writer{io.Discard}
	if v.sha != nil {
		ws = append(ws, v.sha)
	}
	if v.git != nil {
		ws = append(ws, v.git)
	}
	return ws
}

// reset empties the partial file.
func (v *verifier) reset(f *os.File) (int64, error) {
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	v.init()
	return f.Seek(0, io.SeekStart)
}

// check verifies the complete download.
func (v *verifier) check(n int64) error {
	if v.j.size >= 0 && n != v.j.size {
		return fmt.Errorf("%w: got %d bytes, expected %d", ErrIntegrity, n, v.j.size)
	}
	if v.sha != nil {
		if got := hex.EncodeToString(v.sha.Sum(nil)); got != v.j.sha256 {
			return fmt.Errorf("%w: sha256 %s, expected %s", ErrIntegrity, got, v.j.sha256)
		}
	}
	if v.git != nil {
		if got := hex.EncodeToString(v.git.Sum(nil)); got != v.j.gitOID {
			return fmt.Errorf("%w: git blob id %s, expected %s", ErrIntegrity, got, v.j.gitOID)
		}
	}
	return nil
}

// meter aggregates byte counts for progress events.
type meter struct {
	c     *Client
	phase Phase
	mu    sync.Mutex
	done  int64
	total int64
}

func (m *meter) addTotal(size int64) {
	if size > 0 {
		m.mu.Lock()
		m.total += size
		m.mu.Unlock()
	}
}

func (m *meter) send(kind EventKind, file string, fileDone, size, delta int64) {
	m.mu.Lock()
	m.done += delta
	e := Event{Kind: kind, Phase: m.phase, File: file, FileDone: fileDone, FileSize: size, Done: m.done, Total: m.total}
	m.mu.Unlock()
	m.c.emit(e)
}

func (m *meter) start(file string, offset, size int64) {
	m.send(EventStart, file, offset, size, offset)
}
func (m *meter) progress(file string, fileDone, size, delta int64) {
	m.send(EventBytes, file, fileDone, size, delta)
}
func (m *meter) rewind(file string, size int64) { m.send(EventBytes, file, 0, size, 0) }
func (m *meter) finish(file string, size int64) { m.send(EventDone, file, size, size, 0) }
func (m *meter) cached(file string, size int64) { m.send(EventCached, file, size, size, size) }

// fromCache answers a Download from the cache alone.
func (c *Client) fromCache(repo, revision string, opts DownloadOptions) (string, error) {
	rc := c.repoCache(opts.RepoType, repo)
	commit := rc.readRef(revision)
	if commit == "" {
		return "", fmt.Errorf("%w: %s@%s: no cached revision", ErrOffline, repo, revision)
	}
	dir := rc.snapshotDir(commit)
	tree := rc.readTree(commit)
	if opts.LocalDir != "" {
		dir = opts.LocalDir
		tree = repoCache{root: filepath.Join(dir, ".cache", "huggingface")}.readTree(commit)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: %s@%s: no cached snapshot %s", ErrOffline, repo, revision, commit)
	}
	missing, err := missingCached(rc, repo, revision, commit, dir, tree, cachedWant(tree, opts), opts.Files != nil)
	if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		sample := strings.Join(missing[:min(3, len(missing))], ", ")
		return "", fmt.Errorf("%w: %s@%s (commit %s) lacks %d file(s): %s", ErrIncomplete, repo, revision, commit, len(missing), sample)
	}
	if opts.Preflight != nil {
		if err := opts.Preflight(dir); err != nil {
			return "", fmt.Errorf("pre-flight check of %s@%s: %w", repo, revision, err)
		}
	}
	return dir, nil
}

// cachedWant is the files a cached Download answers for: opts.Files, or
// the names in the cached listing tree that the patterns select (none
// without a listing).
func cachedWant(tree map[string]treeEntry, opts DownloadOptions) []string {
	if opts.Files != nil {
		return opts.Files
	}
	if tree == nil {
		return nil
	}
	names := make([]string, 0, len(tree))
	for n := range tree {
		names = append(names, n)
	}
	sort.Strings(names)
	return filterNames(names, allowPatterns(opts.AllowPatterns), opts.IgnorePatterns)
}

// missingCached returns the files of want absent from the snapshot dir of
// commit. A file asked for explicitly that the cache remembers the repo
// lacks is ErrEntryNotFound; one whose size differs from the listing tree
// is ErrIntegrity.
func missingCached(rc repoCache, repo, revision, commit, dir string, tree map[string]treeEntry, want []string, explicit bool) ([]string, error) {
	var missing []string
	for _, name := range want {
		if err := ValidateFilename(name); err != nil {
			return nil, err
		}
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			if explicit && rc.isNoExist(commit, name) {
				return nil, fmt.Errorf("%s@%s: %q: %w (cached)", repo, revision, name, ErrEntryNotFound)
			}
			missing = append(missing, name)
			continue
		}
		if e, ok := tree[name]; ok && e.Size >= 0 && fi.Size() != e.Size {
			return nil, fmt.Errorf("%w: cached %s is %d bytes, the listing says %d", ErrIntegrity, name, fi.Size(), e.Size)
		}
	}
	return missing, nil
}

// Fetch returns the local path of one file of repo at revision ("" =
// main), downloading it into the cache if needed (huggingface_hub's
// hf_hub_download): a HEAD request gives the commit, blob id and size,
// then the file is downloaded, verified and linked like Download does. A
// file the Hub reports missing is ErrEntryNotFound (and remembered under
// .no_exist, so offline lookups answer the same).
func (c *Client) Fetch(ctx context.Context, repo, revision, file string) (string, error) {
	if revision == "" {
		revision = "main"
	}
	if err := validateFetch(repo, revision, file); err != nil {
		return "", err
	}
	rc := c.repoCache(RepoModel, repo)
	if IsCommitHash(revision) {
		if p := rc.pointerPath(revision, file); fileExists(p) {
			return p, nil
		}
	}
	if c.offline {
		return c.fetchCached(repo, revision, file)
	}
	m, err := c.headFile(ctx, RepoModel, repo, revision, file)
	if err != nil {
		return c.fetchFallback(ctx, rc, repo, revision, file, err)
	}
	tagCacheDir(c.cacheDir)
	if err := rc.writeRef(revision, m.commit); err != nil {
		return "", fmt.Errorf("cache ref %s: %w", revision, err)
	}
	pointer := rc.pointerPath(m.commit, file)
	if fileExists(pointer) {
		return pointer, nil
	}
	if err := c.fetchFile(ctx, rc, repo, file, m); err != nil {
		return "", fmt.Errorf("%s@%s: %w", repo, revision, err)
	}
	if err := linkPointer(rc.blobPath(m.etag), pointer); err != nil {
		return "", fmt.Errorf("%s: snapshot link: %w", file, err)
	}
	return pointer, nil
}

// validateFetch checks Fetch's arguments.
func validateFetch(repo, revision, file string) error {
	if err := ValidateRepoID(repo); err != nil {
		return err
	}
	if err := ValidateRevision(revision); err != nil {
		return err
	}
	return ValidateFilename(file)
}

// fetchFallback handles Fetch's failed HEAD (err): a file the Hub reports
// missing at a known commit is remembered as such, and an online failure
// that allows it is answered from the cache.
func (c *Client) fetchFallback(ctx context.Context, rc repoCache, repo, revision, file string, err error) (string, error) {
	var he *HTTPError
	if errors.As(err, &he) && errors.Is(err, ErrEntryNotFound) && he.RepoCommit != "" {
		rc.markNoExist(he.RepoCommit, file)
		_ = rc.writeRef(revision, he.RepoCommit)
	}
	if canFallBack(ctx, err) {
		if p, cerr := c.fetchCached(repo, revision, file); cerr == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s@%s: %s: %w", repo, revision, file, err)
}

// fetchFile downloads file (described by the HEAD answer m) into its blob.
func (c *Client) fetchFile(ctx context.Context, rc repoCache, repo, file string, m *fileMeta) error {
	j := job{name: file, etag: m.etag, size: m.size}
	if reSHA256.MatchString(m.etag) {
		j.sha256 = m.etag
	}
	t := &transfer{c: c, repo: repo, commit: m.commit, rc: rc, meter: &meter{c: c, phase: PhaseDownload}}
	t.meter.addTotal(j.size)
	blob := rc.blobPath(j.etag)
	return t.fetchBlob(ctx, j, c.resolveURL(RepoModel, repo, m.commit, file), blob, blob+".incomplete", rc.lockPath(j.etag))
}

func (c *Client) fetchCached(repo, revision, file string) (string, error) {
	rc := c.repoCache(RepoModel, repo)
	commit := rc.readRef(revision)
	if commit == "" {
		return "", fmt.Errorf("%w: %s@%s: no cached revision", ErrOffline, repo, revision)
	}
	if p := rc.pointerPath(commit, file); fileExists(p) {
		return p, nil
	}
	if rc.isNoExist(commit, file) {
		return "", fmt.Errorf("%s@%s: %q: %w (cached)", repo, revision, file, ErrEntryNotFound)
	}
	return "", fmt.Errorf("%w: %s@%s: %s is not cached", ErrOffline, repo, revision, file)
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Resolve turns a model source into a local directory: an existing
// local directory is used as is (like mlx-lm); anything else must be a
// repo id, downloaded with DefaultAllowPatterns plus README.md (the
// source's model card, for the output's card). preflight, if not nil,
// runs on the directory once config.json, the index and the tokenizer
// files are there and before any weight is downloaded.
func (c *Client) Resolve(ctx context.Context, repoOrPath, revision string, preflight func(dir string) error) (string, error) {
	if fi, err := os.Stat(repoOrPath); err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("%w: %s is a file, not a model directory", ErrInvalid, repoOrPath)
		}
		if preflight != nil {
			if err := preflight(repoOrPath); err != nil {
				return "", err
			}
		}
		return repoOrPath, nil
	}
	if err := ValidateRepoID(repoOrPath); err != nil {
		return "", fmt.Errorf("%q is neither a local directory nor a Hub repo id: %w", repoOrPath, err)
	}
	allow := append(DefaultAllowPatterns(), "README.md")
	dir, err := c.Download(ctx, repoOrPath, revision, DownloadOptions{AllowPatterns: allow, Preflight: preflight})
	if err != nil && (errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTLS)) {
		// A Hub that cannot be reached at all: for an argument meant as a
		// local path, the likelier mistake is a typo in the path.
		return "", fmt.Errorf("not a local directory and the Hub could not be reached: %w", err)
	}
	return dir, err
}

// Source returns Resolve with preflight bound, in the form
// convert.Options.ResolveHub and ggufexport.ExportOptions.ResolveHub take:
// pass convert.Preflight or ggufexport.Preflight to check config.json and
// the index before any weight is downloaded.
func (c *Client) Source(preflight func(dir string) error) func(ctx context.Context, repo, revision string) (string, error) {
	return func(ctx context.Context, repo, revision string) (string, error) {
		return c.Resolve(ctx, repo, revision, preflight)
	}
}
