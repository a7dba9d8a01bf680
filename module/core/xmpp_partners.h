/*
 * xmpp_partners.h: public interface of the xmpp-partners policy core.
 *
 * The core decides everything about per-partner federation policy: which
 * remote domains may federate, how their streams must be negotiated (TLS,
 * SASL EXTERNAL, dialback), what their users may do to local contact lists,
 * and whether a certificate proves a domain.  Host layers (the Prosody Lua
 * module, the ejabberd NIF) only translate host events into these calls and
 * the verdicts back into host actions.
 *
 * Conventions:
 *  - every function is prefixed xp_; types are opaque unless shown here;
 *  - functions returning int give XP_OK (0) or a negative xp_status;
 *  - domains are passed as (pointer, length) and need not be NUL-terminated;
 *  - pointers returned as const are borrowed: they live as long as the
 *    object they came from (a table, a builder) and must not be freed;
 *  - the core never calls exit() or abort(); allocation failure is XP_ENOMEM.
 */
#ifndef XMPP_PARTNERS_H
#define XMPP_PARTNERS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version is written once, in configure.ac's AC_INIT; the build passes
 * it as -DXP_VERSION='"x.y.z"'. */
#ifndef XP_VERSION
#error "XP_VERSION is set by the build from AC_INIT in configure.ac"
#endif

/* ---- status codes -------------------------------------------------------- */

typedef enum xp_status {
	XP_OK = 0,
	XP_ENOMEM = -1,    /* an allocation failed; nothing was changed */
	XP_EINVAL = -2,    /* bad argument (API misuse or malformed input) */
	XP_ECONFIG = -3,   /* the configuration has errors: see diagnostics */
	XP_ENOTFOUND = -4, /* no such partner / domain */
	XP_ECERT = -5      /* a certificate could not be parsed */
} xp_status;

/* A short English text for a status code (never NULL). */
const char *xp_status_text(int status);

/* ---- context: allocator and logger -------------------------------------- */

/*
 * Allocator in the style of lua_Alloc: nsize == 0 frees ptr and returns NULL;
 * otherwise it (re)allocates ptr from osize to nsize bytes and returns the
 * new block or NULL on failure (ptr is then left untouched).  osize is 0
 * when ptr is NULL.
 */
typedef void *(*xp_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);

typedef enum xp_log_level {
	XP_LOG_DEBUG = 0,
	XP_LOG_INFO = 1,
	XP_LOG_WARN = 2,
	XP_LOG_ERROR = 3
} xp_log_level;

typedef void (*xp_log_fn)(void *ud, xp_log_level level, const char *message);

typedef struct xp_ctx xp_ctx;

/*
 * Create a context.  alloc may be NULL for the C library allocator; log may
 * be NULL to discard messages.  The context itself is allocated with alloc.
 * Returns NULL only when that first allocation fails.  Free with
 * xp_ctx_free() after every object created from it has been freed.
 */
xp_ctx *xp_ctx_new(xp_alloc_fn alloc, void *alloc_ud, xp_log_fn log,
                   void *log_ud);
void xp_ctx_free(xp_ctx *ctx);

/* ---- domains ------------------------------------------------------------- */

#define XP_DOMAIN_MAX 253 /* octets, after normalisation */
#define XP_LABEL_MAX  63

/*
 * Normalise a domain: ASCII lower-case, one trailing dot removed, U-labels
 * (UTF-8) converted to A-labels (IDNA2008 with UTS#46 mapping), then checked:
 * labels of 1-63 letters, digits or hyphens (not at either end), at most 253
 * octets in all, not an IP address, no wildcard, port, local part or path.
 * out must hold XP_DOMAIN_MAX + 1 bytes; it receives a NUL-terminated name.
 * On failure returns XP_EINVAL and, when why is not NULL, points it at a
 * static text saying what is wrong ("contains a port", ...).
 */
int xp_domain_normalize(const char *in, size_t len, char *out, size_t *out_len,
                        const char **why);

/* ---- the negotiation matrix (SPEC section 3) ----------------------------- */

typedef enum xp_tls {
	XP_TLS_REQUIRED = 0,
	XP_TLS_OPTIONAL = 1,
	XP_TLS_NOT_SUPPORTED = 2
} xp_tls;
typedef enum xp_sasl {
	XP_SASL_REQUIRED = 0,
	XP_SASL_OPTIONAL = 1,
	XP_SASL_NOT_SUPPORTED = 2
} xp_sasl;

typedef enum xp_verdict {
	XP_VERDICT_OK = 0,
	XP_VERDICT_WARN = 1,
	XP_VERDICT_ERROR = 2
} xp_verdict;

/* Authentication methods, as bit flags so a row can allow several. */
typedef enum xp_method {
	XP_METHOD_SASL_TLS = 1,     /* SASL EXTERNAL over TLS */
	XP_METHOD_DIALBACK_TLS = 2, /* dialback on a TLS stream */
	XP_METHOD_DIALBACK_TCP = 4  /* dialback on a plain stream */
} xp_method;

typedef struct xp_matrix_row {
	int row; /* 1..18, as in negotiation-matrix.tsv */
	xp_tls tls;
	xp_sasl sasl;
	int dialback; /* 0 or 1 */
	xp_verdict verdict;
	unsigned methods;   /* OR of xp_method */
	const char *reason; /* "" for ok rows */
} xp_matrix_row;

