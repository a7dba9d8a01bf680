#!/usr/bin/env bash
# t_usage.sh: help, version, usage errors and the manual page.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/cli/lib.sh"

run --help
expect_rc "--help exits 0" 0
expect_out "--help lists the commands" 'check FILE.*'
expect_out "--help lists import-lync" 'import-lync CSV'
expect_out "--help gives the exit statuses" '^Exit status'

run --version
expect_rc "--version exits 0" 0
expect_out "--version names the version" '^xmpp-partners [0-9]+\.[0-9]+\.[0-9]+ '

for cmd in check explain import-lync pin; do
	run "$cmd" --help
	expect_rc "$cmd --help exits 0" 0
	expect_out "$cmd --help shows its synopsis" "Usage: xmpp-partners .*$cmd"
	run help "$cmd"
	expect_rc "help $cmd exits 0" 0
done
run import-lync --help
expect_out "import-lync --help gives the export command that keeps lists" "-join ';'"

run
expect_rc "no command: status 2" 2
expect_err "no command: usage on stderr" '^Usage:'

run frobnicate x
expect_rc "unknown command: status 2" 2
expect_err "unknown command is named" 'no such command: frobnicate'

run check
expect_rc "check without a file: status 2" 2
expect_err "missing argument explained" 'check takes 1 argument'

run explain "$DATA/good.cfg.lua"
expect_rc "explain without a domain: status 2" 2

run check a b
expect_rc "too many arguments: status 2" 2

run --bogus check x
expect_rc "unknown option: status 2" 2
expect_err "unknown option is named" 'unknown option --bogus'

run --memory-limit=0 check "$DATA/good.cfg.lua"
expect_rc "--memory-limit=0 refused" 2
run --memory-limit=lots check "$DATA/good.cfg.lua"
expect_rc "--memory-limit=lots refused" 2
run --instruction-limit=99999999999999999999 check "$DATA/good.cfg.lua"
expect_rc "an overflowing --instruction-limit is refused" 2
run --memory-limit 8 --instruction-limit=100000 check "$DATA/good.cfg.lua"
expect_rc "limits given as options work" 0

# pin: the key pin of a certificate, as openssl computes it
if command -v openssl >/dev/null &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" \
		-out "$TMP/cert.pem" -days 1 -subj /CN=a.example >/dev/null 2>&1; then
	want=sha256:$(openssl x509 -in "$TMP/cert.pem" -pubkey -noout |
		openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
	run pin "$TMP/cert.pem"
	expect_rc "pin of a PEM certificate: status 0" 0
	if [ "$OUT" = "$want" ]; then tap_ok "pin matches openssl's SPKI SHA-256"; else
		tap_fail "pin matches openssl's SPKI SHA-256" "got $OUT, want $want"
	fi
	openssl x509 -in "$TMP/cert.pem" -outform DER -out "$TMP/cert.der"
	run pin "$TMP/cert.der"
	if [ "$OUT" = "$want" ]; then tap_ok "pin of a DER certificate"; else
		tap_fail "pin of a DER certificate" "got $OUT, want $want"
	fi
else
	tap_skip "pin of a PEM certificate: status 0" "openssl not available"
	tap_skip "pin matches openssl's SPKI SHA-256" "openssl not available"
	tap_skip "pin of a DER certificate" "openssl not available"
fi
run pin "$DATA/good.cfg.lua"
expect_rc "pin of something that is not a certificate: status 1" 1
expect_err "pin explains what it expected" 'expected one X\.509 certificate'
run pin "$TMP/none.pem"
expect_rc "pin of a missing file: status 2" 2

man_page=$top_srcdir/doc/xmpp-partners.1
if command -v groff >/dev/null; then
	warnings=$(groff -man -Tutf8 -ww "$man_page" 2>&1 >/dev/null)
	if [ -z "$warnings" ]; then tap_ok "groff -man -ww: no warnings"; else
		tap_fail "groff -man -ww: no warnings" "$warnings"
	fi
else
	tap_skip "groff -man -ww: no warnings" "groff not installed"
fi
if command -v man >/dev/null; then
	rendered=$(MANWIDTH=80 man -l "$man_page" 2>&1)
	if printf '%s' "$rendered" | head -3 | grep -q 'XMPP-PARTNERS(1)' &&
		printf '%s' "$rendered" | grep -q 'import-lync csv'; then
		tap_ok "man -l renders the page"
	else
		tap_fail "man -l renders the page" "$(printf '%s' "$rendered" | head -20)"
	fi
else
	tap_skip "man -l renders the page" "man not installed"
fi
tap_done
