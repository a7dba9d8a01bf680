-- mod_xmpp_partners: per-partner federation policy for Prosody.
--
-- The policy core (the C module xmpp_partners.core) decides everything:
-- which remote domains may federate, what to offer, try and accept on their
-- streams, connection limits and refusal texts.  This module only puts those
-- verdicts on Prosody's server-to-server events.  It is a global module so
-- that every local host is covered, components (MUC, upload, ...) included,
-- not only the VirtualHosts that list it.
--
-- Configuration (global section of prosody.cfg.lua, or an Included file):
--   xmpp_partners = { ["fabrikam.com"] = { type = "federated", ... }, ... }
--   xmpp_partners_default = "deny"            -- or "allow"
--   xmpp_partners_keepalive_interval = 300    -- seconds
--   xmpp_partners_connection_limit = 1000     -- all partners together
-- See README.md for every key.
module:set_global();

local st = require "util.stanza";
local filters = require "util.filters";
local nameprep = require "util.encodings".stringprep.nameprep;

local xmlns_sasl = "urn:ietf:params:xml:ns:xmpp-sasl";
local xmlns_tls = "urn:ietf:params:xml:ns:xmpp-tls";
local xmlns_dialback_feature = "urn:xmpp:features:dialback";
local xmlns_stream = "http://etherx.jabber.org/streams";

local hosts = prosody.hosts;

-- ---- the parts: fail closed when one is missing ------------------------------
--
-- The module is one unit: this file, the helper files next to it (installed
-- together as the directory mod_xmpp_partners/) and the C core.  A part that
-- is missing, does not load, comes from another copy or lacks what this file
-- uses leaves nothing to decide with; a policy module that Prosody merely
-- skipped would leave every domain free to federate.  So the module always
-- loads, and with a part missing it refuses all federation (the reason is
-- logged once, naming the part and what to install).

local PARTS = {
	xmpp_partners_sources = { "read" };
	xmpp_partners_proxy = { "setup", "setup_host", "teardown" };
	xmpp_partners_keepalive = { "start", "installed", "on_created" };
	xmpp_partners_contact = { "setup_host", "installed" };
	xmpp_partners_pending = { "setup", "on_created", "mark_tls", "mark_auth" };
	xmpp_partners_runtime = { "effective", "effective_all", "when_storage_ready", "apply", "add", "set", "remove",
		"reset", "normalize", "find_key", "diags_text", "copy" };
	xmpp_partners_admin = { "list_text", "partner_rows", "show_text", "check_text", "explain_text", "sessions_text",
		"export_text", "reset_backoff" };
	xmpp_partners_shell = { "setup", "teardown", "command" };
	xmpp_partners_adhoc = { "setup_host", "teardown" };
	xmpp_partners_backoff = { "refused", "at_header", "quiet", "clear", "reset", "set_max", "tick", "snapshot" };
	xmpp_partners_status = { "refused", "data", "update_gauges" };
};
-- The one helper that is a table of functions, not a factory: what differs
-- between Prosody 0.12 and 13, handed to the admin helpers.
local COMPAT_API = { "require", "open_store", "store_location", "when_store_ready", "add_shell_section" };
local CORE_API = { "build", "closed", "refusal", "reason_text", "cert", "read_file", "load_file", "normalize",
	"option_note", "read_record", "reason_is_final", "backoff_next", "refusal_summary", "overlay", "parse_value",
	"diag_line", "check_text", "change_text", "change_refused", "export_text" };
local INSTALL_HINT = "install the module whole: the package xmpp-partners-prosody, or `make install`, "
	.. "which put the directory mod_xmpp_partners/ (mod_xmpp_partners.lua, "
	.. "xmpp_partners_sources.lib.lua, xmpp_partners_proxy.lib.lua, xmpp_partners_keepalive.lib.lua, "
	.. "xmpp_partners_runtime.lib.lua, xmpp_partners_admin.lib.lua, xmpp_partners_shell.lib.lua, "
	.. "xmpp_partners_adhoc.lib.lua, xmpp_partners_contact.lib.lua, xmpp_partners_compat.lib.lua, "
	.. "xmpp_partners_pending.lib.lua, xmpp_partners_backoff.lib.lua, xmpp_partners_status.lib.lua) "
	.. "into a plugin directory "
	.. "and xmpp_partners/core.so into Lua 5.4's C module path";

local broken; -- why federation is refused whatever the table says, or nil
local core, policy;

-- (Every problem is logged, once, as the module loads; the first one is
-- the reason given with each refusal.)
local function fail_closed(what, detail)
	broken = broken or what;
	module:log("error", "%s (%s); refusing all server-to-server traffic until it is fixed: %s",
		what, (tostring(detail):gsub("%s*\n%s*", " ")), INSTALL_HINT);
	if policy then policy:close(); end
	core, policy = nil, nil;
end

do
	local ok, loaded = pcall(require, "xmpp_partners.core");
	if not ok then
		fail_closed("Cannot load the policy core xmpp_partners.core", loaded);
	else
		for _, name in ipairs(CORE_API) do
			if type(loaded[name]) ~= "function" then
				fail_closed("The policy core xmpp_partners.core " .. tostring(loaded.version)
					.. " is not the one this module needs", "it has no " .. name);
				break;
			end
		end
		if not broken then core = loaded; end
	end
