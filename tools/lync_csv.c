/*
 * lync_csv.c: PowerShell's CSV dialect, and the columns of
 * Get-CsXmppAllowedPartner mapped to partner-record keys.  See lync_csv.h.
 *
 * The parser works on a decoded UTF-8 copy of the input and grows every
 * buffer as needed: no fixed-size field or line buffers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lync_csv.h"

#define MAX_FIELDS 4096 /* per row; Export-Csv writes about a dozen */

/* ---- growable byte buffer ---------------------------------------------- */

typedef struct buf {
	char *p;
	size_t len, cap;
} buf;

static int buf_put(buf *b, const char *s, size_t n)
{
	if (n > (size_t)-1 - b->len - 1)
		return LCSV_ENOMEM;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;
		while (cap < b->len + n + 1)
			cap = cap > (size_t)-1 / 2 ? b->len + n + 1 : 2 * cap;
		p = realloc(b->p, cap);
		if (p == NULL)
			return LCSV_ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return LCSV_OK;
}

static int buf_putc(buf *b, char c)
{
	return buf_put(b, &c, 1);
}

static int buf_put_utf8(buf *b, unsigned long cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		return buf_put(b, u, 1);
	}
	if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		return buf_put(b, u, 2);
	}
	if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		return buf_put(b, u, 3);
	}
	u[0] = (char)(0xF0 | (cp >> 18));
	u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	u[3] = (char)(0x80 | (cp & 0x3F));
	return buf_put(b, u, 4);
}

static int error(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && size > 0) {
		va_start(ap, fmt);
		vsnprintf(err, size, fmt, ap);
		va_end(ap);
	}
	return LCSV_EFORMAT;
}

static int nomem(char *err, size_t size)
{
	if (err != NULL && size > 0)
		snprintf(err, size, "not enough memory");
	return LCSV_ENOMEM;
}

/* ---- decoding ----------------------------------------------------------- */

/* Length of a valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned long cp;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		len = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		len = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	cp = p[0] & (0x3F >> (len - 1));
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

static int is_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		k = utf8_seq(p + i, n - i);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* Windows-1252 0x80-0x9F; 0 where the code page has a hole. */
static const unsigned short cp1252_high[32] = {
        0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
        0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

static int from_cp1252(const unsigned char *p, size_t n, buf *out)
{
	size_t i;
	int rc = LCSV_OK;

	for (i = 0; i < n && rc == LCSV_OK; i++) {
		unsigned long cp = p[i];
		if (cp >= 0x80 && cp <= 0x9F)
			cp = cp1252_high[cp - 0x80] ? cp1252_high[cp - 0x80]
			                            : 0xFFFD;
		rc = buf_put_utf8(out, cp);
	}
	return rc;
}

static int from_utf16(const unsigned char *p, size_t n, int big_endian,
                      buf *out)
{
	size_t i;
	int rc = LCSV_OK;

	for (i = 0; i + 1 < n && rc == LCSV_OK; i += 2) {
		unsigned long u =
		        big_endian ? (unsigned long)(p[i] << 8 | p[i + 1])
		                   : (unsigned long)(p[i + 1] << 8 | p[i]);
		if (u >= 0xD800 && u <= 0xDBFF && i + 3 < n) {
			unsigned long lo =
			        big_endian ? (unsigned long)(p[i + 2] << 8 |
			                                     p[i + 3])
			                   : (unsigned long)(p[i + 3] << 8 |
			                                     p[i + 2]);
			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				u = 0x10000 + ((u - 0xD800) << 10) +
				    (lo - 0xDC00);
				i += 2;
			} else {
				u = 0xFFFD;
			}
		} else if (u >= 0xD800 && u <= 0xDFFF) {
			u = 0xFFFD;
		}
		rc = buf_put_utf8(out, u);
	}
	return rc;
}

