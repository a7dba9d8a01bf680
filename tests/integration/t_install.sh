#!/bin/bash
# t_install.sh: every documented way of installing the Prosody module, copied
# literally, then with each part taken away in turn (issue 20, item 1).
#
# Layouts (each a plugin directory plus a Lua C module directory of its own;
# nothing of the source tree is on the servers' paths, XP_INSTALLED=1):
#   readme  the file list of README.md ("Prosody: enable the module", the
#           block after <!-- test: install-files -->), copied as it says
#   make    `make install DESTDIR=...` of this build (configured paths)
#   deb     the Debian package: a built xmpp-partners-prosody_*.deb
#           ($XP_DEB, else build/deb/) unpacked with dpkg-deb -x; without
#           one, `make install` with debian/rules' paths filtered through
#           packaging/debian/xmpp-partners-prosody.install, as dh_install does
# For each: the whole layout works (a.test federates with its partner
# b.test, refuses c.test); then without xmpp_partners_sources.lib.lua,
# xmpp_partners_proxy.lib.lua, xmpp_partners_keepalive.lib.lua,
# xmpp_partners_runtime.lib.lua,
# xmpp_partners_admin.lib.lua, xmpp_partners_shell.lib.lua,
# xmpp_partners_adhoc.lib.lua,
# without xmpp_partners_contact.lib.lua, without xmpp_partners_compat.lib.lua,
# without xmpp_partners_pending.lib.lua, xmpp_partners_backoff.lib.lua,
# xmpp_partners_status.lib.lua,
# without core.so, and (readme only)
# with a helper that does not compile, one of another version and a core.so
# that is no Lua module: all federation is refused (no pong for b.test nor
# c.test, either way), the log names what is missing and what to install,
# and `prosodyctl mod_xmpp_partners check` exits 2 saying so.  Without
# mod_xmpp_partners.lua itself Prosody cannot run the module at all: the
# test shows its log line and the failing check (README says so).
# b.test and c.test are one server without the module.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
XP_INSTALLED=1 # only the layouts below are on the servers' paths
. "$top_srcdir/tests/integration/lib.sh"

CORE_BUILT=$top_builddir/module/lua/.libs/core.so
[ -f "$CORE_BUILT" ] || tap_skip_all "core.so not built ($CORE_BUILT)"
[ -f "$top_builddir/Makefile" ] || tap_skip_all "no configured build tree at $top_builddir"
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
xp_init

# A copy of the module installed on this machine (the package) would stand
# in for a part taken away here: those cases cannot be shown then.
SYSTEM_COPY=""
for f in /usr/lib/prosody/modules/mod_xmpp_partners /usr/local/lib/prosody/modules/mod_xmpp_partners \
	/usr/lib/prosody/modules/mod_xmpp_partners.lua /usr/lib/"$MA"/lua/5.4/xmpp_partners \
	/usr/local/lib/lua/5.4/xmpp_partners /usr/lib/lua/5.4/xmpp_partners; do
	[ -e "$f" ] && SYSTEM_COPY="$SYSTEM_COPY $f"
done

LAYOUTS=$XP_WORK/layouts
mkdir -p "$LAYOUTS"

# ---- the layouts -------------------------------------------------------------------------

