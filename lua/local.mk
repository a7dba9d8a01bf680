# lua/local.mk: installs the Prosody module (the Lua side; the C module
# xmpp_partners/core.so is installed by Makefile.am into $(LUA_CMOD_DIR)).
#
# The module and the helpers it loads with module:require go into one
# directory of their own,
#   $(PROSODY_PLUGIN_DIR)/mod_xmpp_partners/mod_xmpp_partners.lua
#   $(PROSODY_PLUGIN_DIR)/mod_xmpp_partners/xmpp_partners_*.lib.lua
# the layout Prosody's plugin loader tries for every plugin directory
# (mod_X/mod_X.lua; module:require("xmpp_partners_contact") then finds
# mod_X/xmpp_partners_contact.lib.lua) and the one Debian's prosody-modules
# uses.  A new helper file must be added to the list below.
# PROSODY_PLUGIN_DIR (--with-prosody-plugindir=DIR) defaults to
# LIBDIR/prosody/modules:
#   --prefix=/usr        /usr/lib/prosody/modules: Prosody's own
#                        CFG_PLUGINDIR on Debian, searched with no
#                        configuration (this is what the Debian package uses)
#   --prefix=/usr/local  /usr/local/lib/prosody/modules: in plugin_paths of
#                        Debian's stock /etc/prosody/prosody.cfg.lua
# Any other directory must be added to plugin_paths in prosody.cfg.lua.
prosodymoddir = $(PROSODY_PLUGIN_DIR)/mod_xmpp_partners
dist_prosodymod_DATA = \
	lua/mod_xmpp_partners.lua \
	lua/xmpp_partners_sources.lib.lua \
	lua/xmpp_partners_proxy.lib.lua \
	lua/xmpp_partners_keepalive.lib.lua \
	lua/xmpp_partners_contact.lib.lua \
	lua/xmpp_partners_runtime.lib.lua \
	lua/xmpp_partners_admin.lib.lua \
	lua/xmpp_partners_shell.lib.lua \
	lua/xmpp_partners_adhoc.lib.lua \
	lua/xmpp_partners_compat.lib.lua \
	lua/xmpp_partners_pending.lib.lua \
	lua/xmpp_partners_backoff.lib.lua \
	lua/xmpp_partners_status.lib.lua

# The status page is a module of its own (admins enable it next to
# mod_xmpp_partners), in its own plugin directory.
prosodystatusdir = $(PROSODY_PLUGIN_DIR)/mod_xmpp_partners_status
dist_prosodystatus_DATA = lua/mod_xmpp_partners_status.lua
