/*
 * binding.c: the Lua binding of the xmpp-partners policy core, loaded into
 * Prosody as require "xmpp_partners.core" (file xmpp_partners/core.so).
 *
 * The binding only translates: Lua values into builder calls and stream
 * facts, core verdicts back into strings.  It holds no policy of its own.
 *
 * API ("tbl" is a partner table, "cert" a parsed certificate):
 *
 *   core.version                      -> the version, AC_INIT in configure.ac
 *   core.build(partners [, options])  -> tbl, warnings | nil, diagnostics
 *       partners is the xmpp_partners config value; options may hold
 *       default, keepalive_interval, connection_limit (also with the
 *       xmpp_partners_ prefix; 300.0 counts as 300).  Keys are walked in
 *       sorted order, so diagnostics come out the same every time.  A
 *       non-string key inside a record is named "[1]", "[true]"...; a
 *       non-string partner key goes by its tostring form, and is an error
 *       even when that form is a valid domain ([true] = {...}).
 *   core.closed()                     -> tbl that refuses every domain
 *   core.check(domain, record [, options]) -> ok, diagnostics
 *       the same checks as build on one record (errors and warnings)
 *   core.normalize(domain)            -> normalized | nil, why
 *   core.matrix(tls, sasl, dialback)  -> row table | nil, why
 *   core.matrix(rowno)                -> row table | nil, why
 *       { row=, tls=, sasl=, dialback=, verdict="ok"|"warn"|"error",
 *         methods={ "sasl_tls", ... }, reason= (nil for ok rows) }
 *   core.reason_text(token)           -> text (unknown token: throws)
 *   core.read_record(text)            -> record | nil, message: a record
 *       typed at a prompt, evaluated in the sandbox; a name read that is
 *       not defined (a value without quotes) is an error naming it
 *   core.option_note(name)            -> warning | nil: a configuration
 *       setting that looks like an xmpp-partners option but is none
 *       (misspelt), with the nearest option name
 *   core.refusal(direction, domain, token) -> canonical log line
 *   core.reason_is_final(token)       -> true when a retry gets the same
 *                                        refusal (back-off applies)
 *   core.backoff_next(previous, max)  -> next back-off window, seconds
 *   core.refusal_summary(direction, domain, count, seconds, token)
 *                                     -> one back-off window's summary line
 *   core.overlay(file, config, runtime, removed [, file_path])
 *                                     -> merged, sources, hidden
 *       the sources of a partner table laid over each other by the core
 *       (file < config < runtime, meeting by normalised domain; see
 *       xp_overlay in xmpp_partners.h).  file, config and runtime map
 *       keys to records (nil: none); removed's keys are stored removals.
 *       merged maps each surviving key, as its source wrote it, to its
 *       record; sources maps it to its label ("config", "file PATH",
 *       "runtime", "runtime (overrides config)", ...); hidden lists the
 *       file and config keys a removal hid, sorted.  A key that is no
 *       string passes through (core.build reports it).
 *   core.parse_value(key, text)       -> value: a value typed for a record
 *       key at a prompt, read by the core (xp_value_parse): nil for
 *       none/nil, a list, true/false, an integer, or the trimmed text
 *   core.diag_line(diagnostic)        -> the one line every host prints for
 *                                        a diagnostic (xp_diag_text)
 *   core.check_text(diagnostics [, partner_count])
 *                                     -> an admin check's text: a line per
 *       diagnostic, then the verdict (valid when partner_count is given)
 *   core.change_text(change [, warnings])
 *                                     -> the line an admin change prints
 *       when done; change is { op = "add"|"set"|"remove"|"reset"|
 *       "reset_backoff"|"edit", domain =, key =, value =, typed =,
 *       hidden =, count = } (xp_change in xmpp_partners.h)
 *   core.change_refused(change, why [, detail | diagnostics])
 *                                     -> the text of a refused change; why
 *       "invalid" (the build's diagnostics), "read", "store",
 *       "additional" (a detail string), "exists", "not_partner", "nothing"
 *   core.export_text(options, records, sources)
 *                                     -> the effective table as a partner
 *       file: options by short name, records and their source labels by
 *       domain (xp_export_text)
 *   core.cert(pem_or_der)             -> cert | nil, message
 *   core.read_file(path)              -> partners, options, notes
 *                                        | nil, message
 *       evaluates a partner file (Prosody configuration syntax) in the
 *       evaluator's sandbox (module/evaluator/sandbox.c), in a Lua state
 *       of its own, and copies out its global xmpp_partners value (an
 *       empty table when unset) and the xmpp_partners_* options it
 *       assigns (options holds them by their short names).  notes are
 *       "path:line: text" strings (an
 *       Include not followed, a name read that is not defined).  A
 *       function in the file comes back as a function that cannot be
 *       called (core.build then reports its type).  The message names the
 *       file and, where Lua knows it, the line.
 *   core.load_file(path)              -> file, notes | nil, message
 *       the same evaluation, but the values stay in C memory owned by
 *       the file object (a compact copy, about the size of the file's
 *       text), so that a host can keep "the file as last loaded" without
 *       holding a Lua table per partner in its heap, where every garbage
 *       collection cycle would mark it:
 *   file:partners()                   -> a fresh table, as read_file's
 *   file:options()                    -> a fresh table, as read_file's
 *   file:close()  (also __gc, __close)
 *
 *   cert:identity(domain [, legacy_cn]) -> "valid" | "invalid"
 *   cert:pin()                        -> "sha256:<hex>"
 *   cert:verify(cafile [, { intermediate certs } [, now]])
 *                                     -> "valid" | "invalid", why
 *   cert:close()  (also __gc, __close)
 *
 *   direction is "incoming" or "outgoing"; chain and identity are
 *   Prosody's cert_*_status ("valid", "invalid" or nil); encrypted and pin
 *   are booleans (nil counts as false).
 *
 *   tbl:resolve(domain)       -> primary domain ("*" for the allow-mode
 *                                default record) | nil, token, text
 *   tbl:lookup(domain)        -> record table | nil, token, text
 *       { domain, description, additional_domains, type, tls, sasl,
 *         dialback, proxy ("host:port" or nil), connection_limit,
 *         keepalive, fingerprints, row, verdict, methods, reason,
 *         default (true for the default record) }
 *   tbl:tls(domain, direction) -> "withhold"|"offer"|"require"
 *                                 | nil, token, text
 *   tbl:sasl_external(domain, direction, encrypted, chain, identity, pin)
 *   tbl:dialback(domain, direction, encrypted, chain, identity, pin)
 *   tbl:stanzas(domain, direction, encrypted, chain, identity, pin)
 *   tbl:auth(domain, direction, method, encrypted, chain, identity, pin)
 *                             -> true | false, token, text
 *       method: "sasl_tls", "dialback_tls", "dialback_tcp", or Prosody's
 *       "EXTERNAL" and "dialback" (dialback_tls when encrypted, else
 *       dialback_tcp); any other name or nil gives false, "unknown_method".
 *   tbl:connection(domain, partner_count, total_count)
 *                             -> true | false, token, text
 *   Refused domains get deny, bounce and strip from the contact calls.
 *   tbl:subscribe(domain, in_roster, subscribed_from, blocked)
 *                             -> "approve" | "deliver" | "deny"
 *   tbl:message(domain, in_roster) -> "deliver" | "bounce"
 *   tbl:strip_status(domain)  -> boolean
 *   tbl:keepalive(domain)     -> boolean, interval_seconds (false for
 *                                refused domains)
 *   tbl:proxy(domain)         -> host (IPv6 without brackets), port | nil
 *   tbl:explain(domain)       -> text | nil, why (a malformed domain):
 *                                the core's explain, the one wording of
 *                                the CLI, the Prosody shell and ejabberdctl
 *   tbl:show(domain [, source]) -> text | nil, message: the record as the
 *                                admin "show" commands print it
 *   tbl:list(rows, matched [, pattern [, removed]]) -> text: the partner
 *                                list as the admin "list" commands print
 *                                it; rows { { domain, source, live }, ...}
 *   tbl:pin_matches(domain, pin) -> boolean (pin: "sha256:hex" or a cert;
 *                                a malformed pin string matches nothing)
 *   tbl:partners()            -> { primary domains, in table order }
 *   tbl:info()                -> { count, default, keepalive_interval,
 *                                  refusal_backoff,
 *                                  connection_limit, closed }
 *   tbl:warnings()            -> diagnostics
 *   tbl:close()  (also __gc, __close)
 *
 *   A diagnostic is { severity = "error"|"warning", partner, key, row,
 *   message, suggestion } (partner, key, row and suggestion may be nil).
 *
 * Error channels: API misuse (wrong argument types, unknown direction or
 * reason token, use of a closed object) and out-of-memory throw; refusals,
 * unknown names chosen by peers and bad configuration are return values.
 *
 * Memory: one xp_ctx per Lua state, allocating with the state's allocator,
 * reference counted by every object that uses it.  Any Lua API call may
 * throw (memory errors at least), so C memory held across Lua calls always
 * sits in a userdata whose __gc frees it; comments marked "longjmp" say
 * where this matters.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "xmpp_partners.h"
#include "sandbox.h"

/* ---- Lua version shims --------------------------------------------------- */

#if LUA_VERSION_NUM < 504
#define lua_newuserdatauv(L, size, nuv) lua_newuserdata((L), (size))
#endif
/* Lua 5.2 has no integer subtype: a number with a whole value counts. */
#if LUA_VERSION_NUM < 503
#define lua_isinteger(L, i) number_is_whole((L), (i))
#endif

/* A number with a whole value in the range the core's set_number takes. */
static int number_is_whole(lua_State *L, int idx)
{
	lua_Number n;

	if (lua_type(L, idx) != LUA_TNUMBER)
		return 0;
	n = lua_tonumber(L, idx);
	return n >= -1e15 && n <= 1e15 && (lua_Number)(long long)n == n;
}

/* ---- names --------------------------------------------------------------- */

#define MODNAME    "xmpp_partners.core"
#define TABLE_MT   MODNAME ".table"
#define CERT_MT    MODNAME ".cert"
#define BUILDER_MT MODNAME ".builder"
#define CONTEXT_MT MODNAME ".context"
#define TEXT_MT    MODNAME ".text"
#define OVERLAY_MT MODNAME ".overlay"
#define VALUE_MT   MODNAME ".value"
/* Registry key of the per-state context, so a second require shares it
 * (not CONTEXT_MT: the registry holds the metatable under that name). */
#define CONTEXT_KEY MODNAME ".context instance"

#define DEFAULT_RECORD_NAME "*"

/* ---- the per-state context ---------------------------------------------
 *
 * The anchor is plain C memory (from the state's allocator) so that its
 * reference count stays readable whatever order finalizers run in: at
 * lua_close, or when the module and its last table become garbage in the
 * same cycle, the context holder may be finalized before or after the
 * objects that use the context.  The last release frees the xp_ctx.
 */
typedef struct anchor {
	xp_ctx *ctx;
	lua_Alloc alloc;
	void *alloc_ud;
	size_t refs;
} anchor;

typedef struct context_ud {
	anchor *anchor; /* NULL once finalized */
} context_ud;

typedef struct table_ud {
	xp_table *table; /* NULL when closed (or never built) */
	anchor *anchor;  /* set together with table */
} table_ud;

typedef struct cert_ud {
	xp_cert *cert;
	anchor *anchor;
} cert_ud;

typedef struct builder_ud {
	xp_builder *builder;
	anchor *anchor;
	/* Scratch reused by every record of one walk, so that a build makes
	 * no Lua allocation per record (see record_keys, list_items).  Owned
	 * here, freed with the builder; allocated with a->alloc. */
	struct key_entry *keys;
	size_t keys_size; /* bytes */
	void *items;
	size_t items_size; /* bytes */
	int key_anchor;    /* stack index of the reused key anchor table */
} builder_ud;

static anchor *anchor_ref(anchor *a)
{
	a->refs++;
	return a;
}

static void anchor_release(anchor *a)
{
	if (a == NULL || --a->refs > 0)
		return;
	xp_ctx_free(a->ctx);
	a->alloc(a->alloc_ud, a, sizeof(*a), 0);
}

static int context_gc(lua_State *L)
{
	context_ud *c = luaL_checkudata(L, 1, CONTEXT_MT);

	anchor_release(c->anchor);
	c->anchor = NULL;
	return 0;
}

