"""A cache of mlx_lm reference results for convert_check.py.

convert_check.py runs mlx_lm.convert for every case of every fixture and
loads + generates from its output; on a warm run those results are the same
as last time, so they are kept here, keyed by everything they depend on:

  - the case's input: for a case converted from the HF fixture, the sha256 of
    every file of the generated HF directory (path and bytes); for a derived
    case (-d of q, re-save), the key of the source case (which covers the
    source's input and flags: its mlx_lm output is a function of those);
  - the case's flags (the command line both tools get);
  - the pinned oracle requirements (scripts/oracle/requirements.txt: mlx,
    mlx-lm, transformers versions) and the machine architecture;
  - the harness code that produces a result (the source text of
    convert_check.py's reference, greedy and _StubTokenizer, passed in as
    `harness`) and the generation prompt and token count.

An entry ($MLXCONV_REF_CACHE, default $MLXCONV_CACHE/refs/convert, default
~/.cache/mlxconv/refs/convert; one directory per key) holds convert.json
({"error": null or mlx_lm.convert's error text}), ref/ (mlx_lm.convert's
output directory, when it succeeded) and, once the case has been generated
from, gen.json ({"tokens": [...], "error": null or the generate error}).

Concurrency: an entry is built in a temporary directory beside the others
and renamed into place (a run that loses the race discards its copy);
gen.json is written to a temporary file and renamed. Files go in and out as
hard links (copies across file systems): the harness only reads a reference
directory, and a prune only unlinks, so a concurrent prune can only turn a hit
into a miss.
Size: entries are tiny models (KBs to ~80 MB; the whole matrix of the 48
fixtures of December 2026 is 641 entries, 4.0 GB; 87 of the 91 fixtures
after them took 5.3 GB). An entry's mtime is
refreshed on every hit; at the start of a run, entries unused for PRUNE_DAYS
days are removed, then the least recently used ones until the cache is under
$MLXCONV_REF_CACHE_MAX_GB (default MAX_GB) - a change of the pinned
requirements or of the harness code starts a new set of keys, and the old
set is evicted first. Nothing is stored while the file system has less than
$MLXCONV_REF_CACHE_MIN_FREE_GB (default MIN_FREE_GB) free.
"""
import hashlib
import json
import os
import platform
import shutil
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = 1  # bump when an entry's layout or meaning changes
PRUNE_DAYS = 7
MAX_GB = 12  # (the live set of 119 fixtures: 6.7 GB)
MIN_FREE_GB = 4  # nothing is stored while the file system has less free space


def default_root():
    c = os.environ.get("MLXCONV_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlxconv")
    return os.environ.get("MLXCONV_REF_CACHE") or os.path.join(c, "refs", "convert")


def _sha_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def dir_key(d):
    """sha256 of every file under d (relative path and bytes)."""
    h = hashlib.sha256()
    for base, dirs, files in os.walk(d):
        dirs.sort()
        for fn in sorted(files):
            p = os.path.join(base, fn)
            h.update(os.path.relpath(p, d).encode() + b"\0" + _sha_file(p).encode() + b"\n")
    return h.hexdigest()


# Errors of the machine, not of the model (a full disk, too many open files,
# memory): never cached, so a rerun on a healthy machine runs the peer again.
TRANSIENT = ("No space left", "Errno 28", "Unable to write", "Too many open files", "MemoryError",
             "Cannot allocate memory", "Disk quota")


def transient(err):
    return bool(err) and any(t in err for t in TRANSIENT)


