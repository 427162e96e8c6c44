#!/usr/bin/env python3
"""Times MLX's own quantize (CPU) on the matrix the Go benchmarks use.

Prints one line per case: "<name> <MB/s>" where MB/s is input bytes per
second (the same quantity go test -bench reports with b.SetBytes).
"""
import sys
import time

import mlx.core as mx

CASES = [
    # Names match the sub-benchmarks of BenchmarkQuantize in mlx/bench_test.go.
    ("affine4_g64", "affine", 4, 64),
    ("affine8_g64", "affine", 8, 64),
    ("affine3_g64", "affine", 3, 64),
    ("mxfp4", "mxfp4", 4, 32),
    ("nvfp4", "nvfp4", 4, 16),
    ("mxfp8", "mxfp8", 8, 32),
]


def main():
    mx.set_default_device(mx.cpu)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    w = mx.random.normal((n, n)).astype(mx.bfloat16)
    mx.eval(w)
    nbytes = w.nbytes
    for name, mode, bits, gs in CASES:
        mx.eval(mx.quantize(w, group_size=gs, bits=bits, mode=mode))  # warm up
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            mx.eval(mx.quantize(w, group_size=gs, bits=bits, mode=mode))
            best = min(best, time.perf_counter() - t0)
        print(f"{name} {nbytes / best / 1e6:.1f}", flush=True)


if __name__ == "__main__":
    main()
