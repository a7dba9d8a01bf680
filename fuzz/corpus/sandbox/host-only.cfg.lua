-- xmpp_partners written below a VirtualHost line: Prosody takes it as a
-- setting of that host, and the global module never sees it.
admins = { "admin@example.com" }

VirtualHost "example.com"
	xmpp_partners = {
		["fabrikam.com"] = { type = "federated" };
	}
