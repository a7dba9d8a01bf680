#!/bin/bash
# t_allowlist.sh: the partner allow list with real Prosody servers.
#
# a.test runs mod_xmpp_partners (deny mode) with two partners: b.test, and
# d.test with the additional domain d2.test (both served by one server).
# a.test also serves the component conf.a.test (MUC), which the policy
# covers too.  c.test is not a partner; b.test.evil.test, evilb.test and sub.b.test look
# like the partner b.test and are served by a server of their own.
# Partners federate both ways; everyone else is refused both ways: the local
# user's message bounces with not-allowed, the remote server's stream is
# closed with policy-violation, and a.test logs the refusal once.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
LOOKALIKES=(b.test.evil.test evilb.test sub.b.test)
tap_plan $((2 + 2 + 2 + 2 + 2 + 2 * ${#LOOKALIKES[@]} + 2 + 1 + 2))

# Every domain before the first server starts; one address per server.
for d in a.test b.test c.test d.test evilb.test; do xp_host "$d"; done
xp_host conf.a.test "$(xp_addr a.test)"
xp_cert conf conf.a.test >/dev/null || xp_bail "cannot make conf.a.test's certificate"
xp_host d2.test "$(xp_addr d.test)"
for d in "${LOOKALIKES[@]}"; do xp_host "$d" "$(xp_addr evilb.test)"; done
cat >"$XP_WORK/partners-a.lua" <<'EOF'
xmpp_partners = {
	["b.test"] = { type = "federated", description = "a partner with the default rules" };
	["d.test"] = { type = "federated", additional_domains = { "d2.test" } };
}
xmpp_partners_default = "deny"
EOF

ok=1
xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
	--extra-lua "Include $(xp__lua_str "$XP_WORK/partners-a.lua")
Component \"conf.a.test\" \"muc\"
	ssl = { certificate = $(xp__lua_str "$XP_WORK/pki/conf.crt"), key = $(xp__lua_str "$XP_WORK/pki/conf.key") }" || ok=0
xp_start_prosody b "$(xp_addr b.test)" b.test || ok=0
xp_start_prosody c "$(xp_addr c.test)" c.test || ok=0
xp_start_prosody d "$(xp_addr d.test)" d.test d2.test || ok=0
xp_start_prosody evil "$(xp_addr evilb.test)" "${LOOKALIKES[@]}" || ok=0
if [ "$ok" = 1 ]; then
	tap_ok "a.test (mod_xmpp_partners), b.test, c.test, d.test+d2.test and the look-alikes' server started"
else
	tap_fail "servers started"
	xp_bail "cannot start the servers"
fi

reg_ok=1
for acct in a:alice@a.test b:bob@b.test c:carl@c.test d:dave@d.test d:dora@d2.test \
	evil:eve@b.test.evil.test evil:eve@evilb.test evil:eve@sub.b.test; do
	xp_register "${acct%%:*}" "${acct#*:}" >>"$XP_WORK/register.out" 2>&1 || reg_ok=0
done
# alice stays online the whole time: refused senders' messages must never
# reach her.
xp_client_bg rx-a --resource rx --timeout 5 alice@a.test wait 600
xp_client_ready rx-a || reg_ok=0
if [ "$reg_ok" = 1 ]; then
	tap_ok "accounts on every server; alice@a.test online"
else
	tap_fail "accounts on every server; alice@a.test online" "$(cat "$XP_WORK/register.out")"
	xp_bail "no accounts"
fi

# delivered NAME FROM TO BODY: FROM's message to TO reaches TO (alice is
# online all along as rx-a; anyone else through xp_delivered).
delivered() {
	local name=$1 from=$2 to=$3 body=$4 out rc_send rc_recv
	if [ "$to" = alice@a.test ]; then
		out=$(xp_client "$from" send "$to" "$body" 2>&1)
		rc_send=$?
		for _ in $(seq 1 100); do
			grep -q "^message from=$from/[^ ]* type=chat body=$body\$" "$(xp_client_out rx-a)" && break
			sleep 0.05
		done
		if [ "$rc_send" -eq 0 ] && grep -q "^message from=$from/[^ ]* type=chat body=$body\$" "$(xp_client_out rx-a)"; then
			tap_ok "$name"
		else
			tap_fail "$name" "sender exit $rc_send: $out
$(xp_client_report rx-a)"
		fi
		return
	fi
	xp_delivered "$name" "$from" "$to" "$body"
}

# refused_out DOMAIN: alice's message to DOMAIN bounces with not-allowed,
# a.test logs the refusal once and never connects to DOMAIN's server.
refused_out() {
	local domain=$1 srv=$2 out rc n conn
	xp_log_mark a
	xp_log_mark "$srv"
	out=$(xp_client alice@a.test send "user@$domain" "to-$domain" \
		expect-error-from "user@$domain" not-allowed 2>&1)
	rc=$?
	sleep 0.2
	n=$(xp_log_count a "info	refused outgoing s2s to $domain: not a partner\$")
	conn=$(xp_log_count "$srv" "Incoming s2s received <stream:stream [^>]*(from|to)='$domain'")
	if [ "$rc" -eq 0 ] && [ "$n" -eq 1 ] && [ "$conn" -eq 0 ]; then
		tap_ok "outgoing to $domain: alice's message bounces with not-allowed; 'refused outgoing s2s to $domain: not a partner' logged once; no connection made"
	else
		tap_fail "outgoing to $domain is refused" "client exit $rc (0 = bounced with not-allowed); refusal lines: $n (want 1); streams seen by $domain's server: $conn
$out"
	fi
}

# refused_in JID SERVER: JID's message to alice bounces back to JID, the
# stream is closed with policy-violation, a.test logs the refusal once and
# alice gets nothing.
refused_in() {
	local jid=$1 srv=$2 domain=${1#*@} out rc n pv
	xp_log_mark a
	xp_log_mark "$srv"
	out=$(xp_client "$jid" send alice@a.test "from-$domain" expect-error-from alice@a.test '*' 2>&1)
	rc=$?
	xp_wait_new_log "$srv" 'Session closed by remote with error: policy-violation' 5
	sleep 0.2
	n=$(xp_log_count a "info	refused incoming s2s from $domain: not a partner\$")
	pv=$(xp_log_count "$srv" "Session closed by remote with error: policy-violation \\(not a partner\\)")
	if [ "$rc" -eq 0 ] && [ "$n" -eq 1 ] && [ "$pv" -ge 1 ] &&
		! grep -q "body=from-$domain\$" "$(xp_client_out rx-a)"; then
		tap_ok "incoming from $domain: stream closed with policy-violation; 'refused incoming s2s from $domain: not a partner' logged once; the sender's message bounces"
	else
		tap_fail "incoming from $domain is refused" "client exit $rc (0 = bounced); refusal lines: $n (want 1); policy-violation seen by $srv: $pv
$out
$(xp_log_new a | grep -E "$domain|refused" | grep -vE 'Sending|Received' | tail -n 10)"
	fi
}

# ---- partners ----------------------------------------------------------------------
delivered "partner b.test: alice@a.test -> bob@b.test" alice@a.test bob@b.test hello-b
delivered "partner b.test: bob@b.test -> alice@a.test" bob@b.test alice@a.test hello-a-from-b
delivered "partner d.test: alice@a.test -> dave@d.test" alice@a.test dave@d.test hello-d
delivered "partner d.test: dave@d.test -> alice@a.test" dave@d.test alice@a.test hello-a-from-d
delivered "additional domain d2.test of partner d.test: alice@a.test -> dora@d2.test" alice@a.test dora@d2.test hello-d2
delivered "additional domain d2.test of partner d.test: dora@d2.test -> alice@a.test" dora@d2.test alice@a.test hello-a-from-d2

# ---- not partners ----------------------------------------------------------------------
refused_out c.test c
refused_in carl@c.test c
for d in "${LOOKALIKES[@]}"; do
	refused_out "$d" evil
	refused_in "eve@$d" evil
done

# ---- components are covered too: conf.a.test is a MUC service on a.test ---------------------
out=$(xp_client bob@b.test raw "<iq type='get' to='conf.a.test' id='disco1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>" wait 3 2>&1)
if printf '%s\n' "$out" | grep -q '^iq-result from=conf.a.test id=disco1'; then
	tap_ok "component conf.a.test: the partner b.test reaches it (disco#info answered)"
else
	tap_fail "component conf.a.test: the partner b.test reaches it" "$out"
fi
xp_log_mark a
out=$(xp_client --timeout 8 carl@c.test ping conf.a.test expect-error-from conf.a.test '*' 2>&1)
rc=$?
sleep 0.2
# (c.test was refused a moment ago: within its refusal back-off window the
# refusal comes at the stream header, logged at debug with the same text)
n=$(xp_log_count a "refused incoming s2s from c.test: not a partner( \\(refusal back-off[^)]*\\))?\$")
if [ "$rc" -eq 0 ] && [ "$n" -ge 1 ]; then
	tap_ok "component conf.a.test: c.test (not a partner) is refused there too, and the refusal logged"
else
	tap_fail "component conf.a.test refuses c.test" "client exit $rc; refusal lines: $n
$out"
fi

# ---- the partners still work after all the refusals ----------------------------------------
delivered "after the refusals, bob@b.test -> alice@a.test still works" bob@b.test alice@a.test again-from-b

tap_stop_all
tap_done
