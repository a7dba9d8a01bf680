/* test_domain.c: normalisation and validation of domains. */
#include <string.h>

#include "testutil.h"

static void expect_norm(const char *in, const char *want)
{
	char out[XP_DOMAIN_MAX + 1];
	size_t len = 0;
	const char *why = NULL;
	int rc = xp_domain_normalize(in, strlen(in), out, &len, &why);

	if (rc != XP_OK)
		fail_msg("'%s' refused: %s", in, why ? why : "?");
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
}

static void expect_bad(const char *in, size_t len, const char *why_part)
{
	char out[XP_DOMAIN_MAX + 1];
	size_t olen = 0;
	const char *why = NULL;
	int rc = xp_domain_normalize(in, len, out, &olen, &why);

	if (rc != XP_EINVAL)
		fail_msg("'%.*s' accepted as '%s'", (int)len, in, out);
	assert_non_null(why);
	if (why_part && strstr(why, why_part) == NULL)
		fail_msg("'%.*s': reason '%s' lacks '%s'", (int)len, in, why,
		         why_part);
}

static void test_case_and_dot(void **state)
{
	(void)state;
	expect_norm("fabrikam.com", "fabrikam.com");
	expect_norm("Fabrikam.COM", "fabrikam.com");
	expect_norm("fabrikam.com.", "fabrikam.com");
	expect_norm("A-B.c0.test", "a-b.c0.test");
	expect_norm("localhost", "localhost");
	expect_bad("fabrikam.com..", 14, "empty label");
	expect_bad(".fabrikam.com", 13, "empty label");
	expect_bad("", 0, "empty");
	expect_bad(".", 1, "empty");
}

static void test_length_limits(void **state)
{
	char buf[400];
	size_t i;

	(void)state;
	/* 63-octet label is fine, 64 is not. */
	memset(buf, 'a', 63);
	memcpy(buf + 63, ".test", 6);
	expect_norm(buf, buf);
	memset(buf, 'a', 64);
	memcpy(buf + 64, ".test", 6);
	expect_bad(buf, strlen(buf), "63");
	/* 253 octets in all is fine, 254 is not (labels of 9 + dots). */
	for (i = 0; i < 253; i++)
		buf[i] = (i % 10 == 9) ? '.' : 'b';
	buf[253] = '\0';
	expect_norm(buf, buf);
	buf[253] = 'b';
	buf[254] = '\0';
	expect_bad(buf, 254, "253");
	/* ...but a trailing dot does not count. */
	{
		char want[254];
		memcpy(want, buf, 253);
		want[253] = '\0';
		buf[253] = '.';
		expect_norm(buf, want);
	}
}

static void test_forbidden(void **state)
{
	(void)state;
	expect_bad("*.fabrikam.com", 14, "wildcard");
	expect_bad("fabrikam.com:5269", 17, "port");
	expect_bad("user@fabrikam.com", 17, "local part");
	expect_bad("fabrikam.com/res", 16, "path");
	expect_bad("fab rikam.com", 13, "white space");
	expect_bad("-fabrikam.com", 13, "'-'");
	expect_bad("fabrikam-.com", 13, "'-'");
	expect_bad("fab_rikam.com", 13, "character");
	expect_bad("192.0.2.1", 9, "IP address");
	expect_bad("[::1]", 5, "IP");
	expect_bad("a\0b.test", 8, NULL);
}

static void test_idn(void **state)
{
	(void)state;
	/* U-labels become A-labels, case-folded per UTS#46. */
	expect_norm("b\xc3\xbc\x63her.test", "xn--bcher-kva.test"); /* bücher */
	expect_norm("B\xc3\x9c\x43HER.test", "xn--bcher-kva.test"); /* BÜCHER */
	expect_norm("xn--bcher-kva.test", "xn--bcher-kva.test");
	expect_norm("XN--BCHER-KVA.TEST.", "xn--bcher-kva.test");
	expect_norm("\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.test",
	            "xn--e1afmkfd.test"); /* пример */
	/* A look-alike with a Cyrillic 'а' is another domain entirely. */
	{
		char out[XP_DOMAIN_MAX + 1];
		size_t len;
		assert_int_equal(xp_domain_normalize("f\xd0\xb0"
		                                     "brikam.com",
		                                     12, out, &len, NULL),
		                 XP_OK);
		assert_string_not_equal(out, "fabrikam.com");
		assert_memory_equal(out, "xn--", 4);
	}
	expect_bad("xn--zz.test", 11, "A-label");
	/* A bad A-label next to a U-label is judged as on its own (fuzz). */
	expect_bad("\xd7\x90\xd7\x91"
	           "448.ma.xn--bsherale",
	           23, "A-label");
	expect_bad("\xff\xfe.test", 7, "internationalised");
}

static void test_lookalikes_distinct(void **state)
{
	char a[XP_DOMAIN_MAX + 1], b[XP_DOMAIN_MAX + 1];
	size_t la, lb;

	(void)state;
	assert_int_equal(
	        xp_domain_normalize("fabrikam.com.evil.test", 22, a, &la, NULL),
	        XP_OK);
	assert_int_equal(
	        xp_domain_normalize("evilfabrikam.com", 16, b, &lb, NULL),
	        XP_OK);
	assert_string_not_equal(a, "fabrikam.com");
	assert_string_not_equal(b, "fabrikam.com");
}

static void test_bad_args(void **state)
{
	char out[XP_DOMAIN_MAX + 1];
	size_t len;
	const char *why = NULL;

	(void)state;
	assert_int_equal(xp_domain_normalize(NULL, 3, out, &len, &why),
	                 XP_EINVAL);
	assert_non_null(why);
	assert_int_equal(xp_domain_normalize("a.test", 6, NULL, &len, NULL),
	                 XP_EINVAL);
	assert_int_equal(xp_domain_normalize("a.test", 6, out, NULL, NULL),
	                 XP_EINVAL);
	/* Not NUL-terminated input is fine: only len bytes are read. */
	assert_int_equal(xp_domain_normalize("a.testXXXX", 6, out, &len, NULL),
	                 XP_OK);
	assert_string_equal(out, "a.test");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_case_and_dot),
	        cmocka_unit_test(test_length_limits),
	        cmocka_unit_test(test_forbidden),
	        cmocka_unit_test(test_idn),
	        cmocka_unit_test(test_lookalikes_distinct),
	        cmocka_unit_test(test_bad_args),
	};
	return TEST_RUN("domain", tests);
}
