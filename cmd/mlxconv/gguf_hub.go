package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/mlxconv/mlxconv/convert/hub"
	"github.com/mlxconv/mlxconv/ggufexport"
)

// ggufHub returns ggufexport.ExportOptions.ResolveHub for gguf --model: a
// Hub repo id is downloaded (config.json and the index first, checked by
// ggufexport.Preflight before any weight) into the huggingface_hub cache.
// The client is created on first use, so a local export never depends on
// the Hub settings.
func ggufHub(env *environment, quiet bool) func(ctx context.Context, repo, revision string) (string, error) {
	return func(ctx context.Context, model, revision string) (string, error) {
		if hub.ValidateRepoID(model) != nil {
			// Not a repo id: a local path that does not exist.
			_, err := os.Stat(model)
			if err == nil || !errors.Is(err, fs.ErrNotExist) {
				return model, nil
			}
			return "", fmt.Errorf("%w: %v", ggufexport.ErrExport, err)
		}
		c, hp, err := newHubClient(env, quiet)
		if err != nil {
			return "", err
		}
		dir, err := c.Source(ggufexport.Preflight)(ctx, model, revision)
		hp.finish()
		return dir, err
	}
}
