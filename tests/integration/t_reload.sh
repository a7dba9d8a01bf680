#!/bin/bash
# t_reload.sh: changing the partner table of a running server, and starting
# with a broken one.
#
#   1. a.test (mod_xmpp_partners) starts with b.test as its only partner;
#      c.test is refused.
#   2. A valid change (b.test removed, c.test added) applied by a reload
#      (SIGHUP, same PID): b.test's live streams are closed and new traffic
#      with it refused; c.test federates.
#   3. An invalid change (a bad value, b.test added back) is rejected: the
#      errors are logged, the table in force stays, traffic with c.test goes
#      on, b.test stays refused.
#   4. a.test restarted with an invalid table fails closed: errors logged,
#      nothing federates; a reload with a fixed table opens it again.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
tap_plan 25

for d in a.test b.test c.test; do xp_host "$d"; done
PARTNERS=$XP_WORK/partners-a.lua
partners() { printf 'xmpp_partners = {\n%s\n}\n' "$1" >"$PARTNERS"; }
partners '	["b.test"] = { type = "federated" };'
start_a() {
	xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
		--extra-lua "Include $(xp__lua_str "$PARTNERS")"
}
ok=1
start_a || ok=0
xp_start_prosody b "$(xp_addr b.test)" b.test || ok=0
xp_start_prosody c "$(xp_addr c.test)" c.test || ok=0
if [ "$ok" = 1 ] && xp_wait_log a 'Partner policy loaded: 1 partners' 5; then
	tap_ok "a.test starts with 1 partner (b.test); b.test and c.test started"
else
	tap_fail "servers started" "$(grep -E 'xmpp_partners|error' "$(xp_server_log a)" | tail -n 5)"
	xp_bail "cannot start the servers"
fi
PID_A=$(xp_server_pid a)

reg_ok=1
for acct in a:alice@a.test b:bob@b.test c:carl@c.test; do
	xp_register "${acct%%:*}" "${acct#*:}" >>"$XP_WORK/register.out" 2>&1 || reg_ok=0
done
rx_start() {
	xp_client_bg "rx-$1" --resource rx --timeout 5 "$2" wait 600
	xp_client_ready "rx-$1"
}
rx_start a alice@a.test || reg_ok=0
rx_start b bob@b.test || reg_ok=0
rx_start c carl@c.test || reg_ok=0
if [ "$reg_ok" = 1 ]; then
	tap_ok "alice@a.test, bob@b.test, carl@c.test registered and online"
else
	tap_fail "accounts" "$(cat "$XP_WORK/register.out")"
	xp_bail "no accounts"
fi

# delivered NAME FROM TO: a fresh message from FROM reaches TO's receiver.
N=0
delivered() {
	local name=$1 from=$2 to=$3 body out rc rx
	N=$((N + 1))
	body="m$N"
	rx=$(xp_client_out "rx-${to:0:1}")
	[ "$to" = alice@a.test ] && rx=$(xp_client_out "$RX_A")
	out=$(xp_client "$from" send "$to" "$body" 2>&1)
	rc=$?
	for _ in $(seq 1 100); do
		grep -q "body=$body\$" "$rx" && break
		sleep 0.05
	done
	if [ "$rc" -eq 0 ] && grep -q "^message from=$from/[^ ]* type=chat body=$body\$" "$rx"; then
		tap_ok "$name"
	else
		tap_fail "$name" "sender exit $rc: $out
$(xp_log_new a | grep -E 'refused|policy|error' | grep -vE 'Sending|Received' | tail -n 8)"
	fi
}
RX_A="rx-a"

