/*
 * fuzz_common.h: helpers shared by the fuzz targets (header-only, static).
 *
 *  - fz_reader: consume the fuzz input as bytes, integers and strings;
 *  - a checking allocator for xp_ctx_new: it keeps each block's size in a
 *    header and aborts when the core passes a wrong osize, frees a block
 *    twice or leaves blocks behind; it can fail the N-th allocation so the
 *    XP_ENOMEM paths are fuzzed too.
 *
 * FZ_CHECK(cond) aborts with a message (libFuzzer then keeps the input).
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmpp_partners.h"

#define FZ_CHECK(cond)                                                         \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",       \
			        __FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

/* ---- reading the input ------------------------------------------------- */

typedef struct fz_reader {
	const uint8_t *p;
	size_t n;
} fz_reader;

static inline uint8_t fz_u8(fz_reader *r)
{
	uint8_t v;
	if (r->n == 0)
		return 0;
	v = *r->p++;
	r->n--;
	return v;
}

static inline uint64_t fz_u64(fz_reader *r)
{
	uint64_t v = 0;
	int i;
	for (i = 0; i < 8; i++)
		v = (v << 8) | fz_u8(r);
	return v;
}

/* Take up to len raw bytes; returns a pointer into the input. */
static inline const char *fz_bytes(fz_reader *r, size_t len, size_t *got)
{
	const char *s = (const char *)r->p;
	if (len > r->n)
		len = r->n;
	r->p += len;
	r->n -= len;
	*got = len;
	return s;
}

/* ---- the checking allocator -------------------------------------------- */

typedef struct fz_alloc {
	size_t live;    /* blocks currently allocated */
	size_t calls;   /* allocations and growths so far */
	size_t fail_at; /* fail the fail_at-th one (1-based); 0: never */
	int failed;     /* an injected failure happened */
} fz_alloc;

#define FZ_MAGIC 0x58504655u /* "XPFU" */

typedef struct fz_hdr {
	size_t size;
	unsigned magic;
	unsigned pad;
} fz_hdr;

static inline void *fz_allocf(void *ud, void *ptr, size_t osize, size_t nsize)
{
	fz_alloc *a = ud;
	fz_hdr *h = NULL;

	if (ptr != NULL) {
		h = (fz_hdr *)ptr - 1;
		FZ_CHECK(h->magic == FZ_MAGIC); /* not ours, or freed twice */
		FZ_CHECK(h->size == osize); /* the caller's osize is wrong */
	}
	if (nsize == 0) {
		if (h != NULL) {
			h->magic = 0;
			free(h);
			FZ_CHECK(a->live > 0);
			a->live--;
		}
		return NULL;
	}
	a->calls++;
	if (a->fail_at != 0 && a->calls == a->fail_at) {
		a->failed = 1;
		return NULL;
	}
	if (h == NULL) {
		h = malloc(sizeof(*h) + nsize);
		if (h == NULL)
			return NULL;
		a->live++;
	} else {
		fz_hdr *nh = realloc(h, sizeof(*h) + nsize);
		if (nh == NULL)
			return NULL;
		h = nh;
	}
	h->size = nsize;
	h->magic = FZ_MAGIC;
	return h + 1;
}

/* Read every text of a diagnostic, so ASan sees a dangling pointer. */
static inline size_t fz_touch_diag(const xp_diag *d)
{
	size_t n = 0;
	FZ_CHECK(d != NULL);
	FZ_CHECK(d->severity == XP_SEV_WARNING || d->severity == XP_SEV_ERROR);
	FZ_CHECK(d->message != NULL);
	n += strlen(d->message);
	if (d->partner)
		n += strlen(d->partner);
	if (d->key)
		n += strlen(d->key);
	if (d->suggestion)
		n += strlen(d->suggestion);
	return n;
}

#endif /* FUZZ_COMMON_H */
