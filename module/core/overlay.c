/*
 * overlay.c: the sources of a partner table laid over each other, one rule
 * for every host: partner file < configuration < runtime changes, records
 * meeting by their normalised domain however each source spells the key
 * (["Fabrikam.com"] in the file and ["fabrikam.com"] in the config are one
 * partner: the config's), stored removals hiding file and config records,
 * and a source label per record that admin views print.
 *
 * Records stay with the host (a Lua table, an Erlang term): the overlay
 * sees only keys and the host's handle for each, and says which survive.
 * Two spellings within one source both survive, so the builder reports
 * the domain listed twice, naming both.  A key that is no domain is kept
 * as written (the builder reports it).  Sorting makes it O(n log n), for
 * files of a million partners.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct item {
	const char *key, *norm; /* arena-owned */
	size_t handle;
	size_t order; /* input order, for the output */
	xp_source source;
	int kept;
	const char *label;
} item;

struct xp_overlay {
	xp_ctx *ctx;
	xp_arena arena;
	item *items;
	size_t n, cap;
	const char **hide; /* normalised */
	size_t n_hide, cap_hide;
	const char *file_label; /* "file PATH" or "file" */
	xp_overlay_entry *out;
	size_t n_out, cap_out;
	const char **hidden; /* keys as written that a removal hid */
	size_t n_hidden, cap_hidden;
	int finished, failed;
};

xp_overlay *xp_overlay_new(xp_ctx *ctx)
{
	xp_overlay *o;

	if (ctx == NULL)
		return NULL;
	o = xp_malloc(ctx, sizeof(*o));
	if (o == NULL)
		return NULL;
	memset(o, 0, sizeof(*o));
	o->ctx = ctx;
	xp_arena_init(&o->arena, ctx);
	o->file_label = "file";
	return o;
}

void xp_overlay_free(xp_overlay *o)
{
	if (o == NULL)
		return;
	xp_free(o->ctx, o->items, o->cap * sizeof(*o->items));
	xp_free(o->ctx, o->hide, o->cap_hide * sizeof(*o->hide));
	xp_free(o->ctx, o->out, o->cap_out * sizeof(*o->out));
	xp_free(o->ctx, o->hidden, o->cap_hidden * sizeof(*o->hidden));
	xp_arena_release(&o->arena);
	xp_free(o->ctx, o, sizeof(*o));
}

int xp_overlay_set_file(xp_overlay *o, const char *path, size_t len)
{
	char *label;

	if (o == NULL || path == NULL || o->finished)
		return XP_EINVAL;
	label = xp_arena_alloc(&o->arena, len + 6);
	if (label == NULL)
		return XP_ENOMEM;
	memcpy(label, "file ", 5);
	memcpy(label + 5, path, len);
	label[len + 5] = '\0';
	o->file_label = label;
	return XP_OK;
}

/* The domain a key stands for, arena-owned: normalised, or the key itself
 * when it is no domain. */
static const char *norm_of(xp_overlay *o, const char *key, size_t len,
                           const char **copy)
{
	char buf[XP_DOMAIN_MAX + 1];
	size_t n;

	*copy = xp_arena_strndup(&o->arena, key, len);
	if (*copy == NULL)
		return NULL;
	if (xp_domain_normalize(key, len, buf, &n, NULL) != XP_OK)
		return *copy;
	if (n == len && memcmp(buf, key, len) == 0)
		return *copy;
	return xp_arena_strndup(&o->arena, buf, n);
}

int xp_overlay_add(xp_overlay *o, xp_source source, const char *key, size_t len,
                   size_t handle)
{
	item *it;
	const char *copy, *norm;

	if (o == NULL || key == NULL || o->finished ||
	    (unsigned)source > XP_SOURCE_RUNTIME)
		return XP_EINVAL;
	if (xp_grow(o->ctx, (void **)&o->items, &o->cap, o->n + 1,
	            sizeof(*o->items)) != XP_OK)
		return XP_ENOMEM;
	norm = norm_of(o, key, len, &copy);
	if (norm == NULL)
		return XP_ENOMEM;
	it = &o->items[o->n];
	it->key = copy;
	it->norm = norm;
	it->handle = handle;
	it->order = o->n;
	it->source = source;
	it->kept = 0;
	it->label = NULL;
	o->n++;
	return XP_OK;
}

int xp_overlay_hide(xp_overlay *o, const char *key, size_t len)
{
	const char *copy, *norm;

	if (o == NULL || key == NULL || o->finished)
		return XP_EINVAL;
	if (xp_grow(o->ctx, (void **)&o->hide, &o->cap_hide, o->n_hide + 1,
	            sizeof(*o->hide)) != XP_OK)
		return XP_ENOMEM;
	norm = norm_of(o, key, len, &copy);
	if (norm == NULL)
		return XP_ENOMEM;
	o->hide[o->n_hide++] = norm;
	return XP_OK;
}

