-- xmpp_partners_admin.lib.lua: the admin views of mod_xmpp_partners: the
-- texts of list, show, check, explain, sessions and export, the partner
-- rows of the status page, and ending a refusal back-off.
--
-- Loaded by mod_xmpp_partners from its own directory; returns a function
-- that takes the main module's API table:
--   module           the (global) module object
--   core             the policy core (xmpp_partners.core), or nil
--   runtime          xmpp_partners_runtime.lib.lua (the effective sources)
--   policy()         the table in force
--   backoff          xmpp_partners_backoff.lib.lua, or nil
--   each_s2s_session(fn), remote_of(session)
--
-- Every text is the core's (policy:list, policy:show, core.check_text,
-- policy:explain, core.export_text, core.change_text), the same as
-- ejabberdctl's; the shell (xmpp_partners_shell.lib.lua), the ad-hoc
-- commands (xmpp_partners_adhoc.lib.lua) and the status page print them.

return function (api)
	local module, core = api.module, api.core;
	local runtime = api.runtime; -- xmpp_partners_runtime.lib.lua
	local admin = {};
	local normalize, find_key = runtime.normalize, runtime.find_key;
	local effective_all, diags_text = runtime.effective_all, runtime.diags_text;

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

	return admin;
end
