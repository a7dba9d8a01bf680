#!/bin/bash
# tests/ejabberd/t_ejabberd.sh: a real ejabberd 23.01 node with
# mod_xmpp_partners (this build tree's NIF and beams) federating with a
# Prosody test server over loopback.
#
# The ejabberd node is set up by tests/ejabberd/ejlib.sh (its own address
# 127.72.X.1, config, spool, log, node name and cookie; Erlang distribution
# on a fixed loopback port, no epmd; stopped by PID at exit, also on
# failure).
#
# Resolution: Prosody finds ej.test through lib.sh's hosts file; ejabberd
# cannot read a private hosts file, so it reaches the partner pa.test
# through the partner's own `proxy` key (mod_xmpp_partners answers
# ejabberd's resolve callback), and never needs DNS for evil.test, which it
# refuses before connecting.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"
ej_require

xp_init
tap_plan 9
T0=$(date +%s.%N)
# seconds since $1 (a date +%s.%N stamp)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

ej_init ej.test
xp_host pa.test
xp_start_prosody pa "$(xp_addr pa.test)" pa.test evil.test || xp_bail "prosody did not start"
PA_ADDR=$(xp_server_addr pa)

ej_config <<EOF
default: deny
partners:
  pa.test:
    type: federated
    tls: optional
    sasl: optional
    dialback: true
    proxy: "$PA_ADDR:5269"
EOF

# ---- start ------------------------------------------------------------------------
t_start=$(date +%s.%N)
if ej_start; then
	tap_ok "ejabberd started on $EJ_ADDR:5269 with mod_xmpp_partners ($(since "$t_start") s)"
else
	tap_fail "ejabberd started"
	xp_bail "ejabberd did not start"
fi
grep -q 'Partner policy loaded for ej.test: 1 partners' "$EJ_LOG"
tap_is $? 0 "the partner table loaded (1 partner, unlisted refused)"

# ---- ejabberdctl ------------------------------------------------------------------
out=$(ejctl partners_list)
case $out in *pa.test*federated*) tap_ok "ejabberdctl partners_list lists pa.test" ;;
*) tap_fail "ejabberdctl partners_list lists pa.test" "$out" ;; esac
out=$(ejctl partners_explain evil.test)
case $out in *"  refused: not a partner (no partner lists it, and default: deny)"*) tap_ok "ejabberdctl partners_explain evil.test: refused, the option named as ejabberd.yml writes it" ;;
*) tap_fail "ejabberdctl partners_explain evil.test: refused" "$out" ;; esac

# ---- federation -------------------------------------------------------------------
# pa.test -> ej.test (inbound for ejabberd); ejabberd answers over its own
# outbound stream to pa.test, reached through the partner's proxy.
t_ping=$(date +%s.%N)
out=$(xp_shell pa "xmpp:ping('pa.test', 'ej.test')")
dt=$(since "$t_ping")
case $out in *[Pp]ong*) tap_ok "partner pa.test federates with ej.test both ways ($dt s)" ;;
*) tap_fail "partner pa.test federates with ej.test" "$out
$(tail -n 20 "$EJ_LOG")" ;; esac
out=$(ejctl partners_list)
if grep -qE '^pa\.test +federated +.* 1$' <<<"$out"; then tap_ok "partners_list counts the live outbound stream to pa.test"
else tap_fail "partners_list counts the live outbound stream to pa.test" "$out"; fi

# evil.test -> ej.test: refused by the allow list.
out=$(xp_shell pa "xmpp:ping('evil.test', 'ej.test')")
case $out in *[Pp]ong*) tap_fail "non-partner evil.test is refused" "$out" ;;
*) tap_ok "non-partner evil.test is refused" ;; esac
ej_wait_log 'refused incoming s2s from evil.test: not a partner' 5
tap_is $? 0 "ejabberd logged the core's refusal line for evil.test"

# ---- stop ---------------------------------------------------------------------------
pid=$EJ_PID
ej_stop
kill -0 "$pid" 2>/dev/null
tap_is $? 1 "ejabberd node (PID $pid) stopped; total $(since "$T0") s"
tap_done
