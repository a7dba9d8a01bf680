/*
 * test_names.c: the shared parsers of tls/sasl levels and certificate pins
 * (xp_tls_parse, xp_sasl_parse, xp_pin_parse), which the builder, the Lua
 * binding and the ejabberd NIF all use.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define S(lit) lit, sizeof(lit) - 1

static const char hex64[] =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void test_levels(void **state)
{
	xp_tls t = XP_TLS_REQUIRED;
	xp_sasl s = XP_SASL_REQUIRED;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		const char *n = xp_tls_name((xp_tls)i);
		assert_int_equal(xp_tls_parse(n, strlen(n), &t), XP_OK);
		assert_int_equal(t, i);
		assert_int_equal(xp_sasl_parse(n, strlen(n), &s), XP_OK);
		assert_int_equal(s, i);
		/* the name round-trips */
		assert_string_equal(xp_sasl_name(s), n);
	}
	assert_int_equal(xp_tls_parse(S("not_supported"), NULL), XP_OK);
}

static void test_levels_rejected(void **state)
{
	static const char *const bad[] = {
	        "",      "Required", "REQUIRED",      "require",    "optional ",
	        "false", "none",     "not-supported", "required\0x"};
	xp_tls t = XP_TLS_OPTIONAL;
	xp_sasl s = XP_SASL_OPTIONAL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]) + (i == 8 ? 2 : 0);
		assert_int_equal(xp_tls_parse(bad[i], len, &t), XP_EINVAL);
		assert_int_equal(xp_sasl_parse(bad[i], len, &s), XP_EINVAL);
	}
	/* a prefix of a name is not the name */
	assert_int_equal(xp_tls_parse("required", 7, &t), XP_EINVAL);
	assert_int_equal(xp_tls_parse(NULL, 0, &t), XP_EINVAL);
	/* out untouched on failure */
	assert_int_equal(t, XP_TLS_OPTIONAL);
	assert_int_equal(s, XP_SASL_OPTIONAL);
}

static void test_pin(void **state)
{
	char text[200];
	unsigned char out[32];
	size_t i;

	(void)state;
	snprintf(text, sizeof(text), "sha256:%s", hex64);
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_OK);
	for (i = 0; i < 32; i++)
		assert_int_equal(out[i], (i % 16) * 0x11);
	/* upper case */
	for (i = 7; text[i]; i++)
		if (text[i] >= 'a' && text[i] <= 'f')
			text[i] = (char)(text[i] - 'a' + 'A');
	memset(out, 0, sizeof(out));
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_OK);
	assert_int_equal(out[31], 0xff);
	/* colon-separated bytes, as openssl x509 -fingerprint prints them */
	strcpy(text, "sha256:");
	for (i = 0; i < 32; i++) {
		char b[4];
		snprintf(b, sizeof(b), "%s%.2s", i ? ":" : "", hex64 + 2 * i);
		strcat(text, b);
	}
	memset(out, 0, sizeof(out));
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_OK);
	assert_int_equal(out[1], 0x11);
	/* out may be NULL: validation only */
	assert_int_equal(xp_pin_parse(text, strlen(text), NULL), XP_OK);
}

