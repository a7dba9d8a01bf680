#!/bin/bash
# t_matrix.sh: every loadable row of the negotiation matrix against real
# Prosody peers, driven by negotiation-matrix.tsv itself so that rows and
# tests cannot drift apart.
#
# a.test runs mod_xmpp_partners.  Five plain Prosody peers (no policy module)
# are all partners of a.test, and for each row a.test gives all five that
# row's tls/sasl/dialback (one reload per row):
#
#   b.test        can do everything: STARTTLS, a certificate from the test
#                 CA, trusts that CA (so SASL EXTERNAL works both ways) and
#                 dialback;
#   b-sasl.test   only SASL EXTERNAL over TLS: requires TLS, no dialback
#                 module, and (test module mod_xp_test_insist) tries EXTERNAL
#                 even when a.test does not offer it;
#   b-dbtls.test  only dialback over TLS: requires TLS, and its s2s
#                 certificate (from the test CA) names another domain, so it
#                 can never prove b-dbtls.test with SASL EXTERNAL although it
#                 would try;
#   b-dbtcp.test  only dialback on plain TCP: TLS disabled;
#   b-self.test   like b.test, but its s2s certificate is self-signed: it can
#                 do dialback over TLS or plain TCP, never SASL EXTERNAL.
#
# For each row and peer: when the row allows a method the peer can do, the
# peer federates both ways and every authentication a.test accepted used a
# method both allow; otherwise the peer is refused both ways with the
# refusal logged (a user's message bounces each way, nothing is delivered).
# So a sasl = required partner with a wrong or self-signed certificate is
# refused although it could do dialback, a dialback = false partner that
# only does dialback is refused, and so on.  The method is read from
# mod_xmpp_partners' debug line "partner policy accepted <direction> <domain>
# by <method>", cross-checked with Prosody's own SASL EXTERNAL log lines and
# with mod_s2s's authentication counters (read with prosodyctl shell).  For
# tls = not_supported rows b.test's log must show that no STARTTLS was
# offered.  Error rows must not load: a reload to one keeps the table in
# force.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${XP_MATRIX:=$top_srcdir/doc/negotiation-matrix.tsv}"
. "$top_srcdir/tests/integration/lib.sh"

MATRIX=$XP_MATRIX
xp_init
[ -r "$MATRIX" ] || xp__missing "no negotiation matrix at $MATRIX (set XP_MATRIX)"

# ---- the matrix ------------------------------------------------------------------
declare -a ROWS=() ERROR_ROWS=()
declare -A R_TLS=() R_SASL=() R_DB=() R_VERDICT=() R_METHODS=() R_REASON=()
while IFS=$'\t' read -r row tls sasl db verdict methods reason; do
	case $row in '' | *[!0-9]*) continue ;; esac # header, blank lines
	R_TLS[$row]=$tls R_SASL[$row]=$sasl R_DB[$row]=$db R_VERDICT[$row]=$verdict
	R_METHODS[$row]=$methods R_REASON[$row]=$reason
	if [ "$verdict" = error ]; then ERROR_ROWS+=("$row"); else ROWS+=("$row"); fi
done <"$MATRIX"

PEERS=(b.test b-sasl.test b-dbtls.test b-dbtcp.test b-self.test)
declare -A CAN=([b.test]="sasl_tls,dialback_tls,dialback_tcp" [b-sasl.test]=sasl_tls
	[b-dbtls.test]=dialback_tls [b-dbtcp.test]=dialback_tcp [b-self.test]="dialback_tls,dialback_tcp")
declare -A SRV=([b.test]=b [b-sasl.test]=bsasl [b-dbtls.test]=bdbtls [b-dbtcp.test]=bdbtcp
	[b-self.test]=bself)
declare -A DESC=([b.test]="can do everything" [b-sasl.test]="SASL EXTERNAL only"
	[b-dbtls.test]="dialback over TLS only, certificate for another domain"
	[b-dbtcp.test]="dialback without TLS only"
	[b-self.test]="self-signed certificate, dialback with or without TLS")

