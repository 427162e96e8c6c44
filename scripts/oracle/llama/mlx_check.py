#!/usr/bin/env python3
"""MLX -> GGUF oracle (issue 14, acceptance line 2): the GGUF export of
mlx-lm's own MLX outputs loads in llama.cpp and its logits match the MLX
model's. Run with the llama venv python, after `check.py prepare`:

  mlx_check.py --work WORK [--arch A,B] [--mlx-python PY] [--cmd TEMPLATE]
               [--cache DIR] [--no-cache] [--run-pending] [-v]

For every prepared architecture (WORK/index.json, WORK/hf/ARCH) and case
(plain: mlx_lm.convert's default dtype; 4bit: mlx_lm.convert -q, affine
4-bit group 64), mlx_ref.py runs in the mlx-lm venv (--mlx-python, default
$MLXCONV_ORACLE_PYTHON, else ~/.cache/mlxconv/oracle/venv/bin/python): it
writes the MLX model and the last-position logits mlx-lm computes for the
input ids of the reference f32 conversion (the prompt as llama.cpp
tokenized it), for the converted model and for the HF source. Those are
cached in CACHE/KEY/ARCH (default $MLXCONV_CACHE/refs/mlx-gguf; KEY hashes
the HF model files, the token ids, mlx_ref.py and the mlx / mlx-lm
versions), so a warm run only exports and runs llama.cpp.

Per case the candidate (default: bin/mlxconv gguf --model {model}
--outfile {outfile} --outtype {outtype}; outtype is the type that holds the
plain model's dtype, auto for 4bit) exports the MLX directory; checks:
  export     exit status 0
  repack     every tensor exact ("N tensors (N exact, 0 lossy)"): the GGUF
             holds the MLX values (4bit: repacked to Q4_1); a float32 4bit
             model's float32 scales, which Q4_1 cannot hold, are lossy and
             reported, not failed
  load       llama.cpp (runtime.py, built from the sdist) evaluates the ids; n_vocab equals
             mlx-lm's logits length
  logits     every figure is max|x - y| / max|source|, source being the HF
             model run in float32 by mlx-lm. own = mlx - source: the case's
             own error (float16/bfloat16 rounding and compute for plain,
             quantization for 4bit). gap = llama.cpp running the reference
             converter's f32 GGUF of the same HF model - source: how far the
             two runtimes' implementations of the architecture differ (up to
             ~1e-3 of float noise: where it was larger, the two ran different
             models, now aligned: Phi-3's LongRoPE runs at a context beyond
             original_context_length in llama.cpp, where it uses the long
             factors as mlx-lm always does (long_rope_ctx; the gap is then
             measured at that context too); the Gemma 2/3 fixtures have
             query_pre_attn_scalar = head_dim, as the real models, since
             llama.cpp scales queries by 1/sqrt(head_dim) and ignores it;
             deepseek_v3's and dots1's llama_oracle fixtures say
             scoring_func sigmoid; smollm3's has NoPE on every 4th layer;
             qwen2's ships no lm_head.weight under tie_word_embeddings: the
             converter wrote it as output.weight, mlx-lm ties: 1.05 -> 5.9e-4).
             One larger gap remains: exaone4 ~0.12 (llama.cpp enables EXAONE
             4's sliding-window/NoPE layers only for 64 layers; its fixture
             is another engineer's this session). Every family whose gap
             exceeds LOOSE_GAP (1e-2) is listed after the table ("loose"):
             its bound is the runtimes' disagreement, not the export's.
             Checks: logits: err = gguf - mlx <= 2 own + gap +
             floor (each side within its own error of the exact model;
             floor, --floor 1e-5, covers float32 cases, whose own error is
             0). gguf-src = gguf - source is printed, not checked (llama.cpp
             rounds activations for BF16/F16 and to Q8_1 for Q4_1 matmuls,
             which mlx-lm does not).
  tokenize   the prompt as llama.cpp tokenizes it with the exported file
             equals the reference converter's tokenization (tokenizer.model
             there for the SentencePiece families: the HF tokenizer's ids)
  top1       the arg-max token of the GGUF logits is mlx-lm's (one of its
             arg-max tokens: bfloat16 logits may tie), or mlx-lm's logits of
             the two differ by at most 2 err (a near tie the measured
             deviation explains; printed)

Which fixtures: --arch, else every fixture of testdata/families with a
llama_oracle section whose f32 reference is prepared in WORK. A fixture whose
llama_oracle has "mlx_check_pending": "<reason>" (this check cannot pass yet:
a llama.cpp limitation, a peer's bug; never our own) is not run but listed
with its reason, as is one whose converter reference has no logits
(logits_pending); --run-pending runs the mlx_check_pending ones anyway.

Ends with "mlx-gguf-oracle: N passed, M failed, K pending" (exit 1 on
failures; pending fixtures are not counted).
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check  # noqa: E402  (the llama oracle: llama_logits, Checks, hashes)

CASES = ("plain", "4bit")
SUMMARY = re.compile(r"(\d+) tensors \((\d+) exact, (\d+) lossy\)")
# mlxconv gguf --verbose's per-tensor line: name, GGUF type, size, reason.
LOSSY = re.compile(r'lossy: "([^"]+)" \(([A-Z0-9_]+), [^)]*\): (.*)')


def wide_layers(model_dir):
    """The modules mlx-lm quantized at 6 or 8 bits (its quant predicate:
    granite's o_proj/down_proj/lm_head, MoE routers, ...), from the MLX
    model's config.json."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        q = json.load(f).get("quantization") or {}
    return [k for k, v in q.items() if isinstance(v, dict) and v.get("bits") in (6, 8)]


def repack_ok(m, out_text, f32_scales, wide):
    """The repack check: every tensor exact, except (reported, not failed)
    a float32 model's 4-bit tensors (Q4_1 holds float16 scales) and tensors
    requantized to Q8_0 from mlx-lm's 6/8-bit layers (no GGUF type holds an
    affine 8-bit group with its offset), at most one per such layer."""
    if m is None:
        return False, "no 'N tensors (E exact, L lossy)' line in the exporter's output"
    lossy = int(m.group(3))
    if lossy == 0 or f32_scales:
        return True, m.group(0) + (" (float32 scales: Q4_1 holds float16)" if lossy else "")
    q8 = [x.group(1) for x in LOSSY.finditer(out_text) if x.group(2) == "Q8_0" and "requantized to Q8_0" in x.group(3)]
    ok = len(q8) == lossy and lossy <= len(wide)
    return ok, "%s: %d requantized to Q8_0, of mlx-lm's %d layers at 6/8 bits%s" % (
        m.group(0), len(q8), len(wide), "" if ok else " (other lossy tensors, or more than those layers)")


def default_cache():
    """$MLXCONV_CACHE/refs/mlx-gguf, beside refcache.py's refs/convert."""
    c = os.environ.get("MLXCONV_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlxconv")
    return os.path.join(c, "refs", "mlx-gguf")


def mlx_python(a):
    return a.mlx_python or os.environ.get("MLXCONV_ORACLE_PYTHON") or os.path.expanduser(
        "~/.cache/mlxconv/oracle/venv/bin/python")


def versions(py):
    """The mlx and mlx-lm versions of the venv (cheap: no import of mlx)."""
    out = subprocess.run([py, "-c", "import importlib.metadata as m;print(m.version('mlx'), m.version('mlx-lm'))"],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def ref_key(hf, tokens, vers):
    parts = [check.dir_sha256(hf), ",".join(map(str, tokens)), vers,
             check.file_sha256(os.path.join(HERE, "mlx_ref.py"))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def ensure_ref(a, py, vers, arch, hf, tokens):
    """Returns the cached mlx_ref.py output directory for arch, making it
    when missing; (dir, cached, seconds)."""
    d = os.path.join(a.cache, ref_key(hf, tokens, vers), arch)
    if os.path.isfile(os.path.join(d, "info.json")) and not a.no_cache:
        os.utime(os.path.dirname(d))  # last use, for cachegc.py
        return d, True, 0.0
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(d + ".tmp", ignore_errors=True)
    t0 = time.monotonic()
    p = subprocess.run([py, os.path.join(HERE, "mlx_ref.py"), "--hf", hf, "--out", d,
                        "--tokens", ",".join(map(str, tokens))], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("mlx_ref.py %s failed: %s" % (arch, p.stderr[-3000:]))
    return d, False, time.monotonic() - t0


def read_f32(path):
    import numpy as np

    return np.fromfile(path, dtype="<f4").astype("float64")


def rel(ref, x):
    import numpy as np

    return float(np.max(np.abs(x - ref)) / max(np.max(np.abs(ref)), 1e-30))


def f32_promoted(ref_dir):
    """mlx-lm computed the plain model in float32 although it is stored in
    16 bits: its logits equal the float32 source's bit for bit (float32
    norms, as the gemma2 fixture stores them, promote every matmul)."""
    with open(os.path.join(ref_dir, "plain.f32"), "rb") as f, open(os.path.join(ref_dir, "source.f32"), "rb") as g:
        return f.read() == g.read()


def outtype(info, case, ref_dir):
    """The GGUF type that holds the plain MLX model's dtype as stored (auto
    would round float32 to F16); auto for 4bit (the repack)."""
    if case != "plain":
        return "auto"
    if case in info.get("f32_compute", []) or f32_promoted(ref_dir):
        # mlx-lm ran it in float32 (CPU GatherMM, or float32 norms): so
        # does llama.cpp with the same values widened exactly (its BF16/F16
        # matmuls round the activations, which mlx-lm's figure then would
        # not include).
        return "f32"
    return {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}.get(info.get("dtype"), "auto")


def export(a, model, outfile, otype):
    cmd = a.cmd.format(model=shlex.quote(model), outfile=shlex.quote(outfile), outtype=otype)
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=check.ROOT)
    return p.returncode, p.stdout + p.stderr


def check_case(c, a, arch, case, ref_dir, info, res, out_text, hf_ref):
    """Adds the load/logits/top1 checks of one exported case; returns a
    one-line figure for the table."""
    import numpy as np

    name = "%s/%s" % (arch, case)
    m = SUMMARY.search(out_text)
    # Q4_1 holds float16 scales and biases: mlx-lm's float32 scales (a
    # float32 model) cannot be repacked exactly; mlxconv reports them lossy.
    f32_scales = case == "4bit" and info.get("dtype") == "float32"
    ok, detail = repack_ok(m, out_text, f32_scales, wide_layers(os.path.join(ref_dir, case, info["name"])))
    c.add(arch, case + " repack", ok, detail)
    if "error" in res:
        c.add(arch, case + " load", False, res["error"][-300:])
        return "%-22s load failed" % name
    mlx = read_f32(os.path.join(ref_dir, case + ".f32"))
    src = read_f32(os.path.join(ref_dir, "source.f32"))
    ok = res["n_vocab"] == len(mlx) and res["tokens"] == info["tokens"]
    c.add(arch, case + " load", ok, "n_vocab %d (mlx-lm %d), tokens %s" % (
        res["n_vocab"], len(mlx), "equal" if res["tokens"] == info["tokens"] else "differ"))
    if not ok:
        return "%-20s n_vocab/tokens differ" % name
    g = np.array(check.compare.logits_vector(res), dtype="float64")
    hf = np.array(check.compare.logits_vector(hf_ref), dtype="float64")
    scale = max(float(np.max(np.abs(src))), 1e-30)
    d = lambda x, y: float(np.max(np.abs(x - y))) / scale  # noqa: E731
    err, own, gap, fid = d(g, mlx), d(mlx, src), d(hf, src), d(g, src)
    c.add(arch, case + " logits", err <= 2 * own + gap + a.floor,
          "err %.3g <= 2*own %.3g + gap %.3g + floor" % (err, own, gap))
    same = res["prompt_tokens"] == hf_ref["prompt_tokens"]
    c.add(arch, case + " tokenize", same, "the prompt as the GGUF tokenizes it%s the converter's reference (from the HF model)"
          % (" equals" if same else " differs from"))
    tg, tm = int(np.argmax(g)), int(np.argmax(mlx))
    # Another arg-max is a failure unless mlx-lm's own logits of the two
    # tokens tie (bfloat16 logits can: qwen3_next 4bit) or differ by less
    # than twice the measured deviation (err): then the swap is that
    # deviation's (a near tie, e.g. at 4 bits), which the logits check bounds.
    margin = float(mlx[tm] - mlx[tg]) / scale
    top = tg == tm or mlx[tg] == np.max(mlx) or margin <= 2 * err
    c.add(arch, case + " top1", top, "gguf %d, mlx-lm %d%s" % (
        tg, tm, "" if tg == tm else " (tied in mlx-lm)" if mlx[tg] == np.max(mlx) else
        ", mlx-lm's margin %.3g %s 2*err" % (margin, "<=" if top else ">")))
    return "%-18s err %.2e  own %.2e  gap %.2e  gguf-src %.2e  top1 %s  %s%s" % (
        name, err, own, gap, fid, "=" if tg == tm else ("~" if top else "!="), m.group(0) if m else "",
        "  (mlx-lm in float32: CPU GatherMM)" if case in info.get("f32_compute", []) else
        "  (mlx-lm in float32: float32 norms)" if case == "plain" and f32_promoted(ref_dir) else "")


# A gap above this (relative to max|source|): llama.cpp and mlx-lm run
# different models on the same file, and the logits check cannot see an
# exporter error smaller than the gap. Listed after the table (not failed).
LOOSE_GAP = 1e-2


def gap_of(ref_dir, hf_ref):
    """gap: the converter's f32 GGUF in llama.cpp vs mlx-lm's float32 source."""
    import numpy as np

    src = read_f32(os.path.join(ref_dir, "source.f32"))
    hf = np.array(check.compare.logits_vector(hf_ref), dtype="float64")
    return float(np.max(np.abs(hf - src))) / max(float(np.max(np.abs(src))), 1e-30)


def long_rope_ctx(ref):
    """The llama.cpp context for arch's runs: None (the reference's, 256)
    unless the reference has LongRoPE factors (rope_factors_long, Phi-3):
    mlx-lm's SuScaledRoPE always rotates with the long factors, llama.cpp
    only when the context exceeds rope.scaling.original_context_length (the
    short ones otherwise, as transformers for a short input). Then twice
    that length, so that both run the same model."""
    with open(ref["dump"], encoding="utf-8") as f:
        d = json.load(f)
    if not any(t["name"] == "rope_factors_long.weight" for t in d["tensors"]):
        return None
    orig = next((e["value"] for e in d["kv"] if e["key"].endswith(".rope.scaling.original_context_length")), None)
    return 2 * int(orig) if orig else None


def select(a, refs):
    """The architectures to run and the pending ones [(arch, why)]: --arch,
    else every fixture with a llama_oracle section (check.families) that has
    a prepared f32 reference. A fixture whose llama_oracle has
    mlx_check_pending (the reason this check cannot pass yet), or whose
    reference's logits are pending (llama.cpp cannot run the converter's own
    file: no reference tokens or logits to compare with), is listed as pending
    instead of run (--run-pending runs the mlx_check_pending ones anyway)."""
    names = a.arch.split(",") if a.arch else [x for x in check.families.names("llama_oracle") if x in refs]
    run, pending = [], []
    for arch in names:
        try:
            lo = check.families.load(arch).get("llama_oracle") or {}
        except OSError:
            lo = {}
        why = lo.get("mlx_check_pending")
        if why and not a.run_pending:
            pending.append((arch, why))
        elif arch in refs and "logits_pending" in refs[arch]:
            pending.append((arch, "the converter's reference has no logits: " + " ".join(refs[arch]["logits_pending"].split())))
        else:
            run.append(arch)
    return run, pending


def prepare_arch(a, py, vers, arch, refs, out_dir):
    """One architecture's part before llama.cpp runs: mlx_lm's reference
    and our exports of its outputs. Returns (checks to add, the line to
    print, logits jobs, pending cases); safe to run beside another."""
    adds, jobs, pending = [], [], []
    if arch not in refs:
        return [(arch, "prepared", False, "no f32 reference in index.json")], "", jobs, pending
    try:
        with open(refs[arch]["logits"], encoding="utf-8") as f:
            tokens = json.load(f)["tokens"]
    except OSError as e:  # (a shared reference cache rewritten meanwhile)
        return [(arch, "reference", False, "%s: rerun check.py prepare" % e)], "", jobs, pending
    try:
        ref_dir, cached, secs = ensure_ref(a, py, vers, arch, refs[arch]["model"], tokens)
    except RuntimeError as e:
        return [(arch, "mlx_lm", False, str(e)[-500:])], "", jobs, pending
    line = "mlx_lm %-12s %s" % (arch, "cached" if cached else "%.1fs" % secs)
    with open(os.path.join(ref_dir, "info.json"), encoding="utf-8") as f:
        info = json.load(f)
    ctx, hf_logits = long_rope_ctx(refs[arch]), refs[arch]["logits"]
    if ctx:
        # The gap under the same context: the converter's f32 GGUF again.
        hf_logits = os.path.join(out_dir, "%s-ref-ctx%d.logits.json" % (arch, ctx))
        jobs.append({"file": refs[arch]["gguf"], "out": hf_logits, "tokens": tokens, "prompt": check.PROMPT, "n": 1, "ctx": ctx})
    for case in CASES:
        outfile = os.path.join(out_dir, "%s-%s.gguf" % (arch, case))
        rc, text = export(a, os.path.join(ref_dir, case, info["name"]), outfile, outtype(info, case, ref_dir))
        adds.append((arch, case + " export", rc == 0,
                     "" if rc == 0 else text.strip().splitlines()[-1][-300:] if text.strip() else "exit %d" % rc))
        if rc != 0:
            continue
        out = outfile[:-5] + ".logits.json"
        job = {"file": outfile, "out": out, "tokens": tokens, "prompt": check.PROMPT, "n": 1}
        if ctx:
            job["ctx"] = ctx
        jobs.append(job)
        pending.append((arch, case, ref_dir, info, out, text, hf_logits, ctx))
    return adds, line, jobs, pending


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--arch")
    ap.add_argument("--mlx-python")
    ap.add_argument("--cmd", default="bin/mlxconv gguf --force --verbose --model {model} --outfile {outfile} --outtype {outtype}")
    ap.add_argument("--cache", default=default_cache())
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--floor", type=float, default=1e-5,
                    help="least bound (float32 cases, whose own error is 0; the f32 HF oracle's rtol)")
    ap.add_argument("--run-pending", action="store_true",
                    help="also run the fixtures whose llama_oracle has mlx_check_pending")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    with open(os.path.join(work, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    refs = {x["arch"]: x for x in index["cases"] if x["outtype"] == "f32" and x.get("ok")}
    archs, skipped = select(a, refs)
    py = mlx_python(a)
    vers = versions(py)
    c = check.Checks(verbose=a.v)
    for arch, why in skipped:
        c.pend(arch, "mlx_check", why)
    out_dir = os.path.join(work, "mlx")
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.monotonic()
    jobs, pending = [], []
    # Per architecture, mlx_lm's reference (a miss runs mlx_ref.py) and the
    # exports are subprocesses, one lane each: two architectures at a time,
    # their results applied in order (the output stays the same).
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for adds, line, js, ps in pool.map(lambda arch: prepare_arch(a, py, vers, arch, refs, out_dir), archs):
            for args in adds:
                c.add(*args)
            if line:
                print(line, flush=True)
            jobs += js
            pending += ps
    results = check.llama_logits(jobs) if jobs else {}
    lines, loose = [], []
    for arch, case, ref_dir, info, out, text, hf_logits, ctx in pending:
        try:
            with open(hf_logits, encoding="utf-8") as f:
                hf_ref = json.load(f)
        except OSError as e:  # (a shared reference cache rewritten meanwhile)
            c.add(arch, case + " reference", False, "%s: rerun check.py prepare" % e)
            continue
        if "error" in hf_ref:
            c.add(arch, case + " reference", False, "the converter's f32 GGUF at ctx %s: %s" % (ctx, hf_ref["error"][-300:]))
            continue
        lines.append(check_case(c, a, arch, case, ref_dir, info, results[out], text, hf_ref)
                     + ("  (ctx %d: long rope factors)" % ctx if ctx else ""))
        if case == "plain" and len(hf_ref.get("logits_f32_b64", "")) > 0:
            g = gap_of(ref_dir, hf_ref)
            if g > LOOSE_GAP:
                loose.append("%s %.3g" % (arch, g))
    print("\nper case (max abs differences over max|source|): err gguf-mlx, own mlx-source, "
          "gap llama.cpp(converter f32 GGUF of the HF source)-source, gguf-src")
    for line in lines:
        print("  " + line)
    if loose:
        print("loose (gap > %g: llama.cpp and mlx-lm disagree on the converter's own file, so the logits check "
              "cannot see an export error below the gap): %s" % (LOOSE_GAP, ", ".join(loose)))
    ok = c.summary()
    for arch, why in skipped:
        print("pending %-12s %s" % (arch, why))
    print("mlx-gguf-oracle: %d passed, %d failed, %d pending (%.1fs)" % (
        sum(1 for r in c.results if r[2]), sum(1 for r in c.results if not r[2]), len(skipped), time.monotonic() - t0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
