/*
 * sandbox.c: evaluate partner files (Prosody configuration syntax) in a
 * Lua state of their own, with no library access and bounded memory,
 * instructions and pattern-matching cost.  See sandbox.h for the contract.
 *
 * Layout of the sandbox state:
 *   - the chunk's _ENV is a fresh, empty table per evaluation whose
 *     metatable routes reads to an allow-list of library functions (and
 *     stops forbidden names with a violation) and assignments into the
 *     configuration store, section by section as Prosody does;
 *   - the real global table holds the base library but is never reachable
 *     from the chunk;
 *   - the registry keeps the configuration store (section -> name ->
 *     value), the library table and the env metatable.
 *
 * Why setmetatable is forbidden although it looks harmless: Lua runs __gc
 * finalizers with hooks disabled, so a finalizer could loop forever out of
 * the instruction limit's reach (also at lua_close).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "sandbox.h"

#if LUA_VERSION_NUM < 503
#error "the sandbox needs Lua 5.3 or newer"
#endif

/* Instructions between two hook calls; also how finely the line where a
 * limit struck is known. */
#define HOOK_STEP 100
/* Hook calls between two looks at the clock.  Every one: a loop over a
 * costly library function (table.sort of a big table) runs few
 * instructions per second, and CLOCK_MONOTONIC is cheap to read. */
#define CLOCK_EVERY 1
/* Steps of a pattern search the guard lets through (about a second). */
#define PATTERN_BUDGET 1e9
/* Marks the chunk name in Lua's messages, replaced by the real name:
 * Lua would shorten a long path to 60 bytes. */
#define NAME_MARK      "\x01"
#define NAME_MARK_CHAR '\x01'

/* Registry keys. */
#define REG_CONFIG  "xps.config"
#define REG_LIB     "xps.lib"
#define REG_ENVMETA "xps.envmeta"
#define REG_SEEN    "xps.seen"

struct xps_sandbox {
	lua_State *L;
	xps_limits lim;
	/* memory accounting (the lua_Alloc) */
	size_t used;
	int enforce; /* the memory limit applies (not while copying out) */
	/* instruction accounting (the count hook) */
	unsigned long steps;
	unsigned hook_calls;
	double started; /* when the evaluation began (seconds) */
	int last_line;  /* last line the hook saw running, 0 if none */
	/* outcome */
	xps_violation_kind violation;
	char *violation_message;
	char *message;
	int host_oom; /* a malloc of ours failed */
	/* the chunk being evaluated */
	char *name;    /* its name for messages, a copy */
	char *section; /* NULL: the global section "*" */
	/* collected */
	xps_note *notes;
	size_t n_notes, cap_notes;
	xps_setting *settings;
	size_t n_settings, cap_settings;
};

static const char *const forbidden_names[] = {
        "io",           "os",           "require",   "load",   "loadstring",
        "dofile",       "loadfile",     "package",   "debug",  "collectgarbage",
        "setmetatable", "getmetatable", "coroutine", "module", "setfenv",
        "getfenv",      "newproxy",     NULL};

#define FORBIDDEN_LIST                                                         \
	"io, os, require, load, dofile, loadfile, package, debug, "            \
	"collectgarbage, string.dump, setmetatable, getmetatable or "          \
	"coroutines"

/* Base functions the chunk may call.  print is replaced by a no-op. */
static const char *const base_allowed[] = {
        "assert", "error",    "ipairs",   "next", "pairs",  "pcall",
        "select", "tonumber", "tostring", "type", "xpcall", "rawequal",
        "rawlen", "rawget",   "rawset",   NULL};

/* ---- small helpers ----------------------------------------------------- */

static char *dup_mem(const char *p, size_t len)
{
	char *d = malloc(len + 1);

	if (d != NULL) {
		if (len)
			memcpy(d, p, len);
		d[len] = '\0';
	}
	return d;
}

static xps_sandbox *sandbox_of(lua_State *L)
{
	void *ud = NULL;

	lua_getallocf(L, &ud);
	return ud;
}

/* text with every NAME_MARK replaced by the chunk name (malloc'd). */
static char *fix_names(const char *name, const char *text)
{
	size_t n = 0, nlen = strlen(name), i, j;
	size_t tlen = strlen(text);
	char *out;

	for (i = 0; i < tlen; i++)
		if (text[i] == NAME_MARK_CHAR)
			n++;
	if (n > 0 && nlen > (SIZE_MAX - tlen - 1) / n)
		return NULL;
	out = malloc(tlen + n * nlen + 1);
	if (out == NULL)
		return NULL;
	for (i = 0, j = 0; i < tlen; i++) {
		if (text[i] == NAME_MARK_CHAR) {
			memcpy(out + j, name, nlen);
			j += nlen;
		} else {
			out[j++] = text[i];
		}
	}
	out[j] = '\0';
	return out;
}

static void set_message(xps_sandbox *s, const char *text)
{
	char *m = fix_names(s->name != NULL ? s->name : "?", text);

	if (m == NULL) {
		s->host_oom = 1;
		return;
	}
	free(s->message);
	s->message = m;
}

/* The line of the innermost Lua function running (a config line), 0 if
 * none: stand-ins and metamethods are C functions at level 0. */
static int current_line(lua_State *L)
{
	lua_Debug ar;
	int level;

	for (level = 0; level < 64 && lua_getstack(L, level, &ar); level++) {
		if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
			return ar.currentline;
	}
	return 0;
}

/* Push "NAME:LINE: " for the running config line, or "NAME: ". */
static void push_where(lua_State *L)
{
	int line = current_line(L);

	if (line > 0)
		lua_pushfstring(L, NAME_MARK ":%d: ", line);
	else
		lua_pushliteral(L, NAME_MARK ": ");
}

/* ---- notes and settings ------------------------------------------------ */