# refused_both NAME REMOTEJID LOGTEXT: alice's message to REMOTEJID bounces
# (not-allowed) and REMOTEJID's to alice bounces (its stream closed with
# policy-violation); a.test logs "refused <dir> s2s <to|from> <domain>: LOGTEXT".
refused_both() {
	local name=$1 jid=$2 text=$3 domain=${2#*@} out1 rc1 out2 rc2 n_out n_in body
	N=$((N + 1))
	body="m$N"
	xp_log_mark a
	out1=$(xp_client alice@a.test send "$jid" "$body" expect-error-from "$jid" not-allowed 2>&1)
	rc1=$?
	out2=$(xp_client "$jid" send alice@a.test "$body" expect-error-from alice@a.test '*' 2>&1)
	rc2=$?
	sleep 0.2
	n_out=$(xp_log_new a | grep -cF "refused outgoing s2s to $domain: $text")
	n_in=$(xp_log_new a | grep -cF "refused incoming s2s from $domain: $text")
	if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && [ "$n_out" -ge 1 ] && [ "$n_in" -ge 1 ] &&
		! grep -q "body=$body\$" "$(xp_client_out "$RX_A")" "$(xp_client_out "rx-${domain:0:1}")"; then
		tap_ok "$name"
	else
		tap_fail "$name" "alice exit $rc1, $jid exit $rc2 (0 = bounced); refusals out=$n_out in=$n_in ('$text')
$out1
$out2
$(xp_log_new a | grep -E 'refused|policy' | tail -n 6)"
	fi
}

# ---- 1. the initial table -------------------------------------------------------------
delivered "b.test is a partner: alice -> bob" alice@a.test bob@b.test
delivered "b.test is a partner: bob -> alice" bob@b.test alice@a.test
refused_both "c.test is not a partner: refused both ways" carl@c.test "not a partner"

# ---- 2. a valid change ----------------------------------------------------------------------
xp_log_mark a
xp_log_mark b
partners '	["c.test"] = { type = "federated" };'
if xp_reload_partners a && xp_wait_new_log a 'Partner policy reloaded: 1 partners' 1; then
	tap_ok "reload (SIGHUP) with b.test removed and c.test added: 'Partner policy reloaded: 1 partners'"
else
	tap_fail "reload with a valid change is applied" "$(xp_log_new a | grep -E 'xmpp_partners|error' | tail -n 5)"
fi
tap_is "$(xp_server_pid a) $(kill -0 "$PID_A" 2>/dev/null && echo alive)" "$PID_A alive" \
	"a.test was not restarted (same PID $PID_A)"
# Both of b.test's streams (a -> b and b -> a) are closed by a.test.
if xp_wait_new_log a 'Closed 2 s2s stream\(s\) the new partner policy no longer allows' 3 &&
	[ "$(xp_log_count a 'refused (incoming|outgoing) s2s (from|to) b\.test: not a partner')" -eq 2 ]; then
	tap_ok "b.test's two live streams are closed, each refusal logged ('refused ... b.test: not a partner')"
else
	tap_fail "b.test's live streams are closed" "$(xp_log_new a | grep -E 'refused|Closed' | tail -n 5)"
fi
if xp_wait_new_log b 'Session closed by remote with error: policy-violation' 3; then
	tap_ok "b.test sees its stream closed with policy-violation"
else
	tap_fail "b.test sees its stream closed with policy-violation" "$(xp_log_new b | grep -iE 'closed' | tail -n 5)"
fi
refused_both "after the reload, new traffic with b.test is refused both ways" bob@b.test "not a partner"
delivered "after the reload, c.test federates: alice -> carl" alice@a.test carl@c.test
delivered "after the reload, c.test federates: carl -> alice" carl@c.test alice@a.test

# ---- 3. an invalid change ------------------------------------------------------------------
xp_log_mark a
partners '	["c.test"] = { type = "federated", tls = "sometimes" };
	["b.test"] = { type = "federated" };'
if ! xp_reload_partners a &&
	xp_log_new a | grep -E 'error' | grep -F 'c.test' | grep -qF 'tls' &&
	xp_log_new a | grep -q 'keeping the previous partner policy in force'; then
	tap_ok "reload with an invalid value is rejected: the error names c.test and tls; previous table kept"
else
	tap_fail "reload with an invalid change is rejected" "$(xp_log_new a | grep -E 'xmpp_partners' | tail -n 5)"
fi
tap_is "$(xp_log_count a 'refused .* s2s .*c\.test')" 0 "c.test's live streams stay open (nothing refused)"
delivered "traffic goes on: alice -> carl (existing stream)" alice@a.test carl@c.test
delivered "traffic goes on: carl -> alice (existing stream)" carl@c.test alice@a.test
refused_both "b.test (added by the rejected table) is still refused both ways" bob@b.test "not a partner"

# ---- 4. start-up with an invalid table --------------------------------------------------------
xp_stop a
partners '	["c.test"] = { type = "federated", tls = "not_supported", sasl = "required" };
	["b.test"] = { type = "federated", dialbak = true };'
xp_log_mark a
if start_a && xp_wait_new_log a 'all federation is refused until they are fixed' 5; then
	tap_ok "restart with an invalid table: a.test runs and logs that all federation is refused"
else
	tap_fail "restart with an invalid table fails closed" "$(xp_log_new a | grep -E 'xmpp_partners' | tail -n 5)"
fi
errs=$(xp_log_new a | grep -E 'mod_xmpp_partners	error')
if grep -qF 'c.test' <<<"$errs" && grep -qF 'row 6' <<<"$errs" &&
	grep -qF 'b.test' <<<"$errs" && grep -qF 'dialbak' <<<"$errs" && grep -qF 'dialback' <<<"$errs"; then
	tap_ok "the errors name the partners and the problems (c.test: matrix row 6; b.test: 'dialbak', did you mean 'dialback')"
else
	tap_fail "the errors name the partners and the problems" "$errs"
fi
RX_A="rx-a2"
xp_client_bg rx-a2 --resource rx --timeout 5 alice@a.test wait 600
xp_client_ready rx-a2 || tap_diag "alice did not come back online"
refused_both "fail closed: c.test (valid before) is refused both ways" carl@c.test \
	"the partner configuration is invalid: all federation is refused until it is fixed"
refused_both "fail closed: b.test is refused both ways" bob@b.test \
	"the partner configuration is invalid: all federation is refused until it is fixed"

# A fixed table, by reload, opens federation again.
xp_log_mark a
partners '	["c.test"] = { type = "federated" };'
if xp_reload_partners a; then
	tap_ok "reload with a fixed table: 'Partner policy reloaded'"
else
	tap_fail "reload with a fixed table is applied" "$(xp_log_new a | grep -E 'xmpp_partners' | tail -n 5)"
fi
delivered "c.test federates again: alice -> carl" alice@a.test carl@c.test

tap_stop_all
tap_done
