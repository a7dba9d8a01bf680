#!/bin/bash
# t_admin.sh: administering the partner table of a running server.
#
#   a.test (mod_xmpp_partners; config partners b.test federated and c.test
#   federated with tls optional; admins = { "admin@a.test" }) and b.test.
#
#   1. prosodyctl shell partners: list, show, sessions, explain (real output
#      with a live b.test stream).
#   2. A rejected change (set b.test tls not_supported with sasl required:
#      matrix row 6) leaves everything as it was: error names row 6, the
#      record and the store are unchanged, b.test traffic still flows.
#   3. add / set (override of a config entry) / check / export (valid Lua
#      that core.build accepts).
#   4. remove b.test (a config partner) closes its live stream and refuses
#      new traffic; the removal, the runtime entry and the override survive a
#      restart; reset brings the config entry back.
#      A change that cannot be stored is refused and not applied.
#   5. prosodyctl mod_xmpp_partners check: exit 0 when valid, 1 with errors.
#   6. XEP-0050 ad-hoc commands: list, add (invalid combination refused with
#      the matrix reason; valid add), edit, remove by admin@a.test; refused
#      for alice@a.test (not an admin).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
tap_plan 44

for d in a.test b.test; do xp_host "$d"; done
PARTNERS=$XP_WORK/partners-a.lua
partners() { printf 'xmpp_partners = {\n%s\n}\n' "$1" >"$PARTNERS"; }
CONFIG_PARTNERS='	["b.test"] = { type = "federated" };
	["c.test"] = { type = "federated", tls = "optional" };'
partners "$CONFIG_PARTNERS"
ok=1
xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
	--extra-lua "Include $(xp__lua_str "$PARTNERS")
