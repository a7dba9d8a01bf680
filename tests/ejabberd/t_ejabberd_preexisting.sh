#!/bin/bash
# tests/ejabberd/t_ejabberd_preexisting.sh: s2s streams already open when
# mod_xmpp_partners starts are judged like new ones.  The node first runs
# the module with pa.test and pn.test as partners (streams both ways with
# each), then `reload_config` without the module (it stops; the streams
# stay), then `reload_config` with the module and a table where pn.test is
# no partner: at start the module closes pn.test's streams (policy-violation,
# the core's refusal line), pn.test is refused afterwards, and pa.test's
# streams carry stanzas on and are counted (partners_sessions).
# The node is set up by ejlib.sh (own address, node name, stopped by PID).
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"
ej_require
xp_init
tap_plan 14
like() {
	# shellcheck disable=SC2254
	case $2 in $3) tap_ok "$1" ;; *) tap_fail "$1" "$2" ;; esac
}
pong() { # NAME FROM: a ping FROM -> ej.test (and its answer) goes through
	local out
	out=$(xp_shell pa "xmpp:ping('$2', 'ej.test', 5)")
	like "$1" "$out" "*[Pp]ong*"
}

ej_init ej.test
xp_host pa.test
xp_start_prosody pa "$(xp_addr pa.test)" pa.test pn.test pb.test pm.test || xp_bail "prosody did not start"
PA=$(xp_server_addr pa)
partner() { # DOMAIN: its record under partners:
	printf '  %s: {type: federated, tls: optional, sasl: optional, dialback: true, proxy: "%s:5269"}\n' "$1" "$PA"
}
config() { # DOMAIN...: the partners (none: the module not loaded)
	local d
	{
		echo "default: deny"
		echo "partners:"
		for d in "$@"; do partner "$d"; done
	} | ej_config
	[ $# -gt 0 ] || sed -i '/^  mod_xmpp_partners:/,$d' "$EJ_DIR/ejabberd.yml"
}

config pa.test pn.test
ej_start || { tap_fail "ejabberd started"; xp_bail "ejabberd did not start"; }
pong "pa.test federates (streams both ways)" pa.test
pong "pn.test federates (streams both ways)" pn.test

# The module stops; the streams stay open.
ej_log_mark
config
out=$(ejctl reload_config)
sleep 0.5
! ej_log_new | grep -q 'policy-violation'
tap_is $? 0 "reload_config without mod_xmpp_partners leaves the streams open"
# Streams opened while the module does not run: incoming ones from pb.test
# and pm.test (SASL EXTERNAL; ejabberd's answers find no route: without
# the module's proxy key it cannot resolve the test domains).
for d in pb.test pm.test; do
	xp_shell pa "xmpp:ping('$d', 'ej.test', 2)" >/dev/null
	ej_wait_log "Accepted inbound s2s EXTERNAL authentication $d -> ej.test" 5
	tap_is $? 0 "an incoming stream from $d opened while the module does not run"
done

# The module starts again: pn.test no longer a partner, pb.test a new one.
ej_log_mark
config pa.test pb.test
out=$(ejctl reload_config)
ej_wait_log 'refused incoming s2s from pn.test: not a partner' 10
tap_is $? 0 "at start the module closed pn.test's open incoming stream, with the refusal line"
ej_wait_log 'refused outgoing s2s to pn.test: not a partner' 5
tap_is $? 0 "at start the module closed pn.test's open outgoing stream, with the refusal line" ||
	ej_dump_log 30
out=$(xp_shell pa "xmpp:ping('pn.test', 'ej.test', 3)")
case $out in *[Pp]ong*) tap_fail "pn.test is refused after the module started" "$out" ;;
*) tap_ok "pn.test is refused after the module started" ;; esac
pong "pa.test's streams still carry stanzas" pa.test
out=$(ejctl partners_sessions pa.test)
like "partners_sessions pa.test: the incoming and outgoing streams counted" "$out" \
	"*in *ej.test*pa.test*established*out *ej.test*pa.test*established*"
ej_wait_log 'refused incoming s2s from pm.test: not a partner' 5
tap_is $? 0 "at start the module closed pm.test's stream (opened without the module), with the refusal line"
out=$(ejctl partners_sessions pb.test)
like "partners_sessions pb.test: the stream opened without the module counted" "$out" \
	"*in *ej.test*pb.test*established*"
! ej_log_new | grep -q 'refused .* pb.test'
tap_is $? 0 "pb.test's stream (a partner now) was left open"
out=$(ejctl partners_sessions pn.test)
tap_is "$out" "no live s2s sessions with pn.test" "no session with pn.test left"
tap_done
