/*
 * fuzz_cert.c: certificate identity matching on arbitrary DER or PEM.
 *
 * Input: byte 0 = n, the next n % 64 bytes are the domain to check, the
 * rest is the certificate given to xp_cert_parse.  When it parses, the
 * identity is checked for that domain, its ASCII case flipped and a few
 * fixed names, with and without XP_CERT_LEGACY_CN, and the pin is taken.
 * Checks: a failed parse leaves *out NULL; results are VALID or INVALID;
 * the legacy flag only ever adds matches; a domain's ASCII case does not
 * matter; a domain the core refuses to normalise never matches; the pin
 * is "sha256:" plus the lower-case hex of xp_cert_spki_sha256.
 */
#include "fuzz_common.h"

static xp_cert_status check(const xp_cert *c, const char *d, size_t len,
                            unsigned flags)
{
	char *copy = malloc(len ? len : 1); /* exact size: no NUL */
	xp_cert_status st;
	if (!copy)
		abort();
	memcpy(copy, d, len);
	st = xp_cert_check_identity(c, copy, len, flags);
	free(copy);
	FZ_CHECK(st == XP_CERT_VALID || st == XP_CERT_INVALID);
	return st;
}

static void check_both(const xp_cert *c, const char *d, size_t len)
{
	char norm[XP_DOMAIN_MAX + 1];
	size_t nlen;
	xp_cert_status s0 = check(c, d, len, 0);
	xp_cert_status s1 = check(c, d, len, XP_CERT_LEGACY_CN);
	if (s0 == XP_CERT_VALID)
		FZ_CHECK(s1 == XP_CERT_VALID);
	if (xp_domain_normalize(d, len, norm, &nlen, NULL) != XP_OK)
		FZ_CHECK(s1 == XP_CERT_INVALID);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_reader r = {data, size};
	fz_alloc al = {0, 0, 0, 0};
	size_t dlen, got, i;
	const char *dom;
	char flip[64];
	xp_ctx *ctx;
	xp_cert *c = NULL;
	unsigned char *der;
	size_t derlen;
	int rc;

	dlen = fz_u8(&r) % 64;
	dom = fz_bytes(&r, dlen, &got);
	dlen = got;
	derlen = r.n;
	der = malloc(derlen ? derlen : 1);
	if (!der)
		abort();
	memcpy(der, r.p, derlen);

	ctx = xp_ctx_new(fz_allocf, &al, NULL, NULL);
	FZ_CHECK(ctx != NULL);
	rc = xp_cert_parse(ctx, der, derlen, &c);
	free(der); /* the parsed certificate must not point into the input */
	if (rc != XP_OK) {
		FZ_CHECK(rc == XP_ECERT || rc == XP_EINVAL || rc == XP_ENOMEM);
		FZ_CHECK(c == NULL);
	} else {
		static const char *const fixed[] = {
		        "example.com",
		        "xmpp.example.com",
		        "a.b.example.com",
		        "example.org",
		        "localhost",
		        "xn--bcher-kva.example",
		        ("b\xc3\xbc"
		         "cher.example"),
		        "_xmpp-server.example.com",
		        "*.example.com",
		        "",
		};
		char pin[XP_PIN_STRLEN + 1];
		unsigned char h[32];
		xp_cert_status s0, s1;

		FZ_CHECK(c != NULL);
		check_both(c, dom, dlen);
		s0 = check(c, dom, dlen, 0);
		s1 = check(c, dom, dlen, XP_CERT_LEGACY_CN);
		for (i = 0; i < dlen; i++) {
			char ch = dom[i];
			if (ch >= 'a' && ch <= 'z')
				ch = (char)(ch - 'a' + 'A');
			else if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			flip[i] = ch;
		}
		FZ_CHECK(check(c, flip, dlen, 0) == s0);
		FZ_CHECK(check(c, flip, dlen, XP_CERT_LEGACY_CN) == s1);
		for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			check_both(c, fixed[i], strlen(fixed[i]));

		memset(pin, 'X', sizeof(pin));
		rc = xp_cert_pin(c, pin);
		if (rc == XP_OK) {
			static const char hex[] = "0123456789abcdef";
			FZ_CHECK(pin[XP_PIN_STRLEN] == '\0');
			FZ_CHECK(memcmp(pin, "sha256:", 7) == 0);
			FZ_CHECK(xp_cert_spki_sha256(c, h) == XP_OK);
			for (i = 0; i < 32; i++) {
				FZ_CHECK(pin[7 + 2 * i] == hex[h[i] >> 4]);
				FZ_CHECK(pin[8 + 2 * i] == hex[h[i] & 15]);
			}
		} else {
			FZ_CHECK(rc == XP_ECERT || rc == XP_ENOMEM);
		}
		xp_cert_free(c);
	}
	xp_ctx_free(ctx);
	FZ_CHECK(al.live == 0);
	return 0;
}
