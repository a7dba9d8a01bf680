-- mod_bench_allowlist: the smallest useful s2s allow list, written for the
-- benchmarks (bench/s2s.sh) as the baseline of what an administrator would
-- otherwise load: outgoing stanzas to a domain not in the set are bounced,
-- incoming streams from a domain not in the set are closed when they ask
-- for stream features.  No per-partner rules, no certificate checks.
--
--   modules_enabled = { ..., "bench_allowlist" }
--   bench_allowlist = { "b.test", "c.test" }
local st = require "util.stanza";

local allowed = module:get_option_set("bench_allowlist", {});

-- Outgoing: before mod_s2s routes the stanza.
module:hook("route/remote", function (event)
	if allowed:contains(event.to_host) then return; end
	local stanza = event.stanza;
	if stanza.attr.type ~= "error" and stanza.attr.type ~= "result" then
		module:send(st.error_reply(stanza, "cancel", "not-allowed",
			"Communication with this domain is not allowed"));
	end
	return true;
end, 200);

-- Incoming: the peer named itself in the stream header.
module:hook("s2s-stream-features", function (event)
	local session = event.origin;
	local from = session.from_host;
	if from and allowed:contains(from) then return; end
	module:log("info", "refused incoming s2s from %s: not allowed", tostring(from));
	session:close({ condition = "policy-violation", text = "Not an allowed domain" });
	return true;
end, 1000);
