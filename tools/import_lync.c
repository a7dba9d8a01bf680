/*
 * import_lync.c: the `import-lync CSV` command: the partners of a Lync
 * 2013 / Skype for Business 2015 export printed as a partner file.
 *
 * lync_csv.c reads the CSV and maps every attribute to our keys without
 * judging.  Here the rows become Lua text, and that very text goes through
 * the same path as `check` (sandbox, walk, builder): rows the core rejects
 * are taken out and the rest checked again until the table loads, so the
 * file printed is one a server accepts.  Rejected rows stay in the output
 * as comments with the reasons, next to the CSV line they came from.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lync_csv.h"
#include "xmpp_partners.h"

/* ---- a growable text buffer --------------------------------------------- */

typedef struct text {
	char *p;
	size_t len, cap;
	int oom;
} text;

static void text_add(text *t, const char *s, size_t n)
{
	if (t->oom)
		return;
	if (n > (size_t)-1 / 2 - t->len) {
		t->oom = 1;
		return;
	}
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		char *p;
		while (cap < t->len + n + 1)
			cap *= 2;
		p = realloc(t->p, cap);
		if (p == NULL) {
			t->oom = 1;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void text_printf(text *t, const char *fmt, ...)
{
	va_list ap;
	char small[512];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->oom = 1;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		text_add(t, small, (size_t)n);
		return;
	}
	{
		char *big = malloc((size_t)n + 1);
		if (big == NULL) {
			t->oom = 1;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		text_add(t, big, (size_t)n);
		free(big);
	}
}

/* A Lua string literal: "..." with escapes; UTF-8 passes through. */
static void text_quote(text *t, const char *s)
{
	size_t i;

	text_add(t, "\"", 1);
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			char e[2];
			e[0] = '\\';
			e[1] = (char)c;
			text_add(t, e, 2);
		} else if (c == '\n') {
			text_add(t, "\\n", 2);
		} else if (c == '\t') {
			text_add(t, "\\t", 2);
		} else if (c < 0x20 || c == 0x7F) {
			text_printf(t, "\\%03u", (unsigned)c);
		} else {
			text_add(t, s + i, 1);
		}
	}
	text_add(t, "\"", 1);
}

#define COMMENT_WIDTH 78 /* columns, with a tab counted as 8 */

/* One paragraph as comment lines of at most COMMENT_WIDTH columns, broken
 * at spaces (a longer word, such as a command, keeps its own line);
 * continuation lines are indented by hang. */
static void comment_paragraph(text *t, const char *indent, const char *hang,
                              const char *para)
{
	size_t room, used = 0, i = 0, n = strlen(para);
	size_t width = strlen(indent) + (strchr(indent, '\t') ? 7 : 0) + 3;
	int first = 1;

	room = COMMENT_WIDTH > width + 20 ? COMMENT_WIDTH - width : 20;
	text_printf(t, "%s--", indent);
	while (i < n) {
		size_t start, len;
		while (i < n && para[i] == ' ')
			i++;
		start = i;
		while (i < n && para[i] != ' ')
			i++;
		len = i - start;
		if (len == 0)
			break;
		if (used > 0 && used + 1 + len > room) {
			text_printf(t, "\n%s--%s", indent, hang);
			used = strlen(hang);
			first = 0;
		}
		text_add(t, " ", 1);
		text_add(t, para + start, len);
		used += len + 1;
	}
	(void)first;
	text_add(t, "\n", 1);
}

/* Each line of msg as Lua comments, with control characters made spaces
 * (a message may quote a value of the CSV). */
static void text_comment(text *t, const char *indent, const char *msg)
{
	char one[4096];
	const char *p = msg, *nl;

	while (*p != '\0') {
		size_t n;
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (n >= sizeof(one))
			n = sizeof(one) - 1;
		memcpy(one, p, n);
		one[n] = '\0';
		comment_paragraph(t, indent, "   ",
		                  xpt_one_line(one, one, sizeof(one)));
		p = nl != NULL ? nl + 1 : p + strlen(p);
	}
}

/* ---- per-row state ------------------------------------------------------- */

