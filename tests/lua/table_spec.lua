-- table_spec.lua: partner tables from Lua: resolution, the per-direction
-- negotiation verdicts (SPEC section 3 and negotiation-matrix.tsv), contact
-- policy (section 4), the failing-closed table, allow mode, and the object
-- life cycle (close, __close, garbage collection).
local here = debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") or ""
local helpers = dofile(here .. "helpers.lua")
local core = helpers.core
local error_of = helpers.error_of

local CLOSED = "xmpp_partners.core: table is closed"

-- A stream state: encrypted, chain, identity, pin.
local PROVEN = { true, "valid", "valid", false }
local PINNED = { true, "invalid", "valid", true }
local UNTRUSTED = { true, "invalid", "valid", false }
local WRONG_NAME = { true, "valid", "invalid", false }
local NO_CERT = { true, nil, nil, false }
local PLAIN = { false, nil, nil, false }

local function st(s) return s[1], s[2], s[3], s[4] end

describe("tbl:resolve and tbl:lookup", function()
	local t = helpers.build({
		["fabrikam.com"] = { type = "federated", description = "Fabrikam",
			additional_domains = { "corp.fabrikam.com", "Fabrikam.NET" },
			proxy = "gw.fabrikam.com:5270", connection_limit = 4, keepalive = false,
			fingerprints = { helpers.pin(0xAB) } },
		["contoso.com"] = {},
	})

	it("maps primary and additional domains to the primary", function()
		assert.are.equal("fabrikam.com", t:resolve("fabrikam.com"))
		assert.are.equal("fabrikam.com", t:resolve("corp.fabrikam.com"))
		assert.are.equal("fabrikam.com", t:resolve("fabrikam.net"))
		assert.are.equal("contoso.com", t:resolve("contoso.com"))
	end)

	it("normalizes the domain asked for", function()
		assert.are.equal("fabrikam.com", t:resolve("FABRIKAM.com."))
		assert.are.equal("fabrikam.com", t:resolve("Corp.Fabrikam.Com"))
	end)

	it("refuses unlisted and malformed domains with a token and a text", function()
		local p, token, text = t:resolve("evil.test")
		assert.is_nil(p)
		assert.are.equal("not_partner", token)
		assert.are.equal(core.reason_text("not_partner"), text)
		-- a subdomain of a partner is not the partner
		assert.are.equal("not_partner", select(2, t:resolve("sub.contoso.com")))
		for _, bad in ipairs({ "", "a..b", "x:5269", "*.fabrikam.com", "u@fabrikam.com", "192.0.2.1" }) do
			local p2, token2 = t:resolve(bad)
			assert.is_nil(p2, bad)
			assert.are.equal("bad_domain", token2, bad)
		end
	end)

	it("returns every key of the record with effective values", function()
		assert.are.same({
			domain = "fabrikam.com", description = "Fabrikam",
			additional_domains = { "corp.fabrikam.com", "fabrikam.net" },
			type = "federated", tls = "required", sasl = "required", dialback = false,
			proxy = "gw.fabrikam.com:5270", connection_limit = 4, keepalive = false,
			fingerprints = { helpers.pin(0xab) },
			row = 2, verdict = "ok", methods = { "sasl_tls" },
		}, t:lookup("corp.fabrikam.com"))
	end)

	it("fills in the defaults of SPEC section 2", function()
		assert.are.same({
			domain = "contoso.com", description = "", additional_domains = {},
			type = "public_unverified", tls = "required", sasl = "required",
			dialback = false, connection_limit = 20, keepalive = true, fingerprints = {},
			row = 2, verdict = "ok", methods = { "sasl_tls" },
		}, t:lookup("contoso.com"))
	end)

	it("returns nil, token, text for refused domains", function()
		local rec, token, text = t:lookup("evil.test")
		assert.is_nil(rec)
		assert.are.equal("not_partner", token)
		assert.is_string(text)
	end)

	it("lists the partners in table order", function()
		assert.are.same({ "contoso.com", "fabrikam.com" }, t:partners())
	end)

	it("throws for a non-string domain and a wrong self", function()
		assert.truthy(error_of(t.resolve, t, nil))
		assert.truthy(error_of(t.resolve, t, {}))
		assert.truthy(error_of(t.lookup, t))
		local err = error_of(t.resolve, {}, "fabrikam.com")
		assert.truthy(err:find("xmpp_partners.core.table expected", 1, true))
		assert.truthy(error_of(t.resolve, "fabrikam.com"))
		assert.truthy(error_of(t.resolve, io.stdout, "fabrikam.com"))
	end)
end)

