#!/usr/bin/env python3
"""mlx-lm's side of the MLX -> GGUF check (mlx_check.py). Run with the mlx-lm
oracle venv python (scripts/oracle/setup.sh).

  mlx_ref.py --hf HFDIR --out DIR --tokens 1,2,3

Writes, into DIR (which must not exist):
  plain/NAME  mlx_lm.convert(HFDIR) (its default dtype), as mlx-lm writes it
  4bit/NAME   mlx_lm.convert(HFDIR, quantize=True) (affine, 4 bits, group 64)
              (NAME: HFDIR's base name, which general.name derives from)
  source.f32, plain.f32, 4bit.f32
            last-position logits (float32 little-endian, by token id) of the
            token ids, computed by mlx_lm.load of HFDIR (cast to float32:
            the exact model), plain/ and 4bit/ (as loaded; where MLX's CPU
            cannot compute in the model's dtype — GatherMM, the MoE experts,
            is float32 only — with the stored values cast to float32, listed
            in info.json f32_compute)
  info.json {mlx_lm, mlx, tokens, dtype of plain/ (config.json), n_vocab}
"""
import argparse
import json
import os
import sys


def logits(path, tokens, f32=False):
    import mlx.core as mx
    from mlx_lm import load

    model, _ = load(path)
    if f32:
        model.set_dtype(mx.float32)

    def run():
        out = model(mx.array([tokens]))
        if isinstance(out, tuple):  # some models return (logits, extra)
            out = out[0]
        v = out[0, -1].astype(mx.float32)
        mx.eval(v)
        return v

    try:
        v = run()
    except RuntimeError as e:
        # MLX's CPU GatherMM (the MoE experts) computes in float32 only:
        # run the model with its stored values cast to float32.
        if f32 or "float32" not in str(e):
            raise
        model.set_dtype(mx.float32)
        v, f32 = run(), True
    import numpy as np

    return np.array(v, dtype="<f4"), f32


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hf", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokens", required=True)
    a = ap.parse_args()
    tokens = [int(t) for t in a.tokens.split(",")]
    import mlx.core as mx
    import mlx_lm
    from mlx_lm import convert

    tmp = a.out + ".tmp"
    os.makedirs(tmp)
    # Each model sits in a directory named like the HF one: general.name
    # comes from it, and llama.cpp reads Phi-3's vocabulary by that name.
    name = os.path.basename(os.path.normpath(a.hf))
    convert(a.hf, mlx_path=os.path.join(tmp, "plain", name))
    convert(a.hf, mlx_path=os.path.join(tmp, "4bit", name), quantize=True)
    n_vocab, f32_compute = 0, []
    for case, path in (("source", a.hf), ("plain", os.path.join(tmp, "plain", name)), ("4bit", os.path.join(tmp, "4bit", name))):
        v, f32 = logits(path, tokens, f32=case == "source")
        if f32 and case != "source":
            f32_compute.append(case)
        n_vocab = len(v)
        v.tofile(os.path.join(tmp, case + ".f32"))
    with open(os.path.join(tmp, "plain", name, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    info = {"mlx_lm": mlx_lm.__version__, "mlx": mx.__version__, "tokens": tokens, "n_vocab": n_vocab,
            "name": name, "dtype": cfg.get("torch_dtype") or cfg.get("dtype"), "f32_compute": f32_compute}
    with open(os.path.join(tmp, "info.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    os.rename(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
