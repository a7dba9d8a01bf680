/*
 * matrix.c: the 18-row TLS x SASL x dialback negotiation matrix of SPEC
 * section 3 (shared/negotiation-matrix.tsv is normative; the unit tests read
 * that file and compare it with this table row by row, so they cannot drift).
 */
#include <string.h>

#include "internal.h"

#define S   XP_METHOD_SASL_TLS
#define DT  XP_METHOD_DIALBACK_TLS
#define DP  XP_METHOD_DIALBACK_TCP
#define RQ  XP_TLS_REQUIRED
#define OP  XP_TLS_OPTIONAL
#define NS  XP_TLS_NOT_SUPPORTED
#define SRQ XP_SASL_REQUIRED
#define SOP XP_SASL_OPTIONAL
#define SNS XP_SASL_NOT_SUPPORTED

static const char r_tls_for_sasl[] =
        "SASL requires TLS: set tls to required or optional, or set sasl to "
        "not_supported";
static const char r_no_method[] =
        "no authentication method: enable sasl or dialback";

/* In row order: row - 1 == (sasl * 3 + tls) * 2 + (dialback ? 0 : 1). */
static const xp_matrix_row rows[18] = {
        {1, RQ, SRQ, 1, XP_VERDICT_WARN, S,
         "dialback is never used: SASL EXTERNAL is mandatory when TLS and SASL "
         "are both required"},
        {2, RQ, SRQ, 0, XP_VERDICT_OK, S, ""},
        {3, OP, SRQ, 1, XP_VERDICT_WARN, S,
         "SASL requires TLS: a peer that skips TLS cannot authenticate; "
         "dialback is never used because SASL is required"},
        {4, OP, SRQ, 0, XP_VERDICT_WARN, S,
         "SASL requires TLS: a peer that skips TLS cannot authenticate"},
        {5, NS, SRQ, 1, XP_VERDICT_ERROR, 0, r_tls_for_sasl},
        {6, NS, SRQ, 0, XP_VERDICT_ERROR, 0, r_tls_for_sasl},
        {7, RQ, SOP, 1, XP_VERDICT_OK, S | DT, ""},
        {8, RQ, SOP, 0, XP_VERDICT_OK, S, ""},
        {9, OP, SOP, 1, XP_VERDICT_WARN, S | DT | DP,
         "SASL requires TLS: a peer that skips TLS can only use dialback over "
         "plain TCP"},
        {10, OP, SOP, 0, XP_VERDICT_WARN, S,
         "SASL requires TLS: a peer that skips TLS cannot authenticate"},
        {11, NS, SOP, 1, XP_VERDICT_ERROR, 0, r_tls_for_sasl},
        {12, NS, SOP, 0, XP_VERDICT_ERROR, 0, r_tls_for_sasl},
        {13, RQ, SNS, 1, XP_VERDICT_OK, DT, ""},
        {14, RQ, SNS, 0, XP_VERDICT_ERROR, 0, r_no_method},
        {15, OP, SNS, 1, XP_VERDICT_OK, DT | DP, ""},
        {16, OP, SNS, 0, XP_VERDICT_ERROR, 0, r_no_method},
        {17, NS, SNS, 1, XP_VERDICT_OK, DP, ""},
        {18, NS, SNS, 0, XP_VERDICT_ERROR, 0, r_no_method},
};

/*
 * The TSV orders rows by SASL first, then TLS (rows 1-6 are sasl=required
 * with tls required/optional/not_supported).  Compute the index accordingly.
 */
const xp_matrix_row *xp_matrix_lookup(xp_tls tls, xp_sasl sasl, int dialback)
{
	unsigned t = (unsigned)tls, s = (unsigned)sasl;

	if (t > 2 || s > 2)
		return NULL;
	return &rows[(s * 3 + t) * 2 + (dialback ? 0 : 1)];
}

const xp_matrix_row *xp_matrix_row_get(int row)
{
	if (row < 1 || row > 18)
		return NULL;
	return &rows[row - 1];
}

const char *xp_tls_name(xp_tls tls)
{
	static const char *const names[] = {"required", "optional",
	                                    "not_supported"};
	return (unsigned)tls < 3 ? names[tls] : "?";
}

const char *xp_sasl_name(xp_sasl sasl)
{
	return xp_tls_name((xp_tls)sasl);
}

const char *xp_verdict_name(xp_verdict v)
{
	static const char *const names[] = {"ok", "warn", "error"};
	return (unsigned)v < 3 ? names[v] : "?";
}

const char *xp_method_name(xp_method m)
{
	switch (m) {
	case XP_METHOD_SASL_TLS:
		return "sasl_tls";
	case XP_METHOD_DIALBACK_TLS:
		return "dialback_tls";
	case XP_METHOD_DIALBACK_TCP:
		return "dialback_tcp";
	}
	return "?";
}

unsigned xp_method_parse(const char *name, size_t len)
{
	static const xp_method all[] = {XP_METHOD_SASL_TLS,
	                                XP_METHOD_DIALBACK_TLS,
	                                XP_METHOD_DIALBACK_TCP};
	size_t i;

	if (name == NULL)
		return 0;
	for (i = 0; i < 3; i++) {
		const char *n = xp_method_name(all[i]);
		if (strlen(n) == len && memcmp(n, name, len) == 0)
			return all[i];
	}
	return 0;
}
