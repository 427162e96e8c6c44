#!/usr/bin/env python3
"""Keeps the test suite's keyed caches from filling the disk.

The suite caches results keyed by everything they depend on (fixtures made
by transformers, mlx_lm references, llama.cpp converter references, bf16
references of the K-quant check, mlx-lm outputs exported to GGUF). Every
change to a fixture, a pin or a harness starts new keys, and little else
ever removes the old ones: a day of commits left 21 GB of dead entries
beside an 18 GB live set, and a CI run on that disk died of ENOSPC. Each user
of an entry refreshes its mtime on a hit, so an entry's mtime is its last
use, and:

  cachegc.py start   (at the start of ./build.sh test)
      removes entries unused for --unused-days (default 3), then the least
      recently used ones while the caches hold more than --max-gb (default
      $MLXCONV_CACHE_MAX_GB or 32; one live set is 18 GB in December 2026) or the file system has less than
      --min-free-gb free (default $MLXCONV_MIN_FREE_GB or 12); prints the
      sizes; exits 1 with a one-line message if the file systems of the
      cache and of TMPDIR still have less than --min-free-gb free.
  cachegc.py sweep --before T   (at the end of a green ./build.sh test)
      removes the entries this run did not use (mtime < T, T the run's
      start), so a cache holds one live set. MLXCONV_CACHE_KEEP=1 skips it
      (work trees sharing one cache on different commits).

The keyed caches (one entry per direct child directory):
  $MLXCONV_CACHE/fixtures/hf, $MLXCONV_CACHE/refs/convert,
  $MLXCONV_CACHE/refs/mlx-gguf, $MLXCONV_LLAMA_CACHE/ref,
  $MLXCONV_LLAMA_CACHE/kqref.
Installs (venvs, npm, llama.cpp build, qemu) are keyed by their pins and
replaced by their setup scripts; they are not touched here.

`python3 cachegc.py selftest` checks the policy on a temporary tree.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

GB = 1 << 30


def cache_home():
    return os.environ.get("MLXCONV_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlxconv")


def roots():
    c = cache_home()
    llama = os.environ.get("MLXCONV_LLAMA_CACHE") or os.path.join(c, "oracle", "llama")
    return [os.path.join(c, "fixtures", "hf"), os.environ.get("MLXCONV_REF_CACHE") or os.path.join(c, "refs", "convert"),
            os.path.join(c, "refs", "mlx-gguf"), os.path.join(llama, "ref"), os.path.join(llama, "kqref")]


def touch(path):
    """Marks a cache entry as used now (its mtime); for the cache users."""
    try:
        os.utime(path)
    except OSError:
        pass


def size(p):
    """Bytes of the files under p, each inode once (refcache hard-links)."""
    seen, n = set(), 0
    for d, _, fs in os.walk(p):
        for f in fs:
            try:
                st = os.lstat(os.path.join(d, f))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                n += st.st_blocks * 512
    return n


def entries(rs):
    """[(mtime, path)] of every entry of the caches rs, oldest first."""
    out = []
    for r in rs:
        try:
            names = os.listdir(r)
        except OSError:
            continue
        for n in names:
            if n.startswith("."):
                continue  # temporaries (a cache's own, or an interrupted removal's .gc-*)
            p = os.path.join(r, n)
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    out.append((os.stat(p).st_mtime, p))
            except OSError:
                continue
    return sorted(out)


def remove(p):
    # Renamed first, so a reader sees an entry whole or not at all.
    t = os.path.join(os.path.dirname(p), ".gc-%d-%s" % (os.getpid(), os.path.basename(p)))
    try:
        os.rename(p, t)
    except OSError:
        return
    shutil.rmtree(t, ignore_errors=True)


def free(path):
    while not os.path.exists(path):
        path = os.path.dirname(path)
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def start(rs, unused_days, max_bytes, min_free, now=None, fs_paths=None):
    """The start-of-run policy; returns (removed, removed_bytes, kept, kept_bytes, free_bytes)."""
    now = now or time.time()
    es = [(m, p, size(p)) for m, p in entries(rs)]
    # leftovers of an interrupted removal
    for r in rs:
        for n in (os.listdir(r) if os.path.isdir(r) else []):
            if n.startswith(".gc-"):
                shutil.rmtree(os.path.join(r, n), ignore_errors=True)
    fs = fs_paths or [cache_home()]
    removed = removed_bytes = 0
    total = sum(s for _, _, s in es)
    kept = []
    for i, (m, p, s) in enumerate(es):
        low = min(free(x) for x in fs) < min_free
        if m < now - unused_days * 86400 or total > max_bytes or low:
            remove(p)
            removed, removed_bytes, total = removed + 1, removed_bytes + s, total - s
        else:
            kept.append((m, p, s))
    return removed, removed_bytes, len(kept), total, min(free(x) for x in fs)


def sweep(rs, before):
    """Removes the entries unused since before; (removed, bytes)."""
    n = b = 0
    for m, p in entries(rs):
        if m < before:
            s = size(p)
            remove(p)
            n, b = n + 1, b + s
    return n, b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("--unused-days", type=float, default=3)
    s.add_argument("--max-gb", type=float, default=float(os.environ.get("MLXCONV_CACHE_MAX_GB") or 32))
    s.add_argument("--min-free-gb", type=float, default=float(os.environ.get("MLXCONV_MIN_FREE_GB") or 12))
    w = sub.add_parser("sweep")
    w.add_argument("--before", type=float, required=True)
    sub.add_parser("selftest")
    a = ap.parse_args()
    if a.cmd == "selftest":
        return selftest()
    rs = roots()
    if a.cmd == "sweep":
        if os.environ.get("MLXCONV_CACHE_KEEP") == "1":
            print("cache: sweep skipped (MLXCONV_CACHE_KEEP=1)")
            return 0
        n, b = sweep(rs, a.before)
        print("cache: removed %d entries this run did not use (%.1f GB)" % (n, b / GB))
        return 0
    tmp = tempfile.gettempdir()
    n, b, k, kb, fr = start(rs, a.unused_days, a.max_gb * GB, a.min_free_gb * GB, fs_paths=[cache_home(), tmp])
    print("cache: %d entries (%.1f GB) kept, %d removed (%.1f GB); %.1f GB free" % (k, kb / GB, n, b / GB, fr / GB))
    if fr < a.min_free_gb * GB:
        print("cache: %.1f GB free on the file system of %r or %r, the suite needs %.0f GB (MLXCONV_MIN_FREE_GB)"
              % (fr / GB, cache_home(), tmp, a.min_free_gb), file=sys.stderr)
        return 1
    return 0


def selftest():
    with tempfile.TemporaryDirectory() as t:
        r = os.path.join(t, "c")
        now = time.time()

        def mk(name, age_days, nbytes):
            p = os.path.join(r, name)
            os.makedirs(p)
            with open(os.path.join(p, "f"), "wb") as fh:
                fh.write(b"x" * nbytes)
            m = now - age_days * 86400
            os.utime(p, (m, m))
            return p

        mk("old", 5, 4096)
        mk("a", 2, 8192)
        mk("b", 1, 8192)
        c = mk("c", 0.1, 8192)
        # unused for 3 days goes; then LRU until under max (16 KiB + slack): "a" goes
        n, _, k, _, _ = start([r], 3, 20000, 0, now=now, fs_paths=[t])
        assert (n, k) == (2, 2) and sorted(os.listdir(r)) == ["b", "c"], os.listdir(r)
        # low free space (a demand nothing can meet) empties the cache, oldest first
        mk("d", 0.5, 100)
        n, _, k, _, _ = start([r], 3, 1 << 40, 1 << 62, now=now, fs_paths=[t])
        assert k == 0 and os.listdir(r) == [], os.listdir(r)
        # sweep: what this run did not touch goes
        mk("x", 1, 10)
        y = mk("y", 1, 10)
        touch(y)
        mk(".tmp-z", 1, 10)  # a cache's own temporary: not an entry
        n, _ = sweep([r], now - 1)
        assert n == 1 and sorted(os.listdir(r)) == [".tmp-z", "y"], os.listdir(r)
        del c
    print("cachegc selftest: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
