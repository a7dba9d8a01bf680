/*
 * fuzz_domain.c: xp_domain_normalize on arbitrary bytes.
 *
 * Invariants checked for an accepted name: it is NUL-terminated with the
 * reported length, at most XP_DOMAIN_MAX octets, only a-z 0-9 '-' '.',
 * labels of 1-63 octets without a hyphen at either end, not an IPv4
 * address, normalising it again gives it back (idempotent), and the input
 * with its ASCII letters' case flipped gives the same result (accepted or
 * not).  A refusal must say why.
 */
#include <arpa/inet.h>
#include <ctype.h>

#include "fuzz_common.h"

static void check_accepted(const char *out, size_t out_len)
{
	size_t i, label = 0;

	FZ_CHECK(out_len > 0);
	FZ_CHECK(out_len <= XP_DOMAIN_MAX);
	FZ_CHECK(strlen(out) == out_len);
	for (i = 0; i < out_len; i++) {
		char c = out[i];
		FZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		         c == '-' || c == '.');
		if (c == '.') {
			FZ_CHECK(label > 0); /* no empty label */
			FZ_CHECK(out[i - 1] != '-');
			label = 0;
		} else {
			if (label == 0)
				FZ_CHECK(c != '-');
			label++;
			FZ_CHECK(label <= XP_LABEL_MAX);
		}
	}
	FZ_CHECK(label > 0); /* no trailing dot, no empty last label */
	FZ_CHECK(out[out_len - 1] != '-');
	{
		unsigned char a4[4];
		FZ_CHECK(inet_pton(AF_INET, out, a4) != 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = malloc(XP_DOMAIN_MAX + 1); /* exactly the documented size */
	char *out2 = malloc(XP_DOMAIN_MAX + 1);
	char *flip = malloc(size ? size : 1);
	size_t out_len = 0, out2_len = 0, i;
	const char *why = NULL, *why2 = NULL;
	int rc, rc2;

	if (!out || !out2 || !flip)
		abort();
	rc = xp_domain_normalize((const char *)data, size, out, &out_len, &why);
	FZ_CHECK(rc == XP_OK || rc == XP_EINVAL);
	/* why may be NULL: the same answer */
	rc2 = xp_domain_normalize((const char *)data, size, out2, &out2_len,
	                          NULL);
	FZ_CHECK(rc2 == rc);
	if (rc == XP_OK) {
		check_accepted(out, out_len);
		FZ_CHECK(out2_len == out_len &&
		         memcmp(out, out2, out_len) == 0);
		/* idempotent */
		rc2 = xp_domain_normalize(out, out_len, out2, &out2_len, &why2);
		if (rc2 != XP_OK)
			fprintf(stderr, "re-normalising '%s' fails: %s\n", out,
			        why2 ? why2 : "?");
		FZ_CHECK(rc2 == XP_OK);
		FZ_CHECK(out2_len == out_len);
		FZ_CHECK(memcmp(out, out2, out_len + 1) == 0);
	} else {
		FZ_CHECK(why != NULL && why[0] != '\0');
	}

	/* flip the case of every ASCII letter */
	for (i = 0; i < size; i++) {
		unsigned char c = data[i];
		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 'a' + 'A');
		else if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		flip[i] = (char)c;
	}
	rc2 = xp_domain_normalize(flip, size, out2, &out2_len, &why2);
	if (rc2 != rc)
		fprintf(stderr, "case flip changes the answer: %d -> %d (%s)\n",
		        rc, rc2, rc2 ? why2 : out2);
	FZ_CHECK(rc2 == rc);
	if (rc == XP_OK) {
		FZ_CHECK(out2_len == out_len);
		FZ_CHECK(memcmp(out, out2, out_len + 1) == 0);
	}
	free(out);
	free(out2);
	free(flip);
	return 0;
}
