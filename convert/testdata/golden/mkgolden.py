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


# Runs mlx_lm.convert with make_shards limited to argv[3] bytes (mlx-lm's
# limit is a whole number of GiB), to check shard membership on tiny models.
SHARDED = """
import sys
import mlx_lm.utils as u
import importlib
c = importlib.import_module("mlx_lm.convert")
limit = int(sys.argv[3])
def make_shards(weights, max_file_size_gb=None):
    shards, size = [], 0
    for k, v in weights.items():
        if not shards or size + v.nbytes > limit:
            shards.append({})
            size = 0
        shards[-1][k] = v
        size += v.nbytes
    return shards
u.make_shards = make_shards
sys.argv = ["convert", "--hf-path", sys.argv[1], "--mlx-path", sys.argv[2]] + sys.argv[4:]
c.main()
"""


def main():
    inputs = sys.argv[1]
    cases = json.load(open(os.path.join(here, "cases.json")))
    work = tempfile.mkdtemp()
    outs, golden = {}, {}
    try:
        for c in cases:
            src = outs[c["from"]] if c.get("from") else os.path.join(inputs, c["model"])
            out = os.path.join(work, c["name"])
            if c.get("max_shard"):
                cmd = [sys.executable, "-c", SHARDED, src, out, str(c["max_shard"])] + c["args"]
            else:
                cmd = [sys.executable, "-m", "mlx_lm", "convert", "--hf-path", src, "--mlx-path", out] + c["args"]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
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
