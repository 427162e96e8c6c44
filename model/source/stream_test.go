package source

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/pipeline"
)

// TestReadStrided reads every window of a strided slice (short runs read
// as one span and gathered, long runs read one by one) and compares it
// with the runs gathered by hand.
func TestReadStrided(t *testing.T) {
	for _, c := range []struct {
		name                      string
		offset, run, stride, runs int64
	}{
		{"short runs, part 0", 0, 3, 6, 7},
		{"short runs, part 1, offset", 5, 3, 6, 7},
		{"one-byte runs of three parts", 2, 1, 3, 9},
		{"long runs", 11, directRun + 5, 2*directRun + 10, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := make([]byte, c.offset+(c.runs-1)*c.stride+c.run+7)
			for i := range data {
				data[i] = byte(i * 31 / 7)
			}
			var want []byte
			for k := int64(0); k < c.runs; k++ {
				at := c.offset + k*c.stride
				want = append(want, data[at:at+c.run]...)
			}
			s := pipeline.Slice{Size: c.run * c.runs, Offset: c.offset, Run: c.run, Stride: c.stride}
			step := max(int64(1), s.Size/13)
			for off := int64(0); off < s.Size; off += step {
				for _, n := range []int64{1, c.run, 2*c.run + 1, s.Size - off} {
					n = min(n, s.Size-off)
					p := make([]byte, n)
					require.NoError(t, readStrided(bytes.NewReader(data), s, p, off))
					assert.Equal(t, want[off:off+n], p, "off %d n %d", off, n)
				}
			}
		})
	}
}
