#!/usr/bin/env bash
# scripts/guest-assets.sh [x86_64|aarch64]: the default Linux guest that bothy's integration tests boot.
#
# Produces, idempotently, in ${BOTHY_CACHE:-~/.cache/bothy}/<arch>/guest/:
#   vmlinuz              the stock Debian bookworm cloud kernel (x86_64: a bzImage; aarch64: an
#                        uncompressed arm64 Image), unmodified
#   initramfs.cpio.gz    busybox-static + the kernel's virtio/vsock modules + a tiny /init
#                        (+ /lib/modules/extra/: modules the guest does not load at boot, for
#                        benchmarks to insmod: x86_64's brd, the RAM disk bench/blk reads as a ceiling)
#   kernel-version       the kernel package it came from
# and prints the two paths (KEY=VALUE lines: GUEST_KERNEL=..., GUEST_INITRD=...).
#
# The guest /init: mounts /proc, /sys, /dev; loads the virtio modules (quietly); with console=hvcN
# as the last console= on the command line, moves its stdin/stdout/stderr there; prints
# "BOTHY-GUEST-UP"; then, if the kernel command line had words after " -- " (the kernel hands them
# to init as arguments), runs them as one shell command and prints "BOTHY-CMD-EXIT <status>",
# otherwise starts an interactive shell on the console. Then "poweroff -f", or "reboot -f" /
# "halt -f" with bothy.after=reboot / bothy.after=halt on the kernel command line.
#
# Environment: BOTHY_CACHE; BOTHY_GUEST_KERNEL_PKG (a linux-image-* package name to use instead of
# the current dependency of linux-image-cloud-<debarch>); BOTHY_REBUILD=1 to rebuild anyway.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

arch=${1:-x86_64}
# guest_modules: the modules the guest loads, in this order where they exist (their dependencies
# are added). extra_modules: shipped in /lib/modules/extra/, loaded by nobody at boot.
extra_modules=
case $arch in
x86_64)
	suite=bookworm
	debarch=amd64
	meta=linux-image-cloud-amd64
	kernel_glob='boot/vmlinuz-*'
	# Built into the bookworm cloud kernel, so not listed: ext4 (also mounts ext2), jbd2, mbcache,
	# crc32c, af_packet, unix, hw_random (rng-core), the hvc core. virtio_mmio is for QEMU microvm
	# (its devices come through ACPI) and bothy's MMIO transport; crc32c_intel speeds up ext4 checksums.
	guest_modules="virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_mmio
virtio_blk failover net_failover virtio_net virtio_console virtio_rng
vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport crc32c_intel"
	extra_modules="brd"
	;;
aarch64)
	# The arm64 Image is what Debian installs as vmlinuz. Its devices are virtio-mmio (from the
	# device tree); ext4, hw_random and the hvc core are built in as on amd64.
	suite=bookworm
	debarch=arm64
	meta=linux-image-cloud-arm64
	kernel_glob='boot/vmlinuz-*'
	guest_modules="virtio virtio_ring virtio_mmio virtio_blk failover net_failover virtio_net
virtio_console virtio_rng vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport"
	;;
*)	die "unsupported architecture '$arch' (supported: x86_64, aarch64)" ;;
esac

out=$BOTHY_CACHE/$arch/guest
mkdir -p "$out"
t0=$(now)

need_pkgs busybox-static cpio xz-utils zstd dpkg

kpkg=${BOTHY_GUEST_KERNEL_PKG:-}
if [ -z "$kpkg" ] && ! kpkg=$(apt_kernel_dep "$suite" "$debarch" "$meta"); then
	# Offline with a usable cache: keep what we have rather than fail.
	if [ -s "$out/vmlinuz" ] && [ -s "$out/initramfs.cpio.gz" ]; then
		warn "cannot resolve $meta ($suite/$debarch); using the cached guest assets"
		echo "GUEST_KERNEL=$out/vmlinuz"
		echo "GUEST_INITRD=$out/initramfs.cpio.gz"
		exit 0
	fi
	die "cannot resolve the kernel package behind $meta ($suite/$debarch)"
