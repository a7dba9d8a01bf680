/*
 * test_texts.c: the admin texts of the core (module/core/texts.c): the one
 * diagnostic line, the check text (sorted by partner, the verdict in the
 * host's words), bad input and every allocation failing in turn.
 */
#include <string.h>

#include "testutil.h"

static const xp_diag diags[] = {
        {XP_SEV_WARNING, "z.test", "tls", 9, "partner 'z.test': row nine",
         NULL},
        {XP_SEV_ERROR, "a.test", "tsl", 0,
         "partner 'a.test': unknown key 'tsl'; did you mean 'tls'?", "tls"},
        {XP_SEV_ERROR, NULL, "default", 0, "option 'default' is odd", "deny"},
};

static const char *text(xp_text *x)
{
	return xp_text_str(x);
}

static void test_diag_line(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_text *x = NULL;

	(void)state;
	assert_int_equal(xp_diag_text(ctx, &diags[0], &x), XP_OK);
	assert_string_equal(
	        text(x), "warning: partner 'z.test': row nine [matrix row 9]");
	xp_text_free(x);
	/* the suggestion only when the message does not name it */
	assert_int_equal(xp_diag_text(ctx, &diags[1], &x), XP_OK);
	assert_string_equal(text(x), "error: partner 'a.test': unknown key "
	                             "'tsl'; did you mean 'tls'?");
	xp_text_free(x);
	assert_int_equal(xp_diag_text(ctx, &diags[2], &x), XP_OK);
	assert_string_equal(text(x), "error: option 'default' is odd (deny)");
	xp_text_free(x);
	assert_int_equal(xp_diag_text(ctx, NULL, &x), XP_EINVAL);
	assert_int_equal(xp_diag_text(NULL, &diags[0], &x), XP_EINVAL);
	xp_ctx_free(ctx);
}

static void test_check_text(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_text *x = NULL;

	(void)state;
	assert_int_equal(
	        xp_check_text(ctx, diags, 1, 1, 3, XP_HOST_PROSODY, &x), XP_OK);
	assert_string_equal(
	        text(x), "warning: partner 'z.test': row nine [matrix row 9]\n"
	                 "partner table valid: 3 partner(s), 1 warning(s)\n");
	xp_text_free(x);
	/* global first, then by partner, whatever order the host gave */
	assert_int_equal(
	        xp_check_text(ctx, diags, 3, 0, 0, XP_HOST_EJABBERD, &x),
	        XP_OK);
	assert_string_equal(
	        text(x), "error: option 'default' is odd (deny)\n"
	                 "error: partner 'a.test': unknown key 'tsl'; did you "
	                 "mean 'tls'?\n"
	                 "warning: partner 'z.test': row nine [matrix row 9]\n"
	                 "partner table INVALID: 2 error(s), 1 warning(s); fix "
	                 "them in the configuration or with ejabberdctl "
	                 "partners_set/partners_remove\n");
	xp_text_free(x);
	assert_int_equal(
	        xp_check_text(ctx, diags, 3, 0, 0, XP_HOST_PROSODY, &x), XP_OK);
	assert_non_null(strstr(text(x), "or with partners:set/remove\n"));
	xp_text_free(x);
	assert_int_equal(xp_check_text(ctx, NULL, 0, 1, 0, XP_HOST_PROSODY, &x),
	                 XP_OK);
	assert_string_equal(
	        text(x), "partner table valid: 0 partner(s), 0 warning(s)\n");
	xp_text_free(x);
	assert_int_equal(xp_check_text(ctx, NULL, 2, 1, 0, XP_HOST_PROSODY, &x),
	                 XP_EINVAL);
	assert_int_equal(
	        xp_check_text(ctx, diags, 1, 1, 0, XP_HOST_PROSODY, NULL),
	        XP_EINVAL);
	xp_ctx_free(ctx);
}

static void test_alloc_failure(void **state)
{
	test_alloc a = {0, 0, 0, 0, 0};
	xp_ctx *ctx = test_ctx(&a, NULL);
	xp_text *x;
	long i, live = a.live;
	int rc, failures = 0;

	(void)state;
	for (i = 1; i < 20; i++) {
		x = NULL;
		a.fail_at = a.calls + i;
		rc = xp_check_text(ctx, diags, 3, 0, 0, XP_HOST_PROSODY, &x);
		a.fail_at = 0;
		assert_true(rc == XP_OK || rc == XP_ENOMEM);
		if (rc == XP_OK) {
			assert_non_null(strstr(text(x), "INVALID"));
			xp_text_free(x);
			break;
		}
		assert_null(x);
		assert_int_equal(a.live, live);
		failures++;
	}
	assert_true(failures >= 3); /* order, text, buffer (and growth) */
	assert_int_equal(a.live, live);
	xp_ctx_free(ctx);
}

