package mlxbackend_test

// The MLX backend against the native backend on a real libmlxc. These run
// only when MLXC_LIBRARY names a library (developers build libmlxc by hand,
// outside the repository); the CPU stream is compared with RoundingCPU
// byte for byte over the matrix of scripts/oracle/kernels.py: affine bits
// 2..8 x group sizes 32/64/128, mxfp4, nvfp4 with and without a global
// scale, mxfp8, on float32/float16/bfloat16, their dequantization, and
// casts. Run with -v to see the counts; MLXCONV_MLX_SEED fixes the seed.

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/bridge"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/mlxbackend"
)

func openRealMLX(tb testing.TB) *mlxbackend.MLX {
	tb.Helper()
	if os.Getenv(bridge.EnvLibrary) == "" {
		tb.Skip("MLXC_LIBRARY is not set; real-MLX tests run only against a hand-built libmlxc")
	}
	m, err := mlxbackend.OpenMLX(mlxbackend.MLXOptions{Device: "cpu"})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, m.Close()) })
	tb.Logf("%s: MLX %s, mlx-c %s, device %s", m.Library(), m.Version(), m.ABI(), m.Device())
	return m
}

var specialKinds = []string{"zeros", "negative", "constant", "ties", "huge", "tiny", "nonfinite", "mixed_sign_edge"}

// specialGroup returns gs float32 values exercising one corner case.
func specialGroup(r *rand.Rand, kind string, gs int, dt mlx.DType, bits int, mode mlx.QuantMode) []float32 {
	v := make([]float32, gs)
	switch kind {
	case "zeros":
	case "negative":
		for i := range v {
			v[i] = -float32(math.Abs(r.NormFloat64())) - 0.01
		}
	case "constant":
		c := []float32{-3.5, 0.75, 1e-3, 42}[r.IntN(4)]
		for i := range v {
			v[i] = c
		}
	case "ties":
		if mode == mlx.Affine {
			steps := 1<<bits - 1
			for i := range v {
				v[i] = (float32(r.IntN(steps)) + 0.5) * 0.25
			}
			v[0], v[1] = 0, float32(steps)*0.25
			break
		}
		mult := []float32{0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 6, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5, -6}
		scale := float32(math.Ldexp(1, r.IntN(8)-4))
		for i := range v {
			v[i] = mult[r.IntN(len(mult))] * scale
		}
		v[0] = 6 * scale
	case "huge":
		top := 1e30
		if dt == mlx.F16 {
			top = 6e4
		}
		for i := range v {
			v[i] = float32(r.NormFloat64() * top / 4)
		}
	case "tiny":
		lo := 1e-40
		if dt == mlx.F16 {
			lo = 1e-7
		}
		for i := range v {
			v[i] = float32(r.NormFloat64() * lo)
		}
	case "nonfinite":
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		v[r.IntN(gs)] = float32([]float64{math.Inf(1), math.Inf(-1)}[r.IntN(2)])
	case "mixed_sign_edge":
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		v[0], v[1] = -2, 2
	}
	return v
}

// quantInput returns a random weight (as float32 values) and its shape.
func quantInput(r *rand.Rand, dt mlx.DType, gs, bits int, mode mlx.QuantMode, caseNo int) ([]float32, []int) {
	groupsPerRow := 1 + r.IntN(4)
	if mode == mlx.NVFP4 {
		groupsPerRow = 2 * (1 + r.IntN(2)) // MLX's CPU nvfp4 needs K % 32 == 0
	}
	rows := 1 + r.IntN(6)
	shape := []int{rows, gs * groupsPerRow}
	if r.Float64() < 0.3 {
		shape = []int{2 + r.IntN(2), rows, gs * groupsPerRow}
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	scale := []float64{1e-3, 0.05, 1, 30}[r.IntN(4)]
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(r.NormFloat64() * scale)
	}
	groups := n / gs
	for j := range min(2, groups) {
		kind := specialKinds[(caseNo*2+j)%len(specialKinds)]
		g := r.IntN(groups)
		copy(w[g*gs:], specialGroup(r, kind, gs, dt, bits, mode))
	}
	return w, shape
}

