#!/usr/bin/env python3
"""K-quant-sized variants of the llama oracle's tiny models (issue 15).

  kquant_models.py SRC OUT [--scale 4] [--ffn-scale N] [--layers 8] [--seed S] [--fp8]

The oracle's tiny models are 64 wide, so every K-quant type falls back to a
32-element type there. This writes a copy of the Hugging Face model SRC into
OUT with every width (hidden size, intermediate sizes, head_dim, the vision
tower's) times --scale (the intermediate sizes times --ffn-scale, e.g. 5 for
a 640-wide FFN that is not a multiple of 256), --layers decoder layers, and
fresh deterministic bf16 weights (normal * 0.02, from --seed) under the same
tensor names (layer 0's names for the added layers). Vocabulary rows, expert
counts, patch counts and channels keep their sizes: a dimension is scaled
when it is one of the config's widths.

--fp8 stores the decoder layers' Linear weights as the Hub's block-scaled
FP8 checkpoints (DeepSeek-V3, Qwen3-*-FP8) do: float8_e4m3fn with a float32
NAME.weight_scale_inv per 128x128 block (amax/448) and config.json's
quantization_config {quant_method fp8, weight_block_size [128, 128]}.
"""
import argparse
import hashlib
import json
import os
import shutil
import struct

import numpy as np

WIDTH_KEYS = ("hidden_size", "head_dim", "intermediate_size", "moe_intermediate_size", "shared_expert_intermediate_size")
FFN_KEYS = ("intermediate_size", "moe_intermediate_size", "shared_expert_intermediate_size")


def scale_config(cfg, scale, ffn_scale, layers, dims):
    """Scales cfg's widths in place (text_config / vision_config too) and
    records old -> new sizes in dims."""
    for k in WIDTH_KEYS:
        if isinstance(cfg.get(k), int):
            f = ffn_scale if k in FFN_KEYS else scale
            dims.setdefault(cfg[k], cfg[k] * f)
            cfg[k] = cfg[k] * f
    heads = cfg.get("num_attention_heads")
    if "head_dim" not in cfg and isinstance(heads, int) and "hidden_size" in cfg:
        hd = cfg["hidden_size"] // scale // heads
        dims.setdefault(hd, hd * scale)
    if isinstance(heads, int) and isinstance(cfg.get("head_dim"), int):
        for n in (heads, cfg.get("num_key_value_heads") or heads):
            old = n * cfg["head_dim"] // scale
            dims.setdefault(old, old * scale)
    if layers and "num_hidden_layers" in cfg and cfg.get("model_type") != "siglip_vision_model":
        cfg["num_hidden_layers"] = layers
    for sub in ("text_config", "vision_config"):
        if isinstance(cfg.get(sub), dict):
            scale_config(cfg[sub], scale, ffn_scale, layers if sub == "text_config" else 0, dims)


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def bf16_bytes(x):
    u = x.astype(np.float32).view(np.uint32)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r.tobytes()


FP8_BLOCK = 128


def fp8_target(name, shape):
    """The Linear weights block-scaled FP8 checkpoints store in FP8: 2-D
    *.weight of the decoder layers, not norms, embeddings or MoE routers."""
    return (len(shape) == 2 and name.endswith(".weight") and ".layers." in name and "norm" not in name
            and not name.endswith("mlp.gate.weight") and "embed" not in name)


def fp8_block(w):
    """(e4m3 bytes, float32 scale_inv [ceil(out/128), ceil(in/128)]) of w:
    per 128x128 block scale = amax/448, w/scale rounded to float8_e4m3fn."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
    out_dim, in_dim = t.shape
    bo, bi = -(-out_dim // FP8_BLOCK), -(-in_dim // FP8_BLOCK)
    pad = torch.zeros(bo * FP8_BLOCK, bi * FP8_BLOCK)
    pad[:out_dim, :in_dim] = t
    blocks = pad.reshape(bo, FP8_BLOCK, bi, FP8_BLOCK)
    scale = (blocks.abs().amax(dim=(1, 3)).clamp(min=1e-12) / 448.0).to(torch.float32)
    q = (blocks / scale[:, None, :, None]).reshape(bo * FP8_BLOCK, bi * FP8_BLOCK)[:out_dim, :in_dim]
    q8 = q.contiguous().to(torch.float8_e4m3fn)
    return q8.view(torch.uint8).numpy().tobytes(), scale.numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--ffn-scale", type=int, default=0)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--seed", default="kquant")
    ap.add_argument("--fp8", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for fn in os.listdir(a.src):
        if not fn.endswith(".safetensors") and not fn.endswith(".index.json") and fn != "config.json":
            shutil.copy(os.path.join(a.src, fn), os.path.join(a.out, fn))
    cfg = json.load(open(os.path.join(a.src, "config.json")))
    dims = {}
    scale_config(cfg, a.scale, a.ffn_scale or a.scale, a.layers, dims)
    if a.fp8:
        cfg["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                      "weight_block_size": [FP8_BLOCK, FP8_BLOCK]}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    text = cfg.get("text_config", cfg)
    vocab = text.get("vocab_size") or cfg.get("vocab_size")

    tensors = {}
    for fn in sorted(os.listdir(a.src)):
        if fn.endswith(".safetensors"):
            for name, info in read_header(os.path.join(a.src, fn)).items():
                if name != "__metadata__":
                    tensors[name] = info["shape"]
    out = {}
    for name, shape in tensors.items():
        new = [d if (d == vocab or d not in dims) else dims[d] for d in shape]
        parts = name.split(".")
        if "layers" in parts:
            i = parts.index("layers") + 1
            if parts[i] != "0":
                continue
            for layer in range(a.layers):
                parts[i] = str(layer)
                out[".".join(parts)] = new
        else:
            out[name] = new
    seed = int.from_bytes(hashlib.sha256(a.seed.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    header, blobs, off = {}, [], 0
    for name in sorted(out):
        shape = out[name]
        n = int(np.prod(shape)) if shape else 1
        x = rng.standard_normal(n, dtype=np.float32) * 0.02
        if a.fp8 and fp8_target(name, shape):
            q, sc = fp8_block(x.reshape(shape))
            for nm, dt, shp, b in ((name, "F8_E4M3", shape, q), (name[: -len("weight")] + "weight_scale_inv", "F32", list(sc.shape), sc.tobytes())):
                header[nm] = {"dtype": dt, "shape": shp, "data_offsets": [off, off + len(b)]}
                blobs.append(b)
                off += len(b)
            continue
        b = bf16_bytes(x)
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print(a.out, json.dumps({str(k): v for k, v in dims.items()}))


if __name__ == "__main__":
    main()
