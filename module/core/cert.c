/*
 * cert.c: certificates.  Parses the peer certificate a host hands over,
 * decides whether it proves a domain (RFC 6125 / RFC 9525 as applied to XMPP
 * server-to-server streams by RFC 6120 and RFC 7590), verifies its chain
 * against a CA file, and computes the SPKI SHA-256 pins partners are
 * configured with.  This is the only file of the core that talks to OpenSSL.
 *
 * Written against OpenSSL 3.0 using only calls that exist, undeprecated, in
 * 1.1.1 as well.  OpenSSL's error queue is per thread and shared with the
 * host's own TLS code, so every path that can leave errors behind drains it
 * before returning: a stale error would make the host's next SSL_get_error()
 * report a failure that never happened.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "internal.h"

struct xp_cert {
	xp_ctx *ctx; /* the allocator this record came from */
	X509 *x509;
};

/*
 * Empty the thread's OpenSSL error queue.  Returns 1 when one of the errors
 * was an allocation failure, so callers can tell XP_ENOMEM from a bad
 * certificate.  (OpenSSL 3.0 and 1.1.1 report ERR_R_MALLOC_FAILURE from the
 * ASN.1 and PEM code; releases that stopped doing so turn those cases into
 * XP_ECERT, which still fails closed.)
 */
static int drain_errors(void)
{
	unsigned long e;
	int oom = 0;

	while ((e = ERR_get_error()) != 0) {
		if (ERR_GET_LIB(e) == ERR_LIB_SYS) {
			if (ERR_GET_REASON(e) == ENOMEM)
				oom = 1;
		} else if (ERR_GET_REASON(e) ==
		           ERR_GET_REASON(ERR_R_MALLOC_FAILURE)) {
			oom = 1;
		}
	}
	return oom;
}

/* ---- parsing ------------------------------------------------------------ */

/*
 * Certificates never carry encrypted PEM, but PEM_read_bio would call the
 * default callback, which prompts on the controlling terminal, for a block
 * that claims to be.  A server must never block on a prompt because of
 * bytes a peer sent, so refuse any password request.
 */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int parse_der(const unsigned char *data, size_t len, X509 **out)
{
	const unsigned char *p = data;
	X509 *x;

	if (len > LONG_MAX)
		return XP_ECERT;
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL)
		return drain_errors() ? XP_ENOMEM : XP_ECERT;
	/* Bytes after the certificate mean the input is not one certificate;
	 * accepting them would let two layers disagree on what was checked. */
	if ((size_t)(p - data) != len) {
		X509_free(x);
		drain_errors();
		return XP_ECERT;
	}
	*out = x;
	return XP_OK;
}

/* The first CERTIFICATE block; text before it (as "openssl x509 -text"
 * writes) is skipped by OpenSSL, later blocks are ignored. */
static int parse_pem(const unsigned char *data, size_t len, X509 **out)
{
	BIO *bio;
	X509 *x;

	if (len > INT_MAX)
		return XP_ECERT;
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio == NULL) {
		drain_errors();
		return XP_ENOMEM;
	}
	x = PEM_read_bio_X509(bio, NULL, no_password, NULL);
	BIO_free(bio);
	if (x == NULL)
		return drain_errors() ? XP_ENOMEM : XP_ECERT;
	*out = x;
	return XP_OK;
}

int xp_cert_parse(xp_ctx *ctx, const unsigned char *data, size_t len,
                  xp_cert **out)
{
	xp_cert *c;
	X509 *x = NULL;
	int rc = XP_ECERT;

	if (out != NULL)
		*out = NULL;
	if (ctx == NULL || data == NULL || out == NULL)
		return XP_EINVAL;
	if (len == 0)
		return XP_ECERT;

	/* Our own record first: when it cannot be had, OpenSSL has built
	 * nothing yet and there is nothing to undo. */
	c = xp_malloc(ctx, sizeof(*c));
	if (c == NULL)
		return XP_ENOMEM;

	/*
	 * A DER certificate is a SEQUENCE, so it starts with 0x30; PEM starts
	 * with "-----BEGIN", white space or explanatory text.  0x30 is also
	 * the character '0', so text that merely starts with a digit gets a
	 * second chance as PEM rather than being refused as bad DER.
	 */
	if (data[0] == 0x30)
		rc = parse_der(data, len, &x);
	if (rc == XP_ECERT)
		rc = parse_pem(data, len, &x);
	if (rc != XP_OK) {
		xp_free(ctx, c, sizeof(*c));
		return rc;
	}
	c->ctx = ctx;
	c->x509 = x;
	*out = c;
	return XP_OK;
}

