package convert

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunBoundedMemory converts a checkpoint whose single tensor is 64 MiB
// and checks that the heap never holds more than a fraction of it: work
// units read and write a few rows at a time.
func TestRunBoundedMemory(t *testing.T) {
	const vocab, hidden = 8192, 2048 // 64 MiB of float32
	m := genModel{config: `{"model_type": "llama", "hidden_size": 2048, "intermediate_size": 64, "num_hidden_layers": 0,
"num_attention_heads": 16, "rms_norm_eps": 1e-05, "vocab_size": 8192, "tie_word_embeddings": true}`,
		tensors: []genTensor{f32("model.embed_tokens.weight", vocab, hidden), f32("model.norm.weight", hidden)}}
	in := writeTiny(t, m)
	out := filepath.Join(t.TempDir(), "out")
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	sum, err := Run(context.Background(), Options{HFPath: in, MLXPath: out, Quantize: true, Workers: 2, unitBytes: 1 << 20})
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	assert.Equal(t, int64(vocab*hidden/2+2*vocab*hidden/64*4+hidden*4), sum.TotalSize)
	grown := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("peak heap growth %d KiB for a %d KiB tensor", grown>>10, vocab*hidden*4>>10)
	assert.Less(t, grown, int64(24<<20), "the heap must not hold the 64 MiB tensor")
}
