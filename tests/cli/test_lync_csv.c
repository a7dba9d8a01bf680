/*
 * test_lync_csv.c: the CSV reader (PowerShell's dialect) and the mapping of
 * Get-CsXmppAllowedPartner columns, without Lua and without files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lync_csv.h"
#include "testutil.h"

#define HEADER                                                                 \
	"\"Identity\",\"AdditionalDomains\",\"ConnectionLimit\","              \
	"\"Description\",\"EnableKeepAlive\",\"PartnerType\",\"ProxyFqdn\","   \
	"\"SaslNegotiation\",\"SupportDialbackNegotiation\","                  \
	"\"TlsNegotiation\"\r\n"

static lcsv_file *parse_ok(const char *data, size_t len)
{
	lcsv_file *f = NULL;
	char err[512] = "";
	int rc = lcsv_parse(data, len, &f, err, sizeof(err));

	if (rc != LCSV_OK)
		fail_msg("parse failed: %s", err);
	assert_non_null(f);
	return f;
}

static void parse_fails(const char *data, size_t len, const char *needle)
{
	lcsv_file *f = NULL;
	char err[512] = "";
	int rc = lcsv_parse(data, len, &f, err, sizeof(err));

	assert_int_equal(rc, LCSV_EFORMAT);
	assert_null(f);
	if (strstr(err, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", err, needle);
}

static void test_quoting(void **state)
{
	static const char data[] =
	        "\"a\",\"b\",\"c\"\r\n"
	        "\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\n"
	        "plain,,\"\"\r\n";
	lcsv_file *f = parse_ok(data, sizeof(data) - 1);

	(void)state;
	assert_int_equal(f->header.nfields, 3);
	assert_int_equal(f->nrows, 2);
	assert_string_equal(f->rows[0].fields[0].text, "x, y");
	assert_string_equal(f->rows[0].fields[1].text, "say \"hi\"");
	assert_string_equal(f->rows[0].fields[2].text, "two\nlines");
	assert_int_equal(f->rows[0].line, 2);
	assert_int_equal(f->rows[1].line, 4);
	assert_string_equal(f->rows[1].fields[0].text, "plain");
	assert_false(f->rows[1].fields[0].quoted);
	assert_string_equal(f->rows[1].fields[1].text, "");
	assert_true(f->rows[1].fields[2].quoted);
	lcsv_free(f);
}

static void test_type_line_and_bom(void **state)
{
	static const char data[] = "\xEF\xBB\xBF#TYPE Some.Type\r\n"
	                           "\"a\"\r\n\r\n\"1\"\r\n";
	lcsv_file *f = parse_ok(data, sizeof(data) - 1);

	(void)state;
	assert_string_equal(f->type_name, "Some.Type");
	assert_string_equal(f->encoding, "UTF-8 with BOM");
	assert_int_equal(f->header.line, 2);
	assert_int_equal(f->nrows, 1); /* the blank line is skipped */
	assert_int_equal(f->rows[0].line, 4);
	lcsv_free(f);
}

static void test_utf16(void **state)
{
	/* "a",é,😀 in UTF-16LE and BE with BOMs */
	static const char le[] = "\xFF\xFE\"\0a\0\"\0,\0\xE9\0,\0"
	                         "\x3D\xD8\x00\xDE\r\0\n\0";
	static const char be[] = "\xFE\xFF\0\"\0a\0\"\0,\0\xE9\0,"
	                         "\xD8\x3D\xDE\x00\0\r\0\n";
	lcsv_file *f = parse_ok(le, sizeof(le) - 1);

	(void)state;
	assert_string_equal(f->encoding, "UTF-16LE");
	assert_string_equal(f->header.fields[0].text, "a");
	assert_string_equal(f->header.fields[1].text, "\xC3\xA9");
	assert_string_equal(f->header.fields[2].text, "\xF0\x9F\x98\x80");
	lcsv_free(f);
	f = parse_ok(be, sizeof(be) - 1);
	assert_string_equal(f->encoding, "UTF-16BE");
	assert_string_equal(f->header.fields[2].text, "\xF0\x9F\x98\x80");
	lcsv_free(f);
}