static void add_note(xps_sandbox *s, xps_note_kind kind, int line,
                     const char *text)
{
	xps_note *n;

	if (s->n_notes == s->cap_notes) {
		size_t cap = s->cap_notes ? 2 * s->cap_notes : 8;
		xps_note *grown = realloc(s->notes, cap * sizeof(*grown));
		if (grown == NULL) {
			s->host_oom = 1;
			return;
		}
		s->notes = grown;
		s->cap_notes = cap;
	}
	n = &s->notes[s->n_notes];
	n->kind = kind;
	n->line = line;
	n->text = fix_names(s->name != NULL ? s->name : "?", text);
	if (n->text == NULL) {
		s->host_oom = 1;
		return;
	}
	s->n_notes++;
}

static void add_setting(xps_sandbox *s, const char *section, const char *name,
                        size_t len, int line)
{
	xps_setting *st;
	char *sec, *nm;

	if (s->n_settings == s->cap_settings) {
		size_t cap = s->cap_settings ? 2 * s->cap_settings : 16;
		xps_setting *grown = realloc(s->settings, cap * sizeof(*grown));
		if (grown == NULL) {
			s->host_oom = 1;
			return;
		}
		s->settings = grown;
		s->cap_settings = cap;
	}
	sec = dup_mem(section, strlen(section));
	nm = dup_mem(name, len);
	if (sec == NULL || nm == NULL) {
		free(sec);
		free(nm);
		s->host_oom = 1;
		return;
	}
	st = &s->settings[s->n_settings++];
	st->section = sec;
	st->name = nm;
	st->line = line;
}

