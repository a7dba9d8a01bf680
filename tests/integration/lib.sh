# tests/integration/lib.sh: harness for integration tests with real XMPP
# servers on loopback.  Source it from a bash test script, then call xp_init:
#
#   . "$top_srcdir/tests/integration/lib.sh"
#   xp_init                          # skips the test when something is missing
#   tap_plan 3
#   xp_host a.test; xp_host b.test   # every domain, before the first server
#   xp_start_prosody a "$(xp_addr a.test)" a.test || xp_bail "a did not start"
#   ...
#   tap_done
#
# Everything lives in a per-run directory ($XP_WORK) that is removed at exit
# unless XP_KEEP=1.  Every server and background client started here is
# stopped by PID at exit, also when the test fails or is interrupted.
#
# Environment knobs: XP_KEEP=1 (keep $XP_WORK), XP_REQUIRE=1 (a missing
# prerequisite fails the test instead of skipping it), XP_LOG_LEVEL (Prosody
# log level, default debug), XP_LOG_LINES (log lines shown on failure),
# XP_START_TIMEOUT, XP_STOP_TIMEOUT, XP_CLIENT_TIMEOUT (seconds),
# XP_CLIENT (path of xpclient), XP_PROSODY / XP_PROSODYCTL (binaries),
# XP_PROSODY_PREFIX (run the Prosody unpacked in PREFIX, e.g. build/prosody13
# from scripts/unpack-prosody.sh: sets XP_PROSODY and XP_PROSODYCTL to
# PREFIX/usr/bin/prosody and prosodyctl), XP_PROSODY_EXPECT (the version
# `prosodyctl about` must report starts with this, e.g. "13."; else bail out),
# XP_TAP_TAG (prefix of every test name, default "prosody VERSION"; none in
# the ejabberd suites, which load tests/ejabberd/ejlib.sh),
# XP_LUA_CPATH (extra Lua C module path entries for Prosody, "dir/?.so;..."),
# XP_NET_PREFIX (the two octets of this run's /24, default 127.71).
#
# Prosody and prosodyctl run with LUA_CPATH_<ver> = $XP_WORK/lua/?.so, where
# xmpp_partners/core.so links to the build tree's module/lua/.libs/core.so,
# so `require "xmpp_partners.core"` finds the uninstalled C module; Lua
# plugins (mod_*.lua) come from plugin_paths = { "$top_srcdir/lua" }.
#
# Installed files only: with XP_INSTALLED=1 set before sourcing (the Debian
# package smoke test, packaging/smoke-test.sh), nothing points the servers
# at the source or build tree: the caller's LUA_PATH / LUA_CPATH / LUA_INIT
# (also the _5_4 ones) are unset here, Prosody gets no LUA_CPATH_<ver>
# unless XP_LUA_CPATH is set, plugin_paths lists only --plugin-path dirs
# (no plugin_paths line without one), so Prosody loads mod_xmpp_partners
# from its own plugin directory and xmpp_partners.core from Lua's default
# cpath, as a packaged server does; and xp_init does not insist on a built
# xpclient (set XP_CLIENT before the first xp_client).
#
# shellcheck shell=bash

if [ -n "${XP_LIB_LOADED:-}" ]; then return 0; fi
XP_LIB_LOADED=1

XP_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$XP_LIB_DIR/netclaim.sh"
: "${top_srcdir:=$(cd "$XP_LIB_DIR/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
XP_CLIENT=${XP_CLIENT:-$top_builddir/tests/clients/xpclient}
if [ -n "${XP_PROSODY_PREFIX:-}" ]; then
	XP_PROSODY=$XP_PROSODY_PREFIX/usr/bin/prosody
	XP_PROSODYCTL=$XP_PROSODY_PREFIX/usr/bin/prosodyctl
fi
XP_PROSODY=${XP_PROSODY:-prosody}
XP_PROSODYCTL=${XP_PROSODYCTL:-prosodyctl}
XP_START_TIMEOUT=${XP_START_TIMEOUT:-10}
XP_STOP_TIMEOUT=${XP_STOP_TIMEOUT:-5}
XP_CLIENT_TIMEOUT=${XP_CLIENT_TIMEOUT:-10}
XP_LOG_LEVEL=${XP_LOG_LEVEL:-debug}
XP_LOG_LINES=${XP_LOG_LINES:-20}
XP_PASSWORD=${XP_PASSWORD:-secret}
XP_NET_PREFIX=${XP_NET_PREFIX:-127.71}
XP_INSTALLED=${XP_INSTALLED:-0}
if [ "$XP_INSTALLED" = 1 ]; then
	unset LUA_PATH LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_4
fi

declare -gA XP_HOST_ADDR=()   # domain -> loopback address (our hosts file)
declare -gA XP_SRV_PID=()     # server name -> PID
declare -gA XP_SRV_DIR=()     # server name -> directory (config, data, log)
declare -gA XP_SRV_ADDR=()    # server name -> address
declare -gA XP_PW=()          # JID -> password (from xp_register)
declare -gA XP_CLI_PID=()     # background client name -> PID
declare -ga XP_SRV_NAMES=()   # servers in start order
declare -gA XP_SRV_ARGS=()    # server name -> its xp_start_prosody arguments (quoted)
XP_WORK=""
XP_NET=""
XP_NET_LOCK=""
XP_NEXT_HOST=1

# ---- TAP -------------------------------------------------------------------

# tap_plan, tap_ok, tap_fail, tap_is, tap_check, tap_skip, tap_skip_all,
# tap_diag and tap_done come from tests/tap.sh; a failing case here also
# shows the servers' log tails.
# shellcheck source=../tap.sh
. "$XP_LIB_DIR/../tap.sh"
tap_on_fail() { xp_dump_logs; }

# xp_bail REASON: abort the whole script ("Bail out!"); cleanup still runs.
xp_bail() {
	xp_dump_logs
	echo "Bail out! $1"
	exit 1
}

# xp_dump_logs: the last XP_LOG_LINES lines of each server's log, as comments.
xp_dump_logs() {
	local name dir
	for name in "${XP_SRV_NAMES[@]}"; do
		dir=${XP_SRV_DIR[$name]}
		if [ -s "$dir/console.log" ]; then
			tap_diag "---- $name: console output (last $XP_LOG_LINES lines)"
			tap_diag "$(tail -n "$XP_LOG_LINES" "$dir/console.log")"
		fi
		if [ -f "$dir/prosody.log" ]; then
			tap_diag "---- $name: $dir/prosody.log (last $XP_LOG_LINES lines)"
			tap_diag "$(tail -n "$XP_LOG_LINES" "$dir/prosody.log")"
		fi
	done
}