void xp_cert_free(xp_cert *c)
{
	if (c == NULL)
		return;
	X509_free(c->x509);
	xp_free(c->ctx, c, sizeof(*c));
}

/* ---- identity ----------------------------------------------------------- */

/*
 * What one presented name says about the reference domain.  HOSTILE marks a
 * name with an embedded NUL: no CA should sign one, and it is the classic
 * way to make C string code see "fabrikam.com" in "fabrikam.com\0.evil.test".
 * Such a certificate proves nothing, whatever its other names say.
 */
typedef enum name_result {
	NAME_NO_MATCH,
	NAME_MATCH,
	NAME_HOSTILE
} name_result;

/* DER contents of the otherName type OIDs (RFC 4985 SRVName, RFC 6120
 * id-on-xmppAddr).  Compared as bytes because NID_SRVName / NID_XmppAddr are
 * missing from older OpenSSL object tables. */
static const unsigned char oid_srv_name[] = {0x2b, 0x06, 0x01, 0x05,
                                             0x05, 0x07, 0x08, 0x07};
static const unsigned char oid_xmpp_addr[] = {0x2b, 0x06, 0x01, 0x05,
                                              0x05, 0x07, 0x08, 0x05};

#define SRV_PREFIX     "_xmpp-server."
#define SRV_PREFIX_LEN (sizeof(SRV_PREFIX) - 1)

static int oid_is(const ASN1_OBJECT *o, const unsigned char *der, size_t n)
{
	return OBJ_length(o) == n && memcmp(OBJ_get0_data(o), der, n) == 0;
}

static unsigned char ascii_lower(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch - 'A' + 'a') : ch;
}

/* Case-insensitive for ASCII only: DNS names in certificates are A-labels,
 * and a byte above 0x7f can never equal the normalised (ASCII) domain. */
static int ascii_caseeq(const unsigned char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ascii_lower(a[i]) != ascii_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* The bytes of a string-valued name, or HOSTILE for an embedded NUL. */
static name_result string_bytes(const ASN1_STRING *s, const unsigned char **p,
                                size_t *n)
{
	int len = ASN1_STRING_length(s);

	*p = ASN1_STRING_get0_data(s);
	*n = len > 0 ? (size_t)len : 0;
	if (*n > 0 && memchr(*p, '\0', *n) != NULL)
		return NAME_HOSTILE;
	return NAME_MATCH;
}

/*
 * What follows "*." in a wildcard: at least two labels, so "*.com" cannot
 * claim a whole top-level domain, with no empty label and no second '*'.
 * (Without a public suffix list "*.co.uk" still passes; a CA does not issue
 * that.)
 */
static int wildcard_base_ok(const unsigned char *s, size_t n)
{
	size_t i, label = 0;
	int dots = 0;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '*')
			return 0;
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			dots++;
		} else {
			label++;
		}
	}
	return label > 0 && dots > 0;
}

/*
 * A DNS name from the certificate against the normalised domain want.  One
 * trailing dot in the certificate is the absolute form of the same name.
 * A wildcard is honoured only as the whole left-most label ("*.example.com")
 * and stands for exactly one non-empty label of want; any other '*' (partial
 * labels like "f*o" or "xn--*", '*' in a later label, a lone "*") makes the
 * name match nothing.
 */
static int dns_name_matches(const unsigned char *name, size_t n,
                            const char *want, size_t wlen, int allow_wildcard)
{
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0)
		return 0;
	if (allow_wildcard && n >= 2 && name[0] == '*' && name[1] == '.') {
		const char *dot = memchr(want, '.', wlen);
		size_t rest;

		if (!wildcard_base_ok(name + 2, n - 2))
			return 0;
		if (dot == NULL || dot == want)
			return 0;
		rest = wlen - (size_t)(dot + 1 - want);
		return rest == n - 2 && ascii_caseeq(name + 2, dot + 1, rest);
	}
	if (memchr(name, '*', n) != NULL)
		return 0;
	return n == wlen && ascii_caseeq(name, want, n);
}

