-- xmpp_partners_contact.lib.lua: the contact policy of mod_xmpp_partners
-- (SPEC section 4), loaded by the module with module:require.
--
-- How far a partner's users may reach into local users' contact lists and
-- inboxes depends on the partner's type; the core decides (policy:subscribe,
-- policy:message, policy:strip_status), this file only supplies the roster
-- facts and carries the verdicts out:
--   approve  -> answer `subscribed` and record the subscription in the roster
--   deliver  -> Prosody's own processing (pending request, offline storage)
--   deny     -> answer `unsubscribed`, store nothing
--   bounce   -> `service-unavailable`, as for an unknown account
-- Priorities are below mod_blocklist's 100, so a local user's blocklist drops
-- blocked senders before any of this runs (the blocklist wins).

local st = require "util.stanza";
local jid = require "util.jid";
local rostermanager = require "core.rostermanager";
local um_user_exists = require "core.usermanager".user_exists;

local hosts = prosody.hosts;
local find, sub = string.find, string.sub;

-- The domain of a JID that Prosody has already accepted on a stream, for
-- the per-message path: two plain searches instead of jid.host's three
-- pattern matches, and no node or resource string made (the resource is
-- new garbage for every message from a remote client).
local function jid_host(j)
	if j == nil then return nil; end
	local slash = find(j, "/", 1, true);
	local at = find(j, "@", 1, true);
	if at and slash and at > slash then at = nil; end -- an '@' in the resource
	local host = sub(j, at and at + 1 or 1, slash and slash - 1 or -1);
	if host == "" then return nil; end
	return host;
end

