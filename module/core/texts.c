/*
 * texts.c: texts the core writes for hosts to print (explain, and later
 * admin results), in a growing buffer allocated with the context's
 * allocator.  Hosts only print them, so every host says the same thing in
 * the same words.
 */
#include <stdarg.h>
#include <stdio.h>
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
