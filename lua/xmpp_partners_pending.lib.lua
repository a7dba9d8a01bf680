-- xmpp_partners_pending: what an incoming s2s stream may cost before it
-- authenticates (issue 19, SECURITY.md "Unauthenticated streams").
--
-- Connection limits count authenticated streams only (mod_xmpp_partners),
-- so holding streams in a partner's name proves nothing and locks nobody
-- out.  The streams that have not authenticated yet ("pending") get bounds
-- of their own, from the table in force (tbl:info()):
--   pending_per_address  pending streams from one source address
--   pending_limit        pending streams in all
--   auth_timeout         seconds a stream has to authenticate
--   preauth_bytes        input a stream may send before it authenticates
--   preauth_depth        element nesting before it authenticates
-- A cap never refuses the stream that just arrived: it closes the pending
-- stream in the same scope that made the least progress (no TLS yet before
-- TLS under way or done, before an authentication in flight), the oldest
-- among equals.  A stream that only sent a header is therefore always
-- closed before a partner's stream that has started TLS, and a new stream
-- is closed only after every older one at its level: the real partner gets
-- through even from the attacker's own address (tests: all 127.0.0.1).
--
-- Refusals are logged once per reason and window, then counted.
local filters = require "util.filters";
local time_now = require "util.time".now;

local LOG_WINDOW = 60; -- seconds between log lines for one reason
local AUTH_IN_FLIGHT = 10; -- seconds an authentication attempt protects a stream