# ---- set-up and clean-up -------------------------------------------------------

xp__missing() {
	if [ "${XP_REQUIRE:-0}" = 1 ]; then
		echo "Bail out! $1 (XP_REQUIRE=1)"
		exit 1
	fi
	tap_skip_all "$1"
}

# The Lua interpreter that runs Prosody (from the #! line of the prosody script).
xp__prosody_lua() {
	local bin first
	bin=$(command -v "$XP_PROSODY") || return 1
	IFS= read -r first <"$bin" || return 1
	first=${first#\#!}
	first=${first# }
	case $first in
	/usr/bin/env\ *) echo "${first#/usr/bin/env }" ;;
	*lua*) echo "$first" ;;
	*) echo lua5.4 ;;
	esac
}

# xp_init: check prerequisites (skip the test if one is missing), create the
# work directory, install the clean-up traps, pick this run's addresses and
# make the test CA.
xp_init() {
	local lua
	# The servers run Debian's uninstrumented Lua: an ASan build of the core
	# cannot load there.  The default build runs these tests.
	if [ "${XP_SANITIZERS:-no}" = yes ]; then
		tap_skip_all "sanitizer build: the integration tests run in the default build"
	fi
	if [ -n "${XP_PROSODY_PREFIX:-}" ] && ! [ -x "$XP_PROSODY" ] && ! [ -x "$XP_PROSODYCTL" ]; then
		xp__missing "no Prosody unpacked in XP_PROSODY_PREFIX=$XP_PROSODY_PREFIX (scripts/unpack-prosody.sh makes one)"
	fi
	command -v "$XP_PROSODY" >/dev/null 2>&1 ||
		xp__missing "prosody not found (Debian: apt-get install prosody)"
	command -v "$XP_PROSODYCTL" >/dev/null 2>&1 ||
		xp__missing "prosodyctl not found (Debian: apt-get install prosody)"
	lua=$(xp__prosody_lua) || xp__missing "cannot tell which Lua runs prosody"
	# Without lua-unbound, Prosody resolves with /etc/resolv.conf only and
	# would never see our hosts file.
	$lua -e 'require "lunbound"' >/dev/null 2>&1 ||
		xp__missing "lua-unbound is missing for $lua (Debian: apt-get install lua-unbound)"
	XP_LUA_VER=$($lua -e 'io.write((_VERSION:gsub("Lua ", ""):gsub("%.", "_")))' 2>/dev/null)
	command -v openssl >/dev/null 2>&1 || xp__missing "openssl not found (Debian: apt-get install openssl)"
	command -v ss >/dev/null 2>&1 || xp__missing "ss not found (Debian: apt-get install iproute2)"
	[ "$XP_INSTALLED" = 1 ] || [ -x "$XP_CLIENT" ] ||
		xp__missing "xpclient not built ($XP_CLIENT; needs libstrophe-dev at configure time)"

	XP_WORK=$(mktemp -d "${TMPDIR:-/tmp}/xp-integ.XXXXXX") || xp_bail "mktemp -d failed"
	trap 'xp__on_exit' EXIT
	trap 'xp__on_signal INT 130' INT
	trap 'xp__on_signal TERM 143' TERM
	trap 'xp__on_signal HUP 129' HUP
	mkdir -p "$XP_WORK/pki" "$XP_WORK/srv" "$XP_WORK/clients" || xp_bail "cannot create $XP_WORK"
	XP_HOSTS=$XP_WORK/hosts
	: >"$XP_HOSTS"
	# Lua C modules for the servers: the build tree's xmpp_partners.core
	# (libtool puts it in module/lua/.libs/core.so) as xmpp_partners/core.so;
	# none with XP_INSTALLED=1.
	if [ "$XP_INSTALLED" != 1 ]; then
		mkdir -p "$XP_WORK/lua/xmpp_partners"
		if [ -f "$top_builddir/module/lua/.libs/core.so" ]; then
			ln -s "$top_builddir/module/lua/.libs/core.so" "$XP_WORK/lua/xmpp_partners/core.so"
		fi
		XP_LUA_CPATH="$XP_WORK/lua/?.so${XP_LUA_CPATH:+;$XP_LUA_CPATH}"
	fi
	xp__pick_net
	xp_ca_init
	xp__host_version
}

# xp_prosody_version [PROSODYCTL]: the version `prosodyctl about` reports
# ("0.12.3", "13.0.1"; default: $XP_PROSODYCTL); empty when it cannot run.
# Call it after xp_init (it needs a config file of ours, not the system's).
xp_prosody_version() {
	local ctl=${1:-$XP_PROSODYCTL} cfg=$XP_WORK/about.cfg.lua
	# (run_as_root: as root, prosodyctl would read it as user prosody)
	[ -f "$cfg" ] || printf 'run_as_root = true\ncertificates = %s\n' "$(xp__lua_str "$XP_WORK/pki")" >"$cfg"
	timeout 20 env "$(xp__lua_env)" "$ctl" --config "$cfg" about </dev/null 2>/dev/null |
		sed -n 's/^Prosody \([0-9][^ ]*\)$/\1/p' | head -n 1
}

# Which Prosody this run tests: XP_PROSODY_VERSION, checked against
# XP_PROSODY_EXPECT, named in a diagnostic line and in every test name
# (XP_TAP_TAG), so the logs of the runs on each version tell them apart.
xp__host_version() {
	XP_PROSODY_VERSION=$(xp_prosody_version)
	[ -n "$XP_PROSODY_VERSION" ] ||
		xp__missing "$XP_PROSODYCTL about does not report a Prosody version"
	case $XP_PROSODY_VERSION in
	"${XP_PROSODY_EXPECT:-}"*) ;;
	*) xp_bail "$XP_PROSODYCTL is Prosody $XP_PROSODY_VERSION, not the expected ${XP_PROSODY_EXPECT}x" ;;
	esac
	# The ejabberd suites (ejlib.sh loaded) keep their names: their host is
	# ejabberd, Prosody only plays the peers there.
	declare -F ej_init >/dev/null || : "${XP_TAP_TAG=prosody $XP_PROSODY_VERSION}"
	tap_diag "host: Prosody $XP_PROSODY_VERSION ($(command -v "$XP_PROSODY"))"
}

xp__on_signal() {
	trap - "$1"
	echo "# interrupted by SIG$1" >&2
	exit "$2" # runs the EXIT trap
}

# xp_at_exit FUNCTION: call FUNCTION at exit, after every server and
# client is stopped and before the work directory goes (in the order given).
declare -ga XP_AT_EXIT=()
xp_at_exit() { XP_AT_EXIT+=("$1"); }

