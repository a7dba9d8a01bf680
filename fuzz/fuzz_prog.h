/*
 * fuzz_prog.h: decode a fuzz input as a little program of builder calls,
 * run it, finish, and exercise the resulting table.  Shared by
 * fuzz_builder.c (short programs) and fuzz_table.c (many records).
 *
 * Input layout:
 *   byte 0      flags: bit 0 host style, bit 1 inject an allocation
 *               failure (then byte 1 is the failing allocation's number)
 *   then ops    one byte each, op = byte % FZ_OPS, then its operands.
 * Strings: a byte b; b < 0x80 picks word b % N of a dictionary of keys,
 * values and domains; otherwise (b & 0x7f) raw bytes follow.
 */
#ifndef FUZZ_PROG_H
#define FUZZ_PROG_H

#include "fuzz_common.h"

static const char *const fz_words[] = {
        /* keys */
        "description",
        "additional_domains",
        "type",
        "tls",
        "sasl",
        "dialback",
        "proxy",
        "connection_limit",
        "keepalive",
        "fingerprints",
        "identity",
        "TlsNegotiation",
        "additionaldomains",
        "proxyfqdn",
        "tlss",
        "",
        /* options */
        "default",
        "xmpp_partners_default",
        "keepalive_interval",
        "xmpp_partners_keepalive_interval",
        "xmpp_partners_connection_limit",
        "xmpp_partners_",
        "defualt",
        /* values */
        "required",
        "optional",
        "not_supported",
        "federated",
        "public_verified",
        "public_unverified",
        "allow",
        "deny",
        "true",
        "false",
        "Required",
        "NotSupported",
        "sha256:"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:"
        "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:01",
        "sha1:00",
        "proxy.example.net",
        "proxy.example.net:5270",
        "[2001:db8::1]",
        "[2001:db8::1]:5269",
        "[::1",
        "host:0",
        "host:65536",
        "192.0.2.1",
        "192.0.2.1:5269",
        /* domains */
        "example.com",
        "EXAMPLE.com.",
        "example.org",
        "sub.example.com",
        ("b\xc3\xbc"
         "cher.example"),
        "xn--bcher-kva.example",
        "xn--zz.example",
        "*.example.com",
        "user@example.com",
        "example.com/res",
        "example.com:5269",
        "a..b",
        "-a.example",
        "a-.example",
        "localhost",
        "127.0.0.1",
        "1.2.3.4.example",
        "\xe2\x80\x8b.example",
        "\xff\xfe.example",
        ".",
        "a",
        /* type names */
        "function",
        "table",
        "nil",
        "userdata",
};
#define FZ_NWORDS (sizeof(fz_words) / sizeof(fz_words[0]))

#define FZ_STRMAX 128
typedef struct fz_str {
	char buf[FZ_STRMAX + 1];
	size_t len;
} fz_str;

static inline void fz_string(fz_reader *r, fz_str *s)
{
	uint8_t b = fz_u8(r);
	if (b < 0x80) {
		const char *w = fz_words[b % FZ_NWORDS];
		s->len = strlen(w);
		memcpy(s->buf, w, s->len);
	} else {
		size_t got;
		const char *p = fz_bytes(r, b & 0x7f, &got);
		memcpy(s->buf, p, got);
		s->len = got;
	}
	s->buf[s->len] = '\0';
}

/* A heap copy of exactly len bytes (no NUL) so reads past the end trap. */
static inline char *fz_exact(const fz_str *s)
{
	char *p = malloc(s->len ? s->len : 1);
	if (!p)
		abort();
	memcpy(p, s->buf, s->len);
	return p;
}

/* A heap copy with its NUL, for the NUL-terminated key arguments. */
static inline char *fz_cstr(const fz_str *s)
{
	char *p = malloc(s->len + 1);
	if (!p)
		abort();
	memcpy(p, s->buf, s->len + 1);
	return p;
}

