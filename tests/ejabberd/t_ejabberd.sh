#!/bin/bash
# tests/ejabberd/t_ejabberd.sh: a real ejabberd 23.01 node with
# mod_xmpp_partners (this build tree's NIF and beams) federating with a
# Prosody test server over loopback.
#
# The ejabberd node: its own address 127.72.X.1 (X = the 127.71.X.0/24
# range lib.sh locked for this run, so parallel runs never share it), own
# config, spool, log, node name and cookie; Erlang distribution on a fixed
# loopback port (-erl_epmd_port, -start_epmd false), so no epmd is started.
# It is started with erl directly (as root, so its PID is ours) and stopped
# by that PID at exit, also on failure.  ejabberdctl reaches it through the
# ejabberdctl.cfg of its config directory.
#
# Resolution: Prosody finds ej.test through lib.sh's hosts file; ejabberd
# cannot read a private hosts file, so it reaches the partner pa.test
# through the partner's own `proxy` key (mod_xmpp_partners answers
# ejabberd's resolve callback), and never needs DNS for evil.test, which it
# refuses before connecting.
. "$top_srcdir/tests/integration/lib.sh"

EJ_EBIN_SYS=$(ls -d /usr/lib/*/ejabberd-*/ebin 2>/dev/null | sort -V | tail -n 1)
command -v erl >/dev/null 2>&1 && [ -x /usr/sbin/ejabberdctl ] && [ -n "$EJ_EBIN_SYS" ] ||
	tap_skip_all "ejabberd not installed (Debian: apt-get install ejabberd erlang-nox)"
[ -f "$top_builddir/ejabberd/ebin/mod_xmpp_partners.beam" ] &&
	[ -f "$top_builddir/module/nif/.libs/xmpp_partners_nif.so" ] ||
	tap_skip_all "mod_xmpp_partners was not built (configure found no ejabberd headers)"
id ejabberd >/dev/null 2>&1 || tap_skip_all "no ejabberd user (ejabberdctl runs as it)"
[ "$(id -u)" = 0 ] || tap_skip_all "needs root (ejabberdctl switches to the ejabberd user)"

xp_init
tap_plan 9
T0=$(date +%s.%N)
# seconds since $1 (a date +%s.%N stamp)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

