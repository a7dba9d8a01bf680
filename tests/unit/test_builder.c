/*
 * test_builder.c: records and options from host input: defaults, every key
 * and type, error texts that name partner, key and fix, duplicate domains,
 * never half-applying, and allocation failure at every allocation site.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define S(x) x, strlen(x)

static xp_builder *one(xp_ctx *ctx, const char *domain)
{
	xp_builder *b = xp_builder_new(ctx);
	assert_non_null(b);
	assert_int_equal(xp_builder_begin(b, S(domain)), XP_OK);
	return b;
}

static const xp_diag *only_error(xp_builder *b)
{
	xp_table *t = NULL;
	assert_int_equal(xp_builder_end(b), XP_OK);
	assert_int_equal(xp_builder_finish(b, &t), XP_ECONFIG);
	assert_null(t);
	assert_int_equal(xp_builder_error_count(b), 1);
	return xp_builder_diag(b, 0);
}

static void test_defaults(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b = one(ctx, "fabrikam.com");
	xp_table *t = NULL;
	const xp_partner *p;
	unsigned port = 1;

	(void)state;
	assert_int_equal(xp_builder_end(b), XP_OK);
	assert_int_equal(xp_builder_finish(b, &t), XP_OK);
	assert_int_equal(xp_builder_diag_count(b), 0);
	p = xp_table_at(t, 0);
	assert_string_equal(xp_partner_domain(p), "fabrikam.com");
	assert_string_equal(xp_partner_description(p), "");
	assert_int_equal(xp_partner_additional_count(p), 0);
	assert_int_equal(xp_partner_get_type(p), XP_TYPE_PUBLIC_UNVERIFIED);
	assert_int_equal(xp_partner_tls(p), XP_TLS_REQUIRED);
	assert_int_equal(xp_partner_sasl(p), XP_SASL_REQUIRED);
	assert_int_equal(xp_partner_dialback(p), 0);
	assert_null(xp_partner_proxy(p, &port));
	assert_int_equal(port, 0);
	assert_int_equal(xp_partner_connection_limit(p), 20);
	assert_int_equal(xp_partner_keepalive(p), 1);
	assert_int_equal(xp_partner_fingerprint_count(p), 0);
	assert_int_equal(xp_partner_row(p)->row, 2);
	assert_int_equal(xp_partner_is_default(p), 0);
	assert_int_equal(xp_table_default_policy(t), XP_DEFAULT_DENY);
	assert_int_equal(xp_table_keepalive_interval(t), 300);
	assert_int_equal(xp_table_connection_limit(t), 1000);
	xp_table_unref(t);
	xp_builder_free(b);
	xp_ctx_free(ctx);
}

static void test_every_key(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b = one(ctx, "Fabrikam.com.");
	const char *add[] = {"corp.fabrikam.com", "FABRIKAM.NET"};
	size_t addl[] = {17, 12};
	const char *pins[] = {
	        "sha256:"
	        "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddee"
	        "ff",
	        "sha256:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:"
	        "22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:fe"};
	size_t pinl[2];
	xp_table *t = NULL;
	const xp_partner *p;
	unsigned port;

	(void)state;
	pinl[0] = strlen(pins[0]);
	pinl[1] = strlen(pins[1]);
	assert_int_equal(
	        xp_builder_set_string(b, "description", S("Fabrikam Inc.")),
	        XP_OK);
	assert_int_equal(
	        xp_builder_set_list(b, "additional_domains", add, addl, 2),
	        XP_OK);
	assert_int_equal(xp_builder_set_string(b, "type", S("federated")),
	                 XP_OK);
	assert_int_equal(xp_builder_set_string(b, "tls", S("optional")), XP_OK);
	assert_int_equal(xp_builder_set_string(b, "sasl", S("not_supported")),
	                 XP_OK);
	assert_int_equal(xp_builder_set_boolean(b, "dialback", 1), XP_OK);
	assert_int_equal(
	        xp_builder_set_string(b, "proxy", S("xmpp.Fabrikam.com:5270")),
	        XP_OK);
	assert_int_equal(xp_builder_set_integer(b, "connection_limit", 5),
	                 XP_OK);
	assert_int_equal(xp_builder_set_boolean(b, "keepalive", 0), XP_OK);
	assert_int_equal(xp_builder_set_list(b, "fingerprints", pins, pinl, 2),
	                 XP_OK);
	assert_int_equal(xp_builder_end(b), XP_OK);
	assert_int_equal(xp_builder_finish(b, &t), XP_OK);
	assert_int_equal(xp_builder_diag_count(b), 0);
	p = xp_table_at(t, 0);
	assert_string_equal(xp_partner_domain(p), "fabrikam.com");
	assert_string_equal(xp_partner_description(p), "Fabrikam Inc.");
	assert_int_equal(xp_partner_additional_count(p), 2);
	assert_string_equal(xp_partner_additional(p, 1), "fabrikam.net");
	assert_null(xp_partner_additional(p, 2));
	assert_int_equal(xp_partner_get_type(p), XP_TYPE_FEDERATED);
	assert_int_equal(xp_partner_row(p)->row, 15);
	assert_string_equal(xp_partner_proxy(p, &port), "xmpp.fabrikam.com");
	assert_int_equal(port, 5270);
	assert_int_equal(xp_partner_connection_limit(p), 5);
	assert_int_equal(xp_partner_keepalive(p), 0);
	assert_int_equal(xp_partner_fingerprint_count(p), 2);
	assert_string_equal(xp_partner_fingerprint(p, 0),
	                    "sha256:"
	                    "00112233445566778899aabbccddeeff001122334455667788"
	                    "99aabbccddeeff");
	assert_null(xp_partner_fingerprint(p, 2));
	assert_ptr_equal(xp_table_lookup(t, S("corp.fabrikam.com")), p);
	xp_table_unref(t);
	xp_builder_free(b);
	xp_ctx_free(ctx);
}

static void test_unknown_keys(void **state)
{
	static const struct {
		const char *key, *suggestion, *text;
	} cases[] = {
	        {"dialbak", "dialback", "did you mean 'dialback'?"},
	        {"tsl", "tls", "did you mean 'tls'?"},
	        {"additional_domain", "additional_domains", "did you mean"},
	        {"TlsNegotiation", "tls", "Lync"},
	        {"SupportDialbackNegotiation", "dialback", "Lync"},
	        {"ProxyFqdn", "proxy", "write 'proxy'"},
	        {"colour", NULL, "the keys are"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		xp_ctx *ctx = test_ctx(NULL, NULL);
		xp_builder *b = one(ctx, "fabrikam.com");
		const xp_diag *d;
		xp_builder_set_string(b, cases[i].key, S("x"));
		d = only_error(b);
		assert_string_equal(d->partner, "fabrikam.com");
		assert_string_equal(d->key, cases[i].key);
		assert_non_null(strstr(d->message, "partner 'fabrikam.com'"));
		assert_non_null(strstr(d->message, cases[i].key));
		if (strstr(d->message, cases[i].text) == NULL)
			fail_msg("%s: '%s'", cases[i].key, d->message);
		if (cases[i].suggestion)
			assert_string_equal(d->suggestion, cases[i].suggestion);
		else
			assert_null(d->suggestion);
		xp_builder_free(b);
		xp_ctx_free(ctx);
	}
}

static void test_wrong_types(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b;
	const xp_diag *d;
	const char *one_item[] = {"x"};
	size_t one_len[] = {1};

	(void)state;
	b = one(ctx, "fabrikam.com");
	xp_builder_set_string(b, "dialback", S("true"));
	d = only_error(b);
	assert_string_equal(d->key, "dialback");
	assert_non_null(strstr(d->message, "must be true or false"));
	assert_non_null(strstr(d->message, "without quotes"));
	xp_builder_free(b);

	b = one(ctx, "fabrikam.com");
	xp_builder_set_integer(b, "tls", 1);
	d = only_error(b);
	assert_non_null(strstr(d->message, "'tls' must be a string"));
	xp_builder_free(b);

	b = one(ctx, "fabrikam.com");
	xp_builder_set_list(b, "tls", one_item, one_len, 1);
	d = only_error(b);
	assert_non_null(strstr(d->message, "not a list"));
	xp_builder_free(b);

	b = one(ctx, "fabrikam.com");
	xp_builder_set_string(b, "additional_domains", S("corp.fabrikam.com"));
	d = only_error(b);
	assert_non_null(strstr(d->message, "braces"));
	xp_builder_free(b);

	b = one(ctx, "fabrikam.com");
	xp_builder_set_number(b, "connection_limit", 2.5);
	d = only_error(b);
	assert_non_null(strstr(d->message, "whole number"));
	xp_builder_free(b);

	b = one(ctx, "fabrikam.com");
	xp_builder_set_number(b, "connection_limit", 7.0); /* Lua 5.2 style */
	assert_int_equal(xp_builder_end(b), XP_OK);
	assert_int_equal(xp_builder_error_count(b), 0);
	xp_builder_free(b);

	b = one(ctx, "fabrikam.com");
	xp_builder_set_invalid(b, "keepalive", "function");
	d = only_error(b);
	assert_non_null(
	        strstr(d->message,
	               "'keepalive' must be true or false, not a function"));
	xp_builder_free(b);

	b = one(ctx, "fabrikam.com");
	xp_builder_record_invalid(b, "string");
	xp_builder_set_string(b, "tls", S("required")); /* ignored after */
	d = only_error(b);
	assert_non_null(strstr(d->message, "must be a table"));
	xp_builder_free(b);
	xp_ctx_free(ctx);
}

