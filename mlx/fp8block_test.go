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
