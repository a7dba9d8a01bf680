-- luacheck configuration (Debian package lua-check), run by make check
-- (tests/lua/t_luacheck.sh).  Prosody runs the modules on Lua 5.4.
std = "lua54"
max_line_length = 130

-- Prosody modules: Prosody gives each a `module` object (whose load,
-- unload, command... fields a module sets) and the global `prosody`
-- (prosodyctl's placeholder hosts are set up through it); nothing else is
-- global.
files["lua/"] = { globals = { "module", "prosody" } }
files["bench/mod_bench_allowlist.lua"] = { globals = { "module", "prosody" } }
-- busted specs: long literal expectations are kept on one line
files["tests/lua/"] = { std = "+busted", max_line_length = false }
