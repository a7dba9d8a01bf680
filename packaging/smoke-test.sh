#!/usr/bin/env bash
# packaging/smoke-test.sh: install the built xmpp-partners-prosody package
# into this machine's Prosody and check that the installed files work.
#
#   bash packaging/smoke-test.sh [--no-install] [--remove] [--keep] [DEB | DIR]
#
# DEB is xmpp-partners-prosody_*.deb, DIR a directory holding it (default:
# build/deb, where packaging/build-deb.sh leaves it).  As root, the script
#   1. installs it with dpkg -i (then apt-get -f install for missing
#      dependencies); --no-install tests the package already installed;
#   2. starts two Prosody servers of its own, never the system service: own
#      configs, data dirs, pidfiles, logs, admin sockets, a test CA, and
#      loopback addresses 127.73.X.1 and 127.73.X.2 (X free, claimed with a
#      lock directory), resolved through a hosts file of its own
#      (unbound = { hoststxt = ... }, needs lua-unbound).  Server A serves
#      a.test and enables the module in one line of modules_enabled; its
#      partner table lists b.test only (type federated: its users need not
#      be in the roster).  Server B serves b.test and c.test
#      (not a partner) and does not run the module.  Nothing points them at
#      the source tree: no plugin_paths, no LUA_PATH / LUA_CPATH, so Prosody
#      loads mod_xmpp_partners from /usr/lib/prosody/modules and
#      xmpp_partners.core from Lua 5.4's own cpath, as a packaged server does;
#   3. proves that messages between a.test and the partner b.test go through
#      both ways and that the non-partner c.test is refused both ways;
#   4. stops both servers by PID (and, if installing started the system
#      prosody service, that one too, by the PID in its pidfile); with
#      --remove, removes the package again (dpkg -r; what apt-get -f
#      install brought in stays).
# Output is TAP.  It needs tests/clients/xpclient, the libstrophe client of
# the integration tests: $XP_CLIENT, else build/tests/clients/xpclient or
# tests/clients/xpclient of this tree, else it compiles one from
# tests/clients/xpclient.c (needs cc and libstrophe-dev).
#
# Environment: XP_CLIENT (xpclient to use), SMOKE_KEEP=1 (= --keep: keep the
# work directory), SMOKE_TIMEOUT (seconds for starts and clients, default 10).
# Exit status: 0 when every test passed.
set -uo pipefail

usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; }

install=1
remove=0
keep=${SMOKE_KEEP:-0}
deb_arg=""
while [ $# -gt 0 ]; do
	case $1 in
	--no-install) install=0; shift ;;
	--remove) remove=1; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "smoke-test.sh: unknown option $1" >&2; exit 2 ;;
	*) deb_arg=$1; shift ;;
	esac
done

srcdir=$(cd "$(dirname "$0")/.." && pwd)
TIMEOUT=${SMOKE_TIMEOUT:-10}
PKG=xmpp-partners-prosody
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
CORE_SO=/usr/lib/$MULTIARCH/lua/5.4/xmpp_partners/core.so
MOD_DIR=/usr/lib/prosody/modules/mod_xmpp_partners
MOD_LUA=$MOD_DIR/mod_xmpp_partners.lua
PASSWORD=smoke-secret

# Nothing of the caller's Lua search paths: the installed files only.
unset LUA_PATH LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_4

# ---- TAP ---------------------------------------------------------------------
T_N=0
T_FAILED=0
T_PLAN=0
plan() { T_PLAN=$1; echo "1..$1"; }
diag() {
	local line
	while IFS= read -r line; do printf '# %s\n' "$line"; done <<<"$*"
}
ok() { T_N=$((T_N + 1)); echo "ok $T_N - $1"; }
not_ok() {
	T_N=$((T_N + 1))
	T_FAILED=$((T_FAILED + 1))
	echo "not ok $T_N - $1"
	if [ -n "${2:-}" ]; then diag "$2"; fi
	return 1
}
skip() { T_N=$((T_N + 1)); echo "ok $T_N - $1 # SKIP $2"; }
bail() {
	dump_logs
	echo "Bail out! $1"
	exit 1
}
done_testing() {
	local rc=0
	if [ "$T_N" -ne "$T_PLAN" ]; then
		diag "planned $T_PLAN tests but ran $T_N"
		rc=1
	fi
	if [ "$T_FAILED" -gt 0 ]; then
		diag "$T_FAILED of $T_N tests failed"
		rc=1
	fi
	exit "$rc"
}