describe("tbl:tls", function()
	it("requires, offers or withholds STARTTLS in both directions", function()
		local want = { required = "require", optional = "offer", not_supported = "withhold" }
		for _, r in ipairs(helpers.loadable_rows) do
			local t = helpers.build({ ["p.example"] = helpers.record(r) })
			for _, dir in ipairs({ "incoming", "outgoing" }) do
				assert.are.equal(want[r.tls], t:tls("p.example", dir), "row " .. r.row .. " " .. dir)
			end
		end
	end)

	it("refuses unlisted domains", function()
		local t = helpers.build({})
		local action, token, text = t:tls("evil.test", "incoming")
		assert.is_nil(action)
		assert.are.equal("not_partner", token)
		assert.is_string(text)
	end)

	it("throws for an unknown direction", function()
		local t = helpers.build({ ["p.example"] = {} })
		assert.truthy(error_of(t.tls, t, "p.example", "sideways"))
		assert.truthy(error_of(t.tls, t, "p.example", nil))
		assert.truthy(error_of(t.tls, t, "p.example", 1))
	end)
end)

describe("tbl:sasl_external", function()
	local t = helpers.build({
		["req.example"] = { sasl = "required" },
		["opt.example"] = { sasl = "optional", dialback = true },
		["none.example"] = { sasl = "not_supported", dialback = true },
	})

	it("offers EXTERNAL to an incoming stream only when the certificate matches", function()
		for _, dom in ipairs({ "req.example", "opt.example" }) do
			assert.is_true(t:sasl_external(dom, "incoming", st(PROVEN)))
			assert.is_true(t:sasl_external(dom, "incoming", st(PINNED)))
			local ok, token = t:sasl_external(dom, "incoming", st(UNTRUSTED))
			assert.is_false(ok)
			assert.are.equal("cert_untrusted", token)
			ok, token = t:sasl_external(dom, "incoming", st(WRONG_NAME))
			assert.is_false(ok)
			assert.are.equal("cert_identity", token)
			ok, token = t:sasl_external(dom, "incoming", st(NO_CERT))
			assert.is_false(ok)
			assert.are.equal("no_cert", token)
		end
	end)

	it("never offers EXTERNAL without TLS", function()
		for _, dir in ipairs({ "incoming", "outgoing" }) do
			local ok, token, text = t:sasl_external("req.example", dir, false, "valid", "valid", true)
			assert.is_false(ok)
			assert.is_string(token)
			assert.is_string(text)
		end
	end)

	it("tries EXTERNAL outgoing when TLS is up", function()
		assert.is_true(t:sasl_external("req.example", "outgoing", st(PROVEN)))
		assert.is_true(t:sasl_external("opt.example", "outgoing", st(PROVEN)))
	end)

	it("never offers or tries EXTERNAL with sasl = not_supported", function()
		for _, dir in ipairs({ "incoming", "outgoing" }) do
			local ok, token = t:sasl_external("none.example", dir, st(PROVEN))
			assert.is_false(ok)
			assert.are.equal("sasl_not_supported", token)
		end
	end)

	it("refuses unlisted domains", function()
		local ok, token = t:sasl_external("evil.test", "incoming", st(PROVEN))
		assert.is_false(ok)
		assert.are.equal("not_partner", token)
	end)

	it("throws for bad stream facts", function()
		assert.truthy(error_of(t.sasl_external, t, "req.example", "incoming", "yes", "valid", "valid", false))
		assert.truthy(error_of(t.sasl_external, t, "req.example", "incoming", true, "maybe", "valid", false))
		assert.truthy(error_of(t.sasl_external, t, "req.example", "incoming", true, "valid", 1, false))
		assert.truthy(error_of(t.sasl_external, t, "req.example", "incoming", true, "valid", "valid", "no"))
		assert.truthy(error_of(t.sasl_external, t, "req.example", "up", true, "valid", "valid", false))
	end)
end)

