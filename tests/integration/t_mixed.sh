#!/bin/bash
# t_mixed.sh: mod_xmpp_partners federating across Prosody versions.
#
# Two pairs run side by side, each server its own version:
#   a.test  Prosody 13 with the module and use_dane = true; partner b.test
#           (federated, the default rules: STARTTLS and SASL EXTERNAL
#           required);
#   b.test, c.test  Prosody 0.12.3 without it (c.test is no partner);
# and the reverse:
#   d.test  Prosody 0.12.3 with the module; partner e.test;
#   e.test, f.test  Prosody 13 without it (f.test is no partner).
# On each side the partner federates both ways (so the 0.12/13 pair
# negotiated TLS and SASL EXTERNAL, which the partner's rules require) and
# the non-partner is refused both ways: the message bounces, the receiver
# gets nothing, the module's server logs the refusal.
#
# Prosody 0.12.3 is $XP_PROSODY (the installed one unless XP_PROSODY_PREFIX
# says otherwise), Prosody 13 the one unpacked in $XP_PROSODY13_PREFIX
# (default build/prosody13 of the source tree; scripts/unpack-prosody.sh).
# Each test name says which version ran the module and which the peers.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
P13=${XP_PROSODY13_PREFIX:-$top_srcdir/build/prosody13}
[ -x "$P13/usr/bin/prosody" ] ||
	xp__missing "no Prosody 13 in $P13 (make it: bash scripts/unpack-prosody.sh $P13)"
V12=$XP_PROSODY_VERSION
V13=$(xp_prosody_version "$P13/usr/bin/prosodyctl")
case $V13 in 13.*) ;; *) xp__missing "$P13 holds Prosody '${V13:-?}', not 13.x" ;; esac
case $V12 in 0.12.*) ;; *) xp__missing "$XP_PROSODY is Prosody $V12, not 0.12.x (the other half of the pair)" ;; esac
tap_plan $((1 + 1 + 1 + 4 + 4 + 2))

for d in a b c d e f; do xp_host $d.test; done
for d in a b c d e f; do xp_cert $d.test $d.test --xmppaddr || xp_bail "cannot make $d.test's certificate"; done
partners() { # FILE PARTNER
	printf 'xmpp_partners = {\n\t["%s"] = { type = "federated"; description = "the partner across versions" };\n}\nxmpp_partners_default = "deny"\n' "$2" >"$1"
}
partners "$XP_WORK/a.lua" b.test
partners "$XP_WORK/d.lua" e.test

XP_TAP_TAG="module on $V13, peers on $V12"
ok=1
xp_start_prosody a "$(xp_addr a.test)" a.test --prosody "$P13" --module xmpp_partners --extra "$XP_WORK/a.lua" \
	--extra-lua "use_dane = true" || ok=0
xp_start_prosody b "$(xp_addr b.test)" b.test || ok=0
xp_start_prosody c "$(xp_addr c.test)" c.test || ok=0
xp_start_prosody d "$(xp_addr d.test)" d.test --module xmpp_partners --extra "$XP_WORK/d.lua" || ok=0
xp_start_prosody e "$(xp_addr e.test)" e.test --prosody "$P13" || ok=0
xp_start_prosody f "$(xp_addr f.test)" f.test --prosody "$P13" || ok=0
XP_TAP_TAG="mixed $V13 + $V12"
seen=""
for s in a b c d e f; do seen="$seen $s=$(xp_server_version $s)"; done
if [ "$ok" = 1 ] && [ "$seen" = " a=$V13 b=$V12 c=$V12 d=$V12 e=$V13 f=$V13" ]; then
	tap_ok "six servers:$seen (a.test and d.test run the module)"
else
	tap_fail "six servers of the right versions" "started: $ok; versions:$seen"
	xp_bail "cannot start the servers"
fi

reg=1
for acct in a:alice@a.test b:bob@b.test c:carl@c.test d:dave@d.test e:erin@e.test f:fred@f.test; do
	xp_register "${acct%%:*}" "${acct#*:}" >>"$XP_WORK/register.out" 2>&1 || reg=0
