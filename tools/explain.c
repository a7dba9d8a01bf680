/*
 * explain.c: the `explain FILE DOMAIN` command: which partner a domain maps
 * to and what will be offered, accepted and enforced on its streams in each
 * direction, and what its users may do to local contact lists.
 *
 * Every statement comes from a verdict function of the core (xp_verdict_tls,
 * xp_verdict_sasl_external, xp_verdict_dialback, xp_verdict_auth,
 * xp_verdict_stanzas, xp_verdict_connection, xp_contact_subscribe, ...),
 * asked about a set of typical stream states; this file only words the
 * answers.  No policy is decided here.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A stream as the verdict functions see it. */
typedef struct stream {
	const char *label;
	int encrypted;
	const char *chain;    /* "valid", "invalid" or NULL */
	const char *identity; /* likewise */
	int pin;
} stream;

/* The partner's certificate in the usual situations. */
static const stream tls_streams[] = {
        {"TLS, valid certificate, trusted chain", 1, "valid", "valid", 0},
        {"TLS, valid certificate, untrusted chain, pinned key", 1, "invalid",
         "valid", 1},
        {"TLS, valid certificate, untrusted chain, no pin", 1, "invalid",
         "valid", 0},
        {"TLS, certificate not valid for the domain", 1, "valid", "invalid", 0},
        {"TLS, no certificate", 1, NULL, NULL, 0},
        {"plain stream (no TLS)", 0, NULL, NULL, 0},
};
#define N_TLS_STREAMS (sizeof(tls_streams) / sizeof(tls_streams[0]))

static const stream plain_streams[] = {
        {"on a TLS stream", 1, "valid", "valid", 0},
        {"on a plain stream", 0, NULL, NULL, 0},
};

typedef struct explain_ctx {
	xpt_file *f;
	const char *domain;
	const xp_table *t;
	const xp_partner *p; /* what the domain resolves to */
} explain_ctx;

static const char *const directions[] = {"incoming", "outgoing"};

/* Width of the situation column of the verdict tables. */
#define LABEL_WIDTH 56

/* ---- asking the core -------------------------------------------------- */

static xp_cert_status cert_status(const char *s)
{
	if (s == NULL)
		return XP_CERT_NONE;
	return strcmp(s, "valid") == 0 ? XP_CERT_VALID : XP_CERT_INVALID;
}

static xp_stream_state stream_state(const stream *s)
{
	xp_stream_state st;

	st.encrypted = s->encrypted;
	st.chain = cert_status(s->chain);
	st.identity = cert_status(s->identity);
	st.pin_match = s->pin;
	return st;
}

/* Print "yes" or "no: <text>" for a verdict. */
static void print_verdict(int ok, xp_reason reason)
{
	if (ok)
		printf("yes\n");
	else
		printf("no: %s\n", xp_reason_text(reason));
}

/* One situation and the verdict for it. */
typedef struct answer {
	char label[96];
	int ok;
	const char *why; /* the core's reason text (static) */
} answer;

#define MAX_ANSWERS 8

/* The answers, one per line, or one line when they are all the same. */
static void print_answers(const answer *a, size_t n, const char *every)
{
	size_t i;
	int same = n > 1;

	for (i = 1; i < n && same; i++)
		same = a[i].ok == a[0].ok &&
		       (a[i].ok || (a[i].why != NULL && a[0].why != NULL &&
		                    strcmp(a[i].why, a[0].why) == 0));
	for (i = 0; i < (same ? 1 : n); i++) {
		printf("      %-*s ", LABEL_WIDTH, same ? every : a[i].label);
		if (a[i].ok)
			printf("yes\n");
		else
			printf("no: %s\n", a[i].why ? a[i].why : "?");
	}
}

typedef int (*stream_verdict_fn)(const xp_partner *, xp_direction,
                                 const xp_stream_state *, xp_reason *);

/* A stream verdict for each stream. */
static void stream_table(explain_ctx *c, stream_verdict_fn verdict,
                         xp_direction d, const stream *streams, size_t n)
{
	answer a[MAX_ANSWERS];
	size_t i;

	for (i = 0; i < n && i < MAX_ANSWERS; i++) {
		xp_stream_state st = stream_state(&streams[i]);
		xp_reason reason = XP_R_NONE;
		snprintf(a[i].label, sizeof(a[i].label), "%s",
		         streams[i].label);
		a[i].ok = verdict(c->p, d, &st, &reason);
		a[i].why = a[i].ok ? NULL : xp_reason_text(reason);
	}
	print_answers(a, i, "in every situation");
}

