/*
 * pin.c: the `pin CERT` command: the "sha256:<hex>" pin of a certificate's
 * public key, as the fingerprints key of a partner record takes it (the
 * core's error for a malformed pin points here).  Straight to the C core:
 * no Lua is involved.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xmpp_partners.h"

#define MAX_CERT_FILE ((size_t)1 << 20)

int xpt_cmd_pin(const char *path)
{
	char *data, pin[XP_PIN_STRLEN + 1];
	size_t len;
	xp_ctx *ctx;
	xp_cert *cert = NULL;
	int err, rc;

	err = xpt_read_file(path, MAX_CERT_FILE, &data, &len);
	if (err != 0) {
		fprintf(stderr, "%s: cannot read %s: %s\n", XPT_PROGRAM, path,
		        err == EFBIG ? "larger than 1 MiB: not a certificate?"
		                     : strerror(err));
		return XPT_EXIT_FAILURE;
	}
	ctx = xp_ctx_new(NULL, NULL, NULL, NULL);
	if (ctx == NULL) {
		free(data);
		fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
		return XPT_EXIT_FAILURE;
	}
	rc = xp_cert_parse(ctx, (const unsigned char *)data, len, &cert);
	free(data);
	if (rc == XP_OK)
		rc = xp_cert_pin(cert, pin);
	if (rc == XP_OK)
		printf("%s\n", pin);
	else
		fprintf(stderr,
		        "%s: %s: %s: expected one X.509 certificate, PEM "
		        "(-----BEGIN CERTIFICATE-----) or DER\n",
		        XPT_PROGRAM, path, xp_status_text(rc));
	xp_cert_free(cert);
	xp_ctx_free(ctx);
	return rc == XP_OK
	               ? XPT_EXIT_OK
	               : (rc == XP_ENOMEM ? XPT_EXIT_FAILURE : XPT_EXIT_ERRORS);
}
