"""Regenerate the safetensors fixtures of this folder.

Needs mlx (mlx-cpu is enough), numpy and safetensors; see README.md for the
versions used. Run from this folder:  python gen_fixtures.py

Writes *.safetensors with the real tools (mx.save_safetensors, the Rust
safetensors library through its Python binding) and manifest.json, which
records for every file the metadata and, per tensor, the dtype, shape and
sha256 of the bytes handed to the writer. The script checks that each tool
loads its own file back to the same bytes before writing the manifest.
"""

import hashlib
import json
import struct

import mlx.core as mx
import numpy as np
import safetensors
from safetensors import TensorSpec, serialize_file
from safetensors.numpy import save_file

MX_NAMES = {
    mx.bool_: "BOOL", mx.uint8: "U8", mx.uint16: "U16", mx.uint32: "U32",
    mx.uint64: "U64", mx.int8: "I8", mx.int16: "I16", mx.int32: "I32",
    mx.int64: "I64", mx.float16: "F16", mx.bfloat16: "BF16",
    mx.float32: "F32", mx.complex64: "C64",
}

TRICKY = ["0", "B.upper", "_under", "__z", 'esc"\\\n\t\x01\x7f\u00e9\u20ac']


def mx_bytes(a):
    """Raw little-endian bytes of an mx.array (bf16 through a uint16 view)."""
    if a.dtype == mx.bfloat16:
        a = a.view(mx.uint16)
    return np.array(a).tobytes()


def entry(dtype, shape, data):
    return {"dtype": dtype, "shape": list(shape), "sha256": hashlib.sha256(data).hexdigest()}


def mlx_set():
    w = (mx.arange(4 * 32, dtype=mx.float32).reshape(4, 32) / 37.0 - 1.5).astype(mx.bfloat16)
    q, scales, biases = mx.quantize(w, group_size=32, bits=4)
    t = {
        "model.embed_tokens.weight": (mx.arange(32, dtype=mx.float32).reshape(8, 4) / 8).astype(mx.bfloat16),
        "model.layers.0.self_attn.q_proj.weight": q,
        "model.layers.0.self_attn.q_proj.scales": scales,
        "model.layers.0.self_attn.q_proj.biases": biases,
        "model.norm.weight": mx.array([1.0, 0.5, -2.0, 65504.0], dtype=mx.float16),
        "lm_head.weight": mx.arange(12, dtype=mx.float32).reshape(3, 4) * 0.25,
        "ints.i8": mx.array([-128, -1, 0, 1, 127], dtype=mx.int8),
        "ints.i16": mx.array([[-32768, 2], [3, 32767]], dtype=mx.int16),
        "ints.i32": mx.array([-(2**31), 0, 2**31 - 1], dtype=mx.int32),
        "ints.i64": mx.array([-(2**63), 2**63 - 1], dtype=mx.int64),
        "ints.u8": mx.array([0, 128, 255], dtype=mx.uint8),
        "ints.u16": mx.array([0, 65535], dtype=mx.uint16),
        "ints.u64": mx.array(np.array([0, 2**64 - 1], np.uint64)),
        "mask": mx.array([True, False, True]),
        "complex": mx.array([1 + 2j, -3.5 + 0j], dtype=mx.complex64),
        "scalar": mx.array(3.25, dtype=mx.float32),
        "empty": mx.zeros((0, 3), dtype=mx.float32),
    }
    for i, n in enumerate(TRICKY):
        t[n] = mx.array([i], dtype=mx.int32)
    return t


def write_mlx(path, tensors, metadata):
    if metadata is None:
        mx.save_safetensors(path, tensors)
    else:
        mx.save_safetensors(path, tensors, metadata=metadata)
    loaded, meta = mx.load(path, return_metadata=True)
    assert meta == (metadata or {}), meta
    man = {}
    for k, v in tensors.items():
        assert mx_bytes(loaded[k]) == mx_bytes(v), k
        man[k] = entry(MX_NAMES[v.dtype], v.shape, mx_bytes(v))
    return {"metadata": metadata, "tensors": man}