/* The row for a combination; never NULL for valid enum values. */
const xp_matrix_row *xp_matrix_lookup(xp_tls tls, xp_sasl sasl, int dialback);
/* Row by number 1..18, NULL when out of range. */
const xp_matrix_row *xp_matrix_row_get(int row);

const char *xp_tls_name(xp_tls tls); /* "required", ... */
const char *xp_sasl_name(xp_sasl sasl);
const char *xp_verdict_name(xp_verdict v); /* "ok", "warn", "error" */
const char *xp_method_name(xp_method m);   /* "sasl_tls", ... */
/* Parse a method name; returns 0 when unknown. */
unsigned xp_method_parse(const char *name, size_t len);
/* Parse a tls or sasl level as written in a partner record ("required",
 * "optional", "not_supported"; exact, case-sensitive).  XP_OK and *out set
 * (out may be NULL), or XP_EINVAL. */
int xp_tls_parse(const char *s, size_t len, xp_tls *out);
int xp_sasl_parse(const char *s, size_t len, xp_sasl *out);

/* ---- partner records (SPEC section 2) ------------------------------------ */

typedef enum xp_partner_type {
	XP_TYPE_FEDERATED = 0,
	XP_TYPE_PUBLIC_VERIFIED = 1,
	XP_TYPE_PUBLIC_UNVERIFIED = 2
} xp_partner_type;

const char *xp_partner_type_name(xp_partner_type t);

typedef struct xp_partner xp_partner; /* opaque, owned by its table */

/* Read-only view of a partner; all pointers are owned by the table. */
const char *xp_partner_domain(const xp_partner *p);
const char *xp_partner_description(const xp_partner *p);
size_t xp_partner_additional_count(const xp_partner *p);
const char *xp_partner_additional(const xp_partner *p, size_t i);
xp_partner_type xp_partner_get_type(const xp_partner *p);
xp_tls xp_partner_tls(const xp_partner *p);
xp_sasl xp_partner_sasl(const xp_partner *p);
int xp_partner_dialback(const xp_partner *p);
/* Proxy host or NULL; *port receives the port (5269 when not given).  An
 * IPv6 literal keeps its brackets ("[2001:db8::1]"). */
const char *xp_partner_proxy(const xp_partner *p, unsigned *port);
unsigned xp_partner_connection_limit(const xp_partner *p);
int xp_partner_keepalive(const xp_partner *p);
size_t xp_partner_fingerprint_count(const xp_partner *p);
/* The i-th pin as "sha256:hex" (lower-case hex). */
const char *xp_partner_fingerprint(const xp_partner *p, size_t i);
const xp_matrix_row *xp_partner_row(const xp_partner *p);
/* 1 for the built-in record that unlisted domains get in "allow" mode. */
int xp_partner_is_default(const xp_partner *p);

/* ---- building a table: the builder and its diagnostics ------------------- */

typedef enum xp_severity { XP_SEV_WARNING = 1, XP_SEV_ERROR = 2 } xp_severity;

typedef struct xp_diag {
	xp_severity severity;
	const char *partner; /* primary domain as written, or NULL (global) */
	const char *key;     /* the key concerned, or NULL */
	int row;             /* matrix row, 0 when not a matrix finding */
	const char *message; /* full text: names partner, key and the fix */
	const char *suggestion; /* nearest valid key or value, or NULL */
} xp_diag;

typedef struct xp_builder xp_builder;
typedef struct xp_table xp_table;

/*
 * A builder collects partners and global options from any host syntax (a Lua
 * table, Erlang terms, a partner file) and turns them into a table.  Host
 * bindings walk their own data and call the setters below; all checking of
 * keys, types and values happens here, so every host reports the same
 * errors.  Setters record problems as diagnostics and return XP_OK; they
 * return a negative status only for XP_ENOMEM or API misuse (XP_EINVAL).
 */
xp_builder *xp_builder_new(xp_ctx *ctx);
void xp_builder_free(xp_builder *b);

/* Which host's names the messages use for global options: Prosody's
 * xmpp_partners_default (the default) or ejabberd's module option default. */
typedef enum xp_host_style {
	XP_HOST_PROSODY = 0,
	XP_HOST_EJABBERD = 1
} xp_host_style;
void xp_builder_set_host_style(xp_builder *b, xp_host_style style);

/* A setting NAME of a host configuration (prosody.cfg.lua, a partner file)
 * that looks like an xmpp-partners option but is none (a misspelling, e.g.
 * xmpp_partners_keepalive_intervl): writes the warning, with the nearest
 * option name, into buf (truncated to size) and returns 1.  Returns 0 for
 * the options themselves and for names of the host or other modules.  Every
 * host warns with this text, so the CLI and the servers say the same. */
int xp_option_note(const char *name, char *buf, size_t size);

/* Global options (SPEC section 2): names without the xmpp_partners_ prefix
 * are accepted too.  "default" takes "deny" or "allow". */
int xp_builder_option_string(xp_builder *b, const char *key, const char *value,
                             size_t len);
int xp_builder_option_integer(xp_builder *b, const char *key, long long value);
/* Report an option given with the wrong type (type_name as the host says). */
int xp_builder_option_invalid(xp_builder *b, const char *key,
                              const char *type_name);

/* Start a partner record under its primary domain (the table key). */
int xp_builder_begin(xp_builder *b, const char *domain, size_t len);
/* Keys of the current record.  A key given twice is an error. */
int xp_builder_set_string(xp_builder *b, const char *key, const char *value,
                          size_t len);
