// Package hubtest is an in-process fake of the Hugging Face Hub for tests:
// two httptest servers, the Hub (API, resolve, LFS batch, commit) and a
// separate "CDN" host (LFS downloads and presigned uploads), with fault
// injection. It implements the endpoints the hub package and
// huggingface_hub's snapshot_download use, closely enough that Python
// pointed at it through HF_ENDPOINT works too.
//
// Dataset and Space repos are served too (/api/datasets/…,
// /datasets/{repo}/resolve/…, …): the fake keys them by their path on the
// site, "datasets/org/name" and "spaces/org/name", in every method taking
// a repo id.
//
// It is test support: no limits on what is stored, nothing persistent.
package hubtest

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Endpoint names a group of routes, for faults and the request log.
type Endpoint string

const (
	EndpointInfo        Endpoint = "info"         // GET /api/models/{repo}[/revision/{rev}] (or /api/datasets/…, /api/spaces/…)
	EndpointTree        Endpoint = "tree"         // GET /api/models/{repo}/tree/{rev}
	EndpointResolve     Endpoint = "resolve"      // HEAD|GET [/datasets|/spaces]/{repo}/resolve/{rev}/{path}
	EndpointCDN         Endpoint = "cdn"          // GET (CDN) /blobs/{sha256}
	EndpointCreate      Endpoint = "create"       // POST /api/repos/create
	EndpointPreupload   Endpoint = "preupload"    // POST /api/models/{repo}/preupload/{rev}
	EndpointLFSBatch    Endpoint = "lfs-batch"    // POST /{repo}.git/info/lfs/objects/batch
	EndpointLFSUpload   Endpoint = "lfs-upload"   // PUT (CDN) /upload/{oid}[/part/{n}]
	EndpointLFSComplete Endpoint = "lfs-complete" // POST /lfs/complete/{oid}
	EndpointLFSVerify   Endpoint = "lfs-verify"   // POST /{repo}.git/info/lfs/objects/verify
	EndpointCommit      Endpoint = "commit"       // POST /api/models/{repo}/commit/{rev}
	EndpointBranch      Endpoint = "branch"       // POST /api/models/{repo}/branch/{branch}
	EndpointUnknown     Endpoint = "unknown"
)

// Fault alters responses of matching requests.
type Fault struct {
	Endpoint Endpoint
	File     string // repo path (resolve, cdn); "" matches any
	Method   string // "" matches any
	Times    int    // how many matching requests it affects; 0 means all
	// Status, with Header and Body, replaces the response.
	Status int
	Header http.Header
	Body   string
	// Delay sleeps before answering (or, with Stall, after the first
	// DropAfter bytes).
	Delay time.Duration
	// Drop sends the headers and DropAfter bytes of the body, then closes
	// the connection.
	Drop      bool
	DropAfter int64
	// Stall sends DropAfter bytes, then sends nothing more until the
	// client goes away (or Delay passes, if set).
	Stall bool
	// Corrupt flips one byte of the served body (same length).
	Corrupt bool
	// IgnoreRange answers a Range request with the whole file (200).
	IgnoreRange bool

	used int
}

// Request is one logged request.
type Request struct {
	Endpoint      Endpoint
	Server        string // "hub" or "cdn"
	Method        string
	Path          string // unescaped
	File          string // repo path, when known
	Authorization string
	Range         string
}

// Commit is one commit of a repo.
type Commit struct {
	OID         string
	Parent      string
	Message     string
	Description string
}

type entry struct {
	data []byte
	lfs  bool
}

type repo struct {
	private, gated bool
	refs           map[string]string           // branch or tag -> commit
	trees          map[string]map[string]entry // commit -> path -> entry
	commits        []Commit
}

// Hub is the fake. Exported fields may be set before the first request.
type Hub struct {
	// URL is the Hub endpoint (http://127.0.0.1:port), CDNURL the CDN's.
	URL, CDNURL string
	// Token, when set, is required for writes and for private repos; a
	// different bearer token is rejected (401) everywhere.
	Token string
	// LFSThreshold: preupload classifies larger files (and binary or
	// weight files) as LFS. Default 10 MiB.
	LFSThreshold int64
	// MultipartThreshold: LFS uploads larger than this use the multipart
	// transfer with PartSize parts. 0 disables multipart.
	MultipartThreshold int64
	PartSize           int64

	hub, cdn *httptest.Server
	mu       sync.Mutex
	repos    map[string]*repo
	lfs      map[string][]byte // sha256 -> content
	parts    map[string]map[int][]byte
	faults   []*Fault
	log      []Request
}

// New starts a fake Hub and its CDN; they stop when the test ends.
func New(t testing.TB) *Hub {
	h := Start()
	t.Cleanup(h.Close)
	return h
}

