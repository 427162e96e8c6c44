#!/usr/bin/env python3
"""Writes golden.json.gz: small quantize/dequantize/cast cases computed by the
real MLX (CPU), for mlx's TestGolden. Run once with the pinned oracle MLX
(mlx==0.32.4, see scripts/oracle/requirements.txt):

    python mlx/testdata/golden.py mlx/testdata/golden.json.gz

The test only reads the file; it never needs Python.
"""
import base64
import gzip
import json
import sys

import mlx.core as mx
import numpy as np

mx.set_default_device(mx.cpu)
rng = np.random.default_rng(20261123)
DT = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
KINDS = ["negative", "zeros", "ties", "tiny", "nonfinite", "constant", "rawbits", "huge"]


def b64(a):
    if a.dtype in (mx.float16, mx.bfloat16):
        a = a.view(mx.uint16)
    return base64.b64encode(np.array(a).tobytes()).decode()


def group(kind, gs, dtype, mode, bits):
    if kind == "negative":
        return -np.abs(rng.standard_normal(gs)) - 0.01
    if kind == "zeros":
        return np.zeros(gs)
    if kind == "ties":
        if mode == "affine":
            v = (rng.integers(0, (1 << bits) - 1, gs) + 0.5) * 0.25
            v[0], v[1] = 0, ((1 << bits) - 1) * 0.25
            return v
        v = rng.choice([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -1.25, -5.0], gs)
        v[0] = 6.0
        return v * 2.0 ** int(rng.integers(-4, 4))
    if kind == "tiny":
        return rng.standard_normal(gs) * {"float32": 1e-40, "float16": 1e-7, "bfloat16": 1e-39}[dtype]
    if kind == "huge":
        return rng.standard_normal(gs) * {"float32": 1e37, "float16": 3e4, "bfloat16": 1e37}[dtype]
    if kind == "nonfinite":
        v = rng.standard_normal(gs)
        v[int(rng.integers(0, gs))] = rng.choice([np.inf, -np.inf, np.nan])
        return v
    if kind == "constant":
        return np.full(gs, rng.choice([-3.5, 0.75, 1e-3]))
    return None  # rawbits


def weight(dtype, gs, mode, bits, case):
    parts = []
    for i in range(2):
        kind = "normal" if i == 0 else KINDS[case % len(KINDS)]
        v = rng.standard_normal(gs) * 0.05 if kind == "normal" else group(kind, gs, dtype, mode, bits)
        if v is None:
            if dtype == "float32":
                b = rng.integers(0, 2**32, gs, dtype=np.uint64).astype(np.uint32)
                parts.append(mx.array(b).view(mx.float32))
            else:
                b = rng.integers(0, 2**16, gs, dtype=np.uint32).astype(np.uint16)
                parts.append(mx.array(b).view(DT[dtype]))
        else:
            parts.append(mx.array(v.astype(np.float32)).astype(DT[dtype]))
    return mx.concatenate(parts).reshape(1, 2 * gs)


def main(out):
    cases = []
    combos = [("affine", b, 32, None) for b in (2, 3, 4, 5, 6, 8)] + [("affine", 4, 128, None)]
    combos += [("mxfp4", 4, 32, None), ("nvfp4", 4, 16, None), ("nvfp4", 4, 16, 0.7), ("mxfp8", 8, 32, None)]
    n = 0
    for dtype in DT:
        for mode, bits, gs, gsc in combos:
            w = weight(dtype, gs, mode, bits, n)
            n += 1
            kw = {} if gsc is None else {"global_scale": mx.array(np.float32(gsc))}
            r = mx.quantize(w, group_size=gs, bits=bits, mode=mode, **kw)
            biases = r[2] if len(r) > 2 else None
            d = mx.dequantize(r[0], r[1], biases, group_size=gs, bits=bits, mode=mode, **kw)
            cases.append({
                "kind": "quantize", "mode": mode, "bits": bits, "group_size": gs, "dtype": dtype,
                "global_scale": gsc, "shape": list(w.shape), "w": b64(w), "wq": b64(r[0]),
                "scales": b64(r[1]), "biases": None if biases is None else b64(biases),
                "deq": b64(d), "deq_dtype": str(d.dtype).split(".")[-1],
            })
    specials = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 65504, 65519, 65520, 1e-8, 3e-8,
                         5.96e-8, 6.1e-5, 3.4e38, 1e-40, 1.00390625, 1.0048828125, -2.5], np.float32)
    raw = rng.integers(0, 2**32, 46, dtype=np.uint64).astype(np.uint32).view(np.float32)
    base = mx.array(np.concatenate([specials, raw]))
    for src in list(DT) + ["float64"]:
        for dst in list(DT) + ["float64"]:
            if src == dst:
                continue
            sd = mx.float64 if src == "float64" else DT[src]
            dd = mx.float64 if dst == "float64" else DT[dst]
            x = base.astype(sd)
            y = x.astype(dd)
            enc = lambda a: base64.b64encode(np.array(a.view(mx.uint64) if a.dtype == mx.float64 else (a.view(mx.uint16) if a.itemsize == 2 else a)).tobytes()).decode()
            cases.append({"kind": "cast", "from": src, "to": dst, "w": enc(x), "out": enc(y)})
    with gzip.open(out, "wt") as f:
        json.dump({"mlx": mx.__version__, "cases": cases}, f, separators=(",", ":"))
    print(f"{len(cases)} cases from MLX {mx.__version__} -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
