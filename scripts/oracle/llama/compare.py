#!/usr/bin/env python3
"""Compare a candidate GGUF with the reference (convert_hf_to_gguf.py's) through
the JSON that dump.py and runtime.py write.

  compare.py kv REF.dump.json CAND.dump.json [--allow FILE] [--arch NAME]
      Same KV set, and per key the same GGUF value type (element type and
      length for arrays) and value (sha256 of the elements for long arrays).
      Keys matched by the allow-list may differ or be missing/extra; they are
      listed as "allowed". Key order is not compared (llama.cpp looks keys up).
  compare.py tensors REF.dump.json CAND.dump.json [--bytes]
      Same tensor names, ggml types and shapes (order not compared); with
      --bytes also identical data (sha256).
  compare.py logits REF.logits.json CAND.logits.json [--rtol 1e-5]
      Same input tokens and vocabulary size, same greedy tokens, and
      max_i |cand_i - ref_i| / max_i |ref_i| <= rtol over the full logits
      vector of the last prompt position (the relative error of the issue's
      acceptance: normwise, so that logits near zero do not blow it up).

Each prints one line per difference and "ok" or "FAIL" last; exit status 1 on
failure, 2 on usage errors. The functions (kv_diff, tensor_diff, logits_diff,
load_allow) are used by check.py too.

Allow-list file (allow.txt): one entry per line, '#' starts a comment:
    KEY_GLOB [@ARCH[,ARCH...]] REASON...
KEY_GLOB is an fnmatch pattern over the full key (e.g. general.size_label,
*.rope.scaling.*); the optional @list restricts the entry to those
architectures (the dump's general.architecture or --arch); the reason is
required and is printed with every use. A KEY_GLOB "tensor-data:NAME_GLOB"
allows the data (never the name, type or shape) of the matching F32 tensors
to differ by at most 1 ulp per element (check.py candidate --tensor-bytes,
which reads both files for it).
"""
import argparse
import base64
import fnmatch
import json
import math
import struct
import sys


def load_allow(path):
    """Returns [(glob, archs or None, reason)]."""
    entries = []
    if not path:
        return entries
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split(None, 1)
            glob = parts[0]
            rest = parts[1] if len(parts) > 1 else ""
            archs = None
            if rest.startswith("@"):
                a, _, rest = rest.partition(" ")
                archs = set(x for x in a[1:].split(",") if x)
                rest = rest.strip()
            if not rest:
                raise ValueError("%s:%d: entry %r has no reason" % (path, n, glob))
            entries.append((glob, archs, rest))
    return entries


def allowed(entries, key, arch):
    for glob, archs, reason in entries:
        if archs is not None and arch not in archs:
            continue
        if fnmatch.fnmatchcase(key, glob):
            return reason
    return None


def arch_of(dump):
    for e in dump["kv"]:
        if e["key"] == "general.architecture":
            return e.get("value")
    return None


def _kv_sig(e):
    """What must be equal between two KV entries."""
    if e["type"] == "ARRAY":
        return ("ARRAY", e.get("elem_type"), e["len"], e["sha256"])
    return (e["type"], json.dumps(e["value"], sort_keys=True, ensure_ascii=False))


def _show(e):
    if e["type"] == "ARRAY":
        v = e.get("value", e.get("head"))
        s = json.dumps(v, ensure_ascii=False)
        if len(s) > 120:
            s = s[:117] + "..."
        return "ARRAY[%s] len=%d sha256=%s %s" % (e.get("elem_type"), e["len"], e["sha256"][:12], s)
    s = json.dumps(e["value"], ensure_ascii=False)
    if len(s) > 120:
        s = s[:117] + "..."
    return "%s %s" % (e["type"], s)


def kv_diff(ref, cand, allow=(), arch=None):
    """Returns (failures, allowed) as lists of strings."""
    arch = arch or arch_of(ref)
    r = {e["key"]: e for e in ref["kv"]}
    c = {e["key"]: e for e in cand["kv"]}
    fails, oks = [], []

    def note(key, msg):
        reason = allowed(allow, key, arch)
        if reason is None:
            fails.append(msg)
        else:
            oks.append("%s (allowed: %s)" % (msg, reason))

    for k in r:
        if k not in c:
            note(k, "kv %s: missing (reference: %s)" % (k, _show(r[k])))
        elif _kv_sig(r[k]) != _kv_sig(c[k]):
            note(k, "kv %s: differs\n    reference: %s\n    candidate: %s" % (k, _show(r[k]), _show(c[k])))
    for k in c:
        if k not in r:
            note(k, "kv %s: extra (candidate: %s)" % (k, _show(c[k])))
    return fails, oks


def f32_ulp_distance(path_a, path_b, name, n_elements):
    """The largest distance, in float32 steps, between the elements of F32
    tensor name in GGUF files path_a and path_b."""
    import dump  # sibling module (check.py puts it on the path)

    lines = []
    for p in (path_a, path_b):
        offs = {}
        dump.dump_fast(p, full=0, offsets=offs)
        with open(p, "rb") as f:
            f.seek(offs["tensors"][name])
            ints = struct.unpack("<%di" % n_elements, f.read(4 * n_elements))
        # float32 bits on one integer line: -0.0 and +0.0 both at 0
        lines.append([i if i >= 0 else -(i & 0x7FFFFFFF) for i in ints])
    return max((abs(x - y) for x, y in zip(*lines)), default=0)


