/*
 * test_explain.c: the explain result (module/explain.c) and its one text:
 * per direction what is offered, tried, accepted and refused and why, the
 * mapping of additional domains, refused and malformed domains, options
 * named in the host's style, and every allocation failing in turn.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define S(x) x, strlen(x)

static const test_partner parts[] = {
        {"strict.test",
         "federated",
         "required",
         "required",
         0,
         {"corp.strict.test", NULL},
         10},
        {"loose.test",
         "public_unverified",
         "optional",
         "optional",
         1,
         {NULL},
         0},
        {"saslopt.test", NULL, "optional", "required", 0, {NULL}, 0},
};

static xp_table *build(xp_ctx *ctx, const char *policy)
{
	xp_table *t = NULL;

	assert_int_equal(test_build(ctx, parts, 3, policy, &t, NULL), XP_OK);
	return t;
}

static void test_compute_strict(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_table *t = build(ctx, NULL);
	xp_explain e;
	const xp_explain_direction *in, *out;
	const char *why = NULL;

	(void)state;
	assert_int_equal(
	        xp_explain_compute(t, S("Corp.Strict.TEST."), &e, &why), XP_OK);
	assert_string_equal(e.domain, "corp.strict.test");
	assert_int_equal(e.refused, XP_R_NONE);
	assert_non_null(e.partner);
	assert_string_equal(xp_partner_domain(e.partner), "strict.test");
	assert_int_equal(e.additional, 1);
	in = &e.dir[XP_INCOMING];
	out = &e.dir[XP_OUTGOING];
	assert_int_equal(in->tls, XP_TLS_REQUIRE);
	assert_int_equal(out->tls, XP_TLS_REQUIRE);
	assert_true(in->sasl_external[XP_SIT_TRUSTED].ok);
	assert_true(in->sasl_external[XP_SIT_PINNED].ok);
	assert_false(in->sasl_external[XP_SIT_UNTRUSTED].ok);
	assert_int_equal(in->sasl_external[XP_SIT_UNTRUSTED].reason,
	                 XP_R_CERT_UNTRUSTED);
	assert_false(out->sasl_external[XP_SIT_WRONG_NAME].ok);
	assert_int_equal(out->sasl_external[XP_SIT_WRONG_NAME].reason,
	                 XP_R_CERT_IDENTITY);
	assert_false(in->dialback[0].ok);
	assert_false(in->auth[XP_EXPLAIN_AUTH_DIALBACK_TCP].ok);
	assert_true(in->auth[XP_EXPLAIN_AUTH_SASL + XP_SIT_TRUSTED].ok);
	assert_true(in->stanzas[0].ok);
	assert_false(in->stanzas[1].ok);
	assert_int_equal(in->stanzas[1].reason, XP_R_TLS_REQUIRED);
	assert_false(e.at_partner_limit.ok);
	assert_int_equal(e.at_partner_limit.reason, XP_R_CONNECTION_LIMIT);
	assert_false(e.at_global_limit.ok);
	assert_int_equal(e.at_global_limit.reason, XP_R_GLOBAL_LIMIT);
	assert_int_equal(e.subscribe[0], XP_SUBSCRIBE_AUTO_APPROVE);
	assert_int_equal(e.message[0], XP_MESSAGE_DELIVER);
	assert_false(e.strip_status);
	xp_table_unref(t);
	xp_ctx_free(ctx);
}

static void test_compute_refused_and_bad(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_table *t = build(ctx, NULL), *closed;
	xp_explain e;
	const char *why = NULL;

	(void)state;
	assert_int_equal(xp_explain_compute(t, S("evil.test"), &e, &why),
	                 XP_OK);
	assert_null(e.partner);
	assert_int_equal(e.refused, XP_R_NOT_PARTNER);
	assert_int_equal(e.subscribe[0], XP_SUBSCRIBE_DENY);
	assert_int_equal(e.message[1], XP_MESSAGE_BOUNCE);
	assert_true(e.strip_status);
	assert_int_equal(xp_explain_compute(t, S("bad domain"), &e, &why),
	                 XP_EINVAL);
	assert_non_null(why);
	assert_int_equal(xp_explain_compute(NULL, S("a.test"), &e, NULL),
	                 XP_EINVAL);
	assert_int_equal(xp_explain_compute(t, NULL, 0, &e, NULL), XP_EINVAL);
	assert_int_equal(xp_explain_compute(t, S("a.test"), NULL, NULL),
	                 XP_EINVAL);
	closed = xp_table_new_closed(ctx);
	assert_non_null(closed);
	assert_int_equal(xp_explain_compute(closed, S("strict.test"), &e, NULL),
	                 XP_OK);
	assert_int_equal(e.refused, XP_R_CONFIG_INVALID);
	xp_table_unref(closed);
	xp_table_unref(t);
	xp_ctx_free(ctx);
}

static char *text_of(xp_ctx *ctx, xp_table *t, const char *d)
{
	xp_text *x = NULL;
	static char buf[16384];

	assert_int_equal(xp_explain_text(ctx, t, d, strlen(d), &x, NULL),
	                 XP_OK);
	assert_int_equal(strlen(xp_text_str(x)), xp_text_len(x));
	assert_true(xp_text_len(x) < sizeof(buf));
	memcpy(buf, xp_text_str(x), xp_text_len(x) + 1);
	xp_text_free(x);
	return buf;
}

static void test_text(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_table *t = build(ctx, NULL);
	const char *s;

	(void)state;
	s = text_of(ctx, t, "saslopt.test");
	assert_non_null(strstr(s, "saslopt.test\n  partner        saslopt.test "
	                          "(its primary domain)\n"));
	assert_non_null(strstr(s, "  STARTTLS       offered (not required)\n"));
	assert_non_null(strstr(s, "  STARTTLS       used when the partner "
	                          "offers it\n"));
	assert_null(strstr(s, "peer offers"));
	assert_non_null(strstr(s, "matrix row 4 (warn)"));
	assert_non_null(strstr(s,
	                       "      dialback_tcp, on a plain stream          "
	                       "                "
	                       "no: dialback is not allowed for this partner "
	                       "(dialback = false)\n"));
	assert_non_null(strstr(s, "xmpp_partners_connection_limit"));
	s = text_of(ctx, t, "corp.strict.test");
	assert_non_null(
	        strstr(s, "the domain is one of its additional_domains"));
	assert_non_null(
	        strstr(s, "with 10 open to this partner, one more: no: "));
	s = text_of(ctx, t, "evil.test");
	assert_string_equal(
	        strstr(s, "evil.test\n  refused: not a partner (no partner "
	                  "lists it, and xmpp_partners_default = \"deny\")\n"
	                  "  incoming: refused incoming s2s from evil.test: "
	                  "not a partner; the stream is closed\n"),
	        s);
	xp_table_unref(t);
	xp_ctx_free(ctx);
}

/* ejabberd's table names options as ejabberd.yml writes them. */
static void test_host_style(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b = xp_builder_new(ctx);
	xp_table *t = NULL;
	const char *s;

	(void)state;
	assert_non_null(b);
	xp_builder_set_host_style(b, XP_HOST_EJABBERD);
	assert_int_equal(xp_builder_option_string(b, "default", S("allow")),
	                 XP_OK);
	assert_int_equal(xp_builder_finish(b, &t), XP_OK);
	xp_builder_free(b);
	assert_int_equal(xp_table_host_style(t), XP_HOST_EJABBERD);
	s = text_of(ctx, t, "other.test");
	assert_non_null(strstr(s, "none: other.test is not listed, and "
	                          "default: allow lets it federate"));
	assert_null(strstr(s, "xmpp_partners_"));
	assert_non_null(strstr(s, "one more: no: the module option "
	                          "connection_limit (all partners together) "
	                          "is reached\n"));
	xp_table_unref(t);
	xp_ctx_free(ctx);
}