int xp_builder_set_boolean(xp_builder *b, const char *key, int value);
int xp_builder_set_integer(xp_builder *b, const char *key, long long value);
int xp_builder_set_number(xp_builder *b, const char *key, double value);
/* A list value (additional_domains, fingerprints); items may be NULL with
 * lens[i] == 0 meaning "this item is not a string" (reported as an error). */
int xp_builder_set_list(xp_builder *b, const char *key,
                        const char *const *items, const size_t *lens, size_t n);
/* A value of a type the record never takes (a function, a nested table where
 * a string belongs...): type_name is the host's name for it. */
int xp_builder_set_invalid(xp_builder *b, const char *key,
                           const char *type_name);
/* Report a record that is not a table/map at all. */
int xp_builder_record_invalid(xp_builder *b, const char *type_name);
/* Finish the current record: defaults, matrix check. */
int xp_builder_end(xp_builder *b);

size_t xp_builder_diag_count(const xp_builder *b);
const xp_diag *xp_builder_diag(const xp_builder *b, size_t i);
size_t xp_builder_error_count(const xp_builder *b);

/*
 * Build the table.  On success returns XP_OK and *out owns the table (the
 * builder keeps its warnings and may then only be freed).  When there are
 * errors returns XP_ECONFIG and *out is left untouched, so a caller that
 * swaps tables keeps its old one; XP_ENOMEM likewise.
 */
int xp_builder_finish(xp_builder *b, xp_table **out);

/* ---- the partner table --------------------------------------------------- */

typedef enum xp_default_policy {
	XP_DEFAULT_DENY = 0,
	XP_DEFAULT_ALLOW = 1
} xp_default_policy;

/*
 * A table that refuses every domain, for failing closed when the
 * configuration is invalid: resolve() refuses with XP_R_CONFIG_INVALID.
 */
xp_table *xp_table_new_closed(xp_ctx *ctx);

/* Tables are reference counted (atomically) so hosts with threads may share
 * them; xp_table_unref frees the table when the count drops to zero. */
xp_table *xp_table_ref(xp_table *t);
void xp_table_unref(xp_table *t);

size_t xp_table_count(const xp_table *t);                   /* partners */
const xp_partner *xp_table_at(const xp_table *t, size_t i); /* in input order */
xp_default_policy xp_table_default_policy(const xp_table *t);
unsigned xp_table_keepalive_interval(const xp_table *t);
unsigned xp_table_connection_limit(const xp_table *t);
/*
 * Bounds on unauthenticated incoming streams (global options
 * xmpp_partners_<name>; SECURITY.md says how the hosts apply them).
 */
typedef enum xp_preauth_option {
	XP_PENDING_PER_ADDRESS, /* pending streams per source address (10) */
	XP_PENDING_LIMIT,       /* pending streams in all (500) */
	XP_AUTH_TIMEOUT,        /* seconds to authenticate (30) */
	XP_PREAUTH_BYTES,       /* input before authentication (65536) */
	XP_PREAUTH_DEPTH,       /* element nesting, stream = 1 (16) */
	XP_PREAUTH_COUNT        /* (the count; the first is 0) */
} xp_preauth_option;
unsigned xp_table_preauth(const xp_table *t, xp_preauth_option o);
/* "pending_per_address", ...; NULL for an unknown option. */
const char *xp_preauth_option_name(xp_preauth_option o);
/* Longest refusal back-off window in seconds (0: no back-off). */
unsigned xp_table_refusal_backoff(const xp_table *t);
int xp_table_is_closed(const xp_table *t);
/* The host style of the builder that made the table (texts name options
 * the way that host's configuration writes them). */
xp_host_style xp_table_host_style(const xp_table *t);
/* Warnings kept from the build (for logging once, and admin 'check'). */
size_t xp_table_warning_count(const xp_table *t);
const xp_diag *xp_table_warning(const xp_table *t, size_t i);

/* The partner that lists this exact domain (primary or additional), after
 * normalisation; NULL when none does or the domain is malformed. */
const xp_partner *xp_table_lookup(const xp_table *t, const char *domain,
                                  size_t len);

/* ---- verdicts (SPEC sections 2, 3, 6) ------------------------------------ */

typedef enum xp_direction { XP_INCOMING = 0, XP_OUTGOING = 1 } xp_direction;
const char *xp_direction_name(xp_direction d); /* "incoming", "outgoing" */