// Start starts a fake Hub outside a test; call Close when done.
func Start() *Hub {
	h := &Hub{
		repos: map[string]*repo{}, lfs: map[string][]byte{}, parts: map[string]map[int][]byte{},
		LFSThreshold: 10 << 20, PartSize: 5 << 20,
	}
	h.hub = httptest.NewServer(http.HandlerFunc(h.serveHub))
	h.cdn = httptest.NewServer(http.HandlerFunc(h.serveCDN))
	h.URL, h.CDNURL = h.hub.URL, h.cdn.URL
	return h
}

// Close stops both servers.
func (h *Hub) Close() {
	h.hub.CloseClientConnections()
	h.cdn.CloseClientConnections()
	h.hub.Close()
	h.cdn.Close()
}

// Env returns the environment a client (Go or Python) needs to use this
// Hub with cache dir cache: HF_ENDPOINT, HF_HUB_CACHE, HF_TOKEN (if set)
// and HF_HOME (a sibling "home" folder, so no real token file is read).
func (h *Hub) Env(cache string) map[string]string {
	env := map[string]string{
		"HF_ENDPOINT":                  h.URL,
		"HF_HUB_CACHE":                 cache,
		"HF_HOME":                      cache + "-home",
		"HF_HUB_DISABLE_TELEMETRY":     "1",
		"HF_HUB_DISABLE_XET":           "1",
		"HF_HUB_DISABLE_PROGRESS_BARS": "1",
	}
	if h.Token != "" {
		env["HF_TOKEN"] = h.Token
	}
	return env
}

// IsLFS is how the fake stores a file: weights and files over
// LFSThreshold go to LFS.
func (h *Hub) IsLFS(name string, size int64) bool {
	for _, ext := range []string{".safetensors", ".bin", ".gguf", ".pt", ".pth", ".npz", ".h5", ".onnx"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return size > h.LFSThreshold
}

// AddRepo creates repo id with one commit holding files on main and
// returns the commit id. An id "datasets/org/name" or "spaces/org/name"
// is a dataset or a Space. File names are stored as given (even hostile
// ones, to test clients).
func (h *Hub) AddRepo(id string, files map[string][]byte) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.repos[id] == nil {
		h.repos[id] = &repo{refs: map[string]string{}, trees: map[string]map[string]entry{}}
	}
	return h.commitLocked(id, "main", "initial commit", "", files, nil)
}

// CommitFiles adds a commit on branch (created from main if missing):
// files overlay the parent's; a nil value deletes.
func (h *Hub) CommitFiles(id, branch, message string, files map[string][]byte) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.commitLocked(id, branch, message, "", files, nil)
}

// SetRef points a branch or tag at a commit.
func (h *Hub) SetRef(id, ref, commit string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.repos[id].refs[ref] = commit
}

// SetPrivate makes the repo require the Token.
func (h *Hub) SetPrivate(id string, private bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.repos[id].private = private
}

// SetGated makes every access to the repo answer 403 GatedRepo.
func (h *Hub) SetGated(id string, gated bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.repos[id].gated = gated
}

// Exists reports whether the repo exists and whether it is private.
func (h *Hub) Exists(id string) (exists, private bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[id]
	if r == nil {
		return false, false
	}
	return true, r.private
}

// Files returns the files of repo id at revision (branch, tag or commit).
func (h *Hub) Files(id, revision string) (map[string][]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[id]
	if r == nil {
		return nil, false
	}
	tree, _, ok := r.resolve(revision)
	if !ok {
		return nil, false
	}
	out := make(map[string][]byte, len(tree))
	for p, e := range tree {
		out[p] = append([]byte{}, e.data...)
	}
	return out, true
}

// IsStoredAsLFS reports how a file of the revision is stored.
func (h *Hub) IsStoredAsLFS(id, revision, name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	tree, _, ok := h.repos[id].resolve(revision)
	return ok && tree[name].lfs
}

// Commits lists the commits of repo id, oldest first.
func (h *Hub) Commits(id string) []Commit {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.repos[id]; r != nil {
		return append([]Commit(nil), r.commits...)
	}
	return nil
}

// AddFault registers a fault; faults are tried in the order added.
func (h *Hub) AddFault(f Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = append(h.faults, &f)
}

// ClearFaults removes all faults.
func (h *Hub) ClearFaults() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = nil
}

// Requests returns the request log.
func (h *Hub) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.log...)
}

// ResetLog empties the request log.
func (h *Hub) ResetLog() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log = nil
}

// Count counts logged requests to an endpoint (and file, if not "").
func (h *Hub) Count(ep Endpoint, file string) int {
	n := 0
	for _, r := range h.Requests() {
		if r.Endpoint == ep && (file == "" || r.File == file) {
			n++
		}
	}
	return n
}

func (r *repo) resolve(rev string) (map[string]entry, string, bool) {
	if c, ok := r.refs[rev]; ok {
		return r.trees[c], c, true
	}
	if t, ok := r.trees[rev]; ok {
		return t, rev, true
	}
	return nil, "", false
}

