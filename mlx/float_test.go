package mlx

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func f32(b uint32) float32 { return math.Float32frombits(b) }

func TestF32ToF16(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   uint32
		want uint16
	}{
		{"one", 0x3f800000, 0x3c00},
		{"minus two", 0xc0000000, 0xc000},
		{"quiet NaN with payload", 0x7fc00001, 0x7d00},
		{"negative NaN", 0xffc00000, 0xfd00},
		{"signalling NaN", 0x7f800001, 0x7d00},
		{"inf", 0x7f800000, 0x7c00},
		{"-inf", 0xff800000, 0xfc00},
		{"65520 overflows", math.Float32bits(65520), 0x7c00},
		{"65519 stays finite", math.Float32bits(65519), 0x7bff},
		{"65504 max", math.Float32bits(65504), 0x7bff},
		{"max float32", math.Float32bits(math.MaxFloat32), 0x7c00},
		{"min normal 2^-14", 0x38800000, 0x0400},
		{"min subnormal 2^-24", 0x33800000, 0x0001},
		{"2^-25 ties to zero", 0x33000000, 0x0000},
		{"3*2^-25 ties to even 2", math.Float32bits(3.0 / (1 << 25)), 0x0002},
		{"just above 2^-25", 0x33000001, 0x0001},
		{"-2^-24", 0xb3800000, 0x8001},
		{"-0", 0x80000000, 0x8000},
		{"mantissa tie to even (down)", 0x3f801000, 0x3c00},
		{"mantissa tie to even (up)", 0x3f803000, 0x3c02},
		{"largest subnormal rounds up to normal", math.Float32bits(0x3ff.cp-24), 0x0400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, F32ToF16(f32(tc.in)), "%#08x", tc.in)
		})
	}
}

func TestF16ToF32(t *testing.T) {
	for _, tc := range []struct {
		in   uint16
		want uint32
	}{
		{0x3c00, 0x3f800000},
		{0x0001, 0x33800000},
		{0x8400, 0xb8800000},
		{0x7c00, 0x7f800000},
		{0xfc00, 0xff800000},
		{0xfc01, 0xffc02000}, // signalling NaN gets the quiet bit, payload << 13
		{0x7d00, 0x7fe00000},
		{0x7e00, 0x7fc00000},
	} {
		assert.Equal(t, tc.want, math.Float32bits(F16ToF32(tc.in)), "%#04x", tc.in)
	}
	// Every non-NaN half survives a round trip, and the table agrees.
	tab := f16Table()
	for h := range 1 << 16 {
		v := F16ToF32(uint16(h))
		require.Equal(t, math.Float32bits(v), math.Float32bits(tab[h]))
		if v == v {
			require.Equal(t, uint16(h), F32ToF16(v), "%#04x", h)
		}
	}
}

func TestBF16(t *testing.T) {
	for _, tc := range []struct {
		in   uint32
		want uint16
	}{
		{0x3f800000, 0x3f80},
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81},
		{0x7f7fffff, 0x7f80}, // max float32 rounds to inf
		{0x7fc00001, 0x7fc0},
		{0xffc00000, 0x7fc0}, // NaN loses its sign
		{0x7f800001, 0x7fc0},
		{0xff800000, 0xff80},
		{0x00000001, 0x0000},
		{0x80000000, 0x8000},
	} {
		assert.Equal(t, tc.want, F32ToBF16(f32(tc.in)), "%#08x", tc.in)
	}
	assert.Equal(t, uint32(0xff810000), math.Float32bits(BF16ToF32(0xff81)))
	assert.Equal(t, uint32(0x3f800000), math.Float32bits(BF16ToF32(0x3f80)))
}

