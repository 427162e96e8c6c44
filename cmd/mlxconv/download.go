package main

import (
	"context"
	"fmt"

	"github.com/mlxconv/mlxconv/convert/hub"
)

func init() {
	register(command{
		name:    "download",
		summary: "download a model from the Hugging Face Hub into the shared cache (what convert needs)",
		run:     runDownload,
	})
}

const downloadSynopsis = `download REPO [--revision R] [--local-dir DIR] [--include PATTERN]... [--all]

Downloads the files of a Hub model repo that a conversion needs (mlx-lm's
patterns: *.json, model*.safetensors, tokenizer files, chat templates, …)
into the huggingface_hub cache (HF_HUB_CACHE or HF_HOME/hub), shared with
Python, and prints the snapshot directory. Downloads are parallel,
resumable and verified. HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE apply.`

func runDownload(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "download", downloadSynopsis)
	revision := fs.String("revision", "", "branch, tag or commit (default main)")
	localDir := fs.String("local-dir", "", "put real files in this directory instead of the cache")
	include := fs.StringArray("include", nil, "download only files matching this glob (repeatable; default: what a conversion needs)")
	all := fs.Bool("all", false, "download every file of the repo")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want exactly one REPO argument", errUsage)
	}
	repo := fs.Arg(0)
	if err := hub.ValidateRepoID(repo); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	opts := hub.DownloadOptions{LocalDir: *localDir, AllowPatterns: *include}
	if *all {
		if len(*include) > 0 {
			return fmt.Errorf("%w: --all and --include exclude each other", errUsage)
		}
		opts.AllowPatterns = []string{}
	}
	c, hp, err := newHubClient(env, *quiet)
	if err != nil {
		return err
	}
	dir, err := c.Download(ctx, repo, *revision, opts)
	hp.finish()
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, dir)
	return nil
}
