# ejabberd/static.mk: static checks of the ejabberd module (issue 15):
# every exported function has a -spec, xref finds no undefined, unused or
# deprecated call, and dialyzer no warning.  Included from Makefile.am after
# ejabberd/local.mk and tests/ejabberd/ejabberd2412.mk.
#   make check-erlang-static
# Runs tests/ejabberd/erlang-static.sh on the beams built against the
# installed ejabberd's headers (ejabberd/ebin, dialyzer with a PLT in
# ejabberd/static/) and, when ejabberd 24.12 is unpacked
# ($(XP_EJABBERD2412_PREFIX), tests/ejabberd/ejabberd2412.mk), on those
# built against 24.12's (ejabberd/ebin-2412, against 24.12's code and a PLT
# of its own beside the same erts/kernel/stdlib base).  scripts/test.sh runs
# it; it is not part of `make check` (the first PLT takes minutes).
EXTRA_DIST += ejabberd/static.mk tests/ejabberd/erlang-static.sh

if HAVE_EJABBERD
check-erlang-static: $(erlbeam_DATA)
	$(SHELL) $(srcdir)/tests/ejabberd/erlang-static.sh --label '$(subst -, ,$(notdir $(patsubst %/,%,$(dir $(EJABBERD_EBIN)))))' \
	  --ebin ejabberd/ebin --erl-libs '$(dir $(patsubst %/,%,$(dir $(EJABBERD_EBIN))))' \
	  --plt ejabberd/static/installed.plt
	@if test -n '$(EJ2412_APPDIR)'; then \
	  $(MAKE) $(AM_MAKEFLAGS) $(EJ2412_BEAMS) && \
	  $(SHELL) $(srcdir)/tests/ejabberd/erlang-static.sh --label 'ejabberd 24.12' \
	    --ebin ejabberd/ebin-2412 \
	    --erl-libs '$(XP_EJABBERD2412_PREFIX)/usr/lib/erlang/lib:$(dir $(EJ2412_APPDIR))' \
	    --plt ejabberd/static/2412.plt; \
	else \
	  msg='ejabberd 24.12 not checked: none in $(XP_EJABBERD2412_PREFIX) (bash scripts/unpack-ejabberd.sh)'; \
	  if test "$${XP_REQUIRE:-0}" = 1; then echo "ERROR: $$msg (XP_REQUIRE=1)"; exit 1; fi; \
	  echo "SKIP: $$msg"; \
	fi
else
check-erlang-static:
	@msg='check-erlang-static: mod_xmpp_partners is not built (configure found no ejabberd headers)'; \
	if test "$${XP_REQUIRE:-0}" = 1; then echo "ERROR: $$msg (XP_REQUIRE=1)"; exit 1; fi; \
	echo "SKIP: $$msg"
endif
.PHONY: check-erlang-static

clean-local: clean-local-erlang-static
clean-local-erlang-static:
	-rm -rf ejabberd/static
.PHONY: clean-local-erlang-static