describe("tbl:dialback", function()
	it("follows the matrix: dialback_tls on TLS streams, dialback_tcp on plain ones", function()
		for _, r in ipairs(helpers.loadable_rows) do
			local t = helpers.build({ ["p.example"] = helpers.record(r) })
			for _, dir in ipairs({ "incoming", "outgoing" }) do
				local ok = t:dialback("p.example", dir, true)
				assert.are.equal(helpers.has_method(r, "dialback_tls"), ok, "row " .. r.row .. " tls")
				ok = t:dialback("p.example", dir, false)
				assert.are.equal(helpers.has_method(r, "dialback_tcp"), ok, "row " .. r.row .. " tcp")
			end
		end
	end)

	it("says why dialback is refused", function()
		local t = helpers.build({
			["off.example"] = { sasl = "optional", dialback = false },
			["saslreq.example"] = { sasl = "required", dialback = true },
			["tlsreq.example"] = { tls = "required", sasl = "not_supported", dialback = true },
		})
		assert.are.equal("dialback_disabled", select(2, t:dialback("off.example", "incoming", true)))
		assert.are.equal("sasl_required", select(2, t:dialback("saslreq.example", "incoming", true)))
		assert.are.equal("tls_required", select(2, t:dialback("tlsreq.example", "incoming", false)))
		assert.are.equal("not_partner", select(2, t:dialback("evil.test", "incoming", true)))
	end)
end)

describe("tbl:stanzas", function()
	it("lets nothing but negotiation through before TLS when tls = required", function()
		local t = helpers.build({
			["req.example"] = { tls = "required" },
			["opt.example"] = { tls = "optional", sasl = "optional", dialback = true },
			["none.example"] = { tls = "not_supported", sasl = "not_supported", dialback = true },
		})
		for _, dir in ipairs({ "incoming", "outgoing" }) do
			local ok, token = t:stanzas("req.example", dir, false)
			assert.is_false(ok)
			assert.are.equal("tls_required", token)
			assert.is_true(t:stanzas("req.example", dir, true, "valid", "valid"))
			assert.is_true(t:stanzas("opt.example", dir, false))
			assert.is_true(t:stanzas("opt.example", dir, true))
			assert.is_true(t:stanzas("none.example", dir, false))
		end
		assert.are.equal("not_partner", select(2, t:stanzas("evil.test", "incoming", true)))
	end)
end)

