/* testutil.c: see testutil.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

void *test_alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize)
{
	test_alloc *a = ud;
	void *n;

	if (nsize == 0) {
		if (ptr != NULL) {
			a->live--;
			a->live_bytes -= osize;
			free(ptr);
		}
		return NULL;
	}
	a->calls++;
	if (a->fail_at != 0 && a->calls == a->fail_at)
		return NULL;
	n = realloc(ptr, nsize);
	if (n == NULL)
		return NULL;
	if (ptr == NULL) {
		a->live++;
		a->live_bytes += nsize;
	} else {
		a->live_bytes += nsize - osize;
	}
	if (a->live_bytes > a->peak_bytes)
		a->peak_bytes = a->live_bytes;
	return n;
}

void test_log_fn(void *ud, xp_log_level level, const char *msg)
{
	test_log *l = ud;
	size_t used = strlen(l->text);

	(void)level;
	l->count++;
	snprintf(l->text + used, sizeof(l->text) - used, "%s\n", msg);
}

xp_ctx *test_ctx(test_alloc *a, test_log *l)
{
	return xp_ctx_new(a ? test_alloc_fn : NULL, a, l ? test_log_fn : NULL,
	                  l);
}

int test_run(const char *name, const struct CMUnitTest *tests, size_t n)
{
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
}

const char *test_matrix_path(void)
{
	static char buf[4096];
	const char *env = getenv("XP_MATRIX");
	const char *top = getenv("top_srcdir");

	if (env != NULL && *env)
		return env;
	snprintf(buf, sizeof(buf), "%s/doc/negotiation-matrix.tsv",
	         top && *top ? top : ".");
	return buf;
}

int test_build(xp_ctx *ctx, const test_partner *ps, size_t n,
               const char *default_policy, xp_table **out, xp_builder **b_out)
{
	xp_builder *b = xp_builder_new(ctx);
	size_t i, k;
	int rc = XP_OK;

	if (b == NULL)
		return XP_ENOMEM;
	if (default_policy != NULL)
		rc = xp_builder_option_string(b, "xmpp_partners_default",
		                              default_policy,
		                              strlen(default_policy));
	for (i = 0; i < n && rc == XP_OK; i++) {
		const test_partner *p = &ps[i];
		const char *items[4];
		size_t lens[4];
		rc = xp_builder_begin(b, p->domain, strlen(p->domain));
		if (rc == XP_OK && p->type)
			rc = xp_builder_set_string(b, "type", p->type,
			                           strlen(p->type));
		if (rc == XP_OK && p->tls)
			rc = xp_builder_set_string(b, "tls", p->tls,
			                           strlen(p->tls));
		if (rc == XP_OK && p->sasl)
			rc = xp_builder_set_string(b, "sasl", p->sasl,
			                           strlen(p->sasl));
		if (rc == XP_OK && p->dialback >= 0)
			rc = xp_builder_set_boolean(b, "dialback", p->dialback);
		if (rc == XP_OK && p->connection_limit)
			rc = xp_builder_set_integer(b, "connection_limit",
			                            p->connection_limit);
		for (k = 0; k < 4 && p->additional[k]; k++) {
			items[k] = p->additional[k];
			lens[k] = strlen(items[k]);
		}
		if (rc == XP_OK && k > 0)
			rc = xp_builder_set_list(b, "additional_domains", items,
			                         lens, k);
		if (rc == XP_OK)
			rc = xp_builder_end(b);
	}
	if (rc == XP_OK)
		rc = xp_builder_finish(b, out);
	if (b_out != NULL)
		*b_out = b;
	else
		xp_builder_free(b);
	return rc;
}

const xp_diag *test_find_diag(const xp_builder *b, const char *needle)
{
	size_t i;

	for (i = 0; i < xp_builder_diag_count(b); i++) {
		const xp_diag *d = xp_builder_diag(b, i);
		if (strstr(d->message, needle) != NULL)
			return d;
	}
	return NULL;
}
