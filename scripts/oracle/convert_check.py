#!/usr/bin/env python3
"""Conformance of `mlxconv convert` against the real `mlx_lm.convert`.

  convert_check.py --mlxconv BIN --npm DIR [--work DIR] [--arch A,B] [--case SUBSTR]
                   [--quick] [--keep] [-v]

For every architecture of convert_models.py it generates a tiny random HF
checkpoint, then for every case of the option matrix runs mlx_lm.convert
in-process (mlx_lm's own argparse parser turns the case's flags into
convert() arguments, so both tools get literally the same command line) and
`BIN convert --hf-path SRC --mlx-path OUT FLAGS...` as a subprocess, and
compares the two output directories. Checks per successful case (each one
pass/fail):

  config.json      byte-identical
  index.json       model.safetensors.index.json byte-identical
  headers          per shard, the safetensors header text equal once every
                   "data_offsets":[a,b] is blanked (same names, dtypes, shapes,
                   key order, metadata, padding)
  tensors          every tensor: same name set, dtype, shape and data bytes
  files            same output files, ignoring the tokenizer files (mlx-lm
                   re-serialises them through transformers, mlxconv copies them
                   verbatim by design), the others (generation_config.json,
                   *.py) byte-identical; mlxconv's tokenizer files,
                   chat_template.* and generation_config.json byte-identical to
                   the source's
  README.md        model card: front matter byte-identical (mlx_lm writes no
                   body; mlxconv's body holds the recipe)

Expected-error cases (both tools must refuse, mlxconv must leave no output
path) count one check each; they run on the first architecture. Greedy
generation (one check each, on the "none" and "q" outputs; "dtype-float32"
instead of "none" for MoE models, as MLX's CPU gather_mm is float32-only):
mlx_lm loads mlxconv's output (model, config, tokenizer) and mlx_lm.convert's
output and compares 16 greedy tokens for a fixed prompt.

Matrix: every architecture gets {no flags, --dtype float16|bfloat16|float32,
-q, -q --dtype float16, mxfp4, nvfp4, mxfp8, mixed_2_6, mixed_3_4, mixed_3_6,
mixed_4_6, -d of an affine and of an mxfp4 model, -d --dtype float32, re-save
of a quantized model} plus a subset of the affine bits x group grid that
covers every bits and every group value: (2,32) (3,64) (4,128) (5,32) (6,64)
(8,128). FULL_GRID architectures (mistral: hidden 96, not a multiple of 64;
mixtral: MoE) get the whole 6x3 grid and a recipe with --q-group-size 32.
The pre-quantized checkpoints (llama_awq: AutoAWQ with zeros; qwen3_gptq: no
qzeros) get {no flags, --dtype bfloat16|float32, -q, -d, -d --dtype float32}.
--quick keeps 6 cases per architecture (3 for the pre-quantized ones).

Reference cache (refcache.py): mlx_lm.convert's result (output directory or
error text) and the greedy tokens from it are kept under
$MLXCONV_CACHE/refs/convert ($MLXCONV_REF_CACHE overrides), keyed by the HF
fixture's bytes (or the source case's key), the case's flags, the pinned
requirements and this harness's reference/greedy code; a warm run converts
and generates only with mlxconv. When every compare check of a case passed,
mlxconv's output is mlx_lm's as mlx_lm.load reads it and its generate check is
counted from the reference's tokens without generating from it.
--no-ref-cache runs mlx_lm for every case (and stores nothing). Counts are the
same with and without the cache.

The mlx-lm tokenizer load/save is replaced by a stub for the matrix (tokenizer
files are not compared and loading a 262k-token tokenizer hundreds of times
would dominate the run); the generation checks load real tokenizers.

Prints one line per failure (every check with -v), a per-architecture table,
and closes with `convert-conformance: N passed, M failed`; exit status 1 if
anything failed.
"""
import argparse
import concurrent.futures
import contextlib
import hashlib
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_models  # noqa: E402
import refcache  # noqa: E402

FULL_GRID = ("mistral", "mixtral")
AFFINE_BITS = (1, 2, 3, 4, 5, 6, 8)
AFFINE_GROUPS = (32, 64, 128)
SUBSET_GRID = ((1, 64), (2, 32), (3, 64), (4, 128), (5, 32), (6, 64), (8, 128))
RECIPES = ("mixed_2_6", "mixed_3_4", "mixed_3_6", "mixed_4_6")
MOE = ("mixtral", "qwen2_moe", "qwen3_moe")


def breadth(arch):
    """True for a family whose fixture asks for the breadth matrix ("cases": "breadth")."""
    return convert_models.families.load(arch)["convert_oracle"].get("cases") == "breadth"


def gen_cases(arch, cases):
    """Cases whose outputs are compared by greedy generation: every case of a
    breadth family; else "none" and "q" (MLX's CPU gather_mm supports only
    float32, so MoE models use the float32 output instead of "none")."""
    if breadth(arch):
        return tuple(c.name for c in cases)
    return ("dtype-float32" if arch in MOE else "none", "q")


GEN_PROMPT = "Hello world, this is a test."
GEN_TOKENS = 16
TOKENIZER_FILES = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json"}
VERBATIM_FILES = TOKENIZER_FILES | {"generation_config.json"}
CHECKS = ("config.json", "index.json", "headers", "tensors", "files", "README.md")