/* Push the state's context holder, creating it on first use. */
static void context_push(lua_State *L)
{
	context_ud *c;
	anchor *a;
	void *ud;
	lua_Alloc alloc;

	lua_getfield(L, LUA_REGISTRYINDEX, CONTEXT_KEY);
	if (luaL_testudata(L, -1, CONTEXT_MT) != NULL)
		return;
	lua_pop(L, 1);
	c = lua_newuserdatauv(L, sizeof(*c), 0);
	c->anchor = NULL;
	luaL_setmetatable(L, CONTEXT_MT);
	alloc = lua_getallocf(L, &ud);
	/* longjmp: no Lua call until the anchor is in c (or freed). */
	a = alloc(ud, NULL, 0, sizeof(*a));
	if (a == NULL)
		luaL_error(L, "not enough memory");
	/* The core discards its log messages: the host logs verdicts. */
	a->ctx = xp_ctx_new(alloc, ud, NULL, NULL);
	if (a->ctx == NULL) {
		alloc(ud, a, sizeof(*a), 0);
		luaL_error(L, "not enough memory");
	}
	a->alloc = alloc;
	a->alloc_ud = ud;
	a->refs = 1;
	c->anchor = a;
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, CONTEXT_KEY);
}

/* The context of a module function (upvalue 1). */
static anchor *context_get(lua_State *L)
{
	context_ud *c = lua_touserdata(L, lua_upvalueindex(1));

	if (c == NULL || c->anchor == NULL)
		luaL_error(L, MODNAME ": the module context is gone");
	return c->anchor;
}

/* ---- small helpers ------------------------------------------------------- */

static int status_error(lua_State *L, int status)
{
	if (status == XP_ENOMEM)
		return luaL_error(L, "not enough memory");
	return luaL_error(L, MODNAME ": %s", xp_status_text(status));
}

/* Setters return a negative status only for out-of-memory or misuse. */
static void check_status(lua_State *L, int status)
{
	if (status < 0)
		status_error(L, status);
}

static int type_error(lua_State *L, int arg, const char *expected)
{
	const char *msg = lua_pushfstring(L, "%s expected, got %s", expected,
	                                  luaL_typename(L, arg));
	return luaL_argerror(L, arg, msg);
}

/* A userdata of ours, checked against the metatable in upvalue 1 rather
 * than through the registry: these checks sit on the hot paths. */
static void *self_check(lua_State *L, const char *tname)
{
	void *p = lua_touserdata(L, 1);
	int ok;

	if (p == NULL || lua_type(L, 1) != LUA_TUSERDATA ||
	    !lua_getmetatable(L, 1)) {
		type_error(L, 1, tname);
		return NULL;
	}
	ok = lua_rawequal(L, -1, lua_upvalueindex(1));
	lua_pop(L, 1);
	if (!ok)
		type_error(L, 1, tname);
	return p;
}

/* An optional boolean argument: nil and none are false. */
static int opt_boolean(lua_State *L, int arg)
{
	int t = lua_type(L, arg);

	if (t == LUA_TBOOLEAN)
		return lua_toboolean(L, arg);
	if (t != LUA_TNIL && t != LUA_TNONE)
		type_error(L, arg, "boolean");
	return 0;
}

static xp_direction check_direction(lua_State *L, int arg)
{
	static const char *const names[] = {"incoming", "outgoing", NULL};

	return luaL_checkoption(L, arg, NULL, names) == 0 ? XP_INCOMING
	                                                  : XP_OUTGOING;
}

/* Prosody's cert_chain_status / cert_identity_status. */
static xp_cert_status check_cert_status(lua_State *L, int arg)
{
	const char *s;
	size_t len;

	if (lua_isnoneornil(L, arg))
		return XP_CERT_NONE;
	if (lua_type(L, arg) != LUA_TSTRING)
		type_error(L, arg, "\"valid\", \"invalid\" or nil");
	s = lua_tolstring(L, arg, &len);
	if (len == 5 && memcmp(s, "valid", 5) == 0)
		return XP_CERT_VALID;
	if (len == 7 && memcmp(s, "invalid", 7) == 0)
		return XP_CERT_INVALID;
	luaL_argerror(L, arg, "expected \"valid\", \"invalid\" or nil");
	return XP_CERT_NONE;
}

/* encrypted, chain, identity, pin starting at argument arg. */
static void check_stream(lua_State *L, int arg, xp_stream_state *s)
{
	s->encrypted = opt_boolean(L, arg);
	s->chain = check_cert_status(L, arg + 1);
	s->identity = check_cert_status(L, arg + 2);
	s->pin_match = opt_boolean(L, arg + 3);
}

/* The reasons are numbered densely from XP_R_NONE, and the core names any
 * number past the last one alike; walking until that name keeps this in
 * step with new reasons without listing them here. */
#define REASON_SCAN_MAX 256

static xp_reason check_token(lua_State *L, int arg)
{
	const char *token = luaL_checkstring(L, arg);
	const char *past_end = xp_reason_token((xp_reason)REASON_SCAN_MAX);
	int r;

	for (r = XP_R_NONE; r < REASON_SCAN_MAX; r++) {
		const char *t = xp_reason_token((xp_reason)r);
		if (t == NULL || strcmp(t, past_end) == 0)
			break;
		if (strcmp(t, token) == 0)
			return (xp_reason)r;
	}
	luaL_argerror(L, arg,
	              lua_pushfstring(L, "unknown reason token '%s'", token));
	return XP_R_NONE;
}

static void set_string(lua_State *L, const char *key, const char *value)
{
	lua_pushstring(L, value);
	lua_setfield(L, -2, key);
}

static void set_integer(lua_State *L, const char *key, lua_Integer value)
{
	lua_pushinteger(L, value);
	lua_setfield(L, -2, key);
}

static void set_boolean(lua_State *L, const char *key, int value)
{
	lua_pushboolean(L, value);
	lua_setfield(L, -2, key);
}

/* ---- diagnostics --------------------------------------------------------- */

static void push_diag(lua_State *L, const xp_diag *d)
{
	lua_createtable(L, 0, 6);
	set_string(L, "severity",
	           d->severity == XP_SEV_ERROR ? "error" : "warning");
	if (d->partner != NULL)
		set_string(L, "partner", d->partner);
	if (d->key != NULL)
		set_string(L, "key", d->key);
	if (d->row != 0)
		set_integer(L, "row", d->row);
	set_string(L, "message", d->message != NULL ? d->message : "");
	if (d->suggestion != NULL)
		set_string(L, "suggestion", d->suggestion);
}

/* The builder's diagnostics; only warnings when warnings_only. */
static void push_builder_diags(lua_State *L, const xp_builder *b,
                               int warnings_only)
{
	size_t i, n = xp_builder_diag_count(b);
	lua_Integer k = 0;

	lua_createtable(L, n > INT_MAX ? 0 : (int)n, 0);
	for (i = 0; i < n; i++) {
		const xp_diag *d = xp_builder_diag(b, i);
		if (d == NULL ||
		    (warnings_only && d->severity != XP_SEV_WARNING))
			continue;
		push_diag(L, d);
		lua_rawseti(L, -2, ++k);
	}
}

/* ---- the matrix ---------------------------------------------------------- */

static void push_methods(lua_State *L, unsigned methods)
{
	static const xp_method all[] = {XP_METHOD_SASL_TLS,
	                                XP_METHOD_DIALBACK_TLS,
	                                XP_METHOD_DIALBACK_TCP};
	size_t i;
	lua_Integer k = 0;

	lua_createtable(L, 3, 0);
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (methods & (unsigned)all[i]) {
			lua_pushstring(L, xp_method_name(all[i]));
			lua_rawseti(L, -2, ++k);
		}
	}
}

/* Row fields into the table on the stack top. */
static void set_row_fields(lua_State *L, const xp_matrix_row *r)
{
	set_integer(L, "row", r->row);
	set_string(L, "verdict", xp_verdict_name(r->verdict));
	push_methods(L, r->methods);
	lua_setfield(L, -2, "methods");
	if (r->reason != NULL && r->reason[0] != '\0')
		set_string(L, "reason", r->reason);
}

static void push_row(lua_State *L, const xp_matrix_row *r)
{
	lua_createtable(L, 0, 7);
	set_row_fields(L, r);
	set_string(L, "tls", xp_tls_name(r->tls));
	set_string(L, "sasl", xp_sasl_name(r->sasl));
	set_boolean(L, "dialback", r->dialback);
}

/* tls and sasl share their value names; -1 when unknown. */
static int core_matrix(lua_State *L)
{
	const xp_matrix_row *r;
	const char *tls, *sasl;
	size_t tls_len, sasl_len;
	xp_tls t;
	xp_sasl s;
	int t_ok, s_ok;

	if (lua_type(L, 1) == LUA_TNUMBER) {
		lua_Integer n = luaL_checkinteger(L, 1);
		r = (n >= 1 && n <= 18) ? xp_matrix_row_get((int)n) : NULL;
		if (r == NULL) {
			lua_pushnil(L);
			lua_pushliteral(L, "no such matrix row");
			return 2;
		}
		push_row(L, r);
		return 1;
	}
	tls = luaL_checklstring(L, 1, &tls_len);
	sasl = luaL_checklstring(L, 2, &sasl_len);
	luaL_checktype(L, 3, LUA_TBOOLEAN);
	t_ok = xp_tls_parse(tls, tls_len, &t) == XP_OK;
	s_ok = xp_sasl_parse(sasl, sasl_len, &s) == XP_OK;
	if (!t_ok || !s_ok) {
		lua_pushnil(L);
		lua_pushfstring(L, "unknown %s value '%s'",
		                !t_ok ? "tls" : "sasl", !t_ok ? tls : sasl);
		return 2;
	}
	r = xp_matrix_lookup(t, s, lua_toboolean(L, 3));
	if (r == NULL) {
		lua_pushnil(L);
		return 1;
	}
	push_row(L, r);
	return 1;
}

/* ---- walking Lua configuration into the builder -----------------------------
 *
 * Keys are visited in sorted order so that diagnostics come out the same
 * on every run.  sorted_keys pushes two values: a scratch userdata holding
 * the sorted key array, and a Lua table that keeps every key and the name
 * made for it reachable, so the name pointers stay valid while we walk.
 */
typedef struct key_entry {
	const char *name; /* the key itself, or a name made for it */
	size_t len;
	int type; /* Lua type of the key */
	int slot; /* the key is anchor[2 * slot + 1] */
} key_entry;

static int key_compare(const void *pa, const void *pb)
{
	const key_entry *a = pa, *b = pb;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->name, b->name, n) : 0;

	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	/* "1" and 1 have the same name: the string key first. */
	return (a->type != LUA_TSTRING) - (b->type != LUA_TSTRING);
}

/* A name for the key at the top of the stack, as tostring would give it
 * but without calling metamethods (they could change the table under
 * lua_next).  Pushes the name. */
static void push_key_name(lua_State *L)
{
	switch (lua_type(L, -1)) {
	case LUA_TNUMBER:
		lua_pushvalue(L, -1);
		lua_tostring(L, -1); /* converts the copy only */
		break;
	case LUA_TBOOLEAN:
		lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
		break;
	default:
		lua_pushfstring(L, "%s: %p", luaL_typename(L, -1),
		                lua_topointer(L, -1));
		break;
	}
}

/* The number of keys of table t (absolute index). */
static size_t count_keys(lua_State *L, int t)
{
	size_t n = 0;

	luaL_checkstack(L, 6, "walking a table");
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		n++;
	}
	if (n > INT_MAX / 2 - 1)
		luaL_error(L, MODNAME ": table too large");
	return n;
}

/* Fill keys[0..n) with the keys of table t (absolute index), anchored in
 * the table at anchor_idx, and sort them.  Returns the count. */
static size_t fill_keys(lua_State *L, int t, key_entry *keys, size_t n,
                        int anchor_idx)
{
	size_t i = 0;

	lua_pushnil(L);
	while (lua_next(L, t)) {
		key_entry *k = &keys[i];
		if (i == n) { /* cannot happen: nothing writes to t */
			lua_pop(L, 2);
			break;
		}
		lua_pop(L, 1);
		k->type = lua_type(L, -1);
		k->slot = (int)i;
		lua_pushvalue(L, -1);
		lua_rawseti(L, anchor_idx, 2 * (int)i + 1);
		if (k->type == LUA_TSTRING) {
			k->name = lua_tolstring(L, -1, &k->len);
		} else {
			push_key_name(L);
			k->name = lua_tolstring(L, -1, &k->len);
			lua_rawseti(L, anchor_idx, 2 * (int)i + 2);
		}
		i++;
	}
	qsort(keys, i, sizeof(*keys), key_compare);
	return i;
}

static key_entry *sorted_keys(lua_State *L, int t, size_t *count)
{
	size_t n;
	key_entry *keys;

	t = lua_absindex(L, t);
	n = count_keys(L, t);
	/* longjmp: the key array is a userdata, the names sit in a table. */
	keys = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*keys), 0);
	lua_createtable(L, (int)(2 * n), 0);
	*count = fill_keys(L, t, keys, n, lua_gettop(L));
	return keys;
}

