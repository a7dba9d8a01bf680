/*
 * explain.c: the `explain FILE DOMAIN` command: which partner a domain maps
 * to and what will be offered, accepted and enforced on its streams in each
 * direction, and what its users may do to local contact lists.
 *
 * Every statement comes from a verdict function of the binding (tbl:tls,
 * tbl:sasl_external, tbl:dialback, tbl:auth, tbl:stanzas, tbl:connection,
 * tbl:subscribe, ...), asked about a set of typical stream states; this
 * file only words the answers.  No policy is decided here.
 */
#include <string.h>

#include <lauxlib.h>

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
	int tbl;        /* stack index of the table */
	const char *as; /* the domain as the table knows it */
} explain_ctx;

static const char *const directions[] = {"incoming", "outgoing"};

/* Width of the situation column of the verdict tables. */
#define LABEL_WIDTH 56

/* ---- calling the binding ------------------------------------------------ */

/* tbl:method(domain, ...) with the arguments already pushed; leaves nres
 * results. */
static void call(lua_State *T, explain_ctx *c, const char *method, int nargs,
                 int nres)
{
	lua_getfield(T, c->tbl, method);
	lua_pushvalue(T, c->tbl);
	lua_pushstring(T, c->domain);
	lua_rotate(T, -3 - nargs, 3);
	lua_call(T, nargs + 2, nres);
}

static void push_stream(lua_State *T, const stream *s)
{
	lua_pushboolean(T, s->encrypted);
	if (s->chain)
		lua_pushstring(T, s->chain);
	else
		lua_pushnil(T);
	if (s->identity)
		lua_pushstring(T, s->identity);
	else
		lua_pushnil(T);
	lua_pushboolean(T, s->pin);
}

/* Print "yes" or "no: <text>" for a verdict (true | false, token, text)
 * at the top three slots; pops them. */
static void print_verdict(lua_State *T)
{
	if (lua_toboolean(T, -3))
		printf("yes\n");
	else
		printf("no: %s\n", lua_tostring(T, -1));
	lua_pop(T, 3);
}

/* One situation and the verdict for it. */
typedef struct answer {
	char label[96];
	int ok;
	const char *why; /* a string kept on the Lua stack until printed */
} answer;

#define MAX_ANSWERS 8

/* Take the verdict at the top (true | false, token, text): the text stays
 * on the stack, so why stays valid until the caller's lua_settop. */
static void take_answer(lua_State *T, answer *a)
{
	a->ok = lua_toboolean(T, -3);
	a->why = lua_tostring(T, -1);
	lua_remove(T, -2);
	lua_remove(T, -2);
}

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

/* tbl:<verdict>(domain, direction, stream...) for each stream. */
static void stream_table(lua_State *T, explain_ctx *c, const char *verdict,
                         const char *direction, const stream *streams, size_t n)
{
	answer a[MAX_ANSWERS];
	int top = lua_gettop(T);
	size_t i;

	for (i = 0; i < n && i < MAX_ANSWERS; i++) {
		lua_pushstring(T, direction);
		push_stream(T, &streams[i]);
		call(T, c, verdict, 5, 3);
		snprintf(a[i].label, sizeof(a[i].label), "%s",
		         streams[i].label);
		take_answer(T, &a[i]);
	}
	print_answers(a, i, "in every situation");
	lua_settop(T, top);
}

/* ---- the record -----------------------------------------------------------
 */

static const char *field_string(lua_State *T, int rec, const char *key)
{
	const char *s;

	lua_getfield(T, rec, key);
	s = lua_tostring(T, -1);
	lua_pop(T, 1); /* held by the record table */
	return s;
}

