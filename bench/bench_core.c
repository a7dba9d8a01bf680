/*
 * bench_core.c: cost of the policy core at various table sizes.
 *
 * For each size N given on the command line it builds a table of N partners
 * through the builder (as a host does), then prints: build time, bytes per
 * partner (all allocations, and beyond the strings), ns per lookup of a
 * listed domain in random order, ns per miss, and ns per full verdict (resolve
 * + STARTTLS + authentication check).  Each timing is the median of 5 runs.
 * It prints numbers; it asserts nothing (see BENCHMARKS.md for results).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xmpp_partners.h"

typedef struct counter {
	size_t live, peak;
} counter;

static void *count_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	counter *c = ud;
	void *n;

	if (nsize == 0) {
		c->live -= ptr ? osize : 0;
		free(ptr);
		return NULL;
	}
	n = realloc(ptr, nsize);
	if (n == NULL)
		return NULL;
	c->live += nsize - (ptr ? osize : 0);
	if (c->live > c->peak)
		c->peak = c->live;
	return n;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median5(double v[5])
{
	qsort(v, 5, sizeof(v[0]), cmp_double);
	return v[2];
}

static unsigned long long rng = 88172645463325252ULL;
static unsigned long long next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Realistic records: matrix rows 7 and 8 (ok rows, no warning). */
#define QLEN 48

/* ns per resolve() of the names in q, median of 5 runs. */
static double time_lookups(const xp_table *t, const char *q, size_t ops)
{
	volatile size_t sink = 0;
	double r[5], t0;
	size_t i;
	int run;

	for (run = 0; run < 5; run++) {
		t0 = now_ns();
		for (i = 0; i < ops; i++) {
			const char *d = q + i * QLEN;
			sink += xp_table_resolve(t, d, strlen(d), NULL) != NULL;
		}
		r[run] = (now_ns() - t0) / (double)ops;
	}
	(void)sink;
	return median5(r);
}

/* ns per full verdict a host asks when a stream authenticates: resolve,
 * STARTTLS action and the authentication check. */
static double time_verdicts(const xp_table *t, const char *q, size_t ops)
{
	volatile size_t sink = 0;
	xp_stream_state s = {1, XP_CERT_VALID, XP_CERT_VALID, 0};
	double r[5], t0;
	size_t i;
	int run;

	for (run = 0; run < 5; run++) {
		t0 = now_ns();
		for (i = 0; i < ops; i++) {
			const char *d = q + i * QLEN;
			const xp_partner *p =
			        xp_table_resolve(t, d, strlen(d), NULL);
			sink += (size_t)xp_verdict_tls(p, XP_INCOMING);
			sink += (size_t)xp_verdict_auth(
			        p, XP_INCOMING, XP_METHOD_SASL_TLS, &s, NULL);
		}
		r[run] = (now_ns() - t0) / (double)ops;
	}
	(void)sink;
	return median5(r);
}

static const char *const tls_v[] = {"required", "required"};
static const char *const type_v[] = {"federated", "public_verified",
                                     "public_unverified"};

static int bench(size_t n, size_t ops)
{
	counter c = {0, 0};
	xp_ctx *ctx = xp_ctx_new(count_alloc, &c, NULL, NULL);
	xp_builder *b;
	xp_table *t = NULL;
	char **names, *queries, *misses, *hot;
	size_t *order, i, strings = 0;
	double t0, build_ms;

	names = malloc(n * sizeof(*names));
	order = malloc(ops * sizeof(*order));
	queries = malloc(ops * QLEN);
	misses = malloc(ops * QLEN);
	hot = malloc(ops * QLEN);
	if (!ctx || !names || !order || !queries || !misses || !hot)
		return 1;
	for (i = 0; i < n; i++) {
		char buf[64];
		int len = snprintf(buf, sizeof(buf), "partner%zu.corp%zu.test",
		                   i, i % 977);
		names[i] = strdup(buf);
		strings += (size_t)len + 1;
	}
	/* Query names are laid out in the order they are asked, so reading
	 * them costs the benchmark no cache misses of its own: in a server
	 * the remote domain sits in the session, already in cache. */
	for (i = 0; i < ops; i++) {
		order[i] = (size_t)(next_rand() % n);
		snprintf(queries + i * QLEN, QLEN, "%s", names[order[i]]);
		snprintf(misses + i * QLEN, QLEN, "%s.evil", names[order[i]]);
		/* 1000 active partners among all n: a server's working set */
		snprintf(
		        hot + i * QLEN, QLEN, "%s",
		        names[(order[i] % 1000) * (n / (n < 1000 ? n : 1000))]);
	}

	t0 = now_ns();
	b = xp_builder_new(ctx);
	for (i = 0; i < n && b; i++) {
		xp_builder_begin(b, names[i], strlen(names[i]));
		xp_builder_set_string(b, "type", type_v[i % 3],
		                      strlen(type_v[i % 3]));
		xp_builder_set_string(b, "tls", tls_v[i % 2],
		                      strlen(tls_v[i % 2]));
		xp_builder_set_string(b, "sasl", "optional", 8);
		xp_builder_set_boolean(b, "dialback", (int)(i % 2));
		xp_builder_end(b);
	}
	if (b == NULL || xp_builder_finish(b, &t) != XP_OK) {
		fprintf(stderr, "build of %zu partners failed\n", n);
		return 1;
	}
	xp_builder_free(b);
	build_ms = (now_ns() - t0) / 1e6;

	printf("%9zu partners: build %7.1f ms, %6.1f bytes/partner (%5.1f "
	       "beyond "
	       "strings)\n",
	       n, build_ms, (double)c.live / n,
	       ((double)c.live - (double)strings) / n);
	printf("%9s random over all: lookup %6.1f ns, miss %6.1f ns, verdict "
	       "%6.1f ns\n",
	       "", time_lookups(t, queries, ops), time_lookups(t, misses, ops),
	       time_verdicts(t, queries, ops));
	printf("%9s 1000 active:     lookup %6.1f ns,                verdict "
	       "%6.1f ns\n",
	       "", time_lookups(t, hot, ops), time_verdicts(t, hot, ops));
	fflush(stdout);

	xp_table_unref(t);
	xp_ctx_free(ctx);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(order);
	free(queries);
	free(misses);
	free(hot);
	return 0;
}

int main(int argc, char **argv)
{
	size_t ops = 1000000;
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s [--ops N] SIZE...\n", argv[0]);
		return 2;
	}
	printf("xmpp-partners core benchmark (median of 5 runs; domains like "
	       "partner123.corp45.test)\n");
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
			ops = strtoul(argv[++i], NULL, 10);
			continue;
		}
		rc |= bench(strtoul(argv[i], NULL, 10), ops);
	}
	return rc;
}
