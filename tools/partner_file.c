/*
 * partner_file.c: a partner file from the disk to the core's verdict:
 * evaluation in the sandbox, its values walked into the core's builder
 * (module/evaluator/walk.h), and diagnostics printed with the file's line
 * numbers.  Also the `check` command, which is little more than that.
 *
 * Line numbers: the core names the partner and the key of a finding, not
 * where it was written (the Lua table has no positions), so the file is
 * scanned with a small Lua-aware tokenizer to find the assignment, the
 * partner's entry and the key inside it.  When the table was built in a
 * less literal way the line of the assignment is shown instead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "walk.h"
#include "xmpp_partners.h"

const char *const xpt_option_keys[XPT_OPT_COUNT] = {
        "default",          "keepalive_interval",
        "connection_limit", "pending_per_address",
        "pending_limit",    "auth_timeout",
        "preauth_bytes",    "preauth_depth",
        "refusal_backoff"};

#define OPTION_PREFIX "xmpp_partners_"

/* ---- small helpers ------------------------------------------------------ */

int xpt_read_file(const char *path, size_t max, char **out, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	*out = NULL;
	*len = 0;
	if (fp == NULL)
		return errno ? errno : EIO;
	for (;;) {
		size_t got;
		if (n == cap) {
			char *grown;
			if (cap > max) {
				err = EFBIG;
				break;
			}
			cap = cap ? 2 * cap : 65536;
			grown = realloc(buf, cap + 1);
			if (grown == NULL) {
				err = ENOMEM;
				break;
			}
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, fp);
		n += got;
		if (got == 0)
			break;
	}
	if (err == 0 && ferror(fp))
		err = errno ? errno : EIO;
	if (err == 0 && n > max)
		err = EFBIG;
	fclose(fp);
	if (err != 0) {
		free(buf);
		return err;
	}
	if (buf == NULL) {
		buf = malloc(1);
		if (buf == NULL)
			return ENOMEM;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

char *xpt_one_line(const char *text, char *buf, size_t size)
{
	size_t i;

	if (size == 0)
		return buf;
	for (i = 0; text != NULL && text[i] != '\0' && i + 1 < size; i++)
		buf[i] = ((unsigned char)text[i] < 0x20 || text[i] == 0x7F)
		                 ? ' '
		                 : text[i];
	buf[i] = '\0';
	return buf;
}

/* ---- a Lua-aware tokenizer, for line numbers ---------------------------- */

enum tok_type {
	T_NAME,
	T_STRING,
	T_LBRACE,
	T_RBRACE,
	T_LBRACKET,
	T_RBRACKET,
	T_EQ,
	T_SEP, /* , or ; */
	T_OTHER
};

typedef struct token {
	enum tok_type type;
	int depth; /* braces around the token ({ and } count as outside) */
	int line;
	size_t start, len; /* for a string: its contents */
} token;

typedef struct scanner {
	const char *p;
	size_t n, i;
	int line, depth;
	token *toks;
	size_t count, cap;
	int oom;
} scanner;

static void emit(scanner *s, enum tok_type type, size_t start, size_t len,
                 int line)
{
	token *t;

	if (s->oom)
		return;
	if (s->count == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		token *grown = realloc(s->toks, cap * sizeof(*grown));
		if (grown == NULL) {
			s->oom = 1;
			return;
		}
		s->toks = grown;
		s->cap = cap;
	}
	t = &s->toks[s->count++];
	t->type = type;
	t->depth = s->depth;
	t->line = line;
	t->start = start;
	t->len = len;
}

/* At "[": the level of a long bracket ([[ is 0, [==[ is 2), or -1. */
static int long_level(const scanner *s, size_t at)
{
	size_t j = at + 1;
	int level = 0;

	while (j < s->n && s->p[j] == '=') {
		level++;
		j++;
	}
	return j < s->n && s->p[j] == '[' ? level : -1;
}

/* Skip a long bracket opened at s->i; returns where its contents begin
 * and sets *len to their length. */
static size_t skip_long(scanner *s, int level, size_t *len)
{
	size_t start = s->i + (size_t)level + 2, j = start;

	while (j < s->n) {
		if (s->p[j] == ']') {
			size_t k = j + 1;
			int eq = 0;
			while (k < s->n && s->p[k] == '=') {
				eq++;
				k++;
			}
			if (eq == level && k < s->n && s->p[k] == ']') {
				*len = j - start;
				s->i = k + 1;
				return start;
			}
		}
		if (s->p[j] == '\n')
			s->line++;
		j++;
	}
	*len = s->n - start;
	s->i = s->n;
	return start;
}

static void scan_short_string(scanner *s)
{
	char q = s->p[s->i];
	size_t start = ++s->i;
	int line = s->line;

	while (s->i < s->n && s->p[s->i] != q && s->p[s->i] != '\n') {
		if (s->p[s->i] == '\\' && s->i + 1 < s->n) {
			if (s->p[s->i + 1] == '\n')
				s->line++;
			s->i++;
		}
		s->i++;
	}
	emit(s, T_STRING, start, s->i - start, line);
	if (s->i < s->n && s->p[s->i] == q)
		s->i++;
}

static int is_name_char(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

static void scan_one(scanner *s)
{
	char c = s->p[s->i];
	size_t len;
	int level, line = s->line;

	if (c == '\n') {
		s->line++;
		s->i++;
	} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' ||
	           c == '\v') {
		s->i++;
	} else if (c == '-' && s->i + 1 < s->n && s->p[s->i + 1] == '-') {
		s->i += 2;
		if (s->i < s->n && s->p[s->i] == '[' &&
		    (level = long_level(s, s->i)) >= 0) {
			skip_long(s, level, &len);
			return;
		}
		while (s->i < s->n && s->p[s->i] != '\n')
			s->i++;
	} else if (c == '"' || c == '\'') {
		scan_short_string(s);
	} else if (c == '[' && (level = long_level(s, s->i)) >= 0) {
		size_t start = skip_long(s, level, &len);
		emit(s, T_STRING, start, len, line);
	} else if (is_name_char(c, 1)) {
		size_t start = s->i;
		while (s->i < s->n && is_name_char(s->p[s->i], 0))
			s->i++;
		emit(s, T_NAME, start, s->i - start, line);
	} else if (c == '=' || c == '~' || c == '<' || c == '>') {
		int two = s->i + 1 < s->n && s->p[s->i + 1] == '=';
		emit(s, c == '=' && !two ? T_EQ : T_OTHER, s->i, two ? 2 : 1,
		     line);
		s->i += two ? 2 : 1;
	} else {
		enum tok_type t = c == '{'                 ? T_LBRACE
		                  : c == '}'               ? T_RBRACE
		                  : c == '['               ? T_LBRACKET
		                  : c == ']'               ? T_RBRACKET
		                  : (c == ',' || c == ';') ? T_SEP
		                                           : T_OTHER;
		if (t == T_RBRACE && s->depth > 0)
			s->depth--;
		emit(s, t, s->i, 1, line);
		if (t == T_LBRACE)
			s->depth++;
		s->i++;
		/* numbers and the like: the rest of a run of name chars */
		if (t == T_OTHER && c >= '0' && c <= '9')
			while (s->i < s->n && (is_name_char(s->p[s->i], 0) ||
			                       s->p[s->i] == '.'))
				s->i++;
	}
}

static void scan_file(xpt_file *f)
{
	scanner s;

	if (f->tokens_scanned)
		return;
	f->tokens_scanned = 1;
	memset(&s, 0, sizeof(s));
	s.p = f->text;
	s.n = f->len;
	s.line = 1;
	while (s.i < s.n && !s.oom)
		scan_one(&s);
	if (s.oom) { /* line numbers are a nicety: go without */
		free(s.toks);
		return;
	}
	f->tokens = s.toks;
	f->ntokens = s.count;
}

static int tok_is(const xpt_file *f, size_t i, enum tok_type type)
{
	return i < f->ntokens && ((const token *)f->tokens)[i].type == type;
}

static int tok_text_is(const xpt_file *f, size_t i, const char *text)
{
	const token *t = &((const token *)f->tokens)[i];
	size_t len = strlen(text);

	return t->len == len && memcmp(f->text + t->start, text, len) == 0;
}

/* The last top-level "name =" at or before max_line (any line if 0);
 * returns the token index or -1. */
static long find_assignment(xpt_file *f, const char *name, int max_line)
{
	const token *t;
	long found = -1;
	size_t i;

	scan_file(f);
	t = f->tokens;
	for (i = 0; i + 1 < f->ntokens; i++) {
		if (max_line > 0 && t[i].line > max_line)
			break;
		if (t[i].type == T_NAME && t[i].depth == 0 &&
		    tok_is(f, i + 1, T_EQ) && tok_text_is(f, i, name))
			found = (long)i;
	}
	return found;
}

/* The } that closes the { at index lb. */
static size_t closing_brace(const xpt_file *f, size_t lb)
{
	const token *t = f->tokens;
	size_t i;

	for (i = lb + 1; i < f->ntokens; i++)
		if (t[i].type == T_RBRACE && t[i].depth == t[lb].depth)
			return i;
	return f->ntokens;
}

/* Inside the table at lb, the entry ["key"] = or key =; returns the index
 * of the key's first token, or -1. */
static long find_entry(const xpt_file *f, size_t lb, const char *key)
{
	const token *t = f->tokens;
	size_t end = closing_brace(f, lb), i;
	int depth = t[lb].depth + 1;

	for (i = lb + 1; i < end; i++) {
		if (t[i].depth != depth)
			continue;
		if (t[i - 1].type != T_LBRACE && t[i - 1].type != T_SEP)
			continue;
		if (t[i].type == T_NAME && tok_is(f, i + 1, T_EQ) &&
		    tok_text_is(f, i, key))
			return (long)i;
		if (t[i].type == T_LBRACKET && tok_is(f, i + 1, T_STRING) &&
		    tok_is(f, i + 2, T_RBRACKET) && tok_is(f, i + 3, T_EQ) &&
		    tok_text_is(f, i + 1, key))
			return (long)i;
	}
	return -1;
}

/* The value after the entry at k: the index of its { or -1. */
static long entry_table(const xpt_file *f, long k)
{
	size_t v = (size_t)k + (tok_is(f, (size_t)k, T_NAME) ? 2 : 4);

	return tok_is(f, v, T_LBRACE) ? (long)v : -1;
}

static int tok_line(const xpt_file *f, long i)
{
	return i >= 0 ? ((const token *)f->tokens)[i].line : 0;
}

static int last_global_line(const xps_sandbox *sb, const char *name);

int xpt_file_line(xpt_file *f, const char *partner, const char *key)
{
	long a, lb, entry, record, k;
	int i;

	if (partner == NULL) {
		const char *name = key;
		if (key == NULL || strcmp(key, "xmpp_partners") == 0)
			return f->partners_line;
		if (strncmp(name, OPTION_PREFIX, strlen(OPTION_PREFIX)) == 0)
			name += strlen(OPTION_PREFIX);
		for (i = 0; i < XPT_OPT_COUNT; i++)
			if (strcmp(name, xpt_option_keys[i]) == 0)
				return f->option_line[i];
		return 0;
	}
	if (f->partners_line == 0)
		return 0;
	/* the global assignment that counts, not one in a host section */
	a = find_assignment(f, "xmpp_partners",
	                    last_global_line(f->sb, "xmpp_partners"));
	if (f->tokens == NULL)
		return f->partners_line;
	lb = a >= 0 && tok_is(f, (size_t)a + 2, T_LBRACE) ? a + 2 : -1;
	if (lb < 0)
		return f->partners_line;
	entry = find_entry(f, (size_t)lb, partner);
	if (entry < 0)
		return f->partners_line;
	record = entry_table(f, entry);
	if (key == NULL || record < 0)
		return tok_line(f, entry);
	k = find_entry(f, (size_t)record, key);
	return k >= 0 ? tok_line(f, k) : tok_line(f, entry);
}

/* ---- loading ------------------------------------------------------------ */

/* "path:12: rest" -> 12 and rest; 0 and the whole text otherwise. */
static int split_where(const char *msg, const char *path, const char **rest)
{
	size_t plen = strlen(path);
	const char *p;
	int line = 0;

	*rest = msg;
	if (strncmp(msg, path, plen) != 0 || msg[plen] != ':')
		return 0;
	p = msg + plen + 1;
	while (*p >= '0' && *p <= '9' && line < 100000000)
		line = 10 * line + (*p++ - '0');
	if (*p == ':' && line > 0) {
		*rest = p + 1 + (p[1] == ' ');
		return line;
	}
	if (p == msg + plen + 1 && *p == ' ') { /* "path: text" */
		*rest = p + 1;
		return 0;
	}
	return 0;
}

static void print_where(FILE *out, const char *path, int line,
                        const char *severity, const char *text)
{
	char one[2048];

	if (line > 0)
		fprintf(out, "%s:%d: %s: %s\n", path, line, severity,
		        xpt_one_line(text, one, sizeof(one)));
	else
		fprintf(out, "%s: %s: %s\n", path, severity,
		        xpt_one_line(text, one, sizeof(one)));
}

/* Report a failed evaluation; returns the exit class.  fallback_line is
 * shown when the message has no line. */
static int report_eval(const xpt_file *f, int rc, int quiet, int fallback_line)
{
	const char *rest;
	int line = split_where(xps_message(f->sb), f->path, &rest);

	if (line == 0)
		line = fallback_line;
	switch (rc) {
	case XPS_ESYNTAX:
	case XPS_ERUNTIME:
	case XPS_EVALUE:
		if (!quiet)
			print_where(stdout, f->path, line, "error", rest);
		if (!quiet && rc == XPS_ESYNTAX && f->len >= 3 &&
		    memcmp(f->text, "\xEF\xBB\xBF", 3) == 0)
			print_where(stdout, f->path, 1, "note",
			            "the file starts with a UTF-8 byte-order "
			            "mark, which Lua (and so Prosody) cannot "
			            "read: save the file without it");
		return XPT_EXIT_ERRORS;
	case XPS_EVIOLATION:
		if (!quiet) {
			char one[2048];
			fprintf(stderr, "%s: ", XPT_PROGRAM);
			if (line > 0)
				fprintf(stderr, "%s:%d: ", f->path, line);
			else
				fprintf(stderr, "%s: ", f->path);
			fprintf(stderr, "refused by the sandbox: %s\n",
			        xpt_one_line(rest, one, sizeof(one)));
		}
		return XPT_EXIT_FAILURE;
	case XPS_ENOMEM:
	default:
		if (!quiet)
			fprintf(stderr, "%s: %s: %s\n", XPT_PROGRAM, f->path,
			        rc == XPS_ENOMEM ? "out of memory"
			                         : xps_message(f->sb));
		return XPT_EXIT_FAILURE;
	}
}

/* The last global assignment of name: its line as recorded (where the
 * statement ends), or 0. */
static int last_global_line(const xps_sandbox *sb, const char *name)
{
	size_t i, n = xps_setting_count(sb);
	int line = 0;

	for (i = 0; i < n; i++) {
		const xps_setting *st = xps_setting_at(sb, i);
		if (strcmp(st->section, "*") == 0 &&
		    strcmp(st->name, name) == 0)
			line = st->line > 0 ? st->line : line;
	}
	return line;
}

/* Where the assignment whose statement ends at end_line starts. */
static int assignment_line(xpt_file *f, const char *name, int end_line)
{
	long k;

	if (end_line <= 0)
		return 0;
	k = find_assignment(f, name, end_line);
	return k >= 0 && f->tokens != NULL ? tok_line(f, k) : end_line;
}

static int get_value(xpt_file *f, const char *name, xps_value **out, int *line,
                     int quiet)
{
	int rc = xps_get(f->sb, "*", name, out);

	*line = assignment_line(f, name, last_global_line(f->sb, name));
	if (rc != XPS_OK)
		return report_eval(f, rc, quiet, *line);
	return XPT_EXIT_OK;
}

static int evaluate(xpt_file *f, const xpt_options *o, int quiet)
{
	char name[64];
	int rc, i;

	f->sb = xps_new(&o->limits);
	if (f->sb == NULL) {
		if (!quiet)
			fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
		return XPT_EXIT_FAILURE;
	}
	rc = xps_eval_buffer(f->sb, f->text, f->len, f->path);
	if (rc != XPS_OK)
		return report_eval(f, rc, quiet, 0);
	rc = get_value(f, "xmpp_partners", &f->partners, &f->partners_line,
	               quiet);
	for (i = 0; rc == XPT_EXIT_OK && i < XPT_OPT_COUNT; i++) {
		snprintf(name, sizeof(name), OPTION_PREFIX "%s",
		         xpt_option_keys[i]);
		rc = get_value(f, name, &f->options[i], &f->option_line[i],
		               quiet);
	}
	return rc;
}

int xpt_file_load(xpt_file *f, const char *path, const xpt_options *o)
{
	size_t max = o->limits.file_size ? o->limits.file_size
	                                 : XPS_DEFAULT_FILE_SIZE;
	int err;

	memset(f, 0, sizeof(*f));
	f->path = path;
	err = xpt_read_file(path, max, &f->text, &f->len);
	if (err == EFBIG) {
		fprintf(stderr,
		        "%s: %s: the file is larger than %lu KiB: not a "
		        "partner "
		        "file?\n",
		        XPT_PROGRAM, path, (unsigned long)(max >> 10));
		return XPT_EXIT_FAILURE;
	}
	if (err != 0) {
		fprintf(stderr, "%s: cannot read %s: %s\n", XPT_PROGRAM, path,
		        strerror(err));
		return XPT_EXIT_FAILURE;
	}
	return evaluate(f, o, 0);
}

int xpt_file_load_text(xpt_file *f, const char *path, const char *text,
                       size_t len, const xpt_options *o, int quiet)
{
	memset(f, 0, sizeof(*f));
	f->path = path;
	f->text = malloc(len + 1);
	if (f->text == NULL) {
		if (!quiet)
			fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
		return XPT_EXIT_FAILURE;
	}
	memcpy(f->text, text, len);
	f->text[len] = '\0';
	f->len = len;
	return evaluate(f, o, quiet);
}

void xpt_file_free(xpt_file *f)
{
	int i;

	xps_value_free(f->partners);
	for (i = 0; i < XPT_OPT_COUNT; i++)
		xps_value_free(f->options[i]);
	xps_free(f->sb);
	free(f->text);
	free(f->tokens);
	memset(f, 0, sizeof(*f));
}

/* ---- notes and section checks ------------------------------------------- */

static int known_option(const char *name)
{
	int i;

	if (strcmp(name, "xmpp_partners") == 0)
		return 1;
	if (strncmp(name, OPTION_PREFIX, strlen(OPTION_PREFIX)) != 0)
		return 0;
	for (i = 0; i < XPT_OPT_COUNT; i++)
		if (strcmp(name + strlen(OPTION_PREFIX), xpt_option_keys[i]) ==
		    0)
			return 1;
	return 0;
}

/* An option of ours, or a name that looks like one (xp_option_note). */
static int is_partner_option(const char *name)
{
	char text[8];

	return known_option(name) || xp_option_note(name, text, sizeof(text));
}

/* An earlier global assignment of the same name, or NULL. */
static const xps_setting *earlier(const xps_sandbox *sb, size_t upto,
                                  const char *name)
{
	size_t i;
	const xps_setting *found = NULL;

	for (i = 0; i < upto; i++) {
		const xps_setting *st = xps_setting_at(sb, i);
		if (strcmp(st->section, "*") == 0 &&
		    strcmp(st->name, name) == 0)
			found = st;
	}
	return found;
}

static size_t section_checks(xpt_file *f, FILE *out)
{
	size_t i, n = xps_setting_count(f->sb), warnings = 0;
	char text[512];

	for (i = 0; i < n; i++) {
		const xps_setting *st = xps_setting_at(f->sb, i);
		const xps_setting *prev;
		if (!is_partner_option(st->name))
			continue;
		if (strcmp(st->section, "*") != 0) {
			snprintf(
			        text, sizeof(text),
			        "%.100s is set in the section of host "
			        "\"%.200s\", "
			        "which Prosody keeps as a setting of that host "
			        "only; mod_xmpp_partners reads the global "
			        "section, so this value is not used: move it "
			        "above the first VirtualHost or Component line",
			        st->name, st->section);
			print_where(out, f->path,
			            assignment_line(f, st->name, st->line),
			            "note", text);
			continue;
		}
		if (xp_option_note(st->name, text, sizeof(text))) {
			/* the core's text: the servers warn the same */
			print_where(out, f->path,
			            assignment_line(f, st->name, st->line),
			            "warning", text);
			warnings++;
			continue;
		}
		prev = earlier(f->sb, i, st->name);
		if (prev != NULL) {
			snprintf(text, sizeof(text),
			         "%.100s is assigned again; the value assigned "
			         "at line %d is replaced",
			         st->name,
			         assignment_line(f, prev->name, prev->line));
			print_where(out, f->path,
			            assignment_line(f, st->name, st->line),
			            "note", text);
		}
	}
	return warnings;
}

size_t xpt_file_print_notes(xpt_file *f, FILE *out)
{
	size_t i, n = xps_note_count(f->sb), warnings = 0;

	for (i = 0; i < n; i++) {
		const xps_note *note = xps_note_at(f->sb, i);
		int warn = note->kind == XPS_NOTE_UNDEFINED;
		print_where(out, f->path, note->line, warn ? "warning" : "note",
		            note->text);
		warnings += warn;
	}
	return warnings + section_checks(f, out);
}

/* ---- building the table ------------------------------------------------ */

int xpt_build(xpt_built *out, const xpt_file *f)
{
	const xps_value *values[XPT_OPT_COUNT];
	xp_table *t = NULL;
	int i, rc;

	memset(out, 0, sizeof(*out));
	out->ctx = xp_ctx_new(NULL, NULL, NULL, NULL);
	out->builder = out->ctx != NULL ? xp_builder_new(out->ctx) : NULL;
	if (out->builder == NULL)
		goto nomem;
	for (i = 0; i < XPT_OPT_COUNT; i++)
		values[i] = f->options[i];
	rc = xpe_walk_options(out->builder, XPT_OPT_COUNT, xpt_option_keys,
	                      values);
	if (rc == XP_OK)
		rc = xpe_walk_partners(out->builder, f->partners);
	if (rc == XP_OK)
		rc = xp_builder_finish(out->builder, &t);
	if (rc == XP_OK)
		out->table = t;
	else if (rc != XP_ECONFIG)
		goto nomem;
	return XPT_EXIT_OK;
nomem:
	fflush(stdout);
	fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
	xpt_built_free(out);
	return XPT_EXIT_FAILURE;
}

void xpt_built_free(xpt_built *b)
{
	if (b->table != NULL)
		xp_table_unref(b->table);
	if (b->builder != NULL)
		xp_builder_free(b->builder);
	if (b->ctx != NULL)
		xp_ctx_free(b->ctx);
	memset(b, 0, sizeof(*b));
}

typedef struct diag_ref {
	int line;
	size_t index;
} diag_ref;

static int diag_ref_cmp(const void *a, const void *b)
{
	const diag_ref *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

void xpt_print_diags(const xp_builder *b, xpt_file *f, FILE *out,
                     size_t *errors, size_t *warnings)
{
	size_t n = xp_builder_diag_count(b), i;
	diag_ref *refs = malloc((n > 0 ? n : 1) * sizeof(*refs));
	xp_ctx *ctx;

	if (refs == NULL) {
		fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
		*errors += n;
		return;
	}
	for (i = 0; i < n; i++) {
		const xp_diag *d = xp_builder_diag(b, i);
		refs[i].index = i;
		refs[i].line = xpt_file_line(f, d->partner, d->key);
	}
	qsort(refs, n, sizeof(*refs), diag_ref_cmp);
	ctx = xp_ctx_new(NULL, NULL, NULL, NULL);
	for (i = 0; i < n; i++) {
		const xp_diag *d = xp_builder_diag(b, refs[i].index);
		xp_text *text = NULL;
		char one[4096];
		const char *line;
		if (d->severity == XP_SEV_ERROR)
			(*errors)++;
		else
			(*warnings)++;
		/* the core's line, the one the servers' admin commands print */
		if (ctx == NULL || xp_diag_text(ctx, d, &text) != XP_OK) {
			fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
			continue;
		}
		line = xpt_one_line(xp_text_str(text), one, sizeof(one));
		if (refs[i].line > 0)
			fprintf(out, "%s:%d: %s\n", f->path, refs[i].line,
			        line);
		else
			fprintf(out, "%s: %s\n", f->path, line);
		xp_text_free(text);
	}
	if (ctx != NULL)
		xp_ctx_free(ctx);
	free(refs);
}

/* ---- check --------------------------------------------------------------- */

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static int check_built(xpt_file *f, const xpt_built *b, size_t warnings)
{
	size_t errors = 0, count;
	const char *policy;

	xpt_print_diags(b->builder, f, stdout, &errors, &warnings);
	if (b->table == NULL) {
		printf("%s: %lu %s, %lu %s: a server would not load this table "
		       "(on reload it keeps the policy in force; at start-up "
		       "it refuses all federation until the file is fixed)\n",
		       f->path, (unsigned long)errors,
		       plural(errors, "error", "errors"),
		       (unsigned long)warnings,
		       plural(warnings, "warning", "warnings"));
		return XPT_EXIT_ERRORS;
	}
	count = xp_table_count(b->table);
	policy = xp_table_default_policy(b->table) == XP_DEFAULT_ALLOW ? "allow"
	                                                               : "deny";
	if (f->partners == NULL) {
		printf("%s: warning: xmpp_partners is not set in the global "
		       "section, so no partner is listed\n",
		       f->path);
		warnings++;
	} else if (count == 0) {
		printf("%s: note: xmpp_partners lists no partner\n", f->path);
	}
	printf("%s: OK: %d %s, xmpp_partners_default = \"%s\"%s; %lu %s\n",
	       f->path, (int)count, plural(count, "partner", "partners"),
	       policy,
	       strcmp(policy, "deny") == 0
	               ? " (unlisted domains cannot federate)"
	               : " (unlisted domains federate with the defaults)",
	       (unsigned long)warnings,
	       plural(warnings, "warning", "warnings"));
	return XPT_EXIT_OK;
}

int xpt_cmd_check(const char *path, const xpt_options *o)
{
	xpt_file f;
	xpt_built b;
	size_t warnings;
	int rc = xpt_file_load(&f, path, o);

	if (rc != XPT_EXIT_OK) {
		if (rc == XPT_EXIT_ERRORS)
			printf("%s: the file cannot be evaluated, so a server "
			       "would not load it\n",
			       path);
		xpt_file_free(&f);
		return rc;
	}
	warnings = xpt_file_print_notes(&f, stdout);
	rc = xpt_build(&b, &f);
	if (rc == XPT_EXIT_OK)
		rc = check_built(&f, &b, warnings);
	xpt_built_free(&b);
	xpt_file_free(&f);
	return rc;
}
