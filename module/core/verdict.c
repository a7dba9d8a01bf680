/*
 * verdict.c: what to offer, try and accept on a stream with a partner
 * (SPEC section 3), connection limits, and the refusal texts every host logs.
 * The matrix row of the partner says which methods may succeed; the stream
 * state says which method an attempt really is and whether the certificate
 * proves the domain.
 */
#include <stdio.h>

#include "internal.h"

const char *xp_direction_name(xp_direction d)
{
	return d == XP_OUTGOING ? "outgoing" : "incoming";
}

const char *xp_tls_action_name(xp_tls_action a)
{
	switch (a) {
	case XP_TLS_WITHHOLD:
		return "withhold";
	case XP_TLS_OFFER:
		return "offer";
	case XP_TLS_REQUIRE:
		return "require";
	}
	return "?";
}

static const struct {
	const char *token, *text;
} reasons[] = {
        [XP_R_NONE] = {"none", "accepted"},
        [XP_R_NOT_PARTNER] = {"not_partner", "not a partner"},
        [XP_R_BAD_DOMAIN] = {"bad_domain", "not a valid domain"},
        [XP_R_CONFIG_INVALID] = {"config_invalid",
                                 "the partner configuration is invalid: all "
                                 "federation is refused until it is fixed"},
        [XP_R_TLS_REQUIRED] = {"tls_required",
                               "the partner requires TLS (tls = required) and "
                               "the stream is not encrypted"},
        [XP_R_TLS_NOT_SUPPORTED] = {"tls_not_supported",
                                    "TLS is not used with this partner (tls = "
                                    "not_supported)"},
        [XP_R_SASL_NOT_SUPPORTED] = {"sasl_not_supported",
                                     "SASL EXTERNAL is not used with this "
                                     "partner (sasl = not_supported)"},
        [XP_R_SASL_REQUIRED] = {"sasl_required",
                                "the partner must authenticate with SASL "
                                "EXTERNAL (sasl = required), so dialback is "
                                "refused"},
        [XP_R_DIALBACK_DISABLED] = {"dialback_disabled",
                                    "dialback is not allowed for this partner "
                                    "(dialback = false)"},
        [XP_R_CERT_UNTRUSTED] = {"cert_untrusted",
                                 "the certificate chain is not trusted and its "
                                 "key matches no pinned fingerprint"},
        [XP_R_CERT_IDENTITY] = {"cert_identity",
                                "the certificate is not valid for the domain"},
        [XP_R_NO_CERT] = {"no_cert", "no certificate was presented"},
        [XP_R_CONNECTION_LIMIT] = {"connection_limit",
                                   "the partner's connection_limit is reached"},
        [XP_R_GLOBAL_LIMIT] = {"global_connection_limit",
                               "xmpp_partners_connection_limit (all partners "
                               "together) is reached"},
        [XP_R_UNKNOWN_METHOD] = {"unknown_method",
                                 "not an authentication method this policy "
                                 "knows"},
        [XP_R_NOT_ENCRYPTED] = {"not_encrypted",
                                "SASL EXTERNAL needs TLS and the stream is not "
                                "encrypted"},
        [XP_R_PENDING_ADDRESS] = {"pending_per_address",
                                  "too many unauthenticated streams from one "
                                  "address (xmpp_partners_pending_per_address):"
                                  " the one that made least progress was "
                                  "closed"},
        [XP_R_PENDING_LIMIT] = {"pending_limit",
                                "too many unauthenticated streams in all "
                                "(xmpp_partners_pending_limit): the one that "
                                "made least progress was closed"},
        [XP_R_AUTH_TIMEOUT] = {"auth_timeout",
                               "the stream did not authenticate within "
                               "xmpp_partners_auth_timeout"},
        [XP_R_PREAUTH_BYTES] = {"preauth_bytes",
                                "the stream sent more than "
                                "xmpp_partners_preauth_bytes before "
                                "authenticating"},
        [XP_R_PREAUTH_DEPTH] = {"preauth_depth",
                                "elements nested deeper than "
                                "xmpp_partners_preauth_depth before "
                                "authenticating"},
};

#define N_REASONS (sizeof(reasons) / sizeof(reasons[0]))

/* The texts above that name a global option, as ejabberd's module options
 * are called (no xmpp_partners_ prefix): an ejabberd admin is told the
 * name to look for in ejabberd.yml.  NULL: the same text for both hosts. */
static const char *const ejabberd_texts[N_REASONS] = {
        [XP_R_GLOBAL_LIMIT] = "the module option connection_limit (all "
                              "partners together) is reached",
        [XP_R_PENDING_ADDRESS] = "too many unauthenticated streams from one "
                                 "address (pending_per_address): the one "
                                 "that made least progress was closed",
        [XP_R_PENDING_LIMIT] = "too many unauthenticated streams in all "
                               "(pending_limit): the one that made least "
                               "progress was closed",
        [XP_R_AUTH_TIMEOUT] = "the stream did not authenticate within "
                              "auth_timeout",
        [XP_R_PREAUTH_BYTES] = "the stream sent more than preauth_bytes "
                               "before authenticating",
        [XP_R_PREAUTH_DEPTH] = "elements nested deeper than preauth_depth "
                               "before authenticating",
};