/* Grow a scratch buffer of u to at least need bytes (longjmp on failure:
 * the buffer stays owned by u). */
static void *scratch_grow(lua_State *L, builder_ud *u, void **buf, size_t *size,
                          size_t need)
{
	void *p;

	if (need <= *size)
		return *buf;
	if (need < *size * 2 && *size <= ((size_t)-1) / 2)
		need = *size * 2;
	p = u->anchor->alloc(u->anchor->alloc_ud, *buf, *size, need);
	if (p == NULL)
		luaL_error(L, "not enough memory");
	*buf = p;
	*size = need;
	return p;
}

/* As sorted_keys, for the table t of one record: the key array is u's
 * scratch and the anchor is u's reused table (at u->key_anchor), so
 * nothing is pushed and nothing allocated in Lua (but the names of
 * non-string keys). */
static key_entry *record_keys(lua_State *L, builder_ud *u, int t, size_t *count)
{
	size_t n;
	void *buf = u->keys;
	key_entry *keys;

	t = lua_absindex(L, t);
	n = count_keys(L, t);
	keys = scratch_grow(L, u, &buf, &u->keys_size,
	                    (n ? n : 1) * sizeof(*keys));
	u->keys = keys;
	*count = fill_keys(L, t, keys, n, u->key_anchor);
	return keys;
}

/* Push the value of entry k of table t (anchor at anchor_idx). */
static void push_entry_value(lua_State *L, int t, int anchor_idx,
                             const key_entry *k)
{
	lua_rawgeti(L, anchor_idx, 2 * k->slot + 1);
	lua_rawget(L, t);
}

/* Lua's name for a value type, "float" for a number with a fraction. */
static const char *value_type_name(lua_State *L, int idx)
{
	if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx))
		return "float";
	return luaL_typename(L, idx);
}

/*
 * A list value: a table whose keys are exactly 1..n.  Returns 0 for any
 * other table.  Item pointers point into strings held by the list table
 * itself, which the configuration keeps alive.  The pointer arrays live in
 * u's scratch buffer, so a memory error leaks nothing (longjmp).
 */
static int list_items(lua_State *L, builder_ud *u, int t, const char ***items,
                      size_t **lens, size_t *count)
{
	size_t n = 0, len = lua_rawlen(L, t), i;
	const char **it;
	size_t *ln;

	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		n++;
	}
	if (n != len)
		return 0;
	if (n > ((size_t)-1) / (sizeof(*it) + sizeof(*ln)) - 1)
		luaL_error(L, "not enough memory");
	it = scratch_grow(L, u, &u->items, &u->items_size,
	                  (n ? n : 1) * (sizeof(*it) + sizeof(*ln)));
	ln = (size_t *)(void *)(it + (n ? n : 1));
	for (i = 0; i < n; i++) {
		lua_rawgeti(L, t, (int)(i + 1));
		if (lua_isnil(L, -1)) {
			lua_pop(L, 1);
			return 0;
		}
		if (lua_type(L, -1) == LUA_TSTRING) {
			it[i] = lua_tolstring(L, -1, &ln[i]);
		} else {
			it[i] = NULL;
			ln[i] = 0;
		}
		lua_pop(L, 1);
	}
	*items = it;
	*lens = ln;
	*count = n;
	return 1;
}

/* One key of a partner record; the value is at v. */
static void walk_field(lua_State *L, builder_ud *u, const char *key, int v)
{
	xp_builder *b = u->builder;
	const char **items;
	size_t *lens, n;
	int rc, top = lua_gettop(L);

	switch (lua_type(L, v)) {
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, v, &len);
		rc = xp_builder_set_string(b, key, s, len);
		break;
	}
	case LUA_TBOOLEAN:
		rc = xp_builder_set_boolean(b, key, lua_toboolean(L, v));
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, v))
			rc = xp_builder_set_integer(
			        b, key, (long long)lua_tointeger(L, v));
		else
			rc = xp_builder_set_number(b, key,
			                           (double)lua_tonumber(L, v));
		break;
	case LUA_TTABLE:
		if (list_items(L, u, v, &items, &lens, &n))
			rc = xp_builder_set_list(b, key, items, lens, n);
		else
			rc = xp_builder_set_invalid(b, key,
			                            "table with non-list keys");
		break;
	default:
		rc = xp_builder_set_invalid(b, key, luaL_typename(L, v));
		break;
	}
	lua_settop(L, top);
	check_status(L, rc);
}

/* One partner record (the value at v) under the current begin(). */
static void walk_record(lua_State *L, builder_ud *u, int v)
{
	xp_builder *b = u->builder;
	key_entry *keys;
	size_t n, i;
	int anchor_idx = u->key_anchor;

	v = lua_absindex(L, v);
	if (!lua_istable(L, v)) {
		check_status(L,
		             xp_builder_record_invalid(b, luaL_typename(L, v)));
		return;
	}
	keys = record_keys(L, u, v, &n);
	for (i = 0; i < n; i++) {
		const key_entry *k = &keys[i];
		push_entry_value(L, v, anchor_idx, k);
		if (k->type != LUA_TSTRING) {
			/* Shown as written in Lua, [1] or [true], which also
			 * keeps "did you mean" from matching true to type. */
			const char *name = lua_pushfstring(L, "[%s]", k->name);
			const char *what = lua_pushfstring(
			        L, "%s key", lua_typename(L, k->type));
			check_status(L, xp_builder_set_invalid(b, name, what));
			lua_pop(L, 2);
		} else {
			walk_field(L, u, k->name, lua_gettop(L));
		}
		lua_pop(L, 1);
	}
}

/*
 * A partner under a non-string key.  The builder gets the key's name, so
 * its domain check reports [1] or [{}]; but [true] and [math.huge] make
 * names that pass as domains, and a partner is still named by a string.
 */
static void walk_odd_partner(lua_State *L, builder_ud *u, const key_entry *k,
                             int v)
{
	xp_builder *b = u->builder;
	char out[XP_DOMAIN_MAX + 1];
	size_t len = 0;
	const char *what;

	if (xp_domain_normalize(k->name, k->len, out, &len, NULL) != XP_OK) {
		walk_record(L, u, v);
		return;
	}
	what = lua_pushfstring(L, "%s key", lua_typename(L, k->type));
	check_status(L, xp_builder_record_invalid(b, what));
	lua_pop(L, 1);
}

static void walk_partners(lua_State *L, builder_ud *u, int t)
{
	xp_builder *b = u->builder;
	key_entry *keys;
	size_t n, i;
	int anchor_idx;

	t = lua_absindex(L, t);
	if (!lua_istable(L, t)) {
		check_status(L, xp_builder_option_invalid(b, "xmpp_partners",
		                                          luaL_typename(L, t)));
		return;
	}
	keys = sorted_keys(L, t, &n);
	anchor_idx = lua_gettop(L);
	for (i = 0; i < n; i++) {
		const key_entry *k = &keys[i];
		check_status(L, xp_builder_begin(b, k->name, k->len));
		push_entry_value(L, t, anchor_idx, k);
		if (k->type == LUA_TSTRING)
			walk_record(L, u, lua_gettop(L));
		else
			walk_odd_partner(L, u, k, lua_gettop(L));
		lua_settop(L, anchor_idx);
		check_status(L, xp_builder_end(b));
	}
	lua_pop(L, 2);
}

/* Global options; opts is a table or nil. */
static void walk_options(lua_State *L, xp_builder *b, int opts)
{
	key_entry *keys;
	size_t n, i;
	int anchor_idx, rc;

	opts = lua_absindex(L, opts);
	if (lua_isnoneornil(L, opts))
		return;
	keys = sorted_keys(L, opts, &n);
	anchor_idx = lua_gettop(L);
	for (i = 0; i < n; i++) {
		const key_entry *k = &keys[i];
		int v;
		if (k->type != LUA_TSTRING)
			luaL_argerror(L, opts, "option names must be strings");
		push_entry_value(L, opts, anchor_idx, k);
		v = lua_gettop(L);
		if (lua_type(L, v) == LUA_TSTRING) {
			size_t len;
			const char *s = lua_tolstring(L, v, &len);
			rc = xp_builder_option_string(b, k->name, s, len);
		} else if (lua_isinteger(L, v)) {
			rc = xp_builder_option_integer(
			        b, k->name, (long long)lua_tointeger(L, v));
		} else if (number_is_whole(L, v)) {
			/* 300.0: whole, as set_number takes it in records */
			rc = xp_builder_option_integer(
			        b, k->name, (long long)lua_tonumber(L, v));
		} else {
			rc = xp_builder_option_invalid(b, k->name,
			                               value_type_name(L, v));
		}
		lua_pop(L, 1);
		check_status(L, rc);
	}
	lua_pop(L, 2);
}

/* Free u's scratch buffers (u->anchor still set). */
static void scratch_free(builder_ud *u)
{
	anchor *a = u->anchor;

	if (u->keys != NULL)
		a->alloc(a->alloc_ud, u->keys, u->keys_size, 0);
	if (u->items != NULL)
		a->alloc(a->alloc_ud, u->items, u->items_size, 0);
	u->keys = NULL;
	u->keys_size = 0;
	u->items = NULL;
	u->items_size = 0;
}

static int builder_gc(lua_State *L)
{
	builder_ud *u = luaL_checkudata(L, 1, BUILDER_MT);

	if (u->builder != NULL) {
		scratch_free(u);
		xp_builder_free(u->builder);
		u->builder = NULL;
		anchor_release(u->anchor);
		u->anchor = NULL;
	}
	return 0;
}

/* A builder guarded by a userdata (pushed, then the reused key anchor
 * table): however the walk ends, a normal return or a Lua error
 * (longjmp), __gc frees the builder and its scratch buffers. */
static builder_ud *builder_push(lua_State *L, anchor *a)
{
	builder_ud *u = lua_newuserdatauv(L, sizeof(*u), 0);

	u->builder = NULL;
	u->anchor = NULL;
	u->keys = NULL;
	u->keys_size = 0;
	u->items = NULL;
	u->items_size = 0;
	luaL_setmetatable(L, BUILDER_MT);
	u->builder = xp_builder_new(a->ctx);
	if (u->builder == NULL)
		luaL_error(L, "not enough memory");
	u->anchor = anchor_ref(a);
	/* The key anchor reused by every record (record_keys). */
	lua_newtable(L);
	u->key_anchor = lua_gettop(L);
	return u;
}

/* Free the builder now rather than at the next collection. */
static void builder_close(builder_ud *u)
{
	scratch_free(u);
	xp_builder_free(u->builder);
	u->builder = NULL;
	anchor_release(u->anchor);
	u->anchor = NULL;
}

static void check_options_arg(lua_State *L, int arg)
{
	if (!lua_isnoneornil(L, arg))
		luaL_checktype(L, arg, LUA_TTABLE);
}

/* ---- tables -------------------------------------------------------------- */

static table_ud *table_push(lua_State *L)
{
	table_ud *u = lua_newuserdatauv(L, sizeof(*u), 0);

	u->table = NULL;
	u->anchor = NULL;
	luaL_setmetatable(L, TABLE_MT);
	return u;
}

static table_ud *table_check(lua_State *L)
{
	return self_check(L, TABLE_MT);
}

static const xp_table *table_open(lua_State *L)
{
	table_ud *u = table_check(L);

	if (u->table == NULL)
		luaL_error(L, MODNAME ": table is closed");
	return u->table;
}

static int table_close(lua_State *L)
{
	table_ud *u = table_check(L);

	if (u->table != NULL) {
		xp_table_unref(u->table);
		u->table = NULL;
		anchor_release(u->anchor);
		u->anchor = NULL;
	}
	return 0;
}

static int core_build(lua_State *L)
{
	anchor *a = context_get(L);
	builder_ud *bu;
	table_ud *tu;
	int rc;

	check_options_arg(L, 2);
	lua_settop(L, 2);
	bu = builder_push(L, a);
	/* longjmp: the walks may throw; the builder sits in bu. */
	walk_options(L, bu->builder, 2);
	walk_partners(L, bu, 1);
	tu = table_push(L);
	rc = xp_builder_finish(bu->builder, &tu->table);
	if (rc == XP_OK) {
		/* No Lua call between finish and here: tu owns the table. */
		tu->anchor = anchor_ref(a);
		push_builder_diags(L, bu->builder, 1);
		builder_close(bu);
		return 2;
	}
	if (rc != XP_ECONFIG)
		return status_error(L, rc);
	lua_pushnil(L);
	push_builder_diags(L, bu->builder, 0);
	builder_close(bu);
	return 2;
}

