#!/usr/bin/env bash
# Benchmark (not CI): `mlxconv gguf` vs llama.cpp's convert_hf_to_gguf.py on the
# generated ~2.2 GB bf16 TinyLlama-1.1B-shaped model (the convert benchmark's
# input), for --outtype f16 and q8_0, in the same run, one after the other.
# Reports wall time and peak RSS (GNU time -v) of each and the mlxconv/converter
# ratios (issue 6 targets: <= 0.25x wall, <= 0.1x peak RSS), then compares the
# two files of each type with scripts/oracle/llama/compare.py (tensors byte for
# byte, metadata). Input warm in the page cache (BENCH_COLD=1: cold). Each tool
# runs BENCH_REPEAT times (default 3, alternating with the other) and the
# fastest run counts: writing gigabytes through the page cache of a VM varies
# by seconds from run to run (peak RSS is the largest of the runs). Page-cache
# writes are much faster into memory that was freed moments ago than into
# memory the VM has long given back to its host, so each tool's previous
# output is deleted right before that tool runs (deleting both at once before
# the first tool would hand it all the warm memory).
#
# K-quant types (BENCH_TYPES, e.g. "q4_k_m q6_k iq4_xs") are measured against
# llama.cpp's two-step pipeline: convert_hf_to_gguf.py --outtype bf16, then
# llama-quantize IN OUT TYPE on the machine's cores (issue 15 targets: wall
# <= 0.15x the two steps together, peak RSS <= 0.1x of the larger step, extra
# disk 0 where the pipeline needs the whole bf16 file); the two files must be
# byte-identical.
#
#   scripts/bench/gguf.sh [MLXCONV]         BENCH_TYPES="f16 q8_0" by default
# MLXCONV defaults to bin/mlxconv. Needs the llama.cpp oracle
# (scripts/oracle/llama/setup.sh) and the convert benchmark's model (made here
# when missing, as scripts/bench/convert.sh does).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/bin/mlxconv}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "no mlxconv binary at $bin (go build -o bin/mlxconv ./cmd/mlxconv)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }
llama="${MLXCONV_LLAMA_CACHE:-$root/.cache/oracle/llama}"
lpy="$llama/venv/bin/python"
[ -x "$lpy" ] || { echo "no llama.cpp oracle in $llama (scripts/oracle/llama/setup.sh)" >&2; exit 2; }

model="$root/.cache/bench/convert-llama-1.1b"
stamp="bench-llama v1" # as scripts/bench/convert.sh
if [ "$(cat "$model/.stamp" 2>/dev/null)" != "$stamp" ]; then
  py=$("$root/scripts/oracle/setup.sh")
  npm_dir=$("$root/scripts/oracle/tokenizers.sh")
  echo "== generating the benchmark model (once): $model" >&2
  rm -rf "$model"
  "$py" "$root/scripts/oracle/convert_models.py" --npm "$npm_dir" bench-llama "$model"
  echo "$stamp" > "$model/.stamp"
fi
size=$(du -sb "$model/model.safetensors" | cut -f1)