static void test_bad_values(void **state)
{
	static const struct {
		const char *key, *value, *text, *suggestion;
	} cases[] = {
	        {"tls", "requried",
	         "use \"required\", \"optional\" or \"not_supported\"",
	         "required"},
	        {"sasl", "off", "not_supported", "not_supported"},
	        {"type", "federeted", "did you mean \"federated\"",
	         "federated"},
	        {"type", "partner", "\"public_unverified\"", NULL},
	        {"proxy", "xmpp.fabrikam.com:0", "bad port", NULL},
	        {"proxy", "xmpp.fabrikam.com:99999", "bad port", NULL},
	        {"proxy", "xmpp.fabrikam.com:http", "bad port", NULL},
	        {"proxy", "xmpp fabrikam", "white space", NULL},
	        {"proxy", "[::1", "not a host", NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		xp_ctx *ctx = test_ctx(NULL, NULL);
		xp_builder *b = one(ctx, "fabrikam.com");
		const xp_diag *d;
		xp_builder_set_string(b, cases[i].key, S(cases[i].value));
		d = only_error(b);
		assert_string_equal(d->key, cases[i].key);
		if (strstr(d->message, cases[i].text) == NULL)
			fail_msg("%s=%s: '%s'", cases[i].key, cases[i].value,
			         d->message);
		if (cases[i].suggestion)
			assert_string_equal(d->suggestion, cases[i].suggestion);
		xp_builder_free(b);
		xp_ctx_free(ctx);
	}
}

static void test_limits_and_lists(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b;
	const xp_diag *d;
	const char *items[] = {"ok.fabrikam.com", NULL, "bad domain"};
	size_t lens[] = {15, 0, 10};
	const char *pins[] = {"sha1:0011", "sha256:zz"};
	size_t pinl[] = {9, 9};

	(void)state;
	b = one(ctx, "fabrikam.com");
	xp_builder_set_integer(b, "connection_limit", 0);
	d = only_error(b);
	assert_non_null(strstr(d->message, "from 1 to"));
	xp_builder_free(b);

	b = one(ctx, "fabrikam.com");
	xp_builder_set_list(b, "additional_domains", items, lens, 3);
	xp_builder_end(b);
	assert_int_equal(xp_builder_error_count(b), 2);
	assert_non_null(test_find_diag(b, "item 2 is not a string"));
	assert_non_null(test_find_diag(b, "'bad domain' contains white space"));
	xp_builder_free(b);

	b = one(ctx, "fabrikam.com");
	xp_builder_set_list(b, "fingerprints", pins, pinl, 2);
	xp_builder_end(b);
	assert_int_equal(xp_builder_error_count(b), 2);
	assert_non_null(test_find_diag(b, "item 1 is not a pin"));
	xp_builder_free(b);

	b = one(ctx, "fabrikam.com");
	xp_builder_set_string(b, "tls", S("optional"));
	xp_builder_set_string(b, "tls", S("required"));
	d = only_error(b);
	assert_non_null(strstr(d->message, "given twice"));
	xp_builder_free(b);

	/* proxy forms */
	b = one(ctx, "fabrikam.com");
	xp_builder_set_string(b, "proxy", S("127.71.0.9"));
	xp_builder_end(b);
	xp_builder_begin(b, S("contoso.com"));
	xp_builder_set_string(b, "proxy", S("[::1]:5270"));
	xp_builder_end(b);
	{
		xp_table *t = NULL;
		unsigned port;
		assert_int_equal(xp_builder_finish(b, &t), XP_OK);
		assert_string_equal(xp_partner_proxy(xp_table_at(t, 0), &port),
		                    "127.71.0.9");
		assert_int_equal(port, 5269);
		assert_string_equal(xp_partner_proxy(xp_table_at(t, 1), &port),
		                    "[::1]");
		assert_int_equal(port, 5270);
		xp_table_unref(t);
	}
	xp_builder_free(b);
	xp_ctx_free(ctx);
}

static void test_bad_domains(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b = xp_builder_new(ctx);
	xp_table *t = NULL;

	(void)state;
	xp_builder_begin(b, S("*.fabrikam.com"));
	xp_builder_end(b);
	xp_builder_begin(b, S("fabrikam.com:5269"));
	xp_builder_end(b);
	xp_builder_begin(b, S("user@contoso.com"));
	xp_builder_set_string(b, "tlss", S("x")); /* still checked */
	xp_builder_end(b);
	assert_int_equal(xp_builder_finish(b, &t), XP_ECONFIG);
	assert_int_equal(xp_builder_error_count(b), 4);
	assert_non_null(test_find_diag(b, "partner '*.fabrikam.com': the "
	                                  "domain wildcards are not allowed"));
	assert_non_null(test_find_diag(b, "port"));
	assert_non_null(test_find_diag(b, "local part"));
	assert_non_null(test_find_diag(b, "did you mean 'tls'"));
	xp_builder_free(b);
	xp_ctx_free(ctx);
}

static void test_duplicates(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_table *t = NULL;
	xp_builder *b = NULL;
	test_partner two[] = {
	        {"fabrikam.com",
	         NULL,
	         NULL,
	         NULL,
	         -1,
	         {"corp.fabrikam.com"},
	         0},
	        {"Corp.Fabrikam.com.", NULL, NULL, NULL, -1, {NULL}, 0},
	};
	test_partner self[] = {
	        {"fabrikam.com", NULL, NULL, NULL, -1, {"FABRIKAM.com"}, 0},
	};
	const xp_diag *d;

	(void)state;
	assert_int_equal(test_build(ctx, two, 2, NULL, &t, &b), XP_ECONFIG);
	assert_null(t);
	d = test_find_diag(b, "may belong to one partner only");
	assert_non_null(d);
	assert_non_null(strstr(d->message, "'corp.fabrikam.com'"));
	assert_non_null(strstr(
	        d->message, "partner 'fabrikam.com' (in additional_domains)"));
	/* quoted as written (issue 20) */
	assert_non_null(strstr(d->message, "by partner 'Corp.Fabrikam.com.'"));
	xp_builder_free(b);

	assert_int_equal(test_build(ctx, self, 1, NULL, &t, &b), XP_ECONFIG);
	assert_non_null(test_find_diag(b, "again by the same partner"));
	xp_builder_free(b);

	/* Every duplicate is reported at once, also next to other errors. */
	{
		test_partner many[] = {
		        {"a.test", NULL, "requried", NULL, -1, {NULL}, 0},
		        {"b.test",
		         NULL,
		         NULL,
		         NULL,
		         -1,
		         {"a.test", "c.test"},
		         0},
		        {"c.test", NULL, NULL, NULL, -1, {NULL}, 0},
		        {"d.test", NULL, NULL, NULL, -1, {NULL}, 0},
		        {"e.test", NULL, NULL, NULL, -1, {"d.test"}, 0},
		};
		assert_int_equal(test_build(ctx, many, 5, NULL, &t, &b),
		                 XP_ECONFIG);
		assert_int_equal(xp_builder_error_count(b), 3);
		assert_non_null(test_find_diag(b, "'tls' is \"requried\""));
		assert_non_null(test_find_diag(b, "domain 'c.test'"));
		assert_non_null(test_find_diag(b, "domain 'd.test'"));
		xp_builder_free(b);
	}
	xp_ctx_free(ctx);
}

/* The bounds on unauthenticated streams (issue 19): defaults, prefix
 * optional, ranges. */
static void test_preauth_options(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b = xp_builder_new(ctx);
	xp_table *t = NULL;

	(void)state;
	assert_int_equal(xp_builder_finish(b, &t), XP_OK);
	assert_int_equal(xp_table_preauth(t, XP_PENDING_PER_ADDRESS), 10);
	assert_int_equal(xp_table_preauth(t, XP_PENDING_LIMIT), 500);
	assert_int_equal(xp_table_preauth(t, XP_AUTH_TIMEOUT), 30);
	assert_int_equal(xp_table_preauth(t, XP_PREAUTH_BYTES), 65536);
	assert_int_equal(xp_table_preauth(t, XP_PREAUTH_DEPTH), 16);
	assert_int_equal(xp_table_preauth(t, XP_PREAUTH_COUNT), 0);
	assert_string_equal(xp_preauth_option_name(XP_AUTH_TIMEOUT),
	                    "auth_timeout");
	assert_null(xp_preauth_option_name(XP_PREAUTH_COUNT));
	xp_table_unref(t);
	xp_builder_free(b);

	t = NULL;
	b = xp_builder_new(ctx);
	assert_int_equal(xp_builder_option_integer(
	                         b, "xmpp_partners_pending_per_address", 2),
	                 XP_OK);
	assert_int_equal(xp_builder_option_integer(b, "pending_limit", 50),
	                 XP_OK);
	assert_int_equal(xp_builder_option_integer(b, "auth_timeout", 5),
	                 XP_OK);
	assert_int_equal(xp_builder_option_integer(
	                         b, "xmpp_partners_preauth_bytes", 4096),
	                 XP_OK);
	assert_int_equal(xp_builder_option_integer(b, "preauth_depth", 4),
	                 XP_OK);
	assert_int_equal(xp_builder_finish(b, &t), XP_OK);
	assert_int_equal(xp_table_preauth(t, XP_PENDING_PER_ADDRESS), 2);
	assert_int_equal(xp_table_preauth(t, XP_PENDING_LIMIT), 50);
	assert_int_equal(xp_table_preauth(t, XP_AUTH_TIMEOUT), 5);
	assert_int_equal(xp_table_preauth(t, XP_PREAUTH_BYTES), 4096);
	assert_int_equal(xp_table_preauth(t, XP_PREAUTH_DEPTH), 4);
	xp_table_unref(t);
	xp_builder_free(b);

	t = NULL;
	b = xp_builder_new(ctx);
	xp_builder_option_integer(b, "xmpp_partners_preauth_bytes", 100);
	xp_builder_option_integer(b, "auth_timeout", 0);
	xp_builder_option_integer(b, "preauth_depth", 3);
	xp_builder_option_string(b, "pending_limit", S("5"));
	xp_builder_option_integer(b, "xmpp_partners_pending_per_adress", 5);
	assert_int_equal(xp_builder_finish(b, &t), XP_ECONFIG);
	assert_null(t);
	assert_int_equal(xp_builder_error_count(b), 5);
	assert_non_null(test_find_diag(b, "from 4096 to 16777216"));
	assert_non_null(test_find_diag(b, "from 1 to 3600"));
	assert_non_null(test_find_diag(b, "from 4 to 1000"));
	assert_non_null(test_find_diag(b, "whole number of streams"));
	assert_non_null(test_find_diag(
	        b, "did you mean 'xmpp_partners_pending_per_address'"));
	xp_builder_free(b);
	xp_ctx_free(ctx);
}

static void test_options(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b = xp_builder_new(ctx);
	xp_table *t = NULL;

	(void)state;
	assert_int_equal(xp_builder_option_string(b, "xmpp_partners_default",
	                                          S("allow")),
	                 XP_OK);
	assert_int_equal(xp_builder_option_integer(b, "keepalive_interval", 60),
	                 XP_OK);
	assert_int_equal(xp_builder_option_integer(
	                         b, "xmpp_partners_connection_limit", 5),
	                 XP_OK);
	assert_int_equal(xp_builder_finish(b, &t), XP_OK);
	assert_int_equal(xp_table_default_policy(t), XP_DEFAULT_ALLOW);
	assert_int_equal(xp_table_keepalive_interval(t), 60);
	assert_int_equal(xp_table_connection_limit(t), 5);
	assert_int_equal(xp_table_refusal_backoff(t), 300); /* default */
	assert_int_equal(xp_table_count(t), 0);
	xp_table_unref(t);
	xp_builder_free(b);

	t = NULL;
	b = xp_builder_new(ctx);
	xp_builder_option_string(b, "xmpp_partners_default", S("permit"));
	xp_builder_option_integer(b, "xmpp_partners_keepalive_interval", 0);
	xp_builder_option_string(b, "xmpp_partners_connection_limit", S("10"));
	xp_builder_option_integer(b, "xmpp_partners_defualt", 1);
	xp_builder_option_invalid(b, "xmpp_partners", "string");
	xp_builder_option_string(b, "default", S("deny")); /* given twice */
	assert_int_equal(xp_builder_finish(b, &t), XP_ECONFIG);
	assert_null(t);
	assert_int_equal(xp_builder_error_count(b), 6);
	assert_non_null(test_find_diag(b, "use \"deny\""));
	assert_non_null(test_find_diag(b, "from 1 to 86400"));
	assert_non_null(test_find_diag(b, "without quotes"));
	assert_non_null(
	        test_find_diag(b, "did you mean 'xmpp_partners_default'"));
	assert_non_null(test_find_diag(b, "must be a table of partners"));
	assert_non_null(test_find_diag(b, "given twice"));
	assert_null(xp_builder_diag(b, 0)->partner);
	xp_builder_free(b);

	/* refusal_backoff: 0 switches the back-off off; bounded. */
	t = NULL;
	b = xp_builder_new(ctx);
	assert_int_equal(xp_builder_option_integer(
	                         b, "xmpp_partners_refusal_backoff", 0),
	                 XP_OK);
	assert_int_equal(xp_builder_finish(b, &t), XP_OK);
	assert_int_equal(xp_table_refusal_backoff(t), 0);
	xp_table_unref(t);
	xp_builder_free(b);
	t = NULL;
	b = xp_builder_new(ctx);
	xp_builder_option_integer(b, "refusal_backoff", 86401);
	xp_builder_option_integer(b, "refusal_backof", 5);
	assert_int_equal(xp_builder_finish(b, &t), XP_ECONFIG);
	assert_non_null(test_find_diag(b, "'xmpp_partners_refusal_backoff' is "
	                                  "86401; use a whole number from 0 to "
	                                  "86400"));
	assert_non_null(test_find_diag(
	        b, "did you mean 'xmpp_partners_refusal_backoff'?"));
	xp_builder_free(b);
	xp_ctx_free(ctx);
}

/* ejabberd names the options without the prefix: messages follow. */
static void test_ejabberd_names(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b = xp_builder_new(ctx);
	xp_table *t = NULL;

	(void)state;
	xp_builder_set_host_style(b, XP_HOST_EJABBERD);
	xp_builder_option_string(b, "default", S("permit"));
	xp_builder_option_integer(b, "keepalive_intervl", 5);
	xp_builder_option_invalid(b, "partners", "list");
	assert_int_equal(xp_builder_finish(b, &t), XP_ECONFIG);
	assert_non_null(test_find_diag(b, "option 'default' is \"permit\""));
	assert_non_null(
	        test_find_diag(b, "did you mean 'keepalive_interval'?"));
	assert_non_null(test_find_diag(b, "option 'partners' must be a map"));
	assert_null(test_find_diag(b, "xmpp_partners_"));
	xp_builder_free(b);
	xp_ctx_free(ctx);
}

static void test_misuse(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b = xp_builder_new(ctx);
	xp_table *t = NULL;

	(void)state;
	assert_null(xp_builder_new(NULL));
	assert_int_equal(xp_builder_set_string(b, "tls", S("required")),
	                 XP_EINVAL);
	assert_int_equal(xp_builder_end(b), XP_EINVAL);
	assert_int_equal(xp_builder_begin(b, S("a.test")), XP_OK);
	assert_int_equal(xp_builder_begin(b, S("b.test")), XP_EINVAL);
	assert_int_equal(xp_builder_finish(b, &t), XP_EINVAL);
	assert_int_equal(xp_builder_option_string(b, "default", S("deny")),
	                 XP_EINVAL);
	assert_int_equal(xp_builder_set_string(b, NULL, S("x")), XP_EINVAL);
	assert_int_equal(xp_builder_set_list(b, "fingerprints", NULL, NULL, 2),
	                 XP_EINVAL);
	assert_int_equal(xp_builder_end(b), XP_OK);
	assert_int_equal(xp_builder_finish(b, NULL), XP_EINVAL);
	assert_null(xp_builder_diag(b, 99));
	xp_builder_free(b);
	xp_builder_free(NULL);
	xp_ctx_free(ctx);
}

/* Build a representative table with the Nth allocation failing, for every
 * N until the build succeeds: each failure is XP_ENOMEM, leaks nothing,
 * and leaves the table already in force untouched. */
static int build_sample(xp_ctx *ctx, xp_table **out)
{
	xp_builder *b = xp_builder_new(ctx);
	const char *add[] = {"corp.fabrikam.com", "fabrikam.net"};
	size_t addl[] = {17, 12};
	const char *pins[] = {"sha256:"
	                      "00112233445566778899aabbccddeeff0011223344556677"
	                      "8899aabbccddeeff"};
	size_t pinl[] = {71};
	char name[32];
	int rc = XP_OK, i;

	if (b == NULL)
		return XP_ENOMEM;
	for (i = 0; i < 300 && rc == XP_OK; i++) {
		snprintf(name, sizeof(name), "p%d.test", i);
		rc = xp_builder_begin(b, S(name));
		if (rc == XP_OK && i == 0)
			rc = xp_builder_set_list(b, "additional_domains", add,
			                         addl, 2);
		if (rc == XP_OK && i == 1)
			rc = xp_builder_set_list(b, "fingerprints", pins, pinl,
			                         1);
		if (rc == XP_OK &&
		    i == 2) /* a warning row: copied to the table */
			rc = xp_builder_set_boolean(b, "dialback", 1);
		if (rc == XP_OK)
			rc = xp_builder_set_string(
			        b, "description",
			        S("a partner with a long description to use up "
			          "the arena"));
		if (rc == XP_OK)
			rc = xp_builder_end(b);
	}
	if (rc == XP_OK)
		rc = xp_builder_finish(b, out);
	xp_builder_free(b);
	return rc;
}

static void test_alloc_failure_everywhere(void **state)
{
	test_alloc a = {0};
	xp_ctx *ctx = test_ctx(&a, NULL);
	xp_table *old = NULL, *t;
	long n, total, failures = 0;
	long base;

	(void)state;
	assert_int_equal(build_sample(ctx, &old), XP_OK);
	base = a.live;
	a.calls = 0;
	assert_int_equal(build_sample(ctx, &t), XP_OK);
	xp_table_unref(t);
	total = a.calls;
	for (n = 1; n <= total; n++) {
		int rc;
		t = NULL;
		a.calls = 0;
		a.fail_at = n;
		rc = build_sample(ctx, &t);
		a.fail_at = 0;
		if (rc == XP_OK) {
			/* A site whose failure is harmless (trimming an array
			 * to size): the build must still be complete. */
			assert_non_null(t);
			assert_non_null(xp_table_resolve(
			        t, S("corp.fabrikam.com"), NULL));
			xp_table_unref(t);
			assert_int_equal(a.live, base);
			continue;
		}
		failures++;
		assert_int_equal(rc, XP_ENOMEM);
		assert_null(t);
		assert_int_equal(a.live, base);
		/* The table in force still answers. */
		assert_non_null(
		        xp_table_resolve(old, S("corp.fabrikam.com"), NULL));
	}
	print_message("# allocation failure tested at %ld of %ld allocations\n",
	              failures, total);
	assert_true(failures > 5);
	assert_int_equal(a.live, base);
	xp_table_unref(old);
	xp_ctx_free(ctx);
	assert_int_equal(a.live, 0);
}

static void test_ctx_alloc_failure(void **state)
{
	test_alloc a = {1, 0, 0, 0, 0};
	(void)state;
	assert_null(test_ctx(&a, NULL));
	a.fail_at = 2;
	a.calls = 0;
	{
		xp_ctx *ctx = test_ctx(&a, NULL);
		assert_non_null(ctx);
		assert_null(xp_builder_new(ctx));
		a.fail_at = 2; /* the builder's table */
		a.calls = 0;
		assert_null(xp_builder_new(ctx));
		a.fail_at = 1;
		a.calls = 0;
		assert_null(xp_table_new_closed(ctx));
		a.fail_at = 0;
		xp_ctx_free(ctx);
	}
	assert_int_equal(a.live, 0);
}

/* Issue 20: two spellings of one domain are both quoted as written, and
 * misspelled configuration options get the core's one warning text. */
static void test_duplicate_spellings(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b = xp_builder_new(ctx);
	xp_table *t = NULL;
	const xp_diag *d;

	(void)state;
	assert_int_equal(xp_builder_begin(b, S("B.Test")), XP_OK);
	assert_int_equal(xp_builder_end(b), XP_OK);
	assert_int_equal(xp_builder_begin(b, S("b.test")), XP_OK);
	assert_int_equal(xp_builder_end(b), XP_OK);
	assert_int_equal(xp_builder_finish(b, &t), XP_ECONFIG);
	assert_int_equal(xp_builder_error_count(b), 1);
	d = xp_builder_diag(b, 0);
	assert_string_equal(d->message,
	                    "domain 'b.test' is listed by partner 'B.Test' and "
	                    "by partner 'b.test'; a domain may belong to one "
	                    "partner only: remove it from one of them");
	assert_string_equal(d->partner, "b.test");
	xp_builder_free(b);
	xp_ctx_free(ctx);
}

static void test_option_note(void **state)
{
	char buf[512];

	(void)state;
	assert_int_equal(xp_option_note("xmpp_partners_keepalive_intervl", buf,
	                                sizeof(buf)),
	                 1);
	assert_string_equal(buf, "'xmpp_partners_keepalive_intervl' is not an "
	                         "option of xmpp-partners, so it is ignored; "
	                         "did you mean "
	                         "'xmpp_partners_keepalive_interval'?");
	assert_int_equal(
	        xp_option_note("xmpp_partner_default", buf, sizeof(buf)), 1);
	assert_non_null(strstr(buf, "did you mean 'xmpp_partners_default'?"));
	assert_int_equal(
	        xp_option_note("xmpp_partners_colour", buf, sizeof(buf)), 1);
	assert_non_null(strstr(buf, "the options are"));
	/* the options themselves, and other modules' settings */
	assert_int_equal(xp_option_note("xmpp_partners", buf, sizeof(buf)), 0);
	assert_int_equal(xp_option_note("xmpp_partners_file", buf, sizeof(buf)),
	                 0);
	assert_int_equal(xp_option_note("xmpp_partners_connection_limit", buf,
	                                sizeof(buf)),
	                 0);
	assert_int_equal(xp_option_note("s2s_secure_auth", buf, sizeof(buf)),
	                 0);
	assert_int_equal(xp_option_note("modules_enabled", buf, sizeof(buf)),
	                 0);
	assert_int_equal(xp_option_note("", buf, sizeof(buf)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_every_key),
	        cmocka_unit_test(test_unknown_keys),
	        cmocka_unit_test(test_wrong_types),
	        cmocka_unit_test(test_bad_values),
	        cmocka_unit_test(test_limits_and_lists),
	        cmocka_unit_test(test_bad_domains),
	        cmocka_unit_test(test_duplicates),
	        cmocka_unit_test(test_duplicate_spellings),
	        cmocka_unit_test(test_option_note),
	        cmocka_unit_test(test_options),
	        cmocka_unit_test(test_misuse),
	        cmocka_unit_test(test_ejabberd_names),
	        cmocka_unit_test(test_preauth_options),
	        cmocka_unit_test(test_alloc_failure_everywhere),
	        cmocka_unit_test(test_ctx_alloc_failure),
	};
	return TEST_RUN("builder", tests);
}
