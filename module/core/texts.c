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

/* ---- admin change results ------------------------------------------------ */

/* A string as Lua's string.format("%q") writes it (Lua 5.3/5.4): quotes,
 * backslash and newline escaped with a backslash, other control bytes as
 * decimal escapes (three digits when a digit follows), so the text reads
 * back as the same string. */
static void add_quoted(xp_text *x, const char *s, size_t len)
{
	size_t i, start = 0;

	xp_text_add(x, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c != '"' && c != '\\' && c != '\n' && c >= 0x20 &&
		    c != 0x7F)
			continue;
		xp_text_add(x, s + start, i - start);
		start = i + 1;
		if (c == '"' || c == '\\' || c == '\n') {
			char esc[2] = {'\\', (char)c};
			xp_text_add(x, esc, 2);
		} else if (i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9') {
			xp_text_printf(x, "\\%03u", (unsigned)c);
		} else {
			xp_text_printf(x, "\\%u", (unsigned)c);
		}
	}
	xp_text_add(x, s + start, len - start);
	xp_text_add(x, "\"", 1);
}

/* A value the host's way: Lua syntax for Prosody (the shell echoes what
 * one would type in the configuration), YAML-like for ejabberd. */
static void add_value(xp_text *x, const xp_text_value *v, xp_host_style style)
{
	int ej = style == XP_HOST_EJABBERD;
	size_t i;

	if (v == NULL || v->type == XP_VALUE_UNSET) {
		xp_text_printf(x, "%s", ej ? "none" : "nil");
		return;
	}
	switch (v->type) {
	case XP_VALUE_STRING:
		if (ej)
			xp_text_add(x, v->s != NULL ? v->s : "",
			            v->s != NULL ? v->len : 0);
		else
			add_quoted(x, v->s != NULL ? v->s : "",
			           v->s != NULL ? v->len : 0);
		break;
	case XP_VALUE_BOOLEAN:
		xp_text_printf(x, "%s", v->boolean ? "true" : "false");
		break;
	case XP_VALUE_INTEGER:
		xp_text_printf(x, "%lld", v->integer);
		break;
	case XP_VALUE_LIST:
		xp_text_printf(x, "%s", ej ? "[" : (v->n ? "{ " : "{"));
		for (i = 0; i < v->n; i++) {
			const char *item =
			        v->items != NULL ? v->items[i] : NULL;
			size_t len = item != NULL && v->lens != NULL
			                     ? v->lens[i]
			                     : 0;
			if (i > 0)
				xp_text_printf(x, ", ");
			if (ej)
				xp_text_add(x, item != NULL ? item : "", len);
			else
				add_quoted(x, item != NULL ? item : "", len);
		}
		xp_text_printf(x, "%s", ej ? "]" : (v->n ? " }" : "}"));
		break;
	default:
		break;
	}
}

/* A list value's items must be there when it has any. */
static int value_ok(const xp_text_value *v)
{
	size_t i;

	if (v == NULL)
		return 1;
	if (v->type < XP_VALUE_UNSET || v->type > XP_VALUE_LIST)
		return 0;
	if (v->type == XP_VALUE_LIST && v->n > 0) {
		if (v->items == NULL || v->lens == NULL)
			return 0;
		for (i = 0; i < v->n; i++)
			if (v->items[i] == NULL)
				return 0;
	}
	return v->type != XP_VALUE_STRING || v->s != NULL;
}

/* What a refusal names: "adding D", "setting KEY of D", ... */
static void add_what(xp_text *x, const xp_change *c)
{
	switch (c->op) {
	case XP_CHANGE_ADD:
		xp_text_printf(x, "adding %s", c->domain);
		break;
	case XP_CHANGE_SET:
		xp_text_printf(x, "setting %s of %s", c->key, c->domain);
		break;
	case XP_CHANGE_REMOVE:
		xp_text_printf(x, "removing %s", c->domain);
		break;
	case XP_CHANGE_RESET:
		xp_text_printf(x, "resetting %s", c->domain);
		break;
	case XP_CHANGE_RESET_BACKOFF:
		xp_text_printf(x, "ending the refusal back-off of %s",
		               c->domain);
		break;
	case XP_CHANGE_EDIT:
		xp_text_printf(x, "editing %s", c->domain);
		break;
	}
}

static int change_ok(const xp_change *c)
{
	if (c == NULL || c->domain == NULL || c->op < XP_CHANGE_ADD ||
	    c->op > XP_CHANGE_EDIT)
		return 0;
	if (c->op == XP_CHANGE_SET && (c->key == NULL || !value_ok(c->value)))
		return 0;
	return 1;
}

