package mlx

// Native is the pure-Go Backend: the kernels of this package on a bounded
// pool of goroutines. It is safe for concurrent use; each call uses at most
// its own worker count of goroutines.
type Native struct {
	workers  int
	rounding Rounding
}

// NewNative returns a Native backend that runs each call on at most workers
// goroutines (workers <= 0: runtime.GOMAXPROCS(0) at the time of the call)
// and quantizes with the rounding rules r, which override
// QuantParams.Rounding in every Quantize call.
func NewNative(workers int, r Rounding) Backend {
	return &Native{workers: workers, rounding: r}
}

var _ Backend = (*Native)(nil)

// Name returns "native".
func (n *Native) Name() string { return "native" }

// Device returns "cpu".
func (n *Native) Device() string { return "cpu" }

// Rounding returns the rounding rules the backend quantizes with.
func (n *Native) Rounding() Rounding { return n.rounding }

// Cast converts src from dtype from to dtype to as Cast does.
func (n *Native) Cast(src []byte, from, to DType) ([]byte, error) {
	return castAlloc(resolveWorkers(n.workers), src, from, to)
}

// Quantize quantizes w as Quantize does, with the backend's rounding rules.
func (n *Native) Quantize(w []byte, dt DType, shape []int, p QuantParams) (Quantized, error) {
	p.Rounding = n.rounding
	return quantize(resolveWorkers(n.workers), w, dt, shape, p)
}

// Dequantize dequantizes q as Dequantize does.
func (n *Native) Dequantize(q Quantized, p QuantParams, out DType) ([]byte, error) {
	return dequantize(resolveWorkers(n.workers), q, p, out)
}

// Close does nothing and returns nil.
func (n *Native) Close() error { return nil }
