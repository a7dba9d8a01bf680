/*
 * test_value.c: a value typed for a record key at an admin prompt
 * (module/value.c): none/nil, lists in three spellings, booleans, integers,
 * text left for the builder, bad input and every allocation failing.
 */
#include <string.h>

#include "testutil.h"

#define S(x) x, strlen(x)

static xp_value *parse(xp_ctx *ctx, const char *key, const char *text)
{
	xp_value *v = NULL;

	assert_int_equal(xp_value_parse(ctx, key, S(text), &v), XP_OK);
	assert_non_null(v);
	return v;
}

static void test_kinds(void **state)
{
	(void)state;
	assert_int_equal(xp_record_key_kind("dialback"), XP_KEY_BOOLEAN);
	assert_int_equal(xp_record_key_kind("fingerprints"), XP_KEY_LIST);
	assert_int_equal(xp_record_key_kind("connection_limit"),
	                 XP_KEY_INTEGER);
	assert_int_equal(xp_record_key_kind("tls"), XP_KEY_ENUM);
	assert_int_equal(xp_record_key_kind("proxy"), XP_KEY_STRING);
	assert_int_equal(xp_record_key_kind("tsl"), XP_KEY_UNKNOWN);
	assert_int_equal(xp_record_key_kind(NULL), XP_KEY_UNKNOWN);
}

static void test_values(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_value *v;
	size_t len;
	static const char *const lists[] = {"a.test, b.test", " a.test b.test ",
	                                    "[a.test, \"b.test\"]",
	                                    "a.test,,b.test"};
	size_t i;

	(void)state;
	v = parse(ctx, "tls", " none ");
	assert_int_equal(xp_value_get_type(v), XP_VALUE_UNSET);
	xp_value_free(v);
	v = parse(ctx, "dialback", "nil");
	assert_int_equal(xp_value_get_type(v), XP_VALUE_UNSET);
	xp_value_free(v);
	for (i = 0; i < 4; i++) {
		v = parse(ctx, "additional_domains", lists[i]);
		assert_int_equal(xp_value_get_type(v), XP_VALUE_LIST);
		assert_int_equal(xp_value_count(v), 2);
		assert_string_equal(xp_value_item(v, 0, &len), "a.test");
		assert_int_equal(len, 6);
		assert_string_equal(xp_value_item(v, 1, NULL), "b.test");
		assert_null(xp_value_item(v, 2, &len));
		assert_int_equal(len, 0);
		xp_value_free(v);
	}
	v = parse(ctx, "fingerprints", "[]");
	assert_int_equal(xp_value_count(v), 0);
	xp_value_free(v);
	v = parse(ctx, "dialback", "yes");
	assert_int_equal(xp_value_get_type(v), XP_VALUE_BOOLEAN);
	assert_true(xp_value_boolean(v));
	xp_value_free(v);
	v = parse(ctx, "keepalive", "0");
	assert_int_equal(xp_value_get_type(v), XP_VALUE_BOOLEAN);
	assert_false(xp_value_boolean(v));
	xp_value_free(v);
	/* not a boolean word: text, for the builder to report */
	v = parse(ctx, "dialback", "maybe");
	assert_int_equal(xp_value_get_type(v), XP_VALUE_STRING);
	assert_string_equal(xp_value_string(v, &len), "maybe");
	assert_false(xp_value_boolean(v));
	xp_value_free(v);
	v = parse(ctx, "connection_limit", " 20\n");
	assert_int_equal(xp_value_get_type(v), XP_VALUE_INTEGER);
	assert_int_equal(xp_value_integer(v), 20);
	assert_null(xp_value_string(v, &len));
	assert_int_equal(len, 0);
	xp_value_free(v);
	v = parse(ctx, "connection_limit", "-3");
	assert_int_equal(xp_value_integer(v), -3);
	xp_value_free(v);
	v = parse(ctx, "connection_limit", "99999999999999999999");
	assert_int_equal(xp_value_get_type(v), XP_VALUE_STRING);
	xp_value_free(v);
	v = parse(ctx, "connection_limit", "1e3");
	assert_int_equal(xp_value_get_type(v), XP_VALUE_STRING);
	assert_int_equal(xp_value_integer(v), 0);
	xp_value_free(v);
	/* "yes" is a word only for boolean keys; "1" text for tls */
	v = parse(ctx, "tls", "1");
	assert_int_equal(xp_value_get_type(v), XP_VALUE_STRING);
	assert_int_equal(xp_value_count(v), 0);
	xp_value_free(v);
	v = parse(ctx, "description", "");
	assert_string_equal(xp_value_string(v, NULL), "");
	xp_value_free(v);
	xp_ctx_free(ctx);
}

static void test_bad_input(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_value *v = NULL;

	(void)state;
	assert_int_equal(xp_value_parse(NULL, "tls", S("x"), &v), XP_EINVAL);
	assert_int_equal(xp_value_parse(ctx, NULL, S("x"), &v), XP_EINVAL);
	assert_int_equal(xp_value_parse(ctx, "tls", NULL, 0, &v), XP_EINVAL);
	assert_int_equal(xp_value_parse(ctx, "tls", S("x"), NULL), XP_EINVAL);
	assert_null(v);
	xp_value_free(NULL);
	xp_ctx_free(ctx);
}

static void test_alloc_failure(void **state)
{
	test_alloc a = {0, 0, 0, 0, 0};
	xp_ctx *ctx = test_ctx(&a, NULL);
	xp_value *v;
	long i, live = a.live;
	int rc, failures = 0;

	(void)state;
	for (i = 1; i < 20; i++) {
		v = NULL;
		a.fail_at = a.calls + i;
		rc = xp_value_parse(ctx, "additional_domains",
		                    S("a.test, b.test"), &v);
		a.fail_at = 0;
		if (rc == XP_OK) {
			assert_int_equal(xp_value_count(v), 2);
			xp_value_free(v);
			break;
		}
		assert_int_equal(rc, XP_ENOMEM);
		assert_null(v);
		assert_int_equal(a.live, live);
		failures++;
	}
	assert_int_equal(failures, 4); /* value, text, items, lengths */
	assert_int_equal(a.live, live);
	xp_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_kinds),
	        cmocka_unit_test(test_values),
	        cmocka_unit_test(test_bad_input),
	        cmocka_unit_test(test_alloc_failure),
	};
	return TEST_RUN("value", tests);
}