static int by_norm(const void *a, const void *b)
{
	const item *x = *(const item *const *)a, *y = *(const item *const *)b;
	int c = strcmp(x->norm, y->norm);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int hidden(const xp_overlay *o, const char *norm)
{
	/* (no bsearch on an empty, NULL array: undefined behaviour) */
	return o->n_hide > 0 && bsearch(&norm, o->hide, o->n_hide,
	                                sizeof(*o->hide), by_string) != NULL;
}

/* Decide one group of items with the same domain. */
static int decide(xp_overlay *o, item **g, size_t n)
{
	int has[XP_SOURCE_RUNTIME + 1] = {0, 0, 0};
	int gone = hidden(o, g[0]->norm);
	xp_source top;
	size_t i;

	for (i = 0; i < n; i++)
		has[g[i]->source] = 1;
	top = has[XP_SOURCE_RUNTIME]  ? XP_SOURCE_RUNTIME
	      : has[XP_SOURCE_CONFIG] ? XP_SOURCE_CONFIG
	                              : XP_SOURCE_FILE;
	for (i = 0; i < n; i++) {
		item *it = g[i];
		if (it->source == XP_SOURCE_RUNTIME) {
			/* A removal and a runtime record of one domain: the
			 * removal hid the older records, the record is new. */
			it->kept = 1;
			it->label = gone ? "runtime"
			            : has[XP_SOURCE_CONFIG]
			                    ? "runtime (overrides config)"
			            : has[XP_SOURCE_FILE]
			                    ? "runtime (overrides file)"
			                    : "runtime";
		} else if (gone) {
			if (xp_grow(o->ctx, (void **)&o->hidden, &o->cap_hidden,
			            o->n_hidden + 1,
			            sizeof(*o->hidden)) != XP_OK)
				return XP_ENOMEM;
			o->hidden[o->n_hidden++] = it->key;
		} else if (it->source == top) {
			it->kept = 1;
			it->label = top == XP_SOURCE_CONFIG ? "config"
			                                    : o->file_label;
		}
	}
	return XP_OK;
}

int xp_overlay_finish(xp_overlay *o)
{
	item **sorted;
	size_t i, j;
	int rc = XP_OK;

	if (o == NULL || o->finished)
		return XP_EINVAL;
	if (o->n_hide > 1)
		qsort(o->hide, o->n_hide, sizeof(*o->hide), by_string);
	sorted = xp_malloc(o->ctx, (o->n ? o->n : 1) * sizeof(*sorted));
	if (sorted == NULL)
		return XP_ENOMEM;
	for (i = 0; i < o->n; i++)
		sorted[i] = &o->items[i];
	if (o->n > 1)
		qsort(sorted, o->n, sizeof(*sorted), by_norm);
	for (i = 0; i < o->n && rc == XP_OK; i = j) {
		for (j = i + 1; j < o->n; j++)
			if (strcmp(sorted[j]->norm, sorted[i]->norm) != 0)
				break;
		rc = decide(o, &sorted[i], j - i);
	}
	xp_free(o->ctx, sorted, (o->n ? o->n : 1) * sizeof(*sorted));
	if (rc != XP_OK)
		return rc;
	if (o->n_hidden > 1)
		qsort(o->hidden, o->n_hidden, sizeof(*o->hidden), by_string);
	for (i = 0; i < o->n; i++) {
		xp_overlay_entry *e;
		if (!o->items[i].kept)
			continue;
		if (xp_grow(o->ctx, (void **)&o->out, &o->cap_out, o->n_out + 1,
		            sizeof(*o->out)) != XP_OK)
			return XP_ENOMEM;
		e = &o->out[o->n_out++];
		e->key = o->items[i].key;
		e->domain = o->items[i].norm;
		e->handle = o->items[i].handle;
		e->source = o->items[i].source;
		e->label = o->items[i].label;
	}
	o->finished = 1;
	return XP_OK;
}

size_t xp_overlay_count(const xp_overlay *o)
{
	return o != NULL && o->finished ? o->n_out : 0;
}

const xp_overlay_entry *xp_overlay_at(const xp_overlay *o, size_t i)
{
	return o != NULL && o->finished && i < o->n_out ? &o->out[i] : NULL;
}

size_t xp_overlay_hidden_count(const xp_overlay *o)
{
	return o != NULL && o->finished ? o->n_hidden : 0;
}

const char *xp_overlay_hidden(const xp_overlay *o, size_t i)
{
	return o != NULL && o->finished && i < o->n_hidden ? o->hidden[i]
	                                                   : NULL;
}

const char *xp_source_name(xp_source s)
{
	switch (s) {
	case XP_SOURCE_FILE:
		return "file";
	case XP_SOURCE_CONFIG:
		return "config";
	case XP_SOURCE_RUNTIME:
		return "runtime";
	default:
		return NULL;
	}
}
