/*
 * partner.c: partner records: the defaults of SPEC section 2, read-only
 * accessors for hosts, and small helpers the builder uses (edit distance for
 * "did you mean" hints, hex decoding of pins).
 */
#include <string.h>

#include "internal.h"

void xp_partner_defaults(struct xp_partner *p)
{
	memset(p, 0, sizeof(*p));
	p->description = "";
	p->type = XP_TYPE_PUBLIC_UNVERIFIED;
	p->tls = XP_TLS_REQUIRED;
	p->sasl = XP_SASL_REQUIRED;
	/* Lync said true; row 2 behaves the same, no warning */
	p->dialback = 0;
	p->connection_limit = 20;
	p->keepalive = 1;
	p->row = xp_matrix_lookup(XP_TLS_REQUIRED, XP_SASL_REQUIRED, 0);
}

/* Unlisted domains in "allow" mode (SPEC section 2, xmpp_partners_default). */
void xp_partner_allow_defaults(struct xp_partner *p)
{
	xp_partner_defaults(p);
	p->domain = "*";
	p->tls = XP_TLS_OPTIONAL;
	p->sasl = XP_SASL_OPTIONAL;
	p->dialback = 1;
	p->is_default = 1;
	p->row = xp_matrix_lookup(XP_TLS_OPTIONAL, XP_SASL_OPTIONAL, 1);
}

const char *xp_partner_type_name(xp_partner_type t)
{
	static const char *const names[] = {"federated", "public_verified",
	                                    "public_unverified"};
	return (unsigned)t < 3 ? names[t] : "?";
}

const char *xp_partner_domain(const xp_partner *p)
{
	return p->domain;
}

const char *xp_partner_description(const xp_partner *p)
{
	return p->description;
}

size_t xp_partner_additional_count(const xp_partner *p)
{
	return p->n_additional;
}

const char *xp_partner_additional(const xp_partner *p, size_t i)
{
	return i < p->n_additional ? p->additional[i] : NULL;
}

xp_partner_type xp_partner_get_type(const xp_partner *p)
{
	return (xp_partner_type)p->type;
}

xp_tls xp_partner_tls(const xp_partner *p)
{
	return (xp_tls)p->tls;
}

xp_sasl xp_partner_sasl(const xp_partner *p)
{
	return (xp_sasl)p->sasl;
}

int xp_partner_dialback(const xp_partner *p)
{
	return p->dialback;
}

const char *xp_partner_proxy(const xp_partner *p, unsigned *port)
{
	if (port != NULL)
		*port = p->proxy_host != NULL ? p->proxy_port : 0;
	return p->proxy_host;
}

unsigned xp_partner_connection_limit(const xp_partner *p)
{
	return p->connection_limit;
}

int xp_partner_keepalive(const xp_partner *p)
{
	return p->keepalive;
}

size_t xp_partner_fingerprint_count(const xp_partner *p)
{
	return p->n_fingerprints;
}

const char *xp_partner_fingerprint(const xp_partner *p, size_t i)
{
	return i < p->n_fingerprints ? p->fingerprints[i] : NULL;
}

const xp_matrix_row *xp_partner_row(const xp_partner *p)
{
	return p->row;
}

int xp_partner_is_default(const xp_partner *p)
{
	return p->is_default;
}

/* Room for option names (xmpp_partners_pending_per_address is 33) and
 * anything a little longer; a word past it is no typo of ours. */
#define EDIT_MAX 64

/* Levenshtein distance between two short ASCII words, capped at cap. */
size_t xp_edit_distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t prev[EDIT_MAX + 1], cur[EDIT_MAX + 1];

	if (la > EDIT_MAX || lb > EDIT_MAX)
		return cap;
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			size_t m = sub < del ? sub : del;
			cur[j] = m < ins ? m : ins;
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb] < cap ? prev[lb] : cap;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode exactly 2*outlen hex digits; ':' separators are allowed between
 * bytes, as fingerprints are often written AA:BB:CC. */
int xp_hex_decode(const char *hex, size_t len, unsigned char *out,
                  size_t outlen)
{
	size_t i = 0, o = 0;

	while (i < len && o < outlen) {
		int hi, lo;
		if (hex[i] == ':' && o > 0) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return XP_EINVAL;
		hi = hexval(hex[i]);
		lo = hexval(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return XP_EINVAL;
		out[o++] = (unsigned char)(hi << 4 | lo);
		i += 2;
	}
	return (i == len && o == outlen) ? XP_OK : XP_EINVAL;
}
