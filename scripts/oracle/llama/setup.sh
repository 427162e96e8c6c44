#!/usr/bin/env bash
# Installs the llama.cpp oracle for the GGUF exporter (issue 6) and prints its
# directory on stdout (progress on stderr). Idempotent: every part is reused
# while its pin is unchanged (a stamp inside records it).
#
#   <dir>/venv        python with torch, transformers, ... (requirements.txt)
#   <dir>/llama.cpp   convert_hf_to_gguf.py, conversion/, gguf-py/ from the
#                     llama-cpp-python sdist (vendor/llama.cpp), sha256-pinned
#   <dir>/runtime/KEY llama.cpp's CPU tools (llama-simple, llama-completion,
#                     llama-tokenize, llama-quantize, llama-perplexity,
#                     llama-imatrix), static libraries and headers, built with
#                     cmake from the same sdist's vendor/llama.cpp; KEY hashes
#                     the sdist and the build flags; tool-SHA/mlxconv-logits is
#                     logits.cpp compiled against it (check.py's runtime)
#   <dir>/bin         -> runtime/KEY/bin (symlink)
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

# The pinned sdist, downloaded (and sha256-checked) at most once per run, only
# when a part below needs it.
tgz=""
sdist() {
  [ -n "$tgz" ] && return 0
  log "fetching the $sdist_name $sdist_ver sdist (vendor/llama.cpp)"
  tmp=$(mktemp -d "$dir/.sdist.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  "$venv/bin/python" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: \
    "$sdist_name==$sdist_ver" -d "$tmp" >&2
  tgz="$tmp/llama_cpp_python-$sdist_ver.tar.gz"
  if [ "$(sha256sum "$tgz" | cut -d' ' -f1)" != "$sdist_sha" ]; then
    log "sha256 mismatch for $tgz"
    exit 1
  fi
}
top="llama_cpp_python-$sdist_ver/vendor/llama.cpp"

# 2. convert_hf_to_gguf.py and what it imports from its own tree.
conv="$dir/llama.cpp"
stamp="$sdist_name==$sdist_ver $sdist_sha"
if ! [ -f "$conv/convert_hf_to_gguf.py" ] || [ "$(cat "$conv/.mlxconv-sdist" 2>/dev/null)" != "$stamp" ]; then
  sdist
  tar xzf "$tgz" -C "$tmp" "$top/convert_hf_to_gguf.py" "$top/conversion" "$top/gguf-py" "$top/LICENSE"
  rm -rf "$conv"
  mv "$tmp/$top" "$conv"
  echo "$stamp" > "$conv/.mlxconv-sdist"
fi

# 3. llama.cpp itself, CPU only, built from the same sdist's vendor/llama.cpp
#    (the runtime of the logits/tokenization checks and of llama-quantize):
#    <dir>/runtime/KEY/{bin,lib,include}, KEY hashing the sdist and the flags;
#    <dir>/bin links to the current KEY's bin. GGML_NATIVE=OFF keeps the
#    binaries portable across x86-64 machines with AVX2 (ggml's default set
#    then: SSE4.2, AVX, AVX2, BMI2, FMA, F16C); static libraries, no network.
#    Our own tool (mlxconv-logits, logits.cpp beside this script) is compiled
#    against them into runtime/KEY/tool-SHA/ (seconds; keyed by its source).
cmake_flags="-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_OPENSSL=OFF
 -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON
 -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_COMMON=ON -DGGML_CCACHE=OFF"
targets="llama-simple llama-completion llama-tokenize llama-quantize llama-perplexity llama-imatrix"
key=$(printf '%s\n%s\n%s\n' "$sdist_sha" "$cmake_flags" "$targets" | sha256sum | cut -c1-16)
rt="$dir/runtime/$key"
# Several work trees share the cache: one builds, the others wait for it.
exec 9>"$dir/.runtime.lock"
flock 9
if ! [ -f "$rt/.mlxconv-built" ]; then
  for tool in cmake c++; do
    if ! command -v $tool >/dev/null; then
      log "$tool is missing: install it (Debian: apt-get install cmake g++; PyPI: pip install cmake)"
      exit 1
    fi
  done
  sdist
  log "building llama.cpp ($targets) from the sdist into $rt (once: ~8.5 CPU minutes, 5 to 30 min on 2 cores)"
  t0=$(date +%s)
  rm -rf "$rt"
  mkdir -p "$rt"
  tar xzf "$tgz" -C "$tmp" "$top"
  gen=()
  if command -v ninja >/dev/null; then gen=(-G Ninja); fi
  # shellcheck disable=SC2086
  cmake -S "$tmp/$top" -B "$tmp/build" "${gen[@]}" $cmake_flags >"$rt/cmake.log" 2>&1 ||
    { log "cmake configure failed: $rt/cmake.log"; exit 1; }
  # shellcheck disable=SC2086
  cmake --build "$tmp/build" -j "${MLXCONV_LLAMA_JOBS:-2}" --target $targets >>"$rt/cmake.log" 2>&1 ||
    { log "cmake build failed: $rt/cmake.log"; exit 1; }
  mkdir -p "$rt/bin" "$rt/lib" "$rt/include"
  for t in $targets; do cp "$tmp/build/bin/$t" "$rt/bin/"; done
  find "$tmp/build" -name 'libllama.a' -o -name 'libggml*.a' | xargs -I{} cp {} "$rt/lib/"
  cp "$tmp/$top/include/"*.h "$tmp/$top/ggml/include/"*.h "$rt/include/"
  cp "$tmp/$top/LICENSE" "$rt/"
  echo "$cmake_flags" > "$rt/flags.txt"
  echo "$(( $(date +%s) - t0 ))" > "$rt/build-seconds"
  touch "$rt/.mlxconv-built"
  log "built llama.cpp in $(cat "$rt/build-seconds") s"
fi
ln -sfn "runtime/$key/bin" "$dir/bin"
src="$here/logits.cpp"
tsha=$(sha256sum "$src" | cut -c1-16)
tool="$rt/tool-$tsha/mlxconv-logits"
if ! [ -x "$tool" ]; then
  log "compiling $src"
  mkdir -p "$rt/tool-$tsha"
  c++ -std=c++17 -O2 -I"$rt/include" -o "$tool.tmp" "$src" \
    "$rt/lib/libllama.a" "$rt/lib/libggml.a" "$rt/lib/libggml-cpu.a" "$rt/lib/libggml-base.a" \
    -fopenmp -lpthread -ldl -lm
  mv "$tool.tmp" "$tool"
fi
flock -u 9
[ -z "$tgz" ] || { rm -rf "$tmp"; trap - EXIT; }

echo "$dir"
