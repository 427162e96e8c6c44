package mlx

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDequantFP8BlockChunks checks that any element range of a matrix
// dequantizes to the same bytes as the whole, and the known values of a
// few codes.
func TestDequantFP8BlockChunks(t *testing.T) {
	tests := []struct{ rows, cols, block int }{{3, 5, 2}, {130, 3, 128}, {7, 257, 128}, {1, 1, 128}}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range tests {
		w := make([]byte, tc.rows*tc.cols)
		for i := range w {
			w[i] = byte(r.IntN(256))
		}
		sr, sc := (tc.rows+tc.block-1)/tc.block, (tc.cols+tc.block-1)/tc.block
		s := make([]byte, 4*sr*sc)
		for i := 0; i < sr*sc; i++ {
			binary.LittleEndian.PutUint32(s[4*i:], math.Float32bits(r.Float32()*4))
		}
		whole := make([]byte, 2*len(w))
		if err := DequantFP8Block(whole, w, s, tc.cols, tc.block, 0); err != nil {
			t.Fatal(err)
		}
		for e0 := 0; e0 < len(w); e0 += 1 + r.IntN(len(w)) {
			e1 := e0 + r.IntN(len(w)-e0) + 1
			part := make([]byte, 2*(e1-e0))
			if err := DequantFP8Block(part, w[e0:e1], s, tc.cols, tc.block, int64(e0)); err != nil {
				t.Fatal(err)
			}
			if string(part) != string(whole[2*e0:2*e1]) {
				t.Fatalf("%v: elements [%d, %d) differ from the whole", tc, e0, e1)
			}
		}
	}
	// 0x38 is 1.0, 0xB8 -1.0, 0x7E 448, 0x7F NaN; scale 0.5.
	w := []byte{0x38, 0xb8, 0x7e, 0x7f}
	s := binary.LittleEndian.AppendUint32(nil, math.Float32bits(0.5))
	out := make([]byte, 8)
	if err := DequantFP8Block(out, w, s, 4, 128, 0); err != nil {
		t.Fatal(err)
	}
	for i, want := range []uint16{0x3f00, 0xbf00, 0x4360, 0x7fc0} {
		if got := binary.LittleEndian.Uint16(out[2*i:]); got != want {
			t.Errorf("code %#x: %#04x, want %#04x", w[i], got, want)
		}
	}
	if err := DequantFP8Block(out, w, nil, 4, 128, 0); err == nil {
		t.Error("missing scales: no error")
	}
}

// TestDequantFP8BlockF32: the float32 output is every e4m3 code times its
// block's scale, unrounded, and the bfloat16 output is that rounded.
func TestDequantFP8BlockF32(t *testing.T) {
	w := make([]byte, 256*3)
	for i := range w {
		w[i] = byte(i)
	}
	scales := []float32{0.37, 1e-3, 3e5}
	s := make([]byte, 0, 12)
	for _, v := range scales {
		s = binary.LittleEndian.AppendUint32(s, math.Float32bits(v))
	}
	f32 := make([]byte, 4*len(w))
	bf := make([]byte, 2*len(w))
	if err := DequantFP8BlockTo(f32, F32, w, s, len(w), 256, 0); err != nil {
		t.Fatal(err)
	}
	if err := DequantFP8BlockTo(bf, BF16, w, s, len(w), 256, 0); err != nil {
		t.Fatal(err)
	}
	for i, c := range w {
		want := FP8E4M3ToF32(c) * scales[i/256]
		got := math.Float32frombits(binary.LittleEndian.Uint32(f32[4*i:]))
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("code %#x block %d: %v, want %v", c, i/256, got, want)
		}
		if b := binary.LittleEndian.Uint16(bf[2*i:]); b != F32ToBF16(want) {
			t.Fatalf("code %#x block %d: bf16 %#04x, want %#04x", c, i/256, b, F32ToBF16(want))
		}
	}
	if err := DequantFP8BlockTo(f32, F16, w, s, len(w), 256, 0); err == nil {
		t.Error("float16 output: no error")
	}
}
