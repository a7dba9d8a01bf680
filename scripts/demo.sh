#!/usr/bin/env bash
# scripts/demo.sh: build xmpp-partners and show partner policy at work.
#
#   sudo bash scripts/demo.sh          # installs packages first
#   XP_NO_DEPS=1 bash scripts/demo.sh  # packages already there
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ -z "${XP_NO_DEPS:-}" ]; then
	bash scripts/deps.sh >/dev/null
fi
dir="$top/build/demo"
mkdir -p "$dir"
echo "building in $dir ..."
autoreconf -fi >/dev/null 2>&1
(cd "$dir" && "$top/configure" -q >/dev/null && make -j"$(nproc)" >/dev/null)
mkdir -p "$dir/cpath/xmpp_partners"
cp "$dir/module/lua/.libs/core.so" "$dir/cpath/xmpp_partners/core.so"
LUA_CPATH="$dir/cpath/?.so;;" lua5.4 "$top/examples/policy-table.lua"
echo
echo "The core decides; the Prosody module mod_xmpp_partners (next) applies"
echo "these verdicts to real server-to-server streams."
