#!/bin/bash
# bench/subscribe.sh: inbound subscription requests through the contact
# policy.
#
# alice@a.test sends BX_SUBS subscription requests, one to each of
# BX_SUBS fresh accounts of b.test (offline), then pings b.test; the ping's
# answer comes after b.test has handled every request (one s2s stream keeps
# the order).  b.test runs:
#   none        no policy module: Prosody stores each request as pending
#   federated   mod_xmpp_partners, a.test type federated: each request is
#               approved automatically (roster saved, "subscribed" and the
#               contact's presence sent back)
#   unverified  mod_xmpp_partners, a.test type public_unverified: each
#               request from a stranger is refused ("unsubscribed" back)
# a.test runs mod_xmpp_partners with b.test as a federated partner in the
# module configurations, nothing in "none".  Every run has its own fresh
# sender on a.test (a growing roster makes a.test slower).  Prints requests
# per second (median of BX_RUNS runs), b.test's CPU time per request
# (utime + stime from /proc/PID/stat around the run) and, as a check, the
# roster entry b.test recorded for the last request of the last run.
#
#   BX_SUBS=500 BX_RUNS=3 bash bench/subscribe.sh
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/bench/lib-bench.sh"

N=${BX_SUBS:-500}
RUNS=${BX_RUNS:-3}
CONFIGS=${BX_CONFIGS:-"none federated unverified"}

bx_init xpmsg
printf 'xmpp_partners = { ["b.test"] = { type = "federated" } }\n' >"$XP_WORK/partners-a.lua"

echo "# subscription requests: $N per run to fresh offline accounts, median of $RUNS runs; load average $(bx_loadavg) at start"
printf '%-11s %12s %18s   %s\n' config "requests/s" "b.test CPU us/req" "last request's roster entry"
ci=0
rc=0
for cfg in $CONFIGS; do
	ci=$((ci + 1))
	case $cfg in
	none) a_args=() b_args=() ;;
	federated | unverified)
		t=federated
		[ "$cfg" = unverified ] && t=public_unverified
		printf 'xmpp_partners = { ["a.test"] = { type = "%s" } }\n' "$t" >"$XP_WORK/partners-b.lua"
		a_args=(--module xmpp_partners --extra-lua "Include \"$XP_WORK/partners-a.lua\"")
		b_args=(--module xmpp_partners --extra-lua "Include \"$XP_WORK/partners-b.lua\"") ;;
	*) xp_bail "unknown configuration $cfg" ;;
	esac
	xp_start_prosody a "$(xp_addr a.test)" a.test "${a_args[@]}" || xp_bail "a.test did not start"
	xp_start_prosody b "$(xp_addr b.test)" b.test "${b_args[@]}" || xp_bail "b.test did not start"
	out=$(xp_shell a "> local um = require 'core.usermanager'; for r = 1, $RUNS do um.create_user('s${ci}r'..r, 'pw', 'a.test') end; um.create_user('s${ci}w', 'pw', 'a.test'); return 'created'")
	case $out in *created*) ;; *) xp_bail "cannot create the senders: $out" ;; esac
	# Fresh accounts for every run, made inside b.test in one shell command.
	out=$(xp_shell b "> local um = require 'core.usermanager'; for r = 1, $RUNS do for i = 1, $N do um.create_user('c${ci}r'..r..'u'..i, 'pw', 'b.test') end end; return 'created'")
	case $out in *created*) ;; *) xp_bail "cannot create the accounts: $out" ;; esac
	# Establish the s2s streams first (not timed).
	"$BX_XPMSG" --jid "s${ci}w@a.test" --password pw --host "$(xp_addr a.test)" \
		--cafile "$XP_CA" --timeout 60 send "c${ci}r1u1@b.test" 1 >/dev/null ||
		xp_bail "no s2s stream ($cfg)"
	rates=() cpus=()
	pb=$(xp_server_pid b)
	for r in $(seq 1 "$RUNS"); do
		c0=$(bx_cpu_ticks "$pb")
		res=$("$BX_XPMSG" --jid "s${ci}r$r@a.test" --password pw --host "$(xp_addr a.test)" \
			--cafile "$XP_CA" --timeout 300 subscribe "c${ci}r${r}u%d@b.test" "$N")
		c1=$(bx_cpu_ticks "$pb")
		[ "$(bx_field "$res" result)" = ok ] || { echo "# run failed: $res" >&2; rc=1; continue; }
		cpus+=("$(awk -v a="$c0" -v b="$c1" -v n="$N" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", (b - a) / hz * 1e6 / n }')")
		rates+=("$(bx_field "$res" rate)")
	done
	state=$(xp_shell b "> local i = require 'core.rostermanager'.load_roster('c${ci}r${RUNS}u$N', 'b.test')['s${ci}r${RUNS}@a.test']; return i and ('subscription=' .. i.subscription .. (i.ask and ' ask=' .. i.ask or '')) or 'none'" 2>&1 | grep -oE 'subscription=[a-z]+|none' | head -n 1)
	pend=$(xp_shell b "> local r = require 'core.rostermanager'.load_roster('c${ci}r${RUNS}u$N', 'b.test'); return r[false] and r[false].pending and r[false].pending['s${ci}r${RUNS}@a.test'] and 'pending-in' or 'no-pending'" 2>&1 | grep -oE 'pending-in|no-pending' | head -n 1)
	printf '%-11s %12.0f %18.0f   %s\n' "$cfg" "$(bx_median "${rates[@]}")" "$(bx_median "${cpus[@]}")" "${state:-?}, ${pend:-?}"
	echo "#   runs: ${rates[*]} requests/s; ${cpus[*]} us/request; load average $(bx_loadavg)"
	xp_stop a
	xp_stop b
done
exit "$rc"
