#!/bin/bash
# t_proxy_limits_keepalive.sh: the per-partner proxy, connection_limit and
# keepalive settings, and the global xmpp_partners_connection_limit.
#
# Server "p" serves p.test and q.test.  Our hosts file gives p.test no
# address at all and q.test the address of nothing; a.test reaches them only
# through their proxy settings (an address, and a host name with a port).
# Server "l" serves lim.test, lim2.test (connection_limit = 1), g.test, h.test
# (for the global limit) and k1.test, k2.test (keepalive true / false), and
# logs every whitespace-only chunk it receives on s2s streams (test module
# mod_xp_test_whitespace), so keepalives are seen where they arrive.  The
# keepalive count is also read from a.test's metric through prosodyctl shell.
# Phase 1 (proxy, keepalive) and phase 2 (limits) use two partner tables;
# the reload between them closes phase 1's streams.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
tap_plan 23

xp_host a.test
xp_new_addr >/dev/null
P=$XP_LAST_ADDR # server p; p.test is not in the hosts file
xp_host gw.test "$P"
xp_new_addr >/dev/null
xp_host q.test "$XP_LAST_ADDR" # nobody listens there
xp_host lim.test
L=$(xp_addr lim.test)
for d in lim2.test g.test h.test k1.test k2.test; do xp_host "$d" "$L"; done
# r.test: a partner without proxy and without address (the control).

