#!/bin/sh
# run.sh: run the busted specs of the Lua binding (tests/lua/*_spec.lua) as
# one TAP test.  The built module is copied into a private cpath directory
# laid out as Lua expects (xmpp_partners/core.so), so the specs load exactly
# what this tree built and never an installed copy.
#
# Environment (set by the automake harness): LUA, BUSTED, top_srcdir,
# top_builddir.  Skips when there is no Lua interpreter or busted.

if test -z "$LUA" || test -z "$BUSTED"; then
	echo "1..0 # SKIP lua interpreter or busted not found by configure"
	exit 0
fi

here=`dirname "$0"`
top_srcdir=${top_srcdir:-`cd "$here/../.." && pwd`}
top_builddir=${top_builddir:-.}

so="$top_builddir/module/lua/.libs/core.so"
if test ! -f "$so"; then
	echo "Bail out! $so is not built (run make first)"
	exit 99
fi

cpath="$top_builddir/tests/lua/cpath"
rm -rf "$cpath"
mkdir -p "$cpath/xmpp_partners" || exit 99
cp "$so" "$cpath/xmpp_partners/core.so" || exit 99

. "$top_srcdir/tests/lua/preload.sh"
xp_sanitizer_preload "$so"

# Our directory first; ";;" keeps the default path for busted's own modules.
LUA_CPATH="$cpath/?.so;;"
export LUA_CPATH top_srcdir top_builddir

"$LUA" "$BUSTED" -o TAP --pattern=_spec "$top_srcdir/tests/lua"
exit $?
