package ggufexport

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

	"github.com/mlxconv/mlxconv/internal/fsx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/source"
)

// Preflight checks a model directory holding at least config.json (for a
// Hub source: only the small files fetched before any weight) and reports,
// before anything large is read or downloaded, whether the model can be
// exported to GGUF: convert.Preflight's checks, and a model type with a GGUF
// export. Errors wrap model.ErrConfig or ErrUnsupported (which is
// convert.ErrUnsupported). It has the signature hub.Client.Resolve takes.
func Preflight(dir string) error {
	if err := source.Preflight(dir); err != nil {
		return err
	}
	b, err := fsx.ReadFile(filepath.Join(dir, "config.json"), 64<<20)
	if err != nil {
		return fmt.Errorf("%w: %w", model.ErrConfig, err)
	}
	var cfg struct {
		ModelType string `json:"model_type"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%w: config.json: %v", model.ErrConfig, err)
	}
	if !slices.Contains(exportModelTypes(), cfg.ModelType) {
		return fmt.Errorf("%w: model type %q cannot be exported to GGUF (checked before downloading the weights); supported: %s",
			ErrUnsupported, cfg.ModelType, strings.Join(exportModelTypes(), ", "))
	}
	return nil
}

// resolveModel maps a Model that does not exist locally to a Hub snapshot
// through opts.ResolveHub, and fills ModelID and the default OutFile.
func resolveModel(ctx context.Context, opts *ExportOptions) error {
	_, err := os.Stat(opts.Model)
	if opts.ResolveHub == nil || !errors.Is(err, fs.ErrNotExist) {
		if opts.Revision != "" {
			return fmt.Errorf("%w: a revision is for a Hub repo id, and %q is a local path", ErrExport, opts.Model)
		}
		return nil
	}
	repo := opts.Model
	dir, err := opts.ResolveHub(ctx, repo, opts.Revision)
	if err != nil {
		return err
	}
	opts.Model = dir
	if opts.ModelID == "" {
		opts.ModelID = repo
	}
	if opts.OutFile == "" {
		opts.OutFile = path.Base(repo) + "-{ftype}.gguf"
	}
	return nil
}
