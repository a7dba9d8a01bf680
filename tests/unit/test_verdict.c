/*
 * test_verdict.c: STARTTLS, SASL EXTERNAL, dialback, stanza and
 * authentication verdicts in both directions, certificate states, pinned
 * keys, connection limits and the refusal texts.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define S(x) x, strlen(x)

static xp_table *t;
static xp_ctx *ctx;

/* One partner per interesting row. */
static const test_partner parts[] = {
        {"strict.test", NULL, "required", "required", 0, {NULL}, 2}, /* row 2 */
        {"mixed.test", NULL, "required", "optional", 1, {NULL}, 0},  /* row 7 */
        {"loose.test", NULL, "optional", "optional", 1, {NULL}, 0},  /* row 9 */
        /* row 13 */
        {"dbonly.test", NULL, "required", "not_supported", 1, {NULL}, 0},
        /* row 17 */
        {"plain.test", NULL, "not_supported", "not_supported", 1, {NULL}, 0},
        /* row 4 */
        {"saslopt.test", NULL, "optional", "required", 0, {NULL}, 0},
};

static int setup(void **state)
{
	(void)state;
	ctx = test_ctx(NULL, NULL);
	return test_build(ctx, parts, 6, NULL, &t, NULL) == XP_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	xp_table_unref(t);
	xp_ctx_free(ctx);
	return 0;
}

static const xp_partner *P(const char *d)
{
	const xp_partner *p = xp_table_resolve(t, d, strlen(d), NULL);
	assert_non_null(p);
	return p;
}

static const xp_stream_state plain = {0, XP_CERT_NONE, XP_CERT_NONE, 0};
static const xp_stream_state tls_nocert = {1, XP_CERT_NONE, XP_CERT_NONE, 0};
static const xp_stream_state tls_good = {1, XP_CERT_VALID, XP_CERT_VALID, 0};
static const xp_stream_state tls_untrusted = {1, XP_CERT_INVALID, XP_CERT_VALID,
                                              0};
static const xp_stream_state tls_pinned = {1, XP_CERT_INVALID, XP_CERT_VALID,
                                           1};
static const xp_stream_state tls_wrongname = {1, XP_CERT_VALID, XP_CERT_INVALID,
                                              0};
static const xp_stream_state tls_wrongname_pinned = {1, XP_CERT_INVALID,
                                                     XP_CERT_INVALID, 1};

static void test_tls(void **state)
{
	int d;
	(void)state;
	for (d = 0; d < 2; d++) {
		assert_int_equal(
		        xp_verdict_tls(P("strict.test"), (xp_direction)d),
		        XP_TLS_REQUIRE);
		assert_int_equal(
		        xp_verdict_tls(P("loose.test"), (xp_direction)d),
		        XP_TLS_OFFER);
		assert_int_equal(
		        xp_verdict_tls(P("plain.test"), (xp_direction)d),
		        XP_TLS_WITHHOLD);
		assert_int_equal(xp_verdict_tls(NULL, (xp_direction)d),
		                 XP_TLS_WITHHOLD);
	}
	assert_string_equal(xp_tls_action_name(XP_TLS_REQUIRE), "require");
	assert_string_equal(xp_tls_action_name(XP_TLS_WITHHOLD), "withhold");
	assert_string_equal(xp_tls_action_name(XP_TLS_OFFER), "offer");
}

static void expect(int got, xp_reason why, int want, xp_reason want_why)
{
	assert_int_equal(got, want);
	assert_int_equal(why, want_why);
}

/* The verdict call writes r, so read r only after it has run. */
#define EXPECT(call, want, want_why)                                           \
	do {                                                                   \
		int got_ = (call);                                             \
		expect(got_, r, want, want_why);                               \
	} while (0)

