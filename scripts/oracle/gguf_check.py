#!/usr/bin/env python3
"""gguf-py oracle for mlxconv's gguf package tests (needs `gguf`, see requirements.txt).

Subcommands:
  dump FILE                 print a JSON dump of FILE as gguf-py's GGUFReader parses it:
                            version, alignment, data offset, KVs in file order (type, element
                            type, value) and tensor infos with the sha256 of each tensor's bytes.
  quantize TYPE IN OUT      read IN as raw little-endian float32, encode it with
                            gguf.quants.quantize(TYPE) and write the raw bytes to OUT.
  dequantize TYPE IN OUT    read IN as raw bytes of TYPE, decode them with
                            gguf.quants.dequantize and write raw float32 to OUT.
  rewrite IN OUT MAX_TENSORS MAX_BYTES [small-first-shard]
                            read IN and write its KVs (in file order; general.architecture must
                            be the first) and tensors again with gguf-py's GGUFWriter, split as
                            convert_hf_to_gguf.py --split-max-tensors/--split-max-size (0: no
                            limit) would, to OUT or its -NNNNN-of-NNNNN.gguf shards.
  fixture OUT               write the small deterministic model-like file committed as
                            gguf/testdata/gguf-py.gguf (KVs of several types, F32/F16/BF16/Q8_0/
                            Q4_0/Q4_1/Q5_0/Q5_1 tensors quantized by gguf.quants).

Value encoding in the dump (chosen to be exact): integers as JSON integers, BOOL as
true/false, floats as the integer of their IEEE bit pattern, strings as JSON strings when
they are valid UTF-8 and as {"hex": "..."} otherwise.
"""
import hashlib
import json
import sys

import numpy as np
import gguf
from gguf import GGUFValueType as VT


def enc_scalar(vtype, part):
    if vtype == VT.STRING:
        b = bytes(part)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return {"hex": b.hex()}
    x = part[0]
    if vtype == VT.BOOL:
        return bool(x)
    if vtype == VT.FLOAT32:
        return int(np.array([x], dtype=np.float32).view(np.uint32)[0])
    if vtype == VT.FLOAT64:
        return int(np.array([x], dtype=np.float64).view(np.uint64)[0])
    return int(x)


def dump(path):
    r = gguf.GGUFReader(path)
    out = {
        "version": int(r.fields["GGUF.version"].parts[0][0]),
        "alignment": int(r.alignment),
        "data_offset": int(r.data_offset),
        "kvs": [],
        "tensors": [],
    }
    for key, f in r.fields.items():
        if key.startswith("GGUF."):
            continue
        t = f.types[0]
        kv = {"key": key, "type": t.name}
        if t == VT.ARRAY:
            et = f.types[1] if len(f.types) > 1 else None
            if et is None:
                # an empty array: gguf-py keeps the element type in the parts
                et = VT(int(f.parts[3][0]))
            kv["elem"] = et.name
            kv["value"] = [enc_scalar(et, f.parts[i]) for i in f.data]
        else:
            kv["value"] = enc_scalar(t, f.parts[f.data[0]])
        out["kvs"].append(kv)
    for t in r.tensors:
        raw = bytes(r.data[t.data_offset:t.data_offset + int(t.n_bytes)])
        out["tensors"].append({
            "name": t.name,
            "type": t.tensor_type.name,
            "shape": [int(d) for d in t.shape],
            "offset": int(t.data_offset),
            "nbytes": int(t.n_bytes),
            "sha256": hashlib.sha256(raw).hexdigest(),
        })
    json.dump(out, sys.stdout, ensure_ascii=True, sort_keys=True)
    sys.stdout.write("\n")


def qtype(name):
    return gguf.GGMLQuantizationType[name.upper()]


def quantize(name, src, dst):
    x = np.fromfile(src, dtype="<f4")
    y = gguf.quants.quantize(x.reshape(1, -1), qtype(name))
    with open(dst, "wb") as f:
        f.write(np.ascontiguousarray(y).tobytes())


def dequantize(name, src, dst):
    b = np.fromfile(src, dtype=np.uint8)
    y = gguf.quants.dequantize(b.reshape(1, -1), qtype(name)).astype("<f4", copy=False)
    with open(dst, "wb") as f:
        f.write(np.ascontiguousarray(y).tobytes())


