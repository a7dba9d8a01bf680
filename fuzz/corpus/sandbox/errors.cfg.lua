-- A partner file with mistakes an administrator might make.
xmpp_partners = {
	["fabrikam.com"] = {
		type = "federatd",
		tls = "requried",
		dialbak = true,
	},
	["contoso.com"] = {
		tls = "not_supported",
		sasl = "required",
	},
	["corp.fabrikam.com"] = {
		connection_limit = 0,
	},
	["litware.test"] = {
		tls = optional,
		sasl = "not_supported",
		dialback = "yes",
	},
}
xmpp_partners_default = "maybe"
xmpp_partners_defualt = "allow"
