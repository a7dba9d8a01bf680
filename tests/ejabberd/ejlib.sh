# tests/ejabberd/ejlib.sh: a real ejabberd 23.01 node for the tests, on top
# of tests/integration/lib.sh (source that first and call xp_init).  The one
# launcher of t_ejabberd.sh, t_ejabberd_admin.sh and t_cross.sh.
#
#   . "$top_srcdir/tests/integration/lib.sh"
#   . "$top_srcdir/tests/ejabberd/ejlib.sh"
#   ej_require                        # skip cleanly without ejabberd / root
#   xp_init
#   ej_init ej.test                   # address, directories, certificate
#   ...start the Prosody servers the node must reach (xp_start_prosody)...
#   ej_config <<EOF                   # the mod_xmpp_partners options (YAML,
#   default: deny                     # written at the top level; ej_config
#   partners:                         # puts them under "mod_xmpp_partners:")
#     pa.test: {type: federated, proxy: "127.71.X.Y:5269"}
#   EOF
#   ej_start || xp_bail "ejabberd did not start"
#   ej_register alice
#   ...
#
# The node: its own address 127.72.X.1 (X = the 127.71.X.0/24 range lib.sh
# locked for this run, so parallel runs never share it), own config, spool,
# log, node name and cookie; Erlang distribution on a fixed loopback port
# (-erl_epmd_port, -start_epmd false), so no epmd is started.  It is started
# with erl directly (as root, so its PID is ours) and stopped by that PID at
# exit (ej_init chains ej_stop before lib.sh's clean-up in the EXIT trap),
# also on failure; ej_start may start it again after ej_stop (same spool
# and log, so Mnesia's runtime changes persist).  ejabberdctl reaches it
# through the ejabberdctl.cfg of its config directory.  It listens for s2s
# on EJ_ADDR:5269 and for clients on EJ_ADDR:5222 (STARTTLS required, the
# test CA's certificate for the domain), so xpclient (xp_client) logs in as
# USER@DOMAIN like on Prosody.
#
# Resolution: Prosody finds the node's domain through lib.sh's hosts file
# (ej_init maps it); ejabberd cannot read a private hosts file, so every
# remote domain it must reach needs a `proxy` key in its partner record.
#
# Environment: XP_EJ_TIMEOUT (seconds for start and stop, default 30),
# XP_EJ_LOGLEVEL (default info), XP_EJABBERD_PREFIX (run the ejabberd
# unpacked in PREFIX, e.g. build/ejabberd2412 from scripts/unpack-ejabberd.sh,
# instead of the installed one), XP_EJABBERD_EBIN (the folder of this build
# tree's beams to load, default $top_builddir/ejabberd/ebin: the ones built
# against the installed ejabberd's headers; tests/ejabberd/ejabberd2412.mk
# builds ejabberd/ebin-2412 against 24.12's), XP_EJABBERD_EXPECT (the
# version the node's ejabberd.app names must start with, e.g. "24.12";
# else bail out).  Every test name starts with "[ejabberd VERSION]".
#
# ej_config may be called again while the node runs (then `ejctl
# reload_config`); EJ_MODULES, EJ_EXTRA_YML and EJ_EXTRA_MODULES (below)
# are read at each call.
#
# shellcheck shell=bash
# top_builddir, XP_* and the tap_* functions come from lib.sh:
# shellcheck disable=SC2154,SC2034

EJ_PID=
EJ_DOMAIN=
# The ejabberd under test and this build tree's beams for it (ej_require
# sets them from XP_EJABBERD_PREFIX / XP_EJABBERD_EBIN, below).
EJ_CTL=/usr/sbin/ejabberdctl
EJ_MOD_EBIN=${XP_EJABBERD_EBIN:-$top_builddir/ejabberd/ebin}
EJ_TIMEOUT=${XP_EJ_TIMEOUT:-30}
declare -gA EJ_LOG_MARK=()

