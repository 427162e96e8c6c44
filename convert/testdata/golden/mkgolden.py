#!/usr/bin/env python3
"""Regenerates golden.json: converts the generated test models with the real
mlx_lm.convert and records each output as the Go test does.

  MLXCONV_GOLDEN_INPUTS=/tmp/inputs go test ./convert -run 'TestGolden$'   # writes the inputs
  python mkgolden.py /tmp/inputs          # with mlx-lm 0.32.2 / MLX 0.32.4 (CPU)

The manifest per case: every tensor as "shard DTYPE [shape] sha256(data)",
and the sha256 of config.json, model.safetensors.index.json and README.md.
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))


def manifest(d):
    files, tensors = {}, {}
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        b = open(p, "rb").read()
        if name in ("config.json", "model.safetensors.index.json", "README.md"):
            files[name] = hashlib.sha256(b).hexdigest()
        elif name.endswith(".safetensors"):
            n = struct.unpack("<Q", b[:8])[0]
            h = json.loads(b[8:8 + n])
            for k, v in h.items():
                if k == "__metadata__":
                    continue
                s, e = v["data_offsets"]
                shape = "[" + " ".join(str(x) for x in v["shape"]) + "]"
                tensors[k] = f"{name} {v['dtype']} {shape} {hashlib.sha256(b[8 + n + s:8 + n + e]).hexdigest()}"
    return {"files": files, "tensors": tensors}


def main():
    inputs = sys.argv[1]
    cases = json.load(open(os.path.join(here, "cases.json")))
    work = tempfile.mkdtemp()
    outs, golden = {}, {}
    try:
        for c in cases:
            src = outs[c["from"]] if c.get("from") else os.path.join(inputs, c["model"])
            out = os.path.join(work, c["name"])
            subprocess.run([sys.executable, "-m", "mlx_lm", "convert", "--hf-path", src, "--mlx-path", out] + c["args"],
                           check=True, stdout=subprocess.DEVNULL)
            outs[c["name"]] = out
            golden[c["name"]] = manifest(out)
            print(c["name"], len(golden[c["name"]]["tensors"]), "tensors")
    finally:
        shutil.rmtree(work)
    with open(os.path.join(here, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