class Case:
    def __init__(self, name, flags, source=None, error=None):
        self.name = name
        self.flags = flags
        self.source = source  # None: the HF model; else the name of a case whose mlx_lm output is the input
        self.error = error  # expected-error case: a short description


PREQUANT = ("llama_awq", "qwen3_gptq")  # HF checkpoints that arrive quantized


# The breadth matrix (fixture "cases": "breadth"): one case per kind of output
# (each dtype, affine 4 and 8 bits, mxfp4, a mixed recipe, -d, re-save), for
# the many families whose quantization code is shared with a full-matrix one;
# every output is loaded and generated from. --quick keeps the first three
# and d-of-q.
BREADTH = (
    ("none", []),
    ("dtype-float16", ["--dtype", "float16"]),
    ("dtype-bfloat16", ["--dtype", "bfloat16"]),
    ("q", ["-q"]),
    ("dtype-float32", ["--dtype", "float32"]),
    ("q-b8", ["-q", "--q-bits", "8"]),
    ("q-mxfp4", ["-q", "--q-mode", "mxfp4"]),
    ("mixed_3_6", ["-q", "--quant-predicate", "mixed_3_6"]),
    ("d-of-q", ["-d"], "q"),
    ("resave-q", [], "q"),
)


def prequant(arch):
    """True for a checkpoint that arrives quantized: PREQUANT, or a fixture
    with "cases": "prequant"."""
    return arch in PREQUANT or convert_models.families.load(arch)["convert_oracle"].get("cases") == "prequant"


def breadth_matrix(quick=False):
    c = [Case(x[0], x[1], source=x[2] if len(x) > 2 else None) for x in BREADTH]
    if quick:
        c = [x for x in c if x.name in ("none", "dtype-bfloat16", "q", "d-of-q")]
    return c


def matrix(arch, quick=False):
    if breadth(arch):
        return breadth_matrix(quick)
    if prequant(arch):
        c = [
            Case("none", []),
            Case("dtype-bfloat16", ["--dtype", "bfloat16"]),
            Case("dtype-float32", ["--dtype", "float32"]),
            Case("q", ["-q"]),
            Case("d", ["-d"]),
            Case("d-dtype-float32", ["-d", "--dtype", "float32"]),
        ]
        return c[:3] if quick else c
    c = [
        Case("none", []),
        Case("dtype-float16", ["--dtype", "float16"]),
        Case("dtype-bfloat16", ["--dtype", "bfloat16"]),
        Case("dtype-float32", ["--dtype", "float32"]),
        Case("q", ["-q"]),
        Case("q-dtype-float16", ["-q", "--dtype", "float16"]),
        Case("q-mxfp4", ["-q", "--q-mode", "mxfp4"]),
        Case("q-nvfp4", ["-q", "--q-mode", "nvfp4"]),
        Case("q-mxfp8", ["-q", "--q-mode", "mxfp8"]),
    ]
    c += [Case(r, ["-q", "--quant-predicate", r]) for r in RECIPES]
    grid = [(b, g) for b in AFFINE_BITS for g in AFFINE_GROUPS] if arch in FULL_GRID else SUBSET_GRID
    c += [Case("q-b%d-g%d" % (b, g), ["-q", "--q-bits", str(b), "--q-group-size", str(g)]) for b, g in grid]
    if arch in FULL_GRID:
        c.append(Case("mixed_3_6-g32", ["-q", "--quant-predicate", "mixed_3_6", "--q-group-size", "32"]))
    c += [
        Case("d-of-q", ["-d"], source="q"),
        Case("d-of-mxfp4", ["-d"], source="q-mxfp4"),
        Case("d-float32-of-q", ["-d", "--dtype", "float32"], source="q"),
        Case("resave-q", [], source="q"),
    ]
    if quick:
        keep = {"none", "dtype-float32", "q", "q-mxfp4", "mixed_3_6", "d-of-q"}
        c = [x for x in c if x.name in keep]
    return c


def error_cases():
    return [
        Case("err-recipe-mxfp4", ["-q", "--q-mode", "mxfp4", "--quant-predicate", "mixed_3_4"], error="recipe with a non-affine mode"),
        Case("err-q-and-d", ["-q", "-d"], error="-q together with -d"),
        Case("err-affine-g16", ["-q", "--q-group-size", "16"], error="affine group size 16"),
        Case("err-mxfp4-g64", ["-q", "--q-mode", "mxfp4", "--q-group-size", "64"], error="mxfp4 with group size 64"),
        Case("err-bits-7", ["-q", "--q-bits", "7"], error="affine 7 bits"),
        Case("err-exists", [], error="output path exists"),
    ]


# ---------------------------------------------------------------- mlx_lm side


class _StubTokenizer:
    def save_pretrained(self, path):
        pass


def reference(src, out, flags, stub_tokenizer=True):
    """Runs mlx_lm.convert in-process exactly as its CLI would. Returns None or the error text."""
    import mlx.core as mx
    import importlib

    import mlx_lm.utils as mu

    mc = importlib.import_module("mlx_lm.convert")

    args = vars(mc.configure_parser().parse_args(["--hf-path", src, "--mlx-path", out] + flags))
    saved = mu.load_tokenizer
    if stub_tokenizer:
        mu.load_tokenizer = lambda *a, **k: _StubTokenizer()
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            mc.convert(**args)
        return None
    except (Exception, SystemExit) as e:  # noqa: BLE001 - any failure is a result here (mlx_lm's olmo.py calls sys.exit)
        return "%s: %s" % (type(e).__name__, e)
    finally:
        mu.load_tokenizer = saved
        mx.clear_cache()


