#!/usr/bin/env bash
# Throughput of mlx/safetensors against cat and dd on the same machine.
#
#   scripts/bench/safetensors.sh            # 1 GiB, files in a fresh temp dir
#   SIZE_MB=4096 DIR=/scratch SYNC=1 scripts/bench/safetensors.sh
#
# Write: our Writer (stbench write) vs dd of the same number of bytes from
# /dev/zero. Read: our Reader (Open + ReadTensor; NewReader(os.File) +
# ReadTensor; Open + Bytes from the mmap, copied) vs cat and dd, reading
# the file our writer produced. All reads are warm (page cache): the file is
# read once before timing. SYNC=1 adds fsync to both writers.
# Prints GB/s (1e9 bytes/s) of the data and ours/reference ratios.
set -euo pipefail

SIZE_MB=${SIZE_MB:-1024}
SYNC=${SYNC:-0}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${DIR:-}
if [[ -z "$DIR" ]]; then
	DIR=$(mktemp -d)
	trap 'rm -rf "$DIR"' EXIT
fi
BYTES=$((SIZE_MB * 1024 * 1024))

(cd "$ROOT" && CGO_ENABLED=0 go build -o "$DIR/stbench" ./scripts/bench/stbench)

now() { date +%s.%N; }
# gbps SECONDS -> GB/s of $BYTES
gbps() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.2f", b / s / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
timeit() { # timeit CMD... -> seconds on stdout, command output discarded
	local t0 t1
	t0=$(now)
	"$@" >/dev/null 2>&1
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }'
}

ST="$DIR/bench.safetensors"
syncflag=()
ddsync=()
if [[ "$SYNC" == 1 ]]; then
	syncflag=(-sync)
	ddsync=(conv=fsync)
fi

echo "size: $SIZE_MB MiB ($BYTES bytes), dir: $DIR, sync: $SYNC"

# --- write -----------------------------------------------------------------
t_ours_w=$(timeit "$DIR/stbench" write -mb "$SIZE_MB" "${syncflag[@]}" "$ST")
rm -f "$DIR/dd.bin"
t_dd_w=$(timeit dd if=/dev/zero of="$DIR/dd.bin" bs=4M count=$((SIZE_MB / 4)) "${ddsync[@]}")
rm -f "$DIR/dd.bin"
# second round, to even out first-touch effects
rm -f "$ST"
t_ours_w2=$(timeit "$DIR/stbench" write -mb "$SIZE_MB" "${syncflag[@]}" "$ST")
t_dd_w2=$(timeit dd if=/dev/zero of="$DIR/dd.bin" bs=4M count=$((SIZE_MB / 4)) "${ddsync[@]}")
rm -f "$DIR/dd.bin"
t_ours_w=$(awk -v a="$t_ours_w" -v b="$t_ours_w2" 'BEGIN { print (a < b ? a : b) }')
t_dd_w=$(awk -v a="$t_dd_w" -v b="$t_dd_w2" 'BEGIN { print (a < b ? a : b) }')

# --- read (warm) -------------------------------------------------------------
cat "$ST" >/dev/null
best() { # best N CMD... -> fastest of N runs
	local n=$1 b= t
	shift
	for ((i = 0; i < n; i++)); do
		t=$(timeit "$@")
		b=$(awk -v a="$t" -v b="${b:-$t}" 'BEGIN { print (a < b ? a : b) }')
	done
	echo "$b"
}
t_cat=$(best 3 sh -c "cat '$ST' > /dev/null")
t_dd_r=$(best 3 dd if="$ST" of=/dev/null bs=4M)
t_open=$(best 3 "$DIR/stbench" read -mode open "$ST")
t_pread=$(best 3 "$DIR/stbench" read -mode pread "$ST")
t_mmap=$(best 3 "$DIR/stbench" read -mode mmap "$ST")

printf '\n%-34s %10s %8s\n' "operation" "seconds" "GB/s"
printf '%-34s %10s %8s\n' "write: stbench (ours)" "$t_ours_w" "$(gbps "$t_ours_w")"
printf '%-34s %10s %8s\n' "write: dd if=/dev/zero bs=4M" "$t_dd_w" "$(gbps "$t_dd_w")"
printf '%-34s %10s %8s\n' "read: cat > /dev/null" "$t_cat" "$(gbps "$t_cat")"
printf '%-34s %10s %8s\n' "read: dd of=/dev/null bs=4M" "$t_dd_r" "$(gbps "$t_dd_r")"
printf '%-34s %10s %8s\n' "read: Open+ReadTensor (ours)" "$t_open" "$(gbps "$t_open")"
printf '%-34s %10s %8s\n' "read: NewReader(os.File) (ours)" "$t_pread" "$(gbps "$t_pread")"
printf '%-34s %10s %8s\n' "read: Open+Bytes(mmap)+copy (ours)" "$t_mmap" "$(gbps "$t_mmap")"
echo
echo "ratios (ours speed / reference speed; >1 means ours is faster):"
echo "  write ours / dd          $(ratio "$t_ours_w" "$t_dd_w")"
echo "  read Open / cat          $(ratio "$t_open" "$t_cat")"
echo "  read Open / dd           $(ratio "$t_open" "$t_dd_r")"
echo "  read NewReader / dd      $(ratio "$t_pread" "$t_dd_r")"
echo "  read mmap+copy / dd      $(ratio "$t_mmap" "$t_dd_r")"