done
if [ "$reg" = 1 ]; then
	tap_ok "an account on each server"
else
	tap_fail "an account on each server" "$(cat "$XP_WORK/register.out")"
	xp_bail "no accounts"
fi

# refused NAME SERVER FROM TO REGEX: FROM's message to TO bounces back to
# FROM, TO gets nothing, and SERVER (the module's) logs a line matching REGEX.
refused() {
	local name=$1 srv=$2 from=$3 to=$4 re=$5 out rc rc_recv
	xp_log_mark "$srv"
	xp_client_bg recv "$to" expect-silence "$from" 3
	if ! xp_client_ready recv; then
		xp_client_wait recv
		tap_fail "$name" "receiver $to did not log in
$(xp_client_report recv)"
		return
	fi
	out=$(xp_client "$from" send "$to" "mixed-$from" expect-error-from "$to" '*' 2>&1)
	rc=$?
	xp_client_wait recv
	rc_recv=$?
	if [ "$rc" -eq 0 ] && [ "$rc_recv" -eq 0 ] && xp_wait_new_log "$srv" "$re" 2; then
		tap_ok "$name"
	else
		tap_fail "$name" "sender exit $rc (0 = bounced), receiver exit $rc_recv (0 = got nothing), refusal logged by $srv: $(xp_log_count "$srv" "$re")
$out
$(xp_client_report recv)"
	fi
}

# ---- the module on 13, peers on 0.12 ----------------------------------------------------
XP_TAP_TAG="module on $V13, peers on $V12"
# a.test has use_dane = true: 13's mod_s2s loads mod_s2s_auth_dane_in, whose
# certificate hook runs before the module's.  The test resolver's answers
# are never DNSSEC-secure, so it must change nothing (README: Supported hosts).
out=$(xp_shell a '> local mm = require "core.modulemanager"; return "dane_in=" .. tostring(mm.is_loaded("*", "s2s_auth_dane_in") and true or false) .. " xmpp_partners=" .. tostring(mm.is_loaded("*", "xmpp_partners") and true or false)' 2>&1)
if grep -q 'dane_in=true xmpp_partners=true' <<<"$out"; then
	tap_ok "a.test runs with use_dane = true: mod_s2s_auth_dane_in and mod_xmpp_partners loaded"
else
	tap_fail "a.test runs with use_dane = true: mod_s2s_auth_dane_in and mod_xmpp_partners loaded" "$out"
fi
xp_delivered "partner: alice@a.test -> bob@b.test (TLS + SASL EXTERNAL required)" alice@a.test bob@b.test a-to-b
xp_delivered "partner: bob@b.test -> alice@a.test" bob@b.test alice@a.test b-to-a
refused "non-partner: alice@a.test -> carl@c.test bounces, a.test logs the refusal" a \
	alice@a.test carl@c.test 'refused outgoing s2s to c\.test: not a partner$'
refused "non-partner: carl@c.test -> alice@a.test bounces, a.test logs the refusal" a \
	carl@c.test alice@a.test 'refused incoming s2s from c\.test: not a partner$'

# ---- the module on 0.12, peers on 13 ----------------------------------------------------
XP_TAP_TAG="module on $V12, peers on $V13"
xp_delivered "partner: dave@d.test -> erin@e.test (TLS + SASL EXTERNAL required)" dave@d.test erin@e.test d-to-e
xp_delivered "partner: erin@e.test -> dave@d.test" erin@e.test dave@d.test e-to-d
refused "non-partner: dave@d.test -> fred@f.test bounces, d.test logs the refusal" d \
	dave@d.test fred@f.test 'refused outgoing s2s to f\.test: not a partner$'
refused "non-partner: fred@f.test -> dave@d.test bounces, d.test logs the refusal" d \
	fred@f.test dave@d.test 'refused incoming s2s from f\.test: not a partner$'

XP_TAP_TAG="mixed $V13 + $V12"
tap_stop_all
tap_done
