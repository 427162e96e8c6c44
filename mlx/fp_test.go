package mlx

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/fparith"
)

// The code points' decision values: every tie of the FP4 grid, both signs,
// and small values around zero.
var fp4Ties = []float32{1.5, -0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, -5, 0.1, -0.1, 6}

// TestFPHandComputed checks single groups whose codes follow from the rules
// by hand. The CPU expectations were also confirmed with MLX 0.32.4.
func TestFPHandComputed(t *testing.T) {
	// The CPU cases are x86's bytes (NaN signs, MX scales of NaN and
	// subnormal groups): pin its rule on every platform.
	defer fparith.SetHost(fparith.X86)()
	nv1344 := float32(1344)
	for _, tc := range []struct {
		name  string
		p     QuantParams
		in    []float32
		wq    []uint32
		scale []byte
	}{
		{
			// amax 6: scale 2^0 (127). CPU argmin: ties to the smaller
			// magnitude, |x| <= 0.25 to +0 (code 0).
			name: "mxfp4 ties cpu", p: QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32},
			in: group32(0, fp4Ties...), wq: []uint32{0x65432103, 0x0000700e, 0, 0}, scale: []byte{127},
		},
		{
			// Metal: round half to even, sign kept (-0.25 → 8, -0.1 → 8).
			name: "mxfp4 ties metal", p: QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32, Rounding: RoundingMetal},
			in: group32(0, fp4Ties...), wq: []uint32{0x66442283, 0x0000780e, 0, 0}, scale: []byte{127},
		},
		{
			// amax 7: 7/6 rounds up to 2^1 (128); elements halve to
			// 3.5, 1.75, -1.75, 0.75.
			name: "mxfp4 scale rounds up cpu", p: QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32},
			in: group32(0, 7, 3.5, -3.5, 1.5), wq: []uint32{0x1b35, 0, 0, 0}, scale: []byte{128},
		},
		{
			name: "mxfp4 scale rounds up metal", p: QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32, Rounding: RoundingMetal},
			in: group32(0, 7, 3.5, -3.5, 1.5), wq: []uint32{0x2c46, 0, 0, 0}, scale: []byte{128},
		},
		{
			// All zero: the CPU stores exponent 0 (127), Metal log2(0) →
			// -127 (0).
			name: "mxfp4 zeros cpu", p: QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32},
			in: group32(0), wq: []uint32{0, 0, 0, 0}, scale: []byte{127},
		},
		{
			name: "mxfp4 zeros metal", p: QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32, Rounding: RoundingMetal},
			in: group32(0), wq: []uint32{0, 0, 0, 0}, scale: []byte{0},
		},
		{
			// A NaN propagates through the CPU's max: log2 → NaN → int32
			// MinInt32, 2^MinInt32 = 0, every element divides to ±Inf or
			// NaN and maps to code 0; the byte is uint8(-2^31 + 127 in
			// float32) = 0x80.
			name: "mxfp4 NaN cpu", p: QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32},
			in: group32(2, 1, float32(math.NaN())), wq: []uint32{0, 0, 0, 0}, scale: []byte{128},
		},
		{
			// Metal's max skips the NaN: amax 3, scale 0.5 (126), elements
			// doubled: NaN → 7, 2 → 4, 4 → 6, 6 → 7.
			name: "mxfp4 NaN metal", p: QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32, Rounding: RoundingMetal},
			in: group32(0, float32(math.NaN()), 1, 2, 3), wq: []uint32{0x7647, 0, 0, 0}, scale: []byte{126},
		},
		{
			// An Inf amax encodes as 0xFF, which decodes to Inf: every
			// element is multiplied by 1/Inf = 0 (Inf*0 = NaN → 7).
			name: "mxfp4 Inf metal", p: QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32, Rounding: RoundingMetal},
			in: group32(0, float32(math.Inf(1)), 1), wq: []uint32{0x07, 0, 0, 0}, scale: []byte{0xff},
		},
		{
			// Subnormal amax: ceil(log2(1e-40/6)) = -135 clamps to -127
			// (byte 0, 2^-127); ±1e-40 * 2^127 = ±0.017 → +0 and -0.
			name: "mxfp4 subnormal metal", p: QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32, Rounding: RoundingMetal},
			in: group32(0, 1e-40, -1e-40), wq: []uint32{0x80, 0, 0, 0}, scale: []byte{0},
		},
		{
			// On the CPU the exponent wraps instead: 1e-40/6 → e = -135,
			// byte uint8(-8) = 248; ±1e-40 / 2^-135 = ±4.35 → codes 6, 14.
			name: "mxfp4 subnormal cpu", p: QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32},
			in: group32(0, 1e-40, -1e-40), wq: []uint32{0xe6, 0, 0, 0}, scale: []byte{248},
		},
		{
			// Two groups of 16, amax 6: e4m3 scale 1.0 (0x38).
			name: "nvfp4 cpu", p: QuantParams{Mode: NVFP4, Bits: 4, GroupSize: 16},
			in: group32(0, append(append(append([]float32{}, fp4Ties...), 0, 0, 0, 0), fp4Ties...)...),
			wq: []uint32{0x65432103, 0x700e, 0x65432103, 0x700e}, scale: []byte{0x38, 0x38},
		},
		{
			// Global scale 1344: enc = 2688/1344 = 2, scale 2.0 (0x40);
			// (x/2)*2 gives the same codes.
			name: "nvfp4 global scale cpu", p: QuantParams{Mode: NVFP4, Bits: 4, GroupSize: 16, GlobalScale: &nv1344},
			in: group32(0, append(append(append([]float32{}, fp4Ties...), 0, 0, 0, 0), fp4Ties...)...),
			wq: []uint32{0x65432103, 0x700e, 0x65432103, 0x700e}, scale: []byte{0x40, 0x40},
		},
		{
			name: "nvfp4 zeros metal", p: QuantParams{Mode: NVFP4, Bits: 4, GroupSize: 16, Rounding: RoundingMetal},
			in: group32(0), wq: []uint32{0, 0, 0, 0}, scale: []byte{0, 0},
		},
		{
			// amax 480: 480/448 rounds up to 2^1; elements halve and
			// convert to e4m3: 224 → 0x76, -0.5 → 0xB0, 0.25 → 0x28,
			// 1.5e-3 → 0x01, 5e-4 → 0, 240 → 0x77, 2^-10 → 0 (tie to even).
			name: "mxfp8 cpu", p: QuantParams{Mode: MXFP8, Bits: 8, GroupSize: 32},
			in: group32(0, 448, -1, 0.5, 3e-3, 1e-3, 480, 1.0/512),
			wq: []uint32{0x0128b076, 0x7700, 0, 0, 0, 0, 0, 0}, scale: []byte{128},
		},
		{
			name: "mxfp8 metal", p: QuantParams{Mode: MXFP8, Bits: 8, GroupSize: 32, Rounding: RoundingMetal},
			in: group32(0, 448, -1, 0.5, 3e-3, 1e-3, 480, 1.0/512),
			wq: []uint32{0x0128b076, 0x7700, 0, 0, 0, 0, 0, 0}, scale: []byte{128},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Quantize(f32Bytes(tc.in...), F32, []int{1, 32}, tc.p)
			require.NoError(t, err)
			assert.Equal(t, tc.wq, words(q.Weight))
			assert.Equal(t, tc.scale, q.Scales)
			assert.Equal(t, U8, q.ScaleDType)
			assert.Nil(t, q.Biases)
		})
	}
}