static void test_show(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	static const test_partner ps[] = {
	        {"fab.test",
	         "federated",
	         "optional",
	         "optional",
	         1,
	         {"corp.fab.test", "x.fab.test", NULL},
	         7},
	};
	xp_table *t = NULL;
	xp_text *x = NULL;

	(void)state;
	assert_int_equal(test_build(ctx, ps, 1, NULL, &t, NULL), XP_OK);
	assert_int_equal(
	        xp_show_text(ctx, t, "Corp.Fab.Test", 13, "config", &x), XP_OK);
	assert_string_equal(
	        xp_text_str(x),
	        "domain               fab.test  (corp.fab.test is one of its "
	        "domains)\n"
	        "source               config\n"
	        "description          -\n"
	        "type                 federated\n"
	        "tls                  optional\n"
	        "sasl                 optional\n"
	        "dialback             true\n"
	        "additional_domains   corp.fab.test,x.fab.test\n"
	        "proxy                -\n"
	        "connection_limit     7\n"
	        "keepalive            true\n"
	        "fingerprints         -\n"
	        "matrix row           9 (warn)\n"
	        "methods              sasl_tls,dialback_tls,dialback_tcp\n"
	        "reason               SASL requires TLS: a peer that skips TLS "
	        "can "
	        "only use dialback over plain TCP\n");
	xp_text_free(x);
	x = NULL;
	assert_int_equal(xp_show_text(ctx, t, "evil.test", 9, NULL, &x),
	                 XP_ENOTFOUND);
	assert_string_equal(xp_text_str(x), "evil.test is not a partner: not a "
	                                    "partner");
	xp_text_free(x);
	x = NULL;
	assert_int_equal(xp_show_text(ctx, t, "a b", 3, NULL, &x), XP_EINVAL);
	assert_non_null(strstr(xp_text_str(x), "a b is not a valid domain: "));
	xp_text_free(x);
	assert_int_equal(xp_show_text(ctx, NULL, "a.test", 6, NULL, &x),
	                 XP_EINVAL);
	xp_table_unref(t);
	xp_ctx_free(ctx);
}

static void test_list(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	static const test_partner ps[] = {
	        {"a.test", "federated", NULL, NULL, -1, {"x.a.test", NULL}, 0},
	        {"longer-name.test",
	         "public_unverified",
	         "optional",
	         "optional",
	         1,
	         {NULL},
	         0},
	};
	static const xp_list_row rows[] = {{"a.test", "config", 2},
	                                   {"longer-name.test", NULL, 0}};
	static const char *const removed[] = {"gone.test", "old.test"};
	xp_table *t = NULL;
	xp_text *x = NULL;

	(void)state;
	assert_int_equal(test_build(ctx, ps, 2, NULL, &t, NULL), XP_OK);
	assert_int_equal(xp_list_text(ctx, t, rows, 2, 2, NULL, NULL, 0, &x),
	                 XP_OK);
	assert_string_equal(
	        xp_text_str(x),
	        "domain            type               tls/sasl/dialback        "
	        "extra domains  source  live\n"
	        "----------------  -----------------  -----------------------  "
	        "-------------  ------  ----\n"
	        "a.test            federated          required/required/false  "
	        "x.a.test       config  2\n"
	        "longer-name.test  public_unverified  optional/optional/true   "
	        "-              ?       0\n"
	        "2 partner(s); unlisted domains refused\n");
	xp_text_free(x);
	/* one row of two matching "test", two removals */
	assert_int_equal(
	        xp_list_text(ctx, t, rows, 1, 2, "test", removed, 2, &x),
	        XP_OK);
	assert_non_null(
	        strstr(xp_text_str(x),
	               "\n... and 1 more: partners:list(PATTERN) lists"));
	assert_non_null(
	        strstr(xp_text_str(x),
	               "\n2 partner(s), 2 with 'test' in the domain; "
	               "unlisted domains refused\nremoved at runtime "
	               "(config entries hidden): gone.test, old.test\n"));
	xp_text_free(x);
	assert_int_equal(xp_list_text(ctx, t, NULL, 1, 1, NULL, NULL, 0, &x),
	                 XP_EINVAL);
	assert_int_equal(xp_list_text(ctx, t, rows, 0, 0, NULL, NULL, 1, &x),
	                 XP_EINVAL);
	xp_table_unref(t);
	/* the failing-closed table says so */
	t = xp_table_new_closed(ctx);
	assert_int_equal(xp_list_text(ctx, t, NULL, 0, 0, NULL, NULL, 0, &x),
	                 XP_OK);
	assert_non_null(strstr(xp_text_str(x), "refuses every domain"));
	xp_text_free(x);
	xp_table_unref(t);
	xp_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_diag_line),
	        cmocka_unit_test(test_check_text),
	        cmocka_unit_test(test_alloc_failure),
	        cmocka_unit_test(test_show),
	        cmocka_unit_test(test_list),
	};
	return TEST_RUN("texts", tests);
}