return function (env)
	local module, core = env.module, env.core;
	local policy, m_refused = env.policy, env.m_refused;
	local M = {};

	local pending = {}; -- session -> { seq, t, ip }
	local seq = 0;

	-- The bounds of the table in force (the core's defaults without one).
	local defaults = { pending_per_address = 10, pending_limit = 500, auth_timeout = 30,
		preauth_bytes = 65536, preauth_depth = 16 };
	local function limits()
		local tbl = policy();
		local info = tbl and tbl:info() or {};
		local l = {};
		for key, default in pairs(defaults) do l[key] = info[key] or default; end
		return l;
	end

	-- ---- logging once per window ------------------------------------------------

	local windows = {}; -- token -> { start, suppressed, line }

	local function flush_windows(now)
		for key, w in pairs(windows) do
			if now - w.start >= LOG_WINDOW then
				if w.suppressed > 0 then
					module:log("info", "%d more incoming s2s stream(s) from %s closed in the last %d s: %s",
						w.suppressed, tostring(w.domain or "(unknown domain)"), LOG_WINDOW,
						core and core.reason_text(w.token) or w.token);
				end
				windows[key] = nil;
			end
		end
	end

	local function refused_windowed(session, token, label)
		local now = time_now();
		flush_windows(now);
		local domain = session.from_host;
		m_refused:with_labels(label(domain), "incoming", token):add(1);
		-- One line per reason and claimed domain a window: a flood in one
		-- partner's name says so once, another partner's trouble still shows.
		local key = token .. " " .. tostring(domain);
		local w = windows[key];
		if w then
			w.suppressed = w.suppressed + 1;
			return;
		end
		windows[key] = { start = now, suppressed = 0, token = token, domain = domain };
		local line = core and core.refusal("incoming", domain or "(unknown domain)", token)
			or ("refused incoming s2s: " .. token);
		module:log("info", "%s (address %s; further closures for this reason are counted "
			.. "and logged once every %d s)", line, tostring(session.ip or "?"), LOG_WINDOW);
	end

	local function close(session, token, condition)
		local text = core and core.reason_text(token) or token;
		session:close({ condition = condition or "policy-violation", text = text },
			nil, "closed by partner policy: " .. text);
	end

	local function evict(session, token, condition)
		pending[session] = nil;
		refused_windowed(session, token, env.partner_label);
		close(session, token, condition);
	end

	-- ---- progress and caps -----------------------------------------------------------

	-- 0: nothing but a header; 1: TLS under way or done, or a verify;
	-- 2: an authentication in flight (db:result, SASL <auth/>) for a while.
	local function level(session, now)
		if session.xp_auth_at and now - session.xp_auth_at < AUTH_IN_FLIGHT then return 2; end
		if session.secure ~= nil or session.xp_progress then return 1; end
		return 0;
	end

	function M.mark_tls(session) if pending[session] then session.xp_progress = true; end end
	-- (Once per stream, and only for a request the policy let through
	-- (mod_xmpp_partners): the attempt is the peer's claim, the verdict
	-- comes later, so it may not keep a stream at the top rank.)
	function M.mark_auth(session)
		if pending[session] and not session.xp_auth_at then session.xp_auth_at = time_now(); end
	end

	-- The network of an address, for the global cap: a /24 of IPv4 (also
	-- when mapped into IPv6), a /64 of IPv6; one attacker easily holds
	-- many addresses of one such network.
	local function net_of(ip)
		local v4 = ip:match("(%d+%.%d+%.%d+)%.%d+$");
		if v4 then return v4; end
		if not ip:find(":", 1, true) then return ip; end
		local head, tail = ip:match("^(.-)::(.*)$");
		local groups = {};
		if head then
			local h, t = {}, {};
			for g in head:gmatch("[^:]+") do h[#h + 1] = g; end
			for g in tail:gmatch("[^:]+") do t[#t + 1] = g; end
			for _, g in ipairs(h) do groups[#groups + 1] = g; end
			for _ = 1, 8 - #h - #t do groups[#groups + 1] = "0"; end
			for _, g in ipairs(t) do groups[#groups + 1] = g; end
		else
			for g in ip:gmatch("[^:]+") do groups[#groups + 1] = g; end
		end
		for i = 1, 4 do groups[i] = tonumber(groups[i] or "0", 16) or groups[i]; end
		return table.concat(groups, ":", 1, 4);
	end

	-- Drop what authenticated or closed; count per address.
	local function sweep()
		local total, per_ip, per_net = 0, {}, {};
		for session, e in pairs(pending) do
			if session.type ~= "s2sin_unauthed" then
				pending[session] = nil;
			else
				total = total + 1;
				per_ip[e.ip] = (per_ip[e.ip] or 0) + 1;
				e.net = e.net or net_of(e.ip);
				per_net[e.net] = (per_net[e.net] or 0) + 1;
			end
		end
		return total, per_ip, per_net;
	end

	-- The stream to close in a scope, never `newcomer`.  One address (ip):
	-- least progress, then oldest.  All (ip nil): first the network with
	-- the most pending streams, then least progress, then oldest, so that
	-- a partner's few streams are closed only when its own network is the
	-- busiest, whatever level the others' streams reached.
	local function victim(newcomer, ip, per_net, now)
		local best, bn, bl, bs;
		for session, e in pairs(pending) do
			if session ~= newcomer and (ip == nil or e.ip == ip) then
				local n, l = ip and 0 or -(per_net[e.net] or 0), level(session, now);
				if not best or n < bn or (n == bn and (l < bl or (l == bl and e.seq < bs))) then
					best, bn, bl, bs = session, n, l, e.seq;
				end
			end
		end
		return best;
	end

	local function admit(session)
		local now = time_now();
		local ip = session.ip or (session.conn and session.conn.ip and session.conn:ip()) or "?";
		session.ip = session.ip or ip;
		seq = seq + 1;
		pending[session] = { seq = seq, t = now, ip = ip };
		local total, per_ip, per_net = sweep();
		local l = limits();
		local per_address, limit = l.pending_per_address, l.pending_limit;
		-- Bounded: each pass closes one stream other than the newcomer.
		while per_ip[ip] > per_address do
			local v = victim(session, ip, per_net, now);
			if not v then break; end
			local e = pending[v];
			evict(v, "pending_per_address");
			per_ip[ip], per_net[e.net], total = per_ip[ip] - 1, per_net[e.net] - 1, total - 1;
		end
		while total > limit do
			local v = victim(session, nil, per_net, now);
			if not v then break; end
			local e = pending[v];
			evict(v, "pending_limit");
			per_ip[e.ip], per_net[e.net], total = per_ip[e.ip] - 1, per_net[e.net] - 1, total - 1;
		end
	end

	-- Streams past auth_timeout (checked every second).
	local function deadline_tick()
		local now = time_now();
		local timeout = limits().auth_timeout;
		local late = {};
		for session, e in pairs(pending) do
			if session.type ~= "s2sin_unauthed" then
				pending[session] = nil;
			elseif now - e.t >= timeout then
				late[#late + 1] = session;
			end
		end
		for _, session in ipairs(late) do evict(session, "auth_timeout", "connection-timeout"); end
		flush_windows(now);
		return 1;
	end

	-- ---- input before authentication ---------------------------------------------------

	-- A small scanner of the raw XML: how deep the elements nest.  It only
	-- counts, the real parser still judges well-formedness.  State carried
	-- across chunks: "text", "tag" (after '<'), "in" (inside a start tag),
	-- "end" (inside an end tag), "skip" (<!...> or <?...?>), quote char.
	local function scan(st, data, max_depth)
		local i, n = 1, #data;
		while i <= n do
			local s = st.state;
			if s == "text" then
				local j = data:find("<", i, true);
				if not j then return true; end
				st.state, st.slash, i = "tag", false, j + 1;
			elseif s == "tag" then
				local c = data:sub(i, i);
				if c == "/" then
					st.state = "end";
				elseif c == "!" then
					st.state, st.bang = "bang", "";
				elseif c == "?" then
					st.state = "skip";
				else
					st.depth = st.depth + 1;
					if st.depth > max_depth then return false; end
					st.state = "in";
				end
				i = i + 1;
			elseif s == "in" then
				local j = data:find("[\"'>]", i);
				if not j then
					st.slash = data:sub(n, n) == "/";
					return true;
				end
				local c = data:sub(j, j);
				if c == ">" then
					if (j > 1 and data:sub(j - 1, j - 1) == "/") or (j == 1 and st.slash) then
						st.depth = st.depth - 1;
					end
					st.state = "text";
				else
					st.state, st.quote = "q", c;
				end
				st.slash, i = false, j + 1;
			elseif s == "q" then
				local j = data:find(st.quote, i, true);
				if not j then return true; end
				st.state, st.slash, i = "in", false, j + 1;
			elseif s == "bang" then
				-- "<![CDATA[" opens a section that only "]]>" ends, whose
				-- text may hold '<' and '>': skipping it to its first '>'
				-- would let the parser nest deeper than this scanner counts.
				local want = "[CDATA[";
				local take = data:sub(i, i + #want - #st.bang - 1);
				st.bang, i = st.bang .. take, i + #take;
				if st.bang == want then
					st.state, st.tail = "cdata", "";
				elseif want:sub(1, #st.bang) ~= st.bang then
					-- (anything else after "<!": to its '>', which may be
					-- among the characters just taken)
					local k = take:find(">", 1, true);
					if k then st.state, i = "text", i - #take + k; else st.state = "skip"; end
				end
			elseif s == "cdata" then
				local buf = st.tail .. data:sub(i);
				local j = buf:find("]]>", 1, true);
				if not j then st.tail = buf:sub(-2); return true; end
				st.state, i = "text", i + j + 2 - #st.tail;
			else -- "end", "skip"
				local j = data:find(">", i, true);
				if not j then return true; end
				if s == "end" then st.depth = st.depth - 1; end
				st.state, i = "text", j + 1;
			end
		end
		return true;
	end

	-- The bounds are read once per stream: a reload applies to new streams.
	local function watch_input(session)
		local st = { state = "text", depth = 0, slash = false, used = 0 };
		local l = limits();
		local max_bytes, max_depth = l.preauth_bytes, l.preauth_depth;
		local function budget(data)
			if session.type ~= "s2sin_unauthed" then
				filters.remove_filter(session, "bytes/in", budget);
				return data;
			end
			st.used = st.used + #data;
			if st.used > max_bytes then
				evict(session, "preauth_bytes");
				return nil;
			end
			if not scan(st, data, max_depth) then
				evict(session, "preauth_depth", "not-well-formed");
				return nil;
			end
			return data;
		end
		filters.add_filter(session, "bytes/in", budget, 2000);
		-- A stream restart (after STARTTLS or SASL) begins a new document.
		local reset = session.reset_stream;
		if type(reset) == "function" then
			session.reset_stream = function (...)
				st.state, st.depth, st.slash = "text", 0, false;
				return reset(...);
			end;
		end
	end

	-- ---- wiring -----------------------------------------------------------------------

	function M.on_created(session)
		if session.direction == "outgoing" or not policy() then return; end
		watch_input(session);
		admit(session);
	end

	function M.setup()
		module:add_timer(1, deadline_tick);
		local s2s_timeout = tonumber(module:get_option("s2s_timeout"));
		local timeout = limits().auth_timeout;
		if s2s_timeout and timeout >= s2s_timeout then
			module:log("warn", "xmpp_partners_auth_timeout (%d s) is not shorter than s2s_timeout "
				.. "(%d s): Prosody closes unauthenticated streams first", timeout, s2s_timeout);
		end
	end

	-- For tests and the admin shell: pending streams in all and per address.
	function M.counts()
		return sweep();
	end

	return M;
end
