#!/usr/bin/env bash
# The kernel oracle on linux/arm64: MLX's CPU backend from the aarch64 wheels
# (setup.sh, under qemu) writes the cases, and the pure-Go kernels, compiled
# for linux/arm64 and run under qemu too, recompute and compare them byte for
# byte (TestKernelOracle). Prints "kernels-arm64: N passed, M failed".
#
#   run.sh DIR [REPS]   cases go to DIR (created); REPS per parameter
#                       combination, default 16 (258 comparisons each, so
#                       4,128 in all; the test wants at least 2,000).
# MLXCONV_ORACLE_SEED fixes the seed (default: a fresh one, printed), e.g. to
# generate the same inputs as an amd64 run for compare.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:?usage: run.sh DIR [REPS]}
reps=${2:-16}
a64=$("$here/setup.sh")
mkdir -p "$out"
out=$(cd "$out" && pwd)

seed=()
if [ -n "${MLXCONV_ORACLE_SEED:-}" ]; then seed=(--seed "$MLXCONV_ORACLE_SEED"); fi
start=$SECONDS
"$a64/python" "$root/scripts/oracle/kernels.py" gen "$out" --reps "$reps" "${seed[@]}"
gen=$((SECONDS - start))

bin="$out.oracle-arm64.test"
log="$out.oracle-arm64.log"
(cd "$root" && GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go test -c -o "$bin" ./scripts/oracle/)
start=$SECONDS
rc=0
MLXCONV_ORACLE_DIR="$out" "$a64/run" "$bin" -test.run '^TestKernelOracle$' -test.count=1 -test.v > "$log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then tail -n 60 "$log"; fi
echo "oracle-arm64: MLX gen ${gen}s, Go compare $((SECONDS - start))s (both under qemu)"
line=$(grep -E '^kernels: ' "$log" || true)
if [ -z "$line" ]; then
  echo "kernels-arm64: the test printed no count (exit $rc)"
  exit 1
fi
echo "kernels-arm64:${line#kernels:}"
exit "$rc"