static int finish(xp_text *x, xp_text **out)
{
	if (xp_text_failed(x)) {
		xp_text_free(x);
		return XP_ENOMEM;
	}
	*out = x;
	return XP_OK;
}

/* Prosody's shell says how a typed word was read ("yes" is true) when the
 * value it writes is neither the word nor the word quoted. */
static void add_read_as(xp_text *x, const xp_change *c)
{
	size_t mark = x->len, vlen, tlen = strlen(c->typed);
	int same;

	add_value(x, c->value, XP_HOST_PROSODY);
	if (xp_text_failed(x))
		return;
	vlen = x->len - mark;
	same = (vlen == tlen && memcmp(x->s + mark, c->typed, tlen) == 0) ||
	       (vlen == tlen + 2 && x->s[mark] == '"' &&
	        memcmp(x->s + mark + 1, c->typed, tlen) == 0 &&
	        x->s[mark + vlen - 1] == '"');
	if (same) {
		x->len = mark;
		x->s[mark] = '\0';
		return;
	}
	/* (the value moves after the typed word) */
	{
		char *v = xp_malloc(x->ctx, vlen + 1);
		if (v == NULL) {
			x->failed = 1;
			return;
		}
		memcpy(v, x->s + mark, vlen);
		v[vlen] = '\0';
		x->len = mark;
		x->s[mark] = '\0';
		xp_text_printf(x, " (\"%s\" read as %s)", c->typed, v);
		xp_free(x->ctx, v, vlen + 1);
	}
}

int xp_change_text(xp_ctx *ctx, xp_host_style style, const xp_change *c,
                   const char *warnings, xp_text **out)
{
	int ej = style == XP_HOST_EJABBERD;
	xp_text *x;

	if (ctx == NULL || out == NULL || !change_ok(c))
		return XP_EINVAL;
	x = xp_text_new(ctx);
	if (x == NULL)
		return XP_ENOMEM;
	switch (c->op) {
	case XP_CHANGE_ADD:
		xp_text_printf(x, "%s added (runtime, stored)", c->domain);
		break;
	case XP_CHANGE_SET:
		xp_text_printf(x, "%s: %s = ", c->domain, c->key);
		add_value(x, c->value, style);
		if (!ej && c->typed != NULL)
			add_read_as(x, c);
		xp_text_printf(x, " (runtime, stored)");
		break;
	case XP_CHANGE_REMOVE:
		xp_text_printf(x, "%s removed", c->domain);
		if (c->hidden != NULL && ej)
			xp_text_printf(x,
			               " (its configured entry stays hidden "
			               "until partners_reset %s)",
			               c->hidden);
		else if (c->hidden != NULL)
			xp_text_printf(x,
			               " (its config entry stays hidden until "
			               "partners:reset(\"%s\"))",
			               c->hidden);
		break;
	case XP_CHANGE_RESET:
		xp_text_printf(x,
		               "%s: runtime entry cleared, the configuration "
		               "applies",
		               c->domain);
		break;
	case XP_CHANGE_RESET_BACKOFF:
		if (c->count == 0)
			xp_text_printf(x, "%s has no refusal back-off",
			               c->domain);
		else if (ej)
			xp_text_printf(x,
			               "refusal back-off of %s ended (%lu "
			               "origin%s); its next stream is judged "
			               "afresh",
			               c->domain, c->count,
			               c->count == 1 ? "" : "s");
		else
			xp_text_printf(x,
			               "%s: refusal back-off ended, its next "
			               "stream is judged afresh",
			               c->domain);
		break;
	case XP_CHANGE_EDIT:
		xp_text_printf(x, "%s changed (runtime, stored)", c->domain);
		break;
	}
	if (warnings != NULL && warnings[0] != '\0')
		xp_text_printf(x, "\n%s", warnings);
	return finish(x, out);
}

