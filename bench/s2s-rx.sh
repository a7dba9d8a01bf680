#!/bin/bash
# bench/s2s-rx.sh: instructions per message on the receiving server, and
# the guard that keeps mod_xmpp_partners within RX_LIMIT of a server
# without it (issue 16; scripts/test.sh runs it).
#
# a.test, the receiver, runs each configuration in RX_CONFIGS under
# callgrind; b.test is a stock Prosody (no policy module, not under
# callgrind).  bob@b.test sends chat messages to alice@a.test over one
# established s2s stream.  Per configuration: start a.test, a warm-up of
# 50 messages, counters on, an idle window of RX_IDLE seconds dumped, then
# a window with RX_MSGS messages dumped; per message = (busy - idle rate *
# busy time) / RX_MSGS.  The configurations (as bench/s2s.sh names them):
#   none               no policy module (the control; run it twice or more,
#                      the ratios are taken against the mean of its runs and
#                      the spread of its runs is printed as the drift)
#   partners:N         mod_xmpp_partners, b.test plus N-1 synthetic
#                      partners Included into the config
#   file:N             the same table read through xmpp_partners_file
#   none:N             control: no module, the N-partner table Included
# Exit status 1 when a module configuration's ratio is above RX_LIMIT (0
# turns the check off), or when a run fails; the servers run Prosody from
# XP_PROSODY (the interpreter under callgrind is the one its #! names).
#
#   RX_MSGS=3000 RX_CONFIGS="none partners:10 file:100000 none" bash bench/s2s-rx.sh
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/bench/lib-bench.sh"

N=${RX_MSGS:-3000}
IDLE=${RX_IDLE:-2}
LIMIT=${RX_LIMIT:-1.02}
CONFIGS=${RX_CONFIGS:-"none partners:10 file:100000 none"}

command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
	xp__missing "valgrind (callgrind) not found (Debian: apt-get install valgrind)"
bx_init xpmsg

# a_args CONFIG: a.test's xp_start_prosody options.
a_args() {
	local f=$XP_WORK/partners-${1#*:}.lua
	case $1 in
	none) return 0 ;;
	none:* | partners:* | file:*) [ -f "$f" ] || bx_partners "$f" "${1#*:}" b.test ;;
	*) xp_bail "unknown configuration $1" ;;
	esac
	case $1 in
	none:*) printf '%s\n' --extra-lua "Include \"$f\"" ;;
	partners:*) printf '%s\n' --module xmpp_partners --extra-lua "Include \"$f\"" ;;
	file:*) printf '%s\n' --module xmpp_partners --extra-lua "xmpp_partners_file = \"$f\"" ;;
	esac
}

# run COUNT: alice@a.test receives COUNT messages from bob@b.test.
run() {
	local n=$1 out=$XP_WORK/rx.out tx i
	: >"$out"
	"$BX_XPMSG" --jid alice@a.test --password "$XP_PASSWORD" --host "$(xp_addr a.test)" \
		--cafile "$XP_CA" --timeout 600 recv "$n" >"$out" 2>&1 &
	XP_CLI_PID[rx]=$!
	for i in $(seq 1 1200); do grep -q '^ready' "$out" && break; sleep 0.1; done
	tx=$("$BX_XPMSG" --jid bob@b.test --password "$XP_PASSWORD" --host "$(xp_addr b.test)" \
		--cafile "$XP_CA" --timeout 600 send alice@a.test "$n")
	xp_client_wait rx 600 >/dev/null
	if ! grep -q '^result=ok' "$out" || [ "$(bx_field "$tx" result)" != ok ]; then
		echo "# run failed: sender: $tx; receiver: $(tr '\n' ' ' <"$out")" >&2
		return 1
	fi
}

# dump PID PREFIX: dump the counters now, print the new dump's total Ir.
dump() {
	local before after
	before=$(ls "$2".* 2>/dev/null | wc -l)
	callgrind_control -d "$1" >/dev/null 2>&1 || return 1
	for _ in $(seq 1 300); do
		after=$(ls "$2".* 2>/dev/null | wc -l)
		[ "$after" -gt "$before" ] && break
		sleep 0.1
	done
	[ "$after" -gt "$before" ] || return 1
	bx_callgrind_total "$(ls -v "$2".* | tail -n 1)"
}

