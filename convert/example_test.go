package convert

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// ExampleRun converts a small generated llama checkpoint to a 4-bit MLX
// model, as `mlxconv convert --hf-path tiny-llama --mlx-path tiny-llama-4bit -q`.
func ExampleRun() {
	dir, err := os.MkdirTemp("", "mlxconv-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "tiny-llama")
	if err := writeModelErr(in, modelLlama()); err != nil {
		fmt.Println(err)
		return
	}

	sum, err := Run(context.Background(), Options{
		HFPath:   in,
		MLXPath:  filepath.Join(dir, "tiny-llama-4bit"),
		Quantize: true, // -q: affine, 4 bits, group 64
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s (%s): %d tensors in %d shard, %d bytes\n", sum.ModelType, sum.Quantization, sum.Tensors, sum.Shards, sum.TotalSize)
	fmt.Printf("%d parameters, %.3f bits per weight\n", sum.TotalParameters, sum.BitsPerWeight)
	files, _ := os.ReadDir(sum.Output)
	for _, f := range files {
		fmt.Println(f.Name())
	}
	// Output:
	// llama (affine 4-bit, group 64): 96 tensors in 1 shard, 87552 bytes
	// 154176 parameters, 4.543 bits per weight
	// README.md
	// chat_template.jinja
	// config.json
	// generation_config.json
	// model.safetensors
	// model.safetensors.index.json
	// tokenizer.json
	// tokenizer_config.json
}
