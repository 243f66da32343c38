# Shared by the x86-64 benchmarks (POSIX sh; they run inside the tier-3 test host).
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
TIMEIT=$BENCH_DIR/timeit
BOTHY=${BOTHY:-/bin/bothy}
QEMU=${QEMU:-qemu-system-x86_64}
WORK=$(mktemp -d /tmp/bench.XXXXXX)

# timed NAME CMD...: run CMD once, append "elapsed_ms status" to $WORK/NAME.
timed() {
	name=$1
	shift
	"$TIMEIT" "$@" 3>"$WORK/one" </dev/null >/dev/null 2>"$WORK/$name.err"
	sed 's/elapsed_ms=//; s/status=//' "$WORK/one" >>"$WORK/$name"
}

# stats NAME [DECIMALS]: "median min max n" of the first column of $WORK/NAME (default 1 decimal).
stats() {
	cut -d' ' -f1 "$WORK/$1" | sort -n | awk -v d="${2:-1}" '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan nan nan 0"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		f = "%." d "f"
		printf f " " f " " f " %d\n", m, v[1], v[NR], NR }'
}

# statuses NAME: the distinct exit statuses seen.
statuses() { cut -d' ' -f2 "$WORK/$1" | sort -u | tr '\n' ' '; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }

# rss_outside_guest PID GUEST_KIB: KiB resident in every mapping except guest RAM: the mapping named
# bothy-ram (memfd, or anonymous memory named through prctl) or, where the kernel cannot name
# anonymous memory, the one mapping of exactly the guest's size.
rss_outside_guest() {
	awk -v gkb="$2" '/^[0-9a-f]+-[0-9a-f]+ / { guest = ($0 ~ /bothy-ram/) }
	     /^Size:/ && $2 == gkb { guest = 1 }
	     /^Rss:/ && !guest { kb += $2 }
	     END { print kb + 0 }' "/proc/$1/smaps"
}
rss_total() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
