package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mlxconv/mlxconv/convert"
	"github.com/mlxconv/mlxconv/convert/hub"
	"github.com/mlxconv/mlxconv/ggufexport"
	"github.com/mlxconv/mlxconv/internal/fsx"
)

// resolveGGUFModel maps gguf --model to a local directory: an existing path
// is used as is; otherwise it is a Hub repo id, downloaded (config.json and
// the index first, checked by ggufPreflight before any weight) into the
// huggingface_hub cache. For a Hub source the default output goes to the
// current directory, never into the cache.
func resolveGGUFModel(ctx context.Context, env *environment, model, revision, outfile string, quiet bool) (dir, out, repo string, err error) {
	if _, err := os.Stat(model); err == nil || !errors.Is(err, fs.ErrNotExist) || hub.ValidateRepoID(model) != nil {
		if revision != "" {
			return "", "", "", fmt.Errorf("%w: --revision is for a Hub repo id, and %q is a local path", errUsage, model)
		}
		return model, outfile, "", nil
	}
	c, hp, err := newHubClient(env, quiet)
	if err != nil {
		return "", "", "", err
	}
	dir, err = c.Resolve(ctx, model, revision, ggufPreflight)
	hp.finish()
	if err != nil {
		if unreachable(err) {
			return "", "", "", fmt.Errorf("%q is not a local directory and the Hub could not be reached: %w", model, err)
		}
		return "", "", "", err
	}
	if outfile == "" {
		outfile = path.Base(model) + "-{ftype}.gguf"
	}
	return dir, outfile, model, nil
}

// ggufPreflight refuses, before the weights are downloaded, a model the
// GGUF exporter cannot handle.
func ggufPreflight(dir string) error {
	if err := convert.Preflight(dir); err != nil {
		return err
	}
	b, err := fsx.ReadFile(filepath.Join(dir, "config.json"), 64<<20)
	if err != nil {
		return fmt.Errorf("%w: %w", convert.ErrConfig, err)
	}
	var cfg struct {
		ModelType string `json:"model_type"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%w: config.json: %v", convert.ErrConfig, err)
	}
	if !slices.Contains(ggufexport.ExportModelTypes(), cfg.ModelType) {
		return fmt.Errorf("%w: model type %q cannot be exported to GGUF (checked before downloading the weights); supported: %s",
			convert.ErrUnsupported, cfg.ModelType, strings.Join(ggufexport.ExportModelTypes(), ", "))
	}
	return nil
}
