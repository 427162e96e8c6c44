package safetensors_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

var allDTypes = []mlx.DType{mlx.Bool, mlx.U8, mlx.U16, mlx.U32, mlx.U64, mlx.I8, mlx.I16, mlx.I32,
	mlx.I64, mlx.F16, mlx.BF16, mlx.F32, mlx.F64, mlx.F8E4M3, mlx.F8E5M2, mlx.C64}

// randomTensors builds n tensors with random dtypes, shapes (including
// scalars and empty tensors) and bodies.
func randomTensors(rng *rand.Rand, n int) []safetensors.Tensor {
	out := make([]safetensors.Tensor, n)
	for i := range out {
		dt := allDTypes[rng.IntN(len(allDTypes))]
		shape := make([]int, rng.IntN(4))
		numel := 1
		for j := range shape {
			shape[j] = rng.IntN(5)
			numel *= shape[j]
		}
		data := make([]byte, numel*dt.Size())
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		out[i] = safetensors.Tensor{
			TensorInfo: safetensors.TensorInfo{Name: fmt.Sprintf("t%d.\"w\"\n%c", i, 'A'+rng.IntN(60)), DType: dt, Shape: shape},
			Data:       data,
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	for i := 0; i < 40; i++ {
		for _, style := range []safetensors.Style{safetensors.MLX, safetensors.HF} {
			t.Run(fmt.Sprintf("%d-%v", i, style), func(t *testing.T) {
				ts := randomTensors(rng, rng.IntN(12))
				var meta map[string]string
				switch i % 3 {
				case 1:
					meta = map[string]string{}
				case 2:
					meta = map[string]string{"format": "mlx", "b\"\\": "é\x01"}
				}
				var buf bytes.Buffer
				require.NoError(t, safetensors.Encode(&buf, ts, meta, style))
				b := buf.Bytes()
				r, err := safetensors.NewReader(bytes.NewReader(b), int64(len(b)))
				require.NoError(t, err)
				if style == safetensors.HF {
					assert.Zero(t, r.HeaderLen()%8, "HF header is padded to 8")
				}
				checkContents(t, r, ts)
				wantMeta := meta
				if style == safetensors.MLX && len(meta) == 0 {
					wantMeta = nil // MLX writes null
				}
				assert.Equal(t, wantMeta, r.Metadata())

				// The same through a file, mmap-backed.
				path := filepath.Join(dir, "rt.safetensors")
				require.NoError(t, safetensors.WriteFile(path, ts, meta, style))
				disk, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.Equal(t, b, disk)
				f, err := safetensors.Open(path)
				require.NoError(t, err)
				checkContents(t, f.Reader, ts)
				require.NoError(t, f.Close())
			})
		}
	}
}

// checkContents compares a reader with the tensors written, in order.
func checkContents(t *testing.T, r *safetensors.Reader, ts []safetensors.Tensor) {
	t.Helper()
	got := r.Tensors()
	require.Len(t, got, len(ts))
	for i, ti := range got {
		// Zero-size tensors share an offset and come back by name; compare
		// by name, and check offsets are back to back in plan order.
		want := ts[slices.IndexFunc(ts, func(x safetensors.Tensor) bool { return x.Name == ti.Name })]
		assert.Equal(t, want.DType, ti.DType)
		assert.Equal(t, len(want.Shape), len(ti.Shape))
		if len(want.Shape) > 0 {
			assert.Equal(t, want.Shape, ti.Shape)
		}
		b, err := r.Bytes(ti.Name)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want.Data, b), "tensor %d %q", i, ti.Name)
	}
	var off int64
	for _, want := range ts {
		ti, ok := r.Tensor(want.Name)
		require.True(t, ok)
		assert.Equal(t, off, ti.Begin, want.Name)
		off = ti.End
	}
}

func TestLayout(t *testing.T) {
	in := []safetensors.TensorInfo{
		{Name: "b", DType: mlx.F32, Shape: []int{2, 3}, Begin: 77, End: 99},
		{Name: "a", DType: mlx.BF16, Shape: []int{}},
		{Name: "e", DType: mlx.U8, Shape: []int{0}},
		{Name: "c", DType: mlx.I64, Shape: []int{1}},
	}
	orig := slices.Clone(in)
	out, n, err := safetensors.Layout(in)
	require.NoError(t, err)
	assert.Equal(t, orig, in, "input untouched")
	assert.Equal(t, int64(24+2+0+8), n)
	want := [][2]int64{{0, 24}, {24, 26}, {26, 26}, {26, 34}}
	for i, ti := range out {
		assert.Equal(t, want[i], [2]int64{ti.Begin, ti.End}, ti.Name)
	}
	out[0].Shape[0] = 9
	assert.Equal(t, 2, in[0].Shape[0], "shapes are copied")
}

