-- xmpp_partners_proxy.lib.lua: the outgoing target override of
-- mod_xmpp_partners: a partner's `proxy` (host[:port]) is connected to
-- instead of the partner's SRV targets, through Prosody 13's
-- s2sout-pre-connect event, or on 0.12.0-0.12.3 (which have none) by
-- wrapping net.resolvers.service's new, which mod_s2s looks up at call time.
--
-- Loaded by mod_xmpp_partners from its own directory; returns a function
-- that takes the main module's API table: module, policy() (the table in
-- force, or nil).

local basic_resolver = require "net.resolvers.basic";
local service_resolver = require "net.resolvers.service";

return function (api)
	local proxy = {};
	local original_service_new = service_resolver.new;
	local empty_resolver = { next = function (_, cb) cb(nil); end };

	local function proxy_for(domain)
		local policy = api.policy();
		if not policy then return nil; end
		return policy:proxy(domain);
	end

	local has_pre_connect;
	do
		local ok, features = pcall(require, "core.features");
		has_pre_connect = ok and features.available and features.available:contains("s2sout-pre-connect-event");
	end

	local function on_pre_connect(event)
		local session = event.session;
		local host, port = proxy_for(session.to_host);
		if host then
			event.resolver = basic_resolver.new(host, port, "tcp", { servername = session.to_host });
		end
	end

	function proxy.setup()
		if has_pre_connect then return; end
		-- Prosody 0.12.0-0.12.3 have no s2sout-pre-connect event, but mod_s2s
		-- looks up service.new at call time: wrap it for partners with a proxy.
		service_resolver.new = function (hostname, service, proto, extra)
			if service == "xmpp-server" or service == "xmpps-server" then
				local host, port = proxy_for(hostname);
				if host then
					if service == "xmpps-server" then return empty_resolver; end
					return basic_resolver.new(host, port, proto, extra);
				end
			end
			return original_service_new(hostname, service, proto, extra);
		end;
	end

	-- A host's hook for the pre-connect event, where there is one.
	function proxy.setup_host(ctx)
		if has_pre_connect then ctx:hook("s2sout-pre-connect", on_pre_connect, 100); end
	end

	-- Put the service resolver back (module unload).
	function proxy.teardown()
		service_resolver.new = original_service_new;
	end

	return proxy;
end
