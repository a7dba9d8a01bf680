/*
 * names.c: parsing of the value spellings every host shares: the tls and
 * sasl levels ("required", "optional", "not_supported") and certificate
 * pins ("sha256:" and the SHA-256 of the key as hex).  The builder, the Lua
 * binding and the ejabberd NIF all parse through these, so a value one host
 * accepts is accepted by the others.
 */
#include <string.h>

#include "internal.h"

static int parse_level(const char *s, size_t len)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < 3; i++) {
		const char *n = xp_tls_name((xp_tls)i);
		if (strlen(n) == len && memcmp(n, s, len) == 0)
			return i;
	}
	return -1;
}

int xp_tls_parse(const char *s, size_t len, xp_tls *out)
{
	int v = parse_level(s, len);

	if (v < 0)
		return XP_EINVAL;
	if (out != NULL)
		*out = (xp_tls)v;
	return XP_OK;
}

int xp_sasl_parse(const char *s, size_t len, xp_sasl *out)
{
	int v = parse_level(s, len);

	if (v < 0)
		return XP_EINVAL;
	if (out != NULL)
		*out = (xp_sasl)v;
	return XP_OK;
}

int xp_pin_parse(const char *s, size_t len, unsigned char out[32])
{
	unsigned char tmp[32];

	if (s == NULL || len < 7 || memcmp(s, "sha256:", 7) != 0 ||
	    xp_hex_decode(s + 7, len - 7, tmp, sizeof(tmp)) != XP_OK)
		return XP_EINVAL;
	if (out != NULL)
		memcpy(out, tmp, sizeof(tmp));
	return XP_OK;
}
