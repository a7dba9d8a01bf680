#!/usr/bin/env bash
# t_sandbox.sh: partner files that try to leave the sandbox or exhaust it.
# Each must stop with status 2 and a message naming the file, the line and
# what was refused, quickly, without a crash.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/cli/lib.sh"

# violation NAME CODE REGEX: CODE in a file is refused, stderr matches.
violation() {
	local f
	f=$(write_file v.lua "$2")
	run check "$f"
	expect_rc "$1: status 2" 2
	expect_err "$1: named" "$3"
}

violation "io.open" 'local f = io.open("/etc/passwd")
xmpp_partners = {}' "v\.lua:1: refused by the sandbox: 'io' is not available in a partner file"
violation "os.execute" 'xmpp_partners = {}
os.execute("touch '"$TMP"'/pwned")' "v\.lua:2: refused by the sandbox: 'os' is not available"
if [ -e "$TMP/pwned" ]; then tap_fail "os.execute did not run"; else tap_ok "os.execute did not run"; fi
violation "require" 'local socket = require "socket"' "'require' is not available"
violation "load of bytecode" 'local f = load("\27Lua\84\0\25\147\13\10\26\10")' "'load' is not available"
violation "loadstring" 'loadstring("x = 1")()' "'loadstring' is not available"
violation "dofile" 'dofile("/etc/prosody/prosody.cfg.lua")' "'dofile' is not available"
violation "loadfile" 'loadfile("/etc/passwd")' "'loadfile' is not available"
violation "package" 'package.loadlib("libc.so.6", "system")' "'package' is not available"
violation "debug" 'debug.sethook()' "'debug' is not available"
violation "collectgarbage" 'collectgarbage("stop")' "'collectgarbage' is not available"
violation "string.dump" 'local b = string.dump(function() end)' "'string\.dump' is not available"
violation "string.dump as a method" 'local b = ("x").dump(function() end)' "'string\.dump' is not available"
violation "setmetatable (a finalizer would run without limits)" \
	'setmetatable({}, { __gc = function() while true do end end })' "'setmetatable' is not available"
violation "coroutine" 'coroutine.wrap(function() end)()' "'coroutine' is not available"
violation "a forbidden call caught by pcall" 'for i = 1, 10 do pcall(io.open, "/etc/passwd") end
xmpp_partners = {}' "'io' is not available"
violation "Lua.io (Prosody 13 style)" 'local f = Lua.io.open("/etc/passwd")' "'io' is not available"

start=$(date +%s)
violation "an endless loop" 'xmpp_partners = {}
while true do end' "v\.lua:2: refused by the sandbox: the file ran past the limit of 10000000 Lua instructions"
violation "an endless loop inside pcall" 'while true do pcall(function() while true do end end) end' "limit of 10000000 Lua instructions"
elapsed=$(($(date +%s) - start))
if [ "$elapsed" -lt 20 ]; then tap_ok "endless loops stop quickly (${elapsed}s)"; else
	tap_fail "endless loops stop quickly" "took ${elapsed}s"
fi

f=$(write_file slow.lua 'local t = {}
for i = 1, 200000 do t[i] = i end
for i = 1, 1e9 do table.sort(t) end')
start=$(date +%s)
run --time-limit=1 check "$f"
elapsed=$(($(date +%s) - start))
expect_rc "a loop over a costly library call: status 2" 2
expect_err "the time limit is named with the line" 'slow\.lua:3: refused by the sandbox: the file ran longer than the limit of 1\.0 s'
if [ "$elapsed" -lt 10 ]; then tap_ok "the time limit holds (${elapsed}s)"; else
	tap_fail "the time limit holds" "took ${elapsed}s"
fi

violation "a memory bomb (string.rep in a loop)" 'local t = {}
for i = 1, 1e9 do t[#t + 1] = string.rep("x", 65536) end' "v\.lua:2: refused by the sandbox: the file needs more memory than the sandbox limit of 256 MiB"
violation "a doubling string" 'local s = "x"
while true do s = s .. s end' "more memory than the sandbox limit"
violation "a memory bomb inside pcall" 'for i = 1, 100 do
	pcall(function() local t = {} while true do t[#t + 1] = ("x"):rep(65536) end end)
end' "more memory than the sandbox limit"
violation "a pattern search with catastrophic backtracking" \
	'local s = string.rep("a", 100000)
local x = s:find(".-.-.-.-b")' "v\.lua:2: refused by the sandbox: string\.find on a 100000-byte string"

printf '\033Lua\124\000\031\223\r\n\032\n' >"$TMP/bytecode.luac"
run check "$TMP/bytecode.luac"
expect_rc "a precompiled chunk: status 2" 2
expect_err "a precompiled chunk is refused as bytecode" 'precompiled Lua chunk \(bytecode\); only text is accepted'
if command -v luac5.4 >/dev/null; then
	printf 'xmpp_partners = {}\n' >"$TMP/real.lua"
	luac5.4 -o "$TMP/real.luac" "$TMP/real.lua"
	run check "$TMP/real.luac"
	expect_rc "luac output: status 2" 2
else
	tap_skip "luac output: status 2" "luac5.4 not installed"
fi

f=$(write_file loop.lua 'local n = 0
for i = 1, 200000 do n = n + i end
xmpp_partners = {}')
run --instruction-limit=1000000 check "$f"
expect_rc "a finite loop within the limit passes" 0
run --instruction-limit=100000 check "$f"
expect_rc "the same loop over a lower --instruction-limit: status 2" 2
expect_err "the limit given is named" 'limit of 100000 Lua instructions'

f=$(write_file big.lua 'local t = {}
for i = 1, 40000 do t[i] = ("x"):rep(64) .. i end
xmpp_partners = {}')
run check "$f"
expect_rc "moderate memory use passes" 0
run --memory-limit=1 check "$f"
expect_rc "the same over --memory-limit=1: status 2" 2
expect_err "the memory limit given is named" 'limit of 1 MiB'

f=$(write_file wide.lua 'local t = {}
for i = 1, 16 do t = { t, t } end
xmpp_partners = { ["a.example"] = { additional_domains = t } }')
run check "$f"
expect_rc "a shared table copied many times is bounded, not a crash" 1

f=$(write_file allowed.lua 'local parts = {}
for p in ("a.example,b.example"):gmatch("[^,]+") do parts[#parts + 1] = p end
local n = math.max(1, #parts) + tonumber("3")
xmpp_partners = {
	[("fabrikam.com"):lower()] = {
		additional_domains = parts,
		connection_limit = n,
		description = string.format("%s partners", table.concat(parts, "+")),
	},
}
print("print is a no-op")')
run check "$f"
expect_rc "string, table, math and the base functions work" 0
expect_out "values computed in the file reach the core" 'OK: 1 partner'

tap_done
