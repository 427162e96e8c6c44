package ggufexport

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/gguf/kquant"
	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/pipeline"
)

// TestKQuantApplyChunks: apply quantizes a unit chunk by chunk (rows of a
// few kquantChunk values at a time, through the vector widening) into the
// bytes one kquant.Quantize call over the whole unit gives, with and
// without importance weights (one per expert), and names a NaN by the
// tensor's row and element.
func TestKQuantApplyChunks(t *testing.T) {
	const ne0, rows = 512, 300 // 128 rows a chunk: three chunks, the last short
	r := rand.New(rand.NewPCG(5, 6))
	src := make([]byte, 2*ne0*rows)
	x := make([]float32, ne0*rows)
	for i := range x {
		h := npfloat.F32ToBF16(float32(r.NormFloat64() * 0.05))
		src[2*i], src[2*i+1] = byte(h), byte(h>>8)
		x[i] = npfloat.BF16ToF32(h)
	}
	imx := make([]float32, 2*ne0)
	for i := range imx {
		imx[i] = float32(r.ExpFloat64())
	}
	for _, typ := range []gguf.Type{gguf.Q4_K, gguf.Q6_K, gguf.Q2_K} {
		rs := int(typ.TypeSize()) * ne0 / int(typ.BlockSize())
		want := make([]byte, rows*rs)
		require.NoError(t, kquant.Quantize(typ, want, x, rows, ne0, nil))
		k := &kquantOp{typ: typ, ne0: ne0, ne1: 1}
		got, err := k.apply(src, gguf.BF16, rows, pipeline.Unit{R1: rows})
		require.NoError(t, err)
		require.Equal(t, want, got, "%s", typ)

		// Two experts of 150 rows, each with its own weights.
		for e := range 2 {
			w := imx[e*ne0 : (e+1)*ne0]
			require.NoError(t, kquant.Quantize(typ, want[e*150*rs:(e+1)*150*rs], x[e*150*ne0:(e+1)*150*ne0], 150, ne0, w))
		}
		k = &kquantOp{typ: typ, ne0: ne0, ne1: 150, imatrix: imx}
		got, err = k.apply(src, gguf.BF16, rows, pipeline.Unit{R1: rows})
		require.NoError(t, err)
		require.Equal(t, want, got, "%s with an importance matrix", typ)
	}

	bad := append([]byte(nil), src...)
	i := 290*ne0 + 7
	bad[2*i], bad[2*i+1] = 0xc0, 0x7f // bf16 NaN
	k := &kquantOp{typ: gguf.Q4_K, ne0: ne0, ne1: 1}
	_, err := k.apply(bad, gguf.BF16, rows, pipeline.Unit{R0: 1000, R1: 1000 + rows})
	require.Error(t, err)
	require.True(t, errors.Is(err, kquant.ErrNonFinite), "%v", err)
	require.Contains(t, err.Error(), "row 1290, element 7 is NaN")
}
