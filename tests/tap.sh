# tests/tap.sh: the TAP output of every shell suite (tests/cli/lib.sh,
# tests/integration/lib.sh, and through it tests/ejabberd/ejlib.sh and the
# benchmark and packaging scripts).  Sourced, never run.
#
#   tap_plan N              announce N cases (optional: tap_done prints the
#                           count at the end when there was no plan)
#   tap_ok NAME             a passing case
#   tap_fail NAME [WHY]     a failing case, WHY as comments; then the hook
#                           tap_on_fail, when the suite defines one (the
#                           integration harness prints the servers' logs)
#   tap_is ACTUAL EXPECTED NAME, tap_check NAME COMMAND...
#   tap_skip NAME REASON    a skipped case;  tap_skip_all REASON  the script
#   tap_diag TEXT           comments, one "# " line per line
#   tap_done                the end: exits 1 if a case failed or the plan
#                           was not followed
#
# tap_fail returns XP_TAP_FAIL_RC (default 1), so a script can chain on it;
# a suite whose scripts run under set -e sets it to 0.  XP_TAP_TAG, when
# set, prefixes every case name with [TAG].
#
# shellcheck shell=bash

XP_TAP_N=0
XP_TAP_FAILED=0
XP_TAP_PLAN=""

tap_plan() { XP_TAP_PLAN=$1; echo "1..$1"; }

tap_diag() {
	local line
	while IFS= read -r line; do printf '# %s\n' "$line"; done <<<"$*"
}

# A case name: "#" would start a TAP directive, so it is escaped.
tap__line() { echo "$1 $XP_TAP_N - ${XP_TAP_TAG:+[$XP_TAP_TAG] }${2//#/\\#}${3:+ # $3}"; }

tap_ok() { XP_TAP_N=$((XP_TAP_N + 1)); tap__line ok "$1"; }

tap_fail() {
	XP_TAP_N=$((XP_TAP_N + 1))
	XP_TAP_FAILED=$((XP_TAP_FAILED + 1))
	tap__line "not ok" "$1"
	if [ -n "${2:-}" ]; then tap_diag "$2"; fi
	if declare -F tap_on_fail >/dev/null; then tap_on_fail; fi
	return "${XP_TAP_FAIL_RC:-1}"
}

# (tap_fail, tap_is and tap_check return 1 on failure: do not use set -e.)
tap_is() {
	if [ "$1" = "$2" ]; then
		tap_ok "$3"
	else
		tap_fail "$3" "got:      '$1'
expected: '$2'"
	fi
}

tap_check() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		tap_ok "$name"
	else
		tap_fail "$name" "command failed (exit $rc): $*
$out"
	fi
	return "$rc"
}

tap_skip() { XP_TAP_N=$((XP_TAP_N + 1)); tap__line ok "$1" "SKIP ${2:-}"; }

tap_skip_all() { echo "1..0 # SKIP $1"; exit 0; }

tap_done() {
	local rc=0
	if [ -z "$XP_TAP_PLAN" ]; then
		echo "1..$XP_TAP_N"
	elif [ "$XP_TAP_PLAN" -ne "$XP_TAP_N" ]; then
		tap_diag "planned $XP_TAP_PLAN tests but ran $XP_TAP_N"
		rc=1
	fi
	if [ "$XP_TAP_FAILED" -gt 0 ]; then
		tap_diag "$XP_TAP_FAILED of $XP_TAP_N tests failed"
		rc=1
	fi
	exit "$rc"
}
