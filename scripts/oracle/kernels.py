#!/usr/bin/env python3
"""Kernel conformance oracle: the real MLX (CPU) against mlxconv's pure-Go kernels.

  kernels.py gen DIR [--seed S] [--reps N]
      Writes randomized cases, one safetensors file per parameter combination,
      with mx.save_safetensors: inputs ("cK.w"), MLX's outputs ("cK.wq",
      "cK.scales", "cK.biases", "cK.deq" for quantization; "cK.out" for casts)
      and the parameters in the file's __metadata__. The Go test
      scripts/oracle (TestKernelOracle) reads them with mlxconv's safetensors
      reader, recomputes every output and compares bytes, then writes its own
      outputs into DIR/ours/ with mlxconv's safetensors writer.
  kernels.py verify DIR
      Loads every DIR/ours/*.safetensors with mx.load and checks that each array
      equals, bit for bit, the array MLX itself produced in DIR/*.safetensors.

Each prints a closing line "N passed, M failed" and exits non-zero on failure.
"""
import argparse
import glob
import os
import random
import sys

import mlx.core as mx
import numpy as np

DTYPES = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
AFFINE_BITS = [1, 2, 3, 4, 5, 6, 8]
AFFINE_GROUPS = [32, 64, 128]
FP_MODES = [("mxfp4", 4, 32, False), ("nvfp4", 4, 16, False), ("nvfp4", 4, 16, True), ("mxfp8", 8, 32, False)]

SPECIALS = ["zeros", "negative", "constant", "ties", "huge", "tiny", "nonfinite", "mixed_sign_edge", "nan"]


def special_group(kind, gs, rng, dtype, bits, mode):
    """Returns one group of gs float32 values exercising a corner case."""
    if kind == "zeros":
        return np.zeros(gs, np.float32)
    if kind == "negative":
        return -np.abs(rng.standard_normal(gs).astype(np.float32)) - np.float32(0.01)
    if kind == "constant":
        return np.full(gs, np.float32(rng.choice([-3.5, 0.75, 1e-3, 42.0])), np.float32)
    if kind == "ties":
        # Values on exact half-steps of a power-of-two scale: exercise the
        # tie rules of rint / round-half-away / FP4 argmin.
        if mode == "affine":
            steps = (1 << bits) - 1
            base = rng.integers(0, steps, gs).astype(np.float32) + np.float32(0.5)
            v = base * np.float32(0.25)
            v[0], v[1] = 0.0, np.float32(steps) * np.float32(0.25)
            return v
        mult = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5.0, -6.0], np.float32)
        v = rng.choice(mult, gs).astype(np.float32)
        v[0] = 6.0
        return v * np.float32(2.0 ** int(rng.integers(-4, 4)))
    if kind == "huge":
        top = {"float32": 1e30, "float16": 6e4, "bfloat16": 1e30}[dtype]
        return (rng.standard_normal(gs) * top / 4).astype(np.float32)
    if kind == "tiny":
        lo = {"float32": 1e-40, "float16": 1e-7, "bfloat16": 1e-40}[dtype]
        return (rng.standard_normal(gs) * lo).astype(np.float32)
    if kind == "nonfinite":
        v = rng.standard_normal(gs).astype(np.float32)
        v[int(rng.integers(0, gs))] = rng.choice([np.inf, -np.inf])
        return v
    if kind == "nan":
        # A NaN input: the max reductions propagate it into the scale.
        v = rng.standard_normal(gs).astype(np.float32)
        v[int(rng.integers(0, gs))] = rng.choice([np.nan, -np.nan])
        return v
    if kind == "mixed_sign_edge":
        v = rng.standard_normal(gs).astype(np.float32)
        v[0] = np.float32(-2.0)
        v[1] = np.float32(2.0)
        return v
    raise ValueError(kind)


def make_input(rng, dtype, gs, bits, mode, case_no):
    three_d = rng.random() < 0.3
    groups_per_row = int(rng.integers(1, 5))
    if mode == "nvfp4":
        # MLX's CPU nvfp4 packs 32 elements at a time and rejects a total
        # that is not a multiple of 32 (a reshape error); keep K % 32 == 0.
        groups_per_row = 2 * int(rng.integers(1, 3))
    rows = int(rng.integers(1, 7))
    shape = [int(rng.integers(2, 4)), rows, gs * groups_per_row] if three_d else [rows, gs * groups_per_row]
    scale = rng.choice([1e-3, 0.05, 1.0, 30.0])
    w = (rng.standard_normal(shape) * scale).astype(np.float32)
    flat = w.reshape(-1, gs)
    # Every case carries a few special groups; the kind rotates with the case
    # number so each combination sees every kind over its repetitions.
    for j in range(min(2, flat.shape[0])):
        kind = SPECIALS[(case_no * 2 + j) % len(SPECIALS)]
        flat[int(rng.integers(0, flat.shape[0]))] = special_group(kind, gs, rng, dtype, bits, mode)
    return mx.array(flat.reshape(shape)).astype(DTYPES[dtype])