/* Every allocation of the text failing in turn: XP_ENOMEM, nothing leaks,
 * and once enough succeed the text is the same as with no failure. */
static void test_alloc_failure(void **state)
{
	test_alloc a = {0, 0, 0, 0, 0};
	xp_ctx *ctx = test_ctx(&a, NULL);
	xp_table *t = build(ctx, NULL);
	xp_text *x = NULL;
	char want[16384];
	long live, i;
	size_t live_bytes;
	int rc;

	(void)state;
	assert_int_equal(xp_explain_text(ctx, t, S("strict.test"), &x, NULL),
	                 XP_OK);
	snprintf(want, sizeof(want), "%s", xp_text_str(x));
	xp_text_free(x);
	live = a.live;
	live_bytes = a.live_bytes;
	for (i = 1; i < 64; i++) {
		x = NULL;
		a.fail_at = a.calls + i; /* the i-th allocation of this call */
		rc = xp_explain_text(ctx, t, S("strict.test"), &x, NULL);
		a.fail_at = 0;
		if (rc == XP_OK) {
			assert_string_equal(xp_text_str(x), want);
			xp_text_free(x);
			break;
		}
		assert_int_equal(rc, XP_ENOMEM);
		assert_null(x);
		assert_int_equal(a.live, live);
		assert_int_equal(a.live_bytes, live_bytes);
	}
	assert_true(i > 1);  /* at least one failure was seen */
	assert_true(i < 64); /* and it succeeded in the end */
	assert_int_equal(xp_explain_format(NULL, NULL, &x), XP_EINVAL);
	xp_table_unref(t);
	xp_ctx_free(ctx);
}