static void test_windows_1252(void **state)
{
	static const char data[] = "\"Soci\xE9t\xE9 \x80\"\n";
	lcsv_file *f = parse_ok(data, sizeof(data) - 1);

	(void)state;
	assert_string_equal(f->encoding, "Windows-1252");
	assert_string_equal(f->header.fields[0].text,
	                    "Soci\xC3\xA9t\xC3\xA9 \xE2\x82\xAC");
	lcsv_free(f);
}

#define S(literal) literal, sizeof(literal) - 1

static void test_malformed(void **state)
{
	(void)state;
	parse_fails("", 0, "the file is empty");
	parse_fails(S("\xEF\xBB\xBF"), "the file is empty");
	parse_fails(S("#TYPE X\r\n"), "empty after its #TYPE line");
	parse_fails(S("\"a\"\r\n\"open\r\nstill open"),
	            "line 2: a quoted field that starts here is never closed");
	parse_fails(S("\"a\"\r\n\"x\"y,\"z\"\r\n"),
	            "line 2: text follows the closing quote");
	parse_fails(S("\"a\"\r\n\"b\0c\"\r\n"),
	            "line 2: byte 0x00 is not text");
	parse_fails(S("\x7f"
	              "ELF\x01\x02"),
	            "not a CSV file");
}

static void test_many_fields(void **state)
{
	size_t n = 5000, i;
	char *data = malloc(2 * n + 2);
	lcsv_file *f = NULL;
	char err[256];

	(void)state;
	assert_non_null(data);
	for (i = 0; i < n; i++) {
		data[2 * i] = 'x';
		data[2 * i + 1] = ',';
	}
	data[2 * n - 1] = '\n';
	assert_int_equal(lcsv_parse(data, 2 * n, &f, err, sizeof(err)),
	                 LCSV_EFORMAT);
	assert_non_null(strstr(err, "more than 4096 fields"));
	free(data);
}

/* ---- the Lync layer ------------------------------------------------------ */

static lync_import *import_ok(const char *data)
{
	lync_import *im = NULL;
	char err[512] = "";
	int rc = lync_import_parse(data, strlen(data), &im, err, sizeof(err));

	if (rc != LCSV_OK)
		fail_msg("import failed: %s", err);
	return im;
}

static void test_mapping(void **state)
{
	lync_import *im = import_ok(
	        HEADER "\"fabrikam.com\",\"a.example;b.example\",\"20\","
	               "\"Fabrikam\",\"True\",\"PublicVerified\","
	               "\"gw.fabrikam.com\",\"Optional\",\"False\","
	               "\"NotSupported\"\r\n");
	const lync_partner *p;

	(void)state;
	assert_int_equal(im->npartners, 1);
	p = &im->partners[0];
	assert_int_equal(p->line, 2);
	assert_string_equal(p->identity, "fabrikam.com");
	assert_null(p->problem);
	assert_int_equal(p->values[LYNC_ADDITIONAL_DOMAINS].kind, LYNC_LIST);
	assert_int_equal(p->values[LYNC_ADDITIONAL_DOMAINS].nitems, 2);
	assert_string_equal(p->values[LYNC_ADDITIONAL_DOMAINS].items[1],
	                    "b.example");
	assert_int_equal(p->values[LYNC_CONNECTION_LIMIT].kind, LYNC_INTEGER);
	assert_int_equal(p->values[LYNC_CONNECTION_LIMIT].integer, 20);
	assert_string_equal(p->values[LYNC_DESCRIPTION].text, "Fabrikam");
	assert_int_equal(p->values[LYNC_ENABLE_KEEPALIVE].kind, LYNC_BOOLEAN);
	assert_true(p->values[LYNC_ENABLE_KEEPALIVE].boolean);
	assert_string_equal(p->values[LYNC_PARTNER_TYPE].text,
	                    "public_verified");
	assert_true(p->values[LYNC_PARTNER_TYPE].translated);
	assert_string_equal(p->values[LYNC_PROXY_FQDN].text, "gw.fabrikam.com");
	assert_string_equal(p->values[LYNC_SASL].text, "optional");
	assert_false(p->values[LYNC_DIALBACK].boolean);
	assert_string_equal(p->values[LYNC_TLS].text, "not_supported");
	assert_string_equal(p->values[LYNC_TLS].raw, "NotSupported");
	assert_string_equal(lync_key_name(LYNC_TLS), "tls");
	assert_string_equal(lync_column_name(LYNC_DIALBACK),
	                    "SupportDialbackNegotiation");
	lync_import_free(im);
}