# readme: the README's list, "DEST from SOURCE", DEST under the plugin
# directory (mod_xmpp_partners/...) or the C module directory (xmpp_partners/...).
layout_readme() {
	local root=$LAYOUTS/readme dest src n=0
	mkdir -p "$root/plugins" "$root/cmod"
	while read -r dest _ src _; do
		[ -n "$dest" ] || continue
		case $dest in
		mod_xmpp_partners/*) mkdir -p "$root/plugins/${dest%/*}" && cp "$top_srcdir/$src" "$root/plugins/$dest" ;;
		xmpp_partners/*) mkdir -p "$root/cmod/${dest%/*}" && cp "$top_builddir/$src" "$root/cmod/$dest" ;;
		*) echo "README install list: unexpected destination $dest" >&2; return 1 ;;
		esac || return 1
		n=$((n + 1))
	done < <(awk '/<!-- test: install-files -->/ { want = 1; next }
		want && /^```/ { if (inblock) exit; inblock = 1; next }
		inblock { print }' "$top_srcdir/README.md")
	[ "$n" -gt 0 ] || { echo "no install list in README.md" >&2; return 1; }
	echo "$root/plugins $root/cmod"
}

xp_make_install() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$top_builddir" install "$@" \
		>"$LAYOUTS/make-install.log" 2>&1
}

# make: make install into a DESTDIR; where the files land is what the
# Makefile says (PROSODY_PLUGIN_DIR, LUA_CMOD_DIR).
layout_make() {
	local root=$LAYOUTS/make plug cmod
	xp_make_install DESTDIR="$root" || { cat "$LAYOUTS/make-install.log" >&2; return 1; }
	# (without the calling make's flags: under `make -j check` they bring
	# its jobserver and directory messages into this output)
	plug=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$top_builddir" -f Makefile -f - xp-print-dirs <<<'xp-print-dirs: ; @echo $(PROSODY_PLUGIN_DIR) $(LUA_CMOD_DIR)' 2>/dev/null)
	cmod=${plug#* }
	plug=${plug%% *}
	[ -n "$plug" ] && [ -d "$root$plug/mod_xmpp_partners" ] || { echo "make install put no mod_xmpp_partners/ into $root$plug" >&2; return 1; }
	echo "$root$plug $root$cmod"
}

# deb: the package's files (see the header).
layout_deb() {
	local root=$LAYOUTS/deb deb=${XP_DEB:-} line tmp
	if [ -z "$deb" ]; then deb=$(ls "$top_srcdir"/build/deb/xmpp-partners-prosody_*.deb 2>/dev/null | tail -n 1); fi
	mkdir -p "$root"
	if [ -n "$deb" ] && [ -f "$deb" ]; then
		dpkg-deb -x "$deb" "$root" || return 1
		echo "unpacked from $(basename "$deb")" >"$LAYOUTS/deb.from"
	else
		tmp=$LAYOUTS/deb-tmp
		xp_make_install DESTDIR="$tmp" prefix=/usr PROSODY_PLUGIN_DIR=/usr/lib/prosody/modules \
			LUA_CMOD_DIR="/usr/lib/$MA/lua/5.4" || { cat "$LAYOUTS/make-install.log" >&2; return 1; }
		while read -r line; do
			[ -n "$line" ] || continue
			line=${line//'${DEB_HOST_MULTIARCH}'/$MA}
			line=${line%/}
			mkdir -p "$root/${line%/*}" && cp -a "$tmp/$line" "$root/$line" || return 1
		done <"$top_srcdir/packaging/debian/xmpp-partners-prosody.install"
		echo "make install with debian/rules' paths, filtered by xmpp-partners-prosody.install" >"$LAYOUTS/deb.from"
	fi
	[ -f "$root/usr/lib/prosody/modules/mod_xmpp_partners/mod_xmpp_partners.lua" ] || return 1
	echo "$root/usr/lib/prosody/modules $root/usr/lib/$MA/lua/5.4"
}

# ---- one case: a layout as it is now ---------------------------------------------------

N=0
PARTNERS='xmpp_partners = { ["b.test"] = { type = "federated" } }'

# ping FROM TO: 0 when the shell of the server of FROM gets a pong from TO.
ping_ok() {
	local srv=$1 from=$2 to=$3 out
	out=$(xp_shell "$srv" "xmpp:ping('$from', '$to')" 2>&1)
	PING_OUT=$out
	printf '%s' "$out" | grep -qi "pong from $to"
}

# start_case PLUGINDIR CMODDIR: start a fresh a.test server on them.
start_case() {
	N=$((N + 1))
	SRV=a$N
	XP_LUA_CPATH="$2/?.so"
	xp_start_prosody "$SRV" "$(xp_addr a.test)" a.test --module xmpp_partners \
		--plugin-path "$1" --extra-lua "$PARTNERS"
}

# case_works NAME PLUGINDIR CMODDIR: the module runs: b.test federates both
# ways, c.test is refused both ways.
case_works() {
	local name=$1 why=""
	if ! start_case "$2" "$3"; then
		tap_fail "$name: a.test starts" "$(tail -n 5 "$(xp_server_log "$SRV")")"
		return
	fi
	xp_wait_log "$SRV" 'Partner policy loaded: 1 partners' 5 || why="$why; no 'Partner policy loaded' line"
	ping_ok "$SRV" a.test b.test || why="$why; a.test -> b.test: $PING_OUT"
	ping_ok b b.test a.test || why="$why; b.test -> a.test: $PING_OUT"
	ping_ok b c.test a.test && why="$why; c.test (not a partner) got a pong from a.test"
	ping_ok "$SRV" a.test c.test && why="$why; a.test reached c.test"
	grep -q 'refused incoming s2s from c.test: not a partner' "$(xp_server_log "$SRV")" ||
		why="$why; no refusal of c.test logged"
	if [ -z "$why" ]; then tap_ok "$name: the module works (b.test federates, c.test refused)"; else tap_fail "$name: the module works" "${why#; }"; fi
	xp_stop "$SRV"
}

# case_closed NAME REGEX PLUGINDIR CMODDIR: all federation refused; the log
# has an error line matching REGEX that names what to install; the check
# command exits 2 with the same reason.
case_closed() {
	local name=$1 re=$2 why="" out rc log
	if ! start_case "$3" "$4"; then
		tap_fail "$name: a.test starts" "$(tail -n 5 "$(xp_server_log "$SRV")")"
		return
	fi
	log=$(xp_server_log "$SRV")
	xp_wait_log "$SRV" "error.*$re.*refusing all server-to-server traffic.*install the module whole" 5 ||
		why="$why; no error line matching '$re' with what to install"
	ping_ok b b.test a.test && why="$why; the partner b.test got a pong from a.test"
	ping_ok b c.test a.test && why="$why; OPEN: c.test (not a partner) got a pong from a.test"
	ping_ok "$SRV" a.test b.test && why="$why; a.test reached b.test"
	ping_ok "$SRV" a.test c.test && why="$why; OPEN: a.test reached c.test"
	grep -q 'refused incoming s2s from [bc].test' "$log" || why="$why; no incoming refusal logged"
	# (CASE_CHECK=ok: a fault only the server's start meets; the offline
	# check reads the table and has nothing to report)
	out=$(xp_prosodyctl "$SRV" mod_xmpp_partners check 2>&1)
	rc=$?
	if [ "${CASE_CHECK:-}" = ok ]; then
		[ "$rc" = 0 ] || why="$why; check exit $rc: $out"
	else
		[ "$rc" = 2 ] && printf '%s' "$out" | grep -qE "$re" || why="$why; check exit $rc: $out"
	fi
	if [ -z "$why" ]; then
		tap_ok "$name: all federation refused; logged: $(grep -oE "${re}[^;(]*" "$log" | head -n 1)"
	else
		tap_fail "$name: all federation refused, the reason logged" "${why#; }"
	fi
	xp_stop "$SRV"
}

# case_no_module NAME PLUGINDIR CMODDIR: mod_xmpp_partners.lua itself gone.
case_no_module() {
	local name=$1 why="" out rc
	if ! start_case "$2" "$3"; then
		tap_fail "$name: a.test starts" "$(tail -n 5 "$(xp_server_log "$SRV")")"
		return
	fi
	xp_wait_log "$SRV" "Unable to load module 'xmpp_partners'" 5 ||
		why="$why; Prosody did not log 'Unable to load module 'xmpp_partners''"
	out=$(xp_prosodyctl "$SRV" mod_xmpp_partners check 2>&1)
	rc=$?
	[ "$rc" != 0 ] || why="$why; prosodyctl mod_xmpp_partners check exited 0: $out"
	if [ -z "$why" ]; then
		tap_ok "$name: Prosody logs that it cannot load the module; the check fails (exit $rc)"
		if ping_ok b c.test a.test; then
			tap_diag "as README says: without mod_xmpp_partners.lua Prosody runs without partner policy"
		fi
	else
		tap_fail "$name: Prosody names the missing module" "${why#; }"
	fi
	xp_stop "$SRV"
}

# without LAYOUT_PLUG LAYOUT_CMOD PART: a copy of the layout without PART
# (a path under the plugin dir or the cmod dir); prints "PLUG CMOD".
without() {
	local plug=$1 cmod=$2 part=$3 dst
	dst=$(mktemp -d "$LAYOUTS/copy.XXXXXX") || return 1
	cp -a "$plug" "$dst/plugins" && cp -a "$cmod" "$dst/cmod" || return 1
	rm -rf "${dst:?}/$part"
	echo "$dst/plugins $dst/cmod"
}

# ---- run -----------------------------------------------------------------------------------

LAYOUT_NAMES="readme make deb"
tap_plan $((3 * 15 + 4 + 2))

xp_host a.test
xp_host b.test
xp_host c.test "$(xp_addr b.test)"
if ! xp_start_prosody b "$(xp_addr b.test)" b.test c.test; then
	xp_bail "cannot start the b.test/c.test server"
fi
[ -n "$SYSTEM_COPY" ] && tap_diag "installed on this machine:$SYSTEM_COPY (the cases it would mask are skipped)"

masked() { # masked PART: is a copy of PART installed on this machine?
	case $1 in
	*core.so) case $SYSTEM_COPY in *lua/5.4/xmpp_partners*) return 0 ;; esac ;;
	*) case $SYSTEM_COPY in *prosody/modules*) return 0 ;; esac ;;
	esac
	return 1
}

M=plugins/mod_xmpp_partners
for layout in $LAYOUT_NAMES; do
	if ! dirs=$("layout_$layout" 2>"$LAYOUTS/$layout.err"); then
		tap_fail "$layout layout: installed" "$(cat "$LAYOUTS/$layout.err")"
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14; do tap_skip "$layout layout without a part" "the layout could not be made"; done
		continue
	fi
	read -r plug cmod <<<"$dirs"
	[ "$layout" = deb ] && tap_diag "deb layout: $(cat "$LAYOUTS/deb.from")"
	case_works "$layout layout as documented" "$plug" "$cmod"
	for part in "$M/xmpp_partners_sources.lib.lua" "$M/xmpp_partners_proxy.lib.lua" \
		"$M/xmpp_partners_keepalive.lib.lua" \
		"$M/xmpp_partners_runtime.lib.lua" "$M/xmpp_partners_admin.lib.lua" \
		"$M/xmpp_partners_shell.lib.lua" "$M/xmpp_partners_adhoc.lib.lua" "$M/xmpp_partners_contact.lib.lua" \
		"$M/xmpp_partners_compat.lib.lua" "$M/xmpp_partners_pending.lib.lua" \
		"$M/xmpp_partners_backoff.lib.lua" "$M/xmpp_partners_status.lib.lua" \
		cmod/xmpp_partners/core.so "$M/mod_xmpp_partners.lua"; do
		name="$layout layout without ${part##*/}"
		if masked "$part"; then tap_skip "$name" "a copy is installed on this machine"; continue; fi
		read -r p c <<<"$(without "$plug" "$cmod" "$part")"
		case $part in
		*sources*) case_closed "$name" "Cannot load xmpp_partners_sources.lib.lua" "$p" "$c" ;;
		*keepalive*) case_closed "$name" "Cannot load xmpp_partners_keepalive.lib.lua" "$p" "$c" ;;
		*proxy*) case_closed "$name" "Cannot load xmpp_partners_proxy.lib.lua" "$p" "$c" ;;
		*runtime*) case_closed "$name" "Cannot load xmpp_partners_runtime.lib.lua" "$p" "$c" ;;
		*admin*) case_closed "$name" "Cannot load xmpp_partners_admin.lib.lua" "$p" "$c" ;;
		*shell*) case_closed "$name" "Cannot load xmpp_partners_shell.lib.lua" "$p" "$c" ;;
		*adhoc*) case_closed "$name" "Cannot load xmpp_partners_adhoc.lib.lua" "$p" "$c" ;;
		*contact*) case_closed "$name" "Cannot load xmpp_partners_contact.lib.lua" "$p" "$c" ;;
		*compat*) case_closed "$name" "Cannot load xmpp_partners_compat.lib.lua" "$p" "$c" ;;
		*pending*) case_closed "$name" "Cannot load xmpp_partners_pending.lib.lua" "$p" "$c" ;;
		*backoff*) case_closed "$name" "Cannot load xmpp_partners_backoff.lib.lua" "$p" "$c" ;;
		*status*) case_closed "$name" "Cannot load xmpp_partners_status.lib.lua" "$p" "$c" ;;
		*core.so) case_closed "$name" "Cannot load the policy core xmpp_partners.core" "$p" "$c" ;;
		*) case_no_module "$name" "$p" "$c" ;;
		esac
	done