/* The input as UTF-8 without a BOM, checked to be text. */
static int decode(const char *data, size_t len, buf *out, const char **encoding,
                  char *err, size_t errsize)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t i, line = 1;
	int rc;

	if (len >= 2 && p[0] == 0xFF && p[1] == 0xFE) {
		*encoding = "UTF-16LE";
		rc = from_utf16(p + 2, len - 2, 0, out);
	} else if (len >= 2 && p[0] == 0xFE && p[1] == 0xFF) {
		*encoding = "UTF-16BE";
		rc = from_utf16(p + 2, len - 2, 1, out);
	} else if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
		*encoding = "UTF-8 with BOM";
		rc = buf_put(out, data + 3, len - 3);
	} else if (is_utf8(p, len)) {
		*encoding = "UTF-8";
		rc = buf_put(out, data, len);
	} else {
		*encoding = "Windows-1252";
		rc = from_cp1252(p, len, out);
	}
	if (rc != LCSV_OK)
		return nomem(err, errsize);
	if (out->p == NULL && buf_put(out, "", 0) != LCSV_OK)
		return nomem(err, errsize);
	/* Text has no NULs or control characters but tab and line ends. */
	for (i = 0; i < out->len; i++) {
		unsigned char c = (unsigned char)out->p[i];
		if (c == '\n')
			line++;
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
		    c == 0x7F)
			return error(
			        err, errsize,
			        "line %lu: byte 0x%02x is not text: this is "
			        "not a CSV file (binary data? a UTF-16 file "
			        "without byte-order mark?); export with: %s",
			        (unsigned long)line, c, LYNC_EXPORT_COMMAND);
	}
	return LCSV_OK;
}

/* ---- the CSV layer ------------------------------------------------------ */

typedef struct parser {
	const char *p;
	size_t n, pos, line;
	char *err;
	size_t errsize;
} parser;

static void row_clear(lcsv_row *r)
{
	size_t i;

	for (i = 0; i < r->nfields; i++)
		free(r->fields[i].text);
	free(r->fields);
	r->fields = NULL;
	r->nfields = 0;
}

void lcsv_free(lcsv_file *f)
{
	size_t i;

	if (f == NULL)
		return;
	free(f->type_name);
	row_clear(&f->header);
	for (i = 0; i < f->nrows; i++)
		row_clear(&f->rows[i]);
	free(f->rows);
	free(f);
}

static int at_eol(const parser *ps)
{
	return ps->pos >= ps->n || ps->p[ps->pos] == '\n' ||
	       (ps->p[ps->pos] == '\r' && ps->pos + 1 < ps->n &&
	        ps->p[ps->pos + 1] == '\n');
}

static void skip_eol(parser *ps)
{
	if (ps->pos < ps->n && ps->p[ps->pos] == '\r')
		ps->pos++;
	if (ps->pos < ps->n && ps->p[ps->pos] == '\n') {
		ps->pos++;
		ps->line++;
	}
}

static int quoted_field(parser *ps, buf *b)
{
	size_t start = ps->line;

	ps->pos++; /* the opening quote */
	for (;;) {
		char c;
		if (ps->pos >= ps->n)
			return error(
			        ps->err, ps->errsize,
			        "line %lu: a quoted field that starts here "
			        "is never closed (a missing \")",
			        (unsigned long)start);
		c = ps->p[ps->pos];
		if (c == '"') {
			if (ps->pos + 1 < ps->n && ps->p[ps->pos + 1] == '"') {
				if (buf_putc(b, '"') != LCSV_OK)
					return LCSV_ENOMEM;
				ps->pos += 2;
				continue;
			}
			ps->pos++;
			break;
		}
		if (c == '\r' && ps->pos + 1 < ps->n &&
		    ps->p[ps->pos + 1] == '\n') {
			ps->pos++; /* CRLF inside a field becomes LF */
			continue;
		}
		if (c == '\n')
			ps->line++;
		if (buf_putc(b, c) != LCSV_OK)
			return LCSV_ENOMEM;
		ps->pos++;
	}
	while (ps->pos < ps->n &&
	       (ps->p[ps->pos] == ' ' || ps->p[ps->pos] == '\t'))
		ps->pos++;
	if (ps->pos < ps->n && ps->p[ps->pos] != ',' && !at_eol(ps))
		return error(ps->err, ps->errsize,
		             "line %lu: text follows the closing quote of a "
		             "field; a quote inside a field is written as two "
		             "(\"\")",
		             (unsigned long)ps->line);
	return LCSV_OK;
}

