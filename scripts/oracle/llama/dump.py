#!/usr/bin/env python3
"""JSON summary of a GGUF file as gguf-py's GGUFReader parses it, for metadata
comparisons (compare.py kv) between mlxconv's and convert_hf_to_gguf.py's output.

  dump.py FILE.gguf [--full N] [-o OUT.json]

Output (one JSON object, keys sorted, stable across runs):
  version, alignment, kv_count, tensor_count
  kv: list in file order of {key, type, value} for scalars, and for arrays
      {key, type: "ARRAY", elem_type, len, sha256, value (only when len <= N,
      default 64), head (first 4 elements otherwise)}
  tensors: list in file order of {name, type (ggml type name), shape (ggml
      order, ne[0] first), n_elements, n_bytes, sha256 (of the data bytes)}

Values are exact: integers and bools as JSON, strings as JSON strings (or
{"hex": ...} when not UTF-8), floats as the float64 of the stored value (a
float32 widens exactly and Python's repr round-trips), NaN/Inf as the strings
"nan", "inf", "-inf". An array's sha256 is over its elements as GGUF stores
them, without the type and count: raw little-endian bytes for numbers and
bools, u64 length + bytes for each string. So two arrays hash equal exactly
when their elements are equal with the same element type.

Two readers give the same JSON: a fast one here (default; gguf-py's
GGUFReader takes ~10 s on a file with a 150k-token vocabulary and merges,
which adds minutes to the oracle matrix) and gguf-py's GGUFReader
(--reader gguf-py). check.py self requires them to agree. The fast reader
takes only ggml type sizes from gguf-py (gguf.constants). Uses whichever
`gguf` is importable; check.py puts the gguf-py vendored with
convert_hf_to_gguf.py first; PyPI gguf 0.19.0 works as well.
"""
import argparse
import hashlib
import json
import math
import struct
import sys

import mmap

import numpy as np
from gguf import GGUFReader, GGUFValueType as VT
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

SCALAR_FMT = {
    VT.UINT8: "<B", VT.INT8: "<b", VT.UINT16: "<H", VT.INT16: "<h",
    VT.UINT32: "<I", VT.INT32: "<i", VT.UINT64: "<Q", VT.INT64: "<q",
    VT.FLOAT32: "<f", VT.FLOAT64: "<d", VT.BOOL: "<?",
}


def enc_string(b):
    b = bytes(b)
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": b.hex()}


def enc_number(vtype, v):
    if vtype in (VT.FLOAT32, VT.FLOAT64):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if vtype == VT.BOOL:
        return bool(v)
    return int(v)


def field_entry(field, full):
    key = field.name
    t0 = VT(field.types[0])
    if t0 != VT.ARRAY:
        part = field.parts[field.data[0]]
        if t0 == VT.STRING:
            return {"key": key, "type": t0.name, "value": enc_string(part)}
        return {"key": key, "type": t0.name, "value": enc_number(t0, part[0])}
    n = len(field.data)
    et = VT(field.types[1]) if len(field.types) > 1 else None
    h = hashlib.sha256()
    values = []
    if et is None:
        pass  # empty array: gguf-py records no element type beyond ARRAY
    elif et == VT.STRING:
        for i in field.data:
            b = bytes(field.parts[i])
            h.update(struct.pack("<Q", len(b)))
            h.update(b)
            values.append(enc_string(b))
    elif et == VT.ARRAY:
        raise ValueError("key %r: nested arrays are not supported" % key)
    else:
        fmt = SCALAR_FMT[et]
        for i in field.data:
            v = field.parts[i][0]
            h.update(struct.pack(fmt, v.item() if hasattr(v, "item") else v))
            values.append(enc_number(et, v))
    e = {"key": key, "type": "ARRAY", "elem_type": et.name if et is not None else None,
         "len": n, "sha256": h.hexdigest()}
    if n <= full:
        e["value"] = values
    else:
        e["head"] = values[:4]
    return e


def ggml_type_name(t):
    try:
        return GGMLQuantizationType(int(t)).name
    except ValueError:
        return "TYPE_%d" % int(t)


NP_DTYPE = {
    VT.UINT8: "<u1", VT.INT8: "<i1", VT.UINT16: "<u2", VT.INT16: "<i2",
    VT.UINT32: "<u4", VT.INT32: "<i4", VT.UINT64: "<u8", VT.INT64: "<i8",
    VT.FLOAT32: "<f4", VT.FLOAT64: "<f8", VT.BOOL: "<u1",
}


class FormatError(ValueError):
    pass


class _Cursor:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise FormatError("truncated at offset %d (need %d bytes)" % (self.pos, n))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt):
        size = struct.calcsize(fmt)
        v = struct.unpack_from(fmt, self.buf, self.pos)
        if self.pos + size > len(self.buf):
            raise FormatError("truncated at offset %d" % self.pos)
        self.pos += size
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.unpack("<Q")
        return bytes(self.take(n))


