/*
 * test_texts.c: the admin texts of the core (module/core/texts.c): the one
 * diagnostic line, the check text (sorted by partner, the verdict in the
 * host's words), the change results and the export, bad input and every
 * allocation failing in turn.
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

/* ---- admin change results and the export ---------------------------------- */

static const char *const two_items[] = {"pa2.test", "pa3.test"};
static const size_t two_lens[] = {8, 8};

static void test_change_text(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_text_value list = {XP_VALUE_LIST, 0,        0, NULL, 0,
	                      two_items,     two_lens, 2};
	xp_text_value yes = {XP_VALUE_BOOLEAN, 1, 0, NULL, 0, NULL, NULL, 0};
	xp_text_value word = {
	        XP_VALUE_STRING, 0, 0, "optional", 8, NULL, NULL, 0};
	xp_change c = {XP_CHANGE_ADD, "pb.test", NULL, NULL, NULL, NULL, 0};
	xp_text *x = NULL;

	(void)state;
	assert_int_equal(xp_change_text(ctx, XP_HOST_PROSODY, &c, NULL, &x),
	                 XP_OK);
	assert_string_equal(text(x), "pb.test added (runtime, stored)");
	xp_text_free(x);
	c.op = XP_CHANGE_SET;
	c.key = "tls";
	c.value = &word;
	c.typed = "optional";
	/* the hosts agree but for how a value is written */
	assert_int_equal(xp_change_text(ctx, XP_HOST_PROSODY, &c, "", &x),
	                 XP_OK);
	assert_string_equal(text(x),
	                    "pb.test: tls = \"optional\" (runtime, stored)");
	xp_text_free(x);
	assert_int_equal(xp_change_text(ctx, XP_HOST_EJABBERD, &c, NULL, &x),
	                 XP_OK);
	assert_string_equal(text(x),
	                    "pb.test: tls = optional (runtime, stored)");
	xp_text_free(x);
	c.key = "keepalive";
	c.value = &yes;
	c.typed = "yes";
	assert_int_equal(
	        xp_change_text(ctx, XP_HOST_PROSODY, &c, "warning: w", &x),
	        XP_OK);
	assert_string_equal(text(x),
	                    "pb.test: keepalive = true (\"yes\" read as "
	                    "true) (runtime, stored)\nwarning: w");
	xp_text_free(x);
	c.value = NULL;
	c.typed = NULL;
	assert_int_equal(xp_change_text(ctx, XP_HOST_EJABBERD, &c, NULL, &x),
	                 XP_OK);
	assert_string_equal(text(x),
	                    "pb.test: keepalive = none (runtime, stored)");
	xp_text_free(x);
	c.key = "additional_domains";
	c.value = &list;
	assert_int_equal(xp_change_text(ctx, XP_HOST_EJABBERD, &c, NULL, &x),
	                 XP_OK);
	assert_string_equal(text(x), "pb.test: additional_domains = [pa2.test, "
	                             "pa3.test] (runtime, stored)");
	xp_text_free(x);
	assert_int_equal(xp_change_text(ctx, XP_HOST_PROSODY, &c, NULL, &x),
	                 XP_OK);
	assert_string_equal(text(x),
	                    "pb.test: additional_domains = { "
	                    "\"pa2.test\", \"pa3.test\" } (runtime, stored)");
	xp_text_free(x);
	c.op = XP_CHANGE_REMOVE;
	c.hidden = "pb.test";
	assert_int_equal(xp_change_text(ctx, XP_HOST_EJABBERD, &c, NULL, &x),
	                 XP_OK);
	assert_string_equal(text(x),
	                    "pb.test removed (its configured entry stays "
	                    "hidden until partners_reset pb.test)");
	xp_text_free(x);
	c.op = XP_CHANGE_RESET_BACKOFF;
	c.count = 1;
	assert_int_equal(xp_change_text(ctx, XP_HOST_EJABBERD, &c, NULL, &x),
	                 XP_OK);
	assert_string_equal(text(x),
	                    "refusal back-off of pb.test ended (1 "
	                    "origin); its next stream is judged afresh");
	xp_text_free(x);
	/* bad input: no domain, an unknown op, SET without a key, a list
	 * without its items */
	c.domain = NULL;
	assert_int_equal(xp_change_text(ctx, XP_HOST_PROSODY, &c, NULL, &x),
	                 XP_EINVAL);
	c.domain = "pb.test";
	c.op = (xp_change_op)99;
	assert_int_equal(xp_change_text(ctx, XP_HOST_PROSODY, &c, NULL, &x),
	                 XP_EINVAL);
	c.op = XP_CHANGE_SET;
	c.key = NULL;
	assert_int_equal(xp_change_text(ctx, XP_HOST_PROSODY, &c, NULL, &x),
	                 XP_EINVAL);
	c.key = "fingerprints";
	list.items = NULL;
	assert_int_equal(xp_change_text(ctx, XP_HOST_PROSODY, &c, NULL, &x),
	                 XP_EINVAL);
	assert_int_equal(xp_change_text(NULL, XP_HOST_PROSODY, &c, NULL, &x),
	                 XP_EINVAL);
	assert_int_equal(xp_change_text(ctx, XP_HOST_PROSODY, &c, NULL, NULL),
	                 XP_EINVAL);
	xp_ctx_free(ctx);
}

