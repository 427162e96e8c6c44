#!/usr/bin/env python3
"""The llama.cpp oracle for `mlxconv gguf` (issue 6: inference and metadata
acceptance). Run with the venv python of setup.sh (see README.md).

  check.py prepare --npm DIR --work WORK [--arch A,B] [--types f32,f16,bf16,q8_0] [--workers 2]
                   [--cache DIR] [--no-cache]
      Generates the tiny HF models (models.py) into WORK/hf/ARCH, converts
      each with convert_hf_to_gguf.py (in WORKERS processes), dumps the result
      (dump.py: .dump.json) and runs it in llama.cpp (runtime.py: .logits.json
      with the prompt's tokens, last-position logits, 8 greedy tokens); bf16
      and q8_0 are dumped only (KVs and tensors are compared, not logits) and
      their GGUF deleted (index.json: gguf and logits null).
      Reference results live in CACHE/KEY/ARCH-TYPE.* (default
      $MLXCONV_LLAMA_CACHE/ref), KEY hashing everything they depend on (model
      files, converter, pins, prompt, these scripts), and are reused while
      valid. Writes WORK/index.json, which points at them.
  check.py self --work WORK [--full] [-v]
      Proves the harness on the reference files alone: every reference
      converts and loads with finite logits; per architecture (f32), two
      byte-patched copies must be caught, by the KV diff and by the logits:
      rope.freq_base doubled (or, without one, the RMS norm epsilon x10000),
      and rows 0/1 of blk.0's attention Q (Phi-3: QKV) weight swapped, as a
      missed permute would; a gguf-py GGUFWriter rewrite (KVs and tensors in
      reverse order, hence other offsets) must compare equal (KVs, tensor
      bytes, logits bit-identical; its tensor order must be caught as a
      difference) and differ bytewise; dump.py's fast reader
      must agree with gguf-py's GGUFReader. The gguf-py steps run on the
      small-vocabulary models (gguf-py takes 10-20 s per 150k-token file);
      --full runs them on all, and also reconverts every f32 model in a
      separate process and requires the bytes of the batched conversion.
      Prints the f16-vs-f32 reference logits error per architecture.
  check.py candidate --work WORK --cmd 'BIN gguf --model {model} --outfile {outfile} --outtype {outtype}'
                     [--allow FILE] [--rtol 1e-5] [--arch A,B] [--types T,U] [--tensor-bytes]
      Runs the candidate converter on every prepared case and compares with
      the reference: exit status, KV set and values (allow-list: allow.txt
      beside this file by default), tensor names/types/shapes (--tensor-bytes:
      also data), and for f32/f16 the prompt's tokenization and the logits of
      the reference's input tokens (max relative error <= rtol, same greedy
      tokens).

  check.py compare --work WORK --arch A --outtype T FILE [--allow FILE] [--rtol 1e-5]
                   [--tensor-bytes] [--json]
      The candidate comparisons for one prepared case and a GGUF made
      elsewhere (the Go helper internal/llamaoracle uses --json: one report
      {checks: [{arch, name, ok, detail}], passed, failed} on stdout).

Each check prints a line on failure (-v: every check), then a per-architecture
table and "llama-oracle: N passed, M failed"; exit status 1 if anything failed.
"""
import argparse
import hashlib
import json
import os
import shlex
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
CACHE = os.environ.get("MLXCONV_LLAMA_CACHE") or os.path.join(ROOT, ".cache", "oracle", "llama")
CONVERTER = os.path.join(CACHE, "llama.cpp")
# dump.py and the rewrites read with the gguf-py that the converter writes with.
sys.path.insert(0, os.path.join(CONVERTER, "gguf-py"))
sys.path.insert(0, HERE)

import compare  # noqa: E402
import dump  # noqa: E402
import models  # noqa: E402
import runtime  # noqa: E402
import families  # noqa: E402  (scripts/oracle, on the path models.py sets)

TYPES = ["f32", "f16", "bf16", "q8_0"]
# The output types whose references llama.cpp runs (tokenization, logits,
# greedy tokens). bf16 and q8_0 are compared on KVs and tensors (names, types,
# shapes, bytes) only: their logits would only repeat f32's check with
# rounding on top, and their reference GGUF is deleted once dumped (the dump
# holds every tensor's sha256), which keeps the cache small.
LOGITS_TYPES = ("f32", "f16")


