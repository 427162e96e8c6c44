package mlx

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMXFastExhaustive checks the bfloat16 MX fast path (groupBF16MX)
// against the general CPU path for every scale exponent of the fast range:
// every bfloat16 value whose magnitude does not exceed the exponent's
// largest regular amax goes through groupBF16MX, in groups holding that amax
// at a rotating position, and through groupCPU; the codes and scale bytes
// must agree, and each code must match the plain formula.
func TestMXFastExhaustive(t *testing.T) {
	for _, mode := range []QuantMode{MXFP8, MXFP4} {
		t.Run(mode.String(), func(t *testing.T) {
			p := QuantParams{Mode: mode, Bits: 8, GroupSize: mxGroup, Rounding: RoundingCPU}
			if mode == MXFP4 {
				p.Bits = 4
			}
			k := fpQuantKernel{dt: BF16, p: p}
			k.prepare()
			require.NotNil(t, k.mx)
			// The largest amax (magnitude bits) for each exponent.
			top := map[int32]int{}
			for a, e := range k.mx.exp {
				if e != mxExpIrregular {
					top[int32(e)] = a
				}
			}
			require.Len(t, top, mxFastMaxExp-mxFastMinExp+1)
			x := make([]float32, mxGroup)
			q := make([]uint8, mxGroup)
			h := make([]uint16, mxGroup)
			out := make([]byte, mxGroup)
			g := 0
			for e := int32(mxFastMinExp); e <= mxFastMaxExp; e++ {
				amax := top[e]
				div := float32(math.Ldexp(1, int(e)))
				checked := 0
				for v := 0; v < 1<<16; g++ {
					at := g % mxGroup
					for j := range h {
						if j == at {
							h[j] = uint16(amax) | uint16(g&1)<<15
							continue
						}
						for v < 1<<16 && v&0x7fff > amax {
							v++
						}
						if v < 1<<16 {
							h[j] = uint16(v)
							v++
							checked++
						} else {
							h[j] = 0x8000
						}
					}
					sb, ok := k.mx.groupBF16MX(h, out)
					require.True(t, ok, "e=%d", e)
					for j := range x {
						x[j] = BF16ToF32(h[j])
					}
					require.Equal(t, k.groupCPU(x, q, false), sb, "e=%d", e)
					require.Equal(t, uint8(e+127), sb, "e=%d", e)
					for j := range q {
						got := out[j]
						if mode == MXFP4 {
							got = out[j/2] >> (4 * (j % 2)) & 0xf
						}
						require.Equal(t, q[j], got, "e=%d v=%#04x", e, h[j])
						// The plain formula, independently of groupCPU.
						w := BF16ToF32(F32ToBF16(BF16ToF32(h[j]) / div))
						want := F32ToFP8E4M3(w)
						if mode == MXFP4 {
							want = fp4CodeCPU(w, BF16)
						}
						require.Equal(t, want, got, "e=%d v=%#04x", e, h[j])
					}
				}
				require.Equal(t, 2*(amax+1), checked, "e=%d", e)
			}
		})
	}
}

// TestMXFastIrregular checks that groupBF16MX declines groups it does not
// cover (non-finite or out-of-range amax, other group sizes) and writes
// nothing then.
func TestMXFastIrregular(t *testing.T) {
	mx := mxBF16FP8()
	out := make([]byte, mxGroup)
	for _, a := range []uint16{0x7f80, 0xff80, 0x7fc1, 0x0d80, 0x7f7f} {
		h := make([]uint16, mxGroup)
		h[mxGroup-1] = a
		_, ok := mx.groupBF16MX(h, out)
		require.False(t, ok, "amax %#04x", a)
	}
	_, ok := mx.groupBF16MX(make([]uint16, 16), out)
	require.False(t, ok)
	require.Equal(t, make([]byte, mxGroup), out)
}
