#!/bin/bash
# bench/smoke-s2s.sh: a small run of each server benchmark (s2s traffic
# without callgrind, floods, reload, subscriptions) so they never rot.
# Not a timing assertion: each must run, exit 0 and print a number in every
# row of its table.  Skipped where the integration tests skip (no prosody,
# lua-unbound, libstrophe; sanitizer builds).
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
if [ "${XP_SANITIZERS:-no}" = yes ]; then
	echo "1..0 # SKIP sanitizer build: the server benchmarks run in the default build"
	exit 0
fi
echo "1..4"
n=0
fails=0
# check NAME ROWS ENV... -- SCRIPT: run SCRIPT with ENV, expect ROWS result
# rows whose second column is a number.
check() {
	local name=$1 rows=$2 out rc got
	shift 2
	n=$((n + 1))
	out=$(env "$@" timeout 120 bash "$top_srcdir/bench/$name" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/# /'
	case $out in *"1..0 # SKIP"*)
		echo "ok $n - $name # SKIP $(printf '%s\n' "$out" | sed -n 's/.*1\.\.0 # SKIP //p' | head -n 1)"
		return 0 ;;
	esac
	got=$(printf '%s\n' "$out" | awk '!/^#/ && NF >= 3 && $2 ~ /^[0-9.]+$/ && $3 ~ /^[0-9.]+$/' | wc -l)
	if [ "$rc" -eq 0 ] && [ "$got" -eq "$rows" ] && ! printf '%s\n' "$out" | grep -qE 'nan|Bail out'; then
		echo "ok $n - $name runs and reports"
	else
		echo "not ok $n - $name (exit $rc, $got of $rows rows with numbers)"
		fails=$((fails + 1))
	fi
}
check s2s.sh 2 BX_MSGS=100 BX_RUNS=1 BX_CALLGRIND=0 BX_CONFIGS="allowlist partners:10"
check flood.sh 2 BX_FLOOD_N=20 BX_FLOOD_C=10 BX_RUNS=1 BX_CONFIGS="module secure"
check reload.sh 1 BX_SIZES=100 BX_RUNS=1 BX_METHODS=shell
check subscribe.sh 1 BX_SUBS=10 BX_RUNS=1 BX_CONFIGS=federated
[ "$fails" -eq 0 ]
