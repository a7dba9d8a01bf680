-- xmpp_partners_runtime.lib.lua: the runtime changes of mod_xmpp_partners
-- (partners:add/set/remove/reset, the ad-hoc forms) and their storage.
--
-- Loaded by mod_xmpp_partners from its own directory; returns a function
-- that takes the main module's API table:
--   module           the (global) module object
--   core             the policy core (xmpp_partners.core), or nil
--   compat           xmpp_partners_compat.lib.lua (where the store opens)
--   policy()         the table in force
--   install(tbl, why) put a built table in force and close the streams it
--                    no longer allows (enforce_existing)
--   read_config()    config partners, options, origin | nil, err (as
--                    xmpp_partners_sources.lib.lua's read: origin[key] names
--                    xmpp_partners_file)
--
-- The changes are kept in the keyval store "xmpp_partners" of Prosody's
-- configured storage (see xmpp_partners_compat.lib.lua for where)
-- ({ partners = { [domain] = record }, removed = { [domain] = true } });
-- a runtime record overrides the config record of the same domain, a
-- runtime removal hides a config record until `partners reset DOMAIN`.
-- The core lays the sources over each other (core.overlay), judges the
-- table a change would give (core.build) and words every result
-- (core.change_text, core.change_refused): this file only stores.

local STORE = "xmpp_partners";
local RECORD_KEYS = { "description", "type", "tls", "sasl", "dialback", "additional_domains",
	"proxy", "connection_limit", "keepalive", "fingerprints" };

