package gguf_test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/fparith"
	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/internal/oracle"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/quant golden files from the gguf-py oracle")

var quantTypes = []gguf.Type{gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0, gguf.Q4_0, gguf.Q4_1, gguf.Q5_0, gguf.Q5_1}

func f32(bits uint32) float32 { return math.Float32frombits(bits) }

// specialBlocks are 32-value blocks aimed at the quantizers' edges: ties in
// the largest magnitude, rounding ties, zero and constant blocks, subnormal
// and huge values, scales that overflow fp16.
func specialBlocks() [][]float32 {
	var bs [][]float32
	fill := func(f func(j int) float32) {
		b := make([]float32, 32)
		for j := range b {
			b[j] = f(j)
		}
		bs = append(bs, b)
	}
	negZero := float32(math.Copysign(0, -1))
	fill(func(int) float32 { return 0 })
	fill(func(int) float32 { return negZero })
	fill(func(int) float32 { return 1 })
	fill(func(int) float32 { return -3.75 })
	fill(func(j int) float32 { return float32(j) - 15.5 })
	fill(func(j int) float32 { return float32(j - 16) })                   // -16..15
	fill(func(j int) float32 { return float32(127-j) + 0.5*float32(j%2) }) // Q8_0 with d = 1: .5 ties
	fill(func(j int) float32 { return -float32(127-j) - 0.5*float32(j%2) })
	fill(func(j int) float32 { // |max| tie: +8 first, -8 later
		switch j {
		case 3:
			return 8
		case 20:
			return -8
		}
		return float32(j%7) - 3
	})
	fill(func(j int) float32 { // |max| tie: -8 first
		switch j {
		case 3:
			return -8
		case 20:
			return 8
		}
		return float32(j%7) - 3
	})
	fill(func(j int) float32 { // one non-zero
		if j == 31 {
			return -0.001
		}
		return 0
	})
	fill(func(j int) float32 { return f32(uint32(j + 1)) })              // float32 subnormals
	fill(func(j int) float32 { return f32(0x33000000 + uint32(j)<<16) }) // around half's smallest subnormal
	fill(func(j int) float32 { return float32(j) * 1e-8 })
	fill(func(j int) float32 { return 65504 - float32(j)*3 })      // near f16 max
	fill(func(j int) float32 { return 1e6 * float32(j%5-2) })      // d overflows fp16
	fill(func(j int) float32 { return 3e38 * float32(j%3-1) / 2 }) // huge but range fits float32
	fill(func(j int) float32 { return float32(math.Sin(float64(j))) * 1e-3 })
	fill(func(j int) float32 { return float32(int(1) << (j % 24)) })
	fill(func(j int) float32 { return 0.1 * float32(j) })
	fill(func(j int) float32 { return f32(0x00012345+uint32(j*7919)) * float32(j%3-1) }) // subnormal d, 1/d overflows
	fill(func(j int) float32 { return f32(0x00700000-uint32(j*65537)) * float32(1-2*(j%2)) })
	fill(func(j int) float32 { return f32(0x00800000+uint32(j)) - f32(0x00800000) })
	return bs
}

// randomBlocks returns n blocks of pseudo-random values with varied scales
// and distributions.
func randomBlocks(seed uint64, n int) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 42))
	bs := make([][]float32, n)
	for i := range bs {
		scale := float32(math.Pow(10, r.Float64()*8-6))
		b := make([]float32, 32)
		kind := r.IntN(5)
		if kind == 4 { // float32 subnormal scales: d loses precision, 1/d may overflow
			scale = float32(math.Pow(10, r.Float64()*6-42))
			kind = 0
		}
		for j := range b {
			switch kind {
			case 0:
				b[j] = float32(r.NormFloat64()) * scale
			case 1:
				b[j] = (float32(r.Float64())*2 - 1) * scale
			case 2: // bf16-representable values, as from a bf16 checkpoint
				b[j] = npfloat.BF16ToF32(npfloat.F32ToBF16(float32(r.NormFloat64()) * scale))
			default: // positive only, with an outlier
				b[j] = float32(r.ExpFloat64()) * scale
				if j == r.IntN(32) {
					b[j] *= 50
				}
			}
		}
		bs[i] = b
	}
	return bs
}