def has_logits(c):
    """Whether case c's reference is run in llama.cpp (LOGITS_TYPES)."""
    return c["outtype"] in LOGITS_TYPES
# Models whose vocabulary gguf-py's reader and writer handle in well under a
# second (the others take 10-20 s per file): self-test subjects by default.
SMALL_VOCAB = ("mistral", "gemma", "gemma2", "phi3", "mixtral")
PROMPT = "The quick brown fox jumps over the lazy dog. 12345 h\u00e9llo w\u00f6rld!"


# ---------------------------------------------------------------- helpers


class Checks:
    def __init__(self, verbose=False, quiet=False):
        self.verbose = verbose and not quiet
        self.quiet = quiet
        self.results = []  # (arch, name, ok, detail)
        self.pending = []  # (arch, name, why): checks not run (llama_oracle.logits_pending)

    def add(self, arch, name, ok, detail=""):
        self.results.append((arch, name, ok, detail))
        if (not ok and not self.quiet) or self.verbose:
            print("%s %s %s%s" % ("ok  " if ok else "FAIL", arch, name, (": " + detail) if detail else ""), flush=True)

    def pend(self, arch, name, why):
        self.pending.append((arch, name, why))
        if not self.quiet:
            print("PEND %s %s: %s" % (arch, name, why), flush=True)

    def summary(self):
        archs = []
        for a, _, _, _ in self.results:
            if a not in archs:
                archs.append(a)
        print("\n%-14s %6s %6s  failed checks" % ("arch", "passed", "failed"))
        for a in archs:
            rs = [r for r in self.results if r[0] == a]
            bad = [r[1] for r in rs if not r[2]]
            print("%-14s %6d %6d  %s" % (a, len(rs) - len(bad), len(bad), " ".join(bad)))
        npass = sum(1 for r in self.results if r[2])
        nfail = len(self.results) - npass
        if self.pending:
            print("pending (not counted): %s" % " ".join("%s:%s" % (a, n) for a, n, _ in self.pending))
        print("llama-oracle: %d passed, %d failed" % (npass, nfail))
        return nfail == 0


def llama_logits(jobs, workers=2):
    """Runs jobs ({file, out, prompt?, tokens?, ...}) in llama.cpp (runtime.py:
    the build of the pinned sdist, in `workers` processes), writes each result
    as JSON to its out path and returns {out path: result}."""
    res = runtime.logits(jobs, workers)
    out = {}
    for j, r in zip(jobs, res):
        write_json(j["out"], r)
        out[j["out"]] = r
    return out


