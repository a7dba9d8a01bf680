/*
 * cli.h: what the parts of the xmpp-partners command-line tool share.
 *
 * The partner file runs in the evaluator's sandbox (sandbox.h), which
 * hands back plain C values; the evaluator walks those into the core's
 * builder (walk.h), and the core's table and verdict functions decide
 * everything.  The tool only formats what they return; no Lua state but
 * the sandbox's takes part.
 *
 * Only main() decides the exit status: commands return one of XPT_EXIT_*.
 */
#ifndef XPT_CLI_H
#define XPT_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "sandbox.h"
#include "xmpp_partners.h"

#define XPT_PROGRAM "xmpp-partners"

enum {
	XPT_EXIT_OK = 0,     /* no errors (warnings allowed) */
	XPT_EXIT_ERRORS = 1, /* the input has errors */
	XPT_EXIT_FAILURE = 2 /* usage, unreadable input, sandbox violation */
};

typedef struct xpt_options {
	xps_limits limits; /* for the sandbox; zero fields take defaults */
} xpt_options;

/* The global options of a partner file, in the builder's names. */
enum {
	XPT_OPT_DEFAULT,
	XPT_OPT_KEEPALIVE,
	XPT_OPT_LIMIT,
	XPT_OPT_PENDING_ADDRESS,
	XPT_OPT_PENDING_LIMIT,
	XPT_OPT_AUTH_TIMEOUT,
	XPT_OPT_PREAUTH_BYTES,
	XPT_OPT_PREAUTH_DEPTH,
	XPT_OPT_BACKOFF,
	XPT_OPT_COUNT
};
extern const char *const xpt_option_keys[XPT_OPT_COUNT];

/* A partner file after evaluation in the sandbox. */
typedef struct xpt_file {
	const char *path; /* as the user named it */
	char *text;       /* its contents */
	size_t len;
	xps_sandbox *sb;
	xps_value *partners; /* global xmpp_partners, NULL when not set */
	int partners_line;   /* where its (last) assignment starts, or 0 */
	xps_value *options[XPT_OPT_COUNT];
	int option_line[XPT_OPT_COUNT];
	void *tokens; /* lazily scanned tokens, for line numbers */
	size_t ntokens;
	int tokens_scanned;
} xpt_file;

/*
 * Read path and evaluate it, or evaluate text (a copy is taken) under the
 * name path.  Problems are printed (stdout for problems of the file,
 * stderr for those that prevent checking it); returns XPT_EXIT_OK,
 * XPT_EXIT_ERRORS (not valid Lua, an error raised, a value that cannot be
 * copied) or XPT_EXIT_FAILURE (unreadable, sandbox violation, no memory).
 * With quiet set, nothing is printed.  Free with xpt_file_free either way.
 */
int xpt_file_load(xpt_file *f, const char *path, const xpt_options *o);
int xpt_file_load_text(xpt_file *f, const char *path, const char *text,
                       size_t len, const xpt_options *o, int quiet);
void xpt_file_free(xpt_file *f);

/* Print the sandbox's notes and the section checks (xmpp_partners set in
 * a host section, twice, unknown xmpp_partners_* options); returns how
 * many warnings were printed. */
size_t xpt_file_print_notes(xpt_file *f, FILE *out);

/* The line of a diagnostic (partner and key may be NULL), 0 if unknown. */
int xpt_file_line(xpt_file *f, const char *partner, const char *key);

/* ---- the table --------------------------------------------------------- */

/* A file's values built into a table by the core. */
typedef struct xpt_built {
	xp_ctx *ctx;
	xp_builder *builder; /* its diagnostics */
	xp_table *table;     /* NULL when the file's table has errors */
} xpt_built;

/* Build f's xmpp_partners and options.  Returns XPT_EXIT_OK (look at
 * b->table) or XPT_EXIT_FAILURE when memory runs out (said on stderr).
 * Free with xpt_built_free either way. */
int xpt_build(xpt_built *b, const xpt_file *f);
void xpt_built_free(xpt_built *b);

/* Print the builder's diagnostics as "path:line: severity: text", in line
 * order; counts go to *errors and *warnings. */
void xpt_print_diags(const xp_builder *b, xpt_file *f, FILE *out,
                     size_t *errors, size_t *warnings);

/* Read a whole file (at most max bytes); 0 or an errno value. */
int xpt_read_file(const char *path, size_t max, char **out, size_t *len);

/* Text for one line of output: control characters become spaces.
 * Returns buf (NUL-terminated, cut to size). */
char *xpt_one_line(const char *text, char *buf, size_t size);

/* ---- the commands ------------------------------------------------------- */

int xpt_cmd_check(const char *path, const xpt_options *o);
int xpt_cmd_explain(const char *path, const char *domain, const xpt_options *o);
int xpt_cmd_import_lync(const char *path, const xpt_options *o);
int xpt_cmd_pin(const char *path);

#endif /* XPT_CLI_H */