/* Note the first use of a thing only (key: what + detail). */
static int first_time(lua_State *L, const char *what, const char *detail)
{
	int seen;

	lua_getfield(L, LUA_REGISTRYINDEX, REG_SEEN);
	lua_pushfstring(L, "%s\n%s", what, detail);
	lua_pushvalue(L, -1);
	lua_rawget(L, -3);
	seen = lua_toboolean(L, -1);
	lua_pop(L, 1);
	if (!seen) {
		lua_pushboolean(L, 1);
		lua_rawset(L, -3);
	} else {
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return !seen;
}

/* ---- violations -------------------------------------------------------- */

static void arm_abort(lua_State *L);

/*
 * Record a violation (the first one is kept) and raise it.  Every later Lua
 * instruction raises it again (the hook fires on each), so a pcall in the
 * file cannot swallow it and carry on.
 */
static int violate(lua_State *L, xps_violation_kind kind, const char *fmt, ...)
{
	xps_sandbox *s = sandbox_of(L);
	va_list ap;

	push_where(L);
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_concat(L, 2);
	if (s->violation == XPS_V_NONE) {
		s->violation = kind;
		s->violation_message =
		        fix_names(s->name ? s->name : "?", lua_tostring(L, -1));
		if (s->violation_message == NULL)
			s->host_oom = 1;
	}
	arm_abort(L);
	return lua_error(L);
}

/*
 * The allocator cannot format a message (it has no Lua state to ask for
 * the line): the text is made afterwards, with the last line the hook saw
 * running (the allocation happened there or soon after).
 */
static void memory_message(xps_sandbox *s)
{
	char buf[300], size[32];

	if (s->violation != XPS_V_MEMORY || s->violation_message != NULL)
		return;
	if (s->lim.memory % ((size_t)1 << 20) == 0)
		snprintf(size, sizeof(size), "%lu MiB",
		         (unsigned long)(s->lim.memory >> 20));
	else
		snprintf(size, sizeof(size), "%lu bytes",
		         (unsigned long)s->lim.memory);
	if (s->last_line > 0)
		snprintf(buf, sizeof(buf),
		         "%s:%d: the file needs more memory than the sandbox "
		         "limit of %s allows (a value built in a loop?); a "
		         "partner file should only assign values",
		         NAME_MARK, s->last_line, size);
	else
		snprintf(
		        buf, sizeof(buf),
		        "%s: the file needs more memory than the sandbox limit "
		        "of %s allows",
		        NAME_MARK, size);
	s->violation_message = fix_names(s->name != NULL ? s->name : "?", buf);
	if (s->violation_message == NULL)
		s->host_oom = 1;
}

static double now_seconds(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return (double)clock() / CLOCKS_PER_SEC;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hook(lua_State *L, lua_Debug *ar)
{
	xps_sandbox *s = sandbox_of(L);

	if (lua_getinfo(L, "l", ar) && ar->currentline > 0)
		s->last_line = ar->currentline;
	memory_message(s);
	if (s->violation != XPS_V_NONE) {
		arm_abort(L);
		lua_pushstring(L, s->violation_message ? s->violation_message
		                                       : "sandbox violation");
		lua_error(L);
	}
	s->steps += HOOK_STEP;
	if (++s->hook_calls % CLOCK_EVERY == 0 &&
	    now_seconds() - s->started > s->lim.seconds)
		violate(L, XPS_V_TIME,
		        "the file ran longer than the limit of %f s; a partner "
		        "file should only assign values",
		        (lua_Number)s->lim.seconds);
	if (s->steps > s->lim.instructions)
		violate(L, XPS_V_INSTRUCTIONS,
		        "the file ran past the limit of %I Lua instructions "
		        "(an endless loop?); a partner file should only "
		        "assign values",
		        (lua_Integer)s->lim.instructions);
}

static void arm_abort(lua_State *L)
{
	lua_sethook(L, hook, LUA_MASKCOUNT, 1);
}

/* ---- the allocator ----------------------------------------------------- */

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	xps_sandbox *s = ud;
	size_t old = ptr != NULL ? osize : 0;
	void *p;

	if (nsize == 0) {
		free(ptr);
		s->used -= old;
		return NULL;
	}
	if (nsize > old && s->enforce &&
	    (s->used > s->lim.memory ||
	     nsize - old > s->lim.memory - s->used)) {
		if (s->violation == XPS_V_NONE)
			s->violation = XPS_V_MEMORY;
		return NULL;
	}
	p = realloc(ptr, nsize);
	if (p == NULL) {
		if (nsize <= old) /* a shrink cannot fail for Lua */
			return ptr;
		return NULL;
	}
	s->used = s->used - old + nsize;
	return p;
}

/* ---- the chunk's environment ------------------------------------------- */

static int is_forbidden(const char *k)
{
	size_t i;

	for (i = 0; forbidden_names[i] != NULL; i++)
		if (strcmp(k, forbidden_names[i]) == 0)
			return 1;
	return 0;
}

static const char *section_name(const xps_sandbox *s);

/* 1 when the name at idx was assigned as an option of the current or the
 * global section. */
static int is_option(lua_State *L, const xps_sandbox *s, int idx)
{
	int found = 0, i;
	const char *sections[2];

	sections[0] = section_name(s);
	sections[1] = "*";
	idx = lua_absindex(L, idx);
	lua_getfield(L, LUA_REGISTRYINDEX, REG_CONFIG);
	for (i = 0; i < 2 && !found; i++) {
		if (lua_getfield(L, -1, sections[i]) == LUA_TTABLE) {
			lua_pushvalue(L, idx);
			found = lua_rawget(L, -2) != LUA_TNIL;
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return found;
}

/* __index of _ENV (upvalue 1: the library table). */
static int env_index(lua_State *L)
{
	xps_sandbox *s = sandbox_of(L);
	const char *k;

	if (lua_type(L, 2) != LUA_TSTRING)
		return 0;
	k = lua_tostring(L, 2);
	lua_pushvalue(L, 2);
	if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
		return 1;
	if (is_forbidden(k))
		return violate(
		        L, XPS_V_FORBIDDEN,
		        "'%s' is not available in a partner file: it "
		        "is evaluated in a sandbox without " FORBIDDEN_LIST
		        "; remove that code (a partner file only assigns "
		        "values)",
		        k);
	if (strncmp(k, "ENV_", 4) == 0) {
		if (first_time(L, "env", k)) {
			lua_pushfstring(
			        L,
			        "%s is taken as unset (nil): xmpp-partners "
			        "does not read the environment",
			        k);
			add_note(s, XPS_NOTE_STANDIN, current_line(L),
			         lua_tostring(L, -1));
		}
		return 0;
	}
	if (first_time(L, "undefined", k)) {
		if (is_option(L, s, 2))
			lua_pushfstring(
			        L,
			        "'%s' is read, but it is a configuration "
			        "option and options cannot be read back "
			        "in a Prosody configuration file: it reads "
			        "as nil (use a local variable: local %s = "
			        "...)",
			        k, k);
		else
			lua_pushfstring(
			        L,
			        "'%s' is not defined, so it reads as nil; "
			        "if it is meant as a value, put it in "
			        "quotes: \"%s\"",
			        k, k);
		add_note(s, XPS_NOTE_UNDEFINED, current_line(L),
		         lua_tostring(L, -1));
	}
	return 0;
}

static const char *section_name(const xps_sandbox *s)
{
	return s->section != NULL ? s->section : "*";
}

/* config[section][name] = value at the top; pops the value. */
static void store_setting(lua_State *L, const char *section, int name_idx)
{
	name_idx = lua_absindex(L, name_idx);
	lua_getfield(L, LUA_REGISTRYINDEX, REG_CONFIG);
	if (lua_getfield(L, -1, section) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, section);
	}
	lua_pushvalue(L, name_idx);
	lua_pushvalue(L, -4);
	lua_rawset(L, -3);
	lua_pop(L, 3);
}

/* __newindex of _ENV: an option of the current section. */
static int env_newindex(lua_State *L)
{
	xps_sandbox *s = sandbox_of(L);
	size_t len;
	const char *k;

	if (lua_type(L, 2) != LUA_TSTRING)
		return luaL_error(L, "only names can be assigned at the top "
		                     "level of a configuration file");
	k = lua_tolstring(L, 2, &len);
	add_setting(s, section_name(s), k, len, current_line(L));
	lua_pushvalue(L, 3);
	store_setting(L, section_name(s), 2);
	return 0;
}

static int set_section(lua_State *L, const char *name)
{
	xps_sandbox *s = sandbox_of(L);
	char *copy = NULL;

	if (name != NULL) {
		copy = dup_mem(name, strlen(name));
		if (copy == NULL)
			return luaL_error(L, "not enough memory");
	}
	free(s->section);
	s->section = copy;
	return 0;
}

/* { options } after VirtualHost "x" / Component "x" ["module"]: they
 * belong to that host; afterwards the global section resumes, as in
 * Prosody.  Upvalue 1: the host name. */
static int host_options(lua_State *L)
{
	const char *host = lua_tostring(L, lua_upvalueindex(1));
	xps_sandbox *s = sandbox_of(L);
	int line = current_line(L);

	set_section(L, NULL);
	if (lua_type(L, 1) != LUA_TTABLE)
		return luaL_error(L,
		                  "expected { options } after the host name "
		                  "\"%s\", got a %s",
		                  host, luaL_typename(L, 1));
	lua_pushnil(L);
	while (lua_next(L, 1)) {
		if (lua_type(L, -2) == LUA_TSTRING) {
			size_t len;
			const char *k = lua_tolstring(L, -2, &len);
			add_setting(s, host, k, len, line);
			lua_pushvalue(L, -1);
			store_setting(L, host, -3);
		}
		lua_pop(L, 1);
	}
	return 0;
}

static const char *check_host_name(lua_State *L, const char *what)
{
	if (lua_type(L, 1) != LUA_TSTRING)
		luaL_error(L,
		           "%s needs a name in quotes, e.g. %s \"example.com\"",
		           what, what);
	return lua_tostring(L, 1);
}

static int stand_virtualhost(lua_State *L)
{
	const char *name = check_host_name(L, "VirtualHost");

	set_section(L, name);
	lua_pushvalue(L, 1);
	lua_pushcclosure(L, host_options, 1);
	return 1;
}

/* Component "x" "muc" { ... }: the call after the name takes a module
 * name (then options may follow) or the options.  Upvalue 1: the name. */
static int component_next(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TSTRING) {
		lua_pushvalue(L, lua_upvalueindex(1));
		lua_pushcclosure(L, host_options, 1);
		return 1;
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushcclosure(L, host_options, 1);
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 0);
	return 0;
}

static int stand_component(lua_State *L)
{
	const char *name = check_host_name(L, "Component");

	set_section(L, name);
	lua_pushvalue(L, 1);
	lua_pushcclosure(L, component_next, 1);
	return 1;
}

/* The argument as shown in a note: a quoted string or its type. */
static const char *shown_arg(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TSTRING)
		return lua_pushfstring(L, "\"%s\"", lua_tostring(L, 1));
	return lua_pushfstring(L, "(a %s)", luaL_typename(L, 1));
}

