-- xmpp_partners_compat.lib.lua: what differs between Prosody 0.12 and 13,
-- found by looking for the feature itself, never by the version string (a
-- Prosody built from source may call itself "unknown").
--
-- Loaded with module:require from xmpp_partners_admin.lib.lua; returns a
-- table of functions (most take the global module object):
--   require(name)                  a Prosody library by its 13 or 0.12 name
--   open_store(module, name)       the runtime store and where it lives
--   store_location(module, name)   { driver =, host = } of the runtime store
--   when_store_ready(module, name, fn)  run fn once the store can be opened
--   add_shell_section(module, section, desc, commands)
--                                  the `prosodyctl shell` section

local compat = {};

-- Prosody 13 names its libraries prosody.util.x, prosody.core.x (the old
-- names load through a loader it keeps "for a transition period"); 0.12
-- has only the old names.
function compat.require(name)
	local ok, lib = pcall(require, "prosody." .. name);
	if ok then return lib; end
	return require(name);
end

-- ---- storage -------------------------------------------------------------------

-- The storage driver configured for a global store (the global section's
-- `storage`, a string or a per-store table, then `default_storage`).
local function global_driver(module, store)
	local storage = module:get_option("storage");
	local name;
	if type(storage) == "string" then
		name = storage;
	elseif type(storage) == "table" then
		name = storage[store];
	end
	return name or module:get_option("default_storage") or "internal";
end

