# tests/unit/local.mk: cmocka unit tests of the core (TAP output).
UNIT_TESTS = \
	tests/unit/test_domain tests/unit/test_matrix tests/unit/test_builder \
	tests/unit/test_table tests/unit/test_verdict tests/unit/test_contact \
	tests/unit/test_cert tests/unit/test_names tests/unit/test_explain \
	tests/unit/test_overlay tests/unit/test_value tests/unit/test_texts
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(OPENSSL_CFLAGS)
UNIT_LDADD = tests/unit/libtestutil.la module/core/libxpcore.la $(CMOCKA_LIBS) $(OPENSSL_LIBS)
check_LTLIBRARIES = tests/unit/libtestutil.la
tests_unit_libtestutil_la_SOURCES = tests/unit/testutil.c tests/unit/testutil.h
tests_unit_libtestutil_la_CFLAGS = $(UNIT_CFLAGS)

tests_unit_test_domain_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_domain_LDADD = $(UNIT_LDADD)
tests_unit_test_matrix_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_matrix_LDADD = $(UNIT_LDADD)
tests_unit_test_builder_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_builder_LDADD = $(UNIT_LDADD)
tests_unit_test_table_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_table_LDADD = $(UNIT_LDADD)
tests_unit_test_verdict_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_verdict_LDADD = $(UNIT_LDADD)
tests_unit_test_contact_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_contact_LDADD = $(UNIT_LDADD)
tests_unit_test_cert_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_cert_LDADD = $(UNIT_LDADD)
tests_unit_test_names_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_names_LDADD = $(UNIT_LDADD)
tests_unit_test_explain_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_explain_LDADD = $(UNIT_LDADD)
tests_unit_test_overlay_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_overlay_LDADD = $(UNIT_LDADD)
tests_unit_test_value_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_value_LDADD = $(UNIT_LDADD)
tests_unit_test_texts_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_texts_LDADD = $(UNIT_LDADD)

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