xp__on_exit() {
	local rc=$? hook
	trap - EXIT INT TERM HUP
	xp_stop_all
	for hook in "${XP_AT_EXIT[@]}"; do "$hook"; done
	if [ -n "$XP_NET_LOCK" ]; then rm -rf "$XP_NET_LOCK"; fi
	if [ -n "$XP_WORK" ] && [ -d "$XP_WORK" ]; then
		if [ "${XP_KEEP:-0}" = 1 ]; then
			echo "# XP_KEEP=1: work directory kept: $XP_WORK"
		else
			rm -rf "$XP_WORK"
		fi
	fi
	exit "$rc"
}

# Pick $XP_NET_PREFIX.X.0/24 (127.71.X.0/24) for this run (netclaim.sh):
# parallel test scripts never share X, and X has no listener yet.
xp__pick_net() {
	xp_claim_net "$XP_NET_PREFIX" || xp_bail "no free $XP_NET_PREFIX.X.0/24 loopback range found"
	XP_NET=$XP_CLAIMED_NET
	XP_NET_LOCK=$XP_CLAIMED_LOCK
}

# ---- addresses and the hosts file ----------------------------------------------

# xp_host DOMAIN [ADDR]: map DOMAIN to ADDR (default: this run's next free
# address) in the test hosts file.  Declare every domain (also those of
# servers started later) before starting the first server: a running server
# does not re-read the hosts file.  A domain never declared gets NXDOMAIN.
xp_host() {
	local domain=$1 addr=${2:-}
	if [ -n "${XP_HOST_ADDR[$domain]:-}" ]; then
		if [ -n "$addr" ] && [ "$addr" != "${XP_HOST_ADDR[$domain]}" ]; then
			echo "xp_host: $domain is already mapped to ${XP_HOST_ADDR[$domain]}" >&2
			return 1
		fi
		return 0
	fi
	if [ -z "$addr" ]; then
		[ "$XP_NEXT_HOST" -le 254 ] || xp_bail "xp_host: out of addresses"
		addr=$XP_NET.$XP_NEXT_HOST
		XP_NEXT_HOST=$((XP_NEXT_HOST + 1))
	fi
	if [ "${#XP_SRV_NAMES[@]}" -gt 0 ]; then
		tap_diag "warning: $domain added to the hosts file after a server started; running servers will not resolve it"
	fi
	XP_HOST_ADDR[$domain]=$addr
	echo "$addr $domain" >>"$XP_HOSTS"
}

# xp_addr DOMAIN: print DOMAIN's address (fails if xp_host was not called).
xp_addr() {
	if [ -z "${XP_HOST_ADDR[$1]:-}" ]; then
		echo "xp_addr: $1 has no address (call xp_host $1 first)" >&2
		return 1
	fi
	echo "${XP_HOST_ADDR[$1]}"
}

# xp_new_addr: print a fresh address of this run that no domain uses (call it
# directly, not in $(...), or the allocation is lost: use xp_host instead).
xp_new_addr() {
	[ "$XP_NEXT_HOST" -le 254 ] || xp_bail "xp_new_addr: out of addresses"
	XP_LAST_ADDR=$XP_NET.$XP_NEXT_HOST
	XP_NEXT_HOST=$((XP_NEXT_HOST + 1))
	echo "$XP_LAST_ADDR"
}

# ---- certificates (openssl; EC P-256) ------------------------------------------------

# xp_ca_init: create the test CA ($XP_WORK/pki/ca.crt, ca.key); xp_init calls it.
xp_ca_init() {
	local pki=$XP_WORK/pki
	XP_CA=$pki/ca.crt
	[ -f "$pki/ca.crt" ] && return 0
	cat >"$pki/ca.cnf" <<-EOF
		[req]
		distinguished_name = dn
		prompt = no
		[dn]
		CN = xmpp-partners throw-away test CA
		[ext]
		basicConstraints = critical,CA:TRUE
		keyUsage = critical,keyCertSign,cRLSign
		subjectKeyIdentifier = hash
	EOF
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$pki/ca.key" -out "$pki/ca.crt" -days 3 -config "$pki/ca.cnf" \
		-extensions ext >"$pki/ca.openssl.log" 2>&1 ||
		xp_bail "cannot create the test CA: $(cat "$pki/ca.openssl.log")"
}

# xp_cert NAME DOMAIN [--xmppaddr] [--srvid] [--dns NAME]... [--no-dns]
#         [--self-signed]
# Make $XP_WORK/pki/NAME.crt and NAME.key: a leaf for DOMAIN signed by the
# test CA with subjectAltName DNS:DOMAIN; --xmppaddr and --srvid add the
# id-on-xmppAddr and SRV-ID (_xmpp-server.DOMAIN) otherNames, --dns adds more
# DNS names, --no-dns leaves DNS:DOMAIN out, --self-signed signs it itself.
xp_cert() {
	local name=$1 domain=$2 pki=$XP_WORK/pki xmppaddr=0 srvid=0 dns=1 self=0
	local extra_dns=() n=0 d
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--xmppaddr) xmppaddr=1 ;;
		--srvid) srvid=1 ;;
		--no-dns) dns=0 ;;
		--self-signed) self=1 ;;
		--dns)
			extra_dns+=("$2")
			shift
			;;
		*)
			echo "xp_cert: unknown option $1" >&2
			return 2
			;;
		esac
		shift
	done
	{
		printf '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n' "$domain"
		printf '[ext]\nbasicConstraints = critical,CA:FALSE\n'
		printf 'keyUsage = critical,digitalSignature,keyAgreement\n'
		printf 'extendedKeyUsage = serverAuth,clientAuth\nsubjectAltName = @alt\n[alt]\n'
		if [ "$dns" = 1 ]; then n=$((n + 1)); printf 'DNS.%d = %s\n' "$n" "$domain"; fi
		for d in "${extra_dns[@]}"; do n=$((n + 1)); printf 'DNS.%d = %s\n' "$n" "$d"; done
		n=0
		if [ "$xmppaddr" = 1 ]; then
			n=$((n + 1))
			printf 'otherName.%d = 1.3.6.1.5.5.7.8.5;UTF8:%s\n' "$n" "$domain"
		fi
		if [ "$srvid" = 1 ]; then
			n=$((n + 1))
			printf 'otherName.%d = 1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-server.%s\n' "$n" "$domain"
		fi
	} >"$pki/$name.cnf"
	if [ "$self" = 1 ]; then
		openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$pki/$name.key" -out "$pki/$name.crt" -days 3 \
			-config "$pki/$name.cnf" -extensions ext >"$pki/$name.log" 2>&1
	else
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$pki/$name.key" -out "$pki/$name.csr" -config "$pki/$name.cnf" \
			>"$pki/$name.log" 2>&1 &&
			openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
				-set_serial "0x$(openssl rand -hex 8)" -days 3 -extfile "$pki/$name.cnf" \
				-extensions ext -out "$pki/$name.crt" >>"$pki/$name.log" 2>&1
	fi || {
		echo "xp_cert: openssl failed for $name:" >&2
		cat "$pki/$name.log" >&2
		return 1
	}
}