static int stand_include(lua_State *L)
{
	xps_sandbox *s = sandbox_of(L);
	const char *arg = shown_arg(L);
	const char *slash = s->name ? strrchr(s->name, '/') : NULL;
	const char *file = lua_tostring(L, 1);

	if (slash != NULL && file != NULL && file[0] != '/')
		lua_pushfstring(
		        L,
		        "Include %s is not followed: xmpp-partners reads "
		        "one file; check %s/%s on its own",
		        arg,
		        lua_pushlstring(L, s->name, (size_t)(slash - s->name)),
		        file);
	else
		lua_pushfstring(
		        L,
		        "Include %s is not followed: xmpp-partners reads "
		        "one file; check the included file on its own",
		        arg);
	add_note(s, XPS_NOTE_STANDIN, current_line(L), lua_tostring(L, -1));
	return 0;
}

static int stand_runscript(lua_State *L)
{
	xps_sandbox *s = sandbox_of(L);

	lua_pushfstring(L, "RunScript %s is not run by xmpp-partners",
	                shown_arg(L));
	add_note(s, XPS_NOTE_STANDIN, current_line(L), lua_tostring(L, -1));
	return 0;
}

/* FileContents, FileLine, FileLines, Credential: upvalue 1 the name,
 * upvalue 2 what stands in for the value ("" or an empty list). */
static int stand_reader(lua_State *L)
{
	xps_sandbox *s = sandbox_of(L);
	const char *what = lua_tostring(L, lua_upvalueindex(1));
	int list = lua_toboolean(L, lua_upvalueindex(2));

	lua_pushfstring(L,
	                "%s(%s) is not read by xmpp-partners: its value is "
	                "taken as %s",
	                what, shown_arg(L),
	                list ? "an empty list" : "an empty string");
	add_note(s, XPS_NOTE_STANDIN, current_line(L), lua_tostring(L, -1));
	if (list)
		lua_newtable(L);
	else
		lua_pushliteral(L, "");
	return 1;
}

static int noop(lua_State *L)
{
	(void)L;
	return 0;
}

static int forbidden_dump(lua_State *L)
{
	return violate(L, XPS_V_FORBIDDEN,
	               "'string.dump' is not available in a partner file: it "
	               "is evaluated in a sandbox without " FORBIDDEN_LIST);
}

/* ---- the pattern-matching guard ----------------------------------------
 *
 * string.find/match/gmatch/gsub run their backtracking loops in C, where
 * the instruction hook never fires: ("a"):rep(1e5):find(".-.-.-b") would
 * run for ages.  Before each call we bound the work: a pattern with q
 * unbounded repetitions (*, +, -, %b) over n bytes costs about n^(q+1)
 * steps (n^q when anchored with ^), times the pattern length.
 */
static double pattern_cost(size_t n, const char *p, size_t m, int plain)
{
	double cost = 1.0, base = (double)n + 1.0;
	size_t i = 0;
	int q = 1;

	if (plain)
		return base * ((double)m + 1.0);
	if (m > 0 && p[0] == '^') {
		q = 0;
		i = 1;
	}
	while (i < m) {
		char c = p[i];
		if (c == '%' && i + 1 < m && p[i + 1] == 'b') {
			q++;
			i += 4;
			continue;
		}
		if (c == '%' && i + 1 < m && p[i + 1] == 'f') {
			i += 2;
			c = i < m ? p[i] : '\0';
			/* fall through to skip the set */
		}
		if (c == '(' || c == ')') {
			i++;
			continue;
		}
		if (c == '%') {
			i += 2;
		} else if (c == '[') {
			i++;
			if (i < m && p[i] == '^')
				i++;
			do { /* a ']' right after '[' belongs to the set */
				i += (i < m && p[i] == '%') ? 2 : 1;
			} while (i < m && p[i] != ']');
			i++;
		} else {
			i++;
		}
		if (i < m && (p[i] == '*' || p[i] == '+' || p[i] == '-')) {
			q++;
			i++;
		} else if (i < m && p[i] == '?') {
			i++;
		}
	}
	while (q-- > 0 && cost < PATTERN_BUDGET * 2)
		cost *= base;
	return cost * ((double)m + 1.0);
}