static void test_pin_rejected(void **state)
{
	char text[200];
	unsigned char out[32];

	(void)state;
	memset(out, 0xa5, sizeof(out));
	assert_int_equal(xp_pin_parse(NULL, 0, out), XP_EINVAL);
	assert_int_equal(xp_pin_parse(S("sha256:"), out), XP_EINVAL);
	assert_int_equal(xp_pin_parse(S("sha25"), out), XP_EINVAL);
	/* no prefix, another hash, short, long, odd, not hex */
	assert_int_equal(xp_pin_parse(hex64, 64, out), XP_EINVAL);
	snprintf(text, sizeof(text), "sha1:%s", hex64);
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_EINVAL);
	snprintf(text, sizeof(text), "SHA256:%s", hex64);
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_EINVAL);
	snprintf(text, sizeof(text), "sha256:%.62s", hex64);
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_EINVAL);
	snprintf(text, sizeof(text), "sha256:%s00", hex64);
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_EINVAL);
	snprintf(text, sizeof(text), "sha256:%.63s", hex64);
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_EINVAL);
	snprintf(text, sizeof(text), "sha256:%.62sgg", hex64);
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_EINVAL);
	/* a leading or trailing colon, spaces */
	snprintf(text, sizeof(text), "sha256::%s", hex64);
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_EINVAL);
	snprintf(text, sizeof(text), "sha256:%s:", hex64);
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_EINVAL);
	snprintf(text, sizeof(text), "sha256: %s", hex64);
	assert_int_equal(xp_pin_parse(text, strlen(text), out), XP_EINVAL);
	/* the length is honoured: a valid pin cut short is not valid */
	snprintf(text, sizeof(text), "sha256:%s", hex64);
	assert_int_equal(xp_pin_parse(text, strlen(text) - 1, out), XP_EINVAL);
	/* out untouched on failure */
	assert_int_equal(out[0], 0xa5);
	assert_int_equal(out[31], 0xa5);
}

/* The builder accepts exactly what xp_pin_parse accepts and stores the
 * canonical lower-case form. */
static void test_builder_uses_pin_parse(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_builder *b = xp_builder_new(ctx);
	xp_table *t = NULL;
	char good[200], bad[200];
	const char *items[2];
	size_t lens[2];
	const xp_partner *p;

	(void)state;
	snprintf(good, sizeof(good), "sha256:%s", hex64);
	good[7] = 'F'; /* upper case digit: stored lower-case */
	snprintf(bad, sizeof(bad), "sha256:%.62s", hex64);
	items[0] = good;
	lens[0] = strlen(good);
	assert_int_equal(xp_builder_begin(b, S("pin.test")), XP_OK);
	assert_int_equal(xp_builder_set_list(b, "fingerprints", items, lens, 1),
	                 XP_OK);
	assert_int_equal(xp_builder_end(b), XP_OK);
	items[1] = bad;
	lens[1] = strlen(bad);
	assert_int_equal(xp_builder_begin(b, S("bad.test")), XP_OK);
	assert_int_equal(
	        xp_builder_set_list(b, "fingerprints", items + 1, lens + 1, 1),
	        XP_OK);
	assert_int_equal(xp_builder_set_string(b, "tls", S("optional")), XP_OK);
	assert_int_equal(xp_builder_set_string(b, "sasl", S("Optional")),
	                 XP_OK);
	assert_int_equal(xp_builder_end(b), XP_OK);
	assert_int_equal(xp_builder_error_count(b), 2);
	assert_int_equal(xp_builder_finish(b, &t), XP_ECONFIG);
	xp_builder_free(b);

	b = xp_builder_new(ctx);
	assert_int_equal(xp_builder_begin(b, S("pin.test")), XP_OK);
	assert_int_equal(xp_builder_set_list(b, "fingerprints", items, lens, 1),
	                 XP_OK);
	assert_int_equal(xp_builder_set_string(b, "tls", S("optional")), XP_OK);
	assert_int_equal(xp_builder_end(b), XP_OK);
	assert_int_equal(xp_builder_finish(b, &t), XP_OK);
	p = xp_table_lookup(t, S("pin.test"));
	assert_non_null(p);
	assert_int_equal(xp_partner_tls(p), XP_TLS_OPTIONAL);
	assert_int_equal(xp_partner_fingerprint_count(p), 1);
	assert_int_equal(strncmp(xp_partner_fingerprint(p, 0), "sha256:f0", 9),
	                 0);
	xp_builder_free(b);
	xp_table_unref(t);
	xp_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_levels),
	        cmocka_unit_test(test_levels_rejected),
	        cmocka_unit_test(test_pin),
	        cmocka_unit_test(test_pin_rejected),
	        cmocka_unit_test(test_builder_uses_pin_parse),
	};
	return TEST_RUN("names", tests);
}
