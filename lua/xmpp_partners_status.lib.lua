-- xmpp_partners_status: what the policy is doing now, for monitoring.
--
-- Keeps the refusal counts per partner, direction and reason and the last
-- refusals (the refused metric counts the same events; Prosody's metric
-- objects cannot be read back portably), feeds the gauges of live streams
-- per partner on each statistics collection, and assembles the status data
-- that mod_xmpp_partners_status serves as a page and as JSON.
--
-- Label cardinality stays bounded: the partner label is a partner's primary
-- domain or "unlisted" (every domain that is not a partner shares it), the
-- reason one of the core's tokens.

local RECENT = 50; -- last refusals kept

return function (api)
	local module, core = api.module, api.core;
	local time_now = require "util.time".now;

	local S = {};
	local counts = {};          -- "partner\0direction\0reason" -> { ... }
	local recent, recent_next = {}, 1;

	local m_streams = module:metric("gauge", "streams", "",
		"live s2s streams per partner and direction", { "partner", "direction" });
	local m_backoff = module:metric("gauge", "refusal_backoff_origins", "",
		"remote origins (domain or address) whose streams are refused at the header now", {});

	-- Every refusal the module counts (the caller also adds to the metric).
	function S.refused(label, direction, domain, token, ip, at_header)
		local key = label .. "\0" .. direction .. "\0" .. token;
		local c = counts[key];
		if not c then
			c = { partner = label, direction = direction, reason = token, count = 0 };
			counts[key] = c;
		end
		c.count = c.count + 1;
		c.last = time_now();
		recent[recent_next] = { time = c.last, direction = direction, domain = domain or "(none)",
			address = ip, reason = token, at_header = at_header or false };
		recent_next = recent_next % RECENT + 1;
	end

	-- Live streams: { [label] = { incoming = n, outgoing = n, list = {...} } }
	local function live()
		local policy = api.policy();
		local by = {};
		api.each_s2s_session(function (s)
			local remote = api.remote_of(s);
			local label = s.xp_partner or api.partner_label(remote);
			if label == "*" then label = "unlisted"; end
			local dir = s.direction == "outgoing" and "outgoing" or "incoming";
			local b = by[label];
			if not b then b = { incoming = 0, outgoing = 0, list = {} }; by[label] = b; end
			b[dir] = b[dir] + 1;
			local methods = {};
			for d, m in pairs(s.xp_methods or {}) do
				methods[#methods + 1] = d .. " " .. (m == "EXTERNAL" and "sasl_tls"
					or (s.secure and "dialback_tls" or "dialback_tcp"));
			end
			table.sort(methods);
			b.list[#b.list + 1] = { direction = dir, remote = remote or "?",
				["local"] = (dir == "outgoing" and s.from_host or s.to_host) or "?",
				state = s.type or "?", encrypted = s.secure == true,
				methods = methods };
		end);
		for _, b in pairs(by) do
			table.sort(b.list, function (x, y) return x.remote .. x.direction < y.remote .. y.direction; end);
		end
		return by, policy;
	end

	-- Gauges, on each collection (statistics_interval, or each scrape with
	-- mod_http_openmetrics in manual mode).  Labels seen before and gone now
	-- go to 0 so a closed stream does not linger in the series.
	local seen = {};
	function S.update_gauges()
		local by = live();
		local now_seen = {};
		for label, b in pairs(by) do
			for _, dir in ipairs({ "incoming", "outgoing" }) do
				m_streams:with_labels(label, dir):set(b[dir]);
				now_seen[label .. "\0" .. dir] = { label, dir };
			end
		end
		for key, l in pairs(seen) do
			if not now_seen[key] then m_streams:with_labels(l[1], l[2]):set(0); end
		end
		seen = now_seen;
		local n = 0;
		if api.backoff then
			for _, e in ipairs(api.backoff.snapshot()) do if e.active then n = n + 1; end end
		end
		m_backoff:with_labels():set(n);
	end
	module:hook("stats-update", S.update_gauges);

	-- Everything the status page shows; explain_domain (optional) adds the
	-- explain text for that domain.
	function S.data(explain_domain)
		local by, policy = live();
		local info = policy and policy:info() or { closed = true, count = 0, default = "deny" };
		local d = {
			time = os.date("!%Y-%m-%dT%H:%M:%SZ"),
			policy = { partners = info.count, default = info.default, closed = info.closed == true,
				refusal_backoff = info.refusal_backoff, keepalive_interval = info.keepalive_interval,
				connection_limit = info.connection_limit },
			partners = {}, unlisted = by.unlisted or { incoming = 0, outgoing = 0, list = {} },
			refusals = {}, last_refusals = {}, backoff = api.backoff and api.backoff.snapshot() or {},
		};
		local rows, removed = api.admin.partner_rows();
		if not rows then d.error = removed; rows, removed = {}, {}; end
		d.removed = removed;
		for _, r in ipairs(rows) do
			local b = by[r.domain] or { incoming = 0, outgoing = 0, list = {} };
			r.live = { incoming = b.incoming, outgoing = b.outgoing };
			r.streams = b.list;
			d.partners[#d.partners + 1] = r;
		end
		for _, c in pairs(counts) do
			d.refusals[#d.refusals + 1] = { partner = c.partner, direction = c.direction, reason = c.reason,
				text = core.reason_text(c.reason), count = c.count,
				last = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(c.last)) };
		end
		table.sort(d.refusals, function (a, b)
			return a.partner .. a.direction .. a.reason < b.partner .. b.direction .. b.reason;
		end);
		for i = 1, RECENT do
			local r = recent[(recent_next - i - 1) % RECENT + 1];
			if not r then break; end
			d.last_refusals[#d.last_refusals + 1] = { time = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(r.time)),
				direction = r.direction, domain = r.domain, address = r.address, reason = r.reason,
				text = core.reason_text(r.reason), at_header = r.at_header };
		end
		for _, e in ipairs(d.backoff) do
			e.text = core.reason_text(e.reason);
			e.since = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(e.since));
		end
		if explain_domain and explain_domain ~= "" then
			local ok, text = api.admin.explain_text(explain_domain);
			d.explain = { domain = explain_domain, ok = ok == true, text = text };
		end
		return d;
	end

	return S;
end