# xp_cert_selfsigned NAME DOMAIN: a self-signed certificate for DOMAIN.
xp_cert_selfsigned() { xp_cert "$1" "$2" --self-signed; }

# xp_cert_wrong_domain NAME [WRONG]: a CA-signed certificate naming only
# WRONG (default wrong.test); give it to a host with --cert HOST=NAME.
xp_cert_wrong_domain() { xp_cert "$1" "${2:-wrong.test}"; }

# xp_cert_file NAME: print the certificate's path (NAME.key sits next to it).
xp_cert_file() { echo "$XP_WORK/pki/$1.crt"; }

# ---- Prosody -------------------------------------------------------------------------

xp__lua_str() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

# xp__lua_env: the env(1) argument giving Prosody our Lua C module path
# (with no XP_LUA_CPATH, as with XP_INSTALLED=1: one that unsets the variable).
xp__lua_env() {
	local var=LUA_CPATH_${XP_LUA_VER:-5_4}
	if [ -z "${XP_LUA_CPATH:-}" ]; then
		printf -- '--unset=%s' "$var"
	else
		printf '%s=%s;%s' "$var" "$XP_LUA_CPATH" "${!var:-;}"
	fi
}

xp__alive() {
	local pid=$1 stat
	[ -r "/proc/$pid/stat" ] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ] # a zombie is not alive
}

# xp__listening PID ADDR PORT: does PID own a TCP listener on ADDR:PORT?
xp__listening() {
	ss -Hltnp 2>/dev/null | awk -v a="$2:$3" -v p="pid=$1," \
		'$4 == a && index($0, p) { found = 1 } END { exit !found }'
}

