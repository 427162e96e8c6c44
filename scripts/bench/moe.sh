#!/usr/bin/env bash
# Benchmark (not CI): `mlxconv convert -q` on generated Qwen3-MoE-shaped bf16
# checkpoints (64 experts per layer stored one tensor per expert, as the Hub
# ships them, stacked by mlxconv at load; 4 GB shards), against the I/O floor
# measured in the same run: `cat` of every input shard to /dev/null plus `dd`
# of as many bytes as mlxconv wrote. Issue 13's targets: peak RSS <= 1 GiB at
# any model size, wall <= 1.3x the I/O floor.
#
#   scripts/bench/moe.sh [MLXCONV] [SIZE...]
# SIZE is a layer count (default: 3 and 32, i.e. about 2 GB and 20 GB).
# Models are generated once by scripts/bench/moegen into
# $MLXCONV_CACHE/bench (default ~/.cache/mlxconv/bench; about 22 GB free disk
# needed for the 20 GB one plus its 6 GB output). Every step starts with a cold
# page cache when this user may write /proc/sys/vm/drop_caches (root), else
# warm-after-cat; the report says which.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/bin/mlxconv}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(3 32)
[ -x "$bin" ] || { echo "no mlxconv binary at $bin (go build -o bin/mlxconv ./cmd/mlxconv)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }
cache=${MLXCONV_CACHE:-$HOME/.cache/mlxconv}/bench
mkdir -p "$cache"
gen="$cache/moegen"
(cd "$root" && go build -o "$gen" ./scripts/bench/moegen)
gen_sum=$(sha256sum "$root/scripts/bench/moegen/main.go" | cut -c1-16)

cold=0
if [ -w /proc/sys/vm/drop_caches ]; then cold=1; fi
flush() {
  sync
  if [ "$cold" = 1 ]; then echo 3 > /proc/sys/vm/drop_caches; fi
}
secs() { # GNU time -v file -> wall seconds
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$1"
}
rss() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/mlxconv-bench-moe.XXXXXX")
trap 'rm -rf "$work"' EXIT
printf '%-8s %9s %9s %9s %9s %9s %10s %8s\n' layers "input GB" "out GB" "cat s" "dd s" "ours s" "ours/floor" "RSS MB"
for layers in "${sizes[@]}"; do
  model="$cache/moe-$layers"
  if [ "$(cat "$model/.stamp" 2>/dev/null)" != "$gen_sum" ]; then
    echo "== generating $model (once)" >&2
    rm -rf "$model"
    "$gen" -out "$model" -layers "$layers"
    echo "$gen_sum" > "$model/.stamp"
  fi
  in_bytes=$(cat "$model"/*.safetensors | wc -c)

  rm -rf "$work/out"
  flush
  /usr/bin/time -v -o "$work/ours.time" "$bin" convert --quiet -q --hf-path "$model" --mlx-path "$work/out" \
    > "$work/ours.log" 2>&1 || { echo "mlxconv failed:" >&2; tail -5 "$work/ours.log" >&2; exit 1; }
  out_bytes=$(du -sb "$work/out" | cut -f1)
  rm -rf "$work/out"

  flush
  /usr/bin/time -v -o "$work/cat.time" sh -c 'cat "$@" > /dev/null' sh "$model"/*.safetensors
  flush
  /usr/bin/time -v -o "$work/dd.time" dd if=/dev/zero of="$work/dd.out" bs=16M count=$(( (out_bytes + (16 << 20) - 1) / (16 << 20) )) status=none
  rm -f "$work/dd.out"

  awk -v l="$layers" -v ib="$in_bytes" -v ob="$out_bytes" -v c="$(secs "$work/cat.time")" -v d="$(secs "$work/dd.time")" \
    -v o="$(secs "$work/ours.time")" -v r="$(rss "$work/ours.time")" 'BEGIN {
    printf "%-8s %9.2f %9.2f %9.2f %9.2f %9.2f %9.2fx %8.0f\n", l, ib / 1e9, ob / 1e9, c, d, o, o / (c + d), r / 1024 }'
done
if [ "$cold" = 1 ]; then
  echo "(every step started with a cold page cache; targets: ours/floor <= 1.3x, RSS <= 1024 MB)"
else
  echo "(page cache not dropped: not root; targets: ours/floor <= 1.3x, RSS <= 1024 MB)"
fi
