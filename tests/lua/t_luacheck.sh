#!/usr/bin/env bash
# tests/lua/t_luacheck.sh: luacheck (Debian's lua-check) over every Lua file
# of the tree, with the project's .luacheckrc: one TAP case per file.
# Without luacheck it skips, or fails under XP_REQUIRE=1 (CI).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$top_srcdir" || exit 1
if ! command -v luacheck >/dev/null 2>&1; then
	if [ "${XP_REQUIRE:-0}" = 1 ]; then
		echo "1..1"
		echo "not ok 1 - luacheck is not installed (apt-get install lua-check) and XP_REQUIRE=1"
		exit 1
	fi
	echo "1..0 # SKIP luacheck is not installed (apt-get install lua-check)"
	exit 0
fi
files=(lua/*.lua tests/lua/*.lua bench/*.lua)
# (the files' own names in the output; no cache, the tree may be read-only)
luacheck --no-cache --no-color --config .luacheckrc --formatter TAP "${files[@]}"
