package ggufexport

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlxconv/mlxconv/internal/outsafe"
)

// refuseExisting refuses, before any tensor is read, an output file that
// already exists when Force is not set (the sink's reservation would
// refuse it too, but only after the progress has started). An output that
// is one of the inputs is reported as such first, as the sink would.
func refuseExisting(plan *exportPlan, opts ExportOptions) error {
	if opts.DryRun || opts.Force {
		return nil
	}
	var inputs []string
	if entries, err := os.ReadDir(opts.Model); err == nil {
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".gguf") {
				inputs = append(inputs, filepath.Join(opts.Model, e.Name()))
			}
		}
	}
	for _, sh := range plan.Shards {
		if _, err := os.Lstat(sh.Path); err != nil {
			continue
		}
		if err := outsafe.CheckInputs(sh.Path, inputs, []string{opts.Model}); err != nil {
			return outputError(err)
		}
		return outputError(&outsafe.Error{Kind: outsafe.ErrExists,
			Msg: fmt.Sprintf("output %q already exists; delete it or choose another path", sh.Path)})
	}
	return nil
}
