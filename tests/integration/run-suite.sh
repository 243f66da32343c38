#!/bin/sh
# tests/integration/run-suite.sh [DIR]: run every executable DIR/*.test (default: this script's
# directory), sorted, each with a timeout, and print one result line per test:
#
#   @@RESULT <name> <pass|fail|skip> <one-line reason>
#
# A test's exit status decides: 0 pass, 77 skip (its last output line is the reason), anything else
# fail (its last 30 output lines are printed). POSIX sh: it runs under busybox inside the tier-3 test
# hosts and directly on any machine with /dev/kvm.
#
# Tests get in their environment (defaults in brackets; inside a test host the first ones exist):
#   BOTHY         the bothy binary       [/bin/bothy, else build/x86_64-static/bothy, build/x86_64/bothy]
#   GUEST_KERNEL  stock guest kernel     [/guest/vmlinuz, else $BOTHY_CACHE/<arch>/guest/vmlinuz]
#   GUEST_INITRD  guest initramfs        [/guest/initramfs.cpio.gz, else $BOTHY_CACHE/<arch>/guest/...]
#   PAYLOADS      purpose-built guests   [/payloads, else build/<arch>/payloads]
#   TEST_TMPDIR   an empty scratch directory, removed afterwards
# Knobs: BOTHY_TEST_TIMEOUT (seconds per test, default 300), BOTHY_SUITE_VERBOSE=1 (print the whole
# output of every test), BOTHY_SUITE_FILTER (only tests whose name contains this string).

dir=${1:-$(dirname "$0")}
[ -d "$dir" ] || { echo "run-suite: no directory $dir" >&2; exit 2; }
dir=$(cd "$dir" && pwd)
repo=$(cd "$(dirname "$0")/../.." 2>/dev/null && pwd)
arch=$(uname -m)
cache=${BOTHY_CACHE:-${HOME:-/root}/.cache/bothy}
limit=${BOTHY_TEST_TIMEOUT:-300}

# pick FALLBACK CANDIDATE...: the first candidate that exists, else FALLBACK.
pick() {
	fallback=$1
	shift
	for f in "$@"; do
		[ -e "$f" ] && { echo "$f"; return 0; }
	done
	echo "$fallback"
}

: "${BOTHY:=$(pick "$repo/build/$arch-static/bothy" /bin/bothy "$repo/build/$arch-static/bothy" \
	"$repo/build/$arch/bothy")}"
: "${GUEST_KERNEL:=$(pick "$cache/$arch/guest/vmlinuz" /guest/vmlinuz "$cache/$arch/guest/vmlinuz")}"
: "${GUEST_INITRD:=$(pick "$cache/$arch/guest/initramfs.cpio.gz" /guest/initramfs.cpio.gz \
	"$cache/$arch/guest/initramfs.cpio.gz")}"
: "${PAYLOADS:=$(pick "$repo/build/$arch/payloads" /payloads "$repo/build/$arch/payloads")}"
export BOTHY GUEST_KERNEL GUEST_INITRD PAYLOADS

uptime_s() { cut -d' ' -f1 /proc/uptime; }
# one_line TEXT: TEXT without control characters, on one line, at most 200 characters.
one_line() { printf '%s\n' "$1" | tr '\r\n\t' '   ' | sed 's/[^ -~]//g; s/ *$//' | cut -c1-200; }

# The test runs in its own session (setsid); on timeout the whole session is killed, so a hung
# VMM started by the test does not outlive it.
session_pids() {
	for s in /proc/[0-9]*/stat; do
		read -r line <"$s" 2>/dev/null || continue
		rest=${line##*) }
		set -- $rest
		[ "${4:-}" = "$sid" ] && { p=${s#/proc/}; echo "${p%/stat}"; }
	done
}
kill_session() {
	sid=$1
	pids=$(session_pids)
	[ -n "$pids" ] && kill -TERM $pids 2>/dev/null
	sleep 2
	pids=$(session_pids)
	[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
}

echo "run-suite: $dir (BOTHY=$BOTHY GUEST_KERNEL=$GUEST_KERNEL PAYLOADS=$PAYLOADS, timeout ${limit}s)"
[ -e /dev/kvm ] || echo "run-suite: WARNING: no /dev/kvm on this machine; tests that need KVM will skip"
[ -x "$BOTHY" ] || echo "run-suite: WARNING: $BOTHY is not an executable (build it: make STATIC=1)"
[ -e "$GUEST_KERNEL" ] || echo "run-suite: WARNING: no guest kernel $GUEST_KERNEL (run scripts/guest-assets.sh)"

npass=0 nfail=0 nskip=0 ntests=0
tmproot=$(mktemp -d "${TMPDIR:-/tmp}/bothy-suite.XXXXXX") || exit 2
trap 'rm -rf "$tmproot"' EXIT INT TERM

for t in "$dir"/*.test; do
	[ -f "$t" ] || continue
	name=${t##*/}
	name=${name%.test}
	case $name in *"${BOTHY_SUITE_FILTER:-}"*) ;; *) continue ;; esac
	ntests=$((ntests + 1))
	if [ ! -x "$t" ]; then
		echo "@@RESULT $name skip $name.test is not executable"
		nskip=$((nskip + 1))
		continue
	fi
	out=$tmproot/$name.out
	TEST_TMPDIR=$tmproot/$name.tmp
	mkdir -p "$TEST_TMPDIR"
	export TEST_TMPDIR
	echo "=== $name"
	t0=$(uptime_s)
	(cd "$dir" && exec setsid "$t") >"$out" 2>&1 </dev/null &
	pid=$!
	rm -f "$tmproot/timedout"
	(
		exec >/dev/null 2>&1
		i=0
		while [ "$i" -lt "$limit" ]; do
			sleep 1
			kill -0 "$pid" 2>/dev/null || exit 0
			i=$((i + 1))
		done
		: >"$tmproot/timedout"
		kill_session "$pid"
	) &
	watcher=$!
	{ wait "$pid"; st=$?; } 2>/dev/null
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	secs=$(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.2f", b - a }')
	[ "${BOTHY_SUITE_VERBOSE:-0}" = 1 ] && sed 's/^/    /' "$out"
	if [ -e "$tmproot/timedout" ]; then
		tail -n 30 "$out" | sed 's/^/    /'
		echo "@@RESULT $name fail timed out after ${limit}s"
		nfail=$((nfail + 1))
	elif [ "$st" -eq 0 ]; then
		echo "@@RESULT $name pass ok in ${secs}s"
		npass=$((npass + 1))
	elif [ "$st" -eq 77 ]; then
		reason=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1)
		echo "@@RESULT $name skip $(one_line "${reason:-no reason given}")"
		nskip=$((nskip + 1))
	else
		tail -n 30 "$out" | sed 's/^/    /'
		last=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1)
		echo "@@RESULT $name fail exit status $st after ${secs}s: $(one_line "$last")"
		nfail=$((nfail + 1))
	fi
	rm -rf "$TEST_TMPDIR"
done

if [ "$ntests" -eq 0 ]; then
	echo "@@RESULT integration-suite skip no *.test files in $dir"
fi
echo "run-suite: $ntests tests: $npass passed, $nfail failed, $nskip skipped"
[ "$nfail" -eq 0 ]
