-- mod_xmpp_partners_status: a live status page of mod_xmpp_partners in
-- Prosody's own web server, for server admins only.
--
--   modules_enabled = { ..., "xmpp_partners", "xmpp_partners_status" }
--
-- Serves (on the HTTPS ports, any host name, see http_paths to move it)
--   /partners/              the page: partners with type, rules, source and
--                           live streams; refusals per partner and reason,
--                           the last ones, the refusal back-off; an explain
--                           form (?explain=DOMAIN); plain HTML, one small
--                           stylesheet, no script, no external asset
--   /partners/status.json   the same data as JSON (?explain=DOMAIN too)
--   /partners/style.css     the stylesheet
-- Access: HTTP Basic over HTTPS with a Prosody account given as its full
-- JID (admin@example.com) and its password; the account must have admin
-- rights on its host (0.12: listed in `admins`; 13: the prosody:admin or
-- prosody:operator role).  Plain HTTP gets 403, no or wrong credentials 401,
-- a valid non-admin account 403.  The data comes from mod_xmpp_partners
-- (module.status); this module only checks access and renders.
module:set_global();

local usermanager = require "core.usermanager";
local jid_split = require "util.jid".split;
local encodings = require "util.encodings";
local json = require "util.json";
local http_util = require "util.http";
local xml_escape = require "util.stanza".xml_escape;

local base64_decode = encodings.base64.decode;
local nodeprep, nameprep = encodings.stringprep.nodeprep, encodings.stringprep.nameprep;

local xp = module:depends("xmpp_partners");
local xp_api = xp.module or xp;

local REALM = "xmpp-partners status";
-- The page shows every partner and peer of the whole server, so it is for
-- server-wide admins (the global `admins` list), not a host's own admins:
-- Prosody 13 gives them the role prosody:operator; 0.12's is_admin without
-- a host asks the global list.
local function is_admin(node, host)
	if usermanager.get_user_role then -- Prosody 13: roles
		local role = usermanager.get_user_role(node, host);
		return role and role.name == "prosody:operator" or false;
	end
	return usermanager.is_admin(node .. "@" .. host) and true or false;
end

-- nil when the request may see the page, else the status code to answer.
local function deny(event)
	local request, response = event.request, event.response;
	if not request.secure then
		response.headers.content_type = "text/plain; charset=utf-8";
		return 403, "The partner status page is served over HTTPS only\n";
	end
	local header = request.headers.authorization;
	local creds = header and header:match("^[Bb]asic%s+([A-Za-z0-9+/=]+)%s*$");
	local decoded = creds and base64_decode(creds);
	local user, password = (decoded or ""):match("^([^:]+):(.*)$");
	local node, host = nil, nil;
	if user then node, host = jid_split(user); end
	node, host = node and nodeprep(node), host and nameprep(host);
	if not (node and host and prosody.hosts[host] and password
		and usermanager.test_password(node, host, password)) then
		-- (logged with the address, for fail2ban and the like: the page
		-- checks passwords of every account on the server)
		if user then
			module:log("info", "Partner status page: failed login for %s from %s", user, tostring(request.ip));
		end
		response.headers.www_authenticate = ("Basic realm=%q, charset=\"UTF-8\""):format(REALM);
		response.headers.content_type = "text/plain; charset=utf-8";
		return 401, "Log in with the full JID and password of a server admin\n";
	end
	if not is_admin(node, host) then
		module:log("info", "Partner status page refused to %s@%s: not an admin", node, host);
		response.headers.content_type = "text/plain; charset=utf-8";
		return 403, "This page is for server admins only\n";
	end
	return nil;
end

local function explain_arg(request)
	local q = request.url and request.url.query;
	local args = q and http_util.formdecode(q);
	local d = type(args) == "table" and args.explain or nil;
	if type(d) ~= "string" then return nil; end
	return d:sub(1, 1023);
end

local function set_common(response)
	response.headers.cache_control = "no-store";
	response.headers.x_content_type_options = "nosniff";
	response.headers.content_security_policy =
		"default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
end

-- ---- rendering ------------------------------------------------------------------------

