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

	"github.com/mlxconv/mlxconv/internal/fsx"
	"github.com/mlxconv/mlxconv/model/source"
)

// Preflight checks a model directory holding at least config.json (for a
// Hub source: only the small files fetched before any weight) and reports,
// before anything large is read or downloaded, whether the model can be
// exported to GGUF: a model type with a GGUF export, and source.Preflight's
// checks. Errors wrap model.ErrConfig or ErrUnsupported (which is
// convert.ErrUnsupported). It has the signature hub.Client.Resolve takes.
func Preflight(dir string) error {
	// The GGUF check comes first, so that a type convert handles but gguf
	// does not, or neither does, is named with the GGUF families; a
	// config.json that cannot be read is left to source.Preflight's
	// precise errors.
	if b, err := fsx.ReadFile(filepath.Join(dir, "config.json"), 64<<20); err == nil {
		var cfg struct {
			ModelType any `json:"model_type"`
		}
		if json.Unmarshal(b, &cfg) == nil {
			if mt, ok := cfg.ModelType.(string); ok && !slices.Contains(exportModelTypes(), mt) {
				return noExport(mt)
			}
		}
	}
	return source.Preflight(dir)
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
		return fmt.Errorf("%q: %w", repo, err)
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