PLAIN_DTYPES = {
    gguf.GGMLQuantizationType.F32: "<f4", gguf.GGMLQuantizationType.F16: "<f2",
    gguf.GGMLQuantizationType.F64: "<f8", gguf.GGMLQuantizationType.I8: "i1",
    gguf.GGMLQuantizationType.I16: "<i2", gguf.GGMLQuantizationType.I32: "<i4",
    gguf.GGMLQuantizationType.I64: "<i8",
}


def rewrite(src, dst, max_tensors, max_bytes, small_first_shard=False):
    r = gguf.GGUFReader(src)
    fields = [(k, f) for k, f in r.fields.items() if not k.startswith("GGUF.")]
    if not fields or fields[0][0] != "general.architecture":
        raise SystemExit("rewrite: general.architecture must be the first KV")
    arch = bytes(fields[0][1].parts[fields[0][1].data[0]]).decode("utf-8")
    w = gguf.GGUFWriter(dst, arch, split_max_tensors=int(max_tensors),
                        split_max_size=int(max_bytes), small_first_shard=small_first_shard)
    for key, f in fields[1:]:
        t = f.types[0]
        if t == VT.ARRAY:
            et = VT(int(f.parts[3][0]))
            vals = [bytes(f.parts[i]) if et == VT.STRING else f.parts[i][0].item() for i in f.data]
            w.add_key_value(key, vals, VT.ARRAY, sub_type=et)
        elif t == VT.STRING:
            w.add_key_value(key, bytes(f.parts[f.data[0]]), t)
        else:
            w.add_key_value(key, f.parts[f.data[0]][0].item(), t)
    for t in r.tensors:
        raw = np.array(r.data[t.data_offset:t.data_offset + int(t.n_bytes)], dtype=np.uint8)
        shape = list(reversed([int(d) for d in t.shape]))
        plain = PLAIN_DTYPES.get(t.tensor_type)
        if plain is not None:
            # typed view: also covers 0-dim (scalar) tensors
            w.add_tensor(t.name, raw.view(plain).reshape(shape))
        else:
            bs, ts = gguf.GGML_QUANT_SIZES[t.tensor_type]
            shape[-1] = shape[-1] // bs * ts
            w.add_tensor(t.name, raw.reshape(shape), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def fixture(dst):
    Q = gguf.GGMLQuantizationType
    w = gguf.GGUFWriter(dst, "llama")
    w.add_name("tiny")
    w.add_context_length(128)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_tokenizer_model("llama")
    w.add_token_list(["<unk>", "<s>", "</s>", "\u2581a"])
    w.add_token_scores([0.0, 0.0, 0.0, -1.5])
    w.add_token_types([2, 3, 3, 1])
    w.add_bos_token_id(1)
    w.add_add_bos_token(True)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    x = (np.arange(64 * 4, dtype=np.float32).reshape(4, 64) - 100.0) / 37.0
    w.add_tensor("token_embd.weight", x.astype(np.float16))
    w.add_tensor("output_norm.weight", np.linspace(-1, 1, 64, dtype=np.float32))
    for name, qt in [("bf16", Q.BF16), ("q8_0", Q.Q8_0), ("q4_0", Q.Q4_0), ("q4_1", Q.Q4_1),
                     ("q5_0", Q.Q5_0), ("q5_1", Q.Q5_1)]:
        w.add_tensor("blk.0." + name + ".weight", gguf.quants.quantize(x, qt), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(argv):
    if len(argv) == 2 and argv[0] == "dump":
        dump(argv[1])
    elif len(argv) == 4 and argv[0] == "quantize":
        quantize(*argv[1:])
    elif len(argv) == 4 and argv[0] == "dequantize":
        dequantize(*argv[1:])
    elif len(argv) == 2 and argv[0] == "fixture":
        fixture(argv[1])
    elif len(argv) in (5, 6) and argv[0] == "rewrite":
        rewrite(*argv[1:5], small_first_shard=len(argv) == 6 and argv[5] == "small-first-shard")
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
