#!/usr/bin/env bash
# K-quant output oracle (issue 15): mlxconv gguf --outtype Q in one step must
# write the bytes of convert_hf_to_gguf.py --outtype bf16 followed by
# llama-quantize IN OUT Q (built from the same pinned sdist), with and
# without an importance matrix made by llama-imatrix on a short text, and
# llama.cpp must load every file.
#
#   kquant_check.sh WORK BIN [--models a,b] [--types T,U] [--imatrix-types T,U]
#
# WORK is check.py prepare's work directory (its hf/ARCH models are the
# base); BIN the mlxconv binary. The models are K-quant-sized variants
# (kquant_models.py: widths x4, 8 layers; llama_ffn640: a 640-wide FFN, not a
# multiple of 256, so ffn_down takes the fallback types; qwen3_fp8: qwen3's
# Linear weights as the Hub's block-scaled FP8, which both tools dequantize
# first). Two more cases start from MLX models that mlxconv convert makes of
# the K-sized llama: mlx_llama (bfloat16: its tensors must equal the HF
# llama's in every type) and mlx_llama_q4 (4-bit affine, dequantized first);
# their two-step reference is llama-quantize of mlxconv's own bf16 export of
# the MLX model. --types/--imatrix-types default to every type; FP8 and MLX
# cases take the types of FP8_TYPES and MLX_TYPES among them.
#
# Cached per input in $MLXCONV_LLAMA_CACHE/kqref/KEY (KEY: the model's files,
# the converter, kquant_models.py, the text): the converter's bf16 file, the
# imatrix, and per type and mode the sha256 of llama-quantize's file and,
# without an imatrix, llama-perplexity's estimate on the text (run once on
# each such reference file: llama.cpp loads every type; the imatrix files
# hold the same types, their perplexity is left out for the cold CI budget). A warm run only runs mlxconv and compares sha256s;
# on a difference the reference file is remade for cmp's report. For
# Q4_K_M llama-perplexity also runs on mlxconv's own file (equal bytes,
# equal estimate). Every case prints on failure; the last line is
# "kquant-bytes: N passed, M failed" (exit status 1 if any failed). Cases
# run two at a time. The bf16
# files used are listed in WORK/kq/refs.txt (for TestKQTypeOracle). For the
# imatrix cases the imatrix path is passed to both tools as the same string
# (llama-quantize writes it to quantize.imatrix.file).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

work=$(cd "$1" && pwd)
bin=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
all_types="Q2_K,Q3_K_S,Q3_K_M,Q3_K_L,Q4_K_S,Q4_K_M,Q5_K_S,Q5_K_M,Q6_K,IQ4_NL,IQ4_XS,TQ1_0,TQ2_0"
models="llama,qwen3,qwen3_moe,gemma3,llama_ffn640,qwen3_fp8,mlx_llama,mlx_llama_q4"
types="$all_types"
itypes="$all_types"
FP8_TYPES="Q2_K,Q4_K_M,Q6_K,IQ4_XS"
MLX_TYPES="Q4_K_M,Q6_K"
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
results="$kq/results.txt" # one line per check; cases run two at a time
: > "$results"
jobs_max=2

check() { # name ok detail
  if [ "$2" = 1 ]; then echo "PASS $1" >> "$results"; else echo "FAIL $1: $3" | tee -a "$results"; fi
}
spawn() { # runs "$@" in the background, at most jobs_max at once
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  "$@" &
}
sha() { sha256sum "$1" | cut -c1-64; }
ppl() { # GGUF -> llama-perplexity's final estimate on the text ("" if it fails)
  "$lbin/llama-perplexity" -m "$1" -f "$text" -c 128 -t 2 2>&1 | grep -o 'Final estimate: PPL = [0-9.]*' || true
}
within() { # TYPE LIST -> whether TYPE is in the comma-separated LIST
  case ",$2," in *",$1,"*) return 0 ;; esac
  return 1
}
tensors_equal() { # A B -> exit 0 when both GGUFs hold the same tensors (names, types, shapes, bytes, order)
  "$py" - "$cache/llama.cpp/gguf-py" "$1" "$2" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import gguf
def ts(p):
    return [(t.name, int(t.tensor_type), [int(d) for d in t.shape], bytes(t.data)) for t in gguf.GGUFReader(p).tensors]
a, b = ts(sys.argv[2]), ts(sys.argv[3])
bad = [x[0] for x, y in zip(a, b) if x != y]
if len(a) != len(b) or bad:
    print(f"{len(a)} vs {len(b)} tensors; differing: {bad[:5]}")
    sys.exit(1)
PY
}

