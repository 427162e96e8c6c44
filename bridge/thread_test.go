package bridge

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestThreadSerializes(t *testing.T) {
	th := startThread()
	defer th.stop()
	var running, maxRunning, total atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				err := th.do(func() error {
					n := running.Add(1)
					if n > maxRunning.Load() {
						maxRunning.Store(n)
					}
					total.Add(1)
					running.Add(-1)
					return nil
				})
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), maxRunning.Load())
	assert.Equal(t, int32(400), total.Load())
}

func TestThreadErrorsAndPanics(t *testing.T) {
	th := startThread()
	want := errors.New("boom")
	require.ErrorIs(t, th.do(func() error { return want }), want)

	err := th.do(func() error { panic("kaboom") })
	require.ErrorIs(t, err, ErrPanic)
	assert.Contains(t, err.Error(), "kaboom")
	assert.Contains(t, err.Error(), "thread_test.go", "the panic carries the worker's stack")

	// The thread survives a panic.
	require.NoError(t, th.do(func() error { return nil }))

	th.stop()
	require.ErrorIs(t, th.do(func() error { return nil }), ErrClosed)
}