/* Upvalue 1: the library function; upvalue 2: its name. */
static int guarded_match(lua_State *L)
{
	size_t n, m;
	const char *name = lua_tostring(L, lua_upvalueindex(2));
	const char *p;
	int plain;

	luaL_checklstring(L, 1, &n);
	p = luaL_checklstring(L, 2, &m);
	plain = strcmp(name, "find") == 0 && lua_toboolean(L, 4);
	if (pattern_cost(n, p, m, plain) > PATTERN_BUDGET)
		return violate(L, XPS_V_PATTERN,
		               "string.%s on a %d-byte string with the pattern "
		               "\"%s\" could run for too long in the sandbox; "
		               "use a simpler pattern or a shorter string",
		               name, (int)(n > INT_MAX ? INT_MAX : n), p);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* ---- building the state ------------------------------------------------ */

static void lib_set(lua_State *L, int lib, const char *name, lua_CFunction f)
{
	lua_pushcfunction(L, f);
	lua_setfield(L, lib, name);
}

/* The string library, minus dump, with guarded pattern functions.  The
 * string metatable's __index is this same table, so ("x"):dump() is
 * stopped as well. */
static void open_string(lua_State *L, int lib)
{
	static const char *const guarded[] = {"find", "match", "gmatch", "gsub",
	                                      NULL};
	size_t i;

	luaL_requiref(L, "string", luaopen_string, 0);
	for (i = 0; guarded[i] != NULL; i++) {
		lua_getfield(L, -1, guarded[i]);
		lua_pushstring(L, guarded[i]);
		lua_pushcclosure(L, guarded_match, 2);
		lua_setfield(L, -2, guarded[i]);
	}
	lib_set(L, lua_gettop(L), "dump", forbidden_dump);
	lua_setfield(L, lib, "string");
}

static void open_libs(lua_State *L)
{
	int lib, i;

	luaL_requiref(L, "_G", luaopen_base, 1);
	lua_pop(L, 1);
	lua_newtable(L);
	lib = lua_gettop(L);
	lua_pushglobaltable(L);
	for (i = 0; base_allowed[i] != NULL; i++) {
		lua_getfield(L, -1, base_allowed[i]);
		lua_setfield(L, lib, base_allowed[i]);
	}
	lua_getfield(L, -1, "_VERSION");
	lua_setfield(L, lib, "_VERSION");
	lua_pop(L, 1);
	lib_set(L, lib, "print", noop);
	open_string(L, lib);
	luaL_requiref(L, "table", luaopen_table, 0);
	lua_getfield(L, -1, "unpack"); /* Lua 5.1 style, found in old configs */
	lua_setfield(L, lib, "unpack");
	lua_setfield(L, lib, "table");
	luaL_requiref(L, "math", luaopen_math, 0);
	lua_setfield(L, lib, "math");
	luaL_requiref(L, "utf8", luaopen_utf8, 0);
	lua_setfield(L, lib, "utf8");
	/* Prosody 13 reaches Lua's globals through Lua.name. */
	lua_newtable(L);
	lua_newtable(L);
	lua_pushvalue(L, lib);
	lua_pushcclosure(L, env_index, 1);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_setfield(L, lib, "Lua");
	lua_setfield(L, LUA_REGISTRYINDEX, REG_LIB);
}

static void push_reader(lua_State *L, const char *name, int list)
{
	lua_pushstring(L, name);
	lua_pushboolean(L, list);
	lua_pushcclosure(L, stand_reader, 2);
}

/* A fresh _ENV with Prosody's stand-ins as its own fields (protected). */
static int push_env(lua_State *L)
{
	static const struct {
		const char *name;
		lua_CFunction f;
	} standins[] = {{"VirtualHost", stand_virtualhost},
	                {"Host", stand_virtualhost},
	                {"host", stand_virtualhost},
	                {"Component", stand_component},
	                {"component", stand_component},
	                {"Include", stand_include},
	                {"include", stand_include},
	                {"RunScript", stand_runscript},
	                {NULL, NULL}};
	size_t i;

	lua_newtable(L);
	for (i = 0; standins[i].name != NULL; i++)
		lib_set(L, lua_gettop(L), standins[i].name, standins[i].f);
	push_reader(L, "FileContents", 0);
	lua_setfield(L, -2, "FileContents");
	push_reader(L, "FileLine", 0);
	lua_setfield(L, -2, "FileLine");
	push_reader(L, "FileLines", 1);
	lua_setfield(L, -2, "FileLines");
	push_reader(L, "Credential", 0);
	lua_setfield(L, -2, "Credential");
	lua_getfield(L, LUA_REGISTRYINDEX, REG_ENVMETA);
	lua_setmetatable(L, -2);
	return 1;
}

/* Runs protected: everything that may throw while setting up. */
static int setup(lua_State *L)
{
	open_libs(L);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, REG_CONFIG);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, REG_SEEN);
	lua_newtable(L);
	lua_getfield(L, LUA_REGISTRYINDEX, REG_LIB);
	lua_pushcclosure(L, env_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, env_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_setfield(L, LUA_REGISTRYINDEX, REG_ENVMETA);
	return 0;
}

xps_sandbox *xps_new(const xps_limits *limits)
{
	xps_sandbox *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (limits != NULL)
		s->lim = *limits;
	if (s->lim.memory == 0)
		s->lim.memory = XPS_DEFAULT_MEMORY;
	if (s->lim.instructions == 0)
		s->lim.instructions = XPS_DEFAULT_INSTRUCTIONS;
	if (s->lim.file_size == 0)
		s->lim.file_size = XPS_DEFAULT_FILE_SIZE;
	if (s->lim.values == 0)
		s->lim.values = XPS_DEFAULT_VALUES;
	if (s->lim.depth == 0)
		s->lim.depth = XPS_DEFAULT_DEPTH;
	if (!(s->lim.seconds > 0))
		s->lim.seconds = XPS_DEFAULT_SECONDS;
	/* The libraries are set up without the limit: it is for the file. */
	s->L = lua_newstate(sb_alloc, s);
	if (s->L == NULL) {
		free(s);
		return NULL;
	}
	lua_pushcfunction(s->L, setup);
	if (lua_pcall(s->L, 0, 0, 0) != LUA_OK) {
		xps_free(s);
		return NULL;
	}
	return s;
}

