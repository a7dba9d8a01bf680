#!/bin/bash
# bench/s2s.sh: established s2s traffic between two real Prosody servers.
#
# alice@a.test sends chat messages to bob@b.test over one established s2s
# stream, for each configuration: no policy module; bench/mod_bench_allowlist
# (a plain allow list); mod_xmpp_partners with each table size in BX_SIZES
# (the peer plus synthetic partners), the table Included into the config
# (partners:N) and, for sizes above 1000, also read through
# xmpp_partners_file (file:N).  BX_CONFIGS may also name controls:
# none:N (no module, but a table of N partners in the config, unused) and
# allowlist:N (the allow list with N domains).  Both servers run the same
# configuration.  Prints, per configuration, the receiver's rate (first to
# last message, median of BX_RUNS runs of BX_MSGS messages) and, unless
# BX_CALLGRIND=0, the instructions per message on each server measured with
# callgrind (both servers under callgrind; counters zeroed, an idle window
# and a window with BX_CG_MSGS messages dumped; per message = (busy - idle
# rate * busy time) / messages).
#
#   BX_MSGS=5000 BX_RUNS=5 BX_SIZES="10 100000" BX_CG_MSGS=1000 bash bench/s2s.sh
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/bench/lib-bench.sh"

N=${BX_MSGS:-5000}
RUNS=${BX_RUNS:-5}
SIZES=${BX_SIZES:-"10 100000"}
CG=${BX_CALLGRIND:-1}
CG_N=${BX_CG_MSGS:-1000}
IDLE=${BX_IDLE:-2}
CONFIGS=${BX_CONFIGS:-"none allowlist $(for s in $SIZES; do
	printf 'partners:%s ' "$s"
	[ "$s" -gt 1000 ] && printf 'file:%s ' "$s"
done)"}

xp_init
[ -x "$BX_XPMSG" ] || xp__missing "bench/xpmsg not built (needs libstrophe)"
xp_host a.test
xp_host b.test
bx_partners "$XP_WORK/partners-a-10.lua" 1 b.test # rewritten per size

# args_for CONFIG SERVER PEER: the xp_start_prosody options.
args_for() {
	local f=$XP_WORK/partners-$2-${1#*:}.lua
	case $1 in
	none) ;;
	none:*) # no module, but the partner table in the config (unused)
		[ -f "$f" ] || bx_partners "$f" "${1#none:}" "$3"
		printf '%s\n' --extra-lua "Include \"$f\"" ;;
	allowlist) printf '%s\n' --plugin-path "$top_srcdir/bench" --module bench_allowlist \
		--extra-lua "bench_allowlist = { \"$3\" }" ;;
	allowlist:*) # the allow list with the peer plus synthetic domains
		f=$XP_WORK/allow-$2-${1#allowlist:}.lua
		[ -f "$f" ] || {
			printf 'bench_allowlist = { "%s";\n' "$3"
			awk -v n="$((${1#allowlist:} - 1))" 'BEGIN { for (i = 1; i <= n; i++) printf "\t\"partner%d.corp%d.test\";\n", i, i % 977 }'
			echo "}"
		} >"$f"
		printf '%s\n' --plugin-path "$top_srcdir/bench" --module bench_allowlist --extra-lua "Include \"$f\"" ;;
	partners:*)
		[ -f "$f" ] || bx_partners "$f" "${1#partners:}" "$3"
		printf '%s\n' --module xmpp_partners --extra-lua "Include \"$f\"" ;;
	file:*) # the same table, read through xmpp_partners_file
		f=$XP_WORK/partners-$2-${1#file:}.lua
		[ -f "$f" ] || bx_partners "$f" "${1#file:}" "$3"
		printf '%s\n' --module xmpp_partners --extra-lua "xmpp_partners_file = \"$f\"" ;;
	esac
}

start_pair() { # CONFIG [callgrind]
	local cfg=$1 cg=${2:-} a_args b_args
	mapfile -t a_args < <(args_for "$cfg" a b.test)
	mapfile -t b_args < <(args_for "$cfg" b a.test)
	[ -n "$cg" ] && bx_prosody_under_callgrind "$XP_WORK/cg-a"
	xp_start_prosody a "$(xp_addr a.test)" a.test "${a_args[@]}" || return 1
	[ -n "$cg" ] && bx_prosody_under_callgrind "$XP_WORK/cg-b"
	xp_start_prosody b "$(xp_addr b.test)" b.test "${b_args[@]}" || return 1
	bx_prosody_plain
	case $cfg in partners:* | file:*)
		xp_wait_log a 'Partner policy loaded' 120 && xp_wait_log b 'Partner policy loaded' 120 || return 1 ;;
	esac
}

registered=0
register() {
	[ "$registered" = 1 ] && return 0
	xp_register a alice@a.test >/dev/null && xp_register b bob@b.test >/dev/null && registered=1
}

