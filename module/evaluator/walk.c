/*
 * walk.c: the partner file's values into the builder (see walk.h).
 *
 * This mirrors the Lua binding's walk of a Lua table key for key, so that
 * the same file gives the same diagnostics whichever host reads it; the
 * only difference is where the values live.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk.h"

/* A key with the name it goes by: the string itself, or tostring's form. */
typedef struct key_entry {
	const char *name;
	size_t len;
	int is_string;
	const xps_field *field;
	char buf[64]; /* the name of a non-string key */
} key_entry;

/* Lua's tostring of a float ("%.14g", and ".0" when it reads as an
 * integer), so [1.5] and [1.0] are named as Lua names them. */
static void number_name(double n, char *buf, size_t size)
{
	snprintf(buf, size, "%.14g", n);
	if (buf[strspn(buf, "-0123456789")] == '\0')
		strncat(buf, ".0", size - strlen(buf) - 1);
}

static void name_key(key_entry *k, const xps_value *key)
{
	k->is_string = key->type == XPS_STRING;
	switch (key->type) {
	case XPS_STRING:
		k->name = key->string;
		k->len = key->len;
		return;
	case XPS_INTEGER:
		snprintf(k->buf, sizeof(k->buf), "%lld", key->integer);
		break;
	case XPS_NUMBER:
		number_name(key->number, k->buf, sizeof(k->buf));
		break;
	case XPS_BOOLEAN:
		snprintf(k->buf, sizeof(k->buf), "%s",
		         key->boolean ? "true" : "false");
		break;
	default:
		snprintf(k->buf, sizeof(k->buf), "%s: %p",
		         key->type_name ? key->type_name : "userdata",
		         (const void *)key);
		break;
	}
	k->name = k->buf;
	k->len = strlen(k->buf);
}

/* Entries move while they are sorted: a non-string key's name is read
 * from the entry's own buffer, never through a stored pointer. */
#define KEY_NAME(k) ((k)->is_string ? (k)->name : (k)->buf)

static int key_compare(const void *pa, const void *pb)
{
	const key_entry *a = pa, *b = pb;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(KEY_NAME(a), KEY_NAME(b), n) : 0;

	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	/* "1" and 1 have the same name: the string key first. */
	return (!a->is_string) - (!b->is_string);
}

/* A pair Lua would hold: neither key nor value nil. */
static int live(const xps_field *f)
{
	return f->key.type != XPS_NIL && f->value.type != XPS_NIL;
}

/* The table's keys, named and sorted; NULL with *n = 0 for no keys, NULL
 * with *n != 0 when memory runs out.  The names of non-string keys live
 * in the entries, so the array must stay put while they are used. */
static key_entry *sorted_keys(const xps_value *t, size_t *n)
{
	key_entry *keys;
	size_t i, k = 0;

	*n = 0;
	for (i = 0; i < t->count; i++)
		k += live(&t->fields[i]);
	if (k == 0)
		return NULL;
	keys = malloc(k * sizeof(*keys));
	if (keys == NULL) {
		*n = k;
		return NULL;
	}
	for (i = 0, k = 0; i < t->count; i++) {
		if (!live(&t->fields[i]))
			continue;
		keys[k].field = &t->fields[i];
		name_key(&keys[k], &t->fields[i].key);
		k++;
	}
	/* Entries hold their own name buffers: point at them only once
	 * the sort has moved every entry to its place. */
	qsort(keys, k, sizeof(*keys), key_compare);
	for (i = 0; i < k; i++)
		if (!keys[i].is_string)
			keys[i].name = keys[i].buf;
	*n = k;
	return keys;
}

/* Lua's type name of a value. */
static const char *type_name(const xps_value *v)
{
	switch (v->type) {
	case XPS_NIL:
		return "nil";
	case XPS_BOOLEAN:
		return "boolean";
	case XPS_INTEGER:
	case XPS_NUMBER:
		return "number";
	case XPS_STRING:
		return "string";
	case XPS_TABLE:
		return "table";
	default:
		return v->type_name != NULL ? v->type_name : "userdata";
	}
}

/* A list: a table whose keys are exactly 1..n.  On success *items and
 * *lens are malloc'd arrays (free both with free(*items)); a non-string
 * item is NULL.  Returns 1 for a list, 0 for any other table, -1 when
 * memory runs out. */