func TestPlanErrors(t *testing.T) {
	ok := safetensors.TensorInfo{Name: "ok", DType: mlx.F32, Shape: []int{1}}
	cases := []struct {
		name  string
		plan  []safetensors.TensorInfo
		meta  map[string]string
		style safetensors.Style
		msg   string
	}{
		{"duplicate", []safetensors.TensorInfo{ok, ok}, nil, safetensors.MLX, `tensor "ok": duplicate name`},
		{"reserved", []safetensors.TensorInfo{{Name: "__metadata__", DType: mlx.U8}}, nil, safetensors.MLX, "reserved"},
		{"bad utf8 name", []safetensors.TensorInfo{{Name: "a\xff", DType: mlx.U8}}, nil, safetensors.HF, "not valid UTF-8"},
		{"invalid dtype", []safetensors.TensorInfo{{Name: "x"}}, nil, safetensors.MLX, `tensor "x": invalid dtype`},
		{"out of range dtype", []safetensors.TensorInfo{{Name: "x", DType: 200}}, nil, safetensors.MLX, "invalid dtype"},
		{"negative dim", []safetensors.TensorInfo{{Name: "x", DType: mlx.U8, Shape: []int{2, -1}}}, nil, safetensors.MLX, "dimension 1 is negative"},
		{"overflow", []safetensors.TensorInfo{{Name: "x", DType: mlx.F32, Shape: []int{math.MaxInt / 2, math.MaxInt / 2, 16}}}, nil, safetensors.MLX, "overflows int64"},
		{"total overflow", []safetensors.TensorInfo{
			{Name: "x", DType: mlx.U8, Shape: []int{math.MaxInt32, math.MaxInt32, 2}},
			{Name: "y", DType: mlx.U8, Shape: []int{1 << 30, 8}}}, nil, safetensors.MLX, `tensor "y": data section overflows`},
		{"bad utf8 meta", []safetensors.TensorInfo{ok}, map[string]string{"k": "\xc3"}, safetensors.HF, "__metadata__"},
		{"no style", []safetensors.TensorInfo{ok}, nil, 0, "unknown header style"},
		{"huge header", []safetensors.TensorInfo{{Name: strings.Repeat("n", safetensors.MaxHeaderSize), DType: mlx.U8}}, nil, safetensors.MLX, "exceeds the limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := safetensors.NewWriter(&buf, tc.plan, tc.meta, tc.style)
			require.Error(t, err)
			assert.ErrorIs(t, err, safetensors.ErrPlan)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Zero(t, buf.Len(), "nothing written on a plan error")
		})
	}
}