static name_result match_dns_id(const ASN1_STRING *s, const char *want,
                                size_t wlen)
{
	const unsigned char *p;
	size_t n;

	if (string_bytes(s, &p, &n) == NAME_HOSTILE)
		return NAME_HOSTILE;
	return dns_name_matches(p, n, want, wlen, 1) ? NAME_MATCH
	                                             : NAME_NO_MATCH;
}

/* SRV-ID for the xmpp-server service only: a certificate for
 * "_xmpp-client.<domain>" is for client connections and proves nothing to a
 * server.  RFC 6125 defines no wildcards for SRV-IDs. */
static name_result match_srv_id(const ASN1_TYPE *v, const char *want,
                                size_t wlen)
{
	const unsigned char *p;
	size_t n;

	if (ASN1_TYPE_get(v) != V_ASN1_IA5STRING)
		return NAME_NO_MATCH;
	if (string_bytes(v->value.ia5string, &p, &n) == NAME_HOSTILE)
		return NAME_HOSTILE;
	if (n <= SRV_PREFIX_LEN || !ascii_caseeq(p, SRV_PREFIX, SRV_PREFIX_LEN))
		return NAME_NO_MATCH;
	return dns_name_matches(p + SRV_PREFIX_LEN, n - SRV_PREFIX_LEN, want,
	                        wlen, 0)
	               ? NAME_MATCH
	               : NAME_NO_MATCH;
}

/*
 * id-on-xmppAddr holds a JID's domainpart as UTF-8, possibly with U-labels,
 * so it goes through the same normalisation as the reference domain; that
 * also refuses values with a local part or resource.
 */
static name_result match_xmpp_addr(const ASN1_TYPE *v, const char *want,
                                   size_t wlen)
{
	char norm[XP_DOMAIN_MAX + 1];
	const unsigned char *p;
	size_t n, nlen;

	if (ASN1_TYPE_get(v) != V_ASN1_UTF8STRING)
		return NAME_NO_MATCH;
	if (string_bytes(v->value.utf8string, &p, &n) == NAME_HOSTILE)
		return NAME_HOSTILE;
	if (n == 0 ||
	    xp_domain_normalize((const char *)p, n, norm, &nlen, NULL) != XP_OK)
		return NAME_NO_MATCH;
	return nlen == wlen && memcmp(norm, want, wlen) == 0 ? NAME_MATCH
	                                                     : NAME_NO_MATCH;
}

static name_result match_general_name(const GENERAL_NAME *gn, const char *want,
                                      size_t wlen)
{
	ASN1_OBJECT *oid;
	ASN1_TYPE *value;
	int type;
	void *v = GENERAL_NAME_get0_value(gn, &type);

	switch (type) {
	case GEN_DNS:
		return match_dns_id(v, want, wlen);
	case GEN_OTHERNAME:
		if (!GENERAL_NAME_get0_otherName(gn, &oid, &value) ||
		    oid == NULL || value == NULL)
			return NAME_NO_MATCH;
		if (oid_is(oid, oid_srv_name, sizeof(oid_srv_name)))
			return match_srv_id(value, want, wlen);
		if (oid_is(oid, oid_xmpp_addr, sizeof(oid_xmpp_addr)))
			return match_xmpp_addr(value, want, wlen);
		return NAME_NO_MATCH;
	default:
		/* URIs, e-mail addresses, IP addresses...: not identities
		 * of an XMPP domain. */
		return NAME_NO_MATCH;
	}
}

static xp_cert_status match_san(X509 *x, const char *want, size_t wlen)
{
	GENERAL_NAMES *names;
	int i, n, matched = 0;

	/* NULL also when the extension is malformed or present twice (which
	 * could let two parsers see different names): fail closed. */
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (names == NULL) {
		drain_errors();
		return XP_CERT_INVALID;
	}
	n = sk_GENERAL_NAME_num(names);
	/* Every name is looked at, even after a match, so that a hostile name
	 * anywhere voids the certificate. */
	for (i = 0; i < n; i++) {
		name_result r = match_general_name(
		        sk_GENERAL_NAME_value(names, i), want, wlen);

		if (r == NAME_HOSTILE) {
			matched = 0;
			break;
		}
		if (r == NAME_MATCH)
			matched = 1;
	}
	GENERAL_NAMES_free(names);
	return matched ? XP_CERT_VALID : XP_CERT_INVALID;
}

