-- walk_spec.lua: the Lua binding's walk of a Lua table (core.build, used
-- for Prosody's own configuration) and the evaluator's walk (walk.c, used
-- by core.read_file/load_file, the NIF's partner_file/1 and the CLI for a
-- partner file) must name odd keys and tell lists apart the same way, or
-- the same table gives different diagnostics by where it is written.
-- One adversarial table goes through both; the error texts must be equal.
local here = debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") or ""
local helpers = dofile(here .. "helpers.lua")
local core = helpers.core

-- Written with no library (the sandbox has no math): 1/0 is math.huge.
local adversarial = [[
xmpp_partners_default = true
xmpp_partners_keepalive_interval = 2.5
xmpp_partners_connection_limit = 1e300
xmpp_partners = {
	["a.example"] = {
		[1] = "x", [2.0] = "two", [2.5] = 1, [1e300] = 1, [-0.0] = 1, [1/0] = 1, [-1/0] = 1,
		[true] = 1, [false] = 2,
		connection_limit = 2.5, keepalive = 2.0, tls = { x = 1 },
		additional_domains = { "b.example", nil, "c.example" },
		fingerprints = { 1, 2.5, true, { } },
		description = { { "nested" }, { { } } },
	};
	["d.example"] = { additional_domains = { [1] = "e.example", [3] = "f.example" } };
	["g.example"] = { additional_domains = { [1] = "h.example", [2] = 7, [3] = true } };
	["i.example"] = { additional_domains = { [0] = "j.example", [1] = "k.example" } };
	["l.example"] = { additional_domains = { [1] = "m.example", [2.0] = "n.example" } };
	["o.example"] = { additional_domains = { [1] = "p.example", x = "q.example" } };
	["r.example"] = "not a table";
	["s.example"] = 2.5;
	["t.example"] = { [true] = 1, [2] = "two" };
	[1] = { }, [2.5] = { }, [true] = { }, [false] = { }, [1/0] = { }, [-0.0] = { }, [1e300] = { },
	[3] = "x";
}
]]

local function tmpfile(text)
	local path = os.tmpname()
	local f = assert(io.open(path, "wb"))
	f:write(text)
	f:close()
	return path
end

-- The binding's walk: the same text evaluated by plain Lua.
local function binding_errors(path)
	local env = {}
	assert(load(adversarial, "=adversarial", "t", env))()
	local opts = {}
	for k, v in pairs(env) do
		local short = k:match("^xmpp_partners_(.+)$")
		if short then opts[short] = v; end
	end
	local tbl, diags = core.build(env.xmpp_partners, opts)
	assert.is_nil(tbl)
	local errors = {}
	for _, d in ipairs(diags) do
		if d.severity == "error" then errors[#errors + 1] = d.message; end
	end
	return path .. ": " .. table.concat(errors, "; "), #errors
end

describe("the binding's walk and the evaluator's walk", function()
	it("give the same errors for an adversarial table", function()
		local path = tmpfile(adversarial)
		local partners, from_file = core.read_file(path)
		local from_binding, count = binding_errors(path)
		os.remove(path)
		assert.is_nil(partners)
		assert.is_true(count >= 20, "only " .. count .. " errors: " .. from_binding)
		assert.are.equal(from_binding, from_file)
		-- spot checks that the walk named the keys as Lua does
		for _, name in ipairs({ "[2.5]", "[1e+300]", "[inf]", "[-inf]", "[true]", "[false]", "[0]" }) do
			assert.truthy(from_file:find(name, 1, true), name .. " not in " .. from_file)
		end
	end)
end)