describe("tbl:auth", function()
	-- Expected from the matrix alone: a method succeeds when the row
	-- lists it and the stream is of its kind (and for sasl_tls the
	-- certificate proves the domain).
	local function expected(r, method, state)
		local encrypted = state[1]
		if method == "sasl_tls" then
			return helpers.has_method(r, "sasl_tls") and encrypted
				and state[3] == "valid" and (state[2] == "valid" or state[4])
		elseif method == "dialback" then
			return helpers.has_method(r, encrypted and "dialback_tls" or "dialback_tcp")
		end
	end

	it("accepts exactly the methods of each loadable row", function()
		local states = { PROVEN, PINNED, UNTRUSTED, WRONG_NAME, NO_CERT, PLAIN,
			{ false, "valid", "valid", true } }
		for _, r in ipairs(helpers.loadable_rows) do
			local t = helpers.build({ ["p.example"] = helpers.record(r) })
			for _, s in ipairs(states) do
				for _, dir in ipairs({ "incoming", "outgoing" }) do
					local what = ("row %d %s %s"):format(r.row, dir, tostring(s[1]))
					local ok, token, text = t:auth("p.example", dir, "EXTERNAL", st(s))
					assert.are.equal(expected(r, "sasl_tls", s), ok, what .. " EXTERNAL")
					if not ok then
						assert.is_string(token)
						assert.are.equal(core.reason_text(token), text)
					end
					assert.are.equal(ok, (t:auth("p.example", dir, "sasl_tls", st(s))), what)
					ok = t:auth("p.example", dir, "dialback", st(s))
					assert.are.equal(expected(r, "dialback", s), ok, what .. " dialback")
					local label = s[1] and "dialback_tls" or "dialback_tcp"
					assert.are.equal(ok, (t:auth("p.example", dir, label, st(s))), what .. " " .. label)
				end
			end
		end
	end)

	it("judges each domain by its own partner (piggybacking)", function()
		local t = helpers.build({
			["strict.example"] = { tls = "required", sasl = "required", dialback = true },
			["loose.example"] = { tls = "optional", sasl = "not_supported", dialback = true,
				additional_domains = { "also-loose.example" } },
		})
		-- one TLS stream, dialback for several domains
		assert.is_true(t:auth("loose.example", "incoming", "dialback", true))
		assert.is_true(t:auth("also-loose.example", "incoming", "dialback", true))
		local ok, token = t:auth("strict.example", "incoming", "dialback", true)
		assert.is_false(ok)
		assert.are.equal("sasl_required", token)
		ok, token = t:auth("unlisted.example", "incoming", "dialback", true)
		assert.is_false(ok)
		assert.are.equal("not_partner", token)
	end)

	it("refuses unknown methods without throwing (peers choose them)", function()
		local t = helpers.build({ ["p.example"] = {} })
		for _, m in ipairs({ "PLAIN", "SCRAM-SHA-1", "", "external", "sasl_tls\0x" }) do
			local ok, token, text = t:auth("p.example", "incoming", m, st(PROVEN))
			assert.is_false(ok, m)
			assert.are.equal("unknown_method", token)
			assert.are.equal(core.reason_text("unknown_method"), text)
		end
		local ok, token = t:auth("p.example", "incoming", nil, st(PROVEN))
		assert.is_false(ok)
		assert.are.equal("unknown_method", token)
	end)

	it("refuses unlisted domains before looking at the method", function()
		local t = helpers.build({})
		local ok, token = t:auth("evil.test", "incoming", "EXTERNAL", st(PROVEN))
		assert.is_false(ok)
		assert.are.equal("not_partner", token)
	end)

	it("throws for misuse", function()
		local t = helpers.build({ ["p.example"] = {} })
		assert.truthy(error_of(t.auth, t, "p.example", "incoming", 5, st(PROVEN)))
		assert.truthy(error_of(t.auth, t, "p.example", "inward", "EXTERNAL", st(PROVEN)))
		assert.truthy(error_of(t.auth, t, "p.example", "incoming", "EXTERNAL", true, "valid", "valid", 1))
	end)
end)

describe("tbl:connection", function()
	local t = helpers.build({ ["p.example"] = { connection_limit = 2 }, ["q.example"] = {} },
		{ connection_limit = 5 })

	it("enforces the partner's connection_limit", function()
		assert.is_true(t:connection("p.example", 0, 0))
		assert.is_true(t:connection("p.example", 1, 3))
		local ok, token, text = t:connection("p.example", 2, 2)
		assert.is_false(ok)
		assert.are.equal("connection_limit", token)
		assert.is_string(text)
		assert.is_true(t:connection("q.example", 19, 0))
		assert.are.equal("connection_limit", select(2, t:connection("q.example", 20, 0)))
	end)

	it("enforces the global limit", function()
		assert.is_true(t:connection("q.example", 0, 4))
		local ok, token = t:connection("q.example", 0, 5)
		assert.is_false(ok)
		assert.are.equal("global_connection_limit", token)
		assert.is_false(t:connection("q.example", 0, math.maxinteger))
	end)

	it("refuses unlisted domains", function()
		assert.are.equal("not_partner", select(2, t:connection("evil.test", 0, 0)))
	end)

	it("throws for bad counts", function()
		assert.truthy(error_of(t.connection, t, "p.example", -1, 0))
		assert.truthy(error_of(t.connection, t, "p.example", 0, 1.5))
		assert.truthy(error_of(t.connection, t, "p.example", "1", {}))
		assert.truthy(error_of(t.connection, t, "p.example"))
	end)
end)

