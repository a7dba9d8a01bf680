#!/bin/bash
# t_configure.sh: ./configure --with-lua=5.3 without the Lua 5.3 headers
# names the package for the version asked, liblua5.3-dev (issue 20, item 8),
# not the 5.4 one that may well be installed already.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

if [ ! -x "$top_srcdir/configure" ]; then
	echo "1..0 # SKIP no configure script in $top_srcdir"
	exit 0
fi
for pc in lua5.3 lua-5.3 lua53; do
	if pkg-config --exists "$pc" 2>/dev/null; then
		echo "1..0 # SKIP the Lua 5.3 headers are installed ($pc)"
		exit 0
	fi
done
echo "1..2"
dir=$(mktemp -d "${TMPDIR:-/tmp}/xp-configure.XXXXXX")
trap 'rm -rf "$dir"' EXIT
out=$(cd "$dir" && timeout 300 "$top_srcdir/configure" --with-lua=5.3 2>&1)
rc=$?
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
