#!/usr/bin/env bash
# scripts/test.sh: set up and run every test of xmpp-partners on Debian 12.
#
#   sudo bash scripts/test.sh          # installs packages, then tests
#   XP_NO_DEPS=1 bash scripts/test.sh  # packages already there
#
# Builds out of tree under build/ (default, and with ASan+UBSan), runs
# `make check` in both, the unit tests under valgrind, `make distcheck`,
# and the clang-format check, then prints one summary line.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

if [ -z "${XP_NO_DEPS:-}" ]; then
	bash scripts/deps.sh
fi
# The tests read the repository's copy of the contract (doc/SPEC.md,
# doc/negotiation-matrix.tsv).  Where the project's shared folder sits
# beside the checkout, the copy must not have drifted from it.
if [ -r "$top/../shared/negotiation-matrix.tsv" ]; then
	if ! cmp -s "$top/../shared/negotiation-matrix.tsv" doc/negotiation-matrix.tsv; then
		echo "scripts/test.sh: doc/negotiation-matrix.tsv differs from ../shared/negotiation-matrix.tsv:" >&2
		diff -u "$top/../shared/negotiation-matrix.tsv" doc/negotiation-matrix.tsv >&2 || true
		echo "copy the normative file over doc/negotiation-matrix.tsv and re-run" >&2
		exit 1
	fi
	echo "scripts/test.sh: doc/negotiation-matrix.tsv equals ../shared/negotiation-matrix.tsv"
fi

# In CI a missing server or client is a failure, not a skip.
export XP_REQUIRE=${XP_REQUIRE:-1}

step() { printf '\n=== %s\n' "$*"; }

step "autoreconf"
autoreconf -fi >/dev/null

summary_total=0
summary_fail=0
# Add up the per-case results the TAP driver wrote in .trs files.
count_results() {
	local dir=$1 p f
	p=$(find "$dir" -name '*.trs' -exec grep -h '^:test-result: \(PASS\|SKIP\|XFAIL\)' {} + | wc -l)
	f=$(find "$dir" -name '*.trs' -exec grep -h '^:test-result: \(FAIL\|ERROR\|XPASS\)' {} + | wc -l)
	summary_total=$((summary_total + p))
	summary_fail=$((summary_fail + f))
}

run_check() { # name, configure args...
	local name=$1
	shift
	local dir="$top/build/$name"
	step "build and check: $name"
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" --enable-werror "$@" >configure.out) ||
		{ cat "$dir/configure.out" "$dir/config.log" | tail -40; exit 1; }
	local rc=0
	make -C "$dir" -j"$jobs" >"$dir/make.out" 2>&1 || { cat "$dir/make.out"; exit 1; }
	make -C "$dir" -j"$jobs" check || rc=$?
	if [ $rc -ne 0 ]; then
		find "$dir" -name '*.log' -path '*tests*' -newer "$dir/make.out" \
			-exec grep -l -E '^(not ok|Bail out)' {} + | while read -r log; do
			echo "--- $log"; cat "$log"; done
	fi
	count_results "$dir"
	return $rc
}

status=0
run_check default || status=1
run_check sanitizers --enable-sanitizers || status=1

step "unit tests under valgrind"
make -C build/default check-valgrind || status=1

step "make distcheck"
make -C build/default distcheck >build/distcheck.out 2>&1 ||
	{ tail -60 build/distcheck.out; status=1; }
grep -E '^=+$|archives ready' build/distcheck.out | tail -2 || true

step "fuzzing: every libFuzzer target for ${XP_FUZZ_SECONDS:=30} s"
# A fixed seed: the same build explores the same inputs, so a red run can
# be replayed; FUZZ_SEED=0 in the environment asks for a random one.
if ! FUZZ_SEED=${FUZZ_SEED:-1} bash fuzz/run.sh "$XP_FUZZ_SECONDS"; then
	echo "fuzzing found a crash, a leak or a broken invariant (inputs kept, see above)"
	status=1
fi

step "Debian packages: build, lintian, install into this machine's Prosody, smoke test"
# make check already ran above: build the packages without running it again.
if DEB_BUILD_OPTIONS=nocheck DEB_BUILD_PROFILES=nocheck bash packaging/build-deb.sh build/deb >build/deb.out 2>&1; then
	grep -E '^(dpkg-deb: building|E:|W:)' build/deb.out || true
	bash packaging/smoke-test.sh --remove build/deb || status=1
else
	tail -40 build/deb.out
	echo "packaging/build-deb.sh failed"
	status=1
fi

step "callgrind: instructions per received message, module vs none (bench/s2s-rx.sh, limit 1.02)"
if top_srcdir=$top top_builddir=$top/build/default bash bench/s2s-rx.sh; then
	summary_total=$((summary_total + 1))
else
	summary_fail=$((summary_fail + 1))
	status=1
fi

step "clang-format"
if command -v clang-format >/dev/null; then
	if ! git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror; then
		echo "clang-format: files differ from .clang-format (run clang-format -i)"
		status=1
	else
		echo "clang-format: clean"
	fi
fi

echo
echo "$summary_total passed, $summary_fail failed"
exit $status