typedef struct row_state {
	int rejected;
	char *reasons;  /* errors, one per line */
	char *warnings; /* warnings of the accepted record, one per line */
	int row1;       /* the record is matrix row 1 */
} row_state;

typedef struct import_ctx {
	const char *path;
	lync_import *im;
	row_state *rows;
	int unattributed; /* an error no row could be blamed for */
	char *unattributed_message;
	int changed;
} import_ctx;

static int append_line(char **dst, const char *line)
{
	size_t old = *dst != NULL ? strlen(*dst) : 0, n = strlen(line);
	char *p = realloc(*dst, old + n + 2);

	if (p == NULL)
		return -1;
	if (old > 0)
		p[old++] = '\n';
	memcpy(p + old, line, n + 1);
	*dst = p;
	return 0;
}

/* ---- rendering ----------------------------------------------------------- */

static void render_value(text *t, const lync_value *v)
{
	size_t i;

	switch (v->kind) {
	case LYNC_STRING:
		text_quote(t, v->text);
		break;
	case LYNC_BOOLEAN:
		text_add(t, v->boolean ? "true" : "false", v->boolean ? 4 : 5);
		break;
	case LYNC_INTEGER:
		text_printf(t, "%lld", v->integer);
		break;
	case LYNC_LIST:
		text_add(t, "{ ", 2);
		for (i = 0; i < v->nitems; i++) {
			if (i > 0)
				text_add(t, ", ", 2);
			text_quote(t, v->items[i]);
		}
		text_add(t, v->nitems ? " }" : "}", v->nitems ? 2 : 1);
		break;
	default:
		break;
	}
}

/* One record; prefix is "\t" or "\t-- " (a rejected row). */
static void render_record(text *t, const lync_partner *p, const char *prefix,
                          int comments)
{
	int c;

	text_printf(t, "%s[", prefix);
	text_quote(t, p->identity);
	text_add(t, "] = {\n", 6);
	for (c = 1; c < LYNC_COLUMNS; c++) {
		const lync_value *v = &p->values[c];
		if (v->kind == LYNC_ABSENT || v->kind == LYNC_LOST)
			continue;
		if (v->kind == LYNC_LIST && v->nitems == 0)
			continue;
		text_printf(t, "%s\t%s = ", prefix,
		            lync_key_name((lync_column)c));
		render_value(t, v);
		text_add(t, ";", 1);
		if (comments && v->lync_default)
			text_printf(t,
			            " -- %s blank in the CSV: Lync's default",
			            lync_column_name((lync_column)c));
		text_add(t, "\n", 1);
	}
	text_printf(t, "%s};\n", prefix);
}

/* The table for validation: the rows not rejected so far. */
static void render_accepted(text *t, const import_ctx *c)
{
	size_t i;

	t->len = 0;
	text_add(t, "xmpp_partners = {\n", 18);
	for (i = 0; i < c->im->npartners; i++)
		if (!c->rows[i].rejected)
			render_record(t, &c->im->partners[i], "\t", 0);
	text_add(t, "}\n", 2);
}

/* ---- validation ---------------------------------------------------------- */

/* The accepted row of a partner, by its name as the core reports it. */
static long row_of(const import_ctx *c, const char *partner)
{
	size_t i;

	if (partner == NULL)
		return -1;
	for (i = 0; i < c->im->npartners; i++)
		if (c->rows[i].rejected != 1 && /* 2: rejected in this round */
		    strcmp(c->im->partners[i].identity, partner) == 0)
			return (long)i;
	return -1;
}

static lync_column column_of(const char *key)
{
	int col;

	for (col = 1; key != NULL && col < LYNC_COLUMNS; col++)
		if (strcmp(lync_key_name((lync_column)col), key) == 0)
			return (lync_column)col;
	return LYNC_COLUMNS;
}

