package mlx

import (
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/fparith"
)

func TestPackGroupLayout(t *testing.T) {
	seq := func(n, mod int) []uint8 {
		q := make([]uint8, n)
		for i := range q {
			q[i] = uint8(i % mod)
		}
		return q
	}
	for _, tc := range []struct {
		name string
		bits int
		q    []uint8
		want []byte
	}{
		// 0..7 at 3 bits: 0 | 1<<3 | 2<<6 | ... | 7<<21 = 0xFAC688; element 2
		// straddles bytes 0 and 1.
		{"3 bits", 3, seq(8, 8), []byte{0x88, 0xc6, 0xfa}},
		// 0..7 at 5 bits: sum k<<(5k) = 0x1CC520C410, five bytes.
		{"5 bits", 5, seq(8, 8), []byte{0x20, 0x88, 0x41, 0x8a, 0x39}},
		// 0..7 at 6 bits: two packs of 4 (3 bytes each).
		{"6 bits", 6, seq(8, 8), []byte{0x40, 0x20, 0x0c, 0x44, 0x61, 0x1c}},
		// 4 bits: element 2m is the low nibble of byte m.
		{"4 bits", 4, seq(8, 16), []byte{0x10, 0x32, 0x54, 0x76}},
		{"2 bits", 2, seq(16, 4), []byte{0xe4, 0xe4, 0xe4, 0xe4}},
		{"8 bits", 8, seq(8, 256), []byte{0, 1, 2, 3, 4, 5, 6, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]byte, len(tc.q)*tc.bits/8)
			packGroup(got, tc.q, tc.bits)
			assert.Equal(t, tc.want, got)
			back := make([]uint8, len(tc.q))
			unpackGroup(back, got, tc.bits)
			assert.Equal(t, tc.q, back)
		})
	}
}

// TestPackBitstream checks packGroup against the layout's definition:
// element i occupies bits [i*bits, (i+1)*bits) of the little-endian stream.
func TestPackBitstream(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, bits := range []int{2, 3, 4, 5, 6, 8} {
		for _, gs := range []int{16, 32, 64, 128} {
			if gs*bits%32 != 0 {
				continue
			}
			q := make([]uint8, gs)
			for i := range q {
				q[i] = uint8(r.IntN(1 << bits))
			}
			buf := make([]byte, gs*bits/8)
			packGroup(buf, q, bits)
			for i, v := range q {
				var got uint8
				for b := range bits {
					n := i*bits + b
					w := binary.LittleEndian.Uint32(buf[n/32*4:])
					got |= uint8(w>>(n%32)&1) << b
				}
				require.Equal(t, v, got, "bits %d gs %d element %d", bits, gs, i)
			}
			back := make([]uint8, gs)
			unpackGroup(back, buf, bits)
			require.Equal(t, q, back)
		}
	}
}

func TestQuantizedShapes(t *testing.T) {
	p := QuantParams{Mode: Affine, Bits: 4, GroupSize: 64}
	wq, s, err := QuantizedShapes([]int{3, 5, 256}, p)
	require.NoError(t, err)
	assert.Equal(t, []int{3, 5, 32}, wq)
	assert.Equal(t, []int{3, 5, 4}, s)

	wq, s, err = QuantizedShapes([]int{7, 96}, QuantParams{Mode: Affine, Bits: 3, GroupSize: 32})
	require.NoError(t, err)
	assert.Equal(t, []int{7, 9}, wq)
	assert.Equal(t, []int{7, 3}, s)

	wq, s, err = QuantizedShapes([]int{2, 16}, QuantParams{Mode: NVFP4, Bits: 4, GroupSize: 16})
	require.NoError(t, err)
	assert.Equal(t, []int{2, 2}, wq)
	assert.Equal(t, []int{2, 1}, s)
}

