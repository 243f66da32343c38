#!/usr/bin/env bash
# bench/run.sh (`make bench`): build, then run the benchmarks of bench/<arch>/ inside the tier-3 test
# host (real upstream KVM, QEMU beside bothy) and print their figures. Local /dev/kvm figures too,
# when this machine has a usable one. Knob: BENCH_RUNS (runs per side).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
arch=$(uname -m)
scripts/deps.sh build
make -s -j"$(nproc)" all
make -s -j"$(nproc)" STATIC=1 all

stage=$(mktemp -d "${TMPDIR:-/tmp}/bothy-bench.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp bench/"$arch"/* "$stage"/
cp "build/$arch-static/timeit" "$stage/timeit"
cp "build/$arch-static/rm-bench" "$stage/rm-bench"
# Benchmarks are the *.bench files; lib.sh, timeit and rm-bench are their tools.
bench_host() {
	tests/host/run-host.sh --arch "$arch" --bothy "build/$arch-static/bothy" --payloads "build/$arch/payloads" \
		--suite bench/empty-suite --bench "$stage" --results "$stage/results" --timeout 1800
}
# The benchmarks no host has finished yet (those with no @@RESULT line); the finished ones lose
# their exec bit, so the next host runs only the rest.
unfinished() {
	for b in "$stage"/*.bench; do
		[ -x "$b" ] || continue
		n=${b##*/}
		if grep -q "^@@RESULT bench-${n%.bench} " "$stage/results" 2>/dev/null; then
			chmod -x "$b"
		else
			printf ' %s' "${n%.bench}"
		fi
	done
}
# The emulated host itself sometimes crashes or wedges, more often with QEMU running inside it
# (docs/testing.md). Then the benchmarks it did not finish get a fresh host, up to two more times,
# so a figure is not silently missing and a crash late in the run does not repeat the early ones.
hosts=1
until bench_host; do
	grep -q '^@@RESULT host-boot fail' "$stage/results" 2>/dev/null || exit 1
	left=$(unfinished)
	[ -n "$left" ] || break
	[ "$hosts" -lt 3 ] || { echo "bench: $hosts test hosts crashed or hung; not run to the end:$left"; exit 1; }
	echo "bench: the test host crashed or hung before the benchmarks ended; a fresh host runs the rest:$left"
	hosts=$((hosts + 1))
done

# The same probe as tests/check.sh's tier 2: a /dev/kvm may exist and still refuse bothy's guests
# (this workplace's software KVM), and dmesg may no longer say so.
hello=(run --kernel "build/$arch/payloads/hello.elf" --debug-exit --console none --memory 64M)
probe="no /dev/kvm on this machine"
[ -r /dev/kvm ] && [ -w /dev/kvm ] && probe=$(timeout 30 "build/$arch/bothy" "${hello[@]}" 2>&1 >/dev/null) && probe=ok
if [ "$probe" = ok ]; then
	echo "local KVM: bothy start -> exit of hello.elf"
	for _ in 1 2 3 4 5; do
		"build/$arch-static/timeit" "build/$arch/bothy" "${hello[@]}"
	done
else
	echo "local KVM: SKIP: this machine's /dev/kvm cannot run a payload guest ($(printf '%s' "$probe" | tail -1)); the figures above come from the test host"
fi
