/*
 * value.c: a value typed for a record key at an admin prompt (the Prosody
 * shell's partners:set, ejabberdctl partners_set, a form field), read the
 * same way on every host: the key's kind in the builder's schema decides.
 *
 *   none, nil            the key is removed (the default applies)
 *   list keys            "a, b", "a b" or "[a, b]" (items may be quoted)
 *   boolean keys         true/yes/1, false/no/0
 *   integer keys         decimal digits (an optional minus sign)
 *   anything else        the text itself (trimmed): the builder judges it,
 *                        so "maybe" for dialback is reported, not guessed
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct xp_value {
	xp_ctx *ctx;
	xp_value_type type;
	int boolean;
	long long integer;
	char *buf; /* the trimmed text; list items are cut out of it */
	size_t len, size;
	const char **items;
	size_t *lens;
	size_t n_items;
};

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

static int is_word(const char *s, size_t len, const char *w)
{
	return len == strlen(w) && memcmp(s, w, len) == 0;
}

/* Decimal digits with an optional minus, within long long. */
static int parse_integer(const char *s, size_t len, long long *out)
{
	size_t i = 0;
	int neg = 0;
	unsigned long long v = 0;

	if (len > 0 && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == len)
		return 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		if (v > (9223372036854775807ULL - (unsigned)(s[i] - '0')) / 10)
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = neg ? -(long long)v : (long long)v;
	return 1;
}

/* Cut the list items out of v->buf (which is changed in place). */
static int split_list(xp_value *v)
{
	char *s = v->buf, *end = v->buf + v->len;
	size_t n = 0, i;

	if (v->len >= 2 && s[0] == '[' && end[-1] == ']') {
		s++;
		end--;
	}
	/* at most one item per two bytes, plus one */
	v->items = xp_malloc(v->ctx, ((v->len / 2) + 1) * sizeof(*v->items));
	v->lens = xp_malloc(v->ctx, ((v->len / 2) + 1) * sizeof(*v->lens));
	if (v->items == NULL || v->lens == NULL)
		return XP_ENOMEM;
	while (s < end) {
		char *start;
		while (s < end && (is_space(*s) || *s == ','))
			s++;
		if (s >= end)
			break;
		start = s;
		while (s < end && !is_space(*s) && *s != ',')
			s++;
		i = (size_t)(s - start);
		/* "a" or 'a': the quotes are YAML's, not the item's */
		if (i >= 2 && (start[0] == '"' || start[0] == '\'') &&
		    start[i - 1] == start[0]) {
			start++;
			i -= 2;
		}
		v->items[n] = start;
		v->lens[n] = i;
		n++;
	}
	for (i = 0; i < n; i++)
		((char *)v->items[i])[v->lens[i]] = '\0';
	v->n_items = n;
	return XP_OK;
}

void xp_value_free(xp_value *v)
{
	if (v == NULL)
		return;
	xp_free(v->ctx, v->items, ((v->len / 2) + 1) * sizeof(*v->items));
	xp_free(v->ctx, v->lens, ((v->len / 2) + 1) * sizeof(*v->lens));
	xp_free(v->ctx, v->buf, v->size);
	xp_free(v->ctx, v, sizeof(*v));
}

int xp_value_parse(xp_ctx *ctx, const char *key, const char *text, size_t len,
                   xp_value **out)
{
	xp_value *v;
	xp_key_kind kind;
	size_t start = 0;

	if (ctx == NULL || key == NULL || text == NULL || out == NULL)
		return XP_EINVAL;
	while (start < len && is_space(text[start]))
		start++;
	while (len > start && is_space(text[len - 1]))
		len--;
	v = xp_malloc(ctx, sizeof(*v));
	if (v == NULL)
		return XP_ENOMEM;
	memset(v, 0, sizeof(*v));
	v->ctx = ctx;
	v->len = len - start;
	v->size = v->len + 1;
	v->buf = xp_malloc(ctx, v->size);
	if (v->buf == NULL) {
		xp_free(ctx, v, sizeof(*v));
		return XP_ENOMEM;
	}
	memcpy(v->buf, text + start, v->len);
	v->buf[v->len] = '\0';
	kind = xp_record_key_kind(key);
	if (is_word(v->buf, v->len, "none") || is_word(v->buf, v->len, "nil")) {
		v->type = XP_VALUE_UNSET;
	} else if (kind == XP_KEY_LIST) {
		v->type = XP_VALUE_LIST;
		if (split_list(v) != XP_OK) {
			xp_value_free(v);
			return XP_ENOMEM;
		}
	} else if (kind == XP_KEY_BOOLEAN && (is_word(v->buf, v->len, "true") ||
	                                      is_word(v->buf, v->len, "yes") ||
	                                      is_word(v->buf, v->len, "1"))) {
		v->type = XP_VALUE_BOOLEAN;
		v->boolean = 1;
	} else if (kind == XP_KEY_BOOLEAN &&
	           (is_word(v->buf, v->len, "false") ||
	            is_word(v->buf, v->len, "no") ||
	            is_word(v->buf, v->len, "0"))) {
		v->type = XP_VALUE_BOOLEAN;
		v->boolean = 0;
	} else if (kind == XP_KEY_INTEGER &&
	           parse_integer(v->buf, v->len, &v->integer)) {
		v->type = XP_VALUE_INTEGER;
	} else {
		v->type = XP_VALUE_STRING;
	}
	*out = v;
	return XP_OK;
}

xp_value_type xp_value_get_type(const xp_value *v)
{
	return v->type;
}

int xp_value_boolean(const xp_value *v)
{
	return v->type == XP_VALUE_BOOLEAN && v->boolean;
}

long long xp_value_integer(const xp_value *v)
{
	return v->type == XP_VALUE_INTEGER ? v->integer : 0;
}

const char *xp_value_string(const xp_value *v, size_t *len)
{
	if (len != NULL)
		*len = v->type == XP_VALUE_STRING ? v->len : 0;
	return v->type == XP_VALUE_STRING ? v->buf : NULL;
}

size_t xp_value_count(const xp_value *v)
{
	return v->type == XP_VALUE_LIST ? v->n_items : 0;
}

const char *xp_value_item(const xp_value *v, size_t i, size_t *len)
{
	if (v->type != XP_VALUE_LIST || i >= v->n_items) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (len != NULL)
		*len = v->lens[i];
	return v->items[i];
}
