# bench/local.mk: benchmark programs.  They print numbers; `make bench` runs
# them all (bench/run.sh; see BENCHMARKS.md).  A small smoke run of each is
# part of `make check` so they never rot.
noinst_PROGRAMS += bench/bench_core
bench_bench_core_SOURCES = bench/bench_core.c
bench_bench_core_LDADD = module/core/libxpcore.la
bench_bench_core_CFLAGS = $(AM_CFLAGS) -O2

# The flood tool: raw s2s streams and TLS handshakes (libssl comes with
# libcrypto's development package; without it bench/flood.sh skips).
if HAVE_LIBSSL
noinst_PROGRAMS += bench/xpflood
BENCH_XPFLOOD = bench/xpflood
endif
bench_xpflood_SOURCES = bench/xpflood.c
bench_xpflood_CFLAGS = $(AM_CFLAGS) $(LIBSSL_CFLAGS)
bench_xpflood_LDADD = $(LIBSSL_LIBS)

# The message and subscription load client (libstrophe).
if HAVE_STROPHE
noinst_PROGRAMS += bench/xpmsg
endif
bench_xpmsg_SOURCES = bench/xpmsg.c
bench_xpmsg_CFLAGS = $(AM_CFLAGS) $(STROPHE_CFLAGS)
bench_xpmsg_LDADD = $(STROPHE_LIBS)

bench_shell_files = bench/lib-bench.sh bench/s2s.sh bench/flood.sh \
	bench/reload.sh bench/subscribe.sh bench/run.sh bench/list.sh bench/s2s-rx.sh
TESTS += bench/smoke.sh bench/smoke-s2s.sh
EXTRA_DIST += BENCHMARKS.md bench/smoke.sh bench/smoke-s2s.sh \
	bench/mod_bench_allowlist.lua $(bench_shell_files)

bench: bench/bench_core $(BENCH_XPFLOOD) module/lua/core.la
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	LUA='$(LUA)' bash $(srcdir)/bench/run.sh
.PHONY: bench
