#!/usr/bin/env bash
# t_check.sh: `xmpp-partners check` on good, wrong and odd partner files.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/cli/lib.sh"

run_in "$DATA" check good.cfg.lua
expect_rc "a good file passes (warnings allowed)" 0
expect_out "row 1 is a warning with its line" '^good\.cfg\.lua:11: warning: .*matrix row 1'
expect_out "the summary counts partners and mode" '^good\.cfg\.lua: OK: 3 partners, xmpp_partners_default = "deny"'

run_in "$DATA" check errors.cfg.lua
expect_rc "a file with errors: status 1" 1
expect_out "a misspelt value: line, partner, key and fix" "^errors\.cfg\.lua:4: error: partner 'fabrikam\.com': key 'type' is \"federatd\".*did you mean \"federated\""
expect_out "a misspelt tls value on its own line" "^errors\.cfg\.lua:5: error: .*key 'tls' is \"requried\""
expect_out "an unknown key suggests the nearest" "^errors\.cfg\.lua:6: error: .*unknown key 'dialbak'; did you mean 'dialback'"
expect_out "an error row of the matrix is named" "^errors\.cfg\.lua:10: error: partner 'contoso\.com': .*matrix row 6 \(error\)"
expect_out "a value out of range" "^errors\.cfg\.lua:13: error: .*connection_limit.* is 0"
expect_out "a bare word reads as nil: warned, with the fix" "^errors\.cfg\.lua:16: warning: 'optional' is not defined.*put it in quotes"
expect_out "a wrong global option" "^errors\.cfg\.lua:21: error: option 'xmpp_partners_default' is \"maybe\""
expect_out "a misspelt option name suggests the right one" "^errors\.cfg\.lua:22: warning: 'xmpp_partners_defualt' .*did you mean 'xmpp_partners_default'"
expect_out "the summary says the table would not load" '^errors\.cfg\.lua: 8 errors, 2 warnings: a server would not load'

run check "$DATA/allow.cfg.lua"
expect_rc "allow mode passes" 0
expect_out "allow mode is named" 'xmpp_partners_default = "allow"'

run_in "$DATA" check host-only.cfg.lua
expect_rc "xmpp_partners only in a host section: no error" 0
expect_out "host-section setting: a note with where and why" '^host-only\.cfg\.lua:6: note: xmpp_partners is set in the section of host "example\.com"'
expect_out "and a warning that nothing is listed" 'xmpp_partners is not set in the global section'

run_in "$DATA" check prosody.cfg.lua
expect_rc "a whole prosody.cfg.lua passes" 0
expect_out "Include is noted, not followed" '^prosody\.cfg\.lua:58: note: Include "conf\.d/\*\.cfg\.lua" is not followed'
expect_out "ENV_ variables are noted" 'note: ENV_PROSODY_HTTP_HOST is taken as unset'
expect_out "FileContents is noted" 'note: FileContents\("/etc/prosody/secret\.txt"\) is not read'
expect_out "Credential is noted" 'note: Credential\("turn"\)'
expect_out "RunScript is noted" 'note: RunScript "extra\.lua" is not run'
expect_out "a host-level partner option is noted" "^prosody\.cfg\.lua:48: note: xmpp_partners_keepalive_interval is set in the section of host \"localhost\""
expect_out "the global partner table is read" 'OK: 1 partner,'
expect_no_out "Component \"x\" \"muc\" chains without error" 'error'

if [ -r /etc/prosody/prosody.cfg.lua ]; then
	run check /etc/prosody/prosody.cfg.lua
	expect_rc "the system's prosody.cfg.lua can be checked" 0
else
	tap_skip "the system's prosody.cfg.lua can be checked" "no /etc/prosody/prosody.cfg.lua"
fi

f=$(write_file syntax.lua 'xmpp_partners = {
	["a.example"] = { tls = "required" "optional" },
}')
run check "$f"
expect_rc "a syntax error: status 1" 1
expect_out "a syntax error names the file and line" "syntax\.lua:2: error: .*'}' expected"

f=$(write_file runtime.lua 'local t = nil
xmpp_partners = { ["a.example"] = t.x }')
run check "$f"
expect_rc "a runtime error: status 1" 1
expect_out "a runtime error names the line" 'runtime\.lua:2: error: attempt to index'

f=$(write_file cycle.lua 'local r = {}
r.self = r
xmpp_partners = { ["a.example"] = r }')
run check "$f"
expect_rc "a table that contains itself: status 1" 1
expect_out "the cycle is named by its path" 'cycle\.lua:3: error: xmpp_partners\["a\.example"\]\.self contains itself'

f=$(write_file readback.lua 'partners = { ["a.example"] = {} }
xmpp_partners = partners')
run check "$f"
expect_rc "reading back an option is only a warning" 0
expect_out "reading back an option is explained" "readback\.lua:2: warning: 'partners' is read, but it is a configuration option"

f=$(write_file twice.lua 'xmpp_partners = {}
xmpp_partners = { ["a.example"] = {} }')
run check "$f"
expect_out "a second assignment is noted" 'twice\.lua:2: note: xmpp_partners is assigned again; the value assigned at line 1 is replaced'

f=$(write_file odd-values.lua 'xmpp_partners = {
	["a.example"] = "all defaults",
	["b.example"] = { tls = print, [1] = 2, additional_domains = { 1, "x.example" } },
	[42] = {},
}
xmpp_partners_connection_limit = math.huge')
run check "$f"
expect_rc "values of every wrong type: status 1" 1
expect_out "a record that is not a table" "odd-values\.lua:2: error: partner 'a\.example': the record must be a table"
expect_out "a function value" "key 'tls' must be a string, not a function"
expect_out "a non-string key inside a record" "unknown key '\[1\]'"
expect_out "a non-string list item" "item 1 is not a string"
expect_out "a float option" "xmpp_partners_connection_limit' must be a whole number"

: >"$TMP/empty.lua"
run check "$TMP/empty.lua"
expect_rc "an empty file: no error" 0
expect_out "an empty file: a warning" 'xmpp_partners is not set'

run check "$TMP/does-not-exist.lua"
expect_rc "a missing file: status 2" 2
expect_err "a missing file is named" 'cannot read .*does-not-exist\.lua: No such file'

run check "$TMP"
expect_rc "a directory: status 2" 2

run check "$DATA/junk.bin"
expect_rc "binary junk: an error, no crash" 1
expect_out "binary junk: a syntax error with a line" 'junk\.bin:1: error:'

truncate -s 65M "$TMP/huge.lua"
run check "$TMP/huge.lua"
rm -f "$TMP/huge.lua"
expect_rc "a file over 64 MiB: status 2" 2
expect_err "a file over 64 MiB is refused with the reason" 'larger than 65536 KiB'

tap_done