def _fast_value(cur, vt, key, full):
    if vt in SCALAR_FMT or vt == VT.STRING:
        cur.last_value_at = cur.pos
    if vt == VT.STRING:
        return {"key": key, "type": vt.name, "value": enc_string(cur.string())}
    if vt in SCALAR_FMT:
        return {"key": key, "type": vt.name, "value": enc_number(vt, cur.unpack(SCALAR_FMT[vt]))}
    if vt != VT.ARRAY:
        raise FormatError("key %r: bad value type %d" % (key, vt))
    et = VT(cur.unpack("<I"))
    n = cur.unpack("<Q")
    start = cur.pos
    values = []
    if et == VT.STRING:
        want = n if n <= full else 4
        for i in range(n):
            ln = cur.unpack("<Q")
            b = cur.take(ln)
            if i < want:
                values.append(enc_string(bytes(b)))
    elif et in NP_DTYPE:
        size = np.dtype(NP_DTYPE[et]).itemsize
        raw = cur.take(n * size)
        arr = np.frombuffer(raw, dtype=NP_DTYPE[et], count=min(n, n if n <= full else 4))
        values = [enc_number(et, v) for v in arr.tolist()]
    else:
        raise FormatError("key %r: unsupported array element type %s" % (key, et.name))
    e = {"key": key, "type": "ARRAY", "elem_type": et.name, "len": n,
         "sha256": hashlib.sha256(cur.buf[start:cur.pos]).hexdigest()}
    if n <= full:
        e["value"] = values
    else:
        e["head"] = values
    return e


def dump_fast(path, full=64, offsets=None):
    """The same JSON as dump() (gguf-py), from a direct little-endian parse.
    If offsets is a dict it receives {"kv": {key: absolute offset of a
    scalar's value}, "tensors": {name: absolute offset of the data}} (for
    check.py's byte-patched negative controls)."""
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        buf = memoryview(mm)
        cur = _Cursor(buf)
        if bytes(cur.take(4)) != b"GGUF":
            raise FormatError("not a GGUF file")
        version = cur.unpack("<I")
        n_tensors = cur.unpack("<Q")
        n_kv = cur.unpack("<Q")
        kv = []
        alignment = 32
        for _ in range(n_kv):
            key = cur.string().decode("utf-8")
            vt = VT(cur.unpack("<I"))
            cur.last_value_at = None
            e = _fast_value(cur, vt, key, full)
            if offsets is not None and cur.last_value_at is not None:
                offsets.setdefault("kv", {})[key] = cur.last_value_at
            if key == "general.alignment":
                alignment = int(e["value"])
            kv.append(e)
        infos = []
        for _ in range(n_tensors):
            name = cur.string().decode("utf-8")
            nd = cur.unpack("<I")
            shape = [cur.unpack("<Q") for _ in range(nd)]
            tt = cur.unpack("<I")
            off = cur.unpack("<Q")
            infos.append((name, shape, tt, off))
        data_start = (cur.pos + alignment - 1) // alignment * alignment
        tensors = []
        for name, shape, tt, off in infos:
            n_el = 1
            for d in shape:
                n_el *= d
            try:
                bs, ts = GGML_QUANT_SIZES[GGMLQuantizationType(tt)]
            except (ValueError, KeyError):
                raise FormatError("tensor %r: unknown ggml type %d" % (name, tt))
            if n_el % bs:
                raise FormatError("tensor %r: %d elements not a multiple of block %d" % (name, n_el, bs))
            nb = n_el // bs * ts
            a = data_start + off
            if a + nb > len(buf):
                raise FormatError("tensor %r: data [%d, %d) beyond end of file %d" % (name, a, a + nb, len(buf)))
            if offsets is not None:
                offsets.setdefault("tensors", {})[name] = a
            tensors.append({"name": name, "type": ggml_type_name(tt), "shape": shape, "n_elements": n_el,
                            "n_bytes": nb, "sha256": hashlib.sha256(buf[a:a + nb]).hexdigest()})
        del cur
        buf.release()
    finally:
        mm.close()
    return {"file": path, "version": version, "alignment": alignment, "kv_count": len(kv),
            "tensor_count": len(tensors), "kv": kv, "tensors": tensors}


def dump(path, full=64, reader="fast"):
    if reader == "fast":
        return dump_fast(path, full)
    r = GGUFReader(path, "r")
    kv = []
    version = None
    for f in r.fields.values():
        if f.name == "GGUF.version":
            version = int(f.parts[f.data[0]][0])
        if f.name.startswith("GGUF."):
            continue  # header pseudo-fields (version, counts)
        kv.append(field_entry(f, full))
    tensors = []
    for t in r.tensors:
        data = np.ascontiguousarray(t.data)
        raw = data.view(np.uint8).tobytes()
        tensors.append({
            "name": t.name,
            "type": ggml_type_name(t.tensor_type),
            "shape": [int(x) for x in t.shape],
            "n_elements": int(t.n_elements),
            "n_bytes": int(t.n_bytes),
            "sha256": hashlib.sha256(raw).hexdigest(),
        })
        if len(raw) != int(t.n_bytes):
            raise ValueError("tensor %r: read %d bytes, expected %d" % (t.name, len(raw), t.n_bytes))
    return {
        "file": path,
        "version": version,
        "alignment": int(r.alignment),
        "kv_count": len(kv),
        "tensor_count": len(tensors),
        "kv": kv,
        "tensors": tensors,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--full", type=int, default=64, help="print arrays of at most N elements in full (default 64)")
    ap.add_argument("-o", "--out", help="write the JSON here instead of stdout")
    ap.add_argument("--reader", choices=("fast", "gguf-py"), default="fast")
    a = ap.parse_args()
    d = dump(a.file, a.full, a.reader)
    text = json.dumps(d, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
