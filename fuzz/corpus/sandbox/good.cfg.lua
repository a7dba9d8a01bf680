-- Shared partner file: Prosody Includes it, ejabberd reads it through
-- the partners_file option.  Checked with: xmpp-partners check FILE
xmpp_partners = {
	["fabrikam.com"] = {
		description = "Fabrikam, Inc.";
		additional_domains = { "corp.fabrikam.com", "fabrikam.net" };
		type = "federated";
		tls = "required";
		sasl = "required";
		-- Lync's default: matrix row 1, a warning
		dialback = true;
		proxy = "xmpp-gw.fabrikam.com:5269";
		connection_limit = 10;
	};
	["contoso.com"] = {
		description = "Contoso (public)";
		type = "public_verified";
		tls = "required";
		sasl = "optional";
		dialback = true;
		fingerprints = { "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" };
	};
	["litware.test"] = {
		type = "public_unverified";
		tls = "optional";
		sasl = "not_supported";
		dialback = true;
		keepalive = false;
	};
}

xmpp_partners_default = "deny"
xmpp_partners_keepalive_interval = 120
xmpp_partners_connection_limit = 500
