-- xmpp_partners_backoff: refusal back-off for incoming s2s streams.
--
-- A peer refused for a reason a retry cannot change (the core's
-- reason_is_final: not a partner, a method the partner's rules forbid, an
-- untrusted certificate or a pin mismatch) and that reconnects at once would
-- otherwise cost a TLS handshake and a log line per attempt, forever.  After
-- such a refusal, later streams from the same origin are refused at their
-- stream header, before TLS, with the same reason, for a window that the
-- core grows with each repeat (10 s, doubling, up to
-- xmpp_partners_refusal_backoff seconds; 0 switches this off).  The log gets
-- the first refusal and then one summary line per window; the refused
-- counter still counts every attempt (the caller's job).  Any change of the
-- partner table (reload, runtime change) ends every window at once.
--
-- Whose stream is "the same origin": for not_partner and bad_domain the
-- verdict depends on the domain alone, so the window covers the domain from
-- any address.  Every other final reason depends on what the peer did on
-- the stream (its certificate, its method), and its domain is only claimed,
-- not proven: the window then covers that domain from that address only,
-- so a stranger naming a partner's domain cannot lock the real partner out.
-- A stream that never named a domain is keyed by its address alone.

local MAX_ENTRIES = 4096; -- memory bound under a flood of made-up names

return function (env)
	local module, core = env.module, env.core;
	local time_now = require "util.time".now;

	local entries, n_entries = {}, 0;
	local max_window = 300;

	local B = {};

	local function key_of(domain, ip, token)
		if not domain then return ip and ("ip " .. ip) or nil; end
		if token == "not_partner" or token == "bad_domain" then return "domain " .. domain; end
		return "domain " .. domain .. " from " .. tostring(ip);
	end

	-- Log the summary of e's window so far (nothing when it repeated none).
	local function summarize(e, now)
		if e.count > 0 then
			local seconds = math.max(1, math.ceil(math.min(now, e.until_t) - e.start));
			module:log("info", "%s", core.refusal_summary("incoming", e.domain or e.ip or "(unknown)",
				e.count, seconds, e.token));
		end
		e.count = 0;
	end

	local function drop(key, e, now)
		summarize(e, now);
		entries[key] = nil;
		n_entries = n_entries - 1;
	end

	-- The table in force says how long windows may grow; a new table also
	-- ends them all (why: "reloaded", "changed at runtime", ...).
	function B.set_max(seconds)
		max_window = seconds or 300;
	end

	function B.clear(why)
		local now = time_now();
		local n = n_entries;
		for key, e in pairs(entries) do drop(key, e, now); end
		if n > 0 then
			module:log("debug", "Refusal back-off ended for %d origin(s): %s", n, why or "cleared");
		end
	end

	-- End the windows of one domain (any address).  Returns how many ended.
	function B.reset(domain)
		local now, n = time_now(), 0;
		for key, e in pairs(entries) do
			if e.domain == domain then drop(key, e, now); n = n + 1; end
		end
		return n;
	end

	-- A refusal was decided the normal way (after whatever negotiation it
	-- took).  Returns true when it should be logged: the first of its kind;
	-- refusals inside a window, or that open the next window of a peer that
	-- keeps trying, are only counted for the window's summary.
	function B.refused(domain, ip, token)
		local now = time_now();
		if max_window == 0 or not core.reason_is_final(token) then return true; end
		local key = key_of(domain, ip, token);
		if not key then return true; end
		local e = entries[key];
		if e and e.token == token then
			if now < e.until_t then
				e.count = e.count + 1;  -- e.g. a stream that named no domain
				return false;
			end
			-- The window ended and the peer got the same answer again: a
			-- longer window, and this attempt counts towards its summary.
			summarize(e, now);
			e.window = core.backoff_next(e.window, max_window);
			e.start, e.until_t, e.count = now, now + e.window, 1;
			e.windows = e.windows + 1;
			return false;
		end
		if not e and n_entries >= MAX_ENTRIES then
			local old_key, old = next(entries);
			drop(old_key, old, now);
		end
		if e then summarize(e, now); else n_entries = n_entries + 1; end
		local window = core.backoff_next(0, max_window);
		entries[key] = { domain = domain, ip = ip, token = token, window = window,
			start = now, until_t = now + window, count = 0, windows = 1, first = now };
		return true;
	end

	-- A new incoming stream header: the token to refuse it with now, before
	-- TLS, when its origin is in a back-off window; nil otherwise.
	function B.at_header(domain, ip)
		if n_entries == 0 then return nil; end
		local now = time_now();
		local e;
		if domain then
			e = entries["domain " .. domain] or entries["domain " .. domain .. " from " .. tostring(ip)];
		elseif ip then
			e = entries["ip " .. ip];
		end
		if not e or now >= e.until_t then return nil; end
		e.count = e.count + 1;
		return e.token;
	end

	-- Once a second: summaries of windows that ended; forget origins that
	-- stayed quiet for two windows after theirs (their next refusal is
	-- news again and is logged).
	function B.tick()
		if n_entries == 0 then return; end
		local now = time_now();
		for key, e in pairs(entries) do
			if now >= e.until_t then
				summarize(e, now);
				if now >= e.until_t + 2 * e.window then
					entries[key] = nil;
					n_entries = n_entries - 1;
				end
			end
		end
	end

	-- A refusal that is only counted must not be logged by Prosody either:
	-- mod_s2s logs the close of every stream at info ("Incoming s2s stream
	-- ... closed") and, when the stream header was answered with nothing,
	-- warns "No stream features to offer".  Both go through session.log:
	-- turn this session's lines into debug lines.
	function B.quiet(session)
		local log = session.log;
		if not log or session.xp_quiet then return; end
		session.xp_quiet = true;
		session.log = function (_, ...) return log("debug", ...); end;
	end

	-- For the status page and metrics: the origins with a window.
	function B.snapshot()
		local now, list = time_now(), {};
		for _, e in pairs(entries) do
			list[#list + 1] = { domain = e.domain, ip = e.ip, reason = e.token, window = e.window,
				active = now < e.until_t, remaining = math.max(0, math.ceil(e.until_t - now)),
				repeats = e.count, windows = e.windows, since = e.first };
		end
		table.sort(list, function (a, b) return (a.domain or a.ip or "") < (b.domain or b.ip or ""); end);
		return list;
	end

	return B;
end