admins = { \"admin@a.test\" }" || ok=0
xp_start_prosody b "$(xp_addr b.test)" b.test || ok=0
if [ "$ok" = 1 ] && xp_wait_log a 'Partner policy loaded: 2 partners' 5; then
	tap_ok "a.test starts with 2 config partners; b.test started"
else
	tap_fail "servers started" "$(grep -E 'xmpp_partners|error' "$(xp_server_log a)" | tail -n 5)"
	xp_bail "cannot start the servers"
fi
STORE_FILE=$(xp_server_dir a)/data/%2a/xmpp_partners.dat

reg_ok=1
for acct in a:alice@a.test a:admin@a.test b:bob@b.test; do
	xp_register "${acct%%:*}" "${acct#*:}" >>"$XP_WORK/register.out" 2>&1 || reg_ok=0
done
xp_client_bg rx-b --resource rx --timeout 5 bob@b.test wait 600
xp_client_ready rx-b || reg_ok=0
[ "$reg_ok" = 1 ] || xp_bail "accounts: $(cat "$XP_WORK/register.out")"

N=0
# delivered NAME: a fresh message from alice@a.test reaches bob@b.test.
delivered() {
	local body out rc
	N=$((N + 1))
	body="m$N"
	out=$(xp_client alice@a.test send bob@b.test "$body" 2>&1)
	rc=$?
	for _ in $(seq 1 100); do
		grep -q "body=$body\$" "$(xp_client_out rx-b)" && break
		sleep 0.05
	done
	if [ "$rc" -eq 0 ] && grep -q "body=$body\$" "$(xp_client_out rx-b)"; then
		tap_ok "$1"
	else
		tap_fail "$1" "sender exit $rc: $out
$(grep -E 'refused|policy' "$(xp_server_log a)" | grep -vE 'Sending|Received' | tail -n 5)"
	fi
}

# shell_ok NAME REGEX WORD...: `prosodyctl shell WORD...` exits 0 and its
# output matches the extended REGEX (each line of REGEX separately).
shell_ok() {
	local name=$1 re=$2 out rc line miss=""
	shift 2
	out=$(xp_shell_cmd a "$@" 2>&1)
	rc=$?
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		grep -qE -- "$line" <<<"$out" || miss="$miss
missing: $line"
	done <<<"$re"
	if [ "$rc" -eq 0 ] && [ -z "$miss" ]; then
		tap_ok "$name"
	else
		tap_fail "$name" "exit $rc$miss
$out"
	fi
	SHELL_OUT=$out
}

# ---- 1. read-only commands -------------------------------------------------------------------
delivered "b.test is a config partner: alice -> bob (opens a stream)"
shell_ok "partners list: one aligned row per partner with type, tls/sasl/dialback, source, live count" \
	'^domain  type       tls/sasl/dialback        extra domains  source  live$
^b\.test  federated  required/required/false  -              config  [1-9]$
^c\.test  federated  optional/required/false  -              config  0$
2 partner\(s\); unlisted domains refused' partners list
shell_ok "partners show b.test: full record, matrix row, live session" \
	'^source +config$
^tls +required$
^connection_limit +20$
^matrix row +2 \(ok\)$
^methods +sasl_tls$
^out +a\.test +b\.test +b\.test +s2sout +yes +b\.test=EXTERNAL +chain valid, identity valid' partners show b.test
shell_ok "partners sessions b.test: direction, TLS, method, certificate" \
	'^dir +local +remote +partner +state +tls +method +certificate$
^out +a\.test +b\.test +b\.test +s2sout +yes +b\.test=EXTERNAL' partners sessions b.test
shell_ok "partners explain c.test: offered/accepted each way and contact policy, the core's text" \
	'^c\.test$
^  partner +c\.test \(its primary domain\)$
matrix row 4 \(warn\)
^  STARTTLS +offered \(not required\)$
^  STARTTLS +used when the partner offers it$
^      dialback_tcp, on a plain stream +no: dialback is not allowed for this partner \(dialback = false\)$
^      from a user not in the local user.s roster +approved automatically \(answered with subscribed\)$' partners explain c.test
shell_ok "partners explain x.test: not a partner, refused both ways" \
	'^x\.test$
^  refused: not a partner \(no partner lists it, and xmpp_partners_default = "deny"\)$
^  incoming: refused incoming s2s from x\.test: not a partner; the stream is closed$
^  outgoing: refused outgoing s2s to x\.test: not a partner; no connection is made$' partners explain x.test

# ---- 2. a rejected change ----------------------------------------------------------------------
out=$(xp_shell_cmd a partners set b.test tls not_supported 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && grep -q 'nothing changed' <<<"$out" && grep -q 'matrix row 6' <<<"$out" &&
	grep -q "partner 'b.test'" <<<"$out"; then
	tap_ok "set b.test tls not_supported (sasl required) is refused with the row 6 reason"
else
	tap_fail "set b.test tls not_supported is refused" "exit $rc: $out"
fi
tap_is "$([ -e "$STORE_FILE" ] && echo stored || echo none)" none "the refused change stored nothing"
shell_ok "after the refusal b.test still has tls required (config record in force)" \
	'^tls +required$
^source +config$' partners show b.test
delivered "after the refusal b.test traffic still flows"
out=$(xp_shell_cmd a partners set nope.test tls optional 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && grep -q 'nope.test is not a partner; add it with partners:add' <<<"$out"; then
	tap_ok "set on an unknown domain says how to add it"
else
	tap_fail "set on an unknown domain" "exit $rc: $out"
fi

# ---- 3. add, set, check, export ------------------------------------------------------------------
shell_ok "partners add d.test { ... }: added, stored" 'd\.test added \(runtime, stored\)' \
	partners add d.test '{ type = "public_verified", additional_domains = { "mail.d.test" } }'
out=$(xp_shell_cmd a partners add d.test '{ type = "federated" }' 2>&1)
if [ $? -ne 0 ] && grep -q 'd.test is already a partner' <<<"$out"; then
	tap_ok "adding d.test again is refused (already a partner)"
else
	tap_fail "adding d.test again is refused" "$out"
fi
out=$(xp_shell_cmd a partners add e.test '{ type = "federated", additional_domains = { "c.test" } }' 2>&1)
if [ $? -ne 0 ] && grep -q 'nothing changed' <<<"$out" && grep -q 'c.test' <<<"$out"; then
	tap_ok "adding e.test claiming c.test (a domain of another partner) is refused by core.build"
else
	tap_fail "duplicate domain refused" "$out"
fi
shell_ok "partners set c.test type public_verified: a runtime override of the config entry" \
	'c\.test: type = "public_verified" \(runtime, stored\)' partners set c.test type public_verified
# values typed at the prompt are read by the core (xp_value_parse), as
# ejabberdctl partners_set reads them
shell_ok "partners set c.test keepalive yes: read by the core as true" \
	'c\.test: keepalive = true \("yes" read as true\) \(runtime, stored\)' partners set c.test keepalive yes
shell_ok "partners set c.test keepalive none: the key unset again" \
	'c\.test: keepalive = nil \("none" read as nil\) \(runtime, stored\)' partners set c.test keepalive none
shell_ok "partners list shows each source" \
	'^b\.test +federated +required/required/false +- +config +[0-9]+$
^c\.test +public_verified +optional/required/false +- +runtime \(overrides config\) +0$
^d\.test +public_verified +required/required/false +mail\.d\.test +runtime +0$
3 partner\(s\)' partners list
shell_ok "partners check: valid, warnings with their matrix rows" \
	"^warning: partner 'c.test'.* is matrix row 4 \\(warning\\)
partner table valid: 3 partner\\(s\\), 1 warning\\(s\\)" partners check
shell_ok "partners export: a config snippet with every partner" \
	'^xmpp_partners = \{$
^	\["c\.test"\] = \{ type = "public_verified"; tls = "optional" \}; -- runtime \(overrides config\)$' partners export
printf '%s\n' "$SHELL_OUT" | grep -v '^OK:' >"$XP_WORK/export.lua"
LUA=$(xp__prosody_lua)
out=$(env "$(xp__lua_env)" XP_EXPORT="$XP_WORK/export.lua" "$LUA" -e '
	local env = {}
	assert(loadfile(os.getenv("XP_EXPORT"), "t", env))()
	local core = require "xmpp_partners.core"
	local tbl, diags = core.build(env.xmpp_partners)
	if not tbl then for _, d in ipairs(diags) do print(d.message) end os.exit(1) end
	print(tbl:info().count, tbl:lookup("mail.d.test").domain, tbl:lookup("c.test").type)' 2>&1)
tap_is "$out" "3	d.test	public_verified" "the exported snippet is valid Lua that core.build accepts, same table"

# ---- 4. remove, restart, reset --------------------------------------------------------------------
xp_log_mark a
xp_log_mark b
shell_ok "partners remove b.test (a config partner)" \
	'b\.test removed \(its config entry stays hidden until partners:reset\("b\.test"\)\)' partners remove b.test
if xp_wait_new_log a 'Closed [1-9] s2s stream\(s\) the new partner policy no longer allows' 3 &&
	xp_wait_new_log b 'policy-violation' 3; then
	tap_ok "removing b.test closes its live stream (policy-violation)"
else
	tap_fail "removing b.test closes its live stream" "$(xp_log_new a | grep -E 'refused|Closed' | tail -n 5)"
fi
out=$(xp_client alice@a.test send bob@b.test gone expect-error-from bob@b.test not-allowed 2>&1)
tap_is "$?" 0 "after the removal alice -> bob bounces (not-allowed)"

xp_log_mark a
if xp_restart a && xp_wait_new_log a 'Partner policy loaded: 2 partners' 5; then
	tap_ok "a.test restarted with the same data directory: 2 partners (c.test, d.test)"
else
	tap_fail "a.test restarted" "$(xp_log_new a | grep -E 'xmpp_partners|error' | tail -n 5)"
fi
shell_ok "after the restart: removal, runtime entry and override are still in force" \
	'^c\.test +public_verified .* runtime \(overrides config\)
^d\.test +public_verified .* runtime +0$
removed at runtime \(config entries hidden\): b\.test' partners list
shell_ok "partners reset b.test: the config entry applies again" \
	'b\.test: runtime entry cleared, the configuration applies' partners reset b.test
shell_ok "partners list: b.test back from the config" '^b\.test +federated +required/required/false +- +config' partners list
delivered "b.test federates again after the reset"

# Storage failing on write (the scratch file of the atomic write is a
# directory): the change is refused and nothing is applied.
mkdir "$STORE_FILE~"
xp_log_mark a
out=$(xp_shell_cmd a partners set c.test tls required 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && grep -q 'refused, nothing changed: the change could not be stored' <<<"$out"; then
	tap_ok "storage failing: the change is refused and says so"
else
	tap_fail "storage failing: the change is refused" "exit $rc: $out"
fi
rmdir "$STORE_FILE~"
if xp_shell_cmd a partners show c.test 2>&1 | grep -q '^tls  *optional$' &&
	[ "$(xp_log_count a 'Partner policy changed')" -eq 0 ]; then
	tap_ok "storage failing: the table in force is unchanged (c.test tls optional)"
else
	tap_fail "storage failing: nothing applied" "$(xp_shell_cmd a partners show c.test 2>&1)"
fi

# ---- 5. prosodyctl mod_xmpp_partners check -------------------------------------------------------------
out=$(xp_prosodyctl a mod_xmpp_partners check 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && grep -q 'partner table valid: 3 partner(s)' <<<"$out"; then
	tap_ok "prosodyctl mod_xmpp_partners check: exit 0, config plus stored entries (3 partners)"
else
	tap_fail "prosodyctl mod_xmpp_partners check (valid)" "exit $rc: $out"
fi
partners '	["b.test"] = { type = "federated", tls = "sometimes" };
	["c.test"] = { type = "federated", tls = "optional" };'
out=$(xp_prosodyctl a mod_xmpp_partners check 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && grep -q "partner 'b.test': key 'tls'" <<<"$out" && grep -q 'INVALID' <<<"$out"; then
	tap_ok "prosodyctl mod_xmpp_partners check with a bad value: exit 1, names b.test and tls"
else
	tap_fail "prosodyctl mod_xmpp_partners check (invalid)" "exit $rc: $out"
fi
partners "$CONFIG_PARTNERS"

# ---- 6. ad-hoc commands -------------------------------------------------------------------------------
out=$(xp_client admin@a.test adhoc a.test urn:xmpp-partners:list - 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^adhoc status=completed' <<<"$out" &&
	grep -q '^adhoc-note type=info text=domain .*\\nd\.test  *public_verified' <<<"$out"; then
	tap_ok "ad-hoc list by admin@a.test: the partner table"
else
	tap_fail "ad-hoc list by the admin" "exit $rc: $out"
fi
out=$(xp_client admin@a.test adhoc a.test urn:xmpp-partners:add - 2>&1)
if grep -q '^adhoc-field var=type type=list-single value= options=federated|public_verified|public_unverified$' <<<"$out" &&
	grep -q '^adhoc-field var=tls type=list-single value= options=required|optional|not_supported$' <<<"$out" &&
	grep -q '^adhoc-field var=dialback type=boolean' <<<"$out" &&
	grep -q '^adhoc-field var=additional_domains type=text-multi' <<<"$out"; then
	tap_ok "ad-hoc add offers list-single type/tls/sasl, boolean dialback, text-multi domains"
else
	tap_fail "ad-hoc add form" "$out"
fi
out=$(xp_client admin@a.test adhoc a.test urn:xmpp-partners:add \
	'domain=e.test;type=federated;tls=not_supported;sasl=required' 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && grep -q '^adhoc status=completed' <<<"$out" &&
	grep -q '^adhoc-note type=error text=.*matrix row 6' <<<"$out" &&
	! xp_shell_cmd a partners list 2>&1 | grep -q '^e\.test'; then
	tap_ok "ad-hoc add with tls not_supported + sasl required: refused with the row 6 reason, nothing added"
else
	tap_fail "ad-hoc add invalid combination" "exit $rc: $out"
fi
out=$(xp_client admin@a.test adhoc a.test urn:xmpp-partners:add \
	'domain=e.test;type=federated;tls=optional;sasl=optional;dialback=1;additional_domains=x.e.test|y.e.test' 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^adhoc-note type=info text=e\.test added' <<<"$out"; then
	tap_ok "ad-hoc add e.test by the admin"
else
	tap_fail "ad-hoc add e.test" "exit $rc: $out"
fi
out=$(xp_client admin@a.test adhoc a.test urn:xmpp-partners:edit 'domain=e.test//tls=required;sasl=required;dialback=0' 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^adhoc-field var=tls type=list-single value=optional' <<<"$out" &&
	grep -q '^adhoc-field var=additional_domains type=text-multi value=x\.e\.test|y\.e\.test' <<<"$out" &&
	grep -q '^adhoc-note type=info text=e\.test changed' <<<"$out"; then
	tap_ok "ad-hoc edit e.test: the form holds its values; the change is applied"
else
	tap_fail "ad-hoc edit e.test" "exit $rc: $out"
fi
shell_ok "partners show e.test after the ad-hoc edit" \
	'^tls +required$
^dialback +false$
^additional_domains +x\.e\.test,y\.e\.test$
^source +runtime$' partners show e.test
out=$(xp_client admin@a.test adhoc a.test urn:xmpp-partners:remove 'domain=e.test' 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^adhoc-note type=info text=e\.test removed' <<<"$out" &&
	! xp_shell_cmd a partners list 2>&1 | grep -q '^e\.test'; then
	tap_ok "ad-hoc remove e.test by the admin"
else
	tap_fail "ad-hoc remove e.test" "exit $rc: $out"
fi
out=$(xp_client alice@a.test adhoc a.test urn:xmpp-partners:list - 2>&1)
rc=$?
out2=$(xp_client alice@a.test adhoc a.test urn:xmpp-partners:add 'domain=f.test;type=federated' 2>&1)
rc2=$?
if [ "$rc" -ne 0 ] && grep -q '^adhoc-error condition=forbidden' <<<"$out" &&
	[ "$rc2" -ne 0 ] && grep -q '^adhoc-error condition=forbidden' <<<"$out2"; then
	tap_ok "alice@a.test (not an admin) is refused (forbidden)"
else
	tap_fail "non-admin refused" "exit $rc: $out
exit $rc2: $out2"
fi

tap_stop_all
tap_done
