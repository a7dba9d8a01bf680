#!/bin/bash
# tests/ejabberd/t_hostile_ejabberd.sh: hostile s2s peers against a real
# ejabberd 23.01 node running mod_xmpp_partners (the ejabberd side of
# tests/integration/t_hostile.sh).
#
# ej.test is the node (tests/ejabberd/ejlib.sh: own address 127.72.X.1,
# config, spool, log; stopped by PID at exit).  pa.test is a real Prosody
# partner with bob@pa.test, whose messages to alice@ej.test are the positive
# controls.  The other partners have no server: tests/hostile/xphostile
# plays them against ej.test's s2s port, each with other rules:
#
#   h.test        tls required, sasl required, dialback false (row 2); the
#                 peer has a CA certificate for it
#   req.test      tls required, sasl optional, dialback true (row 7)
#   nodb.test     tls required, sasl optional, dialback false (row 8)
#   saslreq.test  tls required, sasl required, dialback true (row 1)
#   plain.test    tls not_supported, sasl not_supported, dialback true (17)
#   c.test        not a partner (default: deny)
#
# Every case asserts, in one TAP line, what the peer saw (stream error,
# SASL failure, dialback verdict, close), the refusal line in ejabberd's log
# (the module's "refused incoming s2s from DOMAIN: REASON", or ejabberd's
# own line where ejabberd decides, which the case name says), that nothing
# the peer sent reached alice@ej.test (every hostile body starts with
# "evil-"; alice's client records every stanza) and that a fresh message
# from bob@pa.test arrives right after.  About 40 s.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"
ej_require
xp_init
xp_hostile_init
tap_plan 54

# ---- certificates, servers, accounts ------------------------------------------------
ej_init ej.test
xp_host pa.test
PKI=$XP_WORK/pki
ok=1
xp_cert h h.test || ok=0                     # the peer's good certificate
xp_cert c c.test || ok=0                     # CA-signed, for the non-partner
xp_cert other other.test || ok=0             # CA-signed, another domain
xp_cert_selfsigned h-self h.test || ok=0     # untrusted (self-signed)
xp_cert_expired h-old h.test || ok=0         # CA-signed, expired in 2020
[ "$ok" = 1 ] || xp_bail "cannot make the certificates"
xp_start_prosody pa "$(xp_addr pa.test)" pa.test || xp_bail "prosody did not start"
# refusal_backoff 0: each case's peer must meet the full negotiation, not
# the header refusal the previous case's refusal would earn it
# (t_backoff_ejabberd.sh tests that).
ej_config <<EOF
default: deny
refusal_backoff: 0
partners:
  pa.test: {type: federated, tls: optional, sasl: optional, dialback: true, proxy: "$(xp_server_addr pa):5269"}
  h.test: {type: federated, tls: required, sasl: required, dialback: false}
  req.test: {type: federated, tls: required, sasl: optional, dialback: true}
  nodb.test: {type: federated, tls: required, sasl: optional, dialback: false}
  saslreq.test: {type: federated, tls: required, sasl: required, dialback: true}
  plain.test: {type: federated, tls: not_supported, sasl: not_supported, dialback: true}
EOF
ej_start || xp_bail "ejabberd did not start"
{ ej_register alice && xp_register pa bob@pa.test; } >"$XP_WORK/register.out" 2>&1 ||
	xp_bail "cannot register: $(cat "$XP_WORK/register.out")"
grep -q 'Partner policy loaded for ej.test: 6 partners, unlisted domains refused' "$EJ_LOG"
tap_is $? 0 "ejabberd (PID $EJ_PID, mod_xmpp_partners, 6 partners, unlisted refused) and pa.test's Prosody started"
xp_client_bg rx --resource rx alice@ej.test wait 600
xp_client_ready rx || xp_bail "alice did not log in: $(xp_client_report rx)"
RX=$(xp_client_out rx)

