# tests/unit/local.mk: cmocka unit tests of the core (TAP output).  Without
# cmocka (configure says so) they are not built, and skip-cmocka.sh reports
# the skip in their place.
UNIT_TESTS = \
	tests/unit/test_domain tests/unit/test_matrix tests/unit/test_builder \
	tests/unit/test_table tests/unit/test_verdict tests/unit/test_contact \
	tests/unit/test_cert tests/unit/test_names tests/unit/test_explain \
	tests/unit/test_overlay tests/unit/test_value tests/unit/test_texts
EXTRA_DIST += tests/unit/skip-cmocka.sh
if HAVE_CMOCKA
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
check_LTLIBRARIES = tests/unit/libtestutil.la
else
TESTS += tests/unit/skip-cmocka.sh
endif

# Every unit test is one test_NAME.c with the same flags.  Automake has no
# per-directory variables, so they are the defaults, which every other
# program of the tree overrides with its own _LDADD: the cmocka and OpenSSL
# include paths in AM_CPPFLAGS, and LDADD.
AM_CPPFLAGS += $(CMOCKA_CFLAGS) $(OPENSSL_CFLAGS)
UNIT_LDADD = tests/unit/libtestutil.la module/core/libxpcore.la $(CMOCKA_LIBS) $(OPENSSL_LIBS)
LDADD = $(UNIT_LDADD)
tests_unit_libtestutil_la_SOURCES = tests/unit/testutil.c tests/unit/testutil.h

# Every unit test under valgrind; fails on any error or leak.
check-valgrind: $(UNIT_TESTS)
	@test -n "$(VALGRIND)" || { echo "valgrind not found"; exit 1; }
	@set -e; for t in $(UNIT_TESTS); do \
	  echo "valgrind $$t"; \
	  top_srcdir='$(abs_top_srcdir)' $(LIBTOOL) --mode=execute $(VALGRIND) -q \
	    --leak-check=full --show-leak-kinds=definite,indirect,possible \
	    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 \
	    ./$$t > $$t.valgrind.log 2>&1 || { cat $$t.valgrind.log; exit 1; }; \
	done; echo "valgrind: all unit tests clean"
.PHONY: check-valgrind