void xps_free(xps_sandbox *s)
{
	size_t i;

	if (s == NULL)
		return;
	if (s->L != NULL)
		lua_close(s->L);
	for (i = 0; i < s->n_notes; i++)
		free((char *)s->notes[i].text);
	for (i = 0; i < s->n_settings; i++) {
		free((char *)s->settings[i].section);
		free((char *)s->settings[i].name);
	}
	free(s->notes);
	free(s->settings);
	free(s->section);
	free(s->name);
	free(s->message);
	free(s->violation_message);
	free(s);
}

/* ---- evaluation -------------------------------------------------------- */

static int fail(xps_sandbox *s, int status, const char *text)
{
	set_message(s, text);
	return s->host_oom ? XPS_ENOMEM : status;
}

static int violation_status(xps_sandbox *s)
{
	memory_message(s);
	if (s->violation_message == NULL)
		return fail(s, XPS_ENOMEM, "not enough memory");
	return fail(s, XPS_EVIOLATION, s->violation_message);
}

/* The error object at the top as text, in buf when it is not a string.
 * Runs unprotected, so it must not allocate in the Lua state (lua_tostring
 * would convert a number in place). */
static const char *error_text(lua_State *L, char *buf, size_t size)
{
	if (lua_type(L, -1) == LUA_TSTRING)
		return lua_tostring(L, -1);
	if (lua_type(L, -1) == LUA_TNUMBER)
		snprintf(buf, size, "%s: error %g", NAME_MARK,
		         (double)lua_tonumber(L, -1));
	else
		snprintf(buf, size,
		         "%s: the file raised an error with a %s value instead "
		         "of a message",
		         NAME_MARK, luaL_typename(L, -1));
	return buf;
}

static int classify(xps_sandbox *s, int status, int syntax_phase)
{
	lua_State *L = s->L;
	char buf[160];

	if (s->host_oom)
		return fail(s, XPS_ENOMEM, "not enough memory");
	if (s->violation != XPS_V_NONE)
		return violation_status(s);
	switch (status) {
	case LUA_OK:
		return fail(s, XPS_OK, "");
	case LUA_ERRMEM:
		return fail(s, XPS_ENOMEM, "not enough memory");
	case LUA_ERRSYNTAX:
		return fail(s, XPS_ESYNTAX, error_text(L, buf, sizeof(buf)));
	default:
		return fail(s, syntax_phase ? XPS_ESYNTAX : XPS_ERUNTIME,
		            error_text(L, buf, sizeof(buf)));
	}
}

/* Remember the chunk name for messages. */
static int set_name(xps_sandbox *s, const char *name)
{
	char *copy;

	if (s->name != NULL && strcmp(s->name, name) == 0)
		return XPS_OK;
	copy = dup_mem(name, strlen(name));
	if (copy == NULL)
		return XPS_ENOMEM;
	free(s->name);
	s->name = copy;
	return XPS_OK;
}

int xps_eval_buffer(xps_sandbox *s, const char *buf, size_t len,
                    const char *name)
{
	lua_State *L;
	int status;

	if (s == NULL || (buf == NULL && len > 0) || name == NULL)
		return XPS_EINVAL;
	L = s->L;
	if (set_name(s, name) != XPS_OK)
		return XPS_ENOMEM;
	lua_settop(L, 0);
	if (s->violation != XPS_V_NONE) /* the state is spent */
		return violation_status(s);
	if (len > s->lim.file_size) {
		char msg[160];
		snprintf(msg, sizeof(msg),
		         NAME_MARK ": the file is larger than the limit of %lu "
		                   "KiB",
		         (unsigned long)(s->lim.file_size >> 10));
		s->violation = XPS_V_SIZE;
		s->violation_message = fix_names(name, msg);
		return violation_status(s);
	}
	if (len > 0 && buf[0] == LUA_SIGNATURE[0]) {
		s->violation = XPS_V_BYTECODE;
		s->violation_message =
		        fix_names(name, NAME_MARK
		                  ": is a precompiled Lua chunk (bytecode); "
		                  "only text is accepted, since bytecode "
		                  "can escape any sandbox");
		return violation_status(s);
	}
	set_section(L, NULL); /* cannot throw for NULL */
	s->steps = 0;
	s->hook_calls = 0;
	s->started = now_seconds();
	s->last_line = 0;
	s->enforce = 1;
	status = luaL_loadbufferx(L, buf, len, "=" NAME_MARK, "t");
	if (status != LUA_OK) {
		s->enforce = 0;
		return classify(s, status, 1);
	}
	/* push_env allocates: run it protected, after the load. */
	lua_pushcfunction(L, push_env);
	status = lua_pcall(L, 0, 1, 0);
	if (status == LUA_OK) {
		if (lua_setupvalue(L, -2, 1) == NULL)
			lua_pop(L, 1);
		lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_STEP);
		status = lua_pcall(L, 0, 0, 0);
		lua_sethook(L, NULL, 0, 0);
	}
	s->enforce = 0;
	status = classify(s, status, 0);
	lua_settop(L, 0);
	set_section(L, NULL);
	return status;
}

int xps_eval_file(xps_sandbox *s, const char *path)
{
	FILE *fp;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (s == NULL || path == NULL)
		return XPS_EINVAL;
	if (set_name(s, path) != XPS_OK)
		return XPS_ENOMEM;
	fp = fopen(path, "rb");
	if (fp == NULL) {
		char msg[300];
		snprintf(msg, sizeof(msg), NAME_MARK ": cannot open: %s",
		         strerror(errno));
		return fail(s, XPS_EIO, msg);
	}
	for (;;) {
		size_t got;
		if (len == cap) {
			char *grown;
			if (cap > s->lim.file_size)
				break;
			cap = cap ? 2 * cap : 65536;
			grown = realloc(buf, cap);
			if (grown == NULL) {
				free(buf);
				fclose(fp);
				return fail(s, XPS_ENOMEM, "not enough memory");
			}
			buf = grown;
		}
		got = fread(buf + len, 1, cap - len, fp);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		char msg[300];
		snprintf(msg, sizeof(msg), NAME_MARK ": cannot read: %s",
		         strerror(errno));
		free(buf);
		fclose(fp);
		return fail(s, XPS_EIO, msg);
	}
	fclose(fp);
	rc = xps_eval_buffer(s, buf, len, path);
	free(buf);
	return rc;
}