-- The host whose storage keeps the global record when the driver is not
-- "internal": xmpp_partners_storage_host, else the first local VirtualHost
-- of the configuration in sorted order (components have no accounts and
-- often no storage of their own).
local function storage_host(module)
	local chosen = module:get_option("xmpp_partners_storage_host");
	if type(chosen) == "string" and chosen ~= "" then return chosen; end
	local config = compat.require "core.configmanager";
	local names = {};
	for host in pairs(config.getconfig()) do
		if host ~= "*" and type(host) == "string" and config.get(host, "component_module") == nil
			and config.get(host, "enabled") ~= false then
			names[#names + 1] = host;
		end
	end
	table.sort(names);
	return names[1];
end

-- Where the runtime record lives: { driver =, host = } where host is "*"
-- for the internal driver (a file of the global "host") or the host whose
-- store is used.
function compat.store_location(module, name)
	local driver = global_driver(module, name);
	if driver == "internal" then return { driver = driver, host = "*" }; end
	return { driver = driver, host = storage_host(module) };
end

local ctl_hosts = {}; -- hosts whose storage this prosodyctl process set up

-- A keyval store for the global record | nil, err.
--
-- Prosody 0.12 has no storage for the global context (module:open_store
-- there falls back to the null driver) and 13 refuses it outright
-- ("global-storage-not-supported").  Two ways work on both:
--   * internal (the default): util.datamanager, the layer
--     mod_storage_internal writes through, for the global "host" "*":
--     <data_path>/%2a/<name>.dat, where earlier releases kept it;
--   * any other driver (sql: SQLite, PostgreSQL, MySQL): the store of one
--     local host (storage_host), opened through storagemanager exactly as
--     that host's own modules open theirs.
function compat.open_store(module, name)
	local where = compat.store_location(module, name);
	local sm_ok, sm = pcall(compat.require, "core.storagemanager");
	if where.host == "*" then
		-- (storagemanager reroutes util.datamanager through the drivers;
		-- olddm keeps the file functions.)
		local dm = sm_ok and sm.olddm or compat.require "util.datamanager";
		return {
			get = function (_, user) return dm.load(user, "*", name); end;
			set = function (_, user, data) return dm.store(user, "*", name, data); end;
		}, where;
	end
	if not sm_ok then return nil, "core.storagemanager cannot be loaded: " .. tostring(sm); end
	local host = where.host;
	if not host then
		return nil, "storage = \"" .. where.driver .. "\" needs a VirtualHost whose store keeps the "
			.. "partner changes, and the configuration has none; set xmpp_partners_storage_host";
	end
	if prosody.process_type == "prosodyctl" then
		-- prosodyctl has no live hosts (at most dummies, with no storage
		-- set up): prepare this one as its own user commands do.
		local config = compat.require "core.configmanager";
		if not config.getconfig()[host] then
			return nil, "xmpp_partners_storage_host \"" .. host .. "\" is not a VirtualHost of the configuration";
		end
		if not prosody.hosts[host] then prosody.hosts[host] = compat.require "util.startup".make_host(host); end
		if not ctl_hosts[host] then
			sm.initialize_host(host);
			ctl_hosts[host] = true;
		end
	elseif not prosody.hosts[host] then
		return nil, "xmpp_partners_storage_host \"" .. host .. "\" is not an active VirtualHost; "
			.. "name one that is";
	end
	local store, err = sm.open(host, name, "keyval");
	if not store then return nil, tostring(err); end
	return store, where;
end

-- Run fn now if the store can be opened, else once its host is activated
-- (a global module loads with the first host; the storage host may come
-- later in the same start-up).
function compat.when_store_ready(module, name, fn)
	local where = compat.store_location(module, name);
	if where.host == "*" or not where.host or prosody.hosts[where.host]
		or not compat.require "core.configmanager".getconfig()[where.host] then
		return fn(); -- ready, or never will be: fn reports why
	end
	module:log("debug", "partner table waits for the storage of %s", where.host);
	local fired = false;
	module:hook("host-activated", function (host)
		if host == where.host and not fired then
			fired = true;
			fn();
		end
	end, -100);
end

-- ---- prosodyctl shell -------------------------------------------------------------

-- commands: { { name, desc, { argname, ... }, handler(self, ...) }, ... }.
--
-- Prosody 13's mod_admin_shell builds sections from "shell-command" items
-- (with a schema; `prosodyctl shell SECTION COMMAND ARGS` and
-- `help SECTION` need them); 0.12's reads sections from its shared env
-- table.  Both are done: each shell takes what it knows and ignores the
-- other (13 puts its handlers into the same env table, under the same
-- names).  Returns the teardown function.
function compat.add_shell_section(module, section, desc, commands)
	for _, c in ipairs(commands) do
		local args = {};
		for _, a in ipairs(c[3]) do args[#args + 1] = { name = a, type = "string" }; end
		module:add_item("shell-command", {
			section = section; section_desc = desc;
			name = c[1]; desc = c[2]; args = args; handler = c[4];
		});
	end
	local env = module:shared("/*/admin_shell/env");
	local t = env[section] or {};
	for _, c in ipairs(commands) do
		if t[c[1]] == nil then t[c[1]] = c[4]; end
	end
	if t.help == nil then
		function t:help()
			local print = self.session.print;
			print(section .. " - " .. desc);
			for _, c in ipairs(commands) do
				local names = {};
				for _, a in ipairs(c[3]) do names[#names + 1] = a:upper(); end
				print(string.format("  %s %-8s %-20s %s", section, c[1], table.concat(names, " "), c[2]));
			end
			return true, "Changes are stored and apply at once; see the README";
		end
	end
	env[section] = t;
	-- 0.12's `help` prints a fixed list of sections: wrap it so that it
	-- names ours and answers `help SECTION`.  13 builds help from the
	-- shell-command items and keeps no shared `help` to wrap.  The shell
	-- may load after this module, or again: wrap whenever it defines help.
	local cmds = module:shared("/*/admin_shell/commands");
	local wrapped_help, wrapped_help_orig;
	local function wrap_help()
		local orig = cmds.help;
		if type(orig) ~= "function" or orig == wrapped_help then return; end
		wrapped_help = function (session, data)
			if tostring(data):match("^help " .. section .. "%f[%W]") then
				return t.help({ session = session });
			end
			orig(session, data);
			if not tostring(data):match("^help %w") then
				session.print(section .. ": " .. desc .. ": help " .. section);
			end
		end
		cmds.help = wrapped_help;
		wrapped_help_orig = orig;
	end
	wrap_help();
	module:hook("module-loaded", function (event)
		if event.module == "admin_shell" then wrap_help(); end
	end);
	return function ()
		if env[section] == t then env[section] = nil; end
		if wrapped_help and cmds.help == wrapped_help then cmds.help = wrapped_help_orig; end
	end;
end

return compat;
