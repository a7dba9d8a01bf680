/*
 * testutil.h: shared helpers for the cmocka unit tests: a counting allocator
 * that can fail the Nth allocation, a log capture, and the path of the
 * normative negotiation matrix.
 */
#ifndef XP_TESTUTIL_H
#define XP_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmpp_partners.h"

typedef struct test_alloc {
	/* fail the allocation with this 1-based number; 0 never */
	long fail_at;
	long calls; /* allocations (not frees) so far */
	long live;  /* blocks currently allocated */
	size_t live_bytes;
	size_t peak_bytes;
} test_alloc;

void *test_alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize);

typedef struct test_log {
	char text[8192]; /* all messages, one per line */
	int count;
} test_log;

void test_log_fn(void *ud, xp_log_level level, const char *msg);

/* A context over a test_alloc and a test_log (either may be NULL). */
xp_ctx *test_ctx(test_alloc *a, test_log *l);

/* Run every test of the group with TAP output (the harness counts cases). */
int test_run(const char *name, const struct CMUnitTest *tests, size_t n);
#define TEST_RUN(name, tests)                                                  \
	test_run(name, tests, sizeof(tests) / sizeof(tests[0]))

/* The negotiation matrix the tests check the core against: the XP_MATRIX
 * environment variable, else the in-repo copy $top_srcdir/doc/
 * negotiation-matrix.tsv (shipped in the tarball, so a release tests
 * itself). */
const char *test_matrix_path(void);

/* A compact partner description for tests; NULL/-1 fields keep defaults. */
typedef struct test_partner {
	const char *domain;
	const char *type, *tls, *sasl;
	int dialback;               /* -1: not given */
	const char *additional[4];  /* NULL-terminated */
	long long connection_limit; /* 0: not given */
} test_partner;

/* Build a table from n test partners (and "deny"/"allow" default, or NULL).
 * Returns the status of xp_builder_finish; *out gets the table on success
 * and *b_out (if not NULL) the builder, which the caller frees. */
int test_build(xp_ctx *ctx, const test_partner *ps, size_t n,
               const char *default_policy, xp_table **out, xp_builder **b_out);
/* The first diagnostic whose message contains needle, or NULL. */
const xp_diag *test_find_diag(const xp_builder *b, const char *needle);
#endif
