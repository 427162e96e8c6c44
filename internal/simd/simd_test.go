package simd_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/simd"
	"github.com/mlxconv/mlxconv/mlx"
)

// TestDetect checks the feature detection against the kernel's view of the
// CPU: on a Linux amd64 machine whose flags list avx2 and f16c the vector
// kernels must be on (otherwise every test below would only prove that the
// fallbacks report false).
func TestDetect(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("detection is cross-checked on linux/amd64 only (%s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	if !simd.AsmBuilt {
		require.False(t, simd.Enabled, "a build without vector kernels")
		return
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	require.NoError(t, err)
	var flags []string
	for line := range strings.SplitSeq(string(info), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			flags = strings.Fields(v)
			break
		}
	}
	has := func(f string) bool {
		for _, g := range flags {
			if g == f {
				return true
			}
		}
		return false
	}
	require.Equal(t, has("avx2") && has("f16c") && has("avx"), simd.Enabled, "cpu flags %v", flags)
}

func needVector(t *testing.T) {
	t.Helper()
	if !simd.Enabled {
		t.Skip("no vector kernels on this CPU")
	}
}

// all16 returns every 16-bit pattern.
func all16() []uint16 {
	s := make([]uint16, 1<<16)
	for i := range s {
		s[i] = uint16(i)
	}
	return s
}

func TestWidenExhaustive(t *testing.T) {
	needVector(t)
	src := all16()
	dst := make([]float32, len(src))
	sb := make([]byte, 2*len(src)+1)[1:] // not 2-aligned
	for i, h := range src {
		binary.LittleEndian.PutUint16(sb[2*i:], h)
	}
	require.True(t, simd.WidenBF16(dst, sb))
	for i, h := range src {
		require.Equal(t, math.Float32bits(mlx.BF16ToF32(h)), math.Float32bits(dst[i]), "bf16 %#04x", h)
	}
	require.True(t, simd.WidenF16(dst, sb))
	for i, h := range src {
		want := mlx.F16ToF32(h)
		if want != want {
			require.True(t, dst[i] != dst[i], "f16 %#04x: want NaN, got %v", h, dst[i])
			continue
		}
		require.Equal(t, math.Float32bits(want), math.Float32bits(dst[i]), "f16 %#04x", h)
	}
}

func TestBF16ToF16Exhaustive(t *testing.T) {
	needVector(t)
	src := all16()
	dst := make([]uint16, len(src))
	// Through byte slices that are not 2-aligned.
	sb, db := make([]byte, 2*len(src)+1)[1:], make([]byte, 2*len(src)+1)[1:]
	for i, h := range src {
		binary.LittleEndian.PutUint16(sb[2*i:], h)
	}
	ok, nan := simd.BF16ToF16(db, sb)
	require.True(t, ok)
	require.True(t, nan)
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint16(db[2*i:])
	}
	for i, h := range src {
		f := mlx.BF16ToF32(h)
		if f != f {
			// Some float16 NaN with the same sign.
			require.Equal(t, uint16(0x7c00), dst[i]&0x7c00, "bf16 %#04x -> %#04x", h, dst[i])
			require.NotZero(t, dst[i]&0x3ff, "bf16 %#04x -> %#04x", h, dst[i])
			require.Equal(t, h&0x8000, dst[i]&0x8000, "bf16 %#04x", h)
			continue
		}
		require.Equal(t, mlx.F32ToF16(f), dst[i], "bf16 %#04x", h)
	}
	// The NaN flag: one NaN anywhere in a block of otherwise finite values.
	for pos := range 48 {
		s := make([]byte, 96)
		for i := range 48 {
			binary.LittleEndian.PutUint16(s[2*i:], 0x3f80+uint16(i)) // finite
		}
		ok, nan := simd.BF16ToF16(make([]byte, 96), s)
		require.True(t, ok)
		require.False(t, nan)
		for _, n := range []uint16{0x7f81, 0xffc0, 0x7fff} {
			binary.LittleEndian.PutUint16(s[2*pos:], n)
			ok, nan = simd.BF16ToF16(make([]byte, 96), s)
			require.True(t, ok)
			require.True(t, nan, "NaN %#04x at %d", n, pos)
		}
		binary.LittleEndian.PutUint16(s[2*pos:], 0x7f80) // +Inf is no NaN
		_, nan = simd.BF16ToF16(make([]byte, 96), s)
		require.False(t, nan)
	}
}

func TestRejectsShapes(t *testing.T) {
	needVector(t)
	require.False(t, simd.WidenBF16(make([]float32, 15), make([]byte, 30)))
	require.False(t, simd.WidenBF16(make([]float32, 32), make([]byte, 32)))
	require.False(t, simd.GroupMinMax(make([]float32, 64), 16, make([]float32, 4), make([]float32, 4)))
	require.False(t, simd.GroupMinMax(make([]float32, 64), 64, nil, make([]float32, 1)))
	require.False(t, simd.AffineQ4(make([]byte, 31), make([]float32, 64), 64, []float32{1}, []float32{0}))
	require.False(t, simd.AffineQ8(make([]byte, 64), make([]float32, 96), 64, []float32{1}, []float32{0}, 15))
	ok, _ := simd.BF16ToF16(make([]byte, 16), make([]byte, 16))
	require.False(t, ok)
	// Empty input is fine.
	require.True(t, simd.GroupMinMax(nil, 64, nil, nil))
}