# ---- helpers ---------------------------------------------------------------------------
OUT="" RC=0 N=0
T=()
# peer STEP...: mark ejabberd's log and run the hostile peer against the
# node; its outcome lines in $OUT.
peer() {
	ej_log_mark
	OUT=$(xp_hostile "$EJ_ADDR" "$@" 2>&1)
	RC=$?
}
# tls_as DOMAIN CERT: T gets the steps of a stream from DOMAIN that starts
# TLS with certificate CERT ("-": none) and restarts the stream.
tls_as() {
	local crt=- key=-
	[ "$2" = - ] || { crt=$PKI/$2.crt key=$PKI/$2.key; }
	T=(header "$1" ej.test features starttls "$crt" "$key" header "$1" ej.test features)
}
# control: send bob@pa.test's next message to alice; fails unless it
# arrives (bounded) and nothing hostile ("evil-") reached alice.
control() {
	local body out i
	N=$((N + 1))
	body=ctl-$N
	out=$(xp_client bob@pa.test send alice@ej.test "$body" 2>&1)
	for i in $(seq 1 150); do
		grep -q "body=$body\$" "$RX" && break
		sleep 0.1
	done
	grep -q "body=$body\$" "$RX" || { echo "bob's message $body did not reach alice: $out"; return 1; }
	if grep -q 'body=evil-' "$RX"; then echo "delivered to alice: $(grep 'body=evil-' "$RX")"; return 1; fi
}
# verdict NAME LOGRE [!NOLOGRE] [+BODY...] LINE...: one case.  Every LINE
# (extended regex, whole line) is in $OUT; LOGRE appears in ejabberd's log
# since the peer started (bounded wait), NOLOGRE does not; each BODY
# reached alice; then control().
verdict() {
	local name=$1 logre=$2 nolog="" bad="" re msg
	shift 2
	ej_wait_log "$logre" 5 || bad+=$'\n'"not in ejabberd's log: $logre"
	if [ "${1:0:1}" = '!' ]; then nolog=${1:1}; shift; fi
	if [ -n "$nolog" ] && ej_log_new | grep -qE -- "$nolog"; then bad+=$'\n'"unexpected log line: $nolog"; fi
	while [ "${1:0:1}" = + ]; do
		grep -q "body=${1:1}\$" "$RX" || bad+=$'\n'"${1:1} did not reach alice"
		shift
	done
	for re in "$@"; do
		grep -qxE -- "$re" <<<"$OUT" || bad+=$'\n'"peer did not see: $re"
	done
	msg=$(control) || bad+=$'\n'"$msg"
	if [ -z "$bad" ]; then
		tap_ok "$name; nothing reached alice, bob@pa.test's next message did"
	else
		tap_fail "$name" "peer exit $RC$bad
---- peer:
$OUT
---- ejabberd log since the peer started:
$(ej_log_new | tail -n 12)"
	fi
}
PV='stream-error: policy-violation'
REF='refused incoming s2s from'

ej_log_mark
msg=$(control)
ej_wait_log 'Accepted inbound s2s EXTERNAL authentication pa\.test -> ej\.test' 5
tap_is "$msg$?" 0 \
	"control before any attack: bob@pa.test's message reaches alice@ej.test (SASL EXTERNAL)"

# Negotiation that never finishes (ejabberd's negotiation_timeout, 10 s in
# ejlib.sh's config): in the background while the other scenarios play.
xp_hostile_bg stall "$EJ_ADDR" header h.test ej.test features wait-close 25

# ---- the allow list --------------------------------------------------------------------
peer header c.test ej.test features db-result c.test ej.test evil-key wait-close 3
verdict "non-partner c.test asks for dialback: policy-violation, refused by the module" \
	"$REF c\\.test: not a partner" "$PV" 'stream-error-text: not a partner' 'wait-close: closed'

peer header c.test ej.test features msg carl@c.test alice@ej.test evil-unauth wait-close 3
verdict "non-partner c.test sends a stanza without authenticating: not-authorized (ejabberd)" \
	'Closing inbound s2s connection c\.test -> ej\.test: Stream closed by local host: not-authorized' \
	'stream-error: not-authorized' 'wait-close: closed'

tls_as c.test c
peer "${T[@]}" auth-external - header c.test ej.test features msg carl@c.test alice@ej.test evil-ext wait-close 3
verdict "non-partner c.test with a valid CA certificate for c.test tries SASL EXTERNAL: policy-violation before <success/>, refused by the module" \
	"$REF c\\.test: not a partner" 'features: sasl:EXTERNAL( dialback)?' "$PV" \
	'stream-error-text: not a partner' 'sasl: none'

peer header "һ.test" ej.test features db-result "һ.test" ej.test evil-key wait-close 3
verdict "look-alike 'һ.test' (Cyrillic shha for h.test) asks for dialback: not a partner, policy-violation" \
	"$REF һ\\.test: not a partner" "$PV" 'stream-error-text: not a partner'

peer header C.TEST. ej.test features db-result C.TEST. ej.test evil-key wait-close 3
verdict "'C.TEST.' (case and trailing dot of the unlisted c.test): still not a partner, policy-violation" \
	"$REF c\\.test\\.: not a partner" "$PV" 'stream-error-text: not a partner'

