# tests/hostile/local.mk: the hostile s2s peer (xphostile, C with OpenSSL)
# and the scripts that play attacks and faults against real Prosody servers
# with mod_xmpp_partners.
# Run only these:  make check-hostile
HOSTILE_TESTS = \
	tests/integration/t_hostile.sh \
	tests/integration/t_faults.sh \
	tests/integration/t_backoff.sh \
	tests/integration/t_monitoring.sh

# Without libssl it is not built and the scripts skip (xp_hostile_init).
if HAVE_LIBSSL
check_PROGRAMS += tests/hostile/xphostile
endif
tests_hostile_xphostile_SOURCES = tests/hostile/xphostile.c
tests_hostile_xphostile_CFLAGS = $(AM_CFLAGS) $(LIBSSL_CFLAGS)
tests_hostile_xphostile_LDADD = $(LIBSSL_LIBS)
# The partner lock-out attack (issue 19): many held unauthenticated streams.
check_PROGRAMS += tests/hostile/xphold
tests_hostile_xphold_SOURCES = tests/hostile/xphold.c

TESTS += $(HOSTILE_TESTS)
EXTRA_DIST += $(HOSTILE_TESTS) SECURITY.md tests/hostile/hold.sh

check-hostile:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(HOSTILE_TESTS)'
.PHONY: check-hostile