return function (api)
	local module, core = api.module, api.core;
	local compat = api.compat; -- xmpp_partners_compat.lib.lua, loaded by the module
	local runtime = { RECORD_KEYS = RECORD_KEYS };

	-- ---- values ---------------------------------------------------------------

	function runtime.copy(v)
		if type(v) ~= "table" then return v; end
		local c = {};
		for k, x in pairs(v) do c[k] = runtime.copy(x); end
		return c;
	end

	-- A value typed at the shell or in a form, read by the core
	-- (core.parse_value: none/nil, lists, yes/1/true, integers, else the
	-- text for the builder to judge); a Lua value given as such stays.
	local function parse_value(key, value)
		if type(value) ~= "string" then return value; end
		return core.parse_value(key, value);
	end

	-- A record given as Lua text: '{ type = "federated", tls = "optional" }'.
	local function parse_record(text)
		if type(text) == "table" then return runtime.copy(text); end
		if type(text) ~= "string" then return nil, "give the record as a table, e.g. { type = \"federated\" }"; end
		if not text:match("^%s*{") then text = "{" .. text .. "}"; end
		-- The core's sandbox, as for a partner file, except that a name
		-- read that is not defined (sasl = optional, unquoted) is an error
		-- naming it instead of nil, which would leave the default.
		local r, err = core.read_record(text);
		if not r then return nil, "the record was not read, nothing changed: " .. err; end
		return r;
	end

	-- ---- storage --------------------------------------------------------------

	-- The store is opened where both Prosody 0.12 and 13 allow it for a
	-- global module: see xmpp_partners_compat.lib.lua (open_store).
	local store;
	local function get_store()
		if store then return store; end
		local s, where = compat.open_store(module, STORE);
		if not s then error(where, 0); end
		store = s;
		module:log("debug", "runtime partner changes: storage %s of %s", where.driver,
			where.host == "*" and "the global context" or where.host);
		return store;
	end
	-- Run fn (the first load of the partner table) once the store can open.
	function runtime.when_storage_ready(fn) return compat.when_store_ready(module, STORE, fn); end
	runtime.set_store = function (s) store = s; end -- tests, offline use

	-- The runtime state: { partners = {...}, removed = {...} } | nil, err
	local function load_runtime()
		local ok, data, err = pcall(function () return get_store():get(nil); end);
		if not ok then return nil, tostring(data); end
		if data == nil and err then return nil, tostring(err); end
		data = data or {};
		data.partners = type(data.partners) == "table" and data.partners or {};
		data.removed = type(data.removed) == "table" and data.removed or {};
		return data;
	end

	local function save_runtime(state)
		local ok, done, err = pcall(function () return get_store():set(nil, state); end);
		if not ok then return nil, tostring(done); end
		if not done then return nil, tostring(err or "the storage driver refused the write"); end
		return true;
	end

	-- Config plus runtime: partners table, sources { [key] = "config" |
	-- "file PATH" | "runtime" | "runtime (overrides config)" | "runtime
	-- (overrides file)" }, removed config domains.  The core lays the
	-- sources over each other (xp_overlay: by normalised domain, however
	-- each source spells it); origin (read_config's) says which of
	-- config_partners came from the partner file.
	local function merge(config_partners, state, origin)
		local from_file, from_config = {}, {};
		for k, record in pairs(config_partners or {}) do
			if origin and origin[k] and origin[k] ~= "config" then
				from_file[k] = record;
			else
				from_config[k] = record;
			end
		end
		return core.overlay(from_file, from_config, state.partners, state.removed,
			module:get_option_path("xmpp_partners_file", nil, "config"));
	end

	-- For load_policy: the effective partner table | nil, err.
	function runtime.effective(config_partners)
		local state, err = load_runtime();
		if not state then return nil, "cannot read the stored runtime partner changes: " .. err; end
		return (merge(config_partners, state));
	end

	-- Everything about the effective table: merged, sources, removed,
	-- options, state | nil, err
	function runtime.effective_all()
		local config_partners, opts, origin = api.read_config();
		if not config_partners then return nil, opts; end
		local state, err = load_runtime();
		if not state then return nil, "cannot read the stored runtime partner changes: " .. err; end
		local merged, sources, removed = merge(config_partners, state, origin);
		return { merged = merged, sources = sources, removed = removed, opts = opts,
			state = state, config = config_partners };
	end

	-- ---- diagnostics ----------------------------------------------------------------

	-- The one line every host prints for a diagnostic (the core's).
	local function diag_line(d)
		return core.diag_line(d);
	end

	function runtime.diags_text(diags, only_errors)
		local lines = {};
		for _, d in ipairs(diags or {}) do
			if not only_errors or d.severity == "error" then lines[#lines + 1] = diag_line(d); end
		end
		return table.concat(lines, "\n");
	end

	-- ---- changes ------------------------------------------------------------------------

	-- Build the table that `state` would give; on success store the state,
	-- install the table and close what it no longer allows.  Nothing changes
	-- when the build or the write fails.  change is the core's description
	-- of it ({ op =, domain =, key = }: core.change_text), what the words
	-- of the log line.  -> true, warnings | nil, the core's refusal text
	function runtime.apply(state, change, what)
		if not core then return nil, "the policy core xmpp_partners.core is not installed: nothing can be changed"; end
		local config_partners, opts = api.read_config();
		if not config_partners then return nil, core.change_refused(change, "read", opts); end
		local merged = merge(config_partners, state);
		local tbl, diags = core.build(merged, opts);
		if not tbl then return nil, core.change_refused(change, "invalid", diags); end
		local ok, err = save_runtime(state);
		if not ok then
			tbl:close();
			return nil, core.change_refused(change, "store", err);
		end
		api.install(tbl, "changed by an administrator (" .. what .. ")");
		local warn = runtime.diags_text(tbl:warnings());
		return true, warn ~= "" and warn or nil;
	end

	function runtime.normalize(domain)
		if type(domain) ~= "string" or domain == "" then
			return nil, "give a domain, e.g. partners:show(\"fabrikam.com\")";
		end
		if not core then return domain; end
		local n, why = core.normalize(domain);
		if not n then return nil, "'" .. domain .. "' is not a valid domain: " .. tostring(why); end
		return n;
	end

	-- The effective record key of domain (the exact key used in config or
	-- storage, which may differ from the normalized form).
	function runtime.find_key(merged, domain)
		if merged[domain] ~= nil then return domain; end
		for k in pairs(merged) do
			if core and type(k) == "string" and core.normalize(k) == domain then return k; end
		end
	end

	function runtime.add(domain, record)
		local d, err = runtime.normalize(domain);
		if not d then return nil, err; end
		local r, perr = parse_record(record);
		if not r then return nil, perr; end
		local change = { op = "add", domain = d };
		local eff, eerr = runtime.effective_all();
		if not eff then return nil, core.change_refused(change, "read", eerr); end
		if runtime.find_key(eff.merged, d) then return nil, core.change_refused(change, "exists"); end
		local state = runtime.copy(eff.state);
		state.removed[d] = nil;
		state.partners[d] = r;
		local ok, msg = runtime.apply(state, change, "adding " .. d);
		if not ok then return nil, msg; end
		return true, core.change_text(change, msg);
	end

	function runtime.set(domain, key, value)
		local d, err = runtime.normalize(domain);
		if not d then return nil, err; end
		if type(key) ~= "string" or key == "" then
			return nil, "give a key: one of " .. table.concat(RECORD_KEYS, ", ");
		end
		local change = { op = "set", domain = d, key = key };
		local eff, eerr = runtime.effective_all();
		if not eff then return nil, core.change_refused(change, "read", eerr); end
		local k = runtime.find_key(eff.merged, d);
		if not k then
			local policy = api.policy();
			local primary = policy and policy:resolve(d);
			if primary and primary ~= "*" and primary ~= d then
				return nil, core.change_refused(change, "additional", primary);
			end
			return nil, core.change_refused(change, "not_partner");
		end
		local state = runtime.copy(eff.state);
		local r = runtime.copy(eff.merged[k]);
		r[key] = parse_value(key, value);
		state.partners[k] = r;
		local ok, msg = runtime.apply(state, change, "setting " .. key .. " of " .. d);
		if not ok then return nil, msg; end
		-- the core says how a typed word was read ("yes" is true)
		change.value = r[key];
		change.typed = type(value) == "string" and value or nil;
		return true, core.change_text(change, msg);
	end

	function runtime.remove(domain)
		local d, err = runtime.normalize(domain);
		if not d then return nil, err; end
		local change = { op = "remove", domain = d };
		local eff, eerr = runtime.effective_all();
		if not eff then return nil, core.change_refused(change, "read", eerr); end
		local k = runtime.find_key(eff.merged, d);
		if not k then return nil, core.change_refused(change, "not_partner"); end
		local state = runtime.copy(eff.state);
		state.partners[k] = nil;
		if eff.config[k] ~= nil then state.removed[k] = true; end
		local ok, msg = runtime.apply(state, change, "removing " .. d);
		if not ok then return nil, msg; end
		change.hidden = eff.config[k] ~= nil and k or nil;
		return true, core.change_text(change);
	end

	-- Forget the runtime override or removal of domain: its config entry (if
	-- any) applies again.
	function runtime.reset(domain)
		local d, err = runtime.normalize(domain);
		if not d then return nil, err; end
		local change = { op = "reset", domain = d };
		local eff, eerr = runtime.effective_all();
		if not eff then return nil, core.change_refused(change, "read", eerr); end
		local state = runtime.copy(eff.state);
		local found = false;
		for k in pairs(state.partners) do
			if k == d or (core and core.normalize(k) == d) then state.partners[k] = nil; found = true; end
		end
		for k in pairs(state.removed) do
			if k == d or (core and core.normalize(k) == d) then state.removed[k] = nil; found = true; end
		end
		if not found then return nil, core.change_refused(change, "nothing"); end
		local ok, msg = runtime.apply(state, change, "resetting " .. d);
		if not ok then return nil, msg; end
		return true, core.change_text(change);
	end

	return runtime;
end
