#!/bin/sh
# t_file_parity.sh: one partner file with errors gives the same error texts
# in the CLI (xmpp-partners check), Prosody's binding (core.read_file) and
# ejabberd's NIF (partner_file/1): all three judge the file with the
# evaluator's walk (module/evaluator/walk.c).  The file sets no options
# (their names follow the host), only adversarial partners: odd keys,
# floats, booleans, sparse lists, non-string list items, nested tables.
: "${top_srcdir:=.}" "${top_builddir:=.}"
cli=$top_builddir/tools/xmpp-partners
so=$top_builddir/module/lua/.libs/core.so
nif=$top_builddir/module/erlang/.libs/xmpp_partners_nif.so
[ -x "$cli" ] || { echo "Bail out! $cli is not built"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/xp-parity.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
f=$dir/partners.cfg.lua
cat > "$f" <<'LUA'
xmpp_partners = {
	["a.example"] = { [1] = "x", [2.0] = "two", [2.5] = 1, [1e300] = 1, [-0.0] = 1, [1/0] = 1,
		[true] = 1, connection_limit = 2.5, keepalive = 2.0, tls = { x = 1 },
		additional_domains = { "b.example", nil, "c.example" }, fingerprints = { 1, true, { } },
		description = { { "nested" } } };
	["d.example"] = { additional_domains = { [1] = "e.example", [3] = "f.example" } };
	["g.example"] = { additional_domains = { "h.example", 7 } };
	["t.example"] = { [false] = 1 };
	["s.example"] = 2.5;
	[1] = { }, [2.5] = { }, [true] = { }, [1/0] = { }, [1e300] = { };
}
LUA
echo "1..3"
# The CLI's lines "PATH:LINE: error: MESSAGE" come in line order, the
# bindings' "PATH: MESSAGE; MESSAGE" in the builder's (key) order: the
# same messages means each CLI message in the binding's text, and the
# same total length.
"$cli" check "$f" > "$dir/cli.out" 2>&1
sed -n "s|^$f:[0-9]*: error: ||p" "$dir/cli.out" > "$dir/messages"
want=$(awk -v p="$f" '{ s = s (NR == 1 ? p ": " : "; ") $0 } END { print s }' "$dir/messages")
n=$(grep -c ": error: " "$dir/cli.out")
# same_errors GOT: 0 when GOT holds the CLI's messages and nothing else.
same_errors() {
	[ "${#1}" -eq "${#want}" ] || return 1
	case $1 in "$f: "*) ;; *) return 1 ;; esac
	while IFS= read -r m; do
		case $1 in *"$m"*) ;; *) echo "# missing: $m"; return 1 ;; esac
	done < "$dir/messages"
}
if [ "$n" -ge 15 ]; then
	echo "ok 1 - the CLI finds $n errors"
else
	echo "not ok 1 - the CLI finds $n errors (15 or more expected)"
	sed 's/^/# /' "$dir/cli.out"
fi

if [ -z "${LUA:-}" ] || [ ! -f "$so" ]; then
	echo "ok 2 # SKIP no lua interpreter or no Lua module built"
else
	mkdir -p "$dir/cpath/xmpp_partners" && cp "$so" "$dir/cpath/xmpp_partners/core.so"
	got=$(. "$top_srcdir/tests/lua/preload.sh" && xp_sanitizer_preload "$so" &&
		LUA_CPATH="$dir/cpath/?.so" timeout 60 "$LUA" - "$f" 2>&1 <<'LUA'
local core = require "xmpp_partners.core"
local p, msg = core.read_file(arg[1])
io.write(p == nil and msg or "(accepted)")
LUA
)
	if same_errors "$got"; then
		echo "ok 2 - core.read_file gives the CLI's errors"
	else
		echo "not ok 2 - core.read_file gives the CLI's errors"
		printf '# want: %s\n# got:  %s\n' "$want" "$got"
	fi
fi

if ! command -v erl >/dev/null 2>&1 || [ ! -f "$nif" ] ||
	[ ! -f "$top_builddir/ejabberd/ebin/xmpp_partners_nif.beam" ] ||
	[ "${XP_SANITIZERS:-no}" = yes ]; then
	echo "ok 3 # SKIP no erl or no NIF built (or a sanitizer build)"
else
	# -noshell without distribution: no epmd is started.
	got=$(XMPP_PARTNERS_NIF=${nif%.so} timeout 60 erl -noshell \
		-pa "$top_builddir/ejabberd/ebin" -eval '
		[F] = init:get_plain_arguments(),
		case xmpp_partners_nif:partner_file(list_to_binary(F)) of
		    {error, M} -> io:put_chars(M);
		    _ -> io:put_chars("(accepted)")
		end, halt().' -extra "$f" 2>&1)
	if same_errors "$got"; then
		echo "ok 3 - the NIF's partner_file/1 gives the CLI's errors"
	else
		echo "not ok 3 - the NIF's partner_file/1 gives the CLI's errors"
		printf '# want: %s\n# got:  %s\n' "$want" "$got"
	fi
fi