# case_check NAME MODEL_DIR REF_BF16 RDIR TYPE MODE [mlxconv flags]:
# llama-quantize of REF_BF16 (sha256 and perplexity cached in RDIR) against
# mlxconv gguf of MODEL_DIR.
case_check() {
  local name=$1 dir=$2 ref=$3 rdir=$4 t=$5 mode=$6
  shift 6
  local qa=() sumf="$rdir/$t-$mode.ref" want="$kq/$name-$t-$mode.ref.gguf" got="$kq/$name-$t-$mode.gguf"
  [ "$mode" = imatrix ] && qa=(--imatrix "$rdir/imatrix.gguf")
  if ! [ -f "$sumf" ]; then
    if ! "$lbin/llama-quantize" "${qa[@]}" "$ref" "$want" "$t" 2 > "$kq/$name-$t-$mode.quantize.log" 2>&1; then
      check "$name $t $mode" 0 "llama-quantize failed: $kq/$name-$t-$mode.quantize.log"
      return
    fi
    local p=""
    if [ "$mode" = plain ]; then
      p=$(ppl "$want")
      if [ -z "$p" ]; then
        check "$name $t $mode" 0 "llama-perplexity could not run llama-quantize's file $want"
        return
      fi
    fi
    printf '%s\n%s\n' "$(sha "$want")" "$p" > "$sumf.tmp"
    mv "$sumf.tmp" "$sumf"
  fi
  local wsum wppl
  { read -r wsum; read -r wppl; } < "$sumf"
  if ! "$bin" gguf --quiet --force --model "$dir" --outfile "$got" --outtype "$t" "${qa[@]}" "$@" 2> "$kq/$name-$t-$mode.mlxconv.log"; then
    check "$name $t $mode" 0 "mlxconv failed: $(tail -1 "$kq/$name-$t-$mode.mlxconv.log")"
  elif [ "$(sha "$got")" = "$wsum" ]; then
    check "$name $t $mode" 1 ""
    if [ "$t" = Q4_K_M ] && [ "$mode" = plain ]; then
      # llama.cpp loads mlxconv's own file (the bytes being equal, so is
      # the estimate; every reference file was loaded when cached).
      local pg
      pg=$(ppl "$got")
      if [ -n "$pg" ] && [ "$pg" = "$wppl" ]; then check "$name $t perplexity" 1 ""; else check "$name $t perplexity" 0 "reference '$wppl', mlxconv '$pg'"; fi
    fi
  else
    [ -f "$want" ] || "$lbin/llama-quantize" "${qa[@]}" "$ref" "$want" "$t" 2 > /dev/null 2>&1 || true
    check "$name $t $mode" 0 "bytes differ: $(cmp "$want" "$got" 2>&1 | head -1) ($(cmp -l "$want" "$got" 2>/dev/null | wc -l) bytes)"
  fi
  rm -f "$want" "$got"
}

# imatrix RDIR REF: llama-imatrix's matrix of REF on the text, cached.
imatrix() {
  [ -f "$1/imatrix.gguf" ] && return 0
  "$lbin/llama-imatrix" -m "$2" -f "$text" -o "$1/imatrix.tmp.gguf" -c 128 -t 1 --no-ppl > "$kq/$(basename "$1").imatrix.log" 2>&1 &&
    mv "$1/imatrix.tmp.gguf" "$1/imatrix.gguf"
}

