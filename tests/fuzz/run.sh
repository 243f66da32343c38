#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS]: build every libFuzzer target (`make fuzz`: tests/fuzz/fuzz_*.c ->
# build/fuzz/<name>) and run each for SECONDS (default 15), one after the other on one core.
# Each target keeps its corpus in build/fuzz/corpus/<name> between runs and starts from the seeds in
# tests/fuzz/corpus/<name>/ if there are any. Prints one line a target:
#   PASS fuzz/<name> (N runs)
#   FAIL fuzz/<name>            followed by the sanitizer report and the crashing input's path
# A build failure prints "FAIL fuzz/build". Exit status 0 only when every target passed.
set -uo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-15}
case "$secs" in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
out=build/fuzz

if ! make -s fuzz >"$out.build.log" 2>&1; then
	cat "$out.build.log"
	echo "FAIL fuzz/build"
	exit 1
fi

status=0
for src in tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	bin=$out/$name
	corpus=$out/corpus/$name
	log=$out/$name.log
	mkdir -p "$corpus" "$out/crashes"
	dirs=("$corpus")
	[ -d "tests/fuzz/corpus/$name" ] && dirs+=("tests/fuzz/corpus/$name")
	# -timeout: a single input taking this long is a hang (a loop the parser failed to bound).
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/crashes/$name-" "${dirs[@]}" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "PASS fuzz/$name (${runs:-?} runs)"
	else
		echo "FAIL fuzz/$name"
		# the report (first error line to the sanitizer's summary) and where the input was saved
		sed -n '/ERROR: \|runtime error:\|deadly signal\|invariant failed/,/^SUMMARY: /p' "$log" | head -60
		grep -m1 'Test unit written to' "$log" || tail -5 "$log"
		status=1
	fi
done
exit $status
