/*
 * internal.h: structures and helpers shared by the core's files.  Nothing
 * here is part of the public interface; hosts see only xmpp_partners.h.
 */
#ifndef XP_INTERNAL_H
#define XP_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "xmpp_partners.h"

#if defined(__GNUC__)
#define XP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define XP_PRINTF(f, a)
#endif

struct xp_ctx {
	xp_alloc_fn alloc;
	void *alloc_ud;
	xp_log_fn log;
	void *log_ud;
};

/* Allocation through the context's allocator. */
void *xp_malloc(xp_ctx *ctx, size_t n);
void *xp_realloc(xp_ctx *ctx, void *p, size_t osize, size_t nsize);
void xp_free(xp_ctx *ctx, void *p, size_t size);
/* Grow an array of elem-sized items to hold at least need items; *cap is
 * updated.  Returns XP_OK or XP_ENOMEM (the array is then unchanged). */
int xp_grow(xp_ctx *ctx, void **arr, size_t *cap, size_t need, size_t elem);

void xp_log(xp_ctx *ctx, xp_log_level level, const char *fmt, ...)
        XP_PRINTF(3, 4);

/*
 * String arena: NUL-terminated strings packed into large blocks, freed all
 * at once.  Tables keep their strings here, which keeps the per-partner
 * overhead to the record itself and makes freeing a table cheap.
 */
typedef struct xp_arena_block {
	struct xp_arena_block *next;
	size_t size, used;
	/* char data[] follows */
} xp_arena_block;

typedef struct xp_arena {
	xp_ctx *ctx;
	xp_arena_block *head;
	size_t total; /* bytes allocated, for memory reports */
} xp_arena;

void xp_arena_init(xp_arena *a, xp_ctx *ctx);
/* Copy len bytes plus a NUL; NULL on allocation failure. */
char *xp_arena_strndup(xp_arena *a, const char *s, size_t len);
void *xp_arena_alloc(xp_arena *a, size_t n); /* aligned to pointer size */
void xp_arena_release(xp_arena *a);

/* A partner record as the table stores it.  Kept small: the 1M-partner
 * target allows under 200 bytes per partner besides the strings. */
struct xp_partner {
	const char *domain;        /* normalised primary domain */
	const char *description;   /* "" when not given */
	const char **additional;   /* normalised, arena-owned */
	const char **fingerprints; /* "sha256:hex", arena-owned */
	const unsigned char *pins; /* 32 bytes per fingerprint */
	const char *proxy_host;    /* NULL when not set */
	const xp_matrix_row *row;
	uint32_t n_additional;
	uint32_t n_fingerprints;
	uint32_t connection_limit;
	uint16_t proxy_port;
	uint8_t type;      /* xp_partner_type */
	uint8_t tls, sasl; /* xp_tls, xp_sasl */
	uint8_t dialback, keepalive;
	uint8_t is_default;
};

/* The defaults of SPEC section 2 for a listed partner, and for unlisted
 * domains in allow mode. */
void xp_partner_defaults(struct xp_partner *p);
void xp_partner_allow_defaults(struct xp_partner *p);

/* Hash slot: the domain itself (arena-owned, normalised) and its partner,
 * plus hash bits that skip almost every string compare that would fail.
 * name == NULL marks an empty slot. */
typedef struct xp_slot {
	const char *name;
	uint32_t partner; /* index into partners */
	uint32_t tag;
} xp_slot;

struct xp_table {
	xp_ctx *ctx;
	long refs; /* atomic */
	xp_arena arena;
	struct xp_partner *partners;
	size_t n_partners, cap_partners;
	xp_slot *slots;
	size_t n_slots; /* power of two, or 0 */
	uint64_t seed;
	struct xp_partner allow_default;
	xp_default_policy default_policy;
	unsigned keepalive_interval;
	unsigned connection_limit;
	unsigned refusal_backoff;
	unsigned preauth[XP_PREAUTH_COUNT]; /* by xp_preauth_option */
	int closed;
	xp_host_style style; /* the builder's: option names in texts */
	xp_diag *warnings;
	size_t n_warnings, cap_warnings;
};

/* Hashing (table.c). */
uint64_t xp_hash(const char *s, size_t len, uint64_t seed);

/* Table internals used by the builder (table.c). */
xp_table *xp_table_alloc(xp_ctx *ctx);
void xp_table_destroy(xp_table *t);
/* Index all domains.  Each domain listed twice is reported to dup (the
 * domain and the two partners listing it, possibly the same one) and the
 * index goes on, so every duplicate is found in one pass; the result is
 * then XP_ECONFIG.  XP_ENOMEM when an allocation fails. */
typedef int (*xp_dup_fn)(void *ud, const char *name, uint32_t first,
                         uint32_t second);
int xp_table_index(xp_table *t, xp_dup_fn dup, void *ud);

/* Levenshtein distance, capped (partner.c); for "did you mean" hints. */
size_t xp_edit_distance(const char *a, const char *b, size_t cap);

/* Hex helpers (partner.c). */
int xp_hex_decode(const char *hex, size_t len, unsigned char *out,
                  size_t outlen);

/* Texts for hosts (texts.c): a growing buffer.  Appends after a failed
 * allocation do nothing; the formatter checks xp_text_failed once. */
struct xp_text {
	xp_ctx *ctx;
	char *s;
	size_t len, cap;
	int failed;
};
xp_text *xp_text_new(xp_ctx *ctx);
void xp_text_add(xp_text *x, const char *s, size_t len);
void xp_text_printf(xp_text *x, const char *fmt, ...) XP_PRINTF(2, 3);
void xp_text_one_line(xp_text *x, const char *s);
int xp_text_failed(const xp_text *x);
/* A global option as the host's configuration writes it: Prosody
 * xmpp_partners_default = "deny", ejabberd default: deny. */
const char *xp_option_setting(xp_host_style style, const char *name,
                              const char *value, char *buf, size_t size);

#endif /* XP_INTERNAL_H */
