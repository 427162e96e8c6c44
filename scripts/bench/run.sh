#!/usr/bin/env bash
# Benchmarks against the real peers, measured in the same run (not part of CI).
#
#   ./build.sh bench              kernels vs MLX-CPU, safetensors vs cat/dd
#   ./build.sh bench convert      also the ~2 GB convert benchmark vs mlx_lm.convert
#   ./build.sh bench moe          also the 2 GB and 20 GB MoE convert benchmark vs the I/O floor
#   ./build.sh bench gguf         also the ~2 GB GGUF export (f16, q8_0) vs convert_hf_to_gguf.py
#   ./build.sh bench kquant       also ~2 GB -> Q4_K_M, Q6_K, IQ4_XS vs convert_hf_to_gguf.py bf16 + llama-quantize
#
# Reports throughput and ratios (ours / peer); never asserts on time.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=$(scripts/oracle/setup.sh)
cores=$(nproc)

echo "== quantize throughput, 4096x4096 bf16, $cores cores (MB/s of input; ratio = mlxconv / MLX-CPU)"
mlxout=$(mktemp)
goout=$(mktemp)
trap 'rm -f "$mlxout" "$goout"' EXIT
"$py" scripts/bench/mlx_quant.py 4096 5 > "$mlxout"
CGO_ENABLED=0 go test -run '^$' -bench 'BenchmarkQuantize/' -benchtime 10x -count 1 ./mlx/ > "$goout"
printf '%-14s %12s %12s %8s\n' case mlxconv MLX-CPU ratio
while read -r name mlxmbs; do
  ours=$(awk -v n="BenchmarkQuantize/$name-" 'index($1, n) == 1 { for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s") print $i }' "$goout" | head -1)
  if [ -z "$ours" ]; then ours=0; fi
  awk -v n="$name" -v a="$ours" -v b="$mlxmbs" 'BEGIN { printf "%-14s %12.1f %12.1f %7.2fx\n", n, a, b, (b > 0 ? a / b : 0) }'
done < "$mlxout"

echo
echo "== go test -bench (dequantize, cast)"
CGO_ENABLED=0 go test -run '^$' -bench 'Benchmark(Dequantize|Cast)' -benchtime 5x -count 1 ./mlx/ | grep -E '^Benchmark'

echo
echo "== safetensors read/write vs cat/dd"
scripts/bench/safetensors.sh

if [ "${1:-}" = convert ]; then
  echo
  echo "== convert: ~2 GB bf16 llama, -q 4-bit, mlxconv vs mlx_lm.convert"
  scripts/bench/convert.sh
fi

if [ "${1:-}" = moe ]; then
  echo
  echo "== convert: 2 GB and 20 GB bf16 MoE (64 experts, per-expert tensors), -q 4-bit, vs cat + dd"
  go build -o bin/mlxconv ./cmd/mlxconv
  scripts/bench/moe.sh bin/mlxconv
fi

if [ "${1:-}" = gguf ] || [ "${1:-}" = kquant ]; then
  echo
  go build -o bin/mlxconv ./cmd/mlxconv
  if [ "$1" = gguf ]; then
    echo "== gguf: ~2 GB bf16 llama -> f16, q8_0, vs convert_hf_to_gguf.py"
    scripts/bench/gguf.sh bin/mlxconv
  else
    echo "== gguf K-quants: ~2 GB bf16 llama -> Q4_K_M, Q6_K, IQ4_XS, one step vs convert_hf_to_gguf.py bf16 + llama-quantize"
    BENCH_TYPES="${BENCH_TYPES:-q4_k_m q6_k iq4_xs}" scripts/bench/gguf.sh bin/mlxconv
  fi
fi
