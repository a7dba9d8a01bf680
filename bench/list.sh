#!/bin/bash
# bench/list.sh: `prosodyctl shell partners list` on a large table, and what
# the table costs in memory (issue 20, item 7).
#
# a.test (mod_xmpp_partners) starts with N synthetic partners (BX_SIZES,
# default 500000) given by BX_SOURCE (file: xmpp_partners_file, the
# default; include: Include into prosody.cfg.lua).  Printed per size, with
# the server's resident memory (VmRSS, /proc/PID/status) at each step:
#   start      seconds until "Partner policy loaded", RSS then
#   list       seconds for `partners list` (first 100 rows and a summary),
#              its output lines, RSS after
#   pattern    seconds for `partners list partner4242` (a substring search
#              over every partner), RSS after
#   reload     seconds for SIGHUP until "Partner policy reloaded", RSS
#              after
# At start and after the reload also Prosody's Lua heap after a full
# collection (collectgarbage("count") through the shell): RSS minus that is
# C memory (the core's table, the allocator's free pages).
#
#   BX_SIZES="100000 500000" BX_SOURCE=include bash bench/list.sh
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/bench/lib-bench.sh"
XP_CLIENT_TIMEOUT=${XP_CLIENT_TIMEOUT:-60} # xp_shell is bounded by twice this

SIZES=${BX_SIZES:-500000}
SOURCE=${BX_SOURCE:-file}
xp_init
xp_host a.test

rss() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
# heap NAME: Prosody's Lua heap in MiB (after a full collection).
heap() {
	xp_shell "$1" "> collectgarbage('collect'); return ('heap=%.0f'):format(collectgarbage('count') / 1024)" 2>&1 |
		sed -n 's/.*heap=\([0-9]*\).*/\1/p'
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

echo "# partners list on a large table (source: $SOURCE)"
n_srv=0
for n in $SIZES; do
	n_srv=$((n_srv + 1))
	PA=$XP_WORK/partners-$n.lua
	bx_partners "$PA" "$n" b.test
	case $SOURCE in
	file) src="xmpp_partners_file = \"$PA\"" ;;
	include) src="Include \"$PA\"" ;;
	*) xp_bail "BX_SOURCE is file or include" ;;
	esac
	t0=$(now)
	xp_start_prosody "a$n_srv" "$(xp_addr a.test)" a.test --module xmpp_partners \
		--extra-lua "$src" || xp_bail "a.test did not start with $n partners"
	xp_wait_log "a$n_srv" 'Partner policy loaded' 120 || xp_bail "no table loaded with $n partners"
	pid=$(xp_server_pid "a$n_srv")
	echo "size=$n step=start seconds=$(since "$t0") rss_mib=$(rss "$pid") lua_heap_mib=$(heap "a$n_srv")"

	t0=$(now)
	out=$(xp_shell_cmd "a$n_srv" partners list 2>&1); lines=$(printf "%s\n" "$out" | wc -l); [ "$lines" -lt 5 ] && echo "# output: $out"
	echo "size=$n step=list seconds=$(since "$t0") lines=$lines rss_mib=$(rss "$pid")"
	t0=$(now)
	lines=$(xp_shell_cmd "a$n_srv" partners list partner4242 2>&1 | wc -l)
	echo "size=$n step=pattern seconds=$(since "$t0") lines=$lines rss_mib=$(rss "$pid")"

	before=$(grep -c 'Partner policy reloaded' "$(xp_server_log "a$n_srv")")
	t0=$(now)
	kill -HUP "$pid"
	xp_wait_log "a$n_srv" 'Partner policy reloaded' 120 "$((before + 1))" || echo "# reload not logged"
	echo "size=$n step=reload seconds=$(since "$t0") rss_mib=$(rss "$pid") lua_heap_mib=$(heap "a$n_srv")"
	xp_stop "a$n_srv"
done