describe("contact policy (SPEC section 4)", function()
	local t = helpers.build({
		["fed.example"] = { type = "federated" },
		["ver.example"] = { type = "public_verified" },
		["unv.example"] = { type = "public_unverified" },
		["dflt.example"] = {},
	})

	it("approves subscriptions from federated and verified partners", function()
		for _, dom in ipairs({ "fed.example", "ver.example" }) do
			assert.are.equal("approve", t:subscribe(dom, false, false, false))
			assert.are.equal("approve", t:subscribe(dom, true, false, false))
			-- already subscribed: normal processing
			assert.are.equal("deliver", t:subscribe(dom, true, true, false))
		end
	end)

	it("lets the local user's blocklist win over automatic approval", function()
		for _, dom in ipairs({ "fed.example", "ver.example" }) do
			assert.are_not.equal("approve", t:subscribe(dom, false, false, true))
		end
	end)

	it("delivers unverified subscriptions only for roster contacts", function()
		for _, dom in ipairs({ "unv.example", "dflt.example" }) do
			assert.are.equal("deliver", t:subscribe(dom, true, false, false))
			assert.are.equal("deny", t:subscribe(dom, false, false, false))
			assert.are.equal("deny", t:subscribe(dom))
		end
	end)

	it("denies subscriptions from refused domains", function()
		assert.are.equal("deny", t:subscribe("evil.test", true, true, false))
		assert.are.equal("deny", t:subscribe("bad..domain", true, false, false))
	end)

	it("bounces messages from unverified users not in the roster", function()
		assert.are.equal("deliver", t:message("fed.example", false))
		assert.are.equal("deliver", t:message("ver.example", false))
		assert.are.equal("bounce", t:message("unv.example", false))
		assert.are.equal("deliver", t:message("unv.example", true))
		assert.are.equal("bounce", t:message("dflt.example"))
		assert.are.equal("bounce", t:message("evil.test", true))
	end)

	it("strips status text except for federated partners", function()
		assert.is_false(t:strip_status("fed.example"))
		assert.is_true(t:strip_status("ver.example"))
		assert.is_true(t:strip_status("unv.example"))
		assert.is_true(t:strip_status("evil.test"))
	end)

	it("throws for non-boolean flags", function()
		assert.truthy(error_of(t.subscribe, t, "fed.example", "yes", false, false))
		assert.truthy(error_of(t.subscribe, t, "fed.example", false, false, 1))
		assert.truthy(error_of(t.message, t, "fed.example", {}))
		assert.truthy(error_of(t.strip_status, t, 5 == 5))
	end)
end)

describe("tbl:keepalive, tbl:proxy, tbl:pin_matches", function()
	local t = helpers.build({
		["a.example"] = { proxy = "gw.a.example:5270", fingerprints = { helpers.pin(1), helpers.pin(2) } },
		["b.example"] = { keepalive = false, proxy = "gw.b.example" },
		["c.example"] = { proxy = "[2001:db8::1]:5299" },
	}, { keepalive_interval = 60 })

	it("gives keepalive and the global interval", function()
		assert.are.same({ true, 60 }, { t:keepalive("a.example") })
		assert.are.same({ false, 60 }, { t:keepalive("b.example") })
		assert.is_false((t:keepalive("evil.test")))
	end)

	it("gives the proxy host and port (5269 by default)", function()
		assert.are.same({ "gw.a.example", 5270 }, { t:proxy("a.example") })
		assert.are.same({ "gw.b.example", 5269 }, { t:proxy("b.example") })
		assert.are.same({ "2001:db8::1", 5299 }, { t:proxy("c.example") })
		assert.are.equal("[2001:db8::1]:5299", t:lookup("c.example").proxy)
		assert.are.equal("gw.b.example:5269", t:lookup("b.example").proxy)
		local t2 = helpers.build({ ["d.example"] = {} })
		assert.is_nil(t2:proxy("d.example"))
		assert.is_nil(t:proxy("evil.test"))
	end)

	it("matches pinned keys", function()
		assert.is_true(t:pin_matches("a.example", helpers.pin(1)))
		assert.is_true(t:pin_matches("a.example", (helpers.pin(2):upper():gsub("^SHA256", "sha256"))))
		assert.is_false(t:pin_matches("a.example", helpers.pin(3)))
		assert.is_false(t:pin_matches("b.example", helpers.pin(1)))
		assert.is_false(t:pin_matches("evil.test", helpers.pin(1)))
		-- malformed pins match nothing
		for _, bad in ipairs({ "", "sha256:", "sha1:" .. string.rep("0", 64), helpers.pin(1):sub(1, -2),
			helpers.pin(1) .. "0", "sha256:" .. string.rep("zz", 32) }) do
			assert.is_false(t:pin_matches("a.example", bad))
		end
	end)

	it("throws for a pin of the wrong type", function()
		assert.truthy(error_of(t.pin_matches, t, "a.example", 5))
		assert.truthy(error_of(t.pin_matches, t, "a.example", nil))
		assert.truthy(error_of(t.pin_matches, t, "a.example", {}))
	end)
end)

