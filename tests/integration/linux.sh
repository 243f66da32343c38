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

# boot_linux [bothy run options...] : runs the guest to completion; sets $status.
boot_linux() {
	"$BOTHY" run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --memory 256M "$@" \
		</dev/null >"$out" 2>"$err"
	status=$?
	echo "--- console (bothy exit status $status)"
	cat "$out"
	echo "--- stderr"
	cat "$err"
	echo "---"
}

# expect_line PATTERN: the console shows a line matching the grep pattern.
expect_line() {
	tr -d '\r' <"$out" | grep -q -- "$1" || fail "console has no line matching '$1'"
}

count_lines() { tr -d '\r' <"$out" | grep -c -- "$1"; }
