/*
 * xmpp_partners_nif.c: the Erlang NIF over the xmpp-partners policy core,
 * loaded by ejabberd's module xmpp_partners_nif (file xmpp_partners_nif.so).
 *
 * Like the Lua binding (module/lua/binding.c) this file only translates:
 * Erlang terms into builder calls and stream facts, core verdicts back into
 * terms.  It holds no policy of its own, and walks configuration the same
 * way the Lua binding does, so both hosts report the same diagnostics.
 *
 * API (T is a table resource; Dir is incoming | outgoing; Chain and
 * Identity are valid | invalid | undefined; booleans are true | false,
 * undefined counting as false; domains are binaries or strings):
 *
 *   build(Partners, Options)  -> {ok, T, Warnings} | {error, Diagnostics}
 *       (dirty CPU scheduler).  Partners is a map or a list of
 *       {Domain, Record}; a Record is a map or a list of {Key, Value}.
 *       Keys are walked in sorted order.  Values: true/false -> boolean;
 *       binary, atom or string -> string; integer; float -> number; list
 *       of binaries/atoms/strings -> list; anything else is an error that
 *       names its Erlang type.  Options (map or proplist): default,
 *       keepalive_interval, connection_limit.
 *   check(Domain, Record, Options) -> {ok | error, Diagnostics}
 *   closed()                  -> T refusing every domain
 *   resolve(T, D)             -> {ok, Primary | <<"*">>} | {error, Token, Text}
 *   lookup(T, D)              -> {ok, #{...}} | {error, Token, Text}
 *   explain(T, D)             -> {ok, Text} | {error, Why}: the core's
 *                                explain text (one wording for every host)
 *   overlay(File, Config, Runtime, Removed, FilePath)
 *                             -> {[{Key, Record}], #{Domain => Source},
 *                                 [HiddenKey]}: the sources of a partner
 *                                table laid over each other by the core
 *                                (xp_overlay: file < config < runtime by
 *                                normalised domain); File, Config, Runtime
 *                                are [{Key, Record}], Removed [Key],
 *                                FilePath a text or undefined
 *   parse_value(Key, Text)    -> remove | {ok, Value}: a value typed for a
 *                                record key, read by the core (none/nil,
 *                                lists, true/yes/1, integers, else text)
 *   diag_line(Diag)           -> Text: the one line every host prints
 *   show(T, D, Source)        -> {ok, Text} | {error, Text}: the record as
 *                                the admin "show" commands print it
 *   list_text(T, [{Domain, Source, Live}], Matched, Pattern | undefined,
 *             [RemovedDomain]) -> Text: the partner list as the admin
 *                                "list" commands print it
 *   check_text(Diags, Count | undefined) -> Text: an admin check's text
 *                                (valid when Count is given)
 *   change_text(Change, Warnings | undefined) -> Text: the line an admin
 *                                change prints when done; Change is
 *                                #{op => add | set | remove | reset |
 *                                reset_backoff | edit, domain => D,
 *                                key, value, typed, hidden, count}
 *                                (xp_change in xmpp_partners.h)
 *   change_refused(Change, Why, Detail | [Diag] | undefined) -> Text: a
 *                                refused change; Why: invalid ([Diag]),
 *                                read, store, additional (Detail),
 *                                exists, not_partner, nothing
 *   export_text(Options, [{Domain, Record, Source}]) -> Text: the
 *                                effective table as a partner file
 *                                (Options, Record: map or [{Key, Value}])
 *   tls(T, D, Dir)            -> withhold | offer | require
 *                                | {error, Token, Text}
 *   sasl_external(T, D, Dir, Encrypted, Chain, Identity, Pin)
 *   dialback(T, D, Dir, Encrypted, Chain, Identity, Pin)
 *   stanzas(T, D, Dir, Encrypted, Chain, Identity, Pin)
 *   auth(T, D, Dir, Method, Encrypted, Chain, Identity, Pin)
 *       -> true | {false, Token, Text}; Method: sasl_tls, dialback_tls,
 *          dialback_tcp, or ejabberd's <<"EXTERNAL">> / dialback
 *   connection(T, D, PartnerCount, TotalCount) -> true | {false, Token, Text}
 *   subscribe(T, D, InRoster, SubscribedFrom, Blocked)
 *                             -> approve | deliver | deny
 *   message(T, D, InRoster)   -> deliver | bounce
 *   strip_status(T, D)        -> boolean()
 *   keepalive(T, D)           -> {boolean(), IntervalSeconds}
 *   proxy(T, D)               -> {HostBinary, Port} | none
 *   pin_matches(T, D, Pin)    -> boolean()   (Pin: <<"sha256:hex">>)
 *   partners(T)               -> [Primary]
 *   info(T)                   -> #{count, default, keepalive_interval,
 *                                  connection_limit, pre-authentication
 *                                  bounds, refusal_backoff, closed}
 *   warnings(T)               -> Diagnostics
 *   matrix(Row) | matrix(Tls, Sasl, Dialback) -> {ok, #{...}} | {error, Why}
 *   normalize(D)              -> {ok, Normalized} | {error, Why}
 *   reason_text(Token)        -> binary()
 *   refusal(Dir, D, Token)    -> binary()  (the canonical log line)
 *   reason_is_final(Token)    -> boolean() (refusal back-off applies)
 *   backoff_next(Previous, Max) -> Seconds (the next back-off window)
 *   refusal_summary(Dir, D, Count, Seconds, Token) -> binary() (the line
 *                                  of a back-off window)
 *   cert_identity(Cert, D, LegacyCN) -> valid | invalid | {error, Why}
 *   cert_pin(Cert)            -> {ok, <<"sha256:hex">>} | {error, Why}
 *       Cert is DER or PEM.
 *   partner_file(Path)        -> {ok, Partners, Options, Notes} | {error, Why}
 *       the shared Lua partner file, evaluated in the sandbox (dirty I/O)
 *   version()                 -> binary()  (the core's version)
 *
 * A diagnostic is #{severity => error | warning, partner, key, row,
 * message, suggestion}; absent fields are undefined.  Tokens are atoms
 * (not_partner, tls_required, ...).
 *
 * Error channels: misuse (wrong argument types, unknown direction or reason
 * token, a table of an older library generation) raises badarg; running
 * out of memory raises enomem; refusals and bad configuration are values.
 * The NIF never logs: the host layer logs verdicts.
 *
 * Memory: one xp_ctx per loaded library instance allocating with
 * enif_alloc, reference counted (atomically: destructors run on any
 * scheduler) by every table.  On a code upgrade the new instance gets its
 * own context and resource type, so tables of the old instance keep their
 * destructor, and the old library stays loaded until they are gone.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <erl_nif.h>

#include "sandbox.h"
#include "walk.h"
#include "xmpp_partners.h"

/* ---- per-instance state -------------------------------------------------- */

typedef struct anchor {
	xp_ctx *ctx;
	long refs; /* atomic */
} anchor;

typedef struct priv_data {
	anchor *anchor;
	ErlNifResourceType *table_type;
} priv_data;

typedef struct table_res {
	xp_table *table;
	anchor *anchor;
} table_res;

static void *nif_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud;
	(void)osize;
	if (nsize == 0) {
		enif_free(ptr);
		return NULL;
	}
	if (ptr == NULL)
		return enif_alloc(nsize);
	return enif_realloc(ptr, nsize);
}

static anchor *anchor_ref(anchor *a)
{
	__atomic_add_fetch(&a->refs, 1, __ATOMIC_RELAXED);
	return a;
}

