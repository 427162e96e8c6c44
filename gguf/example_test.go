package gguf_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/mlxconv/mlxconv/gguf"
)

// Example plans a small file, streams it to a buffer, quantizing one tensor
// to Q8_0, and reads it back.
func Example() {
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: gguf.NewValue("llama")},
		{Key: "llama.context_length", Value: gguf.NewValue[uint32](4096)},
		{Key: "tokenizer.ggml.tokens", Value: gguf.NewValue([]string{"<unk>", "<s>", "</s>"})},
	}
	tensors := []gguf.TensorInfo{
		{Name: "output_norm.weight", Type: gguf.F32, Shape: []uint64{64}},
		{Name: "output.weight", Type: gguf.Q8_0, Shape: []uint64{64, 2}}, // ggml order: 2 rows of 64
	}
	plan, err := gguf.NewPlan(kvs, tensors)
	if err != nil {
		log.Fatal(err)
	}

	var buf bytes.Buffer
	w, err := gguf.NewWriter(&buf, plan)
	if err != nil {
		log.Fatal(err)
	}
	ones := make([]float32, 64)
	for i := range ones {
		ones[i] = 1
	}
	norm, _ := gguf.AppendQuantize(nil, gguf.F32, ones)
	if err := w.WriteTensor("output_norm.weight", norm); err != nil {
		log.Fatal(err)
	}
	x := make([]float32, 128)
	for i := range x {
		x[i] = float32(i%64) / 64
	}
	q8, err := gguf.AppendQuantize(nil, gguf.Q8_0, x)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.WriteTensor("output.weight", q8); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	f, err := gguf.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		log.Fatal(err)
	}
	ctx, _ := gguf.Get[uint32](f, "llama.context_length")
	fmt.Println("context length:", ctx)
	for _, t := range f.Tensors {
		fmt.Printf("%s %s %v %d bytes at %d\n", t.Name, t.Type, t.Shape, t.Size, f.DataOffset+int64(t.Offset))
	}
	fmt.Println("file size:", buf.Len())
	// Output:
	// context length: 4096
	// output_norm.weight F32 [64] 256 bytes at 320
	// output.weight Q8_0 [64 2] 136 bytes at 576
	// file size: 736
}
