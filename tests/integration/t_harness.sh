#!/bin/bash
# t_harness.sh: proves the integration-test harness with two plain Prosody
# servers (no policy module): start-up on own loopback addresses, accounts,
# messages both ways over s2s, errors for unreachable domains, presence
# subscription over s2s, prosodyctl, xpclient's failure modes, and clean-up
# by PID (also when a test script fails or is killed).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
tap_plan 19

xp_host a.test
xp_host b.test
xp_host d.test "$(xp_new_addr)" # resolvable, but no server listens there
# c.test is never declared: NXDOMAIN.

# ---- servers -------------------------------------------------------------------
for s in a b; do
	if xp_start_prosody "$s" "$(xp_addr $s.test)" $s.test; then
		tap_ok "server $s.test (PID $(xp_server_pid $s)) owns $(xp_addr $s.test):5222 and :5269"
	else
		tap_fail "server $s.test starts"
		xp_bail "cannot start $s.test"
	fi
done
PID_A=$(xp_server_pid a)
PID_B=$(xp_server_pid b)
tap_is "$(cat "$(xp_server_dir a)/prosody.pid")" "$PID_A" "a.test's pidfile holds the PID we started"

# (not in $(...): xp_register remembers the passwords for xp_client)
if xp_register a alice@a.test >"$XP_WORK/register.out" 2>&1 &&
	xp_register b bob@b.test >>"$XP_WORK/register.out" 2>&1; then
	tap_ok "register alice@a.test and bob@b.test"
else
	tap_fail "register alice@a.test and bob@b.test" "$(cat "$XP_WORK/register.out")"
fi

# ---- messages over s2s ---------------------------------------------------------------
xp_delivered "alice@a.test -> bob@b.test over s2s" alice@a.test bob@b.test "hello bob"
xp_delivered "bob@b.test -> alice@a.test over s2s" bob@b.test alice@a.test "hello alice"

# ---- errors for domains without a server -----------------------------------------------
out=$(xp_client --timeout 5 alice@a.test send nobody@c.test ping \
	expect-error-from nobody@c.test remote-server-not-found 2>&1)
rc=$?
tap_is "$rc" 0 "message to c.test (NXDOMAIN) bounces with remote-server-not-found"
[ "$rc" -eq 0 ] || tap_diag "$out"

out=$(xp_client --timeout 5 alice@a.test send nobody@d.test ping \
	expect-error-from '*@d.test' remote-server-not-found 2>&1)
rc=$?
tap_is "$rc" 0 "message to d.test (no listener) bounces with remote-server-not-found"
[ "$rc" -eq 0 ] || tap_diag "$out"

# ---- presence subscription over s2s ----------------------------------------------------
xp_client_bg bob bob@b.test expect-presence alice@a.test subscribe approve alice@a.test \
	expect-roster alice@a.test from
if xp_client_ready bob; then
	out=$(xp_client alice@a.test roster-add bob@b.test subscribe bob@b.test \
		expect-presence bob@b.test subscribed expect-roster bob@b.test to 2>&1)
	rc=$?
else
	out="bob did not log in"
	rc=9
fi
xp_client_wait bob
rc_bob=$?
if [ "$rc" -eq 0 ] && [ "$rc_bob" -eq 0 ]; then
	tap_ok "alice subscribes to bob over s2s; bob approves; rosters are to/from"
else
	tap_fail "subscription over s2s" "alice exit $rc, bob exit $rc_bob
---- alice output:
$out
$(xp_client_report bob)"
fi

out=$(xp_client alice@a.test expect-presence bob@b.test unavailable 2>&1)
tap_is "$?" 0 "alice's presence probe crosses s2s (bob is offline: unavailable)" ||
	tap_diag "$out"