const char *xp_reason_text(xp_reason r)
{
	return (unsigned)r < N_REASONS ? reasons[r].text : "unknown reason";
}

const char *xp_reason_text_host(xp_reason r, xp_host_style style)
{
	if (style == XP_HOST_EJABBERD && (unsigned)r < N_REASONS &&
	    ejabberd_texts[r] != NULL)
		return ejabberd_texts[r];
	return xp_reason_text(r);
}

const char *xp_reason_token(xp_reason r)
{
	return (unsigned)r < N_REASONS ? reasons[r].token : "unknown";
}

size_t xp_format_refusal(char *buf, size_t size, xp_direction d,
                         const char *domain, xp_reason r)
{
	return xp_format_refusal_host(buf, size, d, domain, r, XP_HOST_PROSODY);
}

size_t xp_format_refusal_host(char *buf, size_t size, xp_direction d,
                              const char *domain, xp_reason r,
                              xp_host_style style)
{
	int n = snprintf(buf, size, "refused %s s2s %s %s: %s",
	                 xp_direction_name(d), d == XP_OUTGOING ? "to" : "from",
	                 domain ? domain : "(unknown domain)",
	                 xp_reason_text_host(r, style));
	return n < 0 ? 0 : (size_t)n;
}

int xp_reason_is_final(xp_reason r)
{
	switch (r) {
	case XP_R_NOT_PARTNER:
	case XP_R_BAD_DOMAIN:
	case XP_R_TLS_REQUIRED:
	case XP_R_TLS_NOT_SUPPORTED:
	case XP_R_SASL_NOT_SUPPORTED:
	case XP_R_SASL_REQUIRED:
	case XP_R_DIALBACK_DISABLED:
	case XP_R_CERT_UNTRUSTED:
	case XP_R_CERT_IDENTITY:
	case XP_R_NO_CERT:
	case XP_R_UNKNOWN_METHOD:
	case XP_R_NOT_ENCRYPTED:
		return 1;
	case XP_R_NONE:
	case XP_R_CONFIG_INVALID:   /* ends with a reload, not a window */
	case XP_R_CONNECTION_LIMIT: /* ends when a stream closes */
	case XP_R_GLOBAL_LIMIT:
	case XP_R_PENDING_ADDRESS: /* bounds on unauthenticated streams: */
	case XP_R_PENDING_LIMIT:   /* they say how a stream went, not who */
	case XP_R_AUTH_TIMEOUT:    /* may federate */
	case XP_R_PREAUTH_BYTES:
	case XP_R_PREAUTH_DEPTH:
		return 0;
	}
	return 0;
}

/* The first window is short, so that a peer whose admin fixes its own side
 * (a new certificate, TLS switched on) gets through soon; each window that
 * ends in the same refusal doubles the next, up to max. */
#define XP_BACKOFF_FIRST 10u

unsigned xp_backoff_next(unsigned previous, unsigned max)
{
	unsigned next;

	if (max == 0)
		return 0;
	if (previous == 0)
		next = XP_BACKOFF_FIRST;
	else
		next = previous > max / 2 ? max : previous * 2;
	return next > max ? max : next;
}

size_t xp_format_refusal_summary(char *buf, size_t size, xp_direction d,
                                 const char *domain, unsigned long count,
                                 unsigned seconds, xp_reason r)
{
	return xp_format_refusal_summary_host(buf, size, d, domain, count,
	                                      seconds, r, XP_HOST_PROSODY);
}

size_t xp_format_refusal_summary_host(char *buf, size_t size, xp_direction d,
                                      const char *domain, unsigned long count,
                                      unsigned seconds, xp_reason r,
                                      xp_host_style style)
{
	int n = snprintf(buf, size,
	                 "refused %s s2s %s %s %lu more time%s in the last %u "
	                 "s: %s",
	                 xp_direction_name(d), d == XP_OUTGOING ? "to" : "from",
	                 domain ? domain : "(unknown domain)", count,
	                 count == 1 ? "" : "s", seconds,
	                 xp_reason_text_host(r, style));
	return n < 0 ? 0 : (size_t)n;
}

static int refuse(xp_reason *reason, xp_reason r)
{
	if (reason != NULL)
		*reason = r;
	return 0;
}

static int accept_(xp_reason *reason)
{
	if (reason != NULL)
		*reason = XP_R_NONE;
	return 1;
}