static int core_check(lua_State *L)
{
	anchor *a = context_get(L);
	builder_ud *bu;
	xp_table *t = NULL;
	size_t len;
	const char *domain = luaL_checklstring(L, 1, &len);
	int rc;

	check_options_arg(L, 3);
	lua_settop(L, 3);
	bu = builder_push(L, a);
	/* longjmp: as in build, the builder sits in bu. */
	walk_options(L, bu->builder, 3);
	check_status(L, xp_builder_begin(bu->builder, domain, len));
	walk_record(L, bu, 2);
	check_status(L, xp_builder_end(bu->builder));
	/* Finishing runs the table-wide checks (duplicate domains); the
	 * table is dropped at once, with no Lua call in between. */
	rc = xp_builder_finish(bu->builder, &t);
	if (rc == XP_OK)
		xp_table_unref(t);
	else if (rc != XP_ECONFIG)
		return status_error(L, rc);
	lua_pushboolean(L, rc == XP_OK);
	push_builder_diags(L, bu->builder, 0);
	builder_close(bu);
	return 2;
}

static int core_closed(lua_State *L)
{
	anchor *a = context_get(L);
	table_ud *u = table_push(L);

	u->table = xp_table_new_closed(a->ctx);
	if (u->table == NULL)
		return luaL_error(L, "not enough memory");
	u->anchor = anchor_ref(a);
	return 1;
}

/* ---- table queries ------------------------------------------------------- */

/* The partner for the domain at arg; NULL with *reason when refused. */
static const xp_partner *resolve_arg(lua_State *L, const xp_table *t, int arg,
                                     xp_reason *reason)
{
	size_t len;
	const char *domain = luaL_checklstring(L, arg, &len);

	*reason = XP_R_NONE;
	return xp_table_resolve(t, domain, len, reason);
}

/* first (nil or false), token, text. */
static int push_refused(lua_State *L, int as_false, xp_reason reason)
{
	if (as_false)
		lua_pushboolean(L, 0);
	else
		lua_pushnil(L);
	lua_pushstring(L, xp_reason_token(reason));
	lua_pushstring(L, xp_reason_text(reason));
	return 3;
}

static int push_verdict(lua_State *L, int ok, xp_reason reason)
{
	if (ok) {
		lua_pushboolean(L, 1);
		return 1;
	}
	return push_refused(L, 1, reason);
}

/* The name a table knows a partner by. */
static void push_partner_name(lua_State *L, const xp_partner *p)
{
	if (xp_partner_is_default(p))
		lua_pushliteral(L, DEFAULT_RECORD_NAME);
	else
		lua_pushstring(L, xp_partner_domain(p));
}

static int table_resolve(lua_State *L)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	size_t len;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);
	const char *name, *given;

	if (p == NULL)
		return push_refused(L, 0, reason);
	if (xp_partner_is_default(p)) {
		lua_pushliteral(L, DEFAULT_RECORD_NAME);
		return 1;
	}
	/* Most lookups use the primary domain as written: reuse the argument
	 * instead of interning the same string again. */
	name = xp_partner_domain(p);
	given = lua_tolstring(L, 2, &len);
	if (strlen(name) == len && memcmp(name, given, len) == 0)
		lua_pushvalue(L, 2);
	else
		lua_pushstring(L, name);
	return 1;
}

static void push_string_list(lua_State *L, size_t n,
                             const char *(*get)(const xp_partner *, size_t),
                             const xp_partner *p)
{
	size_t i;

	lua_createtable(L, n > INT_MAX ? 0 : (int)n, 0);
	for (i = 0; i < n; i++) {
		lua_pushstring(L, get(p, i));
		lua_rawseti(L, -2, (int)(i + 1));
	}
}

/* The proxy host as a host layer connects to it: an IPv6 literal without
 * the brackets the configuration needs around it. */
static void push_proxy_host(lua_State *L, const char *host)
{
	size_t len = strlen(host);

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
		lua_pushlstring(L, host + 1, len - 2);
	else
		lua_pushlstring(L, host, len);
}

/* "host:port", with brackets around an IPv6 host. */
static void push_proxy(lua_State *L, const char *host, unsigned port)
{
	if (host[0] != '[' && strchr(host, ':') != NULL)
		lua_pushfstring(L, "[%s]:%d", host, (int)port);
	else
		lua_pushfstring(L, "%s:%d", host, (int)port);
}

static int table_lookup(lua_State *L)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);
	const char *proxy;
	unsigned port = 0;

	if (p == NULL)
		return push_refused(L, 0, reason);
	lua_createtable(L, 0, 18);
	push_partner_name(L, p);
	lua_setfield(L, -2, "domain");
	set_string(L, "description", xp_partner_description(p));
	push_string_list(L, xp_partner_additional_count(p),
	                 xp_partner_additional, p);
	lua_setfield(L, -2, "additional_domains");
	set_string(L, "type", xp_partner_type_name(xp_partner_get_type(p)));
	set_string(L, "tls", xp_tls_name(xp_partner_tls(p)));
	set_string(L, "sasl", xp_sasl_name(xp_partner_sasl(p)));
	set_boolean(L, "dialback", xp_partner_dialback(p));
	proxy = xp_partner_proxy(p, &port);
	if (proxy != NULL) {
		push_proxy(L, proxy, port);
		lua_setfield(L, -2, "proxy");
	}
	set_integer(L, "connection_limit",
	            (lua_Integer)xp_partner_connection_limit(p));
	set_boolean(L, "keepalive", xp_partner_keepalive(p));
	push_string_list(L, xp_partner_fingerprint_count(p),
	                 xp_partner_fingerprint, p);
	lua_setfield(L, -2, "fingerprints");
	if (xp_partner_row(p) != NULL)
		set_row_fields(L, xp_partner_row(p));
	if (xp_partner_is_default(p))
		set_boolean(L, "default", 1);
	return 1;
}

static int table_tls(lua_State *L)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);
	xp_direction d = check_direction(L, 3);

	if (p == NULL)
		return push_refused(L, 0, reason);
	lua_pushstring(L, xp_tls_action_name(xp_verdict_tls(p, d)));
	return 1;
}

typedef int (*stream_verdict_fn)(const xp_partner *, xp_direction,
                                 const xp_stream_state *, xp_reason *);

/* (domain, direction, encrypted, chain, identity, pin) -> verdict. */
static int stream_verdict(lua_State *L, stream_verdict_fn verdict)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);
	xp_direction d = check_direction(L, 3);
	xp_stream_state s;
	int ok;

	check_stream(L, 4, &s);
	if (p == NULL)
		return push_refused(L, 1, reason);
	reason = XP_R_NONE;
	ok = verdict(p, d, &s, &reason); /* before reading reason */
	return push_verdict(L, ok, reason);
}

static int table_sasl_external(lua_State *L)
{
	return stream_verdict(L, xp_verdict_sasl_external);
}

static int table_dialback(lua_State *L)
{
	return stream_verdict(L, xp_verdict_dialback);
}

static int table_stanzas(lua_State *L)
{
	return stream_verdict(L, xp_verdict_stanzas);
}

/* A method name as the core or Prosody spells it; 0 when unknown. */
static xp_method parse_method(lua_State *L, int arg, int encrypted)
{
	const char *s;
	size_t len;
	unsigned m;

	if (lua_isnoneornil(L, arg))
		return (xp_method)0;
	if (lua_type(L, arg) != LUA_TSTRING)
		type_error(L, arg, "string");
	s = lua_tolstring(L, arg, &len);
	if (len == 8 && memcmp(s, "EXTERNAL", 8) == 0)
		return XP_METHOD_SASL_TLS;
	if (len == 8 && memcmp(s, "dialback", 8) == 0)
		return encrypted ? XP_METHOD_DIALBACK_TLS
		                 : XP_METHOD_DIALBACK_TCP;
	m = xp_method_parse(s, len);
	if (m == XP_METHOD_SASL_TLS || m == XP_METHOD_DIALBACK_TLS ||
	    m == XP_METHOD_DIALBACK_TCP)
		return (xp_method)m;
	return (xp_method)0;
}

static int table_auth(lua_State *L)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);
	xp_direction d = check_direction(L, 3);
	xp_stream_state s;
	xp_method m;
	int ok;

	check_stream(L, 5, &s);
	m = parse_method(L, 4, s.encrypted);
	if (p == NULL)
		return push_refused(L, 1, reason);
	if (m == 0)
		return push_refused(L, 1, XP_R_UNKNOWN_METHOD);
	reason = XP_R_NONE;
	ok = xp_verdict_auth(p, d, m, &s, &reason);
	return push_verdict(L, ok, reason);
}

/* A connection count: a non-negative integer, saturated at UINT_MAX. */
static unsigned check_count(lua_State *L, int arg)
{
	lua_Integer n = luaL_checkinteger(L, arg);

	luaL_argcheck(L, n >= 0, arg, "count must not be negative");
	if ((unsigned long long)n > UINT_MAX)
		return UINT_MAX;
	return (unsigned)n;
}

static int table_connection(lua_State *L)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);
	unsigned mine = check_count(L, 3), total = check_count(L, 4);
	int ok;

	if (p == NULL)
		return push_refused(L, 1, reason);
	reason = XP_R_NONE;
	ok = xp_verdict_connection(t, p, mine, total, &reason);
	return push_verdict(L, ok, reason);
}

/* The contact functions get NULL for a refused domain: the core then
 * denies, bounces and strips. */
static int table_subscribe(lua_State *L)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);
	xp_contact_state c;

	c.in_roster = opt_boolean(L, 3);
	c.subscribed_from = opt_boolean(L, 4);
	c.blocked = opt_boolean(L, 5);
	lua_pushstring(L,
	               xp_subscribe_action_name(xp_contact_subscribe(p, &c)));
	return 1;
}

static int table_message(lua_State *L)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);
	xp_contact_state c;

	c.in_roster = opt_boolean(L, 3);
	c.subscribed_from = 0;
	c.blocked = 0;
	lua_pushstring(L, xp_message_action_name(xp_contact_message(p, &c)));
	return 1;
}

static int table_strip_status(lua_State *L)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);

	lua_pushboolean(L, xp_contact_strip_status(p));
	return 1;
}

static int table_keepalive(lua_State *L)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);

	lua_pushboolean(L, p != NULL && xp_partner_keepalive(p));
	lua_pushinteger(L, (lua_Integer)xp_table_keepalive_interval(t));
	return 2;
}

static int table_proxy(lua_State *L)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);
	const char *host;
	unsigned port = 0;

	host = p != NULL ? xp_partner_proxy(p, &port) : NULL;
	if (host == NULL) {
		lua_pushnil(L);
		return 1;
	}
	push_proxy_host(L, host);
	lua_pushinteger(L, (lua_Integer)port);
	return 2;
}

/* A text of the core on its way to a Lua string: it sits in a userdata
 * whose __gc frees it, since pushing the string may throw (longjmp). */
typedef struct text_ud {
	xp_text *text;
} text_ud;

static int text_gc(lua_State *L)
{
	text_ud *u = luaL_checkudata(L, 1, TEXT_MT);

	xp_text_free(u->text);
	u->text = NULL;
	return 0;
}

/* tbl:explain(domain) -> text | nil, why: the core's explain text. */
static int table_explain(lua_State *L)
{
	table_ud *t = table_check(L);
	size_t len;
	const char *domain = luaL_checklstring(L, 2, &len), *why = NULL;
	text_ud *u;
	int rc;

	table_open(L);
	u = lua_newuserdatauv(L, sizeof(*u), 0);
	u->text = NULL;
	luaL_setmetatable(L, TEXT_MT);
	rc = xp_explain_text(t->anchor->ctx, t->table, domain, len, &u->text,
	                     &why);
	if (rc == XP_EINVAL) {
		lua_pushnil(L);
		lua_pushstring(L, why != NULL ? why : "not a valid domain");
		return 2;
	}
	if (rc != XP_OK)
		return status_error(L, rc);
	lua_pushlstring(L, xp_text_str(u->text), xp_text_len(u->text));
	xp_text_free(u->text);
	u->text = NULL;
	return 1;
}

/* A diagnostic table (as push_builder_diags makes them) at idx as an
 * xp_diag whose strings are borrowed from the table, which the caller
 * keeps on the stack. */
static void diag_from_table(lua_State *L, int idx, xp_diag *d)
{
	const char *sev;

	idx = lua_absindex(L, idx);
	luaL_checktype(L, idx, LUA_TTABLE);
	memset(d, 0, sizeof(*d));
	lua_getfield(L, idx, "severity");
	sev = lua_tostring(L, -1);
	d->severity = sev != NULL && strcmp(sev, "error") == 0 ? XP_SEV_ERROR
	                                                       : XP_SEV_WARNING;
	lua_pop(L, 1); /* held by the table */
	lua_getfield(L, idx, "message");
	d->message = lua_tostring(L, -1);
	lua_pop(L, 1);
	lua_getfield(L, idx, "suggestion");
	d->suggestion = lua_tostring(L, -1);
	lua_pop(L, 1);
	lua_getfield(L, idx, "partner");
	d->partner = lua_tostring(L, -1);
	lua_pop(L, 1);
	lua_getfield(L, idx, "row");
	d->row = (int)lua_tointeger(L, -1);
	lua_pop(L, 1);
}