/* "TlsNegotiation "NotSupported": " for the column behind a finding. */
static void column_context(char *buf, size_t size, const lync_partner *p,
                           const char *key, int row)
{
	lync_column col = column_of(key);
	const char *raw;

	buf[0] = '\0';
	if (row > 0) {
		snprintf(buf, size,
		         "TlsNegotiation \"%.40s\", SaslNegotiation \"%.40s\", "
		         "SupportDialbackNegotiation \"%.40s\": ",
		         p->values[LYNC_TLS].raw ? p->values[LYNC_TLS].raw : "",
		         p->values[LYNC_SASL].raw ? p->values[LYNC_SASL].raw
		                                  : "",
		         p->values[LYNC_DIALBACK].raw
		                 ? p->values[LYNC_DIALBACK].raw
		                 : "");
		return;
	}
	if (col == LYNC_COLUMNS)
		return;
	raw = p->values[col].raw;
	if (raw != NULL)
		snprintf(buf, size,
		         "column %s \"%.80s\": ", lync_column_name(col), raw);
	else
		snprintf(buf, size, "column %s: ", lync_column_name(col));
}

/* Build the rendered table; reject the rows with errors, or note the
 * warnings of the rows when it loads. */
static int validate_built(import_ctx *c, xpt_file *f)
{
	xpt_built b;
	size_t n, i;
	int loaded, rc = xpt_build(&b, f);

	if (rc != XPT_EXIT_OK)
		return rc;
	loaded = b.table != NULL;
	n = xp_builder_diag_count(b.builder);
	c->changed = 0;
	for (i = 0; i < n; i++) {
		const xp_diag *d = xp_builder_diag(b.builder, i);
		const char *msg = d->message != NULL ? d->message : "?";
		int error = d->severity == XP_SEV_ERROR;
		char context[512], *line;
		long r;
		row_state *rs;
		size_t need;

		r = row_of(c, d->partner);
		if (r < 0) {
			if (error && !c->unattributed) {
				c->unattributed = 1;
				c->unattributed_message =
				        malloc(strlen(msg) + 1);
				if (c->unattributed_message != NULL)
					strcpy(c->unattributed_message, msg);
			}
			continue;
		}
		rs = &c->rows[r];
		column_context(context, sizeof(context), &c->im->partners[r],
		               d->key, d->row);
		need = strlen(context) + strlen(msg) + 1;
		line = malloc(need);
		if (line == NULL)
			goto nomem;
		snprintf(line, need, "%s%s", context, msg);
		if (error) {
			/* (a table with errors never loads) */
			rc = append_line(&rs->reasons, line);
			rs->rejected = 2; /* counted below */
		} else if (loaded) {
			rc = append_line(&rs->warnings, line);
			if (d->row == 1)
				rs->row1 = 1;
		}
		free(line);
		if (rc != 0)
			goto nomem;
	}
	for (i = 0; i < c->im->npartners; i++) {
		if (c->rows[i].rejected == 2) {
			c->rows[i].rejected = 1;
			c->changed = 1;
		}
	}
	xpt_built_free(&b);
	return loaded ? XPT_EXIT_OK : XPT_EXIT_ERRORS;
nomem:
	xpt_built_free(&b);
	fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
	return XPT_EXIT_FAILURE;
}

/* Check the accepted rows again and again until the table loads. */
static int validate(import_ctx *c, const xpt_options *o)
{
	text t = {NULL, 0, 0, 0};
	size_t round;
	int rc = XPT_EXIT_FAILURE;

	for (round = 0; round <= c->im->npartners + 1; round++) {
		xpt_file f;
		render_accepted(&t, c);
		if (t.oom) {
			fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
			rc = XPT_EXIT_FAILURE;
			break;
		}
		rc = xpt_file_load_text(&f, c->path, t.p, t.len, o, 1);
		if (rc != XPT_EXIT_OK) {
			fprintf(stderr,
			        "%s: %s: the converted table cannot be "
			        "evaluated "
			        "(%s); please report this\n",
			        XPT_PROGRAM, c->path, xps_message(f.sb));
			xpt_file_free(&f);
			rc = XPT_EXIT_FAILURE;
			break;
		}
		rc = validate_built(c, &f);
		xpt_file_free(&f);
		if (rc == XPT_EXIT_OK || rc == XPT_EXIT_FAILURE)
			break;
		if (!c->changed) { /* errors no row can be blamed for */
			fprintf(stderr,
			        "%s: %s: the converted table is refused: %s\n",
			        XPT_PROGRAM, c->path,
			        c->unattributed_message
			                ? c->unattributed_message
			                : "(no reason given)");
			rc = XPT_EXIT_FAILURE;
			break;
		}
	}
	free(t.p);
	return rc;
}

