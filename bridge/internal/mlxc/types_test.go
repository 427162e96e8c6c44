package mlxc

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The packed optionals must have the C layout of
// struct { int32 value; bool has_value; } in little-endian registers.
func TestOptionalPacking(t *testing.T) {
	tests := []struct {
		name string
		o    OptInt
		want [8]byte
	}{
		{"none", 0, [8]byte{}},
		{"64", SomeInt(64), [8]byte{64, 0, 0, 0, 1, 0, 0, 0}},
		{"-1", SomeInt(-1), [8]byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}},
		{"dtype bfloat16", OptInt(SomeDType(12)), [8]byte{12, 0, 0, 0, 1, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [8]byte
			binary.LittleEndian.PutUint64(got[:], uint64(tt.o))
			assert.Equal(t, tt.want, got)
			v, ok := tt.o.Value()
			assert.Equal(t, int32(binary.LittleEndian.Uint32(tt.want[:4])), v)
			assert.Equal(t, tt.want[4] == 1, ok)
		})
	}
}

func TestABIString(t *testing.T) {
	assert.Equal(t, "0.4", ABI04.String())
	assert.Equal(t, "0.5", ABI05.String())
	assert.Equal(t, "0.6+", ABI06.String())
	assert.Equal(t, "unknown", ABIUnknown.String())
	assert.False(t, ABI05.HasGlobalScale())
	assert.True(t, ABI06.HasGlobalScale())
}
