#!/bin/bash
# t_faults.sh: faults around a Prosody with mod_xmpp_partners; no policy is
# lost and no refused domain gets in.
#
#   a.test (mod_xmpp_partners; config partners b.test and d.test); b.test,
#   c.test (never a partner) and d.test are plain Prosody servers.
#
#   1. b.test's server dies (SIGKILL) with its stream to a.test open:
#      a.test stays up, alice's message to bob bounces instead of hanging,
#      and partner traffic recovers both ways once b.test is back.
#   2. Reloads (SIGHUP, a changed table) while bob sends a paced burst to
#      alice and carl@c.test tries the same: every one of bob's messages
#      arrives, none of carl's.
#   3. Storage unavailable (data/%2a, the module's store directory, replaced
#      by a regular file: root ignores permissions, not ENOTDIR): after a
#      stored change (d.test removed), further admin changes are refused
#      with the storage error and nothing is half-applied; a reload keeps
#      the table in force (d.test stays removed, b.test stays); a.test
#      restarted while the store is unreadable fails closed (nothing
#      federates, not even b.test, and d.test does not come back from the
#      config); with the store back a reload restores the stored policy.
#      (t_admin.sh covers a store that reads but cannot be written.)
#   4. A restart with runtime changes pending (e.test added, d.test
#      removed): both survive, d.test stays refused, b.test federates.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
tap_plan 35

for d in a.test b.test c.test d.test; do xp_host "$d"; done
PARTNERS=$XP_WORK/partners-a.lua
partners() { printf 'xmpp_partners = {\n%s\n}\n' "$1" >"$PARTNERS"; }
partners '	["b.test"] = { type = "federated" };
	["d.test"] = { type = "federated" };'
ok=1
xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
	--extra-lua "Include $(xp__lua_str "$PARTNERS")" || ok=0
for s in b c d; do xp_start_prosody "$s" "$(xp_addr $s.test)" $s.test || ok=0; done
if [ "$ok" = 1 ] && xp_wait_log a 'Partner policy loaded: 2 partners' 5; then
	tap_ok "a.test (mod_xmpp_partners: b.test, d.test) and b, c, d.test started"
else
	tap_fail "servers started"
	xp_bail "cannot start the servers"
fi
STORE_DIR=$(xp_server_dir a)/data/%2a
for acct in a:alice@a.test b:bob@b.test c:carl@c.test d:dave@d.test; do
	xp_register "${acct%%:*}" "${acct#*:}" >>"$XP_WORK/register.out" 2>&1 ||
		xp_bail "cannot register ${acct#*:}: $(cat "$XP_WORK/register.out")"
done
rx_alice() {
	xp_client_bg rx-a --resource rx --timeout 5 alice@a.test wait 600
	xp_client_ready rx-a
}
rx_alice || xp_bail "alice did not log in"