def harness_key():
    """What a cached reference result depends on in this file (refcache.py)."""
    text = "".join(inspect.getsource(f) for f in (reference, greedy, _StubTokenizer))
    text += json.dumps([GEN_PROMPT, GEN_TOKENS, sorted(TOKENIZER_FILES)])
    return hashlib.sha256(text.encode()).hexdigest()


def cached_reference(cache, key, src, out, flags, label):
    """reference(), or its result from the cache (refcache.py) when the same
    input was converted with the same flags by the same pinned mlx_lm."""
    hit, err = cache.get_convert(key, out)
    if hit:
        return err
    err = reference(src, out, flags)
    cache.put_convert(key, out, err, label)
    return err


def ours(binary, src, out, flags, timeout=300):
    cmd = [binary, "convert", "--hf-path", src, "--mlx-path", out] + flags
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "timeout after %ds" % timeout
    except OSError as e:
        return 127, str(e)
    err = p.stderr.decode("utf-8", "replace").strip().splitlines()
    return p.returncode, (err[-1] if err else "")


# ---------------------------------------------------------------- comparisons


def read(path):
    with open(path, "rb") as f:
        return f.read()


def first_diff(a, b, label):
    """A short description of the first difference between two texts/bytes."""
    ta = a.decode("utf-8", "replace") if isinstance(a, bytes) else a
    tb = b.decode("utf-8", "replace") if isinstance(b, bytes) else b
    la, lb = ta.splitlines(), tb.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return "%s line %d: mlx_lm %r, mlxconv %r" % (label, i + 1, x.strip()[:120], y.strip()[:120])
    if len(la) != len(lb):
        extra = la[len(lb)] if len(la) > len(lb) else lb[len(la)]
        who = "mlx_lm" if len(la) > len(lb) else "mlxconv"
        return "%s: %d vs %d lines; first extra (%s): %r" % (label, len(la), len(lb), who, extra.strip()[:120])
    if ta.endswith("\n") != tb.endswith("\n"):
        return "%s: trailing newline differs (mlx_lm %s, mlxconv %s)" % (label, ta.endswith("\n"), tb.endswith("\n"))
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return "%s: first differing byte at %d" % (label, i)
    return "%s: lengths %d vs %d" % (label, len(a), len(b))


def json_diff(a, b, path=""):
    """The first structural difference between two parsed JSON values, or None."""
    if type(a) is not type(b):
        return "%s: mlx_lm %s, mlxconv %s" % (path or "top level", json.dumps(a)[:80], json.dumps(b)[:80])
    if isinstance(a, dict):
        ka, kb = list(a), list(b)
        for k in ka:
            if k not in b:
                return "%s: key %r only in mlx_lm's (value %s)" % (path or "top level", k, json.dumps(a[k])[:80])
        for k in kb:
            if k not in a:
                return "%s: key %r only in mlxconv's (value %s)" % (path or "top level", k, json.dumps(b[k])[:80])
        for k in ka:
            d = json_diff(a[k], b[k], path + "." + k if path else k)
            if d:
                return d
        if ka != kb:
            return "%s: key order differs (mlx_lm %s..., mlxconv %s...)" % (path or "top level", ka[:6], kb[:6])
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return "%s: list length %d vs %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = json_diff(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if a != b or repr(a) != repr(b):
        return "%s: mlx_lm %s, mlxconv %s" % (path, json.dumps(a), json.dumps(b))
    return None


def describe_json_diff(da, db, label):
    text = first_diff(da, db, label)
    try:
        d = json_diff(json.loads(da), json.loads(db))
    except ValueError as e:
        return text + " (mlxconv's is not valid JSON: %s)" % e
    return text + ("; " + d if d else "; same JSON values, formatting differs")


def parse_safetensors(path):
    """Returns (header text, header dict, data start, file bytes). Raises ValueError when malformed."""
    data = read(path)
    if len(data) < 8:
        raise ValueError("file shorter than 8 bytes")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ValueError("header length %d beyond file size %d" % (n, len(data)))
    text = data[8:8 + n].decode("utf-8")
    hdr = json.loads(text)
    return text, hdr, 8 + n, data


OFFSETS = re.compile(r'"data_offsets"\s*:\s*\[\s*\d+\s*,\s*\d+\s*\]')


def front_matter(card):
    """The card up to the end of its YAML front matter ("---" lines)."""
    end = card.find(b"\n---\n", 4)
    return card if end < 0 else card[:end + 5]