int xp_change_refused_text(xp_ctx *ctx, xp_host_style style, const xp_change *c,
                           xp_change_refusal why, const char *detail,
                           const xp_diag *diags, size_t n, xp_text **out)
{
	int ej = style == XP_HOST_EJABBERD;
	size_t i;
	xp_text *x;

	if (ctx == NULL || out == NULL || !change_ok(c) ||
	    (diags == NULL && n > 0) || why < XP_REFUSE_INVALID ||
	    why > XP_REFUSE_NOTHING)
		return XP_EINVAL;
	if ((why == XP_REFUSE_ADDITIONAL || why == XP_REFUSE_READ ||
	     why == XP_REFUSE_STORE) &&
	    detail == NULL)
		return XP_EINVAL;
	x = xp_text_new(ctx);
	if (x == NULL)
		return XP_ENOMEM;
	switch (why) {
	case XP_REFUSE_INVALID:
		add_what(x, c);
		xp_text_printf(x, " refused, nothing changed:");
		for (i = 0; i < n; i++) {
			if (diags[i].severity != XP_SEV_ERROR)
				continue;
			xp_text_printf(x, "\n");
			add_diag(x, &diags[i]);
		}
		break;
	case XP_REFUSE_READ:
		add_what(x, c);
		xp_text_printf(x, " refused, nothing changed: %s", detail);
		break;
	case XP_REFUSE_STORE:
		add_what(x, c);
		if (ej)
			xp_text_printf(x,
			               " refused, nothing changed: the change "
			               "could not be stored in Mnesia (%s)",
			               detail);
		else
			xp_text_printf(x,
			               " refused, nothing changed: the change "
			               "could not be stored (%s); check the "
			               "storage configuration and the data "
			               "directory permissions",
			               detail);
		break;
	case XP_REFUSE_EXISTS:
		if (ej)
			xp_text_printf(
			        x,
			        "%s is already a partner; change it with "
			        "partners_set %s KEY VALUE or remove it "
			        "first",
			        c->domain, c->domain);
		else
			xp_text_printf(
			        x,
			        "%s is already a partner; change it with "
			        "partners:set(\"%s\", KEY, VALUE) or remove "
			        "it first",
			        c->domain, c->domain);
		break;
	case XP_REFUSE_NOT_PARTNER:
		if (c->op == XP_CHANGE_EDIT)
			xp_text_printf(x, "%s is no longer a partner",
			               c->domain);
		else if (c->op != XP_CHANGE_SET && c->op != XP_CHANGE_ADD)
			xp_text_printf(
			        x, "%s is not a partner (see %s)", c->domain,
			        ej ? "partners_list" : "partners:list()");
		else if (ej)
			xp_text_printf(x,
			               "%s is not a partner; add it with "
			               "partners_add %s RECORD",
			               c->domain, c->domain);
		else
			xp_text_printf(x,
			               "%s is not a partner; add it with "
			               "partners:add(\"%s\", { ... })",
			               c->domain, c->domain);
		break;
	case XP_REFUSE_ADDITIONAL:
		xp_text_printf(x,
		               "%s is an additional domain of %s; change %s "
		               "instead",
		               c->domain, detail, detail);
		break;
	case XP_REFUSE_NOTHING:
		xp_text_printf(x, "%s has no runtime entry or removal to reset",
		               c->domain);
		break;
	}
	return finish(x, out);
}

/* ---- export: the effective table as a partner file ----------------------- */

/* The documented order of a record's keys, and of the global options (the
 * builder's). */
static const char *const record_keys[] = {"description", "type",
                                          "tls",         "sasl",
                                          "dialback",    "additional_domains",
                                          "proxy",       "connection_limit",
                                          "keepalive",   "fingerprints"};
static const char *const export_options[] = {
        "default",         "keepalive_interval",  "connection_limit",
        "refusal_backoff", "pending_per_address", "pending_limit",
        "auth_timeout",    "preauth_bytes",       "preauth_depth"};
#define N_RECORD_KEYS    (sizeof(record_keys) / sizeof(record_keys[0]))
#define N_EXPORT_OPTIONS (sizeof(export_options) / sizeof(export_options[0]))

static int is_record_key(const char *k)
{
	size_t i;

	for (i = 0; i < N_RECORD_KEYS; i++)
		if (strcmp(record_keys[i], k) == 0)
			return 1;
	return 0;
}

