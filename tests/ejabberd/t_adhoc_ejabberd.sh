#!/bin/bash
# tests/ejabberd/t_adhoc_ejabberd.sh: XEP-0050 ad-hoc commands of
# mod_xmpp_partners on a real ejabberd 23.01 node (xmpp_partners_adhoc,
# through mod_adhoc), driven by a real client (tests/clients/xpclient,
# libstrophe), with the checks of tests/integration/t_admin.sh's ad-hoc
# part for Prosody:
#   - admin@ej.test (allowed by ejabberd's `configure` access rule) lists,
#     adds, edits and removes partners; the forms are Prosody's (list-single
#     type/tls/sasl, boolean dialback, text-multi domains); an invalid
#     combination is refused with the core's reason and changes nothing;
#   - each change takes effect on the s2s policy at once: pa.test (a real
#     Prosody) added by ad-hoc federates, removed by ad-hoc is refused and
#     its live stream closed;
#   - the command list shows the four commands to the admin only;
#   - alice@ej.test (no admin) is refused (<forbidden/>) and changes nothing.
# About 30 s.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"
ej_require
xp_init
tap_plan 13

ej_init ej.test
xp_host pa.test
xp_start_prosody pa "$(xp_addr pa.test)" pa.test || xp_bail "prosody did not start"
PA=$(xp_server_addr pa)
EJ_MODULES="mod_s2s_dialback mod_ping mod_disco mod_roster mod_adhoc"
EJ_EXTRA_YML='acl:
  admin:
    user: "admin@ej.test"
access_rules:
  configure:
    allow: admin'
ej_config <<EOF
default: deny
partners:
  d.test: {type: public_verified, tls: required, sasl: required, dialback: false}
EOF
ej_start || xp_bail "ejabberd did not start"
{ ej_register admin && ej_register alice; } >"$XP_WORK/register.out" 2>&1 ||
	xp_bail "cannot register the users: $(cat "$XP_WORK/register.out")"
tap_ok "ejabberd (PID $EJ_PID) with mod_adhoc; admin@ej.test in the configure rule, alice@ej.test not"