N=0
# arrives FROM TO: a fresh message from FROM reaches TO's receiving client
# (rx-a for alice, rx-b for bob); 0 when it did.
arrives() {
	local from=$1 to=$2 rx body i
	N=$((N + 1))
	body=f$N
	case $to in alice@*) rx="rx-a" ;; *) rx="rx-b" ;; esac
	xp_client "$from" send "$to" "$body" >"$XP_WORK/send.out" 2>&1 || return 1
	for i in $(seq 1 100); do
		grep -q "body=$body\$" "$(xp_client_out $rx)" && return 0
		sleep 0.05
	done
	return 1
}
# check NAME COMMAND...: tap_ok when COMMAND succeeds, else tap_fail with
# a.test's refusals and the last send's output.
check() {
	local name=$1
	shift
	if "$@"; then
		tap_ok "$name"
	else
		tap_fail "$name" "$(cat "$XP_WORK/send.out" 2>/dev/null)
$(grep -E 'refused|Partner policy|storage|error' "$(xp_server_log a)" | grep -v debug | tail -n 6)"
	fi
}
# bounces FROM TO CONDITION: FROM's message to TO comes back with CONDITION.
bounces() { xp_client "$1" send "$2" "bounce-$N" expect-error-from "$2" "$3" >"$XP_WORK/send.out" 2>&1; }
# refused_in DOMAIN: a message from DOMAIN's user to alice does not arrive
# and a.test logs the refusal.
refused_in() {
	local user=$1 domain=${1#*@}
	N=$((N + 1))
	xp_log_mark a
	xp_client "$user" send alice@a.test "evil-$N" wait 1 >"$XP_WORK/send.out" 2>&1
	xp_wait_new_log a "refused incoming s2s from ${domain//./\\.}: not a partner" 5 &&
		! grep -q "body=evil-$N\$" "$(xp_client_out rx-a)"
}

xp_client_bg rx-b --resource rx --timeout 5 bob@b.test wait 600
xp_client_ready rx-b || xp_bail "bob did not log in"
check "bob -> alice and alice -> bob arrive (the b.test streams are up)" \
	eval 'arrives bob@b.test alice@a.test && arrives alice@a.test bob@b.test'

# ---- 1. the partner's server dies mid-stream ------------------------------------------
PID_A=$(xp_server_pid a)
PID_B=$(xp_server_pid b)
kill -KILL "$PID_B"
for _ in $(seq 1 100); do xp__alive "$PID_B" || break; sleep 0.05; done
wait "$PID_B" 2>/dev/null
xp_client_wait rx-b 5 >/dev/null 2>&1
if ! xp__alive "$PID_B" && xp_wait_log a 's2s disconnected: [^ ]*b\.test' 10; then
	tap_ok "b.test killed (SIGKILL) with its streams open; a.test notices the closed connection"
else
	tap_fail "b.test killed and a.test notices" "$(grep -E 'b\.test' "$(xp_server_log a)" | grep -v Sending | tail -n 5)"
fi
if xp__alive "$PID_A" && [ "$(xp_server_pid a)" = "$PID_A" ]; then
	tap_ok "a.test keeps running (same PID $PID_A)"
else
	tap_fail "a.test keeps running"
fi
start=$(date +%s)
out=$(xp_client alice@a.test send bob@b.test while-down expect-error-from bob@b.test remote-server-not-found 2>&1)
rc=$?
took=$(($(date +%s) - start))
if [ "$rc" -eq 0 ] && [ "$took" -le 15 ]; then
	tap_ok "while b.test is down alice's message bounces (remote-server-not-found) after ${took}s"
else
	tap_fail "alice's message bounces while b.test is down" "exit $rc after ${took}s: $out"
fi
check "c.test is still refused while b.test is down" refused_in carl@c.test
xp_restart b || xp_bail "b.test did not start again"
xp_client_bg rx-b --resource rx --timeout 5 bob@b.test wait 600
xp_client_ready rx-b || xp_bail "bob did not log in again"
check "b.test back: bob -> alice arrives" arrives bob@b.test alice@a.test
check "b.test back: alice -> bob arrives" arrives alice@a.test bob@b.test

# ---- 2. reloads while partner traffic flows ------------------------------------------------
BURST=40
args=()
for i in $(seq 1 "$BURST"); do args+=(send alice@a.test "burst-$i" wait 0.05); done
xp_client_bg burst-b --timeout 10 bob@b.test "${args[@]}"
args=()
for i in $(seq 1 10); do args+=(send alice@a.test "evil-burst-$i" wait 0.2); done
xp_client_bg burst-c --timeout 10 carl@c.test "${args[@]}"
xp_log_mark a
sleep 0.4
partners '	["b.test"] = { type = "federated" };
	["d.test"] = { type = "federated" };
	["x1.test"] = { type = "federated" };'
r1=0 r2=0
xp_reload_partners a || r1=1
sleep 0.3
partners '	["b.test"] = { type = "federated" };
	["d.test"] = { type = "federated" };'
xp_reload_partners a || r2=1
xp_client_wait burst-b 30
rc_b=$?
xp_client_wait burst-c 30
for _ in $(seq 1 100); do
	[ "$(grep -c 'body=burst-' "$(xp_client_out rx-a)")" -ge "$BURST" ] && break
	sleep 0.05
done
tap_is "$r1$r2/$(xp_log_count a 'Partner policy reloaded')" "00/2" \
	"two reloads (x1.test added, then removed) applied while the bursts ran"
got=$(grep -c 'body=burst-' "$(xp_client_out rx-a)")
tap_is "$got/$rc_b" "$BURST/0" "all $BURST of bob's paced messages arrived across the reloads"
tap_is "$(grep -c 'body=evil-burst-' "$(xp_client_out rx-a)")" 0 "none of carl@c.test's messages got in during the reloads"
n=$(xp_log_count a 'refused incoming s2s from c\.test: not a partner')
if [ "$n" -ge 1 ]; then
	tap_ok "c.test's attempts were refused and logged ($n times)"
else
	tap_fail "c.test refused during the reloads" "$(xp_log_new a | grep -E 'c\.test' | grep -v debug | tail -n 5)"
fi

# ---- 3. storage unavailable ------------------------------------------------------------------
shell() { xp_shell_cmd a "$@" 2>&1; }
out=$(shell partners remove d.test)
if [ -f "$STORE_DIR/xmpp_partners.dat" ] && grep -q 'd\.test' <<<"$out"; then
	tap_ok "partners remove d.test: stored in data/%2a/xmpp_partners.dat"
else
	tap_fail "partners remove d.test stored" "$out"
fi
check "d.test removed: dave@d.test is refused" refused_in dave@d.test

mv "$STORE_DIR" "$STORE_DIR.saved"
echo "not a directory" >"$STORE_DIR"
xp_log_mark a
out=$(shell partners reset d.test)
rc=$?
if [ "$rc" -ne 0 ] && grep -qi 'stor' <<<"$out" && grep -qiE 'refused|cannot' <<<"$out"; then
	tap_ok "store unavailable: partners reset d.test is refused with the storage error"
else
	tap_fail "store unavailable: reset refused" "exit $rc: $out"
fi
out=$(shell partners remove b.test)
rc=$?
if [ "$rc" -ne 0 ] && grep -qiE 'refused|cannot' <<<"$out"; then
	tap_ok "store unavailable: partners remove b.test is refused"
else
	tap_fail "store unavailable: remove refused" "exit $rc: $out"
fi
tap_is "$(xp_log_count a 'Partner policy changed|Closed [0-9]+ s2s')" 0 "store unavailable: nothing was applied (no policy change, no stream closed)"
check "store unavailable: b.test still federates (bob -> alice)" arrives bob@b.test alice@a.test
check "store unavailable: d.test still refused" refused_in dave@d.test
xp_log_mark a
if ! xp_reload_partners a && xp_wait_new_log a 'cannot read the stored runtime partner changes.*keeping the previous partner policy in force' 5; then
	tap_ok "store unavailable: a reload keeps the table in force and says why"
else
	tap_fail "store unavailable: reload keeps the table" "$(xp_log_new a | grep -v debug | tail -n 5)"
fi
check "after that reload: b.test federates" arrives bob@b.test alice@a.test
check "after that reload: d.test still refused" refused_in dave@d.test

xp_log_mark a
if xp_restart a && xp_wait_new_log a 'all federation is refused until the storage works' 5; then
	tap_ok "a.test restarted with the store unreadable: fails closed, says so"
else
	tap_fail "restart with the store unreadable fails closed" "$(xp_log_new a | grep -v debug | tail -n 5)"
fi
rx_alice || xp_bail "alice did not log in after the restart"
check "failed closed: alice -> bob is refused (not-allowed)" bounces alice@a.test bob@b.test not-allowed
n=$(xp_log_count a 'refused incoming s2s from d\.test')
xp_client dave@d.test send alice@a.test "evil-closed" wait 1 >/dev/null 2>&1
xp_wait_new_log a 'refused incoming s2s from d\.test' 5 "$((n + 1))"
tap_is "$(grep -c 'body=evil-closed$' "$(xp_client_out rx-a)")" 0 "failed closed: d.test (removed, still in the config) does not get in"

rm -f "$STORE_DIR"
mv "$STORE_DIR.saved" "$STORE_DIR"
if xp_reload_partners a; then
	tap_ok "store back: a reload loads the stored policy"
else
	tap_fail "store back: reload" "$(grep -v debug "$(xp_server_log a)" | tail -n 5)"
fi
check "store back: b.test federates" arrives bob@b.test alice@a.test
check "store back: d.test is still removed (refused)" refused_in dave@d.test

# ---- 4. restart with runtime changes pending ---------------------------------------------------
out=$(shell partners add e.test '{ type = "public_verified" }')
grep -q 'e\.test added' <<<"$out" || tap_diag "partners add e.test: $out"
xp_log_mark a
if xp_restart a && xp_wait_new_log a 'Partner policy loaded: 2 partners' 5; then
	tap_ok "a.test restarted with runtime changes pending: 2 partners (b.test, e.test)"
else
	tap_fail "restart with runtime changes" "$(xp_log_new a | grep -v debug | tail -n 5)"
fi
rx_alice || xp_bail "alice did not log in after the restart"
out=$(shell partners list)
if grep -qE '^e\.test +public_verified .* runtime' <<<"$out" &&
	grep -q 'removed at runtime (config entries hidden): d\.test' <<<"$out"; then
	tap_ok "after the restart: e.test (added) and the removal of d.test are in force"
else
	tap_fail "runtime changes survive the restart" "$out"
fi
check "after the restart: d.test stays refused" refused_in dave@d.test
check "after the restart: c.test stays refused" refused_in carl@c.test
check "after the restart: b.test federates" arrives bob@b.test alice@a.test

tap_stop_all
tap_done
