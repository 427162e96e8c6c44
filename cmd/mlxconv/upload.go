package main

import (
	"context"
	"fmt"
	"os"

	"github.com/mlxconv/mlxconv/convert/hub"
)

func init() {
	register(command{
		name:    "upload",
		summary: "upload a converted model folder to the Hugging Face Hub",
		run:     runUpload,
	})
}

const uploadSynopsis = `upload DIR REPO [--private] [--message M] [--revision BRANCH]

Creates REPO if needed and uploads every file of DIR in one commit, like
mlx_lm.upload: large files go through LFS, files already on the Hub with
the same content are skipped (so an interrupted upload resumes), and a
model card written by mlxconv or mlx-lm gets the title and usage section
for REPO. Needs a write token (HF_TOKEN or the huggingface_hub login).`

func runUpload(ctx context.Context, env *environment, args []string) error {
	fs := newFlags(env, "upload", uploadSynopsis)
	private := fs.Bool("private", false, "create the repo private (an existing repo keeps its visibility)")
	message := fs.String("message", "", "commit message (default \"Upload MLX model converted with mlxconv\")")
	revision := fs.String("revision", "", "branch to commit to (default main)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%w: want DIR and REPO", errUsage)
	}
	dir, repo := fs.Arg(0), fs.Arg(1)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%w: %q is not a directory", errUsage, dir)
	}
	if err := hub.ValidateRepoID(repo); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	c, hp, err := newHubClient(env, *quiet)
	if err != nil {
		return err
	}
	info, err := uploadFolder(ctx, c, hp, dir, repo, *private, *message, *revision)
	if err != nil {
		return err
	}
	if info.NoChanges {
		fmt.Fprintf(env.stderr, "mlxconv: %s already holds these files; nothing to commit\n", repo)
	} else if !*quiet {
		fmt.Fprintf(env.stderr, "mlxconv: uploaded %d file(s) (%d already there), go to %s/%s for details\n",
			info.Files-info.Unchanged, info.Unchanged, c.Endpoint(), repo)
	}
	if info.URL != "" {
		fmt.Fprintln(env.stdout, info.URL)
	}
	return nil
}