# ---- list / add form --------------------------------------------------------------------------
out=$(xp_client admin@ej.test adhoc ej.test urn:xmpp-partners:list - 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^adhoc status=completed node=urn:xmpp-partners:list' <<<"$out" &&
	grep -q '^adhoc-note type=info text=domain .*\\nd\.test  *public_verified' <<<"$out"; then
	tap_ok "ad-hoc list by admin@ej.test: the partners_list text"
else
	tap_fail "ad-hoc list by the admin" "exit $rc: $out"
fi
out=$(xp_client admin@ej.test adhoc ej.test urn:xmpp-partners:add - 2>&1)
if grep -q '^adhoc status=executing' <<<"$out" &&
	grep -q '^adhoc-field var=domain type=text-single' <<<"$out" &&
	grep -q '^adhoc-field var=type type=list-single value= options=federated|public_verified|public_unverified$' <<<"$out" &&
	grep -q '^adhoc-field var=tls type=list-single value= options=required|optional|not_supported$' <<<"$out" &&
	grep -q '^adhoc-field var=sasl type=list-single value= options=required|optional|not_supported$' <<<"$out" &&
	grep -q '^adhoc-field var=dialback type=boolean' <<<"$out" &&
	grep -q '^adhoc-field var=additional_domains type=text-multi' <<<"$out" &&
	grep -q '^adhoc-field var=fingerprints type=text-multi' <<<"$out"; then
	tap_ok "ad-hoc add offers Prosody's form: list-single type/tls/sasl, boolean dialback, text-multi domains and pins"
else
	tap_fail "ad-hoc add form" "$out"
fi

# ---- add: refused, then accepted ------------------------------------------------------------
out=$(xp_client admin@ej.test adhoc ej.test urn:xmpp-partners:add \
	'domain=e.test;type=federated;tls=not_supported;sasl=required' 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && grep -q '^adhoc status=completed' <<<"$out" &&
	grep -q '^adhoc-note type=error text=.*matrix row 6' <<<"$out" &&
	! ejctl partners_list | grep -q '^e\.test'; then
	tap_ok "ad-hoc add with tls not_supported + sasl required: refused with the core's row 6 reason, nothing added"
else
	tap_fail "ad-hoc add invalid combination" "exit $rc: $out"
fi
out=$(xp_client admin@ej.test adhoc ej.test urn:xmpp-partners:add \
	'domain=e.test;type=federated;tls=optional;sasl=optional;dialback=1;additional_domains=x.e.test|y.e.test' 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^adhoc-note type=info text=e\.test added (runtime, stored)' <<<"$out" &&
	ejctl partners_list | grep -qE '^e\.test +federated +optional/optional/true +x\.e\.test,y\.e\.test +runtime '; then
	tap_ok "ad-hoc add e.test by the admin: in partners_list (runtime)"
else
	tap_fail "ad-hoc add e.test" "exit $rc: $out
$(ejctl partners_list)"
fi

# ---- edit -----------------------------------------------------------------------------------
# (--verbose: libstrophe prints the XML, for the actions offered at step 1)
first=$(xp_client --verbose admin@ej.test adhoc ej.test urn:xmpp-partners:edit - 2>&1)
out=$(xp_client admin@ej.test adhoc ej.test urn:xmpp-partners:edit 'domain=e.test//tls=required;sasl=required;dialback=0' 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && grep -qE "<actions execute=.next.><next/></actions>" <<<"$first" &&
	grep -q '^adhoc-field var=domain type=list-single value= options=.*e\.test' <<<"$out" &&
	grep -q '^adhoc-field var=tls type=list-single value=optional' <<<"$out" &&
	grep -q '^adhoc-field var=additional_domains type=text-multi value=x\.e\.test|y\.e\.test' <<<"$out" &&
	grep -q '^adhoc-note type=info text=e\.test changed (runtime, stored)' <<<"$out"; then
	tap_ok "ad-hoc edit e.test: choose it (action next offered), the form holds its values; the change is applied"
else
	tap_fail "ad-hoc edit e.test" "exit $rc: $out
step 1: $(grep -E 'actions|status=' <<<"$first")"
fi
out=$(ejctl partners_show e.test)
if grep -qE '^additional_domains +x\.e\.test,y\.e\.test$' <<<"$out" && grep -qE '^dialback +false$' <<<"$out" &&
	grep -qE '^sasl +required$' <<<"$out" && grep -qE '^tls +required$' <<<"$out" &&
	grep -qE '^source +runtime$' <<<"$out"; then
	tap_ok "partners_show e.test after the ad-hoc edit: tls and sasl required, no dialback, domains kept, runtime"
else
	tap_fail "partners_show e.test after the ad-hoc edit" "$out"
fi

# ---- the change applies to s2s at once --------------------------------------------------------
ping0=$(xp_shell pa "xmpp:ping('pa.test', 'ej.test')")
out=$(xp_client admin@ej.test adhoc ej.test urn:xmpp-partners:add \
	"domain=pa.test;type=federated;tls=optional;sasl=optional;dialback=1;proxy=$PA:5269" 2>&1)
rc=$?
ping=$(xp_shell pa "xmpp:ping('pa.test', 'ej.test')")
if [[ $ping0 != *[Pp]ong* ]] && [ "$rc" -eq 0 ] && grep -q '^adhoc-note type=info text=pa\.test added' <<<"$out" &&
	[[ $ping == *[Pp]ong* ]]; then
	tap_ok "pa.test, refused before, added by ad-hoc: federates at once (ping both ways)"
else
	tap_fail "pa.test federates after the ad-hoc add" "before: $ping0
exit $rc: $out
ping: $ping"
fi
ej_log_mark
out=$(xp_client admin@ej.test adhoc ej.test urn:xmpp-partners:remove 'domain=pa.test' 2>&1)
rc=$?
sleep 1
sess=$(ejctl partners_sessions pa.test)
ping=$(xp_shell pa "xmpp:ping('pa.test', 'ej.test')")
if [ "$rc" -eq 0 ] && grep -q '^adhoc-note type=info text=pa\.test removed' <<<"$out" &&
	[ "$sess" = "no live s2s sessions with pa.test" ] && [[ $ping != *[Pp]ong* ]] &&
	ej_wait_log 'refused incoming s2s from pa\.test: not a partner' 5; then
	tap_ok "ad-hoc remove pa.test: its live streams closed, its next stream refused (not a partner)"
else
	tap_fail "ad-hoc remove pa.test" "exit $rc: $out
sessions: $sess
ping: $ping"
fi
out=$(xp_client admin@ej.test adhoc ej.test urn:xmpp-partners:remove 'domain=e.test' 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^adhoc-field var=domain type=list-single value= options=d\.test|e\.test$' <<<"$out" &&
	grep -q '^adhoc-note type=info text=e\.test removed' <<<"$out" && ! ejctl partners_list | grep -q '^e\.test'; then
	tap_ok "ad-hoc remove e.test: chosen from the partner list, removed"
else
	tap_fail "ad-hoc remove e.test" "exit $rc: $out"
fi

# ---- the command list (disco#items of the commands node) ---------------------------------------
# xpclient --verbose has libstrophe print what it receives.
items() {
	xp_client --verbose "$1" raw "<iq type='get' to='ej.test' id='xpitems'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>" \
		wait 2 2>&1 | grep -oE "node=.urn:xmpp-partners:[a-z]+" | sed 's/node=.//' | sort -u | tr '\n' ' '
}
a=$(items admin@ej.test)
b=$(items alice@ej.test)
if [ "$a" = "urn:xmpp-partners:add urn:xmpp-partners:edit urn:xmpp-partners:list urn:xmpp-partners:remove " ] &&
	[ -z "$b" ]; then
	tap_ok "the command list: admin@ej.test sees the four partner commands, alice@ej.test none"
else
	tap_fail "the command list per user" "admin: $a
alice: $b"
fi

# ---- not an admin -------------------------------------------------------------------------------
before=$(ejctl partners_list)
out=$(xp_client alice@ej.test adhoc ej.test urn:xmpp-partners:list - 2>&1)
rc=$?
out2=$(xp_client alice@ej.test adhoc ej.test urn:xmpp-partners:add 'domain=f.test;type=federated' 2>&1)
rc2=$?
out3=$(xp_client alice@ej.test adhoc ej.test urn:xmpp-partners:remove 'domain=d.test' 2>&1)
rc3=$?
if [ "$rc" -ne 0 ] && grep -q '^adhoc-error condition=forbidden' <<<"$out" &&
	[ "$rc2" -ne 0 ] && grep -q '^adhoc-error condition=forbidden' <<<"$out2" &&
	[ "$rc3" -ne 0 ] && grep -q '^adhoc-error condition=forbidden' <<<"$out3" &&
	[ "$(ejctl partners_list)" = "$before" ]; then
	tap_ok "alice@ej.test (not in the configure rule) is refused (forbidden) for list, add and remove; nothing changed"
else
	tap_fail "non-admin refused" "exit $rc: $out
exit $rc2: $out2
exit $rc3: $out3"
fi

pid=$EJ_PID
ej_stop
kill -0 "$pid" 2>/dev/null
tap_is $? 1 "ejabberd node (PID $pid) stopped"
tap_done
