#!/bin/bash
# t_options.sh: the global xmpp_partners_* options on a live server (issue
# 20, items 2 and 3).
#
#   1. A misspelled option (xmpp_partners_keepalive_intervl) is warned in the
#      server log, by `prosodyctl mod_xmpp_partners check` and by
#      `xmpp-partners check` on the same prosody.cfg.lua, with one text
#      naming the nearest option (the core's).
#   2. Every option takes effect on reload (SIGHUP, same PID), each changed
#      alone: xmpp_partners_keepalive_interval 300 -> 2 (keepalives go out on
#      the live link within seconds), xmpp_partners_default deny -> allow
#      (an unlisted domain federates), xmpp_partners_connection_limit -> 1
#      (a new connection is refused, the reason logged), and the partner
#      table itself (a partner removed).
#   3. The shell (item 4): a bare undefined name in a typed-in record is an
#      error naming it; `partners set ... dialback yes` says it read true;
#      `help` lists the partners section.
#   4. `partners list` shows the first 100 partners and how many more, and
#      partners:list(PATTERN, N) a filtered part (item 7).
# a.test runs the module; b.test (partner), c.test and d.test (unlisted)
# are one server without it.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

XP=$top_builddir/tools/xmpp-partners
xp_init
[ -x "$XP" ] || tap_skip_all "xmpp-partners not built ($XP)"
tap_plan 14

for d in a.test b.test; do xp_host "$d"; done
xp_host c.test "$(xp_addr b.test)"
xp_host d.test "$(xp_addr b.test)"
OPTS=$XP_WORK/options.cfg.lua
options() { printf '%s\n' "$@" >"$OPTS"; }
options 'xmpp_partners = { ["b.test"] = { type = "federated" } }' \
	'xmpp_partners_keepalive_interval = 300' \
	'xmpp_partners_keepalive_intervl = 60'
ok=1
xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
	--extra-lua "statistics = \"internal\"
Include $(xp__lua_str "$OPTS")" || ok=0
xp_start_prosody b "$(xp_addr b.test)" b.test c.test d.test || ok=0
if [ "$ok" = 1 ] && xp_wait_log a 'Partner policy loaded: 1 partners' 5; then
	tap_ok "a.test (module, 1 partner) and b/c/d.test started"
else
	tap_fail "servers started"
	xp_bail "cannot start the servers"
fi

# ---- 1. a misspelled option ---------------------------------------------------------------
WANT="'xmpp_partners_keepalive_intervl' is not an option of xmpp-partners, so it is ignored; did you mean 'xmpp_partners_keepalive_interval'?"
cli=$("$XP" check "$OPTS" 2>&1)
cli_text=$(printf '%s\n' "$cli" | sed -n 's/^.*: warning: \(.*intervl.*\)$/\1/p')
srv_text=$(grep -F "mod_xmpp_partners" "$(xp_server_log a)" | sed -n 's/^.*warn[[:space:]]*\(.*intervl.*\)$/\1/p' | head -n 1)
ctl=$(xp_prosodyctl a mod_xmpp_partners check 2>&1)
ctl_rc=$?
ctl_text=$(printf '%s\n' "$ctl" | sed -n 's/^warning: \(.*intervl.*\)$/\1/p')
if [ "$cli_text" = "$WANT" ] && [ "$srv_text" = "$WANT" ] && [ "$ctl_text" = "$WANT" ] && [ "$ctl_rc" = 0 ]; then
	tap_ok "misspelled option: server log, prosodyctl check (exit 0) and xmpp-partners check all say: $WANT"
else
	tap_fail "misspelled option warned alike" "want:   $WANT
cli:    $cli_text
server: $srv_text
ctl:    $ctl_text (exit $ctl_rc)
$ctl"
fi

# ---- 2. each option on reload ---------------------------------------------------------------
pong() { xp_shell "$1" "xmpp:ping('$2', '$3')" 2>&1 | grep -qi "pong from $3"; }
metric() {
	xp_shell a "> local r = require'core.statsmanager'.get_metric_registry(); local n = 0; for v in r:render():gmatch('prosody_mod_xmpp_partners__keepalives_total{partner=\"$1\"} (%d+)') do n = n + tonumber(v) end; return 'keepalives=' .. n" 2>&1 |
		sed -n 's/.*keepalives=\([0-9]*\).*/\1/p'
}
reload_with() {
	options "$@"
	xp_reload_partners a
}

PID_A=$(xp_server_pid a)
if pong a a.test b.test && pong b b.test a.test; then
	tap_ok "a.test <-> b.test federate (links open both ways)"
else
	tap_fail "a.test <-> b.test federate"
fi

# The first keepalive check runs 1 s after start; with 300 s the next one is
# planned 75 s later.  Reload only after that, or it proves nothing.
sleep 3
m0=$(metric b.test)
if reload_with 'xmpp_partners = { ["b.test"] = { type = "federated" } }' \
	'xmpp_partners_keepalive_interval = 2'; then
	sleep 6
	m1=$(metric b.test)
	if [ -n "$m0" ] && [ -n "$m1" ] && [ "$m1" -ge $((m0 + 2)) ] && [ "$(xp_server_pid a)" = "$PID_A" ]; then
		tap_ok "keepalive_interval 300 -> 2 on reload: $((m1 - m0)) keepalives on the idle links in 6 s (same PID)"
	else
		tap_fail "keepalive_interval applied on reload" "metric before '$m0', 6 s after the reload '$m1'"
	fi