/* ---- checks of the rows themselves --------------------------------------- */

static void reject(import_ctx *c, size_t i, const char *why)
{
	c->rows[i].rejected = 1;
	if (append_line(&c->rows[i].reasons, why) != 0)
		c->rows[i].reasons = NULL; /* the comment goes without it */
}

static void pre_checks(import_ctx *c)
{
	size_t i, j;
	char why[512];

	for (i = 0; i < c->im->npartners; i++) {
		const lync_partner *p = &c->im->partners[i];
		if (p->problem != NULL) {
			reject(c, i, p->problem);
			continue;
		}
		for (j = 0; j < i; j++) {
			if (!c->rows[j].rejected &&
			    strcmp(c->im->partners[j].identity, p->identity) ==
			            0) {
				snprintf(
				        why, sizeof(why),
				        "Identity %.300s is listed twice in "
				        "the "
				        "CSV (first at line %lu); only the "
				        "first "
				        "row is kept",
				        p->identity,
				        (unsigned long)c->im->partners[j].line);
				reject(c, i, why);
				break;
			}
		}
	}
}

/* ---- output -------------------------------------------------------------- */

static size_t count_rejected(const import_ctx *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->im->npartners; i++)
		n += c->rows[i].rejected != 0;
	return n;
}

static void render_header(text *t, const import_ctx *c)
{
	const lcsv_file *csv = c->im->csv;
	size_t i, row1 = 0, rejected = count_rejected(c);
	char para[1024], path[300];

	xpt_one_line(c->path, path, sizeof(path)); /* stays in the comment */
	for (i = 0; i < c->im->npartners; i++)
		row1 += c->rows[i].row1;
	snprintf(para, sizeof(para),
	         "Partner file for xmpp-partners %s, imported from %.300s "
	         "(Get-CsXmppAllowedPartner | Export-Csv, %lu row%s, %s).  "
	         "Only the partners below may federate "
	         "(xmpp_partners_default = \"deny\", the default, as in "
	         "Lync).  Check the file with: xmpp-partners check FILE",
	         XP_VERSION, path, (unsigned long)c->im->npartners,
	         c->im->npartners == 1 ? "" : "s", csv->encoding);
	comment_paragraph(t, "", "", para);
	if (row1 > 0) {
		snprintf(para, sizeof(para),
		         "%lu partner%s keep%s Lync's defaults TlsNegotiation "
		         "Required, SaslNegotiation Required, "
		         "SupportDialbackNegotiation True.  That is matrix row "
		         "1, "
		         "which loads with a warning: dialback is never used, "
		         "since SASL EXTERNAL over TLS is mandatory.  Setting "
		         "dialback = false (matrix row 2) behaves the same "
		         "without the warning.",
		         (unsigned long)row1, row1 == 1 ? "" : "s",
		         row1 == 1 ? "s" : "");
		text_add(t, "--\n", 3);
		comment_paragraph(t, "", "", para);
	}
	if (c->im->lost_lists > 0) {
		snprintf(
		        para, sizeof(para),
		        "WARNING: Export-Csv wrote AdditionalDomains as a .NET "
		        "type name for %d partner%s, so their additional "
		        "domains are missing below.  Export again with:",
		        c->im->lost_lists, c->im->lost_lists == 1 ? "" : "s");
		text_add(t, "--\n", 3);
		comment_paragraph(t, "", "", para);
		text_add(t, "--   " LYNC_EXPORT_COMMAND "\n",
		         strlen("--   " LYNC_EXPORT_COMMAND "\n"));
	}
	if (rejected > 0) {
		snprintf(para, sizeof(para),
		         "%lu row%s could not be imported: %s commented out "
		         "below, with the reasons.",
		         (unsigned long)rejected, rejected == 1 ? "" : "s",
		         rejected == 1 ? "it is" : "they are");
		text_add(t, "--\n", 3);
		comment_paragraph(t, "", "", para);
	}
}