/* ---- the record ---------------------------------------------------------- */

static void print_list(size_t n, const char *(*get)(const xp_partner *, size_t),
                       const xp_partner *p, const char *none)
{
	size_t i;

	if (n == 0)
		printf("%s", none);
	for (i = 0; i < n; i++)
		printf("%s%s", i > 0 ? ", " : "", get(p, i));
	printf("\n");
}

static const char *method_words(const char *m)
{
	if (strcmp(m, "sasl_tls") == 0)
		return "SASL EXTERNAL over TLS";
	if (strcmp(m, "dialback_tls") == 0)
		return "dialback on a TLS stream";
	if (strcmp(m, "dialback_tcp") == 0)
		return "dialback on a plain stream";
	return m;
}

static void print_methods(const xp_matrix_row *row)
{
	static const xp_method all[] = {XP_METHOD_SASL_TLS,
	                                XP_METHOD_DIALBACK_TLS,
	                                XP_METHOD_DIALBACK_TCP};
	size_t i, k = 0;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *m;
		if (row == NULL || !(row->methods & (unsigned)all[i]))
			continue;
		m = xp_method_name(all[i]);
		printf("%s%s (%s)", k++ > 0 ? ", " : "", m, method_words(m));
	}
	if (k == 0)
		printf("none");
	printf("\n");
}

/* The domain as the core normalises it; 0 when it is not valid. */
static int normalized(const char *in, char *out)
{
	size_t len = 0;

	if (xp_domain_normalize(in, strlen(in), out, &len, NULL) != XP_OK)
		return 0;
	out[len] = '\0';
	return 1;
}

/* How the asked domain relates to the partner found. */
static void print_mapping(explain_ctx *c)
{
	const char *primary = xp_partner_domain(c->p);
	char a[XP_DOMAIN_MAX + 1], b[XP_DOMAIN_MAX + 1];
	int same = normalized(c->domain, a) && normalized(primary, b) &&
	           strcmp(a, b) == 0;

	printf("  partner        %s (%s)\n", primary,
	       same ? "its primary domain"
	            : "the domain is one of its additional_domains");
}

static void print_record(explain_ctx *c)
{
	const xp_partner *p = c->p;
	const char *desc = xp_partner_description(p);
	const xp_matrix_row *row = xp_partner_row(p);
	const char *reason =
	        row != NULL && row->reason != NULL && row->reason[0] != '\0'
	                ? row->reason
	                : NULL;

	if (xp_partner_is_default(p))
		printf("  partner        none: %s is not listed, and "
		       "xmpp_partners_default = \"allow\" lets it federate "
		       "with the built-in default record\n",
		       c->domain);
	else
		print_mapping(c);
	if (desc != NULL && desc[0] != '\0') {
		char one[1024];
		printf("  description    %s\n",
		       xpt_one_line(desc, one, sizeof(one)));
	}
	printf("  type           %s\n",
	       xp_partner_type_name(xp_partner_get_type(p)));
	printf("  negotiation    tls = \"%s\", sasl = \"%s\", dialback = %s: "
	       "matrix row %d (%s)%s%s\n",
	       xp_tls_name(xp_partner_tls(p)), xp_sasl_name(xp_partner_sasl(p)),
	       xp_partner_dialback(p) ? "true" : "false",
	       row != NULL ? row->row : 0,
	       row != NULL ? xp_verdict_name(row->verdict) : "?",
	       reason != NULL ? ": " : "", reason != NULL ? reason : "");
	printf("  methods        ");
	print_methods(row);
	printf("  other domains  ");
	print_list(xp_partner_additional_count(p), xp_partner_additional, p,
	           "none");
	printf("  pinned keys    ");
	print_list(xp_partner_fingerprint_count(p), xp_partner_fingerprint, p,
	           "none");
}

/* ---- directions ---------------------------------------------------------- */

static const char *tls_words(xp_tls_action action, int outgoing)
{
	if (action == XP_TLS_REQUIRE)
		return outgoing
		               ? "required: the stream is closed rather than "
		                 "continue in the clear"
		               : "offered as required (<starttls><required/>); "
		                 "a stream that authenticates or sends stanzas "
		                 "before TLS is closed (policy-violation)";
	if (action == XP_TLS_OFFER)
		return outgoing ? "used when the partner offers it"
		                : "offered (not required)";
	return outgoing ? "never started"
	                : "withheld: not offered, and <starttls/> is answered "
	                  "with <failure/>";
}

