package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// ModelInfo is the part of GET /api/models/{repo}/revision/{rev}?blobs=true
// the client uses.
type ModelInfo struct {
	ID          string
	SHA         string // commit the revision resolves to (40 hex)
	Private     bool
	Gated       bool
	PipelineTag string
	LibraryName string
	Tags        []string
	Siblings    []Sibling
}

// Sibling is one file of the repo at that commit.
type Sibling struct {
	Name   string   // '/'-separated path in the repo
	Size   int64    // -1 if the Hub did not say
	BlobID string   // git object id ("" if not given)
	LFS    *LFSInfo // nil for regular git files
}

// LFSInfo describes a file stored with Git LFS (or Xet): its content hash.
type LFSInfo struct {
	SHA256      string
	Size        int64
	PointerSize int64
}

// maxSiblings bounds a listing (the largest Hub repos have ~1e5 files).
const maxSiblings = 1 << 20

// maxFileSize bounds one file's declared size (1 TiB).
const maxFileSize = int64(1) << 40

type rawLFS struct {
	SHA256      string `json:"sha256"`
	OID         string `json:"oid"`
	Size        int64  `json:"size"`
	PointerSize int64  `json:"pointerSize"`
}

type rawSibling struct {
	RFilename string  `json:"rfilename"`
	Size      *int64  `json:"size"`
	BlobID    string  `json:"blobId"`
	LFS       *rawLFS `json:"lfs"`
}

type rawModelInfo struct {
	ID          string          `json:"id"`
	SHA         string          `json:"sha"`
	Private     bool            `json:"private"`
	Gated       json.RawMessage `json:"gated"`
	PipelineTag string          `json:"pipeline_tag"`
	LibraryName string          `json:"library_name"`
	Tags        []string        `json:"tags"`
	Siblings    []rawSibling    `json:"siblings"`
}

// ModelInfo fetches model repo metadata at revision ("" means main) with
// file sizes, blob ids and LFS hashes. File names are not validated here
// (see ValidateFilename); sizes, hashes and the commit are.
func (c *Client) ModelInfo(ctx context.Context, repo, revision string) (*ModelInfo, error) {
	return c.RepoInfo(ctx, RepoModel, repo, revision)
}

// RepoInfo is ModelInfo for a repo of any type (GET
// /api/{models,datasets,spaces}/{repo}/revision/{rev}?blobs=true): the
// fields a dataset or space lacks are left empty.
func (c *Client) RepoInfo(ctx context.Context, typ RepoType, repo, revision string) (*ModelInfo, error) {
	if err := ValidateRepoID(repo); err != nil {
		return nil, err
	}
	if revision == "" {
		revision = "main"
	}
	if err := ValidateRevision(revision); err != nil {
		return nil, err
	}
	u := c.apiURL(typ.apiPath(repo) + "/revision/" + quoteAll(revision) + "?blobs=true")
	var raw rawModelInfo
	if _, err := c.getJSON(ctx, u, &raw, 256<<20); err != nil {
		return nil, fmt.Errorf("%s info %s@%s: %w", typ, repo, revision, err)
	}
	info, err := raw.validate()
	if err != nil {
		return nil, fmt.Errorf("%s info %s@%s: %w", typ, repo, revision, err)
	}
	return info, nil
}

func (raw *rawModelInfo) validate() (*ModelInfo, error) {
	if !IsCommitHash(raw.SHA) {
		return nil, fmt.Errorf("%w: sha %q is not a 40-hex commit id", ErrFormat, truncate(raw.SHA, 80))
	}
	if len(raw.Siblings) > maxSiblings {
		return nil, fmt.Errorf("%w: %d files listed (limit %d)", ErrFormat, len(raw.Siblings), maxSiblings)
	}
	info := &ModelInfo{
		ID: raw.ID, SHA: raw.SHA, Private: raw.Private, PipelineTag: raw.PipelineTag,
		LibraryName: raw.LibraryName, Tags: raw.Tags,
	}
	g := strings.TrimSpace(string(raw.Gated))
	info.Gated = g != "" && g != "false" && g != "null"
	seen := make(map[string]bool, len(raw.Siblings))
	for _, s := range raw.Siblings {
		if s.RFilename == "" {
			return nil, fmt.Errorf("%w: sibling without rfilename", ErrFormat)
		}
		if seen[s.RFilename] {
			return nil, fmt.Errorf("%w: file %q listed twice", ErrFormat, truncate(s.RFilename, 200))
		}
		seen[s.RFilename] = true
		sib, err := s.validate()
		if err != nil {
			return nil, err
		}
		info.Siblings = append(info.Siblings, sib)
	}
	return info, nil
}

