/*
 * test_overlay.c: the sources of a partner table laid over each other
 * (module/overlay.c): file < config < runtime by normalised domain (the
 * Fabrikam case), removals, labels, two spellings in one source, keys that
 * are no domain, bad input and every allocation failing in turn.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define S(x) x, strlen(x)

/* The entry with this key, or NULL. */
static const xp_overlay_entry *entry(const xp_overlay *o, const char *key)
{
	size_t i;

	for (i = 0; i < xp_overlay_count(o); i++)
		if (strcmp(xp_overlay_at(o, i)->key, key) == 0)
			return xp_overlay_at(o, i);
	return NULL;
}

static void test_fabrikam(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_overlay *o = xp_overlay_new(ctx);
	const xp_overlay_entry *e;

	(void)state;
	assert_non_null(o);
	assert_int_equal(xp_overlay_set_file(o, S("/etc/p.lua")), XP_OK);
	assert_int_equal(
	        xp_overlay_add(o, XP_SOURCE_FILE, S("Fabrikam.com"), 0), XP_OK);
	assert_int_equal(
	        xp_overlay_add(o, XP_SOURCE_FILE, S("only-file.test"), 1),
	        XP_OK);
	assert_int_equal(
	        xp_overlay_add(o, XP_SOURCE_CONFIG, S("fabrikam.com"), 2),
	        XP_OK);
	assert_int_equal(xp_overlay_finish(o), XP_OK);
	assert_int_equal(xp_overlay_count(o), 2);
	assert_null(entry(o, "Fabrikam.com"));
	e = entry(o, "fabrikam.com");
	assert_non_null(e);
	assert_int_equal(e->handle, 2);
	assert_int_equal(e->source, XP_SOURCE_CONFIG);
	assert_string_equal(e->label, "config");
	assert_string_equal(e->domain, "fabrikam.com");
	e = entry(o, "only-file.test");
	assert_non_null(e);
	assert_string_equal(e->label, "file /etc/p.lua");
	/* input order */
	assert_string_equal(xp_overlay_at(o, 0)->key, "only-file.test");
	assert_int_equal(xp_overlay_finish(o), XP_EINVAL);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_FILE, S("late.test"), 9),
	                 XP_EINVAL);
	xp_overlay_free(o);
	xp_ctx_free(ctx);
}

static void test_runtime_and_removals(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_overlay *o = xp_overlay_new(ctx);
	const xp_overlay_entry *e;

	(void)state;
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_FILE, S("f.test"), 0), 0);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_CONFIG, S("C.test"), 1),
	                 0);
	assert_int_equal(
	        xp_overlay_add(o, XP_SOURCE_CONFIG, S("gone.test."), 2), 0);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_FILE, S("Zgone.test"), 3),
	                 0);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_CONFIG, S("kept.test"), 4),
	                 0);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_RUNTIME, S("f.test"), 5),
	                 0);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_RUNTIME, S("c.test"), 6),
	                 0);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_RUNTIME, S("new.test"), 7),
	                 0);
	assert_int_equal(xp_overlay_hide(o, S("GONE.test")), XP_OK);
	assert_int_equal(xp_overlay_hide(o, S("zgone.test")), XP_OK);
	assert_int_equal(xp_overlay_finish(o), XP_OK);
	assert_int_equal(xp_overlay_count(o), 4);
	assert_string_equal(entry(o, "f.test")->label,
	                    "runtime (overrides file)");
	assert_int_equal(entry(o, "f.test")->handle, 5);
	assert_string_equal(entry(o, "c.test")->label,
	                    "runtime (overrides config)");
	assert_null(entry(o, "C.test"));
	assert_string_equal(entry(o, "new.test")->label, "runtime");
	e = entry(o, "kept.test");
	assert_string_equal(e->label, "config");
	assert_int_equal(xp_overlay_hidden_count(o), 2);
	assert_string_equal(xp_overlay_hidden(o, 0), "Zgone.test");
	assert_string_equal(xp_overlay_hidden(o, 1), "gone.test.");
	assert_null(xp_overlay_hidden(o, 2));
	assert_null(xp_overlay_at(o, 4));
	xp_overlay_free(o);
	xp_ctx_free(ctx);
}

/* Two spellings in one source both stay (the builder names both); a key
 * that is no domain stays as written; a runtime record after a removal of
 * its domain is just "runtime". */
