/*
 * builder.c: turns partner records and global options, walked from any host
 * syntax (a Lua table, Erlang terms, a partner file), into a partner table.
 *
 * All checking lives here so Prosody and ejabberd report the same errors:
 * unknown keys (with the nearest valid key), wrong types, bad values, bad
 * domains, matrix rows (SPEC section 3) and domains listed twice.  Every
 * message names the partner, the key and the fix.  Errors never half-apply:
 * xp_builder_finish hands out a table only when there are none.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

enum key_kind { K_STRING, K_ENUM, K_LIST, K_BOOL, K_INT, K_OTHER };

enum key_id {
	KEY_DESCRIPTION,
	KEY_ADDITIONAL,
	KEY_TYPE,
	KEY_TLS,
	KEY_SASL,
	KEY_DIALBACK,
	KEY_PROXY,
	KEY_CONNECTION_LIMIT,
	KEY_KEEPALIVE,
	KEY_FINGERPRINTS,
	KEY_COUNT
};

static const char *const type_values[] = {"federated", "public_verified",
                                          "public_unverified", NULL};
static const char *const tri_values[] = {"required", "optional",
                                         "not_supported", NULL};

static const struct key_info {
	const char *name;
	enum key_kind kind;
	const char *const *values; /* for K_ENUM */
} keys[KEY_COUNT] = {
        {"description", K_STRING, NULL}, {"additional_domains", K_LIST, NULL},
        {"type", K_ENUM, type_values},   {"tls", K_ENUM, tri_values},
        {"sasl", K_ENUM, tri_values},    {"dialback", K_BOOL, NULL},
        {"proxy", K_STRING, NULL},       {"connection_limit", K_INT, NULL},
        {"keepalive", K_BOOL, NULL},     {"fingerprints", K_LIST, NULL},
};

xp_key_kind xp_record_key_kind(const char *key)
{
	size_t i;

	for (i = 0; key != NULL && i < KEY_COUNT; i++) {
		if (strcmp(key, keys[i].name) != 0)
			continue;
		switch (keys[i].kind) {
		case K_LIST:
			return XP_KEY_LIST;
		case K_BOOL:
			return XP_KEY_BOOLEAN;
		case K_INT:
			return XP_KEY_INTEGER;
		case K_ENUM:
			return XP_KEY_ENUM;
		case K_STRING:
		case K_OTHER:
		default:
			return XP_KEY_STRING;
		}
	}
	return XP_KEY_UNKNOWN;
}

/* Lync / Skype for Business attribute names admins may carry over. */
static const struct {
	const char *lync;
	enum key_id key;
} lync_names[] = {
        {"tlsnegotiation", KEY_TLS},
        {"saslnegotiation", KEY_SASL},
        {"supportdialbacknegotiation", KEY_DIALBACK},
        {"partnertype", KEY_TYPE},
        {"proxyfqdn", KEY_PROXY},
        {"enablekeepalive", KEY_KEEPALIVE},
        {"additionaldomains", KEY_ADDITIONAL},
        {"connectionlimit", KEY_CONNECTION_LIMIT},
        {"identity", KEY_COUNT},
};

#define MAX_CONNECTION_LIMIT 1000000
#define MAX_KEEPALIVE        86400
#define MAX_REFUSAL_BACKOFF  86400

struct xp_builder {
	xp_ctx *ctx;
	xp_table *t;         /* the table under construction */
	xp_arena diag_arena; /* strings of diagnostics */
	xp_diag *diags;
	size_t n_diags, cap_diags, n_errors;
	int failed; /* an allocation failed: finish says ENOMEM */
	int in_record;
	int record_bad;     /* the current record has errors */
	int record_skipped; /* not a table: keys are not expected */
	unsigned seen;      /* bit per key_id */
	unsigned options_seen;
	xp_host_style style;  /* how the host names its options */
	const char *raw;      /* primary domain as written (raw_buf) */
	const char *raw_kept; /* raw copied to the diag arena, or NULL */
	char raw_buf[301];    /* the current record's domain, bounded */
	struct xp_partner cur;
	/* Per partner of the table, its primary domain as written when that
	 * differs from the normalised one (else NULL), so a duplicate report
	 * quotes what the admin wrote ("B.Test" next to "b.test"). */
	const char **written;
	size_t cap_written;
};

/* ---- diagnostics --------------------------------------------------------- */

static int add_diag(xp_builder *b, xp_severity sev, const char *key, int row,
                    const char *suggestion, const char *fmt, ...)
        XP_PRINTF(6, 7);

static int add_diag(xp_builder *b, xp_severity sev, const char *key, int row,
                    const char *suggestion, const char *fmt, ...)
{
	char msg[1024];
	xp_diag *d;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	if (xp_grow(b->ctx, (void **)&b->diags, &b->cap_diags, b->n_diags + 1,
	            sizeof(*b->diags)) != XP_OK)
		goto oom;
	d = &b->diags[b->n_diags];
	d->severity = sev;
	d->row = row;
	/* The record's domain goes to the diag arena only when a record
	 * has a diagnostic: most records have none. */
	if (b->in_record && b->raw_kept == NULL) {
		b->raw_kept = xp_arena_strndup(&b->diag_arena, b->raw,
		                               strlen(b->raw));
		if (b->raw_kept == NULL)
			goto oom;
	}
	d->partner = b->in_record ? b->raw_kept : NULL;
	d->key =
	        key ? xp_arena_strndup(&b->diag_arena, key, strlen(key)) : NULL;
	d->message = xp_arena_strndup(&b->diag_arena, msg, strlen(msg));
	d->suggestion = suggestion
	                        ? xp_arena_strndup(&b->diag_arena, suggestion,
	                                           strlen(suggestion))
	                        : NULL;
	if ((key && !d->key) || !d->message || (suggestion && !d->suggestion))
		goto oom;
	b->n_diags++;
	if (sev == XP_SEV_ERROR) {
		b->n_errors++;
		b->record_bad = 1;
	}
	return XP_OK;
oom:
	b->failed = 1;
	return XP_ENOMEM;
}

