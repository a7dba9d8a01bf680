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

# Every unit test is one test_NAME.c (automake's default source) with the
# same flags, given per program: automake has no per-directory variables,
# and tree-wide defaults (AM_CPPFLAGS, LDADD) would reach every other
# program, linking libtestutil.la, which exists only with cmocka.
UNIT_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(OPENSSL_CFLAGS)
UNIT_LDADD = tests/unit/libtestutil.la module/core/libxpcore.la $(CMOCKA_LIBS) $(OPENSSL_LIBS)
tests_unit_libtestutil_la_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_domain_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_domain_LDADD = $(UNIT_LDADD)
tests_unit_test_matrix_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_matrix_LDADD = $(UNIT_LDADD)
tests_unit_test_builder_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_builder_LDADD = $(UNIT_LDADD)
tests_unit_test_table_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_table_LDADD = $(UNIT_LDADD)
tests_unit_test_verdict_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_verdict_LDADD = $(UNIT_LDADD)
tests_unit_test_contact_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_contact_LDADD = $(UNIT_LDADD)
tests_unit_test_cert_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_cert_LDADD = $(UNIT_LDADD)
tests_unit_test_names_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_names_LDADD = $(UNIT_LDADD)
tests_unit_test_explain_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_explain_LDADD = $(UNIT_LDADD)
tests_unit_test_overlay_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_overlay_LDADD = $(UNIT_LDADD)
tests_unit_test_value_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_value_LDADD = $(UNIT_LDADD)
tests_unit_test_texts_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_texts_LDADD = $(UNIT_LDADD)
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
