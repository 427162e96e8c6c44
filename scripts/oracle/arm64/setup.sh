#!/usr/bin/env bash
# Installs the arm64 MLX CPU oracle and prints its directory on stdout:
#   DIR/python  a linux/arm64 CPython 3.11 with the pinned aarch64 wheels of
#               mlx, mlx-cpu and numpy (requirements.txt), run under
#               qemu-aarch64-static; arguments as for python.
#   DIR/run     runs a linux/arm64 program under qemu with the same sysroot
#               (CGO_ENABLED=0 Go test binaries that import purego need its
#               ld.so and libc).
# The Python comes from Debian 12's arm64 packages (glibc 2.36, as the
# manylinux_2_35 wheels need), fetched with apt-get download and unpacked with
# dpkg -x into a private sysroot: nothing is installed for arm64, the host's
# Python is untouched. apt only needs arm64 in its lists; if it is missing this
# runs `dpkg --add-architecture arm64 && apt-get update` (root, once).
#
# DIR is ${MLXCONV_CACHE:-~/.cache/mlxconv}/oracle/arm64/KEY, KEY derived from
# requirements.txt and the package list below; an existing complete DIR is
# reused. Needs: qemu-aarch64-static (Debian: qemu-user-static), apt-get,
# dpkg, and a python with pip for `pip download` ($MLXCONV_ORACLE_PYTHON, the
# amd64 oracle venv's, or python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
req="$here/requirements.txt"
# Debian 12 (bookworm) arm64 packages unpacked into the sysroot: the
# interpreter, its standard library and the shared libraries that it, MLX and
# numpy load. Their versions are whatever bookworm ships (apt checks them
# against the signed archive) and are listed in DIR/manifest.txt.
debs=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib
  libc6 libgcc-s1 libstdc++6 zlib1g libexpat1 libffi8)
layout=1 # bump when the layout of DIR changes

cache="${MLXCONV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlxconv}"
base="${MLXCONV_ORACLE_ARM64:-$cache/oracle/arm64}"
key=$( (echo "layout $layout"; echo "debs ${debs[*]}"; grep -v '^#' "$req") | sha256sum | cut -c1-16)
dir="$base/$key"
if [ -f "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi

die() { echo "oracle-arm64: $*" >&2; exit 1; }
command -v qemu-aarch64-static >/dev/null ||
  die "qemu-aarch64-static not found (Debian/Ubuntu: apt-get install qemu-user-static)"
command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
  die "needs apt-get and dpkg (a Debian 12 or similar host) to fetch the arm64 Python"
pip_py="${MLXCONV_ORACLE_PYTHON:-python3}"
"$pip_py" -m pip --version >/dev/null 2>&1 || die "$pip_py has no pip (set MLXCONV_ORACLE_PYTHON)"

echo "oracle-arm64: installing the arm64 MLX CPU oracle into $dir (once)" >&2
start=$SECONDS
if ! apt-cache show libc6:arm64 >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "apt does not list arm64 packages; as root run: dpkg --add-architecture arm64 && apt-get update"
  echo "oracle-arm64: dpkg --add-architecture arm64 && apt-get update (apt's package lists only)" >&2
  dpkg --add-architecture arm64
  apt-get update -qq >&2
fi

mkdir -p "$base"
tmp=$(mktemp -d "$base/.install.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debs" "$tmp/wheels" "$tmp/sysroot" "$tmp/site-packages"
# apt's sandbox user cannot write into a root-owned mktemp directory.
(cd "$tmp/debs" && apt-get download -qq -o APT::Sandbox::User=root "${debs[@]/%/:arm64}" >&2)
for d in "$tmp"/debs/*.deb; do
  dpkg -x "$d" "$tmp/sysroot"
  dpkg-deb -W --showformat='deb ${Package}:${Architecture} ${Version}\n' "$d" >> "$tmp/manifest.txt"
done
"$pip_py" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
  --only-binary :all: --implementation cp --python-version 3.11 --abi cp311 \
  --platform manylinux_2_35_aarch64 --platform manylinux_2_28_aarch64 \
  --platform manylinux_2_27_aarch64 --platform manylinux_2_17_aarch64 \
  -r "$req" -d "$tmp/wheels" >&2
# Check the hashes again ourselves (pip did too): the wheels are the oracle.
n=0
while read -r name hash; do
  f=$(ls "$tmp/wheels/${name//-/_}-"*.whl 2>/dev/null || ls "$tmp/wheels/$name-"*.whl)
  echo "$hash  $f" | sha256sum -c --quiet - >&2 || die "sha256 mismatch: $f"
  echo "wheel $(basename "$f") sha256:$hash" >> "$tmp/manifest.txt"
  n=$((n + 1))
done < <(sed -n 's/^\([a-z0-9-]*\)==[^ ]* --hash=sha256:\([0-9a-f]*\).*/\1 \2/p' "$req")
[ "$n" = 3 ] || die "expected 3 pinned wheels in $req, found $n"
# A wheel without .data directories installs by unzipping into site-packages.
for f in "$tmp"/wheels/*.whl; do
  "$pip_py" -m zipfile -e "$f" "$tmp/site-packages"
done
rm -rf "$tmp/debs" "$tmp/wheels"

cat > "$tmp/python" <<'SH'
#!/bin/sh
# linux/arm64 CPython 3.11 with mlx, mlx-cpu and numpy (aarch64 wheels), run
# under qemu-aarch64-static; written by scripts/oracle/arm64/setup.sh.
d=$(cd "$(dirname "$0")" && pwd)
unset PYTHONHOME PYTHONSTARTUP
PYTHONPATH="$d/site-packages" PYTHONNOUSERSITE=1 \
  exec qemu-aarch64-static -L "$d/sysroot" "$d/sysroot/usr/bin/python3.11" "$@"
SH
cat > "$tmp/run" <<'SH'
#!/bin/sh
# Runs a linux/arm64 program under qemu-aarch64-static with this sysroot;
# written by scripts/oracle/arm64/setup.sh.
d=$(cd "$(dirname "$0")" && pwd)
exec qemu-aarch64-static -L "$d/sysroot" "$@"
SH
chmod +x "$tmp/python" "$tmp/run"
# Smoke test (and byte-compile what the oracle imports).
"$tmp/python" -c '
import platform, mlx.core as mx, numpy as np
assert platform.machine() == "aarch64", platform.machine()
mx.set_default_device(mx.cpu)
q = mx.quantize(mx.ones((1, 64)), group_size=64, bits=4)
mx.eval(q)
print(f"oracle-arm64: python {platform.python_version()} ({platform.machine()}), mlx {mx.__version__}, numpy {np.__version__}")
' >&2
touch "$tmp/.complete"
if [ -f "$dir/.complete" ]; then
  rm -rf "$tmp" # another run installed it meanwhile: keep theirs
else
  rm -rf "$dir"
  mv "$tmp" "$dir"
fi
trap - EXIT
sed 's/^/oracle-arm64:   /' "$dir/manifest.txt" >&2
echo "oracle-arm64: installed in $((SECONDS - start))s" >&2
echo "$dir"