peer header - ej.test features starttls "$PKI/other.crt" "$PKI/other.key" header - ej.test features \
	db-result c.test ej.test evil-key wait-close 3
verdict "no 'from' in the header, then dialback for c.test over TLS: refused by the module" \
	"$REF c\\.test: not a partner" "$PV"

LONG_LABEL=$(printf 'a%.0s' $(seq 1 64)).test
peer header "$LONG_LABEL" ej.test features db-result "$LONG_LABEL" ej.test evil-key wait-close 3
verdict "a 64-octet label: not a valid domain, policy-violation, refused by the module" \
	"$REF a{64}\\.test: not a valid domain" "$PV" 'stream-error-text: not a valid domain'

# ---- TLS rules --------------------------------------------------------------------------
peer header req.test ej.test features db-result req.test ej.test evil-key wait-close 3
# s2s_use_starttls is optional: <required/> is the module's answer for
# req.test, which ejabberd then enforces with its own text and log line.
STLS='Closing inbound s2s connection req\.test -> ej\.test: Stream closed by local host: Use of STARTTLS required \(policy-violation\)'
verdict "dialback before STARTTLS from req.test (tls = required): only <starttls><required/> offered (module); policy-violation 'Use of STARTTLS required' (ejabberd)" \
	"$STLS" 'features: starttls-required' "$PV" 'stream-error-text: Use of STARTTLS required' 'wait-close: closed'

peer header req.test ej.test features msg x@req.test alice@ej.test evil-plain wait-close 3
verdict "a stanza before STARTTLS from req.test (tls = required): policy-violation 'Use of STARTTLS required' (ejabberd, at the module's answer)" \
	"$STLS" 'features: starttls-required' "$PV" 'wait-close: closed'

peer header req.test ej.test features auth-external - msg x@req.test alice@ej.test evil-noenc wait-close 3
verdict "SASL EXTERNAL before STARTTLS from req.test: <failure><encryption-required/> (ejabberd); the stanza after it: policy-violation (ejabberd)" \
	"$STLS" 'sasl: failure encryption-required' "$PV" 'wait-close: closed'

peer header plain.test ej.test features starttls - - wait-close 3
verdict "STARTTLS from plain.test (tls = not_supported): not offered (module), answered <failure/> and closed (ejabberd: starttls_unsupported)" \
	'Failed to secure inbound s2s connection: TLS failed: starttls_unsupported' \
	'features: dialback' 'starttls: failure' 'stream-end' 'wait-close: closed'

# ---- dialback rules ------------------------------------------------------------------------
tls_as nodb.test -
peer "${T[@]}" db-result nodb.test ej.test evil-key wait-close 3
verdict "dialback over TLS for nodb.test (dialback = false): policy-violation, refused by the module, never verified" \
	"$REF nodb\\.test: dialback is not allowed" '!ej\.test -> nodb\.test' "$PV"

tls_as saslreq.test -
peer "${T[@]}" db-result saslreq.test ej.test evil-key wait-close 3
verdict "dialback over TLS for saslreq.test (sasl = required): policy-violation, refused by the module" \
	"$REF saslreq\\.test: the partner must authenticate with SASL EXTERNAL" '!ej\.test -> saslreq\.test' "$PV"

# ---- SASL EXTERNAL and certificates ----------------------------------------------------------
tls_as h.test h
peer "${T[@]}" auth-external - header h.test ej.test features msg x@h.test alice@ej.test h-ok wait 1 close
verdict "control: h.test with its CA certificate authenticates by SASL EXTERNAL; its message arrives" \
	'Accepted inbound s2s EXTERNAL authentication h\.test' +h-ok 'sasl: success'

tls_as h.test other
peer "${T[@]}" auth-external - wait-close 3
FAILEXT='Failed inbound s2s EXTERNAL authentication h\.test -> ej\.test \(127\.0\.0\.1\): '
peer "${T[@]}" auth-external - db-result h.test ej.test evil-key wait-close 3
verdict "h.test with a CA certificate for other.test: EXTERNAL <failure><not-authorized/> (ejabberd: host name mismatch); falling back to dialback: policy-violation, refused by the module" \
	"$REF h\\.test: dialback is not allowed" "!Accepted inbound s2s" 'sasl: failure not-authorized' "$PV" \
	'stream-error-text: dialback is not allowed for this partner \(dialback = false\)'
ej_log_new | grep -qE "${FAILEXT}Certificate host name mismatch"
tap_is $? 0 "ejabberd logged the EXTERNAL failure for the other.test certificate: host name mismatch"

