#!/usr/bin/env bash
# scripts/cross-sysroot.sh ARCH DIR: the target libraries a cross build of bothy links against,
# unpacked from Debian's own packages for ARCH into DIR (the Makefile's CROSS_SYSROOT).
#
# The cross compilers (gcc-<arch>-linux-gnu, scripts/deps.sh cross) bring the C library; bothy also
# links libjansson and libfdt. Their Debian packages for ARCH are downloaded through a private apt
# configuration and unpacked with dpkg-deb, so this machine's dpkg architectures and apt sources
# stay untouched. Idempotent: DIR/.key records the packages unpacked there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

arch=${1:?usage: $0 ARCH DIR}
dir=${2:?usage: $0 ARCH DIR}
case $arch in
aarch64) suite=bookworm debarch=arm64 ;;
*) die "no cross sysroot for '$arch' (aarch64)" ;;
esac
# -dev packages for headers and static archives, the runtime ones for the shared objects.
pkgs="libjansson-dev libjansson4 libfdt-dev libfdt1"

need_pkgs dpkg
# shellcheck disable=SC2086
debs=$(apt_download "$suite" "$debarch" $pkgs) || die "cannot download $pkgs ($suite/$debarch)"
key=$(printf '%s\n' $debs | xargs -n1 basename | sha256sum | cut -c1-16)
if [ "$(cat "$dir/.key" 2>/dev/null)" = "$key" ]; then
	exit 0
fi
rm -rf "$dir.tmp"
for d in $debs; do deb_extract "$d" "$dir.tmp"; done
rm -rf "$dir.tmp/usr/share" "$dir"
echo "$key" >"$dir.tmp/.key"
mkdir -p "$(dirname "$dir")"
mv "$dir.tmp" "$dir"
log "cross sysroot for $arch ($debarch): $dir"
