#!/usr/bin/env bash
# scripts/test.sh: set up and run every test of xmpp-partners on Debian 12.
#
#   sudo bash scripts/test.sh          # installs packages, then tests
#   XP_NO_DEPS=1 bash scripts/test.sh  # packages already there
#
# Builds out of tree under build/ (default, and with ASan+UBSan), runs
# `make check` in both, the unit tests under valgrind, `make distcheck`,
# and the clang-format check, then prints one summary line.  Every Prosody
# suite, the package smoke test and the demo run on Prosody 0.12.3 (the
# installed one) and on Prosody 13 (unpacked into build/prosody13 by
# scripts/unpack-prosody.sh), plus the mixed-version suite.  Every ejabberd
# suite runs on ejabberd 23.01 (the installed one) and on ejabberd 24.12
# (unpacked into build/ejabberd2412 by scripts/unpack-ejabberd.sh; make
# check runs it through tests/ejabberd/ejabberd2412.mk).  The line before
# the summary counts the results per host version.  Erlang's xref and
# dialyzer check the ejabberd module's beams for both versions.
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

# Prosody 13 beside the installed 0.12.3 (scripts/deps.sh unpacks it; with
# XP_NO_DEPS it may not be there yet: no root needed for this).  make check
# runs every Prosody suite on it too (tests/integration/prosody13.mk); if it
# cannot be had, that is a failure with XP_REQUIRE=1, else one skip line.
export XP_PROSODY13_PREFIX=${XP_PROSODY13_PREFIX:-$top/build/prosody13}
if [ ! -x "$XP_PROSODY13_PREFIX/usr/bin/prosody" ]; then
	bash scripts/unpack-prosody.sh "$XP_PROSODY13_PREFIX" || true
fi
about() { timeout 20 "$1" about 2>/dev/null </dev/null | sed -n 's/^Prosody \([0-9][^ ]*\)$/\1/p' | head -n 1; }
V12=$(about prosodyctl)
V13=$(about "$XP_PROSODY13_PREFIX/usr/bin/prosodyctl")
status=0
have13=1
case $V13 in
13.*) ;;
*)
	have13=0
	why="no Prosody 13 runs in $XP_PROSODY13_PREFIX (scripts/unpack-prosody.sh makes it)"
	if [ "$XP_REQUIRE" = 1 ]; then
		echo "scripts/test.sh: FAIL: $why (XP_REQUIRE=1)"
		status=1
	else
		echo "scripts/test.sh: Prosody 13 runs skipped: $why"
	fi
	;;
esac

# ejabberd 24.12 beside the installed 23.01, the same way (never installed:
# it would replace 23.01).  make check runs every ejabberd suite on it too
# (tests/ejabberd/ejabberd2412.mk); without it, a failure with
# XP_REQUIRE=1, else one skip line.
export XP_EJABBERD2412_PREFIX=${XP_EJABBERD2412_PREFIX:-$top/build/ejabberd2412}
bash scripts/unpack-ejabberd.sh "$XP_EJABBERD2412_PREFIX" || true
ejvsn() { sed -n 's/.*{vsn, *"\([0-9][0-9.]*\).*/\1/p' "$@" 2>/dev/null | head -n 1; }
# shellcheck disable=SC2012
EJ23=$(ejvsn "$(ls -d /usr/lib/*/ejabberd-*/ebin 2>/dev/null | sort -V | tail -n 1)/ejabberd.app")
# shellcheck disable=SC2012
EJ24=$(ejvsn "$(ls -d "$XP_EJABBERD2412_PREFIX"/usr/lib/*/ejabberd-*/ebin 2>/dev/null | sort -V | tail -n 1)/ejabberd.app")
have2412=1
case $EJ24 in
24.12*) ;;
*)
	have2412=0
	why="no ejabberd 24.12 in $XP_EJABBERD2412_PREFIX (scripts/unpack-ejabberd.sh makes it)"
	if [ "$XP_REQUIRE" = 1 ]; then
		echo "scripts/test.sh: FAIL: $why (XP_REQUIRE=1)"
		status=1
	else
		echo "scripts/test.sh: ejabberd 24.12 runs skipped: $why"
	fi
	;;
esac

step() { printf '\n=== %s\n' "$*"; }

step "autoreconf"
autoreconf -fi >/dev/null

