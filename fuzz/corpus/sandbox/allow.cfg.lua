xmpp_partners = {
	["fabrikam.com"] = { type = "federated"; tls = "required"; sasl = "required" };
}
xmpp_partners_default = "allow"
