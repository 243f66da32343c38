#!/bin/sh
# qemu-check.sh PAYLOAD_DIR: boot every x86-64 test payload under QEMU and check
# its output and exit status, on each machine type. Shows that the payloads need
# nothing bothy-specific, and gives QEMU's side of the benchmarks. POSIX sh.
#
#   QEMU=qemu-system-x86_64  QEMU_ACCEL=tcg|kvm  QEMU_MACHINES="microvm q35"  QEMU_TIMEOUT=60
#
# QEMU's isa-debug-exit turns a write of V into exit status (V << 1) | 1.
# Exit status: 0 all passed, 1 something failed, 77 QEMU is missing.
set -u

dir=${1:?usage: qemu-check.sh PAYLOAD_DIR}
QEMU=${QEMU:-qemu-system-x86_64}
ACCEL=${QEMU_ACCEL:-tcg}
MACHINES=${QEMU_MACHINES:-microvm q35}
TIMEOUT=${QEMU_TIMEOUT:-60}

if ! command -v "$QEMU" >/dev/null 2>&1; then
	echo "SKIP: $QEMU is not installed"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

passed=0
failed=0

machine_args() {
	case $1 in
	microvm) echo "-M microvm,acpi=on" ;;
	# SeaBIOS draws its boot menu on the serial port when there is no VGA; keep it quiet.
	q35|pc) echo "-M $1 -fw_cfg name=etc/sercon-port,string=0" ;;
	*) echo "-M $1" ;;
	esac
}

now() { date +%s.%N 2>/dev/null || date +%s; }

# check MACHINE LABEL PAYLOAD WANT_V "QEMU ARGS" APPEND EXPECTED_LINES
#   WANT_V: the value the payload writes to port 0xf4, or "reset" (triple fault: QEMU
#   exits 0 because of -no-reboot). EXPECTED_LINES: newline-separated, compared as a
#   sorted set with the serial output (AP lines come in any order).
check() {
	m=$1 label=$2 elf=$dir/$3.elf want=$4 extra=$5 append=$6 lines=$7
	if [ "$want" = reset ]; then want_status=0; else want_status=$(( ((want << 1) | 1) & 255 )); fi
	t0=$(now)
	# shellcheck disable=SC2046,SC2086
	timeout "$TIMEOUT" "$QEMU" $(machine_args "$m") -accel "$ACCEL" -nodefaults -no-user-config \
		-nographic -serial stdio -no-reboot -m 64 \
		-device isa-debug-exit,iobase=0xf4,iosize=1 -d cpu_reset -D "$tmp/log" \
		$extra -kernel "$elf" -append "$append" </dev/null >"$tmp/raw" 2>"$tmp/err"
	status=$?
	secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
	tr -d '\r' <"$tmp/raw" | sort >"$tmp/got"
	printf '%s\n' "$lines" | sort >"$tmp/want"
	why=
	[ "$status" = "$want_status" ] || why="exit status $status, expected $want_status"
	cmp -s "$tmp/got" "$tmp/want" || why="${why:+$why; }serial output differs"
	if [ "$want" = reset ] && [ "$ACCEL" = tcg ] && ! grep -q 'Triple fault' "$tmp/log" 2>/dev/null; then
		why="${why:+$why; }no \"Triple fault\" in QEMU's cpu_reset log"
	fi
	if [ -z "$why" ]; then
		passed=$((passed + 1))
		printf 'PASS %-8s %-22s %ss\n' "$m" "$label" "$secs"
	else
		failed=$((failed + 1))
		printf 'FAIL %-8s %-22s %s\n' "$m" "$label" "$why"
		echo "  command: $QEMU $(machine_args "$m") -accel $ACCEL ... $extra -kernel $elf -append '$append'"
		echo "  expected (sorted):"; sed 's/^/    | /' "$tmp/want"
		echo "  got (sorted):"; sed 's/^/    | /' "$tmp/got"
		[ -s "$tmp/err" ] && { echo "  stderr:"; sed 's/^/    | /' "$tmp/err"; }
	fi
}

# symbol NAME: the address of NAME in triplefault.elf, in hex without leading zeros.
symbol() {
	nm "$dir/triplefault.elf" | awk -v s="$1" '$3 == s { sub(/^0+/, "", $1); print $1 }'
}

smp_lines() {
	n=$1 i=0
	echo "cpus in MADT: $n"
	while [ "$i" -lt "$n" ]; do echo "cpu $i up"; i=$((i + 1)); done
	echo "cpus up: $n"
}

for m in $MACHINES; do
	check "$m" hello hello 0 "" "hello from qemu-check" "bothy payload: hello
cmdline: hello from qemu-check"
	check "$m" exitcode exitcode 42 "" "" "exitcode: 42"
	check "$m" "exitcode exit=7" exitcode 7 "" "exit=7" "exitcode: 7"
	check "$m" "exitcode exit=0x64" exitcode 100 "" "a=1 exit=0x64 b=2" "exitcode: 100"
	for n in 1 2 4; do
		check "$m" "smp -smp $n" smp "$n" "-smp $n" "" "$(smp_lines "$n")"
	done
	check "$m" triplefault triplefault reset "" "" "triplefault: empty IDT, ud2 at 0x$(symbol triplefault_ud2)"
	check "$m" "triplefault fault=de" triplefault reset "" "fault=de" \
		"triplefault: empty IDT, div at 0x$(symbol triplefault_de)"
	check "$m" "portio n=1000" portio 0 "" "n=1000" "portio done"
	check "$m" badio badio 0 "" "" "badio ok"
	# QEMU has no hypercall gate: a call is an ignored port write and every register comes back as
	# it went in (bothy's answers are checked by tests/integration/payload-hcall.test).
	check "$m" "hcall deny" hcall 0 "" "deny=0x86001003" "deny 0x86001003: rax=86001003"
	check "$m" "hcall forward" hcall 0 "" "forward=0x86001005" \
		"forward 0x86001005: rax=86001005 rbx=11111111 rcx=22222222 rdx=33333333"
done

echo "qemu-check ($QEMU, accel $ACCEL): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