end

-- Each helper's factory, loaded from this file's own directory (never from
-- another plugin directory, where module:require could find a stale copy).
local part_factory = {};
do
	local dir = module.path and module.path:match("^(.*[/\\])[^/\\]*$");
	for _, name in ipairs({ "xmpp_partners_compat", "xmpp_partners_sources", "xmpp_partners_proxy",
		"xmpp_partners_keepalive",
		"xmpp_partners_contact", "xmpp_partners_pending",
		"xmpp_partners_runtime", "xmpp_partners_admin", "xmpp_partners_shell", "xmpp_partners_adhoc",
		"xmpp_partners_backoff", "xmpp_partners_status" }) do
		local file = name .. ".lib.lua";
		local ok, factory;
		if dir then
			local f, err = loadfile(dir .. file, "t", module.environment);
			if f then ok, factory = pcall(f); else ok, factory = false, err; end
		else -- (loaded without a path: trust Prosody's loader)
			ok, factory = pcall(module.require, module, name);
		end
		if not ok then
			fail_closed("Cannot load " .. file .. " from " .. tostring(dir), factory);
		elseif name == "xmpp_partners_compat" then
			local missing = type(factory) ~= "table" and "it returned a " .. type(factory);
			for _, fn in ipairs(missing and {} or COMPAT_API) do
				if type(factory[fn]) ~= "function" then missing = "it has no " .. fn; break; end
			end
			if missing then
				fail_closed(file .. " in " .. tostring(dir) .. " is not the one this module needs", missing);
			else
				part_factory[name] = factory;
			end
		elseif type(factory) ~= "function" then
			fail_closed(file .. " in " .. tostring(dir) .. " is not a part of this module",
				"it returned a " .. type(factory));
		else
			part_factory[name] = factory;
		end
	end
end

-- Start a helper: its object, or (the module failing closed) one whose
-- functions do nothing, and whose `command` says why.
local function start_part(name, args)
	local obj;
	if not broken then
		local ok, res = pcall(part_factory[name], args);
		if not ok then
			fail_closed("Cannot start " .. name .. ".lib.lua", res);
		elseif type(res) ~= "table" then
			fail_closed(name .. ".lib.lua is not a part of this module", "it returned a " .. type(res));
		else
			for _, fn in ipairs(PARTS[name]) do
				if type(res[fn]) ~= "function" then
					fail_closed(name .. ".lib.lua is from another version of the module", "it has no " .. fn);
					break;
				end
			end
			obj = res;
		end
	end
	if not broken then return obj; end
	return setmetatable({
		command = function ()
			print("error: " .. broken .. ": all federation is refused; " .. INSTALL_HINT);
			return 2;
		end;
		effective = function () return nil, broken; end;
	}, { __index = function () return function () end; end });
end

-- Settings of the global section that look like our options but are none
-- (xmpp_partners_keepalive_intervl): the core's warnings, in name order,
-- the same the xmpp-partners tool prints for the file.
local function option_notes()
	local ok, cm = pcall(require, "core.configmanager");
	local global = core and ok and cm.getconfig and cm.getconfig()["*"];
	local notes = {};
	if type(global) ~= "table" then return notes; end
	for name in pairs(global) do
		local note = type(name) == "string" and core.option_note(name);
		if note then notes[#notes + 1] = note; end
	end
	table.sort(notes);
	return notes;
end

-- The table in force.  Start closed: until a valid table is built, nothing
-- federates (SPEC: a broken partner table never opens the server).
policy = core and core.closed();

-- ---- metrics -----------------------------------------------------------------

local m_refused = module:metric("counter", "refused", "",
	"s2s streams, authentications and stanzas refused by partner policy",
	{ "partner", "direction", "reason" });
local m_authenticated = module:metric("counter", "authenticated", "",
	"s2s authentications accepted by partner policy",
	{ "partner", "direction", "method" });

-- Refusal back-off (xmpp_partners_backoff.lib.lua) and status data for
-- monitoring (xmpp_partners_status.lib.lua), set up below.
local backoff, status;

-- The partner label: its primary domain, or "unlisted" (bounded cardinality).
local function partner_label(domain)
	local primary = policy and domain and policy:resolve(domain);
	if primary == nil or primary == "*" then return "unlisted"; end
	return primary;
end

-- Log a refusal once, with the core's canonical text, and count it.
local function refused(direction, domain, token, session)
	local line = core and core.refusal(direction, domain or "(unknown domain)", token)
		or ("refused " .. direction .. " s2s " .. (direction == "incoming" and "from " or "to ")
			.. tostring(domain) .. ": " .. tostring(broken));
	local log = session and session.log or module._log;
	-- (a peer that keeps retrying: logged once, then summarized per window)
	if direction ~= "incoming" or not backoff or backoff.refused(domain, session and session.ip, token) then
		log("info", "%s", line);
	else
		if session and session.type == "s2sin_unauthed" then
			backoff.quiet(session); -- (a stream being closed, not one that stays up)
		end
		log("debug", "%s (refusal back-off: counted for the window's summary)", line);
	end
	m_refused:with_labels(partner_label(domain), direction, token):add(1);
	if status then status.refused(partner_label(domain), direction, domain, token, session and session.ip); end
	return line;
end

local function reason_text(token)
	return core and core.reason_text(token)
		or ("the partner policy module is not installed whole: " .. tostring(broken));
end

-- ---- session facts -------------------------------------------------------------

local function remote_of(session)
	if session.direction == "outgoing" then return session.to_host; end
	return session.from_host;
end

-- What the core needs to know about a stream.
local function stream_state(session)
	return session.secure == true, session.cert_chain_status,
		session.cert_identity_status, session.xp_pin_match == true;
end

local function close(session, token, text)
	session:close({ condition = "policy-violation", text = text or reason_text(token) },
		nil, "refused by partner policy: " .. (text or reason_text(token)));
end

-- Every s2s session we know, both directions (for limits, reload, keepalive).
local function each_s2s_session(fn)
	for session in pairs(prosody.incoming_s2s) do fn(session); end
	for _, host in pairs(hosts) do
		if host.s2sout then
			for _, session in pairs(host.s2sout) do fn(session); end
		end
	end
end

-- Only authenticated streams count (issue 19): a stream that has not
-- proved anything is bounded by xmpp_partners_pending.lib.lua instead, so
-- nobody can use up a partner's connections in its name.
local function count_connections(primary, except)
	local mine, total = 0, 0;
	each_s2s_session(function (s)
		if s ~= except and s.xp_partner and (s.type == "s2sin" or s.type == "s2sout") then
			total = total + 1;
			if s.xp_partner == primary then mine = mine + 1; end
		end
	end);
	return mine, total;
end

-- Admit one more connection with domain's partner, or say why not.
local function admit(session, domain)
	local primary, token = policy:resolve(domain);
	if not primary then return false, token; end
	local mine, total = count_connections(primary, session);
	local ok, why = policy:connection(domain, mine, total);
	if not ok then return false, why; end
	if session then session.xp_partner = primary; end
	return true;
end

-- ---- loading the table ------------------------------------------------------------

local function log_diagnostics(level, diags)
	for _, d in ipairs(diags) do
		module:log(d.severity == "error" and level or "warn", "%s", d.message);
	end
end

-- Warn when Prosody's own global options would override partner rules.
local function check_global_options(tbl)
	local strict_enc = module:get_option_boolean("s2s_require_encryption", true);
	local strict_auth = module:get_option_boolean("s2s_secure_auth", false);
	if not (strict_enc or strict_auth) then return; end
	local lax = {};
	for _, domain in ipairs(tbl:partners()) do
		local r = tbl:lookup(domain);
		if r.tls ~= "required" or (strict_auth and r.sasl ~= "required") then
			lax[#lax + 1] = domain;
		end
	end
	if tbl:info().default == "allow" then lax[#lax + 1] = "(unlisted domains in allow mode)"; end
	if #lax > 0 then
		module:log("warn", "s2s_require_encryption/s2s_secure_auth are set, so Prosody itself "
			.. "refuses plain or certificate-less streams that these partners are allowed: %s. "
			.. "Set s2s_require_encryption = false and s2s_secure_auth = false: "
			.. "xmpp_partners enforces tls and sasl per partner.", table.concat(lax, ", "));
	end
end

local enforce_existing; -- defined below
local keepalive; -- xmpp_partners_keepalive.lib.lua, loaded below
-- The admin parts, loaded below: runtime changes and their storage, the
-- admin views, the prosodyctl shell and command, the ad-hoc commands.
local runtime, admin, shell, adhoc;
-- The configured sources of the table, and the proxy override: loaded below.
local sources, proxy;
-- Bounds on unauthenticated incoming streams (xmpp_partners_pending.lib.lua).
local pending = start_part("xmpp_partners_pending", {
	module = module;
	core = core;
	policy = function () return policy; end;
	m_refused = m_refused;
	partner_label = partner_label;
});
local contact; -- xmpp_partners_contact.lib.lua, loaded below

-- Put a built table in force; close the streams it no longer allows.
local function install(tbl, why)
	local old = policy;
	policy = tbl;
	-- The contact policy keeps the table for its per-message path (a
	-- comparison per message): every change of `policy` comes through here.
	if contact then contact.installed(tbl); end
	-- (the keepalive interval of the new table holds from now on)
	if keepalive then keepalive.installed(tbl); end
	module:log("info", "Partner policy %s: %d partners, unlisted domains %s",
		why, tbl:info().count, tbl:info().default == "deny" and "refused" or "allowed");
	check_global_options(tbl);
	if backoff then
		backoff.set_max(tbl:info().refusal_backoff);
		backoff.clear("partner policy " .. why);
	end
	if old then
		enforce_existing();
		old:close();
	end
end

-- Build the configured table (config plus the runtime changes stored by
-- the admin commands); install it only when it is valid.
local function load_policy(why)
	if not core then return false; end
	for _, note in ipairs(option_notes()) do module:log("warn", "%s", note); end
	-- err, then what that means for federation (until `until_what`).
	local function unreadable(err, until_what)
		module:log("error", "%s; %s", err, policy:info().closed
			and "all federation is refused until " .. until_what
			or "keeping the previous partner policy in force");
		return false;
	end
	local partners, opts = sources.read(true);
	if not partners then return unreadable(opts, "it can be read"); end
	if runtime then
		local merged, err = runtime.effective(partners);
		if not merged then return unreadable(err, "the storage works"); end
		partners = merged;
	end
	local tbl, diags = core.build(partners, opts);
	if not tbl then
		log_diagnostics("error", diags);
		if policy:info().closed then
			module:log("error", "The partner table has errors (above): all federation is "
				.. "refused until they are fixed and the configuration is reloaded");
		else
			module:log("error", "The new partner table has errors (above): keeping the "
				.. "previous partner policy in force");
		end
		return false;
	end
	log_diagnostics("warn", diags);
	install(tbl, why);
	return true;
end

-- ---- outgoing: routing, TLS, authentication ------------------------------------

local function bounce(event, condition, text)
	local stanza = event.stanza;
	local t = stanza.attr.type;
	if t == "error" or t == "result" or stanza.name == "db:verify" then return; end
	local reply = st.error_reply(stanza, "cancel", condition, text);
	module:context(event.from_host):send(reply);
end

-- route/remote: stanzas from local users to remote domains (priority 200:
-- before mod_s2s routes them at -1/-10).
local function on_route_remote(event)
	if not policy then
		bounce(event, "not-allowed", "Federation is disabled: " .. tostring(broken));
		return true;
	end
	local to = event.to_host;
	local primary, token = policy:resolve(to);
	if not primary then
		refused("outgoing", to, token);
		bounce(event, "not-allowed", "Communication with " .. tostring(to)
			.. " is not allowed by this server's partner policy");
		return true;
	end
	local from_host = hosts[event.from_host];
	if from_host and from_host.s2sout and not from_host.s2sout[to] then
		-- A new connection will be opened.
		local ok, why = admit(nil, to);
		if not ok then
			refused("outgoing", to, why);
			local reply_ok = event.stanza.attr.type ~= "error" and event.stanza.attr.type ~= "result";
			if reply_ok and event.stanza.name ~= "db:verify" then
				module:context(event.from_host):send(st.error_reply(event.stanza, "wait",
					"resource-constraint", "Too many connections with " .. to));
			end
			return true;
		end
	end
end

-- s2sout-created (after mod_tls at 0): withhold TLS where the partner says
-- tls = not_supported; remember which partner the session belongs to.
local function on_s2sout_created(event)
	local session = event.session;
	if not policy then return; end
	local action = policy:tls(session.to_host, "outgoing");
	session.xp_partner = policy:resolve(session.to_host);
	if action == "withhold" then
		session.ssl_ctx = false;
	end
end

-- Features from the remote server on an outgoing stream, before mod_tls
-- (500) and mod_saslauth (150): require TLS, give up at once when the peer
-- requires the TLS we never use with it, and hide EXTERNAL unless the core
-- would accept it on this stream.
local function remove_mechanisms(features)
	features:remove_children("mechanisms", xmlns_sasl);
end

local function offers_external(features)
	local mechanisms = features:get_child("mechanisms", xmlns_sasl);
	if not mechanisms then return false; end
	for mechanism in mechanisms:childtags() do
		if mechanism[1] == "EXTERNAL" then return true; end
	end
	return false;
end

local function on_out_features(event)
	local session, features = event.origin, event.stanza;
	if session.type ~= "s2sout_unauthed" or not policy then return; end
	local to = session.to_host;
	session.xp_external_refused = nil;
	local action, token = policy:tls(to, "outgoing");
	if not action then
		refused("outgoing", to, token, session);
		close(session, token);
		return true;
	end
	local starttls = features:get_child("starttls", xmlns_tls);
	if action == "require" and not session.secure and not starttls then
		refused("outgoing", to, "tls_required", session);
		close(session, "tls_required", "This server requires TLS with " .. to
			.. " (tls = required) and it was not offered");
		return true;
	end
	if action == "withhold" and starttls and starttls:get_child("required") then
		-- The peer takes nothing in the clear and we never start TLS with
		-- it: no method can succeed, say so now rather than time out.
		refused("outgoing", to, "tls_not_supported", session);
		close(session, "tls_not_supported", "This server does not use TLS with " .. to
			.. " (tls = not_supported) and " .. to .. " requires it");
		return true;
	end
	if session.secure then
		-- Try EXTERNAL only when the core says it can end in an accepted
		-- authentication (the peer's certificate must prove its domain);
		-- otherwise hide it, so dialback can follow where allowed.
		local ok, why = policy:sasl_external(to, "outgoing", stream_state(session));
		if not ok then
			if offers_external(features) then session.xp_external_refused = why; end
			remove_mechanisms(features);
		end
	end
end

-- After mod_saslauth (150) and before mod_dialback (100): if EXTERNAL is not
-- under way, dialback would start; stop it when the partner forbids it, or
-- when the peer offered only the EXTERNAL we may not use.
local function on_out_features_dialback(event)
	local session, features = event.origin, event.stanza;
	if session.type ~= "s2sout_unauthed" or not policy then return; end
	if session.external_auth == "attempting" then return; end
	if session.secure ~= true and session.secure ~= nil then return; end -- TLS under way
	local to = session.to_host;
	local ext_token = session.xp_external_refused;
	local ok, token, text = policy:dialback(to, "outgoing", stream_state(session));
	if ok and ext_token and not features:get_child("dialback", xmlns_dialback_feature) then
		-- The peer announced SASL and no dialback: dialback cannot work.
		ok, token, text = false, ext_token, nil;
	elseif not ok and ext_token then
		-- The peer offered EXTERNAL: why we could not use it says more
		-- than why dialback is refused.
		token, text = ext_token, nil;
	end
	if not ok then
		refused("outgoing", to, token, session);
		close(session, token, "No acceptable authentication method with " .. to .. ": "
			.. (text or reason_text(token)));
		return true;
	end
end

-- SASL EXTERNAL failed on an outgoing stream: mod_dialback (100) would fall
-- back to dialback; close instead when the partner forbids it.
local function on_out_sasl_failure(event)
	local session = event.origin;
	if session.type ~= "s2sout_unauthed" or session.external_auth ~= "failed" or not policy then return; end
	local to = session.to_host;
	local ok, token, text = policy:dialback(to, "outgoing", stream_state(session));
	if not ok then
		refused("outgoing", to, token, session);
		close(session, token, "SASL EXTERNAL failed and " .. text);
		return true;
	end
end

-- Pre-1.0 peers: mod_tls (200) and mod_dialback (100) act on this event.
local function on_out_legacy(event)
	local session = event.origin;
	if not policy then return; end
	local to = session.to_host;
	local ok, token, text = policy:dialback(to, "outgoing", stream_state(session));
	if not ok then
		refused("outgoing", to, token, session);
		close(session, token, "Legacy server without SASL: " .. text);
		return true;
	end
end

-- ---- incoming: stream header, features, dialback, SASL ---------------------------

-- First look at an incoming stream (priority 1000, before every feature):
-- refuse unlisted domains before TLS, enforce connection limits, withhold
-- STARTTLS from tls = not_supported partners.
local function on_in_features_early(event)
	local session = event.origin;
	if session.type ~= "s2sin_unauthed" then return; end
	if not policy then
		refused("incoming", session.from_host, "config_invalid", session);
		close(session, "config_invalid");
		return true;
	end
	-- Refused a moment ago for a reason a retry cannot change: the same
	-- answer now, before TLS.
	local held = backoff and backoff.at_header(session.from_host, session.ip);
	if held then
		backoff.quiet(session);
		session.log("debug", "%s (refusal back-off: at the stream header, before TLS)",
			core.refusal("incoming", session.from_host or session.ip or "(unknown domain)", held));
		m_refused:with_labels(partner_label(session.from_host), "incoming", held):add(1);
		if status then
			status.refused(partner_label(session.from_host), "incoming", session.from_host, held, session.ip, true);
		end
		close(session, held);
		return true;
	end
	local from = session.from_host;
	if not from then return; end -- no 'from': judged when it authenticates
	if not session.xp_partner then
		-- Refuse unlisted domains now; the connection limits are checked
		-- when the stream authenticates (on_authenticated).
		local ok, token = policy:resolve(from);
		if not ok then
			refused("incoming", from, token, session);
			close(session, token);
			return true;
		end
	end
	if policy:tls(from, "incoming") == "withhold" then
		session.ssl_ctx = false; -- mod_tls offers nothing and answers <failure/>
	end
end

-- Last look at incoming features (priority -1000, after mod_tls,
-- mod_saslauth and mod_dialback added theirs): make them say exactly what
-- the partner's rules allow.
local function on_in_features_late(event)
	local session, features = event.origin, event.stanza or event.features;
	if session.type ~= "s2sin_unauthed" or not policy then return; end
	local from = session.from_host;
	if not from then return; end
	local action = policy:tls(from, "incoming");
	-- mod_tls adds one shared <starttls/> object to every stream's features:
	-- put a fresh one in its place instead of editing it, or a change made
	-- for one partner would show on every later stream (and <required/>
	-- children, which remove_children cannot match since they carry no
	-- xmlns, would pile up on it with each stream).
	features:maptags(function (tag)
		if tag.name ~= "starttls" or tag.attr.xmlns ~= xmlns_tls then return tag; end
		local fresh = st.stanza("starttls", { xmlns = xmlns_tls });
		if action == "require" then fresh:tag("required"):up(); end
		return fresh;
	end);
	local secure = session.secure == true;
	if action == "require" and not secure then
		-- Nothing but STARTTLS until the stream is encrypted.
		features:remove_children("mechanisms", xmlns_sasl);
		features:remove_children("dialback", xmlns_dialback_feature);
		if session.external_auth == "offered" then session.external_auth = nil; end
		return;
	end
	local ext, ext_token = policy:sasl_external(from, "incoming", stream_state(session));
	local offered = features:get_child("mechanisms", xmlns_sasl);
	if ext and not offered and secure then
		-- e.g. a pinned key: mod_saslauth only offers with a trusted chain.
		features:tag("mechanisms", { xmlns = xmlns_sasl })
			:tag("mechanism"):text("EXTERNAL"):up():up();
		session.external_auth = "offered";
	elseif not ext and offered then
		features:remove_children("mechanisms", xmlns_sasl);
		if session.external_auth == "offered" then session.external_auth = nil; end
	end
	local db_ok, db_token = policy:dialback(from, "incoming", stream_state(session));
	if not db_ok then
		features:remove_children("dialback", xmlns_dialback_feature);
	end
	if not (features:get_child("starttls", xmlns_tls) or features:get_child("mechanisms", xmlns_sasl)
		or features:get_child("dialback", xmlns_dialback_feature)) then
		-- Nothing left that could authenticate this partner (e.g. its
		-- certificate does not prove its domain and dialback is refused):
		-- refuse now, with the reason, instead of an empty feature list.
		local token = db_token;
		if ext_token and ext_token ~= "sasl_not_supported" then token = ext_token; end
		refused("incoming", from, token, session);
		close(session, token);
	end
end

-- <db:result/> on an incoming stream (before mod_dialback at 0).  Judged for
-- the domain it names, so piggybacking cannot carry an unlisted domain or a
-- domain of a stricter partner on an authenticated stream.
local function on_in_dialback_result(event)
	local origin, stanza = event.origin, event.stanza;
	if origin.type ~= "s2sin_unauthed" and origin.type ~= "s2sin" then return; end
	local attr = stanza.attr;
	-- A typed <db:result/> (a verdict) never comes on an incoming stream in
	-- XEP-0220, but mod_dialback takes it as a request and asks the claimed
	-- domain's server to verify it: judge it like a request.
	local from = attr.from and nameprep(attr.from);
	if not from then return; end -- mod_dialback closes with improper-addressing
	local ok, token, text;
	if not policy then
		ok, token = false, "config_invalid";
	else
		ok, token, text = policy:dialback(from, "incoming", stream_state(origin));
	end
	-- (Only a request the policy lets through counts as an authentication
	-- in flight for the pending-stream caps: a refused one would let any
	-- peer rank its streams above a partner's.)
	if ok then pending.mark_auth(origin); return; end
	refused("incoming", from, token, origin);
	if origin.type == "s2sin_unauthed" and (origin.from_host == nil or origin.from_host == from) then
		close(origin, token, text);
	else
		-- A further domain on a stream that is fine for its own: refuse this
		-- one domain (XEP-0220 error), keep the stream.
		origin.sends2s(st.stanza("db:result", { from = attr.to, to = attr.from, type = "error" })
			:tag("error", { type = "cancel" })
			:tag("policy-violation", { xmlns = "urn:ietf:params:xml:ns:xmpp-stanzas" }):up()
			:tag("text", { xmlns = "urn:ietf:params:xml:ns:xmpp-stanzas" }):text(text or reason_text(token)));
	end
	return true;
end

-- <auth/> (SASL EXTERNAL) on an incoming stream, before mod_saslauth.
local function on_in_sasl_auth(event)
	local origin = event.origin;
	if origin.type ~= "s2sin_unauthed" then return; end
	local from = origin.from_host;
	local ok, token, text;
	if not policy then
		ok, token = false, "config_invalid";
	elseif not from then
		ok, token = false, "bad_domain";
	else
		ok, token, text = policy:auth(from, "incoming", "sasl_tls", stream_state(origin));
	end
	if ok then pending.mark_auth(origin); return; end
	refused("incoming", from, token, origin);
	origin.sends2s(st.stanza("failure", { xmlns = xmlns_sasl }):tag("not-authorized"):up()
		:tag("text"):text(text or reason_text(token)));
	close(origin, token, text);
	return true;
end

-- <starttls/> from a partner whose streams must stay plain: mod_tls answers
-- <failure/> because ssl_ctx is false; log the refusal.
local function on_in_starttls(event)
	local origin = event.origin;
	if origin.type ~= "s2sin_unauthed" or not policy or not origin.from_host then return; end
	if policy:tls(origin.from_host, "incoming") == "withhold" then
		refused("incoming", origin.from_host, "tls_not_supported", origin);
	end
end

-- ---- authentication: the authoritative per-domain check ----------------------------

-- s2s-authenticated fires for every domain a stream proves (SASL EXTERNAL,
-- dialback, each piggybacked domain), in both directions.  Priority 100:
-- before mod_s2s marks the domain authenticated at -1.
local function on_authenticated(event)
	local session, domain, mechanism = event.session, event.host, event.mechanism;
	local direction = session.direction == "outgoing" and "outgoing" or "incoming";
	local ok, token, text;
	if not policy then
		ok, token = false, "config_invalid";
	else
		ok, token, text = policy:auth(domain, direction, mechanism, stream_state(session));
		if ok and not session.xp_partner then
			-- Incoming streams are counted when they authenticate.
			local admitted, why = admit(session, domain);
			if not admitted then ok, token, text = false, why, nil; end
		end
	end
	if not ok then
		refused(direction, domain, token, session);
		close(session, token, text);
		return false;
	end
	session.xp_methods = session.xp_methods or {};
	local method = mechanism == "EXTERNAL" and "sasl_tls"
		or (session.secure and "dialback_tls" or "dialback_tcp");
	session.xp_methods[domain] = mechanism;
	m_authenticated:with_labels(partner_label(domain), direction, method):add(1);
	(session.log or module._log)("debug", "partner policy accepted %s %s by %s",
		direction, domain, method);
end

-- s2s-check-certificate (global, after mod_s2s_auth_certs at 509 and before
-- mod_s2s's check_auth_policy at -1): judge the certificate's identity with
-- the core (RFC 6125 / 9525 for XMPP) and compare its key with the partner's
-- pins.  Returning true leaves the decision to this module's verdicts.
local function on_check_certificate(event)
	local session, host, cert = event.session, event.host, event.cert;
	if not core or not host then return; end
	if cert then
		local parsed = core.cert(cert:pem());
		if parsed then
			session.cert_identity_status = parsed:identity(host);
			session.xp_pin_match = policy and policy:pin_matches(host, parsed) or false;
			parsed:close();
			if session.xp_pin_match then
				-- A pinned key stands in for a trusted chain (SPEC section 2).
				session.xp_chain_status_host = session.cert_chain_status;
				session.cert_chain_status = "valid";
			end
		else
			session.cert_identity_status = "invalid";
		end
	end
	return true;
end

-- ---- connection bookkeeping ------------------------------------------------

-- A stanza (message, presence, iq) on an incoming stream that has not
-- authenticated anything yet: Prosody answers or drops it, but a partner
-- with tls = required must not get that far in the clear (SPEC section 3:
-- close the stream, policy-violation).
local function unauthed_stanza_filter(session, stanza)
	if session.type ~= "s2sin_unauthed" or stanza.attr.xmlns ~= nil or session.secure then
		return stanza;
	end
	local from = session.from_host;
	if policy and from and policy:tls(from, "incoming") == "require" then
		refused("incoming", from, "tls_required", session);
		close(session, "tls_required");
		return nil;
	end
	return stanza;
end

local function on_s2s_created(event)
	local session = event.session;
	keepalive.on_created(session);
	if session.direction ~= "outgoing" then
		local function filter(stanza)
			return unauthed_stanza_filter(session, stanza);
		end
		session.xp_unauthed_filter = filter;
		filters.add_filter(session, "stanzas/in", filter, 1000);
		pending.on_created(session);
	end
end

-- An incoming stream is authenticated (it never goes back): the filter
-- above has nothing more to do, so stanzas stop paying for it.
local function on_s2sin_established(event)
	local session = event.session;
	local filter = session.xp_unauthed_filter;
	if filter then
		filters.remove_filter(session, "stanzas/in", filter);
		session.xp_unauthed_filter = nil;
	end
end

-- ---- reload: apply the new table to live streams ---------------------------------------

-- Close every stream the table in force no longer allows: a removed partner,
-- tightened tls/sasl/dialback, a domain now unlisted.
function enforce_existing()
	local to_close = {};
	each_s2s_session(function (session)
		if session.type ~= "s2sin" and session.type ~= "s2sout" then return; end
		local direction = session.direction == "outgoing" and "outgoing" or "incoming";
		local domains = {};
		if direction == "outgoing" then
			domains[session.to_host] = (session.xp_methods or {})[session.to_host] or
				(session.external_auth == "succeeded" and "EXTERNAL" or "dialback");
		else
			for domain, info in pairs(session.hosts or {}) do
				if info.authed then
					domains[domain] = (session.xp_methods or {})[domain] or
						(session.external_auth == "succeeded" and "EXTERNAL" or "dialback");
				end
			end
		end
		for domain, mechanism in pairs(domains) do
			local ok, token, text = policy:auth(domain, direction, mechanism, stream_state(session));
			if not ok then
				to_close[#to_close + 1] = { session, direction, domain, token, text };
				return;
			end
		end
		-- Partner of the session may have changed (domain moved).
		session.xp_partner = policy:resolve(remote_of(session)) or session.xp_partner;
	end);
	for _, c in ipairs(to_close) do
		local session, direction, domain, token, text = c[1], c[2], c[3], c[4], c[5];
		refused(direction, domain, token, session);
		close(session, token, "The partner policy changed: " .. (text or reason_text(token)));
	end
	if #to_close > 0 then
		module:log("info", "Closed %d s2s stream(s) the new partner policy no longer allows", #to_close);
	end
end

function module.unload()
	if proxy then proxy.teardown(); end
	if shell then shell.teardown(); end
	if adhoc then adhoc.teardown(); end
end

-- ---- wiring --------------------------------------------------------------------------

-- The table's configured sources (options, records, the partner file).
sources = start_part("xmpp_partners_sources", { module = module, core = core });

-- A partner's proxy as the target of outgoing streams.
proxy = start_part("xmpp_partners_proxy", {
	module = module;
	policy = function () return policy; end;
});

-- Whitespace keepalives on idle partner streams.
keepalive = start_part("xmpp_partners_keepalive", {
	module = module;
	policy = function () return policy; end;
	each_s2s_session = each_s2s_session;
	remote_of = remote_of;
	partner_label = partner_label;
});

-- The contact policy by partner type (SPEC section 4) lives in its own file.
contact = start_part("xmpp_partners_contact", {
	module = module;
	policy = function () return policy; end;
});

if core then
	backoff = start_part("xmpp_partners_backoff", { module = module, core = core });
	if broken then backoff = nil; end
end

-- Administration: runtime changes kept in storage, the admin views, the
-- prosodyctl shell and `prosodyctl mod_xmpp_partners check`, the ad-hoc
-- commands.
runtime = start_part("xmpp_partners_runtime", {
	module = module;
	core = core;
	compat = part_factory.xmpp_partners_compat;
	policy = function () return policy; end;
	install = install;
	read_config = sources.read;
});
admin = start_part("xmpp_partners_admin", {
	module = module;
	core = core;
	runtime = runtime;
	policy = function () return policy; end;
	each_s2s_session = each_s2s_session;
	remote_of = remote_of;
	backoff = backoff;
});
shell = start_part("xmpp_partners_shell", {
	module = module;
	core = core;
	compat = part_factory.xmpp_partners_compat;
	admin = admin;
	runtime = runtime;
});
adhoc = start_part("xmpp_partners_adhoc", {
	module = module;
	core = core;
	compat = part_factory.xmpp_partners_compat;
	policy = function () return policy; end;
	admin = admin;
	runtime = runtime;
});

if core then
	status = start_part("xmpp_partners_status", {
		module = module;
		core = core;
		policy = function () return policy; end;
		backoff = backoff;
		admin = admin;
		each_s2s_session = each_s2s_session;
		remote_of = remote_of;
		partner_label = partner_label;
	});
	if broken then status = nil; end
end

-- For mod_xmpp_partners_status (the status page): the status data, with the
-- explain text of explain_domain when given.
function module.status(explain_domain)
	if not status then return nil, "the policy core xmpp_partners.core is not installed"; end
	return status.data(explain_domain);
end

local function setup_host(host)
	local ctx = module:context(host);
	-- The enforcement hooks first: whatever fails after them, they refuse
	-- (policy is closed, or nil once the module fails closed).
	ctx:hook("route/remote", on_route_remote, 200);
	ctx:hook("s2sout-created", on_s2sout_created, -10);
	ctx:hook("stanza/" .. xmlns_stream .. ":features", on_out_features, 510);
	ctx:hook("stanza/" .. xmlns_stream .. ":features", on_out_features_dialback, 110);
	ctx:hook("stanza/" .. xmlns_sasl .. ":failure", on_out_sasl_failure, 110);
	ctx:hook("s2sout-authenticate-legacy", on_out_legacy, 250);
	ctx:hook("s2s-stream-features", on_in_features_early, 1000);
	ctx:hook("s2s-stream-features", on_in_features_late, -1000);
	ctx:hook("stanza/jabber:server:dialback:result", on_in_dialback_result, 100);
	ctx:hook("stanza/" .. xmlns_sasl .. ":auth", on_in_sasl_auth, 100);
	ctx:hook("stanza/" .. xmlns_tls .. ":starttls", on_in_starttls, 100);
	ctx:hook("stanza/jabber:server:dialback:verify", function (event)
		pending.mark_tls(event.origin); -- a verify is progress, not proof
	end, 1000);
	ctx:hook("s2s-authenticated", on_authenticated, 100);
	proxy.setup_host(ctx);
	local ok, err = pcall(function ()
		contact.setup_host(ctx, host);
		if hosts[host] and hosts[host].type == "local" then adhoc.setup_host(host); end
	end);
	if not ok then fail_closed("Cannot set up mod_xmpp_partners for " .. host, err); end
end

-- Streams with no 'to' get the legacy feature event: refuse unlisted ones.
module:hook("s2s-stream-features-legacy", on_in_features_early, 1000);
module:hook("s2s-check-certificate", on_check_certificate, 100);
module:hook("s2s-created", on_s2s_created);
module:hook("s2sin-established", on_s2sin_established);
module:hook("config-reloaded", function () load_policy("reloaded"); end);

function module.load()
	if prosody.process_type == "prosodyctl" then return; end -- module.command only
	-- The hooks that enforce the policy come first, and the rest is
	-- guarded: Prosody keeps a module whose load() throws, with only what
	-- was hooked by then, which must never be a server open to everyone.
	for host in pairs(hosts) do setup_host(host); end
	local ok, err = pcall(function ()
		-- (SQL storage lives in a host's store: wait for that host.)
		runtime.when_storage_ready(function () load_policy("loaded"); end);
		shell.setup();
		proxy.setup();
		pending.setup();
		keepalive.start();
		if backoff then module:add_timer(1, function () backoff.tick(); return 1; end); end
	end);
	if not ok then fail_closed("Cannot start mod_xmpp_partners", err); end
end

module:hook("host-activated", function (host) setup_host(host); end);

-- For the admin shell and tests: the table in force.
function module.policy() return policy; end

-- prosodyctl mod_xmpp_partners check: validate config plus stored changes.
function module.command(arg)
	if arg[1] == "check" then
		for _, note in ipairs(option_notes()) do print("warning: " .. note); end
	end
	return shell.command(arg);
end
