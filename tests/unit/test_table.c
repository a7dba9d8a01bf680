/*
 * test_table.c: lookups of primary and additional domains, look-alikes,
 * default policy, the closed (fail-closed) table, reference counting and a
 * large table.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define S(x) x, strlen(x)

static const test_partner sample[] = {
        {"fabrikam.com",
         "federated",
         NULL,
         NULL,
         -1,
         {"corp.fabrikam.com", "fabrikam.net"},
         0},
        {"contoso.com",
         "public_verified",
         "optional",
         "optional",
         1,
         {NULL},
         0},
        {"b\xc3\xbc\x63her.test", NULL, NULL, NULL, -1, {NULL}, 0},
};

static void test_lookup(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_table *t = NULL;
	const xp_partner *fab;

	(void)state;
	assert_int_equal(test_build(ctx, sample, 3, NULL, &t, NULL), XP_OK);
	assert_int_equal(xp_table_count(t), 3);
	fab = xp_table_at(t, 0);
	assert_ptr_equal(xp_table_lookup(t, S("fabrikam.com")), fab);
	assert_ptr_equal(xp_table_lookup(t, S("FABRIKAM.com.")), fab);
	assert_ptr_equal(xp_table_lookup(t, S("corp.fabrikam.com")), fab);
	assert_ptr_equal(xp_table_lookup(t, S("Fabrikam.NET")), fab);
	assert_ptr_equal(xp_table_lookup(t, S("contoso.com")),
	                 xp_table_at(t, 1));
	/* IDN: the U-label and the A-label find the same partner. */
	assert_ptr_equal(xp_table_lookup(t, S("xn--bcher-kva.test")),
	                 xp_table_at(t, 2));
	assert_ptr_equal(xp_table_lookup(t, S("B\xc3\x9c\x43HER.test")),
	                 xp_table_at(t, 2));
	assert_string_equal(xp_partner_domain(xp_table_at(t, 2)),
	                    "xn--bcher-kva.test");
	/* Look-alikes and relatives are other domains. */
	assert_null(xp_table_lookup(t, S("fabrikam.com.evil.test")));
	assert_null(xp_table_lookup(t, S("evilfabrikam.com")));
	assert_null(xp_table_lookup(t, S("sub.fabrikam.com")));
	assert_null(xp_table_lookup(t, S("fabrikam.co")));
	assert_null(xp_table_lookup(t, S("f\xd0\xb0"
	                                 "brikam.com")));
	assert_null(xp_table_lookup(t, S("fabrikam.com:5269")));
	assert_null(xp_table_lookup(t, S("")));
	assert_null(xp_table_lookup(t, NULL, 3));
	assert_null(xp_table_lookup(NULL, S("fabrikam.com")));
	assert_null(xp_table_at(t, 3));
	xp_table_unref(t);
	xp_ctx_free(ctx);
}

static void test_resolve_deny_allow(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_table *deny = NULL, *allow = NULL;
	const xp_partner *p;
	xp_reason r;

	(void)state;
	assert_int_equal(test_build(ctx, sample, 3, NULL, &deny, NULL), XP_OK);
	assert_int_equal(test_build(ctx, sample, 3, "allow", &allow, NULL),
	                 XP_OK);

	p = xp_table_resolve(deny, S("corp.fabrikam.com"), &r);
	assert_ptr_equal(p, xp_table_at(deny, 0));
	assert_int_equal(r, XP_R_NONE);
	assert_null(xp_table_resolve(deny, S("evil.test"), &r));
	assert_int_equal(r, XP_R_NOT_PARTNER);
	assert_null(xp_table_resolve(deny, S("evil.test:80"), &r));
	assert_int_equal(r, XP_R_BAD_DOMAIN);
	assert_null(xp_table_resolve(deny, S("evil.test"), NULL));

	/* allow: listed partners keep their record; others get the default
	 * of SPEC section 2 (tls/sasl optional, dialback, public_unverified).
	 */
	assert_ptr_equal(xp_table_resolve(allow, S("fabrikam.com"), &r),
	                 xp_table_at(allow, 0));
	p = xp_table_resolve(allow, S("evil.test"), &r);
	assert_non_null(p);
	assert_int_equal(r, XP_R_NONE);
	assert_true(xp_partner_is_default(p));
	assert_string_equal(xp_partner_domain(p), "*");
	assert_int_equal(xp_partner_tls(p), XP_TLS_OPTIONAL);
	assert_int_equal(xp_partner_sasl(p), XP_SASL_OPTIONAL);
	assert_int_equal(xp_partner_dialback(p), 1);
	assert_int_equal(xp_partner_get_type(p), XP_TYPE_PUBLIC_UNVERIFIED);
	assert_int_equal(xp_partner_row(p)->row, 9);
	/* A malformed domain is refused even in allow mode. */
	assert_null(xp_table_resolve(allow, S("a@evil.test"), &r));
	assert_int_equal(r, XP_R_BAD_DOMAIN);
	xp_table_unref(deny);
	xp_table_unref(allow);
	xp_ctx_free(ctx);
}