func TestQuantizeErrors(t *testing.T) {
	p := QuantParams{Mode: Affine, Bits: 4, GroupSize: 32}
	w := make([]byte, 2*64*2)
	gs := float32(1)
	for _, tc := range []struct {
		name  string
		w     []byte
		dt    DType
		shape []int
		p     QuantParams
	}{
		{"one dimension", w[:128], BF16, []int{64}, p},
		{"K not a multiple of the group", w, BF16, []int{2, 32, 2}, p},
		{"wrong byte count", w[:10], BF16, []int{2, 64}, p},
		{"negative dimension", w, BF16, []int{-2, 64}, p},
		{"integer dtype", w, U16, []int{2, 64}, p},
		{"float64", w, F64, []int{1, 32}, p},
		{"bad bits", w, BF16, []int{2, 64}, QuantParams{Mode: Affine, Bits: 7, GroupSize: 32}},
		{"bad group", w, BF16, []int{2, 64}, QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 64}},
		{"global scale on mxfp4", w, BF16, []int{2, 64}, QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32, GlobalScale: &gs}},
		{"bad rounding", w, BF16, []int{2, 64}, QuantParams{Mode: Affine, Bits: 4, GroupSize: 32, Rounding: 9}},
		{"overflowing shape", w, BF16, []int{math.MaxInt / 2, 4, 64}, p},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Quantize(tc.w, tc.dt, tc.shape, tc.p)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrQuant), "%v", err)
		})
	}
	// Pre-sized buffers of the wrong size.
	wq, sc, bi := make([]byte, 64), make([]byte, 8), make([]byte, 8)
	require.NoError(t, QuantizeInto(w, BF16, []int{2, 64}, p, wq, sc, bi))
	for _, bad := range [][3][]byte{{wq[:60], sc, bi}, {wq, sc[:6], bi}, {wq, sc, nil}} {
		err := QuantizeInto(w, BF16, []int{2, 64}, p, bad[0], bad[1], bad[2])
		assert.ErrorIs(t, err, ErrQuant)
	}
	err := QuantizeInto(w, BF16, []int{2, 64}, QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32}, wq, sc[:4], bi)
	assert.ErrorIs(t, err, ErrQuant, "biases given for mxfp4")
}

func TestDequantizeErrors(t *testing.T) {
	p := QuantParams{Mode: Affine, Bits: 4, GroupSize: 32}
	w := make([]byte, 2*64*2)
	q, err := Quantize(w, BF16, []int{2, 64}, p)
	require.NoError(t, err)
	_, err = Dequantize(q, p, Invalid)
	require.NoError(t, err)

	bad := func(mut func(q *Quantized, p *QuantParams)) error {
		q2 := q
		q2.WeightShape = append([]int(nil), q.WeightShape...)
		q2.ScaleShape = append([]int(nil), q.ScaleShape...)
		p2 := p
		mut(&q2, &p2)
		_, err := Dequantize(q2, p2, Invalid)
		return err
	}
	for name, mut := range map[string]func(q *Quantized, p *QuantParams){
		"bits mismatch":       func(q *Quantized, p *QuantParams) { p.Bits = 8 },
		"rank mismatch":       func(q *Quantized, p *QuantParams) { q.ScaleShape = []int{4} },
		"leading dims differ": func(q *Quantized, p *QuantParams) { q.ScaleShape[0] = 1 },
		"short weight":        func(q *Quantized, p *QuantParams) { q.Weight = q.Weight[:4] },
		"missing biases":      func(q *Quantized, p *QuantParams) { q.Biases = nil },
		"integer scales":      func(q *Quantized, p *QuantParams) { q.ScaleDType = U16 },
		"fp mode with bf16 scales": func(q *Quantized, p *QuantParams) {
			*p = QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32}
		},
	} {
		assert.ErrorIs(t, bad(mut), ErrQuant, name)
	}
	_, err = Dequantize(q, p, U8)
	assert.ErrorIs(t, err, ErrQuant)
	assert.ErrorIs(t, DequantizeInto(make([]byte, 3), q, p, Invalid), ErrQuant)
}

func TestDequantizedDType(t *testing.T) {
	g := float32(2)
	assert.Equal(t, F16, DequantizedDType(QuantParams{Mode: Affine}, F16, Invalid))
	assert.Equal(t, F32, DequantizedDType(QuantParams{Mode: Affine}, F16, F32))
	assert.Equal(t, BF16, DequantizedDType(QuantParams{Mode: MXFP4}, U8, Invalid))
	assert.Equal(t, F16, DequantizedDType(QuantParams{Mode: MXFP8}, U8, F16))
	assert.Equal(t, F32, DequantizedDType(QuantParams{Mode: NVFP4, GlobalScale: &g}, U8, F16))
}