def compare_dirs(ref, out, src, ref_src=None):
    """Returns {check: None (pass) | reason}. ref_src: ref was converted from
    this other source (a twin): config.json is compared as the ModelArgs
    mlx_lm builds from it, README.md with the source path replaced, and the
    files copied from the source are not compared with ref's."""
    res = {}
    for fn, key in (("config.json", "config.json"), ("model.safetensors.index.json", "index.json"), ("README.md", "README.md")):
        a, b = os.path.join(ref, fn), os.path.join(out, fn)
        if not os.path.exists(b):
            res[key] = "mlxconv wrote no %s" % fn
        elif not os.path.exists(a):
            res[key] = "mlx_lm wrote no %s (harness problem)" % fn
        elif ref_src is not None and fn == "config.json":
            res[key] = same_model_args(a, b)
        else:
            da, db = read(a), read(b)
            if ref_src is not None and fn == "README.md":
                da = da.replace(ref_src.encode(), src.encode())
            if fn == "README.md":
                # mlx_lm writes the front matter only; mlxconv adds a body
                # (provenance, the recipe, usage): the front matter must be
                # byte-identical, the body must hold the recipe.
                if b"\n## Recipe\n" not in db:
                    res[key] = "mlxconv's README.md has no recipe section"
                    continue
                da, db = front_matter(da), front_matter(db)
            if da == db:
                res[key] = None
            elif fn.endswith(".json"):
                res[key] = describe_json_diff(da, db, fn)
            else:
                res[key] = first_diff(da, db, fn)

    ref_files = sorted(os.listdir(ref))
    out_files = sorted(os.listdir(out))
    shards_ref = [f for f in ref_files if f.endswith(".safetensors")]
    shards_out = [f for f in out_files if f.endswith(".safetensors")]

    # files
    why = []
    a = {f for f in ref_files if f not in TOKENIZER_FILES}
    b = {f for f in out_files if f not in TOKENIZER_FILES}
    if a - b:
        why.append("missing %s" % sorted(a - b))
    if b - a:
        why.append("extra %s" % sorted(b - a))
    for f in sorted(a & b):
        if f.endswith(".safetensors") or f in ("config.json", "model.safetensors.index.json", "README.md"):
            continue  # compared by their own checks
        if ref_src is not None and f in VERBATIM_FILES:
            continue  # the twin's own files; compared with this source below
        if read(os.path.join(ref, f)) != read(os.path.join(out, f)):
            why.append("%s differs from mlx_lm's" % f)
    for f in sorted(os.listdir(src)):
        if f in VERBATIM_FILES and os.path.isfile(os.path.join(src, f)):
            p = os.path.join(out, f)
            if not os.path.exists(p):
                why.append("%s not copied" % f)
            elif read(p) != read(os.path.join(src, f)):
                why.append("%s not byte-identical to the source" % f)
    for f in out_files:
        if f in TOKENIZER_FILES and not os.path.exists(os.path.join(src, f)):
            why.append("%s not in the source" % f)
    res["files"] = "; ".join(why) or None

    # headers and tensors
    hwhy, twhy = [], []
    tensors_ref, tensors_out = {}, {}
    if shards_ref != shards_out:
        hwhy.append("shard files differ: mlx_lm %s, mlxconv %s" % (shards_ref, shards_out))
    for f in shards_ref:
        try:
            text, hdr, start, data = parse_safetensors(os.path.join(ref, f))
        except (OSError, ValueError) as e:
            hwhy.append("mlx_lm %s unreadable: %s (harness problem)" % (f, e))
            continue
        for k, v in hdr.items():
            if k != "__metadata__":
                tensors_ref[k] = (f, v, data[start + v["data_offsets"][0]:start + v["data_offsets"][1]])
        p = os.path.join(out, f)
        if not os.path.exists(p):
            continue
        try:
            text2, hdr2, start2, data2 = parse_safetensors(p)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            hwhy.append("%s: %s" % (f, e))
            continue
        ta, tb = OFFSETS.sub('"data_offsets":[]', text), OFFSETS.sub('"data_offsets":[]', text2)
        if ta != tb:
            semantic = {k: {x: y for x, y in v.items() if x != "data_offsets"} if isinstance(v, dict) and k != "__metadata__" else v for k, v in hdr.items()}
            semantic2 = {k: {x: y for x, y in v.items() if x != "data_offsets"} if isinstance(v, dict) and k != "__metadata__" else v for k, v in hdr2.items()}
            if semantic == semantic2:
                hwhy.append("%s: same entries, different header text (order/format/padding): %s" % (f, first_diff(ta.replace(",", ",\n"), tb.replace(",", ",\n"), "header")))
            else:
                hwhy.append("%s: %s" % (f, header_diff(semantic, semantic2)))
        end = 0
        for k, v in hdr2.items():
            if k == "__metadata__":
                continue
            o = v.get("data_offsets", [0, 0])
            if not (0 <= o[0] <= o[1] <= len(data2) - start2):
                twhy.append("%s: %s data_offsets %s outside the file" % (f, k, o))
                continue
            end = max(end, o[1])
            tensors_out[k] = (f, v, data2[start2 + o[0]:start2 + o[1]])
        if end != len(data2) - start2:
            twhy.append("%s: data section is %d bytes, tensors end at %d" % (f, len(data2) - start2, end))
    res["headers"] = "; ".join(hwhy[:3]) or None

    missing = sorted(set(tensors_ref) - set(tensors_out))
    extra = sorted(set(tensors_out) - set(tensors_ref))
    if missing:
        twhy.append("%d missing (e.g. %s)" % (len(missing), ", ".join(missing[:3])))
    if extra:
        twhy.append("%d extra (e.g. %s)" % (len(extra), ", ".join(extra[:3])))
    bad = []
    for k in sorted(set(tensors_ref) & set(tensors_out)):
        fa, va, ba = tensors_ref[k]
        fb, vb, bb = tensors_out[k]
        if fa != fb:
            bad.append("%s in %s, not %s" % (k, fb, fa))
        elif va["dtype"] != vb["dtype"] or va["shape"] != vb["shape"]:
            bad.append("%s %s%s vs %s%s" % (k, va["dtype"], va["shape"], vb["dtype"], vb["shape"]))
        elif ba != bb:
            nd = sum(1 for x, y in zip(ba, bb) if x != y) if len(ba) == len(bb) else -1
            bad.append("%s %s%s bytes differ (%d of %d bytes)" % (k, va["dtype"], va["shape"], nd, len(ba)))
    if bad:
        twhy.append("%d of %d tensors differ: %s" % (len(bad), len(set(tensors_ref) & set(tensors_out)), "; ".join(bad[:3])))
    res["tensors"] = "; ".join(twhy) or None
    return res