static void test_closed_table(void **state)
{
	test_alloc a = {0};
	xp_ctx *ctx = test_ctx(&a, NULL);
	xp_table *t = xp_table_new_closed(ctx);
	xp_reason r = XP_R_NONE;

	(void)state;
	assert_non_null(t);
	assert_true(xp_table_is_closed(t));
	assert_int_equal(xp_table_count(t), 0);
	assert_null(xp_table_resolve(t, S("fabrikam.com"), &r));
	assert_int_equal(r, XP_R_CONFIG_INVALID);
	assert_null(xp_table_resolve(NULL, S("fabrikam.com"), &r));
	assert_int_equal(r, XP_R_CONFIG_INVALID);
	assert_int_equal(xp_verdict_connection(t, NULL, 0, 0, &r), 0);
	assert_int_equal(r, XP_R_CONFIG_INVALID);
	assert_null(xp_table_new_closed(NULL));
	xp_table_unref(t);
	xp_ctx_free(ctx);
	assert_int_equal(a.live, 0);
}

static void test_refcount_swap(void **state)
{
	test_alloc a = {0};
	xp_ctx *ctx = test_ctx(&a, NULL);
	xp_table *current = NULL, *next = NULL, *held;

	(void)state;
	assert_int_equal(test_build(ctx, sample, 1, NULL, &current, NULL),
	                 XP_OK);
	/* A stream holds the table in force... */
	held = xp_table_ref(current);
	/* ...a reload swaps in a new one and drops the old reference... */
	assert_int_equal(test_build(ctx, sample + 1, 1, NULL, &next, NULL),
	                 XP_OK);
	xp_table_unref(current);
	current = next;
	/* ...and the stream still sees the old policy until it lets go. */
	assert_non_null(xp_table_resolve(held, S("fabrikam.com"), NULL));
	assert_null(xp_table_resolve(current, S("fabrikam.com"), NULL));
	xp_table_unref(held);
	xp_table_unref(current);
	xp_table_unref(NULL);
	assert_null(xp_table_ref(NULL));
	xp_ctx_free(ctx);
	assert_int_equal(a.live, 0);
}

static void test_large_table(void **state)
{
	test_alloc a = {0};
	xp_ctx *ctx = test_ctx(&a, NULL);
	xp_builder *b = xp_builder_new(ctx);
	xp_table *t = NULL;
	char name[64];
	size_t i, n = 200000, found = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		int len = snprintf(name, sizeof(name), "p%zu.example.test", i);
		assert_int_equal(xp_builder_begin(b, name, (size_t)len), XP_OK);
		assert_int_equal(xp_builder_end(b), XP_OK);
	}
	assert_int_equal(xp_builder_finish(b, &t), XP_OK);
	xp_builder_free(b);
	assert_int_equal(xp_table_count(t), n);
	for (i = 0; i < n; i++) {
		int len = snprintf(name, sizeof(name), "P%zu.Example.Test.", i);
		const xp_partner *p = xp_table_lookup(t, name, (size_t)len);
		found += p == xp_table_at(t, i);
		len = snprintf(name, sizeof(name), "p%zu.example.tes", i);
		assert_null(xp_table_lookup(t, name, (size_t)len));
	}
	assert_int_equal(found, n);
	print_message("# %zu partners: %.1f bytes per partner in all\n", n,
	              (double)a.live_bytes / (double)n);
	/* Strings are ~20 bytes each here; the budget is 200 beyond them. */
	assert_true(a.live_bytes / n < 260);
	xp_table_unref(t);
	xp_ctx_free(ctx);
	assert_int_equal(a.live, 0);
}

static void test_hash_spread(void **state)
{
	/* Different seeds give different hashes; equal input equal hash. */
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_table *t1 = NULL, *t2 = NULL;

	(void)state;
	assert_int_equal(test_build(ctx, sample, 3, NULL, &t1, NULL), XP_OK);
	assert_int_equal(test_build(ctx, sample, 3, NULL, &t2, NULL), XP_OK);
	assert_ptr_equal(xp_table_lookup(t1, S("fabrikam.net")),
	                 xp_table_at(t1, 0));
	assert_ptr_equal(xp_table_lookup(t2, S("fabrikam.net")),
	                 xp_table_at(t2, 0));
	xp_table_unref(t1);
	xp_table_unref(t2);
	xp_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_lookup),
	        cmocka_unit_test(test_resolve_deny_allow),
	        cmocka_unit_test(test_closed_table),
	        cmocka_unit_test(test_refcount_swap),
	        cmocka_unit_test(test_large_table),
	        cmocka_unit_test(test_hash_spread),
	};
	return TEST_RUN("table", tests);
}
