package kquant_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/gguf/kquant"
)

func TestTraitsMatchGGUF(t *testing.T) {
	require.Len(t, kquant.Types(), 14)
	for _, typ := range kquant.Types() {
		assert.Equal(t, int(typ.BlockSize()), kquant.BlockSize(typ), "%s block size", typ)
		assert.Equal(t, int(typ.TypeSize()), kquant.TypeSize(typ), "%s type size", typ)
	}
	assert.False(t, kquant.Supported(gguf.IQ2_XXS))
	assert.Zero(t, kquant.BlockSize(gguf.F16))
}

// testRows returns nrows*ncols deterministic values of mixed scale, with an
// all-zero row 1 and a constant row 2 when there are enough rows.
func testRows(nrows, ncols int) []float32 {
	x := make([]float32, nrows*ncols)
	for i := range x {
		r, c := i/ncols, i%ncols
		switch r {
		case 1:
			continue
		case 2:
			x[i] = -0.75
		default:
			x[i] = float32(math.Sin(float64(i)*0.7)*math.Exp(math.Cos(float64(c)*1.3)*2)) * 0.05
		}
	}
	return x
}

func testImatrix(ncols int) []float32 {
	w := make([]float32, ncols)
	for i := range w {
		if i%7 != 3 {
			w[i] = float32(1 + math.Sin(float64(i)))
		}
	}
	return w
}

// TestGolden pins the bytes of every type, without and with an importance
// matrix, on testRows(4, 512): the hashes are those of ggml's own output
// for these rows (see goldenHashes). They catch a regression where the oracle does not run, notably
// on linux/arm64 under qemu (./build.sh test), where a fused multiply-add
// would change them.
func TestGolden(t *testing.T) {
	golden := goldenHashes
	x := testRows(4, 512)
	for _, typ := range kquant.Types() {
		for _, im := range []struct {
			name string
			w    []float32
		}{{"plain", nil}, {"imatrix", testImatrix(512)}} {
			rs, err := kquant.RowSize(typ, 512)
			require.NoError(t, err)
			dst := make([]byte, 4*rs)
			require.NoError(t, kquant.Quantize(typ, dst, x, 4, 512, im.w))
			sum := sha256.Sum256(dst)
			key := typ.String() + "/" + im.name
			assert.Equal(t, golden[key], hex.EncodeToString(sum[:8]), key)
		}
	}
}

// goldenHashes: the first 8 bytes of the sha256 of ggml_quantize_chunk's
// output for the same rows (computed with scripts/oracle's mlxconv-kquant).
var goldenHashes = map[string]string{
	"Q4_0/plain":     "bb4e35a3b2aad9f9",
	"Q4_0/imatrix":   "4ca813b2a6efdb68",
	"Q4_1/plain":     "e52bb36c678bb119",
	"Q4_1/imatrix":   "5f3f4799c0a7f3f5",
	"Q5_0/plain":     "fd14b9d331c32bd0",
	"Q5_0/imatrix":   "88f1b57ad4ee3eea",
	"Q5_1/plain":     "1e58cf59548c4ac3",
	"Q5_1/imatrix":   "350289f8efdc3d86",
	"Q8_0/plain":     "afce9d700bc32c2f",
	"Q8_0/imatrix":   "afce9d700bc32c2f",
	"Q2_K/plain":     "197d9bb3be7c90a3",
	"Q2_K/imatrix":   "055fd5c985828276",
	"Q3_K/plain":     "190352e1461349b2",
	"Q3_K/imatrix":   "8a4adbed7ad5e7ed",
	"Q4_K/plain":     "7eb47f13ec58da4e",
	"Q4_K/imatrix":   "b3348ce93ca25685",
	"Q5_K/plain":     "95381cd119b18479",
	"Q5_K/imatrix":   "42e6a97e58b9c61c",
	"Q6_K/plain":     "456526e68d9f59d6",
	"Q6_K/imatrix":   "158f36de4640515a",
	"IQ4_NL/plain":   "e20d55aed55fb940",
	"IQ4_NL/imatrix": "f83be0e9d00a1360",
	"IQ4_XS/plain":   "4b8fa03d4c99ffc5",
	"IQ4_XS/imatrix": "2e908023b1845be8",
	"TQ1_0/plain":    "934ec2e72731bd05",
	"TQ1_0/imatrix":  "934ec2e72731bd05",
	"TQ2_0/plain":    "30c4e8820529cf6e",
	"TQ2_0/imatrix":  "30c4e8820529cf6e",
}