def header_diff(a, b):
    ka, kb = set(a), set(b)
    if ka - kb:
        return "missing entries %s" % sorted(ka - kb)[:3]
    if kb - ka:
        return "extra entries %s" % sorted(kb - ka)[:3]
    for k in sorted(ka):
        if a[k] != b[k]:
            return "entry %s: mlx_lm %s, mlxconv %s" % (k, json.dumps(a[k]), json.dumps(b[k]))
    return "?"


# ---------------------------------------------------------------- generation


def greedy(model_dir, tokenizer_dir=None, cache=None, key=None):
    """Greedy tokens from model_dir. The tokenizer comes from tokenizer_dir, else
    from model_dir itself (mlx_lm.load: model, config and tokenizer as a user
    would load them). cache/key: reuse a tokenizer already loaded under key
    (loading Gemma 3's takes seconds)."""
    import mlx.core as mx
    from mlx_lm import stream_generate
    from mlx_lm.utils import load, load_model, load_tokenizer
    from pathlib import Path

    tok = cache.get(key) if cache is not None else None
    if tok is not None:
        model, _ = load_model(Path(model_dir))
    elif tokenizer_dir is None:
        model, tok = load(model_dir)
    else:
        model, config = load_model(Path(model_dir))
        tok = load_tokenizer(Path(tokenizer_dir), eos_token_ids=config.get("eos_token_id"))
    if cache is not None:
        cache[key] = tok
    try:
        toks = [r.token for r in stream_generate(model, tok, GEN_PROMPT, max_tokens=GEN_TOKENS)]
    except (ValueError, RuntimeError) as e:
        # MLX's CPU gather_mm (MoE experts) takes only float32 (a ValueError
        # or, from GatherMM::eval, a RuntimeError): generate from
        # a float16/bfloat16 MoE output with its float weights upcast (the
        # load itself has succeeded; quantized experts use gather_qmm).
        if "gather_mm" not in str(e) and "float32" not in str(e):
            raise
        model.set_dtype(mx.float32)
        toks = [r.token for r in stream_generate(model, tok, GEN_PROMPT, max_tokens=GEN_TOKENS)]
    del model
    mx.clear_cache()
    return toks


# ---------------------------------------------------------------- driver


class Tally:
    def __init__(self, verbose):
        self.verbose = verbose
        self.per_arch = {}
        self.reasons = []
        self.refused = []  # (arch, case, mlx_lm's error): breadth cases the peer refused

    def add(self, arch, case, check, reason):
        p, f = self.per_arch.get(arch, (0, 0))
        if reason is None:
            self.per_arch[arch] = (p + 1, f)
            if self.verbose:
                print("  ok   %-12s %-20s %s" % (arch, case, check), flush=True)
        else:
            self.per_arch[arch] = (p, f + 1)
            self.reasons.append((arch, case, check, reason))
            print("  FAIL %-12s %-20s %-11s %s" % (arch, case, check, reason[:400]), flush=True)

    def peer(self, arch, case, reason, rc):
        """A case mlx_lm refused (breadth families): listed, not counted."""
        ours = "" if rc is None else (" (mlxconv exit %d)" % rc)
        self.refused.append((arch, case, reason + ours))
        print("  PEER %-12s %-20s mlx_lm refused: %s%s" % (arch, case, reason[:300], ours), flush=True)

    def totals(self):
        return sum(p for p, _ in self.per_arch.values()), sum(f for _, f in self.per_arch.values())