local STYLE = [[
body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;color:#1b1b1b;background:#fff}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #e2e2e2;vertical-align:top}
th{background:#f3f3f3}caption{text-align:left;font-weight:600;padding:.25rem 0}
.bad{color:#a40000;font-weight:600}.ok{color:#0a5a0a}
pre{background:#f6f6f6;padding:.75rem;overflow:auto;white-space:pre-wrap}
label{font-weight:600;margin-right:.5rem}input{font:inherit;padding:.2rem .4rem}
button{font:inherit;padding:.2rem .8rem}
.note{color:#555}
:focus{outline:3px solid #1a5fb4;outline-offset:2px}
]];

local function esc(v) return xml_escape(tostring(v == nil and "-" or v)); end

local function table_html(out, caption, headers, rows, empty)
	if #rows == 0 then
		out[#out + 1] = "<p class=\"note\">" .. esc(empty) .. "</p>";
		return;
	end
	out[#out + 1] = "<table><caption>" .. esc(caption) .. "</caption><thead><tr>";
	for _, h in ipairs(headers) do out[#out + 1] = "<th scope=\"col\">" .. esc(h) .. "</th>"; end
	out[#out + 1] = "</tr></thead><tbody>";
	for _, row in ipairs(rows) do
		out[#out + 1] = "<tr>";
		for i, cell in ipairs(row) do
			local tag = i == 1 and "th scope=\"row\"" or "td";
			out[#out + 1] = "<" .. tag .. ">" .. cell .. "</" .. tag:match("^%a+") .. ">";
		end
		out[#out + 1] = "</tr>";
	end
	out[#out + 1] = "</tbody></table>";
end

local function render(d)
	local out = {
		"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
		"<title>Federation partners</title><link rel=\"stylesheet\" href=\"style.css\"></head><body>",
		"<header><h1>Federation partners</h1>",
	};
	local p = d.policy;
	out[#out + 1] = "<p>" .. esc(p.partners) .. " partner(s); unlisted domains "
		.. (p.default == "allow" and "allowed" or "refused")
		.. "; refusal back-off up to " .. esc(p.refusal_backoff) .. " s"
		.. (p.closed and "; <strong class=\"bad\">the partner configuration is invalid: all federation is refused</strong>" or "")
		.. ". As of <time datetime=\"" .. esc(d.time) .. "\">" .. esc(d.time) .. "</time>"
		.. " (<a href=\"./\">refresh</a>, <a href=\"status.json\">JSON</a>).</p></header><main>";
	if d.error then out[#out + 1] = "<p class=\"bad\">" .. esc(d.error) .. "</p>"; end

	out[#out + 1] = "<section aria-labelledby=\"h-partners\"><h2 id=\"h-partners\">Partners</h2>";
	local rows = {};
	for _, r in ipairs(d.partners) do
		rows[#rows + 1] = { esc(r.domain), esc(r.type),
			esc(r.tls) .. " / " .. esc(r.sasl) .. " / " .. esc(r.dialback),
			esc(#r.additional_domains > 0 and table.concat(r.additional_domains, ", ") or "-"),
			esc(r.source), esc(r.live.incoming), esc(r.live.outgoing) };
	end
	table_html(out, "Every partner in force", { "Partner", "Type", "TLS / SASL / dialback", "Other domains",
		"Source", "Streams in", "Streams out" }, rows, "No partners are configured.");
	out[#out + 1] = "</section>";

	out[#out + 1] = "<section aria-labelledby=\"h-streams\"><h2 id=\"h-streams\">Live streams</h2>";
	rows = {};
	local function stream_rows(partner, list)
		for _, s in ipairs(list) do
			rows[#rows + 1] = { esc(s.remote), esc(partner), esc(s.direction), esc(s["local"]), esc(s.state),
				s.encrypted and "<span class=\"ok\">TLS</span>" or "<span class=\"bad\">none</span>",
				esc(#s.methods > 0 and table.concat(s.methods, ", ") or "-") };
		end
	end
	for _, r in ipairs(d.partners) do stream_rows(r.domain, r.streams); end
	stream_rows("unlisted", d.unlisted.list);
	table_html(out, "Server-to-server streams now", { "Remote domain", "Partner", "Direction", "Local domain",
		"State", "Encryption", "Authenticated (method)" }, rows, "No server-to-server streams are open.");
	out[#out + 1] = "</section>";

	out[#out + 1] = "<section aria-labelledby=\"h-refusals\"><h2 id=\"h-refusals\">Refusals</h2>";
	rows = {};
	for _, r in ipairs(d.refusals) do
		rows[#rows + 1] = { esc(r.partner), esc(r.direction), esc(r.text) .. " <code>" .. esc(r.reason) .. "</code>",
			esc(r.count), "<time>" .. esc(r.last) .. "</time>" };
	end
	table_html(out, "Refusals since the server started, per partner and reason", { "Partner", "Direction", "Reason",
		"Count", "Last" }, rows, "Nothing was refused since the server started.");
	rows = {};
	for _, b in ipairs(d.backoff) do
		rows[#rows + 1] = { esc(b.domain or "(no domain)"), esc(b.ip), esc(b.text),
			b.active and ("<span class=\"bad\">refused at the header for " .. esc(b.remaining) .. " s more</span>")
				or "ended (remembered)",
			esc(b.window) .. " s", esc(b.repeats) };
	end
	table_html(out, "Refusal back-off: origins refused before TLS", { "Domain", "Address", "Reason", "State",
		"Window", "Repeats this window" }, rows, "No origin is in refusal back-off.");
	rows = {};
	for _, r in ipairs(d.last_refusals) do
		rows[#rows + 1] = { "<time>" .. esc(r.time) .. "</time>", esc(r.direction), esc(r.domain), esc(r.address),
			esc(r.text), r.at_header and "stream header (back-off)" or "negotiation" };
	end
	table_html(out, "Last refusals, newest first", { "Time (UTC)", "Direction", "Domain", "Address", "Reason",
		"Where" }, rows, "No refusals yet.");
	out[#out + 1] = "</section>";

	out[#out + 1] = "<section aria-labelledby=\"h-explain\"><h2 id=\"h-explain\">Explain</h2>"
		.. "<form method=\"get\" action=\"./\"><label for=\"explain\">Domain</label>"
		.. "<input id=\"explain\" name=\"explain\" type=\"text\" required maxlength=\"1023\" value=\""
		.. esc(d.explain and d.explain.domain or "") .. "\" aria-describedby=\"explain-help\"> "
		.. "<button type=\"submit\">Explain</button>"
		.. "<p id=\"explain-help\" class=\"note\">What this server offers, accepts and enforces with a domain, each way.</p></form>";
	if d.explain then
		out[#out + 1] = "<pre aria-live=\"polite\" id=\"explain-result\">" .. esc(d.explain.text) .. "</pre>";
	end
	out[#out + 1] = "</section></main></body></html>";
	return table.concat(out, "\n");
end

-- ---- handlers -------------------------------------------------------------------------

local function get_data(event)
	local d, err;
	if xp_api.status then d, err = xp_api.status(explain_arg(event.request)); end
	if not d then
		event.response.headers.content_type = "text/plain; charset=utf-8";
		return nil, 500, "mod_xmpp_partners gives no status: " .. tostring(err or "not loaded") .. "\n";
	end
	return d;
end

local function page(event)
	local code, text = deny(event);
	if code then return code, text; end
	local d, status_code, err = get_data(event);
	if not d then return status_code, err; end
	set_common(event.response);
	event.response.headers.content_type = "text/html; charset=utf-8";
	return render(d);
end

local function status_json(event)
	local code, text = deny(event);
	if code then return code, text; end
	local d, status_code, err = get_data(event);
	if not d then return status_code, err; end
	set_common(event.response);
	event.response.headers.content_type = "application/json";
	return json.encode(d);
end

local function style(event)
	set_common(event.response);
	event.response.headers.content_type = "text/css; charset=utf-8";
	return STYLE;
end

module:depends("http");
module:provides("http", {
	default_path = "/partners";
	route = {
		["GET /"] = page;
		["GET /status.json"] = status_json;
		["GET /style.css"] = style;
	};
});
