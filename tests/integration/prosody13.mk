# tests/integration/prosody13.mk: every Prosody suite again on Prosody 13,
# plus the mixed-version suite.  Included from Makefile.am after the
# integration and hostile fragments.
#
# Prosody 13.0 comes unpacked (never installed) in a prefix: Debian's
# bookworm-backports package put by scripts/unpack-prosody.sh (scripts/deps.sh
# runs it) into $(XP_PROSODY13_PREFIX), by default build/prosody13 of the
# source tree; the environment variable of that name overrides it.
#
# For each suite tests/X/t_Y.sh in PROSODY_SUITES, `make check` also runs
# tests/X/t_Y_p13.sh: a wrapper generated in the build tree that runs the
# same script with XP_PROSODY_PREFIX pointing at Prosody 13 (lib.sh checks
# that `prosodyctl about` says 13.x and puts the version in every test
# name).  check-local runs them, and the mixed-version suite, through
# automake's own harness (a second check-TESTS with its own TESTS and its
# summary in tests/test-suite-prosody13.log), in parallel with the rest
# under make -j.  Their results go to t_Y_p13.log / .trs beside the 0.12
# ones, so scripts/test.sh counts each version apart.
#   make check-prosody13                              only these
#   make check TESTS=tests/integration/t_matrix_p13.sh  one suite on 13
# A `make check TESTS=...` of other tests does not run them.
#
# Without Prosody 13 in the prefix they are not run, and one line says why;
# with XP_REQUIRE=1 (CI) that line is an error.
XP_PROSODY13_PREFIX ?= $(abs_top_srcdir)/build/prosody13

PROSODY_SUITES = $(INTEGRATION_TESTS) $(HOSTILE_TESTS)
PROSODY13_TESTS = $(PROSODY_SUITES:.sh=_p13.sh)
# The module on 13 with 0.12 peers and the reverse (needs both versions).
MIXED_TESTS = tests/integration/t_mixed.sh
PROSODY13_ALL = $(PROSODY13_TESTS) $(MIXED_TESTS)
EXTRA_DIST += tests/integration/prosody13.mk $(MIXED_TESTS)
# (not in TESTS, so automake's own clean rules do not know their logs)
CLEANFILES += $(PROSODY13_TESTS) tests/test-suite-prosody13.log \
	$(PROSODY13_ALL:.sh=.log) $(PROSODY13_ALL:.sh=.trs)

# The wrapper: same script, Prosody 13.
%_p13.sh: %.sh
	$(AM_V_GEN)$(MKDIR_P) $(@D) && { \
	  echo '#!/bin/sh'; \
	  echo '# generated from tests/integration/prosody13.mk: $*.sh on Prosody 13'; \
	  echo 'XP_PROSODY_PREFIX=$${XP_PROSODY13_PREFIX:-$(XP_PROSODY13_PREFIX)} XP_PROSODY_EXPECT=13. exec bash "$(abs_top_srcdir)/$*.sh"'; \
	} >$@-t && chmod +x $@-t && mv -f $@-t $@

# The suites on 13 use the same programs as on 0.12.
$(PROSODY13_TESTS:.sh=.log) tests/integration/t_mixed.log: $(check_PROGRAMS)

check-local: xp-check-prosody13
xp-check-prosody13:
	@if test '$(origin TESTS)' = 'command line'; then exit 0; fi; \
	if test ! -x '$(XP_PROSODY13_PREFIX)/usr/bin/prosody'; then \
	  msg='Prosody 13 suites not run: no Prosody in $(XP_PROSODY13_PREFIX) (make it: bash scripts/unpack-prosody.sh $(XP_PROSODY13_PREFIX))'; \
	  if test "$${XP_REQUIRE:-0}" = 1; then echo "ERROR: $$msg (XP_REQUIRE=1)"; exit 1; fi; \
	  echo "SKIP: $$msg"; exit 0; \
	fi; \
	$(MAKE) $(AM_MAKEFLAGS) check-TESTS TESTS='$(PROSODY13_ALL)' TEST_SUITE_LOG=tests/test-suite-prosody13.log

check-prosody13:
	$(MAKE) $(AM_MAKEFLAGS) all $(check_PROGRAMS)
	$(MAKE) $(AM_MAKEFLAGS) xp-check-prosody13
.PHONY: check-prosody13 xp-check-prosody13

# Generated, but kept (make would delete them as intermediates).
.PRECIOUS: $(PROSODY13_TESTS)
