/*
 * explain.c: `explain DOMAIN`, computed once and worded once.
 *
 * xp_explain_compute asks the verdict functions (verdict.c, contact.c)
 * about a fixed set of typical stream situations and keeps the answers in
 * a plain struct; xp_explain_format words that struct.  The CLI, the
 * Prosody shell and ejabberdctl print the text as it is, so the three give
 * the same answer in the same words.  No policy is decided here: every
 * yes or no comes from a verdict function.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* ---- the situations ------------------------------------------------------ */

static const struct {
	const char *label;
	xp_stream_state state;
} situations[XP_SIT_COUNT] = {
        {"TLS, valid certificate, trusted chain",
         {1, XP_CERT_VALID, XP_CERT_VALID, 0}},
        {"TLS, valid certificate, untrusted chain, pinned key",
         {1, XP_CERT_INVALID, XP_CERT_VALID, 1}},
        {"TLS, valid certificate, untrusted chain, no pin",
         {1, XP_CERT_INVALID, XP_CERT_VALID, 0}},
        {"TLS, certificate not valid for the domain",
         {1, XP_CERT_VALID, XP_CERT_INVALID, 0}},
        {"TLS, no certificate", {1, XP_CERT_NONE, XP_CERT_NONE, 0}},
        {"plain stream (no TLS)", {0, XP_CERT_NONE, XP_CERT_NONE, 0}},
};

const char *xp_explain_situation_label(xp_explain_situation s)
{
	return (unsigned)s < XP_SIT_COUNT ? situations[s].label : NULL;
}

void xp_explain_situation_state(xp_explain_situation s, xp_stream_state *out)
{
	if (out != NULL)
		*out = situations[(unsigned)s < XP_SIT_COUNT ? s : XP_SIT_PLAIN]
		               .state;
}

/* Dialback and stanzas are judged on a TLS stream (a trusted one) and on a
 * plain one. */
static const xp_stream_state *two_streams[2] = {
        &situations[XP_SIT_TRUSTED].state, &situations[XP_SIT_PLAIN].state};
static const char *const two_labels[2] = {"on a TLS stream",
                                          "on a plain stream"};

static const struct {
	const char *label;
	int in_roster, subscribed_from, blocked;
} subscribe_cases[XP_EXPLAIN_SUBSCRIBE_COUNT] = {
        {"from a user not in the local user's roster", 0, 0, 0},
        {"from a user in the roster (any state, pre-approved)", 1, 0, 0},
        {"from a user already subscribed (from/both)", 1, 1, 0},
        {"from a user the local user blocks (XEP-0191)", 0, 0, 1},
};
static const char *const message_labels[XP_EXPLAIN_MESSAGE_COUNT] = {
        "from a user not in the roster", "from a user in the roster"};

/* ---- computing ----------------------------------------------------------- */

typedef int (*stream_fn)(const xp_partner *p, xp_direction d,
                         const xp_stream_state *s, xp_reason *reason);

static xp_explain_answer ask(stream_fn fn, const xp_partner *p, xp_direction d,
                             const xp_stream_state *s)
{
	xp_explain_answer a;

	a.reason = XP_R_NONE;
	a.ok = fn(p, d, s, &a.reason) ? 1 : 0;
	if (a.ok)
		a.reason = XP_R_NONE;
	return a;
}

static xp_explain_answer ask_auth(const xp_partner *p, xp_direction d,
                                  xp_method m, const xp_stream_state *s)
{
	xp_explain_answer a;

	a.reason = XP_R_NONE;
	a.ok = xp_verdict_auth(p, d, m, s, &a.reason) ? 1 : 0;
	if (a.ok)
		a.reason = XP_R_NONE;
	return a;
}