# xp_start_prosody NAME ADDR DOMAIN... [--extra FILE] [--extra-lua TEXT]
#                  [--module MOD]... [--plugin-path DIR]...
#                  [--cert DOMAIN=CERTNAME]... [--s2s-cert DOMAIN=CERTNAME]...
#                  [--s2s-secure] [--no-hosts-entry] [--prosody PREFIX]
# Write $XP_WORK/srv/NAME/prosody.cfg.lua (c2s ADDR:5222, s2s ADDR:5269, own
# data dir, pidfile, admin socket and log, the test CA trusted, the test
# hosts file for DNS, the repository's lua/ dir as plugin path unless
# XP_INSTALLED=1), start
# `prosody --config FILE -F` and wait until its PID owns both listeners.
# Each DOMAIN becomes a VirtualHost with certificate pki/DOMAIN (made if
# missing) unless --cert names another (for c2s and s2s); --s2s-cert gives
# the host another certificate for s2s only (clients keep verifying theirs).  --module adds a global module,
# --plugin-path a plugin directory searched before $top_srcdir/lua;
# --extra/--extra-lua append Lua config at the end (global scope; open a
# section with VirtualHost "x" { ... } or Component); --s2s-secure sets
# s2s_secure_auth and s2s_require_encryption to true instead of false;
# --no-hosts-entry leaves the DOMAINs out of the test hosts file (map them
# elsewhere with xp_host first, or leave them unresolvable: other servers
# then reach them only through a proxy; clients need xp_client --host ADDR);
# --prosody PREFIX runs this server with PREFIX/usr/bin/prosody instead of
# $XP_PROSODY (PREFIX / is the system's), and xp_prosodyctl, xp_shell and
# xp_shell_cmd then use PREFIX/usr/bin/prosodyctl for it: mixed-version runs.
declare -gA XP_SRV_BIN=()     # server name -> its prosody, with --prosody
declare -gA XP_SRV_CTL=()     # server name -> its prosodyctl, with --prosody
xp_start_prosody() {
	local name=$1 addr=$2 dir cfg pid i d f ok=0 secure=0 hosts_entry=1 bin=$XP_PROSODY ctl=""
	local domains=() extras=() modules=() certs=() s2scerts=() plugin_paths=()
	local -A certof=() s2scertof=()
	local all_args
	all_args=$(printf '%q ' "$@")
	shift 2 || { echo "usage: xp_start_prosody NAME ADDR DOMAIN..." >&2; return 2; }
	while [ $# -gt 0 ]; do
		case $1 in
		--extra)
			[ -r "$2" ] || { echo "xp_start_prosody: cannot read $2" >&2; return 2; }
			extras+=("$(cat "$2")")
			shift 2
			;;
		--extra-lua) extras+=("$2"); shift 2 ;;
		--module) modules+=("$2"); shift 2 ;;
		--plugin-path) plugin_paths+=("$2"); shift 2 ;;
		--cert) certs+=("$2"); shift 2 ;;
		--s2s-cert) s2scerts+=("$2"); shift 2 ;;
		--s2s-secure) secure=1; shift ;;
		--no-hosts-entry) hosts_entry=0; shift ;;
		--prosody) bin=${2%/}/usr/bin/prosody; ctl=${2%/}/usr/bin/prosodyctl; shift 2 ;;
		--*) echo "xp_start_prosody: unknown option $1" >&2; return 2 ;;
		*) domains+=("$1"); shift ;;
		esac
	done
	case $name in '' | *[!A-Za-z0-9_-]*) echo "xp_start_prosody: bad name '$name'" >&2; return 2 ;; esac
	[ -n "${XP_SRV_PID[$name]:-}" ] && { echo "xp_start_prosody: $name already started" >&2; return 2; }
	[ "${#domains[@]}" -gt 0 ] || { echo "xp_start_prosody: no domain for $name" >&2; return 2; }
	case $addr in 127.0.0.*) echo "xp_start_prosody: refusing $addr (use this run's $XP_NET_PREFIX.X.Y)" >&2; return 2 ;; esac
	for i in "${certs[@]}"; do certof[${i%%=*}]=${i#*=}; done
	for i in "${s2scerts[@]}"; do s2scertof[${i%%=*}]=${i#*=}; done

	dir=$XP_WORK/srv/$name
	cfg=$dir/prosody.cfg.lua
	mkdir -p "$dir/data" "$dir/certs" || return 1
	if [ "${#dir}" -gt 90 ]; then
		echo "xp_start_prosody: $dir is too long for a unix socket path; set TMPDIR shorter" >&2
		return 2
	fi
	for d in "${domains[@]}"; do
		if [ "$hosts_entry" = 1 ]; then xp_host "$d" "$addr" || return 1; fi
		if [ -z "${certof[$d]:-}" ]; then
			certof[$d]=$d
			[ -f "$XP_WORK/pki/$d.crt" ] || xp_cert "$d" "$d" || return 1
		fi
		for f in "${certof[$d]}" "${s2scertof[$d]:-${certof[$d]}}"; do
			[ -f "$XP_WORK/pki/$f.crt" ] || {
				echo "xp_start_prosody: no certificate $f (make it with xp_cert)" >&2
				return 2
			}
		done
	done

	{
		echo "-- generated by tests/integration/lib.sh for server '$name'"
		echo "run_as_root = true"
		echo "daemonize = false"
		echo "pidfile = $(xp__lua_str "$dir/prosody.pid")"
		echo "data_path = $(xp__lua_str "$dir/data")"
		echo "admin_socket = $(xp__lua_str "$dir/admin.sock")"
		echo "certificates = $(xp__lua_str "$dir/certs")"
		echo "log = { { levels = { min = $(xp__lua_str "$XP_LOG_LEVEL") }, to = \"file\", filename = $(xp__lua_str "$dir/prosody.log") } }"
		echo "interfaces = { $(xp__lua_str "$addr") }"
		echo "local_interfaces = { $(xp__lua_str "$addr") }"
		echo "component_interfaces = { $(xp__lua_str "$addr") }"
		echo "c2s_ports = { 5222 }"
		echo "s2s_ports = { 5269 }"
		echo "c2s_direct_tls_ports = { }"
		echo "s2s_direct_tls_ports = { }"
		if [ "$XP_INSTALLED" != 1 ]; then plugin_paths+=("$top_srcdir/lua"); fi
		if [ "${#plugin_paths[@]}" -gt 0 ]; then
			printf 'plugin_paths = { '
			for i in "${plugin_paths[@]}"; do printf '%s; ' "$(xp__lua_str "$i")"; done
			echo "}"
		fi
		echo "unbound = { resolvconf = false; hoststxt = $(xp__lua_str "$XP_HOSTS"); forward = \"127.0.0.1\"; options = { [\"local-zone:\"] = \"test. static\" } }"
		echo "ssl = { cafile = $(xp__lua_str "$XP_CA") }"
		if [ "$secure" = 0 ]; then
			echo "s2s_secure_auth = false"
			echo "s2s_require_encryption = false"
		else
			echo "s2s_secure_auth = true"
			echo "s2s_require_encryption = true"
		fi
		echo "c2s_require_encryption = true"
		echo "allow_registration = false"
		echo "authentication = \"internal_hashed\""
		printf 'modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "admin_shell"'
		for i in "${modules[@]}"; do printf '; %s' "$(xp__lua_str "$i")"; done
		echo " }"
		for d in "${domains[@]}"; do
			f=$XP_WORK/pki/${certof[$d]}
			printf 'VirtualHost %s {\n\tssl = { certificate = %s; key = %s };\n' "$(xp__lua_str "$d")" \
				"$(xp__lua_str "$f.crt")" "$(xp__lua_str "$f.key")"
			if [ -n "${s2scertof[$d]:-}" ]; then
				f=$XP_WORK/pki/${s2scertof[$d]}
				printf '\ts2s_ssl = { certificate = %s; key = %s };\n' \
					"$(xp__lua_str "$f.crt")" "$(xp__lua_str "$f.key")"
			fi
			echo "}"
		done
		for i in "${extras[@]}"; do
			echo "-- extra"
			printf '%s\n' "$i"
		done
	} >"$cfg"

	# env(1) execs prosody, which execs lua: $! is the server's PID.
	env "$(xp__lua_env)" "$bin" --config "$cfg" -F </dev/null >"$dir/console.log" 2>&1 &
	pid=$!
	XP_SRV_BIN[$name]=$bin
	XP_SRV_CTL[$name]=${ctl:-$XP_PROSODYCTL}
	XP_SRV_PID[$name]=$pid
	XP_SRV_ARGS[$name]=$all_args
	XP_SRV_DIR[$name]=$dir
	XP_SRV_ADDR[$name]=$addr
	case " ${XP_SRV_NAMES[*]} " in *" $name "*) ;; *) XP_SRV_NAMES+=("$name") ;; esac

	for i in $(seq 1 $((XP_START_TIMEOUT * 20))); do
		if ! xp__alive "$pid"; then break; fi
		if xp__listening "$pid" "$addr" 5222 && xp__listening "$pid" "$addr" 5269; then
			ok=1
			break
		fi
		sleep 0.05
	done
	if [ "$ok" != 1 ]; then
		if xp__alive "$pid"; then
			tap_diag "prosody '$name' (PID $pid) does not own $addr:5222 and $addr:5269 after ${XP_START_TIMEOUT}s; listeners there:"
			tap_diag "$(ss -Hltnp 2>/dev/null | grep -F "$addr:" || echo none)"
		else
			tap_diag "prosody '$name' (PID $pid) exited during start-up"
		fi
		return 1
	fi
	return 0
}

# xp_server_pid NAME / xp_server_addr NAME / xp_server_dir NAME /
# xp_server_log NAME / xp_server_cfg NAME: facts about a started server.
xp_server_pid() { echo "${XP_SRV_PID[$1]:-}"; }
xp_server_addr() { echo "${XP_SRV_ADDR[$1]:-}"; }
xp_server_dir() { echo "${XP_SRV_DIR[$1]:-}"; }
xp_server_log() { echo "${XP_SRV_DIR[$1]:-}/prosody.log"; }
xp_server_cfg() { echo "${XP_SRV_DIR[$1]:-}/prosody.cfg.lua"; }
# xp_server_version NAME: the Prosody version server NAME runs ("13.0.1").
xp_server_version() { xp_prosody_version "${XP_SRV_CTL[$1]:-$XP_PROSODYCTL}"; }

# xp_prosodyctl NAME ARGS...: prosodyctl against server NAME's config, e.g.
# `xp_prosodyctl a shell "xmpp:ping('a.test','b.test')"`.
xp_prosodyctl() {
	local name=$1
	shift
	[ -n "${XP_SRV_DIR[$name]:-}" ] || { echo "xp_prosodyctl: no server $name" >&2; return 2; }
	env "$(xp__lua_env)" "${XP_SRV_CTL[$name]:-$XP_PROSODYCTL}" --config "${XP_SRV_DIR[$name]}/prosody.cfg.lua" "$@" </dev/null
}