# ---- prosodyctl ----------------------------------------------------------------------
out=$(xp_prosodyctl a shell "xmpp:ping('a.test', 'b.test')" 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && printf '%s' "$out" | grep -qi 'pong from b.test'; then
	tap_ok "prosodyctl shell on a.test pings b.test over s2s"
else
	tap_fail "prosodyctl shell on a.test pings b.test over s2s" "exit $rc: $out"
fi

# ---- xpclient's own failure modes --------------------------------------------------------
t0=$(date +%s%N)
# (2 s: long enough for the login on a loaded 2-core machine, which the
# timeout also covers; 0.5 s failed there.)
out=$(xp_client --timeout 2 alice@a.test expect-message nobody@b.test never 2>&1)
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
tap_is "$rc" 1 "xpclient exits 1 on an unmet expectation"
[ "$rc" -eq 1 ] || tap_diag "$out"
if [ "$ms" -ge 2000 ] && [ "$ms" -lt 6000 ]; then
	tap_ok "... after its timeout (${ms} ms for --timeout 2)"
else
	tap_fail "... after its timeout" "took ${ms} ms for --timeout 2"
fi

out=$(xp_client --timeout 3 --password wrong alice@a.test wait 0 2>&1)
tap_is "$?" 2 "xpclient exits 2 on a failed login"

out=$(xp_client alice@a.test no-such-command 2>&1)
tap_is "$?" 2 "xpclient exits 2 on a usage error"

# ---- clean-up of failing or killed scripts -----------------------------------------------
# An inner test script starts a server of its own, then fails (or is killed);
# its server must be stopped and its work directory removed.
cat >"$XP_WORK/inner.sh" <<'EOF'
. "$top_srcdir/tests/integration/lib.sh"
xp_init
xp_host x.test
xp_start_prosody x "$(xp_addr x.test)" x.test || exit 7
echo "started $(xp_server_pid x) $XP_WORK"
if [ "$1" = fail ]; then
	tap_fail "a deliberate failure" "inner test failing on purpose"
	exit 1
fi
for i in $(seq 1 400); do sleep 0.05; done # killed before this ends
exit 0
EOF
# inner_check NAME MODE
inner_check() {
	local name=$1 mode=$2 out=$XP_WORK/inner-$2.out ipid spid swork rc
	top_srcdir=$top_srcdir top_builddir=$top_builddir XP_KEEP=0 \
		bash "$XP_WORK/inner.sh" "$mode" >"$out" 2>&1 &
	ipid=$!
	for _ in $(seq 1 200); do
		grep -q '^started ' "$out" && break
		xp__alive "$ipid" || break
		sleep 0.05
	done
	read -r _ spid swork < <(grep '^started ' "$out")
	if [ -z "$spid" ]; then
		xp__stop_pids "$ipid"
		tap_fail "$name" "inner script did not start its server: $(cat "$out")"
		return
	fi
	[ "$mode" = kill ] && kill -TERM "$ipid"
	for _ in $(seq 1 200); do
		xp__alive "$ipid" || break
		sleep 0.05
	done
	if xp__alive "$ipid"; then
		xp__stop_pids "$ipid"
		kill -KILL "$spid" 2>/dev/null
		tap_fail "$name" "inner script did not exit"
		return
	fi
	wait "$ipid"
	rc=$?
	if ! kill -0 "$spid" 2>/dev/null && [ ! -e "$swork" ] && [ "$rc" -ne 0 ]; then
		tap_ok "$name (exit $rc; server PID $spid gone; work dir removed)"
	else
		kill -KILL "$spid" 2>/dev/null
		tap_fail "$name" "inner exit $rc; server PID $spid alive: $(kill -0 "$spid" 2>/dev/null && echo yes || echo no); $swork exists: $([ -e "$swork" ] && echo yes || echo no)
$(cat "$out")"
	fi
}
inner_check "a failing test script still stops its server and removes its files" fail
inner_check "a test script killed with SIGTERM still stops its server" kill

# ---- stop everything by PID ---------------------------------------------------------------
xp_stop_all
gone=yes
for p in "$PID_A" "$PID_B"; do kill -0 "$p" 2>/dev/null && gone="no ($p alive)"; done
tap_is "$gone" yes "xp_stop_all: PIDs $PID_A and $PID_B are gone"
left=$(ss -Hltn 2>/dev/null | awk '{print $4}' | grep -c -e "^$(xp_addr a.test):" -e "^$(xp_addr b.test):")
tap_is "$left" 0 "no listener left on this run's addresses"

tap_done