static void print_direction(explain_ctx *c, int outgoing)
{
	xp_direction d = outgoing ? XP_OUTGOING : XP_INCOMING;
	static const xp_method methods[] = {XP_METHOD_SASL_TLS,
	                                    XP_METHOD_DIALBACK_TLS,
	                                    XP_METHOD_DIALBACK_TCP};
	size_t i;

	if (outgoing)
		printf("\nOutgoing streams (we connect to %s)\n", c->domain);
	else
		printf("\nIncoming streams (a server of %s connects to us)\n",
		       c->domain);
	if (outgoing) {
		unsigned port = 0;
		const char *host = xp_partner_proxy(c->p, &port);
		size_t len = host != NULL ? strlen(host) : 0;
		if (host == NULL)
			printf("  connect to     the servers DNS gives for the "
			       "domain (no proxy is set)\n");
		else if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
			/* an IPv6 literal, shown without its brackets */
			printf("  connect to     %.*s port %d (proxy), instead "
			       "of the servers found in DNS\n",
			       (int)(len - 2), host + 1, (int)port);
		else
			printf("  connect to     %s port %d (proxy), instead "
			       "of the servers found in DNS\n",
			       host, (int)port);
	}
	printf("  STARTTLS       %s\n",
	       tls_words(xp_verdict_tls(c->p, d), outgoing));

	printf("  SASL EXTERNAL  %s when the partner's certificate is:\n",
	       outgoing ? "tried" : "offered");
	stream_table(c, xp_verdict_sasl_external, d, tls_streams,
	             N_TLS_STREAMS);
	printf("  dialback       %s:\n", outgoing ? "started" : "advertised");
	stream_table(c, xp_verdict_dialback, d, plain_streams, 2);

	printf("  the partner is authenticated by:\n");
	for (i = 0; i < 3; i++) {
		const stream *list = i == 0   ? tls_streams
		                     : i == 1 ? &plain_streams[0]
		                              : &plain_streams[1];
		size_t n = i == 0 ? N_TLS_STREAMS - 1 : 1, k;
		answer a[MAX_ANSWERS];
		for (k = 0; k < n; k++) {
			xp_stream_state st = stream_state(&list[k]);
			xp_reason reason = XP_R_NONE;
			snprintf(a[k].label, sizeof(a[k].label), "%s, %s",
			         xp_method_name(methods[i]),
			         i == 0 ? list[k].label + 5 : list[k].label);
			a[k].ok = xp_verdict_auth(c->p, d, methods[i], &st,
			                          &reason);
			a[k].why = a[k].ok ? NULL : xp_reason_text(reason);
		}
		print_answers(a, n, "sasl_tls, in every situation");
	}
	printf("  stanzas flow:\n");
	stream_table(c, xp_verdict_stanzas, d, plain_streams, 2);
}

/* ---- limits and contact policy ------------------------------------------- */

static void print_limits(explain_ctx *c)
{
	unsigned mine = xp_partner_connection_limit(c->p);
	unsigned all = xp_table_connection_limit(c->t);
	xp_reason reason = XP_R_NONE;
	int ok;

	printf("\nLimits\n");
	printf("  connections    at most %d with this partner and %d with "
	       "all partners together\n",
	       (int)mine, (int)all);
	ok = xp_verdict_connection(c->t, c->p, mine, 0, &reason);
	printf("      with %d open to this partner, one more: ", (int)mine);
	print_verdict(ok, reason);
	reason = XP_R_NONE;
	ok = xp_verdict_connection(c->t, c->p, 0, all, &reason);
	printf("      with %d open to all partners, one more: ", (int)all);
	print_verdict(ok, reason);
	if (xp_partner_keepalive(c->p))
		printf("  keepalive      a whitespace keepalive after %d s of "
		       "idle time\n",
		       (int)xp_table_keepalive_interval(c->t));
	else
		printf("  keepalive      none: idle streams get no whitespace "
		       "keepalive\n");
}

static const char *subscribe_words(xp_subscribe_action action)
{
	if (action == XP_SUBSCRIBE_AUTO_APPROVE)
		return "approved automatically (answered with subscribed)";
	if (action == XP_SUBSCRIBE_DELIVER)
		return "handled as usual (the user decides; a block applies)";
	return "refused: answered with unsubscribed, nothing is stored";
}

static const char *message_words(xp_message_action action)
{
	return action == XP_MESSAGE_DELIVER
	               ? "delivered"
	               : "bounced with service-unavailable";
}

