-- xmpp_partners_keepalive.lib.lua: whitespace keepalives of
-- mod_xmpp_partners on idle partner streams (a partner's keepalive = true,
-- every xmpp_partners_keepalive_interval seconds of silence), and their
-- counter.
--
-- Loaded by mod_xmpp_partners from its own directory; returns a function
-- that takes the main module's API table: module, policy() (the table in
-- force, or nil), each_s2s_session(fn), remote_of(session),
-- partner_label(domain).

local filters = require "util.filters";
local time_now = require "util.time".now;

return function (api)
	local module = api.module;
	local keepalive = {};
	local interval = 300; -- the table's (installed)
	local m_keepalives = module:metric("counter", "keepalives", "",
		"whitespace keepalives sent on idle partner streams", { "partner" });

	local function tick()
		local policy = api.policy();
		if not policy then return 60; end
		local now = time_now();
		local every = interval;
		api.each_s2s_session(function (session)
			if (session.type == "s2sin" or session.type == "s2sout") and not session.notopen then
				local remote = api.remote_of(session);
				if remote and now - (session.xp_last_out or now) >= every and policy:keepalive(remote) then
					session.sends2s(" ");
					session.xp_last_out = now;
					m_keepalives:with_labels(api.partner_label(remote)):add(1);
				end
			end
		end);
		-- Check four times an interval: idle time is then at most 1.25 intervals.
		return math.max(0.25, every / 4);
	end

	local timer;
	function keepalive.start()
		if prosody.process_type == "prosodyctl" then return; end
		if timer then timer:stop(); end
		timer = module:add_timer(1, tick);
	end

	-- A new table is in force: the next tick was planned with the old
	-- interval (up to a quarter of it away); plan again, so a shorter
	-- interval holds from now on.
	function keepalive.installed(tbl)
		local old = interval;
		interval = tbl:info().keepalive_interval;
		if interval ~= old then keepalive.start(); end
	end

	-- A new s2s stream: note when it last sent anything.
	function keepalive.on_created(session)
		filters.add_filter(session, "bytes/out", function (data)
			session.xp_last_out = time_now();
			return data;
		end, 1000);
		session.xp_last_out = time_now();
	end

	return keepalive;
end
