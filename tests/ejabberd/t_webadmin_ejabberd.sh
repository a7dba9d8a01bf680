#!/bin/bash
# tests/ejabberd/t_webadmin_ejabberd.sh: the partner status page in
# ejabberd's WebAdmin (xmpp_partners_webadmin) on a real ejabberd 23.01
# node, in curl and in Debian's headless chromium.
#
# ej.test (tests/ejabberd/ejlib.sh) serves WebAdmin at /admin on an HTTP
# listener of its own address; admin@ej.test is in the admin ACL (access
# rule configure), alice@ej.test is not.  pa.test is a partner from the
# configuration, rt.test one added at runtime; tests/hostile/xphostile plays
# c.test, not a partner, asking for dialback.  The page and its JSON
# sibling (/admin/partners/status.json) must show both partners with their
# source, the refusal of c.test with its back-off, and the explain answer,
# to the admin only: no credentials and alice get 401/403 and no data.
# chromium renders the page (screenshot in $XP_WORK, and in
# $XP_SCREENSHOT_DIR/status-page-ejabberd.png when set).  About 20 s.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"
ej_require
command -v curl >/dev/null || xp__missing "curl not installed"
xp_init
xp_hostile_init
tap_plan 11

ej_init ej.test
EJ_EXTRA_LISTEN="  - {port: 5280, ip: \"$EJ_ADDR\", module: ejabberd_http, request_handlers: {/admin: ejabberd_web_admin}}"
EJ_EXTRA_YML='acl:
  admin:
    user: "admin@ej.test"
access_rules:
  configure:
    allow: admin'
ej_config <<EOF
default: deny
partners:
  pa.test: {type: federated, tls: required, sasl: required, dialback: false}
EOF
ej_start || xp_bail "ejabberd did not start"
{ ej_register admin && ej_register alice; } >"$XP_WORK/register.out" 2>&1 ||
	xp_bail "cannot register: $(cat "$XP_WORK/register.out")"
out=$(ejctl partners_add rt.test "{type: federated, tls: optional, sasl: optional, dialback: true}")
tap_is $? 0 "ejabberd (PID $EJ_PID) with WebAdmin on $EJ_ADDR:5280 started; rt.test added at runtime ($out)"

xp_hostile "$EJ_ADDR" header c.test ej.test features db-result c.test ej.test evil-key wait-close 3 >"$XP_WORK/peer.out" 2>&1
grep -qx 'stream-error: policy-violation' "$XP_WORK/peer.out" && ej_wait_log 'refused incoming s2s from c\.test: not a partner' 5
tap_is $? 0 "c.test (not a partner) asked for dialback and was refused"

BASE="http://$EJ_ADDR:5280/admin/partners"
ADMIN="admin@ej.test:$XP_PASSWORD"
ALICE="alice@ej.test:$XP_PASSWORD"
code() { curl -sS -o "$XP_WORK/body" -w '%{http_code}' --max-time 10 "$@"; }

# ---- access ----------------------------------------------------------------------------
c=$(code "$BASE/")
c2=$(code "$BASE/status.json")
if [ "$c" = 401 ] && [ "$c2" = 401 ] && ! grep -q 'pa\.test' "$XP_WORK/body"; then
	tap_ok "no credentials: page 401, status.json 401, no data"
else
	tap_fail "no credentials refused" "page $c, json $c2: $(head -c 300 "$XP_WORK/body")"
fi
c=$(code -u "$ALICE" "$BASE/")
grep -q 'pa\.test' "$XP_WORK/body"; leak1=$?
c2=$(code -u "$ALICE" "$BASE/status.json")
grep -q 'pa\.test' "$XP_WORK/body"; leak2=$?
if [[ "$c" =~ ^40[13]$ ]] && [ "$c2" = 403 ] && [ "$leak1" = 1 ] && [ "$leak2" = 1 ]; then
	tap_ok "alice@ej.test (not in the admin ACL): page $c, status.json 403, no data"
else
	tap_fail "non-admin refused" "page $c (leak=$leak1), json $c2 (leak=$leak2)"
fi
c=$(code -u "admin@ej.test:wrong" "$BASE/status.json")
tap_is "$c" 401 "admin@ej.test with a wrong password: status.json 401"

# ---- the page ---------------------------------------------------------------------------
c=$(code -u "$ADMIN" "$BASE/")
B=$(cat "$XP_WORK/body")
bad=""
for re in '<caption>Partners' '<td>pa\.test</td><td>federated</td><td>required</td><td>required</td><td>false</td><td>-</td><td>config</td>' \
	'<td>rt\.test</td>.*<td>runtime</td>' '<td>unlisted</td><td>incoming</td><td>not a partner</td><td>1</td>' \
	'<td>c\.test</td><td>127\.0\.0\.1</td><td>not a partner</td><td>active, [0-9]+ s left</td><td>10</td>' \
	"<label for=.xp-explain.>" "href=.status\.json." \
	'<td>incoming</td><td>c\.test</td><td>not a partner</td><td>negotiation</td>'; do
	grep -qE -- "$re" <<<"$B" || bad+=$'\n'"missing: $re"
done
if [ "$c" = 200 ] && [ -z "$bad" ]; then
	tap_ok "admin: 200, both partners with type, rules and source, the refusal of c.test and its back-off, the explain form"
else
	tap_fail "admin page" "HTTP $c$bad
