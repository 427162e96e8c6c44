#!/usr/bin/env bash
# Benchmark (not CI): `mlxconv convert -q` vs `mlx_lm.convert -q` on a generated
# ~2.2 GB bf16 TinyLlama-1.1B-shaped model, in the same run, one after the other.
# Reports wall time and peak RSS (GNU time -v) of each and mlxconv/mlx_lm ratios
# (issue 4 targets: <= 0.25x wall, <= 0.125x peak RSS), then checks that the two
# outputs agree (same checks as scripts/oracle/convert_check.py). Both run with
# the input in the page cache (BENCH_COLD=1 drops the cache before each instead).
# Each tool runs BENCH_REPEAT times (default 3), alternating with the other, and
# the fastest run counts (peak RSS: the largest): writing through the page
# cache of a VM varies by seconds from run to run. Page-cache writes are much
# faster into memory that was freed moments ago than into memory the VM has
# long given back to its host, so each tool's previous output is deleted right
# before that tool runs.
#
#   scripts/bench/convert.sh [PYTHON [MLXCONV]] [-- extra convert flags]
# PYTHON defaults to scripts/oracle/setup.sh's venv, MLXCONV to bin/mlxconv.
# The generated model is cached in .cache/bench/convert-llama-1.1b (rebuilt when
# the stamp below changes); outputs go to a temporary directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=""
bin=""
extra=(-q)
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; extra=("$@"); break ;;
    *) if [ -z "$py" ]; then py=$1; elif [ -z "$bin" ]; then bin=$1; else echo "unexpected $1" >&2; exit 2; fi; shift ;;
  esac
done
[ -n "$py" ] || py=$("$root/scripts/oracle/setup.sh")
[ -n "$bin" ] || bin="$root/bin/mlxconv"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "no mlxconv binary at $bin (go build -o bin/mlxconv ./cmd/mlxconv)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }

npm_dir=$("$root/scripts/oracle/tokenizers.sh")
model="$root/.cache/bench/convert-llama-1.1b"
stamp="bench-llama v1"  # bump when convert_models.py's bench_llama changes
if [ "$(cat "$model/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "== generating the benchmark model (once): $model" >&2
  rm -rf "$model"
  "$py" "$root/scripts/oracle/convert_models.py" --npm "$npm_dir" bench-llama "$model"
  echo "$stamp" > "$model/.stamp"
fi
size=$(du -sb "$model/model.safetensors" | cut -f1)

work=$(mktemp -d "${TMPDIR:-/tmp}/mlxconv-bench-convert.XXXXXX")
trap 'rm -rf "$work"' EXIT
export TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error HF_HUB_OFFLINE=1

measure() { # name cmd... ; prints "wall_s rss_kb"
  local name=$1; shift
  sync
  if [ "${BENCH_COLD:-0}" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then
    echo 1 > /proc/sys/vm/drop_caches  # both tools start cold (machine-wide: opt-in)
  else
    cat "$model/model.safetensors" > /dev/null  # both tools start warm
  fi
  /usr/bin/time -v -o "$work/$name.time" "$@" > "$work/$name.log" 2>&1 || {
    echo "$name failed:" >&2; tail -5 "$work/$name.log" >&2; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$work/$name.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$name.time")
  echo "$wall $rss"
}

repeat=${BENCH_REPEAT:-3}
echo "== input: $model ($((size / 1000000)) MB bf16), flags: ${extra[*]}, best of $repeat runs each, alternating"
w_ref="" r_ref=0 w_our="" r_our=0
for i in $(seq "$repeat"); do
  rm -rf "$work/ref" # just before each tool runs: see below
  read -r w r < <(measure mlx_lm "$py" -c 'import sys; from mlx_lm.convert import main; sys.argv[0] = "mlx_lm.convert"; main()' \
    --hf-path "$model" --mlx-path "$work/ref" "${extra[@]}")
  echo "  run $i: mlx_lm.convert  $w s  $((r / 1024)) MB"
  if [ -z "$w_ref" ] || awk -v a="$w" -v b="$w_ref" 'BEGIN { exit !(a < b) }'; then w_ref=$w; fi
  [ "$r" -gt "$r_ref" ] && r_ref=$r
  rm -rf "$work/ours"
  read -r w r < <(measure mlxconv "$bin" convert --hf-path "$model" --mlx-path "$work/ours" "${extra[@]}")
  echo "  run $i: mlxconv convert $w s  $((r / 1024)) MB"
  if [ -z "$w_our" ] || awk -v a="$w" -v b="$w_our" 'BEGIN { exit !(a < b) }'; then w_our=$w; fi
  [ "$r" -gt "$r_our" ] && r_our=$r
done

awk -v wr="$w_ref" -v rr="$r_ref" -v wo="$w_our" -v ro="$r_our" 'BEGIN {
  printf "%-16s %10s %14s\n", "tool", "wall s", "peak RSS MB"
  printf "%-16s %10.2f %14.1f\n", "mlx_lm.convert", wr, rr / 1024
  printf "%-16s %10.2f %14.1f\n", "mlxconv convert", wo, ro / 1024
  printf "%-16s %9.3fx %13.3fx   (targets <= 0.25x wall, <= 0.125x RSS)\n", "ratio", wo / wr, ro / rr
}'

echo "== output check (mlxconv vs mlx_lm)"
"$py" - "$work/ref" "$work/ours" "$model" "$root/scripts/oracle" <<'PY'
import sys
sys.path.insert(0, sys.argv[4])
import convert_check
res = convert_check.compare_dirs(sys.argv[1], sys.argv[2], sys.argv[3])
bad = {k: v for k, v in res.items() if v}
for k in convert_check.CHECKS:
    print("  %-12s %s" % (k, "ok" if not res[k] else "FAIL " + res[k][:300]))
sys.exit(1 if bad else 0)
PY
