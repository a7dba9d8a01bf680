# tests/cli/lib.sh: TAP helpers for the tests of the xmpp-partners tool.
# Source it from a bash test script:
#
#   . "$top_srcdir/tests/cli/lib.sh"
#   run check "$DATA/good.cfg.lua"     # sets OUT, ERR and RC
#   expect_rc "good file passes" 0
#   expect_out "names the row" 'matrix row 1'
#   tap_done
#
# The tool is $top_builddir/tools/xmpp-partners (XP_TOOL overrides it); the
# sample files are in $DATA; $TMP is a scratch directory removed at exit.
# Every run is bounded by a timeout, and any exit status other than 0, 1
# or 2 (a crash, a sanitizer report, a timeout) fails expect_rc.
#
# shellcheck shell=bash

CLI_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$CLI_LIB_DIR/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
XP_TOOL=${XP_TOOL:-$top_builddir/tools/xmpp-partners}
XP_TIMEOUT=${XP_TIMEOUT:-60}
# shellcheck disable=SC2034 # used by the scripts that source this file
DATA=$top_srcdir/tests/cli/data
TMP=$(mktemp -d "${TMPDIR:-/tmp}/xp-cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# The TAP functions (tap_ok, tap_fail, tap_done, ...); tap_fail returns 0
# here, as the expect_* helpers end with it.
# shellcheck source=../tap.sh
. "$CLI_LIB_DIR/../tap.sh"
XP_TAP_FAIL_RC=0
OUT=""
ERR=""
RC=0

if [ ! -x "$XP_TOOL" ]; then
	echo "Bail out! $XP_TOOL is not built"
	exit 1
fi

# What the last run printed, for failure reports.
last_run() {
	printf 'command: %s\nexit status: %s\n--- stdout\n%s\n--- stderr\n%s' \
		"$LAST_CMD" "$RC" "$(printf '%s' "$OUT" | head -40)" \
		"$(printf '%s' "$ERR" | head -40)"
}

# run ARG...: run the tool; OUT, ERR and RC get its output and status.
run() {
	LAST_CMD="xmpp-partners $*"
	timeout "$XP_TIMEOUT" "$XP_TOOL" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# run_in DIR ARG...: the same, from DIR (for file names as users type them).
run_in() {
	local dir=$1
	shift
	LAST_CMD="(cd $dir) xmpp-partners $*"
	(cd "$dir" && timeout "$XP_TIMEOUT" "$XP_TOOL" "$@") >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# expect_rc NAME STATUS: the last run exited with STATUS and did not crash.
expect_rc() {
	if [ "$RC" -eq "$2" ] && ! grep -q -E 'Sanitizer|runtime error:|Segmentation|Aborted|panic' "$TMP/err"; then
		tap_ok "$1"
	else
		tap_fail "$1" "expected exit status $2
$(last_run)"
	fi
}

# expect_out NAME REGEX / expect_err NAME REGEX: stdout / stderr matches.
expect_out() {
	if grep -q -E -- "$2" "$TMP/out"; then tap_ok "$1"; else
		tap_fail "$1" "stdout does not match: $2
$(last_run)"
	fi
}
expect_err() {
	if grep -q -E -- "$2" "$TMP/err"; then tap_ok "$1"; else
		tap_fail "$1" "stderr does not match: $2
$(last_run)"
	fi
}
# expect_no_out NAME REGEX: stdout does not match.
expect_no_out() {
	if grep -q -E -- "$2" "$TMP/out"; then
		tap_fail "$1" "stdout should not match: $2
$(last_run)"
	else tap_ok "$1"; fi
}

# write_file NAME TEXT: a file in $TMP with TEXT; prints its path.
write_file() {
	printf '%s\n' "$2" >"$TMP/$1"
	printf '%s' "$TMP/$1"
}