# ej_require: skip the whole script (tap_skip_all) unless ejabberd 23.01,
# this build tree's NIF and beams, the ejabberd user and root are there.
ej_require() {
	if [ -n "${XP_EJABBERD_PREFIX:-}" ]; then ej__prefix_require; return; fi
	EJ_EBIN_SYS=$(ls -d /usr/lib/*/ejabberd-*/ebin 2>/dev/null | sort -V | tail -n 1)
	command -v erl >/dev/null 2>&1 && [ -x /usr/sbin/ejabberdctl ] && [ -n "$EJ_EBIN_SYS" ] ||
		tap_skip_all "ejabberd not installed (Debian: apt-get install ejabberd erlang-nox)"
	[ -f "$top_builddir/ejabberd/ebin/mod_xmpp_partners.beam" ] &&
		[ -f "$top_builddir/module/erlang/.libs/xmpp_partners_nif.so" ] ||
		tap_skip_all "mod_xmpp_partners was not built (configure found no ejabberd headers)"
	id ejabberd >/dev/null 2>&1 || tap_skip_all "no ejabberd user (ejabberdctl runs as it)"
	[ "$(id -u)" = 0 ] || tap_skip_all "needs root (ejabberdctl switches to the ejabberd user)"
	# ERL_LIBS: the directory holding ejabberd-VERSION/ (its applications)
	EJ_ERL_LIBS=$(dirname "$(dirname "$EJ_EBIN_SYS")")
	ej__host_version
}