// TestRoundTrip checks that dequantized values stay near the input: the
// RMS error relative to the RMS value, per type, below a bound that each
// type meets with a margin.
func TestRoundTrip(t *testing.T) {
	bound := map[gguf.Type]float64{
		gguf.Q2_K: 0.45, gguf.Q3_K: 0.25, gguf.Q4_K: 0.12, gguf.Q5_K: 0.06, gguf.Q6_K: 0.03,
		gguf.IQ4_NL: 0.12, gguf.IQ4_XS: 0.12, gguf.Q4_0: 0.15, gguf.Q4_1: 0.12, gguf.Q5_0: 0.08,
		gguf.Q5_1: 0.06, gguf.Q8_0: 0.01, gguf.TQ1_0: 1, gguf.TQ2_0: 1, // ternary: a sanity bound
	}
	x := testRows(1, 1024)
	for _, typ := range kquant.Types() {
		for _, w := range [][]float32{nil, testImatrix(1024)} {
			rs, _ := kquant.RowSize(typ, 1024)
			q := make([]byte, rs)
			require.NoError(t, kquant.Quantize(typ, q, x, 1, 1024, w))
			y := make([]float32, 1024)
			n, err := kquant.Dequantize(typ, y, q)
			require.NoError(t, err)
			require.Equal(t, 1024, n)
			var se, ss float64
			for i := range x {
				se += math.Pow(float64(y[i]-x[i]), 2)
				ss += math.Pow(float64(x[i]), 2)
			}
			rel := math.Sqrt(se / ss)
			assert.Less(t, rel, bound[typ], "%s (imatrix %v): relative RMS error", typ, w != nil)
		}
	}
}

func TestQuantizeParallel(t *testing.T) {
	x := testRows(7, 512)
	w := testImatrix(512)
	for _, typ := range kquant.Types() {
		rs, _ := kquant.RowSize(typ, 512)
		want := make([]byte, 7*rs)
		require.NoError(t, kquant.Quantize(typ, want, x, 7, 512, w))
		for _, workers := range []int{0, 1, 2, 3, 7, 16} {
			got := make([]byte, 7*rs)
			require.NoError(t, kquant.QuantizeParallel(typ, got, x, 7, 512, w, workers))
			require.Equal(t, want, got, "%s, %d workers", typ, workers)
		}
	}
	bad := append([]float32(nil), x...)
	bad[6*512+5] = float32(math.NaN())
	err := kquant.QuantizeParallel(gguf.Q4_K, make([]byte, 7*288), bad, 7, 512, nil, 3)
	assert.ErrorIs(t, err, kquant.ErrNonFinite)
}

func TestZeroRows(t *testing.T) {
	for _, typ := range kquant.Types() {
		bs := kquant.BlockSize(typ)
		q := make([]byte, kquant.TypeSize(typ))
		for i := range q {
			q[i] = 0xa5 // every byte must be written
		}
		require.NoError(t, kquant.Quantize(typ, q, make([]float32, bs), 1, bs, nil))
		y := make([]float32, bs)
		_, err := kquant.Dequantize(typ, y, q)
		require.NoError(t, err)
		for i, v := range y {
			require.Zero(t, v, "%s value %d", typ, i)
		}
	}
}

func TestErrors(t *testing.T) {
	x := make([]float32, 512)
	dst := make([]byte, 1024)
	for _, c := range []struct {
		name    string
		typ     gguf.Type
		src     []float32
		dst     []byte
		nrows   int
		ncols   int
		imatrix []float32
		want    error
	}{
		{"unsupported", gguf.F16, x, dst, 1, 256, nil, kquant.ErrUnsupported},
		{"removed", gguf.Type(4), x, dst, 1, 256, nil, kquant.ErrUnsupported},
		{"row not whole blocks", gguf.Q4_K, x, dst, 1, 255, nil, kquant.ErrInvalid},
		{"row of 32 for a K-quant", gguf.Q6_K, x, dst, 1, 32, nil, kquant.ErrInvalid},
		{"negative rows", gguf.Q4_K, x, dst, -1, 256, nil, kquant.ErrInvalid},
		{"short src", gguf.Q4_K, x, dst, 3, 256, nil, kquant.ErrInvalid},
		{"short dst", gguf.Q8_0, x, dst[:33], 1, 32, nil, kquant.ErrInvalid},
		{"imatrix length", gguf.Q4_K, x, dst, 1, 256, make([]float32, 255), kquant.ErrInvalid},
		{"NaN", gguf.Q4_K, append([]float32{float32(math.NaN())}, x[1:]...), dst, 1, 256, nil, kquant.ErrNonFinite},
		{"Inf", gguf.IQ4_NL, append([]float32{float32(math.Inf(-1))}, x[1:]...), dst, 1, 32, nil, kquant.ErrNonFinite},
		{"Inf in imatrix", gguf.Q3_K, x, dst, 1, 256, append([]float32{float32(math.Inf(1))}, x[1:256]...), kquant.ErrNonFinite},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := kquant.Quantize(c.typ, c.dst, c.src, c.nrows, c.ncols, c.imatrix)
			assert.True(t, errors.Is(err, c.want), "got %v", err)
		})
	}
	_, err := kquant.Dequantize(gguf.Q4_K, make([]float32, 256), make([]byte, 143))
	assert.ErrorIs(t, err, kquant.ErrInvalid)
	_, err = kquant.Dequantize(gguf.Q4_K, make([]float32, 255), make([]byte, 144))
	assert.ErrorIs(t, err, kquant.ErrInvalid)
	_, err = kquant.Dequantize(gguf.BF16, nil, nil)
	assert.ErrorIs(t, err, kquant.ErrUnsupported)
}