static void test_any_order_any_case(void **state)
{
	lync_import *im =
	        import_ok("tlsnegotiation,IDENTITY,partnertype,Extra\n"
	                  "required, fabrikam.com ,federated,x\n");
	const lync_partner *p = &im->partners[0];

	(void)state;
	assert_string_equal(p->identity, "fabrikam.com");
	assert_string_equal(p->values[LYNC_TLS].text, "required");
	assert_string_equal(p->values[LYNC_PARTNER_TYPE].text, "federated");
	assert_int_equal(im->nunknown, 1);
	assert_string_equal(im->unknown[0], "Extra");
	assert_true(im->missing[LYNC_SASL]);
	/* Lync's defaults stand in for the missing columns */
	assert_string_equal(p->values[LYNC_SASL].text, "required");
	assert_true(p->values[LYNC_SASL].lync_default);
	assert_int_equal(p->values[LYNC_DIALBACK].kind, LYNC_BOOLEAN);
	assert_true(p->values[LYNC_DIALBACK].boolean);
	assert_true(p->values[LYNC_DIALBACK].lync_default);
	assert_int_equal(p->values[LYNC_CONNECTION_LIMIT].kind, LYNC_ABSENT);
	lync_import_free(im);
}

static void test_unknown_values_pass_through(void **state)
{
	lync_import *im = import_ok(
	        HEADER "\"a.example\",\"\",\"abc\",\"\",\"Yes\",\"Partner\","
	               "\"\",\"Sometimes\",\"maybe\",\"Maybe\"\r\n");
	const lync_partner *p = &im->partners[0];

	(void)state;
	assert_int_equal(p->values[LYNC_CONNECTION_LIMIT].kind, LYNC_STRING);
	assert_string_equal(p->values[LYNC_CONNECTION_LIMIT].text, "abc");
	assert_string_equal(p->values[LYNC_ENABLE_KEEPALIVE].text, "Yes");
	assert_string_equal(p->values[LYNC_PARTNER_TYPE].text, "Partner");
	assert_false(p->values[LYNC_PARTNER_TYPE].translated);
	assert_string_equal(p->values[LYNC_SASL].text, "Sometimes");
	assert_int_equal(p->values[LYNC_DIALBACK].kind, LYNC_STRING);
	assert_string_equal(p->values[LYNC_TLS].text, "Maybe");
	assert_int_equal(p->values[LYNC_ADDITIONAL_DOMAINS].kind, LYNC_ABSENT);
	assert_int_equal(p->values[LYNC_DESCRIPTION].kind, LYNC_ABSENT);
	lync_import_free(im);
}

static void test_lists(void **state)
{
	lync_import *im =
	        import_ok("Identity,AdditionalDomains\n"
	                  "a.example,\"System.Collections.Generic.List`1["
	                  "System.String]\"\n"
	                  "b.example,Microsoft.Rtc.Management.Xds.Something\n"
	                  "c.example,\"x.example, y.example;z.example\"\n"
	                  "d.example,\"{p.example q.example}\"\n"
	                  "e.example,\" ; ,\"\n");

	(void)state;
	assert_int_equal(im->lost_lists, 2);
	assert_int_equal(im->partners[0].values[LYNC_ADDITIONAL_DOMAINS].kind,
	                 LYNC_LOST);
	assert_int_equal(im->partners[1].values[LYNC_ADDITIONAL_DOMAINS].kind,
	                 LYNC_LOST);
	assert_int_equal(im->partners[2].values[LYNC_ADDITIONAL_DOMAINS].nitems,
	                 3);
	assert_string_equal(
	        im->partners[2].values[LYNC_ADDITIONAL_DOMAINS].items[2],
	        "z.example");
	assert_int_equal(im->partners[3].values[LYNC_ADDITIONAL_DOMAINS].nitems,
	                 2);
	assert_string_equal(
	        im->partners[3].values[LYNC_ADDITIONAL_DOMAINS].items[0],
	        "p.example");
	assert_int_equal(im->partners[4].values[LYNC_ADDITIONAL_DOMAINS].nitems,
	                 0);
	lync_import_free(im);
}

