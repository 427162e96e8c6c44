package ggufexport_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mlxconv/mlxconv/ggufexport"
)

// ExampleExport exports a small llama checkpoint to a Q8_0 GGUF file, as
// `mlxconv gguf --model tiny-llama --outfile tiny-llama-q8_0.gguf --outtype q8_0`.
func ExampleExport() {
	dir, err := os.MkdirTemp("", "mlxconv-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	outType, err := ggufexport.ParseOutType("q8_0") // e.g. from a flag
	if err != nil {
		fmt.Println(err)
		return
	}
	sum, err := ggufexport.Export(context.Background(), ggufexport.ExportOptions{
		Model:   "../testdata/tiny-llama", // or a Hub repo id, with ResolveHub
		OutFile: filepath.Join(dir, "tiny-llama-q8_0.gguf"),
		OutType: outType,
	})
	// One sentinel for both commands (ggufexport.ErrUnsupported is
	// convert.ErrUnsupported): a model neither converts nor exports, or
	// one without a GGUF export.
	if errors.Is(err, ggufexport.ErrUnsupported) {
		fmt.Println("cannot export this model:", err)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s, %s: %d tensors (%d exact, %d lossy) in %d file\n", sum.Arch, sum.FileType, sum.Tensors, sum.Exact, sum.Lossy, len(sum.Files))
	// Output:
	// llama, MOSTLY_Q8_0: 38 tensors (9 exact, 29 lossy) in 1 file
}