# one_run COUNT: bob receives COUNT messages from alice; prints
# "<receiver rate> <sender rate>".
one_run() {
	local n=$1 out=$XP_WORK/rx.out tx i
	: >"$out"
	"$BX_XPMSG" --jid bob@b.test --password "$XP_PASSWORD" --host "$(xp_addr b.test)" \
		--cafile "$XP_CA" --timeout 300 recv "$n" >"$out" 2>&1 &
	XP_CLI_PID[rx]=$!
	for i in $(seq 1 600); do grep -q '^ready' "$out" && break; sleep 0.1; done
	tx=$("$BX_XPMSG" --jid alice@a.test --password "$XP_PASSWORD" --host "$(xp_addr a.test)" \
		--cafile "$XP_CA" --timeout 300 send bob@b.test "$n")
	xp_client_wait rx 300 >/dev/null
	if ! grep -q '^result=ok' "$out" || [ "$(bx_field "$tx" result)" != ok ]; then
		echo "# run failed: sender: $tx; receiver: $(tr '\n' ' ' <"$out")" >&2
		return 1
	fi
	echo "$(bx_field "$(grep '^result' "$out")" rate) $(bx_field "$tx" rate)"
}

cg_ir() { # SERVER-PID FILE-PREFIX: dump now, print the dump's total Ir
	local before after
	before=$(ls "$2".* 2>/dev/null | wc -l)
	callgrind_control -d "$1" >/dev/null 2>&1 || return 1
	for _ in $(seq 1 200); do
		after=$(ls "$2".* 2>/dev/null | wc -l)
		[ "$after" -gt "$before" ] && break
		sleep 0.1
	done
	bx_callgrind_total "$(ls -v "$2".* | tail -n 1)"
}

rc=0
echo "# s2s traffic: $N messages per run, median of $RUNS runs; load average $(bx_loadavg) at start"
printf '%-18s %12s %12s %14s %14s %14s\n' config "rx msg/s" "tx msg/s" "Ir/msg a.test" "Ir/msg b.test" "Ir/msg both"
for cfg in $CONFIGS; do
	start_pair "$cfg" || xp_bail "servers did not start ($cfg)"
	register || xp_bail "cannot register the accounts"
	one_run 50 >/dev/null || xp_bail "warm-up failed ($cfg)"
	rx=() tx=()
	for r in $(seq 1 "$RUNS"); do
		res=$(one_run "$N") || { rc=1; continue; }
		rx+=("${res% *}")
		tx+=("${res#* }")
	done
	irs="- - -"
	if [ "$CG" = 1 ]; then
		xp_stop a
		xp_stop b
		XP_START_TIMEOUT=300 start_pair "$cfg" callgrind || xp_bail "servers did not start under callgrind ($cfg)"
		one_run 50 >/dev/null || xp_bail "warm-up under callgrind failed ($cfg)"
		pa=$(xp_server_pid a) pb=$(xp_server_pid b)
		callgrind_control -i on "$pa" >/dev/null 2>&1 && callgrind_control -i on "$pb" >/dev/null 2>&1
		cg_ir "$pa" "$XP_WORK/cg-a" >/dev/null
		cg_ir "$pb" "$XP_WORK/cg-b" >/dev/null
		t0=$(date +%s.%N)
		sleep "$IDLE"
		ia=$(cg_ir "$pa" "$XP_WORK/cg-a")
		ib=$(cg_ir "$pb" "$XP_WORK/cg-b")
		t1=$(date +%s.%N)
		one_run "$CG_N" >/dev/null || xp_bail "callgrind run failed ($cfg)"
		ba=$(cg_ir "$pa" "$XP_WORK/cg-a")
		bb=$(cg_ir "$pb" "$XP_WORK/cg-b")
		t2=$(date +%s.%N)
		irs=$(awk -v ia="$ia" -v ib="$ib" -v ba="$ba" -v bb="$bb" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v n="$CG_N" 'BEGIN {
			ra = ia / (t1 - t0); rb = ib / (t1 - t0)
			a = (ba - ra * (t2 - t1)) / n; b = (bb - rb * (t2 - t1)) / n
			printf "%.0f %.0f %.0f", a, b, a + b }')
		rm -f "$XP_WORK"/cg-a* "$XP_WORK"/cg-b*
	fi
	set -- $irs
	printf '%-18s %12.0f %12.0f %14s %14s %14s\n' "$cfg" "$(bx_median "${rx[@]}")" "$(bx_median "${tx[@]}")" "$1" "$2" "$3"
	echo "#   runs: rx ${rx[*]} / tx ${tx[*]}; load average $(bx_loadavg)"
	xp_stop a
	xp_stop b
done
exit "$rc"
