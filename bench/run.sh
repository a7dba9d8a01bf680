#!/bin/bash
# bench/run.sh: every benchmark, one after the other (`make bench` runs it
# from the build directory).  Prints the machine and versions first, then
# each benchmark's table; see BENCHMARKS.md for the method and results.
# The knobs of each script (BX_*) can be set in the environment; the
# defaults are the ones BENCHMARKS.md reports.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
LUA=${LUA:-lua5.4}
rc=0

echo "== machine"
echo "nproc: $(nproc); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "RAM: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Prosody: $(dpkg-query -W -f '${Version}' prosody 2>/dev/null || echo '?');" \
	"Lua: $($LUA -v 2>&1 | head -n 1);" \
	"OpenSSL: $(openssl version 2>/dev/null);" \
	"gcc: $(gcc -dumpfullversion 2>/dev/null)"

echo "== 1. core (C)"
"$top_builddir/bench/bench_core" ${BX_CORE_SIZES:-10 1000 100000 1000000} || rc=1
echo "== 1. core through the Lua binding"
mkdir -p "$top_builddir/bench/cpath/xmpp_partners"
cp "$top_builddir/module/lua/.libs/core.so" "$top_builddir/bench/cpath/xmpp_partners/core.so" &&
	LUA_CPATH="$top_builddir/bench/cpath/?.so;;" "$LUA" "$top_srcdir/bench/bench_lua.lua" \
		${BX_CORE_SIZES:-10 1000 100000 1000000} || rc=1
for b in s2s flood reload subscribe; do
	echo "== $b"
	bash "$top_srcdir/bench/$b.sh" || rc=1
done
exit "$rc"
