# Sourced by the rm-*.test scripts (and nokvm-rm-*, payload-rm-*): start a private bothyd, drive it
# with `bothy vm`, and check what an operator would check. POSIX sh (busybox inside the test hosts).
#
# From run-suite.sh: $BOTHY, $PAYLOADS, $TEST_TMPDIR.

rm_tmp=${TEST_TMPDIR:-/tmp}/rm
# The socket lives in a directory of its own that anyone may traverse: the tests act as a second
# user too (runas), and TEST_TMPDIR and its parents are private to root.
sock_dir=$(mktemp -d /tmp/bothy-rm.XXXXXX) || { echo "FAIL: mktemp"; exit 1; }
chmod 711 "$sock_dir"
sock=$sock_dir/bothyd.sock
rm_log=$rm_tmp/bothyd.log
rm_pid=
mkdir -p "$rm_tmp"

fail() {
	echo "--- bothyd log (last 40 lines):"
	[ -f "$rm_log" ] && tail -40 "$rm_log" | sed 's/^/  | /'
	for f in "$rm_tmp"/vm-*.log; do
		[ -f "$f" ] || continue
		echo "--- $f:"
		tail -15 "$f" | sed 's/^/  | /'
	done
	echo "FAIL: $*"
	exit 1
}
skip() { echo "$*"; exit 77; }

[ -x "${BOTHY:-}" ] || fail "BOTHY is not set to the bothy binary"

# tool NAME: the path of a test tool built beside the payloads (rm-poke, runas).
tool() {
	t=${PAYLOADS:-}/$1
	[ -x "$t" ] || fail "no test tool $t (build: make tools)"
	echo "$t"
}

# rm_start [bothyd options]: starts bothyd on $sock in the background and waits until it answers
# (a stale socket from an earlier bothyd may be there before).
rm_start() {
	"$BOTHY" daemon --socket "$sock" --state-dir "$rm_tmp" "$@" >>"$rm_log" 2>&1 &
	rm_pid=$!
	i=0
	until "$BOTHY" vm --socket "$sock" version >/dev/null 2>&1; do
		kill -0 "$rm_pid" 2>/dev/null || fail "bothyd exited at start"
		i=$((i + 1))
		[ "$i" -gt 100 ] && fail "bothyd did not answer on $sock within 10 s"
		sleep 0.1
	done
}

# rm_stop: SIGTERM to bothyd, which stops its VMs and exits 0.
rm_stop() {
	[ -n "$rm_pid" ] || return 0
	kill -TERM "$rm_pid" 2>/dev/null
	wait "$rm_pid"
	st=$?
	rm_pid=
	[ "$st" = 0 ] || fail "bothyd exited with status $st after SIGTERM"
}

rm_cleanup() {
	[ -n "$rm_pid" ] && kill -KILL "$rm_pid" 2>/dev/null
	[ -n "${watch_pid:-}" ] && kill "$watch_pid" 2>/dev/null
	rm -rf "$sock_dir"
	return 0
}
trap rm_cleanup EXIT

# vm ARGS...: `bothy vm` on our socket; output in $vm_out, status in $vm_status.
vm() {
	vm_out=$("$BOTHY" vm --socket "$sock" "$@" 2>&1)
	vm_status=$?
}

# vm_ok ARGS...: vm, failing the test unless the command succeeds.
vm_ok() {
	vm "$@"
	[ "$vm_status" = 0 ] || fail "bothy vm $* exited $vm_status: $vm_out"
}

# vm_refused STATUS ERROR ARGS...: the command fails with exit status STATUS and ERROR in its message.
vm_refused() {
	want_status=$1
	want_err=$2
	shift 2
	vm "$@"
	[ "$vm_status" = "$want_status" ] || fail "bothy vm $*: exit $vm_status (expected $want_status): $vm_out"
	case $vm_out in
	*"$want_err"*) ;;
	*) fail "bothy vm $*: no '$want_err' in: $vm_out" ;;
	esac
}

# vm_create ARGS...: creates a VM, sets $vmid.
vm_create() {
	vm_ok create "$@"
	vmid=$(printf '%s\n' "$vm_out" | sed -n 's/^created VM \([0-9][0-9]*\).*/\1/p')
	[ -n "$vmid" ] || fail "bothy vm create printed no VM id: $vm_out"
}

# vm_state ID: the state's name (from bothy vm status).
vm_state() {
	"$BOTHY" vm --socket "$sock" status "$1" 2>/dev/null | sed -n "s/^ *state  *\([A-Z_]*\).*/\1/p"
}

# expect_state ID STATE [SECONDS]: waits until VM ID is in STATE.
expect_state() {
	n=$(( ${3:-10} * 10 ))
	i=0
	while :; do
		s=$(vm_state "$1")
		[ "$s" = "$2" ] && return 0
		i=$((i + 1))
		[ "$i" -gt "$n" ] && fail "VM $1 is in state '$s', expected $2"
		sleep 0.1
	done
}

# watch_start [ID]: records notifications in $rm_tmp/watch.out from now on.
watch_start() {
	"$BOTHY" vm --socket "$sock" watch "$@" >"$rm_tmp/watch.out" 2>&1 &
	watch_pid=$!
	sleep 0.3
}

# watch_wait TEXT [SECONDS [COUNT]]: waits until the watch output has COUNT (default 1) lines
# containing TEXT.
watch_wait() {
	n=$(( ${2:-10} * 10 ))
	i=0
	until [ "$(grep -Fc -- "$1" "$rm_tmp/watch.out")" -ge "${3:-1}" ]; do
		i=$((i + 1))
		[ "$i" -gt "$n" ] && fail "no notification '$1'; watch saw:
$(sed 's/^/  | /' "$rm_tmp/watch.out")
consoles of the VMs (last lines):
$(rm_consoles)"
		sleep 0.1
	done
}

# rm_consoles: the last console lines of every VM bothyd holds (for failure reports).
rm_consoles() {
	for id in $("$BOTHY" vm --socket "$sock" list 2>/dev/null | awk 'NR > 1 { print $1 }'); do
		echo "  --- VM $id:"
		timeout 3 "$BOTHY" vm --socket "$sock" console "$id" </dev/null 2>&1 | tr -d '\r' | tail -15 |
			sed 's/^/  | /'
	done
}

# fd_count PID, rss_kb PID: a process's open fds and resident memory.
fd_count() { ls "/proc/$1/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