/* A core text into a Lua string; the text sits in u until pushed. */
static int push_text(lua_State *L, text_ud *u, int rc)
{
	if (rc != XP_OK)
		return status_error(L, rc);
	lua_pushlstring(L, xp_text_str(u->text), xp_text_len(u->text));
	xp_text_free(u->text);
	u->text = NULL;
	return 1;
}

static text_ud *text_push(lua_State *L)
{
	text_ud *u = lua_newuserdatauv(L, sizeof(*u), 0);

	u->text = NULL;
	luaL_setmetatable(L, TEXT_MT);
	return u;
}

/* core.diag_line(diagnostic) -> text */
static int core_diag_line(lua_State *L)
{
	anchor *a = context_get(L);
	xp_diag d;
	text_ud *u;

	lua_settop(L, 1);
	diag_from_table(L, 1, &d);
	u = text_push(L);
	return push_text(L, u, xp_diag_text(a->ctx, &d, &u->text));
}

/* core.check_text(diagnostics, partner_count | nil) -> text: the admin
 * check's text, valid when partner_count is given. */
static int core_check_text(lua_State *L)
{
	anchor *a = context_get(L);
	size_t n, i;
	xp_diag *d;
	text_ud *u;
	int valid;
	lua_Integer count;

	luaL_checktype(L, 1, LUA_TTABLE);
	valid = !lua_isnoneornil(L, 2);
	count = valid ? luaL_checkinteger(L, 2) : 0;
	lua_settop(L, 2);
	n = (size_t)lua_rawlen(L, 1);
	/* (GC memory: nothing to free if a Lua call below throws) */
	d = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*d), 0);
	for (i = 0; i < n; i++) {
		lua_rawgeti(L, 1, (lua_Integer)i + 1);
		diag_from_table(L, -1, &d[i]);
		lua_pop(L, 1); /* held by the list */
	}
	u = text_push(L);
	return push_text(L, u,
	                 xp_check_text(a->ctx, d, n, valid,
	                               (size_t)(count > 0 ? count : 0),
	                               XP_HOST_PROSODY, &u->text));
}

/* ---- admin change results and the export (texts.c) ----------------------- */

/* A Lua value as the core's texts read it; a list's item arrays are
 * userdata stored in the table at holder (so they live until the call
 * ends).  The value at idx must stay where it is meanwhile.  0: a type the
 * texts do not write (a function, a list with a non-string item, ...). */
static int text_value_from(lua_State *L, int idx, int holder, xp_text_value *v)
{
	size_t n, i;
	const char **items;
	size_t *lens;

	memset(v, 0, sizeof(*v));
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
	case LUA_TNONE:
		v->type = XP_VALUE_UNSET;
		return 1;
	case LUA_TSTRING:
		v->type = XP_VALUE_STRING;
		v->s = lua_tolstring(L, idx, &v->len);
		return 1;
	case LUA_TBOOLEAN:
		v->type = XP_VALUE_BOOLEAN;
		v->boolean = lua_toboolean(L, idx);
		return 1;
	case LUA_TNUMBER:
		if (!number_is_whole(L, idx))
			return 0;
		v->type = XP_VALUE_INTEGER;
		v->integer = (long long)lua_tonumber(L, idx);
		if (lua_isinteger(L, idx))
			v->integer = (long long)lua_tointeger(L, idx);
		return 1;
	case LUA_TTABLE:
		n = (size_t)lua_rawlen(L, idx);
		items = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*items), 0);
		lua_rawseti(L, holder, (lua_Integer)lua_rawlen(L, holder) + 1);
		lens = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*lens), 0);
		lua_rawseti(L, holder, (lua_Integer)lua_rawlen(L, holder) + 1);
		for (i = 0; i < n; i++) {
			lua_rawgeti(L, idx, (lua_Integer)i + 1);
			if (lua_type(L, -1) != LUA_TSTRING) {
				lua_pop(L, 1);
				return 0;
			}
			/* (held by the list) */
			items[i] = lua_tolstring(L, -1, &lens[i]);
			lua_pop(L, 1);
		}
		v->type = XP_VALUE_LIST;
		v->items = items;
		v->lens = lens;
		v->n = n;
		return 1;
	default:
		return 0;
	}
}

static const char *const change_ops[] = {
        "add", "set", "remove", "reset", "reset_backoff", "edit", NULL};

static const char *opt_field(lua_State *L, int idx, const char *name)
{
	const char *s;

	lua_getfield(L, idx, name);
	s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	lua_pop(L, 1); /* held by the table */
	return s;
}

/* The change table at 1 ({ op =, domain =, key =, value =, typed =,
 * hidden =, count = }) into c; its value is left at the top of the
 * stack (holder: the table for list arrays). */
static void change_from(lua_State *L, int holder, xp_change *c,
                        xp_text_value *value)
{
	int op;

	luaL_checktype(L, 1, LUA_TTABLE);
	memset(c, 0, sizeof(*c));
	lua_getfield(L, 1, "op");
	op = luaL_checkoption(L, -1, NULL, change_ops);
	lua_pop(L, 1);
	c->op = (xp_change_op)op;
	c->domain = opt_field(L, 1, "domain");
	if (c->domain == NULL)
		luaL_argerror(L, 1, "the change names no domain");
	c->key = opt_field(L, 1, "key");
	c->typed = opt_field(L, 1, "typed");
	c->hidden = opt_field(L, 1, "hidden");
	lua_getfield(L, 1, "count");
	c->count =
	        (unsigned long)(lua_tointeger(L, -1) > 0 ? lua_tointeger(L, -1)
	                                                 : 0);
	lua_pop(L, 1);
	lua_getfield(L, 1, "value");
	if (!text_value_from(L, lua_gettop(L), holder, value))
		luaL_argerror(L, 1,
		              "the change's value is not one a record "
		              "key takes");
	c->value = value;
}

/* core.change_text(change [, warnings]) -> the line an admin command
 * prints when the change is done (xp_change_text) */
static int core_change_text(lua_State *L)
{
	anchor *a = context_get(L);
	const char *warnings = luaL_optstring(L, 2, NULL);
	xp_text_value value;
	xp_change c;
	text_ud *u;

	lua_settop(L, 2);
	lua_newtable(L); /* 3: holder */
	change_from(L, 3, &c, &value);
	u = text_push(L);
	return push_text(L, u,
	                 xp_change_text(a->ctx, XP_HOST_PROSODY, &c, warnings,
	                                &u->text));
}

static const char *const refusals[] = {"invalid", "read",        "store",
                                       "exists",  "not_partner", "additional",
                                       "nothing", NULL};

/* core.change_refused(change, why [, detail | diagnostics]) -> the text of
 * a refused change (xp_change_refused_text); why is one of "invalid"
 * (then the build's diagnostics), "read", "store", "additional" (then a
 * detail string), "exists", "not_partner", "nothing". */
static int core_change_refused(lua_State *L)
{
	anchor *a = context_get(L);
	int why = luaL_checkoption(L, 2, NULL, refusals);
	const char *detail = NULL;
	xp_diag *d = NULL;
	size_t n = 0, i;
	xp_text_value value;
	xp_change c;
	text_ud *u;

	lua_settop(L, 3);
	if (lua_type(L, 3) == LUA_TTABLE) {
		n = (size_t)lua_rawlen(L, 3);
		d = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*d), 0);
		lua_replace(L, 2); /* (why is read already) */
		for (i = 0; i < n; i++) {
			lua_rawgeti(L, 3, (lua_Integer)i + 1);
			diag_from_table(L, lua_gettop(L), &d[i]);
			lua_pop(L, 1); /* held by the list */
		}
	} else if (!lua_isnil(L, 3)) {
		detail = luaL_checkstring(L, 3);
	}
	lua_newtable(L); /* 4: holder */
	change_from(L, 4, &c, &value);
	u = text_push(L);
	return push_text(L, u,
	                 xp_change_refused_text(a->ctx, XP_HOST_PROSODY, &c,
	                                        (xp_change_refusal)why, detail,
	                                        d, n, &u->text));
}

/* The fields of the record table at idx, in an array stored in holder;
 * 0 when a key is no string or a value not one the export writes. */
static int export_fields(lua_State *L, int idx, int holder,
                         xp_export_field **out, size_t *n_out)
{
	xp_export_field *f;
	size_t n = 0;

	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		n++;
	}
	f = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*f), 0);
	lua_rawseti(L, holder, (lua_Integer)lua_rawlen(L, holder) + 1);
	n = 0;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING ||
		    !text_value_from(L, lua_gettop(L), holder, &f[n].value)) {
			lua_pop(L, 2);
			return 0;
		}
		f[n].key = lua_tostring(L, -2); /* held by the record */
		n++;
		lua_pop(L, 1);
	}
	*out = f;
	*n_out = n;
	return 1;
}

/* core.export_text(options, records, sources) -> the effective table as a
 * partner file (xp_export_text): options by their short names, records by
 * domain (as merged), sources the label of each. */
static int core_export_text(lua_State *L)
{
	anchor *a = context_get(L);
	xp_export_field *opts;
	xp_export_record *recs;
	size_t n_opts = 0, n = 0;
	text_ud *u;

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 3);
	if (!lua_istable(L, 3)) {
		lua_newtable(L);
		lua_replace(L, 3);
	}
	lua_newtable(L); /* 4: holder */
	if (!export_fields(L, 1, 4, &opts, &n_opts))
		return luaL_argerror(L, 1, "an option the export cannot write");
	lua_pushnil(L);
	while (lua_next(L, 2) != 0) {
		lua_pop(L, 1);
		n++;
	}
	recs = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*recs), 0);
	lua_rawseti(L, 4, 1 + (lua_Integer)lua_rawlen(L, 4));
	n = 0;
	lua_pushnil(L);
	while (lua_next(L, 2) != 0) {
		xp_export_field *fields = NULL;
		if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1) ||
		    !export_fields(L, lua_gettop(L), 4, &fields,
		                   &recs[n].n_fields))
			return luaL_argerror(
			        L, 2, "a record the export cannot write");
		recs[n].fields = fields;
		recs[n].domain = lua_tostring(L, -2); /* held by records */
		lua_pushvalue(L, -2);
		lua_gettable(L, 3);
		recs[n].source = lua_type(L, -1) == LUA_TSTRING
		                         ? lua_tostring(L, -1)
		                         : NULL;
		lua_pop(L, 2); /* (the label is held by sources) */
		n++;
	}
	u = text_push(L);
	return push_text(
	        L, u, xp_export_text(a->ctx, opts, n_opts, recs, n, &u->text));
}

/* tbl:show(domain [, source]) -> text | nil, message: the record as the
 * admin "show" commands print it (xp_show_text). */
static int table_show(lua_State *L)
{
	table_ud *t = table_check(L);
	size_t len;
	const char *domain = luaL_checklstring(L, 2, &len);
	const char *source = luaL_optstring(L, 3, NULL);
	text_ud *u;
	int rc;

	table_open(L);
	u = text_push(L);
	rc = xp_show_text(t->anchor->ctx, t->table, domain, len, source,
	                  &u->text);
	if (rc == XP_ENOTFOUND || rc == XP_EINVAL) {
		lua_pushnil(L);
		push_text(L, u, XP_OK);
		return 2;
	}
	return push_text(L, u, rc);
}

/* tbl:list(rows, matched [, pattern [, removed]]) -> text: the partner
 * list as the admin "list" commands print it (xp_list_text); rows are
 * { domain, source, live } (primary domains the host chose), removed a
 * list of domains removed at runtime. */
