#!/usr/bin/env bash
# t_import_lync.sh: `xmpp-partners import-lync` on exports of Lync 2013 and
# Skype for Business 2015, on wrong values and malformed CSVs, and the round
# trip: the output goes back through `check` and `explain`.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/cli/lib.sh"

# roundtrip NAME: `check` accepts the last import's output.
roundtrip() {
	printf '%s\n' "$OUT" >"$TMP/imported.lua"
	local out rc
	out=$("$XP_TOOL" check "$TMP/imported.lua" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then tap_ok "$1"; else
		tap_fail "$1" "check exited $rc:
$out
--- the imported file
$(head -60 "$TMP/imported.lua")"
	fi
}

run_in "$DATA" import-lync sfb-2015.csv
expect_rc "Skype for Business 2015 export (BOM, CRLF, any column order): status 0" 0
expect_out "Identity becomes the table key" '^	\["fabrikam\.com"\] = \{$'
expect_out "AdditionalDomains joined with ;" 'additional_domains = \{ "corp\.fabrikam\.com", "fabrikam\.net" \};'
expect_out "PartnerType Federated" 'type = "federated";'
expect_out "PartnerType PublicVerified" 'type = "public_verified";'
expect_out "TlsNegotiation NotSupported" 'tls = "not_supported";'
expect_out "SupportDialbackNegotiation True" 'dialback = true;'
expect_out "ProxyFqdn" 'proxy = "xmpp-gw\.fabrikam\.com";'
expect_out "ConnectionLimit" 'connection_limit = 40;'
expect_out "EnableKeepAlive False" 'keepalive = false;'
expect_out "a description with quotes is escaped" 'description = "Contoso \\"public\\" service";'
expect_out "a description with a line break is escaped" 'description = "Fabrikam, Inc\.\\nContact: noc@fabrikam\.com, ext\. 2231";'
expect_out "UTF-8 text passes through" 'Société Générale'
expect_out "each record names its CSV line" '^	-- CSV line 5$'
expect_out "Lync's defaults are kept, and row 1 is explained" "keeps Lync's defaults TlsNegotiation"
expect_out "the row 1 warning sits above the record" '^	-- TlsNegotiation "Required", SaslNegotiation "Required",$'
expect_err "a summary on stderr" 'sfb-2015\.csv: 5 partners imported, 0 rows rejected'
roundtrip "round trip: the Skype for Business import passes check"
printf '%s\n' "$OUT" >"$TMP/sfb.lua"
run explain "$TMP/sfb.lua" fabrikam.net
expect_out "round trip: explain maps an imported additional domain" 'partner +fabrikam\.com \(the domain is one of its additional_domains\)'
run explain "$TMP/sfb.lua" münich-partner.de
expect_out "round trip: an IDN Identity maps (to its A-label)" 'partner +xn--mnich-partner-wob\.de \(its primary domain\)'

run_in "$DATA" import-lync lync-2013.csv
expect_rc "plain Export-Csv (lists lost): status 1" 1
expect_err "the type name is detected" 'AdditionalDomains holds a \.NET type name, not domains, on lines 3, 4, 5'
expect_err "the re-export command is given" "@\{n='AdditionalDomains';e=\{\\\$_\.AdditionalDomains -join ';'\}\}"
expect_out "the output warns too" '^-- WARNING: Export-Csv wrote AdditionalDomains as a \.NET'
expect_out "the #TYPE line is skipped, the rows kept" '^	\["litware\.test"\] = \{$'
expect_out "an unquoted null field is blank" '^	\["litware\.test"\]'
roundtrip "round trip: the lossy import still loads"

run import-lync "$DATA/lync-joined.csv"
expect_rc "lists joined with commas or in braces: status 0" 0
expect_out "a list joined with , and spaces" 'additional_domains = \{ "corp\.fabrikam\.com", "fabrikam\.net" \};'
expect_out "a list in braces, joined with spaces" 'additional_domains = \{ "mail\.northwind\.test", "sales\.northwind\.test" \};'

run import-lync "$DATA/lync-utf16.csv"
expect_rc "a UTF-16 export (-Encoding Unicode): status 0" 0
expect_out "UTF-16 is converted to UTF-8" 'Fabrikam – exported'
roundtrip "round trip: the UTF-16 import passes check"

run_in "$DATA" import-lync lync-bad-values.csv
expect_rc "wrong values: status 1" 1
expect_out "good rows are kept" '^	\["good\.test"\] = \{$'
expect_out "a rejected row is commented out" '^	-- \["contoso\.com"\] = \{$'
expect_out "a rejected row names its CSV line" '^	-- CSV line 4: REJECTED$'
expect_out "a wrong ConnectionLimit is commented" '^	-- column ConnectionLimit "abc": partner .contoso\.com.: key'
expect_err "a wrong ConnectionLimit: line, column, value, partner, key and fix" 'lync-bad-values\.csv:3: error: row rejected \(Identity .contoso\.com.\): column ConnectionLimit "abc": partner .contoso\.com.: key .connection_limit. must be a whole number'
expect_out "a wrong TlsNegotiation" 'column TlsNegotiation "Maybe"'
expect_out "a wrong PartnerType" 'column PartnerType "Partner"'
expect_out "a wrong EnableKeepAlive" 'column EnableKeepAlive "Yes"'
expect_err "an error row of the matrix" 'TlsNegotiation "NotSupported", SaslNegotiation "Required".*matrix row 6 \(error\)'
expect_err "a repeated Identity" 'Identity fabrikam\.com is listed twice in the CSV \(first at line 2\)'
expect_out "an empty Identity" 'the Identity field is empty'
expect_err "a domain claimed by two partners" "domain 'corp\.fabrikam\.com' is listed by partner 'fabrikam\.com'"
expect_out "a bad domain" "partner 'bad domain\.test': the domain contains white space"
expect_out "a short row" 'the row has fewer fields than the header'
for line in 3 4 5 6 7 8 9 10 11; do
	expect_err "stderr names rejected CSV line $line" "lync-bad-values\.csv:$line: error: row rejected"
done
expect_err "the summary counts" '2 partners imported, 9 rows rejected'
roundtrip "round trip: the import without its rejected rows passes check"

run import-lync "$DATA/lync-header-only.csv"
expect_rc "a header only: status 0" 0
expect_out "a header only gives an empty table" '^xmpp_partners = \{\}$'
roundtrip "round trip: the empty table passes check"

# malformed CSVs: status 2, a clear message, nothing on stdout
malformed() { # NAME FILE REGEX
	run import-lync "$2"
	expect_rc "$1: status 2" 2
	expect_err "$1: explained" "$3"
	if [ -z "$OUT" ]; then tap_ok "$1: nothing on stdout"; else
		tap_fail "$1: nothing on stdout" "$(last_run)"
	fi
}
malformed "an unterminated quote" "$DATA/lync-unterminated.csv" 'line 4: a quoted field that starts here is never closed'
malformed "a stray quote" "$DATA/lync-stray-quote.csv" 'line 3: text follows the closing quote of a field.*\(""\)'
malformed "no Identity column" "$DATA/lync-no-identity.csv" 'line 1: the header has no Identity column'
malformed "an empty file" "$DATA/lync-empty.csv" 'the file is empty; export the partners with: Get-CsXmppAllowedPartner'
malformed "binary junk" "$DATA/junk.bin" 'not a CSV file'
malformed "a partner file instead of a CSV" "$DATA/good.cfg.lua" 'no Identity column \(nor any other column'
malformed "a missing file" "$TMP/nope.csv" 'cannot read .*nope\.csv'
head -c 65536 /dev/urandom >"$TMP/random.bin"
run import-lync "$TMP/random.bin"
expect_rc "random bytes: status 2, no crash" 2

printf '"Identity","SaslNegotiation"\r\n"fabrikam.com",""\r\n' >"$TMP/few.csv"
run import-lync "$TMP/few.csv"
expect_rc "only some columns: status 0" 0
expect_err "missing columns are noted" 'the CSV has no TlsNegotiation column: Lync.s default is used'
expect_out "a blank field takes Lync's default, said in a comment" 'sasl = "required"; -- SaslNegotiation blank in the CSV: Lync.s default'
expect_out "a missing column takes Lync's default" 'dialback = true; -- SupportDialbackNegotiation blank'
roundtrip "round trip: defaults pass check"

printf '"Identity","Description","Extra"\r\n"fabrikam.com","Soci\351t\351 G\351n\351rale","x"\r\n' >"$TMP/ansi.csv"
run import-lync "$TMP/ansi.csv"
expect_rc "a Windows-1252 export (-Encoding Default): status 0" 0
expect_out "Windows-1252 is converted to UTF-8" 'Société Générale'
expect_err "an unknown column is noted" 'column Extra is not used'

{
	printf '"Identity","AdditionalDomains","ConnectionLimit","Description","EnableKeepAlive","PartnerType","ProxyFqdn","SaslNegotiation","SupportDialbackNegotiation","TlsNegotiation"\r\n'
	for i in $(seq 1 2000); do
		printf '"p%d.example","a%d.example;b%d.example","20","partner %d","True","Federated","","Optional","True","Required"\r\n' "$i" "$i" "$i" "$i"
	done
} >"$TMP/many.csv"
run import-lync "$TMP/many.csv"
expect_rc "2000 partners: status 0" 0
roundtrip "round trip: 2000 partners pass check"

tap_done