enum {
	FZ_BEGIN,
	FZ_SET_STRING,
	FZ_SET_BOOLEAN,
	FZ_SET_INTEGER,
	FZ_SET_NUMBER,
	FZ_SET_LIST,
	FZ_SET_INVALID,
	FZ_RECORD_INVALID,
	FZ_END,
	FZ_OPT_STRING,
	FZ_OPT_INTEGER,
	FZ_OPT_INVALID,
	FZ_SET_STRING2,
	FZ_END2,
	FZ_OPS
};

static inline long long fz_integer(fz_reader *r)
{
	uint8_t k = fz_u8(r);
	static const long long special[] = {
	        0,
	        1,
	        -1,
	        5269,
	        65535,
	        65536,
	        100,
	        3600,
	        2147483647LL,
	        2147483648LL,
	        4294967295LL,
	        4294967296LL,
	        -2147483648LL,
	        (long long)(~0ULL >> 1),
	        -(long long)(~0ULL >> 1) - 1,
	};
	if (k < 0xf0)
		return (long long)(k % 16) - 2;
	if (k < 0xff)
		return special[(k - 0xf0) %
		               (sizeof(special) / sizeof(special[0]))];
	return (long long)fz_u64(r);
}

static inline double fz_number(fz_reader *r)
{
	uint8_t k = fz_u8(r);
	uint64_t bits;
	double d;
	static const double special[] = {
	        0.0, -0.0, 1.5, 10.0, 1e300, -1e300, 9007199254740993.0};
	if (k < 0xf0)
		return (double)(k % 8);
	if (k < 0xff)
		return special[(k - 0xf0) %
		               (sizeof(special) / sizeof(special[0]))];
	bits = fz_u64(r); /* any bit pattern: NaN, infinities, denormals */
	memcpy(&d, &bits, sizeof(d));
	return d;
}

/* Normalised primary domains begun so far, for the duplicate check. */
#define FZ_MAXDOM 512
typedef struct fz_run {
	char doms[FZ_MAXDOM][XP_DOMAIN_MAX + 1];
	size_t ndoms;
	int duplicate;     /* two successful begins with the same valid name */
	fz_str probes[16]; /* strings to look up afterwards */
	size_t nprobes;
} fz_run;

static inline void fz_note_begin(fz_run *run, const fz_str *s)
{
	char out[XP_DOMAIN_MAX + 1];
	size_t len, i;
	if (xp_domain_normalize(s->buf, s->len, out, &len, NULL) != XP_OK)
		return;
	for (i = 0; i < run->ndoms; i++)
		if (strcmp(run->doms[i], out) == 0)
			run->duplicate = 1;
	if (run->ndoms < FZ_MAXDOM)
		memcpy(run->doms[run->ndoms++], out, len + 1);
}

static inline void fz_probe(fz_run *run, const fz_str *s)
{
	if (run->nprobes < sizeof(run->probes) / sizeof(run->probes[0]))
		run->probes[run->nprobes++] = *s;
}

static inline int fz_status_ok(int rc)
{
	return rc == XP_OK || rc == XP_EINVAL || rc == XP_ENOMEM;
}

