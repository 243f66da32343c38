# Shared by blk.bench, net.bench and vsock.bench (after lib.sh): the stock guest with the virtio
# test programs (virtio-linux.cpio.gz: /bin/blk-bench, /bin/vsock-test) and one script, booted by
# bothy or by QEMU q35 (virtio-pci, like bothy on x86-64) with the same kernel, initramfs and
# command line. POSIX sh; runs inside the tier-3 test host.
PD=${PAYLOADS:-/payloads}
K=${GUEST_KERNEL:-/guest/vmlinuz}
I=${GUEST_INITRD:-/guest/initramfs.cpio.gz}
FRAG=$PD/virtio-linux.cpio.gz
VHOST=$PD/vsock-host
LIMIT=${BENCH_VIRTIO_TIMEOUT:-240}
# bothy's default command line without pci=off; reboot=k as in boot.bench.
VCMDLINE="console=ttyS0 reboot=k panic=-1 quiet"

# vb_need NAME: the programs must be there (else say so and end the bench: not a failure);
# sets have_qemu.
vb_need() {
	if [ ! -r "$FRAG" ] || [ ! -x "$VHOST" ]; then
		echo "bench $1: SKIP: no $FRAG or $VHOST (make payloads tools)"
		rm -rf "$WORK"
		exit 0
	fi
	have_qemu=1
	command -v "$QEMU" >/dev/null 2>&1 || { have_qemu=; echo "bench $1: no $QEMU: no QEMU figures"; }
}

# vb_initrd NAME: the guest script on stdin becomes /bin/NAME; $WORK/initrd is the stock
# initramfs + the programs + the script.
vb_initrd() {
	mkdir -p "$WORK/groot/bin"
	{ echo "#!/bin/sh"; cat; } >"$WORK/groot/bin/$1"
	chmod 0755 "$WORK/groot/bin/$1"
	(cd "$WORK/groot" && find . | cpio -o -H newc -R 0:0 2>/dev/null | gzip) >"$WORK/script.cpio.gz"
	cat "$I" "$FRAG" "$WORK/script.cpio.gz" >"$WORK/initrd"
	VSCRIPT=$1
}

# vm_start KIND OUT [device options...]: boots the guest running /bin/$VSCRIPT in the background
# ($vpid), console to OUT, stderr to OUT.err. KIND is bothy or qemu; the device options are that
# VMM's own. 2 vCPUs, 256 MiB, as boot.bench.
vm_start() {
	kind=$1 vout=$2
	shift 2
	if [ "$kind" = bothy ]; then
		"$BOTHY" run --kernel "$K" --initrd "$WORK/initrd" --cpus 2 --memory 256M \
			--cmdline "$VCMDLINE -- /bin/$VSCRIPT" "$@" </dev/null >"$vout" 2>"$vout.err" &
	else
		"$QEMU" -accel kvm -M q35 -cpu host -smp 2 -m 256M -nodefaults -no-user-config -display none \
			-no-reboot -serial stdio -kernel "$K" -initrd "$WORK/initrd" \
			-append "$VCMDLINE -- /bin/$VSCRIPT" "$@" </dev/null >"$vout" 2>"$vout.err" &
	fi
	vpid=$!
}

# vm_alive: the guest started by vm_start still runs (zombies do not count).
vm_alive() {
	[ -r "/proc/$vpid/stat" ] || return 1
	read -r st <"/proc/$vpid/stat" 2>/dev/null || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# vm_finish: waits up to $LIMIT s for it (then kills it); sets vstatus.
vm_finish() {
	n=0
	while vm_alive && [ $n -lt $((LIMIT * 5)) ]; do
		sleep 0.2
		n=$((n + 1))
	done
	vm_alive && kill -9 "$vpid" 2>/dev/null
	wait "$vpid"
	vstatus=$?
}

# console_wait FILE PATTERN SECS: until FILE has a line matching PATTERN, or the guest ended.
console_wait() {
	n=0
	while ! tr -d '\r' <"$1" 2>/dev/null | grep -q -- "$2"; do
		n=$((n + 1))
		[ $n -le $(($3 * 5)) ] && vm_alive || return 1
		sleep 0.2
	done
}

# mbs FILE WHO MODE: the MB/s of the "WHO: ok MODE ..." line of vsock-test / vsock-host in FILE.
mbs() { tr -d '\r' <"$1" | sed -n "s/^$2: ok $3 [0-9]* bytes in [0-9.]* s, \([0-9.]*\) MB\/s\$/\1/p" | head -n 1; }

# rec NAME VALUE: appends "VALUE 0" to $WORK/NAME for lib.sh's stats (nothing when empty).
rec() { [ -z "$2" ] || echo "$2 0" >>"$WORK/$1"; }

# vb_fail SAY WHAT KIND FILE: reports a failed run with the tail of its console and stderr.
vb_fail() {
	$1 "$3 run failed ($2): console: $(tr -d '\r' <"$4" 2>/dev/null | tail -4 | tr '\n' '|')" \
		"stderr: $(tail -3 "$4.err" 2>/dev/null | tr '\n' '|')"
}

# med NAME: the median of $WORK/NAME, or empty.
med() { [ -s "$WORK/$1" ] && stats "$1" | cut -d' ' -f1; }

# ratio_or_na A B
ratio_or_na() { if [ -n "$1" ] && [ -n "$2" ]; then ratio "$1" "$2"; else echo n/a; fi; }