class Cache:
    """Reference results by key; disabled (every lookup a miss, nothing
    written) when root is None."""

    def __init__(self, root, harness):
        self.root = root
        self.hits = self.misses = 0
        self.base = hashlib.sha256(json.dumps({
            "v": VERSION,
            "requirements": _sha_file(os.path.join(HERE, "requirements.txt")),
            "machine": platform.machine(),
            "harness": harness,
        }, sort_keys=True).encode()).hexdigest()
        if root is not None:
            os.makedirs(root, exist_ok=True)
            self.prune()

    def key(self, input_key, flags):
        """The key of a case converted from input_key (dir_key of the HF
        fixture, or the key of the source case) with flags."""
        return hashlib.sha256(json.dumps([self.base, input_key, list(flags)]).encode()).hexdigest()

    def _entry(self, key):
        return os.path.join(self.root, key)

    def get_convert(self, key, out):
        """On a hit: copies the cached mlx_lm output to out (when it
        succeeded) and returns (True, error text or None); else (False, None)."""
        if self.root is None:
            return False, None
        e = self._entry(key)
        try:
            with open(os.path.join(e, "convert.json")) as f:
                err = json.load(f)["error"]
            if err is None:
                shutil.copytree(os.path.join(e, "ref"), out, dirs_exist_ok=True, copy_function=_link)
            os.utime(e)
        except (OSError, ValueError, KeyError):
            shutil.rmtree(out, ignore_errors=True)
            self.misses += 1
            return False, None
        self.hits += 1
        return True, err

    def put_convert(self, key, out, err, label=None):
        """Stores mlx_lm.convert's result: its output directory out (err None)
        or its error text. label: what the entry is (for people reading the cache)."""
        if self.root is None or not self._room() or transient(err):
            return
        tmp = os.path.join(self.root, ".tmp-%s-%s" % (key[:16], uuid.uuid4().hex))
        try:
            os.makedirs(tmp)
            if err is None:
                shutil.copytree(out, os.path.join(tmp, "ref"), copy_function=_link)
            with open(os.path.join(tmp, "convert.json"), "w") as f:
                json.dump({"error": err, "label": label}, f)
            os.rename(tmp, self._entry(key))
        except OSError:
            pass  # another run stored it first (rename onto a non-empty directory), or the disk is full: no cache
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _room(self):
        """False while the cache's file system has less than
        $MLXCONV_REF_CACHE_MIN_FREE_GB (default MIN_FREE_GB) free: a shared
        machine's disk is not filled by references (they are then not cached)."""
        need = float(os.environ.get("MLXCONV_REF_CACHE_MIN_FREE_GB") or MIN_FREE_GB) * (1 << 30)
        try:
            return shutil.disk_usage(self.root).free >= need
        except OSError:
            return False

    def get_gen(self, key):
        """(tokens, error) from the reference's greedy generation, or None."""
        if self.root is None:
            return None
        try:
            with open(os.path.join(self._entry(key), "gen.json")) as f:
                g = json.load(f)
            return g["tokens"], g["error"]
        except (OSError, ValueError, KeyError):
            return None

    def put_gen(self, key, tokens, err):
        if self.root is None or not os.path.isdir(self._entry(key)) or transient(err):
            return
        p = os.path.join(self._entry(key), "gen.json")
        tmp = "%s.tmp-%s" % (p, uuid.uuid4().hex)
        try:
            with open(tmp, "w") as f:
                json.dump({"tokens": tokens, "error": err}, f)
            os.replace(tmp, p)
        except OSError:
            with_ignored(os.remove, tmp)

    def prune(self, now=None, max_bytes=None):
        """Removes entries (and leftover temporary directories) unused for
        PRUNE_DAYS days, then the least recently used entries while the
        cache holds more than max_bytes (default $MLXCONV_REF_CACHE_MAX_GB)."""
        if max_bytes is None:
            max_bytes = float(os.environ.get("MLXCONV_REF_CACHE_MAX_GB") or MAX_GB) * (1 << 30)
        limit = (now or time.time()) - PRUNE_DAYS * 86400
        live = []
        for n in os.listdir(self.root):
            p = os.path.join(self.root, n)
            try:
                m = os.stat(p).st_mtime
            except OSError:
                continue
            if m < limit:
                _remove(self.root, p)
            elif not n.startswith("."):
                live.append((m, p))
        total = [(m, p, _size(p)) for m, p in sorted(live)]
        used = sum(x[2] for x in total)
        for m, p, size in total:
            if used <= max_bytes:
                break
            _remove(self.root, p)
            used -= size


def _link(src, dst):
    """A hard link to src at dst, or a copy when src is on another file system."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _size(d):
    n = 0
    for base, _, files in os.walk(d):
        for fn in files:
            try:
                n += os.lstat(os.path.join(base, fn)).st_size
            except OSError:
                pass
    return n


def _remove(root, p):
    """Removes p: renamed first (atomic: a reader sees the entry or nothing)."""
    dead = os.path.join(root, ".dead-%s" % uuid.uuid4().hex)
    try:
        os.rename(p, dead)
    except OSError:
        return
    shutil.rmtree(dead, ignore_errors=True)


def with_ignored(fn, *args):
    try:
        fn(*args)
    except OSError:
        pass


def selftest():
    """`python3 refcache.py`: hit/miss, error entries, the rename race, pruning."""
    import tempfile
    with tempfile.TemporaryDirectory() as t:
        root, src = os.path.join(t, "cache"), os.path.join(t, "src")
        os.makedirs(os.path.join(src, "sub"))
        with open(os.path.join(src, "sub", "a.bin"), "wb") as f:
            f.write(b"\x00\x01")
        k0 = dir_key(src)
        c = Cache(root, "h1")
        k = c.key(k0, ["-q"])
        assert k != c.key(k0, ["-q", "--q-bits", "8"]) and k != Cache(root, "h2").key(k0, ["-q"])
        assert c.get_convert(k, os.path.join(t, "o1")) == (False, None) and c.get_gen(k) is None
        os.environ["MLXCONV_REF_CACHE_MIN_FREE_GB"] = "1e9"  # no file system has that much free
        c.put_convert(k, src, None)
        assert c.get_convert(k, os.path.join(t, "o0")) == (False, None)
        os.environ["MLXCONV_REF_CACHE_MIN_FREE_GB"] = "0"
        c.put_convert(k, src, None)
        c.put_convert(k, src, "lost the race")  # a second writer: discarded, no error
        assert c.get_convert(k, os.path.join(t, "o1")) == (True, None)
        assert dir_key(os.path.join(t, "o1")) == k0
        c.put_gen(k, [1, 2], None)
        assert c.get_gen(k) == ([1, 2], None)
        ke = c.key(k0, ["-q", "--q-bits", "7"])
        c.put_convert(ke, None, "ValueError: bits")
        assert c.get_convert(ke, os.path.join(t, "o2")) == (True, "ValueError: bits")
        assert not os.path.exists(os.path.join(t, "o2"))
        old = time.time() - (PRUNE_DAYS + 1) * 86400
        os.utime(os.path.join(root, ke), (old, old))
        c.prune()
        assert sorted(os.listdir(root)) == [k], os.listdir(root)
        k2 = c.key(k0, ["--dtype", "float32"])
        c.put_convert(k2, src, None)
        os.utime(os.path.join(root, k), (old + 86400 * 2, old + 86400 * 2))  # older than k2, younger than a week
        c.prune(max_bytes=_size(os.path.join(root, k2)))  # room for one entry: the least recently used goes
        assert sorted(os.listdir(root)) == [k2], os.listdir(root)
        assert Cache(None, "h1").get_convert(k, os.path.join(t, "o3")) == (False, None)
    print("refcache selftest: ok")


if __name__ == "__main__":
    selftest()
