#!/bin/bash
# tests/ejabberd/t_backoff_ejabberd.sh: refusal back-off and per-partner
# metrics on a real ejabberd 23.01 node (the ejabberd side of
# tests/integration/t_backoff.sh and t_monitoring.sh's metrics part).
#
# ej.test (tests/ejabberd/ejlib.sh) runs mod_xmpp_partners with
# refusal_backoff: 40 (windows of 10, 20, 40 s) and one partner, pa.test,
# with no server.  tests/hostile/xphostile plays c.test, not a partner,
# with a valid CA certificate for c.test, retrying in a tight, bounded
# loop: the first attempt does the whole TLS handshake and SASL EXTERNAL and
# is refused by the module before <success/> (not a partner); the retries
# are refused at the stream header with the same reason and never see
# <proceed/>; the log has the first refusal and summary lines whose counts
# add up to every attempt.  `ejabberdctl partners_reset_backoff c.test`
# ends the window; a runtime partners_add lets c.test in on its next try;
# `refusal_backoff: 0` (after reload_config) switches the back-off off.
# `ejabberdctl partners_metrics` prints the counters in the OpenMetrics
# text format, with every unlisted domain under one label.  About 40 s.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"
ej_require
xp_init
xp_hostile_init
tap_plan 14

ej_init ej.test
PKI=$XP_WORK/pki
xp_cert c c.test || xp_bail "cannot make the certificate"
ej_config <<EOF
default: deny
refusal_backoff: 40
partners:
  pa.test: {type: federated, tls: required, sasl: required, dialback: false}
EOF
ej_start || xp_bail "ejabberd did not start"
grep -q 'Partner policy loaded for ej.test: 1 partners' "$EJ_LOG"
tap_is $? 0 "ejabberd (PID $EJ_PID, mod_xmpp_partners, refusal_backoff 40) started"

NOTP='not a partner'
OUT=""
# attempt: one connection of c.test as a retrying server makes it: TLS with
# its CA certificate, SASL EXTERNAL, a stanza.
attempt() {
	OUT=$(xp_hostile "$EJ_ADDR" header c.test ej.test features starttls "$PKI/c.crt" "$PKI/c.key" \
		header c.test ej.test features auth-external - wait-close 3 2>&1)
}
# refusals_logged: "single sum": refusal lines for c.test and the summed
# counts of the summary lines, since the mark.
refusals_logged() {
	local single sum
	single=$(ej_log_new | grep -cE "refused incoming s2s from c\\.test: $NOTP")
	sum=$(ej_log_new | sed -nE "s/.*refused incoming s2s from c\\.test ([0-9]+) more times? in the last [0-9]+ s: $NOTP\$/\\1/p" |
		awk '{ s += $1 } END { print s + 0 }')
	echo "$single $sum"
}

# ---- 1. a storm of retries -------------------------------------------------------------
N=40
ej_log_mark
tls=0 header=0 other=0 first_other="" start=$(date +%s)
for i in $(seq 1 "$N"); do
	attempt
	if grep -qx 'tls: ok' <<<"$OUT"; then
		tls=$((tls + 1))
		grep -qx 'sasl: success' <<<"$OUT" && { other=$((other + 1)); first_other=$OUT; }
	elif grep -qx 'stream-error: policy-violation' <<<"$OUT" &&
		grep -qx "stream-error-text: $NOTP" <<<"$OUT" && ! grep -q '^starttls:' <<<"$OUT"; then
		header=$((header + 1))
	else
		other=$((other + 1))
		[ -z "$first_other" ] && first_other=$OUT
	fi
done
secs=$(($(date +%s) - start))
M=$(ejctl partners_metrics)
max_tls=$((1 + secs / 10))
if [ "$other" = 0 ] && [ "$tls" -ge 1 ] && [ "$tls" -le "$max_tls" ] && [ "$header" = $((N - tls)) ]; then
	tap_ok "$N rapid retries of c.test in $secs s: $tls reached TLS, $header refused at the stream header (no <proceed/>) with the same reason"
else
	tap_fail "retries refused before TLS" "tls=$tls (at most $max_tls) header=$header other=$other
${first_other}"
fi
read -r single sum < <(refusals_logged)
if [ "$single" = 1 ]; then
	tap_ok "one refusal line logged for $N attempts (so far $sum in summaries)"
else
	tap_fail "one refusal line" "$single refusal lines:
$(ej_log_new | grep -E 'refused incoming' | head -n 5)"
fi
if ej_wait_log "refused incoming s2s from c\\.test [0-9]+ more times? in the last [0-9]+ s: $NOTP" 25 &&
	sleep 1 && read -r single sum < <(refusals_logged) && [ $((single + sum)) = "$N" ]; then
	tap_ok "summary per window: $(ej_log_new | grep -oE 'refused incoming s2s from c\.test [0-9]+ more times? in the last [0-9]+ s' | head -n 1); all $N attempts accounted for"
else
	tap_fail "summary lines add up to $N" "single=$single summed=$sum
$(ej_log_new | grep -E 'refused incoming' | head -n 8)"
fi
# ejabberd's own lines about those streams count too, except the
# listener's "Accepted connection" line, which ejabberd writes for every
# TCP connection before any module sees it.
lines=$(ej_log_new | grep -E '\[(info|warning|error)\]' | grep -cv 'ejabberd_listener:accept')
acc=$(ej_log_new | grep -c 'ejabberd_listener:accept.*Accepted connection')
if [ "$lines" -le $((6 + 3 * tls)) ]; then
	tap_ok "$lines log lines at info and above for $N attempts besides ejabberd_listener's $acc 'Accepted connection' lines"
