/*
 * texts.c: texts the core writes for hosts to print (explain, and later
 * admin results), in a growing buffer allocated with the context's
 * allocator.  Hosts only print them, so every host says the same thing in
 * the same words.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

xp_text *xp_text_new(xp_ctx *ctx)
{
	xp_text *x;

	if (ctx == NULL)
		return NULL;
	x = xp_malloc(ctx, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->ctx = ctx;
	x->len = 0;
	x->failed = 0;
	x->cap = 256;
	x->s = xp_malloc(ctx, x->cap);
	if (x->s == NULL) {
		xp_free(ctx, x, sizeof(*x));
		return NULL;
	}
	x->s[0] = '\0';
	return x;
}

void xp_text_free(xp_text *x)
{
	if (x == NULL)
		return;
	xp_free(x->ctx, x->s, x->cap);
	xp_free(x->ctx, x, sizeof(*x));
}

const char *xp_text_str(const xp_text *x)
{
	return x != NULL ? x->s : "";
}

size_t xp_text_len(const xp_text *x)
{
	return x != NULL ? x->len : 0;
}

/* Make room for need more bytes plus the NUL; 0 on failure (remembered, so
 * a formatter checks once at the end). */
static int reserve(xp_text *x, size_t need)
{
	size_t ncap = x->cap;
	char *n;

	if (x->failed)
		return 0;
	if (need > ((size_t)-1) / 4 - x->len) {
		x->failed = 1;
		return 0;
	}
	while (ncap < x->len + need + 1)
		ncap *= 2;
	if (ncap == x->cap)
		return 1;
	n = xp_realloc(x->ctx, x->s, x->cap, ncap);
	if (n == NULL) {
		x->failed = 1;
		return 0;
	}
	x->s = n;
	x->cap = ncap;
	return 1;
}

void xp_text_add(xp_text *x, const char *s, size_t len)
{
	if (!reserve(x, len))
		return;
	memcpy(x->s + x->len, s, len);
	x->len += len;
	x->s[x->len] = '\0';
}