/* Why something was refused; xp_reason_text gives the log text. */
typedef enum xp_reason {
	XP_R_NONE = 0,
	XP_R_NOT_PARTNER,        /* unlisted domain in deny mode */
	XP_R_BAD_DOMAIN,         /* malformed domain */
	XP_R_CONFIG_INVALID,     /* failing closed: configuration invalid */
	XP_R_TLS_REQUIRED,       /* tls = required and the stream is plain */
	XP_R_TLS_NOT_SUPPORTED,  /* tls = not_supported and TLS was asked for */
	XP_R_SASL_NOT_SUPPORTED, /* sasl = not_supported, EXTERNAL attempted */
	XP_R_SASL_REQUIRED,      /* sasl = required, dialback attempted */
	XP_R_DIALBACK_DISABLED,  /* dialback = false, dialback attempted */
	XP_R_CERT_UNTRUSTED,     /* chain not trusted and no pin matched */
	XP_R_CERT_IDENTITY,      /* certificate not valid for the domain */
	XP_R_NO_CERT,            /* EXTERNAL without a peer certificate */
	XP_R_CONNECTION_LIMIT,   /* partner's connection_limit reached */
	XP_R_GLOBAL_LIMIT,       /* global connection limit reached */
	XP_R_UNKNOWN_METHOD,     /* not an authentication method we know */
	XP_R_NOT_ENCRYPTED,      /* SASL EXTERNAL on a stream without TLS */
	XP_R_PENDING_ADDRESS,    /* evicted: pending streams per address */
	XP_R_PENDING_LIMIT,      /* evicted: pending streams in all */
	XP_R_AUTH_TIMEOUT,       /* no authentication within auth_timeout */
	XP_R_PREAUTH_BYTES,      /* input budget before authentication spent */
	XP_R_PREAUTH_DEPTH       /* elements nested too deep before auth */
} xp_reason;

const char *xp_reason_text(xp_reason r);
/* The same, naming global options the way the host's configuration does
 * (Prosody xmpp_partners_auth_timeout, ejabberd auth_timeout).
 * xp_reason_text is the Prosody style. */
const char *xp_reason_text_host(xp_reason r, xp_host_style style);
/* A short token for metrics labels ("not_partner", "tls_required", ...). */
const char *xp_reason_token(xp_reason r);

/*
 * The policy for a remote domain: its partner record, the built-in default
 * record (allow mode), or NULL with *reason set when it may not federate.
 */
const xp_partner *xp_table_resolve(const xp_table *t, const char *domain,
                                   size_t len, xp_reason *reason);

typedef enum xp_cert_status {
	XP_CERT_NONE = 0, /* no certificate seen / not checked */
	XP_CERT_VALID = 1,
	XP_CERT_INVALID = 2
} xp_cert_status;

/* What the host knows of one stream when it asks for a verdict. */
typedef struct xp_stream_state {
	int encrypted;           /* TLS is established */
	xp_cert_status chain;    /* peer chain trusted by the host's CAs */
	xp_cert_status identity; /* peer certificate valid for the domain */
	int pin_match;           /* SPKI SHA-256 matches a partner pin */
} xp_stream_state;

/* STARTTLS: incoming, what to offer; outgoing, what to do. */
typedef enum xp_tls_action {
	/* in: offer nothing, answer <failure/>; out: never start TLS */
	XP_TLS_WITHHOLD = 0,
	/* in: offer STARTTLS; out: use it when offered */
	XP_TLS_OFFER = 1,
	/* in: offer with <required/>; out: close unless offered */
	XP_TLS_REQUIRE = 2
} xp_tls_action;
/* "withhold", "offer", "require" */
const char *xp_tls_action_name(xp_tls_action a);

xp_tls_action xp_verdict_tls(const xp_partner *p, xp_direction d);

/* 1 when SASL EXTERNAL should be offered (incoming) or tried (outgoing) on a
 * stream in this state, 0 otherwise (the reason says why). */
int xp_verdict_sasl_external(const xp_partner *p, xp_direction d,
                             const xp_stream_state *s, xp_reason *reason);

/* 1 when dialback should be advertised (incoming) or started (outgoing). */
int xp_verdict_dialback(const xp_partner *p, xp_direction d,
                        const xp_stream_state *s, xp_reason *reason);

/* 1 when stanzas may flow on a stream in this state (tls = required streams
 * must be encrypted before anything but negotiation passes). */
int xp_verdict_stanzas(const xp_partner *p, xp_direction d,
                       const xp_stream_state *s, xp_reason *reason);

/*
 * The authoritative check, for each domain a stream authenticates (so dialback
 * piggybacking and XEP-0288 are judged per domain): 1 when authenticating
 * this partner's domain by method m on a stream in this state is accepted.
 */
int xp_verdict_auth(const xp_partner *p, xp_direction d, xp_method m,
                    const xp_stream_state *s, xp_reason *reason);

/* 1 when one more connection may be opened or accepted, given how many this
 * partner and all partners together have now. */
int xp_verdict_connection(const xp_table *t, const xp_partner *p,
                          unsigned partner_connections,
                          unsigned total_connections, xp_reason *reason);

/* Format the canonical refusal log line, e.g.
 * "refused incoming s2s from evil.test: not a partner". */
size_t xp_format_refusal(char *buf, size_t size, xp_direction d,
                         const char *domain, xp_reason r);
/* The same with the reason in a host's style (xp_reason_text_host). */
size_t xp_format_refusal_host(char *buf, size_t size, xp_direction d,
                              const char *domain, xp_reason r,
                              xp_host_style style);

/*
 * Refusal back-off.  A refusal that a retry of the same peer cannot turn
 * into an acceptance (not a partner, a method the partner's rules forbid, a
 * certificate that is not trusted or matches no pin) is "final": while the
 * partner table stays the same, the next attempt gets the same answer.  A
 * limit (connection_limit) or a failing-closed configuration is not final.
 */
int xp_reason_is_final(xp_reason r);

/* The next back-off window in seconds after one of `previous` seconds (0:
 * the first), never above max (0: back-off disabled, returns 0). */
unsigned xp_backoff_next(unsigned previous, unsigned max);

/* The summary line of a back-off window, e.g. "refused incoming s2s from
 * j.test 212 more times in the last 60 s: not a partner". */
