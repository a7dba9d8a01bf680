#!/bin/bash
# t_monitoring.sh: per-partner metrics through Prosody's statistics
# (scraped from mod_http_openmetrics) and the admin-only status page
# (mod_xmpp_partners_status), in curl and in Debian's headless chromium.
#
# a.test runs mod_xmpp_partners (b.test and h.test partners, keepalives
# every second), mod_xmpp_partners_status and mod_http_openmetrics with
# statistics_interval = "manual" (each scrape collects).  b.test is a real
# Prosody partner; c.test a real Prosody that is not a partner;
# tests/hostile/xphostile plays h.test with an untrusted certificate.  The
# page is checked for access (plain HTTP 403, no credentials 401, wrong
# password 401, a non-admin 403, the admin 200), for content (both
# partners, live streams, the refusals, the back-off, the explain form) and
# as JSON; chromium renders it (screenshot kept in $XP_WORK, and in
# XP_SCREENSHOT_DIR when set) and its DOM is checked.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
xp_hostile_init
command -v curl >/dev/null || xp__missing "curl not installed"
tap_plan 23

for d in a.test b.test c.test; do xp_host "$d"; done
A=$(xp_addr a.test)
PKI=$XP_WORK/pki
xp_cert a.test a.test || xp_bail "cannot make a.test's certificate"
xp_cert_selfsigned h-self h.test || xp_bail "cannot make the certificate"
UNTRUSTED='the certificate chain is not trusted and its key matches no pinned fingerprint'
cat >"$XP_WORK/a-extra.lua" <<EOT
xmpp_partners = {
	["b.test"] = { type = "federated" };
	["h.test"] = { type = "federated" };
}
xmpp_partners_keepalive_interval = 1
admins = { "admin@a.test" }
statistics = "internal"
statistics_interval = "manual"
http_ports = { 5280 }
http_interfaces = { "$A" }
https_ports = { 5281 }
https_interfaces = { "$A" }
https_ssl = { certificate = "$PKI/a.test.crt"; key = "$PKI/a.test.key" }
openmetrics_allow_cidr = "127.0.0.0/8"
EOT
ok=1
xp_start_prosody a "$A" a.test --module xmpp_partners --module xmpp_partners_status \
	--module http_openmetrics --extra "$XP_WORK/a-extra.lua" || ok=0
xp_start_prosody b "$(xp_addr b.test)" b.test || ok=0
xp_start_prosody c "$(xp_addr c.test)" c.test || ok=0
if [ "$ok" = 1 ] && xp_wait_log a 'Partner policy loaded: 2 partners' 5; then
	tap_ok "a.test (partners, status page, openmetrics), b.test and c.test started"
else
	tap_fail "servers started"
	xp_bail "cannot start the servers"
fi
for acct in a:alice@a.test a:admin@a.test b:bob@b.test c:carol@c.test; do
	xp_register "${acct%%:*}" "${acct#*:}" >>"$XP_WORK/register.out" 2>&1 ||
		xp_bail "cannot register ${acct#*:}: $(cat "$XP_WORK/register.out")"
done

# ---- traffic: a partner, a non-partner, a retrying peer -------------------------------
xp_delivered "bob@b.test -> alice@a.test (partner streams up)" bob@b.test alice@a.test hello-a
xp_delivered "alice@a.test -> bob@b.test" alice@a.test bob@b.test hello-b
xp_log_mark a
xp_client carol@c.test send alice@a.test not-a-partner >/dev/null 2>&1
xp_wait_new_log a 'refused incoming s2s from c\.test: not a partner' 10 ||
	tap_diag "c.test's refusal not seen in the log"
for i in 1 2 3 4 5; do
	xp_hostile "$A" header h.test a.test features starttls "$PKI/h-self.crt" "$PKI/h-self.key" \
		header h.test a.test features auth-external - wait-close 3 >/dev/null 2>&1
done
sleep 2 # a keepalive or two on the idle b.test streams

# ---- 1. metrics --------------------------------------------------------------------------
M=$(curl -sS -k --max-time 10 "https://$A:5281/metrics" 2>&1)
echo "$M" >"$XP_WORK/metrics.txt"
metric() { # NAME LABELS: the value of the series (empty if none)
	grep -F "prosody_mod_xmpp_partners__$1{$2}" <<<"$M" | head -n 1 | awk '{ print $NF }'
}
v=$(metric refused_total 'partner="h.test",direction="incoming",reason="cert_untrusted"')
if [ "$v" = 5 ] || [ "$v" = 5.0 ]; then
	tap_ok "refused_total{partner=h.test,reason=cert_untrusted} = 5: every attempt counted (4 of them at the header)"
else
	tap_fail "refused counter" "value '$v'; series: $(grep -F refused <<<"$M" | head -n 8)"
fi
v=$(metric refused_total 'partner="unlisted",direction="incoming",reason="not_partner"')
if [ -n "$v" ] && ! grep -q 'c\.test' <<<"$M"; then
	tap_ok "c.test counted under partner=\"unlisted\" ($v); no series names an unlisted domain"