func flatten(bs [][]float32) []float32 {
	var out []float32
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func bytesF32(t testing.TB, b []byte) []float32 {
	t.Helper()
	require.Zero(t, len(b)%4)
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}

func goldenInput() []float32 {
	return flatten(append(specialBlocks(), randomBlocks(1, 12)...))
}

func quantName(t gguf.Type) string { return strings.ToLower(t.String()) }

// TestQuantGolden checks the quantizers and dequantizers against outputs of
// gguf-py 0.19.0 committed in testdata/quant (regenerate with
// go test -run TestQuantOracle -update ./gguf/ and the oracle python).
// gguf-py ran on x86-64, so the test pins the x86 NaN rule; then every
// platform must give the same bytes (under qemu-aarch64 this also catches a
// product and sum the arm64 compiler would fuse).
func TestQuantGolden(t *testing.T) {
	defer fparith.SetHost(fparith.X86)()
	in, err := os.ReadFile(filepath.Join("testdata", "quant", "input.f32"))
	require.NoError(t, err)
	require.Equal(t, f32Bytes(goldenInput()), in, "testdata/quant/input.f32 is stale: regenerate it")
	x := bytesF32(t, in)
	for _, typ := range quantTypes {
		t.Run(typ.String(), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "quant", quantName(typ)+".bin"))
			require.NoError(t, err)
			got, err := gguf.AppendQuantize(nil, typ, x)
			require.NoError(t, err)
			assertBlocksEqual(t, typ, want, got)

			wantDeq, err := os.ReadFile(filepath.Join("testdata", "quant", quantName(typ)+".deq.f32"))
			require.NoError(t, err)
			deq, err := gguf.AppendDequantize(nil, typ, want)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(wantDeq, f32Bytes(deq)), "dequantized values differ")
		})
	}
}

// assertBlocksEqual compares quantized outputs block by block, naming the
// first differing block.
func assertBlocksEqual(t *testing.T, typ gguf.Type, want, got []byte) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	ts := int(typ.TypeSize())
	bad := 0
	for b := 0; b < len(want)/ts; b++ {
		w, g := want[b*ts:(b+1)*ts], got[b*ts:(b+1)*ts]
		if !bytes.Equal(w, g) {
			if bad < 3 {
				t.Errorf("%s block %d: gguf-py % x, ours % x", typ, b, w, g)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d blocks differ", typ, bad, len(want)/ts)
	}
}

// TestQuantOracle runs gguf-py's quantizers on special and many random blocks
// and compares bytes; with -update it rewrites the golden files.
//
// numpy's NaNs follow its CPU, which is not ours when this test runs under
// qemu-aarch64 with the host's python: the NaN rule is the oracle's.
func TestQuantOracle(t *testing.T) {
	machine := strings.TrimSpace(string(oracle.Run(t, "-c", "import platform; print(platform.machine())")))
	rule := fparith.X86
	if machine == "aarch64" || machine == "arm64" {
		rule = fparith.ARM
	}
	defer fparith.SetHost(rule)()
	root := moduleRoot(t)
	script := filepath.Join(root, "scripts", "oracle", "gguf_check.py")
	dir := t.TempDir()
	inputs := map[string][]float32{
		"golden": goldenInput(),
		"random": flatten(randomBlocks(7, 3000)),
	}
	for name, x := range inputs {
		in := filepath.Join(dir, name+".f32")
		require.NoError(t, os.WriteFile(in, f32Bytes(x), 0o644))
		for _, typ := range quantTypes {
			t.Run(name+"/"+typ.String(), func(t *testing.T) {
				q := filepath.Join(dir, name+"."+quantName(typ)+".bin")
				oracle.Run(t, script, "quantize", typ.String(), in, q)
				want, err := os.ReadFile(q)
				require.NoError(t, err)
				got, err := gguf.AppendQuantize(nil, typ, x)
				require.NoError(t, err)
				assertBlocksEqual(t, typ, want, got)

				deq := filepath.Join(dir, name+"."+quantName(typ)+".deq.f32")
				oracle.Run(t, script, "dequantize", typ.String(), q, deq)
				wantDeq, err := os.ReadFile(deq)
				require.NoError(t, err)
				gotDeq, err := gguf.AppendDequantize(nil, typ, want)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(wantDeq, f32Bytes(gotDeq)), "dequantized values differ")

				if *updateGolden && name == "golden" {
					gd := filepath.Join("testdata", "quant")
					require.NoError(t, os.MkdirAll(gd, 0o755))
					require.NoError(t, os.WriteFile(filepath.Join(gd, "input.f32"), f32Bytes(x), 0o644))
					require.NoError(t, os.WriteFile(filepath.Join(gd, quantName(typ)+".bin"), want, 0o644))
					require.NoError(t, os.WriteFile(filepath.Join(gd, quantName(typ)+".deq.f32"), wantDeq, 0o644))
				}
			})
		}
	}
}