size_t xp_format_refusal_summary(char *buf, size_t size, xp_direction d,
                                 const char *domain, unsigned long count,
                                 unsigned seconds, xp_reason r);
size_t xp_format_refusal_summary_host(char *buf, size_t size, xp_direction d,
                                      const char *domain, unsigned long count,
                                      unsigned seconds, xp_reason r,
                                      xp_host_style style);

/* ---- contact policy (SPEC section 4) ------------------------------------- */

typedef struct xp_contact_state {
	int in_roster;       /* the remote JID has a roster item in any state */
	int subscribed_from; /* ...and already has subscription from/both */
	int blocked;         /* the local user blocks the JID (XEP-0191) */
} xp_contact_state;

typedef enum xp_subscribe_action {
	XP_SUBSCRIBE_DELIVER = 0,      /* normal host processing */
	XP_SUBSCRIBE_AUTO_APPROVE = 1, /* answer subscribed, record it */
	XP_SUBSCRIBE_DENY = 2          /* answer unsubscribed, store nothing */
} xp_subscribe_action;

typedef enum xp_message_action {
	XP_MESSAGE_DELIVER = 0,
	XP_MESSAGE_BOUNCE = 1 /* service-unavailable */
} xp_message_action;

/* "deliver", "approve", "deny" */
const char *xp_subscribe_action_name(xp_subscribe_action a);
/* "deliver", "bounce" */
const char *xp_message_action_name(xp_message_action a);

/* p NULL (refused domain) gives DENY / BOUNCE / strip. */
xp_subscribe_action xp_contact_subscribe(const xp_partner *p,
                                         const xp_contact_state *c);
xp_message_action xp_contact_message(const xp_partner *p,
                                     const xp_contact_state *c);
int xp_contact_strip_status(const xp_partner *p);

/* ---- certificates (RFC 6125 / RFC 9525 for XMPP) ------------------------- */

#define XP_CERT_LEGACY_CN 1u /* accept the subject CN when there is no SAN */

typedef struct xp_cert xp_cert; /* a parsed certificate */

/* Parse one certificate, DER or PEM (detected). */
int xp_cert_parse(xp_ctx *ctx, const unsigned char *data, size_t len,
                  xp_cert **out);
void xp_cert_free(xp_cert *c);

/*
 * Identity: is the certificate valid for domain (normalised by the core)?
 * Accepts a SRV-ID "_xmpp-server.<domain>", a DNS-ID (with a wildcard only
 * as the whole left-most label, matching exactly one label), an
 * id-on-xmppAddr equal to the domain, and with XP_CERT_LEGACY_CN the CN when
 * the certificate has no subjectAltName at all.  Does not look at validity
 * dates or the chain: see xp_cert_verify_chain.
 */
xp_cert_status xp_cert_check_identity(const xp_cert *c, const char *domain,
                                      size_t len, unsigned flags);

/*
 * Chain: verify c (with the untrusted intermediates in chain) against the
 * CA certificates in the PEM file cafile, at time now (0 for the current
 * time).  On XP_CERT_INVALID, *why (if not NULL) gets OpenSSL's reason.
 */
xp_cert_status xp_cert_verify_chain(const xp_cert *c,
                                    const xp_cert *const *chain, size_t nchain,
                                    const char *cafile, long long now,
                                    const char **why);

/* SHA-256 of the certificate's SubjectPublicKeyInfo. */
int xp_cert_spki_sha256(const xp_cert *c, unsigned char out[32]);
/* The same as the pin string "sha256:<64 lower-case hex>" (72 bytes + NUL). */
#define XP_PIN_STRLEN 71
int xp_cert_pin(const xp_cert *c, char out[XP_PIN_STRLEN + 1]);
/* Parse a pin as the fingerprints key takes it: "sha256:" and the 64 hex
 * digits of the SPKI SHA-256, either case, bytes optionally separated by
 * ':' ("sha256:AB:CD:..").  XP_OK and the 32 bytes in out (out may be
 * NULL), or XP_EINVAL and out untouched. */
int xp_pin_parse(const char *s, size_t len, unsigned char out[32]);
/* 1 when the partner pins this key. */
int xp_partner_pin_matches(const xp_partner *p,
                           const unsigned char spki_sha256[32]);

/* ---- values typed at an admin prompt (value.c) -------------------------- */

/* The kind of value a record key takes, from the builder's schema. */
typedef enum xp_key_kind {
	XP_KEY_UNKNOWN = 0, /* not a record key */
	XP_KEY_STRING,      /* description, proxy */
	XP_KEY_ENUM,        /* type, tls, sasl */
	XP_KEY_BOOLEAN,     /* dialback, keepalive */
	XP_KEY_INTEGER,     /* connection_limit */
	XP_KEY_LIST         /* additional_domains, fingerprints */
} xp_key_kind;
xp_key_kind xp_record_key_kind(const char *key);

/*
 * A value typed for a record key (partners:set, partners_set, a form),
 * read the same on every host: "none" or "nil" unsets the key; a list key
 * takes "a, b", "a b" or "[a, b]"; a boolean key true/yes/1 or
 * false/no/0; an integer key decimal digits; anything else stays text
 * (trimmed), for the builder to judge.  The value is allocated with the
 * context's allocator and owns its strings; free it with xp_value_free.
 */