def gen(out, seed, reps):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = 0
    arrays = 0
    combos = []
    for dtype in DTYPES:
        for bits in AFFINE_BITS:
            for gs in AFFINE_GROUPS:
                combos.append(("affine", bits, gs, dtype, False))
        for mode, bits, gs, glob_scale in FP_MODES:
            combos.append((mode, bits, gs, dtype, glob_scale))
    for mode, bits, gs, dtype, glob_scale in combos:
        tensors = {}
        for c in range(reps):
            w = make_input(rng, dtype, gs, bits, mode, c)
            kw = {}
            if glob_scale:
                kw["global_scale"] = mx.array(np.float32(rng.choice([0.5, 1.0, 3.0, 448.0 * 6.0 / 7.5])))
                tensors[f"c{c}.global_scale"] = kw["global_scale"]
            try:
                res = mx.quantize(w, group_size=gs, bits=bits, mode=mode, **kw)
            except ValueError as e:
                raise ValueError(f"{mode} b{bits} g{gs} {dtype} shape {w.shape}: {e}")
            wq, scales = res[0], res[1]
            biases = res[2] if len(res) > 2 else None
            deq = mx.dequantize(wq, scales, biases, group_size=gs, bits=bits, mode=mode, **kw)
            tensors[f"c{c}.w"] = w
            tensors[f"c{c}.wq"] = wq
            tensors[f"c{c}.scales"] = scales
            if biases is not None:
                tensors[f"c{c}.biases"] = biases
            tensors[f"c{c}.deq"] = deq
        name = f"quant-{mode}{'-gscale' if glob_scale else ''}-b{bits}-g{gs}-{dtype}.safetensors"
        mx.eval(tensors)
        mx.save_safetensors(os.path.join(out, name), tensors,
                            metadata={"kind": "quantize", "mode": mode, "bits": str(bits),
                                      "group_size": str(gs), "dtype": dtype, "reps": str(reps)})
        files += 1
        arrays += sum(1 for k in tensors if not k.endswith((".w", ".global_scale")))

    # Casts: random values plus every special the converters care about.
    specials = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 65504.0, 65519.0, 65520.0,
                         1e-8, -3e-8, 5.96e-8, 6.1e-5, 3.4e38, -3.4e38, 1e-40, 1.00390625, 1.0048828125],
                        np.float32)
    for src in DTYPES:
        for dst in DTYPES:
            if src == dst:
                continue
            tensors = {}
            for c in range(reps):
                n = int(rng.integers(1, 300))
                v = np.concatenate([specials, (rng.standard_normal(n) * rng.choice([1e-6, 1.0, 1e4])).astype(np.float32)])
                # Raw random bit patterns reach every exponent and NaN payload.
                raw = rng.integers(0, 2**32, 64, dtype=np.uint64).astype(np.uint32).view(np.float32)
                w = mx.array(np.concatenate([v, raw]).reshape(1, -1))
                if src != "float32":
                    bits16 = rng.integers(0, 2**16, 64, dtype=np.uint32).astype(np.uint16)
                    w = mx.concatenate([w.astype(DTYPES[src]), mx.array(bits16).view(DTYPES[src]).reshape(1, -1)], axis=1)
                tensors[f"c{c}.w"] = w
                tensors[f"c{c}.out"] = w.astype(DTYPES[dst])
            mx.eval(tensors)
            mx.save_safetensors(os.path.join(out, f"cast-{src}-{dst}.safetensors"), tensors,
                                metadata={"kind": "cast", "from": src, "to": dst, "reps": str(reps)})
            files += 1
            arrays += reps
    n, a = gen_fp8block(out, rng, reps)
    files += n
    arrays += a
    print(f"oracle: seed {seed}: wrote {files} case files with {arrays} MLX outputs to {out}")


FP8_BLOCK = 128


