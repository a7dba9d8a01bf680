/*
 * domain.c: domain normalisation and validation.
 *
 * Every domain the core compares (partner keys, additional domains, remote
 * domains from streams, certificate names) goes through xp_domain_normalize,
 * so the same name written in different ways always finds the same partner:
 * ASCII case folded, one trailing dot dropped, UTF-8 U-labels converted to
 * A-labels (IDNA2008 with the UTS#46 mapping, via libidn2).  The ASCII path
 * allocates nothing: lookups on the hot path stay cheap.
 */
#include <string.h>

#include <idn2.h>

#include "internal.h"

static int is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* A specific reason for a character that can never be in a domain. */
static const char *bad_char_reason(unsigned char c)
{
	switch (c) {
	case '*':
		return "wildcards are not allowed: list each domain";
	case ':':
		return "contains a port: give the bare domain (use 'proxy' for "
		       "host:port)";
	case '@':
		return "contains a local part: give the domain without 'user@'";
	case '/':
		return "contains a path or resource: give the bare domain";
	case ' ':
	case '\t':
	case '\r':
	case '\n':
		return "contains white space";
	case '[':
	case ']':
		return "IP literals cannot be partner domains";
	default:
		return "contains a character not allowed in a domain (letters, "
		       "digits, '-' and '.' only)";
	}
}

/* Check an ASCII, lower-cased name in place. */
static int check_ascii(const char *s, size_t len, const char **why)
{
	size_t i, start = 0;
	int all_digits = 1; /* of the last label */

	if (len == 0) {
		*why = "is empty";
		return XP_EINVAL;
	}
	if (len > XP_DOMAIN_MAX) {
		*why = "is longer than 253 octets";
		return XP_EINVAL;
	}
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';
		if (c == '.') {
			size_t l = i - start;
			if (l == 0) {
				*why = "has an empty label (two dots in a row, "
				       "or a leading dot)";
				return XP_EINVAL;
			}
			if (l > XP_LABEL_MAX) {
				*why = "has a label longer than 63 octets";
				return XP_EINVAL;
			}
			if (s[start] == '-' || s[i - 1] == '-') {
				*why = "has a label that starts or ends with "
				       "'-'";
				return XP_EINVAL;
			}
			if (i < len)
				all_digits = 1;
			start = i + 1;
			continue;
		}
		if (!is_ldh(c)) {
			*why = bad_char_reason(c);
			return XP_EINVAL;
		}
		if (c < '0' || c > '9')
			all_digits = 0;
	}
	if (all_digits) {
		*why = "looks like an IP address: partners are named by DNS "
		       "domain";
		return XP_EINVAL;
	}
	return XP_OK;
}

/* Labels starting "xn--" must be valid A-labels: let libidn2 judge them. */
static int check_alabels(const char *s, size_t len, const char **why)
{
	size_t i, start = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (i - start >= 4 && memcmp(s + start, "xn--", 4) == 0) {
			char label[XP_LABEL_MAX + 1];
			char *u = NULL;
			int rc;
			memcpy(label, s + start, i - start);
			label[i - start] = '\0';
			rc = idn2_to_unicode_8z8z(label, &u, 0);
			if (rc == IDN2_OK && u != NULL) {
				char *back = NULL;
				rc = idn2_lookup_u8((const uint8_t *)u,
				                    (uint8_t **)&back,
				                    IDN2_NFC_INPUT);
				if (rc == IDN2_OK && strcmp(back, label) != 0)
					rc = IDN2_ALABEL_ROUNDTRIP_FAILED;
				idn2_free(back);
			}
			idn2_free(u);
			if (rc == IDN2_MALLOC)
				return XP_ENOMEM;
			if (rc != IDN2_OK) {
				*why = "has an 'xn--' label that is not a "
				       "valid IDN A-label";
				return XP_EINVAL;
			}
		}
		start = i + 1;
	}
	return XP_OK;
}

