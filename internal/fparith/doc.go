// Package fparith holds the float32 operations of packages mlx and gguf
// whose result can be a NaN that the operands do not determine, computed so
// that the answer is chosen by a named rule instead of by the CPU or the
// compiler.
//
// IEEE 754 leaves two things to the hardware:
//
//   - an invalid operation on non-NaN operands (0·Inf, Inf−Inf, 0/0,
//     Inf/Inf) returns the CPU's "default NaN": 0xFFC00000 (negative) on x86
//     (SSE and AVX), 0x7FC00000 (positive) on ARM, whose FPCR.DN is clear on
//     Linux and macOS;
//   - an operation on one NaN operand returns that NaN, quieted (bit 22
//     set), on both x86 and ARM; with two NaN operands x86 returns the first
//     source operand, ARM the first signaling one if any, else the first.
//
// Rule.Mul, Add, Sub and Div compute a*b, a+b, a-b and a/b, each rounded to
// float32 (the explicit conversion also forbids fusing it with a
// neighbouring operation), and when the result is a NaN they return the
// winning NaN operand quieted or, if neither operand is a NaN, the rule's
// default NaN. The rules agree on every other result.
//
// Rule.F32ToI32 and F32ToU32 convert float32 to integers as the rule's CPU
// does where C leaves it undefined (NaN, ±Inf, out of range): x86 returns
// the integer indefinite value, ARM saturates and converts NaN to 0.
//
// Callers use these functions only where a NaN can arise from non-NaN
// operands and its sign or payload reaches the output; elsewhere the
// hardware's propagation of a single NaN operand, identical on x86 and ARM,
// is kept for speed.
//
// Host is the rule of the CPU family the program runs on (X86 on amd64 and
// 386, ARM elsewhere), because the references this module reproduces (MLX's
// CPU backend, numpy) inherit their NaNs from the CPU. Tests pin a rule with
// SetHost to check one platform's golden outputs on every platform.
package fparith