const char *xps_message(const xps_sandbox *s)
{
	return s != NULL && s->message != NULL ? s->message : "";
}

xps_violation_kind xps_violation(const xps_sandbox *s)
{
	return s != NULL ? s->violation : XPS_V_NONE;
}

size_t xps_note_count(const xps_sandbox *s)
{
	return s != NULL ? s->n_notes : 0;
}

const xps_note *xps_note_at(const xps_sandbox *s, size_t i)
{
	return s != NULL && i < s->n_notes ? &s->notes[i] : NULL;
}

size_t xps_setting_count(const xps_sandbox *s)
{
	return s != NULL ? s->n_settings : 0;
}

const xps_setting *xps_setting_at(const xps_sandbox *s, size_t i)
{
	return s != NULL && i < s->n_settings ? &s->settings[i] : NULL;
}

/* ---- copying values out ------------------------------------------------ */

typedef struct copy_ctx {
	xps_sandbox *s;
	xps_value *root;
	const char *name;
	size_t values, bytes;
	int status; /* XPS_OK or the failure */
	/* the tables being copied, outermost first, with the key under
	 * which each inner one was found (for cycles and messages) */
	const void **path;
	const xps_value **keys;
	unsigned depth;
	char *message;
} copy_ctx;

static void value_clear(xps_value *v)
{
	size_t i;

	if (v->type == XPS_STRING)
		free((char *)v->string);
	if (v->type == XPS_TABLE) {
		for (i = 0; i < v->count; i++) {
			value_clear(&v->fields[i].key);
			value_clear(&v->fields[i].value);
		}
		free(v->fields);
	}
	memset(v, 0, sizeof(*v));
}

void xps_value_free(xps_value *v)
{
	if (v == NULL)
		return;
	value_clear(v);
	free(v);
}

/* Append a key as Lua would write it after a path: .name, ["x"], [1]. */
static void path_append(char *buf, size_t size, const xps_value *k)
{
	size_t used = strlen(buf), i, n;
	int ident;

	if (used + 1 >= size)
		return;
	if (k == NULL) {
		snprintf(buf + used, size - used, "[<key>]");
		return;
	}
	switch (k->type) {
	case XPS_STRING:
		n = k->len;
		ident = n > 0 && (k->string[0] < '0' || k->string[0] > '9');
		for (i = 0; i < n && ident; i++) {
			char c = k->string[i];
			ident = (c >= 'a' && c <= 'z') ||
			        (c >= 'A' && c <= 'Z') ||
			        (c >= '0' && c <= '9') || c == '_';
		}
		if (ident)
			snprintf(buf + used, size - used, ".%.*s",
			         (int)(n > 80 ? 80 : n), k->string);
		else
			snprintf(buf + used, size - used, "[\"%.*s\"]",
			         (int)(n > 80 ? 80 : n), k->string);
		break;
	case XPS_INTEGER:
		snprintf(buf + used, size - used, "[%lld]", k->integer);
		break;
	case XPS_NUMBER:
		snprintf(buf + used, size - used, "[%g]", k->number);
		break;
	case XPS_BOOLEAN:
		snprintf(buf + used, size - used, "[%s]",
		         k->boolean ? "true" : "false");
		break;
	default:
		snprintf(buf + used, size - used, "[<%s>]",
		         k->type_name ? k->type_name : "?");
		break;
	}
}

static void copy_fail(copy_ctx *c, int status, const char *what)
{
	char buf[1024];
	unsigned i;

	if (c->status != XPS_OK)
		return;
	c->status = status;
	snprintf(buf, sizeof(buf), "%s", c->name);
	for (i = 1; i < c->depth; i++)
		path_append(buf, sizeof(buf), c->keys[i]);
	free(c->message);
	c->message = malloc(strlen(buf) + strlen(what) + 2);
	if (c->message != NULL)
		sprintf(c->message, "%s %s", buf, what);
}

/* A failure of the table found under key (one level below the path). */
static void copy_fail_at(copy_ctx *c, const xps_value *key, const char *what)
{
	c->keys[c->depth] = key;
	c->depth++;
	copy_fail(c, XPS_EVALUE, what);
	c->depth--;
}

static void copy_value(lua_State *L, copy_ctx *c, int idx, xps_value *out,
                       const xps_value *key);

static void copy_table(lua_State *L, copy_ctx *c, int idx, xps_value *out,
                       const xps_value *key)
{
	const void *self = lua_topointer(L, idx);
	size_t n = 0;
	unsigned i;

	for (i = 0; i < c->depth; i++) {
		if (c->path[i] == self) {
			copy_fail_at(
			        c, key,
			        "contains itself (a table that refers back "
			        "to an enclosing table); write plain values");
			return;
		}
	}
	if (c->depth >= c->s->lim.depth) {
		copy_fail_at(c, key,
		             "nests tables too deeply for a partner file");
		return;
	}
	c->path[c->depth] = self;
	c->keys[c->depth] = key;
	c->depth++;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		n++;
	}
	if (n > 0) {
		out->fields = calloc(n, sizeof(*out->fields));
		if (out->fields == NULL) {
			c->status = XPS_ENOMEM;
			c->depth--;
			return;
		}
	}
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		int top = lua_gettop(L);
		xps_field *f;
		if (c->status != XPS_OK || out->count == n) {
			lua_pop(L, 2); /* stop: nothing more to copy */
			break;
		}
		f = &out->fields[out->count++];
		copy_value(L, c, top - 1, &f->key, key);
		if (c->status == XPS_OK)
			copy_value(L, c, top, &f->value, &f->key);
		lua_settop(L, top - 1);
	}
	c->depth--;
}