static void test_row_problems(void **state)
{
	lync_import *im = import_ok("Identity,TlsNegotiation\n"
	                            "\"\",Required\n"
	                            "a.example\n"
	                            "b.example,Required,extra\n");

	(void)state;
	assert_int_equal(im->npartners, 3);
	assert_non_null(strstr(im->partners[0].problem, "Identity"));
	assert_non_null(strstr(im->partners[1].problem, "fewer fields"));
	assert_string_equal(im->partners[1].identity, "a.example");
	assert_non_null(strstr(im->partners[2].problem, "more fields"));
	lync_import_free(im);
}

static void test_header_problems(void **state)
{
	lync_import *im = NULL;
	char err[1024];
	static const char no_identity[] = "Domain,TlsNegotiation\nx,y\n";
	static const char twice[] = "Identity,TlsNegotiation,tlsnegotiation\n";
	static const char other[] = "name,value\nx,y\n";

	(void)state;
	assert_int_equal(lync_import_parse(no_identity, strlen(no_identity),
	                                   &im, err, sizeof(err)),
	                 LCSV_EFORMAT);
	assert_null(im);
	assert_non_null(strstr(err, "no Identity column,"));
	assert_non_null(strstr(err, "Export-Csv -NoTypeInformation"));
	assert_int_equal(
	        lync_import_parse(twice, strlen(twice), &im, err, sizeof(err)),
	        LCSV_EFORMAT);
	assert_non_null(strstr(err, "TlsNegotiation twice (columns 2 and 3)"));
	assert_int_equal(
	        lync_import_parse(other, strlen(other), &im, err, sizeof(err)),
	        LCSV_EFORMAT);
	assert_non_null(strstr(err, "is this the right file?"));
}

static void test_header_only(void **state)
{
	lync_import *im = import_ok("#TYPE Microsoft.Rtc.X\r\n" HEADER);

	(void)state;
	assert_int_equal(im->npartners, 0);
	assert_string_equal(im->csv->type_name, "Microsoft.Rtc.X");
	lync_import_free(im);
}

/* Every prefix of a valid export parses or fails cleanly. */
static void test_truncations(void **state)
{
	static const char data[] =
	        "#TYPE Microsoft.Rtc.Management.WritableConfig.Policy.Xmpp."
	        "XmppAllowedPartner\r\n" HEADER
	        "\"fabrikam.com\",\"a.example;b.example\",\"20\",\"Fab, "
	        "\"\"Inc\"\"\r\nline two\",\"True\",\"Federated\",\"\","
	        "\"Required\",\"True\",\"Required\"\r\n";
	size_t n;

	(void)state;
	for (n = 0; n <= sizeof(data) - 1; n++) {
		lync_import *im = NULL;
		char err[512];
		int rc = lync_import_parse(data, n, &im, err, sizeof(err));
		assert_true(rc == LCSV_OK || rc == LCSV_EFORMAT);
		assert_true((rc == LCSV_OK) == (im != NULL));
		lync_import_free(im);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_quoting),
	        cmocka_unit_test(test_type_line_and_bom),
	        cmocka_unit_test(test_utf16),
	        cmocka_unit_test(test_windows_1252),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_many_fields),
	        cmocka_unit_test(test_mapping),
	        cmocka_unit_test(test_any_order_any_case),
	        cmocka_unit_test(test_unknown_values_pass_through),
	        cmocka_unit_test(test_lists),
	        cmocka_unit_test(test_row_problems),
	        cmocka_unit_test(test_header_problems),
	        cmocka_unit_test(test_header_only),
	        cmocka_unit_test(test_truncations),
	};

	return TEST_RUN("lync_csv", tests);
}
