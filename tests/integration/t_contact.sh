#!/bin/bash
# t_contact.sh: the partner-type contact policy (SPEC section 4) with real
# servers and real clients, in scenarios a user would recognise.
#
# a.test runs mod_xmpp_partners in allow mode with three partners:
# fed.test (federated), ver.test (public_verified), unv.test
# (public_unverified); str.test is not listed, so it gets the allow-mode
# defaults (the public_unverified column).  The remote servers are plain
# Prosody: everything observed here is a.test's policy at work.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
tap_plan 26

for d in a fed ver unv str; do xp_host $d.test; done

partners() { # $1: type of unv.test, $2: type of fed.test (federated)
	cat <<EOF
xmpp_partners = {
	["fed.test"] = { type = "${2:-federated}" };
	["ver.test"] = { type = "public_verified" };
	["unv.test"] = { type = "$1" };
}
xmpp_partners_default = "allow"
EOF
}
partners public_unverified >"$XP_WORK/a.lua"

xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
	--module blocklist --extra "$XP_WORK/a.lua" || xp_bail "cannot start a.test"
for s in fed ver unv str; do
	xp_start_prosody $s "$(xp_addr $s.test)" $s.test || xp_bail "cannot start $s.test"
done
for u in alice@a.test carol@a.test dave@a.test bob@fed.test bob2@fed.test \
	vera@ver.test uma@unv.test uma2@unv.test uma3@unv.test sam@str.test; do
	d=${u#*@}
	xp_register "${d%.test}" "$u" >/dev/null 2>&1 || xp_bail "cannot register $u"
done

# run_pair NAME: a background receiver (already started as "recv") and a
# foreground sender; both must succeed.
expect_ok() { # NAME RC [OUTPUT...]
	local name=$1 rc=$2
	shift 2
	if [ "$rc" -eq 0 ]; then tap_ok "$name"; else tap_fail "$name" "$*"; fi
}

# ---- federated and public_verified: subscriptions approved automatically ----
xp_client_bg alice alice@a.test expect-presence bob@fed.test subscribe wait 1
xp_client_ready alice
out=$(xp_client bob@fed.test subscribe alice@a.test expect-presence alice@a.test subscribed 2>&1)
expect_ok "bob@fed.test (federated) adds alice@a.test: approved automatically" $? "$out"
# bob has his answer: a request forwarded to alice would be on its way
# already.  Two seconds more for it, not alice's whole client timeout.
xp_client_wait alice 2 >/dev/null
if grep -q 'presence from=bob@fed.test type=subscribe' "$(xp_client_out alice)"; then
	tap_fail "alice is not asked about bob's request (it was approved for her)" "$(xp_client_report alice)"
else
	tap_ok "alice is not asked about bob's request (it was approved for her)"
fi
out=$(xp_client alice@a.test expect-roster bob@fed.test from 2>&1)
expect_ok "alice's roster records bob@fed.test with subscription 'from'" $? "$out"

out=$(xp_client vera@ver.test subscribe alice@a.test expect-presence alice@a.test subscribed 2>&1)
expect_ok "vera@ver.test (public_verified) adds alice@a.test: approved automatically" $? "$out"

# Offline local user: carol is not logged in; the approval still happens.
out=$(xp_client bob@fed.test subscribe carol@a.test expect-presence carol@a.test subscribed 2>&1)
expect_ok "bob@fed.test adds carol@a.test while carol is offline: approved" $? "$out"
out=$(xp_client carol@a.test expect-roster bob@fed.test from 2>&1)
expect_ok "carol finds bob@fed.test in her roster when she logs in" $? "$out"

# ---- public_unverified: only contacts the local user already has -----------
xp_client_bg alice alice@a.test expect-silence uma@unv.test 3
xp_client_ready alice
out=$(xp_client uma@unv.test subscribe alice@a.test expect-presence alice@a.test unsubscribed 2>&1)
expect_ok "uma@unv.test (public_unverified) adds alice@a.test: refused with 'unsubscribed'" $? "$out"
xp_client_wait alice >/dev/null
expect_ok "alice never sees uma's request" $? "$(xp_client_report alice)"
out=$(xp_client alice@a.test expect-roster uma@unv.test absent 2>&1)
expect_ok "nothing is stored in alice's roster for uma@unv.test" $? "$out"
xp_wait_log a "refused subscription from uma@unv.test to alice@a.test" 5
expect_ok "the refusal is logged with its reason" $?

# alice invites uma; then uma's own request goes through to alice.
out=$(xp_client alice@a.test subscribe uma@unv.test expect-roster uma@unv.test none+ask 2>&1)
expect_ok "alice invites uma@unv.test (pending out)" $? "$out"
xp_client_bg alice alice@a.test expect-presence uma@unv.test subscribe approve uma@unv.test wait 1
xp_client_ready alice
out=$(xp_client uma@unv.test subscribe alice@a.test expect-presence alice@a.test subscribed 2>&1)
rc=$?
xp_client_wait alice >/dev/null
rc2=$?
[ $rc -eq 0 ] && [ $rc2 -eq 0 ]
expect_ok "after alice's invitation uma's request reaches alice, who approves it" $? "$out
$(xp_client_report alice)"

# Offline, allowed: dave pre-approves uma2, goes offline; the request waits.
out=$(xp_client dave@a.test roster-add uma2@unv.test 2>&1)
expect_ok "dave@a.test adds uma2@unv.test to his roster" $? "$out"
out=$(xp_client uma2@unv.test subscribe dave@a.test wait 1 2>&1)
expect_ok "uma2@unv.test asks dave@a.test while dave is offline" $? "$out"
out=$(xp_client --timeout 8 dave@a.test expect-presence uma2@unv.test subscribe 2>&1)
expect_ok "dave gets uma2's request when he logs in (held as pending, not lost)" $? "$out"

# ---- messages -----------------------------------------------------------------
out=$(xp_client uma3@unv.test send alice@a.test "hello?" expect-error-from alice@a.test service-unavailable 2>&1)
expect_ok "a message from uma3@unv.test (not in alice's roster) bounces with service-unavailable" $? "$out"
xp_client_bg alice alice@a.test expect-message bob2@fed.test "hi from fed"
xp_client_ready alice
xp_client bob2@fed.test send alice@a.test "hi from fed" >/dev/null 2>&1
xp_client_wait alice >/dev/null
expect_ok "a message from bob2@fed.test (federated, not in the roster) is delivered" $? "$(xp_client_report alice)"
xp_client_bg alice alice@a.test expect-message uma@unv.test "hi from unv"
xp_client_ready alice
xp_client uma@unv.test send alice@a.test "hi from unv" >/dev/null 2>&1
xp_client_wait alice >/dev/null
expect_ok "a message from uma@unv.test, now a contact, is delivered" $? "$(xp_client_report alice)"

# ---- <status/> text ---------------------------------------------------------------
# bob (federated), vera (verified) and uma (unverified) are subscribed to alice.
for who in bob@fed.test vera@ver.test uma@unv.test; do
	xp_client_bg "w${who%%@*}" "$who" expect-presence alice@a.test available wait 1
	xp_client_ready "w${who%%@*}"
done
xp_client alice@a.test presence "in a meeting" wait 2 >/dev/null 2>&1
for who in bob@fed.test vera@ver.test uma@unv.test; do
	xp_client_wait "w${who%%@*}" >/dev/null
done
grep -q '^presence from=alice@a.test/[^ ]* type=available status=in a meeting$' "$(xp_client_out wbob)"
expect_ok "bob@fed.test (federated) sees alice's status text" $? "$(xp_client_report wbob)"
grep -q '^presence from=alice@a.test/[^ ]* type=available status=$' "$(xp_client_out wvera)" &&
	! grep -q 'status=in a meeting' "$(xp_client_out wvera)"
expect_ok "vera@ver.test (public_verified) gets alice's presence without the text" $? "$(xp_client_report wvera)"
grep -q '^presence from=alice@a.test/[^ ]* type=available status=$' "$(xp_client_out wuma)" &&
	! grep -q 'status=in a meeting' "$(xp_client_out wuma)"
expect_ok "uma@unv.test (public_unverified) gets alice's presence without the text" $? "$(xp_client_report wuma)"

# ---- unlisted domain in allow mode: the public_unverified column -------------------
out=$(xp_client sam@str.test subscribe alice@a.test expect-presence alice@a.test unsubscribed \
	send alice@a.test "anyone?" expect-error-from alice@a.test service-unavailable 2>&1)
expect_ok "sam@str.test (unlisted, allow mode): request refused, message bounced" $? "$out"

# ---- the blocklist wins over automatic approval --------------------------------------
out=$(xp_client alice@a.test raw "<iq type='set' id='blk1'><block xmlns='urn:xmpp:blocking'><item jid='bob2@fed.test'/></block></iq>" wait 1 2>&1)
out2=$(xp_client --timeout 6 bob2@fed.test subscribe alice@a.test expect-silence alice@a.test 3 2>&1)
rc=$?
out3=$(xp_client alice@a.test expect-roster bob2@fed.test absent 2>&1)
[ $rc -eq 0 ] && [ $? -eq 0 ]
expect_ok "alice blocked bob2@fed.test: his request is not approved" $? "$out
$out2
$out3"

# ---- a type change applies to the next stanza ---------------------------------------
partners federated >"$XP_WORK/a.lua"
sed -i '/^xmpp_partners = {/,/^xmpp_partners_default/d' "$(xp_server_cfg a)"
cat "$XP_WORK/a.lua" >>"$(xp_server_cfg a)"
xp_reload a
out=$(xp_client uma3@unv.test subscribe alice@a.test expect-presence alice@a.test subscribed 2>&1)
expect_ok "unv.test changed to federated by reload: uma3's request is now approved" $? "$out"

# The module decides once per stream and table whether a message can need a
# roster check: a new table must decide again for a stream already up.
xp_client_bg carol carol@a.test expect-message bob2@fed.test "before the change"
xp_client_ready carol
xp_client bob2@fed.test send carol@a.test "before the change" >/dev/null 2>&1
xp_client_wait carol >/dev/null
expect_ok "bob2@fed.test (federated, not in carol's roster) reaches carol" $? "$(xp_client_report carol)"
partners federated public_unverified >"$XP_WORK/a.lua"
sed -i '/^xmpp_partners = {/,/^xmpp_partners_default/d' "$(xp_server_cfg a)"
cat "$XP_WORK/a.lua" >>"$(xp_server_cfg a)"
xp_reload a
out=$(xp_client bob2@fed.test send carol@a.test "after the change" \
	expect-error-from carol@a.test service-unavailable 2>&1)
expect_ok "fed.test changed to public_unverified by reload, its stream still up: bob2's next message to carol bounces" $? "$out"

tap_done