-- issue 15: one explain text, computed and worded by the core
describe("tbl:explain", function()
	local t = assert(core.build({
		["fabrikam.com"] = { type = "federated", tls = "optional", additional_domains = { "corp.fabrikam.com" } },
	}))

	it("words the core's answer: mapping, each direction, limits, contact policy", function()
		local text = t:explain("Corp.Fabrikam.COM.")
		local head = "corp.fabrikam.com\n  partner        fabrikam.com (the domain is one of its additional_domains)\n"
		assert.are.equal(head, text:sub(1, #head))
		assert.truthy(text:find("\n  STARTTLS       used when the partner offers it\n", 1, true))
		assert.truthy(text:find("\n  STARTTLS       offered (not required)\n", 1, true))
		assert.truthy(text:find("\nContact policy (for local users)\n", 1, true))
		assert.falsy(text:find("peer offers", 1, true))
	end)

	it("explains a refused domain with the option named as Prosody writes it", function()
		local text = t:explain("evil.test")
		assert.truthy(text:find("^evil%.test\n  refused: not a partner %(no partner lists it, and "
			.. "xmpp_partners_default = \"deny\"%)\n"))
	end)

	it("tbl:show: the record as the admin show commands print it", function()
		local text = t:show("corp.fabrikam.com", "config")
		local head = "domain               fabrikam.com  (corp.fabrikam.com is one of its domains)\n"
			.. "source               config\n"
		assert.are.equal(head, text:sub(1, #head))
		assert.truthy(text:find("\ntls                  optional\n", 1, true))
		assert.truthy(text:find("\nmatrix row           4 (warn)\n", 1, true))
		local none, msg = t:show("evil.test")
		assert.is_nil(none)
		assert.are.equal("evil.test is not a partner: not a partner", msg)
	end)

	it("tbl:list: the partner list as the admin list commands print it", function()
		local text = t:list({ { "fabrikam.com", "config", 3 } }, 1, nil, { "gone.test" })
		assert.are.equal("domain        type       tls/sasl/dialback        extra domains      source  live\n"
			.. "------------  ---------  -----------------------  -----------------  ------  ----\n"
			.. "fabrikam.com  federated  optional/required/false  corp.fabrikam.com  config  3\n"
			.. "1 partner(s); unlisted domains refused\n"
			.. "removed at runtime (config entries hidden): gone.test\n", text)
		assert.has_error(function() t:list({ {} }, 1) end)
	end)

	it("returns nil and why for a malformed domain; throws on a closed table", function()
		local text, why = t:explain("bad domain")
		assert.is_nil(text)
		assert.is_string(why)
		local c = assert(core.build({}))
		c:close()
		assert.has_error(function() c:explain("a.test") end)
	end)
end)

describe("core.closed()", function()
	local t = core.closed()
	local function refused(...)
		local v, token, text = ...
		assert.falsy(v)
		assert.are.equal("config_invalid", token)
		assert.are.equal(core.reason_text("config_invalid"), text)
	end

	it("refuses everything with config_invalid", function()
		for _, dom in ipairs({ "fabrikam.com", "anything.example" }) do
			refused(t:resolve(dom))
			refused(t:lookup(dom))
			refused(t:tls(dom, "incoming"))
			refused(t:tls(dom, "outgoing"))
			refused(t:sasl_external(dom, "incoming", st(PROVEN)))
			refused(t:dialback(dom, "outgoing", true))
			refused(t:stanzas(dom, "incoming", true, "valid", "valid"))
			refused(t:auth(dom, "incoming", "EXTERNAL", st(PROVEN)))
			refused(t:auth(dom, "incoming", "dialback", false))
			refused(t:connection(dom, 0, 0))
			assert.are.equal("deny", t:subscribe(dom, true, true, false))
			assert.are.equal("bounce", t:message(dom, true))
			assert.is_true(t:strip_status(dom))
			assert.is_false((t:keepalive(dom)))
			assert.is_nil(t:proxy(dom))
			assert.is_false(t:pin_matches(dom, helpers.pin(1)))
		end
		assert.is_nil(t:resolve("bad..domain"))
	end)

	it("reports itself as closed with no partners", function()
		local info = t:info()
		assert.is_true(info.closed)
		assert.are.equal(0, info.count)
		assert.are.equal("deny", info.default)
		assert.are.same({}, t:partners())
		assert.are.same({}, t:warnings())
	end)
end)

describe("allow mode", function()
	local t = helpers.build({
		["strict.example"] = { type = "federated" },
	}, { default = "allow" })

	it("resolves unlisted domains to the default record", function()
		assert.are.equal("*", t:resolve("anyone.example"))
		assert.are.equal("strict.example", t:resolve("strict.example"))
		assert.are.equal("bad_domain", select(2, t:resolve("bad..example")))
	end)

	it("gives the default record the built-in allow defaults", function()
		local rec = t:lookup("anyone.example")
		assert.is_true(rec.default)
		assert.are.equal("*", rec.domain)
		assert.are.equal("optional", rec.tls)
		assert.are.equal("optional", rec.sasl)
		assert.is_true(rec.dialback)
		assert.are.equal("public_unverified", rec.type)
		assert.are.equal(9, rec.row)
		assert.are.equal("warn", rec.verdict)
		assert.are.same({ "sasl_tls", "dialback_tls", "dialback_tcp" }, rec.methods)
		assert.is_nil(t:lookup("strict.example").default)
	end)

	it("applies the default record's verdicts and contact policy", function()
		assert.are.equal("offer", t:tls("anyone.example", "incoming"))
		assert.is_true(t:auth("anyone.example", "incoming", "dialback", false))
		assert.is_true(t:auth("anyone.example", "incoming", "EXTERNAL", st(PROVEN)))
		assert.is_true(t:connection("anyone.example", 0, 0))
		assert.are.equal("deny", t:subscribe("anyone.example", false, false, false))
		assert.are.equal("deliver", t:subscribe("anyone.example", true, false, false))
		assert.are.equal("bounce", t:message("anyone.example", false))
		assert.is_true(t:strip_status("anyone.example"))
		-- a listed partner keeps its own rules
		assert.are.equal("require", t:tls("strict.example", "incoming"))
		assert.are.equal("dialback_disabled", select(2, t:auth("strict.example", "incoming", "dialback", true)))
		assert.are.equal("approve", t:subscribe("strict.example", false, false, false))
	end)

	it("says so in info", function()
		assert.are.equal("allow", t:info().default)
		assert.are.same({ "strict.example" }, t:partners())
	end)
end)

describe("object life cycle", function()
	local methods = {
		{ "resolve", "a.example" }, { "lookup", "a.example" }, { "tls", "a.example", "incoming" },
		{ "sasl_external", "a.example", "incoming", true }, { "dialback", "a.example", "incoming", true },
		{ "stanzas", "a.example", "incoming", true }, { "auth", "a.example", "incoming", "EXTERNAL", true },
		{ "connection", "a.example", 0, 0 }, { "subscribe", "a.example" }, { "message", "a.example" },
		{ "strip_status", "a.example" }, { "keepalive", "a.example" }, { "proxy", "a.example" },
		{ "pin_matches", "a.example", helpers.pin(1) }, { "partners" }, { "info" }, { "warnings" },
	}

	it("throws 'table is closed' from every method after close, and close is idempotent", function()
		for _, make in ipairs({ function() return helpers.build({ ["a.example"] = {} }) end, core.closed }) do
			local t = make()
			t:close()
			t:close()
			for _, m in ipairs(methods) do
				local err = error_of(t[m[1]], t, table.unpack(m, 2))
				assert.is_string(err, m[1])
				assert.truthy(err:find(CLOSED, 1, true), m[1] .. ": " .. tostring(err))
			end
			assert.has_no.errors(function() t:close() end)
		end
	end)

	it("closes at the end of a <close> scope", function()
		if _VERSION < "Lua 5.4" then
			pending("to-be-closed variables need Lua 5.4")
			return
		end
		local run = assert(load([[
			local core, kept = ...
			do
				local t <close> = core.build({ ["a.example"] = {} })
				kept.t = t
				assert(t:resolve("a.example") == "a.example")
			end
			return kept.t
		]]))
		local t = run(core, {})
		local err = error_of(t.resolve, t, "a.example")
		assert.truthy(err:find(CLOSED, 1, true))
		-- and on error unwinding
		local run2 = assert(load([[
			local core, kept = ...
			local t <close> = core.closed()
			kept.t = t
			error("boom")
		]]))
		local kept = {}
		assert.is_false(pcall(run2, core, kept))
		assert.truthy(error_of(kept.t.info, kept.t):find(CLOSED, 1, true))
	end)

	it("lets close and __gc run in any order", function()
		local t = helpers.build({ ["a.example"] = {} })
		local gc = getmetatable(t).__gc
		t:close()
		gc(t)
		gc(t)
		assert.truthy(error_of(gc, {}))
		assert.truthy(error_of(t.close, 5))
	end)

	it("frees tables that are garbage (bounded memory)", function()
		local config = {}
		for i = 1, 2000 do
			config[("p%04d.example"):format(i)] = { additional_domains = { ("alt%04d.example"):format(i) } }
		end
		collectgarbage("collect")
		local before = helpers.rss_kib()
		for i = 1, 300 do
			local t = helpers.build(config)
			assert.are.equal("p0001.example", t:resolve("alt0001.example"))
			local _ = core.closed()
			if i % 10 == 0 then collectgarbage("collect") end
		end
		collectgarbage("collect")
		local after = helpers.rss_kib()
		-- (ASan keeps freed memory in quarantine: no bound to check then)
		local asan = (os.getenv("LD_PRELOAD") or ""):find("asan")
		if before and after and not asan then
			-- 300 tables of 2,000 partners would be far above this
			assert.is_true(after - before < 64 * 1024, ("grew by %d KiB"):format(after - before))
		end
	end)

	it("keeps tables usable after the module itself is dropped", function()
		local t = helpers.build({ ["a.example"] = {} })
		package.loaded["xmpp_partners.core"] = nil
		collectgarbage("collect")
		collectgarbage("collect")
		assert.are.equal("a.example", t:resolve("a.example"))
		package.loaded["xmpp_partners.core"] = core
	end)
end)

describe("a large table built from Lua", function()
	it("builds, lists and resolves 10,000 partners", function()
		local config = {}
		for i = 1, 10000 do
			config[("partner%05d.example"):format(i)] = {
				type = (i % 3 == 0) and "federated" or "public_verified",
				additional_domains = { ("xmpp.partner%05d.example"):format(i) },
				tls = (i % 2 == 0) and "required" or "optional",
				sasl = "optional", dialback = true,
			}
		end
		local t, warnings = helpers.build(config)
		assert.are.equal(10000, t:info().count)
		assert.are.equal(5000, #warnings) -- the tls = "optional" rows are row 9
		local list = t:partners()
		assert.are.equal(10000, #list)
		assert.are.equal("partner00001.example", list[1])
		assert.are.equal("partner10000.example", list[10000])
		for i = 1, 10000 do
			local dom = ("partner%05d.example"):format(i)
			assert(t:resolve(dom) == dom)
			assert(t:resolve("xmpp." .. dom) == dom)
			assert(t:tls(dom, "incoming") == ((i % 2 == 0) and "require" or "offer"))
		end
		assert.are.equal("not_partner", select(2, t:resolve("partner10001.example")))
		t:close()
	end)
end)