# ---- processes -------------------------------------------------------------------
declare -A SRV_PID=() SRV_DIR=() SRV_ADDR=()
declare -A CLI_PID=()
WORK=""
NET=""
NET_LOCK=""
SYSTEM_PID_BEFORE=""

alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# stop_pids PID...: TERM, wait up to 5 s, KILL what is left, reap.
stop_pids() {
	local pid left
	for pid in "$@"; do alive "$pid" && kill -TERM "$pid" 2>/dev/null; done
	for _ in $(seq 1 100); do
		left=0
		for pid in "$@"; do if alive "$pid"; then left=1; fi; done
		[ "$left" = 0 ] && break
		sleep 0.05
	done
	for pid in "$@"; do
		if alive "$pid"; then
			echo "# PID $pid ignored SIGTERM: SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
	done
	return 0
}

stop_all() {
	local pids=() n
	for n in "${!CLI_PID[@]}"; do pids+=("${CLI_PID[$n]}"); done
	for n in "${!SRV_PID[@]}"; do pids+=("${SRV_PID[$n]}"); done
	[ "${#pids[@]}" -gt 0 ] && stop_pids "${pids[@]}"
	CLI_PID=()
	SRV_PID=()
}

system_prosody_pid() {
	local f pid
	for f in /run/prosody/prosody.pid /var/run/prosody/prosody.pid; do
		if [ -s "$f" ]; then
			pid=$(cat "$f" 2>/dev/null)
			if [ -n "$pid" ] && alive "$pid"; then echo "$pid"; return 0; fi
		fi
	done
	return 1
}

# Stop the system prosody if it runs now and did not before we installed
# (postinst scripts may start it); by the PID in its pidfile only.
stop_new_system_prosody() {
	local pid
	pid=$(system_prosody_pid) || return 0
	[ "$pid" = "$SYSTEM_PID_BEFORE" ] && return 0
	diag "stopping the system prosody (PID $pid) that the installation started"
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do alive "$pid" || return 0; sleep 0.05; done
	kill -KILL "$pid" 2>/dev/null
}

# shellcheck disable=SC2317 # called through the EXIT trap
on_exit() {
	local rc=$?
	trap - EXIT INT TERM HUP
	stop_all
	stop_new_system_prosody >/dev/null
	if [ "$remove" = 1 ] && dpkg-query -W "$PKG" >/dev/null 2>&1; then
		echo "# --remove: dpkg -r $PKG"
		dpkg -r "$PKG" >/dev/null 2>&1 || echo "# dpkg -r $PKG failed" >&2
	fi
	[ -n "$NET_LOCK" ] && rm -rf "$NET_LOCK"
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "$keep" = 1 ]; then
			echo "# work directory kept: $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

dump_logs() {
	local n
	for n in "${!SRV_DIR[@]}"; do
		for f in console.log prosody.log; do
			if [ -s "${SRV_DIR[$n]}/$f" ]; then
				diag "---- server $n: $f (last 15 lines)"
				diag "$(tail -n 15 "${SRV_DIR[$n]}/$f")"
			fi
		done
	done
}

# ---- prerequisites -----------------------------------------------------------------
plan 13

[ "$(id -u)" = 0 ] || bail "run as root (dpkg -i; Prosody runs with run_as_root)"
for tool in prosody prosodyctl openssl ss; do
	command -v "$tool" >/dev/null 2>&1 || bail "$tool not found (Debian: apt-get install prosody openssl iproute2)"
