package mlxbackend_test

// Tests of the MLX backend, Select and the Array API against the fake
// libmlxc of bridge/testdata (compiled here with the system C compiler).
// In builds that cannot load libraries (nomlx tag, other platforms) the
// same tests check the fallback instead.

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/bridge"
	"github.com/mlxconv/mlxconv/bridge/bridgetest"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/mlxbackend"
)

func TestMain(m *testing.M) {
	code := m.Run()
	bridgetest.Cleanup()
	os.Exit(code)
}

func fakeLib(t *testing.T, v bridgetest.Variant) string {
	t.Helper()
	p, err := bridgetest.Path(v)
	require.NoError(t, err)
	return p
}

func f32s(xs ...float32) []byte {
	b := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func TestOpenBackendNative(t *testing.T) {
	b, info, err := mlxbackend.Select("native", 2)
	require.NoError(t, err)
	defer b.Close()
	assert.Equal(t, "native", b.Name())
	assert.Equal(t, mlx.BackendInfo{Backend: "native", Device: "cpu", Rounding: mlx.RoundingCPU}, info)
	assert.Equal(t, "native on cpu, cpu rounding", info.String())
}

func TestOpenBackendUnknownKind(t *testing.T) {
	_, _, err := mlxbackend.Select("cuda", 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown backend "cuda"`)
}

func TestOpenBackendFallback(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libmlxc.so")
	tests := []struct {
		name    string
		lib     string
		reason  string // expected in Fallback when the build can load libraries
		errType error
	}{
		{"missing library", missing, "MLXC_LIBRARY=" + missing, bridge.ErrNotFound},
		{"smoke test fails", fakeLib(t, bridgetest.VersionFail), "smoke test", bridge.ErrSmoke},
		{"too old", fakeLib(t, bridgetest.ABI3), "older than mlx-c 0.4.0", bridge.ErrABI},
		{"missing symbol", fakeLib(t, bridgetest.NoAstype), "mlx_astype", bridge.ErrSymbol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(bridge.EnvLibrary, tt.lib)
			if bridge.Available() != nil {
				tt.reason, tt.errType = "", bridge.ErrUnsupported
			}
			b, info, err := mlxbackend.Select("auto", 1)
			require.NoError(t, err)
			defer b.Close()
			assert.Equal(t, "native", info.Backend)
			assert.Equal(t, "native", b.Name())
			assert.Contains(t, info.Fallback, tt.reason)
			assert.NotContains(t, info.Fallback, "\n", "the reason is one line")
			assert.Contains(t, info.String(), "(MLX unavailable: ")

			_, _, err = mlxbackend.Select("mlx", 1)
			require.ErrorIs(t, err, tt.errType)
		})
	}
}

func TestOpenBackendAutoUsesMLX(t *testing.T) {
	p := fakeLib(t, bridgetest.ABI6)
	t.Setenv(bridge.EnvLibrary, p)
	b, info, err := mlxbackend.Select("auto", 1)
	require.NoError(t, err)
	defer b.Close()
	if err := bridge.Available(); err != nil {
		assert.Equal(t, "native", info.Backend)
		assert.Contains(t, info.Fallback, "cannot load libmlxc")
		return
	}
	assert.Equal(t, mlx.BackendInfo{
		Backend: "mlx", Library: p, ABI: "0.6+", MLXVersion: "0.0.0-fake", Device: "cpu", Rounding: mlx.RoundingCPU,
	}, info)
	assert.Equal(t, "mlx (MLX 0.0.0-fake, mlx-c 0.6+, "+p+") on cpu, cpu rounding", info.String())
	assert.Equal(t, "mlx", b.Name())
	assert.Equal(t, mlx.RoundingCPU, b.Rounding())

	// The Backend interface end to end (the fake quantizes the textbook
	// way, so only shapes, dtypes and plumbing are checked here).
	w := f32s(func() []float32 {
		xs := make([]float32, 2*64)
		for i := range xs {
			xs[i] = float32(i)/10 - 6
		}
		return xs
	}()...)
	p4 := mlx.QuantParams{Mode: mlx.Affine, Bits: 4, GroupSize: 32}
	q, err := b.Quantize(w, mlx.F32, []int{2, 64}, p4)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 8}, q.WeightShape)
	assert.Equal(t, []int{2, 2}, q.ScaleShape)
	assert.Equal(t, mlx.F32, q.ScaleDType)
	assert.Len(t, q.Weight, 2*8*4)
	assert.Len(t, q.Scales, 2*2*4)
	assert.Len(t, q.Biases, 2*2*4)
	d, err := b.Dequantize(q, p4, mlx.BF16)
	require.NoError(t, err)
	assert.Len(t, d, 2*64*2)

	_, err = b.Quantize(w, mlx.F32, []int{2, 64}, mlx.QuantParams{Mode: mlx.Affine, Bits: 7, GroupSize: 32})
	require.ErrorIs(t, err, mlx.ErrQuant, "validated before MLX is called")
	_, err = b.Quantize(w[:8], mlx.F32, []int{2, 64}, p4)
	require.ErrorIs(t, err, mlx.ErrQuant)

	// Cast goes through mx.astype (the fake rounds to nearest even, as MLX
	// and the native kernels do for finite values).
	src := f32s(1, 1.00390625, 1.01171875, -2.5, 65504, 1e-3, 3.14159)
	for _, to := range []mlx.DType{mlx.BF16, mlx.F16, mlx.F32} {
		got, err := b.Cast(src, mlx.F32, to)
		require.NoError(t, err)
		want, err := mlx.Cast(src, mlx.F32, to)
		require.NoError(t, err)
		assert.Equal(t, want, got, "f32 -> %s", to)
	}
	_, err = b.Cast(src, mlx.F32, mlx.I32)
	require.ErrorIs(t, err, mlx.ErrCast)
}

func TestArrayAPI(t *testing.T) {
	m, err := mlxbackend.OpenMLX(mlxbackend.MLXOptions{Library: fakeLib(t, bridgetest.ABI6), Device: "cpu", CacheLimit: 1 << 20})
	if err := bridge.Available(); err != nil {
		require.ErrorIs(t, err, bridge.ErrUnsupported)
		return
	}
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, "cpu", m.Device())
	assert.Equal(t, "", m.GPU())

	xs := make([]float32, 3*128)
	for i := range xs {
		xs[i] = float32(i%128)/32 - 2
	}
	a, err := m.FromBytes(f32s(xs...), []int{3, 128}, mlx.F32)
	require.NoError(t, err)
	assert.Equal(t, []int{3, 128}, a.Shape())
	assert.Equal(t, mlx.F32, a.DType())

	h, err := a.AsType(mlx.BF16)
	require.NoError(t, err)
	assert.Equal(t, mlx.BF16, h.DType())
	q, err := h.Quantize(mlx.QuantParams{Mode: mlx.Affine, Bits: 8, GroupSize: 64})
	require.NoError(t, err)
	require.NoError(t, q.Eval())
	assert.Equal(t, []int{3, 32}, q.Weight.Shape())
	assert.Equal(t, mlx.U32, q.Weight.DType())
	assert.Equal(t, mlx.BF16, q.Scales.DType())
	require.NotNil(t, q.Biases)

	d, err := q.Dequantize(mlx.F32)
	require.NoError(t, err)
	require.NoError(t, d.Eval())
	b, err := d.Bytes()
	require.NoError(t, err)
	require.Len(t, b, 4*len(xs))
	for i, x := range xs {
		assert.InDelta(t, x, math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])), 0.05)
	}

	fq, err := a.Quantize(mlx.QuantParams{Mode: mlx.MXFP4, Bits: 4, GroupSize: 32})
	require.NoError(t, err)
	assert.Nil(t, fq.Biases)
	assert.Equal(t, mlx.U8, fq.Scales.DType())
	fd, err := fq.Dequantize(mlx.Invalid)
	require.NoError(t, err)
	assert.Equal(t, mlx.BF16, fd.DType(), "MLX's default for fp modes")

	_, err = m.FromBytes([]byte{1}, []int{1}, mlx.F8E4M3)
	require.ErrorIs(t, err, mlx.ErrDType)
	_, err = a.Quantize(mlx.QuantParams{Mode: mlx.Affine, Bits: 4, GroupSize: 48})
	require.ErrorIs(t, err, mlx.ErrQuant)

	for _, c := range []interface{ Close() error }{a, h, q, d, fq, fd} {
		require.NoError(t, c.Close())
	}
	require.NoError(t, a.Close(), "idempotent")
	_, err = a.Bytes()
	require.ErrorIs(t, err, bridge.ErrClosed)
}

func TestOpenMLXBadDevice(t *testing.T) {
	_, err := mlxbackend.OpenMLX(mlxbackend.MLXOptions{Library: "x", Device: "tpu"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown device "tpu"`)
}