# ej_init DOMAIN: after xp_init and before the first server starts: pick the
# node's address, name, cookie and distribution port, map DOMAIN to the
# address in the test hosts file and make its certificate.
ej_init() {
	local i p
	EJ_DOMAIN=$1
	EJ_ADDR=127.72.${XP_NET##*.}.1
	EJ_DIR=$XP_WORK/ej
	EJ_NODE=xpej@$EJ_ADDR
	EJ_COOKIE=xp$RANDOM$RANDOM$$
	EJ_LOG=$EJ_DIR/log/ejabberd.log
	trap 'ej_stop; xp__on_exit' EXIT
	EJ_DIST_PORT=
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		if ! ss -Hltn 2>/dev/null | awk '{print $4}' | grep -q ":$p\$"; then EJ_DIST_PORT=$p; break; fi
	done
	[ -n "$EJ_DIST_PORT" ] || xp_bail "no free port for Erlang distribution"
	xp_host "$EJ_DOMAIN" "$EJ_ADDR" || xp_bail "cannot map $EJ_DOMAIN"
	xp_cert "$EJ_DOMAIN" "$EJ_DOMAIN" || xp_bail "cannot make the $EJ_DOMAIN certificate"
	mkdir -p "$EJ_DIR/spool" "$EJ_DIR/log" || xp_bail "mkdir $EJ_DIR"
	cat "$XP_WORK/pki/$EJ_DOMAIN.crt" "$XP_WORK/pki/$EJ_DOMAIN.key" >"$EJ_DIR/$EJ_DOMAIN.pem"
	: >"$EJ_DIR/inetrc"
}

# ej_config: write ejabberd.yml; stdin is the body of mod_xmpp_partners'
# options (YAML; six spaces of indentation are added to every line, so the
# body is written as if at the top level).  EJ_MODULES (names, default
# "mod_s2s_dialback mod_ping mod_disco mod_roster") are the modules loaded
# with no options before mod_xmpp_partners; EJ_EXTRA_YML (global YAML lines)
# and EJ_EXTRA_MODULES (module lines, two spaces of indentation included);
# EJ_EXTRA_LISTEN: more listeners (lines "  - {...}")
# are appended when set.
ej_config() {
	local body m mods=
	body=$(sed 's/^/      /')
	for m in ${EJ_MODULES-mod_s2s_dialback mod_ping mod_disco mod_roster}; do
		mods+="  $m: {}"$'\n'
	done
	cat >"$EJ_DIR/ejabberd.yml" <<EOF
hosts: ["$EJ_DOMAIN"]
loglevel: ${XP_EJ_LOGLEVEL:-info}
certfiles: ["$EJ_DIR/$EJ_DOMAIN.pem"]
ca_file: "$XP_CA"
s2s_use_starttls: optional
s2s_dns_timeout: 2
s2s_dns_retries: 1
s2s_max_retry_delay: 2
outgoing_s2s_families: [ipv4]
outgoing_s2s_ipv4_address: "$EJ_ADDR"
outgoing_s2s_timeout: 5
negotiation_timeout: 10
auth_method: [internal]
auth_password_format: plain
listen:
  - {port: 5269, ip: "$EJ_ADDR", module: ejabberd_s2s_in}
  - {port: 5222, ip: "$EJ_ADDR", module: ejabberd_c2s, starttls_required: true}
${EJ_EXTRA_LISTEN:-}
api_permissions:
  "console commands":
    from: [ejabberd_ctl]
    who: all
    what: "*"
${EJ_EXTRA_YML:-}
modules:
${mods}${EJ_EXTRA_MODULES:-}
  mod_xmpp_partners:
$body
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
}

# ejctl ARGS...: ejabberdctl against the node (bounded: 30 s); stdout and
# stderr together.
ejctl() {
	timeout 30 "$EJ_CTL" --config-dir "$EJ_DIR" --logs "$EJ_DIR/log" \
		--spool "$EJ_DIR/spool" "$@" </dev/null 2>&1
}

# ej_start: start the node and wait (XP_EJ_TIMEOUT) until it says it started
# (a new "is started" line: the log is kept across restarts) and its PID
# owns EJ_ADDR:5269 and :5222.  Returns 1 on failure, its logs as TAP
# comments.
ej_start() {
	local i n
	n=$(ej__starts)
	env EJABBERD_CONFIG_PATH="$EJ_DIR/ejabberd.yml" EJABBERD_LOG_PATH="$EJ_LOG" \
		ERL_LIBS="$EJ_ERL_LIBS" ERL_INETRC="$EJ_DIR/inetrc" \
		ERL_CRASH_DUMP="$EJ_DIR/log/erl_crash.dump" \
		XMPP_PARTNERS_NIF="$top_builddir/module/erlang/.libs/xmpp_partners_nif" \
		erl -name "$EJ_NODE" -setcookie "$EJ_COOKIE" -erl_epmd_port "$EJ_DIST_PORT" -start_epmd false \
		-kernel inet_dist_use_interface "{${EJ_ADDR//./,}}" \
		-pa "$EJ_MOD_EBIN" -mnesia dir "\"$EJ_DIR/spool\"" \
		-noinput -s ejabberd >>"$EJ_DIR/log/console.log" 2>&1 </dev/null &
	EJ_PID=$!
	for i in $(seq 1 $((EJ_TIMEOUT * 10))); do
		kill -0 "$EJ_PID" 2>/dev/null || break
		if [ "$(ej__starts)" -gt "$n" ] &&
			ss -Hltnp 2>/dev/null | grep -F "$EJ_ADDR:5269" | grep -q "pid=$EJ_PID," &&
			ss -Hltnp 2>/dev/null | grep -F "$EJ_ADDR:5222" | grep -q "pid=$EJ_PID,"; then
			return 0
		fi
		sleep 0.1
	done
	tap_diag "ejabberd did not start; its logs:"
	tap_diag "$(tail -n 30 "$EJ_LOG" "$EJ_DIR/log/console.log" 2>&1)"
	return 1
}

# ej__starts: how many times the node said it started in EJ_LOG (0 without
# a log).
ej__starts() {
	local c
	c=$(grep -c 'is started in the node' "$EJ_LOG" 2>/dev/null)
	echo "${c:-0}"
}

# ej_stop: stop the node by PID (TERM, bounded wait, KILL).
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

# ej_register USER [PASSWORD]: create USER@EJ_DOMAIN (remembered for
# xp_client like xp_register).
ej_register() {
	local pw=${2:-$XP_PASSWORD} out
	out=$(ejctl register "$1" "$EJ_DOMAIN" "$pw") || { echo "$out" >&2; return 1; }
	XP_PW[$1@$EJ_DOMAIN]=$pw
}

# ej_log_mark / ej_log_new / ej_wait_log REGEX [SECONDS [COUNT]]: like
# lib.sh's xp_log_mark, xp_log_new and xp_wait_new_log for ejabberd's log.
ej_log_mark() { EJ_LOG_MARK[x]=$(wc -l <"$EJ_LOG" 2>/dev/null || echo 0); }
ej_log_new() { tail -n "+$((${EJ_LOG_MARK[x]:-0} + 1))" "$EJ_LOG" 2>/dev/null; }
ej_wait_log() {
	local re=$1 secs=${2:-$XP_CLIENT_TIMEOUT} count=${3:-1} i
	for i in $(seq 0 $((secs * 10))); do
		[ "$(ej_log_new | grep -cE -- "$re")" -ge "$count" ] && return 0
		[ "$i" -lt $((secs * 10)) ] && sleep 0.1
	done
	return 1
}

# ej_dump_log [N]: the last N (default XP_LOG_LINES) lines of ejabberd's log
# as TAP comments.
ej_dump_log() {
	tap_diag "---- ejabberd: $EJ_LOG (last ${1:-$XP_LOG_LINES} lines)"
	tap_diag "$(tail -n "${1:-$XP_LOG_LINES}" "$EJ_LOG" 2>/dev/null)"
}

# ---- the ejabberd under test ------------------------------------------------

# ej__prefix_require: ej_require for an ejabberd unpacked in
# XP_EJABBERD_PREFIX (scripts/unpack-ejabberd.sh): its applications and the
# newer libraries beside them come first in ERL_LIBS (ahead of the system's
# /usr/lib/erlang/lib), and its own ejabberdctl (whose ERL_LIBS the unpack
# script points into the prefix) drives the node.  A missing prefix is a
# skip, or a failure with XP_REQUIRE=1.
ej__prefix_require() {
	local p=$XP_EJABBERD_PREFIX
	EJ_EBIN_SYS=$(ls -d "$p"/usr/lib/*/ejabberd-*/ebin 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$EJ_EBIN_SYS" ] || ! [ -x "$p/usr/sbin/ejabberdctl" ]; then
		if [ "${XP_REQUIRE:-0}" = 1 ]; then
			echo "Bail out! no ejabberd unpacked in XP_EJABBERD_PREFIX=$p (XP_REQUIRE=1; scripts/unpack-ejabberd.sh makes one)"
			exit 1
		fi
		tap_skip_all "no ejabberd unpacked in XP_EJABBERD_PREFIX=$p (scripts/unpack-ejabberd.sh makes one)"
	fi
	command -v erl >/dev/null 2>&1 || tap_skip_all "erl not found (Debian: apt-get install erlang-nox)"
	EJ_CTL=$p/usr/sbin/ejabberdctl
	[ -f "$EJ_MOD_EBIN/mod_xmpp_partners.beam" ] &&
		[ -f "$top_builddir/module/erlang/.libs/xmpp_partners_nif.so" ] ||
		tap_skip_all "mod_xmpp_partners was not built in $EJ_MOD_EBIN"
	id ejabberd >/dev/null 2>&1 || tap_skip_all "no ejabberd user (ejabberdctl runs as it)"
	[ "$(id -u)" = 0 ] || tap_skip_all "needs root (ejabberdctl switches to the ejabberd user)"
	EJ_ERL_LIBS=$p/usr/lib/erlang/lib:$(dirname "$(dirname "$EJ_EBIN_SYS")")
	ej__host_version
}

# ej__host_version: EJ_VERSION from the node's ejabberd.app ("23.01",
# "24.12"; Debian's revision dropped), checked against XP_EJABBERD_EXPECT,
# named in a diagnostic line and in every test name (XP_TAP_TAG), so that
# the logs of the runs on each version tell them apart.
ej__host_version() {
	EJ_VERSION=$(sed -n 's/.*{vsn, *"\([0-9][0-9.]*\).*/\1/p' "$EJ_EBIN_SYS/ejabberd.app" 2>/dev/null | head -n 1)
	[ -n "$EJ_VERSION" ] || EJ_VERSION=$(basename "$(dirname "$EJ_EBIN_SYS")" | sed 's/^ejabberd-//; s/-.*//')
	case $EJ_VERSION in
	"${XP_EJABBERD_EXPECT:-}"*) ;;
	*)
		echo "Bail out! $EJ_EBIN_SYS is ejabberd $EJ_VERSION, not the expected ${XP_EJABBERD_EXPECT}x"
		exit 1
		;;
	esac
	: "${XP_TAP_TAG=ejabberd $EJ_VERSION}"
	tap_diag "host: ejabberd $EJ_VERSION ($EJ_EBIN_SYS; module beams from $EJ_MOD_EBIN)"
}

