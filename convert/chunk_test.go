package convert

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
)

// chunkBackend records where each Quantize call's groups lie (mlx.Chunk).
type chunkBackend struct {
	mlx.Backend
	mu    sync.Mutex
	cover map[int][]int // whole tensor's groups -> times each group was quantized
	calls int
	split int
}

func (b *chunkBackend) Quantize(w []byte, dt mlx.DType, shape []int, p mlx.QuantParams) (mlx.Quantized, error) {
	b.mu.Lock()
	n := shape[0] * shape[1] / p.GroupSize
	c := p.Chunk
	if c == (mlx.Chunk{}) {
		c = mlx.Chunk{Groups: n}
	}
	if b.cover[c.Groups] == nil {
		b.cover[c.Groups] = make([]int, c.Groups)
	}
	for g := c.Group; g < c.Group+n && g < c.Groups; g++ {
		b.cover[c.Groups][g]++
	}
	b.calls++
	if n != c.Groups {
		b.split++
	}
	b.mu.Unlock()
	return b.Backend.Quantize(w, dt, shape, p)
}

// TestQuantizeChunks checks that row-chunked quantize units say where
// their groups lie in the whole tensor: per tensor size, the chunks tile
// every group equally often.
func TestQuantizeChunks(t *testing.T) {
	in := writeTiny(t, modelLlama())
	b := &chunkBackend{Backend: mlx.NewNative(1, mlx.RoundingCPU), cover: map[int][]int{}}
	_, err := Run(context.Background(), Options{HFPath: in, MLXPath: filepath.Join(t.TempDir(), "out"),
		Quantize: true, QMode: mlx.MXFP8, Workers: 2, unitBytes: 512, Backend: b})
	require.NoError(t, err)
	assert.Positive(t, b.split, "some tensors are quantized in chunks (%d calls)", b.calls)
	for total, cov := range b.cover {
		for g, k := range cov {
			require.Equal(t, cov[0], k, "tensors of %d groups: group %d", total, g)
		}
		assert.Positive(t, cov[0])
	}
}