static void anchor_release(anchor *a)
{
	if (a == NULL || __atomic_sub_fetch(&a->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	xp_ctx_free(a->ctx);
	enif_free(a);
}

static void table_dtor(ErlNifEnv *env, void *obj)
{
	table_res *r = obj;

	(void)env;
	if (r->table != NULL)
		xp_table_unref(r->table);
	anchor_release(r->anchor);
	r->table = NULL;
	r->anchor = NULL;
}

/* ---- atoms --------------------------------------------------------------- */

static ERL_NIF_TERM am_ok, am_error, am_true, am_false, am_undefined, am_enomem,
        am_incoming, am_outgoing, am_valid, am_invalid, am_none, am_warning,
        am_severity, am_partner, am_key, am_row, am_message, am_suggestion,
        am_remove;

static void make_atoms(ErlNifEnv *env)
{
	am_ok = enif_make_atom(env, "ok");
	am_error = enif_make_atom(env, "error");
	am_true = enif_make_atom(env, "true");
	am_false = enif_make_atom(env, "false");
	am_undefined = enif_make_atom(env, "undefined");
	am_enomem = enif_make_atom(env, "enomem");
	am_incoming = enif_make_atom(env, "incoming");
	am_outgoing = enif_make_atom(env, "outgoing");
	am_valid = enif_make_atom(env, "valid");
	am_invalid = enif_make_atom(env, "invalid");
	am_none = enif_make_atom(env, "none");
	am_warning = enif_make_atom(env, "warning");
	am_severity = enif_make_atom(env, "severity");
	am_partner = enif_make_atom(env, "partner");
	am_key = enif_make_atom(env, "key");
	am_row = enif_make_atom(env, "row");
	am_message = enif_make_atom(env, "message");
	am_suggestion = enif_make_atom(env, "suggestion");
	am_remove = enif_make_atom(env, "remove");
}

/* ---- load, upgrade, unload ----------------------------------------------- */

static priv_data *priv_new(ErlNifEnv *env)
{
	priv_data *p = enif_alloc(sizeof(*p));
	char name[64];

	if (p == NULL)
		return NULL;
	p->anchor = enif_alloc(sizeof(*p->anchor));
	if (p->anchor == NULL)
		goto fail;
	p->anchor->refs = 1;
	p->anchor->ctx = xp_ctx_new(nif_alloc, NULL, NULL, NULL);
	if (p->anchor->ctx == NULL)
		goto fail;
	/* A name of this instance's own (see the file comment on upgrade). */
	enif_snprintf(name, sizeof(name), "xp_table_%p", (void *)p);
	p->table_type = enif_open_resource_type(env, NULL, name, table_dtor,
	                                        ERL_NIF_RT_CREATE, NULL);
	if (p->table_type == NULL)
		goto fail;
	make_atoms(env);
	return p;
fail:
	if (p->anchor != NULL) {
		xp_ctx_free(p->anchor->ctx);
		enif_free(p->anchor);
	}
	enif_free(p);
	return NULL;
}

static int nif_load(ErlNifEnv *env, void **priv, ERL_NIF_TERM info)
{
	(void)info;
	*priv = priv_new(env);
	return *priv == NULL ? 1 : 0;
}

static int nif_upgrade(ErlNifEnv *env, void **priv, void **old_priv,
                       ERL_NIF_TERM info)
{
	(void)old_priv; /* released by the old instance's unload */
	return nif_load(env, priv, info);
}

static void nif_unload(ErlNifEnv *env, void *priv)
{
	priv_data *p = priv;

	(void)env;
	if (p == NULL)
		return;
	anchor_release(p->anchor);
	enif_free(p);
}

static priv_data *priv_get(ErlNifEnv *env)
{
	return enif_priv_data(env);
}

/* ---- small helpers ------------------------------------------------------- */

static ERL_NIF_TERM raise_status(ErlNifEnv *env, int status)
{
	if (status == XP_ENOMEM)
		return enif_raise_exception(env, am_enomem);
	return enif_make_badarg(env);
}

static ERL_NIF_TERM make_text(ErlNifEnv *env, const char *s)
{
	ERL_NIF_TERM t;
	size_t n = s != NULL ? strlen(s) : 0;
	unsigned char *buf = enif_make_new_binary(env, n, &t);

	if (n > 0)
		memcpy(buf, s, n);
	return t;
}

static ERL_NIF_TERM make_bin(ErlNifEnv *env, const char *s, size_t n)
{
	ERL_NIF_TERM t;
	unsigned char *buf = enif_make_new_binary(env, n, &t);

	if (n > 0)
		memcpy(buf, s, n);
	return t;
}

static ERL_NIF_TERM text_or_undefined(ErlNifEnv *env, const char *s)
{
	return s != NULL ? make_text(env, s) : am_undefined;
}

static ERL_NIF_TERM make_bool(int v)
{
	return v ? am_true : am_false;
}

/* Erlang's name for a term's type, for "wrong type" diagnostics. */
static const char *type_name(ErlNifEnv *env, ERL_NIF_TERM t)
{
	switch (enif_term_type(env, t)) {
	case ERL_NIF_TERM_TYPE_ATOM:
		return "atom";
	case ERL_NIF_TERM_TYPE_BITSTRING:
		return enif_is_binary(env, t) ? "binary" : "bitstring";
	case ERL_NIF_TERM_TYPE_FLOAT:
		return "float";
	case ERL_NIF_TERM_TYPE_FUN:
		return "fun";
	case ERL_NIF_TERM_TYPE_INTEGER:
		return "integer";
	case ERL_NIF_TERM_TYPE_LIST:
		return "list";
	case ERL_NIF_TERM_TYPE_MAP:
		return "map";
	case ERL_NIF_TERM_TYPE_PID:
		return "pid";
	case ERL_NIF_TERM_TYPE_PORT:
		return "port";
	case ERL_NIF_TERM_TYPE_REFERENCE:
		return "reference";
	case ERL_NIF_TERM_TYPE_TUPLE: {
		/* {lua, TypeName}: a value of partner_file/1 Erlang cannot
		 * hold (a function...), named as Lua names it */
		static const char *const lua_types[] = {"function", "userdata",
		                                        "thread"};
		const ERL_NIF_TERM *el;
		ErlNifBinary name;
		int arity;
		size_t i;
		if (enif_get_tuple(env, t, &arity, &el) && arity == 2 &&
		    enif_is_identical(el[0], enif_make_atom(env, "lua")) &&
		    enif_inspect_binary(env, el[1], &name))
			for (i = 0; i < 3; i++)
				if (name.size == strlen(lua_types[i]) &&
				    memcmp(name.data, lua_types[i],
				           name.size) == 0)
					return lua_types[i];
		return "tuple";
	}
	default:
		return "term";
	}
}

/*
 * Scratch memory for one call: texts made from atoms and strings, key
 * arrays.  Freed all at once when the call ends, however it ends.
 */
typedef struct scratch {
	void **blocks;
	size_t n, cap;
	int failed; /* an allocation failed */
} scratch;

static void *scratch_alloc(scratch *s, size_t size)
{
	void *p;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		void **b = enif_realloc(s->blocks, cap * sizeof(*b));
		if (b == NULL) {
			s->failed = 1;
			return NULL;
		}
		s->blocks = b;
		s->cap = cap;
	}
	p = enif_alloc(size ? size : 1);
	if (p == NULL) {
		s->failed = 1;
		return NULL;
	}
	s->blocks[s->n++] = p;
	return p;
}

static void scratch_free(scratch *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		enif_free(s->blocks[i]);
	enif_free(s->blocks);
	s->blocks = NULL;
	s->n = s->cap = 0;
}

/* The longest string list we take as text (a domain is at most 253
 * octets; longer texts still reach the core, which reports them). */
#define TEXT_LIST_MAX 65536

/*
 * A term as text: a binary, an atom (true and false included), or a
 * non-empty flat list of bytes (an Erlang string).  Returns 1 and sets
 * *out / *len (pointing into the term or into scratch memory), 0 when the
 * term is no text.  A NUL-terminated copy is made when want_nul.
 */
static int term_text(ErlNifEnv *env, ERL_NIF_TERM t, scratch *s, int want_nul,
                     const char **out, size_t *len)
{
	ErlNifBinary bin;
	unsigned n;

	if (enif_inspect_binary(env, t, &bin)) {
		char *c;
		if (!want_nul) {
			*out = (const char *)bin.data;
			*len = bin.size;
			return 1;
		}
		c = scratch_alloc(s, bin.size + 1);
		if (c == NULL)
			return 0;
		if (bin.size > 0)
			memcpy(c, bin.data, bin.size);
		c[bin.size] = '\0';
		*out = c;
		*len = bin.size;
		return 1;
	}
	if (enif_get_atom_length(env, t, &n, ERL_NIF_LATIN1)) {
		char *c = scratch_alloc(s, (size_t)n + 1);
		if (c == NULL)
			return 0;
		enif_get_atom(env, t, c, n + 1, ERL_NIF_LATIN1);
		*out = c;
		*len = n;
		return 1;
	}
	if (enif_is_list(env, t) && !enif_is_empty_list(env, t) &&
	    enif_get_list_length(env, t, &n) && n < TEXT_LIST_MAX) {
		char *c = scratch_alloc(s, (size_t)n + 1);
		if (c == NULL)
			return 0;
		if (enif_get_string(env, t, c, n + 1, ERL_NIF_LATIN1) <= 0)
			/* not a list of bytes: the block stays in s */
			return 0;
		*out = c;
		*len = n;
		return 1;
	}
	return 0;
}

/* A NUL-terminated domain argument; 0 when it is no text. */
static int get_domain(ErlNifEnv *env, ERL_NIF_TERM t, scratch *s,
                      const char **out, size_t *len)
{
	return term_text(env, t, s, 0, out, len);
}

static int get_direction(ErlNifEnv *env, ERL_NIF_TERM t, xp_direction *d)
{
	if (enif_is_identical(t, am_incoming))
		*d = XP_INCOMING;
	else if (enif_is_identical(t, am_outgoing))
		*d = XP_OUTGOING;
	else
		return 0;
	(void)env;
	return 1;
}

/* true, false or undefined (false). */
static int get_flag(ERL_NIF_TERM t, int *v)
{
	if (enif_is_identical(t, am_true))
		*v = 1;
	else if (enif_is_identical(t, am_false) ||
	         enif_is_identical(t, am_undefined))
		*v = 0;
	else
		return 0;
	return 1;
}

static int get_cert_status(ERL_NIF_TERM t, xp_cert_status *s)
{
	if (enif_is_identical(t, am_valid))
		*s = XP_CERT_VALID;
	else if (enif_is_identical(t, am_invalid))
		*s = XP_CERT_INVALID;
	else if (enif_is_identical(t, am_undefined) ||
	         enif_is_identical(t, am_none))
		*s = XP_CERT_NONE;
	else
		return 0;
	return 1;
}

/* Encrypted, Chain, Identity, Pin at argv[0..3]. */
static int get_stream(const ERL_NIF_TERM argv[], xp_stream_state *s)
{
	return get_flag(argv[0], &s->encrypted) &&
	       get_cert_status(argv[1], &s->chain) &&
	       get_cert_status(argv[2], &s->identity) &&
	       get_flag(argv[3], &s->pin_match);
}

/* The reasons are numbered densely from XP_R_NONE; the core names every
 * number past the last one alike (see the Lua binding). */
#define REASON_SCAN_MAX 256

static int get_token(ErlNifEnv *env, ERL_NIF_TERM t, xp_reason *out)
{
	char buf[64];
	const char *past_end = xp_reason_token((xp_reason)REASON_SCAN_MAX);
	ErlNifBinary bin;
	int r;

	if (enif_inspect_binary(env, t, &bin)) {
		if (bin.size >= sizeof(buf))
			return 0;
		memcpy(buf, bin.data, bin.size);
		buf[bin.size] = '\0';
	} else if (enif_get_atom(env, t, buf, sizeof(buf), ERL_NIF_LATIN1) <=
	           0) {
		return 0;
	}
	for (r = XP_R_NONE; r < REASON_SCAN_MAX; r++) {
		const char *tok = xp_reason_token((xp_reason)r);
		if (tok == NULL || strcmp(tok, past_end) == 0)
			break;
		if (strcmp(tok, buf) == 0) {
			*out = (xp_reason)r;
			return 1;
		}
	}
	return 0;
}

static ERL_NIF_TERM make_token(ErlNifEnv *env, xp_reason r)
{
	return enif_make_atom(env, xp_reason_token(r));
}

/* {error, Token, Text} or {false, Token, Text}. */
static ERL_NIF_TERM make_refused(ErlNifEnv *env, ERL_NIF_TERM first,
                                 xp_reason r)
{
	return enif_make_tuple3(
	        env, first, make_token(env, r),
	        make_text(env, xp_reason_text_host(r, XP_HOST_EJABBERD)));
}

static ERL_NIF_TERM make_verdict(ErlNifEnv *env, int ok, xp_reason r)
{
	return ok ? am_true : make_refused(env, am_false, r);
}

static table_res *get_table(ErlNifEnv *env, ERL_NIF_TERM t)
{
	priv_data *p = priv_get(env);
	void *obj = NULL;

	if (p == NULL || !enif_get_resource(env, t, p->table_type, &obj))
		return NULL;
	return obj;
}

/* A new table resource owning t (also when making the term fails). */
static ERL_NIF_TERM make_table(ErlNifEnv *env, xp_table *t, int *ok)
{
	priv_data *p = priv_get(env);
	table_res *r = enif_alloc_resource(p->table_type, sizeof(*r));
	ERL_NIF_TERM term;

	if (r == NULL) {
		xp_table_unref(t);
		*ok = 0;
		return am_undefined;
	}
	r->table = t;
	r->anchor = anchor_ref(p->anchor);
	term = enif_make_resource(env, r);
	enif_release_resource(r); /* the term holds it now */
	*ok = 1;
	return term;
}

/* ---- diagnostics --------------------------------------------------------- */

static ERL_NIF_TERM make_diag(ErlNifEnv *env, const xp_diag *d)
{
	ERL_NIF_TERM keys[6], vals[6], map;

	keys[0] = am_severity;
	vals[0] = d->severity == XP_SEV_ERROR ? am_error : am_warning;
	keys[1] = am_partner;
	vals[1] = text_or_undefined(env, d->partner);
	keys[2] = am_key;
	vals[2] = text_or_undefined(env, d->key);
	keys[3] = am_row;
	vals[3] = d->row != 0 ? enif_make_int(env, d->row) : am_undefined;
	keys[4] = am_message;
	vals[4] = make_text(env, d->message != NULL ? d->message : "");
	keys[5] = am_suggestion;
	vals[5] = text_or_undefined(env, d->suggestion);
	if (!enif_make_map_from_arrays(env, keys, vals, 6, &map))
		return am_undefined; /* cannot happen: the keys differ */
	return map;
}

static ERL_NIF_TERM make_builder_diags(ErlNifEnv *env, const xp_builder *b,
                                       int warnings_only)
{
	size_t i = xp_builder_diag_count(b);
	ERL_NIF_TERM list = enif_make_list(env, 0);

	while (i-- > 0) {
		const xp_diag *d = xp_builder_diag(b, i);
		if (d == NULL ||
		    (warnings_only && d->severity != XP_SEV_WARNING))
			continue;
		list = enif_make_list_cell(env, make_diag(env, d), list);
	}
	return list;
}

/* ---- walking Erlang configuration into the builder
 * ---------------------------
 *
 * Maps and proplists are read into an array of entries sorted by key name,
 * so diagnostics come out the same on every run whatever the term order.
 */
typedef struct key_entry {
	const char *name; /* NUL-terminated key text or made name */
	size_t len;
	int is_text;  /* the key is a binary, atom or string */
	int is_tuple; /* proplist element that is a {Key, Value} */
	ERL_NIF_TERM key, value;
} key_entry;

static int entry_compare(const void *pa, const void *pb)
{
	const key_entry *a = pa, *b = pb;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->name, b->name, n) : 0;

	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return (!a->is_text) - (!b->is_text);
}

/* A made name for a key that is no text: the term as ~w prints it, but a
 * float as Lua's tostring (and walk.c) names it, [2.5] not
 * [2.50000000000000000000e+00], so a key reads the same on every host. */
static void name_term(ErlNifEnv *env, scratch *s, key_entry *e)
{
	char buf[128];
	char *c;
	double d;
	int n;

	if (enif_get_double(env, e->key, &d)) {
		n = snprintf(buf, sizeof(buf), "%.14g", d);
		if (n > 0 && (size_t)n + 2 < sizeof(buf) &&
		    buf[strspn(buf, "-0123456789")] == '\0') {
			strcat(buf, ".0");
			n += 2;
		}
	} else {
		n = enif_snprintf(buf, sizeof(buf), "%T", e->key);
	}
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	c = scratch_alloc(s, (size_t)n + 1);
	if (c == NULL)
		return;
	memcpy(c, buf, (size_t)n);
	c[n] = '\0';
	e->name = c;
	e->len = (size_t)n;
}

static void entry_name(ErlNifEnv *env, scratch *s, key_entry *e)
{
	e->is_text = !enif_is_identical(e->key, am_true) &&
	             !enif_is_identical(e->key, am_false) &&
	             term_text(env, e->key, s, 1, &e->name, &e->len);
	if (!e->is_text)
		name_term(env, s, e);
}

/*
 * The entries of a map or a list (each element {Key, Value}; any other
 * element becomes an entry with is_tuple 0 and the element as its key).
 * Returns 0 when t is neither, -1 on allocation failure.
 */