/* "partner 'x': " prefix, or "" for global options. */
#define WHO(b)      ((b)->in_record ? "partner '" : "")
#define WHO_NAME(b) ((b)->in_record ? (b)->raw : "")
#define WHO_END(b)  ((b)->in_record ? "': " : "")

size_t xp_builder_diag_count(const xp_builder *b)
{
	return b->n_diags;
}

const xp_diag *xp_builder_diag(const xp_builder *b, size_t i)
{
	return i < b->n_diags ? &b->diags[i] : NULL;
}

size_t xp_builder_error_count(const xp_builder *b)
{
	return b->n_errors;
}

/* ---- life cycle ---------------------------------------------------------- */

xp_builder *xp_builder_new(xp_ctx *ctx)
{
	xp_builder *b;

	if (ctx == NULL)
		return NULL;
	b = xp_malloc(ctx, sizeof(*b));
	if (b == NULL)
		return NULL;
	memset(b, 0, sizeof(*b));
	b->ctx = ctx;
	xp_arena_init(&b->diag_arena, ctx);
	b->t = xp_table_alloc(ctx);
	if (b->t == NULL) {
		xp_free(ctx, b, sizeof(*b));
		return NULL;
	}
	return b;
}

void xp_builder_free(xp_builder *b)
{
	if (b == NULL)
		return;
	if (b->t != NULL)
		xp_table_destroy(b->t);
	xp_free(b->ctx, b->diags, b->cap_diags * sizeof(*b->diags));
	xp_free(b->ctx, b->written, b->cap_written * sizeof(*b->written));
	xp_arena_release(&b->diag_arena);
	xp_free(b->ctx, b, sizeof(*b));
}

/* ---- global options ------------------------------------------------------ */

/* Prosody writes xmpp_partners_default, ejabberd's module option is just
 * default: messages use the admin's own names. */
static const char *prefix(const xp_builder *b)
{
	return b->style == XP_HOST_EJABBERD ? "" : "xmpp_partners_";
}

void xp_builder_set_host_style(xp_builder *b, xp_host_style style)
{
	if (b != NULL)
		b->style = style;
}

enum {
	OPT_DEFAULT,
	OPT_KEEPALIVE,
	OPT_LIMIT,
	OPT_BACKOFF, /* refusal_backoff: longest back-off window */
	/* Bounds on unauthenticated incoming streams (SECURITY.md). */
	OPT_PENDING_ADDRESS,
	OPT_PENDING_LIMIT,
	OPT_AUTH_TIMEOUT,
	OPT_PREAUTH_BYTES,
	OPT_PREAUTH_DEPTH,
	OPT_COUNT
};
static const char *const option_names[OPT_COUNT] = {
        "default",         "keepalive_interval",  "connection_limit",
        "refusal_backoff", "pending_per_address", "pending_limit",
        "auth_timeout",    "preauth_bytes",       "preauth_depth"};
/* Whole-number options: the unit said in messages and the accepted range. */
static const struct {
	const char *unit;
	long long min, max;
} option_range[OPT_COUNT] = {
        [OPT_KEEPALIVE] = {"seconds", 1, MAX_KEEPALIVE},
        [OPT_LIMIT] = {"connections", 1, MAX_CONNECTION_LIMIT},
        /* 0 switches the refusal back-off off. */
        [OPT_BACKOFF] = {"seconds", 0, MAX_REFUSAL_BACKOFF},
        [OPT_PENDING_ADDRESS] = {"streams", 1, MAX_CONNECTION_LIMIT},
        [OPT_PENDING_LIMIT] = {"streams", 1, MAX_CONNECTION_LIMIT},
        /* Shorter than any sensible s2s_timeout; an hour at most. */
        [OPT_AUTH_TIMEOUT] = {"seconds", 1, 3600},
        /* Room for a stream header and the negotiation, at most 16 MiB. */
        [OPT_PREAUTH_BYTES] = {"bytes", 4096, 16777216},
        /* The stream element is level 1; negotiation needs about 4. */
        [OPT_PREAUTH_DEPTH] = {"levels", 4, 1000},
};

static int option_id(const char *key)
{
	int i;

	if (strncmp(key, "xmpp_partners_", 14) == 0)
		key += 14;
	for (i = 0; i < OPT_COUNT; i++)
		if (strcmp(key, option_names[i]) == 0)
			return i;
	return -1;
}