$(head -c 1500 <<<"$B")"
fi
c=$(code -u "$ADMIN" --data-urlencode explain=c.test "$BASE/")
if [ "$c" = 200 ] && grep -qE "id=.xp-explain-result.>c\.test$" "$XP_WORK/body" &&
	grep -qE "^  refused: not a partner \(no partner lists it, and default: deny\)$" "$XP_WORK/body" &&
	[ "$(code -L -u "$ADMIN" "$BASE/?explain=c.test")" = 200 ] &&
	grep -qE "id=.xp-explain-result.>c\.test$" "$XP_WORK/body" &&
	grep -qE "^  incoming: refused incoming s2s from c\.test: not a partner; the stream is closed$" "$XP_WORK/body"; then
	tap_ok "the explain form (POST, or a ?explain= link) answers with the core's text: $(grep -o 'refused: not a partner[^<]*' "$XP_WORK/body" | head -n 1)"
else
	tap_fail "explain" "HTTP $c $(grep -o '<pre.*' "$XP_WORK/body" | head -c 300)"
fi
c=$(code -u "$ADMIN" --data-urlencode 'explain=<b>x.test' "$BASE/")
if [ "$c" = 200 ] && ! grep -q '<b>x.test' "$XP_WORK/body" && grep -q '&lt;b&gt;x.test' "$XP_WORK/body"; then
	tap_ok "input is escaped in the page"
else
	tap_fail "escaping" "HTTP $c"
fi

# ---- JSON -------------------------------------------------------------------------------
c=$(code -u "$ADMIN" "$BASE/status.json?explain=rt.test")
if [ "$c" = 200 ] && python3 - "$XP_WORK/body" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
src = {p["domain"]: p["source"] for p in d["partners"]}
assert src == {"pa.test": "config", "rt.test": "runtime"}, src
assert any(r["partner"] == "unlisted" and r["reason"] == "not_partner" and r["count"] == 1 and r["last"] for r in d["refused"]), d["refused"]
assert any(b["domain"] == "c.test" and b["active"] and b["reason"] == "not_partner" for b in d["backoff"]), d["backoff"]
assert d["explain"]["domain"] == "rt.test" and "rt.test" in d["explain"]["text"], d["explain"]
assert d["refusal_backoff"] == 300 and d["default"] == "deny"
assert [(r["domain"], r["reason"], r["at_header"]) for r in d["recent"]] == [("c.test", "not_partner", False)], d["recent"]
PY
then
	tap_ok "admin: status.json 200, the same data as JSON (partners and sources, refusals, back-off, explain)"
else
	tap_fail "status.json" "HTTP $c $(head -c 600 "$XP_WORK/body")"
fi

# ---- a real browser ------------------------------------------------------------------------
CHROMIUM=${XP_CHROMIUM:-$(command -v chromium || true)}
if [ -z "$CHROMIUM" ] && [ "${XP_REQUIRE:-0}" = 1 ]; then
	tap_fail "chromium renders the page" "chromium not installed and XP_REQUIRE=1"
	tap_fail "chromium: non-admin" "chromium not installed and XP_REQUIRE=1"
elif [ -z "$CHROMIUM" ]; then
	tap_skip "chromium renders the page" "chromium not installed"
	tap_skip "chromium: non-admin" "chromium not installed"
else
	browse() { # ARG... URL: chromium headless, fresh profile, bounded
		local profile
		profile=$(mktemp -d "$XP_WORK/chromium.XXXXXX")
		timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
			--disable-background-networking --disable-component-update --disable-sync \
			--disable-dev-shm-usage --user-data-dir="$profile" \
			--window-size=1200,1500 "$@" 2>>"$XP_WORK/chromium.err"
	}
	URL="http://admin%40ej.test:$XP_PASSWORD@$EJ_ADDR:5280/admin/partners/?explain=c.test"
	rm -f "$XP_WORK/page.png"
	(cd "$XP_WORK" && browse --screenshot="$XP_WORK/page.png" "$URL" >/dev/null)
	dom=$(browse --dump-dom "$URL")
	if [ -s "$XP_WORK/page.png" ] && [ "$(head -c 8 "$XP_WORK/page.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
		grep -q '<td>pa.test</td>' <<<"$dom" && grep -q '<td>rt.test</td>' <<<"$dom" &&
		grep -q 'refused: not a partner' <<<"$dom" && grep -q '<td>not a partner</td>' <<<"$dom"; then
		tap_ok "chromium as the admin: both partners, the refusal and the explain answer (screenshot $XP_WORK/page.png, $(stat -c %s "$XP_WORK/page.png") bytes)"
		[ -n "${XP_SCREENSHOT_DIR:-}" ] && cp "$XP_WORK/page.png" "$XP_SCREENSHOT_DIR/status-page-ejabberd.png"
	else
		tap_fail "chromium admin" "$(head -c 400 <<<"$dom") $(tail -n 5 "$XP_WORK/chromium.err")"
	fi
	dom=$(browse --dump-dom "http://alice%40ej.test:$XP_PASSWORD@$EJ_ADDR:5280/admin/partners/")
	if ! grep -q 'pa\.test' <<<"$dom"; then
		tap_ok "chromium as alice (not an admin): no partner data"
	else
		tap_fail "chromium non-admin" "$(head -c 400 <<<"$dom")"
	fi
fi
