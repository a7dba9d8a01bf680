/*
 * table.c: the partner table: an open-addressing hash of every primary and
 * additional domain (expected O(1) lookup, no scans), reference counting so
 * a host can swap a whole new table in atomically while old streams finish
 * with the old one, and resolution of a remote domain to its policy.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/*
 * A seeded multiply-xorshift hash over 8-byte words.  Remote peers choose
 * the domains we look up, but the keys in the table are the admin's, so a
 * peer can at worst walk one probe run; the per-table seed keeps even that
 * from being precomputed.
 */
static uint64_t mix(uint64_t h)
{
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	return h;
}

uint64_t xp_hash(const char *s, size_t len, uint64_t seed)
{
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		h = mix(h ^ w) + 0x9e3779b97f4a7c15ULL;
	}
	if (i < len) {
		uint64_t w = 0;
		memcpy(&w, s + i, len - i);
		h = mix(h ^ w ^ ((uint64_t)(len - i) << 56));
	}
	return mix(h);
}

static uint64_t new_seed(const void *salt)
{
	/* Not for cryptography: only to vary probe order between tables. */
	uint64_t s = (uint64_t)time(NULL) ^ (uint64_t)clock();
	s ^= (uint64_t)(uintptr_t)salt;
	return mix(s + 0x632be59bd9b4e019ULL);
}

xp_table *xp_table_alloc(xp_ctx *ctx)
{
	xp_table *t = xp_malloc(ctx, sizeof(*t));

	if (t == NULL)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->ctx = ctx;
	t->refs = 1;
	xp_arena_init(&t->arena, ctx);
	xp_partner_allow_defaults(&t->allow_default);
	t->default_policy = XP_DEFAULT_DENY;
	t->keepalive_interval = 300;
	t->connection_limit = 1000;
	t->refusal_backoff = 300;
	t->preauth[XP_PENDING_PER_ADDRESS] = 10;
	t->preauth[XP_PENDING_LIMIT] = 500;
	t->preauth[XP_AUTH_TIMEOUT] = 30;
	t->preauth[XP_PREAUTH_BYTES] = 65536;
	t->preauth[XP_PREAUTH_DEPTH] = 16;
	t->seed = new_seed(t);
	return t;
}

void xp_table_destroy(xp_table *t)
{
	xp_ctx *ctx;

	if (t == NULL)
		return;
	ctx = t->ctx;
	xp_free(ctx, t->partners, t->cap_partners * sizeof(*t->partners));
	xp_free(ctx, t->slots, t->n_slots * sizeof(*t->slots));
	xp_free(ctx, t->warnings, t->cap_warnings * sizeof(*t->warnings));
	xp_arena_release(&t->arena);
	xp_free(ctx, t, sizeof(*t));
}

xp_table *xp_table_new_closed(xp_ctx *ctx)
{
	xp_table *t;

	if (ctx == NULL)
		return NULL;
	t = xp_table_alloc(ctx);
	if (t != NULL)
		t->closed = 1;
	return t;
}

xp_table *xp_table_ref(xp_table *t)
{
	if (t != NULL)
		__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	return t;
}

void xp_table_unref(xp_table *t)
{
	if (t != NULL && __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0)
		xp_table_destroy(t);
}

/* ---- indexing ------------------------------------------------------------ */

/* Find the slot holding name, or the empty slot where it would go. */
static size_t probe(const xp_table *t, const char *name, size_t len, uint64_t h,
                    int *found)
{
	size_t mask = t->n_slots - 1, i = (size_t)h & mask;
	uint32_t tag = (uint32_t)(h >> 32);

	for (;;) {
		const xp_slot *s = &t->slots[i];
		if (s->name == NULL) {
			*found = 0;
			return i;
		}
		if (s->tag == tag && memcmp(s->name, name, len) == 0 &&
		    s->name[len] == '\0') {
			*found = 1;
			return i;
		}
		i = (i + 1) & mask;
	}
}

/* Insert a domain; a domain already present is reported, not inserted. */
static int insert(xp_table *t, const char *name, uint32_t partner,
                  xp_dup_fn dup, void *ud, int *dups)
{
	size_t len = strlen(name);
	uint64_t h = xp_hash(name, len, t->seed);
	int found;
	size_t s = probe(t, name, len, h, &found);

	if (found) {
		(*dups)++;
		return dup(ud, name, t->slots[s].partner, partner);
	}
	t->slots[s].name = name;
	t->slots[s].partner = partner;
	t->slots[s].tag = (uint32_t)(h >> 32);
	return XP_OK;
}

