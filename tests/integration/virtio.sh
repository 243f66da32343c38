# Sourced by the linux-virtio-*.test scripts (after linux.sh): the stock guest with virtio devices.
# POSIX sh (busybox inside the test host).
#
# Guest commands go into a script inside an extra initramfs fragment rather than onto the kernel
# command line: Linux hands init at most 32 arguments (more panics the kernel) and strips double
# quotes. The fragment also carries the test programs (virtio-linux.cpio.gz) when a test asks.

tmp=${TEST_TMPDIR:-/tmp}
groot=$tmp/groot
mkdir -p "$groot/bin" || fail "cannot create $groot"

# Kernel command line: bothy's default without pci=off (the devices are virtio-pci on x86-64).
VCMDLINE="console=ttyS0 panic=-1 quiet"

# need_programs: /bin/vsock-test and /bin/blk-bench in the guest (tests/tools/xfer.c,
# tests/guests/linux/blk-bench.c), and $VHOST, the host side of the transfers.
need_programs() {
	frag=${PAYLOADS:-}/virtio-linux.cpio.gz
	VHOST=${PAYLOADS:-}/vsock-host
	if [ ! -r "$frag" ] || [ ! -x "$VHOST" ]; then
		echo "######################################################################"
		echo "## SKIP: no $frag or $VHOST (make payloads tools builds them)"
		echo "######################################################################"
		skip "no $frag or $VHOST (build them: make payloads tools)"
	fi
	with_frag=$frag
}

# guest_script NAME: the script on stdin becomes /bin/NAME in the guest (sh, set -e not implied).
guest_script() {
	{ echo "#!/bin/sh"; cat; } >"$groot/bin/$1" || fail "cannot write $groot/bin/$1"
	chmod 0755 "$groot/bin/$1"
}

# pack_initrd: GUEST_INITRD := the stock initramfs + the test programs + the scripts.
pack_initrd() {
	initrd=$tmp/initramfs-virtio.cpio.gz
	(cd "$groot" && find . | cpio -o -H newc -R 0:0 2>/dev/null | gzip) >"$tmp/scripts.cpio.gz" ||
		fail "cannot pack the guest scripts"
	cat "$BASE_INITRD" ${with_frag:-} "$tmp/scripts.cpio.gz" >"$initrd" || fail "cannot write $initrd"
	GUEST_INITRD=$initrd
}
BASE_INITRD=$GUEST_INITRD
with_frag=

# Seconds one boot may take before the test gives up on it, prints its console and fails (the
# suite's own timeout would kill the test without a word).
VM_LIMIT=${BOTHY_VIRTIO_VM_TIMEOUT:-120}

# run_guest SCRIPT [bothy run options...]: boots to completion running /bin/SCRIPT; sets $status.
run_guest() {
	start_guest "$@"
	finish_guest "$VM_LIMIT"
}

# start_guest SCRIPT [bothy run options...]: the same in the background ($bpid); see finish_guest.
start_guest() {
	s=$1
	shift
	"$BOTHY" run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --memory 256M \
		--cmdline "$VCMDLINE -- /bin/$s" "$@" </dev/null >"$out" 2>"$err" &
	bpid=$!
}

# alive: the background guest still runs (a zombie does not count: sh reaps only in wait).
alive() {
	[ -n "${bpid:-}" ] && [ -r "/proc/$bpid/stat" ] || return 1
	read -r st <"/proc/$bpid/stat" 2>/dev/null || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# finish_guest [SECS]: waits for the background guest (default 120 s, then kills it); sets $status
# and prints its console like boot_linux.
finish_guest() {
	n=0
	while alive && [ $n -lt $((${1:-120} * 5)) ]; do
		sleep 0.2
		n=$((n + 1))
	done
	hung=
	if alive; then
		kill -9 "$bpid" 2>/dev/null
		hung=1
	fi
	wait "$bpid"
	status=$?
	bpid=
	echo "--- console (bothy exit status $status)"
	cat "$out"
	echo "--- stderr"
	cat "$err"
	echo "---"
	[ -z "$hung" ] || fail "the guest was still running after ${1:-120}s (killed); console above"
}

# wait_for FILE PATTERN SECS: until FILE has a line matching PATTERN (0), or SECS pass or the
# background guest ends first (1).
wait_for() {
	n=0
	while :; do
		tr -d '\r' <"$1" 2>/dev/null | grep -q -- "$2" && return 0
		[ $n -lt $(($3 * 5)) ] || return 1
		if [ -n "${bpid:-}" ] && ! alive; then
			sleep 0.3
			tr -d '\r' <"$1" 2>/dev/null | grep -q -- "$2"
			return
		fi
		sleep 0.2
		n=$((n + 1))
	done
}

# expect_ok_exit WHAT: the guest powered off (status 0) after its script exited 0.
expect_ok_exit() {
	[ "$status" -eq 0 ] || fail "$1: expected bothy exit status 0 after poweroff, got $status"
	expect_line "BOTHY-GUEST-UP"
	expect_line "BOTHY-CMD-EXIT 0"
}

# expect_refused WHAT PATTERN BOTHY-ARGS...: bothy must refuse to start: a non-zero status that is
# not a crash, no guest, and a stderr line matching PATTERN (grep -i).
expect_refused() {
	what=$1 pat=$2
	shift 2
	"$BOTHY" run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --memory 256M \
		--cmdline "$VCMDLINE -- true" "$@" </dev/null >"$out" 2>"$err" &
	bpid=$!
	n=0
	while alive && [ $n -lt 300 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	alive && kill -9 "$bpid" 2>/dev/null
	wait "$bpid"
	status=$?
	bpid=
	echo "--- $what: bothy exit status $status; stderr:"
	cat "$err"
	! tr -d '\r' <"$out" | grep -q BOTHY-GUEST-UP || fail "$what: the guest booted, expected bothy to refuse"
	[ "$status" -ne 0 ] || fail "$what: bothy started the guest (status 0), expected it to refuse"
	[ "$status" -lt 128 ] || fail "$what: bothy died with status $status (a signal, or killed after 60s), expected an error exit"
	grep -qi -- "$pat" "$err" || fail "$what: stderr has no message matching '$pat'"
}
