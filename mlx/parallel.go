package mlx

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// defaultWorkers is the worker count of the package-level kernels
// (QuantizeInto, Dequantize, Cast, ...); 0 means runtime.GOMAXPROCS(0).
var defaultWorkers atomic.Int64

// SetWorkers sets how many goroutines the package-level kernels use at most
// and returns the previous setting. n <= 0 restores the default,
// runtime.GOMAXPROCS(0) at the time of each call. A Native backend has its
// own count (NewNative).
func SetWorkers(n int) (prev int) {
	if n < 0 {
		n = 0
	}
	return int(defaultWorkers.Swap(int64(n)))
}

// Workers returns the worker count the package-level kernels use now.
func Workers() int { return resolveWorkers(int(defaultWorkers.Load())) }

func resolveWorkers(n int) int {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return max(n, 1)
}

// chunkElems is the number of elements one worker takes at a time: large
// enough to amortise the scheduling, small enough to balance 2-64 workers on
// one weight matrix.
const chunkElems = 1 << 16

// parallelFor calls fn on consecutive ranges [lo, hi) covering [0, n), each
// at most grain long, from at most workers goroutines (the caller's included).
// It returns when every call has returned. With one worker, or when the work
// fits in one range, fn runs on the calling goroutine without any
// allocation or synchronisation.
func parallelFor(workers, n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	chunks := (n + grain - 1) / grain
	workers = min(workers, chunks)
	if workers <= 1 {
		fn(0, n)
		return
	}
	var next atomic.Int64
	run := func() {
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks {
				return
			}
			lo := c * grain
			fn(lo, min(lo+grain, n))
		}
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for range workers - 1 {
		go func() {
			defer wg.Done()
			run()
		}()
	}
	run()
	wg.Wait()
}

// grainFor returns how many units of unitElems elements make one chunk.
func grainFor(unitElems int) int {
	return max(chunkElems/max(unitElems, 1), 1)
}
