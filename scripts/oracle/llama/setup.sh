#!/usr/bin/env bash
# Installs the llama.cpp oracle for the GGUF exporter (issue 6) and prints its
# directory on stdout (progress on stderr). Idempotent: every part is reused
# while its pin is unchanged (a stamp inside records it).
#
#   <dir>/venv        python with torch, transformers, ... (requirements.txt)
#   <dir>/llama.cpp   convert_hf_to_gguf.py, conversion/, gguf-py/ from the
#                     llama-cpp-python sdist (vendor/llama.cpp), sha256-pinned
#   <dir>/npm         -> node-llama-cpp + its linux-x64 prebuilt llama.cpp, as
#                     scripts/oracle/llama_npm.sh installs them (symlink)
#
# <dir> is $MLXCONV_LLAMA_CACHE, default .cache/oracle/llama in the repository.
# The venv is large (torch from PyPI brings the CUDA wheels: about 4.9 GB,
# 2 minutes); point MLXCONV_LLAMA_CACHE at a directory outside the work tree to
# keep it across fresh clones.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
dir="${MLXCONV_LLAMA_CACHE:-$root/.cache/oracle/llama}"
sdist_name=llama-cpp-python
sdist_ver=0.3.36
sdist_sha=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
mkdir -p "$dir"
log() { echo "llama-oracle: $*" >&2; }

# 1. Python venv for the converter (and dump.py / compare.py).
req="$here/requirements.txt"
want=$(sha256sum "$req" | cut -d' ' -f1)
venv="$dir/venv"
if ! [ -x "$venv/bin/python" ] || [ "$(cat "$venv/.mlxconv-requirements.sha256" 2>/dev/null)" != "$want" ]; then
  log "installing $req into $venv (once; torch is large)"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >&2
  echo "$want" > "$venv/.mlxconv-requirements.sha256"
fi

# 2. convert_hf_to_gguf.py and what it imports from its own tree.
conv="$dir/llama.cpp"
stamp="$sdist_name==$sdist_ver $sdist_sha"
if ! [ -f "$conv/convert_hf_to_gguf.py" ] || [ "$(cat "$conv/.mlxconv-sdist" 2>/dev/null)" != "$stamp" ]; then
  log "fetching the $sdist_name $sdist_ver sdist for its vendored convert_hf_to_gguf.py"
  tmp=$(mktemp -d "$dir/.sdist.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  "$venv/bin/python" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: \
    "$sdist_name==$sdist_ver" -d "$tmp" >&2
  tgz="$tmp/llama_cpp_python-$sdist_ver.tar.gz"
  if [ "$(sha256sum "$tgz" | cut -d' ' -f1)" != "$sdist_sha" ]; then
    log "sha256 mismatch for $tgz"
    exit 1
  fi
  top="llama_cpp_python-$sdist_ver/vendor/llama.cpp"
  tar xzf "$tgz" -C "$tmp" "$top/convert_hf_to_gguf.py" "$top/conversion" "$top/gguf-py" "$top/LICENSE"
  rm -rf "$conv"
  mv "$tmp/$top" "$conv"
  echo "$stamp" > "$conv/.mlxconv-sdist"
  rm -rf "$tmp"
  trap - EXIT
fi

# 3. node-llama-cpp (prebuilt CPU llama.cpp, no GPU/ARM packages, no install
#    scripts): the one scripts/oracle/llama_npm.sh installs for the tokenizer
#    checks (pinned by scripts/oracle/npm/package-lock.json), linked as <dir>/npm.
npm_root=$("$here/../llama_npm.sh")
if ! [ -d "$npm_root/node/node_modules/node-llama-cpp" ]; then
  log "no node-llama-cpp in $npm_root/node after llama_npm.sh"
  exit 1
fi
if [ -d "$dir/npm" ] && ! [ -L "$dir/npm" ]; then
  rm -rf "$dir/npm"  # an own install from an earlier version of this script
fi
ln -sfn "$npm_root/node" "$dir/npm"
echo "$dir"