static void render_output(text *t, const import_ctx *c)
{
	size_t i;

	render_header(t, c);
	if (c->im->npartners == 0) {
		text_add(t, "xmpp_partners = {}\n", 19);
		return;
	}
	text_add(t, "xmpp_partners = {\n", 18);
	for (i = 0; i < c->im->npartners; i++) {
		const lync_partner *p = &c->im->partners[i];
		const row_state *rs = &c->rows[i];
		char head[256];
		if (i > 0)
			text_add(t, "\n", 1);
		snprintf(head, sizeof(head), "CSV line %lu%s",
		         (unsigned long)p->line,
		         rs->rejected ? ": REJECTED" : "");
		text_comment(t, "\t", head);
		if (rs->rejected && rs->reasons != NULL)
			text_comment(t, "\t", rs->reasons);
		if (!rs->rejected && rs->warnings != NULL)
			text_comment(t, "\t", rs->warnings);
		if (p->values[LYNC_ADDITIONAL_DOMAINS].kind == LYNC_LOST) {
			char lost[512];
			snprintf(lost, sizeof(lost),
			         "additional_domains: missing; the CSV holds "
			         "\"%.200s\" instead of the domains (export "
			         "again, see the top of the file)",
			         p->values[LYNC_ADDITIONAL_DOMAINS].raw);
			text_comment(t, "\t", lost);
		}
		render_record(t, p, rs->rejected ? "\t-- " : "\t", 1);
	}
	text_add(t, "}\n", 2);
}

/* ---- messages on stderr
 * ------------------------------------------------------ */

/* One message for all rows whose AdditionalDomains is a type name. */
static void report_lost(const import_ctx *c)
{
	const lync_import *im = c->im;
	size_t i, shown = 0;
	const char *example = "";

	fprintf(stderr,
	        "%s: %s: error: AdditionalDomains holds a .NET type "
	        "name, not domains, on line%s ",
	        XPT_PROGRAM, c->path, im->lost_lists == 1 ? "" : "s");
	for (i = 0; i < im->npartners; i++) {
		const lync_value *v =
		        &im->partners[i].values[LYNC_ADDITIONAL_DOMAINS];
		if (v->kind != LYNC_LOST)
			continue;
		example = v->raw;
		if (shown < 10)
			fprintf(stderr, "%s%lu", shown ? ", " : "",
			        (unsigned long)im->partners[i].line);
		else if (shown == 10)
			fprintf(stderr, ", ...");
		shown++;
	}
	fprintf(stderr,
	        " (\"%s\"): Export-Csv cannot write lists, so those partners "
	        "are imported without their additional domains; export "
	        "again with:\n  %s\n",
	        example, LYNC_EXPORT_COMMAND);
}

static void report(const import_ctx *c)
{
	const lync_import *im = c->im;
	size_t i, rejected = count_rejected(c);
	char one[4096];
	int col;

	if (im->csv->type_name != NULL &&
	    strstr(im->csv->type_name, "XmppAllowedPartner") == NULL)
		fprintf(stderr,
		        "%s: %s: note: the #TYPE line names %s: is this an "
		        "export of Get-CsXmppAllowedPartner?\n",
		        XPT_PROGRAM, c->path,
		        xpt_one_line(im->csv->type_name, one, sizeof(one)));
	for (col = 1; col < LYNC_COLUMNS; col++)
		if (im->missing[col])
			fprintf(stderr,
			        "%s: %s: note: the CSV has no %s column: %s\n",
			        XPT_PROGRAM, c->path,
			        lync_column_name((lync_column)col),
			        col == LYNC_TLS || col == LYNC_SASL ||
			                        col == LYNC_DIALBACK
			                ? "Lync's default is used"
			                : "the partners get xmpp-partners' "
			                  "default");
	for (i = 0; i < im->nunknown; i++)
		fprintf(stderr, "%s: %s: note: column %s is not used\n",
		        XPT_PROGRAM, c->path,
		        xpt_one_line(im->unknown[i], one, sizeof(one)));
	for (i = 0; i < im->npartners; i++) {
		const lync_partner *p = &im->partners[i];
		const char *r = c->rows[i].reasons, *nl;
		if (!c->rows[i].rejected)
			continue;
		while (r != NULL && *r != '\0') {
			size_t n;
			nl = strchr(r, '\n');
			n = nl ? (size_t)(nl - r) : strlen(r);
			if (n >= sizeof(one))
				n = sizeof(one) - 1;
			memcpy(one, r, n);
			one[n] = '\0';
			fprintf(stderr,
			        "%s: %s:%lu: error: row rejected (Identity "
			        "'%.200s'): %s\n",
			        XPT_PROGRAM, c->path, (unsigned long)p->line,
			        p->identity,
			        xpt_one_line(one, one, sizeof(one)));
			r = nl ? nl + 1 : r + strlen(r);
		}
	}
	if (im->lost_lists > 0)
		report_lost(c);
	fprintf(stderr, "%s: %s: %lu partner%s imported, %lu row%s rejected\n",
	        XPT_PROGRAM, c->path, (unsigned long)(im->npartners - rejected),
	        im->npartners - rejected == 1 ? "" : "s",
	        (unsigned long)rejected, rejected == 1 ? "" : "s");
}