/* Run one op.  Returns 0 when the input is used up. */
static inline int fz_step(fz_reader *r, xp_builder *b, fz_run *run,
                          fz_alloc *al)
{
	fz_str k, v;
	char *key, *val;
	int rc = XP_OK;
	uint8_t op;

	if (r->n == 0)
		return 0;
	op = fz_u8(r) % FZ_OPS;
	switch (op) {
	case FZ_BEGIN:
		fz_string(r, &v);
		val = fz_exact(&v);
		rc = xp_builder_begin(b, val, v.len);
		if (rc == XP_OK)
			fz_note_begin(run, &v);
		fz_probe(run, &v);
		free(val);
		break;
	case FZ_SET_STRING:
	case FZ_SET_STRING2:
	case FZ_OPT_STRING:
		fz_string(r, &k);
		fz_string(r, &v);
		key = fz_cstr(&k);
		val = fz_exact(&v);
		if (op == FZ_OPT_STRING)
			rc = xp_builder_option_string(b, key, val, v.len);
		else
			rc = xp_builder_set_string(b, key, val, v.len);
		free(key);
		free(val);
		break;
	case FZ_SET_BOOLEAN:
		fz_string(r, &k);
		key = fz_cstr(&k);
		rc = xp_builder_set_boolean(b, key, fz_u8(r) & 1);
		free(key);
		break;
	case FZ_SET_INTEGER:
	case FZ_OPT_INTEGER:
		fz_string(r, &k);
		key = fz_cstr(&k);
		if (op == FZ_OPT_INTEGER)
			rc = xp_builder_option_integer(b, key, fz_integer(r));
		else
			rc = xp_builder_set_integer(b, key, fz_integer(r));
		free(key);
		break;
	case FZ_SET_NUMBER:
		fz_string(r, &k);
		key = fz_cstr(&k);
		rc = xp_builder_set_number(b, key, fz_number(r));
		free(key);
		break;
	case FZ_SET_LIST: {
		size_t n, i;
		char *items[16] = {0};
		size_t lens[16] = {0};
		fz_string(r, &k);
		key = fz_cstr(&k);
		n = fz_u8(r) % 17;
		for (i = 0; i < n; i++) {
			uint8_t kind = fz_u8(r);
			if (kind % 8 == 7) { /* not a string */
				items[i] = NULL;
				lens[i] = 0;
				continue;
			}
			fz_string(r, &v);
			items[i] = fz_exact(&v);
			lens[i] = v.len;
			fz_probe(run, &v);
		}
		/* n == 0: an empty list; pass a valid pointer anyway */
		rc = xp_builder_set_list(b, key, (const char *const *)items,
		                         lens, n);
		for (i = 0; i < n; i++)
			free(items[i]);
		free(key);
		break;
	}
	case FZ_SET_INVALID:
	case FZ_OPT_INVALID:
		fz_string(r, &k);
		fz_string(r, &v);
		key = fz_cstr(&k);
		val = fz_cstr(&v);
		if (op == FZ_OPT_INVALID)
			rc = xp_builder_option_invalid(b, key, val);
		else
			rc = xp_builder_set_invalid(b, key, val);
		free(key);
		free(val);
		break;
	case FZ_RECORD_INVALID:
		fz_string(r, &v);
		val = fz_cstr(&v);
		rc = xp_builder_record_invalid(b, val);
		free(val);
		break;
	case FZ_END:
	case FZ_END2:
		rc = xp_builder_end(b);
		break;
	}
	FZ_CHECK(fz_status_ok(rc));
	FZ_CHECK(rc != XP_ENOMEM || al->failed);
	return 1;
}

static const xp_stream_state fz_states[] = {
        {0, XP_CERT_NONE, XP_CERT_NONE, 0},
        {1, XP_CERT_NONE, XP_CERT_NONE, 0},
        {1, XP_CERT_VALID, XP_CERT_VALID, 0},
        {1, XP_CERT_INVALID, XP_CERT_VALID, 1},
        {1, XP_CERT_VALID, XP_CERT_INVALID, 0},
        {1, XP_CERT_INVALID, XP_CERT_INVALID, 0},
        {0, XP_CERT_VALID, XP_CERT_VALID, 1},
        {1, XP_CERT_INVALID, XP_CERT_NONE, 1},
};

static inline void fz_reason_ok(xp_reason why)
{
	FZ_CHECK((int)why >= XP_R_NONE && why <= XP_R_NOT_ENCRYPTED);
	FZ_CHECK(xp_reason_text(why) != NULL);
	FZ_CHECK(xp_reason_token(why) != NULL);
}