# ---- a cluster of ejabberd nodes ----------------------------------------------------
#
#   ejc_init e.test 2                 # instead of ej_init: nodes 1 and 2
#   ejc_use 1; ej_config <<EOF ... EOF; ej_start
#   ejc_use 2; ej_config <<EOF ... EOF; ej_start
#   ejc_join 2 1                      # node 2 joins node 1's cluster
#   ejc_use 1; ejctl partners_list    # every ej_* function acts on the node
#                                     # ejc_use selected
#   ejc_kill 1                        # SIGKILL by PID (a crash)
#
# Node I: address 127.72.X.(10+I), node name xpejI@that address, its own
# directory $XP_WORK/ejI (config, spool, log), all with one cookie and one
# distribution port (each node listens on its own address, so one port
# serves them all and each finds the others without epmd).  DOMAIN maps to
# node 1's address in the test hosts file; a Prosody server that must reach
# another node gets its own hosts file (ejc_hosts_file).  Every node is
# stopped by its PID at exit, also on failure.

declare -gA EJC_ADDR=() EJC_DIR=() EJC_NODE=() EJC_PID=() EJC_MARK=()
EJC_N=0
EJC_CUR=

# ejc_init DOMAIN N: like ej_init for N nodes (after xp_init, before the
# first server starts); node 1 is selected.
ejc_init() {
	local i
	ej_init "$1"
	trap 'ejc_stop_all; xp__on_exit' EXIT
	EJC_N=$2
	for i in $(seq 1 "$EJC_N"); do
		EJC_ADDR[$i]=127.72.${XP_NET##*.}.$((10 + i))
		EJC_DIR[$i]=$XP_WORK/ej$i
		EJC_NODE[$i]=xpej$i@${EJC_ADDR[$i]}
		EJC_PID[$i]=
		EJC_MARK[$i]=0
		mkdir -p "${EJC_DIR[$i]}/spool" "${EJC_DIR[$i]}/log" || xp_bail "mkdir ${EJC_DIR[$i]}"
		cp "$EJ_DIR/$EJ_DOMAIN.pem" "$EJ_DIR/inetrc" "${EJC_DIR[$i]}/" || xp_bail "cannot set up ${EJC_DIR[$i]}"
	done
	# ej_init mapped DOMAIN to the single-node address: node 1 instead
	sed -i "s/^$EJ_ADDR $EJ_DOMAIN\$/${EJC_ADDR[1]} $EJ_DOMAIN/" "$XP_HOSTS"
	# shellcheck disable=SC2004 # an associative array (lib.sh)
	XP_HOST_ADDR[$EJ_DOMAIN]=${EJC_ADDR[1]}
	ejc_use 1
}

# ejc_use I: select node I for ej_config, ej_start, ej_stop, ejctl,
# ej_register, ej_log_mark, ej_wait_log, ej_dump_log.
ejc_use() {
	if [ -n "$EJC_CUR" ]; then
		EJC_PID[$EJC_CUR]=$EJ_PID
		EJC_MARK[$EJC_CUR]=${EJ_LOG_MARK[x]:-0}
	fi
	EJC_CUR=$1
	EJ_ADDR=${EJC_ADDR[$1]}
	EJ_DIR=${EJC_DIR[$1]}
	EJ_NODE=${EJC_NODE[$1]}
	EJ_LOG=$EJ_DIR/log/ejabberd.log
	EJ_PID=${EJC_PID[$1]}
	EJ_LOG_MARK[x]=${EJC_MARK[$1]}
}

# ejc_join I J: node I joins node J's cluster (ejabberdctl join_cluster
# restarts ejabberd on node I); waits (XP_EJ_TIMEOUT) until node I says it
# started again and listens.  Returns 1 on failure, the output as comments.
ejc_join() {
	local cur=$EJC_CUR out n i rc=1
	ejc_use "$1"
	n=$(ej__starts)
	out=$(ejctl join_cluster "${EJC_NODE[$2]}") || {
		tap_diag "join_cluster: $out"
		ejc_use "$cur"
		return 1
	}
	for i in $(seq 1 $((EJ_TIMEOUT * 10))); do
		if [ "$(ej__starts)" -gt "$n" ] &&
			ss -Hltnp 2>/dev/null | grep -F "$EJ_ADDR:5269" | grep -q "pid=$EJ_PID,"; then
			rc=0
			break
		fi
		sleep 0.1
	done
	[ "$rc" = 0 ] || tap_diag "node $1 did not restart after join_cluster: $out"
	ejc_use "$cur"
	return "$rc"
}

# ejc_kill I: SIGKILL node I by its PID (a crashed node) and reap it.
ejc_kill() {
	local cur=$EJC_CUR
	ejc_use "$1"
	if [ -n "$EJ_PID" ]; then
		kill -KILL "$EJ_PID" 2>/dev/null
		wait "$EJ_PID" 2>/dev/null
		EJ_PID=
	fi
	ejc_use "$cur"
}

# ejc_stop_all: stop every node by PID (the EXIT trap).
ejc_stop_all() {
	local i
	[ "$EJC_N" -gt 0 ] || return 0
	for i in $(seq 1 "$EJC_N"); do
		ejc_use "$i"
		ej_stop
	done
}

# ejc_eval I EXPR: evaluate the Erlang expression EXPR on node I (through
# a hidden probe node on 127.72.X.9; bounded: 30 s) and print the result
# with ~p.
ejc_eval() {
	local probe=127.72.${XP_NET##*.}.9
	timeout 30 erl -noshell -hidden -name "xpprobe$$@$probe" -setcookie "$EJ_COOKIE" \
		-erl_epmd_port "$EJ_DIST_PORT" -start_epmd false -dist_listen false \
		-eval "io:format(\"~p~n\", [rpc:call('${EJC_NODE[$1]}', erlang, apply,
			[fun() -> $2 end, []], 20000)]), halt()." </dev/null 2>&1
}

