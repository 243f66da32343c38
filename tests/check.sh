#!/usr/bin/env bash
# tests/check.sh (`make check`): install what is missing, build every variant, run every test tier,
# and end with one line: "N passed, N failed, N skipped". Exit status 0 only when nothing failed.
#
#   tier 1  unit tests (cmocka, fake hypervisor; ASan/UBSan build)            always
#           and the suite's nokvm-*.test (commands that need no KVM)          always
#   tier 2  payload guests on this machine's /dev/kvm                         when /dev/kvm exists
#   tier 3  payload and stock-Linux tests inside an emulated x86-64 host
#           with real upstream KVM (tests/host/run-host.sh)                   unless BOTHY_SKIP_TIER3=1
#           and the arm64 suite (tests/integration/aarch64) inside an
#           emulated arm64 host                                               likewise
# Knobs: BOTHY_SKIP_TIER3=1, BOTHY_SUITE_FILTER=substring (tiers 2 and 3).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

arch=$(uname -m)
jobs=$(nproc 2>/dev/null || echo 2)
results=$(mktemp -d "${TMPDIR:-/tmp}/bothy-check.XXXXXX")
trap 'rm -rf "$results"' EXIT
npass=0 nfail=0 nskip=0
failed_names=()

record() { # record NAME pass|fail|skip REASON
	case "$2" in
	pass) npass=$((npass + 1)) ;;
	fail) nfail=$((nfail + 1)); failed_names+=("$1") ;;
	skip) nskip=$((nskip + 1)); echo "SKIP: $1: $3" ;;
	esac
}
section() { printf '\n===== %s =====\n' "$*"; }

section "dependencies"
scripts/deps.sh all || { echo "cannot install build dependencies"; echo "0 passed, 1 failed"; exit 1; }

section "build"
# (Unit tests need libcmocka, which Debian ships only as a shared library: no static unit tests.)
for variant in "" "SAN=1" "STATIC=1"; do
	targets="all unit"
	[ "$variant" = STATIC=1 ] && targets=all
	if make -s -j"$jobs" $variant $targets >"$results/build.log" 2>&1; then
		record "build ${variant:-default}" pass
	else
		cat "$results/build.log"
		record "build ${variant:-default}" fail "make $variant failed"
	fi
done
# Cross builds: aarch64 builds bothy itself (dynamic, and the static binary its test host carries);
# riscv64 builds everything architecture-neutral (core, devices, hypervisor seam) until its machine
# backend lands.
for cross in "aarch64 all" "aarch64 STATIC=1 all" "riscv64 lib"; do
	set -- $cross
	if make -s -j"$jobs" ARCH="$@" >"$results/build.log" 2>&1; then
		record "cross-build $cross" pass
	else
		cat "$results/build.log"
		record "cross-build $cross" fail "make ARCH=$cross failed"
	fi
done

section "static analysis"
if need_pkgs cppcheck && cppcheck --error-exitcode=1 --enable=warning,performance,portability \
	--inline-suppr -q -D__x86_64__ -Iinclude -Isrc src >"$results/cppcheck.log" 2>&1; then
	record "cppcheck src" pass
else
	cat "$results/cppcheck.log"
	record "cppcheck src" fail "cppcheck found problems"
fi

# docs/rpc.md is generated from the message table: it must say what the code does.
if "build/$arch/bothy" rpc-doc | cmp -s - docs/rpc.md; then
	record "docs/rpc.md current" pass
else
	echo "docs/rpc.md differs from \`bothy rpc-doc\` (regenerate: build/$arch/bothy rpc-doc >docs/rpc.md)"
	record "docs/rpc.md current" fail "docs/rpc.md is stale"
fi

section "tier 1: unit tests (ASan/UBSan)"
for t in build/"$arch"-san/tests/test_*; do
	[ -x "$t" ] || continue
	name=unit/${t##*/}
	if CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$results/unit.log" 2>&1; then
		n=$(grep -c '^ok ' "$results/unit.log")
		echo "PASS $name ($n cases)"
		record "$name" pass
	else
		cat "$results/unit.log"
		echo "FAIL $name"
		record "$name" fail
	fi
done

section "tier 1: fuzzing (libFuzzer, ASan/UBSan)"
# About 100 s in all, split among the targets (at most 15 s each); BOTHY_FUZZ_SECONDS overrides.
nfuzz=$(find tests/fuzz -maxdepth 1 -name 'fuzz_*.c' | wc -l)
fuzz_secs=${BOTHY_FUZZ_SECONDS:-$((nfuzz ? 100 / nfuzz : 15))}
[ -z "${BOTHY_FUZZ_SECONDS:-}" ] && [ "$fuzz_secs" -gt 15 ] && fuzz_secs=15
[ -z "${BOTHY_FUZZ_SECONDS:-}" ] && [ "$fuzz_secs" -lt 3 ] && fuzz_secs=3
if [ "$nfuzz" -eq 0 ]; then
	record "fuzz" skip "no tests/fuzz/fuzz_*.c targets"
# (libFuzzer lives in Debian 12's libclang-rt-14-dev, which clang only recommends.)
elif ! (need_pkgs clang libclang-rt-14-dev) >"$results/fuzz.log" 2>&1; then
	cat "$results/fuzz.log"
	record "fuzz" fail "cannot install clang and libFuzzer"
else
	tests/fuzz/run.sh "$fuzz_secs" | tee "$results/fuzz.log"
	while read -r status name rest; do
		case "$status" in
		PASS) record "$name" pass ;;
		FAIL) record "$name" fail ;;
		esac
	done < <(grep -E '^(PASS|FAIL) fuzz/' "$results/fuzz.log")
