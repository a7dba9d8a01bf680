# tests/hostile/hold.sh: the partner lock-out attack (issue 19) for the
# hostile suites, sourced after tests/integration/lib.sh.
#
#   xp_hold NAME ADDR FROM TO STREAMS [SOURCE [THEN]]
#                                       start tests/hostile/xphold in the
#                                       background (stopped by PID at exit),
#                                       from SOURCE (default $XP_NET.250),
#                                       sending THEN after each header
#   xp_unhold NAME STREAMS              stop it by PID; one TAP case: it held
#                                       streams and had to reopen them
#
# The attacker connects from an address of its own ($XP_NET.250, which no
# server of a suite uses): on a real network a TCP handshake proves the
# source address, and the partner's server connects from its own (here
# 127.0.0.1).  Streams held from the partner's own address are the limit
# SECURITY.md names.  Each run: 30 s at most, 1,000 new connections a
# second at most.
# shellcheck shell=bash

XP_HOLD=${XP_HOLD:-$top_builddir/tests/hostile/xphold}
[ -x "$XP_HOLD" ] || xp__missing "xphold not built ($XP_HOLD; make check builds it)"

xp_hold() {
	timeout 60 "$XP_HOLD" --connect "$2" --source "${6:-$XP_NET.250}" --from "$3" --to "$4" --streams "$5" \
		--then "${7:-}" --duration 30 --rate 1000 </dev/null >"$XP_WORK/clients/$1.out" 2>"$XP_WORK/clients/$1.err" &
	XP_CLI_PID[$1]=$!
}

xp_unhold() {
	local last rc i
	# On a loaded machine the server may not have reached this attacker's
	# streams yet: give it up to 15 s more (the attacker runs 30 s) before
	# judging whether it had to reopen any.
	for i in $(seq 1 150); do
		last=$(grep -E '^(t=|end:)' "$(xp_client_out "$1")" 2>/dev/null | tail -n 1)
		[[ $last =~ opened=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt "$2" ] && break
		kill -0 "${XP_CLI_PID[$1]}" 2>/dev/null || break
		sleep 0.1
	done
	kill "${XP_CLI_PID[$1]}" 2>/dev/null
	xp_client_wait "$1" 10
	rc=$?
	# its last status line (the final one, or the last per-second one)
	last=$(grep -E '^(t=|end:)' "$(xp_client_out "$1")" | tail -n 1)
	if [[ $last =~ opened=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt "$2" ]; then
		tap_ok "$1: the attacker kept $2 streams in play ($last)"
		case $last in end:*) ;; *) tap_diag "$1 ended without its final line (exit $rc)" ;; esac
	else
		tap_fail "$1: the attack ran" "exit $rc; $(tail -n 5 "$(xp_client_out "$1")") $(cat "$XP_WORK/clients/$1.err" 2>/dev/null)"
	fi
}
