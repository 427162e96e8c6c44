#!/usr/bin/env python3
"""MLX -> GGUF oracle (issue 14, acceptance line 2): the GGUF export of
mlx-lm's own MLX outputs loads in llama.cpp and its logits match the MLX
model's. Run with the llama venv python, after `check.py prepare`:

  mlx_check.py --work WORK [--arch A,B] [--mlx-python PY] [--cmd TEMPLATE]
               [--cache DIR] [--no-cache] [-v]

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
             two runtimes' implementations of the architecture differ (0 up
             to float noise, except where they disagree, e.g. Phi-3's rope
             factors). Checks: logits: err = gguf - mlx <= 2 own + gap +
             floor (each side within its own error of the exact model;
             floor, --floor 1e-5, covers float32 cases, whose own error is
             0). gguf-src = gguf - source is printed, not checked (llama.cpp
             rounds activations for BF16/F16 and to Q8_1 for Q4_1 matmuls,
             which mlx-lm does not).
  tokenize   the prompt as llama.cpp tokenizes it with the exported file
             equals the reference converter's tokenization (tokenizer.model
             there for the SentencePiece families: the HF tokenizer's ids)
  top1       the arg-max token of the GGUF logits is mlx-lm's (one of its
             arg-max tokens: bfloat16 logits may tie)

Ends with "mlx-gguf-oracle: N passed, M failed" (exit 1 on failures).
"""
import argparse
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


def outtype(info, case):
    """The GGUF type that holds the plain MLX model's dtype as stored (auto
    would round float32 to F16); auto for 4bit (the repack)."""
    if case != "plain":
        return "auto"
    if case in info.get("f32_compute", []):
        # mlx-lm ran it in float32 (CPU GatherMM): so does llama.cpp with
        # the same values widened exactly (its BF16/F16 matmuls round the
        # activations, which mlx-lm's figure then would not include).
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
    lossy = int(m.group(3)) if m else -1
    # Q4_1 holds float16 scales and biases: mlx-lm's float32 scales (a
    # float32 model) cannot be repacked exactly; mlxconv reports them lossy.
    f32_scales = case == "4bit" and info.get("dtype") == "float32"
    c.add(arch, case + " repack", m is not None and (lossy == 0 or f32_scales),
          (m.group(0) + (" (float32 scales: Q4_1 holds float16)" if lossy and f32_scales else "")) if m
          else "no 'N tensors (E exact, L lossy)' line in the exporter's output")
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
    # (mlx-lm's bfloat16 logits can tie at the top: the GGUF's arg-max then
    # only has to be one of mlx-lm's.)
    top = mlx[int(np.argmax(g))] == np.max(mlx)
    c.add(arch, case + " top1", top, "gguf %d, mlx-lm %d%s" % (int(np.argmax(g)), int(np.argmax(mlx)),
                                                              " (tied in mlx-lm)" if top and int(np.argmax(g)) != int(np.argmax(mlx)) else ""))
    return "%-18s err %.2e  own %.2e  gap %.2e  gguf-src %.2e  top1 %s  %s%s" % (
        name, err, own, gap, fid, "=" if top else "!=", m.group(0) if m else "",
        "  (mlx-lm in float32: CPU GatherMM)" if case in info.get("f32_compute", []) else "")


# The architectures this check runs by default: those whose mlx-lm → GGUF
# path has been verified (issue 14). The GGUF families added since
# (starcoder2, cohere, glm4, olmo2, deepseek_v3, ...) are exported from HF
# checkpoints and checked by check.py candidate; running their mlx-lm
# outputs through this check is issue 14's remaining work (--arch runs them).
VERIFIED = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "gemma3", "phi3",
            "mixtral", "qwen2_moe", "qwen3_moe")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--arch")
    ap.add_argument("--mlx-python")
    ap.add_argument("--cmd", default="bin/mlxconv gguf --force --model {model} --outfile {outfile} --outtype {outtype}")
    ap.add_argument("--cache", default=default_cache())
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--floor", type=float, default=1e-5,
                    help="least bound (float32 cases, whose own error is 0; the f32 HF oracle's rtol)")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    with open(os.path.join(work, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    refs = {x["arch"]: x for x in index["cases"] if x["outtype"] == "f32" and x.get("ok")}
    archs = a.arch.split(",") if a.arch else [x for x in refs if x in VERIFIED]
    py = mlx_python(a)
    vers = versions(py)
    c = check.Checks(verbose=a.v)
    out_dir = os.path.join(work, "mlx")
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.monotonic()
    jobs, pending = [], []
    for arch in archs:
        if arch not in refs:
            c.add(arch, "prepared", False, "no f32 reference in index.json")
            continue
        with open(refs[arch]["logits"], encoding="utf-8") as f:
            tokens = json.load(f)["tokens"]
        try:
            ref_dir, cached, secs = ensure_ref(a, py, vers, arch, refs[arch]["model"], tokens)
        except RuntimeError as e:
            c.add(arch, "mlx_lm", False, str(e)[-500:])
            continue
        print("mlx_lm %-12s %s" % (arch, "cached" if cached else "%.1fs" % secs), flush=True)
        with open(os.path.join(ref_dir, "info.json"), encoding="utf-8") as f:
            info = json.load(f)
        for case in CASES:
            outfile = os.path.join(out_dir, "%s-%s.gguf" % (arch, case))
            rc, text = export(a, os.path.join(ref_dir, case, info["name"]), outfile, outtype(info, case))
            c.add(arch, case + " export", rc == 0, "" if rc == 0 else text.strip().splitlines()[-1][-300:] if text.strip() else "exit %d" % rc)
            if rc != 0:
                continue
            out = outfile[:-5] + ".logits.json"
            jobs.append({"file": outfile, "out": out, "tokens": tokens, "prompt": check.PROMPT, "n": 1})
            pending.append((arch, case, ref_dir, info, out, text, refs[arch]["logits"]))
    results = check.llama_logits(jobs) if jobs else {}
    lines = []
    for arch, case, ref_dir, info, out, text, hf_logits in pending:
        with open(hf_logits, encoding="utf-8") as f:
            hf_ref = json.load(f)
        lines.append(check_case(c, a, arch, case, ref_dir, info, results[out], text, hf_ref))
    print("\nper case (max abs differences over max|source|): err gguf-mlx, own mlx-source, "
          "gap llama.cpp(converter f32 GGUF of the HF source)-source, gguf-src")
    for line in lines:
        print("  " + line)
    ok = c.summary()
    print("mlx-gguf-oracle: %d passed, %d failed (%.1fs)" % (
        sum(1 for r in c.results if r[2]), sum(1 for r in c.results if not r[2]), time.monotonic() - t0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
