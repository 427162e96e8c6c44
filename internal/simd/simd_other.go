//go:build !amd64 || purego

package simd

const hasVector = false

// asmBuilt: this build has no vector kernels.
const asmBuilt = false

func widenBF16(dst *float32, src *byte, n int)                                        {}
func widenF16(dst *float32, src *byte, n int)                                         {}
func groupMinMax(x *float32, groups, gs int, lo, hi *float32)                         {}
func affineQ4(x *float32, groups, gs int, scale, bias *float32, dst *byte)            {}
func affineQ8(x *float32, groups, gs int, scale, bias *float32, dst *byte, nb uint32) {}
func bf16ToF16(dst, src *byte, n int) uint32                                          { return 0 }

func affineScaleBias(lo, hi, scale, bias *float32, n int, nbins float32) {}
func narrowBF16(dst *uint16, src *float32, n int)                        {}

func q8_0(dst *byte, x *float32, blocks int) int { return 0 }

func qkx8(x, w *float32, l, aux *int32, n, iters, nmax int, rmin, rdelta float32, mad int, scale, vmin *float32, wrule int) {
}

func qx8(x, w *float32, l, aux *int32, n, nmax int, scale *float32, sqw int) {}

func transpose8(dst, src *uint32, blocks, srcRow, srcBlock, dstRow, dstBlock int) {}

func allFinite(x *float32, n int) bool { return false }

func quantRound(l *byte, x *float32, n int, dm, d float32, lo, hi, off int) {}

func iq4fit8(x, w *float32, n int, tab *uint32, scale *float32) {}

func iq4index(l *byte, x *float32, n int, id float32, tab *uint32) {}
