package safetensors_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// benchPlan is a file of MLXCONV_BENCH_MB MiB (default 256) made of 4 MiB
// BF16 tensors, with one shared body.
func benchPlan(b *testing.B) ([]safetensors.TensorInfo, []byte) {
	mb := 256
	if s := os.Getenv("MLXCONV_BENCH_MB"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 4 {
			b.Fatalf("MLXCONV_BENCH_MB=%q: want an integer >= 4", s)
		}
		mb = v
	}
	body := make([]byte, 4<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	plan := make([]safetensors.TensorInfo, mb/4)
	for i := range plan {
		plan[i] = safetensors.TensorInfo{Name: fmt.Sprintf("model.layers.%d.mlp.weight", i), DType: mlx.BF16, Shape: []int{1024, 2048}}
	}
	return plan, body
}

func writeBench(w io.Writer, plan []safetensors.TensorInfo, body []byte) (int64, error) {
	sw, err := safetensors.NewWriter(w, plan, map[string]string{"format": "mlx"}, safetensors.MLX)
	if err != nil {
		return 0, err
	}
	for _, t := range plan {
		if err := sw.WriteTensor(t.Name, body); err != nil {
			return 0, err
		}
	}
	return sw.Size(), sw.Close()
}

func BenchmarkWrite(b *testing.B) {
	plan, body := benchPlan(b)
	dataLen := int64(len(plan)) * int64(len(body))
	b.Run("file", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "w.safetensors")
		b.SetBytes(dataLen)
		for b.Loop() {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := writeBench(f, plan, body); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("discard", func(b *testing.B) {
		b.SetBytes(dataLen)
		for b.Loop() {
			if _, err := writeBench(io.Discard, plan, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRead(b *testing.B) {
	plan, body := benchPlan(b)
	path := filepath.Join(b.TempDir(), "r.safetensors")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := writeBench(f, plan, body); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	dataLen := int64(len(plan)) * int64(len(body))
	buf := make([]byte, len(body))

	b.Run("Open-ReadTensor", func(b *testing.B) {
		b.SetBytes(dataLen)
		for b.Loop() {
			sf, err := safetensors.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range sf.Tensors() {
				if buf, err = sf.ReadTensor(t.Name, buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := sf.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("NewReader-ReadTensor", func(b *testing.B) {
		b.SetBytes(dataLen)
		for b.Loop() {
			osf, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			st, err := osf.Stat()
			if err != nil {
				b.Fatal(err)
			}
			r, err := safetensors.NewReader(osf, st.Size(), safetensors.WithName(path))
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range r.Tensors() {
				if buf, err = r.ReadTensor(t.Name, buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := osf.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Open-Bytes-copy", func(b *testing.B) {
		b.SetBytes(dataLen)
		for b.Loop() {
			sf, err := safetensors.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range sf.Tensors() {
				m, err := sf.Bytes(t.Name)
				if err != nil {
					b.Fatal(err)
				}
				buf = append(buf[:0], m...)
			}
			if err := sf.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("header-only", func(b *testing.B) {
		for b.Loop() {
			sf, err := safetensors.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := sf.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