static void test_sasl_external(void **state)
{
	xp_reason r;
	int d;
	(void)state;
	/* Incoming: offered only when the certificate proves the domain. */
	EXPECT(xp_verdict_sasl_external(P("strict.test"), XP_INCOMING,
	                                &tls_good, &r),
	       1, XP_R_NONE);
	EXPECT(xp_verdict_sasl_external(P("strict.test"), XP_INCOMING, &plain,
	                                &r),
	       0, XP_R_NOT_ENCRYPTED);
	EXPECT(xp_verdict_sasl_external(P("strict.test"), XP_INCOMING,
	                                &tls_nocert, &r),
	       0, XP_R_NO_CERT);
	EXPECT(xp_verdict_sasl_external(P("strict.test"), XP_INCOMING,
	                                &tls_untrusted, &r),
	       0, XP_R_CERT_UNTRUSTED);
	EXPECT(xp_verdict_sasl_external(P("strict.test"), XP_INCOMING,
	                                &tls_pinned, &r),
	       1, XP_R_NONE);
	EXPECT(xp_verdict_sasl_external(P("strict.test"), XP_INCOMING,
	                                &tls_wrongname, &r),
	       0, XP_R_CERT_IDENTITY);
	/* A pin replaces CA trust, not the name check. */
	EXPECT(xp_verdict_sasl_external(P("strict.test"), XP_INCOMING,
	                                &tls_wrongname_pinned, &r),
	       0, XP_R_CERT_IDENTITY);
	/* Outgoing: tried only when the peer's certificate proves it. */
	EXPECT(xp_verdict_sasl_external(P("mixed.test"), XP_OUTGOING,
	                                &tls_nocert, &r),
	       0, XP_R_NO_CERT);
	EXPECT(xp_verdict_sasl_external(P("mixed.test"), XP_OUTGOING, &tls_good,
	                                &r),
	       1, XP_R_NONE);
	EXPECT(xp_verdict_sasl_external(P("mixed.test"), XP_OUTGOING,
	                                &tls_wrongname, &r),
	       0, XP_R_CERT_IDENTITY);
	EXPECT(xp_verdict_sasl_external(P("mixed.test"), XP_OUTGOING,
	                                &tls_pinned, &r),
	       1, XP_R_NONE);
	EXPECT(xp_verdict_sasl_external(P("mixed.test"), XP_OUTGOING, &plain,
	                                &r),
	       0, XP_R_NOT_ENCRYPTED);
	for (d = 0; d < 2; d++) {
		EXPECT(xp_verdict_sasl_external(P("dbonly.test"),
		                                (xp_direction)d, &tls_good, &r),
		       0, XP_R_SASL_NOT_SUPPORTED);
		EXPECT(xp_verdict_sasl_external(NULL, (xp_direction)d,
		                                &tls_good, &r),
		       0, XP_R_NOT_PARTNER);
		EXPECT(xp_verdict_sasl_external(P("strict.test"),
		                                (xp_direction)d, NULL, &r),
		       0, XP_R_NO_CERT);
	}
}

static void test_dialback(void **state)
{
	xp_reason r;
	int d;
	(void)state;
	for (d = 0; d < 2; d++) {
		xp_direction dir = (xp_direction)d;
		EXPECT(xp_verdict_dialback(P("strict.test"), dir, &tls_good,
		                           &r),
		       0, XP_R_DIALBACK_DISABLED);
		EXPECT(xp_verdict_dialback(P("saslopt.test"), dir, &tls_good,
		                           &r),
		       0, XP_R_DIALBACK_DISABLED);
		EXPECT(xp_verdict_dialback(P("mixed.test"), dir, &tls_nocert,
		                           &r),
		       1, XP_R_NONE);
		EXPECT(xp_verdict_dialback(P("mixed.test"), dir, &plain, &r), 0,
		       XP_R_TLS_REQUIRED);
		EXPECT(xp_verdict_dialback(P("loose.test"), dir, &plain, &r), 1,
		       XP_R_NONE);
		EXPECT(xp_verdict_dialback(P("plain.test"), dir, &plain, &r), 1,
		       XP_R_NONE);
		EXPECT(xp_verdict_dialback(P("plain.test"), dir, &tls_nocert,
		                           &r),
		       0, XP_R_TLS_NOT_SUPPORTED);
		EXPECT(xp_verdict_dialback(NULL, dir, &plain, &r), 0,
		       XP_R_NOT_PARTNER);
		EXPECT(xp_verdict_dialback(P("plain.test"), dir, NULL, &r), 1,
		       XP_R_NONE);
	}
}

