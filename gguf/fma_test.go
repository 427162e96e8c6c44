package gguf_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
)

// TestQuantNoFMA quantizes Q4_0/Q5_0 blocks holding an element v for which
// gguf-py's v*id + (levels/2 + 0.5), a numpy product then a numpy sum, each
// rounded to float32, truncates to another quant than the fused
// multiply-add the arm64 compiler would emit for it. On amd64 it catches a
// math.FMA written in; on arm64 (build.sh runs it under qemu-aarch64, and
// its FMA check looks at the machine code) a lost float32().
func TestQuantNoFMA(t *testing.T) {
	for _, c := range []struct {
		typ    gguf.Type
		levels int
	}{{gguf.Q4_0, 16}, {gguf.Q5_0, 32}} {
		half := float64(c.levels / 2)
		vmax, v, found := float32(0), float32(0), false
		// Near each integer boundary k of the truncation, step through the
		// float32 neighbours of the v whose v*id+half+0.5 is k.
		for m := 0; m < 200 && !found; m++ {
			vmax = float32(1 + float64(m)/64)
			d := vmax / -float32(half)
			id := 1 / d
			for k := 1; k < c.levels && !found; k++ {
				v0 := float32((float64(k) - half - 0.5) / float64(id))
				for i := -64; i <= 64 && !found; i++ {
					v = math.Float32frombits(uint32(int64(math.Float32bits(v0)) + int64(i)))
					if abs := math.Abs(float64(v)); abs >= float64(vmax) || abs == 0 {
						continue
					}
					found = unfusedQ(v, id, half) != fusedQ(v, id, half)
				}
			}
		}
		require.True(t, found, "%s: no element tells fused from unfused", c.typ)
		x := make([]float32, 32)
		x[0], x[1] = vmax, v
		blk, err := gguf.AppendQuantize(nil, c.typ, x)
		require.NoError(t, err)
		id := 1 / (vmax / -float32(half))
		got := int(blk[2+1] & 0x0f) // element 1: low nibble of qs[1]
		if c.typ == gguf.Q5_0 {
			got = int(blk[6+1]&0x0f) | int(blk[2]>>1&1)<<4 // qh bit 1
		}
		assert.Equal(t, unfusedQ(v, id, half), got, "%s: v %v id %v (fused gives %d)", c.typ, v, id, fusedQ(v, id, half))
	}
}

// unfusedQ is trunc(float32(float32(v*id) + half + 0.5)), computed in
// float64 where the float32 product and the sum are exact.
func unfusedQ(v, id float32, half float64) int {
	p := float32(float64(v) * float64(id))
	return int(float32(float64(p) + half + 0.5))
}

// fusedQ is the same with one rounding of the exact v*id + half + 0.5.
func fusedQ(v, id float32, half float64) int {
	return int(float32(math.FMA(float64(v), float64(id), half+0.5)))
}