// commitLocked commits files on branch; lfs says how each file is stored
// (nil: IsLFS decides).
func (h *Hub) commitLocked(id, branch, message, desc string, files map[string][]byte, lfs map[string]bool) string {
	r := h.repos[id]
	parent := r.refs[branch]
	if parent == "" {
		parent = r.refs["main"]
	}
	tree := map[string]entry{}
	for p, e := range r.trees[parent] {
		tree[p] = e
	}
	for p, d := range files {
		if d == nil {
			delete(tree, p)
			continue
		}
		e := entry{data: append([]byte(nil), d...), lfs: h.IsLFS(p, int64(len(d)))}
		if lfs != nil {
			e.lfs = lfs[p]
		}
		if e.lfs {
			h.lfs[sha256hex(d)] = e.data
		}
		tree[p] = e
	}
	s := sha1.New()
	fmt.Fprintf(s, "%s\n%s\n%s\n%d\n", parent, message, desc, len(r.commits))
	for _, p := range sortedKeys(tree) {
		fmt.Fprintf(s, "%s %s\n", p, gitOID(tree[p].data))
	}
	oid := hex.EncodeToString(s.Sum(nil))
	r.trees[oid] = tree
	r.refs[branch] = oid
	r.commits = append(r.commits, Commit{OID: oid, Parent: parent, Message: message, Description: desc})
	return oid
}

func sortedKeys(m map[string]entry) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func gitOID(b []byte) string {
	s := sha1.New()
	fmt.Fprintf(s, "blob %d\x00", len(b))
	s.Write(b)
	return hex.EncodeToString(s.Sum(nil))
}

func lfsPointer(b []byte) []byte {
	return []byte(fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha256hex(b), len(b)))
}

// blobID is the git object id of a stored file (of its pointer for LFS).
func (e entry) blobID() string {
	if e.lfs {
		return gitOID(lfsPointer(e.data))
	}
	return gitOID(e.data)
}

// oid is what preupload compares: sha256 for LFS, the git id otherwise.
func (e entry) oid() string {
	if e.lfs {
		return sha256hex(e.data)
	}
	return gitOID(e.data)
}

func (h *Hub) sign(s string) string { return sha256hex([]byte("fake-cdn-secret:" + s))[:16] }

// record logs the request and returns the fault to apply, if any.
func (h *Hub) record(r *http.Request, server string, ep Endpoint, file string) *Fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, _ := url.PathUnescape(r.URL.EscapedPath())
	h.log = append(h.log, Request{Endpoint: ep, Server: server, Method: r.Method, Path: p, File: file,
		Authorization: r.Header.Get("Authorization"), Range: r.Header.Get("Range")})
	for _, f := range h.faults {
		if f.Endpoint != ep || (f.File != "" && f.File != file) || (f.Method != "" && f.Method != r.Method) {
			continue
		}
		if f.Times > 0 && f.used >= f.Times {
			continue
		}
		f.used++
		return f
	}
	return nil
}

// applyFault answers with the fault's status if it has one.
func applyFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if f == nil {
		return false
	}
	if f.Delay > 0 && !f.Stall {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return true
		}
	}
	if f.Status == 0 {
		return false
	}
	for k, vs := range f.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(f.Status)
	io.WriteString(w, f.Body)
	return true
}