// golden.json.gz holds small cases computed once by the real MLX 0.32.4 on
// the CPU (testdata/golden.py): quantize, dequantize and casts, including
// special groups (negative, zero, ties, subnormal, non-finite, raw bits).
type goldenCase struct {
	Kind        string   `json:"kind"`
	Mode        string   `json:"mode"`
	Bits        int      `json:"bits"`
	GroupSize   int      `json:"group_size"`
	DType       string   `json:"dtype"`
	GlobalScale *float32 `json:"global_scale"`
	Shape       []int    `json:"shape"`
	W           []byte   `json:"w"`
	WQ          []byte   `json:"wq"`
	Scales      []byte   `json:"scales"`
	Biases      []byte   `json:"biases"`
	Deq         []byte   `json:"deq"`
	DeqDType    string   `json:"deq_dtype"`
	From        string   `json:"from"`
	To          string   `json:"to"`
	Out         []byte   `json:"out"`
}

// The cases come from MLX on x86-64, so the test pins the x86 NaN rule: on
// every platform the kernels must then give x86's bytes, NaNs included
// (run under qemu-aarch64, this also catches arithmetic that the arm64
// compiler would fuse).
func TestGolden(t *testing.T) {
	defer fparith.SetHost(fparith.X86)()
	f, err := os.Open("testdata/golden.json.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	var golden struct {
		MLX   string       `json:"mlx"`
		Cases []goldenCase `json:"cases"`
	}
	require.NoError(t, json.NewDecoder(zr).Decode(&golden))
	require.Equal(t, "0.32.4", golden.MLX)
	require.NotEmpty(t, golden.Cases)
	for i, c := range golden.Cases {
		if c.Kind == "cast" {
			t.Run(fmt.Sprintf("%d-cast-%s-%s", i, c.From, c.To), func(t *testing.T) {
				from, err := ParseDType(c.From)
				require.NoError(t, err)
				to, err := ParseDType(c.To)
				require.NoError(t, err)
				out, err := Cast(c.W, from, to)
				require.NoError(t, err)
				assert.Equal(t, c.Out, out)
			})
			continue
		}
		t.Run(fmt.Sprintf("%d-%s-b%d-g%d-%s", i, c.Mode, c.Bits, c.GroupSize, c.DType), func(t *testing.T) {
			mode, err := ParseQuantMode(c.Mode)
			require.NoError(t, err)
			dt, err := ParseDType(c.DType)
			require.NoError(t, err)
			p := QuantParams{Mode: mode, Bits: c.Bits, GroupSize: c.GroupSize, GlobalScale: c.GlobalScale}
			q, err := Quantize(c.W, dt, c.Shape, p)
			require.NoError(t, err)
			assert.Equal(t, c.WQ, q.Weight, "packed weight")
			assert.Equal(t, c.Scales, q.Scales, "scales")
			if mode == Affine {
				assert.Equal(t, c.Biases, q.Biases, "biases")
			}
			deq, err := Dequantize(q, p, Invalid)
			require.NoError(t, err)
			assert.Equal(t, c.Deq, deq, "dequantized")
			assert.Equal(t, c.DeqDType, DequantizedDType(p, q.ScaleDType, Invalid).String())
		})
	}
}

// TestMisaligned runs the kernels on buffers that start at odd addresses,
// where the aligned fast views do not apply: results must not change.
func TestMisaligned(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	shape := []int{4, 256}
	w := randomWeight(r, 4, 256)
	buf := make([]byte, len(w)+1)
	copy(buf[1:], w)
	odd := buf[1:]
	for _, p := range allParams {
		want, err := Quantize(w, BF16, shape, p)
		require.NoError(t, err)
		got, err := Quantize(odd, BF16, shape, p)
		require.NoError(t, err)
		require.Equal(t, want, got, "%+v", p)
		d, err := Dequantize(want, p, F32)
		require.NoError(t, err)
		dst := make([]byte, len(d)+1)
		require.NoError(t, DequantizeInto(dst[1:], want, p, F32))
		require.Equal(t, d, dst[1:], "%+v", p)
	}
	f32, err := Cast(w, BF16, F32)
	require.NoError(t, err)
	dst := make([]byte, len(f32)+1)
	require.NoError(t, CastInto(dst[1:], odd, BF16, F32))
	assert.Equal(t, f32, dst[1:])
}