# measure CONFIG: a.test's instructions per received message, in MEASURED.
measure() {
	local cfg=$1 args pid cg=$XP_WORK/cg-a idle busy t0 t1 t2
	mapfile -t args < <(a_args "$cfg")
	bx_prosody_under_callgrind "$cg"
	XP_START_TIMEOUT=600 xp_start_prosody a "$(xp_addr a.test)" a.test "${args[@]}" || return 1
	bx_prosody_plain
	case $cfg in partners:* | file:*) xp_wait_log a 'Partner policy loaded' 600 || return 1 ;; esac
	xp_register a alice@a.test >/dev/null || return 1
	run 50 || return 1
	pid=$(xp_server_pid a)
	callgrind_control -i on "$pid" >/dev/null 2>&1 || return 1
	dump "$pid" "$cg" >/dev/null || return 1
	t0=$(date +%s.%N)
	sleep "$IDLE"
	idle=$(dump "$pid" "$cg") || return 1
	t1=$(date +%s.%N)
	run "$N" || return 1
	busy=$(dump "$pid" "$cg") || return 1
	t2=$(date +%s.%N)
	xp_stop a
	rm -f "$cg".*
	MEASURED=$(awk -v i="$idle" -v b="$busy" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v n="$N" \
		'BEGIN { printf "%.0f", (b - i / (t1 - t0) * (t2 - t1)) / n }')
}

xp_start_prosody b "$(xp_addr b.test)" b.test || xp_bail "b.test did not start"
xp_register b bob@b.test >/dev/null || xp_bail "cannot register bob@b.test"

echo "# a.test receives $N messages from a stock b.test per configuration, under callgrind;"
echo "# Prosody: $(command -v "$XP_PROSODY"), load average $(bx_loadavg) at start"
declare -A ir=()
cfgs=()
rc=0
i=0
for cfg in $CONFIGS; do
	i=$((i + 1))
	key="$i:$cfg"
	measure "$cfg" || xp_bail "the run of $cfg failed"
	v=$MEASURED
	ir[$key]=$v
	cfgs+=("$key")
	echo "# $cfg: $v Ir/msg (load average $(bx_loadavg))"
done

controls=()
for key in "${cfgs[@]}"; do [ "${key#*:}" = none ] && controls+=("${ir[$key]}"); done
[ "${#controls[@]}" -gt 0 ] || xp_bail "RX_CONFIGS has no 'none' run to compare with"
base=$(printf '%s\n' "${controls[@]}" | awk '{ s += $1 } END { printf "%.1f", s / NR }')
drift=$(printf '%s\n' "${controls[@]}" | awk 'NR == 1 { lo = hi = $1 } { if ($1 < lo) lo = $1; if ($1 > hi) hi = $1 }
	END { printf "%.4f", (hi - lo) / ((hi + lo) / 2) }')

printf '%-16s %14s %10s\n' "a.test config" "Ir/msg" "vs none"
for key in "${cfgs[@]}"; do
	cfg=${key#*:}
	ratio=$(awk -v v="${ir[$key]}" -v b="$base" 'BEGIN { printf "%.4f", v / b }')
	printf '%-16s %14s %10s\n' "$cfg" "${ir[$key]}" "$ratio"
	case $cfg in none*) continue ;; esac
	if awk -v r="$ratio" -v l="$LIMIT" 'BEGIN { exit !(l > 0 && r > l) }'; then
		echo "FAIL: $cfg costs $ratio times the instructions per message of a server without the module (limit $LIMIT)"
		rc=1
	fi
done
echo "# control: ${#controls[@]} runs without the module, mean $base Ir/msg, spread $drift"
[ "$rc" = 0 ] && [ "$(awk -v l="$LIMIT" 'BEGIN { print (l > 0) }')" = 1 ] &&
	echo "ok: every module configuration within $LIMIT of no module"
exit "$rc"