else
	tap_fail "keepalive_interval applied on reload" "the reload was not applied"
fi

if pong b c.test a.test; then
	tap_fail "control: c.test (unlisted) is refused under default deny"
else
	tap_ok "control: c.test (unlisted) is refused under default deny"
fi
if reload_with 'xmpp_partners = { ["b.test"] = { type = "federated" } }' \
	'xmpp_partners_keepalive_interval = 2' 'xmpp_partners_default = "allow"' &&
	pong b c.test a.test; then
	tap_ok "default deny -> allow on reload: c.test federates"
else
	tap_fail "default applied on reload" "$(grep -E 'c\.test' "$(xp_server_log a)" | tail -n 3)"
fi

xp_log_mark a
if reload_with 'xmpp_partners = { ["b.test"] = { type = "federated" } }' \
	'xmpp_partners_keepalive_interval = 2' 'xmpp_partners_default = "allow"' \
	'xmpp_partners_connection_limit = 1'; then
	if pong b d.test a.test; then
		tap_fail "connection_limit applied on reload" "d.test got a pong with the limit 1 reached"
	elif xp_wait_new_log a 'refused incoming s2s from d\.test: .*connection_limit' 5; then
		tap_ok "connection_limit -> 1 on reload: a new connection (d.test) is refused, the limit logged"
	else
		tap_fail "connection_limit applied on reload" "no refusal naming the limit: $(xp_log_new a | grep -E 'd\.test' | tail -n 3)"
	fi
else
	tap_fail "connection_limit applied on reload" "the reload was not applied"
fi

if reload_with 'xmpp_partners = { }' 'xmpp_partners_keepalive_interval = 2' &&
	! pong b b.test a.test; then
	tap_ok "the table on reload: b.test removed, refused"
else
	tap_fail "the table applied on reload" "b.test still federates"
fi

# ---- 3. the shell (item 4) --------------------------------------------------------------------
out=$(xp_shell_cmd a partners add x.test '{ type = "federated"; sasl = optional }' 2>&1)
rc=$?
if [ "$rc" != 0 ] && printf '%s' "$out" | grep -q "'optional' is not defined" &&
	! xp_shell_cmd a partners show x.test >/dev/null 2>&1; then
	tap_ok "shell: a bare undefined name in a typed-in record is an error naming it; nothing added"
else
	tap_fail "shell: a bare undefined name is an error" "exit $rc: $out"
fi
out=$(xp_shell_cmd a partners add x.test '{ type = "federated"; sasl = "optional" }' 2>&1) &&
	out=$(xp_shell_cmd a partners set x.test dialback yes 2>&1)
rc=$?
if [ "$rc" = 0 ] && printf '%s' "$out" | grep -qF 'dialback = true ("yes" read as true)'; then
	tap_ok "shell: set dialback yes says it was read as true"
else
	tap_fail "shell: set dialback yes says how it was read" "exit $rc: $out"
fi
out=$(xp_shell a help 2>&1)
out2=$(xp_shell a "help partners" 2>&1)
if printf '%s' "$out" | grep -q '^partners: ' && printf '%s' "$out2" | grep -q 'partners add'; then
	tap_ok "shell: help lists the partners section; help partners lists its commands"
else
	tap_fail "shell: help lists the partners section" "help:
$out
help partners:
$out2"
fi

# ---- 4. a long listing (item 7) ------------------------------------------------------------------
many=$(awk 'BEGIN { printf "xmpp_partners = {"; for (i = 1; i <= 150; i++) printf " [\"p%03d.test\"] = {};", i; print " }" }')
if reload_with "$many"; then
	out=$(xp_shell_cmd a partners list 2>&1)
	rows=$(printf '%s\n' "$out" | grep -cE '^(p[0-9]{3}|x)\.test ')
	out2=$(xp_shell_cmd a partners list p14 3 2>&1)
	rows2=$(printf '%s\n' "$out2" | grep -cE '^p14[0-9]\.test ')
	if [ "$rows" = 100 ] && printf '%s' "$out" | grep -q '^\.\.\. and 51 more: partners:list(PATTERN)' &&
		printf '%s' "$out" | grep -q '^151 partner(s); unlisted' &&
		[ "$rows2" = 3 ] && printf '%s' "$out2" | grep -q '^\.\.\. and 7 more' &&
		printf '%s' "$out2" | grep -q "151 partner(s), 10 with 'p14' in the domain"; then
		tap_ok "partners list: the first 100 of 151 and how many more; list p14 3: 3 of the 10 that match"
	else
		tap_fail "partners list is limited and says how to see the rest" "list ($rows rows):
$(printf '%s\n' "$out" | tail -n 4)
list p14 3 ($rows2 rows):
$out2"
	fi
else
	tap_fail "partners list is limited" "the 150-partner table was not loaded"
fi

tap_stop_all
tap_done