def run_arch(arch, a, tally, pool):
    """Runs one architecture's matrix. mlxconv runs in pool (one worker, ahead
    of the in-process mlx_lm runs, which go in order in this thread); a case
    whose input is another case's mlx_lm output is queued once that exists."""
    work = os.path.join(a.work, arch)
    src = os.path.join(work, "hf")
    shutil.rmtree(work, ignore_errors=True)
    convert_models.generate(arch, a.npm, src)
    hf_key = refcache.dir_key(src)
    refdir, outdir = os.path.join(work, "ref"), os.path.join(work, "ours")
    os.makedirs(refdir)
    os.makedirs(outdir)
    why = convert_models.families.load(arch)["convert_oracle"].get("refused")
    if why:
        t = time.time()
        refused_check(arch, why, src, hf_key, refdir, outdir, a, tally)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        return time.time() - t, 1, {"mlx_lm": 0.0, "mlxconv": 0.0, "compare": 0.0, "generate": 0.0}
    cases = matrix(arch, a.quick)
    if a.case:
        wanted = set()
        for x in cases:
            if any(s in x.name for s in a.case):
                wanted.add(x.name)
                if x.source:
                    wanted.add(x.source)
        cases = [x for x in cases if x.name in wanted]
    needed_as_source = {x.source for x in cases if x.source}
    gen = set(gen_cases(arch, cases)) if not a.no_generate else set()
    wide = breadth(arch)
    times = {"mlx_lm": 0.0, "mlxconv": 0.0, "compare": 0.0, "generate": 0.0}
    tokcache = {}
    t0 = time.time()

    def source_of(case):
        return src if case.source is None else os.path.join(work, "src-" + case.source)

    def submit(case):
        return pool.submit(timed_ours, a.mlxconv, source_of(case), os.path.join(outdir, case.name), case.flags)

    futures = {c.name: submit(c) for c in cases if c.source is None}
    done_ref = {}
    twin = convert_models.families.load(arch)["convert_oracle"].get("twin")
    twin_src = twin_key = None
    if twin:
        # The same weights with the transformers-4 config (another family's
        # model): mlx_lm.convert of it is the reference. mlx-lm may refuse
        # a transformers-5 config, or load it and read it otherwise (e.g.
        # ignore rope_parameters), so the twin's conversion is the model the
        # checkpoint is; mlxconv's config.json is compared as the ModelArgs
        # mlx_lm builds from it, and its greedy tokens with the twin's.
        twin_src = convert_models.generate(twin, a.npm, os.path.join(work, "twin"))
        twin_key = refcache.dir_key(twin_src)
    keys = {}  # case name: its reference cache key
    for case in cases:
        csrc = source_of(case)
        # The input's key: the HF fixture's (with its transformers-4 twin's
        # when the reference is converted from the twin: the twin's bytes
        # make the output, the fixture's tokenizer generates from it), or
        # the source case's.
        base = (hf_key + "+twin:" + twin_key if twin_key else hf_key) if case.source is None else keys[case.source]
        key = keys[case.name] = a.refcache.key(base, case.flags)
        r, o = os.path.join(refdir, case.name), os.path.join(outdir, case.name)
        if case.source is not None and done_ref.get(case.source, "not run") is not None:
            if wide and case.source != "none":
                tally.peer(arch, case.name, "source case %s refused by mlx_lm" % case.source, None)
                continue
            for check in CHECKS:
                tally.add(arch, case.name, check, "source case %s failed in mlx_lm" % case.source)
            continue
        t = time.time()
        via_twin = twin_src if twin_src is not None and case.source is None else None
        rerr = cached_reference(a.refcache, key, via_twin or csrc, r, case.flags, "%s %s" % (arch, case.name))
        times["mlx_lm"] += time.time() - t
        done_ref[case.name] = rerr
        if rerr is None and case.name in needed_as_source:
            # This quantized mlx_lm output (plus the HF tokenizer files) is the input of later cases.
            dst = os.path.join(work, "src-" + case.name)
            shutil.copytree(r, dst)
            for f in os.listdir(src):
                if f in TOKENIZER_FILES:
                    shutil.copy(os.path.join(src, f), dst)
            for c in cases:
                if c.source == case.name:
                    futures[c.name] = submit(c)
        rc, oerr, dt = futures.pop(case.name).result()
        times["mlxconv"] += dt
        t = time.time()
        res = None
        if rerr is not None and wide and case.name != "none":
            # Breadth families: mlx_lm refusing a case (e.g. a mixed recipe on
            # a model without down_proj) is listed with its error, never
            # counted as a pass; mlxconv must refuse it too.
            tally.peer(arch, case.name, rerr, rc)
            if rc == 0:
                tally.add(arch, case.name, "refuses", "mlxconv converted what mlx_lm.convert refuses (%s)" % rerr[:200])
        elif rerr is not None:
            # mlx_lm refused a case the matrix expects to work: a harness problem; report it.
            for check in CHECKS:
                tally.add(arch, case.name, check, "mlx_lm.convert failed: %s" % rerr[:300])
        elif rc != 0:
            for check in CHECKS:
                tally.add(arch, case.name, check, "mlxconv exit %d: %s" % (rc, oerr[:300]))
        elif not os.path.isdir(o):
            for check in CHECKS:
                tally.add(arch, case.name, check, "mlxconv exit 0 but wrote no %s" % o)
        else:
            res = compare_dirs(r, o, csrc, ref_src=via_twin)
            for check in CHECKS:
                tally.add(arch, case.name, check, res[check])
        times["compare"] += time.time() - t
        if case.name in gen and not (wide and rerr is not None and case.name != "none"):
            t = time.time()
            # A twin's config.json is compared as ModelArgs, not bytes: generate from ours.
            same = res is not None and all(res[c] is None for c in CHECKS) and via_twin is None
            gen_check(arch, case.name, src, r, o, rerr, rc, tally, tokcache, a.refcache, key, same)
            times["generate"] += time.time() - t
        if not a.keep:
            shutil.rmtree(r, ignore_errors=True)
            shutil.rmtree(o, ignore_errors=True)
    for f in futures.values():  # cases skipped above
        f.result()
    if arch == a.error_arch and not a.case:
        for case in error_cases():
            error_check(arch, case, src, hf_key, work, a, tally)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return time.time() - t0, len(cases), times


def model_args(path):
    """mlx_lm's ModelArgs (as a dict) built from a config.json, with the
    quantization entries."""
    from mlx_lm.utils import _get_classes

    with open(path) as f:
        c = json.load(f)
    _, args = _get_classes(c)
    d = dict(vars(args.from_dict(c)))
    d["quantization"] = c.get("quantization")
    return d