static void test_change_refused(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_change c = {XP_CHANGE_ADD, "bad.test", NULL, NULL, NULL, NULL, 0};
	xp_text *x = NULL;

	(void)state;
	/* errors only, each on its line */
	assert_int_equal(xp_change_refused_text(ctx, XP_HOST_EJABBERD, &c,
	                                        XP_REFUSE_INVALID, NULL, diags,
	                                        3, &x),
	                 XP_OK);
	assert_string_equal(text(x),
	                    "adding bad.test refused, nothing changed:\n"
	                    "error: partner 'a.test': unknown key 'tsl'; "
	                    "did you mean 'tls'?\n"
	                    "error: option 'default' is odd (deny)");
	xp_text_free(x);
	c.op = XP_CHANGE_SET;
	c.key = "tls";
	assert_int_equal(xp_change_refused_text(ctx, XP_HOST_PROSODY, &c,
	                                        XP_REFUSE_STORE, "disk full",
	                                        NULL, 0, &x),
	                 XP_OK);
	assert_string_equal(text(x), "setting tls of bad.test refused, nothing "
	                             "changed: the change could not be stored "
	                             "(disk full); check the storage "
	                             "configuration and the data directory "
	                             "permissions");
	xp_text_free(x);
	assert_int_equal(xp_change_refused_text(ctx, XP_HOST_EJABBERD, &c,
	                                        XP_REFUSE_ADDITIONAL, "p.test",
	                                        NULL, 0, &x),
	                 XP_OK);
	assert_string_equal(text(x), "bad.test is an additional domain of "
	                             "p.test; change p.test instead");
	xp_text_free(x);
	assert_int_equal(xp_change_refused_text(ctx, XP_HOST_EJABBERD, &c,
	                                        XP_REFUSE_NOT_PARTNER, NULL,
	                                        NULL, 0, &x),
	                 XP_OK);
	assert_string_equal(text(x), "bad.test is not a partner; add it with "
	                             "partners_add bad.test RECORD");
	xp_text_free(x);
	/* bad input: a detail missing where it is named, diags NULL with a
	 * count, an unknown refusal */
	assert_int_equal(xp_change_refused_text(ctx, XP_HOST_EJABBERD, &c,
	                                        XP_REFUSE_ADDITIONAL, NULL,
	                                        NULL, 0, &x),
	                 XP_EINVAL);
	assert_int_equal(xp_change_refused_text(ctx, XP_HOST_EJABBERD, &c,
	                                        XP_REFUSE_INVALID, NULL, NULL,
	                                        2, &x),
	                 XP_EINVAL);
	assert_int_equal(xp_change_refused_text(ctx, XP_HOST_EJABBERD, &c,
	                                        (xp_change_refusal)42, NULL,
	                                        NULL, 0, &x),
	                 XP_EINVAL);
	xp_ctx_free(ctx);
}

static const xp_export_field b_fields[] = {
        {"tls", {XP_VALUE_STRING, 0, 0, "optional", 8, NULL, NULL, 0}},
        {"zz odd", {XP_VALUE_INTEGER, 0, 7, NULL, 0, NULL, NULL, 0}},
        {"description",
         {XP_VALUE_STRING, 0, 0, "a \"q\"\n\0019\x7f", 9, NULL, NULL, 0}},
        {"proxy", {XP_VALUE_UNSET, 0, 0, NULL, 0, NULL, NULL, 0}},
        {"type", {XP_VALUE_STRING, 0, 0, "federated", 9, NULL, NULL, 0}},
};
static const xp_export_field a_fields[] = {
        {"additional_domains",
         {XP_VALUE_LIST, 0, 0, NULL, 0, two_items, two_lens, 2}},
        {"dialback", {XP_VALUE_BOOLEAN, 0, 0, NULL, 0, NULL, NULL, 0}},
};
static const xp_export_record records[] = {
        {"b.test", "runtime (overrides config)", b_fields, 5},
        {"a.test", NULL, a_fields, 2},
        {"c.test", "file /etc/p.lua", NULL, 0},
};
static const xp_export_field options[] = {
        {"keepalive_interval",
         {XP_VALUE_INTEGER, 0, 60, NULL, 0, NULL, NULL, 0}},
        {"unknown_option", {XP_VALUE_INTEGER, 0, 1, NULL, 0, NULL, NULL, 0}},
        {"default", {XP_VALUE_STRING, 0, 0, "deny", 4, NULL, NULL, 0}},
};