typedef enum xp_value_type {
	XP_VALUE_UNSET = 0, /* remove the key */
	XP_VALUE_STRING,
	XP_VALUE_BOOLEAN,
	XP_VALUE_INTEGER,
	XP_VALUE_LIST
} xp_value_type;
typedef struct xp_value xp_value;

/* XP_OK and *out, XP_ENOMEM, or XP_EINVAL (a NULL argument). */
int xp_value_parse(xp_ctx *ctx, const char *key, const char *text, size_t len,
                   xp_value **out);
void xp_value_free(xp_value *v);
xp_value_type xp_value_get_type(const xp_value *v);
int xp_value_boolean(const xp_value *v);
long long xp_value_integer(const xp_value *v);
/* NUL-terminated, borrowed from v; NULL unless a string. */
const char *xp_value_string(const xp_value *v, size_t *len);
size_t xp_value_count(const xp_value *v); /* list items */
const char *xp_value_item(const xp_value *v, size_t i, size_t *len);

/* ---- the overlay of sources (overlay.c) --------------------------------- */

/*
 * The sources of a partner table, each over the one before: the partner
 * file, the configuration, the runtime changes an admin stored.  Records
 * meet by their normalised domain however each source spells the key, so
 * ["Fabrikam.com"] in the file and ["fabrikam.com"] in the config are one
 * partner, the config's.  A stored removal hides the file's and config's
 * records of a domain.  Two spellings within one source both stay (the
 * builder then reports the domain listed twice).  A key that is no domain
 * stays as written.  Every host merges with this, so every host builds the
 * same table from the same sources.
 *
 * Records stay with the host: it adds each key with a handle of its own
 * (an index) and, after xp_overlay_finish, builds from the entries that
 * survive.  The overlay is allocated with the context's allocator and owns
 * every string it hands out; they live until xp_overlay_free.
 */
typedef enum xp_source {
	XP_SOURCE_FILE = 0,   /* the partner file (Prosody xmpp_partners_file,
	                         ejabberd partners_file) */
	XP_SOURCE_CONFIG = 1, /* the host configuration */
	XP_SOURCE_RUNTIME = 2 /* changes an admin stored at runtime */
} xp_source;
const char *xp_source_name(xp_source s); /* "file", "config", "runtime" */

typedef struct xp_overlay xp_overlay;

typedef struct xp_overlay_entry {
	const char *key;    /* as the source wrote it */
	const char *domain; /* normalised (the key when it is no domain) */
	size_t handle;      /* the host's, as given to xp_overlay_add */
	xp_source source;
	/* "file PATH", "config", "runtime", "runtime (overrides config)",
	 * "runtime (overrides file)": what admin views print as the source */
	const char *label;
} xp_overlay_entry;

xp_overlay *xp_overlay_new(xp_ctx *ctx); /* NULL: out of memory */
void xp_overlay_free(xp_overlay *o);
/* The partner file's path, for its label "file PATH" ("file" without). */
int xp_overlay_set_file(xp_overlay *o, const char *path, size_t len);
/* A record of a source, under its key as written. */
int xp_overlay_add(xp_overlay *o, xp_source source, const char *key, size_t len,
                   size_t handle);
/* A stored removal: the file's and config's records of the domain go. */
int xp_overlay_hide(xp_overlay *o, const char *key, size_t len);
/* Lay the sources over each other; after it only the getters below.
 * XP_OK, XP_ENOMEM, or XP_EINVAL (called twice). */
int xp_overlay_finish(xp_overlay *o);
/* The surviving records, in the order they were added. */
size_t xp_overlay_count(const xp_overlay *o);
const xp_overlay_entry *xp_overlay_at(const xp_overlay *o, size_t i);
/* Keys (as written) of file and config records a removal hid, sorted. */
size_t xp_overlay_hidden_count(const xp_overlay *o);
const char *xp_overlay_hidden(const xp_overlay *o, size_t i);

/* ---- texts for hosts to print -------------------------------------------- */

/*
 * A text the core wrote (explain, ...): NUL-terminated, no NUL inside,
 * lines ending in "\n".  Owned by the caller, who frees it with
 * xp_text_free; it was allocated with the context's allocator.
 */
typedef struct xp_text xp_text;
const char *xp_text_str(const xp_text *x); /* borrowed from x */
size_t xp_text_len(const xp_text *x);
void xp_text_free(xp_text *x);

/* One line for a diagnostic, the same on every host (no "\n"):
 * "error: MESSAGE [matrix row N] (SUGGESTION)", the row and the suggestion
 * only when there are ones and the message does not name them already. */
int xp_diag_text(xp_ctx *ctx, const xp_diag *d, xp_text **out);

/* The text of an admin "check" of a whole table: a line per diagnostic,
 * then the verdict: "partner table valid: N partner(s), W warning(s)", or
 * "partner table INVALID: ..." naming the host's commands that change a
 * partner (style).  partners counts when valid. */
int xp_check_text(xp_ctx *ctx, const xp_diag *diags, size_t n, int valid,
                  size_t partners, xp_host_style style, xp_text **out);

/*
 * The record of the partner that lists domain, as admin "show" commands
 * print it: one "key  value" line per key, the matrix row, the methods;
 * source is the host's label of the record (xp_overlay_entry.label).
 * XP_OK and the text; XP_ENOTFOUND (the domain is refused) or XP_EINVAL
 * (a malformed domain) with *out set to the message saying so; XP_ENOMEM.
 * The caller frees *out in every case it is set.
 */