static int read_entries(ErlNifEnv *env, ERL_NIF_TERM t, scratch *s,
                        key_entry **out, size_t *count)
{
	key_entry *es;
	size_t n = 0, i = 0;

	if (enif_get_map_size(env, t, &n)) {
		ErlNifMapIterator it;
		ERL_NIF_TERM k, v;
		es = scratch_alloc(s, (n ? n : 1) * sizeof(*es));
		if (es == NULL)
			return -1;
		if (!enif_map_iterator_create(env, t, &it,
		                              ERL_NIF_MAP_ITERATOR_FIRST))
			return 0;
		while (i < n && enif_map_iterator_get_pair(env, &it, &k, &v)) {
			es[i].key = k;
			es[i].value = v;
			es[i].is_tuple = 1;
			i++;
			enif_map_iterator_next(env, &it);
		}
		enif_map_iterator_destroy(env, &it);
	} else if (enif_is_list(env, t)) {
		unsigned len;
		ERL_NIF_TERM head, tail = t;
		if (!enif_get_list_length(env, t, &len))
			return 0; /* improper list */
		n = len;
		es = scratch_alloc(s, (n ? n : 1) * sizeof(*es));
		if (es == NULL)
			return -1;
		while (i < n && enif_get_list_cell(env, tail, &head, &tail)) {
			const ERL_NIF_TERM *tup;
			int arity;
			if (enif_get_tuple(env, head, &arity, &tup) &&
			    arity == 2) {
				es[i].key = tup[0];
				es[i].value = tup[1];
				es[i].is_tuple = 1;
			} else {
				es[i].key = head;
				es[i].value = head;
				es[i].is_tuple = 0;
			}
			i++;
		}
	} else {
		return 0;
	}
	for (n = 0; n < i; n++) {
		entry_name(env, s, &es[n]);
		if (s->failed)
			return -1;
	}
	qsort(es, i, sizeof(*es), entry_compare);
	*out = es;
	*count = i;
	return 1;
}

/* A list value into items for set_list; 0 when t is no proper list. */
static int list_items(ErlNifEnv *env, ERL_NIF_TERM t, scratch *s,
                      const char ***items, size_t **lens, size_t *count)
{
	unsigned len;
	size_t i = 0;
	ERL_NIF_TERM head, tail = t;
	const char **it;
	size_t *ln;

	if (!enif_get_list_length(env, t, &len))
		return 0;
	it = scratch_alloc(s, (len ? len : 1) * sizeof(*it));
	ln = scratch_alloc(s, (len ? len : 1) * sizeof(*ln));
	if (it == NULL || ln == NULL)
		return 0;
	while (i < len && enif_get_list_cell(env, tail, &head, &tail)) {
		if (enif_is_identical(head, am_true) ||
		    enif_is_identical(head, am_false) ||
		    !term_text(env, head, s, 0, &it[i], &ln[i])) {
			it[i] = NULL;
			ln[i] = 0;
		}
		i++;
	}
	*items = it;
	*lens = ln;
	*count = i;
	return 1;
}

/* One key of a partner record. */
static int walk_field(ErlNifEnv *env, xp_builder *b, scratch *s,
                      const char *key, ERL_NIF_TERM v)
{
	const char *text, **items;
	size_t len, *lens, n;
	ErlNifSInt64 i64;
	double d;

	if (enif_is_identical(v, am_true) || enif_is_identical(v, am_false))
		return xp_builder_set_boolean(b, key,
		                              enif_is_identical(v, am_true));
	if (enif_get_int64(env, v, &i64))
		return xp_builder_set_integer(b, key, (long long)i64);
	if (enif_get_double(env, v, &d))
		return xp_builder_set_number(b, key, d);
	if (term_text(env, v, s, 0, &text, &len))
		return xp_builder_set_string(b, key, text, len);
	if (s->failed)
		return XP_ENOMEM;
	if (enif_is_list(env, v)) {
		if (list_items(env, v, s, &items, &lens, &n))
			return xp_builder_set_list(b, key, items, lens, n);
		if (s->failed)
			return XP_ENOMEM;
		return xp_builder_set_invalid(b, key, "improper list");
	}
	if (enif_is_number(env, v))
		return xp_builder_set_invalid(b, key, "big integer");
	return xp_builder_set_invalid(b, key, type_name(env, v));
}

/* One partner record under the current begin(). */
static int walk_record(ErlNifEnv *env, xp_builder *b, scratch *s,
                       ERL_NIF_TERM v)
{
	key_entry *es;
	size_t n, i;
	int rc = read_entries(env, v, s, &es, &n);

	if (rc < 0)
		return XP_ENOMEM;
	if (rc == 0)
		return xp_builder_record_invalid(b, type_name(env, v));
	for (i = 0; i < n && rc >= 0; i++) {
		const key_entry *e = &es[i];
		char name[160];
		char what[64];
		if (!e->is_tuple) {
			/* An element that is no {Key, Value} pair. */
			enif_snprintf(name, sizeof(name), "[%s]", e->name);
			enif_snprintf(what, sizeof(what), "%s element",
			              type_name(env, e->key));
			rc = xp_builder_set_invalid(b, name, what);
		} else if (!e->is_text) {
			/* Shown as [Term], which keeps "did you mean" from
			 * matching true to type, as in the Lua binding. */
			enif_snprintf(name, sizeof(name), "[%s]", e->name);
			enif_snprintf(what, sizeof(what), "%s key",
			              type_name(env, e->key));
			rc = xp_builder_set_invalid(b, name, what);
		} else {
			rc = walk_field(env, b, s, e->name, e->value);
		}
	}
	return rc < 0 ? rc : XP_OK;
}

static int walk_partner(ErlNifEnv *env, xp_builder *b, scratch *s,
                        const key_entry *e)
{
	char out[XP_DOMAIN_MAX + 1];
	char what[64];
	size_t len = 0;
	int rc = xp_builder_begin(b, e->name, e->len);

	if (rc < 0)
		return rc;
	if (!e->is_tuple) {
		enif_snprintf(what, sizeof(what), "%s element",
		              type_name(env, e->key));
		rc = xp_builder_record_invalid(b, what);
	} else if (e->is_text || xp_domain_normalize(e->name, e->len, out, &len,
	                                             NULL) != XP_OK) {
		rc = walk_record(env, b, s, e->value);
	} else {
		/* A key that is no text but prints as a domain ('1.5'):
		 * a partner is still named by a text. */
		enif_snprintf(what, sizeof(what), "%s key",
		              type_name(env, e->key));
		rc = xp_builder_record_invalid(b, what);
	}
	if (rc < 0)
		return rc;
	return xp_builder_end(b);
}

static int walk_partners(ErlNifEnv *env, xp_builder *b, scratch *s,
                         ERL_NIF_TERM t)
{
	key_entry *es;
	size_t n, i;
	int rc = read_entries(env, t, s, &es, &n);

	if (rc < 0)
		return XP_ENOMEM;
	if (rc == 0)
		return xp_builder_option_invalid(b, "partners",
		                                 type_name(env, t));
	for (i = 0; i < n; i++) {
		rc = walk_partner(env, b, s, &es[i]);
		if (rc < 0)
			return rc;
	}
	return XP_OK;
}

/* Global options: a map or a proplist; a key that is no text is misuse. */
static int walk_options(ErlNifEnv *env, xp_builder *b, scratch *s,
                        ERL_NIF_TERM t)
{
	key_entry *es;
	size_t n, i;
	int rc = read_entries(env, t, s, &es, &n);

	if (rc < 0)
		return XP_ENOMEM;
	if (rc == 0)
		return XP_EINVAL;
	for (i = 0; i < n; i++) {
		const key_entry *e = &es[i];
		const char *text;
		size_t len;
		ErlNifSInt64 i64;
		double d;
		if (!e->is_tuple || !e->is_text)
			return XP_EINVAL;
		if (enif_get_int64(env, e->value, &i64))
			rc = xp_builder_option_integer(b, e->name,
			                               (long long)i64);
		else if (enif_get_double(env, e->value, &d) && d >= -1e15 &&
		         d <= 1e15 && (double)(long long)d == d)
			rc = xp_builder_option_integer(b, e->name,
			                               (long long)d);
		else if (!enif_is_identical(e->value, am_true) &&
		         !enif_is_identical(e->value, am_false) &&
		         term_text(env, e->value, s, 0, &text, &len))
			rc = xp_builder_option_string(b, e->name, text, len);
		else if (s->failed)
			rc = XP_ENOMEM;
		else
			rc = xp_builder_option_invalid(
			        b, e->name,
			        enif_is_identical(e->value, am_true) ||
			                        enif_is_identical(e->value,
			                                          am_false)
			                ? "boolean"
			                : type_name(env, e->value));
		if (rc < 0)
			return rc;
	}
	return XP_OK;
}

/* ---- build and check ----------------------------------------------------- */

static ERL_NIF_TERM nif_build(ErlNifEnv *env, int argc,
                              const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	scratch s = {NULL, 0, 0, 0};
	xp_builder *b;
	xp_table *t = NULL;
	ERL_NIF_TERM result;
	int rc, ok;

	(void)argc;
	b = xp_builder_new(p->anchor->ctx);
	xp_builder_set_host_style(b, XP_HOST_EJABBERD);
	if (b == NULL)
		return raise_status(env, XP_ENOMEM);
	rc = walk_options(env, b, &s, argv[1]);
	if (rc == XP_OK)
		rc = walk_partners(env, b, &s, argv[0]);
	scratch_free(&s);
	if (rc == XP_OK)
		rc = xp_builder_finish(b, &t);
	if (rc == XP_OK) {
		ERL_NIF_TERM table = make_table(env, t, &ok);
		if (!ok) {
			xp_builder_free(b);
			return raise_status(env, XP_ENOMEM);
		}
		result = enif_make_tuple3(env, am_ok, table,
		                          make_builder_diags(env, b, 1));
	} else if (rc == XP_ECONFIG) {
		result = enif_make_tuple2(env, am_error,
		                          make_builder_diags(env, b, 0));
	} else {
		xp_builder_free(b);
		return raise_status(env, rc);
	}
	xp_builder_free(b);
	return result;
}

static ERL_NIF_TERM nif_check(ErlNifEnv *env, int argc,
                              const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	scratch s = {NULL, 0, 0, 0};
	xp_builder *b;
	xp_table *t = NULL;
	ERL_NIF_TERM result;
	const char *domain;
	size_t len;
	int rc;

	(void)argc;
	b = xp_builder_new(p->anchor->ctx);
	xp_builder_set_host_style(b, XP_HOST_EJABBERD);
	if (b == NULL)
		return raise_status(env, XP_ENOMEM);
	rc = walk_options(env, b, &s, argv[2]);
	if (rc == XP_OK && !get_domain(env, argv[0], &s, &domain, &len))
		rc = s.failed ? XP_ENOMEM : XP_EINVAL;
	if (rc == XP_OK)
		rc = xp_builder_begin(b, domain, len);
	if (rc == XP_OK)
		rc = walk_record(env, b, &s, argv[1]);
	if (rc == XP_OK)
		rc = xp_builder_end(b);
	scratch_free(&s);
	/* Finishing runs the table-wide checks; the table is dropped. */
	if (rc == XP_OK) {
		rc = xp_builder_finish(b, &t);
		if (rc == XP_OK)
			xp_table_unref(t);
	}
	if (rc != XP_OK && rc != XP_ECONFIG) {
		xp_builder_free(b);
		return raise_status(env, rc);
	}
	result = enif_make_tuple2(env, rc == XP_OK ? am_ok : am_error,
	                          make_builder_diags(env, b, 0));
	xp_builder_free(b);
	return result;
}

static ERL_NIF_TERM nif_closed(ErlNifEnv *env, int argc,
                               const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	xp_table *t = xp_table_new_closed(p->anchor->ctx);
	ERL_NIF_TERM term;
	int ok;

	(void)argc;
	(void)argv;
	if (t == NULL)
		return raise_status(env, XP_ENOMEM);
	term = make_table(env, t, &ok);
	return ok ? term : raise_status(env, XP_ENOMEM);
}

/* ---- table queries ------------------------------------------------------- */

/* The table and the partner for argv[0], argv[1]: NULL partner with
 * *reason when refused.  Returns 0 on misuse (badarg). */
static int table_partner(ErlNifEnv *env, const ERL_NIF_TERM argv[],
                         const xp_table **t, const xp_partner **p,
                         xp_reason *reason)
{
	table_res *r = get_table(env, argv[0]);
	scratch s = {NULL, 0, 0, 0};
	const char *domain;
	size_t len;

	if (r == NULL || r->table == NULL)
		return 0;
	if (!get_domain(env, argv[1], &s, &domain, &len)) {
		scratch_free(&s);
		return 0;
	}
	*t = r->table;
	*reason = XP_R_NONE;
	*p = xp_table_resolve(r->table, domain, len, reason);
	scratch_free(&s);
	return 1;
}

static ERL_NIF_TERM make_partner_name(ErlNifEnv *env, const xp_partner *p)
{
	return make_text(env,
	                 xp_partner_is_default(p) ? "*" : xp_partner_domain(p));
}