/* Every verdict for one partner (p may be NULL: a refused domain). */
static inline void fz_verdicts(const xp_table *t, const xp_partner *p,
                               const char *name)
{
	static const unsigned methods[] = {XP_METHOD_SASL_TLS,
	                                   XP_METHOD_DIALBACK_TLS,
	                                   XP_METHOD_DIALBACK_TCP,
	                                   0,
	                                   3,
	                                   8};
	static const xp_contact_state cs[] = {
	        {0, 0, 0}, {1, 0, 0}, {1, 1, 0}, {1, 1, 1}, {0, 0, 1}};
	size_t s, m, c;
	int d;
	char line[160];

	for (c = 0; c < sizeof(cs) / sizeof(cs[0]); c++) {
		xp_subscribe_action sa = xp_contact_subscribe(p, &cs[c]);
		xp_message_action ma = xp_contact_message(p, &cs[c]);
		FZ_CHECK(xp_subscribe_action_name(sa) != NULL);
		FZ_CHECK(xp_message_action_name(ma) != NULL);
		if (p == NULL) {
			FZ_CHECK(sa == XP_SUBSCRIBE_DENY);
			FZ_CHECK(ma == XP_MESSAGE_BOUNCE);
		}
	}
	(void)xp_contact_strip_status(p);
	if (p == NULL)
		return;
	for (d = XP_INCOMING; d <= XP_OUTGOING; d++) {
		xp_tls_action ta = xp_verdict_tls(p, (xp_direction)d);
		FZ_CHECK(ta >= XP_TLS_WITHHOLD && ta <= XP_TLS_REQUIRE);
		FZ_CHECK(xp_tls_action_name(ta) != NULL);
		for (s = 0; s < sizeof(fz_states) / sizeof(fz_states[0]); s++) {
			const xp_stream_state *st = &fz_states[s];
			xp_reason why = XP_R_NONE;
			int v;
			v = xp_verdict_sasl_external(p, (xp_direction)d, st,
			                             &why);
			FZ_CHECK(v == 0 || v == 1);
			fz_reason_ok(why);
			why = XP_R_NONE;
			v = xp_verdict_dialback(p, (xp_direction)d, st, &why);
			FZ_CHECK(v == 0 || v == 1);
			fz_reason_ok(why);
			why = XP_R_NONE;
			v = xp_verdict_stanzas(p, (xp_direction)d, st, &why);
			FZ_CHECK(v == 0 || v == 1);
			fz_reason_ok(why);
			/* a tls = required partner never passes stanzas in
			 * the clear */
			if (v == 1 && xp_partner_tls(p) == XP_TLS_REQUIRED)
				FZ_CHECK(st->encrypted);
			for (m = 0; m < sizeof(methods) / sizeof(methods[0]);
			     m++) {
				why = XP_R_NONE;
				v = xp_verdict_auth(p, (xp_direction)d,
				                    (xp_method)methods[m], st,
				                    &why);
				FZ_CHECK(v == 0 || v == 1);
				fz_reason_ok(why);
				if (v == 0)
					FZ_CHECK(why != XP_R_NONE);
				/* unknown methods are never accepted */
				if (methods[m] != XP_METHOD_SASL_TLS &&
				    methods[m] != XP_METHOD_DIALBACK_TLS &&
				    methods[m] != XP_METHOD_DIALBACK_TCP)
					FZ_CHECK(v == 0);
				/* EXTERNAL needs TLS */
				if (v == 1 && methods[m] == XP_METHOD_SASL_TLS)
					FZ_CHECK(st->encrypted);
			}
			why = XP_R_NONE;
			(void)xp_format_refusal(line, sizeof(line),
			                        (xp_direction)d, name,
			                        XP_R_NOT_PARTNER);
		}
	}
	{
		static const unsigned cn[] = {0,    1,     2,          100,
		                              1000, 65535, 4294967295u};
		size_t i, j;
		for (i = 0; i < sizeof(cn) / sizeof(cn[0]); i++)
			for (j = i; j < sizeof(cn) / sizeof(cn[0]); j++) {
				xp_reason why = XP_R_NONE;
				int v = xp_verdict_connection(t, p, cn[i],
				                              cn[j], &why);
				FZ_CHECK(v == 0 || v == 1);
				fz_reason_ok(why);
			}
	}
}

