/*
 * explain.c: the `explain FILE DOMAIN` command: which partner a domain maps
 * to and what will be offered, tried, accepted and refused on its streams
 * in each direction, and what its users may do to local contact lists.
 *
 * The answer and its wording come from the core (module/explain.c,
 * through tbl:explain), the same text the Prosody shell and ejabberdctl
 * print; this file only builds the table and prints.
 */
#include <string.h>

#include <lauxlib.h>

#include "cli.h"

typedef struct explain_ctx {
	xpt_file *f;
	const char *domain;
} explain_ctx;

static int explain_protected(lua_State *T)
{
	explain_ctx *c = lua_touserdata(T, 1);
	size_t errors = 0, warnings = 0, len;
	const char *text;

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
	lua_getfield(T, -1, "explain");
	lua_pushvalue(T, -2);
	lua_pushstring(T, c->domain);
	lua_call(T, 2, 2);
	if (lua_isnil(T, -2)) {
		fprintf(stderr, "%s: explain: '%s' is not a valid domain: %s\n",
		        XPT_PROGRAM, c->domain, lua_tostring(T, -1));
		lua_pushinteger(T, XPT_EXIT_FAILURE);
		return 1;
	}
	text = lua_tolstring(T, -2, &len);
	fwrite(text, 1, len, stdout);
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