def same_model_args(ref, out):
    """None when mlxconv's config.json gives mlx_lm every ModelArgs value
    (and the quantization) that the twin's (ref's) gives: fields the twin
    leaves None, and rope_parameters (the transformers-5 spelling itself),
    are not compared."""
    try:
        a, b = model_args(ref), model_args(out)
    except (Exception, SystemExit) as e:  # noqa: BLE001
        return "mlx_lm cannot build ModelArgs: %s: %s" % (type(e).__name__, str(e)[:200])
    bad = ["%s: mlx_lm (twin) %s, mlxconv %s" % (k, json.dumps(a.get(k))[:80], json.dumps(b.get(k))[:80])
           for k in sorted(a) if k != "rope_parameters" and a[k] is not None and not same_arg(k, a[k], b.get(k))]
    return ("ModelArgs differ: " + "; ".join(bad[:3])) if bad else None


def same_arg(k, a, b):
    """A twin's ModelArgs value a and mlxconv's b give mlx_lm the same
    model: equal; for a dict (a raw sub-config such as mistral3's
    text_config), every key the twin's has (recursively, as ModelArgs
    compares them: the sub-model's from_dict ignores the rest); a
    rope_scaling of {"rope_type": "default"} is mlx_lm's None
    (rope_utils.initialize_rope builds the same nn.RoPE)."""
    if k == "rope_scaling" and a == {"rope_type": "default"} and b is None:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return all(v is None or same_arg(kk, v, b.get(kk)) for kk, v in a.items())
    return a == b


def timed_ours(*args):
    t = time.time()
    rc, err = ours(*args)
    return rc, err, time.time() - t


def gen_check(arch, name, src, r, o, rerr, rc, tally, tokcache, cache, key, same):
    """mlx_lm loads mlxconv's output (model, config and tokenizer, as a user
    would) and mlx_lm.convert's output, and generates greedily from both.
    mlxconv's tokenizer is loaded once per architecture, from the first
    mlxconv output (Gemma 3's takes seconds), and shared; mlx_lm's output
    (written without tokenizer files) gets the HF source's tokenizer, also
    loaded once. The files check compares every output's tokenizer copies
    with the source, so the prompt tokens are the same and the comparison is
    of the models. The reference's tokens come from the cache (ref_greedy).
    same: every compare check passed (mlxconv's output is mlx_lm's)."""
    check = "generate"
    if rerr is not None or rc != 0 or not os.path.isdir(o):
        tally.add(arch, name, check, "no output to load (conversion failed)")
        return
    if same:
        # Every compare check passed: mlxconv's config.json, safetensors
        # headers and every tensor (name, dtype, shape, bytes) are mlx_lm's,
        # and its tokenizer files are the source's. mlx_lm.load and greedy
        # generation are deterministic functions of those files, so
        # generating from ours would give exactly the reference's tokens:
        # the check is counted from them without generating from ours. A
        # reference that fails to generate takes the full path below.
        want, werr = ref_greedy(r, src, tokcache, cache, key)
        if werr is None:
            tally.add(arch, name, check, None if len(want) > 0 else "greedy tokens differ: mlx_lm %s, mlxconv %s" % (want, want))
            return
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            got = greedy(o, cache=tokcache, key="tok")
    except (Exception, SystemExit) as e:  # noqa: BLE001
        mine = error_text(e)
        if ref_greedy(r, src, tokcache, cache, key)[1] == mine:
            # mlx_lm.convert's own (byte-identical) output fails the same
            # way (deepseek_v3's -d keeps MultiLinear packed but drops
            # the quantization entry): a peer failure, listed.
            tally.peer(arch, name, "mlx_lm cannot load its own output either: " + mine, None)
            return
        tally.add(arch, name, check, "mlx_lm.load/generate of mlxconv output failed: " + mine)
        return
    want, werr = ref_greedy(r, src, tokcache, cache, key)
    if werr is not None:
        tally.add(arch, name, check, "mlx_lm cannot generate from its own output: %s" % werr)
    elif want == got and len(want) > 0:
        tally.add(arch, name, check, None)
    else:
        tally.add(arch, name, check, "greedy tokens differ: mlx_lm %s, mlxconv %s" % (want, got))


def error_text(e):
    return "%s: %s" % (type(e).__name__, str(e)[:300])


def ref_greedy(r, src, tokcache, cache, key):
    """(tokens, None) or (None, error text) of greedy generation from
    mlx_lm.convert's output r with the HF source's tokenizer: from the
    reference cache, else generated and stored there."""
    g = cache.get_gen(key)
    if g is not None:
        return g
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            g = [int(t) for t in greedy(r, tokenizer_dir=src, cache=tokcache, key="src")], None
    except (Exception, SystemExit) as e:  # noqa: BLE001
        g = None, error_text(e)
    cache.put_gen(key, *g)
    return g


def refused_check(arch, why, src, hf_key, refdir, outdir, a, tally):
    """A fixture mlx_lm cannot convert at all ("refused": why, e.g. gpt_oss
    as transformers saves it, bf16 experts mlx_lm's sanitize does not
    rename): one check, passed when mlx_lm.convert and mlxconv both fail
    and mlxconv leaves no output."""
    r, o = os.path.join(refdir, "none"), os.path.join(outdir, "none")
    rerr = cached_reference(a.refcache, a.refcache.key(hf_key, []), src, r, [], arch + " refused")
    rc, oerr = ours(a.mlxconv, src, o, [])
    if rerr is None:
        reason = "mlx_lm.convert accepted the fixture (expected to refuse: %s)" % why
    elif rc == 0:
        reason = "mlxconv accepted the fixture (mlx_lm: %s)" % rerr[:160]
    elif os.path.exists(o):
        reason = "mlxconv failed but left %s" % o
    else:
        reason = None
        if a.verbose:
            print("  refused by both: mlx_lm %s; mlxconv %s" % (rerr[:160], oerr.strip()[:160]), flush=True)
    tally.add(arch, "none", "refused", reason)