fi

count_suite() { # count_suite FILE PREFIX: fold @@RESULT lines into the totals
	local tag name status reason
	while read -r tag name status reason; do
		[ "$tag" = "@@RESULT" ] || continue
		record "$2$name" "$status" "$reason"
	done <"$1"
}

section "tier 1: command-line tests without KVM"
BOTHY=$PWD/build/$arch/bothy BOTHY_SUITE_FILTER=nokvm- \
	sh tests/integration/run-suite.sh tests/integration | tee "$results/tier1-cli.log"
count_suite "$results/tier1-cli.log" "local/"

section "tier 2: payload guests on local KVM"
# A /dev/kvm can exist and still not run bothy's guests (this workplace's software KVM refuses the
# vCPU state x86 boot needs): probe with the smallest payload, and skip loudly with its reason.
kvm_probe=""
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	kvm_probe=$(timeout 30 "build/$arch/bothy" run --kernel "build/$arch/payloads/hello.elf" --console none \
		--debug-exit 2>&1 >/dev/null) && kvm_probe=ok
fi
if [ "$kvm_probe" = ok ]; then
	BOTHY=$PWD/build/$arch/bothy PAYLOADS=$PWD/build/$arch/payloads \
		BOTHY_SUITE_FILTER=${BOTHY_SUITE_FILTER:-payload-} \
		sh tests/integration/run-suite.sh tests/integration | tee "$results/tier2.log"
	count_suite "$results/tier2.log" "local/"
else
	why="no /dev/kvm on this machine"
	[ -n "$kvm_probe" ] && why="/dev/kvm cannot run a payload guest: $(printf '%s' "$kvm_probe" | tail -1)"
	echo "SKIP (LOUD): tier 2 needs a usable /dev/kvm: $why"
	echo "             The same payload tests run inside the tier-3 test host below."
	record "tier2-local-kvm" skip "$why"
fi

run_tier3() {
	tests/host/run-host.sh --arch "$arch" --bothy "build/$arch-static/bothy" \
		--payloads "build/$arch/payloads" --suite tests/integration --results "$results/tier3.res" \
		--timeout 1200
}

section "tier 3: test host x86_64 (emulated host with real upstream KVM)"
if [ "${BOTHY_SKIP_TIER3:-0}" = 1 ]; then
	record "tier3" skip "BOTHY_SKIP_TIER3=1"
elif run_tier3 || {
	# The emulated host itself can crash (a QEMU TCG fault in the host kernel, seen as
	# "host-boot fail"): that says nothing about bothy, so the suite gets one more host.
	grep -q '^@@RESULT host-boot fail' "$results/tier3.res" 2>/dev/null &&
		echo "tier 3: the test host crashed before the suite ended; running the suite in a fresh host" &&
		run_tier3
}; then
	count_suite "$results/tier3.res" "host-$arch/"
else
	[ -f "$results/tier3.res" ] && count_suite "$results/tier3.res" "host-$arch/"
	record "tier3-host-$arch" fail "the test host did not run to the end (see above)"
fi

section "tier 3: test host aarch64 (emulated arm64 host with real upstream KVM)"
# The arm64 suite is small (a few Linux boots, about 1.5 minutes with a warm cache). Without
# qemu-system-aarch64 run-host.sh itself skips loudly; if the arm64 packages (host kernel, guest
# kernel, busybox) cannot be downloaded it stops with status 1, which is a loud skip here too: the
# x86-64 tiers above do not depend on them.
a64_bin=build/aarch64-static/bothy
if [ "${BOTHY_SKIP_TIER3:-0}" = 1 ]; then
	record "tier3-aarch64" skip "BOTHY_SKIP_TIER3=1"
elif [ ! -x "$a64_bin" ]; then
	record "tier3-aarch64" skip "$a64_bin was not built (see cross-build aarch64 above)"
else
	t_a64=$(now)
	tests/host/run-host.sh --arch aarch64 --bothy "$a64_bin" --payloads build/aarch64/payloads \
		--suite tests/integration/aarch64 \
		--results "$results/tier3-aarch64.res" --timeout 900 2>&1 | tee "$results/tier3-aarch64.log"
	st=${PIPESTATUS[0]}
	[ -f "$results/tier3-aarch64.res" ] && count_suite "$results/tier3-aarch64.res" "host-aarch64/"
	case $st in
	0) ;;
	1)	why=$(grep -m1 'error:' "$results/tier3-aarch64.log" | cut -c1-200)
		echo "######################################################################"
		echo "## SKIP tier 3 (aarch64): the arm64 test host could not be prepared:"
		echo "## ${why:-see the output above}"
		echo "######################################################################"
		record "tier3-aarch64" skip "test host not prepared: ${why:-run-host.sh status 1}" ;;
	*)	record "tier3-host-aarch64" fail "the arm64 test host did not run to the end (see above)" ;;
	esac
	echo "tier 3 aarch64: $(elapsed "$t_a64") s"
fi

section "summary"
[ ${#failed_names[@]} -gt 0 ] && printf 'failed: %s\n' "${failed_names[@]}"
summary="$npass passed, $nfail failed, $nskip skipped"
mkdir -p "$BOTHY_CACHE" && echo "$summary" >"$BOTHY_CACHE/last-check-summary"
echo "$summary"
[ "$nfail" -eq 0 ]