tls_as h.test h-self
peer "${T[@]}" auth-external - wait-close 3
verdict "h.test with a self-signed certificate: EXTERNAL <failure><not-authorized/> (ejabberd verifies the chain)" \
	"${FAILEXT}self signed certificate" '!Accepted inbound s2s' 'sasl: failure not-authorized'

tls_as h.test h-old
peer "${T[@]}" auth-external - wait-close 3
verdict "h.test with an expired CA-signed certificate: EXTERNAL <failure><not-authorized/> (ejabberd verifies the chain)" \
	"${FAILEXT}certificate has expired" '!Accepted inbound s2s' 'sasl: failure not-authorized'

tls_as h.test h
peer "${T[@]}" auth-external c.test header h.test ej.test features msg x@c.test alice@ej.test evil-authzid wait-close 3
verdict "h.test's good certificate with authzid c.test: ejabberd ignores the authzid and authenticates h.test only; a stanza from c.test: invalid-from (ejabberd)" \
	'Closing inbound s2s connection h\.test -> ej\.test: Stream closed by local host: invalid-from' \
	'!(Accepted inbound s2s [A-Z]+ authentication c\.test|ej\.test -> c\.test)' 'sasl: success' 'stream-error: invalid-from'

# ---- piggybacking on an authenticated stream ---------------------------------------------
tls_as h.test h
H_AUTH=("${T[@]}" auth-external - header h.test ej.test features)
peer "${H_AUTH[@]}" db-result c.test ej.test evil-key db-result nodb.test ej.test evil-key \
	msg x@h.test alice@ej.test pb-h wait 1 msg carl@c.test alice@ej.test evil-pb wait-close 3
verdict "dialback for c.test (unlisted) and nodb.test (dialback = false) piggybacked on h.test's SASL stream: db:result error, h.test's message still arrives" \
	"$REF nodb\\.test: dialback is not allowed" '!ej\.test -> (c|nodb)\.test' +pb-h 'sasl: success' \
	'db-result: c\.test error' 'db-result: nodb\.test error' 'stream-error: invalid-from'
n=$(ej_log_new | grep -c "$REF c\.test: not a partner")
tap_is "$n" 1 "piggybacked c.test: 'refused incoming s2s from c.test: not a partner' logged once; its stanza closed the stream (invalid-from, ejabberd)"

peer "${H_AUTH[@]}" msg bob@pa.test alice@ej.test evil-from-pa wait-close 3
verdict "a stanza from bob@pa.test (a partner not authenticated on this stream) over h.test's stream: invalid-from (ejabberd)" \
	'Closing inbound s2s connection h\.test -> ej\.test: Stream closed by local host: invalid-from' \
	'sasl: success' 'stream-error: invalid-from'

# ---- garbage and size ------------------------------------------------------------------------
peer send "<<<garbage>>>" wait-close 3
verdict "garbage instead of a stream header: not-well-formed (ejabberd)" \
	'Stream closed by local host: not well-formed \(invalid token\) \(not-well-formed\)' \
	'stream-error: not-well-formed' 'wait-close: closed'

peer header c.test ej.test features send "<db:result from='c.test' to='ej.test'>" \
	repeat 200000 "xxxxxxxxxx" send "</db:result>" wait-close 10
verdict "non-partner c.test sends a 2 MB dialback key: policy-violation, refused by the module (preauth_bytes, before the dialback check)" \
	"$REF c\\.test: the stream sent more than preauth_bytes" "$PV" 'wait-close: closed'

# ---- the stalled negotiation ------------------------------------------------------------------
xp_client_wait stall 30
OUT=$(cat "$(xp_client_out stall)")
IDLE='Closing inbound s2s connection h\.test -> ej\.test: Stream closed by local host: Idle connection \(connection-timeout\)'
t=$(sed -n 's/^closed: after \([0-9]*\)\..*/\1/p' <<<"$OUT")
if grep -qx 'stream-error: connection-timeout' <<<"$OUT" && [ "${t:-0}" -ge 8 ] && [ "${t:-99}" -le 20 ] &&
	grep -qE "$IDLE" "$EJ_LOG"; then
	tap_ok "h.test opens a stream and stalls: connection-timeout 'Idle connection' after ${t} s (ejabberd's negotiation_timeout, 10 s), logged"
else
	tap_fail "a stalled negotiation is closed by ejabberd's negotiation_timeout" "$OUT
$(grep -F 'h.test -> ej.test' "$EJ_LOG" | tail -n 5)"
fi