# xp_shell NAME COMMAND: run one `prosodyctl shell` COMMAND against server
# NAME (e.g. "> return 1 + 1" for Lua in the server), bounded by
# 2 * XP_CLIENT_TIMEOUT seconds (exit 124 on timeout).
xp_shell() {
	[ -n "${XP_SRV_DIR[$1]:-}" ] || { echo "xp_shell: no server $1" >&2; return 2; }
	timeout "$((2 * ${XP_CLIENT_TIMEOUT%.*}))" env "$(xp__lua_env)" "${XP_SRV_CTL[$1]:-$XP_PROSODYCTL}" \
		--config "${XP_SRV_DIR[$1]}/prosody.cfg.lua" shell "$2" </dev/null
}

# xp_shell_cmd NAME WORD...: run `prosodyctl shell WORD...` against server
# NAME, e.g. `xp_shell_cmd a partners set b.test tls optional` (prosodyctl
# turns it into partners:set("b.test", "tls", "optional")); stdout gets the
# output, stderr the errors, the exit status is the number of errors
# (124 on timeout, bounded like xp_shell).
xp_shell_cmd() {
	local name=$1
	shift
	[ -n "${XP_SRV_DIR[$name]:-}" ] || { echo "xp_shell_cmd: no server $name" >&2; return 2; }
	timeout "$((2 * ${XP_CLIENT_TIMEOUT%.*}))" env "$(xp__lua_env)" "${XP_SRV_CTL[$name]:-$XP_PROSODYCTL}" \
		--config "${XP_SRV_DIR[$name]}/prosody.cfg.lua" shell "$@" </dev/null
}

# xp_restart NAME: stop server NAME (xp_stop) and start it again with the
# arguments of its last xp_start_prosody: same config (rewritten the same
# way) and the same data directory, so stored data survives.
xp_restart() {
	local name=$1 args
	args=${XP_SRV_ARGS[$name]:-}
	[ -n "$args" ] || { echo "xp_restart: server $name was never started" >&2; return 2; }
	xp_stop "$name"
	eval "xp_start_prosody $args"
}

# xp_reload NAME: make server NAME re-read its config (SIGHUP to its PID);
# waits (bounded) for "Reloading configuration file" in its log.
xp_reload() {
	local pid=${XP_SRV_PID[$1]:-} log n
	[ -n "$pid" ] || { echo "xp_reload: server $1 is not running" >&2; return 2; }
	log=${XP_SRV_DIR[$1]}/prosody.log
	n=$(grep -c 'Reloading configuration file' "$log" 2>/dev/null)
	kill -HUP "$pid" || return 1
	xp_wait_log "$1" 'Reloading configuration file' "$XP_START_TIMEOUT" "$((n + 1))"
}

# xp_wait_log NAME REGEX [SECONDS [COUNT]]: wait (default XP_CLIENT_TIMEOUT
# seconds) until server NAME's log has COUNT (default 1) lines matching the
# extended REGEX; returns 1 on timeout.
xp_wait_log() {
	local log=${XP_SRV_DIR[$1]:-}/prosody.log re=$2 secs=${3:-$XP_CLIENT_TIMEOUT} count=${4:-1}
	local i
	for i in $(seq 0 $((secs * 20))); do
		[ "$(grep -cE -- "$re" "$log" 2>/dev/null)" -ge "$count" ] && return 0
		[ "$i" -lt $((secs * 20)) ] && sleep 0.05
	done
	return 1
}

# xp_log_mark NAME: remember how long server NAME's log is now; xp_log_new
# and xp_wait_new_log then look only at the lines written after the mark.
declare -gA XP_LOG_MARK=()
xp_log_mark() {
	local log=${XP_SRV_DIR[$1]:-}/prosody.log n=0
	[ -f "$log" ] && n=$(wc -l <"$log")
	XP_LOG_MARK[$1]=$n
}

# xp_log_new NAME: print server NAME's log lines written since xp_log_mark
# (the whole log without a mark).
xp_log_new() {
	local log=${XP_SRV_DIR[$1]:-}/prosody.log
	[ -f "$log" ] || return 0
	tail -n "+$((${XP_LOG_MARK[$1]:-0} + 1))" "$log"
}

# xp_log_count NAME REGEX: how many lines since the mark match the extended
# REGEX.
xp_log_count() {
	xp_log_new "$1" | grep -cE -- "$2"
}

# xp_wait_new_log NAME REGEX [SECONDS [COUNT]]: like xp_wait_log, counting
# only the lines written since xp_log_mark NAME.
xp_wait_new_log() {
	local re=$2 secs=${3:-$XP_CLIENT_TIMEOUT} count=${4:-1} i
	for i in $(seq 0 $((secs * 20))); do
		[ "$(xp_log_count "$1" "$re")" -ge "$count" ] && return 0
		[ "$i" -lt $((secs * 20)) ] && sleep 0.05
	done
	return 1
}

# xp_register NAME JID [PASSWORD]: create the account on server NAME (the
# password, default $XP_PASSWORD, is remembered for xp_client).
xp_register() {
	local name=$1 jid=$2 pw=${3:-$XP_PASSWORD}
	xp_prosodyctl "$name" register "${jid%@*}" "${jid#*@}" "$pw" || return 1
	XP_PW[$jid]=$pw
}

# xp_stop NAME: stop server NAME by its PID (TERM, bounded wait, then KILL).
xp_stop() {
	local pid=${XP_SRV_PID[$1]:-}
	[ -n "$pid" ] || return 0
	xp__stop_pids "$pid"
	unset "XP_SRV_PID[$1]"
}

# xp__stop_pids PID...: TERM them all, wait up to XP_STOP_TIMEOUT seconds for
# all, KILL the ones left, reap them (they are our children).
xp__stop_pids() {
	local pid i left
	for pid in "$@"; do
		if xp__alive "$pid"; then kill -TERM "$pid" 2>/dev/null; fi
	done
	for i in $(seq 1 $((XP_STOP_TIMEOUT * 20))); do
		left=0
		for pid in "$@"; do
			if xp__alive "$pid"; then left=1; break; fi
		done
		[ "$left" = 1 ] || break
		sleep 0.05
	done
	for pid in "$@"; do
		if xp__alive "$pid"; then
			echo "# PID $pid ignored SIGTERM for ${XP_STOP_TIMEOUT}s: SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null
			for i in $(seq 1 40); do
				xp__alive "$pid" || break
				sleep 0.05
			done
		fi
		wait "$pid" 2>/dev/null # reap
	done
	return 0
}

