package safetensors_test

import (
	"bytes"
	"fmt"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// Plan the tensors, stream the bodies, then read the file back lazily.
func Example() {
	plan := []safetensors.TensorInfo{
		{Name: "model.norm.weight", DType: mlx.F16, Shape: []int{2}},
		{Name: "lm_head.weight", DType: mlx.U8, Shape: []int{2, 2}},
	}
	var buf bytes.Buffer
	w, err := safetensors.NewWriter(&buf, plan, map[string]string{"format": "mlx"}, safetensors.MLX)
	if err != nil {
		panic(err)
	}
	// Bodies go in plan order; each must have exactly its planned size.
	if err := w.WriteTensor("model.norm.weight", []byte{0x00, 0x3c, 0x00, 0xbc}); err != nil {
		panic(err)
	}
	if err := w.WriteTensor("lm_head.weight", []byte{1, 2, 3, 4}); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	file := buf.Bytes()
	fmt.Printf("%s\n", file[8:w.DataOffset()])

	r, err := safetensors.NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		panic(err)
	}
	for _, t := range r.Tensors() {
		body, _ := r.Bytes(t.Name)
		fmt.Println(t.Name, t.DType.SafetensorsName(), t.Shape, t.Begin, t.End, body)
	}
	fmt.Println(r.Metadata())
	// Output:
	// {"__metadata__":{"format":"mlx"},"lm_head.weight":{"data_offsets":[4,8],"dtype":"U8","shape":[2,2]},"model.norm.weight":{"data_offsets":[0,4],"dtype":"F16","shape":[2]}}
	// model.norm.weight F16 [2] 0 4 [0 60 0 188]
	// lm_head.weight U8 [2 2] 4 8 [1 2 3 4]
	// map[format:mlx]
}

// A corrupt header is rejected with an error naming the file and tensor.
func ExampleNewReader_error() {
	hdr := `{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`
	file := append([]byte{byte(len(hdr)), 0, 0, 0, 0, 0, 0, 0}, hdr...)
	file = append(file, make([]byte, 8)...)
	_, err := safetensors.NewReader(bytes.NewReader(file), int64(len(file)), safetensors.WithName("model.safetensors"))
	fmt.Println(err)
	// Output:
	// safetensors: model.safetensors: tensor "w": data_offsets [0,8] hold 8 bytes, shape [3] of F32 needs 12
}