int xp_table_index(xp_table *t, xp_dup_fn dup, void *ud)
{
	size_t i, j, want, total = 0;
	xp_slot *slots;
	int rc = XP_OK, dups = 0;

	/* Trim the partner array: at a million partners, doubling slack
	 * would cost more than the records. */
	if (t->cap_partners > t->n_partners && t->n_partners > 0) {
		void *n = xp_realloc(t->ctx, t->partners,
		                     t->cap_partners * sizeof(*t->partners),
		                     t->n_partners * sizeof(*t->partners));
		if (n != NULL) {
			t->partners = n;
			t->cap_partners = t->n_partners;
		}
	}
	for (i = 0; i < t->n_partners; i++)
		total += 1 + t->partners[i].n_additional;
	/* Load factor at most 1/2 keeps probe runs short. */
	want = 16;
	while (want < 2 * total)
		want *= 2;
	slots = xp_malloc(t->ctx, want * sizeof(*slots));
	if (slots == NULL)
		return XP_ENOMEM;
	memset(slots, 0, want * sizeof(*slots));
	xp_free(t->ctx, t->slots, t->n_slots * sizeof(*t->slots));
	t->slots = slots;
	t->n_slots = want;
	for (i = 0; i < t->n_partners && rc == XP_OK; i++) {
		const struct xp_partner *p = &t->partners[i];
		rc = insert(t, p->domain, (uint32_t)i, dup, ud, &dups);
		for (j = 0; rc == XP_OK && j < p->n_additional; j++)
			rc = insert(t, p->additional[j], (uint32_t)i, dup, ud,
			            &dups);
	}
	if (rc != XP_OK)
		return rc;
	return dups ? XP_ECONFIG : XP_OK;
}

/* ---- queries ------------------------------------------------------------- */

static const struct xp_partner *find(const xp_table *t, const char *norm,
                                     size_t len)
{
	int found;
	size_t s;

	if (t->n_slots == 0)
		return NULL;
	s = probe(t, norm, len, xp_hash(norm, len, t->seed), &found);
	return found ? &t->partners[t->slots[s].partner] : NULL;
}

const xp_partner *xp_table_lookup(const xp_table *t, const char *domain,
                                  size_t len)
{
	char norm[XP_DOMAIN_MAX + 1];
	size_t nlen;

	if (t == NULL || domain == NULL ||
	    xp_domain_normalize(domain, len, norm, &nlen, NULL) != XP_OK)
		return NULL;
	return find(t, norm, nlen);
}

const xp_partner *xp_table_resolve(const xp_table *t, const char *domain,
                                   size_t len, xp_reason *reason)
{
	char norm[XP_DOMAIN_MAX + 1];
	size_t nlen;
	const struct xp_partner *p;
	xp_reason dummy;

	if (reason == NULL)
		reason = &dummy;
	*reason = XP_R_NONE;
	if (t == NULL || t->closed) {
		*reason = XP_R_CONFIG_INVALID;
		return NULL;
	}
	if (domain == NULL ||
	    xp_domain_normalize(domain, len, norm, &nlen, NULL) != XP_OK) {
		*reason = XP_R_BAD_DOMAIN;
		return NULL;
	}
	p = find(t, norm, nlen);
	if (p != NULL)
		return p;
	if (t->default_policy == XP_DEFAULT_ALLOW)
		return &t->allow_default;
	*reason = XP_R_NOT_PARTNER;
	return NULL;
}

size_t xp_table_count(const xp_table *t)
{
	return t->n_partners;
}

const xp_partner *xp_table_at(const xp_table *t, size_t i)
{
	return i < t->n_partners ? &t->partners[i] : NULL;
}

xp_default_policy xp_table_default_policy(const xp_table *t)
{
	return t->default_policy;
}

unsigned xp_table_keepalive_interval(const xp_table *t)
{
	return t->keepalive_interval;
}

unsigned xp_table_connection_limit(const xp_table *t)
{
	return t->connection_limit;
}

unsigned xp_table_refusal_backoff(const xp_table *t)
{
	return t->refusal_backoff;
}

unsigned xp_table_preauth(const xp_table *t, xp_preauth_option o)
{
	return (unsigned)o < XP_PREAUTH_COUNT ? t->preauth[o] : 0;
}

const char *xp_preauth_option_name(xp_preauth_option o)
{
	static const char *const names[XP_PREAUTH_COUNT] = {
	        "pending_per_address", "pending_limit", "auth_timeout",
	        "preauth_bytes", "preauth_depth"};

	return (unsigned)o < XP_PREAUTH_COUNT ? names[o] : NULL;
}

int xp_table_is_closed(const xp_table *t)
{
	return t->closed;
}

size_t xp_table_warning_count(const xp_table *t)
{
	return t->n_warnings;
}

const xp_diag *xp_table_warning(const xp_table *t, size_t i)
{
	return i < t->n_warnings ? &t->warnings[i] : NULL;
}

xp_host_style xp_table_host_style(const xp_table *t)
{
	return t->style;
}
