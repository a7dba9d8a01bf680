#!/bin/bash
# t_configure.sh: configure's answers to what a user asks of it.
#  - --with-lua=5.3 without the Lua 5.3 headers names the package for the
#    version asked, liblua5.3-dev (issue 20, item 8), not the 5.4 one that
#    may well be installed already;
#  - --with-lua with no version means the default search (issue 15, item 6);
#  - EJABBERD_INCLUDE or XMPP_INCLUDE given but wrong is an error naming the
#    variable, not a build without ejabberd (issue 15, item 6).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

if [ ! -x "$top_srcdir/configure" ]; then
	echo "1..0 # SKIP no configure script in $top_srcdir"
	exit 0
fi
have_lua53=
for pc in lua5.3 lua-5.3 lua53; do
	pkg-config --exists "$pc" 2>/dev/null && have_lua53=$pc
done
echo "1..6"
dir=$(mktemp -d "${TMPDIR:-/tmp}/xp-configure.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# run_configure ARG...: configure in a fresh directory; sets out and rc.
run_configure() {
	rm -rf "$dir/b" && mkdir "$dir/b"
	out=$(cd "$dir/b" && timeout 300 "$top_srcdir/configure" "$@" 2>&1)
	rc=$?
}

if [ -n "$have_lua53" ]; then
	echo "ok 1 # SKIP the Lua 5.3 headers are installed ($have_lua53)"
	echo "ok 2 # SKIP the Lua 5.3 headers are installed ($have_lua53)"
else
	run_configure --with-lua=5.3
	if [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q 'apt-get install liblua5.3-dev'; then
		echo "ok 1 - configure --with-lua=5.3 fails naming liblua5.3-dev"
	else
		echo "not ok 1 - configure --with-lua=5.3 fails naming liblua5.3-dev"
		printf '%s\n' "$out" | tail -n 5 | sed 's/^/# /'
	fi
	if printf '%s\n' "$out" | grep -q 'liblua5.4-dev'; then
		echo "not ok 2 - and does not point to liblua5.4-dev"
	else
		echo "ok 2 - and does not point to liblua5.4-dev"
	fi
fi

# --with-lua (yes): the default search; --without-ejabberd keeps it short.
run_configure --with-lua --without-ejabberd
if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q '^config.status: creating Makefile'; then
	echo "ok 3 - configure --with-lua (no version) searches as by default"
else
	echo "not ok 3 - configure --with-lua (no version) searches as by default (exit $rc)"
	printf '%s\n' "$out" | tail -n 5 | sed 's/^/# /'
fi

if ! command -v erl >/dev/null 2>&1 || ! command -v erlc >/dev/null 2>&1; then
	for n in 4 5 6; do echo "ok $n # SKIP no erl/erlc: configure does not look at the ejabberd variables"; done
	exit 0
fi
# A wrong directory given explicitly: an error naming the variable, in
# auto mode (no --with-ejabberd), which would otherwise build without it.
run_configure EJABBERD_INCLUDE="$dir/no-such-include"
if [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q "error: EJABBERD_INCLUDE=$dir/no-such-include has no logger.hrl"; then
	echo "ok 4 - a wrong EJABBERD_INCLUDE is an error naming it"
else
	echo "not ok 4 - a wrong EJABBERD_INCLUDE is an error naming it (exit $rc)"
	printf '%s\n' "$out" | tail -n 5 | sed 's/^/# /'
fi
run_configure XMPP_INCLUDE="$dir/no-such-include"
if [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q "error: XMPP_INCLUDE=$dir/no-such-include has no xmpp.hrl"; then
	echo "ok 5 - a wrong XMPP_INCLUDE is an error naming it"
else
	echo "not ok 5 - a wrong XMPP_INCLUDE is an error naming it (exit $rc)"
	printf '%s\n' "$out" | tail -n 5 | sed 's/^/# /'
fi
# --without-ejabberd: the variables are not looked at.
run_configure --without-ejabberd EJABBERD_INCLUDE="$dir/no-such-include"
if [ "$rc" -eq 0 ]; then
	echo "ok 6 - --without-ejabberd ignores EJABBERD_INCLUDE"
else
	echo "not ok 6 - --without-ejabberd ignores EJABBERD_INCLUDE (exit $rc)"
	printf '%s\n' "$out" | tail -n 5 | sed 's/^/# /'
fi
