#!/bin/bash
# tests/ejabberd/t_parity_ejabberd.sh: the ejabberd module next to the
# Prosody one (issue 18, item 3) on a real ejabberd 23.01 node:
#   - every refusal is logged by the module with its rule (the core's
#     reason text), also those xmpp_stream_out / xmpp_stream_in make on
#     their own: a dialback-only partner with sasl = required refused
#     outgoing (a real Prosody without SASL), a partner presenting a
#     self-signed certificate refused outgoing (a real Prosody), partners
#     whose Prosody offers no STARTTLS (tls = required) or requires it
#     (tls = not_supported) refused outgoing, STARTTLS
#     missing / withheld and EXTERNAL withheld incoming, a wrong
#     certificate incoming (tests/hostile/xphostile, and a real Prosody);
#     incoming ones once per back-off window;
#   - incoming certificate pins: a pinned key on an untrusted chain is
#     still refused (ejabberd 23.01 has no place to accept it: README), and
#     the module logs the pin and the fix;
#   - `ejabberdctl partners_export`: Prosody's export text; it is a valid
#     partner file (tools/xmpp-partners check) and, used as the
#     partners_file, gives the same table;
#   - a broken reload_config answers with the core's text right after
#     ejabberd's option path, not yconf's "Unexpected error reason".
# About 50 s.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"
ej_require
xp_init
xp_hostile_init
tap_plan 18

# like NAME TEXT GLOB: TEXT matches the shell pattern GLOB
like() {
	# shellcheck disable=SC2254
	case $2 in $3) tap_ok "$1" ;; *) tap_fail "$1" "$2" ;; esac
}
# module_lines REGEX: how many lines the module (not ejabberd) logged since
# the mark that match REGEX
module_lines() { ej_log_new | grep -E '@(mod_xmpp_partners|xmpp_partners_[a-z0-9_]+):' | grep -cE -- "$1"; }

ej_init ej.test
PKI=$XP_WORK/pki
ok=1
xp_cert ns ns.test || ok=0                   # CA-signed, for EXTERNAL withheld
xp_cert_selfsigned xxself xx.test || ok=0    # untrusted (self-signed)
xp_cert_selfsigned pqself pq.test || ok=0    # the outgoing untrusted peer
[ "$ok" = 1 ] || xp_bail "cannot make the certificates"
xp_host db.test
xp_host pq.test
# db.test: a real Prosody without SASL (dialback only); pq.test: a real
# Prosody with a self-signed certificate.
xp_start_prosody pdb "$(xp_addr db.test)" db.test --extra-lua 'modules_disabled = { "saslauth" }' ||
	xp_bail "prosody (db.test) did not start"
xp_start_prosody pq "$(xp_addr pq.test)" pq.test --cert pq.test=pqself || xp_bail "prosody (pq.test) did not start"
# tn.test offers no STARTTLS; ts.test requires it.
xp_host tn.test
xp_host ts.test
xp_start_prosody ptn "$(xp_addr tn.test)" tn.test --extra-lua 'modules_disabled = { "tls" }' ||
	xp_bail "prosody (tn.test) did not start"
xp_start_prosody pts "$(xp_addr ts.test)" ts.test --s2s-secure || xp_bail "prosody (ts.test) did not start"
DB=$(xp_server_addr pdb)
PQ=$(xp_server_addr pq)