/* p is NULL for a refused domain: the core then denies, bounces, strips. */
static void print_contacts(const xp_partner *p)
{
	static const struct {
		const char *label;
		int in_roster, subscribed_from, blocked;
	} subs[] = {
	        {"from a user not in the local user's roster", 0, 0, 0},
	        {"from a user in the roster (any state, pre-approved)", 1, 0,
	         0},
	        {"from a user already subscribed (from/both)", 1, 1, 0},
	        {"from a user the local user blocks (XEP-0191)", 0, 0, 1},
	};
	size_t i;

	printf("\nContact policy (for local users)\n");
	printf("  subscription requests:\n");
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		xp_contact_state cs;
		cs.in_roster = subs[i].in_roster;
		cs.subscribed_from = subs[i].subscribed_from;
		cs.blocked = subs[i].blocked;
		printf("      %-52s %s\n", subs[i].label,
		       subscribe_words(xp_contact_subscribe(p, &cs)));
	}
	printf("  messages:\n");
	for (i = 0; i < 2; i++) {
		xp_contact_state cs;
		cs.in_roster = (int)i;
		cs.subscribed_from = 0;
		cs.blocked = 0;
		printf("      %-52s %s\n",
		       i ? "from a user in the roster"
		         : "from a user not in the roster",
		       message_words(xp_contact_message(p, &cs)));
	}
	printf("  presence sent to its users: the <status/> text is %s\n",
	       xp_contact_strip_status(p) ? "removed" : "sent");
}

/* ---- refused domains ----------------------------------------------------- */

static int print_refused(explain_ctx *c, xp_reason reason)
{
	int d;

	printf("%s\n  refused: %s", c->domain, xp_reason_text(reason));
	if (reason == XP_R_NOT_PARTNER)
		printf(" (no partner lists it, and xmpp_partners_default = "
		       "\"%s\")",
		       xp_table_default_policy(c->t) == XP_DEFAULT_ALLOW
		               ? "allow"
		               : "deny");
	printf("\n");
	for (d = 0; d < 2; d++) {
		size_t n = xp_format_refusal(NULL, 0, (xp_direction)d,
		                             c->domain, reason);
		char *line = malloc(n + 1);
		if (line == NULL) {
			fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
			return XPT_EXIT_FAILURE;
		}
		xp_format_refusal(line, n + 1, (xp_direction)d, c->domain,
		                  reason);
		printf("  %s: %s; %s\n", directions[d], line,
		       d == 0 ? "the stream is closed"
		              : "no connection is made");
		free(line);
	}
	print_contacts(NULL);
	return XPT_EXIT_OK;
}

/* ---- the command --------------------------------------------------------- */

static int explain_built(explain_ctx *c, const xpt_built *b)
{
	size_t errors = 0, warnings = 0;
	xp_reason reason = XP_R_NONE;

	if (b->table == NULL) {
		xpt_print_diags(b->builder, c->f, stdout, &errors, &warnings);
		printf("%s: %lu error%s: a server would not load this table "
		       "(on reload it keeps the policy in force; at start-up "
		       "it refuses every domain until the file is fixed), so "
		       "there is nothing to explain\n",
		       c->f->path, (unsigned long)errors,
		       errors == 1 ? "" : "s");
		return XPT_EXIT_ERRORS;
	}
	c->t = b->table;
	c->p = xp_table_resolve(c->t, c->domain, strlen(c->domain), &reason);
	if (c->p == NULL) {
		if (reason == XP_R_BAD_DOMAIN) {
			char out[XP_DOMAIN_MAX + 1];
			const char *why = NULL;
			size_t len = 0;
			xp_domain_normalize(c->domain, strlen(c->domain), out,
			                    &len, &why);
			fprintf(stderr,
			        "%s: explain: '%s' is not a valid domain: %s\n",
			        XPT_PROGRAM, c->domain,
			        why != NULL ? why : "not a valid domain");
			return XPT_EXIT_FAILURE;
		}
		return print_refused(c, reason);
	}
	printf("%s\n", c->domain);
	print_record(c);
	print_direction(c, 0);
	print_direction(c, 1);
	print_limits(c);
	print_contacts(c->p);
	return XPT_EXIT_OK;
}

int xpt_cmd_explain(const char *path, const char *domain, const xpt_options *o)
{
	xpt_file f;
	xpt_built b;
	explain_ctx c;
	int rc = xpt_file_load(&f, path, o);

	if (rc != XPT_EXIT_OK) {
		xpt_file_free(&f);
		return rc;
	}
	memset(&c, 0, sizeof(c));
	c.f = &f;
	c.domain = domain;
	rc = xpt_build(&b, &f);
	if (rc == XPT_EXIT_OK)
		rc = explain_built(&c, &b);
	xpt_built_free(&b);
	xpt_file_free(&f);
	return rc;
}
