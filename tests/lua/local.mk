# tests/lua/local.mk: busted specs of the Lua binding xmpp_partners.core,
# run through tests/lua/run.sh (TAP; skipped without lua or busted).
LUA_SPECS = \
	tests/lua/core_spec.lua tests/lua/table_spec.lua \
	tests/lua/cert_spec.lua tests/lua/read_file_spec.lua tests/lua/walk_spec.lua \
	tests/lua/helpers.lua

TESTS += tests/lua/run.sh tests/lua/t_luacheck.sh
EXTRA_DIST += tests/lua/run.sh tests/lua/preload.sh tests/lua/t_luacheck.sh .luacheckrc $(LUA_SPECS)

# The specs load module/lua/.libs/core.so: build it before they run, also
# when only this test is asked for (make check TESTS=tests/lua/run.sh).
tests/lua/run.log: module/lua/core.la

clean-local: clean-local-lua
clean-local-lua:
	-rm -rf tests/lua/cpath
.PHONY: clean-local-lua