func f32Raw(xs []float32) []byte {
	b := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// counter tallies byte-exact comparisons.
type counter struct {
	t              *testing.T
	passed, failed int
	rejected       int // inputs both backends refused
	bytes          int
}

func (c *counter) same(name string, want, got []byte) {
	c.t.Helper()
	if slices.Equal(want, got) {
		c.passed++
		c.bytes += len(want)
		return
	}
	c.failed++
	if c.failed <= 20 {
		i := 0
		for i < min(len(want), len(got)) && want[i] == got[i] {
			i++
		}
		c.t.Errorf("%s: MLX differs from native at byte %d of %d/%d (native % x, mlx % x)",
			name, i, len(want), len(got), want[i:min(len(want), i+8)], got[i:min(len(got), i+8)])
	}
}

func (c *counter) bothFail(name string, nerr, merr error) bool {
	c.t.Helper()
	switch {
	case nerr == nil && merr == nil:
		return false
	case nerr != nil && merr != nil:
		c.rejected++
		return true
	}
	c.failed++
	c.t.Errorf("%s: native error %v, mlx error %v", name, nerr, merr)
	return true
}

func seed(t *testing.T) uint64 {
	if s := os.Getenv("MLXCONV_MLX_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		return v
	}
	return uint64(time.Now().UnixNano())
}

func TestMLXMatchesNativeCPU(t *testing.T) {
	m := openRealMLX(t)
	require.Equal(t, mlx.RoundingCPU, m.Rounding())
	native := mlx.NewNative(0, mlx.RoundingCPU)
	s := seed(t)
	t.Logf("seed %d (MLXCONV_MLX_SEED to repeat)", s)
	r := rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
	const reps = 4

	type combo struct {
		mode   mlx.QuantMode
		bits   int
		gs     int
		gscale bool
	}
	var combos []combo
	for _, bits := range []int{2, 3, 4, 5, 6, 8} {
		for _, gs := range []int{32, 64, 128} {
			combos = append(combos, combo{mlx.Affine, bits, gs, false})
		}
	}
	combos = append(combos, combo{mlx.MXFP4, 4, 32, false}, combo{mlx.NVFP4, 4, 16, false},
		combo{mlx.NVFP4, 4, 16, true}, combo{mlx.MXFP8, 8, 32, false})

	quant := &counter{t: t}
	deq := &counter{t: t}
	for _, dt := range []mlx.DType{mlx.F32, mlx.F16, mlx.BF16} {
		for _, cb := range combos {
			for c := range reps {
				name := fmt.Sprintf("%s b%d g%d %s case %d", cb.mode, cb.bits, cb.gs, dt, c)
				p := mlx.QuantParams{Mode: cb.mode, Bits: cb.bits, GroupSize: cb.gs}
				if cb.gscale {
					g := []float32{0.5, 1, 3, 448 * 6 / 7.5}[r.IntN(4)]
					p.GlobalScale = &g
					name += fmt.Sprintf(" gscale %v", g)
				}
				vals, shape := quantInput(r, dt, cb.gs, cb.bits, cb.mode, c)
				w, err := mlx.Cast(f32Raw(vals), mlx.F32, dt)
				require.NoError(t, err)

				nq, nerr := native.Quantize(w, dt, shape, p)
				mq, merr := m.Quantize(w, dt, shape, p)
				if quant.bothFail(name, nerr, merr) {
					continue
				}
				quant.same(name+" weights", nq.Weight, mq.Weight)
				quant.same(name+" scales", nq.Scales, mq.Scales)
				if cb.mode == mlx.Affine {
					quant.same(name+" biases", nq.Biases, mq.Biases)
				}
				require.Equal(t, nq.WeightShape, mq.WeightShape, name)
				require.Equal(t, nq.ScaleShape, mq.ScaleShape, name)
				require.Equal(t, nq.ScaleDType, mq.ScaleDType, name)

				for _, out := range []mlx.DType{mlx.Invalid, mlx.F32, mlx.F16, mlx.BF16} {
					dn := fmt.Sprintf("%s dequantize to %v", name, out)
					nd, nerr := native.Dequantize(nq, p, out)
					md, merr := m.Dequantize(nq, p, out)
					if deq.bothFail(dn, nerr, merr) {
						continue
					}
					deq.same(dn, nd, md)
				}
			}
		}
	}

	cast := &counter{t: t}
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), -float32(math.NaN()),
		float32(math.Inf(1)), float32(math.Inf(-1)), 65504, 65519, 65520, 1e-8, -3e-8, 5.96e-8, 6.1e-5,
		3.4e38, -3.4e38, 1e-40, 1.00390625, 1.0048828125}
	dts := []mlx.DType{mlx.F32, mlx.F16, mlx.BF16, mlx.F64}
	for _, from := range dts {
		for _, to := range dts {
			if from == to {
				continue
			}
			for c := range reps {
				name := fmt.Sprintf("cast %s to %s case %d", from, to, c)
				vals := append([]float32(nil), specials...)
				scale := []float64{1e-6, 1, 1e4}[r.IntN(3)]
				for range 1 + r.IntN(299) {
					vals = append(vals, float32(r.NormFloat64()*scale))
				}
				for range 64 { // raw bit patterns: every exponent, NaN payloads
					vals = append(vals, math.Float32frombits(r.Uint32()))
				}
				src, err := mlx.Cast(f32Raw(vals), mlx.F32, from)
				require.NoError(t, err)
				if from.Size() == 2 {
					for range 64 {
						src = binary.LittleEndian.AppendUint16(src, uint16(r.Uint32()))
					}
				}
				nc, nerr := native.Cast(src, from, to)
				mc, merr := m.Cast(src, from, to)
				if cast.bothFail(name, nerr, merr) {
					continue
				}
				cast.same(name, nc, mc)
			}
		}
	}

	for _, c := range []struct {
		name string
		c    *counter
	}{{"quantize", quant}, {"dequantize", deq}, {"cast", cast}} {
		t.Logf("%s: %d outputs identical, %d differ, %d inputs refused by both (%d bytes compared)",
			c.name, c.c.passed, c.c.failed, c.c.rejected, c.c.bytes)
	}
	t.Logf("total: %d identical, %d differ", quant.passed+deq.passed+cast.passed, quant.failed+deq.failed+cast.failed)
}

