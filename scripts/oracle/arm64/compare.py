#!/usr/bin/env python3
"""Compares what MLX's CPU backend computes on two platforms for the same inputs.

  compare.py A B

A and B are directories written by `kernels.py gen --seed S --reps R` with the
same S and R on two platforms (e.g. A on linux/amd64 with the oracle venv, B
on linux/arm64 with scripts/oracle/arm64/setup.sh's python), so both hold the
same inputs. Every output array is compared bit for bit; each differing
element is put in a class named after its cause (see CLASSES), with the
first examples. A difference outside the known classes, or differing inputs,
makes the exit status 1.

B may also be A/ours, the Go kernels' outputs that TestKernelOracle writes
(inputs then come from A; its dequantized arrays are of MLX's quantized ones,
so a "deq" difference there is the Go dequantize's own).

Runs with any python that has mlx and numpy (mx.load reads bfloat16).
"""
import glob
import os
import sys
from collections import defaultdict

import mlx.core as mx
import numpy as np

# Known causes, by class prefix. "A" is the first directory (amd64), "B" the
# second (arm64).
CLASSES = {
    "nan-sign": "a NaN made by arithmetic (inf-inf, 0*inf, inf/inf) is -NaN on x86 "
                "(0xffc00000, f16 0xfd00) and +NaN on arm64 (0x7fc00000, f16 0x7d00); "
                "bfloat16 results are canonical 0x7fc0 on both",
    "mx-scale": "e8m0 scale byte: astype(int32) of ceil(log2(s)) gives INT_MIN for inf/NaN on "
                "x86 but saturates on arm64 (inf -> INT_MAX, NaN -> 0), and astype(uint8) of "
                "e+127 keeps the low byte of that int32 conversion on x86, while on arm64 it "
                "depends on the dtype and on the element's place in the scales array: "
                "float32 and bfloat16 keep the low byte of a saturating int32 conversion in "
                "the vector loop (the first n - n%L elements, L = 8 for float32, 16 for "
                "bfloat16) and of a saturating uint32 conversion in the scalar remainder "
                "loop (negatives and NaN -> 0, 2^31 -> 0x00); float16 uses the saturating "
                "uint32 conversion everywhere (see probe.py)",
    "mx-codes": "codes of a group whose amax is inf or NaN: x86 divides by 2^INT_MIN = 0 "
                "(codes +-max), arm64 by 2^INT_MAX = inf for inf (codes +-0, NaN for the inf "
                "element) and by 2^0 = 1 for NaN",
    "deq-follows": "dequantized group whose scale, bias or codes differ (the inputs of "
                   "mx.dequantize differ, not its arithmetic)",
}


def bits(a):
    """The array's elements as unsigned integers of the same width."""
    view = {1: mx.uint8, 2: mx.uint16, 4: mx.uint32, 8: mx.uint64}[a.itemsize]
    return np.array(a.view(view)).reshape(-1)


def floats(a):
    return np.array(a.astype(mx.float32)).reshape(-1)


def is_nan(a):
    return np.isnan(floats(a)) if a.dtype in (mx.float32, mx.float16, mx.bfloat16) else None


SIGN = {4: 0x80000000, 2: 0x8000}


def amax_kind(g):
    m = np.max(np.abs(g))
    if np.isnan(m):
        return "amax NaN"
    if np.isinf(m):
        return "amax inf"
    if m == 0:
        return "amax 0"
    if m < np.float32(2.0**-126):
        return "amax subnormal"
    return "amax finite"


class Report:
    def __init__(self):
        self.classes = defaultdict(lambda: [0, 0, []])  # arrays, elements, examples
        self.arrays = self.same = 0

    def add(self, cls, where, n, example):
        c = self.classes[cls]
        c[0] += 1
        c[1] += n
        if len(c[2]) < 3:
            c[2].append(f"{where}: {example}")