static int plain_field(parser *ps, buf *b)
{
	size_t start = ps->pos;

	while (ps->pos < ps->n && ps->p[ps->pos] != ',' && !at_eol(ps))
		ps->pos++;
	return buf_put(b, ps->p + start, ps->pos - start);
}

static int add_field(lcsv_row *r, size_t *cap, buf *b, int quoted)
{
	lcsv_field *f;

	if (r->nfields == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		lcsv_field *grown = realloc(r->fields, ncap * sizeof(*grown));
		if (grown == NULL)
			return LCSV_ENOMEM;
		r->fields = grown;
		*cap = ncap;
	}
	if (b->p == NULL && buf_put(b, "", 0) != LCSV_OK)
		return LCSV_ENOMEM;
	f = &r->fields[r->nfields++];
	f->text = b->p;
	f->len = b->len;
	f->quoted = quoted;
	memset(b, 0, sizeof(*b));
	return LCSV_OK;
}

/* One record (which may span lines) into r. */
static int parse_row(parser *ps, lcsv_row *r)
{
	size_t cap = 0;
	buf b = {NULL, 0, 0};
	int rc;

	r->line = ps->line;
	for (;;) {
		int quoted = ps->pos < ps->n && ps->p[ps->pos] == '"';
		rc = quoted ? quoted_field(ps, &b) : plain_field(ps, &b);
		if (rc == LCSV_OK && r->nfields >= MAX_FIELDS)
			rc = error(ps->err, ps->errsize,
			           "line %lu: more than %d fields in one row",
			           (unsigned long)r->line, MAX_FIELDS);
		if (rc == LCSV_OK)
			rc = add_field(r, &cap, &b, quoted);
		if (rc != LCSV_OK) {
			free(b.p);
			if (rc == LCSV_ENOMEM)
				nomem(ps->err, ps->errsize);
			return rc;
		}
		if (ps->pos < ps->n && ps->p[ps->pos] == ',') {
			ps->pos++;
			continue;
		}
		skip_eol(ps);
		return LCSV_OK;
	}
}

static int is_blank_line(const parser *ps)
{
	return at_eol(ps);
}

static int starts_with_ci(const char *s, size_t n, const char *prefix)
{
	size_t i, k = strlen(prefix);

	if (n < k)
		return 0;
	for (i = 0; i < k; i++) {
		char a = s[i], c = prefix[i];
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (a != c)
			return 0;
	}
	return 1;
}

/* "#TYPE Some.Type" on the first line. */
static int type_line(parser *ps, lcsv_file *f)
{
	size_t start, end;
	buf b = {NULL, 0, 0};

	if (!starts_with_ci(ps->p, ps->n, "#TYPE"))
		return LCSV_OK;
	ps->pos = 5;
	while (ps->pos < ps->n &&
	       (ps->p[ps->pos] == ' ' || ps->p[ps->pos] == '\t'))
		ps->pos++;
	start = ps->pos;
	while (!at_eol(ps))
		ps->pos++;
	end = ps->pos;
	while (end > start && (ps->p[end - 1] == ' ' || ps->p[end - 1] == '\t'))
		end--;
	if (buf_put(&b, ps->p + start, end - start) != LCSV_OK)
		return nomem(ps->err, ps->errsize);
	f->type_name = b.p;
	skip_eol(ps);
	return LCSV_OK;
}

static int add_row(lcsv_file *f, size_t *cap, const lcsv_row *r)
{
	if (f->nrows == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		lcsv_row *grown = realloc(f->rows, ncap * sizeof(*grown));
		if (grown == NULL)
			return LCSV_ENOMEM;
		f->rows = grown;
		*cap = ncap;
	}
	f->rows[f->nrows++] = *r;
	return LCSV_OK;
}