func jsonResponse(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func errorResponse(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	jsonResponse(w, status, map[string]string{"error": msg})
}

// split splits an escaped path into unescaped segments.
func split(escaped string) []string {
	var out []string
	for _, s := range strings.Split(strings.Trim(escaped, "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			u = s
		}
		out = append(out, u)
	}
	return out
}

// findRepo finds "{repo}/{keyword}/..." in segs (the repo id has one or
// two segments) and returns the id and the segments after the keyword.
func (h *Hub) findRepo(segs []string, keyword string) (string, []string, bool) {
	for _, n := range []int{2, 1} {
		if len(segs) > n && segs[n] == keyword {
			return strings.Join(segs[:n], "/"), segs[n+1:], true
		}
	}
	return "", nil, false
}

// auth checks the bearer token: ok, or it has answered.
func (h *Hub) auth(w http.ResponseWriter, r *http.Request, required bool) bool {
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if r.Header.Get("Authorization") != "" && h.Token != "" && got != h.Token {
		errorResponse(w, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
		return false
	}
	if required && h.Token != "" && got != h.Token {
		errorResponse(w, http.StatusUnauthorized, "", "Invalid username or password.")
		return false
	}
	return true
}

// readRepo looks up a repo for reading, answering errors like the Hub.
func (h *Hub) readRepo(w http.ResponseWriter, r *http.Request, id string) *repo {
	if !h.auth(w, r, false) {
		return nil
	}
	h.mu.Lock()
	rp := h.repos[id]
	h.mu.Unlock()
	hasToken := h.Token == "" || strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") == h.Token
	if rp == nil || (rp.private && !hasToken) {
		status := http.StatusNotFound
		if r.Header.Get("Authorization") == "" {
			status = http.StatusUnauthorized
		}
		errorResponse(w, status, "RepoNotFound", "Repository not found")
		return nil
	}
	if rp.gated {
		errorResponse(w, http.StatusForbidden, "GatedRepo", "Access to model "+id+" is restricted. You must have access to it and be authenticated to access it. Please log in.")
		return nil
	}
	return rp
}

// serveHub routes a request to the Hub host: API, LFS and resolve URLs.
func (h *Hub) serveHub(w http.ResponseWriter, r *http.Request) {
	segs := split(r.URL.EscapedPath())
	post := r.Method == http.MethodPost
	switch {
	case hasSegs(segs, "api", "models"):
		h.serveAPIModels(w, r, "", segs[2:])
	case hasSegs(segs, "api", "datasets") || hasSegs(segs, "api", "spaces"):
		h.serveAPIModels(w, r, segs[1]+"/", segs[2:])
	case post && len(segs) == 3 && hasSegs(segs, "api", "repos", "create"):
		h.serveCreate(w, r)
	case post && len(segs) == 3 && hasSegs(segs, "lfs", "complete"):
		h.serveComplete(w, r, segs[2])
	case strings.Contains(r.URL.Path, ".git/info/lfs/objects/"):
		h.serveLFS(w, r)
	default:
		h.serveRepoPath(w, r, segs)
	}
}

// serveRepoPath serves [/datasets|/spaces]/{repo}/resolve/{rev}/{path}.
func (h *Hub) serveRepoPath(w http.ResponseWriter, r *http.Request, segs []string) {
	prefix := ""
	if len(segs) > 0 && (segs[0] == "datasets" || segs[0] == "spaces") {
		prefix, segs = segs[0]+"/", segs[1:]
	}
	if id, rest, ok := h.findRepo(segs, "resolve"); ok && len(rest) >= 2 {
		h.serveResolve(w, r, prefix+id, rest[0], strings.Join(rest[1:], "/"))
		return
	}
	h.record(r, "hub", EndpointUnknown, "")
	errorResponse(w, http.StatusNotFound, "", "no such route: "+r.Method+" "+r.URL.Path)
}

// hasSegs reports whether the path segments segs start with prefix.
func hasSegs(segs []string, prefix ...string) bool {
	return len(segs) >= len(prefix) && slices.Equal(segs[:len(prefix)], prefix)
}

// serveAPIModels serves /api/models/…, and with prefix "datasets/" or
// "spaces/" the same routes under /api/datasets/ and /api/spaces/.
func (h *Hub) serveAPIModels(w http.ResponseWriter, r *http.Request, prefix string, segs []string) {
	for _, kw := range []string{"revision", "tree", "preupload", "commit", "branch"} {
		id, rest, ok := h.findRepo(segs, kw)
		if !ok || len(rest) < 1 {
			continue
		}
		id = prefix + id
		switch kw {
		case "revision":
			h.serveInfo(w, r, id, rest[0])
		case "tree":
			h.serveTree(w, r, id, rest[0])
		case "preupload":
			h.servePreupload(w, r, id, rest[0])
		case "commit":
			h.serveCommit(w, r, id, rest[0])
		case "branch":
			h.serveBranch(w, r, id, rest[0])
		}
		return
	}
	if r.Method == http.MethodGet && (len(segs) == 1 || len(segs) == 2) {
		h.serveInfo(w, r, prefix+strings.Join(segs, "/"), "main")
		return
	}
	h.record(r, "hub", EndpointUnknown, "")
	errorResponse(w, http.StatusNotFound, "", "no such route")
}

func (h *Hub) serveInfo(w http.ResponseWriter, r *http.Request, id, rev string) {
	if applyFault(w, r, h.record(r, "hub", EndpointInfo, "")) {
		return
	}
	rp := h.readRepo(w, r, id)
	if rp == nil {
		return
	}
	h.mu.Lock()
	tree, commit, ok := rp.resolve(rev)
	private, gated := rp.private, rp.gated
	h.mu.Unlock()
	if !ok {
		errorResponse(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	blobs := r.URL.Query().Get("blobs") != ""
	var sibs []map[string]any
	for _, p := range sortedKeys(tree) {
		e := tree[p]
		s := map[string]any{"rfilename": p}
		if blobs {
			s["size"] = len(e.data)
			s["blobId"] = e.blobID()
			if e.lfs {
				s["lfs"] = map[string]any{"sha256": sha256hex(e.data), "size": len(e.data), "pointerSize": len(lfsPointer(e.data))}
			}
		}
		sibs = append(sibs, s)
	}
	if sibs == nil {
		sibs = []map[string]any{}
	}
	jsonResponse(w, http.StatusOK, map[string]any{
		"_id": "fake-" + id, "id": id, "modelId": id, "sha": commit, "private": private, "gated": gated,
		"disabled": false, "tags": []string{}, "downloads": 0, "likes": 0, "library_name": "transformers",
		"lastModified": "2025-01-01T00:00:00.000Z", "createdAt": "2025-01-01T00:00:00.000Z", "siblings": sibs,
	})
}

func (h *Hub) serveTree(w http.ResponseWriter, r *http.Request, id, rev string) {
	if applyFault(w, r, h.record(r, "hub", EndpointTree, "")) {
		return
	}
	rp := h.readRepo(w, r, id)
	if rp == nil {
		return
	}
	h.mu.Lock()
	tree, _, ok := rp.resolve(rev)
	h.mu.Unlock()
	if !ok {
		errorResponse(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	out := []map[string]any{}
	dirs := map[string]bool{}
	for _, p := range sortedKeys(tree) {
		for d := path.Dir(p); d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			out = append(out, map[string]any{"type": "directory", "oid": gitOID([]byte(d)), "size": 0, "path": d})
		}
		e := tree[p]
		f := map[string]any{"type": "file", "oid": e.blobID(), "size": len(e.data), "path": p}
		if e.lfs {
			f["lfs"] = map[string]any{"oid": sha256hex(e.data), "size": len(e.data), "pointerSize": len(lfsPointer(e.data))}
		}
		out = append(out, f)
	}
	jsonResponse(w, http.StatusOK, out)
}

func (h *Hub) serveResolve(w http.ResponseWriter, r *http.Request, id, rev, name string) {
	f := h.record(r, "hub", EndpointResolve, name)
	if applyFault(w, r, f) {
		return
	}
	rp := h.readRepo(w, r, id)
	if rp == nil {
		return
	}
	h.mu.Lock()
	tree, commit, ok := rp.resolve(rev)
	h.mu.Unlock()
	if !ok {
		errorResponse(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	e, ok := tree[name]
	w.Header().Set("X-Repo-Commit", commit)
	if !ok {
		errorResponse(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	if e.lfs {
		sum := sha256hex(e.data)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(e.data)))
		w.Header().Set("ETag", `"`+e.blobID()+`"`)
		loc := h.CDNURL + "/blobs/" + sum + "?sig=" + h.sign(sum) + "&name=" + url.QueryEscape(name)
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+e.blobID()+`"`)
	serveBytes(w, r, e.data, f)
}

func (h *Hub) serveCDN(w http.ResponseWriter, r *http.Request) {
	segs := split(r.URL.EscapedPath())
	if len(segs) >= 2 && segs[0] == "upload" && r.Method == http.MethodPut {
		h.serveUpload(w, r, segs[1:])
		return
	}
	name := r.URL.Query().Get("name")
	f := h.record(r, "cdn", EndpointCDN, name)
	if r.Header.Get("Authorization") != "" {
		// Like S3 with a presigned URL: a second auth mechanism is refused.
		errorResponse(w, http.StatusBadRequest, "", "Only one auth mechanism allowed")
		return
	}
	if len(segs) != 2 || segs[0] != "blobs" || r.URL.Query().Get("sig") != h.sign(segs[1]) {
		errorResponse(w, http.StatusForbidden, "", "AccessDenied")
		return
	}
	if applyFault(w, r, f) {
		return
	}
	h.mu.Lock()
	data, ok := h.lfs[segs[1]]
	h.mu.Unlock()
	if !ok {
		errorResponse(w, http.StatusNotFound, "", "NoSuchKey")
		return
	}
	w.Header().Set("ETag", `"`+hex.EncodeToString(md5sum(data))+`"`)
	serveBytes(w, r, data, f)
}

func md5sum(b []byte) []byte { s := md5.Sum(b); return s[:] }

// serveBytes answers GET/HEAD with Range support and the fault's
// body-level misbehaviour (drop, stall, corrupt, ignored range).
func serveBytes(w http.ResponseWriter, r *http.Request, data []byte, f *Fault) {
	w.Header().Set("Accept-Ranges", "bytes")
	start, end := int64(0), int64(len(data))
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && !(f != nil && f.IgnoreRange) {
		s, e, ok := parseRange(rg, int64(len(data)))
		if !ok {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start, end, status = s, e, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, e-1, len(data)))
	}
	body := data[start:end]
	if f != nil && f.Corrupt && len(body) > 0 {
		body = append([]byte(nil), body...)
		body[len(body)/2] ^= 0xff
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if f != nil && (f.Drop || f.Stall) {
		breakBody(w, r, body, f)
	}
	w.Write(body)
}

// breakBody sends the first f.DropAfter bytes of body, stalls if the fault
// says so (until f.Delay passes, if set, or the client goes away) and
// closes the connection mid-body. It does not return.
func breakBody(w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	n := min(f.DropAfter, int64(len(body)))
	w.Write(body[:n])
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	if f.Stall {
		var timeout <-chan time.Time
		if f.Delay > 0 {
			timeout = time.After(f.Delay)
		}
		select {
		case <-r.Context().Done():
		case <-timeout:
		}
	}
	panic(http.ErrAbortHandler) // closes the connection mid-body
}

func parseRange(v string, size int64) (int64, int64, bool) {
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false
	}
	if a == "" { // suffix range
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false
		}
		return max(0, size-n), size, true
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 || s >= size {
		return 0, 0, false
	}
	e := size
	if b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < s {
			return 0, 0, false
		}
		e = min(n+1, size)
	}
	return s, e, true
}

func (h *Hub) serveCreate(w http.ResponseWriter, r *http.Request) {
	if applyFault(w, r, h.record(r, "hub", EndpointCreate, "")) {
		return
	}
	if !h.auth(w, r, true) {
		return
	}
	var req struct {
		Name         string  `json:"name"`
		Organization *string `json:"organization"`
		Type         string  `json:"type"`
		Visibility   string  `json:"visibility"`
		Private      *bool   `json:"private"`
		SDK          string  `json:"sdk"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" {
		errorResponse(w, http.StatusBadRequest, "", "bad request")
		return
	}
	id := req.Name
	if req.Organization != nil && *req.Organization != "" {
		id = *req.Organization + "/" + req.Name
	}
	switch req.Type {
	case "", "model":
	case "dataset", "space":
		if req.Type == "space" && req.SDK == "" {
			errorResponse(w, http.StatusBadRequest, "", "sdk is required for a Space")
			return
		}
		id = req.Type + "s/" + id
	default:
		errorResponse(w, http.StatusBadRequest, "", "bad repo type "+req.Type)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.repos[id] != nil {
		errorResponse(w, http.StatusConflict, "", "You already created this model repo")
		return
	}
	h.repos[id] = &repo{refs: map[string]string{}, trees: map[string]map[string]entry{},
		private: req.Visibility == "private" || (req.Private != nil && *req.Private)}
	h.commitLocked(id, "main", "initial commit", "", map[string][]byte{
		".gitattributes": []byte("*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"),
	}, nil)
	jsonResponse(w, http.StatusOK, map[string]string{"url": h.URL + "/" + id, "name": id})
}

func (h *Hub) writeRepo(w http.ResponseWriter, r *http.Request, id string) *repo {
	if !h.auth(w, r, true) {
		return nil
	}
	h.mu.Lock()
	rp := h.repos[id]
	h.mu.Unlock()
	if rp == nil {
		errorResponse(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
	}
	return rp
}

func (h *Hub) servePreupload(w http.ResponseWriter, r *http.Request, id, rev string) {
	if applyFault(w, r, h.record(r, "hub", EndpointPreupload, "")) {
		return
	}
	rp := h.writeRepo(w, r, id)
	if rp == nil {
		return
	}
	var req struct {
		Files []struct {
			Path   string `json:"path"`
			Sample string `json:"sample"`
			Size   int64  `json:"size"`
		} `json:"files"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		errorResponse(w, http.StatusBadRequest, "", "bad request")
		return
	}
	h.mu.Lock()
	tree, _, ok := rp.resolve(rev)
	h.mu.Unlock()
	if !ok {
		errorResponse(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	var out []map[string]any
	for _, f := range req.Files {
		sample, _ := base64.StdEncoding.DecodeString(f.Sample)
		mode := "regular"
		if h.IsLFS(f.Path, f.Size) || bytes.IndexByte(sample, 0) >= 0 {
			mode = "lfs"
		}
		o := map[string]any{"path": f.Path, "uploadMode": mode, "shouldIgnore": false}
		if e, ok := tree[f.Path]; ok {
			o["oid"] = e.oid()
		}
		out = append(out, o)
	}
	jsonResponse(w, http.StatusOK, map[string]any{"files": out, "commitOid": ""})
}

func (h *Hub) serveLFS(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	i := strings.Index(p, ".git/info/lfs/objects/")
	id := strings.Trim(p[:i], "/")
	action := p[i+len(".git/info/lfs/objects/"):]
	switch action {
	case "batch":
		h.serveBatch(w, r, id)
	case "verify":
		if applyFault(w, r, h.record(r, "hub", EndpointLFSVerify, "")) {
			return
		}
		if h.writeRepo(w, r, id) == nil {
			return
		}
		var req struct {
			OID  string `json:"oid"`
			Size int    `json:"size"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		h.mu.Lock()
		data, ok := h.lfs[req.OID]
		h.mu.Unlock()
		if !ok || len(data) != req.Size {
			errorResponse(w, http.StatusNotFound, "", "object not found")
			return
		}
		jsonResponse(w, http.StatusOK, map[string]bool{"success": true})
	default:
		h.record(r, "hub", EndpointUnknown, "")
		errorResponse(w, http.StatusNotFound, "", "no such route")
	}
}

func (h *Hub) serveBatch(w http.ResponseWriter, r *http.Request, id string) {
	if applyFault(w, r, h.record(r, "hub", EndpointLFSBatch, "")) {
		return
	}
	if h.writeRepo(w, r, id) == nil {
		return
	}
	if !strings.Contains(r.Header.Get("Accept"), "application/vnd.git-lfs+json") {
		errorResponse(w, http.StatusNotAcceptable, "", "want Accept: application/vnd.git-lfs+json")
		return
	}
	var req struct {
		Operation string `json:"operation"`
		Objects   []struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		} `json:"objects"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Operation != "upload" {
		errorResponse(w, http.StatusBadRequest, "", "bad request")
		return
	}
	var objs []map[string]any
	for _, o := range req.Objects {
		h.mu.Lock()
		_, have := h.lfs[o.OID]
		h.mu.Unlock()
		obj := map[string]any{"oid": o.OID, "size": o.Size, "authenticated": true}
		if !have {
			verify := map[string]any{"href": h.URL + "/" + id + ".git/info/lfs/objects/verify"}
			if h.MultipartThreshold > 0 && o.Size > h.MultipartThreshold {
				hdr := map[string]string{"chunk_size": strconv.FormatInt(h.PartSize, 10)}
				n := (o.Size + h.PartSize - 1) / h.PartSize
				for k := int64(1); k <= n; k++ {
					part := fmt.Sprintf("%s/%d", o.OID, k)
					hdr[strconv.FormatInt(k, 10)] = h.CDNURL + "/upload/" + o.OID + "/part/" + strconv.FormatInt(k, 10) + "?sig=" + h.sign(part)
				}
				obj["actions"] = map[string]any{
					"upload": map[string]any{"href": h.URL + "/lfs/complete/" + o.OID + "?sig=" + h.sign(o.OID), "header": hdr},
					"verify": verify,
				}
			} else {
				obj["actions"] = map[string]any{
					"upload": map[string]any{"href": h.CDNURL + "/upload/" + o.OID + "?sig=" + h.sign(o.OID)},
					"verify": verify,
				}
			}
		}
		objs = append(objs, obj)
	}
	w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(map[string]any{"transfer": "basic", "objects": objs})
}

func (h *Hub) serveUpload(w http.ResponseWriter, r *http.Request, segs []string) {
	oid := segs[0]
	f := h.record(r, "cdn", EndpointLFSUpload, "")
	if r.Header.Get("Authorization") != "" {
		errorResponse(w, http.StatusBadRequest, "", "Only one auth mechanism allowed")
		return
	}
	if r.ContentLength < 0 {
		errorResponse(w, http.StatusLengthRequired, "", "MissingContentLength")
		return
	}
	key := oid
	part := 0
	if len(segs) == 3 && segs[1] == "part" {
		part, _ = strconv.Atoi(segs[2])
		key = oid + "/" + segs[2]
	}
	if r.URL.Query().Get("sig") != h.sign(key) {
		errorResponse(w, http.StatusForbidden, "", "AccessDenied")
		return
	}
	if applyFault(w, r, f) {
		return
	}
	data, err := io.ReadAll(r.Body)
	if err != nil || int64(len(data)) != r.ContentLength {
		errorResponse(w, http.StatusBadRequest, "", "IncompleteBody")
		return
	}
	etag := `"` + hex.EncodeToString(md5sum(data)) + `"`
	h.mu.Lock()
	defer h.mu.Unlock()
	if part > 0 {
		if h.parts[oid] == nil {
			h.parts[oid] = map[int][]byte{}
		}
		h.parts[oid][part] = data
	} else {
		if sha256hex(data) != oid {
			errorResponse(w, http.StatusBadRequest, "", "BadDigest")
			return
		}
		h.lfs[oid] = data
	}
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusOK)
}

func (h *Hub) serveComplete(w http.ResponseWriter, r *http.Request, oid string) {
	if applyFault(w, r, h.record(r, "hub", EndpointLFSComplete, "")) {
		return
	}
	if r.URL.Query().Get("sig") != h.sign(oid) {
		errorResponse(w, http.StatusForbidden, "", "AccessDenied")
		return
	}
	var req struct {
		OID   string `json:"oid"`
		Parts []struct {
			PartNumber int    `json:"partNumber"`
			ETag       string `json:"etag"`
		} `json:"parts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.OID != oid {
		errorResponse(w, http.StatusBadRequest, "", "bad request")
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var all []byte
	for i, p := range req.Parts {
		d, ok := h.parts[oid][p.PartNumber]
		if !ok || p.PartNumber != i+1 || p.ETag != `"`+hex.EncodeToString(md5sum(d))+`"` {
			errorResponse(w, http.StatusBadRequest, "", "InvalidPart")
			return
		}
		all = append(all, d...)
	}
	if sha256hex(all) != oid {
		errorResponse(w, http.StatusBadRequest, "", "BadDigest")
		return
	}
	h.lfs[oid] = all
	delete(h.parts, oid)
	jsonResponse(w, http.StatusOK, map[string]bool{"success": true})
}

// serveBranch creates a branch at main's head (409 if it exists).
func (h *Hub) serveBranch(w http.ResponseWriter, r *http.Request, id, branch string) {
	if applyFault(w, r, h.record(r, "hub", EndpointBranch, "")) {
		return
	}
	rp := h.writeRepo(w, r, id)
	if rp == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := rp.refs[branch]; ok {
		errorResponse(w, http.StatusConflict, "", "Reference already exists")
		return
	}
	rp.refs[branch] = rp.refs["main"]
	jsonResponse(w, http.StatusOK, map[string]any{})
}

func (h *Hub) serveCommit(w http.ResponseWriter, r *http.Request, id, rev string) {
	if applyFault(w, r, h.record(r, "hub", EndpointCommit, "")) {
		return
	}
	rp := h.writeRepo(w, r, id)
	if rp == nil {
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-ndjson") {
		errorResponse(w, http.StatusBadRequest, "", "want application/x-ndjson")
		return
	}
	c, err := h.parseCommit(r.Body)
	if err != nil {
		errorResponse(w, http.StatusBadRequest, "", err.Error())
		return
	}
	h.mu.Lock()
	if _, ok := rp.refs[rev]; !ok {
		h.mu.Unlock()
		errorResponse(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	oid := h.commitLocked(id, rev, c.summary, c.desc, c.files, c.lfs)
	h.mu.Unlock()
	jsonResponse(w, http.StatusOK, map[string]any{"success": true, "commitOid": oid, "commitUrl": h.URL + "/" + id + "/commit/" + oid})
}

// pendingCommit is a parsed commit request: its message and the new
// content of each path (nil: deleted), lfs marking the LFS files.
type pendingCommit struct {
	summary, desc string
	files         map[string][]byte
	lfs           map[string]bool
}

// commitValue is the value of one line of a commit's ndjson body.
type commitValue struct {
	Summary, Description string
	Path, Content        string
	Encoding             string
	Algo, OID            string
	Size                 int64
}

// parseCommit reads a commit's ndjson body: a header line first (once),
// then file, lfsFile and deletedFile lines. Its errors are the text of
// the 400 answer.
func (h *Hub) parseCommit(body io.Reader) (*pendingCommit, error) {
	c := &pendingCommit{files: map[string][]byte{}, lfs: map[string]bool{}}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	first := true
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		key, v, err := parseCommitLine(sc.Bytes(), first)
		if err != nil {
			return nil, err
		}
		first = false
		if err := h.applyCommitLine(c, key, v); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil || first || c.summary == "" {
		return nil, errors.New("incomplete commit")
	}
	return c, nil
}

// parseCommitLine decodes one ndjson line into its key and value, checking
// that the header comes first (first) and only then, and that file paths
// are relative and clean.
func parseCommitLine(b []byte, first bool) (string, commitValue, error) {
	var line struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	}
	var v commitValue
	if err := json.Unmarshal(b, &line); err != nil {
		return "", v, errors.New("bad ndjson line")
	}
	if first != (line.Key == "header") {
		return "", v, errors.New("the header must come first, once")
	}
	if err := json.Unmarshal(line.Value, &v); err != nil {
		return "", v, errors.New("bad value")
	}
	if line.Key != "header" && (v.Path == "" || strings.Contains(v.Path, "..") || strings.HasPrefix(v.Path, "/")) {
		return "", v, errors.New("bad path")
	}
	return line.Key, v, nil
}

// applyCommitLine adds one decoded line to c. An lfsFile must name an
// object already uploaded, with its size.
func (h *Hub) applyCommitLine(c *pendingCommit, key string, v commitValue) error {
	switch key {
	case "header":
		c.summary, c.desc = v.Summary, v.Description
	case "file":
		if v.Encoding != "base64" {
			return errors.New("bad encoding")
		}
		d, err := base64.StdEncoding.DecodeString(v.Content)
		if err != nil {
			return errors.New("bad base64")
		}
		c.files[v.Path] = d
	case "lfsFile":
		h.mu.Lock()
		d, ok := h.lfs[v.OID]
		h.mu.Unlock()
		if v.Algo != "sha256" || !ok || int64(len(d)) != v.Size {
			return errors.New("LFS object " + v.OID + " not uploaded")
		}
		c.files[v.Path] = d
		c.lfs[v.Path] = true
	case "deletedFile":
		c.files[v.Path] = nil
	default:
		return errors.New("unknown key " + key)
	}
	return nil
}