// TestFloatOracle compares the f16 and bf16 conversions with numpy on every
// half value, the float32 values around each half rounding boundary, NaNs
// with assorted payloads, and random bit patterns.
func TestFloatOracle(t *testing.T) {
	var x []float32
	for h := 0; h < 1<<16; h++ {
		v := npfloat.F16ToF32(uint16(h))
		b := math.Float32bits(v)
		x = append(x, v, f32(b+1), f32(b-1), f32(b+0x1000), f32(b-0x1000), f32(b+0xfff), f32(b+0x1001))
	}
	for _, b := range []uint32{0x7f800001, 0x7fc00000, 0xffc00001, 0x7fa00000, 0x7f802000, 0x7f801fff, 0xff800100, 0x7fffffff} {
		x = append(x, f32(b))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1 << 18 {
		x = append(x, f32(r.Uint32()))
	}
	root := moduleRoot(t)
	script := filepath.Join(root, "scripts", "oracle", "gguf_check.py")
	dir := t.TempDir()
	in := filepath.Join(dir, "x.f32")
	require.NoError(t, os.WriteFile(in, f32Bytes(x), 0o644))
	for _, typ := range []gguf.Type{gguf.F16, gguf.BF16} {
		out := filepath.Join(dir, typ.String())
		oracle.Run(t, script, "quantize", typ.String(), in, out)
		want, err := os.ReadFile(out)
		require.NoError(t, err)
		got, err := gguf.AppendQuantize(nil, typ, x)
		require.NoError(t, err)
		if !bytes.Equal(want, got) {
			n := 0
			for i := range x {
				w, g := binary.LittleEndian.Uint16(want[2*i:]), binary.LittleEndian.Uint16(got[2*i:])
				if w != g && n < 5 {
					t.Errorf("%s(%#08x): numpy %#04x, ours %#04x", typ, math.Float32bits(x[i]), w, g)
					n++
				}
			}
		}
		// And back: every 16-bit pattern.
		all := make([]byte, 2<<16)
		for h := range 1 << 16 {
			binary.LittleEndian.PutUint16(all[2*h:], uint16(h))
		}
		hin := filepath.Join(dir, typ.String()+".bits")
		hout := filepath.Join(dir, typ.String()+".f32")
		require.NoError(t, os.WriteFile(hin, all, 0o644))
		oracle.Run(t, script, "dequantize", typ.String(), hin, hout)
		wantF, err := os.ReadFile(hout)
		require.NoError(t, err)
		gotF, err := gguf.AppendDequantize(nil, typ, all)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(wantF, f32Bytes(gotF)), "%s dequantize differs", typ)
	}
}