else
	tap_fail "a handful of log lines" "$lines lines:
$(ej_log_new | grep -E '\[(info|warning|error)\]' | grep -v 'ejabberd_listener:accept' | head -n 12)"
fi

# ---- 2. metrics (taken right after the storm) --------------------------------------------
refused=$(sed -nE 's/^xmpp_partners_refused_total\{partner="unlisted",direction="incoming",reason="not_partner"\} ([0-9]+)$/\1/p' <<<"$M")
if [ "${refused:-0}" -ge "$N" ] && grep -qx '# TYPE xmpp_partners_refused counter' <<<"$M" &&
	grep -qx '# EOF' <<<"$M" && [ "$(tail -n 1 <<<"$M")" = '# EOF' ] &&
	grep -qx 'xmpp_partners_refusal_backoff_origins 1' <<<"$M" && ! grep -q 'c\.test' <<<"$M"; then
	tap_ok "partners_metrics: refused_total{partner=\"unlisted\",reason=\"not_partner\"} $refused (every attempt), one origin backed off, no series per unlisted domain"
else
	tap_fail "partners_metrics counts every attempt" "$M"
fi

# ---- 3. partners_reset_backoff -----------------------------------------------------------
out=$(ejctl partners_reset_backoff c.test)
rc=$?
ej_log_mark
attempt
if [ "$rc" = 0 ] && grep -q 'refusal back-off of c.test ended' <<<"$out" && grep -qx 'tls: ok' <<<"$OUT" &&
	grep -qx "stream-error-text: $NOTP" <<<"$OUT" && ej_wait_log "refused incoming s2s from c\\.test: $NOTP" 5; then
	tap_ok "partners_reset_backoff c.test: '$out'; its next try is judged afresh (TLS, refused, logged again)"
else
	tap_fail "partners_reset_backoff" "rc=$rc out=$out
$OUT"
fi
attempt
if grep -qx 'stream-error: policy-violation' <<<"$OUT" && ! grep -q '^starttls:' <<<"$OUT"; then
	tap_ok "the retry after that is refused at the header again (a new window)"
else
	tap_fail "new window after reset" "$OUT"
fi
out=$(ejctl partners_reset_backoff nothing.test)
rc=$?
if [ "$rc" = 0 ] && [ "$out" = "nothing.test has no refusal back-off" ]; then
	tap_ok "partners_reset_backoff of a domain without back-off says so"
else
	tap_fail "partners_reset_backoff nothing.test" "rc=$rc out=$out"
fi
out=$(ejctl partners_reset_backoff 'bad..domain')
rc=$?
if [ "$rc" != 0 ] && [ -n "$out" ]; then
	tap_ok "partners_reset_backoff of an invalid domain fails (exit $rc): $out"
else
	tap_fail "partners_reset_backoff bad..domain" "rc=$rc out=$out"
fi

# ---- 4. a runtime change ends the window -------------------------------------------------
attempt
grep -qx 'stream-error: policy-violation' <<<"$OUT" && ! grep -q '^starttls:' <<<"$OUT"
window=$?
out=$(ejctl partners_add c.test "{type: federated, tls: required, sasl: required, dialback: false}")
rc=$?
attempt
if [ "$window" = 0 ] && [ "$rc" = 0 ] && grep -qx 'tls: ok' <<<"$OUT" && grep -qx 'sasl: success' <<<"$OUT"; then
	tap_ok "in a window, then partners_add c.test: its next try passes TLS and SASL EXTERNAL succeeds"
else
	tap_fail "partners_add ends the window" "window=$window rc=$rc $out
$OUT"
fi
M=$(ejctl partners_metrics)
if grep -qE '^xmpp_partners_authenticated_total\{partner="c\.test",direction="incoming",method="sasl_tls"\} 1$' <<<"$M" &&
	grep -qx 'xmpp_partners_refusal_backoff_origins 0' <<<"$M"; then
	tap_ok "partners_metrics: c.test now has its own series (authenticated_total, sasl_tls 1), no origin backed off"
else
	tap_fail "metrics after partners_add" "$M"
fi

# ---- 5. refusal_backoff: 0 ---------------------------------------------------------------
# d.test (not a partner) asks for dialback twice: with the back-off on, the
# second stream gets no features (refused at the header); with 0, both do.
dial() { xp_hostile "$EJ_ADDR" header d.test ej.test features db-result d.test ej.test evil-key wait-close 3 2>&1; }
o1=$(dial)
o2=$(dial)
if grep -qx 'features: starttls dialback' <<<"$o1" && grep -qx 'features: none' <<<"$o2" &&
	grep -qx "stream-error-text: $NOTP" <<<"$o2"; then
	tap_ok "refusal_backoff 40: d.test's second dialback attempt is refused at the header (no features)"
else
	tap_fail "back-off for d.test" "$o1
----
$o2"
fi
ej_config <<EOF
default: deny
refusal_backoff: 0
partners:
  pa.test: {type: federated, tls: required, sasl: required, dialback: false}
EOF
out=$(ejctl reload_config)
rc=$?
o1=$(dial)
o2=$(dial)
if [ "$rc" = 0 ] && grep -qx 'features: starttls dialback' <<<"$o1" && grep -qx 'features: starttls dialback' <<<"$o2" &&
	grep -qx "stream-error-text: $NOTP" <<<"$o2"; then
	tap_ok "reload_config with refusal_backoff 0: both attempts get the full negotiation and the refusal"
else
	tap_fail "refusal_backoff 0" "rc=$rc $out
$o1
----
$o2"
fi