static inline size_t fz_touch_partner(const xp_partner *p)
{
	size_t n = 0, i, c;
	unsigned port = 0;
	const char *s;
	const xp_matrix_row *row;

	n += strlen(xp_partner_domain(p));
	s = xp_partner_description(p);
	if (s)
		n += strlen(s);
	c = xp_partner_additional_count(p);
	for (i = 0; i < c; i++)
		n += strlen(xp_partner_additional(p, i));
	FZ_CHECK(xp_partner_type_name(xp_partner_get_type(p)) != NULL);
	FZ_CHECK(xp_tls_name(xp_partner_tls(p)) != NULL);
	FZ_CHECK(xp_sasl_name(xp_partner_sasl(p)) != NULL);
	(void)xp_partner_dialback(p);
	s = xp_partner_proxy(p, &port);
	if (s) {
		n += strlen(s);
		FZ_CHECK(port > 0 && port <= 65535);
	}
	(void)xp_partner_connection_limit(p);
	(void)xp_partner_keepalive(p);
	c = xp_partner_fingerprint_count(p);
	for (i = 0; i < c; i++) {
		const char *f = xp_partner_fingerprint(p, i);
		size_t j;
		FZ_CHECK(strlen(f) == XP_PIN_STRLEN);
		FZ_CHECK(memcmp(f, "sha256:", 7) == 0);
		for (j = 7; j < XP_PIN_STRLEN; j++)
			FZ_CHECK((f[j] >= '0' && f[j] <= '9') ||
			         (f[j] >= 'a' && f[j] <= 'f'));
	}
	row = xp_partner_row(p);
	FZ_CHECK(row != NULL);
	FZ_CHECK(row->verdict != XP_VERDICT_ERROR);
	(void)xp_partner_is_default(p);
	return n;
}

static inline void fz_table(xp_table *t, fz_run *run)
{
	size_t n = xp_table_count(t), i, j, w;
	char norm[XP_DOMAIN_MAX + 1];
	size_t nlen;

	FZ_CHECK(!xp_table_is_closed(t));
	(void)xp_table_default_policy(t);
	(void)xp_table_keepalive_interval(t);
	(void)xp_table_connection_limit(t);
	w = xp_table_warning_count(t);
	for (i = 0; i < w; i++) {
		const xp_diag *d = xp_table_warning(t, i);
		fz_touch_diag(d);
		FZ_CHECK(d->severity == XP_SEV_WARNING);
	}
	for (i = 0; i < n; i++) {
		const xp_partner *p = xp_table_at(t, i);
		const char *dom;
		FZ_CHECK(p != NULL);
		fz_touch_partner(p);
		dom = xp_partner_domain(p);
		/* every listed domain is normalised and finds its partner */
		FZ_CHECK(xp_domain_normalize(dom, strlen(dom), norm, &nlen,
		                             NULL) == XP_OK);
		FZ_CHECK(strcmp(norm, dom) == 0);
		FZ_CHECK(xp_table_lookup(t, dom, strlen(dom)) == p);
		for (j = 0; j < xp_partner_additional_count(p); j++) {
			const char *a = xp_partner_additional(p, j);
			FZ_CHECK(xp_table_lookup(t, a, strlen(a)) == p);
		}
		fz_verdicts(t, p, dom);
		/* no other partner lists the same domain */
		for (j = 0; j < i; j++)
			FZ_CHECK(strcmp(xp_partner_domain(xp_table_at(t, j)),
			                dom) != 0);
	}
	for (i = 0; i < run->nprobes; i++) {
		char *q = fz_exact(&run->probes[i]);
		xp_reason why = XP_R_NONE;
		const xp_partner *p = xp_table_lookup(t, q, run->probes[i].len);
		const xp_partner *rp =
		        xp_table_resolve(t, q, run->probes[i].len, &why);
		fz_reason_ok(why);
		if (p != NULL)
			FZ_CHECK(rp == p);
		if (rp == NULL)
			FZ_CHECK(why != XP_R_NONE);
		else
			fz_touch_partner(rp);
		fz_verdicts(t, rp, run->probes[i].buf);
		free(q);
	}
}