static void test_sasl_required_refuses_dialback(void **state)
{
	xp_table *t1 = NULL;
	const test_partner row1 = {"row1.test", NULL,   "required", "required",
	                           1,           {NULL}, 0};
	xp_reason r;
	(void)state;
	assert_int_equal(test_build(ctx, &row1, 1, NULL, &t1, NULL), XP_OK);
	/* dialback = true, but sasl = required wins (row 1). */
	EXPECT(xp_verdict_dialback(xp_table_at(t1, 0), XP_INCOMING, &tls_good,
	                           &r),
	       0, XP_R_SASL_REQUIRED);
	EXPECT(xp_verdict_auth(xp_table_at(t1, 0), XP_OUTGOING,
	                       XP_METHOD_DIALBACK_TLS, &tls_good, &r),
	       0, XP_R_SASL_REQUIRED);
	xp_table_unref(t1);
}

static void test_stanzas(void **state)
{
	xp_reason r;
	int d;
	(void)state;
	for (d = 0; d < 2; d++) {
		xp_direction dir = (xp_direction)d;
		EXPECT(xp_verdict_stanzas(P("strict.test"), dir, &plain, &r), 0,
		       XP_R_TLS_REQUIRED);
		EXPECT(xp_verdict_stanzas(P("strict.test"), dir, NULL, &r), 0,
		       XP_R_TLS_REQUIRED);
		EXPECT(xp_verdict_stanzas(P("strict.test"), dir, &tls_good, &r),
		       1, XP_R_NONE);
		EXPECT(xp_verdict_stanzas(P("loose.test"), dir, &plain, &r), 1,
		       XP_R_NONE);
		EXPECT(xp_verdict_stanzas(NULL, dir, &tls_good, &r), 0,
		       XP_R_NOT_PARTNER);
	}
}

static void test_auth(void **state)
{
	xp_reason r;
	int d;
	(void)state;
	for (d = 0; d < 2; d++) {
		xp_direction dir = (xp_direction)d;
		/* sasl = required: a wrong certificate is refused even though
		 * the peer could do dialback. */
		EXPECT(xp_verdict_auth(P("strict.test"), dir,
		                       XP_METHOD_SASL_TLS, &tls_wrongname, &r),
		       0, XP_R_CERT_IDENTITY);
		EXPECT(xp_verdict_auth(P("strict.test"), dir,
		                       XP_METHOD_DIALBACK_TLS, &tls_wrongname,
		                       &r),
		       0, XP_R_DIALBACK_DISABLED);
		EXPECT(xp_verdict_auth(P("strict.test"), dir,
		                       XP_METHOD_SASL_TLS, &tls_good, &r),
		       1, XP_R_NONE);
		EXPECT(xp_verdict_auth(P("strict.test"), dir,
		                       XP_METHOD_SASL_TLS, &tls_pinned, &r),
		       1, XP_R_NONE);
		EXPECT(xp_verdict_auth(P("strict.test"), dir,
		                       XP_METHOD_SASL_TLS, &tls_untrusted, &r),
		       0, XP_R_CERT_UNTRUSTED);
		EXPECT(xp_verdict_auth(P("strict.test"), dir,
		                       XP_METHOD_SASL_TLS, &plain, &r),
		       0, XP_R_NOT_ENCRYPTED);
		/* The stream decides whether dialback is over TLS or TCP. */
		EXPECT(xp_verdict_auth(P("mixed.test"), dir,
		                       XP_METHOD_DIALBACK_TCP, &tls_nocert, &r),
		       1, XP_R_NONE);
		EXPECT(xp_verdict_auth(P("mixed.test"), dir,
		                       XP_METHOD_DIALBACK_TLS, &plain, &r),
		       0, XP_R_TLS_REQUIRED);
		EXPECT(xp_verdict_auth(P("dbonly.test"), dir,
		                       XP_METHOD_SASL_TLS, &tls_good, &r),
		       0, XP_R_SASL_NOT_SUPPORTED);
		EXPECT(xp_verdict_auth(P("dbonly.test"), dir, (xp_method)8,
		                       &tls_good, &r),
		       0, XP_R_UNKNOWN_METHOD);
		EXPECT(xp_verdict_auth(P("dbonly.test"), dir, (xp_method)3,
		                       &tls_good, &r),
		       0, XP_R_UNKNOWN_METHOD);
		EXPECT(xp_verdict_auth(NULL, dir, XP_METHOD_SASL_TLS, &tls_good,
		                       &r),
		       0, XP_R_NOT_PARTNER);
		EXPECT(xp_verdict_auth(P("saslopt.test"), dir,
		                       XP_METHOD_DIALBACK_TCP, &plain, &r),
		       0, XP_R_DIALBACK_DISABLED);
	}
}

