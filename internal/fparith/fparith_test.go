package fparith_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/fparith"
)

var (
	inf    = float32(math.Inf(1))
	sNaN   = math.Float32frombits(0xff800123) // negative signaling NaN
	qNaN   = math.Float32frombits(0x7fe00000) // positive quiet NaN with payload
	sink   float32
	values = []float32{0, -0.0, 1, -2.5, inf, -inf, qNaN, sNaN}
)

//go:noinline
func hwMul(a, b float32) float32 { return a * b }

//go:noinline
func hwAdd(a, b float32) float32 { return a + b }

//go:noinline
func hwSub(a, b float32) float32 { return a - b }

//go:noinline
func hwDiv(a, b float32) float32 { return a / b }

// TestHostMatchesCPU checks that the host rule is what this CPU does: every
// operation on every pair of special operands gives the same bits through
// the rule as through the hardware (on x86 and ARM; under qemu-aarch64 this
// checks the ARM rule).
func TestHostMatchesCPU(t *testing.T) {
	r := fparith.Host()
	ops := []struct {
		name string
		rule func(a, b float32) float32
		hw   func(a, b float32) float32
	}{
		{"mul", r.Mul, hwMul}, {"add", r.Add, hwAdd}, {"sub", r.Sub, hwSub}, {"div", r.Div, hwDiv},
	}
	for _, op := range ops {
		for _, a := range values {
			for _, b := range values {
				got, want := op.rule(a, b), op.hw(a, b)
				assert.Equal(t, math.Float32bits(want), math.Float32bits(got), "%s(%08x, %08x)", op.name, math.Float32bits(a), math.Float32bits(b))
			}
		}
	}
}

func TestRules(t *testing.T) {
	for _, c := range []struct {
		r         fparith.Rule
		want      uint32
		quietSNaN uint32 // a quiet NaN, then a signaling one
	}{{fparith.X86, 0xffc00000, 0x7fe00000}, {fparith.ARM, 0x7fc00000, 0xffc00123}} {
		assert.Equal(t, c.want, math.Float32bits(c.r.Mul(0, inf)))
		assert.Equal(t, c.want, math.Float32bits(c.r.Sub(inf, inf)))
		assert.Equal(t, c.want, math.Float32bits(c.r.Add(-inf, inf)))
		assert.Equal(t, c.want, math.Float32bits(c.r.Div(0, 0)))
		assert.Equal(t, c.want, math.Float32bits(c.r.Div(-inf, inf)))
		// NaN operands propagate, quieted, the first one winning.
		assert.Equal(t, uint32(0xffc00123), math.Float32bits(c.r.Mul(sNaN, qNaN)))
		assert.Equal(t, c.quietSNaN, math.Float32bits(c.r.Add(qNaN, sNaN)))
		assert.Equal(t, uint32(0xffc00123), math.Float32bits(c.r.Sub(1, sNaN)))
		assert.Equal(t, float32(3), c.r.Mul(1.5, 2))
	}
	restore := fparith.SetHost(fparith.ARM)
	require.Equal(t, fparith.ARM, fparith.Host())
	fparith.SetHost(fparith.X86)
	require.Equal(t, fparith.X86, fparith.Host())
	restore()
}

// TestNoFusion checks that Mul's rounding survives a following addition:
// with a = b = 1+2^-12 the exact product 1+2^-11+2^-24 rounds to 1+2^-11,
// so Mul(a,b) - (1+2^-11) is 0, while a fused multiply-subtract gives 2^-24.
func TestNoFusion(t *testing.T) {
	a := float32(1 + 1.0/(1<<12))
	c := float32(1 + 1.0/(1<<11))
	r := fparith.Host()
	sink = r.Mul(a, a) - c
	assert.Equal(t, float32(0), sink)
	assert.Equal(t, float32(0), r.Add(r.Mul(a, a), -c))
	assert.NotEqual(t, float32(0), float32(math.FMA(float64(a), float64(a), float64(-c))))
}

//go:noinline
func hwI32(f float32) int32 { return int32(f) }

var convValues = []float32{
	0, negZero(), 0.75, -0.75, 1e-45, -1e-45, 1.5, -1.5, -7, 127.9, 255, 256, -129,
	2147483520, 2147483648, -2147483648, -2147483904, 4294967040, 4294967296,
	-4294967296, 1e19, -1e19, 1e38, -1e38, inf, -inf, qNaN, -qNaN, sNaN,
}

func negZero() float32 { return math.Float32frombits(0x80000000) }

// TestConvMatchesCPU checks the host rule's int32 conversion against this
// CPU's (Go compiles int32(f) to CVTTSS2SL on amd64, FCVTZS on arm64). Go
// converts to uint32 through int64 on both, so F32ToU32's ARM rule
// (FCVTZU, as compiled C uses) is checked by TestConvRules only.
func TestConvMatchesCPU(t *testing.T) {
	r := fparith.Host()
	for _, f := range convValues {
		assert.Equal(t, hwI32(f), r.F32ToI32(f), "F32ToI32(%08x)", math.Float32bits(f))
	}
}

func TestConvRules(t *testing.T) {
	const minI, maxI = math.MinInt32, math.MaxInt32
	for _, c := range []struct {
		f          float32
		x86I, armI int32
		x86U, armU uint32
	}{
		{0, 0, 0, 0, 0},
		{1e-45, 0, 0, 0, 0}, // subnormal
		{-1e-45, 0, 0, 0, 0},
		{1.9, 1, 1, 1, 1},
		{-7.5, -7, -7, 0xfffffff9, 0},
		{2147483520, 2147483520, 2147483520, 2147483520, 2147483520},
		{2147483648, minI, maxI, 0x80000000, 0x80000000},
		{-2147483648, minI, minI, 0x80000000, 0},
		{-2147483904, minI, minI, 0x7fffff00, 0},
		{4294967296, minI, maxI, 0, 0xffffffff},
		{1e19, minI, maxI, 0, 0xffffffff},
		{-1e19, minI, minI, 0, 0},
		{inf, minI, maxI, 0, 0xffffffff},
		{-inf, minI, minI, 0, 0},
		{qNaN, minI, 0, 0, 0},
		{-qNaN, minI, 0, 0, 0},
		{sNaN, minI, 0, 0, 0},
	} {
		bits := math.Float32bits(c.f)
		assert.Equal(t, c.x86I, fparith.X86.F32ToI32(c.f), "X86.F32ToI32(%08x)", bits)
		assert.Equal(t, c.armI, fparith.ARM.F32ToI32(c.f), "ARM.F32ToI32(%08x)", bits)
		assert.Equal(t, c.x86U, fparith.X86.F32ToU32(c.f), "X86.F32ToU32(%08x)", bits)
		assert.Equal(t, c.armU, fparith.ARM.F32ToU32(c.f), "ARM.F32ToU32(%08x)", bits)
	}
	// Pinned with SetHost, Host converts by the pinned rule on every CPU.
	restore := fparith.SetHost(fparith.ARM)
	assert.Equal(t, int32(maxI), fparith.Host().F32ToI32(inf))
	fparith.SetHost(fparith.X86)
	assert.Equal(t, int32(minI), fparith.Host().F32ToI32(inf))
	restore()
}