/* Legacy fallback: the most specific (last) CN of the subject, matched with
 * the DNS-ID rules. */
static xp_cert_status match_cn(X509 *x, const char *want, size_t wlen)
{
	X509_NAME *subject = X509_get_subject_name(x);
	X509_NAME_ENTRY *e;
	unsigned char *utf8 = NULL;
	int i = -1, last = -1, len;
	xp_cert_status st = XP_CERT_INVALID;

	if (subject == NULL)
		return XP_CERT_INVALID;
	while ((i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >=
	       0)
		last = i;
	if (last < 0)
		return XP_CERT_INVALID;
	e = X509_NAME_get_entry(subject, last);
	/* A CN may be a BMPString or another DirectoryString form: convert so
	 * that the bytes compared are what the CA meant. */
	len = e != NULL
	              ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e))
	              : -1;
	if (len < 0) {
		drain_errors();
		return XP_CERT_INVALID;
	}
	if (memchr(utf8, '\0', (size_t)len) == NULL &&
	    dns_name_matches(utf8, (size_t)len, want, wlen, 1))
		st = XP_CERT_VALID;
	OPENSSL_free(utf8);
	return st;
}

xp_cert_status xp_cert_check_identity(const xp_cert *c, const char *domain,
                                      size_t len, unsigned flags)
{
	char want[XP_DOMAIN_MAX + 1];
	size_t wlen;

	if (c == NULL || c->x509 == NULL || domain == NULL)
		return XP_CERT_INVALID;
	/* The reference identity is normalised exactly as partner domains
	 * are, so "Fabrikam.COM." and U-label forms find the same names. */
	if (xp_domain_normalize(domain, len, want, &wlen, NULL) != XP_OK)
		return XP_CERT_INVALID;

	/* Any subjectAltName at all, even one without a usable name, means
	 * the CA listed the identities and the CN is just a display label
	 * (RFC 6125 section 6.4.4). */
	if (X509_get_ext_by_NID(c->x509, NID_subject_alt_name, -1) >= 0)
		return match_san(c->x509, want, wlen);
	if (flags & XP_CERT_LEGACY_CN)
		return match_cn(c->x509, want, wlen);
	return XP_CERT_INVALID;
}

/* ---- chain -------------------------------------------------------------- */

static xp_cert_status chain_invalid(const char **why, const char *text)
{
	drain_errors();
	if (why != NULL)
		*why = text;
	return XP_CERT_INVALID;
}

