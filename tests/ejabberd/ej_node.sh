# tests/ejabberd/ej_node.sh: a real ejabberd node for the ejabberd tests,
# sourced after tests/integration/lib.sh and xp_init.  The node gets its own
# address 127.72.X.1 (X from the 127.71.X.0/24 range lib.sh locked for this
# run), config, spool, log, node name and cookie; Erlang distribution on a
# fixed loopback port (no epmd).  It runs as root (its PID is ours), loads
# this build tree's NIF and beams, and is stopped by that PID, also on
# failure (ej_stop in the EXIT trap).  ejabberdctl reaches it through the
# ejabberdctl.cfg in its config directory.
#
#   ej_setup            addresses, certificate, directories, ejabberdctl.cfg
#   ej_write_config     ejabberd.yml: the common part, then stdin (modules:)
#   ej_start            start the node, wait for it (1 when it did not start)
#   ej_stop             stop it (TERM, bounded wait, KILL)
#   ejctl ARGS...       ejabberdctl against the node (stdout+stderr)
#   ej_log              the node's ejabberd.log
#   ej_wait_log RE [SECONDS [COUNT]]

EJ_EBIN_SYS=$(ls -d /usr/lib/*/ejabberd-*/ebin 2>/dev/null | sort -V | tail -n 1)
EJ_PID=
EJ_TIMEOUT=${XP_EJ_TIMEOUT:-30}

# Skip (TAP) unless ejabberd, this build's module and root are there.
ej_require() {
	command -v erl >/dev/null 2>&1 && [ -x /usr/sbin/ejabberdctl ] && [ -n "$EJ_EBIN_SYS" ] ||
		tap_skip_all "ejabberd not installed (Debian: apt-get install ejabberd erlang-nox)"
	[ -f "$top_builddir/ejabberd/ebin/mod_xmpp_partners.beam" ] &&
		[ -f "$top_builddir/module/nif/.libs/xmpp_partners_nif.so" ] ||
		tap_skip_all "mod_xmpp_partners was not built (configure found no ejabberd headers)"
	id ejabberd >/dev/null 2>&1 || tap_skip_all "no ejabberd user (ejabberdctl runs as it)"
	[ "$(id -u)" = 0 ] || tap_skip_all "needs root (ejabberdctl switches to the ejabberd user)"
}

ej_setup() {
	local i p
	EJ_ADDR=127.72.${XP_NET##*.}.1
	EJ_DIR=$XP_WORK/ej
	EJ_NODE=xpej@$EJ_ADDR
	EJ_COOKIE=xp$RANDOM$RANDOM$$
	EJ_DIST_PORT=
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		if ! ss -Hltn 2>/dev/null | awk '{print $4}' | grep -q ":$p\$"; then
			EJ_DIST_PORT=$p
			break
		fi
	done
	[ -n "$EJ_DIST_PORT" ] || xp_bail "no free port for Erlang distribution"
	xp_host ej.test "$EJ_ADDR"
	xp_cert ej.test ej.test || xp_bail "cannot make the ej.test certificate"
	mkdir -p "$EJ_DIR/spool" "$EJ_DIR/log" || xp_bail "mkdir $EJ_DIR"
	cat "$XP_WORK/pki/ej.test.crt" "$XP_WORK/pki/ej.test.key" >"$EJ_DIR/ej.test.pem"
	: >"$EJ_DIR/inetrc"
	cat >"$EJ_DIR/ejabberdctl.cfg" <<EOC
ERLANG_NODE=$EJ_NODE
ERL_DIST_PORT=$EJ_DIST_PORT
ERL_OPTIONS="-setcookie $EJ_COOKIE"
EOC
	# ejabberdctl runs its helper node as the ejabberd user.
	chmod 755 "$XP_WORK" "$EJ_DIR"
	chmod 644 "$EJ_DIR/ejabberdctl.cfg" "$EJ_DIR/inetrc"
	trap 'ej_stop; xp__on_exit' EXIT
}

ej_write_config() {
	{
		cat <<EOC
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
EOC
		cat
	} >"$EJ_DIR/ejabberd.yml"
	chmod 644 "$EJ_DIR/ejabberd.yml"
}

ej_start() {
	local i n
	n=$(grep -c 'is started in the node' "$EJ_DIR/log/ejabberd.log" 2>/dev/null)
	env EJABBERD_CONFIG_PATH="$EJ_DIR/ejabberd.yml" EJABBERD_LOG_PATH="$EJ_DIR/log/ejabberd.log" \
		ERL_LIBS=/usr/lib/x86_64-linux-gnu ERL_INETRC="$EJ_DIR/inetrc" \
		ERL_CRASH_DUMP="$EJ_DIR/log/erl_crash.dump" \
		XMPP_PARTNERS_NIF="$top_builddir/module/nif/.libs/xmpp_partners_nif" \
		erl -name "$EJ_NODE" -setcookie "$EJ_COOKIE" -erl_epmd_port "$EJ_DIST_PORT" -start_epmd false \
		-kernel inet_dist_use_interface "{${EJ_ADDR//./,}}" \
		-pa "$top_builddir/ejabberd/ebin" -mnesia dir "\"$EJ_DIR/spool\"" \
		-noinput -s ejabberd >>"$EJ_DIR/log/console.log" 2>&1 </dev/null &
	EJ_PID=$!
	for i in $(seq 1 $((EJ_TIMEOUT * 10))); do
		kill -0 "$EJ_PID" 2>/dev/null || return 1
		if [ "$(grep -c 'is started in the node' "$EJ_DIR/log/ejabberd.log" 2>/dev/null)" -gt "${n:-0}" ] &&
			ss -Hltnp 2>/dev/null | grep -F "$EJ_ADDR:5269" | grep -q "pid=$EJ_PID,"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

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

ejctl() {
	timeout 30 /usr/sbin/ejabberdctl --config-dir "$EJ_DIR" --logs "$EJ_DIR/log" \
		--spool "$EJ_DIR/spool" "$@" </dev/null 2>&1
}

ej_log() { cat "$EJ_DIR/log/ejabberd.log" 2>/dev/null; }

ej_wait_log() {
	local re=$1 secs=${2:-10} count=${3:-1} i
	for i in $(seq 0 $((secs * 10))); do
		[ "$(grep -cE -- "$re" "$EJ_DIR/log/ejabberd.log" 2>/dev/null)" -ge "$count" ] && return 0
		sleep 0.1
	done
	return 1
}
