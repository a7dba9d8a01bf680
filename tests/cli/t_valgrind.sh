#!/usr/bin/env bash
# t_valgrind.sh: a few runs of every command under valgrind: no invalid
# access, no leak.  Skipped without valgrind and in sanitizer builds.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/cli/lib.sh"

if ! command -v valgrind >/dev/null; then
	echo "1..0 # SKIP valgrind not installed"
	exit 0
fi
if [ "${XP_SANITIZERS:-no}" = yes ]; then
	echo "1..0 # SKIP sanitizer build (ASan and valgrind do not mix)"
	exit 0
fi

# vg NAME STATUS ARG...: the tool under valgrind exits STATUS, cleanly.
vg() {
	local name=$1 want=$2 rc
	shift 2
	timeout 300 valgrind -q --error-exitcode=99 --leak-check=full \
		--show-leak-kinds=definite,indirect,possible \
		--errors-for-leak-kinds=definite,indirect,possible \
		"$XP_TOOL" "$@" >"$TMP/out" 2>"$TMP/vg"
	rc=$?
	if [ "$rc" -eq "$want" ] && ! grep -q '^==[0-9]*==' "$TMP/vg"; then
		tap_ok "valgrind: $name"
	else
		tap_fail "valgrind: $name" "exit status $rc (expected $want)
$(head -60 "$TMP/vg")"
	fi
}

vg "check, good file" 0 check "$DATA/good.cfg.lua"
vg "check, errors" 1 check "$DATA/errors.cfg.lua"
vg "check, prosody.cfg.lua" 0 check "$DATA/prosody.cfg.lua"
printf 'local t = {}\nwhile true do t[#t + 1] = ("x"):rep(1000) end\n' >"$TMP/bomb.lua"
vg "check, memory bomb" 2 --memory-limit=32 check "$TMP/bomb.lua"
printf 'xmpp_partners = {}\nwhile true do end\n' >"$TMP/loop.lua"
vg "check, endless loop" 2 --instruction-limit=200000 check "$TMP/loop.lua"
printf 'local r = {}\nr.r = r\nxmpp_partners = { ["a.example"] = r }\n' >"$TMP/cycle.lua"
vg "check, cycle" 1 check "$TMP/cycle.lua"
vg "explain, partner" 0 explain "$DATA/good.cfg.lua" corp.fabrikam.com
vg "explain, refused" 0 explain "$DATA/good.cfg.lua" evil.test
vg "explain, invalid domain" 2 explain "$DATA/good.cfg.lua" "bad domain"
vg "import-lync, bad values" 1 import-lync "$DATA/lync-bad-values.csv"
vg "import-lync, Skype for Business" 0 import-lync "$DATA/sfb-2015.csv"
vg "import-lync, unterminated" 2 import-lync "$DATA/lync-unterminated.csv"
vg "import-lync, UTF-16" 0 import-lync "$DATA/lync-utf16.csv"
tap_done
