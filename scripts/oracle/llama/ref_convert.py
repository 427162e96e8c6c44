#!/usr/bin/env python3
"""Runs llama.cpp's own convert_hf_to_gguf.py (the copy setup.sh extracts) on
one or many HF model directories, in this process.

  ref_convert.py [--converter DIR] HFDIR OUT.gguf OUTTYPE [CONVERTER ARGS...]
  ref_convert.py [--converter DIR] --jobs JOBS.json

OUTTYPE is one the converter accepts: f32, f16, bf16, q8_0, tq1_0, tq2_0, auto.
The first form exits with the converter's status (its log on stderr). The
second runs [{model, outfile, outtype, args?, log?}, ...] one after the other
with the converter imported once (torch + transformers take seconds to
import), each exactly as `convert_hf_to_gguf.py MODEL --outfile OUTFILE
--outtype OUTTYPE ARGS` would, its log going to LOG (default OUTFILE.log);
it prints one JSON line {outfile, ok, seconds, error?} per job and exits 0
unless the batch itself cannot run.

DIR is the directory holding convert_hf_to_gguf.py, conversion/ and gguf-py/
(default: $MLXCONV_LLAMA_CACHE/llama.cpp, else .cache/oracle/llama/llama.cpp).
The converter uses its own gguf-py (it puts gguf-py first on sys.path), never
PyPI's gguf. Run with the venv python setup.sh made. Offline: HF_HUB_OFFLINE
and TRANSFORMERS_OFFLINE are set, progress bars are off.
"""
import json
import logging
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def default_converter():
    cache = os.environ.get("MLXCONV_LLAMA_CACHE") or os.path.join(HERE, "..", "..", "..", ".cache", "oracle", "llama")
    return os.path.normpath(os.path.join(cache, "llama.cpp"))


def load_converter(conv_dir):
    for k, v in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false"),
                 ("TQDM_DISABLE", "1"), ("TRANSFORMERS_VERBOSITY", "error")):
        os.environ.setdefault(k, v)
    path = os.path.join(conv_dir, "convert_hf_to_gguf.py")
    if not os.path.isfile(path):
        raise SystemExit("ref_convert.py: no %s (run scripts/oracle/llama/setup.sh)" % path)
    sys.path.insert(0, conv_dir)
    import convert_hf_to_gguf  # noqa: E402  (inserts its gguf-py into sys.path)
    return convert_hf_to_gguf


def run_one(conv, model, outfile, outtype, extra=()):
    """Calls the converter's main() as its command line would; returns None or
    an error string."""
    argv = ["convert_hf_to_gguf.py", model, "--outfile", outfile, "--outtype", outtype] + list(extra)
    saved = sys.argv
    sys.argv = argv
    try:
        conv.main()
    except SystemExit as e:
        if e.code not in (None, 0):
            return "exit status %s" % (e.code,)
    except Exception as e:  # the converter's own failure: report it, go on
        tb = traceback.format_exc()
        logging.getLogger("ref_convert").error("%s", tb)
        return "%s: %s" % (type(e).__name__, e)
    finally:
        sys.argv = saved
    return None


def main():
    args = sys.argv[1:]
    conv_dir = default_converter()
    if args[:1] == ["--converter"]:
        if len(args) < 2:
            raise SystemExit(__doc__)
        conv_dir, args = args[1], args[2:]
    if args[:1] == ["--jobs"]:
        if len(args) != 2:
            raise SystemExit(__doc__)
        with open(args[1], encoding="utf-8") as f:
            jobs = json.load(f)
        conv = load_converter(conv_dir)
        root = logging.getLogger()
        root.setLevel(logging.INFO)
        for job in jobs:
            log_path = job.get("log") or job["outfile"] + ".log"
            h = logging.FileHandler(log_path, mode="w", encoding="utf-8")
            h.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
            # The converter's basicConfig only acts once; route every job's
            # records to its own file instead of stderr.
            for old in list(root.handlers):
                root.removeHandler(old)
            root.addHandler(h)
            t0 = time.monotonic()
            err = run_one(conv, job["model"], job["outfile"], job["outtype"], job.get("args", ()))
            root.removeHandler(h)
            h.close()
            res = {"outfile": job["outfile"], "ok": err is None, "seconds": round(time.monotonic() - t0, 3)}
            if err is not None:
                res["error"] = err
            print(json.dumps(res), flush=True)
        return
    if len(args) < 3:
        raise SystemExit(__doc__)
    conv = load_converter(conv_dir)
    err = run_one(conv, args[0], args[1], args[2], args[3:])
    if err is not None:
        print("ref_convert.py: %s" % err, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