work=$(mktemp -d "${TMPDIR:-/tmp}/mlxconv-bench-gguf.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The model ships a SentencePiece-style tokenizer.json only (Mistral's), which
# mlxconv does not export (llama.cpp's LlamaHfVocab); give both tools the same
# vocabulary as a tokenizer.model (scripts/oracle/llama/models.py's
# spm_from_tokenizer_json), which both prefer.
bench="$work/model"
mkdir -p "$bench"
for f in "$model"/*; do ln -s "$f" "$bench/"; done
"$lpy" - "$root/scripts/oracle/llama" "$model/tokenizer.json" "$bench/tokenizer.model" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import models
with open(sys.argv[3], "wb") as f:
    f.write(models.spm_from_tokenizer_json(sys.argv[2], add_dummy_prefix=True))
PY
model_in="$bench"
export TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

measure() { # name cmd... ; prints "wall_s rss_kb"
  local name=$1; shift
  sync
  if [ "${BENCH_COLD:-0}" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then
    echo 1 > /proc/sys/vm/drop_caches
  else
    cat "$model/model.safetensors" > /dev/null
  fi
  /usr/bin/time -v -o "$work/$name.time" "$@" > "$work/$name.log" 2>&1 || {
    echo "$name failed:" >&2; tail -5 "$work/$name.log" >&2; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$work/$name.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$name.time")
  echo "$wall $rss"
}

echo "== input: $model ($((size / 1000000)) MB bf16), $(nproc) cores"
printf '%-8s %-24s %10s %14s\n' type tool "wall s" "peak RSS MB"
best() { # prev_wall prev_rss wall rss -> min wall, max rss
  awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN { w = (a == "" || c < a) ? c : a; r = (b == "" || d > b) ? d : b; print w, r }'
}
kquant() { case "$1" in q[2-6]_k*|Q[2-6]_K*|iq4_*|IQ4_*|tq[12]_0|TQ[12]_0) return 0 ;; esac; return 1; }
qbin="$llama/bin/llama-quantize"
ref() { # TYPE -> "wall rss extra_disk_bytes" of the peer's run writing $work/ref-TYPE.gguf
  local t=$1
  if ! kquant "$t"; then
    read -r w r < <(measure "ref-$t" "$lpy" "$llama/llama.cpp/convert_hf_to_gguf.py" "$model_in" --outfile "$work/ref-$t.gguf" --outtype "$t")
    echo "$w $r 0"
    return
  fi
  # the two-step pipeline: its wall times add up, its peak is the larger
  rm -f "$work/ref-bf16.gguf"
  read -r w1 r1 < <(measure "ref-bf16" "$lpy" "$llama/llama.cpp/convert_hf_to_gguf.py" "$model_in" --outfile "$work/ref-bf16.gguf" --outtype bf16)
  read -r w2 r2 < <(measure "ref-$t" "$qbin" "$work/ref-bf16.gguf" "$work/ref-$t.gguf" "$t" "$(nproc)")
  echo "$(awk -v a="$w1" -v b="$w2" 'BEGIN { print a + b }') $((r1 > r2 ? r1 : r2)) $(stat -c %s "$work/ref-bf16.gguf")"
  rm -f "$work/ref-bf16.gguf"
}
for t in ${BENCH_TYPES:-f16 q8_0}; do
  peer="convert_hf_to_gguf.py" target=0.25
  if kquant "$t"; then
    [ -x "$qbin" ] || { echo "no llama-quantize at $qbin (scripts/oracle/llama/setup.sh)" >&2; exit 2; }
    peer="converter+llama-quantize" target=0.15
  fi
  w_ref="" r_ref="" w_our="" r_our=""
  for i in $(seq "${BENCH_REPEAT:-3}"); do
    # Each tool's previous output is removed just before it runs, so both
    # start with the same amount of just-freed memory (see above).
    rm -f "$work/ref-$t.gguf"
    read -r w r extra < <(ref "$t")
    read -r w_ref r_ref < <(best "$w_ref" "$r_ref" "$w" "$r")
    rm -f "$work/our-$t.gguf"
    read -r w r < <(measure "our-$t" "$bin" gguf --model "$model_in" --outfile "$work/our-$t.gguf" --outtype "$t" --quiet)
    read -r w_our r_our < <(best "$w_our" "$r_our" "$w" "$r")
  done
  awk -v t="$t" -v p="$peer" -v g="$target" -v wr="$w_ref" -v rr="$r_ref" -v wo="$w_our" -v ro="$r_our" -v x="$extra" 'BEGIN {
    printf "%-8s %-24s %10.2f %14.1f%s\n", t, p, wr, rr / 1024, (x > 0 ? sprintf("   (+%.0f MB bf16 intermediate on disk)", x / 1e6) : "")
    printf "%-8s %-24s %10.2f %14.1f\n", t, "mlxconv gguf", wo, ro / 1024
    printf "%-8s %-24s %9.3fx %13.3fx   (targets <= %sx wall, <= 0.1x RSS)\n", t, "ratio", wo / wr, ro / rr, g
  }'
  if kquant "$t"; then
    # llama-quantize's file: the same bytes or nothing
    if cmp -s "$work/ref-$t.gguf" "$work/our-$t.gguf"; then echo "  bytes: identical"; else echo "  bytes: DIFFER ($(cmp "$work/ref-$t.gguf" "$work/our-$t.gguf" | head -1))"; fi
  else
    PYTHONPATH="$llama/llama.cpp/gguf-py" "$lpy" "$root/scripts/oracle/llama/dump.py" "$work/ref-$t.gguf" -o "$work/ref-$t.json"
    PYTHONPATH="$llama/llama.cpp/gguf-py" "$lpy" "$root/scripts/oracle/llama/dump.py" "$work/our-$t.gguf" -o "$work/our-$t.json"
    "$lpy" "$root/scripts/oracle/llama/compare.py" tensors "$work/ref-$t.json" "$work/our-$t.json" --bytes | sed 's/^/  tensors: /' | tail -3
    "$lpy" "$root/scripts/oracle/llama/compare.py" kv "$work/ref-$t.json" "$work/our-$t.json" | sed 's/^/  kv: /' | tail -6 || true
  fi
  rm -f "$work/ref-$t.gguf" "$work/our-$t.gguf"
done
