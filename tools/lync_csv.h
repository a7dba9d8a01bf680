/*
 * lync_csv.h: read the CSV that Lync Server 2013 / Skype for Business
 * Server 2015 write with
 *
 *   Get-CsXmppAllowedPartner | Export-Csv partners.csv
 *
 * and map each row to the partner-record vocabulary of xmpp-partners.
 *
 * Two layers, both pure C (no Lua, no I/O) so that they can be fuzzed:
 *
 *  - lcsv_parse: PowerShell's CSV dialect: an optional "#TYPE ..." first
 *    line, a header line, every field in double quotes with "" for a quote
 *    (unquoted fields are accepted too: PowerShell writes $null as
 *    nothing), fields that hold commas and line breaks, CRLF or LF line
 *    ends, UTF-8 with or without a byte-order mark; UTF-16 with a BOM and
 *    Windows-1252 text (-Encoding Unicode / Default) are converted.
 *
 *  - lync_map: the columns Identity, AdditionalDomains, ConnectionLimit,
 *    Description, EnableKeepAlive, PartnerType, ProxyFqdn,
 *    SaslNegotiation, SupportDialbackNegotiation, TlsNegotiation (in any
 *    order, names compared without case) to our keys.  Values it knows
 *    (Required, NotSupported, True, PublicVerified, ...) are translated;
 *    any other value is passed on as written so that the core's validator
 *    names it.  It judges nothing else.
 *
 * Errors never exit: functions return a negative lcsv_status and write a
 * message (with the line) into the caller's buffer.
 */
#ifndef XP_LYNC_CSV_H
#define XP_LYNC_CSV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lcsv_status {
	LCSV_OK = 0,
	LCSV_ENOMEM = -1,
	LCSV_EINVAL = -2,
	LCSV_EFORMAT = -3 /* not a CSV we can read: see the message */
} lcsv_status;

/* ---- the CSV layer ------------------------------------------------------ */

typedef struct lcsv_field {
	char *text; /* NUL-terminated UTF-8, line breaks as "\n" */
	size_t len;
	int quoted;
} lcsv_field;

typedef struct lcsv_row {
	size_t line; /* line of the file where the row starts (1-based) */
	size_t nfields;
	lcsv_field *fields;
} lcsv_row;

typedef struct lcsv_file {
	char *type_name;      /* the "#TYPE" line's type, or NULL */
	const char *encoding; /* "UTF-8", "UTF-8 with BOM", "UTF-16LE", ... */
	lcsv_row header;
	lcsv_row *rows; /* data rows; blank lines are skipped */
	size_t nrows;
} lcsv_file;

/*
 * Parse data.  On LCSV_OK *out owns the parsed file (free it with
 * lcsv_free).  On LCSV_EFORMAT err receives one sentence naming the line,
 * e.g. "line 4: a quoted field that starts here is never closed".  A file
 * with a header but no rows is fine (nrows == 0); an empty file is not.
 */
int lcsv_parse(const char *data, size_t len, lcsv_file **out, char *err,
               size_t errsize);
void lcsv_free(lcsv_file *f);

/* ---- the Lync layer ----------------------------------------------------- */

typedef enum lync_column {
	LYNC_IDENTITY = 0,
	LYNC_DESCRIPTION,
	LYNC_ADDITIONAL_DOMAINS,
	LYNC_PARTNER_TYPE,
	LYNC_TLS,
	LYNC_SASL,
	LYNC_DIALBACK,
	LYNC_PROXY_FQDN,
	LYNC_CONNECTION_LIMIT,
	LYNC_ENABLE_KEEPALIVE,
	LYNC_COLUMNS
} lync_column;

/* "TlsNegotiation", ... and our key for it: "tls", ... ("" for Identity,
 * which becomes the table key). */
const char *lync_column_name(lync_column c);
const char *lync_key_name(lync_column c);

typedef enum lync_kind {
	LYNC_ABSENT = 0, /* empty field or missing column: key not written */
	LYNC_STRING,     /* text (a translated name, or the raw value) */
	LYNC_BOOLEAN,
	LYNC_INTEGER,
	LYNC_LIST,
	/* Export-Csv wrote the list's .NET type name, not its items */
	LYNC_LOST
} lync_kind;

typedef struct lync_value {
	lync_kind kind;
	const char *raw; /* the field as written (trimmed), NULL if no column */
	const char *text; /* LYNC_STRING: the value; else the raw field */
	int boolean;
	long long integer;
	char **items; /* LYNC_LIST */
	size_t nitems;
	int translated;   /* 1 when a Lync name was mapped to ours */
	int lync_default; /* 1 when Lync's default stands in for a blank */
} lync_value;

typedef struct lync_partner {
	size_t line;          /* CSV line where the row starts */
	const char *identity; /* trimmed Identity */
	lync_value values[LYNC_COLUMNS];
	const char *problem; /* the row cannot be mapped at all, or NULL */
} lync_partner;

typedef struct lync_import {
	lcsv_file *csv;
	lync_partner *partners;
	size_t npartners;
	int missing[LYNC_COLUMNS]; /* 1 for a column the header lacks */
	char **unknown;            /* header names we do not use */
	size_t nunknown;
	int lost_lists; /* rows whose AdditionalDomains is a type name */
} lync_import;

/*
 * Parse and map.  LCSV_EFORMAT (with err) when the CSV cannot be read or
 * has no Identity column; rows with other problems are kept, with their
 * problem set.  Free *out with lync_import_free.
 */
int lync_import_parse(const char *data, size_t len, lync_import **out,
                      char *err, size_t errsize);
void lync_import_free(lync_import *im);

/* The PowerShell command that exports the lists intact. */
#define LYNC_EXPORT_COMMAND                                                    \
	"Get-CsXmppAllowedPartner | Select-Object Identity,"                   \
	"@{n='AdditionalDomains';e={$_.AdditionalDomains -join ';'}},"         \
	"ConnectionLimit,Description,EnableKeepAlive,PartnerType,ProxyFqdn,"   \
	"SaslNegotiation,SupportDialbackNegotiation,TlsNegotiation | "         \
	"Export-Csv -NoTypeInformation -Encoding UTF8 partners.csv"

#ifdef __cplusplus
}
#endif
#endif /* XP_LYNC_CSV_H */
