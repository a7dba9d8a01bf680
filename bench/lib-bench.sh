# bench/lib-bench.sh: helpers of the server benchmarks (bench/s2s.sh,
# flood.sh, reload.sh, subscribe.sh).  Source it from bash; it sources the
# integration harness (tests/integration/lib.sh: servers on 127.71.X.Y,
# certificates, clean-up by PID) and adds:
#
#   bx_init TOOL                   xp_init, skip unless bench/TOOL (xpmsg
#                                  or xpflood) is built, a.test and b.test
#                                  in the hosts file
#   bx_partners FILE N DOMAIN...   a partner file: the DOMAINs (federated,
#                                  defaults) plus N-#DOMAINs synthetic ones
#   bx_median V...                 the median of numbers
#   bx_field LINE KEY              the value of KEY=... in a result line
#   bx_loadavg                     the 1-minute load average now
#   bx_cpu_ticks PID               utime + stime of PID (clock ticks)
#   bx_prosody_under_callgrind F   make the next xp_start_prosody run the
#                                  server under callgrind, dumps to F.*
#   bx_callgrind_total F           total Ir of the callgrind dump F
#
# shellcheck shell=bash
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"
XP_LOG_LEVEL=${XP_LOG_LEVEL:-info} # debug logging would dominate every cost
BX_XPMSG=${BX_XPMSG:-$top_builddir/bench/xpmsg}
BX_XPFLOOD=${BX_XPFLOOD:-$top_builddir/bench/xpflood}
BX_PROSODY_DEFAULT=$XP_PROSODY

bx_init() {
	xp_init
	case $1 in
	xpmsg) [ -x "$BX_XPMSG" ] || xp__missing "bench/xpmsg not built (needs libstrophe)" ;;
	xpflood) [ -x "$BX_XPFLOOD" ] || xp__missing "bench/xpflood not built" ;;
	*) xp_bail "bx_init: unknown tool $1" ;;
	esac
	xp_host a.test
	xp_host b.test
}

bx_partners() {
	local file=$1 n=$2
	shift 2
	{
		echo "xmpp_partners = {"
		for d in "$@"; do printf '\t["%s"] = { type = "federated" };\n' "$d"; done
		awk -v n="$((n - $#))" 'BEGIN {
			for (i = 1; i <= n; i++)
				printf "\t[\"partner%d.corp%d.test\"] = { type = \"%s\"; tls = \"required\"; sasl = \"optional\"; dialback = %s };\n",
					i, i % 977, (i % 3 == 0 ? "federated" : (i % 3 == 1 ? "public_verified" : "public_unverified")),
					(i % 2 ? "true" : "false")
		}'
		echo "}"
	} >"$file"
}

bx_median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bx_field() {
	local w
	for w in $1; do
		case $w in "$2="*) echo "${w#*=}"; return 0 ;; esac
	done
	return 1
}

bx_loadavg() { cut -d' ' -f1 /proc/loadavg; }

bx_cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat") || return 1
	s=${s##*) }
	set -- $s
	echo $((${12} + ${13})) # fields 14 and 15 of the whole line
}

bx_prosody_under_callgrind() {
	local out=$1 wrap=$XP_WORK/prosody-callgrind lua
	# The interpreter that BX_PROSODY_DEFAULT's #! line names (lua5.4 for
	# Debian's 0.12), so another Prosody (XP_PROSODY) runs as it would.
	lua=$(XP_PROSODY=$BX_PROSODY_DEFAULT xp__prosody_lua) || lua=lua5.4
	{
		echo '#!/bin/sh'
		echo "exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$out $(command -v "$lua") $(command -v "$BX_PROSODY_DEFAULT") \"\$@\""
	} >"$wrap"
	chmod +x "$wrap"
	XP_PROSODY=$wrap
}

bx_prosody_plain() { XP_PROSODY=$BX_PROSODY_DEFAULT; }

bx_callgrind_total() {
	awk '/^(summary|totals):/ { print $2; exit }' "$1"
}