done
PROSODY=$(command -v prosody)
PROSODYCTL=$(command -v prosodyctl)
# The Lua that runs Prosody, from the #! line of /usr/bin/prosody.
read -r first <"$PROSODY"
first=${first#\#!}
first=${first# }
case $first in /usr/bin/env\ *) PLUA=${first#/usr/bin/env } ;; *lua*) PLUA=$first ;; *) PLUA=lua5.4 ;; esac
"$PLUA" -e 'require "lunbound"' >/dev/null 2>&1 ||
	bail "lua-unbound missing for $PLUA (Debian: apt-get install lua-unbound): Prosody would not read the test hosts file"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/xp-smoke.XXXXXX") || bail "mktemp failed"
mkdir -p "$WORK/pki" "$WORK/clients"

# xpclient
XPCLIENT=${XP_CLIENT:-}
if [ -z "$XPCLIENT" ]; then
	for c in "$srcdir/build/tests/clients/xpclient" "$srcdir/tests/clients/xpclient"; do
		if [ -x "$c" ]; then XPCLIENT=$c; break; fi
	done
fi
if [ -z "$XPCLIENT" ]; then
	[ -f "$srcdir/tests/clients/xpclient.c" ] || bail "no xpclient and no tests/clients/xpclient.c to build it from (set XP_CLIENT)"
	pkg-config --exists libstrophe 2>/dev/null || bail "libstrophe-dev is needed to build xpclient (apt-get install libstrophe-dev)"
	# shellcheck disable=SC2046
	cc -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -o "$WORK/xpclient" "$srcdir/tests/clients/xpclient.c" \
		$(pkg-config --cflags --libs libstrophe) >"$WORK/xpclient.build.log" 2>&1 ||
		bail "building xpclient failed: $(cat "$WORK/xpclient.build.log")"
	XPCLIENT=$WORK/xpclient
fi
diag "xpclient: $XPCLIENT"

# ---- 1. install the package ----------------------------------------------------------
SYSTEM_PID_BEFORE=$(system_prosody_pid || true)
if [ "$install" = 1 ]; then
	deb=$deb_arg
	[ -n "$deb" ] || deb=$srcdir/build/deb
	if [ -d "$deb" ]; then
		newest=""
		for f in "$deb/${PKG}"_*.deb; do
			[ -f "$f" ] || continue
			if [ -z "$newest" ] || [ "$f" -nt "$newest" ]; then newest=$f; fi
		done
		[ -n "$newest" ] || bail "no ${PKG}_*.deb in $deb (build it with packaging/build-deb.sh)"
		deb=$newest
	fi
	[ -f "$deb" ] || bail "$deb: no such file"
	diag "installing $deb"
	out=$( {
		DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" ||
			DEBIAN_FRONTEND=noninteractive apt-get -f install -y -q --no-install-recommends
	} 2>&1)
	rc=$?
	stop_new_system_prosody
	status=$(dpkg-query -W -f='${Status} ${Version}' "$PKG" 2>/dev/null)
	if [ "$rc" -eq 0 ] && [ "${status% *}" = "install ok installed" ]; then
		ok "dpkg -i $(basename "$deb"): $PKG ${status##* } installed"
	else
		not_ok "dpkg -i $(basename "$deb")" "exit $rc, status '$status'
$(tail -n 20 <<<"$out")"
		bail "the package is not installed"
	fi
else
	status=$(dpkg-query -W -f='${Status} ${Version}' "$PKG" 2>/dev/null)
	if [ "${status% *}" = "install ok installed" ]; then
		ok "$PKG ${status##* } is installed (--no-install)"
	else
		not_ok "$PKG is installed (--no-install)" "status: '${status:-not installed}'"
		bail "the package is not installed"
	fi
fi

# ---- 2. the files are where Debian's Prosody and Lua look --------------------------
files=$(dpkg -L "$PKG" 2>/dev/null)
missing=""
for f in "$CORE_SO" "$MOD_LUA" "$MOD_DIR/xmpp_partners_contact.lib.lua"; do
	grep -qxF "$f" <<<"$files" && [ -f "$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then
	ok "$PKG ships $CORE_SO and $MOD_DIR/{mod_xmpp_partners.lua,xmpp_partners_contact.lib.lua}"
else
	not_ok "$PKG ships the C module and the Prosody module" "missing or not owned by $PKG:$missing"
fi

found=$("$PLUA" -e 'assert(require "xmpp_partners.core")
	io.write(package.searchpath("xmpp_partners.core", package.cpath) or "?")' 2>&1)
if [ "$found" = "$CORE_SO" ]; then
	ok "$PLUA (Prosody's Lua) loads xmpp_partners.core from its default cpath: $found"
else
	not_ok "$PLUA loads xmpp_partners.core from its default cpath" "got: $found"
fi

# ---- 3. two Prosody servers of our own ------------------------------------------------
# 127.73.X.0/24, claimed for this run (tests/integration/netclaim.sh).
. "$srcdir/tests/integration/netclaim.sh"
xp_claim_net 127.73 || bail "no free 127.73.X.0/24 range"
NET=$XP_CLAIMED_NET
NET_LOCK=$XP_CLAIMED_LOCK
# A server listening on every address (the system prosody, say) would take
# our ports.
if ss -Hltn 2>/dev/null | awk '{print $4}' | grep -qE '^(\*|0\.0\.0\.0|\[::\]):(5222|5269)$'; then
	bail "something listens on 5222/5269 on all addresses (a system prosody or ejabberd?): $(ss -Hltnp | grep -E ':(5222|5269) ' | head -n 3)"
fi
ADDR_A=$NET.1
ADDR_B=$NET.2
printf '%s a.test\n%s b.test\n%s c.test\n' "$ADDR_A" "$ADDR_B" "$ADDR_B" >"$WORK/hosts"

# Test CA and one certificate per domain (EC P-256, 3 days).
pki=$WORK/pki
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3 \
	-keyout "$pki/ca.key" -out "$pki/ca.crt" -subj "/CN=xmpp-partners smoke-test CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	>"$pki/ca.log" 2>&1 || bail "cannot make the test CA: $(cat "$pki/ca.log")"
for d in a.test b.test c.test; do
	printf '[ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyAgreement\nextendedKeyUsage = serverAuth,clientAuth\nsubjectAltName = DNS:%s,otherName:1.3.6.1.5.5.7.8.5;UTF8:%s\n' \
		"$d" "$d" >"$pki/$d.cnf"
	{
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$pki/$d.key" -out "$pki/$d.csr" -subj "/CN=$d" &&
			openssl x509 -req -in "$pki/$d.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
				-set_serial "0x$(openssl rand -hex 8)" -days 3 -extfile "$pki/$d.cnf" \
				-extensions ext -out "$pki/$d.crt"
	} >"$pki/$d.log" 2>&1 || bail "cannot make the certificate of $d: $(cat "$pki/$d.log")"
done

# write_config NAME ADDR MODULES EXTRA DOMAIN...
write_config() {
	local name=$1 addr=$2 modules=$3 extra=$4 dir d
	shift 4
	dir=$WORK/$name
	mkdir -p "$dir/data" "$dir/certs"
	SRV_DIR[$name]=$dir
	SRV_ADDR[$name]=$addr
	{
		echo "-- packaging/smoke-test.sh: server $name.  No plugin_paths: Prosody finds"
		echo "-- mod_xmpp_partners in its own plugin directory, as installed by the package."
		echo "run_as_root = true"
		echo "daemonize = false"
		echo "pidfile = \"$dir/prosody.pid\""
		echo "data_path = \"$dir/data\""
		echo "admin_socket = \"$dir/admin.sock\""
		echo "certificates = \"$dir/certs\""
		echo "log = { { levels = { min = \"debug\" }, to = \"file\", filename = \"$dir/prosody.log\" } }"
		echo "interfaces = { \"$addr\" }"
		echo "local_interfaces = { \"$addr\" }"
		echo "c2s_ports = { 5222 }"
		echo "s2s_ports = { 5269 }"
		echo "c2s_direct_tls_ports = { }"
		echo "s2s_direct_tls_ports = { }"
		echo "unbound = { resolvconf = false; hoststxt = \"$WORK/hosts\"; forward = \"127.0.0.1\"; options = { [\"local-zone:\"] = \"test. static\" } }"
		echo "ssl = { cafile = \"$pki/ca.crt\" }"
		echo "s2s_secure_auth = false"
		echo "s2s_require_encryption = false"
		echo "c2s_require_encryption = true"
		echo "allow_registration = false"
		echo "authentication = \"internal_hashed\""
		echo "modules_enabled = { $modules }"
		printf '%s\n' "$extra"
		for d in "$@"; do
			echo "VirtualHost \"$d\""
			echo "	ssl = { certificate = \"$pki/$d.crt\"; key = \"$pki/$d.key\" }"
		done
	} >"$dir/prosody.cfg.lua"
}

BASE_MODULES='"roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "admin_shell"'
write_config a "$ADDR_A" "$BASE_MODULES; \"xmpp_partners\"" 'xmpp_partners = {
	["b.test"] = { type = "federated"; description = "the partner of the smoke test" };
}
xmpp_partners_default = "deny"' a.test
write_config b "$ADDR_B" "$BASE_MODULES" "" b.test c.test

listening() {
	ss -Hltnp 2>/dev/null | awk -v a="$2:$3" -v p="pid=$1," \
		'$4 == a && index($0, p) { found = 1 } END { exit !found }'
}

# start NAME: start server NAME, wait until its PID owns ADDR:5222 and :5269.
start() {
	local name=$1 dir=${SRV_DIR[$1]} addr=${SRV_ADDR[$1]} pid
	"$PROSODY" --config "$dir/prosody.cfg.lua" -F </dev/null >"$dir/console.log" 2>&1 &
	pid=$!
	SRV_PID[$name]=$pid
	for _ in $(seq 1 $((TIMEOUT * 20))); do
		alive "$pid" || return 1
		if listening "$pid" "$addr" 5222 && listening "$pid" "$addr" 5269; then return 0; fi
		sleep 0.05
	done
	return 1
}

ctl() { # ctl NAME ARGS...: prosodyctl against server NAME's config
	local name=$1
	shift
	timeout "$((2 * TIMEOUT))" "$PROSODYCTL" --config "${SRV_DIR[$name]}/prosody.cfg.lua" "$@" </dev/null
}

if start a && start b; then
	ok "two Prosody servers of our own started: a.test on $ADDR_A (mod_xmpp_partners), b.test + c.test on $ADDR_B"
else
	not_ok "two Prosody servers started"
	bail "cannot start the servers"
fi

if reg_out=$(ctl a register alice a.test "$PASSWORD" 2>&1 && ctl b register bob b.test "$PASSWORD" 2>&1 &&
	ctl b register carl c.test "$PASSWORD" 2>&1); then
	ok "accounts alice@a.test, bob@b.test, carl@c.test"
else
	not_ok "accounts created" "$reg_out"
	bail "no accounts"
fi

# The module and the core that server A loaded are the installed ones.
modpath=$(ctl a shell '> return require"core.modulemanager".get_module("*", "xmpp_partners").module.path' 2>&1)
maps=$(grep -o '/[^ ]*xmpp_partners[^ ]*\.so' "/proc/${SRV_PID[a]}/maps" 2>/dev/null | sort -u)
if grep -qF "$MOD_LUA" <<<"$modpath" && [ "$maps" = "$CORE_SO" ] &&
	! grep -qE '^[[:space:]]*plugin_paths' "${SRV_DIR[a]}/prosody.cfg.lua"; then
	ok "server a runs $MOD_LUA with $CORE_SO (no plugin_paths, no LUA_CPATH)"
else
	not_ok "server a runs the installed module and core" "module path: $modpath
mapped core: ${maps:-none}"
fi

# The module's own word that it loaded the table (its log line
# "Partner policy <why>: N partners, unlisted domains refused"), no error.
loaded=$(grep -E 'Partner policy [a-z ]+: 1 partners?, unlisted domains refused' "${SRV_DIR[a]}/prosody.log")
errors=$(grep -E '^[^	]*mod_xmpp_partners[^	]*	error	|xmpp_partners.*	error	' "${SRV_DIR[a]}/prosody.log")
if [ -n "$loaded" ] && [ -z "$errors" ]; then
	ok "mod_xmpp_partners loaded the partner table (1 partner, unlisted domains refused), no error logged"
else
	not_ok "mod_xmpp_partners loaded the partner table" "load line: ${loaded:-none}
errors: ${errors:-none}"
fi

# ---- 4. partner and non-partner traffic -----------------------------------------------
client() { # client JID COMMAND...: xpclient in the foreground
	local jid=$1 addr
	shift
	case ${jid#*@} in a.test) addr=$ADDR_A ;; *) addr=$ADDR_B ;; esac
	"$XPCLIENT" --jid "$jid" --password "$PASSWORD" --host "$addr" --cafile "$pki/ca.crt" \
		--timeout "$TIMEOUT" "$@" </dev/null
}
client_bg() { # client_bg NAME JID COMMAND...
	local name=$1
	shift
	: >"$WORK/clients/$name.out"
	client "$@" >"$WORK/clients/$name.out" 2>"$WORK/clients/$name.err" &
	CLI_PID[$name]=$!
}
client_ready() { # client_ready NAME: it logged in ("ready ...")
	for _ in $(seq 1 $((TIMEOUT * 50))); do
		grep -q '^ready ' "$WORK/clients/$1.out" 2>/dev/null && return 0
		alive "${CLI_PID[$1]}" || break
		sleep 0.02
	done
	grep -q '^ready ' "$WORK/clients/$1.out" 2>/dev/null
}
client_wait() { # client_wait NAME: its exit status (killed after 3 * TIMEOUT)
	local pid=${CLI_PID[$1]} rc
	for _ in $(seq 1 $((TIMEOUT * 60))); do
		alive "$pid" || break
		sleep 0.05
	done
	if alive "$pid"; then
		stop_pids "$pid"
		rc=124
	else
		wait "$pid"
		rc=$?
	fi
	unset "CLI_PID[$1]"
	return "$rc"
}
client_report() {
	echo "---- client $1:"
	cat "$WORK/clients/$1.out" "$WORK/clients/$1.err" 2>/dev/null
}

# delivered NAME FROM TO BODY: FROM's message reaches TO.
delivered() {
	local name=$1 from=$2 to=$3 body=$4 out rc_send rc_recv
	client_bg recv "$to" expect-message "$from" "$body"
	if ! client_ready recv; then
		client_wait recv
		not_ok "$name" "receiver $to did not log in
$(client_report recv)"
		return
	fi
	out=$(client "$from" send "$to" "$body" 2>&1)
	rc_send=$?
	client_wait recv
	rc_recv=$?
	if [ "$rc_send" -eq 0 ] && [ "$rc_recv" -eq 0 ]; then
		ok "$name"
	else
		not_ok "$name" "sender exit $rc_send, receiver exit $rc_recv
---- sender:
$out
$(client_report recv)"
		dump_logs
	fi
}

# refused NAME FROM TO BODY REGEX: FROM's message bounces back to FROM with
# an error, TO never gets it, and server A logs a line matching REGEX.
refused() {
	local name=$1 from=$2 to=$3 body=$4 re=$5 out rc rc_recv
	client_bg recv "$to" expect-silence "${from%%/*}" 3
	if ! client_ready recv; then
		client_wait recv
		not_ok "$name" "receiver $to did not log in
$(client_report recv)"
		return
	fi
	out=$(client "$from" send "$to" "$body" expect-error-from "$to" '*' 2>&1)
	rc=$?
	client_wait recv
	rc_recv=$?
	if [ "$rc" -eq 0 ] && [ "$rc_recv" -eq 0 ] && grep -qE -- "$re" "${SRV_DIR[a]}/prosody.log"; then
		ok "$name"
	else
		not_ok "$name" "sender exit $rc (0 = the message bounced), receiver exit $rc_recv (0 = got nothing), refusal logged by a: $(grep -cE -- "$re" "${SRV_DIR[a]}/prosody.log")
---- sender:
$out
$(client_report recv)"
		dump_logs
	fi
}

delivered "partner: bob@b.test -> alice@a.test is delivered" bob@b.test alice@a.test smoke-hello-from-b
delivered "partner: alice@a.test -> bob@b.test is delivered" alice@a.test bob@b.test smoke-hello-from-a
refused "non-partner: carl@c.test -> alice@a.test bounces, alice gets nothing, a.test logs the refusal" \
	carl@c.test alice@a.test smoke-from-c 'refused incoming s2s from c\.test'
refused "non-partner: alice@a.test -> carl@c.test bounces, carl gets nothing, a.test logs the refusal" \
	alice@a.test carl@c.test smoke-to-c 'refused outgoing s2s to c\.test'

# ---- 5. the command-line tool, when the package has it -----------------------------
if [ -x /usr/bin/xmpp-partners ] && grep -qxF /usr/bin/xmpp-partners <<<"$files"; then
	out=$(/usr/bin/xmpp-partners check "${SRV_DIR[a]}/prosody.cfg.lua" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && man -w xmpp-partners >/dev/null 2>&1; then
		ok "/usr/bin/xmpp-partners check accepts server a's config; man xmpp-partners is installed"
	else
		not_ok "/usr/bin/xmpp-partners check accepts server a's config (and its man page)" "exit $rc: $out
man -w: $(man -w xmpp-partners 2>&1)"
	fi
else
	skip "the xmpp-partners tool" "not in this build of $PKG"
fi

# ---- 6. stop everything by PID ------------------------------------------------------------
srv_pids="${SRV_PID[*]}"
stop_all
left=""
for pid in $srv_pids; do alive "$pid" && left="$left $pid"; done
listeners=$(ss -Hltn 2>/dev/null | awk -v net="$NET." 'index($4, net) == 1' | wc -l)
sys=$(system_prosody_pid || true)
if [ -z "$left" ] && [ "$listeners" -eq 0 ] && { [ -z "$sys" ] || [ "$sys" = "$SYSTEM_PID_BEFORE" ]; }; then
	ok "servers stopped by PID ($srv_pids); no listener left on $NET.*; no system prosody started by this test"
else
	not_ok "everything stopped" "still alive:${left:- none}; listeners on $NET.*: $listeners; system prosody: ${sys:-none} (before: ${SYSTEM_PID_BEFORE:-none})"
fi

done_testing