static int is_identifier(const char *k)
{
	size_t i;

	if (k[0] == '\0' || (k[0] >= '0' && k[0] <= '9'))
		return 0;
	for (i = 0; k[i] != '\0'; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') ||
		      (k[i] >= 'A' && k[i] <= 'Z') ||
		      (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return 0;
	return 1;
}

static int by_key(const void *pa, const void *pb)
{
	const xp_export_field *a = *(const xp_export_field *const *)pa;
	const xp_export_field *b = *(const xp_export_field *const *)pb;

	return strcmp(a->key, b->key);
}

static int by_domain(const void *pa, const void *pb)
{
	const xp_export_record *a = *(const xp_export_record *const *)pa;
	const xp_export_record *b = *(const xp_export_record *const *)pb;

	return strcmp(a->domain, b->domain);
}

static void add_field(xp_text *x, const xp_export_field *f, size_t *k)
{
	if (f->value.type == XP_VALUE_UNSET)
		return;
	xp_text_printf(x, "%s", (*k)++ ? "; " : "{ ");
	if (is_identifier(f->key)) {
		xp_text_printf(x, "%s", f->key);
	} else {
		xp_text_printf(x, "[");
		add_quoted(x, f->key, strlen(f->key));
		xp_text_printf(x, "]");
	}
	xp_text_printf(x, " = ");
	add_value(x, &f->value, XP_HOST_PROSODY);
}

/* One record on one line: the known keys in order, then any other sorted
 * (the builder refuses unknown keys; kept so nothing is lost). */
static int add_record(xp_ctx *ctx, xp_text *x, const xp_export_record *r)
{
	const xp_export_field **other;
	size_t i, j, n_other = 0, k = 0;

	other = xp_malloc(ctx,
	                  (r->n_fields ? r->n_fields : 1) * sizeof(*other));
	if (other == NULL)
		return XP_ENOMEM;
	for (i = 0; i < N_RECORD_KEYS; i++)
		for (j = 0; j < r->n_fields; j++)
			if (strcmp(r->fields[j].key, record_keys[i]) == 0) {
				add_field(x, &r->fields[j], &k);
				break;
			}
	for (j = 0; j < r->n_fields; j++)
		if (!is_record_key(r->fields[j].key))
			other[n_other++] = &r->fields[j];
	if (n_other > 1)
		qsort(other, n_other, sizeof(*other), by_key);
	for (i = 0; i < n_other; i++)
		add_field(x, other[i], &k);
	xp_text_printf(x, "%s", k ? " }" : "{}");
	xp_free(ctx, other, (r->n_fields ? r->n_fields : 1) * sizeof(*other));
	return XP_OK;
}

int xp_export_text(xp_ctx *ctx, const xp_export_field *options,
                   size_t n_options, const xp_export_record *records, size_t n,
                   xp_text **out)
{
	const xp_export_record **order;
	size_t i, j;
	xp_text *x;
	int rc = XP_OK;

	if (ctx == NULL || out == NULL || (options == NULL && n_options > 0) ||
	    (records == NULL && n > 0))
		return XP_EINVAL;
	for (i = 0; i < n_options; i++)
		if (options[i].key == NULL || !value_ok(&options[i].value))
			return XP_EINVAL;
	for (i = 0; i < n; i++) {
		if (records[i].domain == NULL ||
		    (records[i].fields == NULL && records[i].n_fields > 0))
			return XP_EINVAL;
		for (j = 0; j < records[i].n_fields; j++)
			if (records[i].fields[j].key == NULL ||
			    !value_ok(&records[i].fields[j].value))
				return XP_EINVAL;
	}
	order = xp_malloc(ctx, (n ? n : 1) * sizeof(*order));
	if (order == NULL)
		return XP_ENOMEM;
	for (i = 0; i < n; i++)
		order[i] = &records[i];
	if (n > 1)
		qsort(order, n, sizeof(*order), by_domain);
	x = xp_text_new(ctx);
	if (x == NULL) {
		xp_free(ctx, order, (n ? n : 1) * sizeof(*order));
		return XP_ENOMEM;
	}
	xp_text_printf(x, "-- xmpp_partners: effective partner table (config "
	                  "plus runtime changes)\n");
	for (i = 0; i < N_EXPORT_OPTIONS; i++)
		for (j = 0; j < n_options; j++)
			if (strcmp(options[j].key, export_options[i]) == 0 &&
			    options[j].value.type != XP_VALUE_UNSET) {
				xp_text_printf(x, "xmpp_partners_%s = ",
				               export_options[i]);
				add_value(x, &options[j].value,
				          XP_HOST_PROSODY);
				xp_text_printf(x, "\n");
				break;
			}
	xp_text_printf(x, "xmpp_partners = {\n");
	for (i = 0; i < n && rc == XP_OK; i++) {
		xp_text_printf(x, "\t[");
		add_quoted(x, order[i]->domain, strlen(order[i]->domain));
		xp_text_printf(x, "] = ");
		rc = add_record(ctx, x, order[i]);
		xp_text_printf(x, "; -- ");
		xp_text_one_line(x, order[i]->source != NULL ? order[i]->source
		                                             : "?");
		xp_text_printf(x, "\n");
	}
	xp_text_printf(x, "}");
	xp_free(ctx, order, (n ? n : 1) * sizeof(*order));
	if (rc != XP_OK) {
		xp_text_free(x);
		return rc;
	}
	return finish(x, out);
}