def ref_convert_batch(jobs, workers):
    """Runs ref_convert.py --jobs in `workers` processes; returns {outfile: result}."""
    if not jobs:
        return {}
    # Balance by input size (vocabulary and weights dominate the time).
    def cost(j):
        return sum(os.path.getsize(os.path.join(j["model"], fn)) for fn in os.listdir(j["model"]))
    order = sorted(jobs, key=cost, reverse=True)
    buckets = [[] for _ in range(max(1, min(workers, len(jobs))))]
    loads = [0] * len(buckets)
    for j in order:
        i = loads.index(min(loads))
        buckets[i].append(j)
        loads[i] += cost(j)
    procs = []
    files = []
    for b in buckets:
        f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(b, f)
        f.close()
        files.append(f.name)
        procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "ref_convert.py"), "--converter", CONVERTER,
                                       "--jobs", f.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = {}
    for p, fn in zip(procs, files):
        out, err = p.communicate()
        os.unlink(fn)
        if p.returncode != 0:
            raise RuntimeError("ref_convert.py failed (%d): %s" % (p.returncode, err[-4000:]))
        for line in out.splitlines():
            r = json.loads(line)
            results[r["outfile"]] = r
    return results


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_sha256(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


# ---------------------------------------------------------------- prepare


def dir_sha256(d):
    h = hashlib.sha256()
    for fn in sorted(os.listdir(d)):
        p = os.path.join(d, fn)
        if os.path.isfile(p):
            h.update(fn.encode() + b"\0" + file_sha256(p).encode() + b"\n")
    return h.hexdigest()


def oracle_sha256():
    """Everything besides the model that a reference result depends on."""
    parts = [open(os.path.join(CONVERTER, ".mlxconv-sdist")).read(), PROMPT, runtime.release()]
    for fn in ("requirements.txt", "logits.cpp", "runtime.py", "dump.py", "ref_convert.py"):
        parts.append(file_sha256(os.path.join(HERE, fn)))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def converter_args(arch):
    """The extra convert_hf_to_gguf.py arguments of arch's reference
    (llama_oracle.converter_args, e.g. --no-mtp: the converter refuses a
    Qwen3-Next checkpoint without MTP tensors unless told to skip them)."""
    args = families.load(arch)["llama_oracle"].get("converter_args", [])
    if not isinstance(args, list) or not all(isinstance(x, str) for x in args):
        raise ValueError("%s: llama_oracle.converter_args must be a list of strings" % arch)
    return args


def cmd_prepare(a):
    work = os.path.abspath(a.work)
    archs = a.arch.split(",") if a.arch else list(models.ARCHS)
    types = a.types.split(",")
    os.makedirs(os.path.join(work, "hf"), exist_ok=True)
    t0 = time.monotonic()
    stamp = tree_sha256([os.path.join(HERE, "models.py"), os.path.join(HERE, "..", "convert_models.py"),
                         os.path.join(HERE, "..", "families.py"), os.path.join(HERE, "..", "hf_fixtures.py")]
                        + families.files())
    # The transformers-made fixtures among them, made once (one process per
    # transformers version) into their cache; models.generate copies them.
    models.cm.hf_fixtures.ensure([models.fixture_name(x) for x in archs], a.npm)
    for arch in archs:
        out = os.path.join(work, "hf", arch)
        st = os.path.join(work, "hf", "." + arch + ".stamp")
        if os.path.exists(st) and open(st).read() == stamp:
            continue
        models.generate(arch, a.npm, out)
        with open(st, "w") as f:
            f.write(stamp)
    t_models = time.monotonic() - t0

    # Reference results are cached by the hash of everything they depend on
    # (model files, converter, venv pins, prompt, these scripts), in
    # CACHE/ref/KEY/ (a miss converts, dumps and runs it; --no-cache ignores hits).
    osha = oracle_sha256()
    cases, todo = [], []
    for arch in archs:
        msha = dir_sha256(os.path.join(work, "hf", arch))
        args = converter_args(arch)
        for t in types:
            # (converter arguments join the key only when there are any, so
            # the other references keep theirs)
            key = hashlib.sha256(("%s %s %s" % (osha, msha, t) + "".join(" " + x for x in args)).encode()).hexdigest()[:24]
            d = os.path.join(a.cache, key)
            base = os.path.join(d, "%s-%s" % (arch, t))
            c = {"arch": arch, "outtype": t, "model": os.path.join(work, "hf", arch), "key": key, "args": args,
                 "gguf": base + ".gguf", "log": base + ".gguf.log",
                 "dump": base + ".dump.json", "logits": base + ".logits.json"}
            done = os.path.join(d, "result.json")
            if os.path.exists(done) and not a.no_cache:
                c.update(read_json(done))
                c["cached"] = True
                os.utime(d)  # last use, for cachegc.py
            else:
                os.makedirs(d, exist_ok=True)
                if os.path.exists(done):
                    os.unlink(done)
                todo.append(c)
            cases.append(c)
    t1 = time.monotonic()
    conv = ref_convert_batch([{"model": c["model"], "outfile": c["gguf"], "outtype": c["outtype"], "log": c["log"],
                               "args": c["args"]} for c in todo], a.workers)
    t_conv = time.monotonic() - t1
    for c in todo:
        r = conv[c["gguf"]]
        c["convert_seconds"] = r["seconds"]
        c["ok"] = r["ok"]
        if not r["ok"]:
            c["error"] = r["error"]

    t2 = time.monotonic()
    for c in todo:
        if c["ok"]:
            write_json(c["dump"], dump.dump(c["gguf"]))
    t_dump = time.monotonic() - t2

    t3 = time.monotonic()
    res = llama_logits([{"file": c["gguf"], "out": c["logits"], "prompt": PROMPT} for c in todo if c["ok"] and has_logits(c)])
    t_logits = time.monotonic() - t3
    for c in todo:
        if c["ok"] and not has_logits(c) and os.path.exists(c["gguf"]):
            os.unlink(c["gguf"])  # compared by its dump alone
        if c["ok"] and has_logits(c) and "error" in res[c["logits"]]:
            why = families.load(c["arch"])["llama_oracle"].get("logits_pending")
            if why:
                # The runtime cannot load this architecture yet: KVs, tensors
                # and bytes are still compared, tokenization and logits not.
                c["logits_pending"] = "%s (llama.cpp: %s)" % (why, res[c["logits"]]["error"][:200])
            else:
                c["ok"] = False
                c["error"] = "llama.cpp: " + res[c["logits"]]["error"]
        r = {k: c[k] for k in ("ok", "error", "convert_seconds", "logits_pending") if k in c}
        write_json(os.path.join(os.path.dirname(c["gguf"]), "result.json"), r)

    f32 = {c["arch"]: c for c in cases if c["outtype"] == "f32" and c["ok"]}
    for c in cases:
        if not has_logits(c):
            c["gguf"], c["logits"] = None, None  # KVs and tensors only: the dump
            if c["arch"] in f32:  # (its F32 tensors' bytes: compare_case's ref_paths)
                c["f32_gguf"], c["f32_dump"] = f32[c["arch"]]["gguf"], f32[c["arch"]]["dump"]
    index = {"prompt": PROMPT, "converter": open(os.path.join(CONVERTER, ".mlxconv-sdist")).read().strip(),
             "cases": cases,
             "seconds": {"models": round(t_models, 1), "convert": round(t_conv, 1), "dump": round(t_dump, 1),
                         "logits": round(t_logits, 1)}}
    write_json(os.path.join(work, "index.json"), index)
    for c in cases:
        print("%-12s %-4s %s %5.1fs%s%s" % (c["arch"], c["outtype"], "ok  " if c["ok"] else "FAIL", c.get("convert_seconds", 0),
                                            " (cached)" if c.get("cached") else "",
                                            "" if c["ok"] else "  " + c["error"].splitlines()[0]))
    print("prepare: models %.1fs; %d of %d references from the cache; convert %.1fs (%d workers), dump %.1fs, logits %.1fs" % (
        t_models, len(cases) - len(todo), len(cases), t_conv, a.workers, t_dump, t_logits))
    return all(c["ok"] for c in cases)


# ---------------------------------------------------------------- self test


def rewrite(src, dst, kv_change=None, tensor_change=None):
    """Writes src again with gguf-py's GGUFWriter: KVs in reverse order (after
    general.architecture), tensors in reverse order. kv_change(key, value)
    and tensor_change(name, ndarray) may return replacements."""
    import numpy as np
    from gguf import GGUFReader, GGUFWriter, GGUFValueType as VT

    r = GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = GGUFWriter(dst, arch)
    fields = [f for f in r.fields.values() if not f.name.startswith("GGUF.") and f.name != "general.architecture"]
    for f in reversed(fields):
        v = f.contents()
        if kv_change is not None:
            v = kv_change(f.name, v)
        t0 = VT(f.types[0])
        sub = VT(f.types[-1]) if t0 == VT.ARRAY else None
        if f.name == "general.alignment":
            w.data_alignment = int(v)
        w.add_key_value(f.name, v, t0, sub_type=sub)
    for t in reversed(list(r.tensors)):
        data = np.array(t.data)
        if tensor_change is not None:
            data = tensor_change(t.name, data)
        w.add_tensor(t.name, data, raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def patched_copy(src, dst, patches):
    """Copies src to dst and overwrites [(offset, bytes)]."""
    import shutil
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        for off, b in patches:
            f.seek(off)
            f.write(b)


def kv_patch(d, offs, key, factor):
    """A patch multiplying the FLOAT32 KV key by factor."""
    e = next(e for e in d["kv"] if e["key"] == key)
    if e["type"] != "FLOAT32":
        raise ValueError("%s is %s, not FLOAT32" % (key, e["type"]))
    return [(offs["kv"][key], struct.pack("<f", e["value"] * factor))]


def row_swap_patch(path, d, offs, name):
    """A patch swapping rows 0 and 1 of tensor name (rows = ne[1], each ne[0]
    elements: two output features, as a missed or wrong q/k permute would
    reorder them)."""
    t = next(t for t in d["tensors"] if t["name"] == name)
    row = t["n_bytes"] // (t["n_elements"] // t["shape"][0])
    a = offs["tensors"][name]
    with open(path, "rb") as f:
        f.seek(a)
        r01 = f.read(2 * row)
    return [(a, r01[row:] + r01[:row])]


# The self-check's targets, chosen from the file alone (no architecture
# names): the first layer's input projection, by preference the attention
# query (a missed q/k permute swaps its rows), else the state-space or
# short-conv input projection, else any weight of layer 0 with two rows.
SELF_TARGETS = ("blk.0.attn_q.weight", "blk.0.attn_qkv.weight", "blk.0.attn_q_b.weight",
                "blk.0.attn_q_a.weight", "blk.0.ssm_in.weight", "blk.0.shortconv.in_proj.weight")


def self_target(d):
    two_rows = [t["name"] for t in d["tensors"] if t["name"].startswith("blk.0.") and
                len(t["shape"]) == 2 and t["shape"][1] >= 2 and "norm" not in t["name"]]
    return next((n for n in SELF_TARGETS if n in two_rows), two_rows[0] if two_rows else None)


def self_kvs(keys):
    """KVs to patch: the norm epsilon x10000 (RMS, else LayerNorm) and the
    rope base x2, those the file has."""
    out = []
    eps = next((k for k in keys if k.endswith(".attention.layer_norm_rms_epsilon")), None) or \
        next((k for k in keys if k.endswith(".attention.layer_norm_epsilon")), None)
    if eps:
        out.append((eps, 10000.0))
    rope = next((k for k in keys if k.endswith(".rope.freq_base")), None)
    if rope:
        out.append((rope, 2.0))
    return out


def cmd_self(a):
    work = os.path.abspath(a.work)
    index = read_json(os.path.join(work, "index.json"))
    checks = Checks(a.verbose)
    sd = os.path.join(work, "self")
    os.makedirs(sd, exist_ok=True)
    by = {(c["arch"], c["outtype"]): c for c in index["cases"]}
    for c in index["cases"]:
        checks.add(c["arch"], "ref-%s" % c["outtype"], c["ok"], c.get("error", "").splitlines()[0] if not c["ok"] else "")
        if c["ok"] and "logits_pending" in c:
            checks.pend(c["arch"], "ref-%s-logits" % c["outtype"], c["logits_pending"])
        elif c["ok"] and has_logits(c):
            lg = read_json(c["logits"])
            finite = all(x == x and abs(x) != float("inf") for x in compare.logits_vector(lg))
            checks.add(c["arch"], "ref-%s-logits" % c["outtype"], lg["missing_logits"] == 0 and finite,
                       "missing %d, finite %s" % (lg["missing_logits"], finite))

    # The fast dump reader against gguf-py's GGUFReader (slow on big
    # vocabularies: the small-vocabulary models only, unless --full).
    for c in index["cases"]:
        if c["ok"] and c["gguf"] and (a.full or c["arch"] in SMALL_VOCAB):
            # The file path is not content: a cached dump may name the same
            # file through another path (a symlinked or relocated cache).
            strip = lambda d: {k: v for k, v in d.items() if k != "file"}
            same = strip(dump.dump(c["gguf"], reader="gguf-py")) == strip(read_json(c["dump"]))
            checks.add(c["arch"], "dump-readers-%s" % c["outtype"], same, "" if same else "dump.py fast reader and gguf-py disagree")

    # Per architecture (f32): a gguf-py rewrite that must compare equal
    # (small-vocabulary models, all with --full: gguf-py needs 10-20 s per
    # file with a 150k+ vocabulary), and two byte-patched copies that must not.
    jobs = []
    variants = []
    for (arch, t), c in by.items():
        if t != "f32" or not c["ok"] or "logits_pending" in c:
            continue  # (a pending architecture's logits are not run: its detection checks neither)
        offs = {}
        d = dump.dump_fast(c["gguf"], offsets=offs)
        names = [x["name"] for x in d["tensors"]]
        keys = [e["key"] for e in d["kv"]]
        target = self_target(d)
        kvs = self_kvs(keys)
        tokens = read_json(c["logits"])["tokens"]
        v = {"arch": arch, "case": c, "target": target, "kvs": kvs}
        if a.full or arch in SMALL_VOCAB:
            v["same"] = os.path.join(sd, arch + "-rewrite.gguf")
            rewrite(c["gguf"], v["same"])
        for i, (kvk, factor) in enumerate(kvs):
            v["kv%d" % i] = os.path.join(sd, "%s-kv%d.gguf" % (arch, i))
            patched_copy(c["gguf"], v["kv%d" % i], kv_patch(d, offs, kvk, factor))
        if target:
            v["tensor"] = os.path.join(sd, arch + "-tensor.gguf")
            patched_copy(c["gguf"], v["tensor"], row_swap_patch(c["gguf"], d, offs, target))
        for kind in ["same", "tensor"] + ["kv%d" % i for i in range(len(kvs))]:
            if kind in v:
                jobs.append({"file": v[kind], "out": v[kind] + ".logits.json", "tokens": tokens, "prompt": index["prompt"]})
        variants.append(v)
    res = llama_logits(jobs)

    for v in variants:
        arch, c = v["arch"], v["case"]
        ref_dump, ref_lg = read_json(c["dump"]), read_json(c["logits"])
        if "same" in v:
            d = dump.dump(v["same"])
            kvf, _ = compare.kv_diff(ref_dump, d)
            tf = compare.tensor_diff(ref_dump, d, check_bytes=True, check_order=False)
            lf, st = compare.logits_diff(ref_lg, res[v["same"] + ".logits.json"], rtol=0.0)
            checks.add(arch, "rewrite-equal", not (kvf or tf or lf), "; ".join(kvf + tf + lf)[:400])
            of = compare.tensor_diff(ref_dump, d)
            checks.add(arch, "detect-order", bool(of), "reversed tensors: order diff %s" % ("found" if of else "MISSED"))
            differ = file_sha256(v["same"]) != file_sha256(c["gguf"])
            checks.add(arch, "rewrite-not-bytewise", differ,
                       "" if differ else "the gguf-py rewrite has the same bytes: the equality above proves less")
        # Every patched KV must show in the KV diff, and at least one of them
        # in the logits (a rope base changes nothing in a model whose layer
        # 0..n use no rope, e.g. granitehybrid's NoPE attention).
        notes, kv_found, lg_found = [], bool(v["kvs"]), False
        for i, (kvk, factor) in enumerate(v["kvs"]):
            f = v["kv%d" % i]
            kvf, _ = compare.kv_diff(ref_dump, dump.dump(f))
            lf, st = compare.logits_diff(ref_lg, res[f + ".logits.json"])
            kv_found, lg_found = kv_found and bool(kvf), lg_found or bool(lf)
            notes.append("%s x%g: kv diff %s, logits %s" % (kvk, factor, "found" if kvf else "MISSED",
                                                           ("max_rel %.3g" % st["max_rel"]) if st else lf))
        checks.add(arch, "detect-kv", kv_found and lg_found,
                   "; ".join(notes) if notes else "no rope.freq_base or norm epsilon key")
        if "tensor" in v:
            tf = compare.tensor_diff(ref_dump, dump.dump(v["tensor"]), check_bytes=True, check_order=False)
            lf, st = compare.logits_diff(ref_lg, res[v["tensor"] + ".logits.json"])
            checks.add(arch, "detect-tensor", bool(tf) and bool(lf),
                       "%s rows 0/1 swapped: tensor diff %s, logits %s" % (
                           v["target"], "found" if tf else "MISSED", ("max_rel %.3g" % st["max_rel"]) if st else lf))
        else:
            checks.add(arch, "detect-tensor", False, "no two-row blk.0 weight")
        if not a.keep:
            for k in ["same", "tensor"] + ["kv%d" % i for i in range(len(v["kvs"]))]:
                if k in v:
                    os.unlink(v[k])
        c16 = by.get((arch, "f16"))
        if c16 and c16["ok"] and "logits_pending" not in c16:
            lg16 = read_json(c16["logits"])
            if lg16["tokens"] == ref_lg["tokens"]:
                _, st = compare.logits_diff(ref_lg, lg16, rtol=float("inf"))
                print("info %s f16 vs f32 reference logits: max_rel %.3g, max_abs %.3g" % (arch, st["max_rel"], st["max_abs"]))

    if a.full:
        for v in variants:
            c = v["case"]
            out = os.path.join(sd, v["arch"] + "-separate.gguf")
            p = subprocess.run([sys.executable, os.path.join(HERE, "ref_convert.py"), "--converter", CONVERTER,
                                c["model"], out, "f32"] + c.get("args", []), capture_output=True, text=True)
            same = p.returncode == 0 and file_sha256(out) == file_sha256(c["gguf"])
            checks.add(v["arch"], "deterministic", same,
                       "" if same else (p.stderr[-300:] if p.returncode else "separate run differs from the batched one"))
    return checks.summary()


# ---------------------------------------------------------------- candidate


def cmd_candidate(a):
    work = os.path.abspath(a.work)
    index = read_json(os.path.join(work, "index.json"))
    allow = compare.load_allow(a.allow)
    archs = set(a.arch.split(",")) if a.arch else None
    types = set(a.types.split(",")) if a.types else None
    cd = os.path.join(work, "cand")
    os.makedirs(cd, exist_ok=True)
    checks = Checks(a.verbose)
    todo = []
    for c in index["cases"]:
        if (archs and c["arch"] not in archs) or (types and c["outtype"] not in types):
            continue
        if not c["ok"]:
            checks.add(c["arch"], "reference-%s" % c["outtype"], False, "no reference: " + c.get("error", "")[:200])
            continue
        out = os.path.join(cd, "%s-%s.gguf" % (c["arch"], c["outtype"]))
        if os.path.exists(out):
            os.unlink(out)
        cmd = a.cmd.format(model=shlex.quote(c["model"]), outfile=shlex.quote(out), outtype=c["outtype"])
        t0 = time.monotonic()
        p = subprocess.run(cmd, shell=True, capture_output=True, text=True)
        secs = time.monotonic() - t0
        ok = p.returncode == 0 and os.path.exists(out)
        checks.add(c["arch"], "convert-%s" % c["outtype"], ok,
                   ("%.1fs" % secs) if ok else ("exit %d: %s" % (p.returncode, (p.stderr or p.stdout)[-400:])))
        if ok:
            todo.append((c, out))

    res = llama_logits([logits_job(index, c, out) for c, out in todo if "logits_pending" not in c and has_logits(c)])
    for c, out in todo:
        compare_case(c, out, res.get(out + ".logits.json"), allow, a.rtol, a.tensor_bytes, checks)
        if not a.keep:
            os.unlink(out)  # (its dump and logits stay; a 150k-vocabulary f32 file is ~80 MB)
    return checks.summary()


def logits_job(index, c, out):
    """The llama.cpp job for candidate file out of case c: the reference's
    input tokens (so that tokenizer differences cannot hide in the logits),
    and the prompt for prompt_tokens."""
    return {"file": out, "out": out + ".logits.json", "tokens": read_json(c["logits"])["tokens"], "prompt": index["prompt"]}


def ref_paths(c, ref_dump, out):
    """The (reference, candidate) GGUF files for the 1-ulp F32 tensor-data
    allowance. A bf16/q8_0 reference is not kept (its dump is): its F32
    tensors are read from the f32 reference, when the dumps show they have
    the same bytes there (the converter computes them alike for every
    output type); else None (no allowance)."""
    if c.get("gguf"):
        return (c["gguf"], out)
    if not c.get("f32_gguf") or not os.path.exists(c["f32_gguf"]):
        return None
    f32 = {t["name"]: t["sha256"] for t in read_json(c["f32_dump"])["tensors"]}
    same = all(f32.get(t["name"]) == t["sha256"] for t in ref_dump["tensors"] if t["type"] == "F32")
    return (c["f32_gguf"], out) if same else None


def compare_case(c, out, lg, allow, rtol, tensor_bytes, checks):
    """All comparisons of candidate file out (llama.cpp result lg) with case c."""
    arch, t = c["arch"], c["outtype"]
    ref_dump = read_json(c["dump"])
    try:
        d = dump.dump(out)
    except Exception as e:  # not parseable: every later check would fail
        checks.add(arch, "parse-%s" % t, False, "%s: %s" % (type(e).__name__, e))
        return
    write_json(out[:-5] + ".dump.json" if out.endswith(".gguf") else out + ".dump.json", d)
    kvf, oks = compare.kv_diff(ref_dump, d, allow, arch=compare.arch_of(ref_dump))
    if checks.verbose:
        for m in oks:
            print("     %s %s" % (arch, m))
    checks.add(arch, "kv-%s" % t, not kvf, "\n  ".join([""] + kvf) if kvf else "%d allowed differences" % len(oks))
    toks = []
    tf = compare.tensor_diff(ref_dump, d, check_bytes=tensor_bytes, allow=allow, arch=compare.arch_of(ref_dump),
                             paths=ref_paths(c, ref_dump, out), oks=toks)
    if checks.verbose:
        for m in toks:
            print("     %s %s" % (arch, m))
    checks.add(arch, "tensors-%s" % t, not tf, "\n  ".join([""] + tf[:20]) if tf else "%d allowed differences" % len(toks))
    if not has_logits(c):
        return  # bf16, q8_0: KVs and tensors only
    if "logits_pending" in c:
        checks.pend(arch, "logits-%s" % t, c["logits_pending"])
        return
    ref_lg = read_json(c["logits"])
    if "error" in lg:
        checks.add(arch, "load-%s" % t, False, lg["error"][:600])
        return
    checks.add(arch, "tokenize-%s" % t, lg["prompt_tokens"] == ref_lg["prompt_tokens"],
               "reference %s, candidate %s" % (ref_lg["prompt_tokens"], lg["prompt_tokens"]))
    lf, st = compare.logits_diff(ref_lg, lg, rtol)
    checks.add(arch, "logits-%s" % t, not lf, "; ".join(lf) if lf else ("max_rel %.3g" % st["max_rel"]))


def cmd_compare(a):
    index = read_json(os.path.join(os.path.abspath(a.work), "index.json"))
    c = next((c for c in index["cases"] if c["arch"] == a.arch and c["outtype"] == a.outtype), None)
    checks = Checks(a.verbose, quiet=a.json)
    if c is None:
        checks.add(a.arch, "reference-%s" % a.outtype, False, "no such prepared case")
    elif not c["ok"]:
        checks.add(a.arch, "reference-%s" % a.outtype, False, "no reference: " + c.get("error", "")[:200])
    else:
        out = os.path.abspath(a.file)
        lg = llama_logits([logits_job(index, c, out)], workers=1)[out + ".logits.json"] if has_logits(c) else None
        compare_case(c, out, lg, compare.load_allow(a.allow), a.rtol, a.tensor_bytes, checks)
    if a.json:
        rs = [{"arch": r[0], "name": r[1], "ok": r[2], "detail": r[3]} for r in checks.results]
        print(json.dumps({"checks": rs, "passed": sum(1 for r in rs if r["ok"]),
                          "failed": sum(1 for r in rs if not r["ok"])}))
        return all(r["ok"] for r in rs)
    return checks.summary()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="sub", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--npm", required=True, help="tokenizer directory printed by scripts/oracle/tokenizers.sh")
    p.add_argument("--work", required=True)
    p.add_argument("--arch")
    p.add_argument("--types", default=",".join(TYPES))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cache", default=os.path.join(CACHE, "ref"), help="reference result cache (default: $MLXCONV_LLAMA_CACHE/ref)")
    p.add_argument("--no-cache", action="store_true", help="recompute every reference")
    p = sub.add_parser("self")
    p.add_argument("--work", required=True)
    p.add_argument("--full", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the patched GGUF copies (deleted once checked)")
    p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("candidate")
    p.add_argument("--work", required=True)
    p.add_argument("--cmd", required=True, help="command template with {model}, {outfile}, {outtype}")
    p.add_argument("--allow", default=os.path.join(HERE, "allow.txt"))
    p.add_argument("--rtol", type=float, default=1e-5)
    p.add_argument("--arch")
    p.add_argument("--types")
    p.add_argument("--tensor-bytes", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the candidate GGUFs in WORK/cand (deleted once compared)")
    p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("compare")
    p.add_argument("--work", required=True)
    p.add_argument("--arch", required=True)
    p.add_argument("--outtype", required=True)
    p.add_argument("file", help="the candidate GGUF for that case")
    p.add_argument("--allow", default=os.path.join(HERE, "allow.txt"))
    p.add_argument("--rtol", type=float, default=1e-5)
    p.add_argument("--tensor-bytes", action="store_true")
    p.add_argument("--json", action="store_true", help="print one JSON report instead of lines and a table")
    p.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    ok = {"prepare": cmd_prepare, "self": cmd_self, "candidate": cmd_candidate, "compare": cmd_compare}[a.sub](a)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