// special holds values that stress min, max and the quotient.
var special = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 1.5, 2.5,
	math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 1e-40, math.MaxFloat32, -math.MaxFloat32,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
}

func randGroup(r *rand.Rand, x []float32) {
	scale := math.Pow(10, float64(r.IntN(12)-8))
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	switch r.IntN(4) {
	case 0: // a few specials
		for range 1 + r.IntN(3) {
			x[r.IntN(len(x))] = special[r.IntN(len(special))]
		}
	case 1: // all one value
		v := special[r.IntN(len(special))]
		for i := range x {
			x[i] = v
		}
	}
}

func TestGroupMinMax(t *testing.T) {
	needVector(t)
	r := rand.New(rand.NewPCG(7, 7))
	for _, gs := range []int{32, 64, 96, 128} {
		for range 200 {
			n := 1 + r.IntN(9)
			x := make([]float32, n*gs)
			for g := range n {
				randGroup(r, x[g*gs:(g+1)*gs])
			}
			lo, hi := make([]float32, n), make([]float32, n)
			require.True(t, simd.GroupMinMax(x, gs, lo, hi))
			for g := range n {
				grp := x[g*gs : (g+1)*gs]
				wl, wh, nan := float32(math.Inf(1)), float32(math.Inf(-1)), false
				for _, v := range grp {
					nan = nan || v != v
					wl, wh = min(wl, v), max(wh, v)
				}
				if nan {
					require.True(t, lo[g] != lo[g], "gs %d group %d: NaN group gave lo %v", gs, g, lo[g])
					continue
				}
				require.Equal(t, wl, lo[g], "gs %d group %d %v", gs, g, grp)
				require.Equal(t, wh, hi[g], "gs %d group %d %v", gs, g, grp)
			}
		}
	}
}

// quantRef is the scalar definition of AffineQ4/AffineQ8's values.
func quantRef(v, scale, bias float32, nbins int) uint8 {
	q := (v - bias) / scale
	if q != q || q >= 0x1p31 || q < -0x1p31 {
		return 0
	}
	r := int64(math.RoundToEven(float64(q)))
	return uint8(min(max(r, 0), int64(nbins)))
}

func TestAffineQuant(t *testing.T) {
	needVector(t)
	r := rand.New(rand.NewPCG(8, 8))
	for _, gs := range []int{32, 64, 128} {
		for it := range 300 {
			n := 1 + r.IntN(6)
			x := make([]float32, n*gs)
			scale, bias := make([]float32, n), make([]float32, n)
			for g := range n {
				grp := x[g*gs : (g+1)*gs]
				switch it % 3 {
				case 0: // realistic: a group and its MLX-style scale
					randGroup(r, grp)
					lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
					for _, v := range grp {
						lo, hi = min(lo, v), max(hi, v)
					}
					scale[g], bias[g] = (hi-lo)/15, lo
				case 1: // exact ties: quotients k + 0.5
					scale[g], bias[g] = float32(r.IntN(4)+1)*0.25, float32(r.IntN(9)-4)
					for i := range grp {
						grp[i] = bias[g] + (float32(r.IntN(40)-10)+0.5)*scale[g]
					}
				default: // anything, specials included
					randGroup(r, grp)
					scale[g] = special[r.IntN(len(special))]
					bias[g] = float32(r.NormFloat64())
					if r.IntN(2) == 0 {
						scale[g] = float32(-r.Float64())
					}
				}
			}
			d4 := make([]byte, len(x)/2)
			require.True(t, simd.AffineQ4(d4, x, gs, scale, bias))
			for _, nb := range []int{255, 15, 63, 7, 3} {
				d8 := make([]byte, len(x))
				require.True(t, simd.AffineQ8(d8, x, gs, scale, bias, uint8(nb)))
				for i, v := range x {
					g := i / gs
					want := quantRef(v, scale[g], bias[g], nb)
					require.Equal(t, want, d8[i], "nbins %d gs %d elem %d: x=%v scale=%v bias=%v", nb, gs, i, v, scale[g], bias[g])
					if nb == 15 {
						got4 := d4[i/2] >> (4 * (i % 2)) & 15
						require.Equal(t, want, got4, "q4 gs %d elem %d: x=%v scale=%v bias=%v", gs, i, v, scale[g], bias[g])
					}
				}
			}
		}
	}
}

func TestDisabled(t *testing.T) {
	prev := simd.Enabled
	simd.Enabled = false
	defer func() { simd.Enabled = prev }()
	require.False(t, simd.WidenBF16(make([]float32, 16), make([]byte, 32)))
	require.False(t, simd.AffineQ4(make([]byte, 32), make([]float32, 64), 64, []float32{1}, []float32{0}))
	ok, _ := simd.BF16ToF16(make([]byte, 32), make([]byte, 32))
	require.False(t, ok)
}

