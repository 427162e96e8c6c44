package convert

import "github.com/mlxconv/mlxconv/model/source"

// Preflight checks a model directory holding at least config.json (for a
// Hub source: only the small files fetched before any weight) and reports,
// before anything large is read or downloaded, whether mlxconv can convert
// it: the config parses, names a supported model_type and needs no custom
// Python model file. Errors wrap ErrConfig or ErrUnsupported.
func Preflight(dir string) error {
	return source.Preflight(dir)
}
