-- examples/policy-table.lua: show what the policy core decides for a sample
-- partner table, through the Lua binding Prosody loads.  Run by
-- scripts/demo.sh; LUA_CPATH must find xmpp_partners/core.so.
local core = require "xmpp_partners.core"

local partners = {
	["fabrikam.com"] = {
		description = "Fabrikam, Inc.";
		additional_domains = { "corp.fabrikam.com" };
		type = "federated"; tls = "required"; sasl = "required";
	};
	["contoso.com"] = {
		type = "public_verified"; tls = "required"; sasl = "optional";
		dialback = true;
	};
	["litware.test"] = {
		type = "public_unverified"; tls = "optional";
		sasl = "not_supported"; dialback = true;
	};
}

local tbl, warnings = core.build(partners, { default = "deny" })
assert(tbl, "the sample table should load")
for _, w in ipairs(warnings) do print("warning: " .. w.message) end

local function cell(ok, token)
	if ok == true then return "yes" end
	if ok == false then return "no (" .. token .. ")" end
	return tostring(ok)
end

local domains = { "fabrikam.com", "corp.fabrikam.com", "contoso.com",
	"litware.test", "evil.test", "fabrikam.com.evil.test", "Fabrikam.COM." }

print(("\n%-24s %-14s %-9s %-22s %-22s %-8s %-8s %s"):format("remote domain",
	"partner", "STARTTLS", "SASL EXTERNAL (cert)", "dialback (over TLS)",
	"subscr.", "message", "status"))
print(("-"):rep(124))
for _, d in ipairs(domains) do
	local p, token = tbl:resolve(d)
	if not p then
		print(("%-24s %-14s %s"):format(d, "-", core.refusal("incoming", d, token)))
	else
		local tls = tbl:tls(d, "incoming")
		local ext, et = tbl:auth(d, "incoming", "sasl_tls", true, "valid", "valid", false)
		local db, dt = tbl:auth(d, "incoming", "dialback", true)
		print(("%-24s %-14s %-9s %-22s %-22s %-8s %-8s %s"):format(d, p, tls,
			cell(ext, et), cell(db, dt), tbl:subscribe(d, false, false, false),
			tbl:message(d, false), tbl:strip_status(d) and "stripped" or "sent"))
	end
end
print("\n(subscr./message: a stranger from that domain writes to a local user"
	.. " who has no roster entry for them)")

print("\nA table with mistakes is refused whole, with reasons:")
local bad, diags = core.build({
	["fabrikam.com"] = { dialbak = true, tls = "requried" };
	["contoso.com"] = { tls = "not_supported", sasl = "required" };
	["corp.fabrikam.com"] = {};
	["fabrikam.org"] = { additional_domains = { "corp.fabrikam.com" } };
})
assert(bad == nil)
for _, d in ipairs(diags) do print("  " .. d.severity .. ": " .. d.message) end
