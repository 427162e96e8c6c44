#!/usr/bin/env python3
"""llama.cpp logits for the oracle, through the runtime setup.sh builds from
the pinned sdist's vendor/llama.cpp (mlxconv-logits, logits.cpp beside this
file, linked against that build's libllama).

  runtime.py FILE.gguf [--prompt TEXT] [--tokens 1,2,3] [--n 8] [--no-bos] [--ctx 256] [--threads 2]

prints one result as JSON on stdout (exit 1 with llama.cpp's message on
stderr when the file does not load). check.py imports logits() for batches.

A result has: file, llama_cpp (the runtime: sdist and build key), prompt,
prompt_tokens (the file's tokenization of the prompt, special tokens parsed,
BOS prepended when the file says add_bos), tokens (the evaluated input:
the given ids, else prompt_tokens), n_vocab, missing_logits (0), greedy (N
argmax tokens continuing the input), top (8 largest [id, logit]),
logits_sha256 and logits_f32_b64 (the last position's float32 logits by
token id, little-endian); or {file, error}.
"""
import argparse
import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
CACHE = os.environ.get("MLXCONV_LLAMA_CACHE") or os.path.join(ROOT, ".cache", "oracle", "llama")
DEFAULT_PROMPT = "The quick brown fox jumps over the lazy dog."


def tool():
    """The mlxconv-logits binary that setup.sh compiled for this logits.cpp."""
    with open(os.path.join(HERE, "logits.cpp"), "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()[:16]
    rt = os.path.dirname(os.path.realpath(os.path.join(CACHE, "bin")))
    path = os.path.join(rt, "tool-" + sha, "mlxconv-logits")
    if not os.access(path, os.X_OK):
        raise RuntimeError("no %s: run scripts/oracle/llama/setup.sh (it builds llama.cpp and this tool)" % path)
    return path


def release():
    rt = os.path.dirname(os.path.realpath(os.path.join(CACHE, "bin")))
    return "llama-cpp-python 0.3.36 vendor/llama.cpp, build " + os.path.basename(rt)


def _line(job, raw):
    toks = job.get("tokens")
    return "\t".join([os.path.abspath(job["file"]), raw, str(job.get("n", 8)), str(job.get("ctx", 256)),
                      "1" if job.get("bos", True) else "0",
                      ",".join(str(t) for t in toks) if toks is not None else "-",
                      job.get("prompt", DEFAULT_PROMPT).encode("utf-8").hex()])


def _result(job, r, raw):
    if not r["ok"]:
        return {"file": job["file"], "error": r["error"].strip()}
    with open(raw, "rb") as f:
        buf = f.read()
    os.unlink(raw)
    vec = struct.unpack("<%df" % (len(buf) // 4), buf)
    top = sorted(range(len(vec)), key=lambda i: (-vec[i], i))[:8]
    return {"file": job["file"], "llama_cpp": release(), "prompt": job.get("prompt", DEFAULT_PROMPT),
            "prompt_tokens": r["prompt_tokens"], "tokens": r["tokens"], "n_vocab": r["n_vocab"],
            "missing_logits": 0, "greedy": r["greedy"], "top": [[i, vec[i]] for i in top],
            "logits_sha256": hashlib.sha256(buf).hexdigest(), "logits_f32_b64": base64.b64encode(buf).decode()}


def _start(exe, jobs, threads, tmp):
    path = os.path.join(tmp, "jobs-%d.tsv" % id(jobs))
    with open(path, "w", encoding="utf-8") as f:
        for i, j in jobs:
            f.write(_line(j, os.path.join(tmp, "%d.f32" % i)) + "\n")
    return subprocess.Popen([exe, path, str(threads)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run_bucket(exe, bucket, threads, tmp, out):
    """Runs bucket ([(index, job)]) to completion in one process, restarting
    after a job that crashes llama.cpp (an abort is that job's error)."""
    while bucket:
        p = _start(exe, bucket, threads, tmp)
        stdout, stderr = p.communicate()
        # One JSON object per finished job; anything else on stdout is
        # llama.cpp's (ggml_abort prints a gdb backtrace there).
        lines = [json.loads(s) for s in stdout.splitlines() if s.startswith("{")]
        for (i, j), r in zip(bucket, lines):
            out[i] = _result(j, r, os.path.join(tmp, "%d.f32" % i))
        done = len(lines)
        if done < len(bucket):
            i, j = bucket[done]
            out[i] = {"file": j["file"], "error": "llama.cpp crashed (exit %d): %s" % (p.returncode, stderr[-2000:].strip())}
            done += 1
        bucket = bucket[done:]


def logits(jobs, workers=2, threads=None):
    """Evaluates jobs ([{file, prompt?, tokens?, n?, bos?, ctx?}]) in `workers`
    processes (one thread each when more than one: model loading is
    single-threaded, and the logits do not depend on the thread count);
    returns the results in job order."""
    if not jobs:
        return []
    exe = tool()
    workers = max(1, min(workers, len(jobs)))
    size = lambda j: os.path.getsize(j["file"]) if os.path.exists(j["file"]) else 0  # noqa: E731
    buckets = [[] for _ in range(workers)]
    loads = [0] * workers
    for i, j in sorted(enumerate(jobs), key=lambda x: size(x[1]), reverse=True):
        k = loads.index(min(loads))
        buckets[k].append((i, j))
        loads[k] += size(j)
    if threads is None:
        threads = 2 if workers == 1 else 1
    out = [None] * len(jobs)
    with tempfile.TemporaryDirectory(prefix="mlxconv-logits.") as tmp:
        if workers == 1:
            _run_bucket(exe, buckets[0], threads, tmp, out)
        else:
            import threading
            ts = [threading.Thread(target=_run_bucket, args=(exe, b, threads, tmp, out)) for b in buckets]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
    missing = [jobs[i]["file"] for i, r in enumerate(out) if r is None]
    if missing:
        raise RuntimeError("mlxconv-logits returned nothing for %s" % missing)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--prompt", default=DEFAULT_PROMPT)
    ap.add_argument("--tokens")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--no-bos", action="store_true")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    job = {"file": a.file, "prompt": a.prompt, "n": a.n, "bos": not a.no_bos, "ctx": a.ctx}
    if a.tokens is not None:
        job["tokens"] = [int(t) for t in a.tokens.split(",") if t]
    r = logits([job], workers=1, threads=a.threads)[0]
    if "error" in r:
        sys.stderr.write("runtime.py: %s\n" % r["error"])
        sys.exit(1)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