static int table_list(lua_State *L)
{
	table_ud *t = table_check(L);
	size_t n, n_removed = 0, i;
	lua_Integer matched;
	const char *pattern;
	xp_list_row *rows;
	const char **removed;
	text_ud *u;

	table_open(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	matched = luaL_checkinteger(L, 3);
	pattern = luaL_optstring(L, 4, NULL);
	if (!lua_isnoneornil(L, 5)) {
		luaL_checktype(L, 5, LUA_TTABLE);
		n_removed = (size_t)lua_rawlen(L, 5);
	}
	lua_settop(L, 5);
	n = (size_t)lua_rawlen(L, 2);
	/* GC memory (nothing to free if a Lua call throws); the strings stay
	 * in the argument tables, on the stack */
	rows = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*rows), 0);
	removed = lua_newuserdatauv(
	        L, (n_removed ? n_removed : 1) * sizeof(*removed), 0);
	for (i = 0; i < n; i++) {
		lua_rawgeti(L, 2, (lua_Integer)i + 1);
		luaL_checktype(L, -1, LUA_TTABLE);
		lua_rawgeti(L, -1, 1);
		rows[i].domain = lua_tostring(L, -1);
		lua_rawgeti(L, -2, 2);
		rows[i].source = lua_tostring(L, -1);
		lua_rawgeti(L, -3, 3);
		rows[i].live = (unsigned long)(lua_tointeger(L, -1) > 0
		                                       ? lua_tointeger(L, -1)
		                                       : 0);
		lua_pop(L, 4); /* the strings are held by the row tables */
		if (rows[i].domain == NULL)
			return luaL_argerror(L, 2, "a row without a domain");
	}
	for (i = 0; i < n_removed; i++) {
		lua_rawgeti(L, 5, (lua_Integer)i + 1);
		removed[i] = lua_tostring(L, -1);
		lua_pop(L, 1);
		if (removed[i] == NULL)
			return luaL_argerror(L, 5,
			                     "a removed domain that is no "
			                     "string");
	}
	u = text_push(L);
	return push_text(L, u,
	                 xp_list_text(t->anchor->ctx, t->table, rows, n,
	                              (size_t)(matched > 0 ? matched : 0),
	                              pattern, removed, n_removed, &u->text));
}

static xp_cert *cert_open_at(lua_State *L, int arg);

static int table_pin_matches(lua_State *L)
{
	const xp_table *t = table_open(L);
	xp_reason reason;
	const xp_partner *p = resolve_arg(L, t, 2, &reason);
	unsigned char spki[32];
	int ok;

	if (lua_type(L, 3) == LUA_TSTRING) {
		size_t len;
		const char *s = lua_tolstring(L, 3, &len);
		/* A malformed pin matches nothing. */
		ok = xp_pin_parse(s, len, spki) == XP_OK;
	} else if (luaL_testudata(L, 3, CERT_MT) != NULL) {
		ok = xp_cert_spki_sha256(cert_open_at(L, 3), spki) == XP_OK;
	} else {
		return type_error(L, 3, "pin string or " CERT_MT);
	}
	lua_pushboolean(L, ok && p != NULL && xp_partner_pin_matches(p, spki));
	return 1;
}

static int table_partners(lua_State *L)
{
	const xp_table *t = table_open(L);
	size_t i, n = xp_table_count(t);

	lua_createtable(L, n > INT_MAX ? 0 : (int)n, 0);
	for (i = 0; i < n; i++) {
		lua_pushstring(L, xp_partner_domain(xp_table_at(t, i)));
		lua_rawseti(L, -2, (int)(i + 1));
	}
	return 1;
}

static int table_info(lua_State *L)
{
	const xp_table *t = table_open(L);
	int o;

	lua_createtable(L, 0, 6 + XP_PREAUTH_COUNT);
	set_integer(L, "count", (lua_Integer)xp_table_count(t));
	set_string(L, "default",
	           xp_table_default_policy(t) == XP_DEFAULT_ALLOW ? "allow"
	                                                          : "deny");
	set_integer(L, "keepalive_interval",
	            (lua_Integer)xp_table_keepalive_interval(t));
	set_integer(L, "connection_limit",
	            (lua_Integer)xp_table_connection_limit(t));
	set_integer(L, "refusal_backoff",
	            (lua_Integer)xp_table_refusal_backoff(t));
	for (o = 0; o < XP_PREAUTH_COUNT; o++)
		set_integer(
		        L, xp_preauth_option_name((xp_preauth_option)o),
		        (lua_Integer)xp_table_preauth(t, (xp_preauth_option)o));
	set_boolean(L, "closed", xp_table_is_closed(t));
	return 1;
}

static int table_warnings(lua_State *L)
{
	const xp_table *t = table_open(L);
	size_t i, n = xp_table_warning_count(t);

	lua_createtable(L, n > INT_MAX ? 0 : (int)n, 0);
	for (i = 0; i < n; i++) {
		const xp_diag *d = xp_table_warning(t, i);
		if (d == NULL)
			break;
		push_diag(L, d);
		lua_rawseti(L, -2, (int)(i + 1));
	}
	return 1;
}

static int table_tostring(lua_State *L)
{
	table_ud *u = table_check(L);

	if (u->table == NULL)
		lua_pushfstring(L, TABLE_MT " (closed): %p", (void *)u);
	else
		lua_pushfstring(L, TABLE_MT " (%d partners): %p",
		                (int)xp_table_count(u->table), (void *)u);
	return 1;
}

/* ---- certificates -------------------------------------------------------- */

static xp_cert *cert_open_at(lua_State *L, int arg)
{
	cert_ud *u = luaL_checkudata(L, arg, CERT_MT);

	if (u->cert == NULL)
		luaL_error(L, MODNAME ": cert is closed");
	return u->cert;
}

static xp_cert *cert_open(lua_State *L)
{
	cert_ud *u = self_check(L, CERT_MT);

	if (u->cert == NULL)
		luaL_error(L, MODNAME ": cert is closed");
	return u->cert;
}

static int core_cert(lua_State *L)
{
	anchor *a = context_get(L);
	size_t len;
	const char *data = luaL_checklstring(L, 1, &len);
	cert_ud *u = lua_newuserdatauv(L, sizeof(*u), 0);
	int rc;

	u->cert = NULL;
	u->anchor = NULL;
	luaL_setmetatable(L, CERT_MT);
	/* The parsed certificate goes straight into u, guarded by __gc. */
	rc = xp_cert_parse(a->ctx, (const unsigned char *)data, len, &u->cert);
	if (rc == XP_OK && u->cert != NULL) {
		u->anchor = anchor_ref(a);
		return 1;
	}
	u->cert = NULL;
	if (rc == XP_ENOMEM)
		return status_error(L, rc);
	lua_pushnil(L);
	lua_pushstring(L, xp_status_text(rc == XP_OK ? XP_ECERT : rc));
	return 2;
}

static const char *cert_status_name(xp_cert_status s)
{
	return s == XP_CERT_VALID ? "valid" : "invalid";
}

static int cert_identity(lua_State *L)
{
	const xp_cert *c = cert_open(L);
	size_t len;
	const char *domain = luaL_checklstring(L, 2, &len);
	unsigned flags = opt_boolean(L, 3) ? XP_CERT_LEGACY_CN : 0;

	lua_pushstring(L, cert_status_name(xp_cert_check_identity(c, domain,
	                                                          len, flags)));
	return 1;
}

static int cert_pin(lua_State *L)
{
	const xp_cert *c = cert_open(L);
	char pin[XP_PIN_STRLEN + 1];
	int rc = xp_cert_pin(c, pin);

	if (rc != XP_OK)
		return status_error(L, rc);
	lua_pushstring(L, pin);
	return 1;
}

static int cert_verify(lua_State *L)
{
	const xp_cert *c = cert_open(L);
	const char *cafile = luaL_checkstring(L, 2);
	lua_Integer now = luaL_optinteger(L, 4, 0);
	const xp_cert **chain = NULL;
	const char *why = NULL;
	size_t n = 0, i;
	xp_cert_status s;

	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		n = lua_rawlen(L, 3);
		if (n > INT_MAX)
			return luaL_argerror(L, 3, "too many certificates");
		/* longjmp: the pointer array is a userdata, so a bad item
		 * throwing below leaks nothing. */
		chain = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*chain), 0);
		for (i = 0; i < n; i++) {
			lua_rawgeti(L, 3, (int)(i + 1));
			if (luaL_testudata(L, -1, CERT_MT) == NULL)
				return luaL_argerror(
				        L, 3, "intermediates must be certs");
			chain[i] = cert_open_at(L, -1);
			lua_pop(L, 1);
		}
	}
	s = xp_cert_verify_chain(c, (const xp_cert *const *)chain, n, cafile,
	                         (long long)now, &why);
	lua_pushstring(L, cert_status_name(s));
	if (s == XP_CERT_VALID)
		return 1;
	lua_pushstring(L, why != NULL ? why : "certificate not verified");
	return 2;
}

static int cert_close(lua_State *L)
{
	cert_ud *u = self_check(L, CERT_MT);

	if (u->cert != NULL) {
		xp_cert_free(u->cert);
		u->cert = NULL;
		anchor_release(u->anchor);
		u->anchor = NULL;
	}
	return 0;
}

static int cert_tostring(lua_State *L)
{
	cert_ud *u = self_check(L, CERT_MT);

	lua_pushfstring(L, CERT_MT "%s: %p", u->cert ? "" : " (closed)",
	                (void *)u);
	return 1;
}

/* ---- module functions ---------------------------------------------------- */

static int core_normalize(lua_State *L)
{
	size_t len, out_len = 0;
	const char *in = luaL_checklstring(L, 1, &len);
	char out[XP_DOMAIN_MAX + 1];
	const char *why = NULL;

	if (xp_domain_normalize(in, len, out, &out_len, &why) != XP_OK) {
		lua_pushnil(L);
		lua_pushstring(L, why != NULL ? why : "not a valid domain");
		return 2;
	}
	lua_pushlstring(L, out, out_len);
	return 1;
}

/* ---- core.read_file: a partner file, evaluated in the sandbox ------------
 *
 * The sandbox and the values copied out of it are C memory held across Lua
 * calls that may throw (longjmp), so they sit in a userdata whose __gc
 * frees them.  v[0] is xmpp_partners, v[1 + i] the option file_opts[i]. */

#define SANDBOX_MT MODNAME ".sandbox"
#define FILE_MT    MODNAME ".file"

static const char *const file_opts[][2] = {
        {"xmpp_partners_default", "default"},
        {"xmpp_partners_keepalive_interval", "keepalive_interval"},
        {"xmpp_partners_connection_limit", "connection_limit"},
        {"xmpp_partners_refusal_backoff", "refusal_backoff"},
        {"xmpp_partners_pending_per_address", "pending_per_address"},
        {"xmpp_partners_pending_limit", "pending_limit"},
        {"xmpp_partners_auth_timeout", "auth_timeout"},
        {"xmpp_partners_preauth_bytes", "preauth_bytes"},
        {"xmpp_partners_preauth_depth", "preauth_depth"},
};
#define FILE_VALUES (1 + sizeof(file_opts) / sizeof(file_opts[0]))

typedef struct sandbox_ud {
	xps_sandbox *sb;
	xps_value *v[FILE_VALUES];
} sandbox_ud;

static void sandbox_release(sandbox_ud *u)
{
	size_t i;

	for (i = 0; i < FILE_VALUES; i++) {
		xps_value_free(u->v[i]);
		u->v[i] = NULL;
	}
	if (u->sb != NULL) {
		xps_free(u->sb);
		u->sb = NULL;
	}
}

static int sandbox_gc(lua_State *L)
{
	sandbox_release(luaL_checkudata(L, 1, SANDBOX_MT));
	return 0;
}

/* nil, "path: what went wrong" (the sandbox's message names the file). */
static int file_failure(lua_State *L, sandbox_ud *u, int rc)
{
	if (rc == XPS_ENOMEM) {
		sandbox_release(u);
		return luaL_error(L, "not enough memory");
	}
	lua_pushnil(L);
	lua_pushstring(L, xps_message(u->sb));
	sandbox_release(u);
	return 2;
}

/* Evaluate the file at argument 1 into a new sandbox userdata (pushed),
 * with the values in u->v: 0, or the count of failure results pushed
 * (the sandbox released). */
static int file_evaluate(lua_State *L, sandbox_ud **out)
{
	size_t len, i;
	const char *path = luaL_checklstring(L, 1, &len);
	sandbox_ud *u;
	int rc;

	luaL_argcheck(L, len > 0 && strlen(path) == len, 1,
	              "a file name without NUL bytes expected");
	u = lua_newuserdatauv(L, sizeof(*u), 0);
	memset(u, 0, sizeof(*u));
	luaL_setmetatable(L, SANDBOX_MT);
	*out = u;
	u->sb = xps_new(NULL);
	if (u->sb == NULL)
		return luaL_error(L, "not enough memory");
	rc = xps_eval_file(u->sb, path);
	if (rc != XPS_OK)
		return file_failure(L, u, rc);
	rc = xps_get(u->sb, "*", "xmpp_partners", &u->v[0]);
	if (rc != XPS_OK)
		return file_failure(L, u, rc);
	if (u->v[0] != NULL && u->v[0]->type != XPS_TABLE) {
		lua_pushnil(L);
		lua_pushfstring(
		        L,
		        "%s: xmpp_partners is a %s, not a table of "
		        "partners (write xmpp_partners = { [\"domain\"] = "
		        "{ ... } })",
		        path,
		        u->v[0]->type_name ? u->v[0]->type_name : "value");
		sandbox_release(u);
		return 2;
	}
	for (i = 1; i < FILE_VALUES; i++) {
		rc = xps_get(u->sb, "*", file_opts[i - 1][0], &u->v[i]);
		if (rc != XPS_OK)
			return file_failure(L, u, rc);
	}
	return 0;
}