static ERL_NIF_TERM nif_resolve(ErlNifEnv *env, int argc,
                                const ERL_NIF_TERM argv[])
{
	const xp_table *t;
	const xp_partner *p;
	xp_reason reason;

	(void)argc;
	if (!table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	if (p == NULL)
		return make_refused(env, am_error, reason);
	return enif_make_tuple2(env, am_ok, make_partner_name(env, p));
}

/* explain(T, Domain) -> {ok, Text} | {error, Why}: the core's explain
 * text, the same the CLI and the Prosody shell print. */
static ERL_NIF_TERM nif_explain(ErlNifEnv *env, int argc,
                                const ERL_NIF_TERM argv[])
{
	table_res *r = get_table(env, argv[0]);
	scratch s = {NULL, 0, 0, 0};
	const char *domain, *why = NULL;
	size_t len;
	xp_text *text = NULL;
	ERL_NIF_TERM term;
	int rc;

	(void)argc;
	if (r == NULL || r->table == NULL)
		return enif_make_badarg(env);
	if (!get_domain(env, argv[1], &s, &domain, &len)) {
		scratch_free(&s);
		return enif_make_badarg(env);
	}
	rc = xp_explain_text(r->anchor->ctx, r->table, domain, len, &text,
	                     &why);
	scratch_free(&s);
	if (rc == XP_EINVAL)
		return enif_make_tuple2(
		        env, am_error,
		        make_text(env,
		                  why != NULL ? why : "not a valid domain"));
	if (rc != XP_OK)
		return raise_status(env, rc);
	term = make_bin(env, xp_text_str(text), xp_text_len(text));
	xp_text_free(text);
	return enif_make_tuple2(env, am_ok, term);
}

/* ---- the overlay of sources --------------------------------------------- */

/* The {Key, Record} pairs of a list, added to the overlay as source src;
 * kv collects every pair (handle = its index).  Pairs whose key is no text
 * go to *through as they are (the builder reports them).  0 on badarg or
 * out of memory (*nomem). */
static int overlay_list(ErlNifEnv *env, ERL_NIF_TERM list, xp_source src,
                        xp_overlay *o, scratch *s, ERL_NIF_TERM **kv, size_t *n,
                        size_t *cap, ERL_NIF_TERM *through, int *nomem)
{
	ERL_NIF_TERM head;
	const ERL_NIF_TERM *pair;
	int arity;

	if (!enif_is_list(env, list))
		return 0;
	while (enif_get_list_cell(env, list, &head, &list)) {
		const char *key;
		size_t len;
		if (!enif_get_tuple(env, head, &arity, &pair) || arity != 2)
			continue; /* not a record: as before, ignored */
		if (!term_text(env, pair[0], s, 0, &key, &len)) {
			if (s->failed) {
				*nomem = 1;
				return 0;
			}
			*through = enif_make_list_cell(env, head, *through);
			continue;
		}
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 64;
			ERL_NIF_TERM *m =
			        enif_realloc(*kv, ncap * sizeof(**kv));
			if (m == NULL) {
				*nomem = 1;
				return 0;
			}
			*kv = m;
			*cap = ncap;
		}
		(*kv)[*n] = head;
		if (xp_overlay_add(o, src, key, len, *n) != XP_OK) {
			*nomem = 1;
			return 0;
		}
		++*n;
	}
	return 1;
}

/* overlay(File, Config, Runtime, Removed, FilePath)
 *   -> {[{Key, Record}], #{Domain => Source}, [HiddenKey]} */
static ERL_NIF_TERM nif_overlay(ErlNifEnv *env, int argc,
                                const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	xp_overlay *o;
	scratch s = {NULL, 0, 0, 0};
	ERL_NIF_TERM *kv = NULL, merged, sources, hidden, head, list;
	size_t n = 0, cap = 0, i;
	const char *text;
	size_t len;
	int ok = 1, nomem = 0, src;

	(void)argc;
	if (p == NULL)
		return enif_make_badarg(env);
	o = xp_overlay_new(p->anchor->ctx);
	if (o == NULL)
		return raise_status(env, XP_ENOMEM);
	merged = enif_make_list(env, 0);
	if (!enif_is_identical(argv[4], am_undefined)) {
		ok = term_text(env, argv[4], &s, 0, &text, &len) &&
		     xp_overlay_set_file(o, text, len) == XP_OK;
		nomem = s.failed;
	}
	for (src = 0; ok && src <= XP_SOURCE_RUNTIME; src++)
		ok = overlay_list(env, argv[src], (xp_source)src, o, &s, &kv,
		                  &n, &cap, &merged, &nomem);
	list = argv[3];
	if (ok && !enif_is_list(env, list))
		ok = 0;
	while (ok && enif_get_list_cell(env, list, &head, &list)) {
		if (!term_text(env, head, &s, 0, &text, &len)) {
			nomem = s.failed;
			ok = !nomem;
			continue;
		}
		if (xp_overlay_hide(o, text, len) != XP_OK)
			ok = 0, nomem = 1;
	}
	if (ok && xp_overlay_finish(o) != XP_OK)
		ok = 0, nomem = 1;
	if (!ok) {
		xp_overlay_free(o);
		enif_free(kv);
		scratch_free(&s);
		return nomem ? raise_status(env, XP_ENOMEM)
		             : enif_make_badarg(env);
	}
	sources = enif_make_new_map(env);
	for (i = xp_overlay_count(o); i-- > 0;) {
		const xp_overlay_entry *e = xp_overlay_at(o, i);
		merged = enif_make_list_cell(env, kv[e->handle], merged);
		enif_make_map_put(env, sources, make_text(env, e->domain),
		                  make_text(env, e->label), &sources);
	}
	hidden = enif_make_list(env, 0);
	for (i = xp_overlay_hidden_count(o); i-- > 0;)
		hidden = enif_make_list_cell(
		        env, make_text(env, xp_overlay_hidden(o, i)), hidden);
	xp_overlay_free(o);
	enif_free(kv);
	scratch_free(&s);
	return enif_make_tuple3(env, merged, sources, hidden);
}

/* parse_value(Key, Text) -> remove | {ok, Value}: a value typed for a
 * record key, read by the core (xp_value_parse). */
static ERL_NIF_TERM nif_parse_value(ErlNifEnv *env, int argc,
                                    const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	scratch s = {NULL, 0, 0, 0};
	const char *key, *text, *item;
	size_t klen, len, i;
	xp_value *v = NULL;
	ERL_NIF_TERM result, list;
	int rc;

	(void)argc;
	if (p == NULL || !term_text(env, argv[0], &s, 1, &key, &klen) ||
	    !term_text(env, argv[1], &s, 0, &text, &len)) {
		rc = s.failed;
		scratch_free(&s);
		return rc ? raise_status(env, XP_ENOMEM)
		          : enif_make_badarg(env);
	}
	rc = xp_value_parse(p->anchor->ctx, key, text, len, &v);
	scratch_free(&s);
	if (rc != XP_OK)
		return raise_status(env, rc);
	switch (xp_value_get_type(v)) {
	case XP_VALUE_UNSET:
		xp_value_free(v);
		return enif_make_atom(env, "remove");
	case XP_VALUE_BOOLEAN:
		result = make_bool(xp_value_boolean(v));
		break;
	case XP_VALUE_INTEGER:
		result =
		        enif_make_int64(env, (ErlNifSInt64)xp_value_integer(v));
		break;
	case XP_VALUE_LIST:
		list = enif_make_list(env, 0);
		for (i = xp_value_count(v); i-- > 0;) {
			item = xp_value_item(v, i, &len);
			list = enif_make_list_cell(
			        env, make_bin(env, item, len), list);
		}
		result = list;
		break;
	case XP_VALUE_STRING:
	default:
		item = xp_value_string(v, &len);
		result = make_bin(env, item, len);
		break;
	}
	xp_value_free(v);
	return enif_make_tuple2(env, am_ok, result);
}

/* A diagnostic map (as make_diag makes them) as an xp_diag; its strings
 * are NUL-terminated copies in s.  0 when it is no such map. */
static int diag_from_map(ErlNifEnv *env, ERL_NIF_TERM m, scratch *s, xp_diag *d)
{
	ERL_NIF_TERM v;
	size_t len;
	int row;

	memset(d, 0, sizeof(*d));
	if (!enif_is_map(env, m) ||
	    !enif_get_map_value(env, m, am_severity, &v))
		return 0;
	d->severity =
	        enif_is_identical(v, am_error) ? XP_SEV_ERROR : XP_SEV_WARNING;
	if (!enif_get_map_value(env, m, am_message, &v) ||
	    !term_text(env, v, s, 1, &d->message, &len))
		return 0;
	if (enif_get_map_value(env, m, am_row, &v) &&
	    enif_get_int(env, v, &row))
		d->row = row;
	if (enif_get_map_value(env, m, am_suggestion, &v) &&
	    !enif_is_identical(v, am_undefined) &&
	    !term_text(env, v, s, 1, &d->suggestion, &len))
		return 0;
	if (enif_get_map_value(env, m, am_partner, &v) &&
	    !enif_is_identical(v, am_undefined) &&
	    !term_text(env, v, s, 1, &d->partner, &len))
		return 0;
	return 1;
}

static ERL_NIF_TERM text_term(ErlNifEnv *env, xp_text *x, int rc)
{
	ERL_NIF_TERM t;

	if (rc != XP_OK)
		return raise_status(env, rc);
	t = make_bin(env, xp_text_str(x), xp_text_len(x));
	xp_text_free(x);
	return t;
}

/* diag_line(Diag) -> Text: the one line every host prints for it. */
static ERL_NIF_TERM nif_diag_line(ErlNifEnv *env, int argc,
                                  const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	scratch s = {NULL, 0, 0, 0};
	xp_diag d;
	xp_text *x = NULL;
	int rc;

	(void)argc;
	if (p == NULL || !diag_from_map(env, argv[0], &s, &d)) {
		rc = s.failed;
		scratch_free(&s);
		return rc ? raise_status(env, XP_ENOMEM)
		          : enif_make_badarg(env);
	}
	rc = xp_diag_text(p->anchor->ctx, &d, &x);
	scratch_free(&s);
	return text_term(env, x, rc);
}

/* check_text(Diags, Count | undefined) -> Text: an admin check's text,
 * valid when Count is given. */
static ERL_NIF_TERM nif_check_text(ErlNifEnv *env, int argc,
                                   const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	scratch s = {NULL, 0, 0, 0};
	ERL_NIF_TERM list = argv[0], head;
	unsigned n;
	size_t i = 0;
	xp_diag *d;
	xp_text *x = NULL;
	ErlNifUInt64 count = 0;
	int valid = !enif_is_identical(argv[1], am_undefined), rc;

	(void)argc;
	if (p == NULL || !enif_get_list_length(env, list, &n) ||
	    (valid && !enif_get_uint64(env, argv[1], &count)))
		return enif_make_badarg(env);
	d = scratch_alloc(&s, (n ? n : 1) * sizeof(*d));
	if (d == NULL) {
		scratch_free(&s);
		return raise_status(env, XP_ENOMEM);
	}
	while (enif_get_list_cell(env, list, &head, &list)) {
		if (!diag_from_map(env, head, &s, &d[i])) {
			rc = s.failed;
			scratch_free(&s);
			return rc ? raise_status(env, XP_ENOMEM)
			          : enif_make_badarg(env);
		}
		i++;
	}
	rc = xp_check_text(p->anchor->ctx, d, i, valid, (size_t)count,
	                   XP_HOST_EJABBERD, &x);
	scratch_free(&s);
	return text_term(env, x, rc);
}

/* ---- admin change results and the export (texts.c) ----------------------- */

/* A term as a value the core's texts write: undefined or remove (no
 * value), true/false, an integer, a binary or other atom (text), a string
 * (a flat list of bytes), or a list of texts.  0 when it is none of these
 * or memory ran out (s->failed says which). */