func TestQuantizeErrors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(-1))
	block := func(v float32) []float32 {
		b := make([]float32, 32)
		b[5] = v
		return b
	}
	for _, typ := range []gguf.Type{gguf.Q8_0, gguf.Q4_0, gguf.Q4_1, gguf.Q5_0, gguf.Q5_1} {
		t.Run(typ.String(), func(t *testing.T) {
			for _, v := range []float32{nan, inf} {
				dst := []byte{9}
				out, err := gguf.AppendQuantize(dst, typ, append(make([]float32, 32), block(v)...))
				require.ErrorIs(t, err, gguf.ErrNonFinite)
				assert.Contains(t, err.Error(), "block 1")
				assert.Equal(t, []byte{9}, out, "dst is returned unextended on error")
			}
			_, err := gguf.AppendQuantize(nil, typ, make([]float32, 31))
			require.ErrorIs(t, err, gguf.ErrInvalid)
			_, err = gguf.AppendDequantize(nil, typ, make([]byte, typ.TypeSize()+1))
			require.ErrorIs(t, err, gguf.ErrInvalid)
		})
	}
	// Affine blocks whose range overflows float32.
	wide := make([]float32, 32)
	wide[0], wide[1] = -3e38, 3e38
	_, err := gguf.AppendQuantize(nil, gguf.Q4_1, wide)
	require.ErrorIs(t, err, gguf.ErrNonFinite)
	// Float types carry NaN and Inf.
	for _, typ := range []gguf.Type{gguf.F32, gguf.F16, gguf.BF16} {
		_, err := gguf.AppendQuantize(nil, typ, []float32{nan, inf})
		require.NoError(t, err)
	}
	_, err = gguf.AppendQuantize(nil, gguf.Q4_K, make([]float32, 256))
	require.ErrorIs(t, err, gguf.ErrInvalid)
	_, err = gguf.AppendDequantize(nil, gguf.MXFP4, make([]byte, 17))
	require.ErrorIs(t, err, gguf.ErrInvalid)
}

func TestQuantAppend(t *testing.T) {
	x := flatten(randomBlocks(5, 4))
	for _, typ := range quantTypes {
		whole, err := gguf.AppendQuantize(nil, typ, x)
		require.NoError(t, err)
		assert.Len(t, whole, len(x)/int(typ.BlockSize())*int(typ.TypeSize()))
		// Appending block by block gives the same bytes after a prefix.
		parts := []byte("prefix")
		for b := 0; b < len(x); b += 32 {
			parts, err = gguf.AppendQuantize(parts, typ, x[b:b+32])
			require.NoError(t, err)
		}
		assert.Equal(t, append([]byte("prefix"), whole...), parts)
		deq, err := gguf.AppendDequantize([]float32{7}, typ, whole)
		require.NoError(t, err)
		assert.Len(t, deq, 1+len(x))
		assert.Equal(t, float32(7), deq[0])
	}
}

func TestQuantErrorBound(t *testing.T) {
	// The round trip error of each type stays within its step size.
	x := flatten(randomBlocks(11, 200))
	steps := map[gguf.Type]float64{gguf.Q8_0: 127, gguf.Q4_0: 8, gguf.Q5_0: 16, gguf.Q4_1: 15, gguf.Q5_1: 31}
	for typ, levels := range steps {
		q, err := gguf.AppendQuantize(nil, typ, x)
		require.NoError(t, err)
		y, err := gguf.AppendDequantize(nil, typ, q)
		require.NoError(t, err)
		for b := 0; b < len(x); b += 32 {
			lo, hi := x[b], x[b]
			for _, v := range x[b : b+32] {
				lo, hi = min(lo, v), max(hi, v)
			}
			amax := math.Max(math.Abs(float64(lo)), math.Abs(float64(hi)))
			step := amax / levels
			if typ == gguf.Q4_1 || typ == gguf.Q5_1 {
				step = float64(hi-lo) / levels
			}
			for j := b; j < b+32; j++ {
				// one step (Q4_0/Q5_0 clamp the top level) plus the fp16
				// rounding of d and m: relative 2^-11, absolute 2^-25 (half
				// an fp16 subnormal step) times the largest quant
				tol := step*1.01 + amax*2e-3 + (levels+1)*math.Ldexp(1, -25)
				require.LessOrEqual(t, math.Abs(float64(y[j]-x[j])), tol, "%s x[%d]=%g got %g", typ, j, x[j], y[j])
			}
		}
	}
}