def fp8_dequant_ref(w, scale_inv):
    """mlx-lm's own FP8 block dequant: deepseek_v3's Model.sanitize on one
    weight and its weight_scale_inv (a tiny model, so the real code runs).
    Where mlx_lm is not installed (the arm64 oracle has the mlx wheel only)
    the same MLX operations in the same order: from_fp8 to bfloat16, pad
    to the block grid, multiply by the float32 block scale (promoting to
    float32), crop, astype bfloat16."""
    try:
        from mlx_lm.models import deepseek_v3
    except ImportError:
        m, n = w.shape
        pb, ps = (-m) % FP8_BLOCK, (-n) % FP8_BLOCK
        x = mx.pad(mx.from_fp8(w, dtype=mx.bfloat16), ((0, pb), (0, ps)))
        x = x.reshape(((m + pb) // FP8_BLOCK, FP8_BLOCK, (n + ps) // FP8_BLOCK, FP8_BLOCK))
        x = (x * scale_inv[:, None, :, None]).reshape(m + pb, n + ps)
        return x[:m, :n].astype(mx.bfloat16)

    args = deepseek_v3.ModelArgs(vocab_size=8, hidden_size=8, intermediate_size=8, moe_intermediate_size=8,
                                 num_hidden_layers=0, num_attention_heads=1, num_key_value_heads=1,
                                 kv_lora_rank=8, q_lora_rank=None, qk_rope_head_dim=8, v_head_dim=8,
                                 qk_nope_head_dim=8)
    out = deepseek_v3.Model(args).sanitize({"x.weight": w, "x.weight_scale_inv": scale_inv})
    return out["x.weight"]


def gen_fp8block(out, rng, reps):
    """FP8 block-scaled weights (DeepSeek-V3 checkpoints): every e4m3 code
    (from_fp8 to bfloat16, "cK.from") and the whole dequant of random
    blocks with odd shapes ("cK.out"); "cK.w" holds the fp8 bytes as uint8,
    "cK.scale" the float32 block scales."""
    tensors = {}
    for c in range(reps):
        if c == 0:
            m, n = 2, 128  # the 256 codes, one block
            codes = np.arange(256, dtype=np.uint8)
        else:
            m = int(rng.choice([1, 5, 127, 128, 129, 200, 256, 300]))
            n = int(rng.choice([1, 3, 64, 128, 130, 255, 256, 385]))
            codes = rng.integers(0, 256, m * n, dtype=np.uint64).astype(np.uint8)
        w = mx.array(codes.reshape(m, n))
        sm, sn = -(-m // FP8_BLOCK), -(-n // FP8_BLOCK)
        mag = rng.choice([1e-4, 1.0, 3e3], (sm, sn))
        scale = mx.array((rng.random((sm, sn)) * mag).astype(np.float32))
        tensors[f"c{c}.w"] = w
        tensors[f"c{c}.scale"] = scale
        tensors[f"c{c}.from"] = mx.from_fp8(w, dtype=mx.bfloat16)
        tensors[f"c{c}.out"] = fp8_dequant_ref(w, scale)
    mx.eval(tensors)
    mx.save_safetensors(os.path.join(out, "fp8block.safetensors"), tensors,
                        metadata={"kind": "fp8block", "block": str(FP8_BLOCK), "reps": str(reps)})
    return 1, 2 * reps


def same_bits(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    view = {1: mx.uint8, 2: mx.uint16, 4: mx.uint32, 8: mx.uint64}[a.itemsize]
    return bool(mx.array_equal(a.view(view), b.view(view)).item())


def verify(out):
    passed = failed = 0
    ours = sorted(glob.glob(os.path.join(out, "ours", "*.safetensors")))
    if not ours:
        print(f"oracle: no files in {out}/ours (did the Go oracle test run?)")
        print("0 passed, 1 failed")
        return 1
    for path in ours:
        mine = mx.load(path)
        ref = mx.load(os.path.join(out, os.path.basename(path)))
        for k, v in sorted(mine.items()):
            if k not in ref:
                print(f"FAIL {os.path.basename(path)}: {k}: not in MLX's file")
                failed += 1
            elif same_bits(v, ref[k]):
                passed += 1
            else:
                print(f"FAIL {os.path.basename(path)}: {k}: mx.load of our file differs from MLX's array")
                failed += 1
    print(f"safetensors-interop: {passed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("dir")
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--reps", type=int, default=16)
    v = sub.add_parser("verify")
    v.add_argument("dir")
    a = ap.parse_args()
    mx.set_default_device(mx.cpu)
    if a.cmd == "gen":
        seed = a.seed if a.seed is not None else random.SystemRandom().randrange(2**31)
        gen(a.dir, seed, a.reps)
        return 0
    return verify(a.dir)


if __name__ == "__main__":
    sys.exit(main())