func TestWriterMisuse(t *testing.T) {
	plan := []safetensors.TensorInfo{
		{Name: "a", DType: mlx.U8, Shape: []int{4}},
		{Name: "b", DType: mlx.U16, Shape: []int{2}},
	}
	newW := func(t *testing.T) *safetensors.Writer {
		w, err := safetensors.NewWriter(io.Discard, plan, nil, safetensors.MLX)
		require.NoError(t, err)
		return w
	}
	cases := []struct {
		name string
		run  func(w *safetensors.Writer) error
		msg  string
	}{
		{"out of order", func(w *safetensors.Writer) error { return w.WriteTensor("b", make([]byte, 4)) },
			`tensor "b": out of order, the plan's next tensor is "a"`},
		{"unknown name", func(w *safetensors.Writer) error { _, err := w.Create("zz"); return err }, "out of order"},
		{"short body", func(w *safetensors.Writer) error { return w.WriteTensor("a", make([]byte, 3)) },
			`tensor "a": body is 3 bytes, want 4`},
		{"long body", func(w *safetensors.Writer) error { return w.WriteTensor("a", make([]byte, 5)) }, "body is 5 bytes, want 4"},
		{"long streamed body", func(w *safetensors.Writer) error {
			bw, err := w.Create("a")
			if err != nil {
				return err
			}
			if _, err := bw.Write([]byte{1, 2, 3}); err != nil {
				return err
			}
			_, err = bw.Write([]byte{4, 5})
			return err
		}, `tensor "a": body exceeds its 4 bytes`},
		{"short streamed then Create", func(w *safetensors.Writer) error {
			bw, _ := w.Create("a")
			_, _ = bw.Write([]byte{1})
			_, err := w.Create("b")
			return err
		}, `tensor "a": body is 1 bytes, want 4`},
		{"short streamed then Close", func(w *safetensors.Writer) error {
			bw, _ := w.Create("a")
			_, _ = bw.Write([]byte{1, 2, 3, 4})
			bw, _ = w.Create("b")
			_, _ = bw.Write([]byte{1})
			return w.Close()
		}, `tensor "b": body is 1 bytes, want 4`},
		{"close early", func(w *safetensors.Writer) error {
			_ = w.WriteTensor("a", make([]byte, 4))
			return w.Close()
		}, `1 of 2 tensors written, next is "b"`},
		{"too many", func(w *safetensors.Writer) error {
			_ = w.WriteTensor("a", make([]byte, 4))
			_ = w.WriteTensor("b", make([]byte, 4))
			_, err := w.Create("c")
			return err
		}, "every planned tensor is already written"},
		{"stale body writer", func(w *safetensors.Writer) error {
			bw, _ := w.Create("a")
			_, _ = bw.Write(make([]byte, 4))
			_, _ = w.Create("b")
			_, err := bw.Write([]byte{1})
			return err
		}, "used after the next Create"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newW(t)
			err := tc.run(w)
			require.Error(t, err)
			assert.ErrorIs(t, err, safetensors.ErrWrite)
			assert.Contains(t, err.Error(), tc.msg)
			if !strings.Contains(tc.name, "stale") {
				assert.ErrorIs(t, w.Close(), safetensors.ErrWrite, "errors are sticky")
			}
		})
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after < len(p) {
		n := max(f.after, 0)
		f.after = 0
		return n, errors.New("disk full")
	}
	f.after -= len(p)
	return len(p), nil
}

func TestWriterIOError(t *testing.T) {
	plan := []safetensors.TensorInfo{{Name: "a", DType: mlx.U8, Shape: []int{3 << 20}}}
	w, err := safetensors.NewWriter(&failWriter{after: 100}, plan, nil, safetensors.HF)
	require.NoError(t, err)
	err = w.WriteTensor("a", make([]byte, 3<<20))
	if err == nil {
		err = w.Close()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "disk full")
	assert.Error(t, w.Close())
}

func TestWriterAccessors(t *testing.T) {
	var buf bytes.Buffer
	plan := []safetensors.TensorInfo{{Name: "x", DType: mlx.F16, Shape: []int{3}}}
	w, err := safetensors.NewWriter(&buf, plan, map[string]string{"format": "mlx"}, safetensors.MLX)
	require.NoError(t, err)
	hdr := `{"__metadata__":{"format":"mlx"},"x":{"data_offsets":[0,6],"dtype":"F16","shape":[3]}}`
	assert.Equal(t, int64(len(hdr)), w.HeaderLen())
	assert.Equal(t, 8+int64(len(hdr)), w.DataOffset())
	assert.Equal(t, 8+int64(len(hdr))+6, w.Size())
	assert.Equal(t, int64(6), w.Tensors()[0].End)
	require.NoError(t, w.WriteTensor("x", []byte{1, 2, 3, 4, 5, 6}))
	require.NoError(t, w.Close())
	assert.Equal(t, hdr, buf.String()[8:8+len(hdr)])
	assert.Equal(t, "mlx", safetensors.MLX.String())
	assert.Equal(t, "hf", safetensors.HF.String())
}

