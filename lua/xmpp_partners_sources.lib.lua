-- xmpp_partners_sources.lib.lua: the sources of mod_xmpp_partners's
-- partner table as configured: the xmpp_partners_* options and the
-- xmpp_partners records of Prosody's configuration, and the partner file
-- (xmpp_partners_file), evaluated by the core.  The runtime changes an
-- admin stored are laid over these by xmpp_partners_runtime.lib.lua.
--
-- Loaded by mod_xmpp_partners from its own directory; returns a function
-- that takes the main module's API table: module, core.

return function (api)
	local module, core = api.module, api.core;
	local sources = {};

	-- The partner file as load_policy last read it: { path, file }, file being
	-- the core's file object (core.load_file), which keeps the file's values
	-- in C memory and hands out fresh Lua copies.  The admin commands work
	-- from it, as they work from the configuration Prosody last loaded: an
	-- edit of the file takes effect at the next reload (never in passing
	-- through `partners set`), and no command evaluates a large file again.
	-- Kept as Lua tables, a large file would sit in Prosody's heap for good,
	-- marked by every garbage collection cycle (issue 16).
	local loaded_file;

	-- The partners and xmpp_partners_* options of file | nil, err; fresh reads
	-- the disk and remembers the result, otherwise the last fresh read is used.
	local function read_partner_file(file, fresh)
		if not fresh and loaded_file and loaded_file.path == file then
			return loaded_file.file:partners(), loaded_file.file:options();
		end
		if not (core and core.load_file) then
			return nil, "xmpp_partners_file is set but the policy core cannot read files; "
				.. "install the matching xmpp_partners/core.so";
		end
		local loaded, notes = core.load_file(file);
		if not loaded then
			return nil, "xmpp_partners_file: " .. tostring(notes)
				.. "; fix the file (xmpp-partners check " .. file .. ") and reload";
		end
		for _, note in ipairs(notes) do module:log("debug", "xmpp_partners_file: %s", note); end
		local partners, opts = loaded:partners(), loaded:options();
		if fresh then
			if loaded_file then loaded_file.file:close(); end
			loaded_file = { path = file, file = loaded };
			-- The copies handed out here become garbage once the table is
			-- built: a Lua table per partner.  Collect them as soon as this
			-- load is done, rather than leave the incremental collector to
			-- sweep them bit by bit during the traffic that follows.
			module:add_timer(0, function () collectgarbage("collect"); end);
		else
			loaded:close();
		end
		return partners, opts;
	end

	-- The configured partners and options: partners, options, origin | nil, err
	-- (fresh: read xmpp_partners_file from disk, see read_partner_file).
	-- With xmpp_partners_file, the file is evaluated by the core in a Lua state
	-- of its own, so a large table never lives in Prosody's configuration
	-- (where every garbage collection cycle would mark it); the config's own
	-- xmpp_partners records are laid over the file's by the core (same domain,
	-- however spelled: the config wins), and a config option wins over the
	-- file's.  origin[key] is the source label of each record.
	function sources.read(fresh)
		local opts = {};
		for _, key in ipairs({ "default", "keepalive_interval", "connection_limit", "refusal_backoff",
			"pending_per_address", "pending_limit", "auth_timeout", "preauth_bytes", "preauth_depth" }) do
			local v = module:get_option("xmpp_partners_" .. key);
			if v ~= nil then opts[key] = v; end
		end
		local partners = module:get_option("xmpp_partners", {});
		local file = module:get_option_path("xmpp_partners_file", nil, "config");
		-- (a partners value that is not a table: core.build reports it)
		if not file or type(partners) ~= "table" then return partners, opts, {}; end
		local from_file, file_opts = read_partner_file(file, fresh);
		if not from_file then return nil, file_opts; end
		for key, v in pairs(file_opts) do
			if opts[key] == nil then opts[key] = v; end
		end
		-- One partner however each source spells it (["Fabrikam.com"] in the
		-- file, ["fabrikam.com"] in the config): the core lays the sources over
		-- each other (xp_overlay), the same way as on ejabberd.  origin[key]
		-- is each record's source label.
		local merged, origin = core.overlay(from_file, partners, nil, nil, file);
		return merged, opts, origin;
	end

	return sources;
end