mkdir -p "$XP_WORK/plugins"
cat >"$XP_WORK/plugins/mod_xp_test_whitespace.lua" <<'EOF'
-- Test module: log whitespace-only data received on s2s streams (keepalives).
module:set_global();
local filters = require "util.filters";
module:hook("s2s-created", function (event)
	local session = event.session;
	filters.add_filter(session, "bytes/in", function (data)
		if data:match("^%s+$") then
			local remote = session.direction == "outgoing" and session.to_host or session.from_host;
			session.log("info", "xp_test_whitespace: keepalive from %s on %s (%d bytes)",
				tostring(remote), session.direction, #data);
		end
		return data;
	end, 1000);
end);
EOF

PARTNERS=$XP_WORK/partners-a.lua
cat >"$PARTNERS" <<EOF
xmpp_partners = {
	["p.test"] = { type = "federated", proxy = "$P" };
	["q.test"] = { type = "federated", proxy = "gw.test:5269" };
	["r.test"] = { type = "federated" };
	["k1.test"] = { type = "federated" };
	["k2.test"] = { type = "federated", keepalive = false };
}
xmpp_partners_keepalive_interval = 1
EOF
ok=1
xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
	--extra-lua "statistics = \"internal\"
Include $(xp__lua_str "$PARTNERS")" || ok=0
xp_start_prosody p "$P" p.test q.test --no-hosts-entry || ok=0
xp_start_prosody l "$L" lim.test lim2.test g.test h.test k1.test k2.test \
	--plugin-path "$XP_WORK/plugins" --module xp_test_whitespace || ok=0
if [ "$ok" = 1 ]; then
	tap_ok "a.test (mod_xmpp_partners), p (p.test, q.test) and l (lim, lim2, g, h, k1, k2.test) started"
else
	tap_fail "servers started"
	xp_bail "cannot start the servers"
fi

# ---- accounts and receivers --------------------------------------------------------
reg_ok=1
for acct in a:alice@a.test p:bob@p.test p:bob@q.test l:bob@lim.test l:bob@lim2.test \
	l:bob@g.test l:bob@k1.test l:bob@k2.test; do
	xp_register "${acct%%:*}" "${acct#*:}" >>"$XP_WORK/register.out" 2>&1 || reg_ok=0
done
# host_of JID: the address JID's client connects to.
host_of() {
	case $1 in *@p.test | *@q.test) echo "$P" ;; *@a.test) xp_addr a.test ;; *) echo "$L" ;; esac
}
# rx_of JID: the name of JID's background receiver.
rx_of() { local n=${1//[@.]/-}; echo "rx-$n"; }
for jid in alice@a.test bob@p.test bob@q.test bob@lim.test bob@lim2.test bob@g.test \
	bob@k1.test bob@k2.test; do
	xp_client_bg "$(rx_of "$jid")" --host "$(host_of "$jid")" --resource rx --timeout 5 "$jid" wait 600
done
for jid in alice@a.test bob@p.test bob@q.test bob@lim.test bob@lim2.test bob@g.test \
	bob@k1.test bob@k2.test; do
	xp_client_ready "$(rx_of "$jid")" || reg_ok=0
done
if [ "$reg_ok" = 1 ]; then
	tap_ok "accounts registered; a receiver online for each"
else
	tap_fail "accounts registered; receivers online" "$(cat "$XP_WORK/register.out")"
	xp_bail "no accounts"
fi

# delivered NAME FROM TO BODY: FROM's message reaches TO's receiver.
delivered() {
	local name=$1 from=$2 to=$3 body=$4 out rc rx
	rx=$(xp_client_out "$(rx_of "$to")")
	out=$(xp_client --host "$(host_of "$from")" "$from" send "$to" "$body" 2>&1)
	rc=$?
	for _ in $(seq 1 100); do
		grep -q "body=$body\$" "$rx" && break
		sleep 0.05
	done
	if [ "$rc" -eq 0 ] && grep -q "^message from=$from/[^ ]* type=chat body=$body\$" "$rx"; then
		tap_ok "$name"
	else
		tap_fail "$name" "sender exit $rc: $out
$(xp_client_report "$(rx_of "$to")")
$(xp_log_new a | grep -E 'refused|policy' | tail -n 5)"
	fi
}

# bounced NAME FROM TO CONDITION LOGREGEX: FROM's message to TO bounces with
# CONDITION (* = any), TO never gets it, and a.test logs LOGREGEX once.
bounced() {
	local name=$1 from=$2 to=$3 cond=$4 re=$5 body out rc n rx=/dev/null
	body="bounce-$RANDOM"
	xp_log_mark a
	case $to in *@a.test | *@lim.test | *@lim2.test | *@g.test) rx=$(xp_client_out "$(rx_of "$to")") ;; esac
	out=$(xp_client --host "$(host_of "$from")" "$from" send "$to" "$body" \
		expect-error-from "$to" "$cond" 2>&1)
	rc=$?
	sleep 0.2
	n=$(xp_log_count a "$re")
	if [ "$rc" -eq 0 ] && [ "$n" -eq 1 ] && ! grep -q "body=$body\$" "$rx"; then
		tap_ok "$name"
	else
		tap_fail "$name" "client exit $rc (0 = bounced with $cond); log lines matching '$re': $n (want 1)
$out
$(xp_log_new a | grep -E 'refused|policy|limit' | tail -n 8)"
	fi
}

# ---- proxy -------------------------------------------------------------------------
xp_log_mark a
delivered "proxy = \"$P\": alice reaches bob@p.test, whose domain has no address" \
	alice@a.test bob@p.test via-proxy-addr
delivered "proxy = \"gw.test:5269\": alice reaches bob@q.test, whose address has no server" \
	alice@a.test bob@q.test via-proxy-name
bounced "control: r.test (a partner without proxy and without address) is unreachable" \
	alice@a.test bob@r.test remote-server-not-found 'Destroying outgoing session a\.test->r\.test'

# ---- keepalive ----------------------------------------------------------------------
# Streams a -> k1, k1 -> a and a -> k2, then idle for a while.
delivered "alice -> bob@k1.test (opens a.test -> k1.test)" alice@a.test bob@k1.test ka-1
delivered "bob@k1.test -> alice (opens k1.test -> a.test)" bob@k1.test alice@a.test ka-2
delivered "alice -> bob@k2.test (opens a.test -> k2.test, keepalive = false)" alice@a.test bob@k2.test ka-3
metric() {
	xp_shell a "> local r = require'core.statsmanager'.get_metric_registry(); local n = 0; for v in r:render():gmatch('prosody_mod_xmpp_partners__keepalives_total{partner=\"$1\"} (%d+)') do n = n + tonumber(v) end; return 'keepalives=' .. n" 2>&1 |
		sed -n 's/.*keepalives=\([0-9]*\).*/\1/p'
}
m0_k1=$(metric k1.test)
xp_log_mark l
t0=$(date +%s.%N)
sleep 3.5
k1_out=$(xp_log_count l 'xp_test_whitespace: keepalive from a\.test on incoming')
k1_in=$(xp_log_count l 'xp_test_whitespace: keepalive from a\.test on outgoing')
t1=$(date +%s.%N)
# With interval 1 a keepalive leaves after 1 to 1.25 s of idle time (the
# module checks four times an interval): in IDLE seconds at most IDLE/1 + 1
# of them, and (allowing timer slack: 1.5 s) at least IDLE/1.5.
read -r IDLE lo hi < <(awk -v a="$t0" -v b="$t1" 'BEGIN { d = b - a; l = int(d / 1.5); if (l < 1) l = 1; printf "%.2f %d %d\n", d, l, int(d) + 1 }')
# Which of l's streams carried them: only k1's, never k2's.
k2_any=$(xp_log_new l | grep 'xp_test_whitespace' | grep -c 'k2\.test')
streams=$(xp_log_new l | grep 'xp_test_whitespace' | awk '{print $4}' | sort -u | wc -l)
if [ "$k1_out" -ge "$lo" ] && [ "$k1_out" -le "$hi" ]; then
	tap_ok "keepalive_interval = 1: k1.test received $k1_out whitespace keepalives on a.test -> k1.test in ${IDLE}s idle ($lo..$hi expected)"
else
	tap_fail "keepalives on a.test -> k1.test at the interval" "got $k1_out in ${IDLE}s (want $lo..$hi)
$(xp_log_new l | grep xp_test_whitespace)"
fi
if [ "$k1_in" -ge "$lo" ] && [ "$k1_in" -le "$hi" ]; then
	tap_ok "... and $k1_in on the incoming stream k1.test -> a.test ($lo..$hi expected)"
else
	tap_fail "keepalives on k1.test -> a.test at the interval" "got $k1_in in ${IDLE}s (want $lo..$hi)"
fi
m_k1=$(metric k1.test)
m_k2=$(metric k2.test)
if [ "$streams" -eq 2 ] && [ "${m_k2:-x}" = 0 ]; then
	tap_ok "keepalive = false: k2.test's stream got none (whitespace only on k1's 2 streams; metric k2.test = 0)"
else
	tap_fail "no keepalives for k2.test (keepalive = false)" "streams with whitespace at l: $streams (want 2); k2 lines: $k2_any; metric k2: '$m_k2'"
fi
if [ -n "$m_k1" ] && [ $((m_k1 - m0_k1)) -ge $((k1_out + k1_in)) ]; then
	tap_ok "metric keepalives{partner=\"k1.test\"} counted them ($m0_k1 -> $m_k1; l saw $((k1_out + k1_in)))"
else
	tap_fail "metric keepalives counts them" "metric before '$m0_k1', after '$m_k1'; l saw $((k1_out + k1_in))"
fi

# ---- connection limits ------------------------------------------------------------------
cat >"$PARTNERS" <<EOF
xmpp_partners = {
	["lim.test"] = { type = "federated", connection_limit = 1 };
	["lim2.test"] = { type = "federated", connection_limit = 1 };
	["g.test"] = { type = "federated" };
	["h.test"] = { type = "federated" };
}
xmpp_partners_connection_limit = 3
EOF
if xp_reload_partners a && xp_wait_no_s2s 5; then
	tap_ok "reload to the limits table: the streams of phase 1 (no longer partners) are closed"
else
	tap_fail "reload to the limits table closes phase 1's streams" "connections left: $(xp_s2s_connections)"
fi
delivered "lim.test (connection_limit = 1): bob@lim.test -> alice opens its one connection" \
	bob@lim.test alice@a.test lim-in
bounced "lim.test: a second connection (alice -> bob@lim.test) is refused: 'refused outgoing s2s to lim.test: the partner's connection_limit is reached'" \
	alice@a.test bob@lim.test resource-constraint "info	refused outgoing s2s to lim\\.test: the partner's connection_limit is reached\$"
delivered "lim2.test (connection_limit = 1): alice -> bob@lim2.test opens its one connection" \
	alice@a.test bob@lim2.test lim2-out
bounced "lim2.test: a second connection (bob@lim2.test -> alice) is refused: 'refused incoming s2s from lim2.test: the partner's connection_limit is reached'" \
	bob@lim2.test alice@a.test '*' "info	refused incoming s2s from lim2\\.test: the partner's connection_limit is reached\$"
delivered "g.test: alice -> bob@g.test opens the 3rd connection (xmpp_partners_connection_limit = 3)" \
	alice@a.test bob@g.test g-out
bounced "global limit: a 4th connection (bob@g.test -> alice) is refused: 'refused incoming s2s from g.test: xmpp_partners_connection_limit ... is reached'" \
	bob@g.test alice@a.test '*' "info	refused incoming s2s from g\\.test: xmpp_partners_connection_limit \\(all partners together\\) is reached\$"
bounced "global limit: a new connection to h.test is refused: 'refused outgoing s2s to h.test: xmpp_partners_connection_limit ... is reached'" \
	alice@a.test bob@h.test resource-constraint "info	refused outgoing s2s to h\\.test: xmpp_partners_connection_limit \\(all partners together\\) is reached\$"
delivered "the connections within the limits still carry traffic (alice -> bob@lim2.test again)" \
	alice@a.test bob@lim2.test lim2-again

tap_stop_all
tap_done