static int parse_text(parser *ps, lcsv_file *f)
{
	size_t cap = 0;
	int rc = type_line(ps, f), have_header = 0;

	while (rc == LCSV_OK && ps->pos < ps->n) {
		lcsv_row r;
		if (is_blank_line(ps)) {
			skip_eol(ps);
			continue;
		}
		memset(&r, 0, sizeof(r));
		rc = parse_row(ps, &r);
		if (rc != LCSV_OK) {
			row_clear(&r);
			break;
		}
		if (!have_header) {
			f->header = r;
			have_header = 1;
		} else if (add_row(f, &cap, &r) != LCSV_OK) {
			row_clear(&r);
			rc = nomem(ps->err, ps->errsize);
		}
	}
	if (rc == LCSV_OK && !have_header)
		rc = error(ps->err, ps->errsize,
		           "the file is empty%s; export the partners with: %s",
		           f->type_name != NULL ? " after its #TYPE line" : "",
		           LYNC_EXPORT_COMMAND);
	return rc;
}

int lcsv_parse(const char *data, size_t len, lcsv_file **out, char *err,
               size_t errsize)
{
	buf text = {NULL, 0, 0};
	parser ps;
	lcsv_file *f;
	int rc;

	if (out == NULL || (data == NULL && len > 0))
		return LCSV_EINVAL;
	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return nomem(err, errsize);
	rc = decode(data != NULL ? data : "", len, &text, &f->encoding, err,
	            errsize);
	if (rc == LCSV_OK) {
		ps.p = text.p;
		ps.n = text.len;
		ps.pos = 0;
		ps.line = 1;
		ps.err = err;
		ps.errsize = errsize;
		rc = parse_text(&ps, f);
	}
	free(text.p);
	if (rc != LCSV_OK) {
		lcsv_free(f);
		return rc;
	}
	*out = f;
	return LCSV_OK;
}

/* ---- the Lync layer ----------------------------------------------------- */

static const struct {
	const char *column;
	const char *key;
} columns[LYNC_COLUMNS] = {
        {"Identity", ""},
        {"Description", "description"},
        {"AdditionalDomains", "additional_domains"},
        {"PartnerType", "type"},
        {"TlsNegotiation", "tls"},
        {"SaslNegotiation", "sasl"},
        {"SupportDialbackNegotiation", "dialback"},
        {"ProxyFqdn", "proxy"},
        {"ConnectionLimit", "connection_limit"},
        {"EnableKeepAlive", "keepalive"},
};

const char *lync_column_name(lync_column c)
{
	return (unsigned)c < LYNC_COLUMNS ? columns[c].column : "?";
}

const char *lync_key_name(lync_column c)
{
	return (unsigned)c < LYNC_COLUMNS ? columns[c].key : "?";
}

static int equal_ci(const char *a, const char *b)
{
	return strlen(a) == strlen(b) && starts_with_ci(a, strlen(a), b);
}

/* Trim spaces and tabs in place; returns s. */
static char *trim(char *s)
{
	size_t n = strlen(s), start = 0;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	                 s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	while (s[start] == ' ' || s[start] == '\t' || s[start] == '\n' ||
	       s[start] == '\r')
		start++;
	if (start > 0)
		memmove(s, s + start, n - start + 1);
	return s;
}

static void value_clear(lync_value *v)
{
	size_t i;

	for (i = 0; i < v->nitems; i++)
		free(v->items[i]);
	free(v->items);
	memset(v, 0, sizeof(*v));
}

void lync_import_free(lync_import *im)
{
	size_t i, c;

	if (im == NULL)
		return;
	for (i = 0; i < im->npartners; i++)
		for (c = 0; c < LYNC_COLUMNS; c++)
			value_clear(&im->partners[i].values[c]);
	free(im->partners);
	for (i = 0; i < im->nunknown; i++)
		free(im->unknown[i]);
	free(im->unknown);
	lcsv_free(im->csv);
	free(im);
}