/* ---- the command --------------------------------------------------------- */

static void free_rows(import_ctx *c)
{
	size_t i;

	if (c->rows == NULL)
		return;
	for (i = 0; i < c->im->npartners; i++) {
		free(c->rows[i].reasons);
		free(c->rows[i].warnings);
	}
	free(c->rows);
}

static int import_rows(import_ctx *c, const xpt_options *o)
{
	text out = {NULL, 0, 0, 0};
	int rc = XPT_EXIT_OK;

	c->rows = calloc(c->im->npartners ? c->im->npartners : 1,
	                 sizeof(*c->rows));
	if (c->rows == NULL) {
		fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
		return XPT_EXIT_FAILURE;
	}
	pre_checks(c);
	if (c->im->npartners > 0) {
		rc = validate(c, o);
		if (rc == XPT_EXIT_FAILURE)
			return rc;
	}
	render_output(&out, c);
	if (out.oom) {
		free(out.p);
		fprintf(stderr, "%s: out of memory\n", XPT_PROGRAM);
		return XPT_EXIT_FAILURE;
	}
	fwrite(out.p, 1, out.len, stdout);
	free(out.p);
	report(c);
	if (c->im->npartners == 0)
		fprintf(stderr,
		        "%s: %s: note: the CSV lists no partner (a header "
		        "only)\n",
		        XPT_PROGRAM, c->path);
	return count_rejected(c) > 0 || c->im->lost_lists > 0 ? XPT_EXIT_ERRORS
	                                                      : XPT_EXIT_OK;
}

int xpt_cmd_import_lync(const char *path, const xpt_options *o)
{
	import_ctx c;
	char *data, err[1024];
	size_t len;
	int rc;

	memset(&c, 0, sizeof(c));
	c.path = path;
	rc = xpt_read_file(path, XPS_DEFAULT_FILE_SIZE, &data, &len);
	if (rc != 0) {
		if (rc == EFBIG)
			fprintf(stderr,
			        "%s: cannot read %s: larger than %lu MiB: not "
			        "an "
			        "export of Get-CsXmppAllowedPartner?\n",
			        XPT_PROGRAM, path,
			        (unsigned long)(XPS_DEFAULT_FILE_SIZE >> 20));
		else
			fprintf(stderr, "%s: cannot read %s: %s\n", XPT_PROGRAM,
			        path, strerror(rc));
		return XPT_EXIT_FAILURE;
	}
	err[0] = '\0';
	rc = lync_import_parse(data, len, &c.im, err, sizeof(err));
	free(data);
	if (rc != LCSV_OK) {
		char one[1024];
		fprintf(stderr, "%s: %s: %s\n", XPT_PROGRAM, path,
		        rc == LCSV_ENOMEM
		                ? "out of memory"
		                : xpt_one_line(err, one, sizeof(one)));
		return XPT_EXIT_FAILURE;
	}
	rc = import_rows(&c, o);
	free_rows(&c);
	free(c.unattributed_message);
	lync_import_free(c.im);
	return rc;
}
