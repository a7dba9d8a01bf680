-- xmpp_partners_adhoc.lib.lua: the XEP-0050 ad-hoc commands of
-- mod_xmpp_partners for host admins (list, add, edit, remove partners).
--
-- Loaded by mod_xmpp_partners from its own directory; returns a function
-- that takes the main module's API table:
--   module, core, compat, policy()
--   admin            xmpp_partners_admin.lib.lua (the list text)
--   runtime          xmpp_partners_runtime.lib.lua (the changes made)

local LIST_KEYS = { additional_domains = true, fingerprints = true };
local NUMBER_KEYS = { connection_limit = true };

return function (api)
	local module, core = api.module, api.core;
	local compat, admin, runtime = api.compat, api.admin, api.runtime;
	local RECORD_KEYS = runtime.RECORD_KEYS;
	local adhoc = {};

	-- ---- XEP-0050 ad-hoc commands ---------------------------------------------------------------

	-- Items added through a host context: a global module's unload only
	-- announces its items on the global event bus, which mod_adhoc (a host
	-- module) does not hear, so they are removed by hand (teardown).
	local provided = {};
	local function provide(ctx, item)
		ctx:provides("adhoc", item);
		provided[#provided + 1] = { ctx = ctx, item = item };
	end

	function adhoc.teardown()
		for i = #provided, 1, -1 do
			pcall(provided[i].ctx.remove_item, provided[i].ctx, "adhoc-provider", provided[i].item);
			provided[i] = nil;
		end
	end

	local function adhoc_for_host(host)
		local ctx = module:context(host);
		local ok_dep = pcall(function () ctx:depends("adhoc"); end);
		if not ok_dep then
			local mm = compat.require "core.modulemanager";
			if not mm.is_loaded(host, "adhoc") then pcall(mm.load, host, "adhoc"); end
		end
		local adhoc_new = module:require("adhoc").new;
		local dataforms_new = compat.require "util.dataforms".new;
		local adhoc_util = compat.require "util.adhoc";

		local function record_fields(with_domain)
			local f = {
				title = "Partner record";
				instructions = "Values are checked by the partner policy core; an invalid combination is refused with its reason.";
			};
			if with_domain then
				f[#f + 1] = { name = "domain", type = "text-single", label = "Partner domain", required = true };
			end
			local more = {
				{ name = "description", type = "text-single", label = "Description" };
				{ name = "type", type = "list-single", label = "Type",
					options = { "federated", "public_verified", "public_unverified" } };
				{ name = "tls", type = "list-single", label = "TLS", options = { "required", "optional", "not_supported" } };
				{ name = "sasl", type = "list-single", label = "SASL EXTERNAL", options = { "required", "optional", "not_supported" } };
				{ name = "dialback", type = "boolean", label = "Accept and use dialback" };
				{ name = "keepalive", type = "boolean", label = "Whitespace keepalives" };
				{ name = "additional_domains", type = "text-multi", label = "Additional domains (one a line)" };
				{ name = "fingerprints", type = "text-multi", label = "Pinned keys sha256:HEX (one a line)" };
				{ name = "proxy", type = "text-single", label = "Proxy host[:port]" };
				{ name = "connection_limit", type = "text-single", label = "Connection limit" };
			};
			for _, x in ipairs(more) do f[#f + 1] = x; end
			return f;
		end

		-- A record from submitted fields (empty fields are left out); typed
		-- text is read by the core (core.parse_value), as partners:set's.
		local function record_from(fields)
			local r = {};
			for _, k in ipairs(RECORD_KEYS) do
				local v = fields[k];
				if type(v) == "string" then
					if v:match("%S") then r[k] = core.parse_value(k, v); end
				elseif v ~= nil then
					r[k] = v;
				end
			end
			return r;
		end

		local function completed(ok, msg)
			if ok then return { status = "completed", info = msg }; end
			return { status = "completed", error = { message = msg } };
		end

		local function domain_options()
			local policy = api.policy();
			return policy and policy:partners() or {};
		end

		-- List
		provide(ctx, adhoc_new("List federation partners", "urn:xmpp-partners:list",
			function ()
				local ok, text = admin.list_text();
				return completed(ok, text);
			end, "admin"));

		-- Add
		local add_form = dataforms_new(record_fields(true));
		provide(ctx, adhoc_new("Add a federation partner", "urn:xmpp-partners:add",
			adhoc_util.new_simple_form(add_form, function (fields, err)
				if err then
					local msgs = {};
					for k, v in pairs(err) do msgs[#msgs + 1] = k .. ": " .. tostring(v); end
					return completed(false, "Invalid form: " .. table.concat(msgs, "; "));
				end
				return completed(runtime.add(fields.domain, record_from(fields)));
			end), "admin"));

		-- Edit: pick a partner, then a form with its current values.
		local pick_form = dataforms_new({ title = "Choose a partner";
			{ name = "domain", type = "list-single", label = "Partner", required = true } });
		local edit_form = dataforms_new(record_fields(false));
		provide(ctx, adhoc_new("Edit a federation partner", "urn:xmpp-partners:edit",
			function (_, data, state)
				if data.action == "cancel" then return { status = "canceled" }; end
				if not state then
					return { status = "executing", actions = { "next", default = "next" },
						form = dataforms_new({ title = "Choose a partner";
							{ name = "domain", type = "list-single", label = "Partner", required = true,
								options = domain_options() } }) }, { step = "pick" };
				end
				if state.step == "pick" then
					local fields = data.form and pick_form:data(data.form) or {};
					local policy = api.policy();
					local r = fields.domain and policy and policy:lookup(fields.domain);
					if not r or r.default then
						return completed(false, tostring(fields.domain) .. " is not a partner");
					end
					local values = {};
					for _, k in ipairs(RECORD_KEYS) do
						local v = r[k];
						if LIST_KEYS[k] then v = table.concat(v or {}, "\n"); end
						if v ~= nil then values[k] = NUMBER_KEYS[k] and tostring(v) or v; end
					end
					values.proxy = r.proxy;
					return { status = "executing", actions = { "complete", default = "complete" },
						form = { layout = edit_form, values = values } }, { step = "edit", domain = r.domain };
				end
				local fields, err = edit_form:data(data.form);
				if err then
					local msgs = {};
					for k, v in pairs(err) do msgs[#msgs + 1] = k .. ": " .. tostring(v); end
					return completed(false, "Invalid form: " .. table.concat(msgs, "; "));
				end
				local eff, eerr = runtime.effective_all();
				if not eff then return completed(false, eerr); end
				local k = runtime.find_key(eff.merged, state.domain);
				if not k then
					return completed(false, core.change_refused({ op = "edit", domain = state.domain }, "not_partner"));
				end
				local st8 = runtime.copy(eff.state);
				st8.partners[k] = record_from(fields);
				local change = { op = "edit", domain = state.domain };
				local ok, msg = runtime.apply(st8, change, "editing " .. state.domain);
				return completed(ok, ok and core.change_text(change, msg) or msg);
			end, "admin"));

		-- Remove
		local remove_form = dataforms_new({ title = "Remove a partner";
			{ name = "domain", type = "list-single", label = "Partner", required = true } });
		provide(ctx, adhoc_new("Remove a federation partner", "urn:xmpp-partners:remove",
			function (_, data, state)
				if data.action == "cancel" then return { status = "canceled" }; end
				if not state and not data.form then
					local opts = {};
					for _, d in ipairs(domain_options()) do opts[#opts + 1] = d; end
					return { status = "executing", actions = { "complete", default = "complete" },
						form = dataforms_new({ title = "Remove a partner";
							{ name = "domain", type = "list-single", label = "Partner", required = true, options = opts } }) },
						"executing";
				end
				local fields, err = remove_form:data(data.form);
				if err then return completed(false, "Invalid form: choose a partner"); end
				return completed(runtime.remove(fields.domain));
			end, "admin"));
	end

	function adhoc.setup_host(host)
		local ok, err = pcall(adhoc_for_host, host);
		if not ok then module:log("warn", "ad-hoc partner commands not available on %s: %s", host, tostring(err)); end
	end

	return adhoc;
end
