#!/bin/bash
# bench/reload.sh: applying a new partner table to a running server.
#
# a.test (mod_xmpp_partners) runs with b.test plus synthetic partners;
# b.test (mod_xmpp_partners, partner a.test) keeps an established s2s
# stream each way with it.  For each table size in BX_SIZES a new table of
# that size (other synthetic names, b.test kept) is written and applied by:
#   sighup   `prosodyctl reload` (SIGHUP)
#   shell    `prosodyctl shell "config:reload()"`
#   module   `prosodyctl shell "module:reload('xmpp_partners')"`
# The time runs from the command until the module's log line "Partner
# policy reloaded" / "loaded" appears (the log is polled every 10 ms).  The
# s2s streams are counted before and after (`partners sessions` on a.test
# and established TCP connections on port 5269).  Median of BX_RUNS runs.
# BX_SOURCE=file gives a.test its table through xmpp_partners_file instead
# of Include (the default, BX_SOURCE=include).
#
#   BX_SIZES="10000 100000" BX_RUNS=3 bash bench/reload.sh
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/bench/lib-bench.sh"

SIZES=${BX_SIZES:-"10000 100000"}
RUNS=${BX_RUNS:-3}
METHODS=${BX_METHODS:-"sighup shell module"}

bx_init xpmsg
PA=$XP_WORK/partners-a.lua
case ${BX_SOURCE:-include} in
include) SOURCE_LUA="Include \"$PA\"" ;;
file) SOURCE_LUA="xmpp_partners_file = \"$PA\"" ;;
*) xp_bail "BX_SOURCE is include or file" ;;
esac
bx_partners "$PA" 1 b.test
bx_partners "$XP_WORK/partners-b.lua" 1 a.test
xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners --extra-lua "$SOURCE_LUA" ||
	xp_bail "a.test did not start"
xp_start_prosody b "$(xp_addr b.test)" b.test --module xmpp_partners \
	--extra-lua "Include \"$XP_WORK/partners-b.lua\"" || xp_bail "b.test did not start"
xp_register a alice@a.test >/dev/null && xp_register b bob@b.test >/dev/null || xp_bail "accounts"
LOG=$(xp_server_log a)

# Streams a.test has with partners ("partners sessions" rows).
sessions() {
	xp_shell_cmd a partners sessions 2>/dev/null | grep -cE '^(in|out) '
}
# Establish s2s both ways: a message a -> b, and b's answer to the ping.
traffic() {
	"$BX_XPMSG" --jid alice@a.test --password "$XP_PASSWORD" --host "$(xp_addr a.test)" \
		--cafile "$XP_CA" --timeout 30 send bob@b.test 1 >/dev/null
}
count_applied() { grep -cE 'Partner policy (re)?loaded' "$LOG"; }

# apply METHOD: run it, print the seconds until the module logged the new table.
apply() {
	local before t0 t1 i
	before=$(count_applied)
	t0=$(date +%s.%N)
	case $1 in
	sighup) xp_prosodyctl a reload >/dev/null 2>&1 ;;
	shell) xp_shell a "config:reload()" >/dev/null 2>&1 ;;
	module) xp_shell a "module:reload('xmpp_partners')" >/dev/null 2>&1 ;;
	esac
	for i in $(seq 1 6000); do # at most 60 s
		[ "$(count_applied)" -gt "$before" ] && break
		sleep 0.01
	done
	t1=$(date +%s.%N)
	[ "$(count_applied)" -gt "$before" ] || return 1
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

traffic || xp_bail "no s2s traffic between a.test and b.test"
echo "# reload: a new table (${BX_SOURCE:-include}) applied to a running server, median of $RUNS runs; load average $(bx_loadavg) at start"
printf '%-8s %9s %10s %16s %16s\n' method partners seconds "sessions before" "sessions after"
gen=0
rc=0
for size in $SIZES; do
	for m in $METHODS; do
		times=()
		for r in $(seq 1 "$RUNS"); do
			traffic
			s0=$(sessions) c0=$(xp_s2s_connections)
			gen=$((gen + 1))
			bx_partners "$PA.new" "$size" b.test
			sed "s/partner\([0-9]*\)\.corp/partner\1g$gen.corp/" "$PA.new" >"$PA"
			t=$(apply "$m") || { echo "# $m: the reload was not applied in 60 s" >&2; rc=1; continue; }
			times+=("$t")
			sleep 0.5
			s1=$(sessions) c1=$(xp_s2s_connections)
			n=$(grep -E 'Partner policy (re)?loaded' "$LOG" | tail -n 1 | grep -oE '[0-9]+ partners')
		done
		printf '%-8s %9s %10s %16s %16s\n' "$m" "${n% partners}" "$(bx_median "${times[@]}")" \
			"$s0 ($c0 tcp)" "$s1 ($c1 tcp)"
		echo "#   runs: ${times[*]} s; load average $(bx_loadavg)"
	done
done
exit "$rc"
