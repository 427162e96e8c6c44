package mlx

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNativeBackend(t *testing.T) {
	b := NewNative(2, RoundingMetal)
	assert.Equal(t, "native", b.Name())
	assert.Equal(t, "cpu", b.Device())
	assert.Equal(t, RoundingMetal, b.Rounding())
	require.NoError(t, b.Close())

	// The backend's rounding overrides the parameters': the all-negative
	// group of TestAffineHandComputed quantizes with Metal's rules.
	in := f32Bytes(group32(-1, -4, -1, -3)...)
	q, err := b.Quantize(in, F32, []int{1, 32}, QuantParams{Mode: Affine, Bits: 4, GroupSize: 32, Rounding: RoundingCPU})
	require.NoError(t, err)
	assert.Equal(t, uint32(0xbbbbb4b0), words(q.Weight)[0])

	out, err := b.Dequantize(q, QuantParams{Mode: Affine, Bits: 4, GroupSize: 32}, Invalid)
	require.NoError(t, err)
	assert.Len(t, out, 32*4)

	h, err := b.Cast(in, F32, BF16)
	require.NoError(t, err)
	assert.Equal(t, F32ToBF16(-4), halves(h)[0])
}

// randomWeight returns rows×k bfloat16 values: mostly Gaussian, with some
// all-negative, zero and constant groups.
func randomWeight(r *rand.Rand, rows, k int) []byte {
	vals := make([]float32, rows*k)
	for i := range vals {
		vals[i] = float32(r.NormFloat64() * 0.02)
	}
	for g := 0; g+32 <= len(vals); g += 32 * 7 {
		switch (g / 32) % 3 {
		case 0:
			for j := range 32 {
				vals[g+j] = -float32(math.Abs(float64(vals[g+j])))
			}
		case 1:
			for j := range 32 {
				vals[g+j] = 0
			}
		}
	}
	return bf16Bytes(vals...)
}

var allParams = func() []QuantParams {
	g := float32(3)
	var ps []QuantParams
	for _, r := range []Rounding{RoundingCPU, RoundingMetal} {
		for _, bits := range []int{2, 3, 4, 5, 6, 8} {
			for _, gs := range []int{32, 64, 128} {
				ps = append(ps, QuantParams{Mode: Affine, Bits: bits, GroupSize: gs, Rounding: r})
			}
		}
		ps = append(ps,
			QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32, Rounding: r},
			QuantParams{Mode: NVFP4, Bits: 4, GroupSize: 16, Rounding: r},
			QuantParams{Mode: NVFP4, Bits: 4, GroupSize: 16, Rounding: r, GlobalScale: &g},
			QuantParams{Mode: MXFP8, Bits: 8, GroupSize: 32, Rounding: r})
	}
	return ps
}()

// TestWorkersDeterministic quantizes and dequantizes a matrix large enough
// to be split into many chunks: every worker count gives the same bytes.
func TestWorkersDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	shape := []int{3, 160, 1024}
	w := randomWeight(r, 3*160, 1024)
	for _, p := range allParams {
		one, err := NewNative(1, p.Rounding).Quantize(w, BF16, shape, p)
		require.NoError(t, err)
		four, err := NewNative(4, p.Rounding).Quantize(w, BF16, shape, p)
		require.NoError(t, err)
		require.Equal(t, one, four, "%+v", p)
		d1, err := NewNative(1, p.Rounding).Dequantize(one, p, Invalid)
		require.NoError(t, err)
		d4, err := NewNative(4, p.Rounding).Dequantize(one, p, Invalid)
		require.NoError(t, err)
		require.Equal(t, d1, d4, "%+v", p)
	}
}

// TestNoAllocations: with one worker the Into variants allocate nothing.
func TestNoAllocations(t *testing.T) {
	prev := SetWorkers(1)
	defer SetWorkers(prev)
	r := rand.New(rand.NewPCG(9, 10))
	shape := []int{16, 512}
	w := randomWeight(r, 16, 512)
	for _, p := range allParams {
		q, err := Quantize(w, BF16, shape, p)
		require.NoError(t, err)
		out := make([]byte, 16*512*DequantizedDType(p, q.ScaleDType, Invalid).Size())
		allocs := testing.AllocsPerRun(5, func() {
			if err := QuantizeInto(w, BF16, shape, p, q.Weight, q.Scales, q.Biases); err != nil {
				t.Fatal(err)
			}
			if err := DequantizeInto(out, q, p, Invalid); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "%+v", p)
	}
	dst := make([]byte, len(w)*2)
	assert.Zero(t, testing.AllocsPerRun(5, func() {
		if err := CastInto(dst, w, BF16, F32); err != nil {
			t.Fatal(err)
		}
	}))
}

func TestSetWorkers(t *testing.T) {
	prev := SetWorkers(5)
	assert.Equal(t, 5, Workers())
	assert.Equal(t, 5, SetWorkers(-1))
	assert.GreaterOrEqual(t, Workers(), 1)
	SetWorkers(prev)
}

func TestParallelFor(t *testing.T) {
	for _, tc := range []struct{ workers, n, grain int }{
		{1, 10, 3}, {4, 10, 3}, {4, 0, 3}, {8, 1000, 7}, {3, 5, 100},
	} {
		seen := make([]int, tc.n)
		parallelFor(tc.workers, tc.n, tc.grain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, c := range seen {
			require.Equal(t, 1, c, "%+v index %d", tc, i)
		}
	}
}