static int unknown_option(xp_builder *b, const char *key)
{
	const char *best = NULL, *bare = key;
	size_t bestd = 3, i;
	char hint[256] = "";

	if (strncmp(bare, "xmpp_partners_", 14) == 0)
		bare += 14;
	for (i = 0; i < OPT_COUNT; i++) {
		size_t d = xp_edit_distance(bare, option_names[i], 3);
		if (d < bestd) {
			bestd = d;
			best = option_names[i];
		}
	}
	if (best)
		snprintf(hint, sizeof(hint), "; did you mean '%s%s'?",
		         prefix(b), best);
	else
		snprintf(hint, sizeof(hint),
		         "; the options are %sdefault, %skeepalive_interval, "
		         "%sconnection_limit, %srefusal_backoff and the "
		         "pre-authentication bounds (see README)",
		         prefix(b), prefix(b), prefix(b), prefix(b));
	return add_diag(b, XP_SEV_ERROR, key, 0, best,
	                "option '%s' is unknown%s", key, hint);
}

static int option_seen(xp_builder *b, int id, const char *key)
{
	if (b->options_seen & (1u << id))
		return add_diag(b, XP_SEV_ERROR, key, 0, NULL,
		                "option '%s%s' is given twice; keep one",
		                prefix(b), option_names[id]);
	b->options_seen |= 1u << id;
	return 1;
}

int xp_builder_option_string(xp_builder *b, const char *key, const char *value,
                             size_t len)
{
	int id;

	if (b == NULL || key == NULL || value == NULL || b->in_record)
		return XP_EINVAL;
	id = option_id(key);
	if (id < 0)
		return unknown_option(b, key);
	if (option_seen(b, id, key) != 1)
		return b->failed ? XP_ENOMEM : XP_OK;
	if (id != OPT_DEFAULT)
		return add_diag(b, XP_SEV_ERROR, key, 0, NULL,
		                "option '%s%s' must be a whole number "
		                "of %s, not a string; write it without quotes",
		                prefix(b), option_names[id],
		                option_range[id].unit);
	if (len == 4 && memcmp(value, "deny", 4) == 0)
		b->t->default_policy = XP_DEFAULT_DENY;
	else if (len == 5 && memcmp(value, "allow", 5) == 0)
		b->t->default_policy = XP_DEFAULT_ALLOW;
	else
		return add_diag(b, XP_SEV_ERROR, key, 0, "deny",
		                "option '%sdefault' is \"%.*s\"; use "
		                "\"deny\" (only listed partners federate) or "
		                "\"allow\"",
		                prefix(b), (int)(len > 64 ? 64 : len), value);
	return XP_OK;
}

int xp_builder_option_integer(xp_builder *b, const char *key, long long value)
{
	int id;
	long long min, max;

	if (b == NULL || key == NULL || b->in_record)
		return XP_EINVAL;
	id = option_id(key);
	if (id < 0)
		return unknown_option(b, key);
	if (option_seen(b, id, key) != 1)
		return b->failed ? XP_ENOMEM : XP_OK;
	if (id == OPT_DEFAULT)
		return add_diag(b, XP_SEV_ERROR, key, 0, "deny",
		                "option '%sdefault' must be \"deny\" or "
		                "\"allow\", not a number",
		                prefix(b));
	min = option_range[id].min;
	max = option_range[id].max;
	if (value < min || value > max)
		return add_diag(b, XP_SEV_ERROR, key, 0, NULL,
		                "option '%s%s' is %lld; use a whole "
		                "number from %lld to %lld",
		                prefix(b), option_names[id], value, min, max);
	switch (id) {
	case OPT_KEEPALIVE:
		b->t->keepalive_interval = (unsigned)value;
		break;
	case OPT_LIMIT:
		b->t->connection_limit = (unsigned)value;
		break;
	case OPT_BACKOFF:
		b->t->refusal_backoff = (unsigned)value;
		break;
	default:
		b->t->preauth[id - OPT_PENDING_ADDRESS] = (unsigned)value;
		break;
	}
	return XP_OK;
}

int xp_builder_option_invalid(xp_builder *b, const char *key,
                              const char *type_name)
{
	int id;

	if (b == NULL || key == NULL || b->in_record)
		return XP_EINVAL;
	if (strcmp(key, "xmpp_partners") == 0 || strcmp(key, "partners") == 0)
		return add_diag(
		        b, XP_SEV_ERROR, key, 0, NULL,
		        b->style == XP_HOST_EJABBERD
		                ? "option 'partners' must be a map of "
		                  "partners, "
		                  "{\"example.com\": {...}}, not a %s"
		                : "option 'xmpp_partners' must be a table of "
		                  "partners, { [\"example.com\"] = { ... } }, "
		                  "not a %s",
		        type_name ? type_name : "value of another type");
	id = option_id(key);
	if (id < 0)
		return unknown_option(b, key);
	return add_diag(b, XP_SEV_ERROR, key, 0, NULL,
	                "option '%s%s' must be %s, not a %s", prefix(b),
	                option_names[id],
	                id == OPT_DEFAULT ? "\"deny\" or \"allow\""
	                                  : "a whole number",
	                type_name ? type_name : "value of another type");
}

/* ---- records ------------------------------------------------------------- */

/* The current record's domain as written, for messages; copied to the diag
 * arena by add_diag when the record has a diagnostic. */
static void keep_raw(xp_builder *b, const char *domain, size_t len)
{
	if (len > sizeof(b->raw_buf) - 1)
		len = sizeof(b->raw_buf) - 1;
	memcpy(b->raw_buf, domain, len);
	b->raw_buf[len] = '\0';
	b->raw = b->raw_buf;
	b->raw_kept = NULL;
}