// TestMLXDequantizeAllCodes dequantizes random packed words (every code,
// including ones MLX's CPU quantizer never emits, such as FP4 code 8 = -0,
// which Metal emits) with random scales, MLX against native.
func TestMLXDequantizeAllCodes(t *testing.T) {
	m := openRealMLX(t)
	native := mlx.NewNative(0, mlx.RoundingCPU)
	s := seed(t)
	t.Logf("seed %d (MLXCONV_MLX_SEED to repeat)", s)
	r := rand.New(rand.NewPCG(s, s+1))
	c := &counter{t: t}
	for _, cb := range []mlx.QuantParams{
		{Mode: mlx.Affine, Bits: 3, GroupSize: 32},
		{Mode: mlx.Affine, Bits: 4, GroupSize: 64},
		{Mode: mlx.Affine, Bits: 8, GroupSize: 128},
		{Mode: mlx.MXFP4, Bits: 4, GroupSize: 32},
		{Mode: mlx.NVFP4, Bits: 4, GroupSize: 16},
		{Mode: mlx.MXFP8, Bits: 8, GroupSize: 32},
	} {
		for _, sd := range []mlx.DType{mlx.F32, mlx.F16, mlx.BF16} {
			if cb.Mode != mlx.Affine && sd != mlx.F32 {
				continue // fp scales are uint8 whatever the weight dtype
			}
			for rep := range 4 {
				rows, k := 1+r.IntN(4), cb.GroupSize*2
				q := mlx.Quantized{WeightShape: []int{rows, k * cb.Bits / 32}, ScaleShape: []int{rows, k / cb.GroupSize}}
				for range rows * k * cb.Bits / 8 {
					q.Weight = append(q.Weight, byte(r.Uint32()))
				}
				groups := rows * k / cb.GroupSize
				if cb.Mode == mlx.Affine {
					q.ScaleDType = sd
					sv := make([]float32, 2*groups)
					for i := range sv {
						sv[i] = float32(r.NormFloat64())
					}
					b, err := mlx.Cast(f32Raw(sv), mlx.F32, sd)
					require.NoError(t, err)
					q.Scales, q.Biases = b[:len(b)/2], b[len(b)/2:]
				} else {
					q.ScaleDType = mlx.U8
					for range groups {
						if cb.Mode == mlx.NVFP4 {
							q.Scales = append(q.Scales, byte(r.Uint32())&0x7f) // positive e4m3
						} else {
							q.Scales = append(q.Scales, byte(107+r.IntN(40))) // 2^-20 .. 2^19
						}
					}
				}
				for _, out := range []mlx.DType{mlx.Invalid, mlx.F32} {
					name := fmt.Sprintf("%s b%d g%d scales %s case %d to %v", cb.Mode, cb.Bits, cb.GroupSize, q.ScaleDType, rep, out)
					nd, nerr := native.Dequantize(q, cb, out)
					md, merr := m.Dequantize(q, cb, out)
					if !c.bothFail(name, nerr, merr) {
						c.same(name, nd, md)
					}
				}
			}
		}
	}
	t.Logf("dequantize random codes: %d outputs identical, %d differ, %d refused by both (%d bytes compared)",
		c.passed, c.failed, c.rejected, c.bytes)
}

