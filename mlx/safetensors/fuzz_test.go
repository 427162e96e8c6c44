package safetensors_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// FuzzReader feeds arbitrary bytes to NewReader. Whatever parses is written
// again in both header styles, in the same data order, and read back: the
// tensors, metadata and bodies must survive, and a second rewrite must
// reproduce the first byte for byte.
func FuzzReader(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.safetensors")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 8; i++ {
		for _, style := range []safetensors.Style{safetensors.MLX, safetensors.HF} {
			var buf bytes.Buffer
			meta := map[string]string{"format": "mlx"}
			if i%2 == 0 {
				meta = nil
			}
			if err := safetensors.Encode(&buf, randomTensors(rng, i), meta, style); err != nil {
				f.Fatal(err)
			}
			f.Add(buf.Bytes())
		}
	}
	f.Add(file("{}", 0))
	f.Add(file(`{"__metadata__":{"a":"\u00e9\ud83d\ude00"},"z":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, 0))
	f.Add(file(` {"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}  `, 4))

	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := safetensors.NewReader(bytes.NewReader(b), int64(len(b)), safetensors.WithName("fuzz"))
		if err != nil {
			if !errors.Is(err, safetensors.ErrFormat) {
				t.Fatalf("non-format error from an in-memory file: %v", err)
			}
			return
		}
		var prev []byte
		for _, style := range []safetensors.Style{safetensors.MLX, safetensors.HF} {
			once := rewriteFuzz(t, r, style)
			r2, err := safetensors.NewReader(bytes.NewReader(once), int64(len(once)))
			if err != nil {
				t.Fatalf("%v: cannot read our own output: %v", style, err)
			}
			sameContents(t, r, r2, style)
			twice := rewriteFuzz(t, r2, style)
			if !bytes.Equal(once, twice) {
				t.Fatalf("%v: rewrite is not a fixpoint:\n%q\n%q", style, once, twice)
			}
			if style == safetensors.HF && len(prev) > 0 &&
				!bytes.Equal(prev[len(prev)-int(r.Size()-r.DataOffset()):], once[len(once)-int(r.Size()-r.DataOffset()):]) {
				t.Fatalf("data sections differ between styles")
			}
			prev = once
		}
	})
}

func rewriteFuzz(t *testing.T, r *safetensors.Reader, style safetensors.Style) []byte {
	var out bytes.Buffer
	w, err := safetensors.NewWriter(&out, r.Tensors(), r.Metadata(), style)
	if err != nil {
		t.Fatalf("%v: plan from a valid file rejected: %v", style, err)
	}
	for _, ti := range r.Tensors() {
		sec, err := r.Section(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		bw, err := w.Create(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(bw, sec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func sameContents(t *testing.T, a, b *safetensors.Reader, style safetensors.Style) {
	ta, tb := a.Tensors(), b.Tensors()
	if len(ta) != len(tb) {
		t.Fatalf("%v: %d tensors, want %d", style, len(tb), len(ta))
	}
	for i := range ta {
		x, y := ta[i], tb[i]
		if x.Name != y.Name || x.DType != y.DType || x.Begin != y.Begin || x.End != y.End || len(x.Shape) != len(y.Shape) {
			t.Fatalf("%v: tensor %d: %+v, want %+v", style, i, y, x)
		}
		for j := range x.Shape {
			if x.Shape[j] != y.Shape[j] {
				t.Fatalf("%v: tensor %q: shape %v, want %v", style, x.Name, y.Shape, x.Shape)
			}
		}
		bx, err1 := a.Bytes(x.Name)
		by, err2 := b.Bytes(y.Name)
		if err1 != nil || err2 != nil || !bytes.Equal(bx, by) {
			t.Fatalf("%v: tensor %q: bodies differ (%v, %v)", style, x.Name, err1, err2)
		}
	}
	ma, mb := a.Metadata(), b.Metadata()
	if style == safetensors.MLX && len(ma) == 0 {
		ma = nil // MLX writes null for empty metadata
	}
	if (ma == nil) != (mb == nil) || len(ma) != len(mb) {
		t.Fatalf("%v: metadata %v, want %v", style, mb, ma)
	}
	for k, v := range ma {
		if mb[k] != v {
			t.Fatalf("%v: metadata %q = %q, want %q", style, k, mb[k], v)
		}
	}
}
