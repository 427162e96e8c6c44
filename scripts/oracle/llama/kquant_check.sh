#!/usr/bin/env bash
# K-quant output oracle (issue 15): mlxconv gguf --outtype Q in one step must
# write the bytes of convert_hf_to_gguf.py --outtype bf16 followed by
# llama-quantize IN OUT Q (built from the same pinned sdist), with and
# without an importance matrix made by llama-imatrix on a short text.
#
#   kquant_check.sh WORK BIN [--models a,b] [--types T,U] [--imatrix-types T,U]
#
# WORK is check.py prepare's work directory (its hf/ARCH models are the
# base); BIN the mlxconv binary. The models are K-quant-sized variants
# (kquant_models.py: widths x4, 8 layers; llama_ffn640: a 640-wide FFN, not a
# multiple of 256, so ffn_down takes the fallback types). The converter's bf16
# files are cached in $MLXCONV_LLAMA_CACHE/kqref/KEY (KEY: the model's files,
# the converter, kquant_models.py). Every case prints on failure; the last line is
# "kquant-bytes: N passed, M failed" (exit status 1 if any failed); for
# Q4_K_M llama-perplexity's estimate on the text must also be equal. The
# bf16 files used are listed in WORK/kq/refs.txt (for TestKQTypeOracle). For the
# imatrix cases the imatrix path is passed to both tools as the same string
# (llama-quantize writes it to quantize.imatrix.file).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

work=$(cd "$1" && pwd)
bin=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
models="llama,qwen3,qwen3_moe,gemma3,llama_ffn640"
types="Q2_K,Q3_K_S,Q3_K_M,Q3_K_L,Q4_K_S,Q4_K_M,Q5_K_S,Q5_K_M,Q6_K,IQ4_NL,IQ4_XS"
itypes="$types"
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models=$2; shift 2 ;;
    --types) types=$2; shift 2 ;;
    --imatrix-types) itypes=$2; shift 2 ;;
    *) echo "kquant_check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
cache="${MLXCONV_LLAMA_CACHE:?}"
py="$cache/venv/bin/python"
lbin="$cache/bin"
kq="$work/kq"
mkdir -p "$kq"
rm -f "$kq/refs.txt"
text="$here/kquant_text.txt"
pass=0
fail=0

check() { # name ok detail
  if [ "$2" = 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: $3"; fi
}

for m in ${models//,/ }; do
  base=${m%_ffn640}
  extra=()
  [ "$m" != "$base" ] && extra=(--ffn-scale 5)
  [ -d "$work/hf/$base" ] || { check "$m" 0 "no $work/hf/$base (run check.py prepare --arch $base)"; continue; }
  "$py" "$here/kquant_models.py" "$work/hf/$base" "$kq/$m" "${extra[@]}" > /dev/null
  key=$( (cd "$kq/$m" && sha256sum ./*; cat "$cache/llama.cpp/.mlxconv-sdist" "$here/kquant_models.py") | sha256sum | cut -c1-24)
  ref="$cache/kqref/$key/$m-bf16.gguf"
  if ! [ -f "$ref" ]; then
    mkdir -p "$cache/kqref/$key"
    "$py" "$cache/llama.cpp/convert_hf_to_gguf.py" "$kq/$m" --outtype bf16 --outfile "$ref.tmp" > "$kq/$m.convert.log" 2>&1 ||
      { check "$m" 0 "convert_hf_to_gguf.py failed: $kq/$m.convert.log"; continue; }
    mv "$ref.tmp" "$ref"
  fi
  touch "$cache/kqref/$key"  # last use, for cachegc.py
  echo "$ref" >> "$kq/refs.txt"
  im="$kq/$m.imatrix.gguf"
  "$lbin/llama-imatrix" -m "$ref" -f "$text" -o "$im" -c 128 -t 1 --no-ppl > "$kq/$m.imatrix.log" 2>&1 ||
    { check "$m" 0 "llama-imatrix failed: $kq/$m.imatrix.log"; continue; }
  # mlxconv names the Llama 3 pre-tokenizer llama-bpe where the converter
  # says smaug-bpe (allow.txt); --pre makes the KV the converter's.
  pre=()
  if "$py" -c "import sys; sys.path.insert(0, '$cache/llama.cpp/gguf-py'); import gguf; r = gguf.GGUFReader('$ref'); f = r.fields['tokenizer.ggml.pre']; sys.exit(0 if bytes(f.parts[f.data[0]]).decode() == 'smaug-bpe' else 1)" 2>/dev/null; then
    pre=(--pre smaug-bpe)
  fi
  for mode in plain imatrix; do
    list=$types
    [ "$mode" = imatrix ] && list=$itypes
    for t in ${list//,/ }; do
      [ -z "$t" ] && continue
      qa=()
      [ "$mode" = imatrix ] && qa=(--imatrix "$im")
      want="$kq/$m-$t-$mode.ref.gguf"
      got="$kq/$m-$t-$mode.gguf"
      if ! "$lbin/llama-quantize" "${qa[@]}" "$ref" "$want" "$t" 2 > "$kq/$m-$t-$mode.quantize.log" 2>&1; then
        check "$m $t $mode" 0 "llama-quantize failed: $kq/$m-$t-$mode.quantize.log"
        continue
      fi
      if ! "$bin" gguf --quiet --force --model "$kq/$m" --outfile "$got" --outtype "$t" "${qa[@]}" "${pre[@]}" 2> "$kq/$m-$t-$mode.mlxconv.log"; then
        check "$m $t $mode" 0 "mlxconv failed: $(tail -1 "$kq/$m-$t-$mode.mlxconv.log")"
      elif cmp -s "$want" "$got"; then
        check "$m $t $mode" 1 ""
        if [ "$t" = Q4_K_M ] && [ "$mode" = plain ]; then
          # llama.cpp loads the file; its perplexity on the text equals the
          # reference file's (it must, bytes being equal: this proves the load).
          pw=$("$lbin/llama-perplexity" -m "$want" -f "$text" -c 128 -t 2 2>&1 | grep -o 'Final estimate: PPL = [0-9.]*' || true)
          pg=$("$lbin/llama-perplexity" -m "$got" -f "$text" -c 128 -t 2 2>&1 | grep -o 'Final estimate: PPL = [0-9.]*' || true)
          if [ -n "$pw" ] && [ "$pw" = "$pg" ]; then check "$m $t perplexity" 1 ""; else check "$m $t perplexity" 0 "reference '$pw', mlxconv '$pg'"; fi
        fi
      else
        check "$m $t $mode" 0 "bytes differ: $(cmp "$want" "$got" | head -1) ($(cmp -l "$want" "$got" | wc -l) bytes)"
      fi
      rm -f "$want" "$got"
    done
  done
done
echo "kquant-bytes: $pass passed, $fail failed"
[ "$fail" = 0 ]