static void compute_direction(const xp_partner *p, xp_direction d,
                              xp_explain_direction *o)
{
	size_t i;

	o->direction = d;
	o->tls = xp_verdict_tls(p, d);
	for (i = 0; i < XP_SIT_COUNT; i++)
		o->sasl_external[i] = ask(xp_verdict_sasl_external, p, d,
		                          &situations[i].state);
	for (i = 0; i < 2; i++) {
		o->dialback[i] = ask(xp_verdict_dialback, p, d, two_streams[i]);
		o->stanzas[i] = ask(xp_verdict_stanzas, p, d, two_streams[i]);
	}
	for (i = 0; i < XP_SIT_PLAIN; i++)
		o->auth[XP_EXPLAIN_AUTH_SASL + i] = ask_auth(
		        p, d, XP_METHOD_SASL_TLS, &situations[i].state);
	o->auth[XP_EXPLAIN_AUTH_DIALBACK_TLS] =
	        ask_auth(p, d, XP_METHOD_DIALBACK_TLS, two_streams[0]);
	o->auth[XP_EXPLAIN_AUTH_DIALBACK_TCP] =
	        ask_auth(p, d, XP_METHOD_DIALBACK_TCP, two_streams[1]);
}

static xp_explain_answer ask_connection(const xp_table *t, const xp_partner *p,
                                        unsigned mine, unsigned all)
{
	xp_explain_answer a;

	a.reason = XP_R_NONE;
	a.ok = xp_verdict_connection(t, p, mine, all, &a.reason) ? 1 : 0;
	if (a.ok)
		a.reason = XP_R_NONE;
	return a;
}

int xp_explain_compute(const xp_table *t, const char *domain, size_t len,
                       xp_explain *out, const char **why)
{
	const xp_partner *p;
	xp_reason reason = XP_R_NONE;
	size_t n, i;

	if (t == NULL || domain == NULL || out == NULL) {
		if (why != NULL)
			*why = "no table or no domain";
		return XP_EINVAL;
	}
	memset(out, 0, sizeof(*out));
	if (xp_domain_normalize(domain, len, out->domain, &n, why) != XP_OK)
		return XP_EINVAL;
	out->style = t->style;
	out->default_policy = t->default_policy;
	out->connection_limit = t->connection_limit;
	p = xp_table_resolve(t, out->domain, n, &reason);
	out->partner = p;
	out->refused = p == NULL ? reason : XP_R_NONE;
	if (p != NULL) {
		out->additional =
		        !xp_partner_is_default(p) &&
		        strcmp(xp_partner_domain(p), out->domain) != 0;
		for (i = 0; i < 2; i++)
			compute_direction(p, (xp_direction)i, &out->dir[i]);
		out->at_partner_limit =
		        ask_connection(t, p, xp_partner_connection_limit(p), 0);
		out->at_global_limit =
		        ask_connection(t, p, 0, t->connection_limit);
		out->keepalive =
		        xp_partner_keepalive(p) ? t->keepalive_interval : 0;
	}
	/* The contact calls give deny, bounce and strip for p == NULL. */
	for (i = 0; i < XP_EXPLAIN_SUBSCRIBE_COUNT; i++) {
		xp_contact_state c;
		c.in_roster = subscribe_cases[i].in_roster;
		c.subscribed_from = subscribe_cases[i].subscribed_from;
		c.blocked = subscribe_cases[i].blocked;
		out->subscribe[i] = xp_contact_subscribe(p, &c);
	}
	for (i = 0; i < XP_EXPLAIN_MESSAGE_COUNT; i++) {
		xp_contact_state c = {0, 0, 0};
		c.in_roster = (int)i;
		out->message[i] = xp_contact_message(p, &c);
	}
	out->strip_status = xp_contact_strip_status(p);
	return XP_OK;
}

/* ---- wording ------------------------------------------------------------- */

/* Width of the situation column of the verdict tables. */
#define LABEL_WIDTH 56

/* "yes", or "no: " and why, in the host's words. */
static void add_verdict(xp_text *x, const xp_explain *e, xp_explain_answer a)
{
	xp_text_printf(x, "%s%s\n", a.ok ? "yes" : "no: ",
	               a.ok ? "" : xp_reason_text_host(a.reason, e->style));
}