summary_total=0
summary_fail=0
declare -A host_pass=() host_fail=() host_skip=()
# Count per host version: every test name of a Prosody suite carries its
# "[prosody VERSION]" (or mixed-version) tag (tests/integration/lib.sh),
# every one of an ejabberd suite its "[ejabberd VERSION]"
# (tests/ejabberd/ejlib.sh); a result without one (a whole script skipped
# or bailed out) counts for the version of its script (t_nif.sh, which runs
# no ejabberd, for none).  Reads automake's logs (PASS: ... lines), or
# with --tap HOST plain TAP output (ok / not ok lines; untagged: HOST's).
count_hosts() {
	local mode=automake dflt=""
	if [ "$1" = --tap ]; then mode=tap; dflt=$2; shift 2; fi
	local tag p f k
	while IFS=$'\t' read -r tag p f k; do
		host_pass[$tag]=$((${host_pass[$tag]:-0} + p))
		host_fail[$tag]=$((${host_fail[$tag]:-0} + f))
		host_skip[$tag]=$((${host_skip[$tag]:-0} + k))
	done < <(awk -v mode="$mode" -v dflt="$dflt" -v v12="prosody ${V12:-0.12}" -v v13="prosody ${V13:-13}" \
		-v ej23="ejabberd ${EJ23:-23.01}" -v ej24="ejabberd ${EJ24:-24.12}" '
		FNR == 1 { file = FILENAME }
		mode == "automake" && /^(PASS|XFAIL|SKIP|FAIL|XPASS|ERROR): / { res = substr($1, 1, length($1) - 1); name = $2 }
		mode == "automake" && !/^(PASS|XFAIL|SKIP|FAIL|XPASS|ERROR): / { next }
		mode == "tap" && /^ok / { res = ($0 ~ /# SKIP/) ? "SKIP" : "PASS"; name = file }
		mode == "tap" && /^not ok / { res = "FAIL"; name = file }
		mode == "tap" && !/^(not )?ok / { next }
		{
			if (match($0, / - \[[^]]+\]/)) tag = substr($0, RSTART + 4, RLENGTH - 5)
			else if (name ~ /_p13\.sh$/) tag = v13
			else if (name ~ /tests\/ejabberd\/.*_ej2412\.sh$/) tag = ej24
			else if (name ~ /tests\/ejabberd\/t_nif\.sh$/) next
			else if (name ~ /tests\/ejabberd\//) tag = ej23
			else if (name ~ /t_mixed\.sh$/) tag = "mixed " v13 " + " v12
			else if (name ~ /tests\/integration\//) tag = v12
			else if (dflt != "") tag = dflt
			else next
			if (res == "SKIP") k[tag]++
			else if (res == "PASS" || res == "XFAIL") p[tag]++
			else f[tag]++
			seen[tag] = 1
		}
		END { for (t in seen) printf "%s\t%d\t%d\t%d\n", t, p[t], f[t], k[t] }' "$@")
}
# Add up the per-case results the TAP driver wrote in .trs files.
count_results() {
	local dir=$1 p f
	p=$(find "$dir" -name '*.trs' -exec grep -h '^:test-result: \(PASS\|SKIP\|XFAIL\)' {} + | wc -l)
	f=$(find "$dir" -name '*.trs' -exec grep -h '^:test-result: \(FAIL\|ERROR\|XPASS\)' {} + | wc -l)
	summary_total=$((summary_total + p))
	summary_fail=$((summary_fail + f))
	# Per host: the default build's (the sanitizer build skips the servers).
	[ "$(basename "$dir")" = default ] || return 0
	local logs=()
	while IFS= read -r f; do logs+=("${f%.trs}.log"); done < <(find "$dir" -name '*.trs')
	[ "${#logs[@]}" -eq 0 ] || count_hosts "${logs[@]}"
}

# count_tap NAME FILE: add a TAP output (not run by automake) to the totals.
count_tap() {
	local p f
	p=$(grep -cE '^ok ' "$2" || true)
	f=$(grep -cE '^not ok |^Bail out!' "$2" || true)
	summary_total=$((summary_total + p))
	summary_fail=$((summary_fail + f))
	count_hosts --tap "$1" "$2"
	if grep -q '^Bail out!' "$2"; then # no test name: the host of the run
		host_fail[$1]=$((${host_fail[$1]:-0} + 1))
	fi
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

run_check default || status=1
run_check sanitizers --enable-sanitizers || status=1

step "unit tests under valgrind"
make -C build/default check-valgrind || status=1

step "Erlang static checks: -specs, xref, dialyzer (make check-erlang-static)"
# On the beams built against 23.01 and against 24.12; each step prints its
# time (the first PLT takes a minute or two, later runs reuse it).
if make -C build/default check-erlang-static; then
	summary_total=$((summary_total + 1))
else
	summary_fail=$((summary_fail + 1))
	status=1
fi

step "make distcheck"
# -j: its make check runs every suite again (both Prosody versions, ejabberd);
# they wait on servers far more than they compute.
make -C build/default -j"$jobs" distcheck >build/distcheck.out 2>&1 ||
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
	# The package installed once, smoke-tested with each Prosody.
	bash packaging/smoke-test.sh build/deb | tee build/smoke-012.out || status=1
	count_tap "prosody $V12" build/smoke-012.out
	if [ "$have13" = 1 ]; then
		bash packaging/smoke-test.sh --no-install --remove --prosody "$XP_PROSODY13_PREFIX" |
			tee build/smoke-13.out || status=1
		count_tap "prosody $V13" build/smoke-13.out
	else
		dpkg -r xmpp-partners-prosody >/dev/null 2>&1 || true
	fi
else
	tail -40 build/deb.out
	echo "packaging/build-deb.sh failed"
	status=1
fi

step "demo: the same table on Prosody $V12 and on Prosody ${V13:-13}"
# The demo on the default build (no rebuild); each row checked against
# what the partner policy says.
prefixes=(/)
if [ "$have13" = 1 ]; then prefixes+=("$XP_PROSODY13_PREFIX"); fi
for prefix in "${prefixes[@]}"; do
	out=build/demo-$([ "$prefix" = / ] && echo 012 || echo 13).out
	XP_NO_DEPS=1 XP_DEMO_BUILD=build/default bash scripts/demo.sh --prosody "$prefix" | tee "$out" ||
		status=1
	# its last line: "demo on Prosody V: N of M rows as the policy says"
	ver="" n="" m=""
	read -r ver n m < <(sed -n 's/^demo on Prosody \([^:]*\): \([0-9]*\) of \([0-9]*\) rows.*/\1 \2 \3/p' "$out") || true
	if [ -n "${m:-}" ]; then
		host_pass["prosody $ver"]=$((${host_pass["prosody $ver"]:-0} + n))
		host_fail["prosody $ver"]=$((${host_fail["prosody $ver"]:-0} + m - n))
		summary_total=$((summary_total + n))
		summary_fail=$((summary_fail + m - n))
	else
		echo "scripts/demo.sh --prosody $prefix printed no result line"
		summary_fail=$((summary_fail + 1))
		status=1
	fi
done

step "callgrind: instructions per received message, module vs none (bench/s2s-rx.sh, limit 1.02)"
# On each Prosody: the per-message cost is the module's Lua on that host.
for prefix in "${prefixes[@]}"; do
	if [ "$prefix" = / ]; then rx_env=(); else
		rx_env=(XP_PROSODY="$prefix/usr/bin/prosody" XP_PROSODYCTL="$prefix/usr/bin/prosodyctl"); fi
	if env "${rx_env[@]}" top_srcdir="$top" top_builddir="$top/build/default" bash bench/s2s-rx.sh; then
		summary_total=$((summary_total + 1))
	else
		summary_fail=$((summary_fail + 1))
		status=1
	fi
done

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
per_host=""
while IFS= read -r tag; do
	[ -n "$tag" ] || continue
	per_host="$per_host${per_host:+; }$tag: ${host_pass[$tag]:-0} passed"
	if [ "${host_skip[$tag]:-0}" -gt 0 ]; then per_host="$per_host, ${host_skip[$tag]} skipped"; fi
	per_host="$per_host, ${host_fail[$tag]:-0} failed"
done < <(printf '%s\n' "${!host_pass[@]}" "${!host_fail[@]}" "${!host_skip[@]}" | sort -u)
if [ "$have13" = 0 ]; then
	per_host="$per_host${per_host:+; }prosody 13: not run"
	# with XP_REQUIRE=1, that is one failure
	[ "$XP_REQUIRE" != 1 ] || summary_fail=$((summary_fail + 1))
fi
if [ "$have2412" = 0 ]; then
	per_host="$per_host${per_host:+; }ejabberd 24.12: not run"
	[ "$XP_REQUIRE" != 1 ] || summary_fail=$((summary_fail + 1))
fi
echo "per host version: ${per_host:-no Prosody suite ran}"
echo "$summary_total passed, $summary_fail failed"
exit $status