/* The notes: { "path:line: text", ... }. */
static void push_notes(lua_State *L, const sandbox_ud *u, const char *path)
{
	size_t i, n = xps_note_count(u->sb);

	lua_createtable(L, n > INT_MAX ? 0 : (int)n, 0);
	for (i = 0; i < n; i++) {
		const xps_note *note = xps_note_at(u->sb, i);
		if (note->line > 0)
			lua_pushfstring(L, "%s:%d: %s", path, note->line,
			                note->text);
		else
			lua_pushfstring(L, "%s: %s", path, note->text);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

static int core_read_file(lua_State *L)
{
	sandbox_ud *u;
	size_t i;
	int rc = file_evaluate(L, &u);

	if (rc != 0)
		return rc;
	if (u->v[0] == NULL)
		lua_newtable(L);
	else
		xps_push(L, u->v[0]);
	lua_createtable(L, 0, (int)FILE_VALUES - 1);
	for (i = 1; i < FILE_VALUES; i++) {
		if (u->v[i] == NULL)
			continue;
		xps_push(L, u->v[i]);
		lua_setfield(L, -2, file_opts[i - 1][1]);
	}
	push_notes(L, u, lua_tostring(L, 1));
	sandbox_release(u);
	return 3;
}

/* core.read_record(text) -> record | nil, message: a partner record typed
 * at an admin prompt ('{ type = "federated"; sasl = optional }'), evaluated
 * in the partner file sandbox.  Unlike a file, a name read that is not
 * defined is an error here (an unquoted value would silently read as nil,
 * leaving the key at its default): the message is the sandbox's note. */
static int core_read_record(lua_State *L)
{
	static const char prefix[] = "xmpp_partners_record = ";
	size_t len, i;
	const char *text = luaL_checklstring(L, 1, &len);
	luaL_Buffer b;
	sandbox_ud *u;
	int rc;

	luaL_buffinit(L, &b);
	luaL_addlstring(&b, prefix, sizeof(prefix) - 1);
	luaL_addlstring(&b, text, len);
	luaL_pushresult(&b);
	u = lua_newuserdatauv(L, sizeof(*u), 0);
	memset(u, 0, sizeof(*u));
	luaL_setmetatable(L, SANDBOX_MT);
	u->sb = xps_new(NULL);
	if (u->sb == NULL)
		return luaL_error(L, "not enough memory");
	rc = xps_eval_buffer(u->sb, lua_tostring(L, -2),
	                     (size_t)luaL_len(L, -2), "record");
	if (rc != XPS_OK)
		return file_failure(L, u, rc);
	for (i = 0; i < xps_note_count(u->sb); i++) {
		const xps_note *note = xps_note_at(u->sb, i);
		if (note->kind == XPS_NOTE_UNDEFINED) {
			lua_pushnil(L);
			lua_pushstring(L, note->text);
			sandbox_release(u);
			return 2;
		}
	}
	rc = xps_get(u->sb, "*", "xmpp_partners_record", &u->v[0]);
	if (rc != XPS_OK)
		return file_failure(L, u, rc);
	if (u->v[0] == NULL || u->v[0]->type != XPS_TABLE) {
		lua_pushnil(L);
		lua_pushstring(L, "give the record as a table, e.g. "
		                  "{ type = \"federated\" }");
		sandbox_release(u);
		return 2;
	}
	xps_push(L, u->v[0]);
	sandbox_release(u);
	return 1;
}

/* core.option_note(name) -> warning text | nil (xp_option_note). */
static int core_option_note(lua_State *L)
{
	char text[512];

	if (xp_option_note(luaL_checkstring(L, 1), text, sizeof(text)))
		lua_pushstring(L, text);
	else
		lua_pushnil(L);
	return 1;
}

/* ---- core.load_file: the file's values kept in C memory ------------------
 *
 * One allocation (from the state's allocator, so it is the state's memory
 * but nothing the collector walks) holds every value in a compact
 * encoding: a tag byte, then for a boolean one byte, for an integer or a
 * number 8 bytes, for a string its length (a varint) and bytes, for a
 * table its pair count (a varint) and the pairs.  For a file of 100,000
 * small records that is some 10 MB, against some 25 MB for the same
 * records as Lua tables. */

enum {
	ENC_NIL = 'n',
	ENC_FALSE = 'f',
	ENC_TRUE = 't',
	ENC_INTEGER = 'i',
	ENC_NUMBER = 'd',
	ENC_STRING = 's',
	ENC_TABLE = 'T',
	ENC_FUNCTION = 'F', /* pushed as a function that does nothing */
	ENC_OTHER = 'o'     /* pushed as a light userdata, as xps_push does */
};

typedef struct file_ud {
	unsigned char *buf; /* NULL when closed */
	size_t size;
	size_t at[FILE_VALUES]; /* offset of each value in buf */
	lua_Alloc alloc;
	void *alloc_ud;
} file_ud;

static size_t varint_size(size_t n)
{
	size_t k = 1;

	while (n >= 0x80) {
		n >>= 7;
		k++;
	}
	return k;
}

static unsigned char *varint_put(unsigned char *p, size_t n)
{
	while (n >= 0x80) {
		*p++ = (unsigned char)(n | 0x80);
		n >>= 7;
	}
	*p++ = (unsigned char)n;
	return p;
}

static const unsigned char *varint_get(const unsigned char *p, size_t *n)
{
	size_t v = 0;
	unsigned shift = 0;

	while (*p & 0x80) {
		v |= (size_t)(*p++ & 0x7f) << shift;
		shift += 7;
	}
	*n = v | ((size_t)*p++ << shift);
	return p;
}

/* The encoded size of v (NULL encodes as nil).  The sandbox bounds the
 * depth of the values (limits.depth), so the recursion is bounded. */
static size_t enc_size(const xps_value *v)
{
	size_t n = 1, i;

	if (v == NULL)
		return n;
	switch (v->type) {
	case XPS_INTEGER:
	case XPS_NUMBER:
		return n + 8;
	case XPS_STRING:
		return n + varint_size(v->len) + v->len;
	case XPS_TABLE:
		n += varint_size(v->count);
		for (i = 0; i < v->count; i++)
			n += enc_size(&v->fields[i].key) +
			     enc_size(&v->fields[i].value);
		return n;
	default:
		return n;
	}
}

static unsigned char *enc_put(unsigned char *p, const xps_value *v)
{
	size_t i;

	if (v == NULL) {
		*p++ = ENC_NIL;
		return p;
	}
	switch (v->type) {
	case XPS_NIL:
		*p++ = ENC_NIL;
		break;
	case XPS_BOOLEAN:
		*p++ = v->boolean ? ENC_TRUE : ENC_FALSE;
		break;
	case XPS_INTEGER:
		*p++ = ENC_INTEGER;
		memcpy(p, &v->integer, 8);
		p += 8;
		break;
	case XPS_NUMBER:
		*p++ = ENC_NUMBER;
		memcpy(p, &v->number, 8);
		p += 8;
		break;
	case XPS_STRING:
		*p++ = ENC_STRING;
		p = varint_put(p, v->len);
		memcpy(p, v->string, v->len);
		p += v->len;
		break;
	case XPS_TABLE:
		*p++ = ENC_TABLE;
		p = varint_put(p, v->count);
		for (i = 0; i < v->count; i++) {
			p = enc_put(p, &v->fields[i].key);
			p = enc_put(p, &v->fields[i].value);
		}
		break;
	default:
		*p++ = v->type_name != NULL &&
		                       strcmp(v->type_name, "function") == 0
		               ? ENC_FUNCTION
		               : ENC_OTHER;
		break;
	}
	return p;
}

/* Stands in for a function value of the file (as in xps_push). */
static int file_function(lua_State *L)
{
	(void)L;
	return 0;
}

/* Push the value encoded at p; returns the position after it. */
static const unsigned char *enc_push(lua_State *L, const unsigned char *p)
{
	size_t n, i;
	long long ll;
	double d;

	luaL_checkstack(L, 4, "copying a value of a partner file");
	switch (*p++) {
	case ENC_FALSE:
	case ENC_TRUE:
		lua_pushboolean(L, p[-1] == ENC_TRUE);
		return p;
	case ENC_INTEGER:
		memcpy(&ll, p, 8);
		lua_pushinteger(L, (lua_Integer)ll);
		return p + 8;
	case ENC_NUMBER:
		memcpy(&d, p, 8);
		lua_pushnumber(L, (lua_Number)d);
		return p + 8;
	case ENC_STRING:
		p = varint_get(p, &n);
		lua_pushlstring(L, (const char *)p, n);
		return p + n;
	case ENC_TABLE:
		p = varint_get(p, &n);
		lua_createtable(L, 0, n > INT_MAX ? 0 : (int)n);
		for (i = 0; i < n; i++) {
			p = enc_push(L, p);
			p = enc_push(L, p);
			if (lua_isnil(L, -2) || lua_isnil(L, -1))
				lua_pop(L, 2);
			else
				lua_rawset(L, -3);
		}
		return p;
	case ENC_FUNCTION:
		lua_pushcfunction(L, file_function);
		return p;
	case ENC_OTHER:
		lua_pushlightuserdata(L, (void *)(p - 1));
		return p;
	default:
		lua_pushnil(L);
		return p;
	}
}

static int file_close(lua_State *L)
{
	file_ud *f = self_check(L, FILE_MT);

	if (f->buf != NULL) {
		f->alloc(f->alloc_ud, f->buf, f->size, 0);
		f->buf = NULL;
	}
	return 0;
}

static file_ud *file_open(lua_State *L)
{
	file_ud *f = self_check(L, FILE_MT);

	if (f->buf == NULL)
		luaL_error(L, MODNAME ": file is closed");
	return f;
}

static int file_partners(lua_State *L)
{
	file_ud *f = file_open(L);

	if (f->buf[f->at[0]] == ENC_NIL)
		lua_newtable(L);
	else
		enc_push(L, f->buf + f->at[0]);
	return 1;
}

static int file_options(lua_State *L)
{
	file_ud *f = file_open(L);

	size_t i;

	lua_createtable(L, 0, (int)FILE_VALUES - 1);
	for (i = 1; i < FILE_VALUES; i++) {
		if (f->buf[f->at[i]] == ENC_NIL)
			continue;
		enc_push(L, f->buf + f->at[i]);
		lua_setfield(L, -2, file_opts[i - 1][1]);
	}
	return 1;
}

static int file_tostring(lua_State *L)
{
	file_ud *f = self_check(L, FILE_MT);

	char size[32];

	if (f->buf == NULL) {
		lua_pushliteral(L, MODNAME " file (closed)");
		return 1;
	}
	snprintf(size, sizeof(size), "%lu", (unsigned long)f->size);
	lua_pushfstring(L, MODNAME " file (%s bytes)", size);
	return 1;
}

static int core_load_file(lua_State *L)
{
	sandbox_ud *u;
	file_ud *f;
	size_t i, size = 0;
	unsigned char *p;
	int rc = file_evaluate(L, &u);

	if (rc != 0)
		return rc;
	for (i = 0; i < FILE_VALUES; i++)
		size += enc_size(u->v[i]);
	f = lua_newuserdatauv(L, sizeof(*f), 0);
	f->buf = NULL;
	f->size = size;
	f->alloc = lua_getallocf(L, &f->alloc_ud);
	luaL_setmetatable(L, FILE_MT);
	/* longjmp: no Lua call until the buffer is in f. */
	f->buf = f->alloc(f->alloc_ud, NULL, 0, size);
	if (f->buf == NULL) {
		sandbox_release(u);
		return luaL_error(L, "not enough memory");
	}
	p = f->buf;
	for (i = 0; i < FILE_VALUES; i++) {
		f->at[i] = (size_t)(p - f->buf);
		p = enc_put(p, u->v[i]);
	}
	push_notes(L, u, lua_tostring(L, 1));
	sandbox_release(u);
	return 2;
}

static int core_reason_text(lua_State *L)
{
	lua_pushstring(L, xp_reason_text(check_token(L, 1)));
	return 1;
}

static int core_refusal(lua_State *L)
{
	xp_direction d = check_direction(L, 1);
	const char *domain = luaL_checkstring(L, 2);
	xp_reason r = check_token(L, 3);
	char buf[256];
	size_t n = xp_format_refusal(buf, sizeof(buf), d, domain, r);
	luaL_Buffer b;
	char *p;

	if (n < sizeof(buf)) {
		lua_pushlstring(L, buf, n);
		return 1;
	}
	/* A long (hostile) domain: format again into Lua-owned memory. */
	p = luaL_buffinitsize(L, &b, n + 1);
	n = xp_format_refusal(p, n + 1, d, domain, r);
	luaL_pushresultsize(&b, n);
	return 1;
}

static int core_reason_is_final(lua_State *L)
{
	lua_pushboolean(L, xp_reason_is_final(check_token(L, 1)));
	return 1;
}

static unsigned check_seconds(lua_State *L, int arg)
{
	lua_Integer v = luaL_checkinteger(L, arg);

	luaL_argcheck(L, v >= 0 && v <= 0x7fffffff, arg,
	              "seconds from 0 to 2^31-1 expected");
	return (unsigned)v;
}

static int core_backoff_next(lua_State *L)
{
	unsigned previous = check_seconds(L, 1), max = check_seconds(L, 2);

	lua_pushinteger(L, (lua_Integer)xp_backoff_next(previous, max));
	return 1;
}

static int core_refusal_summary(lua_State *L)
{
	xp_direction d = check_direction(L, 1);
	const char *domain = luaL_checkstring(L, 2);
	lua_Integer count = luaL_checkinteger(L, 3);
	unsigned seconds = check_seconds(L, 4);
	xp_reason r = check_token(L, 5);
	size_t n;
	luaL_Buffer b;
	char *p;

	luaL_argcheck(L, count >= 0, 3, "a count from 0 expected");
	n = xp_format_refusal_summary(NULL, 0, d, domain, (unsigned long)count,
	                              seconds, r);
	p = luaL_buffinitsize(L, &b, n + 1);
	n = xp_format_refusal_summary(p, n + 1, d, domain, (unsigned long)count,
	                              seconds, r);
	luaL_pushresultsize(&b, n);
	return 1;
}

/* ---- registration -------------------------------------------------------- */

/* ---- values typed at a prompt ------------------------------------------- */

typedef struct value_ud {
	xp_value *v;
} value_ud;

static int value_gc(lua_State *L)
{
	value_ud *u = luaL_checkudata(L, 1, VALUE_MT);

	xp_value_free(u->v);
	u->v = NULL;
	return 0;
}

/* core.parse_value(key, text) -> value (nil: unset the key) */
static int core_parse_value(lua_State *L)
{
	anchor *a = context_get(L);
	const char *key = luaL_checkstring(L, 1), *item;
	size_t len, i;
	value_ud *u;
	const char *text = luaL_checklstring(L, 2, &len);

	u = lua_newuserdatauv(L, sizeof(*u), 0);
	u->v = NULL;
	luaL_setmetatable(L, VALUE_MT);
	check_status(L, xp_value_parse(a->ctx, key, text, len, &u->v));
	switch (xp_value_get_type(u->v)) {
	case XP_VALUE_UNSET:
		lua_pushnil(L);
		break;
	case XP_VALUE_BOOLEAN:
		lua_pushboolean(L, xp_value_boolean(u->v));
		break;
	case XP_VALUE_INTEGER:
		lua_pushinteger(L, (lua_Integer)xp_value_integer(u->v));
		break;
	case XP_VALUE_LIST:
		lua_createtable(L, (int)xp_value_count(u->v), 0);
		for (i = 0; i < xp_value_count(u->v); i++) {
			item = xp_value_item(u->v, i, &len);
			lua_pushlstring(L, item, len);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	case XP_VALUE_STRING:
	default:
		item = xp_value_string(u->v, &len);
		lua_pushlstring(L, item, len);
		break;
	}
	xp_value_free(u->v);
	u->v = NULL;
	return 1;
}

/* ---- the overlay of sources --------------------------------------------- */

/* The overlay sits in a userdata whose __gc frees it: every Lua call below
 * may throw (longjmp). */
typedef struct overlay_ud {
	xp_overlay *o;
} overlay_ud;

static int overlay_gc(lua_State *L)
{
	overlay_ud *u = luaL_checkudata(L, 1, OVERLAY_MT);

	xp_overlay_free(u->o);
	u->o = NULL;
	return 0;
}

/* Stack slots of core_overlay. */
enum { OV_UD = 6, OV_KEYS, OV_VALUES, OV_MERGED, OV_SOURCES };

/* Add the records of the table at arg (nil: none) as source src. */
static void overlay_walk(lua_State *L, xp_overlay *o, int arg, xp_source src,
                         lua_Integer *n)
{
	if (lua_isnil(L, arg))
		return;
	lua_pushnil(L);
	while (lua_next(L, arg) != 0) {
		if (lua_type(L, -2) == LUA_TSTRING) {
			size_t len;
			const char *key = lua_tolstring(L, -2, &len);
			++*n;
			check_status(L, xp_overlay_add(o, src, key, len,
			                               (size_t)*n));
			lua_rawseti(L, OV_VALUES, *n); /* pops the value */
			lua_pushvalue(L, -1);
			lua_rawseti(L, OV_KEYS, *n);
			continue;
		}
		/* A key that is no string is no domain: it goes through as
		 * it is, for core.build to report. */
		lua_pushvalue(L, -2);
		lua_pushvalue(L, -2);
		lua_rawset(L, OV_MERGED);
		lua_pushvalue(L, -2);
		lua_pushstring(L, xp_source_name(src));
		lua_rawset(L, OV_SOURCES);
		lua_pop(L, 1);
	}
}

/* core.overlay(file, config, runtime, removed, file_path)
 *   -> merged, sources, hidden */
static int core_overlay(lua_State *L)
{
	anchor *a = context_get(L);
	overlay_ud *u;
	lua_Integer n = 0;
	size_t i, len;
	int arg;

	lua_settop(L, 5);
	for (arg = 1; arg <= 4; arg++)
		if (!lua_isnil(L, arg))
			luaL_checktype(L, arg, LUA_TTABLE);
	luaL_optstring(L, 5, NULL);
	u = lua_newuserdatauv(L, sizeof(*u), 0);
	u->o = NULL;
	luaL_setmetatable(L, OVERLAY_MT);
	lua_newtable(L); /* OV_KEYS */
	lua_newtable(L); /* OV_VALUES */
	lua_newtable(L); /* OV_MERGED */
	lua_newtable(L); /* OV_SOURCES */
	u->o = xp_overlay_new(a->ctx);
	if (u->o == NULL)
		return status_error(L, XP_ENOMEM);
	if (!lua_isnil(L, 5)) {
		const char *path = lua_tolstring(L, 5, &len);
		check_status(L, xp_overlay_set_file(u->o, path, len));
	}
	overlay_walk(L, u->o, 1, XP_SOURCE_FILE, &n);
	overlay_walk(L, u->o, 2, XP_SOURCE_CONFIG, &n);
	overlay_walk(L, u->o, 3, XP_SOURCE_RUNTIME, &n);
	if (!lua_isnil(L, 4)) {
		lua_pushnil(L);
		while (lua_next(L, 4) != 0) {
			lua_pop(L, 1);
			if (lua_type(L, -1) == LUA_TSTRING) {
				const char *key = lua_tolstring(L, -1, &len);
				check_status(L,
				             xp_overlay_hide(u->o, key, len));
			}
		}
	}
	check_status(L, xp_overlay_finish(u->o));
	for (i = 0; i < xp_overlay_count(u->o); i++) {
		const xp_overlay_entry *e = xp_overlay_at(u->o, i);
		/* the key as the source wrote it, byte for byte */
		lua_rawgeti(L, OV_KEYS, (lua_Integer)e->handle);
		lua_rawgeti(L, OV_VALUES, (lua_Integer)e->handle);
		lua_rawset(L, OV_MERGED);
		lua_rawgeti(L, OV_KEYS, (lua_Integer)e->handle);
		lua_pushstring(L, e->label);
		lua_rawset(L, OV_SOURCES);
	}
	lua_createtable(L, (int)xp_overlay_hidden_count(u->o), 0);
	for (i = 0; i < xp_overlay_hidden_count(u->o); i++) {
		lua_pushstring(L, xp_overlay_hidden(u->o, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	xp_overlay_free(u->o);
	u->o = NULL;
	lua_pushvalue(L, OV_MERGED);
	lua_pushvalue(L, OV_SOURCES);
	lua_rotate(L, -3, 2);
	return 3;
}

static const luaL_Reg core_functions[] = {
        {"build", core_build},
        {"closed", core_closed},
        {"check", core_check},
        {"normalize", core_normalize},
        {"matrix", core_matrix},
        {"reason_text", core_reason_text},
        {"option_note", core_option_note},
        {"read_record", core_read_record},
        {"refusal", core_refusal},
        {"cert", core_cert},
        {"read_file", core_read_file},
        {"load_file", core_load_file},
        {"reason_is_final", core_reason_is_final},
        {"backoff_next", core_backoff_next},
        {"refusal_summary", core_refusal_summary},
        {"overlay", core_overlay},
        {"parse_value", core_parse_value},
        {"diag_line", core_diag_line},
        {"check_text", core_check_text},
        {"change_text", core_change_text},
        {"change_refused", core_change_refused},
        {"export_text", core_export_text},
        {NULL, NULL}};

static const luaL_Reg table_methods[] = {{"resolve", table_resolve},
                                         {"lookup", table_lookup},
                                         {"tls", table_tls},
                                         {"sasl_external", table_sasl_external},
                                         {"dialback", table_dialback},
                                         {"stanzas", table_stanzas},
                                         {"auth", table_auth},
                                         {"connection", table_connection},
                                         {"subscribe", table_subscribe},
                                         {"message", table_message},
                                         {"strip_status", table_strip_status},
                                         {"keepalive", table_keepalive},
                                         {"proxy", table_proxy},
                                         {"pin_matches", table_pin_matches},
                                         {"explain", table_explain},
                                         {"show", table_show},
                                         {"list", table_list},
                                         {"partners", table_partners},
                                         {"info", table_info},
                                         {"warnings", table_warnings},
                                         {"close", table_close},
                                         {NULL, NULL}};

static const luaL_Reg table_meta[] = {{"__gc", table_close},
                                      {"__close", table_close},
                                      {"__tostring", table_tostring},
                                      {NULL, NULL}};

static const luaL_Reg file_methods[] = {{"partners", file_partners},
                                        {"options", file_options},
                                        {"close", file_close},
                                        {NULL, NULL}};

static const luaL_Reg file_meta[] = {{"__gc", file_close},
                                     {"__close", file_close},
                                     {"__tostring", file_tostring},
                                     {NULL, NULL}};

static const luaL_Reg cert_methods[] = {{"identity", cert_identity},
                                        {"pin", cert_pin},
                                        {"verify", cert_verify},
                                        {"close", cert_close},
                                        {NULL, NULL}};

static const luaL_Reg cert_meta[] = {{"__gc", cert_close},
                                     {"__close", cert_close},
                                     {"__tostring", cert_tostring},
                                     {NULL, NULL}};

/* A metatable whose functions get the metatable itself as upvalue 1 (for
 * the type check) and whose __index holds the methods. */
static void class_register(lua_State *L, const char *tname,
                           const luaL_Reg *methods, const luaL_Reg *meta)
{
	luaL_newmetatable(L, tname);
	lua_pushvalue(L, -1);
	luaL_setfuncs(L, meta, 1);
	lua_newtable(L);
	lua_pushvalue(L, -2);
	luaL_setfuncs(L, methods, 1);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}

int luaopen_xmpp_partners_core(lua_State *L);

int luaopen_xmpp_partners_core(lua_State *L)
{
	luaL_checkversion(L);
	class_register(L, TABLE_MT, table_methods, table_meta);
	class_register(L, CERT_MT, cert_methods, cert_meta);
	class_register(L, FILE_MT, file_methods, file_meta);
	luaL_newmetatable(L, BUILDER_MT);
	lua_pushcfunction(L, builder_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_newmetatable(L, SANDBOX_MT);
	lua_pushcfunction(L, sandbox_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_newmetatable(L, VALUE_MT);
	lua_pushcfunction(L, value_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_newmetatable(L, OVERLAY_MT);
	lua_pushcfunction(L, overlay_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_newmetatable(L, TEXT_MT);
	lua_pushcfunction(L, text_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_newmetatable(L, CONTEXT_MT);
	lua_pushcfunction(L, context_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);

	lua_createtable(L, 0, 12);
	context_push(L);
	luaL_setfuncs(L, core_functions, 1);
	lua_pushliteral(L, XP_VERSION);
	lua_setfield(L, -2, "version");
	return 1;
}
