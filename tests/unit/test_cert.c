/*
 * test_cert.c: unit tests of module/cert.c: parsing, identity (RFC 6125 /
 * RFC 9525 for XMPP s2s), chain verification, SPKI pins, allocation failure.
 *
 * Every certificate is generated here, in-process, with the OpenSSL API: a
 * throw-away CA and intermediate per test, leaves signed by them, self-signed
 * leaves for the identity rules.  Nothing is committed, nothing expires.  The
 * CA goes to a mkstemp() file only because xp_cert_verify_chain takes a path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "internal.h"

#define DAY           (24L * 3600L)
#define OID_SRV_NAME  "1.3.6.1.5.5.7.8.7"
#define OID_XMPP_ADDR "1.3.6.1.5.5.7.8.5"

/* ---- OpenSSL allocation failure injection --------------------------------
 * Installed once in main() (OpenSSL allows it only before its first
 * allocation).  Inert until a test arms ossl_fail_at. */

static long ossl_calls;
static long ossl_fail_at;

static int ossl_should_fail(void)
{
	ossl_calls++;
	return ossl_fail_at != 0 && ossl_calls == ossl_fail_at;
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return ossl_should_fail() ? NULL : malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return ossl_should_fail() ? NULL : realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

static int ossl_hooked;

/* ---- fixture: keys, a CA, an intermediate, the CA file ------------------- */

typedef struct fixture {
	test_alloc a;
	xp_ctx *ctx;
	EVP_PKEY *ca_key, *int_key, *leaf_key, *other_key;
	X509 *ca, *inter;
	char cafile[64];
} fixture;

typedef struct certspec {
	const char *cn;   /* subject CN, NULL for none */
	const char *sans; /* "DNS:a,SRV:b,..." (see add_sans), NULL: no SAN */
	EVP_PKEY *key;    /* subject key */
	X509 *issuer;     /* NULL: self-signed */
	EVP_PKEY *issuer_key;
	long not_before; /* seconds from now */
	long not_after;
	int ca; /* basicConstraints CA:TRUE */
} certspec;

typedef struct blob {
	unsigned char *data;
	size_t len;
} blob;

static EVP_PKEY *gen_key(void)
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	EVP_PKEY *k = NULL;

	assert_non_null(kc);
	assert_int_equal(EVP_PKEY_keygen_init(kc), 1);
	assert_int_equal(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(
	                         kc, NID_X9_62_prime256v1),
	                 1);
	assert_int_equal(EVP_PKEY_keygen(kc, &k), 1);
	EVP_PKEY_CTX_free(kc);
	return k;
}

static ASN1_STRING *string_of(int type, const char *val, size_t len)
{
	ASN1_STRING *s = ASN1_STRING_type_new(type);

	assert_non_null(s);
	assert_int_equal(ASN1_STRING_set(s, val, (int)len), 1);
	return s;
}

static GENERAL_NAME *other_name(const char *oid, int type, const char *val,
                                size_t len)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	ASN1_TYPE *t = ASN1_TYPE_new();

	assert_non_null(gn);
	assert_non_null(o);
	assert_non_null(t);
	ASN1_TYPE_set(t, type, string_of(type, val, len));
	assert_int_equal(GENERAL_NAME_set0_othername(gn, o, t), 1);
	return gn;
}

/*
 * One name of a SAN spec.  Kinds: DNS, URI, EMAIL (IA5String general names);
 * SRV (SRVName, IA5String), SRVU (SRVName wrongly as UTF8String), XMPP
 * (id-on-xmppAddr, UTF8String), XMPPI (xmppAddr wrongly as IA5String).
 * A '~' in the value stands for an embedded NUL byte.
 */
static void add_name(GENERAL_NAMES *gens, const char *item, size_t ilen)
{
	char val[512];
	const char *colon = memchr(item, ':', ilen);
	size_t klen, vlen, i;
	GENERAL_NAME *gn;

	assert_non_null(colon);
	klen = (size_t)(colon - item);
	vlen = ilen - klen - 1;
	assert_true(vlen < sizeof(val));
	for (i = 0; i < vlen; i++)
		val[i] = colon[1 + i] == '~' ? '\0' : colon[1 + i];

#define KIND(s) (klen == sizeof(s) - 1 && memcmp(item, s, klen) == 0)
	if (KIND("DNS") || KIND("URI") || KIND("EMAIL")) {
		int type = KIND("DNS")   ? GEN_DNS
		           : KIND("URI") ? GEN_URI
		                         : GEN_EMAIL;
		gn = GENERAL_NAME_new();
		assert_non_null(gn);
		GENERAL_NAME_set0_value(gn, type,
		                        string_of(V_ASN1_IA5STRING, val, vlen));
	} else if (KIND("SRV")) {
		gn = other_name(OID_SRV_NAME, V_ASN1_IA5STRING, val, vlen);
	} else if (KIND("SRVU")) {
		gn = other_name(OID_SRV_NAME, V_ASN1_UTF8STRING, val, vlen);
	} else if (KIND("XMPP")) {
		gn = other_name(OID_XMPP_ADDR, V_ASN1_UTF8STRING, val, vlen);
	} else if (KIND("XMPPI")) {
		gn = other_name(OID_XMPP_ADDR, V_ASN1_IA5STRING, val, vlen);
	} else {
		fail_msg("unknown SAN kind in '%.*s'", (int)ilen, item);
		return;
	}
#undef KIND
	assert_true(sk_GENERAL_NAME_push(gens, gn) > 0);
}

static void add_sans(X509 *x, const char *spec)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	const char *p = spec;

	assert_non_null(gens);
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		add_name(gens, p, n);
		p += n;
		if (*p == ',')
			p++;
	}
	assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	                                   X509V3_ADD_DEFAULT),
	                 1);
	GENERAL_NAMES_free(gens);
}

static X509 *make_cert(const certspec *s)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++),
	                 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), s->not_before));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), s->not_after));
	assert_int_equal(X509_set_pubkey(x, s->key), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(
	                         name, "O", MBSTRING_ASC,
	                         (const unsigned char *)"xp test", -1, -1, 0),
	                 1);
	if (s->cn != NULL)
		assert_int_equal(
		        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		                                   (const unsigned char *)s->cn,
		                                   -1, -1, 0),
		        1);
	assert_int_equal(
	        X509_set_issuer_name(
	                x, s->issuer ? X509_get_subject_name(s->issuer) : name),
	        1);
	if (s->ca) {
		BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();

		assert_non_null(bc);
		bc->ca = 0xff;
		assert_int_equal(X509_add1_ext_i2d(x, NID_basic_constraints, bc,
		                                   1, X509V3_ADD_DEFAULT),
		                 1);
		BASIC_CONSTRAINTS_free(bc);
	}
	if (s->sans != NULL)
		add_sans(x, s->sans);
	assert_true(X509_sign(x, s->issuer_key ? s->issuer_key : s->key,
	                      EVP_sha256()) > 0);
	return x;
}