int xp_builder_begin(xp_builder *b, const char *domain, size_t len)
{
	char norm[XP_DOMAIN_MAX + 1];
	size_t nlen = 0;
	const char *why = NULL;
	int rc;

	if (b == NULL || domain == NULL || b->in_record)
		return XP_EINVAL;
	b->in_record = 1;
	b->record_bad = 0;
	b->record_skipped = 0;
	b->seen = 0;
	xp_partner_defaults(&b->cur);
	/* Keep what the admin wrote (bounded) for messages. */
	keep_raw(b, domain, len);
	rc = xp_domain_normalize(domain, len, norm, &nlen, &why);
	if (rc == XP_ENOMEM) {
		b->failed = 1;
		return rc;
	}
	if (rc != XP_OK)
		return add_diag(b, XP_SEV_ERROR, NULL, 0, NULL,
		                "partner '%s': the domain %s", b->raw, why);
	b->cur.domain = xp_arena_strndup(&b->t->arena, norm, nlen);
	if (b->cur.domain == NULL) {
		b->failed = 1;
		return XP_ENOMEM;
	}
	return XP_OK;
}

int xp_builder_record_invalid(xp_builder *b, const char *type_name)
{
	if (b == NULL || !b->in_record)
		return XP_EINVAL;
	b->record_skipped = 1;
	return add_diag(b, XP_SEV_ERROR, NULL, 0, NULL,
	                "partner '%s': the record must be a table of keys, "
	                "{ type = \"federated\", ... }, not a %s; write "
	                "[\"%s\"] = {} for all defaults",
	                b->raw, type_name ? type_name : "value of another type",
	                b->raw);
}