# per loadable row: a header case, 5 peers, the counters, 1 TLS-offer check for
# tls = not_supported rows; per error row 1; plus set-up and clean-up.
n_notls=0
for row in "${ROWS[@]}"; do [ "${R_TLS[$row]}" = not_supported ] && n_notls=$((n_notls + 1)); done
tap_plan $((2 + 1 + ${#ROWS[@]} * 7 + n_notls + ${#ERROR_ROWS[@]} + 2))

tap_is "${#ROWS[@]} loadable, ${#ERROR_ROWS[@]} error" "11 loadable, 7 error" \
	"the matrix ($MATRIX) has 11 loadable and 7 error rows"

# ---- servers ---------------------------------------------------------------------------
for d in a.test "${PEERS[@]}"; do xp_host "$d"; done
xp_cert b-dbtls-wrong other.test # CA-signed, valid for other.test only
xp_cert_selfsigned b-self-ss b-self.test

mkdir -p "$XP_WORK/plugins"
cat >"$XP_WORK/plugins/mod_xp_test_insist.lua" <<'EOF'
-- Test peer behaviour: try SASL EXTERNAL on an encrypted outgoing stream even
-- when the receiving server does not offer it (as an old or hostile server
-- might), so that the receiver's refusal is exercised, not only its offer.
local st = require "util.stanza";
local base64 = require "util.encodings".base64;
local xmlns_sasl = "urn:ietf:params:xml:ns:xmpp-sasl";
module:hook_tag("http://etherx.jabber.org/streams", "features", function (session, stanza)
	if session.type ~= "s2sout_unauthed" or not session.secure then return; end
	if stanza:get_child("mechanisms", xmlns_sasl) then return; end -- mod_saslauth's job
	session.log("info", "xp_test_insist: trying SASL EXTERNAL with %s unannounced", session.to_host);
	session.sends2s(st.stanza("auth", { xmlns = xmlns_sasl, mechanism = "EXTERNAL" })
		:text(base64.encode(session.from_host)));
	session.external_auth = "attempting";
	return true;
end, 155);
EOF

PARTNERS=$XP_WORK/partners-a.lua
echo 'xmpp_partners = { }' >"$PARTNERS"
COMMON='s2s_timeout = 15'
ok=1
xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
	--extra-lua "$COMMON
statistics = \"internal\"
Include $(xp__lua_str "$PARTNERS")" || ok=0
xp_start_prosody b "$(xp_addr b.test)" b.test --extra-lua "$COMMON" || ok=0
xp_start_prosody bsasl "$(xp_addr b-sasl.test)" b-sasl.test --plugin-path "$XP_WORK/plugins" \
	--module xp_test_insist --extra-lua "$COMMON
s2s_require_encryption = true
modules_disabled = { \"dialback\" }" || ok=0
xp_start_prosody bdbtls "$(xp_addr b-dbtls.test)" b-dbtls.test --s2s-cert b-dbtls.test=b-dbtls-wrong \
	--extra-lua "$COMMON
s2s_require_encryption = true" || ok=0
xp_start_prosody bdbtcp "$(xp_addr b-dbtcp.test)" b-dbtcp.test --extra-lua "$COMMON
s2s_allow_encryption = false" || ok=0
xp_start_prosody bself "$(xp_addr b-self.test)" b-self.test --s2s-cert b-self.test=b-self-ss \
	--extra-lua "$COMMON" || ok=0
if [ "$ok" = 1 ]; then
	tap_ok "a.test (mod_xmpp_partners) and five peers started"
else
	tap_fail "a.test (mod_xmpp_partners) and five peers started"
	xp_bail "cannot start the servers"
fi

reg_ok=1
xp_register a alice@a.test >"$XP_WORK/register.out" 2>&1 || reg_ok=0
for p in "${PEERS[@]}"; do
	xp_register "${SRV[$p]}" "bob@$p" >>"$XP_WORK/register.out" 2>&1 || reg_ok=0
done
# Receivers stay online for the whole run (a sender's own resource may go
# away before a bounce or a message arrives; these do not).
xp_client_bg rx-a --resource rx --timeout 5 alice@a.test wait 600
for p in "${PEERS[@]}"; do xp_client_bg "rx-${SRV[$p]}" --resource rx --timeout 5 "bob@$p" wait 600; done
for c in rx-a rx-b rx-bsasl rx-bdbtls rx-bdbtcp rx-bself; do xp_client_ready "$c" || reg_ok=0; done
if [ "$reg_ok" = 1 ]; then
	tap_ok "accounts alice@a.test and bob@ each peer; receivers online"
else
	tap_fail "accounts and receivers" "$(cat "$XP_WORK/register.out")"
	xp_bail "no accounts"
fi

# ---- helpers -----------------------------------------------------------------------------
# write_partners ROW: every peer a partner with ROW's settings ("" = none).
write_partners() {
	local row=$1 p
	{
		echo "xmpp_partners = {"
		if [ -n "$row" ]; then
			for p in "${PEERS[@]}"; do
				printf '\t["%s"] = { type = "federated", tls = "%s", sasl = "%s", dialback = %s },\n' \
					"$p" "${R_TLS[$row]}" "${R_SASL[$row]}" "${R_DB[$row]}"
			done
		fi
		echo "}"
	} >"$PARTNERS"
}

# in_list ITEM LIST: is ITEM in the comma-separated LIST?
in_list() { case ",$2," in *",$1,"*) return 0 ;; esac; return 1; }

# accepted_methods DIRECTION DOMAIN: the methods a.test accepted since the mark.
accepted_methods() {
	xp_log_new a | sed -n "s/.*partner policy accepted $1 $2 by \\([a-z_]*\\).*/\\1/p" | sort -u | paste -sd, -
}

# refusal DIRECTION DOMAIN: a.test's refusal text for DOMAIN since the mark.
refusal() {
	local word=from
	[ "$1" = outgoing ] && word=to
	xp_log_new a | grep -F "refused $1 s2s $word $2: " | head -n 1 | sed 's/^.*\trefused /refused /'
}

# prosody_auth_counts: a.test's own mod_s2s counters of authenticated
# streams, read with prosodyctl shell: "EXTERNAL dialback" (both directions).
prosody_auth_counts() {
	xp_shell a "> local n = { EXTERNAL = 0, dialback = 0 }; for m, v in require'core.statsmanager'.get_metric_registry():render():gmatch('prosody_mod_s2s__authenticated_total{[^}]*mechanism=\"(%w+)\"} (%d+)') do n[m] = (n[m] or 0) + tonumber(v) end; return 'counts ' .. n.EXTERNAL .. ' ' .. n.dialback" 2>&1 |
		sed -n 's/.*counts \([0-9]*\) \([0-9]*\).*/\1 \2/p'
}

# ---- the rows ----------------------------------------------------------------------------
for row in "${ROWS[@]}"; do
	label="row $row (tls=${R_TLS[$row]} sasl=${R_SASL[$row]} dialback=${R_DB[$row]}: ${R_METHODS[$row]})"

	# Close every stream of the previous row (an empty table refuses all),
	# then load this row: every stream below is negotiated under it.
	write_partners ""
	xp_reload_partners a
	xp_wait_no_s2s 5
	for s in a b bsasl bdbtls bdbtcp bself; do xp_log_mark "$s"; done
	write_partners "$row"
	if ! xp_reload_partners a; then
		tap_fail "$label: loads" "$(xp_log_new a | grep -E 'error|warn' | tail -n 5)"
		for p in "${PEERS[@]}" counters; do tap_skip "$label: $p" "row did not load"; done
		[ "${R_TLS[$row]}" = not_supported ] && tap_skip "$label: no STARTTLS offer" "row did not load"
		continue
	fi
	header_ok=1 why=""
	left=$(xp_s2s_connections)
	[ "$left" -eq 0 ] || { header_ok=0; why="$left s2s connections still open from the previous row"; }
	if [ "${R_VERDICT[$row]}" = warn ] &&
		! xp_log_new a | grep -F 'warn' | grep -qF "${R_REASON[$row]}"; then
		header_ok=0
		why="$why${why:+; }no warning with the row's reason: ${R_REASON[$row]}"
	fi
	if [ "$header_ok" = 1 ]; then
		tap_ok "$label: loads (${R_VERDICT[$row]}), no stream left from before"
	else
		tap_fail "$label: loads (${R_VERDICT[$row]})" "$why"
	fi

	# Which peers must be refused: those that can do no method of the row.
	declare -A EXPECT=() ALLOWED=()
	for p in "${PEERS[@]}"; do
		ALLOWED[$p]=""
		for m in ${CAN[$p]//,/ }; do
			in_list "$m" "${R_METHODS[$row]}" && ALLOWED[$p]=${ALLOWED[$p]:+${ALLOWED[$p]},}$m
		done
		EXPECT[$p]=ok
		[ -n "${ALLOWED[$p]}" ] || EXPECT[$p]=refused
	done

	read -r ext0 db0 < <(prosody_auth_counts)

	# Traffic, both ways, all peers at once: alice -> bob@peer and
	# bob@peer -> alice; refused peers must bounce each way.
	alice_cmds=()
	for p in "${PEERS[@]}"; do alice_cmds+=(send "bob@$p" "r$row-out"); done
	for p in "${PEERS[@]}"; do
		[ "${EXPECT[$p]}" = refused ] && alice_cmds+=(expect-error-from "bob@$p" '*')
	done
	xp_client_bg tx-a alice@a.test "${alice_cmds[@]}"
	for p in "${PEERS[@]}"; do
		cmds=(send alice@a.test "r$row-in-$p")
		[ "${EXPECT[$p]}" = refused ] && cmds+=(expect-error-from alice@a.test '*')
		xp_client_bg "tx-${SRV[$p]}" "bob@$p" "${cmds[@]}"
	done
	xp_client_wait tx-a 20
	rc_a=$?
	declare -A RC=()
	for p in "${PEERS[@]}"; do
		xp_client_wait "tx-${SRV[$p]}" 20
		RC[$p]=$?
	done
	# Deliveries to the receivers (bounded wait for the last ones).
	for _ in $(seq 1 100); do
		missing=0
		for p in "${PEERS[@]}"; do
			[ "${EXPECT[$p]}" = ok ] || continue
			grep -q "body=r$row-out\$" "$(xp_client_out "rx-${SRV[$p]}")" || missing=1
			grep -q "body=r$row-in-$p\$" "$(xp_client_out rx-a)" || missing=1
		done
		[ "$missing" = 0 ] && break
		sleep 0.1
	done
	sleep 0.2 # let late log lines of the refusals land

	for p in "${PEERS[@]}"; do
		out_m=$(accepted_methods outgoing "$p")
		in_m=$(accepted_methods incoming "$p")
		got_out=no got_in=no
		grep -q "body=r$row-out\$" "$(xp_client_out "rx-${SRV[$p]}")" && got_out=yes
		grep -q "body=r$row-in-$p\$" "$(xp_client_out rx-a)" && got_in=yes
		facts="delivered out=$got_out in=$got_in; accepted out=[${out_m}] in=[${in_m}]; senders: alice rc=$rc_a, bob rc=${RC[$p]}"
		if [ "${EXPECT[$p]}" = ok ]; then
			allowed=${ALLOWED[$p]}
			bad=""
			for m in ${out_m//,/ } ${in_m//,/ }; do in_list "$m" "$allowed" || bad="$bad $m"; done
			# Prosody's own lines must agree: EXTERNAL appears only for sasl_tls.
			ext_in=$(xp_log_new a | grep -cF "Accepting SASL EXTERNAL identity from $p")
			ext_out=$(xp_log_new a | grep -cF "SASL EXTERNAL with $p succeeded")
			in_list sasl_tls "$in_m" || [ "$ext_in" -eq 0 ] || bad="$bad EXTERNAL-in-without-sasl_tls"
			in_list sasl_tls "$out_m" || [ "$ext_out" -eq 0 ] || bad="$bad EXTERNAL-out-without-sasl_tls"
			if [ "$got_out" = yes ] && [ "$got_in" = yes ] && [ -n "$out_m" ] && [ -n "$in_m" ] &&
				[ -z "$bad" ] && [ "$rc_a" -eq 0 ] && [ "${RC[$p]}" -eq 0 ]; then
				tap_ok "$label: $p (${DESC[$p]}) federates both ways, out by $out_m, in by $in_m"
			else
				tap_fail "$label: $p (${DESC[$p]}) federates both ways by $allowed" \
					"$facts${bad:+; not allowed:$bad}
$(xp_log_new a | grep -E "refused|policy|$p" | grep -vE 'Sending|Received' | tail -n 15)"
			fi
		else
			r_out=$(refusal outgoing "$p")
			r_in=$(refusal incoming "$p")
			if [ "$got_out" = no ] && [ "$got_in" = no ] && [ -z "$out_m$in_m" ] &&
				[ -n "$r_out" ] && [ -n "$r_in" ] && [ "$rc_a" -eq 0 ] && [ "${RC[$p]}" -eq 0 ]; then
				tap_ok "$label: $p (${DESC[$p]}) is refused both ways: '${r_out#refused }' / '${r_in#refused }'"
			else
				tap_fail "$label: $p (${DESC[$p]}) is refused both ways, refusals logged" \
					"$facts; refusal out='$r_out' in='$r_in'
$(xp_log_new a | grep -E "refused|policy|$p" | grep -vE 'Sending|Received' | tail -n 15)
---- alice:
$(cat "$(xp_client_out tx-a)")
---- bob@$p:
$(cat "$(xp_client_out "tx-${SRV[$p]}")")"
			fi
		fi
	done

	# Prosody's own counters agree: EXTERNAL only in rows with sasl_tls,
	# dialback only in rows with a dialback method.
	read -r ext1 db1 < <(prosody_auth_counts)
	if [ -n "$ext0" ] && [ -n "$ext1" ]; then
		d_ext=$((ext1 - ext0)) d_db=$((db1 - db0))
		bad=""
		in_list sasl_tls "${R_METHODS[$row]}" || [ "$d_ext" -eq 0 ] || bad="EXTERNAL used"
		case ${R_METHODS[$row]} in *dialback*) ;; *) [ "$d_db" -eq 0 ] || bad="$bad dialback used" ;; esac
		[ $((d_ext + d_db)) -gt 0 ] || bad="$bad nothing authenticated"
		if [ -z "$bad" ]; then
			tap_ok "$label: Prosody's mod_s2s counters (prosodyctl shell): EXTERNAL +$d_ext, dialback +$d_db"
		else
			tap_fail "$label: Prosody's mod_s2s counters agree with the row" "EXTERNAL +$d_ext, dialback +$d_db: $bad"
		fi
	else
		tap_fail "$label: Prosody's mod_s2s counters (prosodyctl shell)" "could not read them: '$ext0 $db0' '$ext1 $db1'"
	fi

	if [ "${R_TLS[$row]}" = not_supported ]; then
		# b.test takes STARTTLS whenever it is offered: its log says a.test
		# offered none, and a.test did not encrypt any stream.
		if xp_log_new b | grep -q 'a.test is not offering TLS' &&
			! xp_log_new a | grep -qE '^.{15} s2s(in|out)[0-9a-f]+\s+info\s+Stream encrypted'; then
			tap_ok "$label: a.test offers b.test no STARTTLS and encrypts no stream"
		else
			tap_fail "$label: a.test offers b.test no STARTTLS" \
				"$(xp_log_new b | grep -iE 'tls|features' | tail -n 5)"
		fi
	fi
	unset EXPECT ALLOWED RC
done

# ---- error rows never load -------------------------------------------------------------
# The last loadable row stays in force: a reload to an error row logs the
# row's reason and keeps it.
last=${ROWS[${#ROWS[@]} - 1]}
for row in "${ERROR_ROWS[@]}"; do
	label="row $row (tls=${R_TLS[$row]} sasl=${R_SASL[$row]} dialback=${R_DB[$row]})"
	xp_log_mark a
	write_partners "$row"
	if xp_reload_partners a; then
		tap_fail "$label: is refused on reload" "the table loaded"
		write_partners "$last"
		xp_reload_partners a
		continue
	fi
	if xp_log_new a | grep -q 'keeping the previous partner policy in force' &&
		xp_log_new a | grep -F "${R_REASON[$row]}" | grep -q error; then
		tap_ok "$label: not loaded on reload ('${R_REASON[$row]}'), previous table kept"
	else
		tap_fail "$label: not loaded on reload, reason logged" "$(xp_log_new a | grep -E 'error|warn')"
	fi
done

tap_stop_all
tap_done
