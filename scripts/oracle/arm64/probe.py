#!/usr/bin/env python3
"""Prints the platform-dependent scalar rules of MLX's CPU backend that the
kernels depend on, one line each, so two platforms can be diffed:

  - the NaN that arithmetic makes (0*inf, inf-inf, inf/inf), per dtype;
  - astype(int32) and astype(uint8) of out-of-range, negative and non-finite
    values, per source dtype, at a place in the array handled by the vector
    loop ("body", element 0 of 20) and by the scalar remainder loop ("tail",
    element 19 of 20: float32 runs 8 lanes, bfloat16 16 on arm64).

  python probe.py            (amd64 oracle venv)
  DIR/python probe.py        (arm64, DIR from setup.sh)
"""
import platform

import mlx.core as mx
import numpy as np

DTYPES = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
VALUES = [-7.0, -300.0, 300.0, 2.0**31, 3e9, 2.0**32, float("inf"), float("-inf"), float("nan")]


def hexs(a):
    view = {1: mx.uint8, 2: mx.uint16, 4: mx.uint32}[a.itemsize]
    return [f"{int(x):0{a.itemsize * 2}x}" for x in np.array(a.view(view)).reshape(-1)]


def main():
    mx.set_default_device(mx.cpu)
    print(f"platform {platform.machine()} mlx {mx.__version__}")
    inf = mx.array([float("inf")] * 20)
    zero = mx.array([0.0] * 20)
    for name, dt in DTYPES.items():
        i, z = inf.astype(dt), zero.astype(dt)
        print(f"nan {name}: 0*inf {hexs(z * i)[0]} inf-inf {hexs(i - i)[0]} inf/inf {hexs(i / i)[0]}")
    for name, dt in DTYPES.items():
        for v in VALUES:
            a = mx.array([v] * 20, mx.float32).astype(dt)
            i32, u8 = hexs(a.astype(mx.int32)), hexs(a.astype(mx.uint8))
            print(f"astype {name}({v!r}): int32 body {i32[0]} tail {i32[19]}; uint8 body {u8[0]} tail {u8[19]}")


if __name__ == "__main__":
    main()
