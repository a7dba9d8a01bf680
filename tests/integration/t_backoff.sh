#!/bin/bash
# t_backoff.sh: refusal back-off against a peer that retries at once.
#
# a.test runs the module with xmpp_partners_refusal_backoff = 40 (windows of
# 10, 20, 40 s).  h.test is a partner with the default rules (tls and sasl
# required, no dialback); tests/hostile/xphostile plays it with a
# self-signed certificate and retries in a tight, bounded loop: the first
# attempt does the whole TLS handshake and is refused (certificate not
# trusted), the retries are refused at the stream header with the same
# reason and never see <proceed/>; the log has the first refusal and one
# summary line per window whose counts add up to every attempt.
# `partners reset_backoff h.test` and a reload end the window at once;
# refusal_backoff = 0 switches it off.  c.test, a real Prosody that is not a
# partner, is refused; added at runtime, its next message goes through.
# (The issue's peer is jabberd2; it is not installed here, so the raw peer
# plays the retrying server.)

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
xp_hostile_init
tap_plan 16

for d in a.test c.test; do xp_host "$d"; done
A=$(xp_addr a.test)
PKI=$XP_WORK/pki
xp_cert_selfsigned h-self h.test || xp_bail "cannot make the certificate"
UNTRUSTED='the certificate chain is not trusted and its key matches no pinned fingerprint'
write_partners() { # BACKOFF
	cat >"$XP_WORK/partners-a.lua" <<EOT
xmpp_partners = {
	["h.test"] = { type = "federated" };
}
xmpp_partners_refusal_backoff = $1
EOT
}
write_partners 40
ok=1
xp_start_prosody a "$A" a.test --module xmpp_partners \
	--extra-lua "Include $(xp__lua_str "$XP_WORK/partners-a.lua")" || ok=0
xp_start_prosody c "$(xp_addr c.test)" c.test || ok=0
if [ "$ok" = 1 ] && xp_wait_log a 'Partner policy loaded: 1 partners' 5; then
	tap_ok "a.test (mod_xmpp_partners, h.test a partner, back-off up to 40 s) and c.test started"
else
	tap_fail "servers started"
	xp_bail "cannot start the servers"
fi
for acct in a:alice@a.test c:carol@c.test; do
	xp_register "${acct%%:*}" "${acct#*:}" >>"$XP_WORK/register.out" 2>&1 ||
		xp_bail "cannot register ${acct#*:}: $(cat "$XP_WORK/register.out")"
done

# attempt: one connection of h.test with the untrusted certificate, as a
# retrying server makes it; its output lines in $OUT.
OUT=""
attempt() {
	OUT=$(xp_hostile "$A" header h.test a.test features starttls "$PKI/h-self.crt" "$PKI/h-self.key" \
		header h.test a.test features auth-external - wait-close 3 2>&1)
}
# refusals_logged: individual refusal lines plus the counts of summary
# lines for h.test since the mark.
refusals_logged() {
	local single sum
	single=$(xp_log_new a | grep -vE '	debug	' | grep -cE "refused incoming s2s from h\\.test: $UNTRUSTED")
	sum=$(xp_log_new a | sed -nE "s/.*refused incoming s2s from h\\.test ([0-9]+) more times? in the last [0-9]+ s: $UNTRUSTED\$/\\1/p" |
		awk '{ s += $1 } END { print s + 0 }')
	echo "$single $sum"
}

# ---- 1. a storm of retries -----------------------------------------------------------
N=40
xp_log_mark a
tls=0 header=0 other=0 start=$(date +%s)
for i in $(seq 1 "$N"); do
	attempt
	if grep -qx 'tls: ok' <<<"$OUT"; then
		tls=$((tls + 1))
	elif grep -qx 'stream-error: policy-violation' <<<"$OUT" &&
		grep -qx "stream-error-text: $UNTRUSTED" <<<"$OUT" && ! grep -q '^starttls:' <<<"$OUT"; then
		header=$((header + 1))
	else
		other=$((other + 1))
		[ "$other" = 1 ] && first_other=$OUT
	fi
done
secs=$(($(date +%s) - start))
# The first window is 10 s: a loop slower than that meets one more TLS
# handshake per window that ended during it.
max_tls=$((1 + secs / 10))
if [ "$other" = 0 ] && [ "$tls" -ge 1 ] && [ "$tls" -le "$max_tls" ] && [ "$header" = $((N - tls)) ]; then
	tap_ok "$N rapid retries in $secs s: $tls reached TLS, $header refused at the stream header (no <proceed/>) with the same reason"
else
	tap_fail "retries refused before TLS" "tls=$tls (at most $max_tls) header=$header other=$other
${first_other:-}"
fi
read -r single sum < <(refusals_logged)
if [ "$single" = 1 ]; then
	tap_ok "one refusal line logged for $N attempts (so far $sum in summaries)"
else
	tap_fail "one refusal line" "$single refusal lines:
