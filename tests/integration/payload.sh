# Sourced by the payload-*.test scripts: boot bothy's purpose-built x86-64 guests
# (tests/guests/x86_64, docs/test-guests.md) and check what a user would check:
# the exit status and the exact console lines. POSIX sh (busybox inside the test host).
#
# From run-suite.sh: $BOTHY, $PAYLOADS, $TEST_TMPDIR.

tmp=${TEST_TMPDIR:-/tmp}
out=$tmp/payload-console.out
err=$tmp/payload-stderr.out
last_cmd=
status=

# fail MESSAGE: show the last bothy run, then fail with MESSAGE as the last line.
fail() {
	if [ -n "$last_cmd" ]; then
		echo "--- command: $last_cmd"
		echo "--- exit status: $status"
		echo "--- console:"
		[ -f "$out" ] && sed 's/^/  | /' "$out"
		echo "--- stderr:"
		[ -f "$err" ] && sed 's/^/  | /' "$err"
		echo "---"
	fi
	echo "FAIL: $*"
	exit 1
}
skip() { echo "$*"; exit 77; }

[ -n "${BOTHY:-}" ] || fail "BOTHY is not set (the bothy binary; tests/integration/run-suite.sh sets it)"
[ -x "$BOTHY" ] || fail "BOTHY=$BOTHY is not an executable (build it: make)"
case $(uname -m) in
x86_64) ;;
*) skip "the payloads of tests/guests/x86_64 are x86-64 guests; this host is $(uname -m)" ;;
esac
[ -n "${PAYLOADS:-}" ] || fail "PAYLOADS is not set (the directory of the payload .elf files)"

# need_kvm: skip unless this machine has a usable /dev/kvm.
need_kvm() {
	[ -e /dev/kvm ] || skip "no /dev/kvm on this machine"
	{ [ -r /dev/kvm ] && [ -w /dev/kvm ]; } || skip "/dev/kvm is not readable and writable by $(id -un 2>/dev/null || id -u)"
}

# need_payload NAME: fails unless $PAYLOADS/NAME.elf was built.
need_payload() {
	[ -r "$PAYLOADS/$1.elf" ] ||
		fail "no payload $PAYLOADS/$1.elf (build: make payloads, or make -C tests/guests/x86_64 O=DIR)"
}

# bothy_run ARGS...: runs `$BOTHY ARGS` with stdin from /dev/null; sets $status, leaves the
# console (carriage returns removed) in $out and stderr in $err.
bothy_run() {
	last_cmd="bothy $*"
	"$BOTHY" "$@" </dev/null >"$out.raw" 2>"$err"
	status=$?
	tr -d '\r' <"$out.raw" >"$out"
	rm -f "$out.raw"
}

# run_payload NAME [bothy run options...]: boots payload NAME the usual way (16 MiB,
# console on stdio, --debug-exit); later options override the defaults.
run_payload() {
	need_payload "$1"
	elf=$PAYLOADS/$1.elf
	shift
	bothy_run run --kernel "$elf" --debug-exit --console stdio --memory 16M "$@"
}

# expect_status N [WHAT]
expect_status() {
	[ "$status" = "$1" ] || fail "${2:-exit status}: expected $1, got $status"
}

# expect_console TEXT: the console output is exactly TEXT (lines separated by newlines).
expect_console() {
	[ "$(cat "$out")" = "$1" ] || fail "console output differs; expected exactly:
$(printf '%s\n' "$1" | sed 's/^/  | /')"
}

# expect_console_set TEXT: the console has exactly the lines of TEXT, in any order.
expect_console_set() {
	got=$(sort "$out")
	want=$(printf '%s\n' "$1" | sort)
	[ "$got" = "$want" ] || fail "console lines differ (order aside); expected:
$(printf '%s\n' "$want" | sed 's/^/  | /')"
}

# expect_line LINE: the console has a line exactly equal to LINE.
expect_line() {
	grep -Fxq -- "$1" "$out" || fail "console has no line '$1'"
}

# expect_stderr ERE WHAT: stderr matches the extended regular expression ERE (case-insensitive).
expect_stderr() {
	grep -Eiq -- "$1" "$err" || fail "stderr does not $2 (no match for /$1/)"
}