void xp_text_printf(xp_text *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(x->s + x->len, x->cap - x->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		x->failed = 1;
		return;
	}
	if ((size_t)n < x->cap - x->len) {
		x->len += (size_t)n;
		return;
	}
	if (!reserve(x, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(x->s + x->len, x->cap - x->len, fmt, ap);
	va_end(ap);
	x->len += (size_t)n;
}

/* Control characters (a description's newlines) become spaces, so one
 * value stays on one line of the text. */
void xp_text_one_line(xp_text *x, const char *s)
{
	size_t i, start = x->len;

	xp_text_add(x, s, strlen(s));
	if (x->failed)
		return;
	for (i = start; i < x->len; i++)
		if ((unsigned char)x->s[i] < 0x20 || x->s[i] == 0x7F)
			x->s[i] = ' ';
}

int xp_text_failed(const xp_text *x)
{
	return x->failed;
}

const char *xp_option_setting(xp_host_style style, const char *name,
                              const char *value, char *buf, size_t size)
{
	if (style == XP_HOST_EJABBERD)
		snprintf(buf, size, "%s: %s", name, value);
	else
		snprintf(buf, size, "xmpp_partners_%s = \"%s\"", name, value);
	return buf;
}

/* ---- diagnostics and the check text -------------------------------------- */

static void add_diag(xp_text *x, const xp_diag *d)
{
	xp_text_printf(x, "%s: %s",
	               d->severity == XP_SEV_ERROR ? "error" : "warning",
	               d->message != NULL ? d->message : "");
	/* (the builder's matrix findings say their row already) */
	if (d->row > 0 &&
	    (d->message == NULL || strstr(d->message, "matrix row") == NULL))
		xp_text_printf(x, " [matrix row %d]", d->row);
	if (d->suggestion != NULL && d->suggestion[0] != '\0' &&
	    (d->message == NULL || strstr(d->message, d->suggestion) == NULL))
		xp_text_printf(x, " (%s)", d->suggestion);
}

int xp_diag_text(xp_ctx *ctx, const xp_diag *d, xp_text **out)
{
	xp_text *x;

	if (ctx == NULL || d == NULL || out == NULL)
		return XP_EINVAL;
	x = xp_text_new(ctx);
	if (x == NULL)
		return XP_ENOMEM;
	add_diag(x, d);
	if (xp_text_failed(x)) {
		xp_text_free(x);
		return XP_ENOMEM;
	}
	*out = x;
	return XP_OK;
}

/* Diagnostics by partner (global ones first), in their order within
 * one partner: hosts walk their sources in different orders (Lua keys
 * sorted, Erlang maps by hash), the text must not. */
static int by_partner(const void *pa, const void *pb)
{
	const xp_diag *a = *(const xp_diag *const *)pa;
	const xp_diag *b = *(const xp_diag *const *)pb;
	int c;

	if (a->partner == NULL || b->partner == NULL)
		c = (a->partner != NULL) - (b->partner != NULL);
	else
		c = strcmp(a->partner, b->partner);
	return c != 0 ? c : (a < b ? -1 : a > b);
}

int xp_check_text(xp_ctx *ctx, const xp_diag *diags, size_t n, int valid,
                  size_t partners, xp_host_style style, xp_text **out)
{
	xp_text *x;
	const xp_diag **order;
	size_t i, errors = 0;

	if (ctx == NULL || out == NULL || (diags == NULL && n > 0))
		return XP_EINVAL;
	order = xp_malloc(ctx, (n ? n : 1) * sizeof(*order));
	if (order == NULL)
		return XP_ENOMEM;
	for (i = 0; i < n; i++)
		order[i] = &diags[i];
	if (n > 1)
		qsort(order, n, sizeof(*order), by_partner);
	x = xp_text_new(ctx);
	if (x == NULL) {
		xp_free(ctx, order, (n ? n : 1) * sizeof(*order));
		return XP_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if (order[i]->severity == XP_SEV_ERROR)
			errors++;
		add_diag(x, order[i]);
		xp_text_printf(x, "\n");
	}
	xp_free(ctx, order, (n ? n : 1) * sizeof(*order));
	if (valid)
		xp_text_printf(x,
		               "partner table valid: %lu partner(s), %lu "
		               "warning(s)\n",
		               (unsigned long)partners,
		               (unsigned long)(n - errors));
	else
		xp_text_printf(
		        x,
		        "partner table INVALID: %lu error(s), %lu "
		        "warning(s); fix them in the configuration or "
		        "with %s\n",
		        (unsigned long)errors, (unsigned long)(n - errors),
		        style == XP_HOST_EJABBERD
		                ? "ejabberdctl partners_set/partners_remove"
		                : "partners:set/remove");
	if (xp_text_failed(x)) {
		xp_text_free(x);
		return XP_ENOMEM;
	}
	*out = x;
	return XP_OK;
}

/* ---- show: a partner's record ------------------------------------------- */

static void show_line(xp_text *x, const char *key, const char *value)
{
	xp_text_printf(x, "%-20s %s\n", key, value);
}

static void show_list(xp_text *x, const char *key, size_t n,
                      const char *(*item)(const xp_partner *, size_t),
                      const xp_partner *p)
{
	size_t i;

	xp_text_printf(x, "%-20s ", key);
	for (i = 0; i < n; i++)
		xp_text_printf(x, "%s%s", i ? "," : "", item(p, i));
	xp_text_printf(x, "%s\n", n ? "" : "-");
}

int xp_show_text(xp_ctx *ctx, const xp_table *t, const char *domain, size_t len,
                 const char *source, xp_text **out)
{
	char d[XP_DOMAIN_MAX + 1], opt[96], num[32];
	const char *why = NULL, *proxy, *desc;
	const xp_matrix_row *row;
	const xp_partner *p;
	xp_reason reason = XP_R_NONE;
	xp_text *x;
	size_t n;
	unsigned port, m, k;
	int rc = XP_OK;

	if (ctx == NULL || t == NULL || domain == NULL || out == NULL)
		return XP_EINVAL;
	x = xp_text_new(ctx);
	if (x == NULL)
		return XP_ENOMEM;
	if (xp_domain_normalize(domain, len, d, &n, &why) != XP_OK) {
		xp_text_add(x, domain, len);
		xp_text_printf(x, " is not a valid domain: %s", why);
		rc = XP_EINVAL;
		goto done;
	}
	p = xp_table_resolve(t, d, n, &reason);
	if (p == NULL) {
		xp_text_printf(x, "%s is not a partner: %s", d,
		               xp_reason_text_host(reason, t->style));
		rc = XP_ENOTFOUND;
		goto done;
	}
	if (xp_partner_is_default(p)) {
		xp_text_printf(x, "%-20s %s  (the default record)\n", "domain",
		               d);
		xp_text_printf(x, "%-20s default record (%s)\n", "source",
		               xp_option_setting(t->style, "default", "allow",
		                                 opt, sizeof(opt)));
	} else {
		xp_text_printf(x, "%-20s %s", "domain", xp_partner_domain(p));
		if (strcmp(xp_partner_domain(p), d) != 0)
			xp_text_printf(x, "  (%s is one of its domains)", d);
		xp_text_printf(x, "\n");
		show_line(x, "source", source != NULL ? source : "?");
	}
	desc = xp_partner_description(p);
	xp_text_printf(x, "%-20s ", "description");
	xp_text_one_line(x, desc != NULL && desc[0] != '\0' ? desc : "-");
	xp_text_printf(x, "\n");
	show_line(x, "type", xp_partner_type_name(xp_partner_get_type(p)));
	show_line(x, "tls", xp_tls_name(xp_partner_tls(p)));
	show_line(x, "sasl", xp_sasl_name(xp_partner_sasl(p)));
	show_line(x, "dialback", xp_partner_dialback(p) ? "true" : "false");
	show_list(x, "additional_domains", xp_partner_additional_count(p),
	          xp_partner_additional, p);
	proxy = xp_partner_proxy(p, &port);
	if (proxy != NULL)
		xp_text_printf(x, "%-20s %s:%u\n", "proxy", proxy, port);
	else
		show_line(x, "proxy", "-");
	snprintf(num, sizeof(num), "%u", xp_partner_connection_limit(p));
	show_line(x, "connection_limit", num);
	show_line(x, "keepalive", xp_partner_keepalive(p) ? "true" : "false");
	show_list(x, "fingerprints", xp_partner_fingerprint_count(p),
	          xp_partner_fingerprint, p);
	row = xp_partner_row(p);
	xp_text_printf(x, "%-20s %d (%s)\n", "matrix row", row->row,
	               xp_verdict_name(row->verdict));
	xp_text_printf(x, "%-20s ", "methods");
	for (m = 1, k = 0; m <= XP_METHOD_DIALBACK_TCP; m <<= 1)
		if (row->methods & m)
			xp_text_printf(x, "%s%s", k++ ? "," : "",
			               xp_method_name((xp_method)m));
	xp_text_printf(x, "%s\n", k ? "" : "-");
	if (row->reason[0] != '\0')
		show_line(x, "reason", row->reason);
done:
	if (xp_text_failed(x)) {
		xp_text_free(x);
		return XP_ENOMEM;
	}
	*out = x;
	return rc;
}

/* ---- list: the partners in one aligned table ---------------------------- */

enum { COL_DOMAIN, COL_TYPE, COL_RULES, COL_EXTRA, COL_SOURCE, COL_LIVE, NCOL };

static const char *const list_header[NCOL] = {
        "domain",        "type",   "tls/sasl/dialback",
        "extra domains", "source", "live"};

/* The cells of one row; extra is written into buf (size bytes). */
static void list_cells(const xp_table *t, const xp_list_row *r,
                       const char *cells[NCOL], char *rules, size_t rsize,
                       char *extra, size_t esize, char *live, size_t lsize)
{
	const xp_partner *p = xp_table_lookup(t, r->domain, strlen(r->domain));
	size_t i, n, used = 0;

	cells[COL_DOMAIN] = r->domain;
	cells[COL_SOURCE] = r->source != NULL ? r->source : "?";
	snprintf(live, lsize, "%lu", r->live);
	cells[COL_LIVE] = live;
	if (p == NULL) {
		cells[COL_TYPE] = cells[COL_RULES] = cells[COL_EXTRA] = "?";
		return;
	}
	cells[COL_TYPE] = xp_partner_type_name(xp_partner_get_type(p));
	snprintf(rules, rsize, "%s/%s/%s", xp_tls_name(xp_partner_tls(p)),
	         xp_sasl_name(xp_partner_sasl(p)),
	         xp_partner_dialback(p) ? "true" : "false");
	cells[COL_RULES] = rules;
	n = xp_partner_additional_count(p);
	extra[0] = '\0';
	for (i = 0; i < n && used + 1 < esize; i++) {
		int k = snprintf(extra + used, esize - used, "%s%s",
		                 i ? "," : "", xp_partner_additional(p, i));
		if (k < 0)
			break;
		used += (size_t)k;
	}
	cells[COL_EXTRA] = n ? extra : "-";
}

static void list_line(xp_text *x, const char *const cells[NCOL],
                      const size_t widths[NCOL])
{
	size_t i;

	for (i = 0; i < NCOL; i++) {
		if (i + 1 < NCOL)
			xp_text_printf(x, "%-*s  ", (int)widths[i], cells[i]);
		else
			xp_text_printf(x, "%s\n", cells[i]);
	}
}

int xp_list_text(xp_ctx *ctx, const xp_table *t, const xp_list_row *rows,
                 size_t n, size_t matched, const char *pattern,
                 const char *const *removed, size_t n_removed, xp_text **out)
{
	/* (a row's extra domains are cut at 4 kB in the list; show has all) */
	char rules[96], extra[4096], live[32], dashes[NCOL][128];
	const char *cells[NCOL];
	size_t widths[NCOL], i, j;
	xp_text *x;
	int ej;

	if (ctx == NULL || t == NULL || out == NULL ||
	    (rows == NULL && n > 0) || (removed == NULL && n_removed > 0))
		return XP_EINVAL;
	for (i = 0; i < n; i++)
		if (rows[i].domain == NULL)
			return XP_EINVAL;
	ej = t->style == XP_HOST_EJABBERD;
	for (j = 0; j < NCOL; j++)
		widths[j] = strlen(list_header[j]);
	for (i = 0; i < n; i++) {
		list_cells(t, &rows[i], cells, rules, sizeof(rules), extra,
		           sizeof(extra), live, sizeof(live));
		for (j = 0; j < NCOL; j++)
			if (strlen(cells[j]) > widths[j])
				widths[j] = strlen(cells[j]);
	}
	x = xp_text_new(ctx);
	if (x == NULL)
		return XP_ENOMEM;
	list_line(x, list_header, widths);
	for (j = 0; j < NCOL; j++) {
		size_t w = widths[j] < sizeof(dashes[j]) - 1
		                   ? widths[j]
		                   : sizeof(dashes[j]) - 1;
		memset(dashes[j], '-', w);
		dashes[j][w] = '\0';
		cells[j] = dashes[j];
	}
	list_line(x, cells, widths);
	for (i = 0; i < n; i++) {
		list_cells(t, &rows[i], cells, rules, sizeof(rules), extra,
		           sizeof(extra), live, sizeof(live));
		list_line(x, cells, widths);
	}
	/* (ejabberdctl partners_list lists every partner: no PATTERN) */
	if (matched > n && ej)
		xp_text_printf(x, "... and %lu more (not shown)\n",
		               (unsigned long)(matched - n));
	else if (matched > n)
		xp_text_printf(x,
		               "... and %lu more: partners:list(PATTERN) lists "
		               "the partners whose domain contains PATTERN, "
		               "partners:list(PATTERN, N) up to N of them\n",
		               (unsigned long)(matched - n));
	if (t->closed)
		xp_text_printf(x,
		               "The table in force refuses every domain: the "
		               "partner configuration is invalid (see %s, fix "
		               "it, then reload the configuration)\n",
		               ej ? "ejabberdctl partners_check"
		                  : "partners:check()");
	xp_text_printf(x, "%lu partner(s)", (unsigned long)t->n_partners);
	if (pattern != NULL && pattern[0] != '\0')
		xp_text_printf(x, ", %lu with '%s' in the domain",
		               (unsigned long)matched, pattern);
	xp_text_printf(x, "; unlisted domains %s\n",
	               t->default_policy == XP_DEFAULT_DENY ? "refused"
	                                                    : "allowed");
	if (n_removed > 0) {
		xp_text_printf(x,
		               "removed at runtime (config entries hidden): ");
		for (i = 0; i < n_removed; i++)
			xp_text_printf(x, "%s%s", i ? ", " : "", removed[i]);
		xp_text_printf(x, "\n");
	}
	if (xp_text_failed(x)) {
		xp_text_free(x);
		return XP_ENOMEM;
	}
	*out = x;
	return XP_OK;
}
