package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlxconv/mlxconv/convert/hub"
	"github.com/spf13/pflag"
)

func init() {
	register(command{
		name:    "upload",
		summary: "upload a folder or file to the Hugging Face Hub (as hf upload)",
		run:     runUpload,
	})
}

const uploadSynopsis = `upload REPO [DIR|FILE] [PATH_IN_REPO] [--include GLOB]... [--exclude GLOB]...
    [--repo-type model|dataset|space] [--private] [--commit-message M] [--revision BRANCH] [--token T]

Uploads DIR to the Hub repo REPO in one commit, with hf upload's arguments:
DIR defaults to the folder named like REPO's name if there is one, else ".";
PATH_IN_REPO puts the files under that folder of the repo; a FILE instead
of DIR is uploaded to PATH_IN_REPO (default its base name; under it when
it ends with '/'); a glob instead of DIR uploads the files of "." it
matches. REPO is created if needed. --include and --exclude are globs (fnmatch: '*' also matches
'/') on the path relative to DIR. Like mlx_lm.upload, large files go
through LFS, files already on the Hub with the same content are skipped
(so an interrupted upload resumes), and a model card written by mlxconv
or mlx-lm gets the title and usage section for REPO. A model folder (one
with config.json) is uploaded without its *.gguf files unless --include
selects them. Needs a write token (--token, HF_TOKEN or 'hf auth login').`

// uploadRequest is one upload: the local folder or file, the repo, and
// how to commit.
type uploadRequest struct {
	local   string
	glob    string // hf's wildcard LOCAL_PATH: upload "." with --include glob
	file    bool   // local is one file
	repo    string
	private bool
	opts    hub.UploadOptions
}

func runUpload(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "upload", uploadSynopsis)
	include := fs.StringArray("include", nil, "upload only the files matching this glob (repeatable)")
	exclude := fs.StringArray("exclude", nil, "leave out the files matching this glob (repeatable)")
	repoType := fs.String("repo-type", "model", "model, dataset or space")
	private := fs.Bool("private", false, "create the repo private (an existing repo keeps its visibility)")
	var message string
	fs.StringVar(&message, "commit-message", "", "commit message (default \"Upload MLX model converted with mlxconv\" for a model folder)")
	fs.StringVar(&message, "message", "", "old name of --commit-message")
	_ = fs.MarkDeprecated("message", "use --commit-message")
	description := fs.String("commit-description", "", "commit description")
	revision := fs.String("revision", "", "branch to commit to, created from main if missing (default main)")
	token := fs.String("token", "", "Hub token for this command (default HF_TOKEN or the stored login)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	typ, err := hub.ParseRepoType(*repoType)
	if err != nil {
		return fmt.Errorf("%w: --repo-type: %v", errUsage, err)
	}
	req, err := uploadTarget(fs, args)
	if err != nil {
		return err
	}
	if req.glob != "" {
		if len(*include) > 0 {
			return fmt.Errorf("%w: a glob %q as DIR is an --include; give one or the other", errUsage, req.glob)
		}
		*include = []string{req.glob}
	}
	req.private = *private
	req.opts = hub.UploadOptions{RepoType: typ, Revision: *revision, Message: message, Description: *description,
		PathInRepo: req.opts.PathInRepo, AllowPatterns: *include, IgnorePatterns: *exclude}
	if req.file && len(*include)+len(*exclude) > 0 {
		fmt.Fprintf(env.stderr, "mlxconv: --include and --exclude select files of a folder; ignored for the file %q\n", req.local)
	}
	if err := skipGGUF(env, &req); err != nil {
		return err
	}
	c, hp, err := newHubClientToken(env, *quiet, *token)
	if err != nil {
		return err
	}
	info, url, err := uploadFolder(ctx, c, hp, req)
	if err != nil {
		return err
	}
	if info.NoChanges {
		fmt.Fprintf(env.stderr, "mlxconv: %s already holds these files; nothing to commit\n", req.repo)
	} else if !*quiet {
		fmt.Fprintf(env.stderr, "mlxconv: uploaded %d file(s) (%d already there), go to %s for details\n",
			info.Files-info.Unchanged, info.Unchanged, url)
	}
	if info.URL != "" {
		fmt.Fprintln(env.stdout, info.URL)
	}
	return nil
}

