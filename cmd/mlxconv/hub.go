package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mlxconv/mlxconv/convert"
	"github.com/mlxconv/mlxconv/convert/hub"
	"github.com/mlxconv/mlxconv/internal/safe"
)

// newHubClient builds the Hub client from the command's environment
// (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, HF_HUB_OFFLINE, …); progress goes
// to stderr unless quiet.
func newHubClient(env *environment, quiet bool) (*hub.Client, *hubProgress, error) {
	return newHubClientToken(env, quiet, "")
}

// newHubClientToken is newHubClient with a --token: when set, it replaces
// HF_TOKEN and the stored login (and is sent even with
// HF_HUB_DISABLE_IMPLICIT_TOKEN, as an explicit token is by hf).
func newHubClientToken(env *environment, quiet bool, token string) (*hub.Client, *hubProgress, error) {
	var hp *hubProgress
	opts := hub.Options{Getenv: env.getenv, UserAgent: "mlxconv/" + versionString(), Token: token}
	if !quiet {
		hp = &hubProgress{w: env.stderr, tty: env.isTTY, now: time.Now}
		opts.Progress = hp.update
	}
	c, err := hub.New(opts)
	return c, hp, err
}

// hubHooks returns convert.Options' ResolveHub and Upload for the client:
// ResolveHub downloads config.json, the index and the tokenizer files,
// runs preflight on them, and only then downloads the weights; Upload
// creates the repo, completes the model card and uploads the folder.
func hubHooks(c *hub.Client, hp *hubProgress, preflight func(dir string) error) (
	resolve func(ctx context.Context, repo, revision string) (string, error),
	upload func(ctx context.Context, dir, repo string) error,
) {
	resolve = func(ctx context.Context, repo, revision string) (string, error) {
		dir, err := c.Source(preflight)(ctx, repo, revision)
		hp.finish()
		return dir, err
	}
	upload = func(ctx context.Context, dir, repo string) error {
		_, _, err := uploadFolder(ctx, c, hp, uploadRequest{local: dir, repo: repo})
		return err
	}
	return resolve, upload
}

// preflightConfig is the check run before any weight is downloaded:
// convert.Preflight on the directory holding config.json and the index.
func preflightConfig(dir string) error { return convert.Preflight(dir) }

// The convert command's Hub hooks: the client is created on first use, so
// a local conversion never depends on the Hub settings (HF_ENDPOINT, ...).
func init() {
	convertHub = func(env *environment, quiet bool) (
		func(ctx context.Context, repo, revision string) (string, error),
		func(ctx context.Context, dir, repo string) error,
		error,
	) {
		var (
			once   sync.Once
			client *hub.Client
			hp     *hubProgress
			cerr   error
		)
		get := func() (*hub.Client, *hubProgress, error) {
			once.Do(func() { client, hp, cerr = newHubClient(env, quiet) })
			return client, hp, cerr
		}
		resolve := func(ctx context.Context, repo, revision string) (string, error) {
			c, p, err := get()
			if err != nil {
				return "", err
			}
			r, _ := hubHooks(c, p, preflightConfig)
			return r(ctx, repo, revision)
		}
		upload := func(ctx context.Context, dir, repo string) error {
			c, p, err := get()
			if err != nil {
				return err
			}
			_, u := hubHooks(c, p, preflightConfig)
			return u(ctx, dir, repo)
		}
		return resolve, upload, nil
	}
}

// uploadFolder creates the repo (if needed) and uploads req's folder in
// one commit, or its file, and returns the repo's URL with the commit. A
// folder uploaded to the root of a model repo, README.md included, first
// gets its model card readied like mlx_lm.upload does.
func uploadFolder(ctx context.Context, c *hub.Client, hp *hubProgress, req uploadRequest) (*hub.CommitInfo, string, error) {
	o := req.opts
	url, err := c.CreateRepoWith(ctx, req.repo, hub.CreateRepoOptions{Type: o.RepoType, Private: req.private})
	if err != nil {
		return nil, "", err
	}
	if err := ensureBranch(ctx, c, req.repo, o); err != nil {
		return nil, "", err
	}
	if req.file {
		info, err := c.UploadFile(ctx, req.local, req.repo, o)
		hp.finish()
		return info, url, err
	}
	if p := strings.Trim(o.PathInRepo, "/"); isModelRepo(o.RepoType) && (p == "" || p == ".") && o.Selects("README.md") {
		if _, err := hub.PrepareUploadCard(req.local, req.repo, versionString()); err != nil {
			return nil, "", fmt.Errorf("model card: %w", err)
		}
		if o.Message == "" {
			o.Message = "Upload MLX model converted with mlxconv"
		}
	}
	info, err := c.UploadFolder(ctx, req.local, req.repo, o)
	hp.finish()
	return info, url, err
}