static blob to_der(X509 *x)
{
	blob b;
	unsigned char *p;
	int n = i2d_X509(x, NULL);

	assert_true(n > 0);
	b.data = malloc((size_t)n);
	assert_non_null(b.data);
	p = b.data;
	assert_int_equal(i2d_X509(x, &p), n);
	b.len = (size_t)n;
	return b;
}

static blob to_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *mem;
	long n;
	blob b;

	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	n = BIO_get_mem_data(bio, &mem);
	assert_true(n > 0);
	b.data = malloc((size_t)n);
	assert_non_null(b.data);
	memcpy(b.data, mem, (size_t)n);
	b.len = (size_t)n;
	BIO_free(bio);
	return b;
}

static xp_cert *load(fixture *f, X509 *x)
{
	blob b = to_der(x);
	xp_cert *c = NULL;

	assert_int_equal(xp_cert_parse(f->ctx, b.data, b.len, &c), XP_OK);
	assert_non_null(c);
	free(b.data);
	return c;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	certspec s;
	FILE *fp;
	int fd;

	if (f == NULL)
		return -1;
	f->ctx = test_ctx(&f->a, NULL);
	f->ca_key = gen_key();
	f->int_key = gen_key();
	f->leaf_key = gen_key();
	f->other_key = gen_key();

	memset(&s, 0, sizeof(s));
	s.cn = "xp test CA";
	s.key = f->ca_key;
	s.not_before = -10 * DAY;
	s.not_after = 10 * DAY;
	s.ca = 1;
	f->ca = make_cert(&s);

	s.cn = "xp test intermediate";
	s.key = f->int_key;
	s.issuer = f->ca;
	s.issuer_key = f->ca_key;
	f->inter = make_cert(&s);

	strcpy(f->cafile, "/tmp/xp-test-ca-XXXXXX");
	fd = mkstemp(f->cafile);
	if (fd < 0)
		return -1;
	fp = fdopen(fd, "w");
	if (fp == NULL || PEM_write_X509(fp, f->ca) != 1)
		return -1;
	fclose(fp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	unlink(f->cafile);
	X509_free(f->ca);
	X509_free(f->inter);
	EVP_PKEY_free(f->ca_key);
	EVP_PKEY_free(f->int_key);
	EVP_PKEY_free(f->leaf_key);
	EVP_PKEY_free(f->other_key);
	xp_ctx_free(f->ctx);
	/* Every xp_cert and scratch buffer went back to the allocator. */
	assert_int_equal(f->a.live, 0);
	free(f);
	return 0;
}

/* Identity of a fresh self-signed certificate (dates and chain do not
 * matter to identity). */
static xp_cert_status ident(fixture *f, const char *cn, const char *sans,
                            const char *domain, unsigned flags)
{
	certspec s;
	X509 *x;
	xp_cert *c;
	xp_cert_status st;

	memset(&s, 0, sizeof(s));
	s.cn = cn;
	s.sans = sans;
	s.key = f->leaf_key;
	s.not_before = -DAY;
	s.not_after = DAY;
	x = make_cert(&s);
	c = load(f, x);
	st = xp_cert_check_identity(c, domain, strlen(domain), flags);
	xp_cert_free(c);
	X509_free(x);
	assert_int_equal(ERR_peek_error(), 0);
	return st;
}

#define VALID(cn, sans, dom, fl)                                               \
	assert_int_equal(ident(f, cn, sans, dom, fl), XP_CERT_VALID)
#define INVALID(cn, sans, dom, fl)                                             \
	assert_int_equal(ident(f, cn, sans, dom, fl), XP_CERT_INVALID)

/* ---- parsing ------------------------------------------------------------- */

static void test_parse_der_and_pem(void **state)
{
	fixture *f = *state;
	certspec s = {"fabrikam.com",
	              "DNS:fabrikam.com",
	              NULL,
	              NULL,
	              NULL,
	              -DAY,
	              DAY,
	              0};
	X509 *x;
	blob der, pem;
	xp_cert *c1 = NULL, *c2 = NULL;
	unsigned char m1[32], m2[32];
	char *txt;
	size_t tlen;
	static const char prefix[] = "Certificate:\n    Data: ...\r\n";

	s.key = f->leaf_key;
	x = make_cert(&s);
	der = to_der(x);
	pem = to_pem(x);

	assert_int_equal(xp_cert_parse(f->ctx, der.data, der.len, &c1), XP_OK);
	assert_int_equal(xp_cert_parse(f->ctx, pem.data, pem.len, &c2), XP_OK);
	assert_int_equal(xp_cert_check_identity(c1, "fabrikam.com", 12, 0),
	                 XP_CERT_VALID);
	assert_int_equal(xp_cert_check_identity(c2, "fabrikam.com", 12, 0),
	                 XP_CERT_VALID);
	assert_int_equal(xp_cert_spki_sha256(c1, m1), XP_OK);
	assert_int_equal(xp_cert_spki_sha256(c2, m2), XP_OK);
	assert_memory_equal(m1, m2, 32);
	xp_cert_free(c1);
	xp_cert_free(c2);

	/* PEM after explanatory text, as "openssl x509 -text" writes it. */
	tlen = strlen(prefix) + pem.len;
	txt = malloc(tlen);
	assert_non_null(txt);
	memcpy(txt, prefix, strlen(prefix));
	memcpy(txt + strlen(prefix), pem.data, pem.len);
	assert_int_equal(xp_cert_parse(f->ctx, (unsigned char *)txt, tlen, &c1),
	                 XP_OK);
	xp_cert_free(c1);
	free(txt);

	xp_cert_free(NULL); /* harmless */
	free(der.data);
	free(pem.data);
	X509_free(x);
	assert_int_equal(ERR_peek_error(), 0);
}

static void expect_garbage(fixture *f, const void *data, size_t len)
{
	xp_cert *c = (xp_cert *)&c; /* must be reset to NULL */

	assert_int_equal(xp_cert_parse(f->ctx, data, len, &c), XP_ECERT);
	assert_null(c);
	/* Nothing left for the host's next TLS call to trip over. */
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_parse_garbage(void **state)
{
	fixture *f = *state;
	certspec s = {"fabrikam.com", NULL, NULL, NULL, NULL, -DAY, DAY, 0};
	static const unsigned char seq[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	static const unsigned char junk[] = {0x30, 0x82, 0xff,
	                                     0xff, 0x00, 0x01};
	static const char empty_pem[] = "-----BEGIN CERTIFICATE-----\n"
	                                "-----END CERTIFICATE-----\n";
	static const char key_pem[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n"
	                              "-----END PRIVATE KEY-----\n";
	static const char enc_hdr[] =
	        "Proc-Type: 4,ENCRYPTED\n"
	        "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n";
	X509 *x;
	blob der, pem;
	unsigned char *buf;
	char *nl;
	size_t off;

	s.key = f->leaf_key;
	x = make_cert(&s);
	der = to_der(x);
	pem = to_pem(x);

	expect_garbage(f, "hello world", 11);
	expect_garbage(f, "0123456789", 10); /* text starting with 0x30 */
	expect_garbage(f, seq, sizeof(seq));
	expect_garbage(f, junk, sizeof(junk));
	expect_garbage(f, der.data, 1);
	expect_garbage(f, der.data, der.len / 2);
	expect_garbage(f, "", 0);
	expect_garbage(f, empty_pem, sizeof(empty_pem) - 1);
	expect_garbage(f, key_pem, sizeof(key_pem) - 1);

	/* DER followed by a stray byte is not "one certificate". */
	buf = malloc(der.len + 1);
	assert_non_null(buf);
	memcpy(buf, der.data, der.len);
	buf[der.len] = 0;
	expect_garbage(f, buf, der.len + 1);
	free(buf);

	/* PEM with a broken base64 body. */
	buf = malloc(pem.len);
	assert_non_null(buf);
	memcpy(buf, pem.data, pem.len);
	buf[pem.len / 2] = '!';
	expect_garbage(f, buf, pem.len);
	free(buf);

	/* A certificate block claiming to be encrypted: refused, and no
	 * password prompt (this would hang on a terminal otherwise). */
	buf = malloc(pem.len + sizeof(enc_hdr));
	assert_non_null(buf);
	nl = memchr(pem.data, '\n', pem.len);
	assert_non_null(nl);
	off = (size_t)((unsigned char *)nl - pem.data) + 1;
	memcpy(buf, pem.data, off);
	memcpy(buf + off, enc_hdr, sizeof(enc_hdr) - 1);
	memcpy(buf + off + sizeof(enc_hdr) - 1, pem.data + off, pem.len - off);
	expect_garbage(f, buf, pem.len + sizeof(enc_hdr) - 1);
	free(buf);

	free(der.data);
	free(pem.data);
	X509_free(x);
}

static void test_parse_invalid_args(void **state)
{
	fixture *f = *state;
	xp_cert *c = NULL;

	assert_int_equal(xp_cert_parse(NULL, (const unsigned char *)"x", 1, &c),
	                 XP_EINVAL);
	assert_int_equal(xp_cert_parse(f->ctx, NULL, 1, &c), XP_EINVAL);
	assert_int_equal(
	        xp_cert_parse(f->ctx, (const unsigned char *)"x", 1, NULL),
	        XP_EINVAL);
	assert_null(c);
}

/* Fail each of our allocations in turn until parsing succeeds. */
static void alloc_failure_loop(const blob *b)
{
	long k;
	int failures = 0;

	for (k = 1; k < 1000; k++) {
		test_alloc a;
		xp_ctx *ctx;
		xp_cert *c = NULL;
		int rc;

		memset(&a, 0, sizeof(a));
		ctx = test_ctx(&a, NULL);
		assert_non_null(ctx);
		a.fail_at = a.calls + k;
		rc = xp_cert_parse(ctx, b->data, b->len, &c);
		a.fail_at = 0;
		if (rc == XP_OK) {
			xp_cert_free(c);
			xp_ctx_free(ctx);
			assert_int_equal(a.live, 0);
			break;
		}
		assert_int_equal(rc, XP_ENOMEM);
		assert_null(c);
		assert_int_equal(ERR_peek_error(), 0);
		xp_ctx_free(ctx);
		assert_int_equal(a.live, 0);
		failures++;
	}
	assert_true(k < 1000);
	assert_true(failures >= 1);
}

static void test_parse_alloc_failure(void **state)
{
	fixture *f = *state;
	certspec s = {"fabrikam.com",
	              "DNS:fabrikam.com",
	              NULL,
	              NULL,
	              NULL,
	              -DAY,
	              DAY,
	              0};
	X509 *x;
	blob der, pem;

	s.key = f->leaf_key;
	x = make_cert(&s);
	der = to_der(x);
	pem = to_pem(x);
	alloc_failure_loop(&der);
	alloc_failure_loop(&pem);
	free(der.data);
	free(pem.data);
	X509_free(x);
}

/*
 * Allocation failures inside OpenSSL: each of its allocations during one
 * parse is failed in turn.  OpenSSL 1.1.1 / 3.0 report those as
 * ERR_R_MALLOC_FAILURE, which must come out as XP_ENOMEM; where a failure
 * goes unreported (some internal caches, later OpenSSL releases) XP_ECERT
 * is acceptable.  Never a crash, a leak, a success with no certificate, or
 * errors left in the queue.
 */
static void ossl_failure_loop(fixture *f, const blob *b, int *enomem)
{
	long clean, k;
	xp_cert *c = NULL;

	/* Warm up lazily initialised OpenSSL state, then count. */
	assert_int_equal(xp_cert_parse(f->ctx, b->data, b->len, &c), XP_OK);
	xp_cert_free(c);
	clean = ossl_calls;
	assert_int_equal(xp_cert_parse(f->ctx, b->data, b->len, &c), XP_OK);
	xp_cert_free(c);
	clean = ossl_calls - clean;
	assert_true(clean > 0);

	for (k = 1; k <= clean; k++) {
		int rc;

		c = NULL;
		ossl_fail_at = ossl_calls + k;
		rc = xp_cert_parse(f->ctx, b->data, b->len, &c);
		ossl_fail_at = 0;
		assert_int_equal(ERR_peek_error(), 0);
		if (rc == XP_OK) {
			assert_non_null(c);
			xp_cert_free(c);
			continue;
		}
		assert_null(c);
		if (rc == XP_ENOMEM)
			(*enomem)++;
		else
			assert_int_equal(rc, XP_ECERT);
	}
	assert_int_equal(f->a.live, 1); /* just the context */
}

static void test_parse_openssl_alloc_failure(void **state)
{
	fixture *f = *state;
	certspec s = {"fabrikam.com",
	              "DNS:fabrikam.com",
	              NULL,
	              NULL,
	              NULL,
	              -DAY,
	              DAY,
	              0};
	X509 *x;
	blob der, pem;
	int enomem = 0;

	if (!ossl_hooked)
		skip();
	s.key = f->leaf_key;
	x = make_cert(&s);
	der = to_der(x);
	pem = to_pem(x);
	ossl_failure_loop(f, &der, &enomem);
	ossl_failure_loop(f, &pem, &enomem);
#if OPENSSL_VERSION_NUMBER < 0x30200000L
	/* These releases do report ASN.1 allocation failures. */
	assert_true(enomem > 0);
#endif
	free(der.data);
	free(pem.data);
	X509_free(x);
}

/* ---- identity: DNS-ID ---------------------------------------------------- */

static void test_dns_id_exact(void **state)
{
	fixture *f = *state;

	VALID(NULL, "DNS:fabrikam.com", "fabrikam.com", 0);
	/* Case-insensitive both ways. */
	VALID(NULL, "DNS:FabriKam.COM", "fabrikam.com", 0);
	VALID(NULL, "DNS:fabrikam.com", "FABRIKAM.com", 0);
	/* A trailing dot on either side is the same name. */
	VALID(NULL, "DNS:fabrikam.com.", "fabrikam.com", 0);
	VALID(NULL, "DNS:fabrikam.com", "fabrikam.com.", 0);
	VALID(NULL, "DNS:fabrikam.com.", "fabrikam.com.", 0);
	/* ...but only one. */
	INVALID(NULL, "DNS:fabrikam.com..", "fabrikam.com", 0);
	/* Any of several names. */
	VALID(NULL, "DNS:other.test,URI:xmpp:fabrikam.com,DNS:fabrikam.com",
	      "fabrikam.com", 0);
	VALID(NULL, "DNS:fabrikam.com,DNS:corp.fabrikam.com",
	      "corp.fabrikam.com", 0);
	/* A-labels compare as ASCII. */
	VALID(NULL, "DNS:xn--bcher-kva.example", "xn--bcher-kva.example", 0);
	VALID(NULL, "DNS:XN--BCHER-KVA.example", "xn--bcher-kva.example", 0);
	/* A U-label reference is converted before comparing; a U-label in a
	 * dNSName (which must hold A-labels) proves nothing. */
	VALID(NULL, "DNS:xn--bcher-kva.example",
	      "b\xc3\xbc"
	      "cher.example",
	      0);
	INVALID(NULL,
	        "DNS:b\xc3\xbc"
	        "cher.example",
	        "xn--bcher-kva.example", 0);
}

static void test_dns_id_mismatch(void **state)
{
	fixture *f = *state;

	INVALID(NULL, "DNS:contoso.com", "fabrikam.com", 0);
	/* Look-alikes: suffix, prefix, sub- and parent domains. */
	INVALID(NULL, "DNS:fabrikam.com.evil.test", "fabrikam.com", 0);
	INVALID(NULL, "DNS:evilfabrikam.com", "fabrikam.com", 0);
	INVALID(NULL, "DNS:fabrikam.com", "evilfabrikam.com", 0);
	INVALID(NULL, "DNS:fabrikam.com", "fabrikam.com.evil.test", 0);
	INVALID(NULL, "DNS:corp.fabrikam.com", "fabrikam.com", 0);
	INVALID(NULL, "DNS:fabrikam.com", "corp.fabrikam.com", 0);
	INVALID(NULL, "DNS:fabrikam.co", "fabrikam.com", 0);
	INVALID(NULL, "DNS:", "fabrikam.com", 0);
	INVALID(NULL, "DNS:.", "fabrikam.com", 0);
	/* Other name types carrying the domain are no DNS-ID. */
	INVALID(NULL, "URI:fabrikam.com", "fabrikam.com", 0);
	INVALID(NULL, "EMAIL:fabrikam.com", "fabrikam.com", 0);
	INVALID(NULL, "URI:xmpp:fabrikam.com,EMAIL:admin@fabrikam.com",
	        "fabrikam.com", 0);
}

static void test_wildcard(void **state)
{
	fixture *f = *state;

	/* One label, any case. */
	VALID(NULL, "DNS:*.example.test", "a.example.test", 0);
	VALID(NULL, "DNS:*.example.test", "xmpp-1.example.test", 0);
	VALID(NULL, "DNS:*.EXAMPLE.test", "A.example.TEST", 0);
	VALID(NULL, "DNS:*.example.test.", "a.example.test", 0);
	/* RFC 9525: "*" may stand for an A-label of the reference. */
	VALID(NULL, "DNS:*.example.test", "xn--bcher-kva.example.test", 0);
	/* Not the apex, not two labels, not another domain. */
	INVALID(NULL, "DNS:*.example.test", "example.test", 0);
	INVALID(NULL, "DNS:*.example.test", "a.b.example.test", 0);
	INVALID(NULL, "DNS:*.example.test", "a.example.test.evil.test", 0);
	INVALID(NULL, "DNS:*.example.test", "a.other.test", 0);
	INVALID(NULL, "DNS:*.example.test", "aexample.test", 0);
	INVALID(NULL, "DNS:*.example.test", "example", 0);
}

static void test_wildcard_rejected_forms(void **state)
{
	fixture *f = *state;

	/* Partial-label wildcards. */
	INVALID(NULL, "DNS:f*.example.test", "fabrikam.example.test", 0);
	INVALID(NULL, "DNS:f*o.example.test", "foo.example.test", 0);
	INVALID(NULL, "DNS:*o.example.test", "foo.example.test", 0);
	INVALID(NULL, "DNS:xn--*.example.test", "xn--bcher-kva.example.test",
	        0);
	/* "*" alone, over one remaining label, or with empty labels. */
	INVALID(NULL, "DNS:*", "fabrikam", 0);
	INVALID(NULL, "DNS:*", "fabrikam.com", 0);
	INVALID(NULL, "DNS:*.", "fabrikam.com", 0);
	INVALID(NULL, "DNS:*.com", "fabrikam.com", 0);
	INVALID(NULL, "DNS:*.test.", "example.test", 0);
	INVALID(NULL, "DNS:*..example.test", "a.example.test", 0);
	/* Wildcards not in the left-most label, or more than one. */
	INVALID(NULL, "DNS:a.*.example.test", "a.b.example.test", 0);
	INVALID(NULL, "DNS:*.*.example.test", "a.b.example.test", 0);
	INVALID(NULL, "DNS:**.example.test", "a.example.test", 0);
	/* No wildcard in SRV-IDs or xmppAddr. */
	INVALID(NULL, "SRV:_xmpp-server.*.example.test", "a.example.test", 0);
	INVALID(NULL, "XMPP:*.example.test", "a.example.test", 0);
}

/* ---- identity: SRV-ID, xmppAddr ------------------------------------------ */

static void test_srv_id(void **state)
{
	fixture *f = *state;

	VALID(NULL, "SRV:_xmpp-server.fabrikam.com", "fabrikam.com", 0);
	VALID(NULL, "SRV:_XMPP-Server.Fabrikam.COM", "fabrikam.com", 0);
	VALID(NULL, "SRV:_xmpp-server.fabrikam.com.", "fabrikam.com", 0);
	/* Client service: not for s2s. */
	INVALID(NULL, "SRV:_xmpp-client.fabrikam.com", "fabrikam.com", 0);
	INVALID(NULL, "SRV:_xmpp-server.contoso.com", "fabrikam.com", 0);
	INVALID(NULL, "SRV:_xmpp-server.fabrikam.com.evil.test", "fabrikam.com",
	        0);
	INVALID(NULL, "SRV:fabrikam.com", "fabrikam.com", 0);
	INVALID(NULL, "SRV:_xmpp-server.", "fabrikam.com", 0);
	INVALID(NULL, "SRV:_xmpp-serverfabrikam.com", "fabrikam.com", 0);
	/* SRVName is an IA5String: another string type is not one. */
	INVALID(NULL, "SRVU:_xmpp-server.fabrikam.com", "fabrikam.com", 0);
	/* A SRV-ID does not pass as a DNS-ID nor the reverse. */
	INVALID(NULL, "DNS:_xmpp-server.fabrikam.com", "fabrikam.com", 0);
}

static void test_xmpp_addr(void **state)
{
	fixture *f = *state;

	VALID(NULL, "XMPP:fabrikam.com", "fabrikam.com", 0);
	VALID(NULL, "XMPP:Fabrikam.COM", "fabrikam.com", 0);
	/* A JID domainpart may be written with U-labels. */
	VALID(NULL,
	      "XMPP:b\xc3\xbc"
	      "cher.example",
	      "xn--bcher-kva.example", 0);
	VALID(NULL, "XMPP:xn--bcher-kva.example",
	      "b\xc3\xbc"
	      "cher.example",
	      0);
	INVALID(NULL, "XMPP:contoso.com", "fabrikam.com", 0);
	INVALID(NULL, "XMPP:fabrikam.com.evil.test", "fabrikam.com", 0);
	INVALID(NULL, "XMPP:user@fabrikam.com", "fabrikam.com", 0);
	INVALID(NULL, "XMPP:fabrikam.com/resource", "fabrikam.com", 0);
	INVALID(NULL, "XMPP:", "fabrikam.com", 0);
	/* id-on-xmppAddr is a UTF8String. */
	INVALID(NULL, "XMPPI:fabrikam.com", "fabrikam.com", 0);
	/* Mixed with other names. */
	VALID(NULL, "DNS:other.test,XMPP:fabrikam.com", "fabrikam.com", 0);
}

/* ---- identity: CN, NULs, arguments --------------------------------------- */

static void test_legacy_cn(void **state)
{
	fixture *f = *state;

	INVALID("fabrikam.com", NULL, "fabrikam.com", 0);
	VALID("fabrikam.com", NULL, "fabrikam.com", XP_CERT_LEGACY_CN);
	VALID("Fabrikam.COM", NULL, "fabrikam.com", XP_CERT_LEGACY_CN);
	INVALID("contoso.com", NULL, "fabrikam.com", XP_CERT_LEGACY_CN);
	INVALID("fabrikam.com.evil.test", NULL, "fabrikam.com",
	        XP_CERT_LEGACY_CN);
	INVALID(NULL, NULL, "fabrikam.com", XP_CERT_LEGACY_CN);
	/* Same wildcard rules as a DNS-ID. */
	VALID("*.example.test", NULL, "a.example.test", XP_CERT_LEGACY_CN);
	INVALID("*.example.test", NULL, "example.test", XP_CERT_LEGACY_CN);
	INVALID("f*.example.test", NULL, "fo.example.test", XP_CERT_LEGACY_CN);
}

static void test_cn_ignored_with_san(void **state)
{
	fixture *f = *state;

	/* Any subjectAltName makes the CN irrelevant, even with the flag. */
	INVALID("fabrikam.com", "DNS:contoso.com", "fabrikam.com",
	        XP_CERT_LEGACY_CN);
	INVALID("fabrikam.com", "XMPP:contoso.com", "fabrikam.com",
	        XP_CERT_LEGACY_CN);
	INVALID("fabrikam.com", "URI:https://fabrikam.com/", "fabrikam.com",
	        XP_CERT_LEGACY_CN);
	INVALID("fabrikam.com", "EMAIL:admin@fabrikam.com", "fabrikam.com",
	        XP_CERT_LEGACY_CN);
	/* ...while the SAN itself still counts. */
	VALID("contoso.com", "DNS:fabrikam.com", "fabrikam.com",
	      XP_CERT_LEGACY_CN);
	INVALID("fabrikam.com", "DNS:contoso.com", "contoso.example", 0);
}

static void test_embedded_nul(void **state)
{
	fixture *f = *state;

	/* The null-prefix trick, in every name type. */
	INVALID(NULL, "DNS:fabrikam.com~.evil.test", "fabrikam.com", 0);
	INVALID(NULL, "DNS:fabrikam.com~", "fabrikam.com", 0);
	INVALID(NULL, "SRV:_xmpp-server.fabrikam.com~.evil.test",
	        "fabrikam.com", 0);
	INVALID(NULL, "XMPP:fabrikam.com~.evil.test", "fabrikam.com", 0);
	INVALID(NULL, "XMPP:fabrikam.com~", "fabrikam.com", 0);
	/* A hostile name voids the certificate: its other names do not
	 * rescue it, before or after it. */
	INVALID(NULL, "DNS:fabrikam.com,DNS:x~.evil.test", "fabrikam.com", 0);
	INVALID(NULL, "DNS:x~.evil.test,DNS:fabrikam.com", "fabrikam.com", 0);
	INVALID(NULL, "DNS:fabrikam.com~.evil.test", "evil.test", 0);
	/* Without the NUL the same names behave normally. */
	VALID(NULL, "DNS:fabrikam.com,DNS:x.evil.test", "fabrikam.com", 0);
}

static void test_embedded_nul_cn(void **state)
{
	fixture *f = *state;
	certspec s;
	X509 *x;
	X509_NAME *name;
	xp_cert *c;

	/* A CN with a NUL, built by hand (MBSTRING_ASC stops at none). */
	memset(&s, 0, sizeof(s));
	s.key = f->leaf_key;
	s.not_before = -DAY;
	s.not_after = DAY;
	x = make_cert(&s);
	name = X509_get_subject_name(x);
	assert_int_equal(
	        X509_NAME_add_entry_by_txt(
	                name, "CN", V_ASN1_UTF8STRING,
	                (const unsigned char *)"fabrikam.com\0.evil.test", 23,
	                -1, 0),
	        1);
	assert_true(X509_sign(x, f->leaf_key, EVP_sha256()) > 0);
	c = load(f, x);
	assert_int_equal(xp_cert_check_identity(c, "fabrikam.com", 12,
	                                        XP_CERT_LEGACY_CN),
	                 XP_CERT_INVALID);
	assert_int_equal(
	        xp_cert_check_identity(c, "evil.test", 9, XP_CERT_LEGACY_CN),
	        XP_CERT_INVALID);
	xp_cert_free(c);
	X509_free(x);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_identity_args(void **state)
{
	fixture *f = *state;
	certspec s = {NULL, "DNS:fabrikam.com", NULL, NULL, NULL, -DAY, DAY, 0};
	X509 *x;
	xp_cert *c;

	s.key = f->leaf_key;
	x = make_cert(&s);
	c = load(f, x);
	assert_int_equal(xp_cert_check_identity(NULL, "fabrikam.com", 12, 0),
	                 XP_CERT_INVALID);
	assert_int_equal(xp_cert_check_identity(c, NULL, 0, 0),
	                 XP_CERT_INVALID);
	assert_int_equal(xp_cert_check_identity(c, "", 0, 0), XP_CERT_INVALID);
	/* Domains the core refuses never match. */
	assert_int_equal(xp_cert_check_identity(c, "*.fabrikam.com", 14, 0),
	                 XP_CERT_INVALID);
	assert_int_equal(xp_cert_check_identity(c, "fabrikam.com\0x", 14, 0),
	                 XP_CERT_INVALID);
	/* The length is honoured: no NUL terminator needed. */
	assert_int_equal(xp_cert_check_identity(c, "fabrikam.comXYZ", 12, 0),
	                 XP_CERT_VALID);
	xp_cert_free(c);
	X509_free(x);
}

static void test_identity_ignores_dates(void **state)
{
	fixture *f = *state;
	certspec s = {NULL, "DNS:fabrikam.com", NULL, NULL,
	              NULL, -2 * DAY,           -DAY, 0};
	X509 *x;
	xp_cert *c;

	s.key = f->leaf_key;
	s.issuer = f->ca;
	s.issuer_key = f->ca_key;
	x = make_cert(&s);
	c = load(f, x);
	assert_int_equal(xp_cert_check_identity(c, "fabrikam.com", 12, 0),
	                 XP_CERT_VALID);
	xp_cert_free(c);
	X509_free(x);
}

/* ---- chain --------------------------------------------------------------- */

static xp_cert_status verify(fixture *f, X509 *leaf, X509 *inter,
                             const char *cafile, long long now,
                             const char **why)
{
	xp_cert *c = load(f, leaf);
	xp_cert *ic = inter ? load(f, inter) : NULL;
	const xp_cert *chain[1];
	xp_cert_status st;

	chain[0] = ic;
	*why = "unset";
	st = xp_cert_verify_chain(c, chain, ic ? 1 : 0,
	                          cafile ? cafile : f->cafile, now, why);
	xp_cert_free(c);
	xp_cert_free(ic);
	assert_int_equal(ERR_peek_error(), 0);
	if (st == XP_CERT_VALID)
		assert_null(*why);
	else
		assert_true(*why != NULL && **why != '\0');
	return st;
}

static X509 *leaf_by(fixture *f, X509 *issuer, EVP_PKEY *issuer_key, long nb,
                     long na)
{
	certspec s = {
	        "fabrikam.com", "DNS:fabrikam.com", NULL, NULL, NULL, 0, 0, 0};

	s.key = f->leaf_key;
	s.issuer = issuer;
	s.issuer_key = issuer_key;
	s.not_before = nb;
	s.not_after = na;
	return make_cert(&s);
}

static void test_chain_valid(void **state)
{
	fixture *f = *state;
	X509 *leaf = leaf_by(f, f->ca, f->ca_key, -3600, DAY);
	const char *why;

	assert_int_equal(verify(f, leaf, NULL, NULL, 0, &why), XP_CERT_VALID);
	/* Untrusted extras that are not needed do no harm. */
	assert_int_equal(verify(f, leaf, f->inter, NULL, 0, &why),
	                 XP_CERT_VALID);
	X509_free(leaf);
}

static void test_chain_expired(void **state)
{
	fixture *f = *state;
	X509 *leaf = leaf_by(f, f->ca, f->ca_key, -2 * DAY, -DAY);
	const char *why;

	assert_int_equal(verify(f, leaf, NULL, NULL, 0, &why), XP_CERT_INVALID);
	assert_string_equal(why, X509_verify_cert_error_string(
	                                 X509_V_ERR_CERT_HAS_EXPIRED));
	X509_free(leaf);
}

static void test_chain_not_yet_valid(void **state)
{
	fixture *f = *state;
	X509 *leaf = leaf_by(f, f->ca, f->ca_key, DAY, 2 * DAY);
	const char *why;

	assert_int_equal(verify(f, leaf, NULL, NULL, 0, &why), XP_CERT_INVALID);
	assert_string_equal(why, X509_verify_cert_error_string(
	                                 X509_V_ERR_CERT_NOT_YET_VALID));
	X509_free(leaf);
}

static void test_chain_self_signed(void **state)
{
	fixture *f = *state;
	X509 *leaf = leaf_by(f, NULL, NULL, -3600, DAY);
	const char *why;

	assert_int_equal(verify(f, leaf, NULL, NULL, 0, &why), XP_CERT_INVALID);
	assert_string_equal(why,
	                    X509_verify_cert_error_string(
	                            X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT));
	X509_free(leaf);
}

static void test_chain_other_ca(void **state)
{
	fixture *f = *state;
	certspec s = {"other CA", NULL, NULL, NULL, NULL, -DAY, DAY, 1};
	X509 *other, *leaf;
	const char *why;

	s.key = f->other_key;
	other = make_cert(&s);
	leaf = leaf_by(f, other, f->other_key, -3600, DAY);
	assert_int_equal(verify(f, leaf, NULL, NULL, 0, &why), XP_CERT_INVALID);
	assert_string_equal(
	        why, X509_verify_cert_error_string(
	                     X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY));
	/* Handing over the foreign root as an "intermediate" changes nothing.
	 */
	assert_int_equal(verify(f, leaf, other, NULL, 0, &why),
	                 XP_CERT_INVALID);
	X509_free(leaf);
	X509_free(other);
}

static void test_chain_intermediate(void **state)
{
	fixture *f = *state;
	X509 *leaf = leaf_by(f, f->inter, f->int_key, -3600, DAY);
	const char *why;

	assert_int_equal(verify(f, leaf, f->inter, NULL, 0, &why),
	                 XP_CERT_VALID);
	assert_int_equal(verify(f, leaf, NULL, NULL, 0, &why), XP_CERT_INVALID);
	assert_string_equal(
	        why, X509_verify_cert_error_string(
	                     X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY));
	X509_free(leaf);
}

static void test_chain_non_ca_issuer(void **state)
{
	fixture *f = *state;
	certspec s = {"not a CA", NULL, NULL, NULL, NULL, -DAY, DAY, 0};
	X509 *mid, *leaf;
	const char *why;

	/* A leaf (no basicConstraints CA) used to sign another leaf. */
	s.key = f->other_key;
	s.issuer = f->ca;
	s.issuer_key = f->ca_key;
	mid = make_cert(&s);
	leaf = leaf_by(f, mid, f->other_key, -3600, DAY);
	assert_int_equal(verify(f, leaf, mid, NULL, 0, &why), XP_CERT_INVALID);
	X509_free(leaf);
	X509_free(mid);
}

static void test_chain_at_time(void **state)
{
	fixture *f = *state;
	long long t = (long long)time(NULL);
	X509 *expired = leaf_by(f, f->ca, f->ca_key, -2 * DAY, -DAY);
	X509 *current = leaf_by(f, f->ca, f->ca_key, -3600, DAY);
	X509 *future = leaf_by(f, f->ca, f->ca_key, DAY, 2 * DAY);
	const char *why;

	/* Each certificate is valid exactly inside its own window. */
	assert_int_equal(verify(f, expired, NULL, NULL, t - 36 * 3600, &why),
	                 XP_CERT_VALID);
	assert_int_equal(verify(f, current, NULL, NULL, t - 36 * 3600, &why),
	                 XP_CERT_INVALID);
	assert_string_equal(why, X509_verify_cert_error_string(
	                                 X509_V_ERR_CERT_NOT_YET_VALID));
	assert_int_equal(verify(f, current, NULL, NULL, t + 2 * DAY, &why),
	                 XP_CERT_INVALID);
	assert_string_equal(why, X509_verify_cert_error_string(
	                                 X509_V_ERR_CERT_HAS_EXPIRED));
	assert_int_equal(verify(f, future, NULL, NULL, t + 36 * 3600, &why),
	                 XP_CERT_VALID);
	/* Past the CA's own lifetime nothing verifies. */
	assert_int_equal(verify(f, future, NULL, NULL, t + 20 * DAY, &why),
	                 XP_CERT_INVALID);
	/* A negative time is refused, not taken as 1969. */
	assert_int_equal(verify(f, current, NULL, NULL, -1, &why),
	                 XP_CERT_INVALID);
	X509_free(expired);
	X509_free(current);
	X509_free(future);
}

static void test_chain_bad_cafile(void **state)
{
	fixture *f = *state;
	X509 *leaf = leaf_by(f, f->ca, f->ca_key, -3600, DAY);
	char junk[] = "/tmp/xp-test-junk-XXXXXX";
	const char *why, *missing_why;
	xp_cert *c;
	int fd;

	assert_int_equal(
	        verify(f, leaf, NULL, "/nonexistent/xp-ca.pem", 0, &why),
	        XP_CERT_INVALID);
	missing_why = why;

	/* A file that exists but holds no certificate. */
	fd = mkstemp(junk);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	assert_int_equal(verify(f, leaf, NULL, junk, 0, &why), XP_CERT_INVALID);
	assert_string_equal(why, missing_why);
	unlink(junk);

	/* Bad arguments; why may be NULL. */
	c = load(f, leaf);
	assert_int_equal(
	        xp_cert_verify_chain(NULL, NULL, 0, f->cafile, 0, NULL),
	        XP_CERT_INVALID);
	assert_int_equal(xp_cert_verify_chain(c, NULL, 0, NULL, 0, &why),
	                 XP_CERT_INVALID);
	assert_non_null(why);
	assert_int_equal(xp_cert_verify_chain(c, NULL, 1, f->cafile, 0, &why),
	                 XP_CERT_INVALID);
	assert_int_equal(xp_cert_verify_chain(c, NULL, 0, f->cafile, 0, NULL),
	                 XP_CERT_VALID);
	xp_cert_free(c);
	X509_free(leaf);
	assert_int_equal(ERR_peek_error(), 0);
}

/* ---- pins ---------------------------------------------------------------- */

/* SHA-256 of the key's SubjectPublicKeyInfo, by a different route than
 * cert.c: from the EVP_PKEY, not from the certificate. */
static void spki_of_key(EVP_PKEY *k, unsigned char md[32])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);

	assert_true(n > 0);
	assert_non_null(SHA256(der, (size_t)n, md));
	OPENSSL_free(der);
}

static void test_spki_pin(void **state)
{
	fixture *f = *state;
	X509 *a = leaf_by(f, f->ca, f->ca_key, -3600, DAY);
	X509 *b = leaf_by(f, NULL, NULL, -2 * DAY, -DAY); /* same key */
	certspec s = {"contoso.com", "DNS:contoso.com",
	              NULL,          NULL,
	              NULL,          -DAY,
	              DAY,           0};
	X509 *o;
	xp_cert *ca, *cb, *co;
	unsigned char ma[32], ma2[32], mb[32], mo[32], want[32];
	char pin[XP_PIN_STRLEN + 1], hex[XP_PIN_STRLEN + 1];
	size_t i;

	s.key = f->other_key;
	o = make_cert(&s);
	ca = load(f, a);
	cb = load(f, b);
	co = load(f, o);

	assert_int_equal(xp_cert_spki_sha256(ca, ma), XP_OK);
	assert_int_equal(xp_cert_spki_sha256(ca, ma2), XP_OK);
	assert_memory_equal(ma, ma2, 32); /* stable */
	spki_of_key(f->leaf_key, want);
	assert_memory_equal(ma, want, 32);
	assert_int_equal(xp_cert_spki_sha256(cb, mb), XP_OK);
	assert_memory_equal(ma, mb, 32); /* same key, other certificate */
	assert_int_equal(xp_cert_spki_sha256(co, mo), XP_OK);
	assert_memory_not_equal(ma, mo, 32);
	spki_of_key(f->other_key, want);
	assert_memory_equal(mo, want, 32);

	/* The string form. */
	memset(pin, 'X', sizeof(pin));
	assert_int_equal(xp_cert_pin(ca, pin), XP_OK);
	strcpy(hex, "sha256:");
	for (i = 0; i < 32; i++)
		snprintf(hex + 7 + 2 * i, 3, "%02x", ma[i]);
	assert_int_equal(strlen(pin), XP_PIN_STRLEN);
	assert_string_equal(pin, hex);

	assert_int_equal(xp_cert_spki_sha256(NULL, ma), XP_EINVAL);
	assert_int_equal(xp_cert_spki_sha256(ca, NULL), XP_EINVAL);
	assert_int_equal(xp_cert_pin(NULL, pin), XP_EINVAL);
	assert_int_equal(xp_cert_pin(ca, NULL), XP_EINVAL);

	xp_cert_free(ca);
	xp_cert_free(cb);
	xp_cert_free(co);
	X509_free(a);
	X509_free(b);
	X509_free(o);
}

static void test_spki_alloc_failure(void **state)
{
	fixture *f = *state;
	X509 *x = leaf_by(f, NULL, NULL, -DAY, DAY);
	xp_cert *c = load(f, x);
	unsigned char md[32], want[32];
	char pin[XP_PIN_STRLEN + 1];
	long live = f->a.live;

	spki_of_key(f->leaf_key, want);
	f->a.fail_at = f->a.calls + 1;
	assert_int_equal(xp_cert_spki_sha256(c, md), XP_ENOMEM);
	f->a.fail_at = f->a.calls + 1;
	assert_int_equal(xp_cert_pin(c, pin), XP_ENOMEM);
	f->a.fail_at = 0;
	assert_int_equal(f->a.live, live);
	assert_int_equal(xp_cert_spki_sha256(c, md), XP_OK);
	assert_memory_equal(md, want, 32);
	assert_int_equal(f->a.live, live);
	xp_cert_free(c);
	X509_free(x);
}

static void test_pin_matches(void **state)
{
	fixture *f = *state;
	X509 *x = leaf_by(f, NULL, NULL, -DAY, DAY);
	xp_cert *c = load(f, x);
	unsigned char md[32], other[32], pins[3 * 32];
	struct xp_partner p;

	assert_int_equal(xp_cert_spki_sha256(c, md), XP_OK);
	spki_of_key(f->other_key, other);

	memset(&p, 0, sizeof(p));
	p.domain = "fabrikam.com";
	p.pins = pins;

	/* Ours as the last of three pins. */
	memset(pins, 0xaa, sizeof(pins));
	memcpy(pins, other, 32);
	memcpy(pins + 64, md, 32);
	p.n_fingerprints = 3;
	assert_int_equal(xp_partner_pin_matches(&p, md), 1);
	assert_int_equal(xp_partner_pin_matches(&p, other), 1);
	/* ...but outside n_fingerprints it does not count. */
	p.n_fingerprints = 2;
	assert_int_equal(xp_partner_pin_matches(&p, md), 0);
	/* One differing bit, first or last byte. */
	p.n_fingerprints = 3;
	md[0] ^= 1;
	assert_int_equal(xp_partner_pin_matches(&p, md), 0);
	md[0] ^= 1;
	md[31] ^= 0x80;
	assert_int_equal(xp_partner_pin_matches(&p, md), 0);
	md[31] ^= 0x80;
	/* No pins at all. */
	p.n_fingerprints = 0;
	assert_int_equal(xp_partner_pin_matches(&p, md), 0);
	p.pins = NULL;
	assert_int_equal(xp_partner_pin_matches(&p, md), 0);
	assert_int_equal(xp_partner_pin_matches(NULL, md), 0);
	p.pins = pins;
	p.n_fingerprints = 3;
	assert_int_equal(xp_partner_pin_matches(&p, NULL), 0);

	xp_cert_free(c);
	X509_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	        T(test_parse_der_and_pem),
	        T(test_parse_garbage),
	        T(test_parse_invalid_args),
	        T(test_parse_alloc_failure),
	        T(test_parse_openssl_alloc_failure),
	        T(test_dns_id_exact),
	        T(test_dns_id_mismatch),
	        T(test_wildcard),
	        T(test_wildcard_rejected_forms),
	        T(test_srv_id),
	        T(test_xmpp_addr),
	        T(test_legacy_cn),
	        T(test_cn_ignored_with_san),
	        T(test_embedded_nul),
	        T(test_embedded_nul_cn),
	        T(test_identity_args),
	        T(test_identity_ignores_dates),
	        T(test_chain_valid),
	        T(test_chain_expired),
	        T(test_chain_not_yet_valid),
	        T(test_chain_self_signed),
	        T(test_chain_other_ca),
	        T(test_chain_intermediate),
	        T(test_chain_non_ca_issuer),
	        T(test_chain_at_time),
	        T(test_chain_bad_cafile),
	        T(test_spki_pin),
	        T(test_spki_alloc_failure),
	        T(test_pin_matches),
#undef T
	};

	/* Must come before OpenSSL's first allocation, hence here. */
	ossl_hooked =
	        CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
	return TEST_RUN("cert", tests);
}
