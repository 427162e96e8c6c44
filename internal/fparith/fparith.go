package fparith

import (
	"math"
	"sync/atomic"
)

// Rule is a CPU family's rule for what IEEE 754 and C leave to the
// hardware: the NaN an operation returns and the integer a float-to-integer
// conversion of NaN, ±Inf or an out-of-range value gives (F32ToI32,
// F32ToU32).
type Rule struct {
	// DefaultNaN holds the bits of the NaN an invalid operation on non-NaN
	// operands returns.
	DefaultNaN uint32
	// SignalingFirst: with two NaN operands, a signaling one wins over a
	// quiet one (ARM); otherwise the first operand wins (x86).
	SignalingFirst bool
	// SaturatingConv: float-to-integer conversions saturate and convert
	// NaN to 0 (ARM); otherwise they return the integer indefinite value
	// (x86).
	SaturatingConv bool
}

var (
	// X86 is the rule of x86-64 (and 386 with SSE2): a negative default
	// NaN; the first NaN operand wins; out-of-range conversions give the
	// integer indefinite value.
	X86 = Rule{DefaultNaN: 0xffc00000}
	// ARM is the rule of AArch64 with FPCR.DN clear: a positive default
	// NaN; a signaling NaN operand wins over a quiet one, then the first;
	// conversions saturate.
	ARM = Rule{DefaultNaN: 0x7fc00000, SignalingFirst: true, SaturatingConv: true}
)

// host holds the rule Host returns.
var host atomic.Pointer[Rule]

func init() { host.Store(&hostRule) }

// Host returns the rule of the CPU family the program runs on, or the one a
// test pinned with SetHost.
func Host() Rule { return *host.Load() }

// SetHost makes Host return r until the returned function restores the
// previous rule. It is meant for tests, which pin the rule of the platform
// that produced a golden file; kernels read Host once per call.
func SetHost(r Rule) (restore func()) {
	old := host.Swap(&r)
	return func() { host.Store(old) }
}

// NaN returns the rule's default NaN.
func (r Rule) NaN() float32 { return math.Float32frombits(r.DefaultNaN) }

// Mul returns float32(a*b), with its NaN chosen by r.
func (r Rule) Mul(a, b float32) float32 {
	if p := float32(a * b); p == p {
		return p
	}
	return r.nan(a, b)
}

// Add returns float32(a+b), with its NaN chosen by r.
func (r Rule) Add(a, b float32) float32 {
	if s := float32(a + b); s == s {
		return s
	}
	return r.nan(a, b)
}

// Sub returns float32(a-b), with its NaN chosen by r.
func (r Rule) Sub(a, b float32) float32 {
	if s := float32(a - b); s == s {
		return s
	}
	return r.nan(a, b)
}

// Div returns float32(a/b), with its NaN chosen by r.
func (r Rule) Div(a, b float32) float32 {
	if q := float32(a / b); q == q {
		return q
	}
	return r.nan(a, b)
}

// nan is the NaN result of an operation on a and b: the winning NaN
// operand, quieted, or the default NaN.
func (r Rule) nan(a, b float32) float32 {
	switch {
	case r.SignalingFirst && !signaling(a) && signaling(b):
		return Quiet(b)
	case a != a:
		return Quiet(a)
	case b != b:
		return Quiet(b)
	}
	return r.NaN()
}

// Quiet returns the NaN v with its quiet bit set, as x86 and ARM arithmetic
// return a signaling NaN operand; v is returned unchanged if it is not a NaN.
func Quiet(v float32) float32 {
	if v != v {
		return math.Float32frombits(math.Float32bits(v) | 0x00400000)
	}
	return v
}

// signaling reports whether v is a signaling NaN (quiet bit clear).
func signaling(v float32) bool { return v != v && math.Float32bits(v)&0x00400000 == 0 }
