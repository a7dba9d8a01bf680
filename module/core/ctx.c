/*
 * ctx.c: the context (injected allocator and logger), the string arena and
 * status texts.  Everything the core allocates goes through xp_malloc and
 * friends, so tests can fail any single allocation and count leaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *default_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud;
	(void)osize;
	if (nsize == 0) {
		free(ptr);
		return NULL;
	}
	return realloc(ptr, nsize);
}

xp_ctx *xp_ctx_new(xp_alloc_fn alloc, void *alloc_ud, xp_log_fn log,
                   void *log_ud)
{
	xp_ctx *ctx;

	if (alloc == NULL)
		alloc = default_alloc;
	ctx = alloc(alloc_ud, NULL, 0, sizeof(*ctx));
	if (ctx == NULL)
		return NULL;
	ctx->alloc = alloc;
	ctx->alloc_ud = alloc_ud;
	ctx->log = log;
	ctx->log_ud = log_ud;
	return ctx;
}

void xp_ctx_free(xp_ctx *ctx)
{
	if (ctx != NULL)
		ctx->alloc(ctx->alloc_ud, ctx, sizeof(*ctx), 0);
}

void *xp_malloc(xp_ctx *ctx, size_t n)
{
	if (n == 0)
		n = 1;
	return ctx->alloc(ctx->alloc_ud, NULL, 0, n);
}

void *xp_realloc(xp_ctx *ctx, void *p, size_t osize, size_t nsize)
{
	if (nsize == 0)
		nsize = 1;
	return ctx->alloc(ctx->alloc_ud, p, p == NULL ? 0 : osize, nsize);
}

void xp_free(xp_ctx *ctx, void *p, size_t size)
{
	if (p != NULL)
		ctx->alloc(ctx->alloc_ud, p, size, 0);
}

int xp_grow(xp_ctx *ctx, void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *n;

	if (need <= *cap)
		return XP_OK;
	ncap = *cap ? *cap : 8;
	while (ncap < need) {
		if (ncap > ((size_t)-1) / 2 / elem)
			return XP_ENOMEM;
		ncap *= 2;
	}
	n = xp_realloc(ctx, *arr, *cap * elem, ncap * elem);
	if (n == NULL)
		return XP_ENOMEM;
	*arr = n;
	*cap = ncap;
	return XP_OK;
}

void xp_log(xp_ctx *ctx, xp_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (ctx == NULL || ctx->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ctx->log(ctx->log_ud, level, buf);
}

/* ---- arena ------------------------------------------------------------- */

#define ARENA_BLOCK 65536
#define ARENA_ALIGN (sizeof(void *))

void xp_arena_init(xp_arena *a, xp_ctx *ctx)
{
	a->ctx = ctx;
	a->head = NULL;
	a->total = 0;
}

static char *block_data(xp_arena_block *b)
{
	return (char *)(b + 1);
}

void *xp_arena_alloc(xp_arena *a, size_t n)
{
	xp_arena_block *b = a->head;
	size_t off;

	if (b != NULL) {
		off = (b->used + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
		if (off <= b->size && b->size - off >= n) {
			b->used = off + n;
			return block_data(b) + off;
		}
	}
	/* A new block; a request larger than a block gets one of its own. */
	{
		size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		if (size > ((size_t)-1) - sizeof(*b))
			return NULL;
		b = xp_malloc(a->ctx, sizeof(*b) + size);
		if (b == NULL)
			return NULL;
		b->size = size;
		b->used = n;
		b->next = a->head;
		a->head = b;
		a->total += sizeof(*b) + size;
		return block_data(b);
	}
}

char *xp_arena_strndup(xp_arena *a, const char *s, size_t len)
{
	char *d;

	if (len == (size_t)-1)
		return NULL;
	d = xp_arena_alloc(a, len + 1);
	if (d == NULL)
		return NULL;
	if (len)
		memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

void xp_arena_release(xp_arena *a)
{
	xp_arena_block *b = a->head, *next;

	while (b != NULL) {
		next = b->next;
		xp_free(a->ctx, b, sizeof(*b) + b->size);
		b = next;
	}
	a->head = NULL;
	a->total = 0;
}

const char *xp_status_text(int status)
{
	switch (status) {
	case XP_OK:
		return "ok";
	case XP_ENOMEM:
		return "out of memory";
	case XP_EINVAL:
		return "invalid argument";
	case XP_ECONFIG:
		return "the partner configuration has errors";
	case XP_ENOTFOUND:
		return "not found";
	case XP_ECERT:
		return "the certificate could not be parsed";
	default:
		return "unknown error";
	}
}
