# tools/local.mk: the command-line tool xmpp-partners (check, explain,
# import-lync, pin) and its tests.
#
# The tool links the core and the evaluator directly (no Lua binding, no
# Lua state but the sandbox's); the sandbox needs liblua (LUA_LIB_*, the
# same Lua version as the module).
#
# tools/libxptools.la holds the Lync CSV reader: plain C with a small API,
# for the tool and its unit test.
noinst_LTLIBRARIES += tools/libxptools.la
tools_libxptools_la_SOURCES = tools/lync_csv.c tools/lync_csv.h

bin_PROGRAMS = tools/xmpp-partners
tools_xmpp_partners_SOURCES = \
	tools/xmpp-partners.c tools/cli.h \
	tools/partner_file.c tools/explain.c tools/import_lync.c tools/pin.c
tools_xmpp_partners_CFLAGS = $(AM_CFLAGS) $(LUA_LIB_CFLAGS) -I$(top_srcdir)/tools \
	$(EVAL_CPPFLAGS)
tools_xmpp_partners_LDADD = tools/libxptools.la module/evaluator/libxpeval.la \
	module/core/libxpcore.la $(LUA_LIB_LIBS) -lm

dist_man_MANS = doc/xmpp-partners.1

# ---- tests --------------------------------------------------------------
# TAP shell scripts run the built tool on the sample files in tests/cli/data;
# the cmocka programs test the CSV reader and the sandbox API directly.
CLI_TESTS = \
	tests/cli/t_usage.sh tests/cli/t_check.sh tests/cli/t_sandbox.sh \
	tests/cli/t_explain.sh tests/cli/t_import_lync.sh \
	tests/cli/t_valgrind.sh tests/cli/t_docs.sh tests/cli/t_configure.sh \
	tests/cli/t_file_parity.sh
CLI_UNIT_TESTS = tests/cli/test_lync_csv tests/cli/test_sandbox
if HAVE_CMOCKA
check_PROGRAMS += $(CLI_UNIT_TESTS)
TESTS += $(CLI_UNIT_TESTS)
CLI_UNIT_CHECKS = $(CLI_UNIT_TESTS)
else
CLI_UNIT_CHECKS = tests/unit/skip-cmocka.sh
endif
TESTS += $(CLI_TESTS)

CLI_UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LUA_LIB_CFLAGS) \
	-I$(top_srcdir)/tools $(EVAL_CPPFLAGS) -I$(top_srcdir)/tests/unit
CLI_UNIT_LDADD = tests/unit/libtestutil.la tools/libxptools.la \
	module/evaluator/libxpeval.la module/core/libxpcore.la $(CMOCKA_LIBS) $(LUA_LIB_LIBS) -lm
tests_cli_test_lync_csv_SOURCES = tests/cli/test_lync_csv.c
tests_cli_test_lync_csv_CFLAGS = $(CLI_UNIT_CFLAGS)
tests_cli_test_lync_csv_LDADD = $(CLI_UNIT_LDADD)
tests_cli_test_sandbox_SOURCES = tests/cli/test_sandbox.c
tests_cli_test_sandbox_CFLAGS = $(CLI_UNIT_CFLAGS)
tests_cli_test_sandbox_LDADD = $(CLI_UNIT_LDADD)

# The scripts run the tool: build it first, also for
# make check TESTS=tests/cli/t_check.sh.
$(CLI_TESTS:.sh=.log): tools/xmpp-partners$(EXEEXT)

EXTRA_DIST += tests/cli/lib.sh $(CLI_TESTS) $(CLI_SAMPLES)
CLI_SAMPLES = \
	tests/cli/data/good.cfg.lua \
	tests/cli/data/errors.cfg.lua \
	tests/cli/data/prosody.cfg.lua \
	tests/cli/data/host-only.cfg.lua \
	tests/cli/data/allow.cfg.lua \
	tests/cli/data/lync-2013.csv \
	tests/cli/data/sfb-2015.csv \
	tests/cli/data/lync-joined.csv \
	tests/cli/data/lync-bad-values.csv \
	tests/cli/data/lync-unterminated.csv \
	tests/cli/data/lync-stray-quote.csv \
	tests/cli/data/lync-no-identity.csv \
	tests/cli/data/lync-empty.csv \
	tests/cli/data/lync-header-only.csv \
	tests/cli/data/lync-utf16.csv \
	tests/cli/data/junk.bin

# Run only these:  make check-cli
check-cli:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(CLI_UNIT_CHECKS) $(CLI_TESTS)'
.PHONY: check-cli

# The CSV and sandbox unit tests under valgrind (the tool itself runs under
# valgrind in tests/cli/t_valgrind.sh).
check-valgrind-cli: $(CLI_UNIT_TESTS)
	@test -n "$(VALGRIND)" || { echo "valgrind not found"; exit 1; }
	@set -e; for t in $(CLI_UNIT_TESTS); do \
	  echo "valgrind $$t"; \
	  $(LIBTOOL) --mode=execute $(VALGRIND) -q \
	    --leak-check=full --show-leak-kinds=definite,indirect,possible \
	    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 \
	    ./$$t > $$t.valgrind.log 2>&1 || { cat $$t.valgrind.log; exit 1; }; \
	done; echo "valgrind: the CLI unit tests are clean"
.PHONY: check-valgrind-cli