# xp_stop_all: stop every server and background client of this run, all at
# once (the EXIT trap calls it).
xp_stop_all() {
	local name pids=()
	for name in "${!XP_CLI_PID[@]}"; do pids+=("${XP_CLI_PID[$name]}"); done
	for name in "${!XP_SRV_PID[@]}"; do pids+=("${XP_SRV_PID[$name]}"); done
	[ "${#pids[@]}" -gt 0 ] && xp__stop_pids "${pids[@]}"
	XP_CLI_PID=()
	XP_SRV_PID=()
	return 0
}

# tap_stop_all: stop every server and client of this run (xp_stop_all) and
# report two test cases: their PIDs are gone, and nothing listens on this
# run's addresses any more.  Scripts call it last, before tap_done.
tap_stop_all() {
	local pids=() pid name alive="" left
	for name in "${!XP_SRV_PID[@]}"; do pids+=("${XP_SRV_PID[$name]}"); done
	for name in "${!XP_CLI_PID[@]}"; do pids+=("${XP_CLI_PID[$name]}"); done
	xp_stop_all
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then alive="$alive $pid"; fi
	done
	tap_is "${alive:-none}" none "no process left behind (stopped ${#pids[@]}: ${pids[*]})"
	left=$(ss -Hltn 2>/dev/null | awk -v net="$XP_NET." 'index($4, net) == 1' | wc -l)
	tap_is "$left" 0 "no listener left on $XP_NET.*"
}

# xp_s2s_connections: how many established TCP connections of this run
# involve port 5269 on one of its addresses (both ends of a connection
# between two of its servers count).
xp_s2s_connections() {
	ss -Htn state established 2>/dev/null | awk -v net="$XP_NET." '
		{ for (i = 1; i <= NF; i++) if (index($i, net) == 1 && $i ~ /:5269$/) { n++; break } }
		END { print n + 0 }'
}

# xp_wait_no_s2s [SECONDS]: wait (default 5 s) until xp_s2s_connections is 0.
xp_wait_no_s2s() {
	local i secs=${1:-5}
	for i in $(seq 0 $((secs * 20))); do
		[ "$(xp_s2s_connections)" -eq 0 ] && return 0
		[ "$i" -lt $((secs * 20)) ] && sleep 0.05
	done
	return 1
}

# xp_reload_partners NAME: reload server NAME (xp_reload) and wait, bounded,
# until mod_xmpp_partners has judged the new partner table: returns 0 when
# it logged "Partner policy reloaded", 1 when it kept the old table because
# the new one has errors or cannot be read (or on timeout).
xp_reload_partners() {
	local name=$1 log ok bad i
	local bad_re='partner table has errors|keeping the previous partner policy in force|all federation is refused until'
	log=${XP_SRV_DIR[$name]:-}/prosody.log
	ok=$(grep -c 'Partner policy reloaded' "$log" 2>/dev/null)
	bad=$(grep -cE "$bad_re" "$log" 2>/dev/null)
	xp_reload "$name" || return 1
	for i in $(seq 1 $((XP_START_TIMEOUT * 20))); do
		[ "$(grep -c 'Partner policy reloaded' "$log")" -gt "$ok" ] && return 0
		[ "$(grep -cE "$bad_re" "$log")" -gt "$bad" ] && return 1
		sleep 0.05
	done
	return 1
}

# ---- clients ---------------------------------------------------------------------

# xp_client [XPCLIENT OPTIONS] JID COMMAND...: run xpclient as JID in the
# foreground: connects to the address of JID's domain, trusts the test CA,
# uses the password given to xp_register; stdout gets its event lines; the
# exit status is xpclient's (0 met, 1 unmet, 2 usage/connection error).
xp_client() {
	local opts=() jid domain addr have_host=0 have_pw=0 have_timeout=0
	while [ $# -gt 0 ]; do
		case $1 in
		--insecure | --plain | --no-presence | --no-roster | --verbose) opts+=("$1"); shift ;;
		--host) have_host=1; opts+=("$1" "$2"); shift 2 ;;
		--password) have_pw=1; opts+=("$1" "$2"); shift 2 ;;
		--timeout) have_timeout=1; opts+=("$1" "$2"); shift 2 ;;
		--*) opts+=("$1" "$2"); shift 2 ;;
		*) break ;;
		esac
	done
	jid=$1
	shift
	domain=${jid#*@}
	if [ "$have_host" = 0 ]; then
		addr=$(xp_addr "$domain") || return 2
		opts+=(--host "$addr")
	fi
	if [ "$have_pw" = 0 ]; then opts+=(--password "${XP_PW[$jid]:-$XP_PASSWORD}"); fi
	if [ "$have_timeout" = 0 ]; then opts+=(--timeout "$XP_CLIENT_TIMEOUT"); fi
	"$XP_CLIENT" --jid "$jid" --cafile "$XP_CA" "${opts[@]}" "$@" </dev/null
}

# xp_client_bg NAME [XPCLIENT OPTIONS] JID COMMAND...: run xp_client in the
# background; output in $(xp_client_out NAME).  Then xp_client_ready NAME.
xp_client_bg() {
	local name=$1
	shift
	case $name in '' | *[!A-Za-z0-9_-]*) echo "xp_client_bg: bad name '$name'" >&2; return 2 ;; esac
	: >"$XP_WORK/clients/$name.out"
	xp_client "$@" >"$XP_WORK/clients/$name.out" 2>"$XP_WORK/clients/$name.err" &
	XP_CLI_PID[$name]=$!
}

# xp_client_out NAME: path of a background client's stdout (stderr: .err).
xp_client_out() { echo "$XP_WORK/clients/$1.out"; }

# xp_client_ready NAME [SECONDS]: wait until client NAME printed "ready"
# (logged in and available); fails if it exits first or time runs out.
xp_client_ready() {
	local name=$1 secs=${2:-$XP_CLIENT_TIMEOUT} pid i
	pid=${XP_CLI_PID[$name]:-}
	[ -n "$pid" ] || return 2
	for i in $(seq 1 $((secs * 50))); do
		grep -q '^ready ' "$XP_WORK/clients/$name.out" 2>/dev/null && return 0
		xp__alive "$pid" || break
		sleep 0.02
	done
	grep -q '^ready ' "$XP_WORK/clients/$name.out" 2>/dev/null
}

