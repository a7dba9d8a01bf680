-- xmpp_partners_shell.lib.lua: the `partners` section of `prosodyctl
-- shell` (0.12's shell environment and 13's "shell-command" items, both
-- registered: xmpp_partners_compat.lib.lua) and `prosodyctl
-- mod_xmpp_partners check` (module.command).
--
-- Loaded by mod_xmpp_partners from its own directory; returns a function
-- that takes the main module's API table:
--   module, core, compat
--   admin            xmpp_partners_admin.lib.lua (the texts shown)
--   runtime          xmpp_partners_runtime.lib.lua (the changes made)

return function (api)
	local module, core = api.module, api.core;
	local compat, admin, runtime = api.compat, api.admin, api.runtime;
	local shell = {};

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
			function (_, domain, record) return runtime.add(domain, record); end },
		{ "set", "Change one key of a partner (stored, applies at once)", { "domain", "key", "value" },
			function (_, domain, key, value) return runtime.set(domain, key, value); end },
		{ "remove", "Remove a partner and close its live sessions", { "domain" },
			function (_, domain) return runtime.remove(domain); end },
		{ "reset", "Drop the runtime entry or removal of a domain: its config entry applies", { "domain" },
			function (_, domain) return runtime.reset(domain); end },
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
	function shell.setup()
		local wrapped = {};
		for i, c in ipairs(commands) do
			local fn = safe(c[4]);
			wrapped[i] = { c[1], c[2], c[3], function (self, ...) return fn(self, ...); end };
		end
		shell_teardown = compat.add_shell_section(module, "partners",
			"Per-partner federation policy (mod_xmpp_partners)", wrapped);
	end

	function shell.teardown()
		if shell_teardown then shell_teardown(); shell_teardown = nil; end
	end

	-- ---- prosodyctl mod_xmpp_partners check ------------------------------------------------------

	function shell.command(arg)
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

	return shell;
end
