#!/usr/bin/env bash
# Installs the llama.cpp oracle for the GGUF exporter (issue 6) and prints its
# directory on stdout (progress on stderr). Idempotent: every part is reused
# while its pin is unchanged (a stamp inside records it).
#
#   <dir>/venv        python with torch, transformers, ... (requirements.txt)
#   <dir>/llama.cpp   convert_hf_to_gguf.py, conversion/, gguf-py/ from the
#                     llama-cpp-python sdist (vendor/llama.cpp), sha256-pinned
#   <dir>/npm         node-llama-cpp + its linux-x64 prebuilt llama.cpp
#                     (npm/package-lock.json, integrity-checked, no install scripts)
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

# 3. node-llama-cpp with the prebuilt CPU binaries only (no optional GPU/ARM
#    packages, no postinstall: nothing is built or downloaded at run time).
npm_dir="$dir/npm"
lock="$here/npm/package-lock.json"
want=$(cat "$here/npm/package.json" "$lock" | sha256sum | cut -d' ' -f1)
if ! [ -d "$npm_dir/node_modules/node-llama-cpp" ] || [ "$(cat "$npm_dir/.mlxconv-lock.sha256" 2>/dev/null)" != "$want" ]; then
  log "installing node-llama-cpp into $npm_dir"
  rm -rf "$npm_dir"
  mkdir -p "$npm_dir"
  cp "$here/npm/package.json" "$lock" "$npm_dir/"
  # npm install (not npm ci: the lock lacks the optional per-platform packages
  # that the registry does not serve) installs the locked versions and checks
  # their integrity hashes.
  if ! (cd "$npm_dir" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --omit=optional --ignore-scripts \
      --no-audit --no-fund --no-save --loglevel=error >"$npm_dir/npm.log" 2>&1); then
    tail -20 "$npm_dir/npm.log" >&2
    log "npm install failed (log: $npm_dir/npm.log)"
    exit 1
  fi
  if ! cmp -s "$lock" "$npm_dir/package-lock.json"; then
    log "npm changed the lock file: the pin in $lock is stale"
    exit 1
  fi
  echo "$want" > "$npm_dir/.mlxconv-lock.sha256"
fi
echo "$dir"