static void test_same_source_and_bad_keys(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_overlay *o = xp_overlay_new(ctx);

	(void)state;
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_CONFIG, S("a.test"), 0),
	                 0);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_CONFIG, S("A.TEST"), 1),
	                 0);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_FILE, S("bad key"), 2), 0);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_CONFIG, S("r.test"), 3),
	                 0);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_RUNTIME, S("r.test"), 4),
	                 0);
	assert_int_equal(xp_overlay_hide(o, S("r.test")), 0);
	assert_int_equal(xp_overlay_finish(o), XP_OK);
	assert_int_equal(xp_overlay_count(o), 4);
	assert_non_null(entry(o, "a.test"));
	assert_non_null(entry(o, "A.TEST"));
	assert_string_equal(entry(o, "A.TEST")->domain, "a.test");
	assert_string_equal(entry(o, "bad key")->domain, "bad key");
	assert_string_equal(entry(o, "bad key")->label, "file");
	assert_string_equal(entry(o, "r.test")->label, "runtime");
	assert_int_equal(entry(o, "r.test")->handle, 4);
	assert_int_equal(xp_overlay_hidden_count(o), 1);
	xp_overlay_free(o);
	xp_ctx_free(ctx);
}

static void test_bad_input(void **state)
{
	xp_ctx *ctx = test_ctx(NULL, NULL);
	xp_overlay *o = xp_overlay_new(ctx);

	(void)state;
	assert_null(xp_overlay_new(NULL));
	assert_int_equal(xp_overlay_add(NULL, XP_SOURCE_FILE, S("a.test"), 0),
	                 XP_EINVAL);
	assert_int_equal(xp_overlay_add(o, (xp_source)7, S("a.test"), 0),
	                 XP_EINVAL);
	assert_int_equal(xp_overlay_add(o, XP_SOURCE_FILE, NULL, 0, 0),
	                 XP_EINVAL);
	assert_int_equal(xp_overlay_hide(o, NULL, 0), XP_EINVAL);
	assert_int_equal(xp_overlay_set_file(o, NULL, 0), XP_EINVAL);
	assert_int_equal(xp_overlay_finish(NULL), XP_EINVAL);
	/* nothing before finish */
	assert_int_equal(xp_overlay_count(o), 0);
	assert_null(xp_overlay_at(o, 0));
	assert_int_equal(xp_overlay_finish(o), XP_OK);
	assert_int_equal(xp_overlay_count(o), 0);
	assert_int_equal(xp_overlay_hidden_count(NULL), 0);
	assert_string_equal(xp_source_name(XP_SOURCE_RUNTIME), "runtime");
	assert_null(xp_source_name((xp_source)9));
	xp_overlay_free(o);
	xp_overlay_free(NULL);
	xp_ctx_free(ctx);
}

/* One run of a mixed overlay; returns the first failing status. */
static int run_mixed(xp_ctx *ctx, char *summary, size_t size)
{
	xp_overlay *o = xp_overlay_new(ctx);
	char key[32];
	int i, rc = XP_OK;
	size_t k, n = 0;

	if (o == NULL)
		return XP_ENOMEM;
	if ((rc = xp_overlay_set_file(o, S("p.lua"))) != XP_OK)
		goto out;
	for (i = 0; i < 40 && rc == XP_OK; i++) {
		snprintf(key, sizeof(key), "P%d.Test", i);
		rc = xp_overlay_add(o, (xp_source)(i % 3), S(key), (size_t)i);
		if (rc == XP_OK && i % 5 == 0)
			rc = xp_overlay_hide(o, S(key));
		if (rc == XP_OK && i % 4 == 0) {
			snprintf(key, sizeof(key), "p%d.test", i);
			rc = xp_overlay_add(o, XP_SOURCE_CONFIG, S(key),
			                    (size_t)(100 + i));
		}
	}
	if (rc == XP_OK)
		rc = xp_overlay_finish(o);
	if (rc == XP_OK)
		for (k = 0; k < xp_overlay_count(o); k++)
			n += (size_t)snprintf(summary + n,
			                      n < size ? size - n : 0, "%s=%s;",
			                      xp_overlay_at(o, k)->key,
			                      xp_overlay_at(o, k)->label);
out:
	xp_overlay_free(o);
	return rc;
}

static void test_alloc_failure(void **state)
{
	test_alloc a = {0, 0, 0, 0, 0};
	xp_ctx *ctx = test_ctx(&a, NULL);
	static char want[8192], got[8192];
	long i, live = a.live;
	int rc, failures = 0;

	(void)state;
	assert_int_equal(run_mixed(ctx, want, sizeof(want)), XP_OK);
	assert_int_equal(a.live, live);
	for (i = 1; i < 400; i++) {
		got[0] = '\0';
		a.fail_at = a.calls + i;
		rc = run_mixed(ctx, got, sizeof(got));
		a.fail_at = 0;
		assert_int_equal(a.live, live);
		if (rc == XP_OK) {
			assert_string_equal(got, want);
			break;
		}
		assert_int_equal(rc, XP_ENOMEM);
		failures++;
	}
	assert_true(failures > 3);
	assert_true(i < 400);
	xp_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fabrikam),
	        cmocka_unit_test(test_runtime_and_removals),
	        cmocka_unit_test(test_same_source_and_bad_keys),
	        cmocka_unit_test(test_bad_input),
	        cmocka_unit_test(test_alloc_failure),
	};
	return TEST_RUN("overlay", tests);
}
