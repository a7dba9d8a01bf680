-- bench/bench_lua.lua: the policy core through the Lua binding, next to a
-- plain Lua-table implementation of the same lookups (what a Prosody admin
-- would otherwise write: lower-case the name, strip a trailing dot, index a
-- table, read the record's fields).
--
--   LUA_CPATH='<dir with xmpp_partners/core.so>/?.so;;' lua5.4 bench/bench_lua.lua [--ops N] SIZE...
--
-- Prints ns per call (median of 5 runs) for a working set of 1,000 active
-- partners and for names spread over the whole table, and the table build
-- time.  It prints numbers; it asserts nothing.
local core = require "xmpp_partners.core"
local clock = os.clock

local ops, sizes = 200000, {}
do
	local i = 1
	while arg[i] do
		if arg[i] == "--ops" then ops = tonumber(arg[i + 1]); i = i + 2
		else sizes[#sizes + 1] = tonumber(arg[i]); i = i + 1 end
	end
	if #sizes == 0 then sizes = { 1000 } end
end

local function median(t)
	table.sort(t)
	return t[(#t + 1) // 2]
end

-- ns per call of fn over the names in q, median of 5 runs, minus the cost
-- of an empty loop over the same names.
local function time(fn, q)
	local n = #q
	local empty, runs = {}, {}
	for r = 1, 5 do
		local t0 = clock()
		for i = 1, n do local _ = q[i] end
		empty[r] = clock() - t0
		t0 = clock()
		for i = 1, n do fn(q[i]) end
		runs[r] = clock() - t0
	end
	return (median(runs) - median(empty)) / n * 1e9
end

local types = { "federated", "public_verified", "public_unverified" }

local function bench(n)
	local cfg = {}
	for i = 1, n do
		cfg[("partner%d.corp%d.test"):format(i, i % 977)] = {
			type = types[i % 3 + 1], tls = "required", sasl = "optional",
			dialback = (i % 2 == 0),
		}
	end
	collectgarbage()
	local t0 = clock()
	local tbl = assert(core.build(cfg))
	local build_ms = (clock() - t0) * 1000

	-- The baseline: a plain Lua table of the same records.
	local plain = {}
	for domain, rec in pairs(cfg) do plain[domain] = rec end
	local function plain_resolve(d)
		d = d:lower()
		if d:sub(-1) == "." then d = d:sub(1, -2) end
		return plain[d]
	end
	local function plain_auth(d)
		local r = plain_resolve(d)
		if not r then return false end
		if r.sasl == "not_supported" then return false end
		return true -- encrypted, chain and identity valid: EXTERNAL accepted
	end

	local names = {}
	for domain in pairs(cfg) do names[#names + 1] = domain end
	local hot, all = {}, {}
	local seed = 12345
	local function rnd(m) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % m + 1 end
	for i = 1, ops do
		all[i] = names[rnd(#names)]
		hot[i] = names[(rnd(1000) - 1) % #names + 1]
	end

	local resolve = function (d) return tbl:resolve(d) end
	local auth = function (d) return tbl:auth(d, "incoming", "EXTERNAL", true, "valid", "valid", false) end
	print(("%9d partners: core.build %8.1f ms"):format(n, build_ms))
	for _, set in ipairs({ { "1000 active", hot }, { "random over all", all } }) do
		print(("%9s %-16s resolve %6.0f ns (plain Lua %5.0f ns)   auth %6.0f ns (plain Lua %5.0f ns)"):format(
			"", set[1], time(resolve, set[2]), time(plain_resolve, set[2]),
			time(auth, set[2]), time(plain_auth, set[2])))
	end
	tbl:close()
end

print(("xmpp-partners through the Lua binding (%s), median of 5 runs, %d calls each"):format(_VERSION, ops))
for _, n in ipairs(sizes) do bench(n) end
