/*
 * test_matrix.c: every row of doc/negotiation-matrix.tsv against the
 * core: the static table, the builder's verdict on a record with that
 * combination, and the authentication verdicts for each method in both
 * directions.  The TSV is read at run time so table and code cannot drift.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct tsv_row {
	int row;
	char tls[16], sasl[16], dialback[8], verdict[8], methods[64];
	char reason[256];
} tsv_row;

static tsv_row rows[18];

static void split_line(char *line, char **f, int nf)
{
	int i;
	for (i = 0; i < nf; i++) {
		f[i] = line;
		line = line ? strchr(line, '\t') : NULL;
		if (line)
			*line++ = '\0';
	}
}

static int load_tsv(void **state)
{
	const char *path = test_matrix_path();
	char line[1024];
	FILE *fp;
	int n = 0;

	(void)state;
	fp = fopen(path, "r");
	if (fp == NULL) {
		print_error("cannot open %s (set XP_MATRIX)\n", path);
		return -1;
	}
	if (fgets(line, sizeof(line), fp) == NULL ||
	    strncmp(line, "row\ttls\tsasl", 12) != 0) {
		fclose(fp);
		return -1;
	}
	while (n < 18 && fgets(line, sizeof(line), fp)) {
		char *f[7];
		line[strcspn(line, "\r\n")] = '\0';
		split_line(line, f, 7);
		if (!f[6])
			f[6] = "";
		rows[n].row = atoi(f[0]);
		snprintf(rows[n].tls, sizeof(rows[n].tls), "%s", f[1]);
		snprintf(rows[n].sasl, sizeof(rows[n].sasl), "%s", f[2]);
		snprintf(rows[n].dialback, sizeof(rows[n].dialback), "%s",
		         f[3]);
		snprintf(rows[n].verdict, sizeof(rows[n].verdict), "%s", f[4]);
		snprintf(rows[n].methods, sizeof(rows[n].methods), "%s", f[5]);
		snprintf(rows[n].reason, sizeof(rows[n].reason), "%s", f[6]);
		n++;
	}
	fclose(fp);
	return n == 18 ? 0 : -1;
}

static xp_tls tls_of(const char *s)
{
	return strcmp(s, "required") == 0   ? XP_TLS_REQUIRED
	       : strcmp(s, "optional") == 0 ? XP_TLS_OPTIONAL
	                                    : XP_TLS_NOT_SUPPORTED;
}

static unsigned methods_of(const char *s)
{
	unsigned m = 0;
	char buf[64], *tok, *save = NULL;

	if (strcmp(s, "-") == 0)
		return 0;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned one = xp_method_parse(tok, strlen(tok));
		if (one == 0)
			fail_msg("unknown method '%s' in the TSV", tok);
		m |= one;
	}
	return m;
}

/* The static table says what the TSV says, row by row. */
static void test_table_matches_tsv(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 18; i++) {
		const tsv_row *t = &rows[i];
		const xp_matrix_row *r = xp_matrix_lookup(
		        tls_of(t->tls), (xp_sasl)tls_of(t->sasl),
		        strcmp(t->dialback, "true") == 0);
		assert_non_null(r);
		assert_int_equal(r->row, t->row);
		assert_ptr_equal(xp_matrix_row_get(t->row), r);
		assert_string_equal(xp_tls_name(r->tls), t->tls);
		assert_string_equal(xp_sasl_name(r->sasl), t->sasl);
		assert_string_equal(xp_verdict_name(r->verdict), t->verdict);
		assert_int_equal(r->methods, methods_of(t->methods));
		assert_string_equal(r->reason, t->reason);
	}
	assert_null(xp_matrix_row_get(0));
	assert_null(xp_matrix_row_get(19));
	assert_null(xp_matrix_lookup((xp_tls)3, XP_SASL_REQUIRED, 0));
}

/* A record with each combination loads, loads with a warning, or is refused
 * with the row number and the reason, exactly as the TSV says. */
