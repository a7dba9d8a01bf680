#!/bin/sh
# fuzz/run.sh [SECONDS]: build every fuzz target (fuzz/build.sh) and run
# each for SECONDS (default 60) on a copy of its committed corpus
# (fuzz/corpus/<target>; for lync and sandbox, the sample files of
# tests/cli/data) plus its regression inputs (fuzz/regressions/<target>,
# replayed first, read-only).  Nothing is written into the tree.
#
# Prints TAP, one line per target.  Exits non-zero on any crash, leak,
# timeout, out-of-memory or sanitizer report; the input is printed in hex
# and kept, with the log, under the temporary directory (named in the
# output).  77 when clang cannot build libFuzzer programs (TAP "skip").
#
#   FUZZ_TARGETS="domain cert"   run only these
#   FUZZ_BUILD=DIR               reuse binaries already built in DIR
#   FUZZ_KEEP=1                  keep the temporary directory on success
#   FUZZ_SEED=N                  libFuzzer's -seed (0, the default: random)
#   TMPDIR                       where the temporary directory goes
set -u

secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xp-fuzz.XXXXXX") || exit 1

if [ -n "${FUZZ_BUILD:-}" ]; then
	build=$FUZZ_BUILD
else
	build=$tmp/build
	"$here/build.sh" "$build" > "$tmp/build.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		cat "$tmp/build.log"
		if [ $rc -eq 77 ]; then
			echo "1..0 # SKIP clang with libFuzzer is not available"
			rm -rf "$tmp"
			exit 77
		fi
		echo "Bail out! fuzz/build.sh failed (log: $tmp/build.log)"
		exit 1
	fi
fi
targets=${FUZZ_TARGETS:-$(cat "$build/targets")}

set -- $targets
echo "1..$#"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"

n=0
failed=0
for t in $targets; do
	n=$((n + 1))
	case $t in
	table) maxlen=65536 ;;
	lync|sandbox) maxlen=16384 ;;
	*) maxlen=4096 ;;
	esac
	work=$tmp/corpus/$t
	art=$tmp/artifacts/$t
	mkdir -p "$work" "$art"
	[ -d "$here/corpus/$t" ] && cp "$here/corpus/$t"/* "$work"/ 2>/dev/null
	# The lync and sandbox seeds are the tool's sample files, kept once,
	# with its tests.
	case $t in
	lync) cp "$here"/../tests/cli/data/*.csv "$work"/ ;;
	sandbox) cp "$here"/../tests/cli/data/*.cfg.lua "$work"/ ;;
	esac
	dirs=$work
	if [ -d "$here/regressions/$t" ] && [ -n "$(ls "$here/regressions/$t" 2>/dev/null)" ]; then
		dirs="$dirs $here/regressions/$t"
	fi
	log=$tmp/$t.log
	start=$(date +%s)
	"$build/fuzz_$t" -max_total_time="$secs" -seed="${FUZZ_SEED:-0}" -timeout=10 -rss_limit_mb=2048 \
		-malloc_limit_mb=2048 -max_len=$maxlen -print_final_stats=1 \
		-artifact_prefix="$art/" $dirs > "$log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	crash=$(ls "$art" 2>/dev/null | head -1)
	if [ $rc -ne 0 ] || [ -n "$crash" ] ||
	   grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' \
	           -e 'runtime error:' -e 'invariant failed' "$log"; then
		failed=1
		echo "not ok $n - fuzz_$t (exit $rc after ${took}s; log $log)"
		grep -m 12 -e 'ERROR:' -e 'SUMMARY' -e 'runtime error' \
		     -e 'invariant failed' -e '#[0-9] 0x' "$log" | sed 's/^/#   /'
		for f in "$art"/*; do
			[ -f "$f" ] || continue
			echo "#   input $f ($(wc -c < "$f") bytes):"
			od -An -tx1 -v "$f" | head -64 | sed 's/^/#  /'
		done
	else
		echo "ok $n - fuzz_$t ${took}s, ${execs:-?} execs, ${eps:-?} exec/s"
	fi
done

if [ $failed -ne 0 ]; then
	echo "# failures kept in $tmp"
	exit 1
fi
if [ "${FUZZ_KEEP:-0}" = 1 ]; then
	echo "# kept $tmp"
else
	rm -rf "$tmp"
fi
exit 0
