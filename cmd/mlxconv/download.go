package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mlxconv/mlxconv/convert/hub"
)

func init() {
	register(command{
		name:    "download",
		summary: "download a repo from the Hugging Face Hub into the shared cache (as hf download)",
		run:     runDownload,
	})
}

const downloadSynopsis = `download REPO [FILES...] [--include GLOB]... [--exclude GLOB]... [--all]
    [--local-dir DIR] [--revision R] [--repo-type model|dataset|space] [--token T]

Downloads files of a Hub repo into the huggingface_hub cache (HF_HUB_CACHE
or HF_HOME/hub), shared with Python, or into --local-dir, and prints the
snapshot directory (or the local dir), as hf download does; given one
FILE, it prints that file's path. FILES are exact paths in the repo (with
FILES, --include, --exclude and --all are ignored); a FOLDER/ among them
(a name ending in '/') takes the files under it, and what exists of the
other names. Without FILES a model
repo gets what a conversion needs (mlx-lm's patterns: *.json,
model*.safetensors, tokenizer files, chat templates, …) unless --include
or --all says otherwise; a dataset or Space gets every file. --include and
--exclude are globs (fnmatch: '*' also matches '/'). Downloads are
parallel, resumable and verified. HF_TOKEN (or --token), HF_ENDPOINT and
HF_HUB_OFFLINE apply.`

func runDownload(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "download", downloadSynopsis)
	include := fs.StringArray("include", nil, "download only files matching this glob (repeatable; default: what a conversion needs)")
	exclude := fs.StringArray("exclude", nil, "leave out files matching this glob (repeatable)")
	all := fs.Bool("all", false, "download every file of the repo")
	localDir := fs.String("local-dir", "", "put real files in this directory instead of the cache")
	revision := fs.String("revision", "", "branch, tag or commit (default main)")
	repoType := fs.String("repo-type", "model", "model, dataset or space")
	token := fs.String("token", "", "Hub token for this command (default HF_TOKEN or the stored login)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return fmt.Errorf("%w: want REPO [FILES...]", errUsage)
	}
	repo, files := fs.Arg(0), fs.Args()[1:]
	if err := hub.ValidateRepoID(repo); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	typ, err := hub.ParseRepoType(*repoType)
	if err != nil {
		return fmt.Errorf("%w: --repo-type: %v", errUsage, err)
	}
	opts := hub.DownloadOptions{RepoType: typ, LocalDir: *localDir, AllowPatterns: *include, IgnorePatterns: *exclude}
	if err := selectDownload(env, &opts, files, *all); err != nil {
		return err
	}
	c, hp, err := newHubClientToken(env, *quiet, *token)
	if err != nil {
		return err
	}
	dir, err := c.Download(ctx, repo, *revision, opts)
	hp.finish()
	if err != nil {
		return err
	}
	if len(opts.Files) == 1 {
		dir = filepath.Join(dir, filepath.FromSlash(opts.Files[0]))
	}
	fmt.Fprintln(env.stdout, dir)
	return nil
}

// selectDownload sets what opts downloads: the FILES (exact repo paths;
// the patterns and --all are then ignored, with a note), or what the
// patterns select: for a model, by default, what a conversion needs; with
// --all, or for a dataset or Space without --include, every file.
func selectDownload(env *environment, opts *hub.DownloadOptions, files []string, all bool) error {
	switch {
	case len(files) > 0:
		if allow, ok := folderPatterns(files); ok {
			// FOLDER/ arguments (hf download's): patterns for all of them.
			if len(opts.AllowPatterns)+len(opts.IgnorePatterns) > 0 {
				return fmt.Errorf("%w: a FOLDER/ argument cannot be combined with --include or --exclude (use --include 'FOLDER/*')", errUsage)
			}
			opts.AllowPatterns = allow
			return nil
		}
		if len(opts.AllowPatterns)+len(opts.IgnorePatterns) > 0 || all {
			fmt.Fprintln(env.stderr, "mlxconv: FILES name what to download; --include, --exclude and --all are ignored")
		}
		opts.Files, opts.AllowPatterns, opts.IgnorePatterns = dedupe(files), nil, nil
	case all && len(opts.AllowPatterns) > 0:
		return fmt.Errorf("%w: --all and --include exclude each other", errUsage)
	case all || !isModelRepo(opts.RepoType) && opts.AllowPatterns == nil:
		opts.AllowPatterns = []string{} // every file
	}
	return nil
}

// folderPatterns turns FILES holding a FOLDER/ (a name ending in '/')
// into allow patterns as hf download does: each folder's files, the
// other names escaped to match only themselves. ok is false without a
// folder.
func folderPatterns(files []string) (allow []string, ok bool) {
	for _, f := range dedupe(files) {
		if strings.HasSuffix(f, "/") {
			ok = true
			allow = append(allow, f) // hub.MatchPattern: FOLDER/ is FOLDER/*
			continue
		}
		allow = append(allow, globEscaper.Replace(f))
	}
	return allow, ok
}

// globEscaper makes a name an fnmatch pattern matching only itself.
var globEscaper = strings.NewReplacer("*", "[*]", "?", "[?]", "[", "[[]")

// dedupe drops repeated names, keeping the first of each.
func dedupe(names []string) []string {
	seen := map[string]bool{}
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