# ejc_hosts_file I FILE: write FILE, a copy of the test hosts file where
# the cluster's domain maps to node I's address (for a Prosody server that
# must reach node I: --extra-lua "$(ejc_unbound FILE)").
ejc_hosts_file() {
	sed "s/^[^ ]* $EJ_DOMAIN\$/${EJC_ADDR[$1]} $EJ_DOMAIN/" "$XP_HOSTS" >"$2"
}

# ejc_unbound FILE: Prosody's unbound setting reading hosts file FILE (set
# after lib.sh's own, it replaces it).
ejc_unbound() {
	echo "unbound = { resolvconf = false; hoststxt = $(xp__lua_str "$1"); forward = \"127.0.0.1\"; options = { [\"local-zone:\"] = \"test. static\" } }"
}

# ej_option_words: stdin to stdout, a core text of Prosody's (explain,
# check) with its global options named the way ejabberd.yml names them
# (xmpp_partners_default = "deny" -> default: deny; the core's reason texts
# likewise), so a cross-host comparison sees only the host's framing.
ej_option_words() {
	sed -E 's/xmpp_partners_([a-z_]+) = "([^"]*)"/\1: \2/g
		s/xmpp_partners_connection_limit \(all partners together\)/the module option connection_limit (all partners together)/g
		s/xmpp_partners_(pending_per_address|pending_limit|auth_timeout|preauth_bytes|preauth_depth)/\1/g'
}
