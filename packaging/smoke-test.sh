#!/usr/bin/env bash
# packaging/smoke-test.sh: install the built xmpp-partners-prosody package
# into this machine's Prosody and check that the installed files work.
#
#   bash packaging/smoke-test.sh [--no-install] [--remove] [--keep]
#                                [--prosody PREFIX] [DEB | DIR]
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
# --prosody PREFIX runs both servers with the Prosody unpacked in PREFIX
# (Prosody 13 from scripts/unpack-prosody.sh, e.g. build/prosody13) as if it
# were the installed one: launchers of the test's own (copies of PREFIX's,
# nothing in PREFIX changes) search first a plugin folder whose only entry
# links to the package's /usr/lib/prosody/modules/mod_xmpp_partners, as
# Debian's Prosody 13 would find it there; still no plugin_paths and no
# LUA_CPATH.  Every test name says which Prosody ran.
# Servers, clients, certificates, TAP and the clean-up by PID are those of
# the integration tests, tests/integration/lib.sh, in its installed-files-
# only mode (XP_INSTALLED=1), so the script runs from a source tree (as
# scripts/test.sh runs it); it needs nothing built there but xpclient.
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
prosody_prefix=""
while [ $# -gt 0 ]; do
	case $1 in
	--no-install) install=0; shift ;;
	--remove) remove=1; shift ;;
	--keep) keep=1; shift ;;
	--prosody)
		[ $# -ge 2 ] || { echo "smoke-test.sh: --prosody needs a PREFIX" >&2; exit 2; }
		prosody_prefix=$2
		shift 2
		;;
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

# The integration harness in its installed-files-only mode: no plugin_paths,
# no LUA_PATH / LUA_CPATH (it unsets the caller's), nothing of the build
# tree; servers, clients, certificates, TAP and clean-up by PID are its own.
# shellcheck disable=SC2034 # all read by lib.sh
{
	XP_INSTALLED=1
	XP_NET_PREFIX=127.73
	XP_REQUIRE=1 # a missing prerequisite is a failure here, never a skip
	XP_KEEP=$keep
	XP_PASSWORD=smoke-secret
	XP_START_TIMEOUT=$TIMEOUT
	XP_CLIENT_TIMEOUT=$TIMEOUT
	XP_LOG_LINES=15
	top_srcdir=$srcdir
	top_builddir=$srcdir
}
case $prosody_prefix in
"" | /) prosody_prefix="" ;;
/*) XP_PROSODY_PREFIX=$prosody_prefix ;;
*) prosody_prefix=$(pwd)/$prosody_prefix; XP_PROSODY_PREFIX=$prosody_prefix ;;
esac
smoke_client=${XP_CLIENT:-}
. "$srcdir/tests/integration/lib.sh"

SYSTEM_PID_BEFORE=""

system_prosody_pid() {
	local f pid
	for f in /run/prosody/prosody.pid /var/run/prosody/prosody.pid; do
		if [ -s "$f" ]; then
			pid=$(cat "$f" 2>/dev/null)
			if [ -n "$pid" ] && xp__alive "$pid"; then echo "$pid"; return 0; fi
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
	tap_diag "stopping the system prosody (PID $pid) that the installation started"
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do xp__alive "$pid" || return 0; sleep 0.05; done
	kill -KILL "$pid" 2>/dev/null
}

# At exit (lib.sh's EXIT trap runs these after stopping our servers and
# clients): the system prosody the installation started, then --remove.
# shellcheck disable=SC2317 # called at exit
at_exit() {
	stop_new_system_prosody >/dev/null
	if [ "$remove" = 1 ] && dpkg-query -W "$PKG" >/dev/null 2>&1; then
		echo "# --remove: dpkg -r $PKG"
		dpkg -r "$PKG" >/dev/null 2>&1 || echo "# dpkg -r $PKG failed" >&2
	fi
}
xp_at_exit at_exit
# Until xp_init installs lib.sh's traps (its checks may bail out first).
trap at_exit EXIT

# ---- prerequisites -----------------------------------------------------------------
tap_plan 13

[ "$(id -u)" = 0 ] || xp_bail "run as root (dpkg -i; Prosody runs with run_as_root)"
# prosody, prosodyctl, lua-unbound for Prosody's Lua (else Prosody would not
# read the test hosts file), openssl, ss; then the work directory, the
# exit traps, this run's 127.73.X.0/24 and the test CA.
xp_init
PLUA=$(xp__prosody_lua)

# --prosody PREFIX: that Prosody as if installed (see above).  lib.sh has
# checked PREFIX's launchers and version; the servers run our copies.
if [ -n "$prosody_prefix" ]; then
	view=$XP_WORK/prosody-view
	mkdir -p "$view/plugins" || xp_bail "cannot create $view"
	ln -s "$MOD_DIR" "$view/plugins/mod_xmpp_partners"
	for f in prosody prosodyctl; do
		if ! sed "s|^CFG_PLUGINDIR=.*|CFG_PLUGINDIR='$view/plugins/;$prosody_prefix/usr/lib/prosody/modules/';|" \
			"$prosody_prefix/usr/bin/$f" >"$view/$f" || ! chmod 0755 "$view/$f"; then
			xp_bail "cannot make $view/$f"
		fi
		grep -q "^CFG_PLUGINDIR='$view/plugins/;" "$view/$f" || xp_bail "$prosody_prefix/usr/bin/$f has no CFG_PLUGINDIR line"
	done
	XP_PROSODY=$view/prosody
	XP_PROSODYCTL=$view/prosodyctl
fi

# xpclient (lib.sh's default would be one in the source tree, built or not)
XP_CLIENT=$smoke_client
if [ -z "$XP_CLIENT" ]; then
	for c in "$srcdir/build/tests/clients/xpclient" "$srcdir/tests/clients/xpclient"; do
		if [ -x "$c" ]; then XP_CLIENT=$c; break; fi
	done
fi
if [ -z "$XP_CLIENT" ]; then
	[ -f "$srcdir/tests/clients/xpclient.c" ] || xp_bail "no xpclient and no tests/clients/xpclient.c to build it from (set XP_CLIENT)"
	pkg-config --exists libstrophe 2>/dev/null || xp_bail "libstrophe-dev is needed to build xpclient (apt-get install libstrophe-dev)"
	# shellcheck disable=SC2046
	cc -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -o "$XP_WORK/xpclient" "$srcdir/tests/clients/xpclient.c" \
		$(pkg-config --cflags --libs libstrophe) >"$XP_WORK/xpclient.build.log" 2>&1 ||
		xp_bail "building xpclient failed: $(cat "$XP_WORK/xpclient.build.log")"
	XP_CLIENT=$XP_WORK/xpclient
fi
tap_diag "xpclient: $XP_CLIENT"

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
		[ -n "$newest" ] || xp_bail "no ${PKG}_*.deb in $deb (build it with packaging/build-deb.sh)"
		deb=$newest
	fi
	[ -f "$deb" ] || xp_bail "$deb: no such file"
	tap_diag "installing $deb"
	out=$( {
		DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" ||
			DEBIAN_FRONTEND=noninteractive apt-get -f install -y -q --no-install-recommends
	} 2>&1)
	rc=$?
	stop_new_system_prosody
	status=$(dpkg-query -W -f='${Status} ${Version}' "$PKG" 2>/dev/null)
	if [ "$rc" -eq 0 ] && [ "${status% *}" = "install ok installed" ]; then
		tap_ok "dpkg -i $(basename "$deb"): $PKG ${status##* } installed"
	else
		tap_fail "dpkg -i $(basename "$deb")" "exit $rc, status '$status'
$(tail -n 20 <<<"$out")"
		xp_bail "the package is not installed"
	fi
else
	status=$(dpkg-query -W -f='${Status} ${Version}' "$PKG" 2>/dev/null)
	if [ "${status% *}" = "install ok installed" ]; then
		tap_ok "$PKG ${status##* } is installed (--no-install)"
	else
		tap_fail "$PKG is installed (--no-install)" "status: '${status:-not installed}'"
		xp_bail "the package is not installed"
	fi
fi

# ---- 2. the files are where Debian's Prosody and Lua look --------------------------
files=$(dpkg -L "$PKG" 2>/dev/null)
missing=""
for f in "$CORE_SO" "$MOD_LUA" "$MOD_DIR/xmpp_partners_contact.lib.lua" "$MOD_DIR/xmpp_partners_sources.lib.lua" "$MOD_DIR/xmpp_partners_proxy.lib.lua" "$MOD_DIR/xmpp_partners_keepalive.lib.lua" "$MOD_DIR/xmpp_partners_runtime.lib.lua" "$MOD_DIR/xmpp_partners_admin.lib.lua" "$MOD_DIR/xmpp_partners_shell.lib.lua" "$MOD_DIR/xmpp_partners_adhoc.lib.lua" "$MOD_DIR/xmpp_partners_compat.lib.lua" "$MOD_DIR/xmpp_partners_pending.lib.lua" "$MOD_DIR/xmpp_partners_backoff.lib.lua" "$MOD_DIR/xmpp_partners_status.lib.lua"; do
	grep -qxF "$f" <<<"$files" && [ -f "$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then
	tap_ok "$PKG ships $CORE_SO and $MOD_DIR/{mod_xmpp_partners.lua,xmpp_partners_{contact,admin}.lib.lua}"
else
	tap_fail "$PKG ships the C module and the Prosody module" "missing or not owned by $PKG:$missing"
fi

found=$("$PLUA" -e 'assert(require "xmpp_partners.core")
	io.write(package.searchpath("xmpp_partners.core", package.cpath) or "?")' 2>&1)
if [ "$found" = "$CORE_SO" ]; then
	tap_ok "$PLUA (Prosody's Lua) loads xmpp_partners.core from its default cpath: $found"
else
	tap_fail "$PLUA loads xmpp_partners.core from its default cpath" "got: $found"
fi

# ---- 3. two Prosody servers of our own ------------------------------------------------
# A server listening on every address (the system prosody, say) would take
# our ports.
if ss -Hltn 2>/dev/null | awk '{print $4}' | grep -qE '^(\*|0\.0\.0\.0|\[::\]):(5222|5269)$'; then
	xp_bail "something listens on 5222/5269 on all addresses (a system prosody or ejabberd?): $(ss -Hltnp | grep -E ':(5222|5269) ' | head -n 3)"
fi
# Every domain in the hosts file before the first server starts: a.test on
# $XP_NET.1, b.test and c.test on $XP_NET.2.  One certificate per domain
# from the test CA (EC P-256, 3 days; DNS name and xmppAddr).
xp_host a.test
xp_host b.test
xp_host c.test "$(xp_addr b.test)"
ADDR_A=$(xp_addr a.test)
ADDR_B=$(xp_addr b.test)
for d in a.test b.test c.test; do
	xp_cert "$d" "$d" --xmppaddr || xp_bail "cannot make the certificate of $d"
done

# Server a enables the module in one line of modules_enabled (--module);
# server b does not run it.  No plugin_paths (XP_INSTALLED=1).
if xp_start_prosody a "$ADDR_A" a.test --module xmpp_partners --extra-lua 'xmpp_partners = {
	["b.test"] = { type = "federated"; description = "the partner of the smoke test" };
}
xmpp_partners_default = "deny"' && xp_start_prosody b "$ADDR_B" b.test c.test; then
	tap_ok "two Prosody servers of our own started: a.test on $ADDR_A (mod_xmpp_partners), b.test + c.test on $ADDR_B"
else
	tap_fail "two Prosody servers started"
	xp_bail "cannot start the servers"
fi

if reg_out=$(xp_register a alice@a.test 2>&1 && xp_register b bob@b.test 2>&1 &&
	xp_register b carl@c.test 2>&1); then
	tap_ok "accounts alice@a.test, bob@b.test, carl@c.test"
else
	tap_fail "accounts created" "$reg_out"
	xp_bail "no accounts"
fi

# The module and the core that server A loaded are the installed ones.
modpath=$(xp_shell a '> return require"core.modulemanager".get_module("*", "xmpp_partners").module.path' 2>&1)
maps=$(grep -o '/[^ ]*xmpp_partners[^ ]*\.so' "/proc/$(xp_server_pid a)/maps" 2>/dev/null | sort -u)
# (through --prosody's plugin folder, a link: compare where it leads)
modreal=$(grep -o '/[^ ]*mod_xmpp_partners\.lua' <<<"$modpath" | head -n 1)
modreal=$(readlink -f "${modreal:-/nonexistent}")
if [ "$modreal" = "$MOD_LUA" ] && [ "$maps" = "$CORE_SO" ] &&
	! grep -qE '^[[:space:]]*plugin_paths' "$(xp_server_cfg a)"; then
	tap_ok "server a runs $MOD_LUA with $CORE_SO (no plugin_paths, no LUA_CPATH)"
else
	tap_fail "server a runs the installed module and core" "module path: $modpath
mapped core: ${maps:-none}"
fi

# The module's own word that it loaded the table (its log line
# "Partner policy <why>: N partners, unlisted domains refused"), no error.
loaded=$(grep -E 'Partner policy [a-z ]+: 1 partners?, unlisted domains refused' "$(xp_server_log a)")
errors=$(grep -E '^[^	]*mod_xmpp_partners[^	]*	error	|xmpp_partners.*	error	' "$(xp_server_log a)")
if [ -n "$loaded" ] && [ -z "$errors" ]; then
	tap_ok "mod_xmpp_partners loaded the partner table (1 partner, unlisted domains refused), no error logged"
else
	tap_fail "mod_xmpp_partners loaded the partner table" "load line: ${loaded:-none}
errors: ${errors:-none}"
fi

# ---- 4. partner and non-partner traffic -----------------------------------------------
# refused NAME FROM TO BODY REGEX: FROM's message bounces back to FROM with
# an error, TO never gets it, and server A logs a line matching REGEX.
refused() {
	local name=$1 from=$2 to=$3 body=$4 re=$5 out rc rc_recv
	xp_client_bg recv "$to" expect-silence "${from%%/*}" 3
	if ! xp_client_ready recv; then
		xp_client_wait recv
		tap_fail "$name" "receiver $to did not log in
$(xp_client_report recv)"
		return
	fi
	out=$(xp_client "$from" send "$to" "$body" expect-error-from "$to" '*' 2>&1)
	rc=$?
	xp_client_wait recv
	rc_recv=$?
	if [ "$rc" -eq 0 ] && [ "$rc_recv" -eq 0 ] && grep -qE -- "$re" "$(xp_server_log a)"; then
		tap_ok "$name"
	else
		tap_fail "$name" "sender exit $rc (0 = the message bounced), receiver exit $rc_recv (0 = got nothing), refusal logged by a: $(grep -cE -- "$re" "$(xp_server_log a)")
---- sender:
$out
$(xp_client_report recv)"
	fi
}

xp_delivered "partner: bob@b.test -> alice@a.test is delivered" bob@b.test alice@a.test smoke-hello-from-b
xp_delivered "partner: alice@a.test -> bob@b.test is delivered" alice@a.test bob@b.test smoke-hello-from-a
refused "non-partner: carl@c.test -> alice@a.test bounces, alice gets nothing, a.test logs the refusal" \
	carl@c.test alice@a.test smoke-from-c 'refused incoming s2s from c\.test: not a partner$'
refused "non-partner: alice@a.test -> carl@c.test bounces, carl gets nothing, a.test logs the refusal" \
	alice@a.test carl@c.test smoke-to-c 'refused outgoing s2s to c\.test: not a partner$'

# ---- 5. the command-line tool, when the package has it -----------------------------
if [ -x /usr/bin/xmpp-partners ] && grep -qxF /usr/bin/xmpp-partners <<<"$files"; then
	out=$(/usr/bin/xmpp-partners check "$(xp_server_cfg a)" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && man -w xmpp-partners >/dev/null 2>&1; then
		tap_ok "/usr/bin/xmpp-partners check accepts server a's config; man xmpp-partners is installed"
	else
		tap_fail "/usr/bin/xmpp-partners check accepts server a's config (and its man page)" "exit $rc: $out
man -w: $(man -w xmpp-partners 2>&1)"
	fi
else
	tap_skip "the xmpp-partners tool" "not in this build of $PKG"
fi

# ---- 6. stop everything by PID ------------------------------------------------------------
srv_pids="${XP_SRV_PID[*]}"
xp_stop_all
left=""
for pid in $srv_pids; do xp__alive "$pid" && left="$left $pid"; done
listeners=$(ss -Hltn 2>/dev/null | awk -v net="$XP_NET." 'index($4, net) == 1' | wc -l)
sys=$(system_prosody_pid || true)
if [ -z "$left" ] && [ "$listeners" -eq 0 ] && { [ -z "$sys" ] || [ "$sys" = "$SYSTEM_PID_BEFORE" ]; }; then
	tap_ok "servers stopped by PID ($srv_pids); no listener left on $XP_NET.*; no system prosody started by this test"
else
	tap_fail "everything stopped" "still alive:${left:- none}; listeners on $XP_NET.*: $listeners; system prosody: ${sys:-none} (before: ${SYSTEM_PID_BEFORE:-none})"
fi

tap_done
