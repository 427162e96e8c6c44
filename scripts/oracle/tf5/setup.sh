#!/usr/bin/env bash
# Installs transformers 5 (requirements.txt) into a small venv that borrows
# torch from the llama.cpp oracle venv, and prints its python on stdout.
#   <cache>/oracle/tf5/venv        pip packages of requirements.txt
#   .../site-packages/mlxconv-torch.pth  -> the llama venv's site-packages
# <cache> is $MLXCONV_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/mlxconv); the
# llama venv is $MLXCONV_LLAMA_CACHE/venv (default <cache>/oracle/llama/venv),
# installed by scripts/oracle/llama/setup.sh when missing. Reused while
# requirements.txt and the llama venv's path are unchanged (stamp inside).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache="${MLXCONV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlxconv}"
llama="${MLXCONV_LLAMA_CACHE:-$cache/oracle/llama}"
if ! [ -x "$llama/venv/bin/python" ]; then
  MLXCONV_LLAMA_CACHE="$llama" "$here/../llama/setup.sh" >/dev/null
fi
site=$("$llama/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
venv="$cache/oracle/tf5/venv"
req="$here/requirements.txt"
want="$(sha256sum "$req" | cut -d' ' -f1) $site"
stamp="$venv/.mlxconv-requirements"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv/bin/python"
  exit 0
fi
echo "tf5: installing $req into $venv (torch borrowed from $site)" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv" >&2
# Installed before the .pth exists, so pip neither sees nor touches the llama venv.
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >&2
own=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$site" > "$own/mlxconv-torch.pth"
"$venv/bin/python" -c 'import torch, transformers; assert transformers.__version__.startswith("5."), transformers.__version__' >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
