# Sourced by the linux-*.test scripts: boot the stock Debian guest kernel with bothy.
# POSIX sh (busybox inside the test host).

fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "$*"; exit 77; }

[ -e /dev/kvm ] || skip "no /dev/kvm"
[ -r "${GUEST_KERNEL:-}" ] || skip "no guest kernel (GUEST_KERNEL=${GUEST_KERNEL:-unset}; run scripts/guest-assets.sh)"
[ -r "${GUEST_INITRD:-}" ] || skip "no guest initramfs (GUEST_INITRD=${GUEST_INITRD:-unset})"
# The software KVM of some build machines cannot run stock Linux (docs/test-hosts.md).
if dmesg 2>/dev/null | grep -q 'kvm-pvm'; then
	skip "this /dev/kvm is kvm-pvm, which cannot boot stock Linux; runs in the test host instead"
fi

out=${TEST_TMPDIR:-/tmp}/console.out
err=${TEST_TMPDIR:-/tmp}/stderr.out

boot_linux_once() {
	"$BOTHY" run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --memory 256M "$@" \
		</dev/null >"$out" 2>"$err"
	status=$?
	echo "--- console (bothy exit status $status)"
	cat "$out"
	echo "--- stderr"
	cat "$err"
	echo "---"
}

# The emulated test host now and then corrupts a nested vCPU mid-boot (docs/testing.md): bothy
# then reports a triple fault, or a CR3 outside guest RAM. Neither says anything about bothy.
emulator_fault() {
	[ "$status" -ne 0 ] || return 1
	grep -q "CR3 is outside guest RAM" "$err" && return 0
	grep -q "stopped: triple fault" "$err" && grep -q "registers show the reset state" "$err"
}

# boot_linux [bothy run options...] : runs the guest to completion; sets $status. A boot that hit
# the emulator's fault is retried once, loudly, as linux-rm does; a second one stands.
boot_linux() {
	boot_linux_once "$@"
	if emulator_fault; then
		echo "NOTE (LOUD): this boot hit the emulated host's vCPU state corruption; retrying it once:"
		grep -E "===|RIP=|CR3|reset state" "$err" | sed 's/^/  | /'
		boot_linux_once "$@"
	fi
}

# expect_line PATTERN: the console shows a line matching the grep pattern.
expect_line() {
	tr -d '\r' <"$out" | grep -q -- "$1" || fail "console has no line matching '$1'"
}

count_lines() { tr -d '\r' <"$out" | grep -c -- "$1"; }