EJ_ADDR=127.72.${XP_NET##*.}.1
EJ_DIR=$XP_WORK/ej
EJ_NODE=xpej@$EJ_ADDR
EJ_COOKIE=xp$RANDOM$RANDOM$$
EJ_PID=
EJ_TIMEOUT=${XP_EJ_TIMEOUT:-30}

# Stop the ejabberd node by PID (TERM, bounded wait, KILL); lib.sh's EXIT
# trap then stops Prosody and removes the work directory.
ej_stop() {
	local i
	[ -n "$EJ_PID" ] || return 0
	kill -TERM "$EJ_PID" 2>/dev/null
	for i in $(seq 1 $((EJ_TIMEOUT * 10))); do
		kill -0 "$EJ_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$EJ_PID" 2>/dev/null; then
		echo "# ejabberd PID $EJ_PID ignored SIGTERM: SIGKILL" >&2
		kill -KILL "$EJ_PID" 2>/dev/null
	fi
	wait "$EJ_PID" 2>/dev/null
	EJ_PID=
}
trap 'ej_stop; xp__on_exit' EXIT

# A free distribution port on our address.
EJ_DIST_PORT=
for i in $(seq 1 50); do
	p=$((20000 + RANDOM % 20000))
	if ! ss -Hltn 2>/dev/null | awk '{print $4}' | grep -q ":$p\$"; then EJ_DIST_PORT=$p; break; fi
done
[ -n "$EJ_DIST_PORT" ] || xp_bail "no free port for Erlang distribution"

xp_host ej.test "$EJ_ADDR"
xp_cert ej.test ej.test || xp_bail "cannot make the ej.test certificate"
xp_host pa.test
xp_start_prosody pa "$(xp_addr pa.test)" pa.test evil.test || xp_bail "prosody did not start"
PA_ADDR=$(xp_server_addr pa)

# ---- the ejabberd node's files ---------------------------------------------------
mkdir -p "$EJ_DIR/spool" "$EJ_DIR/log" || xp_bail "mkdir $EJ_DIR"
cat "$XP_WORK/pki/ej.test.crt" "$XP_WORK/pki/ej.test.key" >"$EJ_DIR/ej.test.pem"
: >"$EJ_DIR/inetrc"
cat >"$EJ_DIR/ejabberd.yml" <<EOF
hosts: ["ej.test"]
loglevel: ${XP_EJ_LOGLEVEL:-info}
certfiles: ["$EJ_DIR/ej.test.pem"]
ca_file: "$XP_CA"
s2s_use_starttls: optional
s2s_dns_timeout: 2
s2s_dns_retries: 1
outgoing_s2s_families: [ipv4]
outgoing_s2s_ipv4_address: "$EJ_ADDR"
outgoing_s2s_timeout: 5
listen:
  - {port: 5269, ip: "$EJ_ADDR", module: ejabberd_s2s_in}
api_permissions:
  "console commands":
    from: [ejabberd_ctl]
    who: all
    what: "*"
modules:
  mod_s2s_dialback: {}
  mod_ping: {}
  mod_roster: {}
  mod_xmpp_partners:
    default: deny
    partners:
      pa.test:
        type: federated
        tls: optional
        sasl: optional
        dialback: true
        proxy: "$PA_ADDR:5269"
EOF
# For ejabberdctl: the same node, cookie and distribution port.
cat >"$EJ_DIR/ejabberdctl.cfg" <<EOF
ERLANG_NODE=$EJ_NODE
ERL_DIST_PORT=$EJ_DIST_PORT
ERL_OPTIONS="-setcookie $EJ_COOKIE"
EOF
# ejabberdctl runs its helper node as the ejabberd user.
chmod 755 "$XP_WORK" "$EJ_DIR"
chmod 644 "$EJ_DIR/ejabberdctl.cfg" "$EJ_DIR/ejabberd.yml" "$EJ_DIR/inetrc"

ejctl() {
	timeout 30 /usr/sbin/ejabberdctl --config-dir "$EJ_DIR" --logs "$EJ_DIR/log" \
		--spool "$EJ_DIR/spool" "$@" </dev/null 2>&1
}

# ---- start ------------------------------------------------------------------------
t_start=$(date +%s.%N)
env EJABBERD_CONFIG_PATH="$EJ_DIR/ejabberd.yml" EJABBERD_LOG_PATH="$EJ_DIR/log/ejabberd.log" \
	ERL_LIBS=/usr/lib/x86_64-linux-gnu ERL_INETRC="$EJ_DIR/inetrc" \
	ERL_CRASH_DUMP="$EJ_DIR/log/erl_crash.dump" \
	XMPP_PARTNERS_NIF="$top_builddir/module/nif/.libs/xmpp_partners_nif" \
	erl -name "$EJ_NODE" -setcookie "$EJ_COOKIE" -erl_epmd_port "$EJ_DIST_PORT" -start_epmd false \
	-kernel inet_dist_use_interface "{${EJ_ADDR//./,}}" \
	-pa "$top_builddir/ejabberd/ebin" -mnesia dir "\"$EJ_DIR/spool\"" \
	-noinput -s ejabberd >"$EJ_DIR/log/console.log" 2>&1 </dev/null &
EJ_PID=$!
started=0
for i in $(seq 1 $((EJ_TIMEOUT * 10))); do
	kill -0 "$EJ_PID" 2>/dev/null || break
	if grep -q 'is started in the node' "$EJ_DIR/log/ejabberd.log" 2>/dev/null &&
		ss -Hltnp 2>/dev/null | grep -F "$EJ_ADDR:5269" | grep -q "pid=$EJ_PID,"; then
		started=1
		break
	fi
	sleep 0.1
done
dt=$(since "$t_start")
if [ "$started" = 1 ]; then
	tap_ok "ejabberd started on $EJ_ADDR:5269 with mod_xmpp_partners ($dt s)"
else
	tap_fail "ejabberd started" "$(tail -n 30 "$EJ_DIR/log/ejabberd.log" "$EJ_DIR/log/console.log" 2>&1)"
	xp_bail "ejabberd did not start"
fi
grep -q 'Partner policy loaded for ej.test: 1 partners' "$EJ_DIR/log/ejabberd.log"
tap_is $? 0 "the partner table loaded (1 partner, unlisted refused)"

# ---- ejabberdctl ------------------------------------------------------------------
out=$(ejctl partners_list)
case $out in *pa.test*federated*) tap_ok "ejabberdctl partners_list lists pa.test" ;;
*) tap_fail "ejabberdctl partners_list lists pa.test" "$out" ;; esac
out=$(ejctl partners_explain evil.test)
case $out in *"not a partner"*) tap_ok "ejabberdctl partners_explain evil.test: refused" ;;
*) tap_fail "ejabberdctl partners_explain evil.test: refused" "$out" ;; esac

# ---- federation -------------------------------------------------------------------
# pa.test -> ej.test (inbound for ejabberd); ejabberd answers over its own
# outbound stream to pa.test, reached through the partner's proxy.
t_ping=$(date +%s.%N)
out=$(xp_shell pa "xmpp:ping('pa.test', 'ej.test')")
dt=$(since "$t_ping")
case $out in *[Pp]ong*) tap_ok "partner pa.test federates with ej.test both ways ($dt s)" ;;
*) tap_fail "partner pa.test federates with ej.test" "$out
$(tail -n 20 "$EJ_DIR/log/ejabberd.log")" ;; esac
out=$(ejctl partners_list)
case $out in *pa.test*federated*" 1 "*) tap_ok "partners_list counts the live outbound stream to pa.test" ;;
*) tap_fail "partners_list counts the live outbound stream to pa.test" "$out" ;; esac

# evil.test -> ej.test: refused by the allow list.
out=$(xp_shell pa "xmpp:ping('evil.test', 'ej.test')")
case $out in *[Pp]ong*) tap_fail "non-partner evil.test is refused" "$out" ;;
*) tap_ok "non-partner evil.test is refused" ;; esac
for i in $(seq 1 50); do
	grep -q 'refused incoming s2s from evil.test: not a partner' "$EJ_DIR/log/ejabberd.log" && break
	sleep 0.1
done
grep -q 'refused incoming s2s from evil.test: not a partner' "$EJ_DIR/log/ejabberd.log"
tap_is $? 0 "ejabberd logged the core's refusal line for evil.test"

# ---- stop ---------------------------------------------------------------------------
pid=$EJ_PID
ej_stop
kill -0 "$pid" 2>/dev/null
tap_is $? 1 "ejabberd node (PID $pid) stopped; total $(since "$T0") s"
tap_done