static int list_items(const xps_value *t, const char ***items, size_t **lens,
                      size_t *count)
{
	size_t n = 0, i;
	const char **it;
	size_t *ln;

	for (i = 0; i < t->count; i++) {
		const xps_field *f = &t->fields[i];
		if (!live(f))
			continue;
		if (f->key.type != XPS_INTEGER || f->key.integer < 1 ||
		    (unsigned long long)f->key.integer > t->count)
			return 0;
		n++;
	}
	it = malloc((n ? n : 1) * (sizeof(*it) + sizeof(*ln)));
	if (it == NULL)
		return -1;
	ln = (size_t *)(void *)(it + (n ? n : 1));
	for (i = 0; i < n; i++)
		it[i] = (const char *)t; /* marks a slot not yet seen */
	for (i = 0; i < t->count; i++) {
		const xps_field *f = &t->fields[i];
		size_t at;
		if (!live(f))
			continue;
		at = (size_t)f->key.integer - 1;
		if (at >= n) { /* a key beyond the count: a gap somewhere */
			free(it);
			return 0;
		}
		if (f->value.type == XPS_STRING) {
			it[at] = f->value.string;
			ln[at] = f->value.len;
		} else {
			it[at] = NULL;
			ln[at] = 0;
		}
	}
	/* Keys come from lua_next and are unique, so every slot is filled;
	 * a slot still marked would be a repeated key: not a list then. */
	for (i = 0; i < n; i++) {
		if (it[i] == (const char *)t) {
			free(it);
			return 0;
		}
	}
	*items = it;
	*lens = ln;
	*count = n;
	return 1;
}

/* One key of a partner record. */
static int walk_field(xp_builder *b, const char *key, const xps_value *v)
{
	const char **items;
	size_t *lens, n;
	int rc;

	switch (v->type) {
	case XPS_STRING:
		return xp_builder_set_string(b, key, v->string, v->len);
	case XPS_BOOLEAN:
		return xp_builder_set_boolean(b, key, v->boolean);
	case XPS_INTEGER:
		return xp_builder_set_integer(b, key, v->integer);
	case XPS_NUMBER:
		return xp_builder_set_number(b, key, v->number);
	case XPS_TABLE:
		rc = list_items(v, &items, &lens, &n);
		if (rc < 0)
			return XP_ENOMEM;
		if (rc == 0)
			return xp_builder_set_invalid(
			        b, key, "table with non-list keys");
		rc = xp_builder_set_list(b, key, items, lens, n);
		free(items);
		return rc;
	default:
		return xp_builder_set_invalid(b, key, type_name(v));
	}
}

int xpe_walk_record(xp_builder *b, const xps_value *v)
{
	key_entry *keys;
	size_t n, i;
	int rc = XP_OK;

	if (v == NULL || v->type != XPS_TABLE)
		return xp_builder_record_invalid(b, v != NULL ? type_name(v)
		                                              : "nil");
	keys = sorted_keys(v, &n);
	if (keys == NULL && n != 0)
		return XP_ENOMEM;
	for (i = 0; i < n && rc == XP_OK; i++) {
		const key_entry *k = &keys[i];
		if (!k->is_string) {
			/* Shown as written in Lua, [1] or [true], which also
			 * keeps "did you mean" from matching true to type. */
			char name[80], what[40];
			snprintf(name, sizeof(name), "[%s]", k->name);
			snprintf(what, sizeof(what), "%s key",
			         type_name(&k->field->key));
			rc = xp_builder_set_invalid(b, name, what);
		} else {
			rc = walk_field(b, k->name, &k->field->value);
		}
	}
	free(keys);
	return rc;
}

/*
 * A partner under a non-string key.  The builder gets the key's name, so
 * its domain check reports [1] or [{}]; but [true] and [math.huge] make
 * names that pass as domains, and a partner is still named by a string.
 */
static int walk_odd_partner(xp_builder *b, const key_entry *k)
{
	char out[XP_DOMAIN_MAX + 1], what[40];
	size_t len = 0;

	if (xp_domain_normalize(k->name, k->len, out, &len, NULL) != XP_OK)
		return xpe_walk_record(b, &k->field->value);
	snprintf(what, sizeof(what), "%s key", type_name(&k->field->key));
	return xp_builder_record_invalid(b, what);
}