/* Find a key by name; on failure report it with the nearest valid key. */
static int find_key(xp_builder *b, const char *key)
{
	char folded[64];
	size_t i, j = 0, bestd = 3;
	const char *best = NULL;

	/* The first letters of the key names differ but for two pairs:
	 * compare them first. */
	for (i = 0; i < KEY_COUNT; i++)
		if (key[0] == keys[i].name[0] && strcmp(key, keys[i].name) == 0)
			return (int)i;
	/* Lync names: compare lower-cased with '_' and '-' removed. */
	for (i = 0; key[i] && j < sizeof(folded) - 1; i++) {
		char c = key[i];
		if (c == '_' || c == '-')
			continue;
		folded[j++] =
		        (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	folded[j] = '\0';
	for (i = 0; i < sizeof(lync_names) / sizeof(lync_names[0]); i++) {
		if (strcmp(folded, lync_names[i].lync) != 0)
			continue;
		if (lync_names[i].key == KEY_COUNT)
			add_diag(
			        b, XP_SEV_ERROR, key, 0, NULL,
			        "partner '%s': key '%s' is Lync's name for the "
			        "table key; write the domain as the key, "
			        "[\"%s\"] = { ... }",
			        b->raw, key, b->raw);
		else
			add_diag(b, XP_SEV_ERROR, key, 0,
			         keys[lync_names[i].key].name,
			         "partner '%s': unknown key '%s' (a Lync / "
			         "Skype "
			         "for Business name); write '%s'",
			         b->raw, key, keys[lync_names[i].key].name);
		return -1;
	}
	for (i = 0; i < KEY_COUNT; i++) {
		size_t d = xp_edit_distance(key, keys[i].name, 3);
		if (d < bestd) {
			bestd = d;
			best = keys[i].name;
		}
	}
	if (best != NULL)
		add_diag(b, XP_SEV_ERROR, key, 0, best,
		         "partner '%s': unknown key '%s'; did you mean '%s'?",
		         b->raw, key, best);
	else
		add_diag(b, XP_SEV_ERROR, key, 0, NULL,
		         "partner '%s': unknown key '%s'; the keys are "
		         "description, additional_domains, type, tls, sasl, "
		         "dialback, proxy, connection_limit, keepalive and "
		         "fingerprints",
		         b->raw, key);
	return -1;
}

static const char *kind_text(enum key_kind k)
{
	switch (k) {
	case K_STRING:
		return "a string";
	case K_ENUM:
		return "a string";
	case K_LIST:
		return "a list of strings, { \"...\", \"...\" }";
	case K_BOOL:
		return "true or false";
	case K_INT:
		return "a whole number";
	case K_OTHER:
		break;
	}
	return "?";
}

/* Common start of every setter: the record is open, the key known and new,
 * and of the expected kind.  Returns the key id, or -1 after reporting. */
static int key_for(xp_builder *b, const char *key, enum key_kind got,
                   const char *got_name)
{
	int id;

	if (b->record_skipped)
		return -1;
	id = find_key(b, key);
	if (id < 0)
		return -1;
	if (b->seen & (1u << id)) {
		add_diag(b, XP_SEV_ERROR, key, 0, NULL,
		         "partner '%s': key '%s' is given twice; keep one",
		         b->raw, key);
		return -1;
	}
	b->seen |= 1u << id;
	if (keys[id].kind != got &&
	    !(keys[id].kind == K_ENUM && got == K_STRING)) {
		const char *hint = "";
		if (keys[id].kind == K_BOOL && got == K_STRING)
			hint = " (write it without quotes)";
		else if (keys[id].kind == K_INT && got == K_STRING)
			hint = " (write it without quotes)";
		else if (keys[id].kind == K_LIST && got == K_STRING)
			hint = " (put the one item in braces)";
		add_diag(b, XP_SEV_ERROR, key, 0, NULL,
		         "partner '%s': key '%s' must be %s, not %s%s", b->raw,
		         key, kind_text(keys[id].kind), got_name, hint);
		return -1;
	}
	return id;
}

static int result(const xp_builder *b)
{
	return b->failed ? XP_ENOMEM : XP_OK;
}

static int check_open(const xp_builder *b, const char *key)
{
	return b != NULL && key != NULL && b->in_record;
}

/* Parse "host[:port]" for proxy; hosts may be domains or IP literals. */
static int set_proxy(xp_builder *b, const char *v, size_t len)
{
	char host[XP_DOMAIN_MAX + 1];
	size_t hlen = len, nlen = 0, i;
	long port = 5269;
	const char *colon = NULL, *why = NULL;
	int ipv4 = 1, dots = 0;

	if (len > 0 && v[0] == '[') { /* [IPv6]:port */
		const char *close = memchr(v, ']', len);
		if (close == NULL || close - v > 46)
			goto bad;
		for (i = 1; v + i < close; i++)
			if (!(v[i] == ':' || v[i] == '.' ||
			      (v[i] >= '0' && v[i] <= '9') ||
			      (v[i] >= 'a' && v[i] <= 'f') ||
			      (v[i] >= 'A' && v[i] <= 'F')))
				goto bad;
		hlen = (size_t)(close - v) + 1;
		if (hlen < len && v[hlen] != ':')
			goto bad;
		colon = hlen < len ? v + hlen : NULL;
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		nlen = hlen;
	} else {
		colon = memchr(v, ':', len);
		if (colon != NULL)
			hlen = (size_t)(colon - v);
		for (i = 0; i < hlen; i++) {
			if (v[i] == '.')
				dots++;
			else if (v[i] < '0' || v[i] > '9')
				ipv4 = 0;
		}
		if (hlen > 0 && ipv4 && dots == 3 && hlen <= 15) {
			memcpy(host, v, hlen);
			host[hlen] = '\0';
			nlen = hlen;
		} else if (xp_domain_normalize(v, hlen, host, &nlen, &why) !=
		           XP_OK) {
			return add_diag(
			        b, XP_SEV_ERROR, "proxy", 0, NULL,
			        "partner '%s': key 'proxy': the host %s; "
			        "write \"host\" or \"host:port\"",
			        b->raw, why ? why : "is not valid");
		}
	}
	if (colon != NULL) {
		size_t plen = len - (size_t)(colon - v) - 1;
		port = 0;
		if (plen == 0 || plen > 5)
			goto bad_port;
		for (i = 0; i < plen; i++) {
			char c = colon[1 + i];
			if (c < '0' || c > '9')
				goto bad_port;
			port = port * 10 + (c - '0');
		}
		if (port < 1 || port > 65535)
			goto bad_port;
	}
	b->cur.proxy_host = xp_arena_strndup(&b->t->arena, host, nlen);
	if (b->cur.proxy_host == NULL) {
		b->failed = 1;
		return XP_ENOMEM;
	}
	b->cur.proxy_port = (uint16_t)port;
	return XP_OK;
bad_port:
	return add_diag(b, XP_SEV_ERROR, "proxy", 0, NULL,
	                "partner '%s': key 'proxy' has a bad port; write "
	                "\"host:port\" with a port from 1 to 65535",
	                b->raw);
bad:
	return add_diag(b, XP_SEV_ERROR, "proxy", 0, NULL,
	                "partner '%s': key 'proxy' is not a host; write "
	                "\"host\", \"host:port\" or \"[ipv6]:port\"",
	                b->raw);
}

static int set_enum(xp_builder *b, int id, const char *v, size_t len)
{
	const char *const *vals = keys[id].values;
	const char *best = NULL;
	size_t i, bestd = 4;
	char shown[64];
	xp_tls tls;
	xp_sasl sasl;

	if (id == KEY_TLS && xp_tls_parse(v, len, &tls) == XP_OK) {
		b->cur.tls = (uint8_t)tls;
		return XP_OK;
	}
	if (id == KEY_SASL && xp_sasl_parse(v, len, &sasl) == XP_OK) {
		b->cur.sasl = (uint8_t)sasl;
		return XP_OK;
	}
	for (i = 0; id == KEY_TYPE && vals[i]; i++)
		if (len > 0 && vals[i][0] == v[0] && strlen(vals[i]) == len &&
		    memcmp(vals[i], v, len) == 0) {
			b->cur.type = (uint8_t)i;
			return XP_OK;
		}
	snprintf(shown, sizeof(shown), "%.*s", (int)(len > 40 ? 40 : len), v);
	for (i = 0; vals[i]; i++) {
		size_t d = xp_edit_distance(shown, vals[i], 4);
		if (d < bestd) {
			bestd = d;
			best = vals[i];
		}
	}
	/* Words people reach for that mean something else here. */
	if (best == NULL && id != KEY_TYPE &&
	    (strcmp(shown, "false") == 0 || strcmp(shown, "off") == 0 ||
	     strcmp(shown, "none") == 0 || strcmp(shown, "disabled") == 0))
		best = "not_supported";
	if (id == KEY_TYPE)
		return add_diag(b, XP_SEV_ERROR, keys[id].name, 0, best,
		                "partner '%s': key 'type' is \"%s\"; use "
		                "\"federated\", \"public_verified\" or "
		                "\"public_unverified\"%s%s%s",
		                b->raw, shown, best ? " (did you mean \"" : "",
		                best ? best : "", best ? "\"?)" : "");
	return add_diag(b, XP_SEV_ERROR, keys[id].name, 0, best,
	                "partner '%s': key '%s' is \"%s\"; use \"required\", "
	                "\"optional\" or \"not_supported\"%s%s%s",
	                b->raw, keys[id].name, shown,
	                best ? " (did you mean \"" : "", best ? best : "",
	                best ? "\"?)" : "");
}

int xp_builder_set_string(xp_builder *b, const char *key, const char *value,
                          size_t len)
{
	int id;

	if (!check_open(b, key) || value == NULL)
		return XP_EINVAL;
	id = key_for(b, key, K_STRING, "a string");
	if (id < 0)
		return result(b);
	switch (id) {
	case KEY_DESCRIPTION:
		b->cur.description = xp_arena_strndup(&b->t->arena, value, len);
		if (b->cur.description == NULL) {
			b->failed = 1;
			return XP_ENOMEM;
		}
		return XP_OK;
	case KEY_PROXY:
		return set_proxy(b, value, len);
	default:
		return set_enum(b, id, value, len);
	}
}

int xp_builder_set_boolean(xp_builder *b, const char *key, int value)
{
	int id;

	if (!check_open(b, key))
		return XP_EINVAL;
	id = key_for(b, key, K_BOOL, value ? "true" : "false");
	if (id < 0)
		return result(b);
	if (id == KEY_DIALBACK)
		b->cur.dialback = value != 0;
	else
		b->cur.keepalive = value != 0;
	return XP_OK;
}

int xp_builder_set_integer(xp_builder *b, const char *key, long long value)
{
	int id;

	if (!check_open(b, key))
		return XP_EINVAL;
	id = key_for(b, key, K_INT, "a number");
	if (id < 0)
		return result(b);
	if (value < 1 || value > MAX_CONNECTION_LIMIT)
		return add_diag(
		        b, XP_SEV_ERROR, key, 0, NULL,
		        "partner '%s': key 'connection_limit' is %lld; use "
		        "a whole number from 1 to %d",
		        b->raw, value, MAX_CONNECTION_LIMIT);
	b->cur.connection_limit = (uint32_t)value;
	return XP_OK;
}

int xp_builder_set_number(xp_builder *b, const char *key, double value)
{
	if (!check_open(b, key))
		return XP_EINVAL;
	if (value >= -1e15 && value <= 1e15 &&
	    value == (double)(long long)value)
		return xp_builder_set_integer(b, key, (long long)value);
	if (key_for(b, key, K_INT, "a fractional number") < 0)
		return result(b);
	return add_diag(b, XP_SEV_ERROR, key, 0, NULL,
	                "partner '%s': key '%s' must be a whole number", b->raw,
	                key);
}

int xp_builder_set_invalid(xp_builder *b, const char *key,
                           const char *type_name)
{
	int id;
	char got[80];

	if (!check_open(b, key))
		return XP_EINVAL;
	if (type_name == NULL)
		type_name = "value of another type";
	/* "not nil", "not an integer", "not a function" */
	snprintf(got, sizeof(got), "%s%s",
	         strcmp(type_name, "nil") == 0           ? ""
	         : strchr("aeiou", type_name[0]) != NULL ? "an "
	                                                 : "a ",
	         type_name);
	id = key_for(b, key, K_OTHER, got);
	(void)id; /* a kind no key takes: key_for has reported it */
	return result(b);
}

static int set_domains(xp_builder *b, const char *const *items,
                       const size_t *lens, size_t n)
{
	const char **list;
	size_t i, k;

	list = xp_arena_alloc(&b->t->arena, (n ? n : 1) * sizeof(*list));
	if (list == NULL) {
		b->failed = 1;
		return XP_ENOMEM;
	}
	for (i = 0, k = 0; i < n; i++) {
		char norm[XP_DOMAIN_MAX + 1];
		size_t nlen = 0;
		const char *why = NULL;
		int rc;
		if (items[i] == NULL) {
			add_diag(b, XP_SEV_ERROR, "additional_domains", 0, NULL,
			         "partner '%s': key 'additional_domains': item "
			         "%zu "
			         "is not a string; list domains as \"name\"",
			         b->raw, i + 1);
			continue;
		}
		rc = xp_domain_normalize(items[i], lens[i], norm, &nlen, &why);
		if (rc == XP_ENOMEM) {
			b->failed = 1;
			return rc;
		}
		if (rc != XP_OK) {
			add_diag(b, XP_SEV_ERROR, "additional_domains", 0, NULL,
			         "partner '%s': key 'additional_domains': "
			         "'%.*s' "
			         "%s",
			         b->raw, (int)(lens[i] > 200 ? 200 : lens[i]),
			         items[i], why);
			continue;
		}
		list[k] = xp_arena_strndup(&b->t->arena, norm, nlen);
		if (list[k] == NULL) {
			b->failed = 1;
			return XP_ENOMEM;
		}
		k++;
	}
	b->cur.additional = list;
	b->cur.n_additional = (uint32_t)k;
	return result(b);
}

static int set_fingerprints(xp_builder *b, const char *const *items,
                            const size_t *lens, size_t n)
{
	const char **list;
	unsigned char *pins;
	size_t i, k;

	list = xp_arena_alloc(&b->t->arena, (n ? n : 1) * sizeof(*list));
	pins = xp_arena_alloc(&b->t->arena, (n ? n : 1) * 32);
	if (list == NULL || pins == NULL) {
		b->failed = 1;
		return XP_ENOMEM;
	}
	for (i = 0, k = 0; i < n; i++) {
		char text[XP_PIN_STRLEN + 1];
		size_t j;
		if (items[i] == NULL ||
		    xp_pin_parse(items[i], lens[i], pins + 32 * k) != XP_OK) {
			add_diag(
			        b, XP_SEV_ERROR, "fingerprints", 0, NULL,
			        "partner '%s': key 'fingerprints': item %zu is "
			        "not a pin; write \"sha256:\" and the 64 hex "
			        "digits of the SHA-256 of the certificate's "
			        "public key (SPKI), as 'xmpp-partners' or "
			        "openssl prints it",
			        b->raw, i + 1);
			continue;
		}
		memcpy(text, "sha256:", 7);
		for (j = 0; j < 32; j++)
			snprintf(text + 7 + 2 * j, 3, "%02x", pins[32 * k + j]);
		list[k] = xp_arena_strndup(&b->t->arena, text, XP_PIN_STRLEN);
		if (list[k] == NULL) {
			b->failed = 1;
			return XP_ENOMEM;
		}
		k++;
	}
	b->cur.fingerprints = list;
	b->cur.pins = pins;
	b->cur.n_fingerprints = (uint32_t)k;
	return result(b);
}

int xp_builder_set_list(xp_builder *b, const char *key,
                        const char *const *items, const size_t *lens, size_t n)
{
	int id;

	if (!check_open(b, key) || (n > 0 && (items == NULL || lens == NULL)))
		return XP_EINVAL;
	id = key_for(b, key, K_LIST, "a list");
	if (id < 0)
		return result(b);
	if (id == KEY_ADDITIONAL)
		return set_domains(b, items, lens, n);
	return set_fingerprints(b, items, lens, n);
}

/* Matrix verdict for the finished record: errors refuse it, warnings are
 * kept with the fix in the message. */
static int check_matrix(xp_builder *b)
{
	const xp_matrix_row *r = xp_matrix_lookup(
	        (xp_tls)b->cur.tls, (xp_sasl)b->cur.sasl, b->cur.dialback);
	const char *key, *fix;

	b->cur.row = r;
	if (r->verdict == XP_VERDICT_OK)
		return XP_OK;
	if (r->verdict == XP_VERDICT_ERROR) {
		key = (r->methods == 0 && b->cur.sasl == XP_SASL_NOT_SUPPORTED)
		              ? "dialback"
		              : "sasl";
		return add_diag(b, XP_SEV_ERROR, key, r->row, NULL,
		                "partner '%s': tls = \"%s\", sasl = \"%s\", "
		                "dialback = %s is matrix row %d (error): %s",
		                b->raw, xp_tls_name((xp_tls)b->cur.tls),
		                xp_sasl_name((xp_sasl)b->cur.sasl),
		                b->cur.dialback ? "true" : "false", r->row,
		                r->reason);
	}
	if (r->row == 1) {
		key = "dialback";
		fix = "set dialback = false to silence this";
	} else {
		key = "tls";
		fix = "set tls = \"required\" if the partner always uses TLS";
	}
	return add_diag(b, XP_SEV_WARNING, key, r->row, NULL,
	                "partner '%s': tls = \"%s\", sasl = \"%s\", dialback = "
	                "%s is matrix row %d (warning): %s (%s)",
	                b->raw, xp_tls_name((xp_tls)b->cur.tls),
	                xp_sasl_name((xp_sasl)b->cur.sasl),
	                b->cur.dialback ? "true" : "false", r->row, r->reason,
	                fix);
}

int xp_builder_end(xp_builder *b)
{
	xp_table *t;
	int rc = XP_OK;

	if (b == NULL || !b->in_record)
		return XP_EINVAL;
	if (!b->record_skipped && b->cur.domain != NULL)
		rc = check_matrix(b);
	t = b->t;
	if (rc == XP_OK && !b->record_bad && !b->record_skipped &&
	    b->cur.domain != NULL) {
		if (xp_grow(b->ctx, (void **)&t->partners, &t->cap_partners,
		            t->n_partners + 1, sizeof(*t->partners)) != XP_OK) {
			b->failed = 1;
			rc = XP_ENOMEM;
		} else if (xp_grow(b->ctx, (void **)&b->written,
		                   &b->cap_written, t->n_partners + 1,
		                   sizeof(*b->written)) != XP_OK) {
			b->failed = 1;
			rc = XP_ENOMEM;
		} else {
			const char *w = NULL;
			if (strcmp(b->raw, b->cur.domain) != 0) {
				w = xp_arena_strndup(&b->diag_arena, b->raw,
				                     strlen(b->raw));
				if (w == NULL) {
					b->failed = 1;
					rc = XP_ENOMEM;
				}
			}
			b->written[t->n_partners] = w;
			t->partners[t->n_partners++] = b->cur;
		}
	}
	b->in_record = 0;
	return b->failed ? XP_ENOMEM : rc;
}

/* ---- finishing ----------------------------------------------------------- */

/* Name a partner as the admin wrote it, and how it lists the domain. */
static void describe(const xp_builder *b, uint32_t partner, const char *name,
                     char *buf, size_t n)
{
	const struct xp_partner *p = &b->t->partners[partner];
	const char *w = b->written[partner];

	snprintf(buf, n, "partner '%s'%s", w ? w : p->domain,
	         strcmp(p->domain, name) == 0 ? ""
	                                      : " (in additional_domains)");
}

static int copy_warnings(xp_builder *b)
{
	xp_table *t = b->t;
	size_t i;

	for (i = 0; i < b->n_diags; i++) {
		const xp_diag *d = &b->diags[i];
		xp_diag *w;
		if (d->severity != XP_SEV_WARNING)
			continue;
		if (xp_grow(b->ctx, (void **)&t->warnings, &t->cap_warnings,
		            t->n_warnings + 1, sizeof(*w)) != XP_OK)
			return XP_ENOMEM;
		w = &t->warnings[t->n_warnings];
		*w = *d;
		w->partner = d->partner
		                     ? xp_arena_strndup(&t->arena, d->partner,
		                                        strlen(d->partner))
		                     : NULL;
		w->key = d->key ? xp_arena_strndup(&t->arena, d->key,
		                                   strlen(d->key))
		                : NULL;
		w->message = xp_arena_strndup(&t->arena, d->message,
		                              strlen(d->message));
		w->suggestion =
		        d->suggestion
		                ? xp_arena_strndup(&t->arena, d->suggestion,
		                                   strlen(d->suggestion))
		                : NULL;
		if ((d->partner && !w->partner) || (d->key && !w->key) ||
		    !w->message || (d->suggestion && !w->suggestion))
			return XP_ENOMEM;
		t->n_warnings++;
	}
	return XP_OK;
}

/* Report one domain listed twice (xp_table_index calls this). */
static int report_duplicate(void *ud, const char *name, uint32_t first,
                            uint32_t second)
{
	xp_builder *b = ud;
	const struct xp_partner *p2 = &b->t->partners[second];
	char one[300], two[320];
	int rc;

	describe(b, first, name, one, sizeof(one));
	if (first == second) {
		snprintf(two, sizeof(two), "again by the same partner");
	} else {
		char d2[300];
		describe(b, second, name, d2, sizeof(d2));
		snprintf(two, sizeof(two), "by %s", d2);
	}
	/* Attribute the error to the partner that listed the domain last:
	 * that is usually the one to fix. */
	if (b->written[second] != NULL)
		keep_raw(b, b->written[second], strlen(b->written[second]));
	else
		keep_raw(b, p2->domain, strlen(p2->domain));
	b->in_record = 1;
	rc = add_diag(b, XP_SEV_ERROR, "additional_domains", 0, NULL,
	              "domain '%s' is listed by %s and %s; a domain may belong "
	              "to one partner only: remove it from one of them",
	              name, one, two);
	b->in_record = 0;
	return rc;
}

int xp_builder_finish(xp_builder *b, xp_table **out)
{
	int rc;

	if (b == NULL || out == NULL || b->in_record || b->t == NULL)
		return XP_EINVAL;
	if (b->failed)
		return XP_ENOMEM;
	/* Index even when other errors were found, so the admin sees every
	 * duplicate in the same report. */
	rc = xp_table_index(b->t, report_duplicate, b);
	if (rc == XP_ENOMEM || b->failed)
		return XP_ENOMEM;
	if (b->n_errors > 0)
		return XP_ECONFIG;
	if (copy_warnings(b) != XP_OK)
		return XP_ENOMEM;
	b->t->style = b->style;
	*out = b->t;
	b->t = NULL;
	return XP_OK;
}

/* ---- misspelled options in a host's configuration ------------------------ */

/* Options a host configuration may set that are not table options (the
 * table's own are option_names, above, with the host prefix): the table,
 * Prosody's partner file and the host that stores runtime changes. */
static const char *const host_option_names[] = {
        "xmpp_partners", "xmpp_partners_file", "xmpp_partners_storage_host"};
#define HOST_OPTION_COUNT                                                      \
	(sizeof(host_option_names) / sizeof(host_option_names[0]))
#define CONFIG_PREFIX "xmpp_partners_"

/* The i-th name a configuration may set (0 <= i < OPT_COUNT +
 * HOST_OPTION_COUNT), written into buf. */
static const char *config_option_name(size_t i, char *buf, size_t size)
{
	if (i < HOST_OPTION_COUNT)
		return host_option_names[i];
	snprintf(buf, size, CONFIG_PREFIX "%s",
	         option_names[i - HOST_OPTION_COUNT]);
	return buf;
}

int xp_option_note(const char *name, char *buf, size_t size)
{
	char cand[64], best[64] = "";
	size_t i, d, bestd = 4;
	const size_t count = HOST_OPTION_COUNT + OPT_COUNT;
	int ours;

	if (name == NULL || buf == NULL || size == 0)
		return 0;
	for (i = 0; i < count; i++)
		if (strcmp(name, config_option_name(i, cand, sizeof(cand))) ==
		    0)
			return 0;
	ours = strncmp(name, "xmpp_partner", 12) == 0;
	for (i = 0; i < count; i++) {
		const char *c = config_option_name(i, cand, sizeof(cand));
		d = xp_edit_distance(name, c, 4);
		if (d < bestd) {
			bestd = d;
			snprintf(best, sizeof(best), "%s", c);
		}
	}
	/* A name that is neither ours by prefix nor one or two edits away
	 * belongs to the host or another module. */
	if (!ours && (best[0] == '\0' || bestd > 2))
		return 0;
	if (best[0] != '\0')
		snprintf(buf, size,
		         "'%.100s' is not an option of xmpp-partners, so it is "
		         "ignored; did you mean '%s'?",
		         name, best);
	else
		snprintf(buf, size,
		         "'%.100s' is not an option of xmpp-partners, so it is "
		         "ignored (the options are listed in the README: "
		         "xmpp_partners, xmpp_partners_file and the global "
		         "xmpp_partners_* options)",
		         name);
	return 1;
}
