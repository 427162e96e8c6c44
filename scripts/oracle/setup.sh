#!/usr/bin/env bash
# Installs the pinned oracle peers (real MLX CPU, mlx-lm, gguf-py, ...) into
# .cache/oracle/venv and prints the venv's python path on stdout. The venv is
# reused while requirements.txt is unchanged (its sha256 is stamped inside).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="${MLXCONV_ORACLE_VENV:-$root/.cache/oracle/venv}"
req="$here/requirements.txt"
want=$(sha256sum "$req" | cut -d' ' -f1)
stamp="$venv/.mlxconv-requirements.sha256"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv/bin/python"
  exit 0
fi
echo "oracle: installing pinned peers into $venv (once)" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
