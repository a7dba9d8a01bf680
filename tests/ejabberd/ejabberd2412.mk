# tests/ejabberd/ejabberd2412.mk: every ejabberd suite again on ejabberd
# 24.12.  Included from Makefile.am after ejabberd/local.mk and
# tests/ejabberd/cross.mk.
#
# ejabberd 24.12 comes unpacked (never installed: it would replace 23.01)
# in a prefix: Debian's bookworm-backports packages put by
# scripts/unpack-ejabberd.sh (scripts/deps.sh runs it) into
# $(XP_EJABBERD2412_PREFIX), by default build/ejabberd2412 of the source
# tree; the environment variable of that name overrides it.
#
# The module's beams are built a second time, against 24.12's headers and
# its xmpp library's (1.9.x), into ejabberd/ebin-2412 of the build tree;
# the NIF is the same (one Erlang runtime).  For each node suite
# tests/ejabberd/t_Y.sh (the ejabberd suites but t_nif.sh, which needs no
# ejabberd, plus t_cross.sh), `make check` also runs
# tests/ejabberd/t_Y_ej2412.sh: a wrapper generated in the build tree that
# runs the same script with XP_EJABBERD_PREFIX and XP_EJABBERD_EBIN set
# (tests/ejabberd/ejlib.sh checks that the node's ejabberd.app says 24.12
# and puts "[ejabberd 24.12]" in every test name).  check-local runs them
# through automake's own harness (a second check-TESTS with its own TESTS
# and its summary in tests/test-suite-ejabberd2412.log); their logs sit
# beside the 23.01 ones, so scripts/test.sh counts each version apart.
#   make check-ejabberd2412                                  only these
#   make check TESTS=tests/ejabberd/t_ejabberd_ej2412.sh     one suite on 24.12
# A `make check TESTS=...` of other tests does not run them.
#
# Without ejabberd 24.12 in the prefix they are not run, and one line says
# why; with XP_REQUIRE=1 (CI) that line is an error.  Where the module
# itself is not built (no ejabberd headers at configure time) they are
# skipped like the 23.01 runs.
XP_EJABBERD2412_PREFIX ?= $(abs_top_srcdir)/build/ejabberd2412

EJ2412_SUITES = $(filter-out tests/ejabberd/t_nif.sh,$(EJABBERD_TESTS)) $(CROSS_TESTS)
EJ2412_TESTS = $(EJ2412_SUITES:.sh=_ej2412.sh)
EXTRA_DIST += tests/ejabberd/ejabberd2412.mk scripts/unpack-ejabberd.sh
CLEANFILES += $(EJ2412_TESTS) tests/test-suite-ejabberd2412.log \
	$(EJ2412_TESTS:.sh=.log) $(EJ2412_TESTS:.sh=.trs)

# 24.12's headers and code, found in the prefix (empty when not unpacked)
EJ2412_APPDIR = $(lastword $(sort $(wildcard $(XP_EJABBERD2412_PREFIX)/usr/lib/*/ejabberd-24.*)))
EJ2412_XMPP_INCLUDE = $(lastword $(sort $(wildcard $(XP_EJABBERD2412_PREFIX)/usr/lib/erlang/lib/xmpp-*/include)))
EJ2412_BEAMS = $(patsubst ejabberd/ebin/%,ejabberd/ebin-2412/%,$(erlbeam_DATA))
ERLCFLAGS_2412 = +debug_info -Werror -I '$(EJ2412_XMPP_INCLUDE)' \
	-I '$(EJ2412_APPDIR)/include' -pa '$(EJ2412_APPDIR)/ebin' -pa ejabberd/ebin-2412

ejabberd/ebin-2412/%.beam: $(srcdir)/ejabberd/src/%.erl
	@$(MKDIR_P) ejabberd/ebin-2412
	@if test -z '$(EJ2412_APPDIR)' || test -z '$(EJ2412_XMPP_INCLUDE)'; then \
	  echo "no ejabberd 24.12 in $(XP_EJABBERD2412_PREFIX) (bash scripts/unpack-ejabberd.sh $(XP_EJABBERD2412_PREFIX))" >&2; exit 1; fi
	$(AM_V_GEN)$(ERLC) $(ERLCFLAGS_2412) -o ejabberd/ebin-2412 $<
ejabberd/ebin-2412/mod_xmpp_partners.beam: ejabberd/ebin-2412/xmpp_partners_nif.beam
ejabberd/ebin-2412/xmpp_partners_sessions.beam \
ejabberd/ebin-2412/xmpp_partners_s2s.beam \
ejabberd/ebin-2412/xmpp_partners_commands.beam \
ejabberd/ebin-2412/xmpp_partners_monitoring.beam: \
	$(srcdir)/ejabberd/src/xmpp_partners_sessions.hrl

# The wrapper: same script, ejabberd 24.12 and the beams built for it.
%_ej2412.sh: %.sh
	$(AM_V_GEN)$(MKDIR_P) $(@D) && { \
	  echo '#!/bin/sh'; \
	  echo '# generated from tests/ejabberd/ejabberd2412.mk: $*.sh on ejabberd 24.12'; \
	  echo 'XP_EJABBERD_PREFIX=$${XP_EJABBERD2412_PREFIX:-$(XP_EJABBERD2412_PREFIX)} XP_EJABBERD_EBIN=$(abs_top_builddir)/ejabberd/ebin-2412 XP_EJABBERD_EXPECT=24.12 exec bash "$(abs_top_srcdir)/$*.sh"'; \
	} >$@-t && chmod +x $@-t && mv -f $@-t $@

$(EJ2412_TESTS:.sh=.log): $(erlnif_LTLIBRARIES) $(EJ2412_BEAMS) $(check_PROGRAMS)

check-local: xp-check-ejabberd2412
xp-check-ejabberd2412:
	@if test '$(origin TESTS)' = 'command line'; then exit 0; fi; \
	if test -z '$(filter ejabberd/ebin/mod_xmpp_partners.beam,$(erlbeam_DATA))'; then \
	  echo 'SKIP: ejabberd 24.12 suites not run: mod_xmpp_partners is not built (configure found no ejabberd headers)'; exit 0; \
	fi; \
	if test -z '$(EJ2412_APPDIR)'; then \
	  msg='ejabberd 24.12 suites not run: no ejabberd in $(XP_EJABBERD2412_PREFIX) (make it: bash scripts/unpack-ejabberd.sh $(XP_EJABBERD2412_PREFIX))'; \
	  if test "$${XP_REQUIRE:-0}" = 1; then echo "ERROR: $$msg (XP_REQUIRE=1)"; exit 1; fi; \
	  echo "SKIP: $$msg"; exit 0; \
	fi; \
	$(MAKE) $(AM_MAKEFLAGS) check-TESTS TESTS='$(EJ2412_TESTS)' TEST_SUITE_LOG=tests/test-suite-ejabberd2412.log

check-ejabberd2412:
	$(MAKE) $(AM_MAKEFLAGS) all $(check_PROGRAMS)
	$(MAKE) $(AM_MAKEFLAGS) xp-check-ejabberd2412
.PHONY: check-ejabberd2412 xp-check-ejabberd2412

clean-local: clean-local-ejabberd2412
clean-local-ejabberd2412:
	-rm -rf ejabberd/ebin-2412
.PHONY: clean-local-ejabberd2412

# Generated, but kept (make would delete them as intermediates).
.PRECIOUS: $(EJ2412_TESTS)