// BenchmarkBackends compares the MLX backend (CPU stream on Linux, Metal
// on a Mac) with the native backend on one 4096x4096 bfloat16 matrix. It
// needs MLXC_LIBRARY; run e.g.
//
//	MLXC_LIBRARY=... go test -run '^$' -bench Backends -benchtime 3x ./mlx/
func BenchmarkBackends(b *testing.B) {
	if os.Getenv(bridge.EnvLibrary) == "" {
		b.Skip("MLXC_LIBRARY is not set")
	}
	m, err := mlxbackend.OpenMLX(mlxbackend.MLXOptions{})
	require.NoError(b, err)
	defer m.Close()
	native := mlx.NewNative(0, m.Rounding())
	b.Logf("mlx on %s (%s rounding), native with %d workers", m.Device(), m.Rounding(), mlx.Workers())

	const rows, cols = 4096, 4096
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]float32, rows*cols)
	for i := range vals {
		vals[i] = float32(r.NormFloat64() * 0.02)
	}
	w, err := mlx.Cast(f32Raw(vals), mlx.F32, mlx.BF16)
	require.NoError(b, err)
	shape := []int{rows, cols}
	gscale := float32(1)

	params := []struct {
		name string
		p    mlx.QuantParams
	}{
		{"affine4-gs64", mlx.QuantParams{Mode: mlx.Affine, Bits: 4, GroupSize: 64}},
		{"affine8-gs64", mlx.QuantParams{Mode: mlx.Affine, Bits: 8, GroupSize: 64}},
		{"mxfp4", mlx.QuantParams{Mode: mlx.MXFP4, Bits: 4, GroupSize: 32}},
		{"nvfp4", mlx.QuantParams{Mode: mlx.NVFP4, Bits: 4, GroupSize: 16}},
		{"nvfp4-gscale", mlx.QuantParams{Mode: mlx.NVFP4, Bits: 4, GroupSize: 16, GlobalScale: &gscale}},
		{"mxfp8", mlx.QuantParams{Mode: mlx.MXFP8, Bits: 8, GroupSize: 32}},
	}
	backends := []mlx.Backend{native, m}
	for _, pc := range params {
		q, err := native.Quantize(w, mlx.BF16, shape, pc.p)
		require.NoError(b, err)
		for _, be := range backends {
			b.Run("quantize-"+pc.name+"/"+be.Name(), func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					if _, err := be.Quantize(w, mlx.BF16, shape, pc.p); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("dequantize-"+pc.name+"/"+be.Name(), func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					if _, err := be.Dequantize(q, pc.p, mlx.BF16); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	for _, to := range []mlx.DType{mlx.F16, mlx.F32} {
		for _, be := range backends {
			b.Run("cast-bf16-"+to.String()+"/"+be.Name(), func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					if _, err := be.Cast(w, mlx.BF16, to); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