def hexs(x, width):
    return f"{int(x):0{width * 2}x}"


def compare_quant(rep, name, meta, A, B):
    mode, dtype, gs = meta["mode"], meta["dtype"], int(meta["group_size"])
    bits_ = int(meta["bits"])
    lane = {"float32": 8, "bfloat16": 16, "float16": 8}[dtype]
    for c in range(int(meta["reps"])):
        p = f"c{c}."
        if any(k in A and k in B and not np.array_equal(bits(A[k]), bits(B[k])) for k in (p + "w", p + "global_scale")):
            rep.add("UNEXPLAINED: inputs differ (not the same seed?)", f"{name} {p}w", 1, "")
            continue
        w = floats(A[p + "w"]).reshape(-1, gs)
        kinds = [amax_kind(g) for g in w]
        group_differs = np.zeros(len(w), bool)
        for k in ("scales", "biases"):
            if p + k not in A:
                continue
            a, b = A[p + k], B[p + k]
            rep.arrays += 1
            xa, xb = bits(a), bits(b)
            diff = np.nonzero(xa != xb)[0]
            if len(diff) == 0:
                rep.same += 1
                continue
            group_differs[diff] = True
            nan_a, nan_b = is_nan(a), is_nan(b)
            by = defaultdict(list)
            for i in diff:
                if nan_a is not None and nan_a[i] and nan_b[i] and xa[i] ^ xb[i] == SIGN[a.itemsize]:
                    cls = f"nan-sign: {mode} {k} {dtype}"
                elif mode != "affine" and mode != "nvfp4" and k == "scales":
                    n = len(xa)
                    place = "scalar tail" if i >= n - n % lane else "vector body"
                    if dtype == "float16":
                        place = "any place"
                    cls = f"mx-scale: {mode} {dtype} {kinds[i]}, {place}: A {hexs(xa[i], 1)} B {hexs(xb[i], 1)}"
                else:
                    cls = f"UNEXPLAINED: {mode} {k} {dtype} {kinds[i]}"
                by[cls].append(i)
            for cls, idx in by.items():
                i = idx[0]
                rep.add(cls, f"{name} {p}{k}[{i} of {len(xa)}]", len(idx),
                        f"A {hexs(xa[i], a.itemsize)} B {hexs(xb[i], b.itemsize)}")
        # Packed codes: words per group.
        a, b = A[p + "wq"], B[p + "wq"]
        rep.arrays += 1
        xa, xb = bits(a), bits(b)
        diff = np.nonzero(xa != xb)[0]
        if len(diff) == 0:
            rep.same += 1
        else:
            per = gs * bits_ // 32
            by = defaultdict(list)
            group_differs[np.unique(diff // per)] = True
            for i in diff:
                g = i // per
                if mode in ("mxfp4", "mxfp8") and kinds[g] in ("amax inf", "amax NaN"):
                    cls = f"mx-codes: {mode} {dtype} {kinds[g]}"
                else:
                    cls = f"UNEXPLAINED: {mode} wq {dtype} {kinds[g]}"
                by[cls].append(i)
            for cls, idx in by.items():
                i = idx[0]
                rep.add(cls, f"{name} {p}wq[{i}] (group {i // per})", len(idx),
                        f"A {hexs(xa[i], 4)} B {hexs(xb[i], 4)}")
        a, b = A[p + "deq"], B[p + "deq"]
        rep.arrays += 1
        xa, xb = bits(a), bits(b)
        diff = np.nonzero(xa != xb)[0]
        if len(diff) == 0:
            rep.same += 1
            continue
        nan_a, nan_b = is_nan(a), is_nan(b)
        by = defaultdict(list)
        for i in diff:
            g = i // gs
            if group_differs[g]:
                cls = f"deq-follows: {mode} {dtype} {kinds[g]}"
            elif nan_a[i] and nan_b[i] and xa[i] ^ xb[i] == SIGN[a.itemsize]:
                cls = f"nan-sign: {mode} deq {dtype}"
            else:
                cls = f"UNEXPLAINED: {mode} deq {dtype} {kinds[g]} (arithmetic, e.g. FMA?)"
            by[cls].append(i)
        for cls, idx in by.items():
            i = idx[0]
            fa, fb = floats(a)[i], floats(b)[i]
            rep.add(cls, f"{name} {p}deq[{i}] (group {i // gs})", len(idx),
                    f"A {hexs(xa[i], a.itemsize)} ({fa!r}) B {hexs(xb[i], b.itemsize)} ({fb!r})")


def compare_cast(rep, name, meta, A, B):
    for c in range(int(meta["reps"])):
        p = f"c{c}."
        if p + "w" in B and not np.array_equal(bits(A[p + "w"]), bits(B[p + "w"])):
            rep.add("UNEXPLAINED: inputs differ (not the same seed?)", f"{name} {p}w", 1, "")
            continue
        a, b = A[p + "out"], B[p + "out"]
        rep.arrays += 1
        xa, xb = bits(a), bits(b)
        diff = np.nonzero(xa != xb)[0]
        if len(diff) == 0:
            rep.same += 1
            continue
        nan_a, nan_b = is_nan(a), is_nan(b)
        by = defaultdict(list)
        for i in diff:
            if nan_a[i] and nan_b[i] and xa[i] ^ xb[i] == SIGN[a.itemsize]:
                cls = f"nan-sign: cast {meta['from']}->{meta['to']}"
            else:
                cls = f"UNEXPLAINED: cast {meta['from']}->{meta['to']}"
            by[cls].append(i)
        for cls, idx in by.items():
            i = idx[0]
            rep.add(cls, f"{name} {p}out[{i}]", len(idx),
                    f"in {hexs(bits(A[p + 'w'])[i], A[p + 'w'].itemsize)}: A {hexs(xa[i], a.itemsize)} B {hexs(xb[i], b.itemsize)}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    da, db = sys.argv[1:]
    mx.set_default_device(mx.cpu)
    rep = Report()
    files = sorted(glob.glob(os.path.join(da, "*.safetensors")))
    if not files:
        print(f"compare: no cases in {da}")
        return 1
    for path in files:
        name = os.path.basename(path)[: -len(".safetensors")]
        other = os.path.join(db, os.path.basename(path))
        if not os.path.exists(other):
            rep.add("UNEXPLAINED: file missing in B", name, 1, "")
            continue
        A, meta = mx.load(path, return_metadata=True)
        B, meta_b = mx.load(other, return_metadata=True)
        outputs = sorted(k for k in A if not k.endswith((".w", ".global_scale")))
        ours = "c0.w" not in B  # B is a Go test's ours/ directory
        if (not ours and meta != meta_b) or outputs != sorted(k for k in B if not k.endswith((".w", ".global_scale"))):
            rep.add("UNEXPLAINED: different parameters or arrays (not the same seed and reps?)", name, 1, "")
            continue
        if meta["kind"] == "quantize":
            compare_quant(rep, name, meta, A, B)
        else:
            compare_cast(rep, name, meta, A, B)
    unexplained = 0
    print(f"compare: {rep.arrays} output arrays, {rep.same} identical, {rep.arrays - rep.same} differ")
    for cls in sorted(rep.classes, key=lambda k: (k.startswith("UNEXPLAINED"), k)):
        arrays, elems, ex = rep.classes[cls]
        if cls.startswith("UNEXPLAINED"):
            unexplained += arrays
        print(f"  {cls}: {elems} elements in {arrays} arrays")
        for e in ex:
            print(f"      e.g. {e}")
    print("known causes:")
    for k, v in CLASSES.items():
        print(f"  {k}: {v}")
    print(f"mlx-platforms: {rep.same} identical, {rep.arrays - rep.same} differ, {unexplained} unexplained")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