static void print_list(lua_State *T, int rec, const char *key, const char *none)
{
	int n, i;

	lua_getfield(T, rec, key);
	n = (int)luaL_len(T, -1);
	if (n == 0)
		printf("%s", none);
	for (i = 1; i <= n; i++) {
		lua_rawgeti(T, -1, i);
		printf("%s%s", i > 1 ? ", " : "", lua_tostring(T, -1));
		lua_pop(T, 1);
	}
	printf("\n");
	lua_pop(T, 1);
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

static void print_methods(lua_State *T, int rec)
{
	int n, i;

	lua_getfield(T, rec, "methods");
	n = (int)luaL_len(T, -1);
	if (n == 0)
		printf("none");
	for (i = 1; i <= n; i++) {
		lua_rawgeti(T, -1, i);
		printf("%s%s (%s)", i > 1 ? ", " : "", lua_tostring(T, -1),
		       method_words(lua_tostring(T, -1)));
		lua_pop(T, 1);
	}
	printf("\n");
	lua_pop(T, 1);
}

/* How the asked domain relates to the partner found. */
static void print_mapping(lua_State *T, explain_ctx *c, int rec)
{
	const char *primary = field_string(T, rec, "domain");
	int same;

	xpt_push_core(T);
	lua_getfield(T, -1, "normalize");
	lua_pushstring(T, c->domain);
	lua_call(T, 1, 1);
	lua_getfield(T, -2, "normalize");
	lua_pushstring(T, primary);
	lua_call(T, 1, 1);
	same = lua_rawequal(T, -1, -2);
	lua_pop(T, 3);
	printf("  partner        %s (%s)\n", primary,
	       same ? "its primary domain"
	            : "the domain is one of its additional_domains");
}

static void print_record(lua_State *T, explain_ctx *c, int rec)
{
	const char *desc = field_string(T, rec, "description");
	const char *reason = field_string(T, rec, "reason");

	lua_getfield(T, rec, "default");
	if (lua_toboolean(T, -1))
		printf("  partner        none: %s is not listed, and "
		       "xmpp_partners_default = \"allow\" lets it federate "
		       "with the built-in default record\n",
		       c->domain);
	else
		print_mapping(T, c, rec);
	lua_pop(T, 1);
	if (desc != NULL && desc[0] != '\0') {
		char one[1024];
		printf("  description    %s\n",
		       xpt_one_line(desc, one, sizeof(one)));
	}
	printf("  type           %s\n", field_string(T, rec, "type"));
	lua_getfield(T, rec, "dialback");
	lua_getfield(T, rec, "row");
	printf("  negotiation    tls = \"%s\", sasl = \"%s\", dialback = %s: "
	       "matrix row %d (%s)%s%s\n",
	       field_string(T, rec, "tls"), field_string(T, rec, "sasl"),
	       lua_toboolean(T, -2) ? "true" : "false",
	       (int)lua_tointeger(T, -1), field_string(T, rec, "verdict"),
	       reason != NULL ? ": " : "", reason != NULL ? reason : "");
	lua_pop(T, 2);
	printf("  methods        ");
	print_methods(T, rec);
	printf("  other domains  ");
	print_list(T, rec, "additional_domains", "none");
	printf("  pinned keys    ");
	print_list(T, rec, "fingerprints", "none");
}

/* ---- directions ------------------------------------------------------------
 */

static const char *tls_words(const char *action, int outgoing)
{
	if (strcmp(action, "require") == 0)
		return outgoing
		               ? "required: the stream is closed rather than "
		                 "continue in the clear"
		               : "offered as required (<starttls><required/>); "
		                 "a stream that authenticates or sends stanzas "
		                 "before TLS is closed (policy-violation)";
	if (strcmp(action, "offer") == 0)
		return outgoing ? "used when the partner offers it"
		                : "offered (not required)";
	return outgoing ? "never started"
	                : "withheld: not offered, and <starttls/> is answered "
	                  "with <failure/>";
}

static void print_direction(lua_State *T, explain_ctx *c, int outgoing)
{
	const char *dir = directions[outgoing];
	static const char *const methods[] = {"sasl_tls", "dialback_tls",
	                                      "dialback_tcp"};
	size_t i;

	if (outgoing)
		printf("\nOutgoing streams (we connect to %s)\n", c->domain);
	else
		printf("\nIncoming streams (a server of %s connects to us)\n",
		       c->domain);
	if (outgoing) {
		call(T, c, "proxy", 0, 2);
		if (lua_isnil(T, -2))
			printf("  connect to     the servers DNS gives for the "
			       "domain (no proxy is set)\n");
		else
			printf("  connect to     %s port %d (proxy), instead "
			       "of the servers found in DNS\n",
			       lua_tostring(T, -2), (int)lua_tointeger(T, -1));
		lua_pop(T, 2);
	}
	lua_pushstring(T, dir);
	call(T, c, "tls", 1, 1);
	printf("  STARTTLS       %s\n",
	       tls_words(lua_tostring(T, -1), outgoing));
	lua_pop(T, 1);

	printf("  SASL EXTERNAL  %s when the partner's certificate is:\n",
	       outgoing ? "tried" : "offered");
	stream_table(T, c, "sasl_external", dir, tls_streams, N_TLS_STREAMS);
	printf("  dialback       %s:\n", outgoing ? "started" : "advertised");
	stream_table(T, c, "dialback", dir, plain_streams, 2);

	printf("  the partner is authenticated by:\n");
	for (i = 0; i < 3; i++) {
		const stream *list = i == 0   ? tls_streams
		                     : i == 1 ? &plain_streams[0]
		                              : &plain_streams[1];
		size_t n = i == 0 ? N_TLS_STREAMS - 1 : 1, k;
		answer a[MAX_ANSWERS];
		int top = lua_gettop(T);
		for (k = 0; k < n; k++) {
			snprintf(a[k].label, sizeof(a[k].label), "%s, %s",
			         methods[i],
			         i == 0 ? list[k].label + 5 : list[k].label);
			lua_pushstring(T, dir);
			lua_pushstring(T, methods[i]);
			push_stream(T, &list[k]);
			call(T, c, "auth", 6, 3);
			take_answer(T, &a[k]);
		}
		print_answers(a, n, "sasl_tls, in every situation");
		lua_settop(T, top);
	}
	printf("  stanzas flow:\n");
	stream_table(T, c, "stanzas", dir, plain_streams, 2);
}

/* ---- limits and contact policy ------------------------------------------- */

static void print_limits(lua_State *T, explain_ctx *c, int rec, int info)
{
	lua_Integer mine, all;

	lua_getfield(T, rec, "connection_limit");
	mine = lua_tointeger(T, -1);
	lua_getfield(T, info, "connection_limit");
	all = lua_tointeger(T, -1);
	lua_pop(T, 2);
	printf("\nLimits\n");
	printf("  connections    at most %d with this partner and %d with "
	       "all partners together\n",
	       (int)mine, (int)all);
	lua_pushinteger(T, mine);
	lua_pushinteger(T, 0);
	call(T, c, "connection", 2, 3);
	printf("      with %d open to this partner, one more: ", (int)mine);
	print_verdict(T);
	lua_pushinteger(T, 0);
	lua_pushinteger(T, all);
	call(T, c, "connection", 2, 3);
	printf("      with %d open to all partners, one more: ", (int)all);
	print_verdict(T);
	call(T, c, "keepalive", 0, 2);
	if (lua_toboolean(T, -2))
		printf("  keepalive      a whitespace keepalive after %d s of "
		       "idle time\n",
		       (int)lua_tointeger(T, -1));
	else
		printf("  keepalive      none: idle streams get no whitespace "
		       "keepalive\n");
	lua_pop(T, 2);
}

static const char *subscribe_words(const char *action)
{
	if (strcmp(action, "approve") == 0)
		return "approved automatically (answered with subscribed)";
	if (strcmp(action, "deliver") == 0)
		return "handled as usual (the user decides; a block applies)";
	return "refused: answered with unsubscribed, nothing is stored";
}

static const char *message_words(const char *action)
{
	return strcmp(action, "deliver") == 0
	               ? "delivered"
	               : "bounced with service-unavailable";
}

static void print_contacts(lua_State *T, explain_ctx *c)
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
		lua_pushboolean(T, subs[i].in_roster);
		lua_pushboolean(T, subs[i].subscribed_from);
		lua_pushboolean(T, subs[i].blocked);
		call(T, c, "subscribe", 3, 1);
		printf("      %-52s %s\n", subs[i].label,
		       subscribe_words(lua_tostring(T, -1)));
		lua_pop(T, 1);
	}
	printf("  messages:\n");
	for (i = 0; i < 2; i++) {
		lua_pushboolean(T, (int)i);
		call(T, c, "message", 1, 1);
		printf("      %-52s %s\n",
		       i ? "from a user in the roster"
		         : "from a user not in the roster",
		       message_words(lua_tostring(T, -1)));
		lua_pop(T, 1);
	}
	call(T, c, "strip_status", 0, 1);
	printf("  presence sent to its users: the <status/> text is %s\n",
	       lua_toboolean(T, -1) ? "removed" : "sent");
	lua_pop(T, 1);
}

