#!/usr/bin/env bash
# llama.cpp's convert_hf_to_gguf.py, as installed by setup.sh:
#   scripts/oracle/llama/ref_convert.sh HFDIR OUT.gguf OUTTYPE [CONVERTER ARGS...]
# OUTTYPE: f32, f16, bf16, q8_0 (also tq1_0, tq2_0, auto). Uses
# $MLXCONV_LLAMA_CACHE (default .cache/oracle/llama); run setup.sh first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir="${MLXCONV_LLAMA_CACHE:-$(cd "$here/../../.." && pwd)/.cache/oracle/llama}"
if [ $# -lt 3 ]; then
  echo "usage: $0 HFDIR OUT.gguf OUTTYPE [CONVERTER ARGS...]" >&2
  exit 2
fi
if ! [ -x "$dir/venv/bin/python" ]; then
  echo "ref_convert.sh: no oracle in $dir (run scripts/oracle/llama/setup.sh)" >&2
  exit 1
fi
exec "$dir/venv/bin/python" "$here/ref_convert.py" --converter "$dir/llama.cpp" "$@"