else
	tap_fail "unlisted label" "value '$v'; c.test lines: $(grep -F c.test <<<"$M" | head -n 3)"
fi
v=$(metric authenticated_total 'partner="b.test",direction="incoming",method="sasl_tls"')
if [ -n "$v" ] && [ "${v%.*}" -ge 1 ]; then
	tap_ok "authenticated_total{partner=b.test,direction=incoming,method=sasl_tls} = $v"
else
	tap_fail "authenticated counter" "$(grep -F authenticated <<<"$M" | head -n 6)"
fi
in=$(metric streams 'partner="b.test",direction="incoming"')
out=$(metric streams 'partner="b.test",direction="outgoing"')
if [ "${in%.*}" -ge 1 ] 2>/dev/null && [ "${out%.*}" -ge 1 ] 2>/dev/null; then
	tap_ok "streams{partner=b.test} gauge: $in incoming, $out outgoing"
else
	tap_fail "streams gauge" "in '$in' out '$out': $(grep -F streams <<<"$M" | head -n 6)"
fi
v=$(metric keepalives_total 'partner="b.test"')
if [ -n "$v" ] && [ "${v%.*}" -ge 1 ]; then
	tap_ok "keepalives_total{partner=b.test} = $v"
else
	tap_fail "keepalives counter" "$(grep -F keepalive <<<"$M" | head -n 4)"
fi
v=$(metric refusal_backoff_origins '')
[ -n "$v" ] || v=$(grep -E '^prosody_mod_xmpp_partners__refusal_backoff_origins ' <<<"$M" | awk '{ print $NF }')
if [ "${v%.*}" -ge 1 ] 2>/dev/null && grep -q '^# TYPE prosody_mod_xmpp_partners__contact' <<<"$M"; then
	tap_ok "refusal_backoff_origins gauge = $v; the contact counter is declared"
else
	tap_fail "backoff gauge, contact counter" "'$v'; $(grep -E 'backoff|contact' <<<"$M" | head -n 6)"
fi

# ---- 2. access to the page ---------------------------------------------------------------
URL=https://$A:5281/partners/
code() { curl -sk -o "$XP_WORK/body" -w '%{http_code}' --max-time 10 "$@"; }
c=$(code "http://$A:5280/partners/" -u "admin@a.test:$XP_PASSWORD")
tap_is "$c" 403 "plain HTTP, even with an admin's password: 403"
c=$(code "$URL")
if [ "$c" = 401 ] && curl -skI --max-time 10 "$URL" | grep -qi '^www-authenticate: Basic'; then
	tap_ok "no credentials: 401 with a Basic challenge"
else
	tap_fail "no credentials" "HTTP $c"
fi
c=$(code "$URL" -u "admin@a.test:wrong-password")
tap_is "$c" 401 "an admin with a wrong password: 401"
c=$(code "$URL" -u "alice@a.test:$XP_PASSWORD")
if [ "$c" = 403 ] && ! grep -q 'h\.test' "$XP_WORK/body"; then
	tap_ok "alice (not an admin) with her password: 403, no data"
else
	tap_fail "non-admin" "HTTP $c: $(head -c 300 "$XP_WORK/body")"
fi

c=$(code "https://$A:5281/partners/status.json" -u "alice@a.test:$XP_PASSWORD")
c2=$(code "https://$A:5281/partners/status.json")
tap_is "$c/$c2" "403/401" "the JSON URL is guarded too (alice 403, no credentials 401)"

# ---- 3. content ----------------------------------------------------------------------------
c=$(code "$URL" -u "admin@a.test:$XP_PASSWORD")
cp "$XP_WORK/body" "$XP_WORK/page.html"
miss=""
for re in '<th scope="row">b\.test</th>' '<th scope="row">h\.test</th>' 'refused at the header for' \
	"$UNTRUSTED" 'not a partner' '<form method="get"' '<label for="explain">' 'href="style.css"'; do
	grep -qE -- "$re" "$XP_WORK/page.html" || miss="$miss [$re]"
done
if grep -qiE '<script|https?://[a-z]' "$XP_WORK/page.html"; then miss="$miss [script or external URL]"; fi
if [ "$c" = 200 ] && [ -z "$miss" ]; then
	tap_ok "the admin sees both partners, the refusals, the back-off, the explain form; no script, no external asset"
else
	tap_fail "page content" "HTTP $c, missing:$miss"