# ---- partner lock-out: unauthenticated streams held in a partner's name (issue 19) ------------
# tests/hostile/xphold holds N streams whose headers claim pa.test (or other
# partners), never authenticates and reopens what ej.test closes, from an
# address of its own (tests/hostile/hold.sh).  Before each round every s2s stream
# of the node is stopped, so pa.test and ej.test must open new ones under
# attack.  (ejabberd's connection limits already counted authenticated
# streams only; the per-address cap must still let pa.test through.)
. "$top_srcdir/tests/hostile/hold.sh"
hold() { xp_hold "$1" "$EJ_ADDR" "$2" ej.test "$3"; } # NAME FROM STREAMS
unhold() { xp_unhold "$@"; }                          # NAME STREAMS
rounds() { # LABEL
	local r
	for r in 1 2; do
		ejctl stop_s2s_connections >/dev/null
		sleep 0.5
		N=$((N + 1))
		xp_delivered "$1, round $r: bob@pa.test -> alice@ej.test over a new stream" bob@pa.test alice@ej.test "hold-in-$N"
		xp_delivered "$1, round $r: alice@ej.test -> bob@pa.test over a new stream" alice@ej.test bob@pa.test "hold-out-$N"
	done
}
ej_log_mark
hold hold20 pa.test 20
sleep 2
rounds "20 held streams in pa.test's name"
unhold hold20 20
n=$(ej_log_new | grep -c "$REF pa\.test: too many unauthenticated streams from one address")
if [ "$n" -ge 1 ] && [ "$n" -le 2 ]; then
	tap_ok "per-address cap: the closures are logged once per window ($n line), not once per stream"
else
	tap_fail "per-address cap logged once per window" "$n lines"
fi
hold hold200 pa.test 200
sleep 2
rounds "200 held streams in pa.test's name"
unhold hold200 200
for d in h.test req.test nodb.test saslreq.test plain.test; do hold "hold-${d%%.*}" "$d" 20; done
sleep 2
rounds "100 held streams in five other partners' names"
for d in h.test req.test nodb.test saslreq.test plain.test; do unhold "hold-${d%%.*}" 20; done
# ejabberd logs every stream it closes; let its logger drain the burst
# (OTP's logger drops lines while overloaded) before the next log checks.
sleep 5

# ---- input before authentication ----------------------------------------------------------
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$EJ_PID/status"; }
RSS0=$(rss)
peer header req.test ej.test features send "<db:result from='req.test' to='ej.test'>" \
	repeat 20000 "<x>" repeat 20000 "</x>" send "</db:result>" wait-close 5
verdict "a <db:result/> nested 20000 deep before authentication: not-well-formed (preauth_depth)" \
	"$REF req\\.test: elements nested deeper than preauth_depth" 'stream-error: not-well-formed' 'wait-close: closed'
RSS1=$(rss)
peer header pa.test ej.test features send "<db:result from='pa.test' to='ej.test'>" \
	repeat 10000 "xxxxxxxxxx" send "</db:result>" wait-close 5
verdict "a 100 kB dialback key from partner pa.test: policy-violation (preauth_bytes)" \
	"$REF pa\\.test: the stream sent more than preauth_bytes" "$PV" 'wait-close: closed'
peer send "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='pa.test' to='ej.test' version='1.0' x='" \
	repeat 104858 xxxxxxxxxx send "'>" wait-close 5
RSS2=$(rss)
tap_diag "1 MiB stream header: $(grep -E '^(stream|stream-error|closed|end):' <<<"$OUT" | tr '\n' ' ')"
tap_diag "ejabberd RSS: ${RSS0} kB before, ${RSS1} kB after the nesting, ${RSS2} kB after the 100 kB key and the 1 MiB header"
if [ -n "$RSS0" ] && [ -n "$RSS2" ] && [ $((RSS2 - RSS0)) -lt 32768 ]; then
	tap_ok "pre-authentication input kept ejabberd's RSS within 32 MiB (${RSS0} -> ${RSS1} -> ${RSS2} kB)"
else
	tap_fail "pre-authentication input bounded in memory" "RSS ${RSS0} -> ${RSS1} -> ${RSS2} kB"
fi

# ---- the node survived ------------------------------------------------------------------------
pid=$EJ_PID
kill -0 "$pid" 2>/dev/null
tap_is $? 0 "ejabberd (PID $pid) is still running after every attack"
ej_stop
kill -0 "$pid" 2>/dev/null
tap_is $? 1 "ejabberd node (PID $pid) stopped"
tap_stop_all
tap_done