// uploadTarget reads upload's arguments REPO [DIR|FILE] [PATH_IN_REPO]
// (hf upload's): the repo, the local folder or file and where it goes.
// The old order DIR REPO is refused with the corrected command line.
func uploadTarget(flags *pflag.FlagSet, args []string) (uploadRequest, error) {
	n := flags.NArg()
	if n < 1 || n > 3 {
		return uploadRequest{}, fmt.Errorf("%w: want REPO [DIR|FILE] [PATH_IN_REPO]", errUsage)
	}
	if n == 2 && isDir(flags.Arg(0)) && !exists(flags.Arg(1)) && hub.ValidateRepoID(flags.Arg(1)) == nil {
		return uploadRequest{}, fmt.Errorf("%w: upload takes REPO first, as hf upload does: %s",
			errUsage, swappedUpload(flags, args))
	}
	req := uploadRequest{repo: flags.Arg(0)}
	if err := hub.ValidateRepoID(req.repo); err != nil {
		return req, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := req.setLocal(flags.Arg(1), flags.Arg(2)); err != nil {
		return req, err
	}
	st, err := os.Stat(req.local)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return req, fmt.Errorf("%w: %q is not a local file or folder", errUsage, req.local)
		}
		return req, err
	}
	req.file = !st.IsDir()
	return req, nil
}

// setLocal sets what to upload from the arguments after REPO, as hf
// upload: no DIR is the file or folder named like the repo, else the
// current folder; a DIR that does not exist and holds glob characters is
// an --include over the current folder.
func (req *uploadRequest) setLocal(local, pathInRepo string) error {
	switch {
	case local == "":
		req.local = "."
		if name := req.repo[strings.LastIndex(req.repo, "/")+1:]; exists(name) {
			req.local = name
		}
	case !exists(local) && strings.ContainsAny(local, "*?["):
		if pathInRepo != "" && pathInRepo != "." {
			return fmt.Errorf("%w: a glob %q as DIR uploads to the repo's root; PATH_IN_REPO cannot be given", errUsage, local)
		}
		req.local, req.glob = ".", local
		return nil
	default:
		req.local = local
	}
	req.opts.PathInRepo = pathInRepo
	return nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// swappedUpload is the command line args meant, in the new order: the
// two positional arguments swapped, the flags kept, each word quoted for
// a POSIX shell when needed.
func swappedUpload(fs *pflag.FlagSet, args []string) string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		if rest, ok := strings.CutPrefix(a, "--message"); ok && (rest == "" || rest[0] == '=') {
			a = "--commit-message" + rest // the deprecated name's successor
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if f := fs.Lookup(name); f != nil && f.NoOptDefVal == "" && !strings.Contains(name, "=") && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if len(pos) == 2 {
		pos[0], pos[1] = pos[1], pos[0]
	}
	words := []string{"mlxconv", "upload"}
	for _, w := range append(pos, flags...) {
		words = append(words, shellQuote(w))
	}
	return strings.Join(words, " ")
}

// ggufHint is the note for *.gguf files left out of a model folder.
const ggufHint = "--include '*.gguf' uploads them"

// skipGGUF leaves the *.gguf files of a model folder (one with
// config.json: the GGUF export writes beside the MLX weights by default)
// out of an upload to a model repo, unless --include selects files, and
// says so on stderr.
func skipGGUF(env *environment, req *uploadRequest) error {
	o := &req.opts
	if req.file || len(o.AllowPatterns) > 0 || !isModelRepo(o.RepoType) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(req.local, "config.json")); err != nil {
		return nil
	}
	files, err := hub.FolderFiles(req.local, *o)
	if err != nil {
		return err
	}
	n := 0
	for _, f := range files {
		if hub.MatchPattern("*.gguf", f) {
			n++
		}
	}
	if n > 0 {
		o.IgnorePatterns = append(o.IgnorePatterns[:len(o.IgnorePatterns):len(o.IgnorePatterns)], "*.gguf")
		fmt.Fprintf(env.stderr, "mlxconv: skipped %d *.gguf file(s); %s\n", n, ggufHint)
	}
	return nil
}