/* Column index in the header for each of ours, or -1. */
static int map_header(lync_import *im, long *where, char *err, size_t errsize)
{
	const lcsv_row *h = &im->csv->header;
	size_t i;
	int c, known = 0;

	for (c = 0; c < LYNC_COLUMNS; c++)
		where[c] = -1;
	for (i = 0; i < h->nfields; i++) {
		char *name = trim(h->fields[i].text);
		for (c = 0; c < LYNC_COLUMNS; c++)
			if (equal_ci(name, columns[c].column))
				break;
		if (c == LYNC_COLUMNS) {
			char **grown =
			        realloc(im->unknown,
			                (im->nunknown + 1) * sizeof(*grown));
			char *copy =
			        grown != NULL ? malloc(strlen(name) + 1) : NULL;
			if (grown != NULL)
				im->unknown = grown;
			if (copy == NULL)
				return nomem(err, errsize);
			strcpy(copy, name);
			im->unknown[im->nunknown++] = copy;
			continue;
		}
		if (where[c] >= 0)
			return error(err, errsize,
			             "line %lu: the header names the column %s "
			             "twice (columns %ld and %lu)",
			             (unsigned long)h->line, columns[c].column,
			             where[c] + 1, (unsigned long)i + 1);
		where[c] = (long)i;
		known++;
	}
	if (where[LYNC_IDENTITY] < 0)
		return error(
		        err, errsize,
		        "line %lu: the header has no Identity column%s, so "
		        "the partners cannot be named; export them with: %s",
		        (unsigned long)h->line,
		        known ? ""
		              : " (nor any other column of "
		                "Get-CsXmppAllowedPartner: is this the "
		                "right file?)",
		        LYNC_EXPORT_COMMAND);
	for (c = 0; c < LYNC_COLUMNS; c++)
		im->missing[c] = where[c] < 0;
	return LCSV_OK;
}

/* Export-Csv writes a list property as its .NET type name. */
static int is_type_name(const char *s)
{
	return strchr(s, '`') != NULL || strchr(s, '[') != NULL ||
	       strncmp(s, "System.Collections", 18) == 0 ||
	       strncmp(s, "Microsoft.Rtc.", 14) == 0;
}

static int set_text(lync_value *v, const char *text, int translated)
{
	v->kind = LYNC_STRING;
	v->text = text;
	v->translated = translated;
	return LCSV_OK;
}

static int map_enum(lync_value *v, const char *raw, const char *const *lync,
                    const char *const *ours)
{
	size_t i;

	for (i = 0; lync[i] != NULL; i++)
		if (equal_ci(raw, lync[i]))
			return set_text(v, ours[i], 1);
	return set_text(v, raw, 0);
}

static int map_boolean(lync_value *v, const char *raw)
{
	if (equal_ci(raw, "true") || equal_ci(raw, "$true")) {
		v->kind = LYNC_BOOLEAN;
		v->boolean = 1;
	} else if (equal_ci(raw, "false") || equal_ci(raw, "$false")) {
		v->kind = LYNC_BOOLEAN;
		v->boolean = 0;
	} else {
		set_text(v, raw, 0);
	}
	return LCSV_OK;
}

static int map_integer(lync_value *v, const char *raw)
{
	long long n = 0;
	size_t i;

	for (i = 0; raw[i] != '\0'; i++) {
		if (raw[i] < '0' || raw[i] > '9' || n > 100000000000LL)
			return set_text(v, raw, 0);
		n = 10 * n + (raw[i] - '0');
	}
	v->kind = LYNC_INTEGER;
	v->integer = n;
	return LCSV_OK;
}

static int is_list_separator(char c)
{
	return c == ';' || c == ',' || c == ' ' || c == '\t' || c == '\n' ||
	       c == '\r';
}

/* "a.example;b.example", "a.example, b.example", "{a.example b.example}" */
static int map_list(lync_value *v, char *raw)
{
	size_t n = strlen(raw), i = 0, count = 0;

	if (is_type_name(raw)) {
		v->kind = LYNC_LOST;
		v->text = raw;
		return LCSV_OK;
	}
	if (n >= 2 && raw[0] == '{' && raw[n - 1] == '}') {
		raw[n - 1] = ' ';
		raw[0] = ' ';
	}
	v->kind = LYNC_LIST;
	v->text = raw;
	while (i < n) {
		size_t start;
		char **grown, *item;
		while (i < n && is_list_separator(raw[i]))
			i++;
		if (i >= n)
			break;
		start = i;
		while (i < n && !is_list_separator(raw[i]))
			i++;
		grown = realloc(v->items, (count + 1) * sizeof(*grown));
		if (grown == NULL)
			return LCSV_ENOMEM;
		v->items = grown;
		item = malloc(i - start + 1);
		if (item == NULL)
			return LCSV_ENOMEM;
		memcpy(item, raw + start, i - start);
		item[i - start] = '\0';
		v->items[count++] = item;
		v->nitems = count;
	}
	return LCSV_OK;
}