/* ---- refused domains -------------------------------------------------------
 */

static void print_refused(lua_State *T, explain_ctx *c, int info)
{
	const char *token = lua_tostring(T, -2), *text = lua_tostring(T, -1);
	int d;

	printf("%s\n  refused: %s", c->domain, text);
	if (strcmp(token, "not_partner") == 0) {
		lua_getfield(T, info, "default");
		printf(" (no partner lists it, and xmpp_partners_default = "
		       "\"%s\")",
		       lua_tostring(T, -1));
		lua_pop(T, 1);
	}
	printf("\n");
	for (d = 0; d < 2; d++) {
		xpt_push_core(T);
		lua_getfield(T, -1, "refusal");
		lua_pushstring(T, directions[d]);
		lua_pushstring(T, c->domain);
		lua_pushstring(T, token);
		lua_call(T, 3, 1);
		printf("  %s: %s; %s\n", directions[d], lua_tostring(T, -1),
		       d == 0 ? "the stream is closed"
		              : "no connection is made");
		lua_pop(T, 2);
	}
	print_contacts(T, c);
}

/* ---- the command ------------------------------------------------------------
 */

static int explain_protected(lua_State *T)
{
	explain_ctx *c = lua_touserdata(T, 1);
	size_t errors = 0, warnings = 0;
	int info, rec;

	xpt_build(T, c->f);
	if (lua_isnil(T, -2)) {
		xpt_print_diags(T, -1, c->f, stdout, &errors, &warnings);
		printf("%s: %lu error%s: a server would not load this table "
		       "(on reload it keeps the policy in force; at start-up "
		       "it refuses every domain until the file is fixed), so "
		       "there is nothing to explain\n",
		       c->f->path, (unsigned long)errors,
		       errors == 1 ? "" : "s");
		lua_pushinteger(T, XPT_EXIT_ERRORS);
		return 1;
	}
	lua_pop(T, 1);
	c->tbl = lua_gettop(T);
	lua_getfield(T, c->tbl, "info");
	lua_pushvalue(T, c->tbl);
	lua_call(T, 1, 1);
	info = lua_gettop(T);

	call(T, c, "resolve", 0, 3);
	if (lua_isnil(T, -3)) {
		if (strcmp(lua_tostring(T, -2), "bad_domain") == 0) {
			xpt_push_core(T);
			lua_getfield(T, -1, "normalize");
			lua_pushstring(T, c->domain);
			lua_call(T, 1, 2);
			fprintf(stderr,
			        "%s: explain: '%s' is not a valid domain: %s\n",
			        XPT_PROGRAM, c->domain, lua_tostring(T, -1));
			lua_pushinteger(T, XPT_EXIT_FAILURE);
			return 1;
		}
		print_refused(T, c, info);
		lua_pushinteger(T, XPT_EXIT_OK);
		return 1;
	}
	lua_pop(T, 3);
	call(T, c, "lookup", 0, 1);
	rec = lua_gettop(T);
	printf("%s\n", c->domain);
	print_record(T, c, rec);
	print_direction(T, c, 0);
	print_direction(T, c, 1);
	print_limits(T, c, rec, info);
	print_contacts(T, c);
	lua_pushinteger(T, XPT_EXIT_OK);
	return 1;
}

int xpt_cmd_explain(const char *path, const char *domain, const xpt_options *o)
{
	xpt_file f;
	explain_ctx c;
	lua_State *T;
	int rc = xpt_file_load(&f, path, o);

	if (rc != XPT_EXIT_OK) {
		xpt_file_free(&f);
		return rc;
	}
	memset(&c, 0, sizeof(c));
	c.f = &f;
	c.domain = domain;
	T = xpt_trusted_new();
	if (T == NULL) {
		fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
		xpt_file_free(&f);
		return XPT_EXIT_FAILURE;
	}
	rc = xpt_protected(T, explain_protected, &c);
	lua_close(T);
	xpt_file_free(&f);
	return rc;
}