xp_tls_action xp_verdict_tls(const xp_partner *p, xp_direction d)
{
	(void)d; /* the same rule holds both ways (SPEC section 3) */
	if (p == NULL)
		return XP_TLS_WITHHOLD;
	switch ((xp_tls)p->tls) {
	case XP_TLS_REQUIRED:
		return XP_TLS_REQUIRE;
	case XP_TLS_OPTIONAL:
		return XP_TLS_OFFER;
	case XP_TLS_NOT_SUPPORTED:
		break;
	}
	return XP_TLS_WITHHOLD;
}

/* Does the peer's certificate prove the domain?  The identity must match;
 * trust comes from the host's CAs or from a key the partner pinned. */
static int cert_proves(const xp_stream_state *s, xp_reason *reason)
{
	if (s->identity == XP_CERT_NONE)
		return refuse(reason, XP_R_NO_CERT);
	if (s->identity != XP_CERT_VALID)
		return refuse(reason, XP_R_CERT_IDENTITY);
	if (s->chain != XP_CERT_VALID && !s->pin_match)
		return refuse(reason, XP_R_CERT_UNTRUSTED);
	return accept_(reason);
}

int xp_verdict_sasl_external(const xp_partner *p, xp_direction d,
                             const xp_stream_state *s, xp_reason *reason)
{
	if (p == NULL)
		return refuse(reason, XP_R_NOT_PARTNER);
	if (s == NULL)
		return refuse(reason, XP_R_NO_CERT);
	if (!(p->row->methods & XP_METHOD_SASL_TLS))
		return refuse(reason, XP_R_SASL_NOT_SUPPORTED);
	if (!s->encrypted)
		return refuse(reason, XP_R_NOT_ENCRYPTED);
	/* Both ways EXTERNAL must end in an authentication we accept:
	 * incoming, the peer's certificate must prove its domain before we
	 * offer; outgoing, the peer's (server) certificate must prove its
	 * domain too, or a successful EXTERNAL would leave us talking to an
	 * unproven server with no dialback fallback left. */
	(void)d;
	return cert_proves(s, reason);
}

/* Which reason refuses dialback for this partner on this stream. */
static xp_reason dialback_refusal(const xp_partner *p, int encrypted)
{
	if (!p->dialback)
		return XP_R_DIALBACK_DISABLED;
	if (p->sasl == XP_SASL_REQUIRED)
		return XP_R_SASL_REQUIRED;
	return encrypted ? XP_R_TLS_NOT_SUPPORTED : XP_R_TLS_REQUIRED;
}

int xp_verdict_dialback(const xp_partner *p, xp_direction d,
                        const xp_stream_state *s, xp_reason *reason)
{
	int encrypted = s != NULL && s->encrypted;
	unsigned m =
	        encrypted ? XP_METHOD_DIALBACK_TLS : XP_METHOD_DIALBACK_TCP;

	(void)d;
	if (p == NULL)
		return refuse(reason, XP_R_NOT_PARTNER);
	if (!(p->row->methods & m))
		return refuse(reason, dialback_refusal(p, encrypted));
	return accept_(reason);
}

int xp_verdict_stanzas(const xp_partner *p, xp_direction d,
                       const xp_stream_state *s, xp_reason *reason)
{
	(void)d;
	if (p == NULL)
		return refuse(reason, XP_R_NOT_PARTNER);
	if (p->tls == XP_TLS_REQUIRED && (s == NULL || !s->encrypted))
		return refuse(reason, XP_R_TLS_REQUIRED);
	return accept_(reason);
}

int xp_verdict_auth(const xp_partner *p, xp_direction d, xp_method m,
                    const xp_stream_state *s, xp_reason *reason)
{
	int encrypted = s != NULL && s->encrypted;

	(void)d;
	if (p == NULL)
		return refuse(reason, XP_R_NOT_PARTNER);
	switch (m) {
	case XP_METHOD_SASL_TLS:
		if (!(p->row->methods & XP_METHOD_SASL_TLS))
			return refuse(reason, XP_R_SASL_NOT_SUPPORTED);
		if (!encrypted)
			return refuse(reason, XP_R_NOT_ENCRYPTED);
		return cert_proves(s, reason);
	case XP_METHOD_DIALBACK_TLS:
	case XP_METHOD_DIALBACK_TCP:
		/* The stream, not the caller's label, says which it is. */
		return xp_verdict_dialback(p, d, s, reason);
	}
	return refuse(reason, XP_R_UNKNOWN_METHOD);
}

int xp_verdict_connection(const xp_table *t, const xp_partner *p,
                          unsigned partner_connections,
                          unsigned total_connections, xp_reason *reason)
{
	if (t == NULL || t->closed)
		return refuse(reason, XP_R_CONFIG_INVALID);
	if (p == NULL)
		return refuse(reason, XP_R_NOT_PARTNER);
	if (partner_connections >= p->connection_limit)
		return refuse(reason, XP_R_CONNECTION_LIMIT);
	if (total_connections >= t->connection_limit)
		return refuse(reason, XP_R_GLOBAL_LIMIT);
	return accept_(reason);
}
