#!/bin/bash
# t_partner_file.sh: the partner table read from xmpp_partners_file (the
# shared partner file, evaluated by the policy core in a sandbox of its own
# instead of Prosody's config), laid under the config's xmpp_partners.
#
#   1. a.test starts with xmpp_partners_file (a path relative to its
#      config) listing b.test and c.test, and xmpp_partners in the config
#      listing c.test again, spelled C.Test: one partner however each
#      source spells it (merged by the core's normalized domain, as on
#      ejabberd), so 2 partners; traffic with b.test both ways.
#   2. The admin shell names each record's source: the file for b.test,
#      the config (which wins) for c.test, a runtime change (partners set)
#      on top of the file, and partners reset; a file edit not reloaded yet
#      is not applied by a partners set; prosodyctl mod_xmpp_partners
#      check validates the file too (and names its line when it is broken).
#   3. The file edited (b.test removed) and a reload (SIGHUP): b.test is
#      refused, c.test still federates.
#   4. A syntax error in the file and a reload: the error is logged with the
#      file, its line and the fix; the table in force stays.
#   5. A restart with the file gone fails closed: the error is logged, no
#      federation; the file put back and a reload opens it again.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
tap_plan 20

for d in a.test b.test c.test; do xp_host "$d"; done
PFILE=$XP_WORK/partners-file.cfg.lua
pfile() { printf '%s\n' "$@" >"$PFILE"; }
pfile '-- the shared partner file' \
	'xmpp_partners = {' \
	'	["b.test"] = { type = "federated"; description = "b from the file" };' \
	'	["c.test"] = { type = "federated"; description = "c from the file" };' \
	'}'
ok=1
# The config lives in $XP_WORK/srv/a/: the file is named relative to it.
xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
	--extra-lua 'xmpp_partners_file = "../../partners-file.cfg.lua"
xmpp_partners = { ["C.Test"] = { type = "federated"; description = "c from the config" } }' || ok=0
xp_start_prosody b "$(xp_addr b.test)" b.test || ok=0
xp_start_prosody c "$(xp_addr c.test)" c.test || ok=0
if [ "$ok" = 1 ] && xp_wait_log a 'Partner policy loaded: 2 partners' 5; then
	tap_ok "a.test starts with 2 partners from xmpp_partners_file and the config; b.test and c.test started"
else
	tap_fail "servers started" "$(grep -E 'xmpp_partners|error' "$(xp_server_log a)" | tail -n 5)"
	xp_bail "cannot start the servers"
fi

reg_ok=1
for acct in a:alice@a.test b:bob@b.test c:carl@c.test; do
	xp_register "${acct%%:*}" "${acct#*:}" >>"$XP_WORK/register.out" 2>&1 || reg_ok=0
done
[ "$reg_ok" = 1 ] || xp_bail "cannot register the accounts: $(cat "$XP_WORK/register.out")"

xp_delivered "a file partner: alice@a.test -> bob@b.test delivered" alice@a.test bob@b.test m1
xp_delivered "a file partner: bob@b.test -> alice@a.test delivered" bob@b.test alice@a.test m2

# shell_has NAME REGEX COMMAND...: the admin shell's output matches REGEX.
shell_has() {
	local name=$1 re=$2 out
	shift 2
	out=$(xp_shell_cmd a "$@" 2>&1)
	if printf '%s\n' "$out" | grep -qE -- "$re"; then
		tap_ok "$name"
	else
		tap_fail "$name" "want /$re/ in:
$out"
	fi
}
shell_has "partners show b.test: source is the file" \
	"^source +file $XP_WORK/srv/a/\.\./\.\./partners-file\.cfg\.lua\$" partners show b.test
shell_has "partners show c.test: the config's record wins over the file's" \
	'^description +c from the config$' partners show c.test
# (the Fabrikam case: the file's c.test and the config's C.Test are one
# record, laid over by the core; its source is named)
out=$(xp_shell_cmd a partners list 2>&1)
if [ "$(grep -c '^c\.test ' <<<"$out")" = 1 ] && [ "$(grep -ci '^c\.test' <<<"$out")" = 1 ] &&
	grep -qE '^c\.test +federated +.* config +[0-9]+$' <<<"$out"; then
	tap_ok "partners list: c.test once, its source the config (C.Test in the config over c.test in the file)"
else
	tap_fail "the Fabrikam case on Prosody: one record, the config's" "$out"
fi

xp_shell_cmd a partners set b.test description "changed at runtime" >"$XP_WORK/set.out" 2>&1
shell_has "partners set on a file record: the source says it overrides the file" \
	'^source +runtime \(overrides file\)$' partners show b.test
xp_shell_cmd a partners reset b.test >>"$XP_WORK/set.out" 2>&1
shell_has "partners reset b.test: the file's record applies again" \
	'^description +b from the file$' partners show b.test

