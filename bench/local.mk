# bench/local.mk: benchmark programs.  They print numbers; `make bench` runs
# them.  A small smoke run of each is part of `make check` so they never rot.
noinst_PROGRAMS += bench/bench_core
bench_bench_core_SOURCES = bench/bench_core.c
bench_bench_core_LDADD = module/libxpcore.la
bench_bench_core_CFLAGS = $(AM_CFLAGS) -O2

TESTS += bench/smoke.sh
EXTRA_DIST += bench/smoke.sh

bench: bench/bench_core module/lua/core.la
	./bench/bench_core 10 1000 100000 1000000
	@mkdir -p bench/cpath/xmpp_partners
	@cp module/lua/.libs/core.so bench/cpath/xmpp_partners/core.so
	LUA_CPATH='bench/cpath/?.so;;' $(LUA) $(srcdir)/bench/bench_lua.lua 10 1000 100000 1000000
.PHONY: bench