static int text_value_from(ErlNifEnv *env, ERL_NIF_TERM t, scratch *s,
                           xp_text_value *v)
{
	ErlNifSInt64 i64;
	double d;
	unsigned n;
	size_t i = 0;
	ERL_NIF_TERM head, tail = t;
	const char **items;
	size_t *lens;

	memset(v, 0, sizeof(*v));
	if (enif_is_identical(t, am_undefined) ||
	    enif_is_identical(t, am_remove)) {
		v->type = XP_VALUE_UNSET;
		return 1;
	}
	if (enif_is_identical(t, am_true) || enif_is_identical(t, am_false)) {
		v->type = XP_VALUE_BOOLEAN;
		v->boolean = enif_is_identical(t, am_true);
		return 1;
	}
	if (enif_get_int64(env, t, &i64)) {
		v->type = XP_VALUE_INTEGER;
		v->integer = (long long)i64;
		return 1;
	}
	/* A whole float (300.0 in a file or ejabberd.yml): the builder took
	 * it as that integer, so it is written as one, as Prosody does. */
	if (enif_get_double(env, t, &d) && d >= -1e15 && d <= 1e15 &&
	    d == (double)(long long)d) {
		v->type = XP_VALUE_INTEGER;
		v->integer = (long long)d;
		return 1;
	}
	if (enif_is_list(env, t) && enif_get_list_length(env, t, &n)) {
		/* a string, unless its first element is no byte */
		if (n > 0 && enif_get_list_cell(env, t, &head, &tail) &&
		    enif_is_number(env, head)) {
			v->type = XP_VALUE_STRING;
			return term_text(env, t, s, 1, &v->s, &v->len);
		}
		items = scratch_alloc(s, (n ? n : 1) * sizeof(*items));
		lens = scratch_alloc(s, (n ? n : 1) * sizeof(*lens));
		if (items == NULL || lens == NULL)
			return 0;
		tail = t;
		while (i < n && enif_get_list_cell(env, tail, &head, &tail)) {
			if (!term_text(env, head, s, 0, &items[i], &lens[i]))
				return 0;
			i++;
		}
		v->type = XP_VALUE_LIST;
		v->items = items;
		v->lens = lens;
		v->n = i;
		return 1;
	}
	v->type = XP_VALUE_STRING;
	return term_text(env, t, s, 1, &v->s, &v->len);
}

/* An optional text field of a map: NULL when absent or undefined. */
static int map_text(ErlNifEnv *env, ERL_NIF_TERM m, const char *name,
                    scratch *s, const char **out)
{
	ERL_NIF_TERM v;
	size_t len;

	*out = NULL;
	if (!enif_get_map_value(env, m, enif_make_atom(env, name), &v) ||
	    enif_is_identical(v, am_undefined))
		return 1;
	return term_text(env, v, s, 1, out, &len);
}

static const char *const change_ops[] = {"add",   "set",           "remove",
                                         "reset", "reset_backoff", "edit"};

/* A change map #{op, domain, key, value, typed, hidden, count} as an
 * xp_change (value into *value); 0 when malformed. */
static int change_from(ErlNifEnv *env, ERL_NIF_TERM m, scratch *s, xp_change *c,
                       xp_text_value *value)
{
	ERL_NIF_TERM v;
	char op[16];
	ErlNifUInt64 count = 0;
	size_t i;

	memset(c, 0, sizeof(*c));
	if (!enif_is_map(env, m) ||
	    !enif_get_map_value(env, m, enif_make_atom(env, "op"), &v) ||
	    enif_get_atom(env, v, op, sizeof(op), ERL_NIF_LATIN1) <= 0)
		return 0;
	for (i = 0; i < sizeof(change_ops) / sizeof(change_ops[0]); i++)
		if (strcmp(op, change_ops[i]) == 0)
			break;
	if (i == sizeof(change_ops) / sizeof(change_ops[0]))
		return 0;
	c->op = (xp_change_op)i;
	if (!map_text(env, m, "domain", s, &c->domain) || c->domain == NULL ||
	    !map_text(env, m, "key", s, &c->key) ||
	    !map_text(env, m, "typed", s, &c->typed) ||
	    !map_text(env, m, "hidden", s, &c->hidden))
		return 0;
	if (enif_get_map_value(env, m, enif_make_atom(env, "count"), &v) &&
	    !enif_get_uint64(env, v, &count))
		return 0;
	c->count = (unsigned long)count;
	if (enif_get_map_value(env, m, enif_make_atom(env, "value"), &v)) {
		if (!text_value_from(env, v, s, value))
			return 0;
		c->value = value;
	}
	return 1;
}

static ERL_NIF_TERM bad_or_enomem(ErlNifEnv *env, scratch *s)
{
	int failed = s->failed;

	scratch_free(s);
	return failed ? raise_status(env, XP_ENOMEM) : enif_make_badarg(env);
}

/* change_text(Change, Warnings | undefined) -> Text: the line an admin
 * change prints when done (xp_change_text). */
static ERL_NIF_TERM nif_change_text(ErlNifEnv *env, int argc,
                                    const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	scratch s = {NULL, 0, 0, 0};
	const char *warnings = NULL;
	xp_text_value value;
	xp_change c;
	xp_text *x = NULL;
	size_t len;
	int rc;

	(void)argc;
	if (p == NULL || !change_from(env, argv[0], &s, &c, &value))
		return bad_or_enomem(env, &s);
	if (!enif_is_identical(argv[1], am_undefined) &&
	    !enif_is_empty_list(env, argv[1]) &&
	    !term_text(env, argv[1], &s, 1, &warnings, &len))
		return bad_or_enomem(env, &s);
	rc = xp_change_text(p->anchor->ctx, XP_HOST_EJABBERD, &c, warnings, &x);
	scratch_free(&s);
	if (rc == XP_EINVAL)
		return enif_make_badarg(env);
	return text_term(env, x, rc);
}

static const char *const refusal_names[] = {
        "invalid",     "read",       "store",  "exists",
        "not_partner", "additional", "nothing"};

/* change_refused(Change, Why, Detail | [Diag] | undefined) -> Text: the
 * text of a refused change (xp_change_refused_text). */
static ERL_NIF_TERM nif_change_refused(ErlNifEnv *env, int argc,
                                       const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	scratch s = {NULL, 0, 0, 0};
	const char *detail = NULL;
	xp_text_value value;
	xp_change c;
	xp_text *x = NULL;
	xp_diag *d = NULL;
	ERL_NIF_TERM list = argv[2], head;
	char why[16];
	unsigned n = 0;
	size_t i = 0, len, w;
	int rc;

	(void)argc;
	if (p == NULL ||
	    enif_get_atom(env, argv[1], why, sizeof(why), ERL_NIF_LATIN1) <= 0)
		return enif_make_badarg(env);
	for (w = 0; w < sizeof(refusal_names) / sizeof(refusal_names[0]); w++)
		if (strcmp(why, refusal_names[w]) == 0)
			break;
	if (w == sizeof(refusal_names) / sizeof(refusal_names[0]) ||
	    !change_from(env, argv[0], &s, &c, &value))
		return bad_or_enomem(env, &s);
	if (w == XP_REFUSE_INVALID) {
		if (!enif_get_list_length(env, list, &n))
			return bad_or_enomem(env, &s);
		d = scratch_alloc(&s, (n ? n : 1) * sizeof(*d));
		if (d == NULL)
			return bad_or_enomem(env, &s);
		while (enif_get_list_cell(env, list, &head, &list)) {
			if (!diag_from_map(env, head, &s, &d[i]))
				return bad_or_enomem(env, &s);
			i++;
		}
	} else if (!enif_is_identical(argv[2], am_undefined) &&
	           !term_text(env, argv[2], &s, 1, &detail, &len)) {
		return bad_or_enomem(env, &s);
	}
	rc = xp_change_refused_text(p->anchor->ctx, XP_HOST_EJABBERD, &c,
	                            (xp_change_refusal)w, detail, d, i, &x);
	scratch_free(&s);
	if (rc == XP_EINVAL)
		return enif_make_badarg(env);
	return text_term(env, x, rc);
}

/* The pairs of a map or of a list of {Key, Value} as export fields. */
static int export_fields(ErlNifEnv *env, ERL_NIF_TERM t, scratch *s,
                         xp_export_field **out, size_t *n_out)
{
	ERL_NIF_TERM head, tail = t, k, v;
	const ERL_NIF_TERM *tuple;
	ErlNifMapIterator it;
	xp_export_field *f;
	size_t n = 0, i = 0, len;
	unsigned ln;
	int arity;

	if (enif_is_map(env, t)) {
		if (!enif_get_map_size(env, t, &n))
			return 0;
	} else if (enif_get_list_length(env, t, &ln)) {
		n = ln;
	} else {
		return 0;
	}
	f = scratch_alloc(s, (n ? n : 1) * sizeof(*f));
	if (f == NULL)
		return 0;
	if (enif_is_map(env, t)) {
		if (!enif_map_iterator_create(env, t, &it,
		                              ERL_NIF_MAP_ITERATOR_FIRST))
			return 0;
		while (i < n && enif_map_iterator_get_pair(env, &it, &k, &v)) {
			if (!term_text(env, k, s, 1, &f[i].key, &len) ||
			    !text_value_from(env, v, s, &f[i].value)) {
				enif_map_iterator_destroy(env, &it);
				return 0;
			}
			i++;
			enif_map_iterator_next(env, &it);
		}
		enif_map_iterator_destroy(env, &it);
	} else {
		while (i < n && enif_get_list_cell(env, tail, &head, &tail)) {
			if (!enif_get_tuple(env, head, &arity, &tuple) ||
			    arity != 2 ||
			    !term_text(env, tuple[0], s, 1, &f[i].key, &len) ||
			    !text_value_from(env, tuple[1], s, &f[i].value))
				return 0;
			i++;
		}
	}
	*out = f;
	*n_out = i;
	return 1;
}

/* export_text(Options, [{Domain, Record, Source}]) -> Text: the effective
 * table as a partner file (xp_export_text); Options and each Record a map
 * or a list of {Key, Value}. */
static ERL_NIF_TERM nif_export_text(ErlNifEnv *env, int argc,
                                    const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	scratch s = {NULL, 0, 0, 0};
	ERL_NIF_TERM list = argv[1], head;
	const ERL_NIF_TERM *tuple;
	xp_export_field *opts = NULL;
	xp_export_record *recs;
	xp_text *x = NULL;
	size_t n_opts = 0, i = 0, len;
	unsigned n;
	int arity, rc;

	(void)argc;
	if (p == NULL || !export_fields(env, argv[0], &s, &opts, &n_opts) ||
	    !enif_get_list_length(env, list, &n))
		return bad_or_enomem(env, &s);
	recs = scratch_alloc(&s, (n ? n : 1) * sizeof(*recs));
	if (recs == NULL)
		return bad_or_enomem(env, &s);
	while (enif_get_list_cell(env, list, &head, &list)) {
		xp_export_field *fields = NULL;
		if (!enif_get_tuple(env, head, &arity, &tuple) || arity != 3 ||
		    !term_text(env, tuple[0], &s, 1, &recs[i].domain, &len) ||
		    !export_fields(env, tuple[1], &s, &fields,
		                   &recs[i].n_fields) ||
		    !term_text(env, tuple[2], &s, 1, &recs[i].source, &len))
			return bad_or_enomem(env, &s);
		recs[i].fields = fields;
		i++;
	}
	rc = xp_export_text(p->anchor->ctx, opts, n_opts, recs, i, &x);
	scratch_free(&s);
	if (rc == XP_EINVAL)
		return enif_make_badarg(env);
	return text_term(env, x, rc);
}

/* show(T, D, Source) -> {ok, Text} | {error, Text}: the record as the
 * admin "show" commands print it (xp_show_text). */
static ERL_NIF_TERM nif_show(ErlNifEnv *env, int argc,
                             const ERL_NIF_TERM argv[])
{
	table_res *r = get_table(env, argv[0]);
	scratch s = {NULL, 0, 0, 0};
	const char *domain, *source = NULL;
	size_t len, slen;
	xp_text *x = NULL;
	ERL_NIF_TERM term;
	int rc;

	(void)argc;
	if (r == NULL || r->table == NULL ||
	    !get_domain(env, argv[1], &s, &domain, &len) ||
	    (!enif_is_identical(argv[2], am_undefined) &&
	     !term_text(env, argv[2], &s, 1, &source, &slen))) {
		rc = s.failed;
		scratch_free(&s);
		return rc ? raise_status(env, XP_ENOMEM)
		          : enif_make_badarg(env);
	}
	rc = xp_show_text(r->anchor->ctx, r->table, domain, len, source, &x);
	scratch_free(&s);
	if (rc != XP_OK && rc != XP_ENOTFOUND && rc != XP_EINVAL)
		return raise_status(env, rc);
	term = make_bin(env, xp_text_str(x), xp_text_len(x));
	xp_text_free(x);
	return enif_make_tuple2(env, rc == XP_OK ? am_ok : am_error, term);
}

/* list_text(T, [{Domain, Source, Live}], Matched, Pattern | undefined,
 * [Removed]) -> Text: the partner list as the admin "list" commands print
 * it (xp_list_text). */