# No mod_s2s_dialback: ejabberd verifies outbound certificates itself.
EJ_MODULES="mod_ping mod_disco mod_roster mod_admin_extra"
PARTNERS="  db.test: {type: federated, tls: optional, sasl: required, dialback: true, proxy: \"$DB:5269\"}
  pq.test: {type: federated, tls: required, sasl: required, dialback: false, proxy: \"$PQ:5269\"}
  rq.test: {type: federated, tls: required, sasl: required, dialback: false}
  nt.test: {type: federated, tls: not_supported, sasl: not_supported, dialback: true}
  ns.test: {type: public_verified, tls: optional, sasl: not_supported, dialback: true}
  xx.test: {type: federated, tls: required, sasl: required, dialback: false, description: \"say \\\"hi\\\"\"}
  tn.test: {type: federated, tls: required, sasl: optional, dialback: true, proxy: \"$(xp_server_addr ptn):5269\"}
  ts.test: {type: federated, tls: not_supported, sasl: not_supported, dialback: true, proxy: \"$(xp_server_addr pts):5269\"}"
write_config() {
	ej_config <<EOF
default: deny
refusal_backoff: 40
partners:
$PARTNERS
$1
EOF
}
write_config ""
ej_start || xp_bail "ejabberd did not start"
grep -q 'Partner policy loaded for ej.test: 8 partners' "$EJ_LOG"
tap_is $? 0 "ejabberd (PID $EJ_PID, no mod_s2s_dialback) started with 8 partners"

# ---- outgoing --------------------------------------------------------------------------------
# db.test: STARTTLS, then no SASL mechanism (its Prosody has no saslauth);
# sasl = required allows no dialback: refused, and the module says why.
SASLREQ='the partner must authenticate with SASL'
ej_log_mark
ejctl send_message chat ej.test u@db.test "" "hello" >/dev/null
if ej_wait_log "refused outgoing s2s to db\\.test: $SASLREQ" 10 && sleep 1 &&
	[ "$(module_lines 'refused outgoing s2s to db\.test')" = 1 ]; then
	tap_ok "dialback-only partner db.test with sasl = required: the module logs '$(ej_log_new | grep -oE 'refused outgoing s2s to db\.test: .*' | head -n 1)'"
else
	tap_fail "outgoing refusal of db.test logged once by the module" "$(ej_log_new | grep -E 'db\.test' | head -n 10)"
fi
if ej_log_new | grep -q 'Failed outbound s2s EXTERNAL authentication ej.test -> db.test'; then
	tap_ok "ejabberd's own line is there too (the module adds the rule, it replaces nothing)"
else
	tap_fail "ejabberd's failure line" "$(ej_log_new | grep -E 'db\.test' | head -n 10)"
fi
# pq.test: a self-signed certificate, no pin: ejabberd rejects it
# (xmpp_stream_pkix), the module names the rule.
UNTRUSTED='the certificate chain is not trusted'
TLSREQ='the partner requires TLS \(tls = required\) and the stream is not encrypted'
ej_log_mark
ejctl send_message chat ej.test u@pq.test "" "hello" >/dev/null
if ej_wait_log "refused outgoing s2s to pq\\.test: $UNTRUSTED" 10 &&
	ej_log_new | grep -q 'Peer certificate rejected'; then
	tap_ok "partner pq.test presenting a self-signed certificate: refused outgoing, the module logs the rule"
else
	tap_fail "outgoing refusal of pq.test logged" "$(ej_log_new | grep -E 'pq\.test' | head -n 10)"
fi

# tn.test (tls = required) offers no STARTTLS; ts.test (tls = not_supported)
# requires it: xmpp_stream_out's own stream errors, the module names the rule.
ej_log_mark
ejctl send_message chat ej.test u@tn.test "" "hello" >/dev/null
ejctl send_message chat ej.test u@ts.test "" "hello" >/dev/null
if ej_wait_log "refused outgoing s2s to tn\\.test: $TLSREQ" 10 &&
	ej_wait_log 'refused outgoing s2s to ts\.test: TLS is not used with this partner \(tls = not_supported\)' 10 &&
	[ "$(module_lines 'refused outgoing s2s to t[ns]\.test')" = 2 ]; then
	tap_ok "tn.test without STARTTLS (tls = required) and ts.test requiring it (tls = not_supported): refused outgoing, each logged once with its rule"
else
	tap_fail "outgoing STARTTLS refusals logged" "$(ej_log_new | grep -E 't[ns]\.test' | head -n 10)"
fi

# ---- incoming (xphostile) ---------------------------------------------------------------------
# rq.test (tls = required) goes on without STARTTLS: xmpp_stream_in's
# policy-violation, logged by the module, then the back-off window.
ej_log_mark
o1=$(xp_hostile "$EJ_ADDR" header rq.test ej.test features db-result rq.test ej.test k wait-close 3 2>&1)
o2=$(xp_hostile "$EJ_ADDR" header rq.test ej.test features db-result rq.test ej.test k wait-close 3 2>&1)
if grep -qx 'stream-error: policy-violation' <<<"$o1" && ej_wait_log "refused incoming s2s from rq\\.test: $TLSREQ" 5 &&
	[ "$(module_lines 'refused incoming s2s from rq\.test:')" = 1 ] && grep -qx 'features: none' <<<"$o2"; then
	tap_ok "rq.test without STARTTLS: refused, logged once with the rule; its retry refused at the header (back-off window)"
else
	tap_fail "rq.test without STARTTLS" "$o1
----
$o2
$(ej_log_new | grep -E 'rq\.test' | head -n 8)"
fi
# nt.test (tls = not_supported) asks for STARTTLS anyway.
ej_log_mark
o1=$(xp_hostile "$EJ_ADDR" header nt.test ej.test features starttls "$PKI/ns.crt" "$PKI/ns.key" wait-close 3 2>&1)
if grep -qx 'starttls: failure' <<<"$o1" &&
	ej_wait_log 'refused incoming s2s from nt\.test: TLS is not used with this partner \(tls = not_supported\)' 5; then
	tap_ok "nt.test asking for the STARTTLS its rules withhold: <failure/>, the module logs the rule"
else
	tap_fail "nt.test STARTTLS refused and logged" "$o1
$(ej_log_new | grep -E 'nt\.test' | head -n 8)"
fi
# ns.test (sasl = not_supported): EXTERNAL is not offered; tried anyway.
ej_log_mark
o1=$(xp_hostile "$EJ_ADDR" header ns.test ej.test features starttls "$PKI/ns.crt" "$PKI/ns.key" \
	header ns.test ej.test features auth-external - wait 1 2>&1)
if grep -qx 'tls: ok' <<<"$o1" && ! grep -q '^features: .*EXTERNAL' <<<"$o1" && grep -q '^sasl: failure' <<<"$o1" &&
	ej_wait_log 'refused incoming s2s from ns\.test: SASL EXTERNAL is not used with this partner \(sasl = not_supported\)' 5; then
	tap_ok "ns.test trying the EXTERNAL its rules withhold: SASL failure, the module logs the rule"
else
	tap_fail "ns.test EXTERNAL refused and logged" "$o1
$(ej_log_new | grep -E 'ns\.test' | head -n 8)"
fi
# xx.test presents a self-signed certificate (a wrong one: no trusted
# chain, no pin): EXTERNAL fails, the module logs the rule; the retry
# is refused at the header.
ej_log_mark
xx() { xp_hostile "$EJ_ADDR" header xx.test ej.test features starttls "$PKI/xxself.crt" "$PKI/xxself.key" \
	header xx.test ej.test features auth-external - wait-close 3 2>&1; }
o1=$(xx)
o2=$(xx)
if grep -q '^sasl: failure' <<<"$o1" && ej_wait_log "refused incoming s2s from xx\\.test: $UNTRUSTED" 5 &&
	[ "$(module_lines 'refused incoming s2s from xx\.test:')" = 1 ] && ! grep -q '^starttls:' <<<"$o2"; then
	tap_ok "xx.test with a self-signed certificate: EXTERNAL fails, logged once with the rule, the retry refused at the header"
else
	tap_fail "xx.test wrong certificate refused and logged" "$o1
----
$o2
$(ej_log_new | grep -E 'xx\.test' | head -n 8)"
fi

# ---- incoming certificate pins (README-ejabberd.md) -----------------------------------------
# pq.test (a real Prosody) connects with its self-signed certificate:
# refused with the rule, first unpinned (a wrong certificate), then with
# its key pinned: ejabberd still refuses it (xmpp_stream_in verifies the
# chain itself, no callback), and the module says so with the fix.
PIN=$("$top_builddir/tools/xmpp-partners" pin "$PKI/pqself.crt" | grep -o 'sha256:[0-9a-f]*' | head -n 1)
ej_log_mark
ping=$(xp_shell pq "xmpp:ping('pq.test', 'ej.test')")
if [[ $ping != *[Pp]ong* ]] && ej_wait_log "refused incoming s2s from pq\\.test: $UNTRUSTED" 10 &&
	! ej_log_new | grep -q 'presents the pinned key'; then
	tap_ok "real peer pq.test with a wrong (self-signed, unpinned) certificate: refused incoming, the module logs the rule"
else
	tap_fail "pq.test unpinned refused incoming" "ping: $ping
$(ej_log_new | grep -E 'pq\.test' | head -n 10)"
fi
out=$(ejctl partners_set pq.test fingerprints "$PIN")
ej_log_mark
ping=$(xp_shell pq "xmpp:ping('pq.test', 'ej.test')")
if [ -n "$PIN" ] && [[ $out == "pq.test: fingerprints = [$PIN]"* ]] && [[ $ping != *[Pp]ong* ]] &&
	ej_wait_log "pq\\.test presents the pinned key $PIN on a certificate without a trusted chain; .*add pq\\.test's certificate to s2s_cafile" 10 &&
	ej_log_new | grep -q "refused incoming s2s from pq\\.test: $UNTRUSTED"; then
	tap_ok "pq.test with its key pinned: still refused incoming (no place in ejabberd 23.01 to accept it), the module names the pin and the fix"
else
	tap_fail "pq.test pinned incoming" "set: $out
ping: $ping
$(ej_log_new | grep -E 'pq\.test' | head -n 10)"
fi

# ---- partners_export ---------------------------------------------------------------------------
ejctl partners_add rt.test "{type: public_unverified, additional_domains: [a.rt.test, b.rt.test], connection_limit: 3}" >/dev/null
out=$(ejctl partners_export)
rc=$?
if [ "$rc" = 0 ] && [ "$(head -n 1 <<<"$out")" = '-- xmpp_partners: effective partner table (config plus runtime changes)' ] &&
	grep -qx 'xmpp_partners_default = "deny"' <<<"$out" && grep -qx 'xmpp_partners_refusal_backoff = 40' <<<"$out" &&
	grep -qx 'xmpp_partners = {' <<<"$out" && [ "$(tail -n 1 <<<"$out")" = '}' ] &&
	grep -qxF "	[\"db.test\"] = { type = \"federated\"; tls = \"optional\"; sasl = \"required\"; dialback = true; proxy = \"$DB:5269\" }; -- config" <<<"$out" &&
	grep -qxF '	["rt.test"] = { type = "public_unverified"; additional_domains = { "a.rt.test", "b.rt.test" }; connection_limit = 3 }; -- runtime' <<<"$out" &&
	grep -qxF '	["xx.test"] = { description = "say \"hi\""; type = "federated"; tls = "required"; sasl = "required"; dialback = false }; -- config' <<<"$out" &&
	[ "$(grep -c '^	\["' <<<"$out")" = 9 ]; then
	tap_ok "partners_export: Prosody's export text (options, 9 partners sorted, keys in order, sources, %q quoting)"
else
	tap_fail "partners_export text" "rc=$rc
$out"
fi
EXPORT=$EJ_DIR/export.cfg.lua
printf '%s\n' "$out" >"$EXPORT"
chmod 644 "$EXPORT"
chk=$("$top_builddir/tools/xmpp-partners" check "$EXPORT" 2>&1)
like "the export is a valid partner file (xmpp-partners check)" "$?:$chk" "0:*"
before=$(ejctl partners_list | awk 'NR > 1 && /^[a-z]/ { print $1, $2, $3, $4 }')
ejctl partners_remove rt.test >/dev/null
PARTNERS_SAVED=$PARTNERS
PARTNERS="  {}"
ej_config <<EOF
default: deny
partners_file: "$EXPORT"
EOF
out=$(ejctl reload_config)
rc=$?
after=$(ejctl partners_list | awk 'NR > 1 && /^[a-z]/ { print $1, $2, $3, $4 }')
if [ "$rc" = 0 ] && [ -n "$before" ] && [ "$before" = "$after" ]; then
	tap_ok "the export as the only partners_file gives the same table ($(wc -l <<<"$after") partners)"
else
	tap_fail "export round trip" "rc=$rc $out
before:
$before
after:
$after"
fi
PARTNERS=$PARTNERS_SAVED

# ---- a broken reload_config --------------------------------------------------------------------
write_config "  bad.test: {type: federated, tls: sometimes}"
ej_log_mark
out=$(ejctl reload_config)
rc=$?
# ejabberdctl prints "Error: error", then the reason as an Erlang string
# (~p: quotes escaped); the core's text comes right after ejabberd's option
# path.  The same text as tools/xmpp-partners check (the core) for the
# same record in a partner file.
printf 'xmpp_partners = {\n\t["bad.test"] = { type = "federated"; tls = "sometimes" };\n}\n' >"$XP_WORK/bad.lua"
core=$("$top_builddir/tools/xmpp-partners" check "$XP_WORK/bad.lua" 2>&1 | sed -nE 's/^[^ ]*:2: error: //p')
shown=$(sed -nE 's/^Error: "Invalid value of option modules->mod_xmpp_partners->partners: (.*)"$/\1/p' <<<"$out" | sed 's/\\"/"/g')
if [ "$rc" != 0 ] && [ -n "$core" ] && ! grep -q 'Unexpected error reason' <<<"$out" && [ "$shown" = "$core" ]; then
	tap_ok "broken reload_config: ejabberd's option path, then the core's text as is: '$shown'"
else
	tap_fail "reload_config error text" "rc=$rc
out: $out
shown: $shown
core: $core"
fi
after2=$(ejctl partners_list | awk 'NR > 1 && /^[a-z]/ { print $1, $2, $3, $4 }')
tap_is "$after2" "$after" "the broken reload kept the table in force"
ej_config <<EOF
default: deny
partners_file: "$EXPORT"
partners:
  bad.test: {type: federated, tls: optional}
EOF
echo 'xmpp_partners["zz.test"] = { tls = os.getenv("X") }' >>"$EXPORT"
out=$(ejctl reload_config)
rc=$?
if [ "$rc" != 0 ] && ! grep -q 'Unexpected error reason' <<<"$out" &&
	grep -qE "^Error: \"Invalid value of option modules->mod_xmpp_partners->partners_file: $EXPORT:[0-9]+: 'os' is not available in a partner file" <<<"$out"; then
	tap_ok "broken partners_file: the core's text after the option path: '$(tail -n 1 <<<"$out")'"
else
	tap_fail "reload_config error text (partners_file)" "rc=$rc $out"
fi

pid=$EJ_PID
ej_stop
kill -0 "$pid" 2>/dev/null
tap_is $? 1 "ejabberd node (PID $pid) stopped"
tap_done
