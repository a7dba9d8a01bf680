-- read_file_spec.lua: core.read_file, the partner file (xmpp_partners_file)
-- evaluated in the sandbox and copied into the calling state: values,
-- options, notes, and every way a file can be wrong.
local here = debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") or ""
local helpers = dofile(here .. "helpers.lua")
local core = helpers.core
local error_of = helpers.error_of

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

local n = 0
local function file(text)
	n = n + 1
	local path = dir .. "/partners-" .. n .. ".cfg.lua"
	local f = assert(io.open(path, "wb"))
	f:write(text)
	f:close()
	return path
end

teardown(function()
	os.execute("rm -rf '" .. dir .. "'")
end)

describe("core.read_file", function()
	it("returns the partners, the xmpp_partners_* options and no notes", function()
		local path = file([[
xmpp_partners_default = "allow"
xmpp_partners_keepalive_interval = 120
xmpp_partners_connection_limit = 50
xmpp_partners = {
	["fabrikam.com"] = { type = "federated", tls = "required", sasl = "optional", dialback = true,
		additional_domains = { "chat.fabrikam.com", "im.fabrikam.com" } };
	["contoso.com"] = { description = "Contoso", connection_limit = 3 };
}
]])
		local partners, opts, notes = core.read_file(path)
		assert.are.same({
			["fabrikam.com"] = { type = "federated", tls = "required", sasl = "optional", dialback = true,
				additional_domains = { "chat.fabrikam.com", "im.fabrikam.com" } },
			["contoso.com"] = { description = "Contoso", connection_limit = 3 },
		}, partners)
		assert.are.same({ default = "allow", keepalive_interval = 120, connection_limit = 50 }, opts)
		assert.are.same({}, notes)
		-- a sequence stays a sequence, an integer stays an integer
		assert.are.equal(2, #partners["fabrikam.com"].additional_domains)
		assert.are.equal("integer", math.type(partners["contoso.com"].connection_limit))
	end)

	it("builds the same table as the same records given from Lua", function()
		local path = file([[
xmpp_partners = {
	["fabrikam.com"] = { tls = "required", sasl = "not_supported", dialback = true };
	["Contoso.COM"] = { additional_domains = { "chat.contoso.com" } };
}
]])
		local partners, opts = core.read_file(path)
		local a = assert(core.build(partners, opts))
		local b = assert(core.build({
			["fabrikam.com"] = { tls = "required", sasl = "not_supported", dialback = true },
			["Contoso.COM"] = { additional_domains = { "chat.contoso.com" } },
		}))
		assert.are.same(b:partners(), a:partners())
		assert.are.same(b:lookup("chat.contoso.com"), a:lookup("chat.contoso.com"))
		assert.are.same(b:lookup("fabrikam.com"), a:lookup("fabrikam.com"))
		assert.is_nil(a:resolve("evil.example"))
	end)

	it("gives an empty table when the file assigns no partners", function()
		local partners, opts, notes = core.read_file(file("-- nothing yet\n"))
		assert.are.same({}, partners)
		assert.are.same({}, opts)
		assert.are.same({}, notes)
	end)

	it("reads a whole prosody.cfg.lua, global section only, with notes", function()
		local path = file([[
admins = { "admin@example.com" }
Include "conf.d/*.cfg.lua"
xmpp_partners = { ["fabrikam.com"] = {} }
VirtualHost "example.com"
xmpp_partners = { ["ignored.example"] = {} }
]])
		local partners, _, notes = core.read_file(path)
		assert.are.same({ ["fabrikam.com"] = {} }, partners)
		assert.are.equal(1, #notes)
		assert.truthy(notes[1]:find(path .. ":2: ", 1, true), notes[1])
		assert.truthy(notes[1]:find("Include", 1, true), notes[1])
	end)

	it("refuses a file with errors as the CLI and the NIF do, naming file, partner and key", function()
		local path = file([[
xmpp_partners = { ["fabrikam.com"] = { tls = function () return "required" end } }
]])
		local partners, msg = core.read_file(path)
		assert.is_nil(partners)
		assert.truthy(msg:find(path .. ": ", 1, true) == 1, msg)
		assert.truthy(msg:find("fabrikam.com", 1, true), msg)
		assert.truthy(msg:find("tls", 1, true), msg)
		assert.truthy(msg:find("function", 1, true), msg)
		local f, lmsg = core.load_file(path)
		assert.is_nil(f)
		assert.are.equal(msg, lmsg)
	end)

	it("names the file for a file that cannot be read", function()
		local partners, msg = core.read_file(dir .. "/missing.cfg.lua")
		assert.is_nil(partners)
		assert.truthy(msg:find(dir .. "/missing.cfg.lua", 1, true), msg)
		assert.truthy(msg:find("No such file", 1, true), msg)
	end)

	it("names the file and line of a syntax error", function()
		local path = file('xmpp_partners = {\n\t["a.example"] = { tls = "required" dialback = true };\n}\n')
		local partners, msg = core.read_file(path)
		assert.is_nil(partners)
		assert.truthy(msg:find(path .. ":2:", 1, true), msg)
	end)

	it("names the file and line of a runtime error", function()
		local path = file('local x = nil\nxmpp_partners = { [x.y] = {} }\n')
		local partners, msg = core.read_file(path)
		assert.is_nil(partners)
		assert.truthy(msg:find(path .. ":2:", 1, true), msg)
	end)

	it("refuses an xmpp_partners that is not a table, saying how to write it", function()
		local path = file('xmpp_partners = "fabrikam.com"\n')
		local partners, msg = core.read_file(path)
		assert.is_nil(partners)
		assert.truthy(msg:find(path .. ": xmpp_partners is a string, not a table", 1, true), msg)
		assert.truthy(msg:find('xmpp_partners = { ["domain"]', 1, true), msg)
	end)

	it("stops a file that reaches outside the sandbox", function()
		for _, text in ipairs({
			'os.execute("touch ' .. dir .. '/pwned")\nxmpp_partners = {}\n',
			'xmpp_partners = { [io.open("/etc/passwd"):read("l")] = {} }\n',
			'require "socket"\n',
			'xmpp_partners = load("return {}")()\n',
		}) do
			local partners, msg = core.read_file(file(text))
			assert.is_nil(partners, text)
			assert.are.equal("string", type(msg))
		end
		local f = io.open(dir .. "/pwned")
		assert.is_nil(f)
	end)

	it("stops an endless loop at the instruction limit", function()
		local partners, msg = core.read_file(file("while true do end\n"))
		assert.is_nil(partners)
		assert.truthy(msg:find("Lua instructions", 1, true), msg)
	end)

	it("refuses a precompiled chunk", function()
		local path = dir .. "/binary.cfg.lua"
		local f = assert(io.open(path, "wb"))
		f:write(string.dump(function () return 1 end))
		f:close()
		local partners, msg = core.read_file(path)
		assert.is_nil(partners)
		assert.are.equal("string", type(msg))
	end)

	it("refuses a table that contains itself", function()
		local partners, msg = core.read_file(file('local t = {}\nt.self = t\nxmpp_partners = { ["a.example"] = t }\n'))
		assert.is_nil(partners)
		assert.truthy(msg:find("xmpp_partners", 1, true), msg)
	end)

	it("throws on a bad argument", function()
		assert.truthy(error_of(core.read_file):find("string expected", 1, true))
		assert.truthy(error_of(core.read_file, {}):find("string expected", 1, true))
		assert.truthy(error_of(core.read_file, ""):find("without NUL bytes", 1, true))
		assert.truthy(error_of(core.read_file, dir .. "/a\0b"):find("without NUL bytes", 1, true))
	end)

	it("reads 10,000 partners", function()
		local lines = { "xmpp_partners = {" }
		for i = 1, 10000 do
			lines[#lines + 1] = string.format('\t["p%d.corp%d.example"] = { type = "federated"; tls = "required"; sasl = "optional"; dialback = %s };',
				i, i % 97, i % 2 == 0 and "true" or "false")
		end
		lines[#lines + 1] = "}"
		local partners, opts = core.read_file(file(table.concat(lines, "\n")))
		assert.is_table(partners, opts)
		local tbl = assert(core.build(partners, opts))
		assert.are.equal(10000, tbl:info().count)
		assert.are.equal("p77.corp77.example", tbl:resolve("P77.corp77.example"))
	end)
end)

-- core.load_file: the same evaluation, the values kept in C memory behind
-- a file object that hands out fresh copies.
describe("core.load_file", function()
	local text = [[
xmpp_partners_default = "allow"
xmpp_partners_keepalive_interval = 120
xmpp_partners_connection_limit = 2.0
xmpp_partners = {
	["fabrikam.com"] = { type = "federated", tls = "required", sasl = "optional", dialback = true,
		additional_domains = { "chat.fabrikam.com", "im.fabrikam.com" }, keepalive = false };
	["contoso.com"] = { description = "Contoso \0 with a NUL and ]] .. string.rep("x", 300) .. [[", connection_limit = 3 };
}
]]

	it("hands out what read_file gives, as fresh tables each time", function()
		local path = file(text)
		local partners, opts, notes = core.read_file(path)
		local f, fnotes = core.load_file(path)
		assert.are.equal("userdata", type(f))
		assert.are.same(notes, fnotes)
		local p1, p2 = f:partners(), f:partners()
		assert.are_not.equal(p1, p2)
		assert.are.same(partners, p1)
		assert.are.same(partners, p2)
		assert.are.same(opts, f:options())
		assert.are.same({ default = "allow", keepalive_interval = 120, connection_limit = 2.0 }, f:options())
		assert.are.equal("integer", math.type(p1["contoso.com"].connection_limit))
		assert.are.equal("float", math.type(f:options().connection_limit))
		assert.are.equal(2, #p1["fabrikam.com"].additional_domains)
		-- a change to a copy changes nothing in the file object
		p1["fabrikam.com"].tls = "optional"
		assert.are.equal("required", f:partners()["fabrikam.com"].tls)
		assert.truthy(tostring(f):find("bytes", 1, true))
	end)

	it("builds the same table as read_file's values", function()
		local path = file(text)
		local f = assert(core.load_file(path))
		local a = assert(core.build(f:partners(), f:options()))
		local b = assert(core.build(core.read_file(path)))
		assert.are.same(b:partners(), a:partners())
		assert.are.same(b:lookup("im.fabrikam.com"), a:lookup("im.fabrikam.com"))
		assert.are.same(b:info(), a:info())
	end)

	it("gives empty tables when the file assigns nothing", function()
		local f = assert(core.load_file(file("-- nothing yet\n")))
		assert.are.same({}, f:partners())
		assert.are.same({}, f:options())
	end)

	it("fails as read_file does, naming the file", function()
		local partners, msg = core.load_file(dir .. "/missing.cfg.lua")
		assert.is_nil(partners)
		assert.truthy(msg:find("No such file", 1, true), msg)
		local path = file('xmpp_partners = "fabrikam.com"\n')
		partners, msg = core.load_file(path)
		assert.is_nil(partners)
		assert.truthy(msg:find(path .. ": xmpp_partners is a string, not a table", 1, true), msg)
		assert.truthy(error_of(core.load_file, ""):find("without NUL bytes", 1, true))
	end)

	it("refuses use after close, and closing twice is harmless", function()
		local f = assert(core.load_file(file(text)))
		f:close()
		f:close()
		assert.truthy(error_of(f.partners, f):find("closed", 1, true))
		assert.truthy(error_of(f.options, f):find("closed", 1, true))
		assert.truthy(tostring(f):find("closed", 1, true))
		assert.truthy(error_of(f.partners, {}):find("expected", 1, true))
	end)

	it("keeps 10,000 partners in less memory than their Lua tables", function()
		local lines = { "xmpp_partners = {" }
		for i = 1, 10000 do
			lines[#lines + 1] = string.format('\t["p%d.corp%d.example"] = { type = "federated"; tls = "required"; sasl = "optional"; dialback = %s };',
				i, i % 97, i % 2 == 0 and "true" or "false")
		end
		lines[#lines + 1] = "}"
		local path = file(table.concat(lines, "\n"))
		collectgarbage("collect")
		local before = collectgarbage("count")
		local f = assert(core.load_file(path))
		collectgarbage("collect")
		-- the encoded values are C memory: the Lua heap holds one userdata
		assert.is_true(collectgarbage("count") - before < 16, "Lua heap grew")
		local bytes = tonumber(tostring(f):match("(%d+) bytes"))
		assert.is_true(bytes < 10000 * 120, bytes)
		local partners = f:partners()
		assert.are.same(core.read_file(path), partners)
		local tbl = assert(core.build(partners, f:options()))
		assert.are.equal(10000, tbl:info().count)
	end)
end)