# xp_client_wait NAME [SECONDS]: wait for background client NAME to exit and
# return its exit status (after SECONDS, default 3 * XP_CLIENT_TIMEOUT, it
# is killed and 124 returned).
xp_client_wait() {
	local name=$1 secs=${2:-$((3 * XP_CLIENT_TIMEOUT))} pid i rc
	pid=${XP_CLI_PID[$name]:-}
	[ -n "$pid" ] || return 2
	for i in $(seq 1 $((secs * 20))); do
		xp__alive "$pid" || break
		sleep 0.05
	done
	if xp__alive "$pid"; then
		xp__stop_pids "$pid"
		rc=124
	else
		wait "$pid"
		rc=$?
	fi
	unset "XP_CLI_PID[$name]"
	return "$rc"
}

# xp_client_report NAME: a background client's output and errors, for tap_fail.
xp_client_report() {
	echo "---- client $1 stdout:"
	cat "$XP_WORK/clients/$1.out" 2>/dev/null
	echo "---- client $1 stderr:"
	cat "$XP_WORK/clients/$1.err" 2>/dev/null
}

# xp_delivered NAME FROM TO BODY: one TAP case.  A receiver logs in as TO
# (background client "recv"), FROM sends BODY, and the case passes when
# both clients succeed and TO saw a chat message with BODY from FROM.
xp_delivered() {
	local name=$1 from=$2 to=$3 body=$4 out rc_send rc_recv
	xp_client_bg recv "$to" expect-message "$from" "$body"
	if ! xp_client_ready recv; then
		tap_fail "$name" "receiver $to did not log in
$(xp_client_report recv)"
		xp_client_wait recv 1
		return
	fi
	out=$(xp_client "$from" send "$to" "$body" 2>&1)
	rc_send=$?
	xp_client_wait recv
	rc_recv=$?
	if [ "$rc_send" -eq 0 ] && [ "$rc_recv" -eq 0 ] &&
		grep -q "^message from=$from/[^ ]* type=chat body=$body\$" "$(xp_client_out recv)"; then
		tap_ok "$name"
	else
		tap_fail "$name" "sender exit $rc_send, receiver exit $rc_recv
---- sender output:
$out
$(xp_client_report recv)"
	fi
}

# ---- hostile peers (tests/hostile/xphostile) ---------------------------------------

XP_HOSTILE=${XP_HOSTILE:-$top_builddir/tests/hostile/xphostile}

# xp_hostile_init: skip (or, with XP_REQUIRE=1, fail) when xphostile is not
# built; call it after xp_init.
xp_hostile_init() {
	[ -x "$XP_HOSTILE" ] && return 0
	# configure leaves xphostile out without libssl: say so, not "build it"
	if [ "${XP_HAVE_LIBSSL:-}" = no ]; then
		xp__missing "xphostile not built: configure found no OpenSSL libssl >= 1.1.1 (Debian: apt-get install libssl-dev, then configure again)"
	else
		xp__missing "xphostile not built ($XP_HOSTILE; make check builds it)"
	fi
}

# xp_hostile ADDR STEP...: run the raw s2s peer against ADDR:5269, bounded
# (--timeout 5 per step, --deadline 40 in all, unless XP_HOSTILE_OPTS says
# otherwise); stdout gets its outcome lines, the exit status is its own.
xp_hostile() {
	local addr=$1
	shift
	# shellcheck disable=SC2086
	timeout 60 "$XP_HOSTILE" --connect "$addr" ${XP_HOSTILE_OPTS:---timeout 5 --deadline 40} "$@" </dev/null
}

# xp_cert_expired NAME DOMAIN: like xp_cert NAME DOMAIN, signed by the test
# CA, but valid only in January 2020 (openssl ca sets the dates).
xp_cert_expired() {
	local name=$1 domain=$2 pki=$XP_WORK/pki dir
	dir=$pki/ca-db
	mkdir -p "$dir/new"
	: >"$dir/index.txt"
	openssl rand -hex 8 >"$dir/serial"
	printf '[ca]\ndefault_ca = xp\n[xp]\ndatabase = %s\nnew_certs_dir = %s\nserial = %s\ndefault_md = sha256\npolicy = pol\nunique_subject = no\n[pol]\ncommonName = supplied\n' \
		"$dir/index.txt" "$dir/new" "$dir/serial" >"$dir/ca.cnf"
	printf '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n[ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyAgreement\nextendedKeyUsage = serverAuth,clientAuth\nsubjectAltName = DNS:%s\n' \
		"$domain" "$domain" >"$pki/$name.cnf"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$pki/$name.key" -out "$pki/$name.csr" -config "$pki/$name.cnf" \
		>"$pki/$name.log" 2>&1 &&
		openssl ca -batch -notext -config "$dir/ca.cnf" -cert "$pki/ca.crt" -keyfile "$pki/ca.key" \
			-startdate 20200101000000Z -enddate 20200131000000Z -extfile "$pki/$name.cnf" \
			-extensions ext -in "$pki/$name.csr" -out "$pki/$name.crt" >>"$pki/$name.log" 2>&1 || {
		echo "xp_cert_expired: openssl failed for $name:" >&2
		cat "$pki/$name.log" >&2
		return 1
	}
}

# xp_cert_pin NAME: print the sha256:HEX pin (SPKI SHA-256) of certificate
# NAME's key, the form of a partner's `fingerprints`.
xp_cert_pin() {
	local hex
	hex=$(openssl x509 -in "$XP_WORK/pki/$1.crt" -noout -pubkey |
		openssl pkey -pubin -outform DER | openssl dgst -sha256 -r) || return 1
	echo "sha256:${hex%% *}"
}

# xp_hostile_bg NAME ADDR STEP...: xp_hostile in the background, stopped by
# PID at exit like the clients; output in $(xp_client_out NAME); wait for it
# with xp_client_wait NAME.
xp_hostile_bg() {
	local name=$1 addr=$2
	shift 2
	case $name in '' | *[!A-Za-z0-9_-]*) echo "xp_hostile_bg: bad name '$name'" >&2; return 2 ;; esac
	# shellcheck disable=SC2086
	timeout 60 "$XP_HOSTILE" --connect "$addr" ${XP_HOSTILE_OPTS:---timeout 5 --deadline 40} "$@" \
		</dev/null >"$XP_WORK/clients/$name.out" 2>"$XP_WORK/clients/$name.err" &
	XP_CLI_PID[$name]=$!
}

# xp_shell_text NAME ARGS...: what a `prosodyctl shell` command printed,
# without the shell's own closing "OK: ..." line (host framing), for
# comparing a command's text with other hosts'.  Returns the shell's status.
xp_shell_text() {
	local out rc
	out=$(xp_shell_cmd "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed '${/^OK: /d}'
	return "$rc"
}
