#!/usr/bin/env bash
# scripts/host-shell.sh [--arch x86_64] [--bothy PATH] [--no-qemu]: boot a tier-3 test host (real
# upstream KVM under QEMU emulation) with a shell on this terminal, so bothy can be tried on a
# machine without usable KVM:
#
#   bothy run --kernel /guest/vmlinuz --initrd /guest/initramfs.cpio.gz
#
# The host has /bin/bothy (default: build/<arch>-static/bothy if built), the default guest in
# /guest, payloads in /payloads, the integration tests in /suite, and a QEMU for comparison in
# /usr/bin (leave it out with --no-qemu). Ctrl-A X quits QEMU; 'exit' powers the host off.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/lib.sh"

arch=x86_64 bothy='' qemu=1
while [ $# -gt 0 ]; do
	case $1 in
	--arch)		arch=${2:?}; shift 2 ;;
	--bothy)	bothy=${2:?}; shift 2 ;;
	--no-qemu)	qemu=; shift ;;
	-h|--help)	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*)		die "unknown argument '$1' (see --help)" ;;
	esac
done

args=(--arch "$arch" --shell)
if [ -z "$bothy" ]; then
	for b in "$repo/build/$arch-static/bothy" "$repo/build/$arch/bothy"; do
		[ -x "$b" ] && { bothy=$b; break; }
	done
fi
if [ -n "$bothy" ]; then
	args+=(--bothy "$bothy")
else
	warn "no bothy binary found (build it: make STATIC=1); the host will have no /bin/bothy"
fi
[ -d "$repo/build/$arch/payloads" ] && args+=(--payloads "$repo/build/$arch/payloads")
[ -d "$repo/tests/integration" ] && args+=(--suite "$repo/tests/integration")
[ -n "$qemu" ] && args+=(--with-qemu)

cat >&2 <<EOF
== bothy test host shell ($arch) =========================================
Booting an emulated $arch machine with real KVM (takes a few seconds).
Inside it:
  bothy run --kernel /guest/vmlinuz --initrd /guest/initramfs.cpio.gz
  /usr/local/bin/run-suite.sh /suite        # the integration tests
Ctrl-A X quits QEMU at any time; 'exit' powers the host off.
==========================================================================
EOF
exec "$repo/tests/host/run-host.sh" "${args[@]}"
