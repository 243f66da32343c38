#!/usr/bin/env bash
# scripts/run-default.sh (`make run`): build bothy, fetch the default guest (stock Debian kernel +
# busybox initramfs) and boot it to a shell on this terminal. Ctrl-A x or `poweroff` ends it.
# On a machine whose /dev/kvm cannot boot Linux, it says so and offers the emulated test host,
# where bothy runs on real upstream KVM.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

arch=$(uname -m)
scripts/deps.sh build
make -s -j"$(nproc)" all
scripts/guest-assets.sh "$arch" >/dev/null
guest=$BOTHY_CACHE/$arch/guest

why=""
if [ ! -e /dev/kvm ]; then
	why="this machine has no /dev/kvm"
elif dmesg 2>/dev/null | grep -q 'kvm-pvm' || [ -d /sys/module/kvm_pvm ]; then
	why="this machine's /dev/kvm is kvm-pvm, a software KVM that cannot run stock Linux kernels"
fi
if [ -z "$why" ]; then
	echo "Booting $guest/vmlinuz with bothy (Ctrl-A x to quit, or type poweroff)..."
	exec "build/$arch/bothy" run --kernel "$guest/vmlinuz" --initrd "$guest/initramfs.cpio.gz" \
		--memory 512M --cpus 2 "$@"
fi

echo "bothy: $why."
echo "It can run inside an emulated x86-64 host with real upstream KVM instead (slower: the host is"
echo "software-emulated). Inside it, type:"
echo "    bothy run --kernel /guest/vmlinuz --initrd /guest/initramfs.cpio.gz --cpus 2"
if [ -t 0 ]; then
	read -r -p "Start the emulated host now? [Y/n] " answer
	case "${answer:-y}" in
	[yY]*) make -s -j"$(nproc)" STATIC=1 all && exec scripts/host-shell.sh ;;
	*) exit 1 ;;
	esac
fi
echo "(not a terminal: run scripts/host-shell.sh yourself)"
exit 1