// FuzzDequantize feeds arbitrary shapes, parameters and buffer sizes (as a
// hostile file could declare them) to Dequantize: it must return an error
// or a buffer of the declared size, never panic.
func FuzzDequantize(f *testing.F) {
	f.Add(uint8(0), uint8(4), uint8(64), 2, 8, 2, 1, 64, 4, 4, uint8(BF16), uint8(Invalid))
	f.Add(uint8(1), uint8(4), uint8(32), 1, 4, 1, 1, 16, 1, 0, uint8(U8), uint8(F16))
	f.Add(uint8(3), uint8(8), uint8(32), 3, 8, 3, 1, 96, 3, 0, uint8(U8), uint8(F32))
	f.Add(uint8(0), uint8(3), uint8(32), 2, 3, 2, 1, 24, 4, 4, uint8(F16), uint8(BF16))
	f.Fuzz(func(t *testing.T, mode, bits, gs uint8, r0, kw, s0, ks, wlen, slen, blen int, sd, out uint8) {
		clamp := func(v int) int { return min(max(v, -1), 1<<12) }
		q := Quantized{
			Weight:      make([]byte, clamp(wlen)&0xfff),
			WeightShape: []int{clamp(r0), clamp(kw)},
			Scales:      make([]byte, clamp(slen)&0xfff),
			ScaleShape:  []int{clamp(s0), clamp(ks)},
			ScaleDType:  DType(sd),
		}
		if blen > 0 {
			q.Biases = make([]byte, clamp(blen)&0xfff)
		}
		p := QuantParams{Mode: QuantMode(mode % 5), Bits: int(bits), GroupSize: int(gs)}
		res, err := Dequantize(q, p, DType(out))
		if err != nil {
			require.ErrorIs(t, err, ErrQuant)
			return
		}
		n := q.WeightShape[0] * q.WeightShape[1] * 32 / p.Bits
		require.Len(t, res, n*DequantizedDType(p, q.ScaleDType, DType(out)).Size())
	})
}

// FuzzQuantize feeds arbitrary weights, shapes and parameters to Quantize:
// an error or well-formed outputs, never a panic; and the affine results
// dequantize back without error.
func FuzzQuantize(f *testing.F) {
	f.Add([]byte{0x80, 0x3f, 0, 0xc0}, uint8(BF16), 1, 2, uint8(0), uint8(4), uint8(32), uint8(0))
	f.Add(make([]byte, 128), uint8(F32), 1, 32, uint8(1), uint8(4), uint8(32), uint8(1))
	f.Add(make([]byte, 64), uint8(F16), 2, 16, uint8(2), uint8(4), uint8(16), uint8(0))
	f.Fuzz(func(t *testing.T, seed []byte, dt uint8, rows, k int, mode, bits, gs, rounding uint8) {
		rows, k = min(max(rows, -1), 64), min(max(k, -1), 256)
		d := DType(dt)
		w := make([]byte, max(rows*k*d.Size(), 0))
		for i := range w {
			if len(seed) > 0 {
				w[i] = seed[i%len(seed)] ^ byte(i*131)
			}
		}
		p := QuantParams{Mode: QuantMode(mode % 5), Bits: int(bits), GroupSize: int(gs), Rounding: Rounding(rounding % 3)}
		q, err := Quantize(w, d, []int{rows, k}, p)
		if err != nil {
			require.ErrorIs(t, err, ErrQuant)
			return
		}
		require.Len(t, q.Weight, rows*k*p.Bits/8)
		_, err = Dequantize(q, p, Invalid)
		require.NoError(t, err)
	})
}