// FuzzDequantize feeds hostile bytes to every dequantizer: it must not
// panic, must fill whole blocks, and must be deterministic.
func FuzzDequantize(f *testing.F) {
	f.Add(make([]byte, 256))
	f.Add([]byte{0x00, 0x7c, 0xff, 0xfc, 0x01, 0x7e})
	q := make([]byte, 144)
	_ = kquant.Quantize(gguf.Q4_K, q, testRows(1, 256), 1, 256, nil)
	f.Add(q)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range kquant.Types() {
			ts, bs := kquant.TypeSize(typ), kquant.BlockSize(typ)
			src := b[:len(b)/ts*ts]
			y1 := make([]float32, len(src)/ts*bs)
			n, err := kquant.Dequantize(typ, y1, src)
			require.NoError(t, err)
			require.Equal(t, len(y1), n)
			y2 := make([]float32, len(y1))
			_, _ = kquant.Dequantize(typ, y2, src)
			for i := range y1 {
				require.Equal(t, math.Float32bits(y1[i]), math.Float32bits(y2[i]))
			}
		}
	})
}

// FuzzQuantize quantizes arbitrary finite float32 rows: no panic, every
// byte of the row written identically twice, and the dequantized values of
// a row within fp16 range finite.
func FuzzQuantize(f *testing.F) {
	f.Add(make([]byte, 1024), false)
	f.Add([]byte{0, 0, 0x80, 0x7f, 1, 0, 0, 0, 0xff, 0xff, 0x7f, 0xff}, true)
	f.Fuzz(func(t *testing.T, b []byte, useImatrix bool) {
		x := make([]float32, 256)
		for i := range x {
			if 4*i+4 <= len(b) {
				x[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
			}
			if math.IsNaN(float64(x[i])) || math.IsInf(float64(x[i]), 0) {
				x[i] = 0
			}
		}
		var w []float32
		if useImatrix {
			w = make([]float32, 256)
			for i := range w {
				w[i] = float32(math.Abs(float64(x[(i*37)%256]))) // arbitrary, finite
			}
		}
		for _, typ := range kquant.Types() {
			rs, _ := kquant.RowSize(typ, 256)
			q1, q2 := make([]byte, rs), make([]byte, rs)
			require.NoError(t, kquant.Quantize(typ, q1, x, 1, 256, w))
			require.NoError(t, kquant.Quantize(typ, q2, x, 1, 256, w))
			require.Equal(t, q1, q2, "%s", typ)
		}
	})
}

func BenchmarkQuantize(b *testing.B) {
	const nrows, ncols = 16, 4096
	x := testRows(nrows, ncols)
	for _, typ := range []gguf.Type{gguf.Q4_K, gguf.Q5_K, gguf.Q6_K, gguf.Q3_K, gguf.Q2_K, gguf.IQ4_XS, gguf.Q8_0} {
		for _, w := range [][]float32{nil, testImatrix(ncols)} {
			name := typ.String()
			if w != nil {
				name += "/imatrix"
			}
			b.Run(name, func(b *testing.B) {
				rs, _ := kquant.RowSize(typ, ncols)
				dst := make([]byte, nrows*rs)
				b.SetBytes(int64(4 * len(x))) // float32 input bytes
				for b.Loop() {
					_ = kquant.Quantize(typ, dst, x, nrows, ncols, w)
				}
			})
			b.Run(name+"/parallel", func(b *testing.B) {
				rs, _ := kquant.RowSize(typ, ncols)
				dst := make([]byte, nrows*rs)
				b.SetBytes(int64(4 * len(x)))
				for b.Loop() {
					_ = kquant.QuantizeParallel(typ, dst, x, nrows, ncols, w, 0)
				}
			})
		}
	}
}