int xp_show_text(xp_ctx *ctx, const xp_table *t, const char *domain, size_t len,
                 const char *source, xp_text **out);

/* One row of an admin "list": a partner's primary domain, and what only
 * the host knows: the source label of its record and its live streams. */
typedef struct xp_list_row {
	const char *domain;
	const char *source;
	unsigned long live;
} xp_list_row;

/*
 * The partner list as admin "list" commands print it: an aligned table of
 * the rows the host chose (its type and tls/sasl/dialback from t), then
 * how many more matched (matched > n) and how to list them, the state of
 * the table, the count ("N partner(s)[, M with 'PATTERN' in the
 * domain]; unlisted domains refused") and the domains removed at runtime.
 */
int xp_list_text(xp_ctx *ctx, const xp_table *t, const xp_list_row *rows,
                 size_t n, size_t matched, const char *pattern,
                 const char *const *removed, size_t n_removed, xp_text **out);

/* ---- admin change results and the export (texts.c) ---------------------- */

/*
 * A record or option value as the host holds it, for the texts below (the
 * core only reads it; nothing is allocated): XP_VALUE_UNSET (no value),
 * a string (s, len), a boolean, an integer, or a list of strings (items,
 * lens, n).
 */
typedef struct xp_text_value {
	xp_value_type type;
	int boolean;
	long long integer;
	const char *s;
	size_t len;
	const char *const *items;
	const size_t *lens;
	size_t n;
} xp_text_value;

/* An admin change of the runtime partner table. */
typedef enum xp_change_op {
	XP_CHANGE_ADD = 0,       /* add a partner */
	XP_CHANGE_SET,           /* set one key of a partner */
	XP_CHANGE_REMOVE,        /* remove a partner */
	XP_CHANGE_RESET,         /* drop a runtime entry or removal */
	XP_CHANGE_RESET_BACKOFF, /* end a domain's refusal back-off */
	XP_CHANGE_EDIT           /* replace a record (ad-hoc edit form) */
} xp_change_op;

typedef struct xp_change {
	xp_change_op op;
	const char *domain;         /* normalised */
	const char *key;            /* SET: the key */
	const xp_text_value *value; /* SET: the value now (NULL: unset) */
	const char *typed;          /* SET: the text typed, said when read
	                               otherwise (Prosody style); or NULL */
	const char *hidden;         /* REMOVE: the configured key now hidden
	                               until a reset, or NULL */
	unsigned long count;        /* RESET_BACKOFF: origins whose back-off
	                               ended (0: there was none) */
} xp_change;

/*
 * The line an admin command prints when the change is done, in the host's
 * words (style names its commands and writes values its way):
 *   "D added (runtime, stored)", "D: KEY = VALUE (runtime, stored)",
 *   "D removed[ (its config entry stays hidden until partners:reset(...))]",
 *   "D: runtime entry cleared, the configuration applies",
 *   "D has no refusal back-off" / "...back-off ended...",
 *   "D changed (runtime, stored)";
 * warnings (the build's diagnostic lines, or NULL/"") follow on their own
 * lines.  XP_OK and *out (the caller frees it), XP_EINVAL, XP_ENOMEM.
 */
int xp_change_text(xp_ctx *ctx, xp_host_style style, const xp_change *c,
                   const char *warnings, xp_text **out);

/* Why a change was refused (nothing changed). */
typedef enum xp_change_refusal {
	XP_REFUSE_INVALID = 0, /* the table would have errors: diags */
	XP_REFUSE_READ,        /* the stored changes cannot be read: detail */
	XP_REFUSE_STORE,       /* the change could not be stored: detail */
	XP_REFUSE_EXISTS,      /* ADD: the domain is already a partner */
	XP_REFUSE_NOT_PARTNER, /* the domain is no partner */
	XP_REFUSE_ADDITIONAL,  /* the domain is an additional domain of the
	                           partner named by detail */
	XP_REFUSE_NOTHING      /* RESET: no runtime entry or removal */
} xp_change_refusal;

/*
 * The text of a refused change, naming the domain and the fix in the
 * host's words: "adding D refused, nothing changed:\n" and the errors of
 * diags (n of them; warnings are left out), "... refused, nothing
 * changed: the change could not be stored (DETAIL); ...", "D is already a
 * partner; change it with ...", "D is not a partner; add it with ...".
 * XP_OK and *out (the caller frees it), XP_EINVAL, XP_ENOMEM.
 */
int xp_change_refused_text(xp_ctx *ctx, xp_host_style style, const xp_change *c,
                           xp_change_refusal why, const char *detail,
                           const xp_diag *diags, size_t n, xp_text **out);

/* A key and its value: a record's, or a global option's (its name without
 * a host prefix: "default", "keepalive_interval", ...). */
typedef struct xp_export_field {
	const char *key;
	xp_text_value value;
} xp_export_field;

/* A partner's record as its source wrote it, and the source's label. */
typedef struct xp_export_record {
	const char *domain;
	const char *source;
	const xp_export_field *fields;
	size_t n_fields;
} xp_export_record;