done

# Broken rather than missing parts (readme layout): a helper that does not
# compile, a helper of another version, a helper that throws while the
# module starts, a core.so that is no Lua module.
read -r plug cmod <<<"$(layout_readme)"
read -r p c <<<"$(without "$plug" "$cmod" none)"
printf 'return function (api) return { \n' >"$p/mod_xmpp_partners/xmpp_partners_contact.lib.lua"
case_closed "helper that does not compile" "Cannot load xmpp_partners_contact.lib.lua" "$p" "$c"
read -r p c <<<"$(without "$plug" "$cmod" none)"
printf 'return function (api) return { setup_adhoc = function () end } end\n' >"$p/mod_xmpp_partners/xmpp_partners_admin.lib.lua"
case_closed "helper of another version" "xmpp_partners_admin.lib.lua is from another version of the module" "$p" "$c"
# A part that passes every check but fails while the module starts:
# Prosody keeps a module whose load() throws, so the hooks that refuse must
# already be there (the admin helper's first call in load() throws here).
read -r p c <<<"$(without "$plug" "$cmod" none)"
sed -i 's/^\(\t*\)function runtime\.when_storage_ready(.*$/\1function runtime.when_storage_ready() error("a test fault in load()") end/' \
	"$p/mod_xmpp_partners/xmpp_partners_runtime.lib.lua"
grep -q 'a test fault in load()' "$p/mod_xmpp_partners/xmpp_partners_runtime.lib.lua" ||
	tap_diag "the fault was not planted: when_storage_ready is no longer where this test looks"
CASE_CHECK=ok case_closed "a part that throws while the module starts" "Cannot start mod_xmpp_partners" "$p" "$c"
read -r p c <<<"$(without "$plug" "$cmod" none)"
printf 'not an ELF file\n' >"$c/xmpp_partners/core.so"
case_closed "core.so that is no Lua module" "Cannot load the policy core xmpp_partners.core" "$p" "$c"

tap_stop_all
tap_done
