# tests/integration/local.mk: integration tests with real XMPP servers on
# loopback (TAP, bash).  The scripts find xpclient, a libstrophe client, at
# $(top_builddir)/tests/clients/xpclient; without libstrophe it is not built
# and the scripts skip (as they do without prosody or lua-unbound).
# Run only these:  make check-integration
INTEGRATION_TESTS = \
	tests/integration/t_harness.sh \
	tests/integration/t_allowlist.sh \
	tests/integration/t_matrix.sh \
	tests/integration/t_piggyback.sh \
	tests/integration/t_proxy_limits_keepalive.sh \
	tests/integration/t_reload.sh \
	tests/integration/t_contact.sh \
	tests/integration/t_admin.sh \
	tests/integration/t_partner_file.sh \
	tests/integration/t_storage.sh

if HAVE_STROPHE
check_PROGRAMS += tests/clients/xpclient
endif
tests_clients_xpclient_SOURCES = tests/clients/xpclient.c
tests_clients_xpclient_CFLAGS = $(AM_CFLAGS) $(STROPHE_CFLAGS)
tests_clients_xpclient_LDADD = $(STROPHE_LIBS)

TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += tests/integration/lib.sh tests/integration/netclaim.sh $(INTEGRATION_TESTS)

check-integration:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(INTEGRATION_TESTS)'
.PHONY: check-integration