// validate checks one listed file's size, blob id and LFS data and
// converts it.
func (s rawSibling) validate() (Sibling, error) {
	name := truncate(s.RFilename, 200)
	sib := Sibling{Name: s.RFilename, Size: -1, BlobID: s.BlobID}
	if s.Size != nil {
		if *s.Size < 0 || *s.Size > maxFileSize {
			return sib, fmt.Errorf("%w: file %q: size %d", ErrFormat, name, *s.Size)
		}
		sib.Size = *s.Size
	}
	if s.BlobID != "" && !reCommit.MatchString(s.BlobID) {
		return sib, fmt.Errorf("%w: file %q: blobId %q is not a git object id", ErrFormat, name, truncate(s.BlobID, 80))
	}
	if s.LFS != nil {
		sum := s.LFS.SHA256
		if sum == "" {
			sum = s.LFS.OID
		}
		if !reSHA256.MatchString(sum) {
			return sib, fmt.Errorf("%w: file %q: LFS sha256 %q", ErrFormat, name, truncate(sum, 80))
		}
		if s.LFS.Size < 0 || s.LFS.Size > maxFileSize {
			return sib, fmt.Errorf("%w: file %q: LFS size %d", ErrFormat, name, s.LFS.Size)
		}
		sib.LFS = &LFSInfo{SHA256: sum, Size: s.LFS.Size, PointerSize: s.LFS.PointerSize}
		sib.Size = s.LFS.Size
	}
	return sib, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// fileMeta is what a HEAD on resolve/{rev}/{file} tells (huggingface_hub's
// get_hf_file_metadata): the commit, the etag naming the blob, the size.
type fileMeta struct {
	commit string
	etag   string
	size   int64 // -1 unknown
}

// headFile asks the Hub for one file's metadata, following redirects on
// the Hub only (a redirect to the CDN carries the metadata itself).
func (c *Client) headFile(ctx context.Context, typ RepoType, repo, revision, name string) (*fileMeta, error) {
	u := c.resolveURL(typ, repo, revision, name)
	resp, err := c.do(ctx, call{
		method: http.MethodHead, url: u, idempotent: true, auth: true, stopAtForeignRedirect: true,
		header: http.Header{"Accept-Encoding": {"identity"}},
	})
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	h := resp.Header
	m := &fileMeta{commit: h.Get("X-Repo-Commit"), size: -1}
	if !IsCommitHash(m.commit) {
		return nil, fmt.Errorf("%w: HEAD %s: X-Repo-Commit %q is not a commit id (is HF_ENDPOINT a Hub?)", ErrFormat, redactURL(u), truncate(m.commit, 80))
	}
	m.etag = normalizeEtag(firstNonEmpty(h.Get("X-Linked-Etag"), h.Get("ETag")))
	if !reEtag.MatchString(m.etag) {
		return nil, fmt.Errorf("%w: HEAD %s: unusable ETag %q", ErrFormat, redactURL(u), truncate(m.etag, 80))
	}
	sz := h.Get("X-Linked-Size")
	if sz == "" && !isRedirect(resp.StatusCode) {
		sz = h.Get("Content-Length")
	}
	if sz != "" {
		n, err := strconv.ParseInt(sz, 10, 64)
		if err != nil || n < 0 || n > maxFileSize {
			return nil, fmt.Errorf("%w: HEAD %s: size %q", ErrFormat, redactURL(u), truncate(sz, 40))
		}
		m.size = n
	}
	return m, nil
}

// normalizeEtag strips W/ and quotes, like huggingface_hub.
func normalizeEtag(e string) string {
	e = strings.TrimPrefix(e, "W/")
	return strings.Trim(e, `"`)
}

func (c *Client) resolveURL(typ RepoType, repo, revision, name string) string {
	return c.apiURL(typ.webPath(repo) + "/resolve/" + quoteAll(revision) + "/" + quotePath(name))
}