def hf_set():
    """name -> (TensorSpec dtype, safetensors dtype, shape, bytes)."""
    def arr(a):
        return np.ascontiguousarray(a).tobytes()
    t = {
        "bf16": ("bfloat16", "BF16", (2, 3), arr(np.array([0x3F80, 0xBF80, 0x4000, 0, 0x7F80, 0x0001], np.uint16))),
        "f8_e4m3": ("float8_e4m3fn", "F8_E4M3", (4,), bytes([0x38, 0xB8, 0x7E, 0x00])),
        "f8_e5m2": ("float8_e5m2", "F8_E5M2", (2, 1), bytes([0x3C, 0xBC])),
        "f64": ("float64", "F64", (2,), arr(np.array([1.5, -2.25], np.float64))),
        "f32": ("float32", "F32", (2, 2), arr(np.array([[1, 2], [3, 4]], np.float32))),
        "f16": ("float16", "F16", (3,), arr(np.array([1, -1, 0.5], np.float16))),
        "i64": ("int64", "I64", (1,), arr(np.array([-(2**63)], np.int64))),
        "u64": ("uint64", "U64", (1,), arr(np.array([2**64 - 1], np.uint64))),
        "i32": ("int32", "I32", (2,), arr(np.array([-7, 7], np.int32))),
        "u32": ("uint32", "U32", (2,), arr(np.array([0xDEADBEEF, 1], np.uint32))),
        "i16": ("int16", "I16", (1,), arr(np.array([-2], np.int16))),
        "u16": ("uint16", "U16", (1,), arr(np.array([65535], np.uint16))),
        "i8": ("int8", "I8", (3,), arr(np.array([-1, 0, 1], np.int8))),
        "u8": ("uint8", "U8", (3,), bytes([1, 2, 3])),
        "bool": ("bool", "BOOL", (2,), bytes([1, 0])),
        "c64": ("complex64", "C64", (1,), arr(np.array([1 - 1j], np.complex64))),
        "scalar": ("float32", "F32", (), arr(np.array(9.5, np.float32))),
        "empty": ("int32", "I32", (2, 0), b""),
    }
    for i, n in enumerate(TRICKY):
        t[n] = ("int32", "I32", (1,), arr(np.array([i], np.int32)))
    return t


def write_hf_spec(path, tensors, metadata):
    bufs = {k: np.frombuffer(v[3], np.uint8).copy() if v[3] else np.zeros(1, np.uint8) for k, v in tensors.items()}
    specs = {k: TensorSpec(dtype=v[0], shape=v[2], data_ptr=bufs[k].ctypes.data, data_len=len(v[3]))
             for k, v in tensors.items()}
    serialize_file(specs, path, metadata=metadata)
    with safetensors.safe_open(path, framework="numpy") as f:
        assert (f.metadata() or None) == (metadata or None), f.metadata()
        assert set(f.keys()) == set(tensors)
    return {"metadata": metadata,
            "tensors": {k: entry(v[1], v[2], v[3]) for k, v in tensors.items()}}


def write_hf_numpy(path, tensors, metadata):
    save_file(tensors, path, metadata=metadata)
    from safetensors.numpy import load_file
    back = load_file(path)
    names = {np.dtype(v).name: k for k, v in safetensors.numpy._TYPES.items()}
    man = {}
    for k, v in tensors.items():
        assert back[k].tobytes() == v.tobytes(), k
        man[k] = entry(names[v.dtype.name], v.shape, v.tobytes())
    return {"metadata": metadata, "tensors": man}


def main():
    man = {}
    man["mlx_mixed.safetensors"] = write_mlx("mlx_mixed.safetensors", mlx_set(), {"format": "mlx"})
    man["mlx_nometa.safetensors"] = write_mlx(
        "mlx_nometa.safetensors",
        {"b": mx.array([1, 2], dtype=mx.int16), "a": mx.ones((2, 2), dtype=mx.bfloat16)}, None)
    man["mlx_multimeta.safetensors"] = write_mlx(
        "mlx_multimeta.safetensors", {"x": mx.array([7], dtype=mx.uint8)},
        {"format": "mlx", "Z": "last?", "a\n": "\u00e9\"\\"})
    man["hf_mixed.safetensors"] = write_hf_spec("hf_mixed.safetensors", hf_set(), {"format": "pt"})
    man["hf_nometa.safetensors"] = write_hf_numpy(
        "hf_nometa.safetensors",
        {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64),
         "m": np.array([True, False, True])}, None)
    man["hf_emptymeta.safetensors"] = write_hf_numpy(
        "hf_emptymeta.safetensors", {"x": np.array([1.0], np.float16)}, {})
    with open("manifest.json", "w") as f:
        json.dump(man, f, indent=1, sort_keys=True)
        f.write("\n")
    for k in sorted(man):
        b = open(k, "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        print(k, len(b), b[8:8 + n][:120])


if __name__ == "__main__":
    main()