// TestHeaderStyles pins the two header layouts on one small plan. The MLX
// string is what mx.save_safetensors 0.32.4 wrote for these tensors and
// this data order; the HF string is what safetensors 0.8.0 wrote.
func TestHeaderStyles(t *testing.T) {
	plan, _, err := safetensors.Layout([]safetensors.TensorInfo{
		{Name: "0", DType: mlx.F32, Shape: []int{1}},
		{Name: "__z", DType: mlx.F32, Shape: []int{1}},
		{Name: "_", DType: mlx.F32, Shape: []int{1}},
		{Name: "a", DType: mlx.F32, Shape: []int{1}},
		{Name: "B", DType: mlx.F32, Shape: []int{1}},
	})
	require.NoError(t, err)
	got, err := safetensors.Header(plan, map[string]string{"format": "mlx"}, safetensors.MLX)
	require.NoError(t, err)
	assert.Equal(t, `{"0":{"data_offsets":[0,4],"dtype":"F32","shape":[1]},"B":{"data_offsets":[16,20],"dtype":"F32","shape":[1]},"_":{"data_offsets":[8,12],"dtype":"F32","shape":[1]},"__metadata__":{"format":"mlx"},"__z":{"data_offsets":[4,8],"dtype":"F32","shape":[1]},"a":{"data_offsets":[12,16],"dtype":"F32","shape":[1]}}`, string(got))

	plan, _, err = safetensors.Layout([]safetensors.TensorInfo{
		{Name: "a\x1f\x7f\u2028", DType: mlx.F32, Shape: []int{0, 3}},
	})
	require.NoError(t, err)
	got, err = safetensors.Header(plan, nil, safetensors.MLX)
	require.NoError(t, err)
	assert.Equal(t, "{\"__metadata__\":null,\"a\\u001f\x7f\u2028\":{\"data_offsets\":[0,0],\"dtype\":\"F32\",\"shape\":[0,3]}}", string(got))
	got, err = safetensors.Header(plan, nil, safetensors.HF)
	require.NoError(t, err)
	assert.Equal(t, "{\"a\\u001f\x7f\u2028\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}}      ", string(got))
	got, err = safetensors.Header(plan, map[string]string{}, safetensors.HF)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(got), `{"__metadata__":{},"a`))
}

// TestHFPaddingSweep checks the padding on every header length modulo 8,
// including the already-aligned case (no padding added).
func TestHFPaddingSweep(t *testing.T) {
	seen := map[int]bool{}
	for n := 1; n <= 16; n++ {
		plan, _, err := safetensors.Layout([]safetensors.TensorInfo{{Name: strings.Repeat("x", n), DType: mlx.U8, Shape: []int{}}})
		require.NoError(t, err)
		mlxHdr, err := safetensors.Header(plan, nil, safetensors.MLX)
		require.NoError(t, err)
		hf, err := safetensors.Header(plan, nil, safetensors.HF)
		require.NoError(t, err)
		raw := strings.TrimRight(string(hf), " ")
		assert.Zero(t, len(hf)%8)
		assert.Less(t, len(hf)-len(raw), 8)
		seen[len(raw)%8] = true
		assert.NotContains(t, string(mlxHdr), " ", "MLX style has no padding")
	}
	assert.Len(t, seen, 8, "all residues covered")
}

func TestCompareHF(t *testing.T) {
	for d := mlx.DType(1); d.Valid(); d++ {
		require.Contains(t, allDTypes, d, "new dtype: add it to hfRank and allDTypes")
	}
	var ts []safetensors.TensorInfo
	for _, dt := range allDTypes {
		ts = append(ts, safetensors.TensorInfo{Name: "b" + dt.SafetensorsName(), DType: dt},
			safetensors.TensorInfo{Name: "a" + dt.SafetensorsName(), DType: dt})
	}
	slices.SortFunc(ts, safetensors.CompareHF)
	var got []string
	for i := 0; i < len(ts); i += 2 {
		assert.Less(t, ts[i].Name, ts[i+1].Name)
		got = append(got, ts[i].DType.SafetensorsName())
	}
	assert.Equal(t, []string{"U64", "I64", "F64", "C64", "F32", "U32", "I32", "BF16", "F16", "U16", "I16",
		"F8_E4M3", "F8_E5M2", "I8", "U8", "BOOL"}, got)
}

func TestWriteFileRemovesOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	err := safetensors.WriteFile(path, []safetensors.Tensor{{TensorInfo: safetensors.TensorInfo{Name: "a", DType: mlx.U8, Shape: []int{2}}, Data: []byte{1}}}, nil, safetensors.MLX)
	assert.ErrorIs(t, err, safetensors.ErrWrite)
	_, statErr := os.Stat(path)
	assert.ErrorIs(t, statErr, os.ErrNotExist)
}