static void test_connection_limits(void **state)
{
	xp_reason r;
	xp_table *small = NULL;
	xp_builder *b = xp_builder_new(ctx);
	(void)state;
	/* strict.test has connection_limit 2; the global default is 1000. */
	EXPECT(xp_verdict_connection(t, P("strict.test"), 0, 0, &r), 1,
	       XP_R_NONE);
	EXPECT(xp_verdict_connection(t, P("strict.test"), 1, 500, &r), 1,
	       XP_R_NONE);
	EXPECT(xp_verdict_connection(t, P("strict.test"), 2, 500, &r), 0,
	       XP_R_CONNECTION_LIMIT);
	EXPECT(xp_verdict_connection(t, P("loose.test"), 19, 999, &r), 1,
	       XP_R_NONE);
	EXPECT(xp_verdict_connection(t, P("loose.test"), 20, 0, &r), 0,
	       XP_R_CONNECTION_LIMIT);
	EXPECT(xp_verdict_connection(t, P("loose.test"), 3, 1000, &r), 0,
	       XP_R_GLOBAL_LIMIT);
	EXPECT(xp_verdict_connection(t, NULL, 0, 0, &r), 0, XP_R_NOT_PARTNER);
	xp_builder_option_integer(b, "connection_limit", 1);
	assert_int_equal(xp_builder_finish(b, &small), XP_OK);
	xp_builder_free(b);
	EXPECT(xp_verdict_connection(small, P("loose.test"), 0, 1, &r), 0,
	       XP_R_GLOBAL_LIMIT);
	xp_table_unref(small);
}

/* Which refusals a retry cannot change, the window sequence and the
 * summary line of a back-off window. */