static void add_answer(xp_text *x, const xp_explain *e, const char *label,
                       xp_explain_answer a)
{
	xp_text_printf(x, "      %-*s ", LABEL_WIDTH, label);
	add_verdict(x, e, a);
}

/* The answers, one per line, or one line when they are all the same. */
static void add_answers(xp_text *x, const xp_explain *e,
                        const xp_explain_answer *a, const char *const *labels,
                        size_t n, const char *every)
{
	size_t i;
	int same = n > 1;

	for (i = 1; i < n && same; i++)
		same = a[i].ok == a[0].ok &&
		       (a[i].ok || a[i].reason == a[0].reason);
	if (same) {
		add_answer(x, e, every, a[0]);
		return;
	}
	for (i = 0; i < n; i++)
		add_answer(x, e, labels[i], a[i]);
}

static const char *tls_words(xp_tls_action a, xp_direction d)
{
	int out = d == XP_OUTGOING;

	switch (a) {
	case XP_TLS_REQUIRE:
		return out ? "required: the stream is closed rather than "
		             "continue in the clear"
		           : "offered as required (<starttls><required/>); "
		             "a stream that authenticates or sends stanzas "
		             "before TLS is closed (policy-violation)";
	case XP_TLS_OFFER:
		return out ? "used when the partner offers it"
		           : "offered (not required)";
	case XP_TLS_WITHHOLD:
	default:
		return out ? "never started"
		           : "withheld: not offered, and <starttls/> is "
		             "answered with <failure/>";
	}
}

static const char *method_words(xp_method m)
{
	switch (m) {
	case XP_METHOD_SASL_TLS:
		return "SASL EXTERNAL over TLS";
	case XP_METHOD_DIALBACK_TLS:
		return "dialback on a TLS stream";
	case XP_METHOD_DIALBACK_TCP:
	default:
		return "dialback on a plain stream";
	}
}

static const char *subscribe_words(xp_subscribe_action a)
{
	switch (a) {
	case XP_SUBSCRIBE_AUTO_APPROVE:
		return "approved automatically (answered with subscribed)";
	case XP_SUBSCRIBE_DELIVER:
		return "handled as usual (the user decides; a block applies)";
	case XP_SUBSCRIBE_DENY:
	default:
		return "refused: answered with unsubscribed, nothing is stored";
	}
}

static void format_record(xp_text *x, const xp_explain *e)
{
	const xp_partner *p = e->partner;
	const xp_matrix_row *row = xp_partner_row(p);
	const char *desc = xp_partner_description(p);
	char opt[96];
	size_t i, n;
	unsigned m;

	if (xp_partner_is_default(p))
		xp_text_printf(x,
		               "  partner        none: %s is not listed, and "
		               "%s lets it federate with the built-in default "
		               "record\n",
		               e->domain,
		               xp_option_setting(e->style, "default", "allow",
		                                 opt, sizeof(opt)));
	else
		xp_text_printf(x, "  partner        %s (%s)\n",
		               xp_partner_domain(p),
		               e->additional ? "the domain is one of its "
		                               "additional_domains"
		                             : "its primary domain");
	if (desc != NULL && desc[0] != '\0') {
		xp_text_printf(x, "  description    ");
		xp_text_one_line(x, desc);
		xp_text_printf(x, "\n");
	}
	xp_text_printf(x, "  type           %s\n",
	               xp_partner_type_name(xp_partner_get_type(p)));
	xp_text_printf(x,
	               "  negotiation    tls = \"%s\", sasl = \"%s\", "
	               "dialback = %s: matrix row %d (%s)%s%s\n",
	               xp_tls_name(xp_partner_tls(p)),
	               xp_sasl_name(xp_partner_sasl(p)),
	               xp_partner_dialback(p) ? "true" : "false", row->row,
	               xp_verdict_name(row->verdict),
	               row->reason[0] != '\0' ? ": " : "", row->reason);
	xp_text_printf(x, "  methods        ");
	for (m = 1, n = 0; m <= XP_METHOD_DIALBACK_TCP; m <<= 1)
		if (row->methods & m)
			xp_text_printf(x, "%s%s (%s)", n++ ? ", " : "",
			               xp_method_name((xp_method)m),
			               method_words((xp_method)m));
	xp_text_printf(x, "%s\n", n ? "" : "none");
	xp_text_printf(x, "  other domains  ");
	n = xp_partner_additional_count(p);
	for (i = 0; i < n; i++)
		xp_text_printf(x, "%s%s", i ? ", " : "",
		               xp_partner_additional(p, i));
	xp_text_printf(x, "%s\n", n ? "" : "none");
	xp_text_printf(x, "  pinned keys    ");
	n = xp_partner_fingerprint_count(p);
	for (i = 0; i < n; i++)
		xp_text_printf(x, "%s%s", i ? ", " : "",
		               xp_partner_fingerprint(p, i));
	xp_text_printf(x, "%s\n", n ? "" : "none");
}