# An edit of the file waits for the reload: a `partners set` in between
# applies the table as last loaded, not the file as it is on disk.
cp "$PFILE" "$PFILE.loaded"
pfile 'xmpp_partners = {' \
	'	["c.test"] = { type = "federated"; description = "c from the file" };' \
	'}'
xp_shell_cmd a partners set c.test description "changed at runtime" >>"$XP_WORK/set.out" 2>&1
# (the runtime entry is stored as c.test; the config spells it C.Test)
shell_has "partners set c.test over the config's C.Test: one record, the runtime one" \
	'^source +runtime \(overrides config\)$' partners show c.test
xp_delivered "a partners set before the reload leaves b.test (still in the loaded file) a partner" \
	alice@a.test bob@b.test m1b
xp_shell_cmd a partners reset c.test >>"$XP_WORK/set.out" 2>&1
mv "$PFILE.loaded" "$PFILE"

# check_says NAME STATUS REGEX: `prosodyctl mod_xmpp_partners check` exits
# with STATUS and its output matches the extended REGEX.
check_says() {
	local out rc
	out=$(xp_prosodyctl a mod_xmpp_partners check 2>&1)
	rc=$?
	if [ "$rc" -eq "$2" ] && grep -qE -- "$3" <<<"$out"; then
		tap_ok "$1"
	else
		tap_fail "$1" "exit $rc (want $2): $out"
	fi
}
check_says "prosodyctl mod_xmpp_partners check reads the file too: exit 0, 2 partners" \
	0 'partner table valid: 2 partner\(s\)'

# refused_out NAME DOMAIN: alice's message to DOMAIN bounces with
# not-allowed and a.test logs the refusal with its reason.
refused_out() {
	local out rc
	xp_log_mark a
	out=$(xp_client alice@a.test send "user@$2" "to-$2" expect-error-from "user@$2" not-allowed 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && xp_wait_new_log a "refused outgoing s2s to $2: " 2; then
		tap_ok "$1"
	else
		tap_fail "$1" "client exit $rc (0 = bounced with not-allowed): $out
$(xp_log_new a | grep -E 'refused|error' | tail -n 5)"
	fi
}

# 3. b.test removed from the file.
pfile 'xmpp_partners = {' \
	'	["c.test"] = { type = "federated"; description = "c from the file" };' \
	'}'
if xp_reload_partners a && xp_wait_log a 'Partner policy reloaded: 1 partners' 5; then
	tap_ok "file edited and reloaded (SIGHUP): 1 partner"
else
	tap_fail "file edited and reloaded" "$(grep -E 'xmpp_partners|error' "$(xp_server_log a)" | tail -n 5)"
fi
refused_out "b.test, removed from the file, is refused: alice's message bounces with not-allowed" b.test
xp_delivered "c.test still federates after the reload" alice@a.test carl@c.test m3

# 4. A syntax error in the file: logged with file, line and fix; table kept.
pfile 'xmpp_partners = {' \
	'	["c.test"] = { type = "federated" description = "no separator" };' \
	'}'
xp_log_mark a
xp_reload a
if xp_wait_new_log a "xmpp_partners_file: $XP_WORK/srv/a/\.\./\.\./partners-file\.cfg\.lua:2: .*fix the file \(xmpp-partners check .*\) and reload; keeping the previous partner policy in force" 5; then
	tap_ok "a syntax error in the file at reload: logged with the file, line 2 and the fix; the previous policy kept"
else
	tap_fail "syntax error logged" "$(xp_log_new a | grep -E 'xmpp_partners|error' | tail -n 5)"
fi
xp_delivered "c.test still federates with the broken file" alice@a.test carl@c.test m4
check_says "prosodyctl mod_xmpp_partners check with the broken file: exit 2, names the file and line 2" \
	2 'partners-file\.cfg\.lua:2: '

# 5. Restart with the file gone: fail closed; put back and reload: open.
mv "$PFILE" "$PFILE.away"
xp_restart a || xp_bail "a.test did not restart"
if xp_wait_log a "xmpp_partners_file: $XP_WORK/srv/a/\.\./\.\./partners-file\.cfg\.lua: cannot open.*; all federation is refused until it can be read" 5; then
	tap_ok "restart with the file missing: the error is logged and all federation refused"
else
	tap_fail "missing file logged" "$(grep -E 'xmpp_partners|error' "$(xp_server_log a)" | tail -n 5)"
fi
refused_out "with the file missing, c.test is refused too (fail closed)" c.test
pfile 'xmpp_partners = {' \
	'	["c.test"] = { type = "federated" };' \
	'}'
rm -f "$PFILE.away"
if xp_reload_partners a; then
	xp_delivered "the file put back and reloaded: c.test federates again" alice@a.test carl@c.test m5
else
	tap_fail "the file put back and reloaded" "$(grep -E 'xmpp_partners|error' "$(xp_server_log a)" | tail -n 5)"
fi