fi
c=$(code "https://$A:5281/partners/status.json?explain=c.test" -u "admin@a.test:$XP_PASSWORD")
if [ "$c" = 200 ] && python3 - "$XP_WORK/body" <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1]))
parts = {p["domain"]: p for p in d["partners"]}
assert set(parts) == {"b.test", "h.test"}, parts.keys()
b = parts["b.test"]
assert b["type"] == "federated" and b["tls"] == "required" and b["source"] == "config", b
assert b["live"]["incoming"] >= 1 and b["live"]["outgoing"] >= 1, b["live"]
assert any(s["direction"] == "incoming" and s["encrypted"] for s in b["streams"]), b["streams"]
r = {(x["partner"], x["reason"]): x["count"] for x in d["refusals"]}
assert r[("h.test", "cert_untrusted")] == 5, r
assert r[("unlisted", "not_partner")] >= 1, r
assert any(e["domain"] == "h.test" and e["active"] for e in d["backoff"]), d["backoff"]
assert any(x["at_header"] for x in d["last_refusals"]), d["last_refusals"]
assert d["explain"]["domain"] == "c.test" and "refused: not a partner" in d["explain"]["text"], d["explain"]
EOF
	tap_ok "status.json: partners with rules, source and live streams; refusals per partner and reason; back-off; explain"
else
	tap_fail "status.json" "HTTP $c: $(head -c 600 "$XP_WORK/body")"
fi
c=$(code "${URL}?explain=b.test" -u "admin@a.test:$XP_PASSWORD")
if [ "$c" = 200 ] && grep -q '^  partner        b\.test (its primary domain)$' "$XP_WORK/body" &&
	grep -q 'value="b\.test"' "$XP_WORK/body"; then
	tap_ok "the explain form answers with the core's text (GET ?explain=b.test)"
else
	tap_fail "explain form" "HTTP $c"
fi
c=$(code "${URL}?explain=%3Cscript%3Ex%3C/script%3E.test" -u "admin@a.test:$XP_PASSWORD")
if [ "$c" = 200 ] && ! grep -q '<script>' "$XP_WORK/body" && grep -q '&lt;script&gt;' "$XP_WORK/body"; then
	tap_ok "input is escaped in the page"
else
	tap_fail "escaping" "HTTP $c"
fi

# ---- 4. a real browser ---------------------------------------------------------------------
CHROMIUM=${XP_CHROMIUM:-$(command -v chromium || true)}
if [ -z "$CHROMIUM" ] && [ "${XP_REQUIRE:-0}" = 1 ]; then
	# (CI: scripts/deps.sh installs it; a missing browser is a failure)
	for c in "chromium renders the page" "chromium: DOM content" "chromium: non-admin"; do
		tap_fail "$c" "chromium not installed (apt-get install chromium) and XP_REQUIRE=1"
	done
elif [ -z "$CHROMIUM" ]; then
	tap_skip "chromium renders the page" "chromium not installed"
	tap_skip "chromium: DOM content" "chromium not installed"
	tap_skip "chromium: non-admin" "chromium not installed"
else
	browse() { # MODE ARG URL: chromium headless, fresh profile, bounded
		local profile
		profile=$(mktemp -d "$XP_WORK/chromium.XXXXXX")
		timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
			--disable-background-networking --disable-component-update --disable-sync \
			--disable-dev-shm-usage --ignore-certificate-errors --user-data-dir="$profile" \
			--window-size=1200,1400 "$@" 2>>"$XP_WORK/chromium.err"
	}
	AUTH_URL="https://admin%40a.test:$XP_PASSWORD@$A:5281/partners/?explain=c.test"
	rm -f "$XP_WORK/page.png"
	(cd "$XP_WORK" && browse --screenshot="$XP_WORK/page.png" "$AUTH_URL" >/dev/null)
	if [ -s "$XP_WORK/page.png" ] && [ "$(head -c 8 "$XP_WORK/page.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
		tap_ok "chromium renders the page (screenshot $XP_WORK/page.png, $(stat -c %s "$XP_WORK/page.png") bytes)"
		[ -n "${XP_SCREENSHOT_DIR:-}" ] && cp "$XP_WORK/page.png" "$XP_SCREENSHOT_DIR/status-page-prosody.png"
	else
		tap_fail "chromium screenshot" "$(tail -n 5 "$XP_WORK/chromium.err")"
	fi
	dom=$(browse --dump-dom "$AUTH_URL")
	if grep -q '<th scope="row">b.test</th>' <<<"$dom" && grep -q 'refused: not a partner' <<<"$dom" &&
		grep -q "$UNTRUSTED" <<<"$dom"; then
		tap_ok "chromium as the admin: both partners, the refusals and the explain answer in the DOM"
	else
		tap_fail "chromium DOM" "$(head -c 400 <<<"$dom") $(tail -n 3 "$XP_WORK/chromium.err")"
	fi
	dom=$(browse --dump-dom "https://alice%40a.test:$XP_PASSWORD@$A:5281/partners/")
	# (mod_http_errors renders Prosody's own error page for the 403)
	if ! grep -q 'b\.test' <<<"$dom" && grep -qE '403 Forbidden|admins only' <<<"$dom"; then
		tap_ok "chromium as alice (not an admin): refused, no data"
	else
		tap_fail "chromium non-admin" "$(head -c 400 <<<"$dom")"
	fi
fi

tap_stop_all
tap_done