# run_cases NAME DIR REF RDIR TYPES ITYPES [mlxconv flags]
run_cases() {
  local name=$1 dir=$2 ref=$3 rdir=$4 tl=$5 il=$6
  shift 6
  if [ -n "$il" ] && ! imatrix "$rdir" "$ref"; then
    check "$name" 0 "llama-imatrix failed: $kq/$(basename "$rdir").imatrix.log"
    return
  fi
  for mode in plain imatrix; do
    local list=$tl
    [ "$mode" = imatrix ] && list=$il
    for t in ${list//,/ }; do
      spawn case_check "$name" "$dir" "$ref" "$rdir" "$t" "$mode" "$@"
    done
  done
  wait
}

subset() { # LIST ALLOWED -> the types of LIST in ALLOWED
  local out=() t
  for t in ${1//,/ }; do within "$t" "$2" && out+=("$t"); done
  (IFS=,; echo "${out[*]}")
}

for m in ${models//,/ }; do
  case "$m" in
    mlx_*) continue ;; # after the HF models
    llama_ffn640) base=llama; extra=(--ffn-scale 5) ;;
    qwen3_fp8) base=qwen3; extra=(--fp8) ;;
    *) base=$m; extra=() ;;
  esac
  [ -d "$work/hf/$base" ] || { check "$m" 0 "no $work/hf/$base (run check.py prepare --arch $base)"; continue; }
  rm -rf "$kq/$m"
  "$py" "$here/kquant_models.py" "$work/hf/$base" "$kq/$m" "${extra[@]}" > /dev/null
  key=$( (cd "$kq/$m" && sha256sum ./*; cat "$cache/llama.cpp/.mlxconv-sdist" "$here/kquant_models.py" "$text") | sha256sum | cut -c1-24)
  rdir="$cache/kqref/$key"
  ref="$rdir/$m-bf16.gguf"
  if ! [ -f "$ref" ]; then
    mkdir -p "$rdir"
    "$py" "$cache/llama.cpp/convert_hf_to_gguf.py" "$kq/$m" --outtype bf16 --outfile "$ref.tmp" > "$kq/$m.convert.log" 2>&1 ||
      { check "$m" 0 "convert_hf_to_gguf.py failed: $kq/$m.convert.log"; continue; }
    mv "$ref.tmp" "$ref"
  fi
  touch "$rdir"  # last use, for cachegc.py
  echo "$ref" >> "$kq/refs.txt"
  # mlxconv names the Llama 3 pre-tokenizer llama-bpe where the converter
  # says smaug-bpe (allow.txt); --pre makes the KV the converter's.
  pre=()
  if "$py" -c "import sys; sys.path.insert(0, '$cache/llama.cpp/gguf-py'); import gguf; r = gguf.GGUFReader('$ref'); f = r.fields['tokenizer.ggml.pre']; sys.exit(0 if bytes(f.parts[f.data[0]]).decode() == 'smaug-bpe' else 1)" 2>/dev/null; then
    pre=(--pre smaug-bpe)
  fi
  tl=$types il=$itypes
  if [ "$m" = qwen3_fp8 ]; then tl=$(subset "$types" "$FP8_TYPES"); il=$(subset "$itypes" Q4_K_M); fi
  run_cases "$m" "$kq/$m" "$ref" "$rdir" "$tl" "$il" "${pre[@]}"
done

# MLX sources: mlxconv convert of the K-sized llama, float and 4-bit.
for m in ${models//,/ }; do
  case "$m" in
    mlx_llama) qflags=() ;;
    mlx_llama_q4) qflags=(-q) ;;
    *) continue ;;
  esac
  [ -d "$kq/llama" ] || "$py" "$here/kquant_models.py" "$work/hf/llama" "$kq/llama" > /dev/null
  rm -rf "$kq/$m"
  if ! "$bin" convert --hf-path "$kq/llama" --mlx-path "$kq/$m" "${qflags[@]}" 2> "$kq/$m.convert.log"; then
    check "$m" 0 "mlxconv convert failed: $kq/$m.convert.log"; continue
  fi
  # The two-step reference starts from mlxconv's bf16 export of the MLX
  # model (the dequantized weights for the 4-bit one).
  bf="$kq/$m-bf16.gguf"
  "$bin" gguf --quiet --force --model "$kq/$m" --outfile "$bf" --outtype bf16 --pre smaug-bpe 2> "$kq/$m.bf16.log" ||
    { check "$m" 0 "mlxconv gguf bf16 failed: $(tail -1 "$kq/$m.bf16.log")"; continue; }
  rdir="$cache/kqref/mlx-$(cat "$bf" "$cache/llama.cpp/.mlxconv-sdist" "$text" | sha256sum | cut -c1-24)"
  mkdir -p "$rdir"
  touch "$rdir"
  run_cases "$m" "$kq/$m" "$bf" "$rdir" "$(subset "$types" "$MLX_TYPES")" "$(subset "$itypes" Q4_K_M)" --pre smaug-bpe
  if [ "$m" = mlx_llama ]; then
    # float MLX is exact: Q4_K_M of the MLX model holds the HF model's tensors
    a="$kq/$m-hf.gguf" b="$kq/$m-mlx.gguf" d=""
    if "$bin" gguf --quiet --force --model "$kq/llama" --outfile "$a" --outtype Q4_K_M 2> /dev/null &&
        "$bin" gguf --quiet --force --model "$kq/$m" --outfile "$b" --outtype Q4_K_M 2> /dev/null && d=$(tensors_equal "$a" "$b"); then
      check "$m Q4_K_M tensors = llama's" 1 ""
    else
      check "$m Q4_K_M tensors = llama's" 0 "${d:-mlxconv gguf failed}"
    fi
    rm -f "$a" "$b"
  fi
  rm -f "$bf"
done
pass=$(grep -c '^PASS ' "$results" || true)
fail=$(grep -c '^FAIL ' "$results" || true)
echo "kquant-bytes: $pass passed, $fail failed"
[ "$fail" = 0 ]