def error_check(arch, case, src, hf_key, work, a, tally):
    r = os.path.join(work, "ref", case.name)
    o = os.path.join(work, "ours", case.name)
    sentinel = None
    if case.name == "err-exists":
        for d in (r, o):
            os.makedirs(d)
            with open(os.path.join(d, "keep.txt"), "w") as f:
                f.write("existing\n")
        sentinel = os.path.join(o, "keep.txt")
    if sentinel is None:
        rerr = cached_reference(a.refcache, a.refcache.key(hf_key, case.flags), src, r, case.flags, "%s %s" % (arch, case.name))
    else:
        rerr = reference(src, r, case.flags)  # depends on the existing directory: not cached
    rc, oerr = ours(a.mlxconv, src, o, case.flags)
    if rerr is None:
        reason = "mlx_lm.convert accepted %s (harness expectation wrong)" % case.error
    elif rc == 0:
        reason = "mlxconv accepted %s (mlx_lm: %s)" % (case.error, rerr[:160])
    elif sentinel is not None:
        left = sorted(os.listdir(o)) if os.path.isdir(o) else None
        reason = None if left == ["keep.txt"] and read(sentinel) == b"existing\n" else "existing output changed: %s" % left
    elif os.path.exists(o):
        reason = "mlxconv failed but left %s" % o
    else:
        reason = None
    tally.add(arch, case.name, "error", reason)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mlxconv", required=True, help="path to the mlxconv binary")
    ap.add_argument("--npm", required=True, help="tokenizer directory printed by scripts/oracle/tokenizers.sh")
    ap.add_argument("--work", help="scratch directory (default: a new temporary one, removed at the end)")
    ap.add_argument("--arch", help="comma-separated architectures (default: all)")
    ap.add_argument("--case", action="append", help="only cases whose name contains this (repeatable)")
    ap.add_argument("--quick", action="store_true", help="6 cases per architecture")
    ap.add_argument("--no-generate", action="store_true", help="skip the greedy generation checks")
    ap.add_argument("--keep", action="store_true", help="keep the outputs")
    ap.add_argument("--no-ref-cache", action="store_true",
                    help="run mlx_lm.convert and generate for every case (no reference cache, nothing stored)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    a.refcache = refcache.Cache(None if a.no_ref_cache else refcache.default_root(), harness_key())
    a.mlxconv = os.path.abspath(a.mlxconv)
    a.npm = os.path.abspath(a.npm)
    archs = a.arch.split(",") if a.arch else list(convert_models.ARCHS)
    for x in archs:
        if x not in convert_models.ARCHS:
            ap.error("unknown architecture %r" % x)
    a.error_arch = archs[0]
    tmp = None
    if a.work is None:
        tmp = a.work = tempfile.mkdtemp(prefix="mlxconv-convert-")
    os.makedirs(a.work, exist_ok=True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import mlx.core as mx

    mx.set_default_device(mx.cpu)
    tally = Tally(a.verbose)
    t0 = time.time()
    # The transformers-made fixtures, once, before the matrix (one process per
    # transformers version makes the ones missing from the cache).
    convert_models.hf_fixtures.ensure(archs, a.npm)
    print("fixtures ready in %.1fs" % (time.time() - t0), flush=True)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            for arch in archs:
                try:
                    dt, n, times = run_arch(arch, a, tally, pool)
                except (Exception, SystemExit):  # noqa: BLE001 - a crash in one architecture must not hide the others
                    tally.add(arch, "-", "harness", "harness error: " + traceback.format_exc().strip().splitlines()[-1])
                    continue
                p, f = tally.per_arch.get(arch, (0, 0))
                print("%-12s %3d cases %5.1fs (mlx_lm %.1fs, mlxconv %.1fs, compare %.1fs, generate %.1fs)  %4d passed %4d failed"
                      % (arch, n, dt, times["mlx_lm"], times["mlxconv"], times["compare"], times["generate"], p, f), flush=True)
    finally:
        if tmp and not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("%-12s %8s %8s" % ("arch", "passed", "failed"))
    for arch in archs:
        p, f = tally.per_arch.get(arch, (0, 0))
        print("%-12s %8d %8d" % (arch, p, f))
    if tally.reasons:
        print()
        print("distinct failure reasons (first occurrence):")
        seen = set()
        for arch, case, check, reason in tally.reasons:
            key = re.sub(r"\d+", "N", reason)[:80]
            if key in seen:
                continue
            seen.add(key)
            print("  [%s %s %s] %s" % (arch, case, check, reason[:300]))
            if len(seen) >= 15:
                break
    if tally.refused:
        print()
        print("cases mlx_lm refused (not counted):")
        for arch, case, reason in tally.refused:
            print("  [%s %s] %s" % (arch, case, reason[:300]))
    passed, failed = tally.totals()
    print("reference cache (%s): %d hits, %d misses" % (a.refcache.root or "off", a.refcache.hits, a.refcache.misses))
    print("total time %.1fs" % (time.time() - t0))
    print("convert-conformance: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