fi
deb=$(apt_download "$suite" "$debarch" "$kpkg") || die "cannot download $kpkg"
busybox_static "$suite" "$debarch"

# The guest's /init. Its checksum is part of the cache key, as are the deb and the module list.
init_script=$(cat <<'EOF'
#!/bin/sh
# bothy guest init (busybox). See scripts/guest-assets.sh.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
while read -r m; do
	insmod "/lib/modules/$m.ko" 2>/dev/null
done </lib/modules/load-order
set -f
after=poweroff
con=
for w in $(cat /proc/cmdline); do
	case $w in
	bothy.after=*) after=${w#bothy.after=} ;;
	console=*) con=${w#console=}; con=${con%%,*} ;;
	esac
done
set +f
# console=hvc0 (virtio console): the kernel opened /dev/console before virtio_console was loaded,
# so init may have no console at all; take the last console= device now that it exists.
case $con in
hvc*)
	i=0
	while [ ! -c "/dev/$con" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -c "/dev/$con" ] && exec <"/dev/$con" >"/dev/$con" 2>&1
	;;
esac
echo BOTHY-GUEST-UP
if [ $# -gt 0 ]; then
	sh -c "$*"
	echo "BOTHY-CMD-EXIT $?"
else
	echo "bothy guest shell: 'exit' to $after"
	setsid cttyhack sh
fi
sync
case $after in
reboot)	reboot -f ;;
halt)	halt -f ;;
*)	poweroff -f ;;
esac
sleep 1
EOF
)

key=$(printf '%s\n%s\n%s\n%s\n%s\n' "${deb##*/}" "$guest_modules" "$init_script" "$BUSYBOX_ID" "$extra_modules" |
	sha256sum | cut -c1-16)
if [ "${BOTHY_REBUILD:-}" != 1 ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initramfs.cpio.gz" ] &&
	[ "$(cat "$out/.key" 2>/dev/null)" = "$key" ]; then
	log "guest assets up to date ($(cat "$out/kernel-version"))"
else
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/bothy-guest.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	log "unpacking ${deb##*/}"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "./$kernel_glob" './lib/modules/*' ||
		die "cannot unpack $deb"
	# shellcheck disable=SC2206
	kimgs=("$tmp"/$kernel_glob)
	[ -s "${kimgs[0]}" ] || die "no $kernel_glob in $deb"
	kver=${kimgs[0]##*/vmlinuz-}
	modroot=$tmp/lib/modules/$kver
	[ -d "$modroot" ] || die "no lib/modules/$kver in $deb"

	root=$tmp/root
	busybox_root "$root" "$BUSYBOX"
	# shellcheck disable=SC2086
	kmod_install "$modroot" "$root/lib/modules" $guest_modules
	# shellcheck disable=SC2086
	[ -z "$extra_modules" ] || kmod_install "$modroot" "$root/lib/modules/extra" $extra_modules
	printf '%s\n' "$init_script" >"$root/init"
	chmod 0755 "$root/init"
	cpio_pack "$root" "$tmp/initramfs.cpio.gz" gzip

	install -m 0644 "${kimgs[0]}" "$out/vmlinuz.new"
	mv "$out/vmlinuz.new" "$out/vmlinuz"
	mv "$tmp/initramfs.cpio.gz" "$out/initramfs.cpio.gz"
	echo "$kpkg ${deb##*/}" >"$out/kernel-version"
	echo "$key" >"$out/.key"
	log "built guest assets from $kpkg: modules $(tr '\n' ' ' <"$root/lib/modules/load-order")"
fi

log "guest assets ready in $(elapsed "$t0") s"
echo "GUEST_KERNEL=$out/vmlinuz"
echo "GUEST_INITRD=$out/initramfs.cpio.gz"