static void format_direction(xp_text *x, const xp_explain *e, xp_direction d)
{
	const xp_explain_direction *o = &e->dir[d];
	const char *labels[XP_SIT_COUNT];
	char auth_labels[XP_SIT_PLAIN][96];
	const char *auth_ptrs[XP_SIT_PLAIN];
	size_t i;
	int out = d == XP_OUTGOING;

	if (out) {
		unsigned port;
		const char *proxy = xp_partner_proxy(e->partner, &port);
		xp_text_printf(x, "\nOutgoing streams (we connect to %s)\n",
		               e->domain);
		if (proxy == NULL)
			xp_text_printf(x,
			               "  connect to     the servers DNS gives "
			               "for the domain (no proxy is set)\n");
		else
			xp_text_printf(x,
			               "  connect to     %s port %u (proxy), "
			               "instead of the servers found in DNS\n",
			               proxy, port);
	} else {
		xp_text_printf(x,
		               "\nIncoming streams (a server of %s connects "
		               "to us)\n",
		               e->domain);
	}
	xp_text_printf(x, "  STARTTLS       %s\n", tls_words(o->tls, d));
	xp_text_printf(x,
	               "  SASL EXTERNAL  %s when the partner's certificate "
	               "is:\n",
	               out ? "tried" : "offered");
	for (i = 0; i < XP_SIT_COUNT; i++)
		labels[i] = situations[i].label;
	add_answers(x, e, o->sasl_external, labels, XP_SIT_COUNT,
	            "in every situation");
	xp_text_printf(x, "  dialback       %s:\n",
	               out ? "started" : "advertised");
	add_answers(x, e, o->dialback, two_labels, 2, "in every situation");
	xp_text_printf(x, "  the partner is authenticated by:\n");
	for (i = 0; i < XP_SIT_PLAIN; i++) {
		/* "sasl_tls, valid certificate, ...": the label without
		 * its "TLS, " */
		snprintf(auth_labels[i], sizeof(auth_labels[i]), "sasl_tls, %s",
		         situations[i].label + 5);
		auth_ptrs[i] = auth_labels[i];
	}
	add_answers(x, e, &o->auth[XP_EXPLAIN_AUTH_SASL], auth_ptrs,
	            XP_SIT_PLAIN, "sasl_tls, in every situation");
	add_answer(x, e, "dialback_tls, on a TLS stream",
	           o->auth[XP_EXPLAIN_AUTH_DIALBACK_TLS]);
	add_answer(x, e, "dialback_tcp, on a plain stream",
	           o->auth[XP_EXPLAIN_AUTH_DIALBACK_TCP]);
	xp_text_printf(x, "  stanzas flow:\n");
	add_answers(x, e, o->stanzas, two_labels, 2, "in every situation");
}