func TestFP4CodeRules(t *testing.T) {
	for _, tc := range []struct {
		in         float32
		cpu, metal uint8
	}{
		{0, 0, 0}, {float32(math.Copysign(0, -1)), 0, 8},
		{0.25, 0, 0}, {0.2500001, 1, 1}, {-0.25, 0, 8}, {-0.2500001, 9, 9},
		{0.75, 1, 2}, {1.25, 2, 2}, {1.75, 3, 4}, {2.5, 4, 4}, {3.5, 5, 6}, {5, 6, 6},
		{5.0000005, 7, 7}, {6, 7, 7}, {7.9, 7, 7}, {-7.9, 15, 15}, {100, 7, 7}, {-100, 15, 15},
		{float32(math.NaN()), 0, 7}, {float32(math.Inf(1)), 0, 7}, {float32(math.Inf(-1)), 0, 15},
		{1e30, 0, 7}, // every float32 distance rounds to 1e30: argmin keeps +0
	} {
		assert.Equal(t, tc.cpu, fp4CodeCPU(tc.in, F32), "cpu %v", tc.in)
		assert.Equal(t, tc.metal, fp4MetalTable[fp4Key(math.Float32bits(tc.in))], "metal %v", tc.in)
		assert.Equal(t, tc.metal, fp4CodeMetal(tc.in), "metal %v", tc.in)
	}
	// In bfloat16 arithmetic a large value is further from every code
	// point by the same rounded distance: argmin keeps the first, +0.
	assert.Equal(t, uint8(0), fp4CodeCPU(1e30, BF16))
	assert.Equal(t, uint8(7), fp4CodeCPU(9, BF16))
}

