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

Uses whichever `gguf` is importable: scripts/oracle/llama/run.sh puts the
gguf-py vendored with convert_hf_to_gguf.py first; PyPI gguf 0.19.0 (the
oracle venv) works as well.
"""
import argparse
import hashlib
import json
import math
import struct
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType as VT
from gguf.constants import GGMLQuantizationType

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


def dump(path, full=64):
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
    a = ap.parse_args()
    d = dump(a.file, a.full)
    text = json.dumps(d, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
