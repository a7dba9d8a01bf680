-- xmpp_partners.cfg.lua: an example partner table for mod_xmpp_partners.
--
-- Copy it to /etc/prosody/conf.d/xmpp_partners.cfg.lua and edit it; Debian's
-- prosody.cfg.lua includes conf.d/*.cfg.lua, and each included file starts
-- in the global section, so these are global options.  The module itself
-- is enabled in /etc/prosody/prosody.cfg.lua (see README.Debian).
--
-- Check the file before (re)starting Prosody:
--   xmpp-partners check /etc/prosody/prosody.cfg.lua
-- Every key is described in /usr/share/doc/xmpp-partners-prosody/README.md.

xmpp_partners = {
	["fabrikam.com"] = {
		description = "Fabrikam, Inc.";
		additional_domains = { "corp.fabrikam.com" };
		type = "federated";
		tls = "required"; sasl = "required"; dialback = false;
	};
	["contoso.com"] = {
		type = "public_verified";
		tls = "required"; sasl = "optional"; dialback = true;
	};
}

-- "deny": domains not listed cannot federate.  "allow": they federate as
-- public_unverified partners with tls and sasl optional and dialback on.
xmpp_partners_default = "deny"