// TestFP4TablesMatchRules sweeps floats around every threshold and across
// all exponents: the key tables must agree with the literal rules.
func TestFP4TablesMatchRules(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	check := func(v float32) {
		if abs32(v) < 8 {
			require.Equal(t, fp4CodeArgmin(v, F32), fp4CodeCPU(v, F32), "%v", v)
		}
		require.Equal(t, fp4CodeMetal(v), fp4MetalTable[fp4Key(math.Float32bits(v))], "%v", v)
	}
	for _, th := range []float32{0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 6, 8} {
		for d := int32(-3); d <= 3; d++ {
			for _, s := range []float32{1, -1} {
				check(s * math.Float32frombits(uint32(int32(math.Float32bits(th))+d)))
			}
		}
	}
	for range 200000 {
		check(math.Float32frombits(r.Uint32()))
		check(float32(r.NormFloat64() * 3))
	}
}

// refFPGroup is a literal transcription of MLX's CPU fallback for one group
// (every op rounded to its dtype, argmin over all 16 code points), without
// the kernels' shortcuts.
func refFPGroup(x []float32, t DType, p QuantParams) (codes []uint8, sb uint8) {
	amax := absMaxNaN(x)
	codes = make([]uint8, len(x))
	if p.Mode == NVFP4 {
		enc := float32(1)
		if p.GlobalScale != nil {
			enc = float32(448*6) / *p.GlobalScale
		}
		s := roundTo(t, amax/6)
		sb = F32ToFP8E4M3(s * enc)
		d := roundTo(t, FP8E4M3ToF32(sb))
		for j, v := range x {
			codes[j] = fp4CodeArgmin(roundTo(t, v/d)*enc, F32)
		}
		return codes, sb
	}
	maxval := float32(6)
	if p.Mode == MXFP8 {
		maxval = 448
	}
	s := roundTo(t, amax/maxval)
	var e float32
	if s != 0 {
		e = roundTo(t, float32(fparith.Host().F32ToI32(float32(math.Ceil(math.Log2(float64(s)))))))
	}
	pw := roundTo(t, float32(math.Pow(2, float64(e))))
	// A one-group tensor: on ARM, MLX converts its only scale byte in the
	// scalar loop, through uint32.
	sb = uint8(fparith.Host().F32ToI32(roundTo(t, e+127)))
	if fparith.Host().SaturatingConv {
		sb = uint8(fparith.Host().F32ToU32(roundTo(t, e+127)))
	}
	for j, v := range x {
		w := roundTo(t, v/pw)
		if p.Mode == MXFP8 {
			codes[j] = F32ToFP8E4M3(w)
		} else {
			codes[j] = fp4CodeArgmin(w, t)
		}
	}
	return codes, sb
}