xp_cert_status xp_cert_verify_chain(const xp_cert *c,
                                    const xp_cert *const *chain, size_t nchain,
                                    const char *cafile, long long now,
                                    const char **why)
{
	X509_STORE *store = NULL;
	X509_LOOKUP *lookup;
	X509_STORE_CTX *sctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	xp_cert_status st = XP_CERT_INVALID;
	const char *reason = NULL;
	time_t t = 0;
	size_t i;
	int ok;

	if (why != NULL)
		*why = NULL;
	if (c == NULL || c->x509 == NULL || cafile == NULL ||
	    (chain == NULL && nchain > 0))
		return chain_invalid(why, "invalid argument");
	if (now != 0) {
		/* time_t may be 32 bits: refuse a time it cannot hold rather
		 * than verify at some wrapped-around date. */
		t = (time_t)now;
		if (now < 0 || (long long)t != now)
			return chain_invalid(why,
			                     "verification time out of range");
	}

	/* A store of its own per call: nothing global, nothing the host's
	 * TLS contexts share. */
	store = X509_STORE_new();
	if (store == NULL)
		return chain_invalid(why, "out of memory");
	lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
	if (lookup == NULL) {
		reason = "out of memory";
		goto out;
	}
	/* Returns how many certificates and CRLs were loaded: a file that
	 * exists but holds none is as useless as a missing one. */
	if (X509_load_cert_crl_file(lookup, cafile, X509_FILETYPE_PEM) <= 0) {
		reason = "cannot read the CA certificate file";
		goto out;
	}

	if (nchain > 0) {
		untrusted = sk_X509_new_null();
		if (untrusted == NULL) {
			reason = "out of memory";
			goto out;
		}
		for (i = 0; i < nchain; i++) {
			if (chain[i] == NULL || chain[i]->x509 == NULL) {
				reason = "invalid argument";
				goto out;
			}
			/* Borrowed: sk_X509_free below does not free the
			 * certificates, the caller's xp_certs own them. */
			if (!sk_X509_push(untrusted, chain[i]->x509)) {
				reason = "out of memory";
				goto out;
			}
		}
	}

	sctx = X509_STORE_CTX_new();
	if (sctx == NULL ||
	    !X509_STORE_CTX_init(sctx, store, c->x509, untrusted)) {
		reason = "out of memory";
		goto out;
	}
	/* No purpose is set: whether a certificate may serve for s2s is
	 * policy the host and the partner record decide, and many XMPP
	 * servers present serverAuth-only certificates on outgoing streams
	 * where a clientAuth check would wrongly refuse them. */
	if (now != 0)
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(sctx), t);

	ok = X509_verify_cert(sctx);
	if (ok == 1) {
		st = XP_CERT_VALID;
	} else {
		int err = X509_STORE_CTX_get_error(sctx);

		reason = err != X509_V_OK ? X509_verify_cert_error_string(err)
		                          : "certificate verification failed";
	}

out:
	X509_STORE_CTX_free(sctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	if (st == XP_CERT_VALID)
		return st;
	return chain_invalid(why, reason);
}

/* ---- pins --------------------------------------------------------------- */

int xp_cert_spki_sha256(const xp_cert *c, unsigned char out[32])
{
	X509_PUBKEY *pk;
	unsigned char *der, *p;
	unsigned int mdlen = 0;
	int n, ok;

	if (c == NULL || c->x509 == NULL || out == NULL)
		return XP_EINVAL;
	pk = X509_get_X509_PUBKEY(c->x509);
	if (pk == NULL)
		return XP_ECERT;
	/* The DER of the whole SubjectPublicKeyInfo (algorithm and key), as
	 * RFC 7469 pins and "openssl pkey -pubin -outform der | sha256sum"
	 * hash it, not just the key bits. */
	n = i2d_X509_PUBKEY(pk, NULL);
	if (n <= 0)
		return drain_errors() ? XP_ENOMEM : XP_ECERT;
	der = xp_malloc(c->ctx, (size_t)n);
	if (der == NULL)
		return XP_ENOMEM;
	p = der;
	ok = i2d_X509_PUBKEY(pk, &p) == n &&
	     EVP_Digest(der, (size_t)n, out, &mdlen, EVP_sha256(), NULL) &&
	     mdlen == 32;
	xp_free(c->ctx, der, (size_t)n);
	if (!ok)
		return drain_errors() ? XP_ENOMEM : XP_ECERT;
	return XP_OK;
}

int xp_cert_pin(const xp_cert *c, char out[XP_PIN_STRLEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	size_t i;
	int rc;

	if (out == NULL)
		return XP_EINVAL;
	rc = xp_cert_spki_sha256(c, md);
	if (rc != XP_OK)
		return rc;
	memcpy(out, "sha256:", 7);
	for (i = 0; i < sizeof(md); i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[7 + 2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[XP_PIN_STRLEN] = '\0';
	return XP_OK;
}

int xp_partner_pin_matches(const xp_partner *p,
                           const unsigned char spki_sha256[32])
{
	uint32_t i;
	int found = 0;

	if (p == NULL || spki_sha256 == NULL || p->pins == NULL)
		return 0;
	/* Every pin is compared in full, without stopping at the first hit,
	 * so the time taken says nothing about which pin (if any) matched or
	 * how many leading bytes a forged key got right. */
	for (i = 0; i < p->n_fingerprints; i++)
		found |= CRYPTO_memcmp(p->pins + (size_t)i * 32, spki_sha256,
		                       32) == 0;
	return found;
}
