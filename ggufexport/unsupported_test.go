package ggufexport_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlxconv/mlxconv/convert"
	"github.com/mlxconv/mlxconv/ggufexport"
)

// TestErrUnsupportedBothCommands: an unsupported model_type is
// convert.ErrUnsupported from convert.Run, ggufexport.Export and both
// Preflights.
func TestErrUnsupportedBothCommands(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "tiny-llama", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "config.json" {
			b = []byte(strings.Replace(string(b), `"llama"`, `"no_such_model"`, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, runErr := convert.Run(context.Background(), convert.Options{HFPath: dir, MLXPath: filepath.Join(t.TempDir(), "out")})
	_, exportErr := ggufexport.Export(context.Background(), ggufexport.ExportOptions{Model: dir, OutFile: filepath.Join(t.TempDir(), "m.gguf")})
	for name, err := range map[string]error{"Run": runErr, "Export": exportErr,
		"convert.Preflight": convert.Preflight(dir), "ggufexport.Preflight": ggufexport.Preflight(dir)} {
		if !errors.Is(err, convert.ErrUnsupported) || !errors.Is(err, ggufexport.ErrUnsupported) {
			t.Errorf("%s: %v, want convert.ErrUnsupported", name, err)
		}
	}
}