/* Reason texts that name a global option use the host's name for it. */
static void test_reason_host(void **state)
{
	char buf[256];
	int r;

	(void)state;
	for (r = 0; r <= XP_R_PREAUTH_DEPTH; r++) {
		const char *ej =
		        xp_reason_text_host((xp_reason)r, XP_HOST_EJABBERD);
		assert_null(strstr(ej, "xmpp_partners_"));
		assert_string_equal(
		        xp_reason_text_host((xp_reason)r, XP_HOST_PROSODY),
		        xp_reason_text((xp_reason)r));
	}
	assert_non_null(strstr(xp_reason_text(XP_R_AUTH_TIMEOUT),
	                       "xmpp_partners_auth_timeout"));
	assert_string_equal(
	        xp_reason_text_host(XP_R_AUTH_TIMEOUT, XP_HOST_EJABBERD),
	        "the stream did not authenticate within "
	        "auth_timeout");
	assert_string_equal(
	        xp_reason_text_host((xp_reason)999, XP_HOST_EJABBERD),
	        "unknown reason");
	xp_format_refusal_host(buf, sizeof(buf), XP_INCOMING, "a.test",
	                       XP_R_PREAUTH_BYTES, XP_HOST_EJABBERD);
	assert_string_equal(buf, "refused incoming s2s from a.test: the stream "
	                         "sent more than preauth_bytes before "
	                         "authenticating");
	xp_format_refusal_summary_host(buf, sizeof(buf), XP_OUTGOING, "a.test",
	                               2, 60, XP_R_GLOBAL_LIMIT,
	                               XP_HOST_EJABBERD);
	assert_string_equal(buf, "refused outgoing s2s to a.test 2 more times "
	                         "in the last 60 s: the module option "
	                         "connection_limit (all partners together) is "
	                         "reached");
}

static void test_situations(void **state)
{
	xp_stream_state s;

	(void)state;
	assert_string_equal(xp_explain_situation_label(XP_SIT_PLAIN),
	                    "plain stream (no TLS)");
	assert_null(xp_explain_situation_label(XP_SIT_COUNT));
	xp_explain_situation_state(XP_SIT_PINNED, &s);
	assert_int_equal(s.encrypted, 1);
	assert_int_equal(s.pin_match, 1);
	assert_int_equal(s.chain, XP_CERT_INVALID);
	xp_explain_situation_state(XP_SIT_COUNT, &s);
	assert_int_equal(s.encrypted, 0);
	xp_text_free(NULL);
	assert_string_equal(xp_text_str(NULL), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_compute_strict),
	        cmocka_unit_test(test_compute_refused_and_bad),
	        cmocka_unit_test(test_text),
	        cmocka_unit_test(test_host_style),
	        cmocka_unit_test(test_alloc_failure),
	        cmocka_unit_test(test_reason_host),
	        cmocka_unit_test(test_situations),
	};
	return TEST_RUN("explain", tests);
}