static void test_builder_per_row(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 18; i++) {
		const tsv_row *t = &rows[i];
		test_alloc a = {0};
		xp_ctx *ctx = test_ctx(&a, NULL);
		test_partner p = {"partner.test",
		                  NULL,
		                  t->tls,
		                  t->sasl,
		                  strcmp(t->dialback, "true") == 0,
		                  {NULL},
		                  0};
		xp_table *tab = NULL;
		xp_builder *b = NULL;
		int rc = test_build(ctx, &p, 1, NULL, &tab, &b);
		const xp_diag *d =
		        xp_builder_diag_count(b) ? xp_builder_diag(b, 0) : NULL;

		if (strcmp(t->verdict, "error") == 0) {
			assert_int_equal(rc, XP_ECONFIG);
			assert_null(tab);
			assert_non_null(d);
			assert_int_equal(d->severity, XP_SEV_ERROR);
			assert_int_equal(d->row, t->row);
			assert_string_equal(d->partner, "partner.test");
			assert_non_null(strstr(d->message, t->reason));
			assert_non_null(d->key);
		} else {
			assert_int_equal(rc, XP_OK);
			assert_non_null(tab);
			assert_int_equal(
			        xp_partner_row(xp_table_at(tab, 0))->row,
			        t->row);
			if (strcmp(t->verdict, "warn") == 0) {
				assert_non_null(d);
				assert_int_equal(d->severity, XP_SEV_WARNING);
				assert_int_equal(d->row, t->row);
				assert_non_null(strstr(d->message, t->reason));
				assert_int_equal(xp_table_warning_count(tab),
				                 1);
				assert_string_equal(
				        xp_table_warning(tab, 0)->message,
				        d->message);
			} else {
				assert_null(d);
				assert_int_equal(xp_table_warning_count(tab),
				                 0);
			}
		}
		xp_table_unref(tab);
		xp_builder_free(b);
		xp_ctx_free(ctx);
		assert_int_equal(a.live, 0);
	}
}

/* For every loadable row, each method succeeds in both directions exactly
 * when the row lists it, on a stream that really is that method. */
static void test_auth_per_row(void **state)
{
	static const unsigned all[] = {XP_METHOD_SASL_TLS,
	                               XP_METHOD_DIALBACK_TLS,
	                               XP_METHOD_DIALBACK_TCP};
	int i, k, dir;

	(void)state;
	for (i = 0; i < 18; i++) {
		const tsv_row *t = &rows[i];
		xp_ctx *ctx;
		xp_table *tab = NULL;
		test_partner p = {"partner.test",
		                  NULL,
		                  t->tls,
		                  t->sasl,
		                  strcmp(t->dialback, "true") == 0,
		                  {NULL},
		                  0};
		const xp_partner *pp;
		unsigned want = methods_of(t->methods);

		if (strcmp(t->verdict, "error") == 0)
			continue;
		ctx = test_ctx(NULL, NULL);
		assert_int_equal(test_build(ctx, &p, 1, NULL, &tab, NULL),
		                 XP_OK);
		pp = xp_table_resolve(tab, "partner.test", 12, NULL);
		assert_non_null(pp);
		for (dir = 0; dir < 2; dir++) {
			for (k = 0; k < 3; k++) {
				xp_stream_state s = {
				        all[k] != XP_METHOD_DIALBACK_TCP,
				        XP_CERT_VALID, XP_CERT_VALID, 0};
				xp_reason why = XP_R_NONE;
				int got = xp_verdict_auth(pp, (xp_direction)dir,
				                          (xp_method)all[k], &s,
				                          &why);
				if (got != !!(want & all[k]))
					fail_msg("row %d %s %s: got %d (%s)",
					         t->row,
					         xp_direction_name(
					                 (xp_direction)dir),
					         xp_method_name(
					                 (xp_method)all[k]),
					         got, xp_reason_text(why));
				assert_int_equal(why == XP_R_NONE, got);
			}
			/* Dialback is advertised/started exactly when a
			 * dialback method of the row fits the stream. */
			{
				xp_stream_state tls = {1, XP_CERT_NONE,
				                       XP_CERT_NONE, 0};
				xp_stream_state tcp = {0, XP_CERT_NONE,
				                       XP_CERT_NONE, 0};
				assert_int_equal(
				        xp_verdict_dialback(pp,
				                            (xp_direction)dir,
				                            &tls, NULL),
				        !!(want & XP_METHOD_DIALBACK_TLS));
				assert_int_equal(
				        xp_verdict_dialback(pp,
				                            (xp_direction)dir,
				                            &tcp, NULL),
				        !!(want & XP_METHOD_DIALBACK_TCP));
			}
		}
		xp_table_unref(tab);
		xp_ctx_free(ctx);
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(xp_method_name(XP_METHOD_SASL_TLS), "sasl_tls");
	assert_int_equal(xp_method_parse("dialback_tcp", 12),
	                 XP_METHOD_DIALBACK_TCP);
	assert_int_equal(xp_method_parse("dialback", 8), 0);
	assert_int_equal(xp_method_parse(NULL, 0), 0);
	assert_string_equal(xp_tls_name((xp_tls)7), "?");
	assert_string_equal(xp_verdict_name((xp_verdict)7), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_table_matches_tsv),
	        cmocka_unit_test(test_builder_per_row),
	        cmocka_unit_test(test_auth_per_row),
	        cmocka_unit_test(test_names),
	};
	if (load_tsv(NULL) != 0) {
		printf("Bail out! cannot read the negotiation matrix %s\n",
		       test_matrix_path());
		return 1;
	}
	return TEST_RUN("matrix", tests);
}