static void copy_value(lua_State *L, copy_ctx *c, int idx, xps_value *out,
                       const xps_value *key)
{
	int t = lua_type(L, idx);

	out->type_name = lua_typename(L, t);
	if (++c->values > c->s->lim.values) {
		copy_fail(c, XPS_EVIOLATION, "holds too many values to copy");
		return;
	}
	luaL_checkstack(L, 4, "copying a value");
	switch (t) {
	case LUA_TNIL:
		out->type = XPS_NIL;
		break;
	case LUA_TBOOLEAN:
		out->type = XPS_BOOLEAN;
		out->boolean = lua_toboolean(L, idx);
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			out->type = XPS_INTEGER;
			out->integer = (long long)lua_tointeger(L, idx);
		} else {
			out->type = XPS_NUMBER;
			out->number = (double)lua_tonumber(L, idx);
		}
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *p = lua_tolstring(L, idx, &len);
		c->bytes += len;
		if (c->bytes > c->s->lim.memory) {
			copy_fail(c, XPS_EVIOLATION,
			          "holds too much text to copy");
			return;
		}
		out->string = dup_mem(p, len);
		if (out->string == NULL) {
			c->status = XPS_ENOMEM;
			return;
		}
		out->type = XPS_STRING;
		out->len = len;
		break;
	}
	case LUA_TTABLE:
		out->type = XPS_TABLE;
		copy_table(L, c, lua_absindex(L, idx), out, key);
		break;
	default:
		out->type = XPS_OTHER;
		break;
	}
}

/* Protected: copy config[section][name] (arguments: the ctx, section). */
static int copy_protected(lua_State *L)
{
	copy_ctx *c = lua_touserdata(L, 1);
	const char *section = lua_touserdata(L, 2);

	lua_getfield(L, LUA_REGISTRYINDEX, REG_CONFIG);
	if (lua_getfield(L, -1, section) != LUA_TTABLE)
		return 0;
	if (lua_getfield(L, -1, c->name) == LUA_TNIL)
		return 0;
	c->root = calloc(1, sizeof(*c->root));
	if (c->root == NULL) {
		c->status = XPS_ENOMEM;
		return 0;
	}
	copy_value(L, c, lua_gettop(L), c->root, NULL);
	return 0;
}

int xps_get(xps_sandbox *s, const char *section, const char *name,
            xps_value **out)
{
	lua_State *L;
	copy_ctx c;
	int status;

	if (s == NULL || section == NULL || name == NULL || out == NULL)
		return XPS_EINVAL;
	*out = NULL;
	L = s->L;
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.name = name;
	c.status = XPS_OK;
	c.path = calloc(s->lim.depth + 1, sizeof(*c.path));
	c.keys = calloc(s->lim.depth + 1, sizeof(*c.keys));
	if (c.path == NULL || c.keys == NULL) {
		free((void *)c.path);
		free((void *)c.keys);
		return XPS_ENOMEM;
	}
	lua_settop(L, 0);
	lua_pushcfunction(L, copy_protected);
	lua_pushlightuserdata(L, &c);
	/* not lua_pushstring: nothing may allocate outside a pcall */
	lua_pushlightuserdata(L, (void *)section);
	status = lua_pcall(L, 2, 0, 0);
	lua_settop(L, 0);
	free((void *)c.path);
	free((void *)c.keys);
	if (status != LUA_OK && c.status == XPS_OK)
		c.status = XPS_ENOMEM;
	if (c.status != XPS_OK) {
		xps_value_free(c.root);
		if (c.message != NULL) {
			free(s->message);
			s->message = c.message;
		} else {
			set_message(s, "not enough memory");
		}
		if (c.status == XPS_EVIOLATION && s->violation == XPS_V_NONE)
			s->violation = XPS_V_SIZE;
		return c.status;
	}
	free(c.message);
	*out = c.root;
	return XPS_OK;
}

/* ---- handing values to another state ---------------------------------- */

/* Stands in for a function value of the file. */
static int function_placeholder(lua_State *L)
{
	(void)L;
	return 0;
}

void xps_push(lua_State *L, const xps_value *v)
{
	size_t i;

	luaL_checkstack(L, 4, "copying a value of a partner file");
	if (v == NULL) {
		lua_pushnil(L);
		return;
	}
	switch (v->type) {
	case XPS_NIL:
		lua_pushnil(L);
		break;
	case XPS_BOOLEAN:
		lua_pushboolean(L, v->boolean);
		break;
	case XPS_INTEGER:
		lua_pushinteger(L, (lua_Integer)v->integer);
		break;
	case XPS_NUMBER:
		lua_pushnumber(L, (lua_Number)v->number);
		break;
	case XPS_STRING:
		lua_pushlstring(L, v->string, v->len);
		break;
	case XPS_TABLE:
		lua_createtable(L, 0, v->count > INT_MAX ? 0 : (int)v->count);
		for (i = 0; i < v->count; i++) {
			xps_push(L, &v->fields[i].key);
			xps_push(L, &v->fields[i].value);
			if (lua_isnil(L, -2) || lua_isnil(L, -1))
				lua_pop(L, 2);
			else
				lua_rawset(L, -3);
		}
		break;
	default:
		if (v->type_name != NULL &&
		    strcmp(v->type_name, "function") == 0)
			lua_pushcfunction(L, function_placeholder);
		else
			lua_pushlightuserdata(L, (void *)v);
		break;
	}
}
