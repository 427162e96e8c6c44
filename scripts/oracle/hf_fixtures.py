#!/usr/bin/env python3
"""Tiny checkpoints made by transformers itself: the testdata/families/*.json
fixtures with "layout": "transformers" in their convert_oracle section.

  hf_fixtures.py ensure --npm DIR [NAME ...]   (any python; default: every such fixture)
      Makes the fixtures missing from the cache and prints NAME PATH per
      fixture. One python process per transformers version (torch imports
      once) makes all of that version's missing fixtures.
  hf_fixtures.py make --npm DIR NAME ...        (the torch python of that version)
      Makes the named fixtures into the cache (what `ensure` runs).

The model is what transformers builds and saves, so its config.json,
generation_config.json, tensor names, dtypes and shard layout are the real Hub
layout of that transformers version:

  cfg   = AutoConfig.for_model(model_type, **config)       (config: the fixture's)
  model = AUTO_CLASS.from_config(cfg, dtype=DTYPE)         (after torch.manual_seed)
  every non-constant floating parameter is redrawn from numpy PCG64 seeded by
  sha256(seed + "/" + parameter name) (normal / sqrt(fan-in); constant ones,
  e.g. norms initialised to 1 and biases to 0, stay as transformers set them),
  so a fixture's values do not depend on the transformers version's init code
  model.save_pretrained(out, safe_serialization=True, max_shard_size=...)
  then the tokenizer (the fixture's tokenizer section, as convert_models.py),
  generation_config (null: none; an object: written instead of transformers')
  and extra files, then the fixture's hub_fixups in order.

Fixture fields (schema: testdata/families/README.md): transformers (4: the
llama.cpp oracle venv, torch 2.11 + transformers 4.57.6; 5: transformers 5.23.0
from scripts/oracle/tf5, same torch), auto_class, seed, dtype, config,
tokenizer, shards, generation_config, files, build_patches, hub_fixups, twin.

The cache: $MLXCONV_CACHE/fixtures/hf/NAME-KEY (MLXCONV_CACHE defaults to
${XDG_CACHE_HOME:-~/.cache}/mlxconv), KEY the sha256 of the fixture file (and
its twin's), these generator sources and the pinned requirements of that
transformers version and the npm tokenizer pins. A directory is complete once
it exists (made under a temporary name and renamed). Several work trees share
the cache, each with its own keys while their sources differ: an entry of
another key is removed only once unused for a week.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import families  # noqa: E402
from cachegc import touch  # noqa: E402  (an entry's last use)

LAYOUT = "transformers"
VERSIONS = (4, 5)


def cache_root():
    c = os.environ.get("MLXCONV_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlxconv")
    return os.path.join(c, "fixtures", "hf")


def llama_cache():
    c = os.environ.get("MLXCONV_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlxconv")
    return os.environ.get("MLXCONV_LLAMA_CACHE") or os.path.join(c, "oracle", "llama")


# NAME + GGUF_VARIANT names the GGUF oracle's variant of fixture NAME: its
# convert_oracle section with the keys of llama_oracle.convert_oracle replaced
# (e.g. a tokenizer llama.cpp's converter recognizes), made and cached apart.
GGUF_VARIANT = "@gguf"


def base_name(name):
    """The family file a fixture name is read from."""
    return name[: -len(GGUF_VARIANT)] if name.endswith(GGUF_VARIANT) else name


def spec(name):
    """The convert_oracle section of a transformers fixture, or None."""
    doc = families.load(base_name(name))
    f = doc.get("convert_oracle")
    if name != base_name(name):
        over = doc.get("llama_oracle", {}).get("convert_oracle")
        if not over:
            return None
        f = dict(f, **over)
    return f if f and f.get("layout") == LAYOUT else None


def names():
    return [n for n in families.names("convert_oracle") if spec(n) is not None]


def version(f):
    v = f.get("transformers", 4)
    if v not in VERSIONS:
        raise ValueError("transformers must be one of %s, not %r" % (VERSIONS, v))
    return v


def requirements(v):
    reqs = [os.path.join(HERE, "llama", "requirements.txt")]
    if v == 5:
        reqs.append(os.path.join(HERE, "tf5", "requirements.txt"))
    return reqs


def key(name):
    """sha256 of everything the fixture's bytes depend on."""
    f = spec(name)
    h = hashlib.sha256()
    paths = [families.path(base_name(name))]
    if f.get("twin"):
        paths.append(families.path(f["twin"]))
    paths += [os.path.join(HERE, fn) for fn in ("hf_fixtures.py", "convert_models.py", "families.py", "tokenizers.sh")]
    paths += requirements(version(f))
    for p in paths:
        with open(p, "rb") as fh:
            h.update(os.path.basename(p).encode() + b"\0" + hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def cached_path(name):
    return os.path.join(cache_root(), "%s-%s" % (name, key(name)[:16]))


# Cache entries of another key older than this are removed when a fixture is made.
STALE_SECONDS = 7 * 24 * 3600


def python_for(v):
    """The python with torch and transformers v (setting up the tf5 venv when needed)."""
    if v == 4:
        py = os.path.join(llama_cache(), "venv", "bin", "python")
        if not os.access(py, os.X_OK):
            subprocess.run([os.path.join(HERE, "llama", "setup.sh")], check=True, stdout=subprocess.DEVNULL,
                           env=dict(os.environ, MLXCONV_LLAMA_CACHE=llama_cache()))
        return py
    out = subprocess.run([os.path.join(HERE, "tf5", "setup.sh")], check=True, stdout=subprocess.PIPE,
                         env=dict(os.environ, MLXCONV_LLAMA_CACHE=llama_cache()))
    return out.stdout.decode().strip()


def ensure(wanted, npm, log=sys.stderr):
    """{name: cached directory} for the transformers fixtures among wanted,
    making the missing ones (one process per transformers version)."""
    paths, missing = {}, {}
    # A transformers-made twin first (versions run in order, 4 before 5):
    # the fixture copies its files (save_config_twin).
    twins = [spec(n).get("twin") for n in wanted if spec(n) is not None]
    wanted = [t for t in twins if t and spec(t) is not None and t not in wanted] + list(wanted)
    for n in wanted:
        f = spec(n)
        if f is None:
            continue
        paths[n] = cached_path(n)
        if os.path.isdir(paths[n]):
            touch(paths[n])
        else:
            missing.setdefault(version(f), []).append(n)
    for v, todo in sorted(missing.items()):
        t = time.time()
        cmd = [python_for(v), os.path.join(HERE, "hf_fixtures.py"), "make", "--npm", npm] + todo
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false", TRANSFORMERS_VERBOSITY="error",
                   HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
        subprocess.run(cmd, check=True, env=env, stdout=log)
        print("hf_fixtures: transformers %d made %d fixture(s) in %.1fs: %s" % (v, len(todo), time.time() - t, " ".join(todo)),
              file=log, flush=True)
    return paths


# ---------------------------------------------------------------- making (torch python)


def seed_int(name):
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def redraw(model, seed):
    """Non-constant floating parameters <- deterministic draws keyed by name."""
    import numpy as np
    import torch

    with torch.no_grad():
        for pname, p in model.named_parameters():
            if not p.is_floating_point() or p.numel() == 0 or bool((p == p.reshape(-1)[0]).all()):
                continue
            rng = np.random.Generator(np.random.PCG64(seed_int(seed + "/" + pname)))
            fan_in = int(np.prod(p.shape[1:])) if p.dim() > 1 else 1
            scale = 1.0 / np.sqrt(fan_in) if p.dim() > 1 else 0.1
            v = rng.standard_normal(tuple(p.shape), dtype=np.float32) * np.float32(scale)
            p.copy_(torch.from_numpy(v).to(p.dtype))


def load_twin(model, twin, npm, scratch):
    """The twin family's convert_models.py weights, by name, into model."""
    import torch

    import convert_models as cm

    _, g, _, _, _ = cm.build(twin, npm, scratch)
    sd = {}
    for k, (v, dt) in g.tensors.items():
        sd[k] = torch.from_numpy(v.copy()).to(getattr(torch, dt))
    res = model.load_state_dict(sd, strict=False)
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    if res.unexpected_keys or set(res.missing_keys) - tied:
        raise ValueError("twin %s: unexpected %s, missing %s" % (twin, res.unexpected_keys[:4], res.missing_keys[:4]))


def shard_size(model, shards):
    total = sum(p.numel() * p.element_size() for p in model.state_dict().values())
    return total + 1 if shards <= 1 else total // shards + 1


def make(name, npm, out):
    """Makes the fixture under a temporary name, then renames it to out."""
    tmp = "%s.tmp-%d" % (out, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        save(name, npm, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for root, _, fns in os.walk(tmp):
        for fn in fns:
            os.chmod(os.path.join(root, fn), 0o644)  # as a Hub download (save_pretrained writes 0600)
    parent = os.path.dirname(out)
    for old in os.listdir(parent):
        # Other keys of this fixture unused for a week (several work trees
        # share the cache, each with its own key while their sources differ).
        p = os.path.join(parent, old)
        if (old.startswith(name + "-") and len(old) == len(name) + 17 and p != out
                and time.time() - os.path.getmtime(p) > STALE_SECONDS):
            shutil.rmtree(p, ignore_errors=True)
    try:
        os.rename(tmp, out)
    except OSError:
        if not os.path.isdir(out):
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another process made it meanwhile


def save(name, npm, tmp):
    """The fixture's files, into tmp."""
    import torch
    import transformers

    import convert_models as cm

    f = spec(name)
    if f.get("twin") and spec(f["twin"]) is not None:
        save_config_twin(f, f["twin"], npm, tmp)
        return
    tok = f["tokenizer"]
    if "npm" in tok:
        vocab = cm.tokenizer_size(npm, tok["npm"])
    else:
        s = tok["small"]
        vocab = cm.small_tokenizer(npm, s["from"], s["size"], tmp, template_file=s.get("template_file", False))
    twin = f.get("twin")
    conf = f.get("config")
    if conf is None and twin:
        conf = families.load(twin)["convert_oracle"]["config"]
    conf = dict(families.resolve(conf, vocab))
    for k in ("transformers_version", "torch_dtype", "dtype"):
        conf.pop(k, None)
    model_type = conf.pop("model_type")
    dtype = getattr(torch, f["dtype"])
    seed = f.get("seed", base_name(name))
    torch.manual_seed(seed_int(seed) & (2**63 - 1))
    for patch in f.get("build_patches", []):
        BUILD_PATCHES[patch](f)
    cfg = transformers.AutoConfig.for_model(model_type, **conf)
    cls = getattr(transformers, f.get("auto_class", "AutoModelForCausalLM"))
    if cls.__name__.startswith("Auto"):
        model = cls.from_config(cfg, dtype=dtype)
    else:
        model = cls._from_config(cfg, dtype=dtype)
    model.eval()
    if twin:
        scratch = os.path.join(tmp, ".twin")
        os.makedirs(scratch)
        load_twin(model, twin, npm, scratch)
        shutil.rmtree(scratch)
    else:
        redraw(model, seed)
    model.save_pretrained(tmp, safe_serialization=True, max_shard_size=shard_size(model, f.get("shards", 1)))
    if "generation_config" in f:
        gp = os.path.join(tmp, "generation_config.json")
        if f["generation_config"] is None:
            if os.path.exists(gp):
                os.unlink(gp)
        else:
            cm.write_json_hf(gp, f["generation_config"])
    if "npm" in tok:
        cm.copy_tokenizer(npm, tok["npm"], tmp)
    for fn, body in f.get("files", {}).items():
        with open(os.path.join(tmp, fn), "w") as fh:
            fh.write(body)
    for fix in f.get("hub_fixups", []):
        HUB_FIXUPS[fix](tmp, f)


def save_config_twin(f, twin, npm, tmp):
    """A transformers-made twin in this transformers version's config style:
    the twin fixture's files (same tensors, tokenizer, generation config)
    with the config.json this version writes for the twin's config.json (or
    the fixture's own config), e.g. transformers 5's rope_parameters for a
    fixture made with transformers 4. The fixture's hub_fixups run after,
    as in save."""
    import torch
    import transformers

    src = ensure([twin], npm)[twin]
    for fn in os.listdir(src):
        if fn != "config.json" and os.path.isfile(os.path.join(src, fn)):
            shutil.copyfile(os.path.join(src, fn), os.path.join(tmp, fn))
    with open(os.path.join(src, "config.json")) as fh:
        twin_conf = json.load(fh)
    # The twin's config.json as it stands (explicit values, as the Hub
    # ships them; the versions' defaults differ, e.g. cohere's rope_theta),
    # loaded and saved again by this transformers version.
    conf = f.get("config") or {k: v for k, v in twin_conf.items() if k != "quantization_config"}
    vocab = twin_conf.get("vocab_size") or twin_conf.get("text_config", {}).get("vocab_size")
    conf = dict(families.resolve(conf, vocab))
    for k in ("transformers_version", "torch_dtype", "dtype"):
        conf.pop(k, None)
    cfg = transformers.AutoConfig.for_model(conf.pop("model_type"), **conf)
    cfg.dtype = getattr(torch, f["dtype"])
    if "architectures" not in conf:  # what the model's save_pretrained sets
        cfg.architectures = twin_conf.get("architectures")
    cfg.save_pretrained(tmp)
    qc = twin_conf.get("quantization_config")
    if qc is not None:  # the twin's hub_fixups' (mxfp4_experts, fp8_block): its tensors are copied
        set_quant_config(tmp, qc)
    for fix in f.get("hub_fixups", []):
        HUB_FIXUPS[fix](tmp, f)


# ---------------------------------------------------------------- build patches
#
# Stand-ins for parts of a model transformers cannot build here: fn(fixture
# section) runs before the model is made. Listed by name in a fixture's
# "build_patches".


def patch_timm_vision_stub(f):
    """Gemma 3n's vision tower is a timm MobileNetV5 (TimmWrapperModel) and
    timm is not installed: a stub module with a few tensors under the Hub's
    names (model.vision_tower.timm_model.conv_stem.*) stands in for it.
    mlx-lm drops the whole tower, so only its names matter."""
    import torch
    import transformers

    class TimmStub(transformers.PreTrainedModel):
        config_class = transformers.Gemma3nVisionConfig

        def __init__(self, config):
            super().__init__(config)
            m = torch.nn.Module()
            m.conv_stem = torch.nn.Module()
            m.conv_stem.conv = torch.nn.Conv2d(3, 8, 3, bias=True)
            m.conv_stem.bn = torch.nn.Module()
            m.conv_stem.bn.weight = torch.nn.Parameter(torch.ones(8))
            self.timm_model = m
            self.post_init()

    transformers.AutoModel.register(transformers.Gemma3nVisionConfig, TimmStub, exist_ok=True)


BUILD_PATCHES = {
    "timm_vision_stub": patch_timm_vision_stub,
}


# ---------------------------------------------------------------- hub fixups
#
# Post-save corrections for checkpoints whose Hub files differ from what
# transformers' save_pretrained writes: fn(directory, fixture section) rewrites
# the saved files in place. Listed by name in a fixture's "hub_fixups".


def read_shards(d):
    """(weight_map or None, {file: {name: tensor}}) of a saved directory."""
    from safetensors.torch import load_file

    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as fh:
            wm = json.load(fh)["weight_map"]
        files = sorted(set(wm.values()))
    else:
        wm, files = None, ["model.safetensors"]
    return wm, {fn: load_file(os.path.join(d, fn)) for fn in files}


def write_shards(d, wm, shards):
    from safetensors.torch import save_file

    total = 0
    new_wm = {}
    for fn, ts in shards.items():
        save_file(ts, os.path.join(d, fn), metadata={"format": "pt"})
        for k, t in ts.items():
            new_wm[k] = fn
            total += t.numel() * t.element_size()
    if wm is not None:
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as fh:
            fh.write(json.dumps({"metadata": {"total_size": total}, "weight_map": dict(sorted(new_wm.items()))}, indent=2) + "\n")


FP8_BLOCK = 128
FP8_MAX = 448.0


def fp8_targets(name, t):
    """The Linear weights DeepSeek-V3 / Qwen3-FP8 store in FP8: 2-D *.weight of
    the decoder layers, not norms, embeddings, lm_head or MoE routers (*.gate)."""
    return (t.dim() == 2 and name.endswith(".weight") and ".layers." in name and "norm" not in name
            and not name.endswith("mlp.gate.weight") and "embed" not in name)


def fixup_fp8_block(d, f):
    """Block-scaled FP8 as DeepSeek-V3 and Qwen3-*-FP8 ship it: each Linear
    weight float8_e4m3fn, with `NAME.weight_scale_inv` float32
    [ceil(out/128), ceil(in/128)] (the dequantized weight is w8 * scale_inv per
    128x128 block), and config.json's quantization_config
    {activation_scheme dynamic, fmt e4m3, quant_method fp8, weight_block_size
    [128, 128]}."""
    import torch

    wm, shards = read_shards(d)
    for ts in shards.values():
        for name in [k for k, t in ts.items() if fp8_targets(k, t)]:
            w = ts[name].to(torch.float32)
            out_dim, in_dim = w.shape
            bo, bi = -(-out_dim // FP8_BLOCK), -(-in_dim // FP8_BLOCK)
            pad = torch.zeros(bo * FP8_BLOCK, bi * FP8_BLOCK)
            pad[:out_dim, :in_dim] = w
            blocks = pad.reshape(bo, FP8_BLOCK, bi, FP8_BLOCK)
            amax = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-12)
            scale = (amax / FP8_MAX).to(torch.float32)
            q = (blocks / scale[:, None, :, None]).reshape(bo * FP8_BLOCK, bi * FP8_BLOCK)[:out_dim, :in_dim]
            ts[name] = q.to(torch.float8_e4m3fn).contiguous()
            ts[name[: -len("weight")] + "weight_scale_inv"] = scale.contiguous()
    write_shards(d, wm, shards)
    cp = os.path.join(d, "config.json")
    with open(cp) as fh:
        c = json.load(fh)
    c["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                "weight_block_size": [FP8_BLOCK, FP8_BLOCK]}
    with open(cp, "w") as fh:
        fh.write(json.dumps(c, indent=2, sort_keys=True) + "\n")


# The e2m1 (FP4) values, by code 0..7 (bit 3 is the sign).
E2M1 = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
MXFP4_GROUP = 32


def mxfp4_pack(w):
    """MXFP4 as the gpt-oss Hub checkpoints store it: w [..., out, in] (float)
    -> blocks uint8 [..., out, in/32, 16] (two e2m1 codes per byte, the even
    element in the low nibble) and scales uint8 [..., out, in/32] (e8m0, bias
    127): per 32-element group the shared exponent is floor(log2(amax)) - 2
    (e2m1's largest exponent), each element rounded to the nearest e2m1 value
    of w / 2**exp (ties to the lower code, 6 at most)."""
    import torch

    w = w.to(torch.float32)
    *lead, out_dim, in_dim = w.shape
    g = w.reshape(*lead, out_dim, in_dim // MXFP4_GROUP, MXFP4_GROUP)
    amax = g.abs().amax(dim=-1)
    exp = torch.where(amax > 0, torch.floor(torch.log2(amax.clamp(min=2.0**-126))) - 2, torch.full_like(amax, -127.0))
    exp = exp.clamp(-127, 127)
    x = g / torch.pow(2.0, exp)[..., None]
    vals = torch.tensor(E2M1)
    idx = (x.abs()[..., None] - vals).abs().argmin(dim=-1)
    codes = (idx | ((x < 0) & (idx > 0)).to(torch.int64) << 3).to(torch.uint8)
    codes = codes.reshape(*lead, out_dim, in_dim // MXFP4_GROUP, MXFP4_GROUP // 2, 2)
    blocks = (codes[..., 0] | (codes[..., 1] << 4)).contiguous()
    scales = (exp + 127).to(torch.uint8).contiguous()
    return blocks, scales


def fixup_mxfp4_experts(d, f):
    """gpt-oss as openai ships it: the experts' gate_up_proj [E, H, 2I] and
    down_proj [E, I, H] (transformers' layout, input axis first) stored
    transposed ([E, out, in]) as MXFP4 NAME_blocks / NAME_scales (mxfp4_pack),
    the biases as they are, and config.json's quantization_config
    {modules_to_not_convert, quant_method mxfp4}."""
    wm, shards = read_shards(d)
    for ts in shards.values():
        for name in [k for k in ts if k.endswith(".experts.gate_up_proj") or k.endswith(".experts.down_proj")]:
            blocks, scales = mxfp4_pack(ts.pop(name).transpose(-1, -2))
            ts[name + "_blocks"] = blocks
            ts[name + "_scales"] = scales
    write_shards(d, wm, shards)
    set_quant_config(d, {"modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                                    "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"})


def fixup_fp8_ue8m0(d, f):
    """FP8 with power-of-two (ue8m0) scales over 32x32 blocks, the variant
    mlx-lm 0.32.2 keeps as mxfp8 instead of dequantizing: each Linear weight
    float8_e4m3fn, `NAME.weight_scale_inv` float32 [ceil(out/32), ceil(in/32)]
    holding 2^ceil(log2(amax/448)), and quantization_config {activation_scheme
    dynamic, fmt e4m3, quant_method fp8, scale_fmt ue8m0, weight_block_size
    [32, 32]} (DeepSeek-V3.1's scale_fmt, on 32x32 blocks)."""
    import torch

    bs = 32
    wm, shards = read_shards(d)
    for ts in shards.values():
        for name in [k for k, t in ts.items() if fp8_targets(k, t)]:
            w = ts[name].to(torch.float32)
            out_dim, in_dim = w.shape
            bo, bi = -(-out_dim // bs), -(-in_dim // bs)
            pad = torch.zeros(bo * bs, bi * bs)
            pad[:out_dim, :in_dim] = w
            blocks = pad.reshape(bo, bs, bi, bs)
            amax = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-12)
            scale = torch.exp2(torch.ceil(torch.log2(amax / FP8_MAX))).to(torch.float32)
            q = (blocks / scale[:, None, :, None]).reshape(bo * bs, bi * bs)[:out_dim, :in_dim]
            ts[name] = q.to(torch.float8_e4m3fn).contiguous()
            ts[name[: -len("weight")] + "weight_scale_inv"] = scale.contiguous()
    write_shards(d, wm, shards)
    set_quant_config(d, {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                         "scale_fmt": "ue8m0", "weight_block_size": [bs, bs]})


def set_quant_config(d, qc):
    """config.json's quantization_config <- qc (None: removed)."""
    cp = os.path.join(d, "config.json")
    with open(cp) as fh:
        c = json.load(fh)
    if qc is None:
        c.pop("quantization_config", None)
    else:
        c["quantization_config"] = qc
    with open(cp, "w") as fh:
        fh.write(json.dumps(c, indent=2, sort_keys=True) + "\n")


E2M1 = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def fp4_codes(x):
    """E2M1 codes (sign bit 3) of x, rounded to the nearest representable value."""
    import torch

    grid = torch.tensor(E2M1)
    idx = (x.abs()[..., None] - grid).abs().argmin(dim=-1)
    return (idx | ((x < 0).to(torch.int64) << 3)).to(torch.uint8)


def pack_nibbles(codes):
    """[..., n] 4-bit codes -> [..., n/2] uint8, element 2i in the low nibble."""
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).contiguous()


def nvfp4(w, group=16):
    """(packed uint8 [out, in/2], block scales float8_e4m3fn [out, in/group],
    global scale float32) of w, as NVIDIA's NVFP4 stores it: dequantized
    w = e2m1 * scale_fp8 / global_scale (compressed-tensors' weight_global_scale;
    ModelOpt's weight_scale_2 is 1/global_scale)."""
    import torch

    out_dim, in_dim = w.shape
    g = w.reshape(out_dim, in_dim // group, group)
    gs = torch.tensor(FP8_MAX * 6.0, dtype=torch.float32) / w.abs().amax().clamp(min=1e-12)
    s = (g.abs().amax(dim=-1) / 6.0 * gs).clamp(min=2.0**-9, max=FP8_MAX).to(torch.float8_e4m3fn)
    q = fp4_codes(g / (s.to(torch.float32) / gs)[..., None]).reshape(out_dim, in_dim)
    return pack_nibbles(q), s.contiguous(), gs.reshape(1)


def mxfp4(w, group=32):
    """(packed uint8 [out, in/2], e8m0 scales uint8 [out, in/group]) of w."""
    import torch

    out_dim, in_dim = w.shape
    g = w.reshape(out_dim, in_dim // group, group)
    e = torch.ceil(torch.log2(g.abs().amax(dim=-1).clamp(min=2.0**-120) / 6.0)).clamp(-127, 127)
    q = fp4_codes(g / torch.exp2(e)[..., None]).reshape(out_dim, in_dim)
    return pack_nibbles(q), (e + 127).to(torch.uint8).contiguous()


def ct_config(fmt, weights, input_activations=None):
    return {
        "config_groups": {"group_0": {"format": fmt, "input_activations": input_activations, "output_activations": None,
                                      "targets": ["Linear"], "weights": weights}},
        "format": fmt, "global_compression_ratio": None, "ignore": ["lm_head"], "kv_cache_scheme": None,
        "quant_method": "compressed-tensors", "quantization_status": "compressed", "sparsity_config": {},
        "transform_config": {}, "version": "0.12.2"}


def ct_weights(num_bits, typ, strategy, group, symmetric):
    return {"actorder": None, "block_structure": None, "dynamic": False, "group_size": group, "num_bits": num_bits,
            "observer": "minmax", "observer_kwargs": {}, "strategy": strategy, "symmetric": symmetric, "type": typ}


def fixup_ct_pack_quantized(d, f):
    """compressed-tensors pack-quantized W4A16 / W8A16 as
    RedHatAI/*-quantized.w4a16 (.w8a16) and llm-compressor ship it: per
    Linear `weight_packed` int32 [out, in*bits/32] (signed values offset by
    2^(bits-1), element (32/bits)i+k in bits k*bits..), `weight_scale`
    (model dtype) [out, in/group] and `weight_shape` int64 [out, in];
    symmetric. bits and group: the fixture's ct_bits (4) and ct_group (32,
    mlx-lm's fixed mapping for the format)."""
    import torch

    bits, group = f.get("ct_bits", 4), f.get("ct_group", 32)
    half, per = 2 ** (bits - 1), 32 // bits
    wm, shards = read_shards(d)
    for ts in shards.values():
        for name in [k for k, t in ts.items() if fp8_targets(k, t)]:
            w = ts.pop(name)
            dt = w.dtype
            out_dim, in_dim = w.shape
            g = w.to(torch.float32).reshape(out_dim, in_dim // group, group)
            s = (g.abs().amax(dim=-1) / (half - 0.5)).clamp(min=1e-8).to(dt)
            q = torch.round(g / s.to(torch.float32)[..., None]).clamp(-half, half - 1).to(torch.int64) + half
            q = q.reshape(out_dim, in_dim // per, per)
            packed = torch.zeros(out_dim, in_dim // per, dtype=torch.int64)
            for k in range(per):
                packed |= q[..., k] << (bits * k)
            base = name[: -len("weight")]
            ts[base + "weight_packed"] = torch.where(packed >= 2**31, packed - 2**32, packed).to(torch.int32)
            ts[base + "weight_scale"] = s.contiguous()
            ts[base + "weight_shape"] = torch.tensor([out_dim, in_dim], dtype=torch.int64)
    write_shards(d, wm, shards)
    set_quant_config(d, ct_config("pack-quantized", ct_weights(bits, "int", "group", group, True)))


def fixup_ct_nvfp4(d, f):
    """compressed-tensors nvfp4-pack-quantized as RedHatAI/*-NVFP4 ships it:
    per Linear `weight_packed` uint8 [out, in/2], `weight_scale`
    float8_e4m3fn [out, in/16], `weight_global_scale` and
    `input_global_scale` float32 [1]."""
    import torch

    wm, shards = read_shards(d)
    for ts in shards.values():
        for name in [k for k, t in ts.items() if fp8_targets(k, t)]:
            packed, s, gs = nvfp4(ts.pop(name).to(torch.float32))
            base = name[: -len("weight")]
            ts[base + "weight_packed"] = packed
            ts[base + "weight_scale"] = s
            ts[base + "weight_global_scale"] = gs
            ts[base + "input_global_scale"] = torch.tensor([1.0], dtype=torch.float32)
    write_shards(d, wm, shards)
    w = ct_weights(4, "float", "tensor_group", 16, True)
    a = dict(w, dynamic="local", observer=None)
    set_quant_config(d, ct_config("nvfp4-pack-quantized", w, a))


def fixup_ct_mxfp4(d, f):
    """compressed-tensors mxfp4-pack-quantized: per Linear `weight_packed`
    uint8 [out, in/2] and `weight_scale` uint8 (e8m0) [out, in/32]."""
    import torch

    wm, shards = read_shards(d)
    for ts in shards.values():
        for name in [k for k, t in ts.items() if fp8_targets(k, t)]:
            packed, s = mxfp4(ts.pop(name).to(torch.float32))
            base = name[: -len("weight")]
            ts[base + "weight_packed"] = packed
            ts[base + "weight_scale"] = s
    write_shards(d, wm, shards)
    set_quant_config(d, ct_config("mxfp4-pack-quantized", ct_weights(4, "float", "group", 32, True)))


def fixup_modelopt_nvfp4(d, f):
    """NVIDIA ModelOpt NVFP4 as nvidia/*-FP4 ships it: per Linear `weight`
    uint8 [out, in/2], `weight_scale` float8_e4m3fn [out, in/16],
    `weight_scale_2` and `input_scale` float32 scalars, no
    quantization_config in config.json and hf_quant_config.json
    {producer, quantization {quant_algo NVFP4, group_size 16,
    exclude_modules [lm_head]}}; with the fixture's "modelopt_config":
    "config", also config.json's flat quantization_config {quant_method
    modelopt, quant_algo NVFP4, ...} as newer exports write it."""
    import torch

    wm, shards = read_shards(d)
    for ts in shards.values():
        for name in [k for k, t in ts.items() if fp8_targets(k, t)]:
            packed, s, gs = nvfp4(ts[name].to(torch.float32))
            base = name[: -len("weight")]
            ts[name] = packed
            ts[base + "weight_scale"] = s
            ts[base + "weight_scale_2"] = (1.0 / gs).reshape(())
            ts[base + "input_scale"] = torch.tensor(1.0, dtype=torch.float32)
    write_shards(d, wm, shards)
    settings = {"exclude_modules": ["lm_head"], "group_size": 16, "kv_cache_quant_algo": None, "quant_algo": "NVFP4"}
    # Newer ModelOpt exports (fixture "modelopt_config": "config") also
    # write the settings flat into config.json, with quant_method.
    set_quant_config(d, dict(settings, quant_method="modelopt") if f.get("modelopt_config") == "config" else None)
    hq = {"producer": {"name": "modelopt", "version": "0.29.0"}, "quantization": settings}
    with open(os.path.join(d, "hf_quant_config.json"), "w") as fh:
        fh.write(json.dumps(hq, indent=4) + "\n")


def fixup_mlx_layout(d, f):
    """The quantized Linear tensors of the fixups above renamed into MLX's
    quantized layout, config.json's quantization_config kept: the form in
    which mlx-lm 0.32.2's load_model takes a compressed-tensors, ModelOpt or
    ue8m0-FP8 config for a dense model (it maps the config to an MLX
    quantization entry and infers each layer's mode from its scales, but
    renames no tensor). weight_packed (or ModelOpt's packed weight) viewed
    as uint32 -> weight; weight_scale -> scales (uint8 bits of fp8 / e8m0,
    or the affine scales with biases -2^(bits-1) * scales, as deepseek_v3's
    sanitize derives them for 4 bits); FP8 ue8m0 32x32: the fp8 bytes as uint32 and each block's
    exponent + 127 repeated over its 32 rows (deepseek_v41's _repack); the
    global / activation scales and weight_shape dropped. For NVFP4 that
    changes the values (MLX's nvfp4 Linear has no tensor scale, so the
    weights lose their 1/global_scale factor): these fixtures test the
    loader's config mapping and layer inference, not a faithful model."""
    import torch

    wm, shards = read_shards(d)
    for ts in shards.values():
        # pack-quantized bits per layer, for the affine biases.
        bits = {k[: -len(".weight_shape")]: 32 * ts[k[: -len("shape")] + "packed"].shape[-1] // int(ts[k][-1])
                for k in ts if k.endswith(".weight_shape")}
        for k in list(ts):
            base, _, leaf = k.rpartition(".")
            if leaf in ("weight_shape", "weight_global_scale", "input_global_scale", "weight_scale_2", "input_scale"):
                del ts[k]
            elif leaf == "weight_packed":
                ts[base + ".weight"] = ts.pop(k).contiguous().view(torch.uint32)
            elif leaf == "weight" and ts[k].dtype == torch.uint8:  # ModelOpt's packed weight
                ts[k] = ts[k].contiguous().view(torch.uint32)
            elif leaf == "weight_scale_inv":
                si = ts.pop(k)
                w = ts[base + ".weight"]
                e = (torch.log2(si) + 127).to(torch.uint8)
                ts[base + ".scales"] = e.repeat_interleave(32, dim=0)[: w.shape[0]].contiguous()
                ts[base + ".weight"] = w.view(torch.uint8).contiguous().view(torch.uint32)
        for k in [k for k in ts if k.endswith(".weight_scale")]:
            sc = ts.pop(k)
            base = k[: -len(".weight_scale")]
            if sc.is_floating_point() and sc.dtype != torch.float8_e4m3fn:
                ts[base + ".scales"] = sc
                ts[base + ".biases"] = (-(2 ** (bits[base] - 1)) * sc.to(torch.float32)).to(sc.dtype)
            else:
                ts[base + ".scales"] = sc.view(torch.uint8).contiguous()
    write_shards(d, wm, shards)


def fixup_hf_quant_config(d, f):
    """hf_quant_config.json <- the fixture's hf_quant_config (ModelOpt's
    side file, e.g. a checkpoint whose only quantized part is the KV cache:
    float weights, quant_algo null, kv_cache_quant_algo FP8)."""
    with open(os.path.join(d, "hf_quant_config.json"), "w") as fh:
        fh.write(json.dumps(f["hf_quant_config"], indent=4) + "\n")


def fixup_next_n_layer(d, f):
    """A next-n (MTP) layer after the last decoder layer, as GLM-4.5 ships it
    (transformers does not build it): model.layers.<N>.* copied from layer
    N-1 plus eh_proj, enorm, hnorm and shared_head.norm."""
    import torch

    wm, shards = read_shards(d)
    n = f["config"]["num_hidden_layers"]
    src, dst = "model.layers.%d." % (n - 1), "model.layers.%d." % n
    for fn, ts in shards.items():
        for k in [k for k in ts if k.startswith(src)]:
            ts[dst + k[len(src):]] = ts[k].clone()
        if "model.embed_tokens.weight" in ts:
            e = ts["model.embed_tokens.weight"]
            h = e.shape[1]
            ts[dst + "eh_proj.weight"] = torch.zeros((h, 2 * h), dtype=e.dtype)
            for x in ("enorm", "hnorm", "shared_head.norm"):
                ts[dst + x + ".weight"] = torch.ones((h,), dtype=e.dtype)
            if wm is not None:
                for k in ts:
                    wm.setdefault(k, fn)
    write_shards(d, wm, shards)


def fixup_ernie_mtp(d, f):
    """ERNIE 4.5's multi-token-prediction tensors (transformers does not build
    them): model.mtp_block.0.* copied from layer 0, mtp_linear_proj,
    mtp_hidden_norm and mtp_emb_norm."""
    import torch

    wm, shards = read_shards(d)
    for ts in shards.values():
        if "model.embed_tokens.weight" not in ts:
            continue
        e = ts["model.embed_tokens.weight"]
        h = e.shape[1]
        for k in [k for k in ts if k.startswith("model.layers.0.")]:
            ts["model.mtp_block.0." + k[len("model.layers.0."):]] = ts[k].clone()
        ts["model.mtp_linear_proj.0.weight"] = torch.zeros((h, 2 * h), dtype=e.dtype)
        for x in ("mtp_hidden_norm", "mtp_emb_norm"):
            ts["model.%s.0.weight" % x] = torch.ones((h,), dtype=e.dtype)
    write_shards(d, wm, shards)


def fixup_qwen_mtp(d, f):
    """The MTP block Qwen3-Next and Qwen3.5 checkpoints ship (transformers
    does not build it; mlx-lm's sanitize drops it, convert_hf_to_gguf.py keeps
    it as a next-n layer): mtp.layers.0.* copied from the last full-attention
    layer (a full-attention decoder layer with the model's MLP or MoE block),
    plus mtp.fc [H, 2H] and the (1 + w) norms mtp.pre_fc_norm_embedding,
    mtp.pre_fc_norm_hidden and mtp.norm [H], seeded; a Qwen3.5 config gets the
    Hub's text_config mtp_num_hidden_layers 1 and mtp_use_dedicated_embeddings
    false."""
    import torch

    c = f["config"].get("text_config", f["config"])
    n = c["num_hidden_layers"]
    types = c.get("layer_types") or ["full_attention" if (i + 1) % c.get("full_attention_interval", 4) == 0
                                     else "linear_attention" for i in range(n)]
    full = max(i for i, t in enumerate(types) if t == "full_attention")
    g = torch.Generator().manual_seed(1)
    wm, shards = read_shards(d)
    for fn, ts in shards.items():
        embed = [k for k in ts if k.endswith("embed_tokens.weight")]
        if not embed:
            continue
        src = embed[0][: -len("embed_tokens.weight")] + "layers.%d." % full
        for k in [k for k in ts if k.startswith(src)]:
            ts["mtp.layers.0." + k[len(src):]] = ts[k].clone()
        e = ts[embed[0]]
        h = e.shape[1]
        ts["mtp.fc.weight"] = (torch.randn((h, 2 * h), generator=g) * 0.05).to(e.dtype)
        for x in ("pre_fc_norm_embedding", "pre_fc_norm_hidden", "norm"):
            ts["mtp.%s.weight" % x] = (torch.randn((h,), generator=g) * 0.1).to(e.dtype)
        if wm is not None:
            for k in ts:
                wm.setdefault(k, fn)
    write_shards(d, wm, shards)
    if "text_config" in f["config"]:
        cp = os.path.join(d, "config.json")
        with open(cp) as fh:
            conf = json.load(fh)
        conf["text_config"].update(mtp_num_hidden_layers=1, mtp_use_dedicated_embeddings=False)
        with open(cp, "w") as fh:
            fh.write(json.dumps(conf, indent=2, sort_keys=True) + "\n")


def fixup_hub_config(d, f):
    """config.json with the fixture's hub_config keys set (a null removes a
    key; "a.b" is key b of the object at a): a remote-code Hub config over
    the transformers class whose checkpoint layout it shares (Hunyuan-A13B's
    "hunyuan" over hunyuan_v1_moe), or the Hub spelling of keys a newer
    transformers writes differently (Gemma 4's text_config.global_head_dim,
    which transformers 5.23 saves as per_layer_config)."""
    cp = os.path.join(d, "config.json")
    with open(cp) as fh:
        c = json.load(fh)
    for k, v in f["hub_config"].items():
        obj = c
        *path, k = k.split(".")
        for p in path:
            obj = obj[p]
        if v is None:
            obj.pop(k, None)
        else:
            obj[k] = v
    with open(cp, "w") as fh:
        fh.write(json.dumps(c, indent=2, sort_keys=True) + "\n")


def fixup_fused_experts(d, f):
    """Fused experts as the Qwen3.5-MoE Hub checkpoints store them (and the
    transformers-5 modules hold them; save_pretrained writes them back per
    expert): per MoE block P.mlp, P.mlp.experts.gate_up_proj [E, 2I, H]
    (every expert's gate_proj rows, then its up_proj rows) and
    P.mlp.experts.down_proj [E, H, I], replacing P.mlp.experts.{e}.*."""
    import re

    import torch

    wm, shards = read_shards(d)
    pat = re.compile(r"^(.*\.mlp\.experts)\.(\d+)\.(gate|up|down)_proj\.weight$")
    for ts in shards.values():
        blocks = {}
        for k in list(ts):
            m = pat.match(k)
            if m:
                blocks.setdefault(m.group(1), {}).setdefault(m.group(3), {})[int(m.group(2))] = ts.pop(k)
        for prefix, parts in blocks.items():
            n = len(parts["down"])
            gate = torch.stack([parts["gate"][e] for e in range(n)])
            up = torch.stack([parts["up"][e] for e in range(n)])
            ts[prefix + ".gate_up_proj"] = torch.cat([gate, up], dim=1).contiguous()
            ts[prefix + ".down_proj"] = torch.stack([parts["down"][e] for e in range(n)]).contiguous()
    write_shards(d, wm, shards)


def fixup_hunyuan_fused(d, f):
    """The fused dense Hunyuan layout mlx-lm's hunyuan sanitize splits: per
    layer the MLP of expert 0 as mlp.gate_and_up_proj (up rows, then gate)
    and mlp.down_proj, router and shared MLP dropped; q/k/v fused into
    qkv_proj as [kv heads, groups + 2, head_dim, hidden]; with use_cla the
    layers that reuse the previous k/v keep only q_proj."""
    import torch

    hc = dict(f["config"], **f.get("hub_config", {}))
    kv, heads, hidden = hc["num_key_value_heads"], hc["num_attention_heads"], hc["hidden_size"]
    g, hd = heads // kv, hidden // heads
    cla, factor = hc.get("use_cla", False), hc.get("cla_share_factor", 2)
    wm, shards = read_shards(d)
    for fn, ts in shards.items():
        for k in list(ts):
            if ".mlp." in k and ".mlp.experts.0." not in k:
                del ts[k]
            elif ".mlp.experts.0." in k:
                ts[k.replace(".mlp.experts.0.", ".mlp.")] = ts.pop(k)
        for l in range(hc["num_hidden_layers"]):
            p = "model.layers.%d." % l
            if p + "mlp.up_proj.weight" not in ts:
                continue
            up, gate = ts.pop(p + "mlp.up_proj.weight"), ts.pop(p + "mlp.gate_proj.weight")
            ts[p + "mlp.gate_and_up_proj.weight"] = torch.cat([up, gate], dim=0).contiguous()
            q, k_, v = (ts.pop(p + "self_attn.%s_proj.weight" % x) for x in "qkv")
            if cla and l % factor != 0:
                ts[p + "self_attn.q_proj.weight"] = q
                continue
            fused = torch.cat([q.reshape(kv, g, hd, -1), k_.reshape(kv, 1, hd, -1), v.reshape(kv, 1, hd, -1)], dim=1)
            ts[p + "self_attn.qkv_proj.weight"] = fused.reshape(-1, q.shape[-1]).contiguous()
        if wm is not None:
            wm.update({k: fn for k in ts})
    write_shards(d, wm, shards)


def fixup_minimax_m2(d, f):
    """MiniMax-M2's tensors beyond the mixtral layout it shares (transformers
    4 has no minimax_m2 class): per layer self_attn.q_norm / k_norm over all
    heads and block_sparse_moe.e_score_correction_bias (float32)."""
    import numpy as np
    import torch

    hc = dict(f["config"], **f.get("hub_config", {}))
    hd = hc.get("head_dim") or hc["hidden_size"] // hc["num_attention_heads"]
    wm, shards = read_shards(d)
    for ts in shards.values():
        if "model.embed_tokens.weight" not in ts:
            continue
        dt = ts["model.embed_tokens.weight"].dtype
        for l in range(hc["num_hidden_layers"]):
            p = "model.layers.%d." % l
            rng = np.random.Generator(np.random.PCG64(seed_int(f.get("seed", "") + "/" + p)))
            for n, width in (("self_attn.q_norm", hc["num_attention_heads"] * hd), ("self_attn.k_norm", hc["num_key_value_heads"] * hd)):
                ts[p + n + ".weight"] = torch.from_numpy(1 + 0.1 * rng.standard_normal(width, dtype=np.float32)).to(dt)
            ts[p + "block_sparse_moe.e_score_correction_bias"] = torch.from_numpy(
                rng.standard_normal(hc["num_local_experts"], dtype=np.float32))
    write_shards(d, wm, shards)


INT4_GROUP = 32


def fixup_int4_pack(d, f):
    """Routed experts in compressed-tensors pack-quantized int4 as
    Kimi-K2-Thinking ships them: `NAME.weight_packed` int32 [out, in/8] (the
    codes q+8 of q = round(w/s) in [-8, 7], 8 per int32, lowest nibble first),
    `NAME.weight_scale` bfloat16 [out, in/32] (s = amax/7 per group) and
    `NAME.weight_shape` int32 [out, in]; config.json's quantization_config
    names format pack-quantized (what mlx-lm reads)."""
    import torch

    wm, shards = read_shards(d)
    for ts in shards.values():
        for name in [k for k, t in ts.items() if ".mlp.experts." in k and k.endswith(".weight") and t.dim() == 2]:
            w = ts.pop(name).to(torch.float32)
            out_dim, in_dim = w.shape
            g = w.reshape(out_dim, in_dim // INT4_GROUP, INT4_GROUP)
            scale = (g.abs().amax(dim=2) / 7.0).clamp(min=1e-8).to(torch.bfloat16)
            q = torch.round(g / scale.to(torch.float32)[:, :, None]).clamp(-8, 7).to(torch.int64) + 8
            q = q.reshape(out_dim, in_dim // 8, 8)
            packed = torch.zeros(out_dim, in_dim // 8, dtype=torch.int64)
            for i in range(8):
                packed |= q[:, :, i] << (4 * i)
            base = name[: -len("weight")]
            ts[base + "weight_packed"] = packed.to(torch.uint32).view(torch.int32).contiguous()
            ts[base + "weight_scale"] = scale.contiguous()
            ts[base + "weight_shape"] = torch.tensor([out_dim, in_dim], dtype=torch.int32)
    write_shards(d, wm, shards)
    cp = os.path.join(d, "config.json")
    with open(cp) as fh:
        c = json.load(fh)
    c["quantization_config"] = {
        "config_groups": {"group_0": {"input_activations": None, "output_activations": None, "targets": ["Linear"],
                                      "weights": {"actorder": None, "block_structure": None, "dynamic": False,
                                                  "group_size": INT4_GROUP, "num_bits": 4, "observer": "minmax",
                                                  "observer_kwargs": {}, "strategy": "group", "symmetric": True,
                                                  "type": "int"}}},
        "format": "pack-quantized", "ignore": ["lm_head", "re:.*self_attn.*", "re:.*shared_experts.*", "re:.*mlp\\.(gate|up|gate_up|down)_proj.*"],
        "kv_cache_scheme": None, "quant_method": "compressed-tensors", "quantization_status": "compressed"}
    with open(cp, "w") as fh:
        fh.write(json.dumps(c, indent=2, sort_keys=True) + "\n")


HUB_FIXUPS = {
    "fp8_block": fixup_fp8_block,
    "fp8_ue8m0": fixup_fp8_ue8m0,
    "ct_pack_quantized": fixup_ct_pack_quantized,
    "ct_nvfp4": fixup_ct_nvfp4,
    "ct_mxfp4": fixup_ct_mxfp4,
    "modelopt_nvfp4": fixup_modelopt_nvfp4,
    "mlx_layout": fixup_mlx_layout,
    "hf_quant_config": fixup_hf_quant_config,
    "next_n_layer": fixup_next_n_layer,
    "ernie_mtp": fixup_ernie_mtp,
    "qwen_mtp": fixup_qwen_mtp,
    "hub_config": fixup_hub_config,
    "hunyuan_fused": fixup_hunyuan_fused,
    "minimax_m2": fixup_minimax_m2,
    "int4_pack": fixup_int4_pack,
    "mxfp4_experts": fixup_mxfp4_experts,
    "fused_experts": fixup_fused_experts,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=("ensure", "make"))
    ap.add_argument("--npm", required=True, help="directory printed by scripts/oracle/tokenizers.sh")
    ap.add_argument("names", nargs="*")
    a = ap.parse_intermixed_args()
    have = names()
    for n in a.names:
        if n not in have and spec(n) is None:
            ap.error("%r is no transformers fixture (have: %s)" % (n, ", ".join(have)))
    if a.cmd == "ensure":
        for n, p in ensure(a.names or have, os.path.abspath(a.npm)).items():
            print(n, p)
        return
    # This directory is on sys.path and holds kernels.py (MLX kernel
    # oracles); transformers 5 probes for the hub "kernels" package and would
    # import that file. None in sys.modules makes find_spec report it absent.
    sys.modules.setdefault("kernels", None)
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    os.makedirs(cache_root(), exist_ok=True)
    for n in a.names:
        if version(spec(n)) != int(transformers.__version__.split(".")[0]):
            ap.error("%s wants transformers %d, this python has %s" % (n, version(spec(n)), transformers.__version__))
        t = time.time()
        out = cached_path(n)
        if not os.path.isdir(out):
            make(n, os.path.abspath(a.npm), out)
        print("  %-16s %5.1fs %s" % (n, time.time() - t, out), flush=True)


if __name__ == "__main__":
    main()