static const char *const lync_levels[] = {"Required", "Optional",
                                          "NotSupported", NULL};
static const char *const our_levels[] = {"required", "optional",
                                         "not_supported", NULL};
static const char *const lync_types[] = {"Federated", "PublicVerified",
                                         "PublicUnverified", NULL};
static const char *const our_types[] = {"federated", "public_verified",
                                        "public_unverified", NULL};

/* Lync's documented defaults for a blank field or a missing column. */
static void lync_default(lync_value *v, lync_column c)
{
	if (c == LYNC_TLS || c == LYNC_SASL) {
		set_text(v, "required", 1);
		v->lync_default = 1;
	} else if (c == LYNC_DIALBACK) {
		v->kind = LYNC_BOOLEAN;
		v->boolean = 1;
		v->lync_default = 1;
	}
}

static int map_value(lync_value *v, lync_column c, char *raw)
{
	v->raw = raw;
	if (raw == NULL || raw[0] == '\0') {
		lync_default(v, c);
		return LCSV_OK;
	}
	switch (c) {
	case LYNC_ADDITIONAL_DOMAINS:
		return map_list(v, raw);
	case LYNC_PARTNER_TYPE:
		return map_enum(v, raw, lync_types, our_types);
	case LYNC_TLS:
	case LYNC_SASL:
		return map_enum(v, raw, lync_levels, our_levels);
	case LYNC_DIALBACK:
	case LYNC_ENABLE_KEEPALIVE:
		return map_boolean(v, raw);
	case LYNC_CONNECTION_LIMIT:
		return map_integer(v, raw);
	default:
		return set_text(v, raw, 0);
	}
}

static int map_row(lync_import *im, const long *where, lcsv_row *r,
                   lync_partner *p)
{
	size_t nheader = im->csv->header.nfields;
	int c, rc;

	p->line = r->line;
	p->identity = "";
	if ((size_t)where[LYNC_IDENTITY] < r->nfields)
		p->identity = trim(r->fields[where[LYNC_IDENTITY]].text);
	if (r->nfields != nheader) {
		p->problem =
		        r->nfields < nheader
		                ? "the row has fewer fields than the header "
		                  "(a line broken outside quotes?)"
		                : "the row has more fields than the header "
		                  "(a comma outside quotes?)";
		return LCSV_OK;
	}
	if (p->identity[0] == '\0') {
		p->problem = "the Identity field is empty, so the partner has "
		             "no domain";
		return LCSV_OK;
	}
	for (c = 1; c < LYNC_COLUMNS; c++) {
		char *raw =
		        where[c] >= 0 ? trim(r->fields[where[c]].text) : NULL;
		rc = map_value(&p->values[c], (lync_column)c, raw);
		if (rc != LCSV_OK)
			return rc;
	}
	if (p->values[LYNC_ADDITIONAL_DOMAINS].kind == LYNC_LOST)
		im->lost_lists++;
	return LCSV_OK;
}

int lync_import_parse(const char *data, size_t len, lync_import **out,
                      char *err, size_t errsize)
{
	lync_import *im;
	long where[LYNC_COLUMNS];
	size_t i;
	int rc;

	if (out == NULL)
		return LCSV_EINVAL;
	*out = NULL;
	im = calloc(1, sizeof(*im));
	if (im == NULL)
		return nomem(err, errsize);
	rc = lcsv_parse(data, len, &im->csv, err, errsize);
	if (rc == LCSV_OK)
		rc = map_header(im, where, err, errsize);
	if (rc == LCSV_OK && im->csv->nrows > 0) {
		im->partners = calloc(im->csv->nrows, sizeof(*im->partners));
		if (im->partners == NULL)
			rc = nomem(err, errsize);
	}
	for (i = 0; rc == LCSV_OK && i < im->csv->nrows; i++) {
		im->npartners = i + 1; /* so that free sees what is mapped */
		rc = map_row(im, where, &im->csv->rows[i], &im->partners[i]);
		if (rc == LCSV_ENOMEM)
			nomem(err, errsize);
	}
	if (rc != LCSV_OK) {
		lync_import_free(im);
		return rc;
	}
	*out = im;
	return LCSV_OK;
}
