-- helpers.lua: shared fixtures for the busted specs of xmpp_partners.core.
-- Not a spec itself (busted only runs *_spec.lua); each spec loads it with
-- dofile from its own directory.
local helpers = {}

helpers.core = require "xmpp_partners.core"

-- negotiation-matrix.tsv (SPEC section 3), the normative table, as Lua.
helpers.matrix = {
	{ row = 1, tls = "required", sasl = "required", dialback = true, verdict = "warn",
	  methods = { "sasl_tls" },
	  reason = "dialback is never used: SASL EXTERNAL is mandatory when TLS and SASL are both required" },
	{ row = 2, tls = "required", sasl = "required", dialback = false, verdict = "ok",
	  methods = { "sasl_tls" },
	  reason = nil },
	{ row = 3, tls = "optional", sasl = "required", dialback = true, verdict = "warn",
	  methods = { "sasl_tls" },
	  reason = "SASL requires TLS: a peer that skips TLS cannot authenticate; dialback is never used because SASL is required" },
	{ row = 4, tls = "optional", sasl = "required", dialback = false, verdict = "warn",
	  methods = { "sasl_tls" },
	  reason = "SASL requires TLS: a peer that skips TLS cannot authenticate" },
	{ row = 5, tls = "not_supported", sasl = "required", dialback = true, verdict = "error",
	  methods = {},
	  reason = "SASL requires TLS: set tls to required or optional, or set sasl to not_supported" },
	{ row = 6, tls = "not_supported", sasl = "required", dialback = false, verdict = "error",
	  methods = {},
	  reason = "SASL requires TLS: set tls to required or optional, or set sasl to not_supported" },
	{ row = 7, tls = "required", sasl = "optional", dialback = true, verdict = "ok",
	  methods = { "sasl_tls", "dialback_tls" },
	  reason = nil },
	{ row = 8, tls = "required", sasl = "optional", dialback = false, verdict = "ok",
	  methods = { "sasl_tls" },
	  reason = nil },
	{ row = 9, tls = "optional", sasl = "optional", dialback = true, verdict = "warn",
	  methods = { "sasl_tls", "dialback_tls", "dialback_tcp" },
	  reason = "SASL requires TLS: a peer that skips TLS can only use dialback over plain TCP" },
	{ row = 10, tls = "optional", sasl = "optional", dialback = false, verdict = "warn",
	  methods = { "sasl_tls" },
	  reason = "SASL requires TLS: a peer that skips TLS cannot authenticate" },
	{ row = 11, tls = "not_supported", sasl = "optional", dialback = true, verdict = "error",
	  methods = {},
	  reason = "SASL requires TLS: set tls to required or optional, or set sasl to not_supported" },
	{ row = 12, tls = "not_supported", sasl = "optional", dialback = false, verdict = "error",
	  methods = {},
	  reason = "SASL requires TLS: set tls to required or optional, or set sasl to not_supported" },
	{ row = 13, tls = "required", sasl = "not_supported", dialback = true, verdict = "ok",
	  methods = { "dialback_tls" },
	  reason = nil },
	{ row = 14, tls = "required", sasl = "not_supported", dialback = false, verdict = "error",
	  methods = {},
	  reason = "no authentication method: enable sasl or dialback" },
	{ row = 15, tls = "optional", sasl = "not_supported", dialback = true, verdict = "ok",
	  methods = { "dialback_tls", "dialback_tcp" },
	  reason = nil },
	{ row = 16, tls = "optional", sasl = "not_supported", dialback = false, verdict = "error",
	  methods = {},
	  reason = "no authentication method: enable sasl or dialback" },
	{ row = 17, tls = "not_supported", sasl = "not_supported", dialback = true, verdict = "ok",
	  methods = { "dialback_tcp" },
	  reason = nil },
	{ row = 18, tls = "not_supported", sasl = "not_supported", dialback = false, verdict = "error",
	  methods = {},
	  reason = "no authentication method: enable sasl or dialback" },
}

-- Rows that may be loaded (ok and warn), and those that never load.
helpers.loadable_rows, helpers.error_rows = {}, {}
for _, r in ipairs(helpers.matrix) do
	local list = r.verdict == "error" and helpers.error_rows or helpers.loadable_rows
	list[#list + 1] = r
end

function helpers.has_method(r, method)
	for _, m in ipairs(r.methods) do
		if m == method then return true end
	end
	return false
end

-- A partner record for a matrix row, plus extra keys.
function helpers.record(r, extra)
	local rec = { tls = r.tls, sasl = r.sasl, dialback = r.dialback }
	for k, v in pairs(extra or {}) do rec[k] = v end
	return rec
end

-- Build and insist on success; returns the table and its warnings.
function helpers.build(partners, options)
	local t, diags = helpers.core.build(partners, options)
	if not t then
		local lines = {}
		for _, d in ipairs(diags) do lines[#lines + 1] = d.message end
		error("build failed:\n" .. table.concat(lines, "\n"), 2)
	end
	return t, diags
end

-- The diagnostics matching every field given in want.
function helpers.find(diags, want)
	local found = {}
	for _, d in ipairs(diags) do
		local ok = true
		for k, v in pairs(want) do
			if k == "message" then
				ok = ok and d.message:find(v, 1, true) ~= nil
			elseif d[k] ~= v then
				ok = false
			end
		end
		if ok then found[#found + 1] = d end
	end
	return found
end

function helpers.count(diags, severity)
	local n = 0
	for _, d in ipairs(diags) do
		if d.severity == severity then n = n + 1 end
	end
	return n
end

-- Every diagnostic has the documented shape.
function helpers.check_shape(diags)
	for _, d in ipairs(diags) do
		assert(d.severity == "error" or d.severity == "warning", "severity")
		assert(type(d.message) == "string" and #d.message > 0, "message")
		assert(d.partner == nil or type(d.partner) == "string", "partner")
		assert(d.key == nil or type(d.key) == "string", "key")
		assert(d.row == nil or (math.type(d.row) == "integer" and d.row >= 1 and d.row <= 18), "row")
		assert(d.suggestion == nil or type(d.suggestion) == "string", "suggestion")
		for k in pairs(d) do
			assert(({ severity = 1, partner = 1, key = 1, row = 1, message = 1, suggestion = 1 })[k],
				"unexpected field " .. tostring(k))
		end
	end
	return diags
end

-- pcall that returns only the error message (nil when no error).
function helpers.error_of(f, ...)
	local ok, err = pcall(f, ...)
	if ok then return nil end
	return tostring(err)
end

-- A pin string of 64 hex digits made from one repeated byte.
function helpers.pin(byte)
	return "sha256:" .. string.rep(string.format("%02x", byte), 32)
end

-- Resident memory of this process in KiB (Linux), or nil.
function helpers.rss_kib()
	local f = io.open("/proc/self/statm", "r")
	if not f then return nil end
	local _, resident = f:read("*n", "*n")
	f:close()
	return resident and resident * 4 or nil
end

return helpers
