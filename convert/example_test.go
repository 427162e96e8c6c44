package convert_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mlxconv/mlxconv/convert"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/pipeline"
)

// ExampleRun converts a small llama checkpoint to a 4-bit MLX model, as
// `mlxconv convert --hf-path tiny-llama --mlx-path tiny-llama-4bit -q`,
// reporting progress and cancelling through the context.
func ExampleRun() {
	out, err := os.MkdirTemp("", "mlxconv-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(out)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // cancelling (e.g. on SIGINT) stops Run and leaves nothing behind
	var written int
	sum, err := convert.Run(ctx, convert.Options{
		HFPath:   "../testdata/tiny-llama", // or a Hub repo id, with ResolveHub
		MLXPath:  filepath.Join(out, "tiny-llama-4bit"),
		Quantize: true,       // -q: 4 bits, group 64
		QMode:    mlx.Affine, // the zero value; mlx.ParseQuantMode("mxfp4") for others
		Progress: func(p pipeline.Progress) {
			if p.Stage == pipeline.StageDone {
				written = p.TensorsDone
			}
		},
	})
	if errors.Is(err, convert.ErrUnsupported) {
		fmt.Println("cannot convert this model:", err)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s (%s): %d tensors written\n", sum.ModelType, sum.Quantization, written)
	// Output:
	// llama (affine 4-bit, group 64): 96 tensors written
}

// ExampleParseRecipe maps a command-line value to the typed option.
func ExampleParseRecipe() {
	r, err := convert.ParseRecipe("mixed_3_6")
	fmt.Println(r, err)
	_, err = convert.ParseRecipe("mixed_9_9")
	fmt.Println(errors.Is(err, convert.ErrOptions))
	// Output:
	// mixed_3_6 <nil>
	// true
}