int xpe_walk_partners(xp_builder *b, const xps_value *t)
{
	key_entry *keys;
	size_t n, i;
	int rc = XP_OK;

	if (t == NULL)
		return XP_OK;
	if (t->type != XPS_TABLE)
		return xp_builder_option_invalid(b, "xmpp_partners",
		                                 type_name(t));
	keys = sorted_keys(t, &n);
	if (keys == NULL && n != 0)
		return XP_ENOMEM;
	for (i = 0; i < n && rc == XP_OK; i++) {
		const key_entry *k = &keys[i];
		rc = xp_builder_begin(b, k->name, k->len);
		if (rc != XP_OK)
			break;
		if (k->is_string)
			rc = xpe_walk_record(b, &k->field->value);
		else
			rc = walk_odd_partner(b, k);
		if (rc == XP_OK)
			rc = xp_builder_end(b);
	}
	free(keys);
	return rc;
}

/* A number with a whole value in the range the core's set_number takes. */
static int number_is_whole(double n)
{
	return n >= -1e15 && n <= 1e15 && (double)(long long)n == n;
}

typedef struct option_ref {
	const char *name;
	const xps_value *value;
} option_ref;

static int option_compare(const void *pa, const void *pb)
{
	const option_ref *a = pa, *b = pb;

	return strcmp(a->name, b->name);
}

int xpe_walk_options(xp_builder *b, size_t n, const char *const *names,
                     const xps_value *const *values)
{
	option_ref *refs;
	size_t i, k = 0;
	int rc = XP_OK;

	refs = malloc((n ? n : 1) * sizeof(*refs));
	if (refs == NULL)
		return XP_ENOMEM;
	for (i = 0; i < n; i++) {
		if (values[i] == NULL || values[i]->type == XPS_NIL)
			continue;
		refs[k].name = names[i];
		refs[k].value = values[i];
		k++;
	}
	qsort(refs, k, sizeof(*refs), option_compare);
	for (i = 0; i < k && rc == XP_OK; i++) {
		const char *key = refs[i].name;
		const xps_value *v = refs[i].value;
		if (v->type == XPS_STRING)
			rc = xp_builder_option_string(b, key, v->string,
			                              v->len);
		else if (v->type == XPS_INTEGER)
			rc = xp_builder_option_integer(b, key, v->integer);
		else if (v->type == XPS_NUMBER && number_is_whole(v->number))
			/* 300.0: whole, as set_number takes it in records */
			rc = xp_builder_option_integer(b, key,
			                               (long long)v->number);
		else
			rc = xp_builder_option_invalid(
			        b, key,
			        v->type == XPS_NUMBER ? "float" : type_name(v));
	}
	free(refs);
	return rc;
}

/* The error messages of a builder that refused its table, one line. */
static char *errors_line(const xp_builder *b, const char *path)
{
	size_t i, n = xp_builder_diag_count(b), size = strlen(path) + 3;
	char *line;

	for (i = 0; i < n; i++)
		size += strlen(xp_builder_diag(b, i)->message) + 2;
	line = malloc(size);
	if (line == NULL)
		return NULL;
	strcpy(line, path);
	strcat(line, ":");
	for (i = 0, n = xp_builder_diag_count(b); i < n; i++) {
		const xp_diag *d = xp_builder_diag(b, i);
		if (d->severity != XP_SEV_ERROR)
			continue;
		/* the same joining as ejabberd's check_file */
		strcat(line, line[strlen(line) - 1] == ':' ? " " : "; ");
		strcat(line, d->message);
	}
	return line;
}

int xpe_file_check(xp_ctx *ctx, xp_host_style style, const char *path,
                   const xps_value *partners, size_t n,
                   const char *const *names, const xps_value *const *values,
                   char **errors)
{
	xp_builder *b = xp_builder_new(ctx);
	xp_table *t = NULL;
	int rc;

	*errors = NULL;
	if (b == NULL)
		return XP_ENOMEM;
	xp_builder_set_host_style(b, style);
	rc = xpe_walk_options(b, n, names, values);
	if (rc == XP_OK)
		rc = xpe_walk_partners(b, partners);
	if (rc == XP_OK)
		rc = xp_builder_finish(b, &t);
	if (rc == XP_OK)
		xp_table_unref(t);
	else if (rc == XP_ECONFIG && (*errors = errors_line(b, path)) == NULL)
		rc = XP_ENOMEM;
	xp_builder_free(b);
	return rc;
}