static ERL_NIF_TERM nif_list_text(ErlNifEnv *env, int argc,
                                  const ERL_NIF_TERM argv[])
{
	table_res *r = get_table(env, argv[0]);
	scratch s = {NULL, 0, 0, 0};
	ERL_NIF_TERM list, head;
	const ERL_NIF_TERM *tuple;
	unsigned n, n_removed;
	size_t i = 0, len;
	unsigned long matched;
	const char *pattern = NULL, **removed;
	xp_list_row *rows;
	xp_text *x = NULL;
	int arity, rc, ok = 1;

	(void)argc;
	if (r == NULL || r->table == NULL ||
	    !enif_get_list_length(env, argv[1], &n) ||
	    !enif_get_ulong(env, argv[2], &matched) ||
	    !enif_get_list_length(env, argv[4], &n_removed))
		return enif_make_badarg(env);
	rows = scratch_alloc(&s, (n ? n : 1) * sizeof(*rows));
	removed = scratch_alloc(&s,
	                        (n_removed ? n_removed : 1) * sizeof(*removed));
	if (rows == NULL || removed == NULL) {
		scratch_free(&s);
		return raise_status(env, XP_ENOMEM);
	}
	if (!enif_is_identical(argv[3], am_undefined))
		ok = term_text(env, argv[3], &s, 1, &pattern, &len);
	list = argv[1];
	while (ok && enif_get_list_cell(env, list, &head, &list)) {
		unsigned long live;
		ok = enif_get_tuple(env, head, &arity, &tuple) && arity == 3 &&
		     term_text(env, tuple[0], &s, 1, &rows[i].domain, &len) &&
		     term_text(env, tuple[1], &s, 1, &rows[i].source, &len) &&
		     enif_get_ulong(env, tuple[2], &live);
		if (ok)
			rows[i++].live = live;
	}
	list = argv[4];
	n = 0;
	while (ok && enif_get_list_cell(env, list, &head, &list))
		ok = term_text(env, head, &s, 1, &removed[n++], &len);
	if (!ok) {
		rc = s.failed;
		scratch_free(&s);
		return rc ? raise_status(env, XP_ENOMEM)
		          : enif_make_badarg(env);
	}
	rc = xp_list_text(r->anchor->ctx, r->table, rows, i, (size_t)matched,
	                  pattern, removed, n, &x);
	scratch_free(&s);
	return text_term(env, x, rc);
}

static ERL_NIF_TERM make_methods(ErlNifEnv *env, unsigned methods)
{
	static const xp_method all[] = {XP_METHOD_DIALBACK_TCP,
	                                XP_METHOD_DIALBACK_TLS,
	                                XP_METHOD_SASL_TLS};
	ERL_NIF_TERM list = enif_make_list(env, 0);
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (methods & (unsigned)all[i])
			list = enif_make_list_cell(
			        env,
			        enif_make_atom(env, xp_method_name(all[i])),
			        list);
	return list;
}

static ERL_NIF_TERM make_string_list(ErlNifEnv *env, size_t n,
                                     const char *(*get)(const xp_partner *,
                                                        size_t),
                                     const xp_partner *p)
{
	ERL_NIF_TERM list = enif_make_list(env, 0);

	while (n-- > 0)
		list = enif_make_list_cell(env, make_text(env, get(p, n)),
		                           list);
	return list;
}

#define MAP_PUT(k, v)                                                          \
	enif_make_map_put(env, map, enif_make_atom(env, (k)), (v), &map)

static ERL_NIF_TERM make_row_map(ErlNifEnv *env, const xp_matrix_row *r)
{
	ERL_NIF_TERM map = enif_make_new_map(env);

	MAP_PUT("row", enif_make_int(env, r->row));
	MAP_PUT("tls", enif_make_atom(env, xp_tls_name(r->tls)));
	MAP_PUT("sasl", enif_make_atom(env, xp_sasl_name(r->sasl)));
	MAP_PUT("dialback", make_bool(r->dialback));
	MAP_PUT("verdict", enif_make_atom(env, xp_verdict_name(r->verdict)));
	MAP_PUT("methods", make_methods(env, r->methods));
	MAP_PUT("reason", r->reason != NULL && r->reason[0] != '\0'
	                          ? make_text(env, r->reason)
	                          : am_undefined);
	return map;
}

/* "host:port", with brackets around an IPv6 host. */
static ERL_NIF_TERM make_proxy_text(ErlNifEnv *env, const char *host,
                                    unsigned port)
{
	char buf[XP_DOMAIN_MAX + 32];
	int n;

	if (host[0] != '[' && strchr(host, ':') != NULL)
		n = enif_snprintf(buf, sizeof(buf), "[%s]:%u", host, port);
	else
		n = enif_snprintf(buf, sizeof(buf), "%s:%u", host, port);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	return make_bin(env, buf, (size_t)n);
}