static void test_backoff(void **state)
{
	static const xp_reason final[] = {
	        XP_R_NOT_PARTNER,        XP_R_BAD_DOMAIN,
	        XP_R_TLS_REQUIRED,       XP_R_TLS_NOT_SUPPORTED,
	        XP_R_SASL_NOT_SUPPORTED, XP_R_SASL_REQUIRED,
	        XP_R_DIALBACK_DISABLED,  XP_R_CERT_UNTRUSTED,
	        XP_R_CERT_IDENTITY,      XP_R_NO_CERT,
	        XP_R_UNKNOWN_METHOD,     XP_R_NOT_ENCRYPTED};
	char buf[256];
	unsigned w, prev, i;
	(void)state;
	for (i = 0; i < sizeof(final) / sizeof(final[0]); i++)
		assert_true(xp_reason_is_final(final[i]));
	assert_false(xp_reason_is_final(XP_R_NONE));
	assert_false(xp_reason_is_final(XP_R_CONFIG_INVALID));
	assert_false(xp_reason_is_final(XP_R_CONNECTION_LIMIT));
	assert_false(xp_reason_is_final(XP_R_GLOBAL_LIMIT));
	assert_false(xp_reason_is_final((xp_reason)999));

	assert_int_equal(xp_backoff_next(0, 0), 0);
	assert_int_equal(xp_backoff_next(40, 0), 0);
	assert_int_equal(xp_backoff_next(0, 300), 10);
	assert_int_equal(xp_backoff_next(10, 300), 20);
	assert_int_equal(xp_backoff_next(160, 300), 300);
	assert_int_equal(xp_backoff_next(300, 300), 300);
	assert_int_equal(xp_backoff_next(0, 3), 3);
	assert_int_equal(xp_backoff_next(0xffffffffu, 86400), 86400);
	/* Grows, never shrinks, stays bounded. */
	for (prev = 0, i = 0; i < 40; i++, prev = w) {
		w = xp_backoff_next(prev, 86400);
		assert_true(w >= prev && w <= 86400);
	}
	assert_int_equal(prev, 86400);

	xp_format_refusal_summary(buf, sizeof(buf), XP_INCOMING, "j.test", 212,
	                          60, XP_R_NOT_PARTNER);
	assert_string_equal(buf, "refused incoming s2s from j.test 212 more "
	                         "times in the last 60 s: not a partner");
	xp_format_refusal_summary(buf, sizeof(buf), XP_INCOMING, NULL, 1, 10,
	                          XP_R_CERT_UNTRUSTED);
	assert_string_equal(buf,
	                    "refused incoming s2s from (unknown domain) 1 more "
	                    "time in the last 10 s: the certificate chain is "
	                    "not trusted and its key matches no pinned "
	                    "fingerprint");
	assert_true(xp_format_refusal_summary(buf, 8, XP_OUTGOING, "x.test", 2,
	                                      10, XP_R_NO_CERT) > 8);
	assert_int_equal(strlen(buf), 7);
}

static void test_texts(void **state)
{
	char buf[256];
	int i, j;
	(void)state;
	xp_format_refusal(buf, sizeof(buf), XP_INCOMING, "evil.test",
	                  XP_R_NOT_PARTNER);
	assert_string_equal(
	        buf, "refused incoming s2s from evil.test: not a partner");
	xp_format_refusal(buf, sizeof(buf), XP_OUTGOING, "strict.test",
	                  XP_R_TLS_REQUIRED);
	assert_string_equal(
	        buf,
	        "refused outgoing s2s to strict.test: the partner requires TLS "
	        "(tls = required) and the stream is not encrypted");
	assert_int_equal(xp_format_refusal(buf, 10, XP_INCOMING, NULL,
	                                   XP_R_NO_CERT) > 10,
	                 1);
	assert_int_equal(strlen(buf), 9);
	/* Every reason has its own token and text. */
	for (i = 0; i <= XP_R_NOT_ENCRYPTED; i++) {
		assert_string_not_equal(xp_reason_token((xp_reason)i),
		                        "unknown");
		for (j = 0; j < i; j++) {
			assert_string_not_equal(xp_reason_token((xp_reason)i),
			                        xp_reason_token((xp_reason)j));
			assert_string_not_equal(xp_reason_text((xp_reason)i),
			                        xp_reason_text((xp_reason)j));
		}
	}
	assert_string_equal(xp_reason_token((xp_reason)99), "unknown");
	assert_string_equal(xp_direction_name(XP_OUTGOING), "outgoing");
	for (i = -6; i <= 0; i++)
		assert_non_null(xp_status_text(i));
	assert_string_equal(xp_status_text(-99), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tls),
	        cmocka_unit_test(test_sasl_external),
	        cmocka_unit_test(test_dialback),
	        cmocka_unit_test(test_sasl_required_refuses_dialback),
	        cmocka_unit_test(test_stanzas),
	        cmocka_unit_test(test_auth),
	        cmocka_unit_test(test_connection_limits),
	        cmocka_unit_test(test_texts),
	        cmocka_unit_test(test_backoff),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("verdict", tests, setup, teardown);
}
