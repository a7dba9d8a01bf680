# tests/ejabberd/cross.mk: cross-federation between a real ejabberd node and
# Prosody servers, both running mod_xmpp_partners (TAP, bash; skips without
# ejabberd, Prosody, xpclient or root).  Included from Makefile.am after
# ejabberd/local.mk.  Run only these:  make check-cross
# t_golden.sh: one table through Prosody, ejabberd and xmpp-partners, the
# same check and explain text (issue 15)
CROSS_TESTS = tests/ejabberd/t_cross.sh tests/ejabberd/t_golden.sh
TESTS += $(CROSS_TESTS)
# (its node launcher tests/ejabberd/ejlib.sh is distributed by ejabberd/local.mk)
EXTRA_DIST += $(CROSS_TESTS)
# the uninstalled NIF and beams of this build tree, and xpclient
tests/ejabberd/t_cross.log: $(erlnif_LTLIBRARIES) $(erlbeam_DATA)
tests/ejabberd/t_cross.log: $(check_PROGRAMS)
tests/ejabberd/t_golden.log: $(erlnif_LTLIBRARIES) $(erlbeam_DATA) $(bin_PROGRAMS)

check-cross:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(CROSS_TESTS)'
.PHONY: check-cross