static ERL_NIF_TERM nif_lookup(ErlNifEnv *env, int argc,
                               const ERL_NIF_TERM argv[])
{
	const xp_table *t;
	const xp_partner *p;
	const xp_matrix_row *r;
	xp_reason reason;
	ERL_NIF_TERM map;
	const char *proxy;
	unsigned port = 0;

	(void)argc;
	if (!table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	if (p == NULL)
		return make_refused(env, am_error, reason);
	r = xp_partner_row(p);
	map = r != NULL ? make_row_map(env, r) : enif_make_new_map(env);
	MAP_PUT("domain", make_partner_name(env, p));
	MAP_PUT("description", make_text(env, xp_partner_description(p)));
	MAP_PUT("additional_domains",
	        make_string_list(env, xp_partner_additional_count(p),
	                         xp_partner_additional, p));
	MAP_PUT("type", enif_make_atom(env, xp_partner_type_name(
	                                            xp_partner_get_type(p))));
	MAP_PUT("tls", enif_make_atom(env, xp_tls_name(xp_partner_tls(p))));
	MAP_PUT("sasl", enif_make_atom(env, xp_sasl_name(xp_partner_sasl(p))));
	MAP_PUT("dialback", make_bool(xp_partner_dialback(p)));
	proxy = xp_partner_proxy(p, &port);
	MAP_PUT("proxy", proxy != NULL ? make_proxy_text(env, proxy, port)
	                               : am_undefined);
	MAP_PUT("connection_limit",
	        enif_make_uint(env, xp_partner_connection_limit(p)));
	MAP_PUT("keepalive", make_bool(xp_partner_keepalive(p)));
	MAP_PUT("fingerprints",
	        make_string_list(env, xp_partner_fingerprint_count(p),
	                         xp_partner_fingerprint, p));
	MAP_PUT("default", make_bool(xp_partner_is_default(p)));
	return enif_make_tuple2(env, am_ok, map);
}

static ERL_NIF_TERM nif_tls(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
	const xp_table *t;
	const xp_partner *p;
	xp_reason reason;
	xp_direction d;

	(void)argc;
	if (!get_direction(env, argv[2], &d) ||
	    !table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	if (p == NULL)
		return make_refused(env, am_error, reason);
	return enif_make_atom(env, xp_tls_action_name(xp_verdict_tls(p, d)));
}

typedef int (*stream_verdict_fn)(const xp_partner *, xp_direction,
                                 const xp_stream_state *, xp_reason *);

/* (T, D, Dir, Encrypted, Chain, Identity, Pin) -> verdict. */
static ERL_NIF_TERM stream_verdict(ErlNifEnv *env, const ERL_NIF_TERM argv[],
                                   stream_verdict_fn verdict)
{
	const xp_table *t;
	const xp_partner *p;
	xp_reason reason;
	xp_direction d;
	xp_stream_state s;
	int ok;

	if (!get_direction(env, argv[2], &d) || !get_stream(argv + 3, &s) ||
	    !table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	if (p == NULL)
		return make_refused(env, am_false, reason);
	reason = XP_R_NONE;
	ok = verdict(p, d, &s, &reason);
	return make_verdict(env, ok, reason);
}

static ERL_NIF_TERM nif_sasl_external(ErlNifEnv *env, int argc,
                                      const ERL_NIF_TERM argv[])
{
	(void)argc;
	return stream_verdict(env, argv, xp_verdict_sasl_external);
}

static ERL_NIF_TERM nif_dialback(ErlNifEnv *env, int argc,
                                 const ERL_NIF_TERM argv[])
{
	(void)argc;
	return stream_verdict(env, argv, xp_verdict_dialback);
}

static ERL_NIF_TERM nif_stanzas(ErlNifEnv *env, int argc,
                                const ERL_NIF_TERM argv[])
{
	(void)argc;
	return stream_verdict(env, argv, xp_verdict_stanzas);
}

/* A method as the core or ejabberd names it; 0 when unknown, -1 when the
 * term is neither an atom nor a binary. */
static int get_method(ErlNifEnv *env, ERL_NIF_TERM t, int encrypted,
                      xp_method *m)
{
	char buf[32];
	ErlNifBinary bin;
	size_t len;
	unsigned v;

	if (enif_inspect_binary(env, t, &bin)) {
		len = bin.size < sizeof(buf) - 1 ? bin.size : sizeof(buf) - 1;
		memcpy(buf, bin.data, len);
		buf[len] = '\0';
		if (bin.size != len) {
			*m = (xp_method)0;
			return 0;
		}
	} else if (enif_is_atom(env, t)) {
		if (enif_get_atom(env, t, buf, sizeof(buf), ERL_NIF_LATIN1) <=
		    0) {
			*m = (xp_method)0;
			return 0;
		}
		len = strlen(buf);
	} else {
		return -1;
	}
	if (strcmp(buf, "EXTERNAL") == 0) {
		*m = XP_METHOD_SASL_TLS;
	} else if (strcmp(buf, "dialback") == 0) {
		*m = encrypted ? XP_METHOD_DIALBACK_TLS
		               : XP_METHOD_DIALBACK_TCP;
	} else {
		v = xp_method_parse(buf, len);
		*m = (v == XP_METHOD_SASL_TLS || v == XP_METHOD_DIALBACK_TLS ||
		      v == XP_METHOD_DIALBACK_TCP)
		             ? (xp_method)v
		             : (xp_method)0;
	}
	return 0;
}

static ERL_NIF_TERM nif_auth(ErlNifEnv *env, int argc,
                             const ERL_NIF_TERM argv[])
{
	const xp_table *t;
	const xp_partner *p;
	xp_reason reason;
	xp_direction d;
	xp_stream_state s;
	xp_method m = (xp_method)0;
	int ok;

	(void)argc;
	if (!get_direction(env, argv[2], &d) || !get_stream(argv + 4, &s) ||
	    get_method(env, argv[3], s.encrypted, &m) < 0 ||
	    !table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	if (p == NULL)
		return make_refused(env, am_false, reason);
	if (m == 0)
		return make_refused(env, am_false, XP_R_UNKNOWN_METHOD);
	reason = XP_R_NONE;
	ok = xp_verdict_auth(p, d, m, &s, &reason);
	return make_verdict(env, ok, reason);
}

/* A connection count: a non-negative integer, saturated at UINT_MAX. */
static int get_count(ErlNifEnv *env, ERL_NIF_TERM t, unsigned *out)
{
	ErlNifUInt64 n;

	if (!enif_get_uint64(env, t, &n))
		return 0;
	*out = n > UINT_MAX ? UINT_MAX : (unsigned)n;
	return 1;
}

static ERL_NIF_TERM nif_connection(ErlNifEnv *env, int argc,
                                   const ERL_NIF_TERM argv[])
{
	const xp_table *t;
	const xp_partner *p;
	xp_reason reason;
	unsigned mine, total;
	int ok;

	(void)argc;
	if (!get_count(env, argv[2], &mine) ||
	    !get_count(env, argv[3], &total) ||
	    !table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	if (p == NULL)
		return make_refused(env, am_false, reason);
	reason = XP_R_NONE;
	ok = xp_verdict_connection(t, p, mine, total, &reason);
	return make_verdict(env, ok, reason);
}

/* The contact calls get NULL for a refused domain: the core then denies,
 * bounces and strips. */
static ERL_NIF_TERM nif_subscribe(ErlNifEnv *env, int argc,
                                  const ERL_NIF_TERM argv[])
{
	const xp_table *t;
	const xp_partner *p;
	xp_reason reason;
	xp_contact_state c;

	(void)argc;
	if (!get_flag(argv[2], &c.in_roster) ||
	    !get_flag(argv[3], &c.subscribed_from) ||
	    !get_flag(argv[4], &c.blocked) ||
	    !table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	return enif_make_atom(
	        env, xp_subscribe_action_name(xp_contact_subscribe(p, &c)));
}

static ERL_NIF_TERM nif_message(ErlNifEnv *env, int argc,
                                const ERL_NIF_TERM argv[])
{
	const xp_table *t;
	const xp_partner *p;
	xp_reason reason;
	xp_contact_state c = {0, 0, 0};

	(void)argc;
	if (!get_flag(argv[2], &c.in_roster) ||
	    !table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	return enif_make_atom(
	        env, xp_message_action_name(xp_contact_message(p, &c)));
}

static ERL_NIF_TERM nif_strip_status(ErlNifEnv *env, int argc,
                                     const ERL_NIF_TERM argv[])
{
	const xp_table *t;
	const xp_partner *p;
	xp_reason reason;

	(void)argc;
	if (!table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	return make_bool(xp_contact_strip_status(p));
}

static ERL_NIF_TERM nif_keepalive(ErlNifEnv *env, int argc,
                                  const ERL_NIF_TERM argv[])
{
	const xp_table *t;
	const xp_partner *p;
	xp_reason reason;

	(void)argc;
	if (!table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	return enif_make_tuple2(
	        env, make_bool(p != NULL && xp_partner_keepalive(p)),
	        enif_make_uint(env, xp_table_keepalive_interval(t)));
}

static ERL_NIF_TERM nif_proxy(ErlNifEnv *env, int argc,
                              const ERL_NIF_TERM argv[])
{
	const xp_table *t;
	const xp_partner *p;
	xp_reason reason;
	const char *host;
	unsigned port = 0;
	size_t len;

	(void)argc;
	if (!table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	host = p != NULL ? xp_partner_proxy(p, &port) : NULL;
	if (host == NULL)
		return am_none;
	/* An IPv6 literal as a host connects to it: without brackets. */
	len = strlen(host);
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
		return enif_make_tuple2(env, make_bin(env, host + 1, len - 2),
		                        enif_make_uint(env, port));
	return enif_make_tuple2(env, make_bin(env, host, len),
	                        enif_make_uint(env, port));
}

static ERL_NIF_TERM nif_pin_matches(ErlNifEnv *env, int argc,
                                    const ERL_NIF_TERM argv[])
{
	const xp_table *t;
	const xp_partner *p;
	xp_reason reason;
	ErlNifBinary pin;
	unsigned char spki[32];

	(void)argc;
	if (!enif_inspect_binary(env, argv[2], &pin) ||
	    !table_partner(env, argv, &t, &p, &reason))
		return enif_make_badarg(env);
	/* A malformed pin matches nothing. */
	return make_bool(p != NULL &&
	                 xp_pin_parse((const char *)pin.data, pin.size, spki) ==
	                         XP_OK &&
	                 xp_partner_pin_matches(p, spki));
}

static ERL_NIF_TERM nif_partners(ErlNifEnv *env, int argc,
                                 const ERL_NIF_TERM argv[])
{
	table_res *r = get_table(env, argv[0]);
	ERL_NIF_TERM list;
	size_t n;

	(void)argc;
	if (r == NULL || r->table == NULL)
		return enif_make_badarg(env);
	list = enif_make_list(env, 0);
	n = xp_table_count(r->table);
	while (n-- > 0)
		list = enif_make_list_cell(
		        env,
		        make_text(env,
		                  xp_partner_domain(xp_table_at(r->table, n))),
		        list);
	return list;
}

static ERL_NIF_TERM nif_info(ErlNifEnv *env, int argc,
                             const ERL_NIF_TERM argv[])
{
	table_res *r = get_table(env, argv[0]);
	ERL_NIF_TERM map = enif_make_new_map(env);
	int o;

	(void)argc;
	if (r == NULL || r->table == NULL)
		return enif_make_badarg(env);
	MAP_PUT("count", enif_make_uint64(env, xp_table_count(r->table)));
	MAP_PUT("default",
	        enif_make_atom(env, xp_table_default_policy(r->table) ==
	                                            XP_DEFAULT_ALLOW
	                                    ? "allow"
	                                    : "deny"));
	MAP_PUT("keepalive_interval",
	        enif_make_uint(env, xp_table_keepalive_interval(r->table)));
	MAP_PUT("connection_limit",
	        enif_make_uint(env, xp_table_connection_limit(r->table)));
	for (o = 0; o < XP_PREAUTH_COUNT; o++)
		MAP_PUT(xp_preauth_option_name((xp_preauth_option)o),
		        enif_make_uint(env,
		                       xp_table_preauth(r->table,
		                                        (xp_preauth_option)o)));
	MAP_PUT("refusal_backoff",
	        enif_make_uint(env, xp_table_refusal_backoff(r->table)));
	MAP_PUT("closed", make_bool(xp_table_is_closed(r->table)));
	return map;
}

static ERL_NIF_TERM nif_warnings(ErlNifEnv *env, int argc,
                                 const ERL_NIF_TERM argv[])
{
	table_res *r = get_table(env, argv[0]);
	ERL_NIF_TERM list;
	size_t n;

	(void)argc;
	if (r == NULL || r->table == NULL)
		return enif_make_badarg(env);
	list = enif_make_list(env, 0);
	n = xp_table_warning_count(r->table);
	while (n-- > 0) {
		const xp_diag *d = xp_table_warning(r->table, n);
		if (d != NULL)
			list = enif_make_list_cell(env, make_diag(env, d),
			                           list);
	}
	return list;
}

/* ---- module functions
 * -------------------------------------------------------- */

/* A tls or sasl level atom: 0..2, -1 for an unknown atom, -2 for a term
 * that is not an atom. */
static int parse_level(ErlNifEnv *env, ERL_NIF_TERM t, int sasl)
{
	char buf[32];
	int n = enif_get_atom(env, t, buf, sizeof(buf), ERL_NIF_LATIN1);
	xp_tls tls;
	xp_sasl sa;

	if (n <= 0)
		return enif_is_atom(env, t) ? -1 : -2;
	if (sasl)
		return xp_sasl_parse(buf, (size_t)n - 1, &sa) == XP_OK ? (int)sa
		                                                       : -1;
	return xp_tls_parse(buf, (size_t)n - 1, &tls) == XP_OK ? (int)tls : -1;
}

static ERL_NIF_TERM nif_matrix(ErlNifEnv *env, int argc,
                               const ERL_NIF_TERM argv[])
{
	const xp_matrix_row *r;
	int n, tls, sasl, dialback;

	if (argc == 1) {
		if (!enif_get_int(env, argv[0], &n))
			return enif_make_badarg(env);
		r = (n >= 1 && n <= 18) ? xp_matrix_row_get(n) : NULL;
		if (r == NULL)
			return enif_make_tuple2(
			        env, am_error,
			        make_text(env, "no such matrix row"));
		return enif_make_tuple2(env, am_ok, make_row_map(env, r));
	}
	tls = parse_level(env, argv[0], 0);
	sasl = parse_level(env, argv[1], 1);
	if (tls == -2 || sasl == -2 || !get_flag(argv[2], &dialback))
		return enif_make_badarg(env);
	if (tls < 0 || sasl < 0)
		return enif_make_tuple2(
		        env, am_error,
		        make_text(env, tls < 0 ? "unknown tls value"
		                               : "unknown sasl value"));
	r = xp_matrix_lookup((xp_tls)tls, (xp_sasl)sasl, dialback);
	if (r == NULL)
		return enif_make_tuple2(env, am_error,
		                        make_text(env, "no such matrix row"));
	return enif_make_tuple2(env, am_ok, make_row_map(env, r));
}

static ERL_NIF_TERM nif_normalize(ErlNifEnv *env, int argc,
                                  const ERL_NIF_TERM argv[])
{
	scratch s = {NULL, 0, 0, 0};
	char out[XP_DOMAIN_MAX + 1];
	const char *in, *why = NULL;
	size_t len, out_len = 0;
	ERL_NIF_TERM result;

	(void)argc;
	if (!get_domain(env, argv[0], &s, &in, &len)) {
		scratch_free(&s);
		return enif_make_badarg(env);
	}
	if (xp_domain_normalize(in, len, out, &out_len, &why) != XP_OK)
		result = enif_make_tuple2(
		        env, am_error,
		        make_text(env,
		                  why != NULL ? why : "not a valid domain"));
	else
		result = enif_make_tuple2(env, am_ok,
		                          make_bin(env, out, out_len));
	scratch_free(&s);
	return result;
}

static ERL_NIF_TERM nif_reason_text(ErlNifEnv *env, int argc,
                                    const ERL_NIF_TERM argv[])
{
	xp_reason r;

	(void)argc;
	if (!get_token(env, argv[0], &r))
		return enif_make_badarg(env);
	return make_text(env, xp_reason_text_host(r, XP_HOST_EJABBERD));
}

static ERL_NIF_TERM nif_refusal(ErlNifEnv *env, int argc,
                                const ERL_NIF_TERM argv[])
{
	scratch s = {NULL, 0, 0, 0};
	xp_direction d;
	xp_reason r;
	const char *domain = NULL;
	size_t len, n;
	char buf[256], *big;
	ERL_NIF_TERM result;

	(void)argc;
	if (!get_direction(env, argv[0], &d) || !get_token(env, argv[2], &r) ||
	    !term_text(env, argv[1], &s, 1, &domain, &len)) {
		scratch_free(&s);
		return enif_make_badarg(env);
	}
	n = xp_format_refusal_host(buf, sizeof(buf), d, domain, r,
	                           XP_HOST_EJABBERD);
	if (n < sizeof(buf)) {
		result = make_bin(env, buf, n);
	} else {
		/* A long (hostile) domain: format again into a larger buffer.
		 */
		big = scratch_alloc(&s, n + 1);
		if (big == NULL) {
			scratch_free(&s);
			return raise_status(env, XP_ENOMEM);
		}
		n = xp_format_refusal_host(big, n + 1, d, domain, r,
		                           XP_HOST_EJABBERD);
		result = make_bin(env, big, n);
	}
	scratch_free(&s);
	return result;
}

/* reason_is_final(Token) -> boolean(): whether a retry cannot change a
 * refusal for this reason (the refusal back-off applies). */
static ERL_NIF_TERM nif_reason_is_final(ErlNifEnv *env, int argc,
                                        const ERL_NIF_TERM argv[])
{
	xp_reason r;

	(void)argc;
	if (!get_token(env, argv[0], &r))
		return enif_make_badarg(env);
	return make_bool(xp_reason_is_final(r));
}

/* backoff_next(Previous, Max) -> Seconds: the next back-off window. */
static ERL_NIF_TERM nif_backoff_next(ErlNifEnv *env, int argc,
                                     const ERL_NIF_TERM argv[])
{
	unsigned previous, max;

	(void)argc;
	if (!enif_get_uint(env, argv[0], &previous) ||
	    !enif_get_uint(env, argv[1], &max))
		return enif_make_badarg(env);
	return enif_make_uint(env, xp_backoff_next(previous, max));
}

/* refusal_summary(Dir, Domain, Count, Seconds, Token) -> binary(): the
 * one log line of a back-off window. */
static ERL_NIF_TERM nif_refusal_summary(ErlNifEnv *env, int argc,
                                        const ERL_NIF_TERM argv[])
{
	scratch s = {NULL, 0, 0, 0};
	xp_direction d;
	xp_reason r;
	const char *domain = NULL;
	size_t len, n;
	unsigned long count;
	unsigned seconds;
	char buf[320], *big;
	ERL_NIF_TERM result;

	(void)argc;
	if (!get_direction(env, argv[0], &d) ||
	    !enif_get_ulong(env, argv[2], &count) ||
	    !enif_get_uint(env, argv[3], &seconds) ||
	    !get_token(env, argv[4], &r) ||
	    !term_text(env, argv[1], &s, 1, &domain, &len)) {
		scratch_free(&s);
		return enif_make_badarg(env);
	}
	n = xp_format_refusal_summary_host(buf, sizeof(buf), d, domain, count,
	                                   seconds, r, XP_HOST_EJABBERD);
	if (n < sizeof(buf)) {
		result = make_bin(env, buf, n);
	} else {
		big = scratch_alloc(&s, n + 1);
		if (big == NULL) {
			scratch_free(&s);
			return raise_status(env, XP_ENOMEM);
		}
		n = xp_format_refusal_summary_host(big, n + 1, d, domain, count,
		                                   seconds, r,
		                                   XP_HOST_EJABBERD);
		result = make_bin(env, big, n);
	}
	scratch_free(&s);
	return result;
}

static ERL_NIF_TERM nif_cert_identity(ErlNifEnv *env, int argc,
                                      const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	scratch s = {NULL, 0, 0, 0};
	ErlNifBinary der;
	const char *domain;
	size_t len;
	int legacy, rc;
	xp_cert *c = NULL;
	xp_cert_status st;

	(void)argc;
	if (!enif_inspect_binary(env, argv[0], &der) ||
	    !get_flag(argv[2], &legacy) ||
	    !get_domain(env, argv[1], &s, &domain, &len)) {
		scratch_free(&s);
		return enif_make_badarg(env);
	}
	rc = xp_cert_parse(p->anchor->ctx, der.data, der.size, &c);
	if (rc != XP_OK || c == NULL) {
		scratch_free(&s);
		if (rc == XP_ENOMEM)
			return raise_status(env, rc);
		return enif_make_tuple2(
		        env, am_error,
		        make_text(env,
		                  xp_status_text(rc == XP_OK ? XP_ECERT : rc)));
	}
	st = xp_cert_check_identity(c, domain, len,
	                            legacy ? XP_CERT_LEGACY_CN : 0);
	xp_cert_free(c);
	scratch_free(&s);
	return st == XP_CERT_VALID ? am_valid : am_invalid;
}

static ERL_NIF_TERM nif_cert_pin(ErlNifEnv *env, int argc,
                                 const ERL_NIF_TERM argv[])
{
	priv_data *p = priv_get(env);
	ErlNifBinary der;
	xp_cert *c = NULL;
	char pin[XP_PIN_STRLEN + 1];
	int rc;

	(void)argc;
	if (!enif_inspect_binary(env, argv[0], &der))
		return enif_make_badarg(env);
	rc = xp_cert_parse(p->anchor->ctx, der.data, der.size, &c);
	if (rc == XP_OK && c != NULL) {
		rc = xp_cert_pin(c, pin);
		xp_cert_free(c);
		if (rc == XP_OK)
			return enif_make_tuple2(env, am_ok,
			                        make_text(env, pin));
	}
	if (rc == XP_ENOMEM)
		return raise_status(env, rc);
	return enif_make_tuple2(
	        env, am_error,
	        make_text(env, xp_status_text(rc == XP_OK ? XP_ECERT : rc)));
}

/* ---- the shared partner file (partners_file) ------------------------------
 *
 * partner_file(Path) -> {ok, Partners, Options, Notes} | {error, Message}
 *   Evaluates the Lua partner file in the evaluator's sandbox
 *   (module/evaluator/sandbox.c: no library access, bounded memory,
 *   instructions and time) on a dirty I/O scheduler.  Partners is the
 *   xmpp_partners value as terms build/2 takes
 *   (a list of {Key, Value}; a Lua sequence becomes a list); Options holds
 *   {default | keepalive_interval | connection_limit, Value} for each
 *   xmpp_partners_* global the file assigns; Notes are the sandbox's notes
 *   ("line N: text").  The file is judged on its own by the evaluator's
 *   walk (walk.h), the CLI's and the Lua binding's: a file with errors
 *   gives {error, <<"Path: message; message">>}.
 */

/* A Lua value as a term; 0 when memory runs out. */
static int lua_term(ErlNifEnv *env, const xps_value *v, ERL_NIF_TERM *out)
{
	ERL_NIF_TERM *items, list;
	size_t i, n;
	int seq = 1;

	switch (v->type) {
	case XPS_NIL:
		*out = am_undefined;
		return 1;
	case XPS_BOOLEAN:
		*out = v->boolean ? am_true : am_false;
		return 1;
	case XPS_INTEGER:
		*out = enif_make_int64(env, (ErlNifSInt64)v->integer);
		return 1;
	case XPS_NUMBER:
		*out = enif_make_double(env, v->number);
		return 1;
	case XPS_STRING:
		*out = make_bin(env, v->string, v->len);
		return 1;
	case XPS_OTHER:
		/* build/2 reports a tuple as a value of the wrong type */
		*out = enif_make_tuple2(env, enif_make_atom(env, "lua"),
		                        make_text(env, v->type_name));
		return 1;
	case XPS_TABLE:
		break;
	}
	n = v->count;
	items = enif_alloc((n ? n : 1) * sizeof(*items));
	if (items == NULL)
		return 0;
	/* A sequence {1..n} becomes a list of its values in order. */
	for (i = 0; i < n; i++)
		items[i] = 0;
	for (i = 0; i < n && seq; i++) {
		const xps_value *k = &v->fields[i].key;
		if (k->type != XPS_INTEGER || k->integer < 1 ||
		    (unsigned long long)k->integer > n || items[k->integer - 1])
			seq = 0;
		else if (!lua_term(env, &v->fields[i].value,
		                   &items[k->integer - 1])) {
			enif_free(items);
			return 0;
		}
	}
	if (!seq) {
		for (i = 0; i < n; i++) {
			ERL_NIF_TERM key, val;
			if (!lua_term(env, &v->fields[i].key, &key) ||
			    !lua_term(env, &v->fields[i].value, &val)) {
				enif_free(items);
				return 0;
			}
			items[i] = enif_make_tuple2(env, key, val);
		}
	}
	list = enif_make_list(env, 0);
	for (i = n; i > 0; i--)
		list = enif_make_list_cell(env, items[i - 1], list);
	enif_free(items);
	*out = list;
	return 1;
}

static ERL_NIF_TERM sandbox_error(ErlNifEnv *env, xps_sandbox *sb, int rc)
{
	ERL_NIF_TERM t;

	if (rc == XPS_ENOMEM) {
		xps_free(sb);
		return raise_status(env, XP_ENOMEM);
	}
	t = enif_make_tuple2(env, am_error, make_text(env, xps_message(sb)));
	xps_free(sb);
	return t;
}

static ERL_NIF_TERM nif_partner_file(ErlNifEnv *env, int argc,
                                     const ERL_NIF_TERM argv[])
{
	static const char *const opts[][2] = {
	        {"xmpp_partners_default", "default"},
	        {"xmpp_partners_keepalive_interval", "keepalive_interval"},
	        {"xmpp_partners_connection_limit", "connection_limit"},
	        {"xmpp_partners_pending_per_address", "pending_per_address"},
	        {"xmpp_partners_pending_limit", "pending_limit"},
	        {"xmpp_partners_auth_timeout", "auth_timeout"},
	        {"xmpp_partners_preauth_bytes", "preauth_bytes"},
	        {"xmpp_partners_preauth_depth", "preauth_depth"},
	        {"xmpp_partners_refusal_backoff", "refusal_backoff"},
	};
	enum { NOPTS = sizeof(opts) / sizeof(opts[0]) };
	priv_data *p = priv_get(env);
	ErlNifBinary path;
	char cpath[4096], *errors = NULL;
	const char *names[NOPTS];
	xps_sandbox *sb;
	xps_value *v = NULL, *ov[NOPTS];
	ERL_NIF_TERM partners, options, notes, result;
	size_t i;
	int rc;

	(void)argc;
	if (!enif_inspect_iolist_as_binary(env, argv[0], &path) ||
	    path.size == 0 || path.size >= sizeof(cpath) ||
	    memchr(path.data, '\0', path.size) != NULL)
		return enif_make_badarg(env);
	memcpy(cpath, path.data, path.size);
	cpath[path.size] = '\0';
	sb = xps_new(NULL);
	if (sb == NULL)
		return raise_status(env, XP_ENOMEM);
	rc = xps_eval_file(sb, cpath);
	if (rc != XPS_OK)
		return sandbox_error(env, sb, rc);
	rc = xps_get(sb, "*", "xmpp_partners", &v);
	if (rc != XPS_OK)
		return sandbox_error(env, sb, rc);
	if (v != NULL && v->type != XPS_TABLE) {
		char msg[512];
		snprintf(msg, sizeof(msg),
		         "%.300s: xmpp_partners is a %.60s, not a table of "
		         "partners",
		         cpath, v->type_name ? v->type_name : "value");
		xps_value_free(v);
		xps_free(sb);
		return enif_make_tuple2(env, am_error, make_text(env, msg));
	}
	for (i = 0; i < NOPTS; i++) {
		names[i] = opts[i][1];
		ov[i] = NULL;
	}
	for (i = 0; i < NOPTS && rc == XPS_OK; i++)
		rc = xps_get(sb, "*", opts[i][0], &ov[i]);
	/* The file judged on its own by the evaluator's walk (walk.h), as
	 * the CLI and the Lua binding judge it: a file with errors is
	 * refused here with the same texts, before build/2 sees its terms. */
	if (rc == XPS_OK) {
		rc = xpe_file_check(p->anchor->ctx, XP_HOST_EJABBERD, cpath, v,
		                    NOPTS, names, (const xps_value *const *)ov,
		                    &errors);
		if (rc == XP_ECONFIG)
			result = enif_make_tuple2(env, am_error,
			                          make_text(env, errors));
		free(errors);
		if (rc != XP_OK) {
			xps_value_free(v);
			for (i = 0; i < NOPTS; i++)
				xps_value_free(ov[i]);
			xps_free(sb);
			if (rc == XP_ECONFIG)
				return result;
			return raise_status(env, XP_ENOMEM);
		}
	} else {
		xps_value_free(v);
		for (i = 0; i < NOPTS; i++)
			xps_value_free(ov[i]);
		return sandbox_error(env, sb, rc);
	}
	if (v == NULL) {
		partners = enif_make_list(env, 0);
	} else {
		rc = lua_term(env, v, &partners);
		xps_value_free(v);
		if (!rc) {
			for (i = 0; i < NOPTS; i++)
				xps_value_free(ov[i]);
			xps_free(sb);
			return raise_status(env, XP_ENOMEM);
		}
	}
	options = enif_make_list(env, 0);
	for (i = NOPTS, rc = 1; i > 0; i--) {
		ERL_NIF_TERM val;
		if (ov[i - 1] == NULL)
			continue;
		if (rc)
			rc = lua_term(env, ov[i - 1], &val);
		xps_value_free(ov[i - 1]);
		if (rc)
			options = enif_make_list_cell(
			        env,
			        enif_make_tuple2(
			                env,
			                enif_make_atom(env, opts[i - 1][1]),
			                val),
			        options);
	}
	if (!rc) {
		xps_free(sb);
		return raise_status(env, XP_ENOMEM);
	}
	notes = enif_make_list(env, 0);
	for (i = xps_note_count(sb); i > 0; i--) {
		const xps_note *note = xps_note_at(sb, i - 1);
		char line[1024];
		if (note->line > 0)
			snprintf(line, sizeof(line), "%.300s:%d: %.600s", cpath,
			         note->line, note->text);
		else
			snprintf(line, sizeof(line), "%.300s: %.600s", cpath,
			         note->text);
		notes = enif_make_list_cell(env, make_text(env, line), notes);
	}
	xps_free(sb);
	return enif_make_tuple4(env, am_ok, partners, options, notes);
}

static ERL_NIF_TERM nif_version(ErlNifEnv *env, int argc,
                                const ERL_NIF_TERM argv[])
{
	(void)argc;
	(void)argv;
	return make_text(env, XP_VERSION);
}

/* ---- registration
 * ------------------------------------------------------------ */

static ErlNifFunc nif_funcs[] = {
        /* Building walks the whole configuration and may take long for
         * big tables: a dirty CPU scheduler keeps the normal ones free. */
        {"build", 2, nif_build, ERL_NIF_DIRTY_JOB_CPU_BOUND},
        {"check", 3, nif_check, 0},
        {"closed", 0, nif_closed, 0},
        {"resolve", 2, nif_resolve, 0},
        {"lookup", 2, nif_lookup, 0},
        {"explain", 2, nif_explain, 0},
        {"overlay", 5, nif_overlay, 0},
        {"parse_value", 2, nif_parse_value, 0},
        {"diag_line", 1, nif_diag_line, 0},
        {"check_text", 2, nif_check_text, 0},
        {"change_text", 2, nif_change_text, 0},
        {"change_refused", 3, nif_change_refused, 0},
        {"export_text", 2, nif_export_text, 0},
        {"show", 3, nif_show, 0},
        {"list_text", 5, nif_list_text, 0},
        {"tls", 3, nif_tls, 0},
        {"sasl_external", 7, nif_sasl_external, 0},
        {"dialback", 7, nif_dialback, 0},
        {"stanzas", 7, nif_stanzas, 0},
        {"auth", 8, nif_auth, 0},
        {"connection", 4, nif_connection, 0},
        {"subscribe", 5, nif_subscribe, 0},
        {"message", 3, nif_message, 0},
        {"strip_status", 2, nif_strip_status, 0},
        {"keepalive", 2, nif_keepalive, 0},
        {"proxy", 2, nif_proxy, 0},
        {"pin_matches", 3, nif_pin_matches, 0},
        {"partners", 1, nif_partners, 0},
        {"info", 1, nif_info, 0},
        {"warnings", 1, nif_warnings, 0},
        {"matrix", 1, nif_matrix, 0},
        {"matrix", 3, nif_matrix, 0},
        {"normalize", 1, nif_normalize, 0},
        {"reason_is_final", 1, nif_reason_is_final, 0},
        {"backoff_next", 2, nif_backoff_next, 0},
        {"refusal_summary", 5, nif_refusal_summary, 0},
        {"reason_text", 1, nif_reason_text, 0},
        {"refusal", 3, nif_refusal, 0},
        {"cert_identity", 3, nif_cert_identity, 0},
        {"cert_pin", 1, nif_cert_pin, 0},
        {"version", 0, nif_version, 0},
        /* File I/O and up to the sandbox's time limit of Lua. */
        {"partner_file", 1, nif_partner_file, ERL_NIF_DIRTY_JOB_IO_BOUND},
};

ERL_NIF_INIT(xmpp_partners_nif, nif_funcs, nif_load, NULL, nif_upgrade,
             nif_unload)
