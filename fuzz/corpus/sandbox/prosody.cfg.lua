-- A whole prosody.cfg.lua, as Debian ships it plus the partner settings.
admins = { }
plugin_paths = { "/usr/local/lib/prosody/modules" }
modules_enabled = {
	"disco"; "roster"; "saslauth"; "tls"; "dialback"; "ping";
	"admin_shell"; "posix";
	"xmpp_partners";
}
modules_disabled = { }
pidfile = "/run/prosody/prosody.pid";
s2s_secure_auth = true
limits = {
	c2s = { rate = "10kb/s"; };
	s2sin = { rate = "30kb/s"; };
}
authentication = "internal_hashed"
archive_expires_after = "1w"
log = {
	info = "/var/log/prosody/prosody.log";
	error = "/var/log/prosody/prosody.err";
	{ levels = { "error" }; to = "syslog"; };
}
certificates = "certs"
http_host = ENV_PROSODY_HTTP_HOST or "localhost"
-- Prosody 13 style secrets
component_secret = FileContents("/etc/prosody/secret.txt")
turn_secret = Credential("turn")

local function split(s, sep)
	local parts = {}
	for part in (s or ""):gmatch("[^" .. sep .. "]+") do
		parts[#parts + 1] = part
	end
	return parts
end

xmpp_partners = {
	["fabrikam.com"] = {
		description = "Fabrikam";
		type = "federated";
		tls = "required"; sasl = "required";
		additional_domains = split("corp.fabrikam.com,fabrikam.net", ",");
	};
}
xmpp_partners_default = "deny"

VirtualHost "localhost"
	xmpp_partners_keepalive_interval = 60

Component "conference.localhost" "muc"
	modules_enabled = { "muc_mam" }
	restrict_room_creation = "local"

Component "upload.localhost" "http_file_share" {
	http_file_share_size_limit = 10485760;
}

Include "conf.d/*.cfg.lua"
RunScript "extra.lua"
