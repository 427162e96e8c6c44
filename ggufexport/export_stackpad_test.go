package ggufexport

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model/source"
)

func stackTestPart(name string, shape []int) candidate {
	return candidate{float: &source.Input{DType: mlx.BF16, Shape: shape, Op: source.OpDirect,
		Sources: []source.SourceTensor{{Name: name, DType: mlx.BF16, Shape: shape}}}}
}

func TestStackParts(t *testing.T) {
	a := &archInfo{Prefix: "model.language_model.", Stack: map[string]string{"model.altup_projections.": "altup_proj"}}
	for _, tc := range []struct {
		name    string
		parts   []string
		shapes  [][]int
		quant   int // index of an MLX-quantized part, -1 for none
		wantErr bool
	}{
		{"three parts", []string{"2", "0", "1"}, [][]int{{8, 8}, {8, 8}, {8, 8}}, -1, false},
		{"a part missing", []string{"0", "2"}, [][]int{{8, 8}, {8, 8}}, -1, true},
		{"shapes differ", []string{"0", "1"}, [][]int{{8, 8}, {4, 8}}, -1, true},
		{"one part quantized", []string{"0", "1"}, [][]int{{8, 8}, {8, 8}}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := &candidateList{arch: a}
			for i, p := range tc.parts {
				src := "model.language_model.altup_projections." + p + ".weight"
				c := stackTestPart(src, tc.shapes[i])
				if i == tc.quant {
					c = candidate{quant: &source.Module{Path: src}}
				}
				if !cl.stackPart(src, c) {
					t.Fatalf("%q is not a stack part", src)
				}
			}
			err := cl.finishStacks()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrExport) {
					t.Errorf("%v does not wrap ErrExport", err)
				}
				return
			}
			if len(cl.out) != 1 || cl.out[0].name != "altup_proj.weight" || !slices.Equal(cl.out[0].shape, []int{3, 8, 8}) {
				t.Fatalf("out %+v", cl.out)
			}
			var names []string
			for _, s := range cl.out[0].float.Sources {
				names = append(names, s.Name)
			}
			want := []string{"model.language_model.altup_projections.0.weight", "model.language_model.altup_projections.1.weight",
				"model.language_model.altup_projections.2.weight"}
			if !slices.Equal(names, want) {
				t.Errorf("stacked %v, want %v", names, want)
			}
		})
	}
	cl := &candidateList{arch: a}
	if cl.stackPart("model.language_model.altup_projections.x.weight", stackTestPart("x", []int{1})) {
		t.Error("a non-numeric part was taken")
	}
}

type writeAtBuf struct{ b []byte }

func (w *writeAtBuf) WriteAt(p []byte, off int64) (int, error) { return copy(w.b[off:], p), nil }

func TestPaddingBytes(t *testing.T) {
	// 10 rows of 4 float32 padded to 16 rows: 160 bytes read, 96 zeros.
	tt := &ExportTensor{Type: "F32", Shape: []uint64{4, 16}, pad: 10}
	if got := tt.dataBytes(256); got != 160 {
		t.Fatalf("dataBytes %d, want 160", got)
	}
	w := &writeAtBuf{b: bytes.Repeat([]byte{0xff}, 300)}
	if err := writePadding(w, tt, 20, 256); err != nil {
		t.Fatal(err)
	}
	for i, c := range w.b {
		zero := i >= 20+160 && i < 20+256
		if (c == 0) != zero {
			t.Fatalf("byte %d is %#x", i, c)
		}
	}
	if got := (&ExportTensor{Shape: []uint64{4, 16}}).dataBytes(256); got != 256 {
		t.Errorf("unpadded dataBytes %d, want 256", got)
	}
	// Q4_0: 32 elements a row (one block of 18 bytes), 3 rows of 5
	// padded: a zero block is d = -0.0 (max / -8) and 16 bytes of 0x88,
	// as gguf-py's quantize_blocks encodes it.
	tq := &ExportTensor{Type: "Q4_0", Shape: []uint64{32, 5}, pad: 3}
	w = &writeAtBuf{b: make([]byte, 90)}
	if err := writePadding(w, tq, 0, 90); err != nil {
		t.Fatal(err)
	}
	want := append(make([]byte, 54), append([]byte{0, 0x80}, bytes.Repeat([]byte{0x88}, 16)...)...)
	want = append(want, want[54:]...)
	if !bytes.Equal(w.b, want) {
		t.Errorf("Q4_0 padding % x", w.b[54:])
	}
}

func TestStackQuantizedParts(t *testing.T) {
	a := &archInfo{Stack: map[string]string{"model.altup_projections.": "altup_proj"}}
	q := mlx.QuantParams{Mode: mlx.Affine, Bits: 4, GroupSize: 64}
	part := func(i int, bits int) candidate {
		p := "model.altup_projections." + string(rune('0'+i))
		qp := q
		qp.Bits = bits
		in := func(n string, dt mlx.DType, shape []int) *source.Input {
			return &source.Input{Name: p + n, DType: dt, Shape: shape, Op: source.OpDirect,
				Sources: []source.SourceTensor{{Name: p + n, DType: dt, Shape: shape}}}
		}
		return candidate{shape: []int{8, 64}, quant: &source.Module{Path: p, Quant: &qp,
			Weight: in(".weight", mlx.U32, []int{8, 8}), Scales: in(".scales", mlx.BF16, []int{8, 1}), Biases: in(".biases", mlx.BF16, []int{8, 1})}}
	}
	cl := &candidateList{arch: a}
	for i := 0; i < 3; i++ {
		c := part(i, 4)
		cl.stackPart(c.quant.Path+".weight", c)
	}
	if err := cl.finishStacks(); err != nil {
		t.Fatal(err)
	}
	m := cl.out[0].quant
	if m == nil || !slices.Equal(cl.out[0].shape, []int{3, 8, 64}) || !slices.Equal(m.Weight.Shape, []int{3, 8, 8}) ||
		len(m.Scales.Sources) != 3 || m.Biases.Sources[2].Name != "model.altup_projections.2.biases" {
		t.Fatalf("stacked %+v", cl.out[0])
	}
	cl = &candidateList{arch: a}
	for i, bits := range []int{4, 8} {
		c := part(i, bits)
		cl.stackPart(c.quant.Path+".weight", c)
	}
	if err := cl.finishStacks(); err == nil {
		t.Error("4-bit and 8-bit parts were stacked")
	}
}