/*
 * The effective table as a partner file (Lua syntax, which Prosody's
 * configuration and the CLI read, and ejabberd's partners_file): a
 * comment, the global options that are set (xmpp_partners_KEY = VALUE, in
 * the builder's order; unknown names are left out), then
 * xmpp_partners = { ["D"] = { key = value; ... }; -- SOURCE }, domains
 * sorted bytewise, each record's keys in the documented order then any
 * other sorted, strings quoted as Lua's %q does.  No "\n" at the end.
 * XP_OK and *out (the caller frees it), XP_EINVAL (a NULL where a string
 * is needed), XP_ENOMEM.
 */
int xp_export_text(xp_ctx *ctx, const xp_export_field *options,
                   size_t n_options, const xp_export_record *records, size_t n,
                   xp_text **out);

/* ---- explain (explain.c) ------------------------------------------------ */

/*
 * `explain DOMAIN`: which partner a domain maps to and what is offered,
 * tried, accepted and refused on its streams each way, and why.  Computed
 * once here from the verdict functions, over a fixed set of typical stream
 * situations, so the CLI, the Prosody shell and ejabberdctl give the same
 * answer in the same words: they call xp_explain_text and print.
 */
typedef enum xp_explain_situation {
	XP_SIT_TRUSTED = 0, /* TLS, valid certificate, trusted chain */
	XP_SIT_PINNED,      /* TLS, valid certificate, untrusted, pinned */
	XP_SIT_UNTRUSTED,   /* TLS, valid certificate, untrusted, no pin */
	XP_SIT_WRONG_NAME,  /* TLS, certificate not valid for the domain */
	XP_SIT_NO_CERT,     /* TLS, no certificate */
	XP_SIT_PLAIN,       /* plain stream (no TLS) */
	XP_SIT_COUNT
} xp_explain_situation;

/* "TLS, valid certificate, trusted chain", ...; NULL when out of range. */
const char *xp_explain_situation_label(xp_explain_situation s);
/* The stream facts of a situation (for hosts that probe it themselves). */
void xp_explain_situation_state(xp_explain_situation s, xp_stream_state *out);

/* One verdict: ok, or refused for reason. */
typedef struct xp_explain_answer {
	int ok;
	xp_reason reason; /* XP_R_NONE when ok */
} xp_explain_answer;

/* Indexes of xp_explain_direction.auth (method on a stream). */
enum {
	XP_EXPLAIN_AUTH_SASL = 0, /* sasl_tls: [0, XP_SIT_PLAIN) situations */
	/* dialback_tls on a trusted TLS stream, dialback_tcp on a plain one */
	XP_EXPLAIN_AUTH_DIALBACK_TLS = XP_SIT_PLAIN,
	XP_EXPLAIN_AUTH_DIALBACK_TCP,
	XP_EXPLAIN_AUTH_COUNT
};

typedef struct xp_explain_direction {
	xp_direction direction;
	xp_tls_action tls;
	/* SASL EXTERNAL offered (incoming) / tried (outgoing), per situation */
	xp_explain_answer sasl_external[XP_SIT_COUNT];
	/* dialback advertised / started: [0] on TLS, [1] on a plain stream */
	xp_explain_answer dialback[2];
	/* authentication accepted: see XP_EXPLAIN_AUTH_* */
	xp_explain_answer auth[XP_EXPLAIN_AUTH_COUNT];
	/* stanzas flow: [0] on TLS, [1] on a plain stream */
	xp_explain_answer stanzas[2];
} xp_explain_direction;

/* Contact situations of xp_explain.subscribe / message. */
/* subscribe: from a stranger, a roster item, a subscribed user, a blocked
 * user; message: from a stranger, a roster item */
#define XP_EXPLAIN_SUBSCRIBE_COUNT 4
#define XP_EXPLAIN_MESSAGE_COUNT   2

typedef struct xp_explain {
	char domain[XP_DOMAIN_MAX + 1]; /* normalised */
	xp_host_style style;            /* the table's */
	xp_default_policy default_policy;
	/* XP_R_NONE when the domain federates; then partner is set */
	xp_reason refused;
	const xp_partner *partner; /* borrowed from the table */
	int additional;            /* the domain is an additional domain */
	unsigned connection_limit; /* all partners together */
	xp_explain_answer at_partner_limit, at_global_limit;
	unsigned keepalive;          /* seconds, 0: no keepalive */
	xp_explain_direction dir[2]; /* by xp_direction */
	xp_subscribe_action subscribe[XP_EXPLAIN_SUBSCRIBE_COUNT];
	xp_message_action message[XP_EXPLAIN_MESSAGE_COUNT];
	int strip_status;
} xp_explain;

/*
 * Fill *out for domain (any case, trailing dot, U-labels).  XP_OK, or
 * XP_EINVAL for a malformed domain (*why, when not NULL, says why) or a
 * NULL argument.  No allocation: out borrows only from t, so it lives as
 * long as t.
 */
int xp_explain_compute(const xp_table *t, const char *domain, size_t len,
                       xp_explain *out, const char **why);

/* The text of an explain result, the one wording every host prints.
 * XP_OK and *out owned by the caller, or XP_ENOMEM / XP_EINVAL. */
int xp_explain_format(xp_ctx *ctx, const xp_explain *e, xp_text **out);

/* Both at once: compute and format.  XP_EINVAL with *why for a malformed
 * domain. */
int xp_explain_text(xp_ctx *ctx, const xp_table *t, const char *domain,
                    size_t len, xp_text **out, const char **why);

#ifdef __cplusplus
}
#endif
#endif /* XMPP_PARTNERS_H */