static void format_limits(xp_text *x, const xp_explain *e)
{
	unsigned mine = xp_partner_connection_limit(e->partner);

	xp_text_printf(x, "\nLimits\n");
	xp_text_printf(x,
	               "  connections    at most %u with this partner and %u "
	               "with all partners together\n",
	               mine, e->connection_limit);
	xp_text_printf(x,
	               "      with %u open to this partner, one more: ", mine);
	add_verdict(x, e, e->at_partner_limit);
	xp_text_printf(x, "      with %u open to all partners, one more: ",
	               e->connection_limit);
	add_verdict(x, e, e->at_global_limit);
	if (e->keepalive)
		xp_text_printf(x,
		               "  keepalive      a whitespace keepalive after "
		               "%u s of idle time\n",
		               e->keepalive);
	else
		xp_text_printf(x, "  keepalive      none: idle streams get no "
		                  "whitespace keepalive\n");
}

static void format_contacts(xp_text *x, const xp_explain *e)
{
	size_t i;

	xp_text_printf(x, "\nContact policy (for local users)\n");
	xp_text_printf(x, "  subscription requests:\n");
	for (i = 0; i < XP_EXPLAIN_SUBSCRIBE_COUNT; i++)
		xp_text_printf(x, "      %-52s %s\n", subscribe_cases[i].label,
		               subscribe_words(e->subscribe[i]));
	xp_text_printf(x, "  messages:\n");
	for (i = 0; i < XP_EXPLAIN_MESSAGE_COUNT; i++)
		xp_text_printf(x, "      %-52s %s\n", message_labels[i],
		               e->message[i] == XP_MESSAGE_DELIVER
		                       ? "delivered"
		                       : "bounced with service-unavailable");
	xp_text_printf(x,
	               "  presence sent to its users: the <status/> text is "
	               "%s\n",
	               e->strip_status ? "removed" : "sent");
}

static void format_refused(xp_text *x, const xp_explain *e)
{
	char opt[96], line[512];
	size_t d;

	xp_text_printf(x, "%s\n  refused: %s", e->domain,
	               xp_reason_text_host(e->refused, e->style));
	if (e->refused == XP_R_NOT_PARTNER)
		xp_text_printf(
		        x, " (no partner lists it, and %s)",
		        xp_option_setting(e->style, "default",
		                          e->default_policy == XP_DEFAULT_ALLOW
		                                  ? "allow"
		                                  : "deny",
		                          opt, sizeof(opt)));
	xp_text_printf(x, "\n");
	for (d = 0; d < 2; d++) {
		xp_format_refusal_host(line, sizeof(line), (xp_direction)d,
		                       e->domain, e->refused, e->style);
		xp_text_printf(x, "  %s: %s; %s\n",
		               xp_direction_name((xp_direction)d), line,
		               d == 0 ? "the stream is closed"
		                      : "no connection is made");
	}
	format_contacts(x, e);
}

int xp_explain_format(xp_ctx *ctx, const xp_explain *e, xp_text **out)
{
	xp_text *x;

	if (ctx == NULL || e == NULL || out == NULL ||
	    (e->partner == NULL && e->refused == XP_R_NONE))
		return XP_EINVAL;
	x = xp_text_new(ctx);
	if (x == NULL)
		return XP_ENOMEM;
	if (e->partner == NULL) {
		format_refused(x, e);
	} else {
		xp_text_printf(x, "%s\n", e->domain);
		format_record(x, e);
		format_direction(x, e, XP_INCOMING);
		format_direction(x, e, XP_OUTGOING);
		format_limits(x, e);
		format_contacts(x, e);
	}
	if (xp_text_failed(x)) {
		xp_text_free(x);
		return XP_ENOMEM;
	}
	*out = x;
	return XP_OK;
}

int xp_explain_text(xp_ctx *ctx, const xp_table *t, const char *domain,
                    size_t len, xp_text **out, const char **why)
{
	xp_explain e;
	int rc = xp_explain_compute(t, domain, len, &e, why);

	if (rc != XP_OK)
		return rc;
	return xp_explain_format(ctx, &e, out);
}