// ensureBranch creates the --revision branch when the repo lacks it, as
// hf upload does (other lookup failures are left to the upload to report).
func ensureBranch(ctx context.Context, c *hub.Client, repo string, o hub.UploadOptions) error {
	if o.Revision == "" {
		return nil
	}
	if _, err := c.RepoInfo(ctx, o.RepoType, repo, o.Revision); !errors.Is(err, hub.ErrRevisionNotFound) {
		return nil
	}
	return c.CreateBranch(ctx, o.RepoType, repo, o.Revision)
}

// isModelRepo reports whether t is a model repo (the zero value is one).
func isModelRepo(t hub.RepoType) bool { return t == "" || t == hub.RepoModel }

// hubProgress renders hub events on stderr: on a terminal one redrawn
// line (files done, bytes, current file); otherwise a line per finished
// file, retry and phase change.
type hubProgress struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	mu    sync.Mutex
	last  time.Time
	drawn bool
	phase hub.Phase
	files int
	width func() int // terminal columns (nil: asked of w)
	start time.Time  // when the current phase's first line was drawn
	base  int64      // bytes done then
}

func (p *hubProgress) update(e hub.Event) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	verb := map[hub.Phase]string{hub.PhaseDownload: "downloading", hub.PhaseHash: "hashing", hub.PhaseUpload: "uploading"}[e.Phase]
	switch e.Kind {
	case hub.EventPreflight:
		p.clear()
		fmt.Fprintln(p.w, "mlxconv: config.json and tokenizer files are here; checking the model before downloading the weights")
		return
	case hub.EventCommit:
		p.clear()
		fmt.Fprintln(p.w, "mlxconv: creating the commit")
		return
	case hub.EventRetry:
		if e.Retry > 1 {
			return // the first retry of the loop announced its budget
		}
		p.clear()
		what := "hub"
		if e.File != "" {
			what = e.File
		}
		if e.Retry == 1 {
			fmt.Fprintf(p.w, "mlxconv: %s: retrying (up to %d attempts over ~%d s): %s\n",
				safe.Name(what), e.Retries+1, int((e.Budget+time.Second-1)/time.Second), safe.Name(e.Err.Error()))
			return
		}
		fmt.Fprintf(p.w, "mlxconv: %s: %s\n", safe.Name(what), safe.Name(e.Err.Error()))
		return
	case hub.EventDone, hub.EventCached:
		p.files++
		if !p.tty && e.Phase != hub.PhaseHash {
			state := map[hub.Phase]string{hub.PhaseDownload: "downloaded", hub.PhaseUpload: "uploaded"}[e.Phase]
			if e.Kind == hub.EventCached {
				state = "cached"
				if e.Phase == hub.PhaseUpload {
					state = "already on the Hub"
				}
			}
			fmt.Fprintf(p.w, "mlxconv: %s %s (%s)\n", state, safe.Name(e.File), humanBytes(e.FileSize))
			return
		}
	}
	if !p.tty {
		return
	}
	now := p.now()
	if e.Kind == hub.EventBytes && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	pct := 100
	if e.Total > 0 {
		pct = int(e.Done * 100 / e.Total)
	}
	line := fmt.Sprintf("%s %3d%%  %s/%s%s  %d files  %s", verb, pct, humanBytes(e.Done), humanBytes(e.Total), p.rate(e, now),
		p.files, safe.Name(shortName(e.File)))
	fmt.Fprintf(p.w, "\r%s\033[K", fitColumns(line, p.columns()-1))
	p.drawn = true
}

// rate returns "  12.3 MB/s  ETA 1:05" for the bytes moved since the
// phase began (bytes already there when it began, e.g. a resumed file,
// do not count), or "" in its first second.
func (p *hubProgress) rate(e hub.Event, now time.Time) string {
	if p.start.IsZero() || e.Phase != p.phase {
		p.start, p.phase, p.base = now, e.Phase, e.Done
	}
	elapsed := now.Sub(p.start)
	if elapsed < time.Second || e.Done <= p.base {
		return ""
	}
	r := float64(e.Done-p.base) / elapsed.Seconds()
	s := fmt.Sprintf("  %s/s", humanBytes(int64(r)))
	if e.Total > e.Done {
		s += "  ETA " + clock(time.Duration(float64(e.Total-e.Done)/r*float64(time.Second)))
	}
	return s
}

// columns is the terminal's width (defaultColumns when unknown).
func (p *hubProgress) columns() int {
	n := 0
	if p.width != nil {
		n = p.width()
	} else {
		n = terminalWidth(p.w)
	}
	if n <= 0 {
		return defaultColumns
	}
	return n
}

func (p *hubProgress) clear() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// finish ends the redrawn line.
func (p *hubProgress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
	p.files = 0
	p.start = time.Time{}
}

func shortName(s string) string {
	if len(s) > 40 {
		return "…" + s[len(s)-39:]
	}
	return s
}
