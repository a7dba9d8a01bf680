-- xmpp_partners_admin.lib.lua: administration of mod_xmpp_partners.
--
-- Loaded by mod_xmpp_partners with module:require; returns a function that
-- takes the main module's API table:
--   module           the (global) module object
--   core             the policy core (xmpp_partners.core), or nil
--   policy()         the table in force
--   install(tbl, why) put a built table in force and close the streams it
--                    no longer allows (enforce_existing)
--   read_config()    config partners, options, origin | nil, err (as
--                    read_options: origin[key] names xmpp_partners_file)
--   each_s2s_session(fn), stream_state(session), remote_of(session)
--
-- It provides:
--   * runtime changes kept in the keyval store "xmpp_partners" of Prosody's
--     configured storage (see xmpp_partners_compat.lib.lua for where)
--     ({ partners = { [domain] = record }, removed = { [domain] = true } });
--     a runtime record overrides the config record of the same domain, a
--     runtime removal hides a config record until `partners reset DOMAIN`;
--   * the `partners` section of `prosodyctl shell` (0.12's shell
--     environment and 13's "shell-command" items, both registered);
--   * XEP-0050 ad-hoc commands for host admins;
--   * `prosodyctl mod_xmpp_partners check` (module.command).
-- Every decision comes from the core: this file only merges, stores,
-- formats and asks.

local STORE = "xmpp_partners";
local LIST_KEYS = { additional_domains = true, fingerprints = true };
local NUMBER_KEYS = { connection_limit = true };
local RECORD_KEYS = { "description", "type", "tls", "sasl", "dialback", "additional_domains",
	"proxy", "connection_limit", "keepalive", "fingerprints" };

return function (api)
	local module, core = api.module, api.core;
	local compat = api.compat; -- xmpp_partners_compat.lib.lua, loaded by the module
	local admin = {};

	-- ---- values ---------------------------------------------------------------

	local function copy(v)
		if type(v) ~= "table" then return v; end
		local c = {};
		for k, x in pairs(v) do c[k] = copy(x); end
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
		if type(text) == "table" then return copy(text); end
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
	function admin.when_storage_ready(fn) return compat.when_store_ready(module, STORE, fn); end
	admin.set_store = function (s) store = s; end -- tests, offline use

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
	function admin.effective(config_partners)
		local state, err = load_runtime();
		if not state then return nil, "cannot read the stored runtime partner changes: " .. err; end
		return (merge(config_partners, state));
	end

	-- Everything about the effective table: merged, sources, removed,
	-- options, state | nil, err
	local function effective_all()
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

	local function diags_text(diags, only_errors)
		local lines = {};
		for _, d in ipairs(diags or {}) do
			if not only_errors or d.severity == "error" then lines[#lines + 1] = diag_line(d); end
		end
		return table.concat(lines, "\n");
	end

	-- ---- tables for the shell ------------------------------------------------------

	local function format_table(header, rows)
		local widths = {};
		for i, h in ipairs(header) do widths[i] = #h; end
		for _, row in ipairs(rows) do
			for i, cell in ipairs(row) do
				row[i] = tostring(cell);
				if #row[i] > widths[i] then widths[i] = #row[i]; end
			end
		end
		local out = {};
		local function line(cells)
			local parts = {};
			for i, c in ipairs(cells) do
				parts[i] = i < #cells and (c .. string.rep(" ", widths[i] - #c)) or c;
			end
			out[#out + 1] = table.concat(parts, "  ");
		end
		line(header);
		local sep = {};
		for i, w in ipairs(widths) do sep[i] = string.rep("-", w); end
		line(sep);
		for _, row in ipairs(rows) do line(row); end
		return table.concat(out, "\n");
	end

	-- ---- sessions --------------------------------------------------------------------

	local function session_rows(filter_primary, filter_domain)
		local policy = api.policy();
		local rows = {};
		api.each_s2s_session(function (s)
			local remote = api.remote_of(s) or "?";
			local primary = s.xp_partner or (policy and policy:resolve(remote)) or "-";
			if filter_primary and primary ~= filter_primary and remote ~= filter_domain then return; end
			local methods = {};
			for d, m in pairs(s.xp_methods or {}) do methods[#methods + 1] = d .. "=" .. m; end
			table.sort(methods);
			local cert = s.cert_chain_status and (("chain " .. tostring(s.xp_chain_status_host or s.cert_chain_status))
				.. ", identity " .. tostring(s.cert_identity_status or "-")
				.. (s.xp_pin_match and ", pinned key" or "")) or "-";
			rows[#rows + 1] = {
				s.direction == "outgoing" and "out" or "in",
				(s.direction == "outgoing" and s.from_host or s.to_host) or "?",
				remote, primary, s.type or "?",
				s.secure and "yes" or "no",
				#methods > 0 and table.concat(methods, " ") or "-",
				cert,
			};
		end);
		table.sort(rows, function (a, b) return a[3] .. a[1] .. a[2] < b[3] .. b[1] .. b[2]; end);
		return rows;
	end
	local SESSION_HEADER = { "dir", "local", "remote", "partner", "state", "tls", "method", "certificate" };

	-- ---- changes ------------------------------------------------------------------------

	-- Build the table that `state` would give; on success store the state,
	-- install the table and close what it no longer allows.  Nothing changes
	-- when the build or the write fails.  change is the core's description
	-- of it ({ op =, domain =, key = }: core.change_text), what the words
	-- of the log line.  -> true, warnings | nil, the core's refusal text
	local function apply(state, change, what)
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
		local warn = diags_text(tbl:warnings());
		return true, warn ~= "" and warn or nil;
	end

	local function normalize(domain)
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
	local function find_key(merged, domain)
		if merged[domain] ~= nil then return domain; end
		for k in pairs(merged) do
			if core and type(k) == "string" and core.normalize(k) == domain then return k; end
		end
	end

	function admin.add(domain, record)
		local d, err = normalize(domain);
		if not d then return nil, err; end
		local r, perr = parse_record(record);
		if not r then return nil, perr; end
		local change = { op = "add", domain = d };
		local eff, eerr = effective_all();
		if not eff then return nil, core.change_refused(change, "read", eerr); end
		if find_key(eff.merged, d) then return nil, core.change_refused(change, "exists"); end
		local state = copy(eff.state);
		state.removed[d] = nil;
		state.partners[d] = r;
		local ok, msg = apply(state, change, "adding " .. d);
		if not ok then return nil, msg; end
		return true, core.change_text(change, msg);
	end

	function admin.set(domain, key, value)
		local d, err = normalize(domain);
		if not d then return nil, err; end
		if type(key) ~= "string" or key == "" then
			return nil, "give a key: one of " .. table.concat(RECORD_KEYS, ", ");
		end
		local change = { op = "set", domain = d, key = key };
		local eff, eerr = effective_all();
		if not eff then return nil, core.change_refused(change, "read", eerr); end
		local k = find_key(eff.merged, d);
		if not k then
			local policy = api.policy();
			local primary = policy and policy:resolve(d);
			if primary and primary ~= "*" and primary ~= d then
				return nil, core.change_refused(change, "additional", primary);
			end
			return nil, core.change_refused(change, "not_partner");
		end
		local state = copy(eff.state);
		local r = copy(eff.merged[k]);
		r[key] = parse_value(key, value);
		state.partners[k] = r;
		local ok, msg = apply(state, change, "setting " .. key .. " of " .. d);
		if not ok then return nil, msg; end
		-- the core says how a typed word was read ("yes" is true)
		change.value = r[key];
		change.typed = type(value) == "string" and value or nil;
		return true, core.change_text(change, msg);
	end

	function admin.remove(domain)
		local d, err = normalize(domain);
		if not d then return nil, err; end
		local change = { op = "remove", domain = d };
		local eff, eerr = effective_all();
		if not eff then return nil, core.change_refused(change, "read", eerr); end
		local k = find_key(eff.merged, d);
		if not k then return nil, core.change_refused(change, "not_partner"); end
		local state = copy(eff.state);
		state.partners[k] = nil;
		if eff.config[k] ~= nil then state.removed[k] = true; end
		local ok, msg = apply(state, change, "removing " .. d);
		if not ok then return nil, msg; end
		change.hidden = eff.config[k] ~= nil and k or nil;
		return true, core.change_text(change);
	end

	-- Forget the runtime override or removal of domain: its config entry (if
	-- any) applies again.
	function admin.reset(domain)
		local d, err = normalize(domain);
		if not d then return nil, err; end
		local change = { op = "reset", domain = d };
		local eff, eerr = effective_all();
		if not eff then return nil, core.change_refused(change, "read", eerr); end
		local state = copy(eff.state);
		local found = false;
		for k in pairs(state.partners) do
			if k == d or (core and core.normalize(k) == d) then state.partners[k] = nil; found = true; end
		end
		for k in pairs(state.removed) do
			if k == d or (core and core.normalize(k) == d) then state.removed[k] = nil; found = true; end
		end
		if not found then return nil, core.change_refused(change, "nothing"); end
		local ok, msg = apply(state, change, "resetting " .. d);
		if not ok then return nil, msg; end
		return true, core.change_text(change);
	end

	-- End the refusal back-off of domain at once (its fix is in place on
	-- the peer's side, e.g. a new certificate): its next stream is judged
	-- afresh.  A change of the partner table does this for every domain.
	function admin.reset_backoff(domain)
		local d, err = normalize(domain);
		if not d then return nil, err; end
		if not api.backoff then return nil, "refusal back-off is not active (policy core missing)"; end
		local n = api.backoff.reset(d);
		if n > 0 then module:log("info", "Refusal back-off for %s ended by an admin", d); end
		return true, core.change_text({ op = "reset_backoff", domain = d, count = n });
	end

	-- ---- read-only views ---------------------------------------------------------------

	local function build_effective()
		if not core then return nil, nil, "the policy core xmpp_partners.core is not installed"; end
		local eff, err = effective_all();
		if not eff then return nil, nil, err; end
		local tbl, diags = core.build(eff.merged, eff.opts);
		return eff, tbl, diags;
	end

	-- At most this many rows unless asked (partners:list(pattern, n)): a
	-- listing of a large table would take the shell minutes to print.
	local LIST_LIMIT = 100;

	-- The partner list: the first `limit` (default LIST_LIMIT) partners
	-- whose primary domain contains `pattern` (plain text; all without
	-- one), then how many more there are and how to see them.  One pass
	-- over the table and one over the live sessions, whatever its size.
	-- The record key of each partner in merged: itself, or (a map built
	-- once, only when a key is spelled otherwise) by normalised name; one
	-- pass over the table, where find_key per partner would be quadratic.
	local function key_lookup(merged)
		local by_norm;
		return function (primary)
			if merged[primary] ~= nil then return primary; end
			if not by_norm then
				by_norm = {};
				for k in pairs(merged) do
					local n = type(k) == "string" and core and core.normalize(k);
					if n then by_norm[n] = k; end
				end
			end
			return by_norm[primary];
		end;
	end

	function admin.list_text(pattern, limit)
		local policy = api.policy();
		if not policy then return nil, "the policy core xmpp_partners.core is not installed"; end
		if pattern == "" then pattern = nil; end
		limit = math.floor(tonumber(limit) or LIST_LIMIT);
		if limit < 0 then limit = 0; end
		local eff, err = effective_all();
		if not eff then return nil, err; end
		local live = {};
		api.each_s2s_session(function (sess)
			if sess.xp_partner then live[sess.xp_partner] = (live[sess.xp_partner] or 0) + 1; end
		end);
		local key_of = key_lookup(eff.merged);
		local rows, matched = {}, 0;
		for _, primary in ipairs(policy:partners()) do
			if not pattern or primary:find(pattern, 1, true) then
				matched = matched + 1;
				if matched <= limit then
					local k = key_of(primary);
					rows[#rows + 1] = { primary, k and eff.sources[k] or "?", live[primary] or 0 };
				end
			end
		end
		-- the core's text, the same as ejabberdctl partners_list's
		local text = policy:list(rows, matched, pattern, eff.removed);
		return true, (text:gsub("\n$", "")), #rows;
	end

	-- The partners in force as records for the status page: domain, type,
	-- tls, sasl, dialback, additional_domains, source | nil, err.
	function admin.partner_rows()
		local policy = api.policy();
		if not policy then return nil, "the policy core xmpp_partners.core is not installed"; end
		local eff, err = effective_all();
		if not eff then return nil, err; end
		local rows, key_of = {}, key_lookup(eff.merged);
		for _, primary in ipairs(policy:partners()) do
			local r = policy:lookup(primary);
			local k = key_of(primary);
			rows[#rows + 1] = { domain = primary, type = r.type, tls = r.tls, sasl = r.sasl,
				dialback = r.dialback, additional_domains = r.additional_domains or {},
				connection_limit = r.connection_limit, source = k and eff.sources[k] or "?" };
		end
		return rows, eff.removed;
	end

	function admin.show_text(domain)
		local policy = api.policy();
		if not policy then return nil, "the policy core xmpp_partners.core is not installed"; end
		local d, err = normalize(domain);
		if not d then return nil, err; end
		local r = policy:lookup(d);
		if not r then return policy:show(d); end -- nil, the core's message
		local eff = effective_all() or { merged = {}, sources = {} };
		local k = find_key(eff.merged, r.domain);
		-- the record as the core words it, the same as ejabberdctl's
		local lines = { (policy:show(d, k and eff.sources[k] or "?"):gsub("\n$", "")) };
		local srows = session_rows(r.domain, d);
		lines[#lines + 1] = "";
		if #srows == 0 then
			lines[#lines + 1] = "live sessions: none";
		else
			lines[#lines + 1] = "live sessions:";
			lines[#lines + 1] = format_table(SESSION_HEADER, srows);
		end
		return true, table.concat(lines, "\n");
	end

	function admin.check_text()
		local eff, tbl, diags = build_effective();
		if not eff then return nil, diags; end
		local errors = 0;
		for _, dg in ipairs(diags or {}) do
			if dg.severity == "error" then errors = errors + 1; end
		end
		-- The core's text, the same as ejabberdctl partners_check's.
		local text = core.check_text(diags or {}, tbl and tbl:info().count);
		if tbl then tbl:close(); end
		return tbl ~= nil, (text:gsub("\n$", "")), errors;
	end

	-- The core's explain (module/explain.c): the same text as the CLI's and
	-- ejabberdctl's; the shell only prints it.
	function admin.explain_text(domain)
		local policy = api.policy();
		if not policy then return nil, "the policy core xmpp_partners.core is not installed"; end
		local d, err = normalize(domain);
		if not d then return nil, err; end
		local text, why = policy:explain(d);
		if not text then return nil, why; end
		return true, (text:gsub("\n$", ""));
	end

	function admin.sessions_text(domain)
		local primary, d;
		if domain ~= nil then
			local err;
			d, err = normalize(domain);
			if not d then return nil, err; end
			local policy = api.policy();
			primary = policy and policy:resolve(d) or d;
		end
		local rows = session_rows(primary, d);
		if #rows == 0 then return true, "no live s2s sessions" .. (d and (" with " .. d) or ""), 0; end
		return true, format_table(SESSION_HEADER, rows), #rows;
	end

	function admin.export_text()
		local eff, tbl, diags = build_effective();
		if not eff then return nil, diags; end
		if not tbl then
			return nil, "the effective partner table has errors; fix them first (partners:check()):\n"
				.. diags_text(diags, true);
		end
		tbl:close();
		-- the core's partner file, the same as ejabberdctl partners_export's
		return true, core.export_text(eff.opts, eff.merged, eff.sources);
	end

	-- ---- prosodyctl shell -------------------------------------------------------------------

	local commands = {
		{ "list", "List the partners: domain, type, tls/sasl/dialback, extra domains, source, live connections"
			.. " (the first 100; partners:list(PATTERN [, N]) those whose domain contains PATTERN)", { "pattern", "limit" },
			function (self, pattern, limit)
				local ok, text, n = admin.list_text(pattern, limit);
				if not ok then return nil, text; end
				self.session.print(text);
				return true, "Showing " .. n .. " partner(s)";
			end },
		{ "show", "Show a partner's full record, matrix row and live sessions", { "domain" },
			function (self, domain)
				local ok, text = admin.show_text(domain);
				if not ok then return nil, text; end
				self.session.print(text);
				return true, "Shown";
			end },
		{ "add", "Add a partner: partners:add(domain, { type = ..., tls = ..., ... })", { "domain", "record" },
			function (_, domain, record) return admin.add(domain, record); end },
		{ "set", "Change one key of a partner (stored, applies at once)", { "domain", "key", "value" },
			function (_, domain, key, value) return admin.set(domain, key, value); end },
		{ "remove", "Remove a partner and close its live sessions", { "domain" },
			function (_, domain) return admin.remove(domain); end },
		{ "reset", "Drop the runtime entry or removal of a domain: its config entry applies", { "domain" },
			function (_, domain) return admin.reset(domain); end },
		{ "reset_backoff", "End the refusal back-off of a domain now: its next stream is judged afresh",
			{ "domain" }, function (_, domain) return admin.reset_backoff(domain); end },
		{ "check", "Validate the effective partner table", {},
			function (self)
				local ok, text = admin.check_text();
				if ok == nil and not text then return nil, "check failed"; end
				if not ok then return nil, text; end
				self.session.print(text);
				return true, "No errors";
			end },
		{ "explain", "What is offered, accepted and enforced with a domain, each way", { "domain" },
			function (self, domain)
				local ok, text = admin.explain_text(domain);
				if not ok then return nil, text; end
				self.session.print(text);
				return true, "Explained";
			end },
		{ "sessions", "Live s2s sessions (of one domain's partner)", { "domain" },
			function (self, domain)
				local ok, text, n = admin.sessions_text(domain);
				if not ok then return nil, text; end
				self.session.print(text);
				return true, "Showing " .. n .. " session(s)";
			end },
		{ "export", "The effective partner table as a config snippet", {},
			function (self)
				local ok, text = admin.export_text();
				if not ok then return nil, text; end
				self.session.print(text);
				return true, "Exported";
			end },
	};

	local function safe(fn)
		return function (...)
			local ok, a, b = pcall(fn, ...);
			if not ok then return nil, "internal error: " .. tostring(a); end
			return a, b;
		end
	end

	local shell_teardown;
	function admin.setup_shell()
		local wrapped = {};
		for i, c in ipairs(commands) do
			local fn = safe(c[4]);
			wrapped[i] = { c[1], c[2], c[3], function (self, ...) return fn(self, ...); end };
		end
		shell_teardown = compat.add_shell_section(module, "partners",
			"Per-partner federation policy (mod_xmpp_partners)", wrapped);
	end

	function admin.teardown_shell()
		if shell_teardown then shell_teardown(); shell_teardown = nil; end
	end

	-- ---- XEP-0050 ad-hoc commands ---------------------------------------------------------------

	-- Items added through a host context: a global module's unload only
	-- announces its items on the global event bus, which mod_adhoc (a host
	-- module) does not hear, so they are removed by hand (teardown).
	local provided = {};
	local function provide(ctx, item)
		ctx:provides("adhoc", item);
		provided[#provided + 1] = { ctx = ctx, item = item };
	end

	function admin.teardown_adhoc()
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
				return completed(admin.add(fields.domain, record_from(fields)));
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
				local eff, eerr = effective_all();
				if not eff then return completed(false, eerr); end
				local k = find_key(eff.merged, state.domain);
				if not k then
					return completed(false, core.change_refused({ op = "edit", domain = state.domain }, "not_partner"));
				end
				local st8 = copy(eff.state);
				st8.partners[k] = record_from(fields);
				local change = { op = "edit", domain = state.domain };
				local ok, msg = apply(st8, change, "editing " .. state.domain);
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
				return completed(admin.remove(fields.domain));
			end, "admin"));
	end

	function admin.setup_adhoc(host)
		local ok, err = pcall(adhoc_for_host, host);
		if not ok then module:log("warn", "ad-hoc partner commands not available on %s: %s", host, tostring(err)); end
	end

	-- ---- prosodyctl mod_xmpp_partners check ------------------------------------------------------

	function admin.command(arg)
		local cmd = arg[1];
		if cmd ~= "check" then
			print("usage: prosodyctl mod_xmpp_partners check");
			print("  validate the partner table (configuration plus stored runtime changes)");
			return 2;
		end
		if not core then
			print("error: the policy core xmpp_partners.core cannot be loaded (install xmpp-partners-prosody)");
			return 2;
		end
		local ok, text, errors = admin.check_text();
		if ok == nil and type(text) == "string" and errors == nil then
			print("error: " .. text);
			return 2;
		end
		print(text);
		return ok and 0 or 1;
	end

	return admin;
end
