//go:build amd64 && !purego

package simd

// hasVector: AVX2 and F16C, with the OS saving the YMM registers.
var hasVector = detect()

// asmBuilt: this build has the vector kernels.
const asmBuilt = true

func detect() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const osxsave, avx, f16c = 1 << 27, 1 << 28, 1 << 29
	if ecx1&(osxsave|avx|f16c) != osxsave|avx|f16c {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 { // XMM and YMM state
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0 // AVX2
}

func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

//go:noescape
func widenBF16(dst *float32, src *byte, n int)

//go:noescape
func widenF16(dst *float32, src *byte, n int)

//go:noescape
func groupMinMax(x *float32, groups, gs int, lo, hi *float32)

//go:noescape
func affineQ4(x *float32, groups, gs int, scale, bias *float32, dst *byte)

//go:noescape
func affineQ8(x *float32, groups, gs int, scale, bias *float32, dst *byte, nb uint32)

//go:noescape
func bf16ToF16(dst, src *byte, n int) uint32

//go:noescape
func affineScaleBias(lo, hi, scale, bias *float32, n int, nbins float32)

//go:noescape
func narrowBF16(dst *uint16, src *float32, n int)

//go:noescape
func q8_0(dst *byte, x *float32, blocks int) int

//go:noescape
func qkx8(x, w *float32, l, aux *int32, n, iters, nmax int, rmin, rdelta float32, mad int, scale, vmin *float32, wrule int)

//go:noescape
func qx8(x, w *float32, l, aux *int32, n, nmax int, scale *float32, sqw int)

//go:noescape
func transpose8(dst, src *uint32, blocks, srcRow, srcBlock, dstRow, dstBlock int)

//go:noescape
func allFinite(x *float32, n int) bool

//go:noescape
func quantRound(l *byte, x *float32, n int, dm, d float32, lo, hi, off int)

//go:noescape
func iq4fit8(x, w *float32, n int, tab *uint32, scale *float32)

//go:noescape
func iq4index(l *byte, x *float32, n int, id float32, tab *uint32)