/* UTF-8 input: map and convert with libidn2, then check as ASCII. */
static int normalize_idn(const char *in, size_t len, char *out, size_t *out_len,
                         const char **why)
{
	char tmp[4 * XP_DOMAIN_MAX + 4];
	char *ascii = NULL;
	size_t n;
	int rc;

	if (len >= sizeof(tmp)) {
		*why = "is longer than 253 octets";
		return XP_EINVAL;
	}
	if (memchr(in, '\0', len) != NULL) {
		*why = "contains a NUL byte";
		return XP_EINVAL;
	}
	memcpy(tmp, in, len);
	tmp[len] = '\0';
	rc = idn2_to_ascii_8z(tmp, &ascii,
	                      IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc == IDN2_MALLOC)
		return XP_ENOMEM;
	if (rc != IDN2_OK || ascii == NULL) {
		idn2_free(ascii);
		*why = "is not a valid internationalised domain name";
		return XP_EINVAL;
	}
	n = strlen(ascii);
	if (n > 0 && ascii[n - 1] == '.')
		n--;
	if (n > XP_DOMAIN_MAX) {
		idn2_free(ascii);
		*why = "is longer than 253 octets";
		return XP_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = ascii[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	idn2_free(ascii);
	rc = check_ascii(out, n, why);
	/* libidn2 passes through 'xn--' labels of mixed input unchecked; judge
	 * them as the ASCII path does, so a result always re-normalises to
	 * itself (found by fuzz_domain). */
	if (rc == XP_OK)
		rc = check_alabels(out, n, why);
	if (rc == XP_OK)
		*out_len = n;
	return rc;
}

/*
 * The fast path's table: each byte folded to what the normalised name holds
 * (letters lower-cased; digits, '-' and '.' as they are), 0 for a byte no
 * domain may contain, HI (1) for a byte of a UTF-8 sequence.  Letters and
 * digits, the common case, are exactly the values above '.'.
 */
#define HI 0x01
static const unsigned char fold[256] = {
        0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
        0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
        0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
        0,   0,   0,   '-', '.', 0,   '0', '1', '2', '3', '4', '5', '6', '7',
        '8', '9', 0,   0,   0,   0,   0,   0,   0,   'a', 'b', 'c', 'd', 'e',
        'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
        't', 'u', 'v', 'w', 'x', 'y', 'z', 0,   0,   0,   0,   0,   0,   'a',
        'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
        'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0,   0,   0,
        0,   0,   HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,
        HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,
        HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,
        HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,
        HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,
        HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,
        HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,
        HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,
        HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,  HI,
        HI,  HI,  HI,  HI,
};

/*
 * The ASCII fast path: one pass with a class table that folds case, copies
 * and checks every rule, so a lookup costs little more than reading the name
 * once.  Labels starting "xn--" and UTF-8 input take the libidn2 paths; any
 * fault is handed to check_ascii, which names it.
 */
int xp_domain_normalize(const char *in, size_t len, char *out, size_t *out_len,
                        const char **why)
{
	const char *dummy;
	size_t i, start = 0;
	int all_digits, alabel = 0;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (in == NULL || out == NULL || out_len == NULL) {
		*why = "is missing";
		return XP_EINVAL;
	}
	/* One trailing dot is the DNS root and means the same name. */
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0) {
		*why = "is empty";
		return XP_EINVAL;
	}
	if (len > XP_DOMAIN_MAX) {
		for (i = 0; i < len; i++)
			if ((unsigned char)in[i] >= 0x80)
				return normalize_idn(in, len, out, out_len,
				                     why);
		*why = "is longer than 253 octets";
		return XP_EINVAL;
	}
	for (i = 0; i < len; i++) {
		unsigned char f = fold[(unsigned char)in[i]];
		out[i] = (char)f;
		if (f > '.')
			continue; /* a letter or digit */
		if (f == '-')
			continue;
		if (f == '.') {
			if (i == start || out[i - 1] == '-' ||
			    out[start] == '-' || i - start > XP_LABEL_MAX) {
				check_ascii(out, i + 1, why);
				return XP_EINVAL;
			}
			if (i - start >= 4 && out[start] == 'x' &&
			    out[start + 1] == 'n' && out[start + 2] == '-' &&
			    out[start + 3] == '-')
				alabel = 1;
			start = i + 1;
			continue;
		}
		if (f == HI)
			return normalize_idn(in, len, out, out_len, why);
		*why = bad_char_reason((unsigned char)in[i]);
		return XP_EINVAL;
	}
	/* An all-digit last label looks like an IP address. */
	for (i = start; i < len && out[i] >= '0' && out[i] <= '9'; i++)
		;
	all_digits = i == len;
	out[len] = '\0';
	/* The last label: the checks the loop makes at each dot. */
	if (all_digits || len - start > XP_LABEL_MAX || out[start] == '-' ||
	    out[len - 1] == '-')
		return check_ascii(out, len, why);
	if (len - start >= 4 && memcmp(out + start, "xn--", 4) == 0)
		alabel = 1;
	if (alabel) {
		int rc = check_alabels(out, len, why);
		if (rc != XP_OK)
			return rc;
	}
	*out_len = len;
	return XP_OK;
}
