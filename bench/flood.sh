#!/bin/bash
# bench/flood.sh: a flood of unauthorised incoming s2s connections.
#
# bench/xpflood opens BX_FLOOD_N connections (BX_FLOOD_C at a time) from
# the non-partner evil.test (or the partner b.test) to a.test, whose only
# partner is b.test:
#   module    mod_xmpp_partners: refused at the stream header, before TLS
#   secure    no policy module, s2s_secure_auth = true: STARTTLS, TLS
#             handshake, then Prosody closes the stream (no valid
#             certificate)
#   insecure  no policy module, s2s_secure_auth = false: STARTTLS, TLS
#             handshake, features (dialback offered); the peer gives up
#   retry     mod_xmpp_partners; the connections come from the partner
#             b.test (tls and sasl required, no dialback) without a
#             certificate, like a partner server that cannot meet its rules
#             and reconnects at once: the first is refused after TLS, the
#             rest at the stream header by the refusal back-off
#   retry-nobackoff   the same with xmpp_partners_refusal_backoff = 0: every
#             connection does the TLS handshake before it is refused
# Prints refusals per second and the server's CPU time per connection
# (utime + stime from /proc/PID/stat around the flood), medians of
# BX_RUNS runs.
#
#   BX_FLOOD_N=2000 BX_FLOOD_C=50 BX_RUNS=3 bash bench/flood.sh
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/bench/lib-bench.sh"

N=${BX_FLOOD_N:-2000}
C=${BX_FLOOD_C:-50}
RUNS=${BX_RUNS:-3}
SECS=${BX_FLOOD_SECONDS:-120}
CONFIGS=${BX_CONFIGS:-"module secure insecure"}

bx_init xpflood
bx_partners "$XP_WORK/partners.lua" 1 b.test

echo "# connection flood: $N connections from evil.test (retry: b.test), $C at a time, median of $RUNS runs; load average $(bx_loadavg) at start"
printf '%-10s %12s %16s %s\n' config "refused/s" "CPU us/conn" "how they ended (last run)"
rc=0
printf 'xmpp_partners_refusal_backoff = 0\n' >"$XP_WORK/nobackoff.lua"
for cfg in $CONFIGS; do
	from=evil.test
	case $cfg in
	retry | retry-nobackoff)
		from=b.test
		extra=""
		[ "$cfg" = retry-nobackoff ] && extra="Include \"$XP_WORK/nobackoff.lua\""
		xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
			--extra-lua "Include \"$XP_WORK/partners.lua\"
$extra" &&
			xp_wait_log a 'Partner policy loaded' 60 ;;
	module) xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
		--extra-lua "Include \"$XP_WORK/partners.lua\"" &&
		xp_wait_log a 'Partner policy loaded' 60 ;;
	secure) xp_start_prosody a "$(xp_addr a.test)" a.test --s2s-secure ;;
	insecure) xp_start_prosody a "$(xp_addr a.test)" a.test ;;
	*) xp_bail "unknown configuration $cfg" ;;
	esac || xp_bail "a.test did not start ($cfg)"
	rates=() cpus=()
	for r in $(seq 1 "$RUNS"); do
		out=$("$BX_XPFLOOD" --addr "$(xp_addr a.test)" --from "$from" --to a.test \
			-n "$N" -c "$C" --timeout "$SECS" --conn-timeout 10 --pid "$(xp_server_pid a)") || rc=1
		rates+=("$(bx_field "$out" rate)")
		cpus+=("$(bx_field "$out" cpu_us_per_conn)")
		last=$out
	done
	how=""
	for k in refused_before_tls refused_after_tls gave_up failed timeouts; do
		how="$how $k=$(bx_field "$last" "$k")"
	done
	printf '%-10s %12.0f %16.0f %s\n' "$cfg" "$(bx_median "${rates[@]}")" "$(bx_median "${cpus[@]}")" "$how"
	echo "#   runs: refused/s ${rates[*]}; CPU us/conn ${cpus[*]}; load average $(bx_loadavg)"
	xp_stop a
done
exit "$rc"