return function (api)
	local module = api.module;
	local get_policy = api.policy;
	-- The table in force (false without one), kept here by installed() so
	-- the per-message path reads an upvalue instead of calling get_policy.
	local current = get_policy() or false;

	local m_contact = module:metric("counter", "contact", "",
		"partner-type contact policy verdicts that changed normal processing",
		{ "partner", "verdict" });

	local function partner_label(domain)
		local p = get_policy();
		local primary = p and p:resolve(domain);
		if primary == nil or primary == "*" then return "unlisted"; end
		return primary;
	end

	-- Roster facts the core needs: the item in any state, and whether the
	-- contact already has a subscription from us.
	local function roster_state(username, host, contact)
		local roster = rostermanager.load_roster(username, host);
		local item = roster and roster[contact];
		if not item then return false, false; end
		return true, item.subscription == "from" or item.subscription == "both";
	end

	local function is_remote(domain)
		return domain ~= nil and hosts[domain] == nil;
	end

	-- Approve a subscription as the local user would have: the remote side
	-- gets `subscribed`, the roster records subscription "from" and the
	-- user's clients get a roster push and the approval.
	--
	-- The roster ends as rostermanager.set_contact_pending_in followed by
	-- rostermanager.subscribed would leave it (the item created or moved
	-- from "none" to "from", or from "to" to "both"; nothing pending), but
	-- it is saved once instead of twice.  If the save fails, the in-memory
	-- roster is put back and Prosody handles the request as usual.
	local function auto_approve(username, host, from_bare, to_bare)
		local roster = rostermanager.load_roster(username, host);
		if not roster then return false; end
		local item = roster[from_bare];
		if item and (item.subscription == "from" or item.subscription == "both") then
			return false;
		end
		local pending = roster[false].pending;
		local old_pending = pending[from_bare];
		local old_subscription = item and item.subscription;
		if not item then
			item = { subscription = "none", groups = {} };
			roster[from_bare] = item;
		end
		item.subscription = item.subscription == "none" and "from" or "both";
		pending[from_bare] = nil;
		if not rostermanager.save_roster(username, host, roster, from_bare) then
			if old_subscription then
				item.subscription = old_subscription;
			else
				roster[from_bare] = nil;
			end
			pending[from_bare] = old_pending;
			return false;
		end
		rostermanager.roster_push(username, host, from_bare);
		module:context(host):send(st.presence({ from = to_bare, to = from_bare, type = "subscribed" }));
		-- Tell the new subscriber where we are, as RFC 6121 3.1.5 expects.
		local sessions = hosts[host].sessions[username];
		local sent = 0;
		for _, session in pairs(sessions and sessions.sessions or {}) do
			if session.presence then
				local pres = st.clone(session.presence);
				pres.attr.to = from_bare;
				module:context(host):send(pres);
				sent = sent + 1;
			end
		end
		if sent == 0 then
			module:context(host):send(st.presence({ from = to_bare, to = from_bare, type = "unavailable" }));
		end
		return true;
	end

	-- presence/bare: inbound subscription requests from remote users.
	local function on_presence(event)
		local stanza = event.stanza;
		if stanza.attr.type ~= "subscribe" then return; end
		local from_bare = jid.bare(stanza.attr.from);
		local from_host = from_bare and jid.host(from_bare);
		if not is_remote(from_host) then return; end
		local username, host = jid.split(stanza.attr.to);
		if not username or not um_user_exists(username, host) then return; end
		local policy = get_policy();
		local in_roster, subscribed_from = roster_state(username, host, from_bare);
		local verdict = policy and policy:subscribe(from_host, in_roster, subscribed_from, false) or "deny";
		if verdict == "deliver" then return; end
		local to_bare = username .. "@" .. host;
		if verdict == "approve" then
			if auto_approve(username, host, from_bare, to_bare) then
				module:log("info", "Approved subscription of %s to %s automatically (partner %s)",
					from_bare, to_bare, partner_label(from_host));
				m_contact:with_labels(partner_label(from_host), "approve"):add(1);
				return true;
			end
			return; -- could not save: let Prosody handle it as usual
		end
		module:log("info", "refused subscription from %s to %s: %s is not in the roster and the partner type (%s) needs that",
			from_bare, to_bare, from_bare, policy and (policy:lookup(from_host) or {}).type or "none");
		m_contact:with_labels(partner_label(from_host), "deny"):add(1);
		module:context(host):send(st.presence({ from = to_bare, to = from_bare, type = "unsubscribed" }));
		return true;
	end

	-- Whether no message arriving on the incoming stream origin can need a
	-- roster check under the table in force: every domain the stream has
	-- authenticated is a partner whose users reach local users as
	-- strangers (policy:message(domain, false) == "deliver", i.e. not
	-- public_unverified, not refused).  Prosody takes a stanza on an
	-- incoming stream only from a domain the stream has authenticated.
	local function stream_needs_nothing(origin, policy)
		if origin.type ~= "s2sin" or not policy then return false; end
		local any = false;
		for domain, info in pairs(origin.hosts or {}) do
			if info.authed then
				if policy:message(domain, false) ~= "deliver" then return false; end
				any = true;
			end
		end
		return any;
	end

	-- message/bare and message/full: strangers from partners whose type
	-- needs a roster entry are bounced as for an unknown account.
	-- The verdict is taken once per incoming stream and table
	-- (origin.xp_contact_for, cleared when the stream authenticates a
	-- further domain): a message on a stream that only carries partners
	-- delivering to strangers (federated, public_verified) costs a field
	-- lookup; the rest take the path below, per message.
	local function check_message(event)
		local stanza, origin = event.stanza, event.origin;
		local t = stanza.attr.type;
		if t == "error" or t == "groupchat" then return; end
		local policy = current or nil;
		if origin and stream_needs_nothing(origin, policy) then
			origin.xp_contact_for = current;
			return;
		end
		local from_host = jid_host(stanza.attr.from);
		if not is_remote(from_host) then return; end
		-- Ask first as if the sender were a stranger: most partner types
		-- deliver anyway, and then no roster needs loading.
		if policy and policy:message(from_host, false) == "deliver" then return; end
		local username, host = jid.split(stanza.attr.to);
		if not username then return; end
		local in_roster = false;
		if um_user_exists(username, host) then
			in_roster = roster_state(username, host, jid.bare(stanza.attr.from));
		end
		if policy and policy:message(from_host, in_roster) == "deliver" then return; end
		module:log("info", "refused message from %s to %s: not in the roster of a partner type that needs it",
			stanza.attr.from, username .. "@" .. host);
		m_contact:with_labels(partner_label(from_host), "bounce"):add(1);
		module:context(host):send(st.error_reply(stanza, "cancel", "service-unavailable"));
		return true;
	end

	local function on_message(event)
		local origin = event.origin;
		if origin and origin.xp_contact_for == current then return; end
		return check_message(event);
	end

	-- A further domain authenticated on a stream: decide its messages anew.
	local function on_authenticated(event)
		event.session.xp_contact_for = nil;
	end

	-- route/remote: presence that local users (and components) send to
	-- remote users keeps its <status/> only for partners whose type allows.
	local function on_route_presence(event)
		local stanza = event.stanza;
		if stanza.name ~= "presence" or not stanza:get_child("status") then return; end
		local policy = get_policy();
		if policy and not policy:strip_status(event.to_host) then return; end
		-- Presence is broadcast by reusing one stanza for every contact:
		-- strip a copy so federated contacts still see the text.
		local copy = st.clone(stanza);
		copy:remove_children("status");
		event.stanza = copy;
	end

	return {
		-- The module put tbl in force (a build, a reload, an admin change).
		installed = function (tbl)
			current = tbl or false;
		end;
		setup_host = function (ctx, host)
			ctx:hook("route/remote", on_route_presence, 300);
			-- after the module's own check (100), before mod_s2s marks the
			-- domain authenticated (-1)
			ctx:hook("s2s-authenticated", on_authenticated, 10);
			if hosts[host] and hosts[host].type == "local" then
				ctx:hook("presence/bare", on_presence, 50);
				ctx:hook("message/bare", on_message, 50);
				ctx:hook("message/full", on_message, 50);
			end
		end;
	};
end