def tensor_diff(ref, cand, check_bytes=False, allow=(), arch=None, paths=None, oks=None):
    """Failures as strings. With paths (reference and candidate GGUF files),
    an F32 tensor whose data differs by at most 1 ulp is allowed by a
    "tensor-data:NAME_GLOB" allow-list entry (appended to oks)."""
    r = {t["name"]: t for t in ref["tensors"]}
    c = {t["name"]: t for t in cand["tensors"]}
    fails = []
    for n in r:
        if n not in c:
            fails.append("tensor %s: missing (reference %s %s)" % (n, r[n]["type"], r[n]["shape"]))
            continue
        a, b = r[n], c[n]
        if a["type"] != b["type"] or a["shape"] != b["shape"]:
            fails.append("tensor %s: reference %s %s, candidate %s %s" % (n, a["type"], a["shape"], b["type"], b["shape"]))
        elif check_bytes and a["sha256"] != b["sha256"]:
            reason = allowed(allow, "tensor-data:" + n, arch) if paths and a["type"] == "F32" else None
            ulps = f32_ulp_distance(paths[0], paths[1], n, a["n_elements"]) if reason else None
            if ulps is not None and ulps <= 1:
                if oks is not None:
                    oks.append("tensor %s: data differs by at most 1 ulp (allowed: %s)" % (n, reason))
                continue
            fails.append("tensor %s: data differs (%s %s%s)" % (n, a["type"], a["shape"],
                                                               "" if ulps is None else ", up to %d ulp" % ulps))
    for n in c:
        if n not in r:
            fails.append("tensor %s: extra (candidate %s %s)" % (n, c[n]["type"], c[n]["shape"]))
    return fails


def logits_vector(res):
    raw = base64.b64decode(res["logits_f32_b64"])
    return struct.unpack("<%df" % (len(raw) // 4), raw)


def logits_diff(ref, cand, rtol=1e-5):
    """Returns (failures, stats dict)."""
    fails = []
    for name, r in (("reference", ref), ("candidate", cand)):
        if "error" in r:
            fails.append("%s did not run: %s" % (name, r["error"]))
    if fails:
        return fails, {}
    if ref["tokens"] != cand["tokens"]:
        fails.append("input tokens differ: %s vs %s" % (ref["tokens"], cand["tokens"]))
    if ref["n_vocab"] != cand["n_vocab"]:
        fails.append("n_vocab differs: %d vs %d" % (ref["n_vocab"], cand["n_vocab"]))
        return fails, {}
    a, b = logits_vector(ref), logits_vector(cand)
    scale = max(abs(x) for x in a)
    maxabs = 0.0
    at = -1
    bad = 0
    for i, (x, y) in enumerate(zip(a, b)):
        if math.isnan(x) or math.isnan(y) or math.isinf(x) or math.isinf(y):
            if not (x == y or (math.isnan(x) and math.isnan(y))):
                bad += 1
            continue
        d = abs(x - y)
        if d > maxabs:
            maxabs, at = d, i
    rel = maxabs / scale if scale > 0 else (0.0 if maxabs == 0 else math.inf)
    stats = {"max_abs": maxabs, "max_rel": rel, "at": at, "scale": scale,
             "argmax_ref": max(range(len(a)), key=lambda i: a[i]),
             "argmax_cand": max(range(len(b)), key=lambda i: b[i])}
    if bad:
        fails.append("%d logits non-finite in one file only" % bad)
    if not rel <= rtol:
        fails.append("logits: max relative error %.3g > %.3g (max |d| %.3g at token %d, max |ref| %.3g)" % (rel, rtol, maxabs, at, scale))
    if ref["greedy"] != cand["greedy"]:
        fails.append("greedy tokens differ: %s vs %s" % (ref["greedy"], cand["greedy"]))
    return fails, stats


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("kv")
    p.add_argument("ref")
    p.add_argument("cand")
    p.add_argument("--allow")
    p.add_argument("--arch")
    p = sub.add_parser("tensors")
    p.add_argument("ref")
    p.add_argument("cand")
    p.add_argument("--bytes", action="store_true")
    p = sub.add_parser("logits")
    p.add_argument("ref")
    p.add_argument("cand")
    p.add_argument("--rtol", type=float, default=1e-5)
    a = ap.parse_args()
    ref, cand = _load(a.ref), _load(a.cand)
    if a.cmd == "kv":
        fails, oks = kv_diff(ref, cand, load_allow(a.allow), a.arch)
        for m in oks:
            print(m)
    elif a.cmd == "tensors":
        fails = tensor_diff(ref, cand, a.bytes)
    else:
        fails, stats = logits_diff(ref, cand, a.rtol)
        if stats:
            print("max_rel %.3g max_abs %.3g (at %d) argmax %d/%d" % (
                stats["max_rel"], stats["max_abs"], stats["at"], stats["argmax_ref"], stats["argmax_cand"]))
    for m in fails:
        print(m)
    print("FAIL" if fails else "ok")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
