-- core_spec.lua: the module functions of xmpp_partners.core: loading,
-- build/check with their diagnostics, normalize, matrix, reason texts.
local here = debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") or ""
local helpers = dofile(here .. "helpers.lua")
local core = helpers.core
local find, error_of = helpers.find, helpers.error_of

describe("xmpp_partners.core module", function()
	it("has the version of the core", function()
		-- the version of configure.ac's AC_INIT (AM_TESTS_ENVIRONMENT)
		assert.are.equal(os.getenv("PACKAGE_VERSION"), core.version)
	end)

	it("exports exactly the documented functions", function()
		local names = {}
		for k, v in pairs(core) do
			names[#names + 1] = k .. ":" .. type(v)
		end
		table.sort(names)
		assert.are.same({ "backoff_next:function", "build:function", "cert:function", "change_refused:function",
			"change_text:function", "check:function",
			"check_text:function", "closed:function", "diag_line:function", "export_text:function", "load_file:function", "matrix:function", "normalize:function",
			"option_note:function", "overlay:function", "parse_value:function", "read_file:function",
			"read_record:function",
			"reason_is_final:function",
			"reason_text:function", "refusal:function", "refusal_summary:function",
			"version:string" }, names)
	end)

	-- issue 20: a record typed at an admin prompt, and misspelled options
	it("read_record: a record as typed, with an undefined name an error naming it", function()
		local r = core.read_record('{ type = "federated"; sasl = "optional"; dialback = true;'
			.. ' additional_domains = { "x.test" }; description = string.upper("x") }')
		assert.are.equal("federated", r.type)
		assert.are.equal(true, r.dialback)
		assert.are.equal("x.test", r.additional_domains[1])
		assert.are.equal("X", r.description)
		local none, err = core.read_record('{ sasl = optional }')
		assert.is_nil(none)
		assert.are.equal([['optional' is not defined, so it reads as nil; if it is meant as a value, put it in quotes: "optional"]], err)
		none, err = core.read_record('{ x = io.open("/etc/passwd") }')
		assert.is_nil(none)
		assert.truthy(err:find("'io' is not available", 1, true))
		none, err = core.read_record('42')
		assert.is_nil(none)
		assert.truthy(err:find("as a table", 1, true))
		none, err = core.read_record('{ unclosed')
		assert.is_nil(none)
		assert.truthy(err:find("record:1:", 1, true))
	end)

	it("option_note: misspelled options with the nearest name, nothing for real ones", function()
		assert.are.equal("'xmpp_partners_defualt' is not an option of xmpp-partners, so it is ignored;"
			.. " did you mean 'xmpp_partners_default'?", core.option_note("xmpp_partners_defualt"))
		assert.is_nil(core.option_note("xmpp_partners_default"))
		assert.is_nil(core.option_note("xmpp_partners_file"))
		assert.is_nil(core.option_note("s2s_secure_auth"))
		-- option names longer than 32 characters get their suggestion too
		assert.are.equal("'xmpp_partners_pending_per_adress' is not an option of xmpp-partners, so it is"
			.. " ignored; did you mean 'xmpp_partners_pending_per_address'?",
			core.option_note("xmpp_partners_pending_per_adress"))
	end)

	it("creates no Lua globals, also when loaded again", function()
		local before = {}
		for k in pairs(_G) do before[k] = true end
		package.loaded["xmpp_partners.core"] = nil
		local again = require "xmpp_partners.core"
		assert.are_not.equal(core, again)
		for k in pairs(_G) do
			assert.is_true(before[k], "new global " .. tostring(k))
		end
		-- Both module tables share the state's context: objects from
		-- either work and are of the same type.
		local a = helpers.build({ ["a.example"] = {} })
		local b = assert(again.build({ ["a.example"] = {} }))
		assert.are.equal(getmetatable(a), getmetatable(b))
		assert.are.equal("a.example", b:resolve("a.example"))
		package.loaded["xmpp_partners.core"] = core
	end)

	it("names its metatables in its own namespace", function()
		local t = core.closed()
		assert.are.equal("xmpp_partners.core.table", getmetatable(t).__name)
		assert.matches("^xmpp_partners%.core%.table", tostring(t))
		t:close()
		assert.matches("closed", tostring(t))
	end)
end)

describe("core.build", function()
	it("builds a table and returns an empty warnings list", function()
		local t, warnings = core.build({
			["fabrikam.com"] = { type = "federated", tls = "required",
				additional_domains = { "corp.fabrikam.com" } },
		})
		assert.are.equal("xmpp_partners.core.table", getmetatable(t).__name)
		assert.are.same({}, warnings)
		assert.are.equal(1, t:info().count)
	end)

	it("builds an empty table from {}", function()
		local t, warnings = helpers.build({})
		assert.are.same({}, warnings)
		assert.are.same({}, t:partners())
		assert.are.equal(0, t:info().count)
	end)

	it("loads a warn row with a warning naming partner, key and row", function()
		local t, warnings = helpers.build({
			["contoso.com"] = { tls = "optional", sasl = "optional", dialback = true },
		})
		helpers.check_shape(warnings)
		assert.are.equal(1, #warnings)
		local w = warnings[1]
		assert.are.equal("warning", w.severity)
		assert.are.equal("contoso.com", w.partner)
		assert.are.equal(9, w.row)
		assert.is_string(w.key)
		assert.truthy(w.message:find(helpers.matrix[9].reason, 1, true))
		assert.are.same(warnings, t:warnings())
	end)

	it("loads row 1 (Lync's defaults) with a warning", function()
		local _, warnings = helpers.build({
			["lync.example"] = { tls = "required", sasl = "required", dialback = true },
		})
		assert.are.equal(1, #find(warnings, { severity = "warning", row = 1 }))
	end)

	it("refuses an error row: tls not_supported with sasl required", function()
		-- Row 5 is this combination with dialback = true; with the
		-- default dialback = false it is row 6.  Both are errors.
		local t, diags = core.build({
			["bad.example"] = { tls = "not_supported", sasl = "required", dialback = true },
		})
		assert.is_nil(t)
		helpers.check_shape(diags)
		local d = find(diags, { severity = "error", partner = "bad.example", row = 5 })
		assert.are.equal(1, #d)
		assert.truthy(d[1].message:find(helpers.matrix[5].reason, 1, true))

		t, diags = core.build({
			["bad.example"] = { tls = "not_supported", sasl = "required" },
		})
		assert.is_nil(t)
		assert.are.equal(1, #find(diags, { severity = "error", partner = "bad.example", row = 6 }))
	end)

	it("refuses every error row of the matrix", function()
		for _, r in ipairs(helpers.error_rows) do
			local t, diags = core.build({ ["x.example"] = helpers.record(r) })
			assert.is_nil(t, "row " .. r.row)
			assert.are.equal(1, #find(diags, { severity = "error", row = r.row }), "row " .. r.row)
		end
	end)

	it("loads every ok and warn row, warning exactly for warn rows", function()
		for _, r in ipairs(helpers.loadable_rows) do
			local t, warnings = helpers.build({ ["x.example"] = helpers.record(r) })
			local rec = t:lookup("x.example")
			assert.are.equal(r.row, rec.row)
			assert.are.equal(r.verdict, rec.verdict)
			assert.are.same(r.methods, rec.methods)
			assert.are.equal(r.reason, rec.reason)
			local n = #find(warnings, { severity = "warning", row = r.row })
			assert.are.equal(r.verdict == "warn" and 1 or 0, n, "row " .. r.row)
		end
	end)

	it("reports an unknown key with the nearest valid key", function()
		local t, diags = core.build({ ["contoso.com"] = { dialbak = true } })
		assert.is_nil(t)
		local d = find(diags, { severity = "error", partner = "contoso.com", key = "dialbak" })
		assert.are.equal(1, #d)
		assert.are.equal("dialback", d[1].suggestion)
		assert.truthy(d[1].message:find("dialbak", 1, true))
	end)

	it("suggests the nearest value for a misspelt one", function()
		local _, diags = core.build({ ["a.example"] = { sasl = "requried", type = "federatd" } })
		assert.are.equal("required", find(diags, { key = "sasl" })[1].suggestion)
		assert.are.equal("federated", find(diags, { key = "type" })[1].suggestion)
	end)

	it("reports wrong value types by key, without throwing", function()
		local t, diags = core.build({
			["a.example"] = {
				tls = 1,
				sasl = true,
				dialback = "yes",
				keepalive = {},
				description = print,
				connection_limit = "20",
				additional_domains = "b.example",
				fingerprints = { 1, 2 },
				proxy = { host = "x" },
				type = coroutine.create(function() end),
			},
		})
		assert.is_nil(t)
		helpers.check_shape(diags)
		for _, key in ipairs({ "tls", "sasl", "dialback", "keepalive", "description",
			"connection_limit", "additional_domains", "fingerprints", "proxy", "type" }) do
			local d = find(diags, { severity = "error", partner = "a.example", key = key })
			assert.is_true(#d >= 1, "no diagnostic for " .. key)
		end
		assert.truthy(find(diags, { key = "proxy" })[1].message:find("table with non-list keys", 1, true))
		assert.truthy(find(diags, { key = "description" })[1].message:find("function", 1, true))
	end)

	it("takes whole floats as integers and refuses fractions and bad ranges", function()
		local t = helpers.build({ ["a.example"] = { connection_limit = 5.0 } })
		assert.are.equal(5, t:lookup("a.example").connection_limit)
		for _, bad in ipairs({ 2.5, 0, -1, 1e300, 0 / 0 }) do
			local t2, diags = core.build({ ["a.example"] = { connection_limit = bad } })
			assert.is_nil(t2, tostring(bad))
			assert.are.equal(1, #find(diags, { severity = "error", key = "connection_limit" }), tostring(bad))
		end
	end)

	it("reports a record that is not a table", function()
		for _, v in ipairs({ 5, "federated", true, print }) do
			local t, diags = core.build({ ["a.example"] = v })
			assert.is_nil(t)
			local d = find(diags, { severity = "error", partner = "a.example" })
			assert.are.equal(1, #d)
			assert.truthy(d[1].message:find(type(v), 1, true))
		end
	end)

	it("reports non-string partner keys through the domain check", function()
		local t, diags = core.build({ [1] = {}, [true] = {}, ["ok.example"] = {} })
		assert.is_nil(t)
		helpers.check_shape(diags)
		assert.are.equal(1, #find(diags, { severity = "error", partner = "1" }))
		assert.are.equal(1, #find(diags, { severity = "error", partner = "true" }))
		assert.truthy(find(diags, { partner = "true" })[1].message:find("boolean key", 1, true))
		t, diags = core.build({ [math.huge] = {} })
		assert.is_nil(t)
		assert.are.equal(1, helpers.count(diags, "error"))
	end)

	it("reports non-string keys inside a record", function()
		local t, diags = core.build({ ["a.example"] = { [1] = "x", [true] = 1 } })
		assert.is_nil(t)
		assert.are.equal(1, #find(diags, { severity = "error", key = "[1]" }))
		assert.are.equal(1, #find(diags, { severity = "error", key = "[true]" }))
		-- no misleading "did you mean 'type'?" for [true]
		assert.is_nil(find(diags, { key = "[true]" })[1].suggestion)
	end)

	it("refuses malformed partner domains", function()
		for _, dom in ipairs({ "", "*.example.com", "example.com:5269", "user@example.com",
			"192.0.2.1", "a..b", "-a.example", string.rep("a", 64) .. ".example",
			"example.com/path" }) do
			local t, diags = core.build({ [dom] = {} })
			assert.is_nil(t, dom)
			assert.are.equal(1, helpers.count(diags, "error"), dom)
		end
	end)

	it("normalizes partner domains", function()
		local t = helpers.build({ ["Fabrikam.COM."] = { additional_domains = { "CORP.fabrikam.com" } } })
		assert.are.same({ "fabrikam.com" }, t:partners())
		assert.are.same({ "corp.fabrikam.com" }, t:lookup("fabrikam.com").additional_domains)
	end)

	it("refuses a domain listed by two partners", function()
		local t, diags = core.build({
			["a.example"] = { additional_domains = { "shared.example" } },
			["b.example"] = { additional_domains = { "Shared.Example" } },
		})
		assert.is_nil(t)
		local d = find(diags, { severity = "error", message = "shared.example" })
		assert.are.equal(1, #d)
		assert.truthy(d[1].message:find("a.example", 1, true))
		assert.truthy(d[1].message:find("b.example", 1, true))

		t, diags = core.build({
			["a.example"] = {},
			["b.example"] = { additional_domains = { "a.example" } },
		})
		assert.is_nil(t)
		assert.are.equal(1, helpers.count(diags, "error"))
	end)

	it("reports a partners value that is not a table as the xmpp_partners option", function()
		for _, v in ipairs({ "x", 5, true }) do
			local t, diags = core.build(v)
			assert.is_nil(t)
			assert.are.equal(1, #find(diags, { severity = "error", key = "xmpp_partners", partner = nil }))
		end
		local t, diags = core.build(nil)
		assert.is_nil(t)
		assert.are.equal(1, #find(diags, { key = "xmpp_partners" }))
		t, diags = core.build()
		assert.is_nil(t)
		assert.are.equal(1, #find(diags, { key = "xmpp_partners" }))
	end)

	it("returns errors and warnings together, in a stable order", function()
		local config = {
			["z.example"] = { tls = "optional", sasl = "optional", dialback = true },
			["a.example"] = { tlss = "required" },
			["m.example"] = { tls = "not_supported", sasl = "optional" },
		}
		local t, diags = core.build(config)
		assert.is_nil(t)
		helpers.check_shape(diags)
		assert.are.equal(1, helpers.count(diags, "warning"))
		assert.are.equal(2, helpers.count(diags, "error"))
		local partners = {}
		for _, d in ipairs(diags) do partners[#partners + 1] = d.partner end
		assert.are.same({ "a.example", "m.example", "z.example" }, partners)
		for _ = 1, 5 do
			local _, again = core.build(config)
			assert.are.same(diags, again)
		end
	end)

	it("takes the global options, with or without the xmpp_partners_ prefix", function()
		-- the bounds on unauthenticated streams, at their defaults
		local function with_preauth(info, over)
			local t = { pending_per_address = 10, pending_limit = 500, auth_timeout = 30,
				preauth_bytes = 65536, preauth_depth = 16 }
			for k, v in pairs(info) do t[k] = v; end
			for k, v in pairs(over or {}) do t[k] = v; end
			return t
		end
		local t = helpers.build({}, { default = "allow", keepalive_interval = 60,
			connection_limit = 7 })
		assert.are.same(with_preauth({ count = 0, default = "allow", keepalive_interval = 60,
			connection_limit = 7, refusal_backoff = 300, closed = false }), t:info())
		t = helpers.build({}, { xmpp_partners_default = "deny",
			xmpp_partners_keepalive_interval = 30.0, xmpp_partners_connection_limit = 9,
			xmpp_partners_refusal_backoff = 0 })
		assert.are.same(with_preauth({ count = 0, default = "deny", keepalive_interval = 30,
			connection_limit = 9, refusal_backoff = 0, closed = false }), t:info())
		t = helpers.build({})
		assert.are.same(with_preauth({ count = 0, default = "deny", keepalive_interval = 300,
			connection_limit = 1000, refusal_backoff = 300, closed = false }), t:info())
		t = helpers.build({}, { xmpp_partners_pending_per_address = 3, pending_limit = 40,
			xmpp_partners_auth_timeout = 12, preauth_bytes = 8192, xmpp_partners_preauth_depth = 8 })
		assert.are.same(with_preauth({ count = 0, default = "deny", keepalive_interval = 300,
			connection_limit = 1000, refusal_backoff = 300, closed = false }, { pending_per_address = 3,
			pending_limit = 40, auth_timeout = 12, preauth_bytes = 8192, preauth_depth = 8 }), t:info())
	end)

	it("reports bad options as diagnostics", function()
		local cases = {
			{ { default = "maybe" }, "default" },
			{ { default = true }, "default" },
			{ { default = 1 }, "default" },
			{ { keepalive_interval = "300" }, "keepalive_interval" },
			{ { keepalive_interval = 2.5 }, "keepalive_interval" },
			{ { keepalive_interval = 0 }, "keepalive_interval" },
			{ { connection_limit = {} }, "connection_limit" },
			{ { xmpp_partners_connection_limit = -5 }, "xmpp_partners_connection_limit" },
			{ { default = "deny", xmpp_partners_default = "deny" }, "xmpp_partners_default" },
		}
		for _, c in ipairs(cases) do
			local t, diags = core.build({}, c[1])
			assert.is_nil(t, c[2])
			helpers.check_shape(diags)
			local d = find(diags, { severity = "error", key = c[2] })
			assert.are.equal(1, #d, c[2])
			assert.is_nil(d[1].partner)
		end
	end)

	it("reports an unknown option with a suggestion", function()
		local t, diags = core.build({}, { keepalive_intervl = 30 })
		assert.is_nil(t)
		local d = find(diags, { severity = "error", key = "keepalive_intervl" })
		assert.are.equal(1, #d)
		assert.are.equal("keepalive_interval", d[1].suggestion)
	end)

	it("throws for API misuse of its arguments", function()
		assert.truthy(error_of(core.build, {}, "options"))
		assert.truthy(error_of(core.build, {}, 5))
		assert.truthy(error_of(core.build, {}, { [1] = "allow" }))
		assert.truthy(error_of(core.build, {}, { [true] = 1 }))
	end)

	it("is not confused by metatables on the configuration", function()
		local rec = setmetatable({}, { __index = function() error("touched") end,
			__pairs = function() error("touched") end })
		local cfg = setmetatable({ ["a.example"] = rec },
			{ __index = function() error("touched") end })
		local t = helpers.build(cfg)
		assert.are.equal("a.example", t:resolve("a.example"))
	end)

	it("handles a huge sparse list and mixed keys without error", function()
		local t, diags = core.build({ ["a.example"] = {
			additional_domains = { [1] = "b.example", [1000000] = "c.example" },
			fingerprints = { "x", n = 1 },
		} })
		assert.is_nil(t)
		assert.are.equal(1, #find(diags, { key = "additional_domains" }))
		assert.are.equal(1, #find(diags, { key = "fingerprints" }))
		assert.truthy(find(diags, { key = "fingerprints" })[1].message:find("non-list", 1, true))
	end)
end)

describe("core.check", function()
	it("accepts a valid record", function()
		local ok, diags = core.check("fabrikam.com", { type = "federated" })
		assert.is_true(ok)
		assert.are.same({}, diags)
	end)

	it("accepts a warn row and returns its warning", function()
		local ok, diags = core.check("fabrikam.com", { tls = "optional" })
		assert.is_true(ok)
		assert.are.equal(1, #find(diags, { severity = "warning", row = 4, partner = "fabrikam.com" }))
	end)

	it("refuses an error row, unknown keys and bad types", function()
		local ok, diags = core.check("a.example", { tls = "not_supported", sasl = "required", dialback = true })
		assert.is_false(ok)
		assert.are.equal(1, #find(diags, { severity = "error", row = 5 }))
		ok, diags = core.check("a.example", { dialbak = true })
		assert.is_false(ok)
		assert.are.equal("dialback", find(diags, { key = "dialbak" })[1].suggestion)
		ok, diags = core.check("a.example", { connection_limit = "many" })
		assert.is_false(ok)
		assert.are.equal(1, #find(diags, { key = "connection_limit" }))
	end)

	it("refuses a record that is not a table, and a bad domain", function()
		local ok, diags = core.check("a.example", "federated")
		assert.is_false(ok)
		assert.are.equal(1, helpers.count(diags, "error"))
		ok, diags = core.check("a.example:5269", {})
		assert.is_false(ok)
		assert.are.equal(1, helpers.count(diags, "error"))
	end)

	it("refuses a record listing its own primary domain again", function()
		local ok, diags = core.check("a.example", { additional_domains = { "A.example" } })
		assert.is_false(ok)
		assert.are.equal(1, helpers.count(diags, "error"))
	end)

	it("checks the options given with the record", function()
		local ok, diags = core.check("a.example", {}, { default = "sometimes" })
		assert.is_false(ok)
		assert.are.equal(1, #find(diags, { key = "default" }))
	end)

	it("throws for misuse", function()
		assert.truthy(error_of(core.check, nil, {}))
		assert.truthy(error_of(core.check, {}, {}))
		assert.truthy(error_of(core.check, "a.example", {}, "options"))
	end)
end)

-- issue 15: the sources laid over each other by the core, as on ejabberd
describe("core.overlay", function()
	it("the Fabrikam case: one record however each source spells it, the config's, source named", function()
		local file_rec, cfg_rec = { type = "public_verified" }, { type = "federated" }
		local merged, sources, hidden = core.overlay({ ["Fabrikam.com"] = file_rec, ["f.test"] = {} },
			{ ["fabrikam.com"] = cfg_rec }, nil, nil, "/etc/p.lua")
		assert.are.equal(cfg_rec, merged["fabrikam.com"])
		assert.is_nil(merged["Fabrikam.com"])
		assert.are.same({ ["fabrikam.com"] = "config", ["f.test"] = "file /etc/p.lua" }, sources)
		assert.are.same({}, hidden)
		local tbl = core.build(merged)
		assert.are.equal("federated", tbl:lookup("fabrikam.com").type)
	end)

	it("runtime records override, removals hide, odd keys pass through", function()
		local merged, sources, hidden = core.overlay({ ["f.test"] = { description = "file" } },
			{ ["C.test"] = {}, ["gone.test"] = {}, [true] = "odd" },
			{ ["c.test"] = { description = "rt" }, ["f.test"] = {} }, { ["GONE.test"] = true })
		assert.are.equal("rt", merged["c.test"].description)
		assert.is_nil(merged["C.test"])
		assert.are.equal("runtime (overrides config)", sources["c.test"])
		assert.are.equal("runtime (overrides file)", sources["f.test"])
		assert.are.equal("odd", merged[true])
		assert.are.same({ "gone.test" }, hidden)
	end)

	it("two spellings in one source both stay, for core.build to name", function()
		local merged = core.overlay(nil, { ["a.test"] = {}, ["A.TEST"] = {} })
		local tbl, diags = core.build(merged)
		assert.is_nil(tbl)
		assert.truthy(diags[1].message:find("listed by partner", 1, true))
	end)

	it("refuses arguments that are not tables", function()
		assert.has_error(function() core.overlay("x") end)
		assert.has_error(function() core.overlay(nil, nil, nil, nil, {}) end)
	end)
end)

describe("core.check_text and core.diag_line", function()
	it("gives the one check text: diagnostics by partner, then the verdict", function()
		local _, diags = core.build({ ["z.test"] = { tsl = "required" }, ["a.test"] = { tls = "optional" } })
		local text = core.check_text(diags)
		local lines = {}
		for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
		assert.are.equal(3, #lines)
		assert.truthy(lines[1]:find("^warning: partner 'a%.test'.* is matrix row 4 %(warning%)"))
		assert.are.equal(core.diag_line(diags[1]) .. "\n", text:sub(1, #lines[1] + 1))
		assert.falsy(lines[1]:find("[matrix row", 1, true)) -- said once
		assert.truthy(lines[2]:find("^error: partner 'z%.test': unknown key 'tsl'"))
		assert.are.equal("partner table INVALID: 1 error(s), 1 warning(s); fix them in the configuration "
			.. "or with partners:set/remove", lines[3])
		local t, w = core.build({ ["a.test"] = { tls = "optional" } })
		assert.truthy(t)
		assert.truthy(core.check_text(w, 1):find("\npartner table valid: 1 partner%(s%), 1 warning%(s%)\n$"))
		assert.has_error(function() core.check_text("x") end)
	end)
end)

describe("core.parse_value", function()
	it("reads a value typed for a key the way ejabberdctl partners_set does", function()
		assert.is_nil(core.parse_value("tls", " none "))
		assert.are.same({ "a.test", "b.test" }, core.parse_value("additional_domains", "a.test, b.test"))
		assert.are.same({ "a.test", "b.test" }, core.parse_value("fingerprints", "[a.test, 'b.test']"))
		assert.are.equal(true, core.parse_value("dialback", "yes"))
		assert.are.equal(false, core.parse_value("keepalive", "0"))
		assert.are.equal(20, core.parse_value("connection_limit", "20"))
		assert.are.equal(math.type and "integer" or "number", math.type and math.type(core.parse_value("connection_limit", "20")) or "number")
		assert.are.equal("maybe", core.parse_value("dialback", "maybe"))
		assert.are.equal("1", core.parse_value("tls", "1"))
		assert.has_error(function() core.parse_value("tls") end)
	end)
end)

describe("core.normalize", function()
	it("normalizes case, the trailing dot and IDNs", function()
		assert.are.equal("fabrikam.com", core.normalize("Fabrikam.COM."))
		assert.are.equal("xn--bcher-kva.example", core.normalize("bücher.example"))
		assert.are.equal("xn--bcher-kva.example", core.normalize("xn--bcher-kva.example"))
	end)

	it("returns nil and why for malformed domains", function()
		for _, dom in ipairs({ "", ".", "example.com:5222", "*.example.com", "user@example.com",
			"192.0.2.1", "[2001:db8::1]", "a..b", "-a.example", "a-.example",
			string.rep("a", 64) .. ".example", string.rep("abcdefghi.", 26) .. "com",
			"exa mple.com", "example.com/x", "a\0b.example" }) do
			local n, why = core.normalize(dom)
			assert.is_nil(n, dom)
			assert.is_string(why)
		end
	end)

	it("throws for a non-string", function()
		assert.truthy(error_of(core.normalize, {}))
		assert.truthy(error_of(core.normalize, nil))
	end)
end)

describe("core.matrix", function()
	it("gives every row of negotiation-matrix.tsv, by number and by values", function()
		for _, want in ipairs(helpers.matrix) do
			assert.are.same(want, core.matrix(want.row))
			assert.are.same(want, core.matrix(want.tls, want.sasl, want.dialback))
		end
	end)

	it("returns nil for unknown values", function()
		assert.is_nil(core.matrix(0))
		assert.is_nil(core.matrix(19))
		assert.is_nil(core.matrix(-1))
		assert.is_nil(core.matrix("mandatory", "required", true))
		assert.is_nil(core.matrix("required", "sometimes", false))
	end)

	it("throws for misuse", function()
		assert.truthy(error_of(core.matrix))
		assert.truthy(error_of(core.matrix, 1.5))
		assert.truthy(error_of(core.matrix, true))
		assert.truthy(error_of(core.matrix, "required", "required", "yes"))
		assert.truthy(error_of(core.matrix, "required", nil, true))
	end)
end)

describe("core.reason_text and core.refusal", function()
	local tokens = { "not_partner", "bad_domain", "config_invalid", "tls_required",
		"tls_not_supported", "sasl_not_supported", "sasl_required", "dialback_disabled",
		"cert_untrusted", "cert_identity", "no_cert", "connection_limit",
		"global_connection_limit", "unknown_method" }

	it("has a text for every refusal token", function()
		for _, token in ipairs(tokens) do
			local text = core.reason_text(token)
			assert.is_string(text)
			assert.is_true(#text > 0)
		end
		assert.are.equal("not a partner", core.reason_text("not_partner"))
	end)

	it("formats the canonical refusal line (SPEC section 6)", function()
		assert.are.equal("refused incoming s2s from evil.test: not a partner",
			core.refusal("incoming", "evil.test", "not_partner"))
		local line = core.refusal("outgoing", "evil.test", "tls_required")
		assert.truthy(line:find("^refused outgoing s2s to evil%.test: "))
		assert.truthy(line:find(core.reason_text("tls_required"), 1, true))
	end)

	it("formats long domains in full", function()
		local long = string.rep("x", 5000)
		local line = core.refusal("incoming", long, "bad_domain")
		assert.are.equal("refused incoming s2s from " .. long .. ": " .. core.reason_text("bad_domain"), line)
	end)

	it("says which refusals a retry cannot change (refusal back-off)", function()
		local final = { not_partner = true, bad_domain = true, tls_required = true,
			tls_not_supported = true, sasl_not_supported = true, sasl_required = true,
			dialback_disabled = true, cert_untrusted = true, cert_identity = true,
			no_cert = true, unknown_method = true }
		for _, token in ipairs(tokens) do
			assert.are.equal(final[token] == true, core.reason_is_final(token), token)
		end
		assert.truthy(error_of(core.reason_is_final, "nope"))
	end)

	it("grows back-off windows up to the maximum", function()
		assert.are.equal(10, core.backoff_next(0, 300))
		assert.are.equal(20, core.backoff_next(10, 300))
		assert.are.equal(300, core.backoff_next(160, 300))
		assert.are.equal(0, core.backoff_next(0, 0))
		assert.truthy(error_of(core.backoff_next, -1, 300))
	end)

	it("formats the back-off summary line", function()
		assert.are.equal("refused incoming s2s from j.test 212 more times in the last 60 s: not a partner",
			core.refusal_summary("incoming", "j.test", 212, 60, "not_partner"))
		local long = string.rep("y", 3000)
		assert.are.equal("refused incoming s2s from " .. long .. " 1 more time in the last 10 s: "
			.. core.reason_text("no_cert"), core.refusal_summary("incoming", long, 1, 10, "no_cert"))
		assert.truthy(error_of(core.refusal_summary, "incoming", "j.test", -1, 10, "no_cert"))
		assert.truthy(error_of(core.refusal_summary, "incoming", "j.test", 1, 10, "nope"))
	end)

	it("throws for unknown tokens and directions", function()
		assert.truthy(error_of(core.reason_text, "no_such_token"))
		assert.truthy(error_of(core.reason_text, nil))
		assert.truthy(error_of(core.refusal, "sideways", "a.example", "not_partner"))
		assert.truthy(error_of(core.refusal, "incoming", "a.example", "nope"))
		assert.truthy(error_of(core.refusal, "incoming", nil, "not_partner"))
	end)
end)

-- issue 15: the admin change results and the export, written by the core
describe("core.change_text, core.change_refused and core.export_text", function()
	it("writes each change's result line, values in Lua syntax", function()
		assert.are.equal("pb.test added (runtime, stored)", core.change_text({ op = "add", domain = "pb.test" }))
		assert.are.equal('pb.test: tls = "optional" (runtime, stored)',
			core.change_text({ op = "set", domain = "pb.test", key = "tls", value = "optional", typed = "optional" }))
		assert.are.equal('c.test: keepalive = true ("yes" read as true) (runtime, stored)',
			core.change_text({ op = "set", domain = "c.test", key = "keepalive", value = true, typed = "yes" }))
		assert.are.equal('c.test: keepalive = nil ("none" read as nil) (runtime, stored)',
			core.change_text({ op = "set", domain = "c.test", key = "keepalive", typed = "none" }))
		assert.are.equal('a.test: additional_domains = { "x.test", "y.test" } (runtime, stored)\nwarning: w',
			core.change_text({ op = "set", domain = "a.test", key = "additional_domains",
				value = { "x.test", "y.test" } }, "warning: w"))
		assert.are.equal('b.test removed (its config entry stays hidden until partners:reset("b.test"))',
			core.change_text({ op = "remove", domain = "b.test", hidden = "b.test" }))
		assert.are.equal("b.test removed", core.change_text({ op = "remove", domain = "b.test" }))
		assert.are.equal("b.test: runtime entry cleared, the configuration applies",
			core.change_text({ op = "reset", domain = "b.test" }))
		assert.are.equal("n.test has no refusal back-off", core.change_text({ op = "reset_backoff", domain = "n.test" }))
		assert.are.equal("h.test: refusal back-off ended, its next stream is judged afresh",
			core.change_text({ op = "reset_backoff", domain = "h.test", count = 2 }))
		assert.are.equal("e.test changed (runtime, stored)", core.change_text({ op = "edit", domain = "e.test" }))
	end)

	it("writes refusals naming the change and the fix", function()
		local _, diags = core.build({ ["bad.test"] = { type = "federated", tls = "sometimes" } })
		local text = core.change_refused({ op = "add", domain = "bad.test" }, "invalid", diags)
		assert.are.equal("adding bad.test refused, nothing changed:\n", text:sub(1, 42))
		assert.truthy(text:find("sometimes", 1, true))
		assert.are.equal("setting tls of d.test refused, nothing changed: the change could not be stored (disk full);"
			.. " check the storage configuration and the data directory permissions",
			core.change_refused({ op = "set", domain = "d.test", key = "tls" }, "store", "disk full"))
		assert.are.equal('d.test is already a partner; change it with partners:set("d.test", KEY, VALUE) or remove it first',
			core.change_refused({ op = "add", domain = "d.test" }, "exists"))
		assert.are.equal('nope.test is not a partner; add it with partners:add("nope.test", { ... })',
			core.change_refused({ op = "set", domain = "nope.test", key = "tls" }, "not_partner"))
		assert.are.equal("nope.test is not a partner (see partners:list())",
			core.change_refused({ op = "remove", domain = "nope.test" }, "not_partner"))
		assert.are.equal("x2.test is an additional domain of x.test; change x.test instead",
			core.change_refused({ op = "set", domain = "x2.test", key = "tls" }, "additional", "x.test"))
		assert.are.equal("r.test has no runtime entry or removal to reset",
			core.change_refused({ op = "reset", domain = "r.test" }, "nothing"))
	end)

	it("refuses bad input", function()
		assert.has_error(function() core.change_text({ op = "frobnicate", domain = "x.test" }) end)
		assert.has_error(function() core.change_text({ op = "add" }) end)
		assert.has_error(function() core.change_text({ op = "set", domain = "x.test", key = "k", value = print }) end)
		assert.has_error(function() core.change_text({ op = "set", domain = "x.test", key = "k", value = { 1 } }) end)
		assert.has_error(function() core.change_refused({ op = "set", domain = "x.test", key = "k" }, "additional") end)
		assert.has_error(function() core.export_text({}, { ["x.test"] = { type = print } }, {}) end)
	end)

	it("exports a partner file the builder reads back to the same table", function()
		local records = {
			["b.test"] = { tls = "optional", type = "federated", fingerprints = {},
				description = 'say "hi"\n\0019' },
			["a.test"] = { type = "public_verified", additional_domains = { "a2.test" }, connection_limit = 3 },
		}
		local text = core.export_text({ default = "deny", keepalive_interval = 60, bogus = 1 }, records,
			{ ["a.test"] = "config", ["b.test"] = "runtime (overrides config)" })
		assert.are.equal(table.concat({
			"-- xmpp_partners: effective partner table (config plus runtime changes)",
			'xmpp_partners_default = "deny"',
			"xmpp_partners_keepalive_interval = 60",
			"xmpp_partners = {",
			'\t["a.test"] = { type = "public_verified"; additional_domains = { "a2.test" }; connection_limit = 3 }; -- config',
			'\t["b.test"] = { description = "say \\"hi\\"\\\n\\0019"; type = "federated"; tls = "optional";'
				.. ' fingerprints = {} }; -- runtime (overrides config)',
			"}" }, "\n"), text)
		local env = {}
		assert(load(text, "export", "t", env))()
		assert.are.same(records, env.xmpp_partners)
		assert.are.equal("deny", env.xmpp_partners_default)
		local tbl = assert(core.build(env.xmpp_partners, { default = "deny" }))
		assert.are.equal(2, tbl:info().count)
		tbl:close()
		assert.are.equal("-- xmpp_partners: effective partner table (config plus runtime changes)\n"
			.. "xmpp_partners = {\n}", core.export_text({}, {}))
	end)
end)