static void test_export(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_export_record bad = {NULL, "config", NULL, 0};
	xp_text *x = NULL;

	(void)state;
	assert_int_equal(xp_export_text(ctx, options, 3, records, 3, &x),
	                 XP_OK);
	assert_string_equal(
	        text(x),
	        "-- xmpp_partners: effective partner table (config plus "
	        "runtime changes)\n"
	        "xmpp_partners_default = \"deny\"\n"
	        "xmpp_partners_keepalive_interval = 60\n"
	        "xmpp_partners = {\n"
	        "\t[\"a.test\"] = { dialback = false; additional_domains = { "
	        "\"pa2.test\", \"pa3.test\" } }; -- ?\n"
	        "\t[\"b.test\"] = { description = \"a "
	        "\\\"q\\\"\\\n\\0019\\127\"; "
	        "type = \"federated\"; tls = \"optional\"; [\"zz odd\"] = 7 }; "
	        "-- runtime (overrides config)\n"
	        "\t[\"c.test\"] = {}; -- file /etc/p.lua\n"
	        "}");
	xp_text_free(x);
	assert_int_equal(xp_export_text(ctx, NULL, 0, NULL, 0, &x), XP_OK);
	assert_string_equal(text(x),
	                    "-- xmpp_partners: effective partner table "
	                    "(config plus runtime changes)\n"
	                    "xmpp_partners = {\n}");
	xp_text_free(x);
	assert_int_equal(xp_export_text(ctx, NULL, 0, &bad, 1, &x), XP_EINVAL);
	assert_int_equal(xp_export_text(ctx, NULL, 2, NULL, 0, &x), XP_EINVAL);
	assert_int_equal(xp_export_text(NULL, NULL, 0, NULL, 0, &x), XP_EINVAL);
	xp_ctx_free(ctx);
}

/* Every allocation failing in turn: XP_ENOMEM, nothing leaked, until the
 * text is made. */
static void test_change_alloc_failure(void **state)
{
	test_alloc a = {0, 0, 0, 0, 0};
	xp_ctx *ctx = test_ctx(&a, NULL);
	xp_text_value word = {XP_VALUE_STRING, 0, 0, "yes", 3, NULL, NULL, 0};
	xp_text_value yes = {XP_VALUE_BOOLEAN, 1, 0, NULL, 0, NULL, NULL, 0};
	xp_change c = {XP_CHANGE_SET, "pb.test", "keepalive", &yes, "yes",
	               NULL,          0};
	long live = a.live, k;
	int rc, step, failures;
	xp_text *x;

	(void)state;
	(void)word;
	for (step = 0; step < 3; step++) {
		failures = 0;
		for (k = 1; k < 100; k++) {
			x = NULL;
			a.fail_at = a.calls + k;
			if (step == 0)
				rc = xp_change_text(ctx, XP_HOST_PROSODY, &c,
				                    "warning: w", &x);
			else if (step == 1)
				rc = xp_change_refused_text(
				        ctx, XP_HOST_PROSODY, &c,
				        XP_REFUSE_INVALID, NULL, diags, 3, &x);
			else
				rc = xp_export_text(ctx, options, 3, records, 3,
				                    &x);
			a.fail_at = 0;
			assert_true(rc == XP_OK || rc == XP_ENOMEM);
			if (rc == XP_OK) {
				assert_true(xp_text_len(x) > 0);
				xp_text_free(x);
				break;
			}
			assert_null(x);
			assert_int_equal(a.live, live);
			failures++;
		}
		assert_true(failures >= (step == 2 ? 3 : 1));
	}
	assert_int_equal(a.live, live);
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
	        cmocka_unit_test(test_change_text),
	        cmocka_unit_test(test_change_refused),
	        cmocka_unit_test(test_export),
	        cmocka_unit_test(test_change_alloc_failure),
	};
	return TEST_RUN("texts", tests);
}
