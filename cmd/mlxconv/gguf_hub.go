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
		dir, err := c.Resolve(ctx, model, revision, ggufexport.Preflight)
		hp.finish()
		if err != nil && unreachable(err) {
			return "", fmt.Errorf("%q is not a local directory and the Hub could not be reached: %w", model, err)
		}
		return dir, err
	}
}