$(xp_log_new a | grep -E 'refused incoming' | head -n 5)"
fi
# Every window ends in a summary; their counts and the first line add up
# to every attempt.
if xp_wait_new_log a "refused incoming s2s from h\\.test [0-9]+ more times? in the last [0-9]+ s: $UNTRUSTED" 25 &&
	sleep 1 && read -r single sum < <(refusals_logged) && [ $((single + sum)) = "$N" ]; then
	tap_ok "summary per window: $(xp_log_new a | grep -oE 'refused incoming s2s from h\.test [0-9]+ more times? in the last [0-9]+ s' | head -n 1); all $N attempts accounted for"
else
	tap_fail "summary lines add up to $N" "single=$single summed=$sum
$(xp_log_new a | grep -E 'refused incoming' | head -n 8)"
fi
# Not only the module's lines: Prosody's own (stream closed, no features)
# at info and above count too.
lines=$(xp_log_new a | grep -cvE '	debug	')
if [ "$lines" -le 6 ]; then
	tap_ok "$lines log lines at info and above for $N attempts (Prosody's own included)"
else
	tap_fail "a handful of log lines" "$lines lines:
$(xp_log_new a | grep -vE '	debug	' | head -n 12)"
fi

# ---- 2. the window grows, and resets end it -----------------------------------------
# The origin is remembered after its window: the next failing attempt opens
# a longer window without a log line of its own.
xp_log_mark a
attempt
first=$OUT
attempt
if grep -qx 'tls: ok' <<<"$first" && ! grep -q '^starttls:' <<<"$OUT" &&
	grep -qx "stream-error-text: $UNTRUSTED" <<<"$OUT" &&
	[ "$(xp_log_new a | grep -vE '	debug	' | grep -c "refused incoming s2s from h\\.test: ")" = 0 ]; then
	tap_ok "after the window: one more full attempt, then refused at the header again, no new log line"
else
	tap_fail "next window" "first:
$first
second:
$OUT"
fi
out=$(xp_shell_cmd a partners reset_backoff h.test 2>&1)
attempt
if grep -q 'h.test: refusal back-off ended' <<<"$out" && grep -qx 'tls: ok' <<<"$OUT"; then
	tap_ok "partners reset_backoff h.test: the next attempt is judged afresh (reaches TLS)"
else
	tap_fail "reset_backoff" "shell: $out
peer:
$OUT"
fi
out=$(xp_shell_cmd a partners reset_backoff nothing.test 2>&1)
if grep -q 'nothing.test has no refusal back-off' <<<"$out"; then
	tap_ok "reset_backoff of a domain without back-off says so"
else
	tap_fail "reset_backoff without back-off" "$out"
fi
attempt
held=$OUT
xp_reload a || true
attempt
if ! grep -q '^starttls:' <<<"$held" && grep -qx 'tls: ok' <<<"$OUT"; then
	tap_ok "a reload ends the window: the next attempt reaches TLS"
else
	tap_fail "reload ends the window" "held:
$held
after reload:
$OUT"
fi

# ---- 3. refusal_backoff = 0 ------------------------------------------------------------
write_partners 0
xp_reload a || true
xp_log_mark a
attempt
o1=$OUT
attempt
if grep -qx 'tls: ok' <<<"$o1" && grep -qx 'tls: ok' <<<"$OUT" &&
	xp_wait_new_log a "refused incoming s2s from h\\.test: $UNTRUSTED" 3 2; then
	tap_ok "xmpp_partners_refusal_backoff = 0: every attempt is judged in full and logged"
else
	tap_fail "back-off off" "first:
$o1
second:
$OUT"
fi
write_partners 40
xp_reload a || true

# ---- 4. a real server that is not a partner, then fixed at runtime --------------------
xp_log_mark a
out=$(xp_client carol@c.test send alice@a.test not-yet 2>&1)
if xp_wait_new_log a 'refused incoming s2s from c\.test: not a partner' 10; then
	tap_ok "c.test (not a partner) refused and logged"
else
	tap_fail "c.test refused" "$out"
fi
xp_log_mark a
# A second stream from c.test while its window is open: refused at the
# header, counted, not logged.  (c.test retries when a new stanza is
# queued; its old stream may still be closing, so give it a moment.)
sleep 1
out=$(xp_client carol@c.test send alice@a.test still-not 2>&1)
if xp_wait_new_log a 'refused incoming s2s from c\.test: not a partner \(refusal back-off: at the stream header' 10 &&
	[ "$(xp_log_new a | grep -vE '	debug	' | grep -c 'refused incoming s2s from c\.test')" = 0 ]; then
	tap_ok "c.test's retry within the window is not logged again"
else
	tap_fail "c.test retry quiet" "$(xp_log_new a | grep -E 'refused incoming' | head -n 4)"
fi
out=$(xp_shell_cmd a partners add c.test '{ type = "federated", tls = "required", sasl = "optional", dialback = true }' 2>&1)
if grep -qi 'added\|c\.test' <<<"$out"; then
	tap_ok "partners add c.test (runtime) ends its back-off"
else
	tap_fail "partners add c.test" "$out"
fi
xp_delivered "c.test's next message after the runtime add arrives at once" carol@c.test alice@a.test fixed-now

tap_stop_all
tap_done