/* The whole run: returns 1 when a table was built. */
static inline int fz_run_program(const uint8_t *data, size_t size,
                                 size_t max_ops)
{
	fz_reader r = {data, size};
	fz_alloc al = {0, 0, 0, 0};
	static fz_run
	        run_storage; /* big: not on the stack, not calloc'd per run */
	fz_run *run = &run_storage;
	xp_ctx *ctx;
	xp_builder *b;
	xp_table *t = (xp_table *)&al; /* sentinel: must stay untouched */
	xp_table *const sentinel = t;
	uint8_t flags = fz_u8(&r);
	size_t ops = 0, i, nd;
	int rc, built = 0;

	run->ndoms = 0;
	run->duplicate = 0;
	run->nprobes = 0;
	if (flags & 2)
		al.fail_at = 1 + fz_u8(&r) + 256u * (flags >> 4);
	ctx = xp_ctx_new(fz_allocf, &al, NULL, NULL);
	if (ctx == NULL) {
		FZ_CHECK(al.failed);
		goto out;
	}
	b = xp_builder_new(ctx);
	if (b == NULL) {
		FZ_CHECK(al.failed);
		xp_ctx_free(ctx);
		goto out;
	}
	xp_builder_set_host_style(b, (flags & 1) ? XP_HOST_EJABBERD
	                                         : XP_HOST_PROSODY);
	while (ops++ < max_ops && fz_step(&r, b, run, &al))
		;
	rc = xp_builder_finish(b, &t);
	if (rc == XP_EINVAL) { /* still inside a record */
		FZ_CHECK(t == sentinel);
		rc = xp_builder_end(b);
		FZ_CHECK(rc == XP_OK || (rc == XP_ENOMEM && al.failed));
		rc = xp_builder_finish(b, &t);
	}
	FZ_CHECK(rc == XP_OK || rc == XP_ECONFIG || rc == XP_ENOMEM);
	FZ_CHECK(rc != XP_ENOMEM || al.failed);
	nd = xp_builder_diag_count(b);
	for (i = 0; i < nd; i++)
		fz_touch_diag(xp_builder_diag(b, i));
	if (rc != XP_OK) {
		/* a failed finish returns no table */
		FZ_CHECK(t == sentinel);
		if (rc == XP_ECONFIG)
			FZ_CHECK(xp_builder_error_count(b) > 0);
		xp_builder_free(b);
	} else {
		FZ_CHECK(t != sentinel && t != NULL);
		FZ_CHECK(xp_builder_error_count(b) == 0);
		/* two records with the same (normalised) domain never build */
		FZ_CHECK(!run->duplicate);
		/* the table outlives its builder */
		xp_builder_free(b);
		al.fail_at = 0; /* lookups do not allocate, but be safe */
		{
			xp_table *t2 = xp_table_ref(t);
			FZ_CHECK(t2 == t);
			xp_table_unref(t2);
		}
		fz_table(t, run);
		xp_table_unref(t);
		built = 1;
	}
	xp_ctx_free(ctx);
	/* everything allocated through the context was given back */
	if (al.live != 0)
		fprintf(stderr, "%zu blocks left after xp_ctx_free\n", al.live);
	FZ_CHECK(al.live == 0);
out:
	return built;
}

#endif /* FUZZ_PROG_H */