// TestFPKernelMatchesReference runs the CPU kernels' fast paths against the
// literal reference on random and special groups of every dtype.
func TestFPKernelMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	g := float32(0.37)
	modes := []QuantParams{
		{Mode: MXFP4, Bits: 4, GroupSize: 32},
		{Mode: MXFP8, Bits: 8, GroupSize: 32},
		{Mode: NVFP4, Bits: 4, GroupSize: 16},
		{Mode: NVFP4, Bits: 4, GroupSize: 16, GlobalScale: &g},
	}
	gen := func(n int, kind int) []float32 {
		x := make([]float32, n)
		scale := float32(math.Pow(10, float64(r.IntN(80)-40)))
		for i := range x {
			switch kind {
			case 0:
				x[i] = float32(r.NormFloat64()) * scale
			case 1: // exact ties of a power-of-two scale
				x[i] = fp4Values[r.IntN(16)] * float32(math.Ldexp(1, r.IntN(20)-10)) * 1.5
			case 2:
				x[i] = math.Float32frombits(r.Uint32())
			case 3:
				x[i] = float32(r.IntN(64)-32) * scale
			}
		}
		if kind == 1 {
			x[0] = 6 * float32(math.Ldexp(1, r.IntN(20)-10))
		}
		return x
	}
	for _, dt := range []DType{F32, F16, BF16} {
		for _, p := range modes {
			for it := range 3000 {
				x := gen(p.GroupSize, it%4)
				var in []byte
				switch dt {
				case F32:
					in = f32Bytes(x...)
				case BF16:
					in = bf16Bytes(x...)
				case F16:
					in = make([]byte, 2*len(x))
					for i, v := range x {
						in[2*i], in[2*i+1] = byte(F32ToF16(v)), byte(F32ToF16(v)>>8)
					}
				}
				widened := make([]float32, len(x))
				loadGroup(widened, in, dt, f16Table())
				codes, sb := refFPGroup(widened, dt, p)
				want := make([]byte, p.GroupSize*p.Bits/8)
				if p.Bits == 8 {
					copy(want, codes)
				} else {
					packGroup(want, codes, 4)
				}
				q, err := Quantize(in, dt, []int{1, p.GroupSize}, p)
				require.NoError(t, err)
				require.Equal(t, want, q.Weight, "%s %s %v", dt, p.Mode, widened)
				require.Equal(t, []byte{sb}, q.Scales, "%s %s %v", dt, p.Mode, widened)
			}
		}
	}
}

func TestFPDequantize(t *testing.T) {
	// mxfp4, scale byte 128 (2.0): codes 7, 15, 1, 0 → 12, -12, 1, 0.
	p := QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32}
	q := Quantized{
		Weight: []byte{0xf7, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, WeightShape: []int{1, 4},
		Scales: []byte{128}, ScaleShape: []int{1, 1}, ScaleDType: U8,
	}
	out, err := Dequantize(q, p, Invalid) // bfloat16 by default
	require.NoError(t, err)
	h := halves(out)
	require.Len(t, h, 32)
	assert.Equal(t, []uint16{F32ToBF16(12), F32ToBF16(-12), F32ToBF16(1), 0}, h[:4])

	// float16 output with a scale beyond float16's range: 2^(200-127)
	// is +Inf in float16, so 0 * Inf is NaN (x86's default NaN is negative).
	q.Scales = []byte{200}
	out, err = Dequantize(q, p, F16)
	require.NoError(t, err)
	h = halves(out)
	assert.Equal(t, uint16(0x7c00), h[0])
	assert.Equal(t, uint16(0xfd00)&0x7fff, h[3]&0x7fff)

	// mxfp8: byte 0x7F decodes to NaN (MLX 0.32.4), 0x38 to 1.
	p8 := QuantParams{Mode: MXFP8, Bits: 8, GroupSize: 32}
	q8 := Quantized{Weight: make([]byte, 32), WeightShape: []int{1, 8}, Scales: []byte{126}, ScaleShape: []int{1, 1}, ScaleDType: U8}
	q8.Weight[0], q8.Weight[1] = 0x38, 0x7f
	out, err = Dequantize(q8, p8, F32)
	require.NoError(t, err)
	w := words(out)
	assert.Equal(t, math.Float32bits(0.5), w[0])
	assert.Equal(t, uint32(0x7ff00000), w[1])

	// nvfp4 with a global scale: float32 output whatever is requested,
	// scale = e4m3(0x38) * 5376/2688 = 2.
	gs := float32(5376)
	pn := QuantParams{Mode: NVFP4, Bits: 4, GroupSize: 16, GlobalScale: &gs}
	qn := Quantized{Weight: []byte{0x21, 0, 0, 0, 0, 0, 0, 0}, WeightShape: []int{1, 2}, Scales: []byte{0x38}, ScaleShape: []int{1, 1}, ScaleDType: U8}
	out, err = Dequantize(qn, pn, BF16)
	require.NoError(t, err)
	require.Len(t, out, 16*4)
	assert.Equal(t, []uint32{math.Float32bits(1), math.Float32bits(2), 0}, words(out)[:3])
}