func TestFP8E4M3(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want uint8
	}{
		{1, 0x38},
		{448, 0x7e},
		{-448, 0xfe},
		{460, 0x7e},   // nearer 448 than 480
		{463.9, 0x7e}, // still below the saturation bound
		{464, 0x7e},   // saturates
		{1e9, 0x7e},
		{float32(math.Inf(-1)), 0xfe},
		{float32(math.NaN()), 0x7e},
		{f32(0xffc00000), 0xfe},
		{0.001953125, 0x01},  // 2^-9, smallest subnormal
		{0.0009765625, 0x00}, // 2^-10 ties to even (0)
		{0.0029296875, 0x02}, // 1.5*2^-9 ties to even (2)
		{0.015625, 0x08},     // 2^-6, smallest normal
		{224, 0x76},
		{-0.5, 0xb0},
		{1.0625, 0x38}, // 1+1/16 ties to even 1
		{1.1875, 0x3a}, // 1+3/16 ties to even 1.25
	} {
		assert.Equal(t, tc.want, F32ToFP8E4M3(tc.in), "%v", tc.in)
	}
	assert.Equal(t, float32(448), FP8E4M3ToF32(0x7e))
	assert.Equal(t, float32(-448), FP8E4M3ToF32(0xfe))
	assert.Equal(t, float32(1.0/512), FP8E4M3ToF32(0x01))
	assert.Equal(t, uint32(0x7ff00000), math.Float32bits(FP8E4M3ToF32(0x7f)))
	assert.Equal(t, uint32(0xfff00000), math.Float32bits(FP8E4M3ToF32(0xff)))
	for b := range 256 {
		if b&0x7f == 0x7f {
			continue
		}
		require.Equal(t, uint8(b), F32ToFP8E4M3(FP8E4M3ToF32(uint8(b))), "%#02x", b)
	}
}

func TestE8M0(t *testing.T) {
	assert.Equal(t, float32(1), E8M0ToF32(127))
	assert.Equal(t, float32(0.5), E8M0ToF32(126))
	assert.Equal(t, uint32(0x00400000), math.Float32bits(E8M0ToF32(0)))
	assert.True(t, math.IsInf(float64(E8M0ToF32(255)), 1))
	for _, tc := range []struct {
		in   float32
		want uint8
	}{
		{1, 127},
		{1.5, 128}, // rounds up
		{0.75, 127},
		{0.5, 126},
		{2, 128},
		{2.0000002, 129},
		{0, 0},
		{-1, 0},
		{float32(math.Inf(1)), 255},
		{float32(math.NaN()), 255},
		{3e38, 254},                // clamps at 2^127
		{f32(1), 0},                // 2^-149 clamps at 2^-127
		{math.MaxFloat32 / 2, 254}, // just below 2^127: ceil is 127
	} {
		assert.Equal(t, tc.want, F32ToE8M0(tc.in), "%v", tc.in)
	}
}

func TestCeilLog2(t *testing.T) {
	for _, tc := range []struct {
		in, want float32
	}{
		{1, 0}, {1.0000001, 1}, {0.75, 0}, {0.5, -1}, {3, 2}, {4, 2},
		{f32(1), -149}, {f32(3), -147}, {f32(0x00800000), -126},
		{math.MaxFloat32, 128},
	} {
		assert.Equal(t, tc.want, ceilLog2(tc.in), "%v", tc.in)
	}
	assert.True(t, math.IsInf(float64(ceilLog2(float32(math.Inf(1)))), 1))
	nan := ceilLog2(float32(math.NaN()))
	assert.True(t, nan != nan)
}

// TestX86Conversions holds values measured with MLX 0.32.4 on x86:
// mx.array([...]).astype(mx.uint8).
func TestX86Conversions(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want uint8
	}{
		{-22, 234}, {300, 44}, {-1e10, 0}, {float32(math.NaN()), 0},
		{float32(math.Inf(1)), 0}, {255.9, 255}, {-2147483520, 0x80},
	} {
		assert.Equal(t, tc.want, x86F32ToU8(tc.in), "%v", tc.in)
	}
	assert.Equal(t, int32(math.MinInt32), x86F32ToI32(2147483648))
	assert.Equal(t, int32(math.MinInt32), x86F32ToI32(-2147483648))
	assert.Equal(t, int32(2147483520), x86F32ToI32(2147483520))
	assert.Equal(t, int32(-3), x86F32ToI32(-3.9))
}