func TestNarrowBF16(t *testing.T) {
	needVector(t)
	r := rand.New(rand.NewPCG(9, 9))
	src := make([]float32, 1<<18)
	for i := range src {
		switch i % 4 {
		case 0: // random bits: NaNs, Infs, subnormals, everything
			src[i] = math.Float32frombits(r.Uint32())
		case 1: // exact ties and neighbours of every bf16 value
			src[i] = math.Float32frombits(uint32(i/4%65536)<<16 | 0x8000)
		case 2:
			src[i] = math.Float32frombits(uint32(i/4%65536)<<16 | 0x7fff)
		default:
			src[i] = math.Float32frombits(uint32(i/4%65536)<<16 | 0x8001)
		}
	}
	dst := make([]uint16, len(src))
	require.True(t, simd.NarrowBF16(dst, src))
	for i, v := range src {
		require.Equal(t, mlx.F32ToBF16(v), dst[i], "%#08x", math.Float32bits(v))
	}
}

// scaleBiasRef is the scalar formula AffineScaleBias documents.
func scaleBiasRef(lo, hi, nbins float32) (scale, bias float32) {
	abs := func(v float32) float32 { return float32(math.Abs(float64(v))) }
	scale = (hi - lo) / nbins
	if scale < 1e-7 {
		scale = 1e-7
	}
	edge := hi
	if abs(lo) > abs(hi) {
		edge = lo
	} else {
		scale = -scale
	}
	if q0 := float32(math.RoundToEven(float64(edge / scale))); q0 != 0 {
		return edge / q0, edge
	}
	return scale, 0
}

func TestAffineScaleBias(t *testing.T) {
	needVector(t)
	r := rand.New(rand.NewPCG(10, 10))
	const n = 1 << 14
	lo, hi := make([]float32, n), make([]float32, n)
	for i := range lo {
		a, b := float32(r.NormFloat64()), float32(r.NormFloat64())
		switch i % 5 {
		case 1:
			a, b = special[r.IntN(13)], special[r.IntN(13)] // finite specials
		case 2:
			a = b // one value
		case 3:
			a, b = a*1e-8, b*1e-8 // scales under eps
		case 4:
			a, b = math.MaxFloat32*(r.Float32()*2-1), -math.MaxFloat32*r.Float32() // hi - lo overflows to Inf
		}
		lo[i], hi[i] = min(a, b), max(a, b)
	}
	for _, nb := range []float32{1, 3, 7, 15, 31, 63, 255} {
		scale, bias := make([]float32, n), make([]float32, n)
		require.True(t, simd.AffineScaleBias(lo, hi, scale, bias, nb))
		for i := range lo {
			ws, wb := scaleBiasRef(lo[i], hi[i], nb)
			require.Equal(t, math.Float32bits(ws), math.Float32bits(scale[i]), "scale nbins %v lo %v hi %v", nb, lo[i], hi[i])
			require.Equal(t, math.Float32bits(wb), math.Float32bits(bias[i]), "bias nbins %v lo %v hi %v", nb, lo[i], hi[i])
		}
	}
}

// TestInterleave: Interleave and Deinterleave move every value to its
// place for each group size they take, and refuse the others.
func TestInterleave(t *testing.T) {
	needVector(t)
	for _, n := range []int{8, 16, 24, 32, 64} {
		src := make([]uint32, n*simd.Lanes)
		for i := range src {
			src[i] = uint32(i)*2654435761 + 1
		}
		dst := make([]uint32, n*simd.Lanes)
		require.True(t, simd.Interleave(dst, src, n))
		for g := range simd.Lanes {
			for i := range n {
				require.Equal(t, src[g*n+i], dst[i*simd.Lanes+g], "n %d group %d element %d", n, g, i)
			}
		}
		back := make([]uint32, n*simd.Lanes)
		require.True(t, simd.Deinterleave(back, dst, n))
		require.Equal(t, src, back, "n %d", n)
	}
	require.False(t, simd.Interleave(make([]float32, 40), make([]float32, 40), 5))
	require.False(t, simd.Interleave(make([]float32, 64), make([]float32, 128), 8))
}

// TestAllFinite: AllFinite finds a NaN or an infinity at every position,
// and passes the largest finite values and subnormals.
func TestAllFinite(t *testing.T) {
	needVector(t)
	x := make([]float32, 64)
	for i := range x {
		x[i] = float32(i) - 30
	}
	x[3], x[4], x[5] = math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32
	ok, finite := simd.AllFinite(x)
	require.True(t, ok && finite)
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0xffc00001)} {
		for i := range x {
			y := append([]float32(nil), x...)
			y[i] = bad
			ok, finite := simd.AllFinite(y)
			require.True(t, ok)
			require.False(t, finite, "%v at %d", bad, i)
		}
	}
	ok, _ = simd.AllFinite(x[:7])
	require.False(t, ok)
}
