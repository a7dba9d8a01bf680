#!/bin/bash
# tests/ejabberd/t_cross.sh: cross-federation between one real ejabberd 23.01
# node and Prosody 0.12 servers, both sides running mod_xmpp_partners, with
# users on both sides driven by xpclient.
#
# ej.test (ejabberd, tests/ejabberd/ejlib.sh) lists every remote domain below
# as a partner, each with a `proxy` pointing at the Prosody server that hosts
# it (ejabberd cannot read the suite's hosts file).  Three Prosody servers
# each give ej.test one record, which fixes how that server negotiates with
# ejabberd (its "profile") and how it treats ejabberd's users (its type):
#
#   pext    ej.test = federated, tls/sasl/dialback required/required/false:
#           STARTTLS and SASL EXTERNAL only (it tries EXTERNAL whenever
#           offered, and takes nothing else from ej.test);
#   pdbtls  ej.test = public_verified, required/not_supported/true:
#           dialback over TLS only;
#   pdbtcp  ej.test = public_unverified, not_supported/not_supported/true:
#           dialback on plain TCP only (STARTTLS never used with ej.test).
#
# Each server hosts one domain per loadable row N of the negotiation matrix
# (rN-ext.test, rN-dbtls.test, rN-dbtcp.test), which ejabberd lists with
# row N's tls/sasl/dialback: the peer's one method is accepted by ejabberd
# exactly when row N allows it, in each direction.  Incoming (Prosody ->
# ejabberd) and outgoing (ejabberd -> Prosody) are judged separately from
# ejabberd's log (the method and transport of "Accepted inbound/outbound
# s2s", the module's "refused incoming/outgoing" lines, ejabberd's
# "Failed ..." lines) and Prosody's per-host log lines, plus the answer to a
# ping from alice@ej.test to each domain.
#
# The same servers host the contact-policy users (fed.test on pext,
# ver.test on pdbtls, unv.test on pdbtcp: ejabberd gives them types
# federated, public_verified, public_unverified, so each type is tested with
# ejabberd as the local side and, through the servers' own records for
# ej.test, with Prosody as the local side), evil.test and evil2.test (not
# partners of ejabberd; one tries EXTERNAL, the other dialback), and
# pdeny's nop.test (whose server does not list ej.test).
# padm runs the same partner table as ejabberd, for comparing ejabberdctl's
# partners_* commands with Prosody's shell.
#
# Expected outcomes follow README-ejabberd.md ("Before or after the fact"):
# ejabberd withholds STARTTLS, EXTERNAL and the dialback feature per remote
# (xmpp_partners_s2s_in), so an incoming method the row refuses is mostly
# refused before the fact, with no refusal line; tap_todo remains for a
# known difference (an XPASS then means it was fixed).
# One ejabberd start (about 1-6 s) serves every case; the whole script
# takes about 1.5-2 minutes.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${XP_MATRIX:=$top_srcdir/doc/negotiation-matrix.tsv}"
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"

MATRIX=$XP_MATRIX
ej_require
xp_init
[ -r "$MATRIX" ] || xp__missing "no negotiation matrix at $MATRIX (set XP_MATRIX)"

declare -a ROWS=()
declare -A R_TLS=() R_SASL=() R_DB=() R_METHODS=()
while IFS=$'\t' read -r row tls sasl db verdict methods _; do
	case $row in '' | *[!0-9]*) continue ;; esac
	R_TLS[$row]=$tls R_SASL[$row]=$sasl R_DB[$row]=$db R_METHODS[$row]=$methods
	[ "$verdict" = error ] || ROWS+=("$row")
done <"$MATRIX"

PROFILES=(ext dbtls dbtcp)
# the one method each profile's server uses with ej.test, in both directions
declare -A P_METHOD=([ext]=sasl_tls [dbtls]=dialback_tls [dbtcp]=dialback_tcp)
declare -A P_DESC=([ext]="SASL EXTERNAL over TLS only" [dbtls]="dialback over TLS only"
	[dbtcp]="dialback on plain TCP only")
declare -A P_ROW=([ext]=2 [dbtls]=13 [dbtcp]=17)
declare -A P_TYPE=([ext]=federated [dbtls]=public_verified [dbtcp]=public_unverified)
declare -A P_CONTACT=([ext]=fed.test [dbtls]=ver.test [dbtcp]=unv.test)

ej_init ej.test
declare -A P_DOMAINS=() P_ADDR=()
for p in "${PROFILES[@]}" deny adm; do
	case $p in
	deny) doms=(nop.test) ;;
	adm) doms=(adm.test) ;;
	*)
		doms=("${P_CONTACT[$p]}")
		[ "$p" = ext ] && doms+=(evil.test)
		[ "$p" = dbtcp ] && doms+=(evil2.test)
		for row in "${ROWS[@]}"; do doms+=("r$row-$p.test"); done
		;;
	esac
	P_DOMAINS[$p]="${doms[*]}"
	xp_new_addr >/dev/null
	P_ADDR[$p]=$XP_LAST_ADDR
	for d in "${doms[@]}"; do xp_host "$d" "${P_ADDR[$p]}"; done
	# one certificate (test CA) naming all of the server's domains
	dns=()
	for d in "${doms[@]:1}"; do dns+=(--dns "$d"); done
	xp_cert "srv-$p" "${doms[0]}" "${dns[@]}" || xp_bail "cannot make srv-$p's certificate"
done

# ejabberd's partner table (the same table is given to adm.test's Prosody
# for the admin comparison).
ej_partners_yaml() {
	local p row
	# row 7: pext's EXTERNAL works both ways (see the TODO cases for rows
	# where ejabberd's own outbound check fails it)
	echo "fed.test: {type: federated, tls: required, sasl: optional, dialback: true, proxy: \"${P_ADDR[ext]}:5269\"}"
	echo "ver.test: {type: public_verified, tls: required, sasl: not_supported, dialback: true, proxy: \"${P_ADDR[dbtls]}:5269\"}"
	echo "unv.test: {type: public_unverified, tls: not_supported, sasl: not_supported, dialback: true, proxy: \"${P_ADDR[dbtcp]}:5269\"}"
	echo "nop.test: {type: federated, tls: required, sasl: required, dialback: false, proxy: \"${P_ADDR[deny]}:5269\"}"
	for p in "${PROFILES[@]}"; do
		for row in "${ROWS[@]}"; do
			echo "r$row-$p.test: {type: federated, tls: ${R_TLS[$row]}, sasl: ${R_SASL[$row]}, dialback: ${R_DB[$row]}, proxy: \"${P_ADDR[$p]}:5269\"}"
		done
	done
}
ej_partners_lua() {
	ej_partners_yaml | sed -E 's/^([^:]+): \{type: ([a-z_]+), tls: ([a-z_]+), sasl: ([a-z_]+), dialback: ([a-z]+), proxy: ("[^"]*")\}$/\t["\1"] = { type = "\2", tls = "\3", sasl = "\4", dialback = \5, proxy = \6 };/'
}

# Each Prosody server's own record for ej.test decides how it negotiates
# with ejabberd (its "profile").
prosody_partners() { # PROFILE
	local p=$1 row=${P_ROW[$1]}
	echo "xmpp_partners = {"
	# connection_limit: each server has a dozen hosts streaming with ej.test
	printf '\t["ej.test"] = { type = "%s", tls = "%s", sasl = "%s", dialback = %s, connection_limit = 500 };\n' \
		"${P_TYPE[$p]}" "${R_TLS[$row]}" "${R_SASL[$row]}" "${R_DB[$row]}"
	echo "}"
	echo 'xmpp_partners_default = "deny"'
	# ej.test opens a stream per domain pair, all from one address: more
	# than the default per-address cap on unauthenticated streams (10) at
	# once (README: a partner with many domains needs a higher one)
	echo 'xmpp_partners_pending_per_address = 200'
}
ok=1
for p in "${PROFILES[@]}"; do
	certs=()
	for d in ${P_DOMAINS[$p]}; do certs+=(--cert "$d=srv-$p"); done
	# shellcheck disable=SC2086
	xp_start_prosody "p$p" "${P_ADDR[$p]}" ${P_DOMAINS[$p]} "${certs[@]}" --no-hosts-entry \
		--module xmpp_partners --extra-lua "$(prosody_partners "$p")
statistics = \"internal\"
s2s_timeout = 20" || ok=0
done
xp_start_prosody pdeny "${P_ADDR[deny]}" nop.test --cert nop.test=srv-deny --no-hosts-entry \
	--module xmpp_partners --extra-lua 'xmpp_partners = { }
xmpp_partners_default = "deny"' || ok=0
xp_start_prosody padm "${P_ADDR[adm]}" adm.test --cert adm.test=srv-adm --no-hosts-entry \
	--module xmpp_partners --extra-lua "xmpp_partners = {
$(ej_partners_lua)
}
xmpp_partners_default = \"deny\"" || ok=0
[ "$ok" = 1 ] || xp_bail "cannot start the Prosody servers"
ej_partners_yaml >"$XP_WORK/ej-partners.yml"
# Every Prosody peer here connects from 127.0.0.1, and the matrix cases
# start many streams at once: the per-address cap on unauthenticated
# streams (default 10) is for one real server per address, so it is raised
# here (t_hostile_ejabberd.sh tests it, with an attacker on an address of
# its own).
ej_config <<EOF
default: deny
pending_per_address: 200
partners:
$(sed 's/^/  /' "$XP_WORK/ej-partners.yml")
EOF
ej_start || xp_bail "ejabberd did not start"

tap_plan $((3 + 8 + ${#ROWS[@]} * ${#PROFILES[@]} * 2 + 2 + 18 + 8 + 3))
tap_ok "five Prosody servers (mod_xmpp_partners) and ejabberd (PID $EJ_PID) started"
n_partners=$(wc -l <"$XP_WORK/ej-partners.yml")
grep -q "Partner policy loaded for ej.test: $n_partners partners, unlisted domains refused" "$EJ_LOG"
tap_is $? 0 "ejabberd loaded the partner table ($n_partners partners, unlisted refused)"

reg_ok=1
{
	for u in alice carol; do ej_register $u || reg_ok=0; done
	for u in bob@fed.test eve@evil.test; do xp_register pext "$u" || reg_ok=0; done
	xp_register pdbtls vera@ver.test || reg_ok=0
	for u in uma uma2 uma3; do xp_register pdbtcp "$u@unv.test" || reg_ok=0; done
	xp_register pdeny nick@nop.test || reg_ok=0
} >"$XP_WORK/register.out" 2>&1
if [ "$reg_ok" = 1 ]; then
	tap_ok "accounts on ejabberd (alice, carol) and on the Prosody servers"
else
	tap_fail "accounts" "$(cat "$XP_WORK/register.out")"
	xp_bail "no accounts"
fi

# ---- helpers ------------------------------------------------------------------------
in_list() { case ",$2," in *",$1,"*) return 0 ;; esac; return 1; }
# tap_todo OK NAME REASON [DIAG]: a case under TODO (OK: 1 passed, 0 failed);
# a failure is reported but does not fail the script.
tap_todo() {
	XP_TAP_N=$((XP_TAP_N + 1))
	if [ "$1" = 1 ]; then
		echo "ok $XP_TAP_N - ${2//#/\\#} # TODO $3"
	else
		echo "not ok $XP_TAP_N - ${2//#/\\#} # TODO $3"
		[ -n "${4:-}" ] && tap_diag "$4"
	fi
}
# expect_ok NAME RC DIAG...
expect_ok() {
	local name=$1 rc=$2
	shift 2
	if [ "$rc" -eq 0 ]; then tap_ok "$name"; else tap_fail "$name" "$*"; ej_dump_log "$XP_LOG_LINES"; fi
}
plog() { cat "$(xp_server_log "$1")"; }

# ---- partner traffic and the allow list ---------------------------------------------------
xp_client_bg rxalice --resource rx alice@ej.test wait 120
xp_client_bg rxbob --resource rx bob@fed.test wait 120
if ! xp_client_ready rxalice || ! xp_client_ready rxbob; then xp_bail "receivers did not log in"; fi

ej_log_mark
out=$(xp_client bob@fed.test send alice@ej.test "hello from fed" 2>&1)
for _ in $(seq 1 100); do grep -q 'body=hello from fed$' "$(xp_client_out rxalice)" && break; sleep 0.1; done
grep -q '^message from=bob@fed.test/[^ ]* type=chat body=hello from fed$' "$(xp_client_out rxalice)"
expect_ok "partner fed.test -> ej.test: bob's message reaches alice@ej.test" $? "$out
$(xp_client_report rxalice)"
out=$(xp_client alice@ej.test send bob@fed.test "hello from ej" 2>&1)
for _ in $(seq 1 100); do grep -q 'body=hello from ej$' "$(xp_client_out rxbob)" && break; sleep 0.1; done
grep -q '^message from=alice@ej.test/[^ ]* type=chat body=hello from ej$' "$(xp_client_out rxbob)"
expect_ok "partner ej.test -> fed.test: alice's message reaches bob@fed.test" $? "$out
$(xp_client_report rxbob)"

# evil.test (pext hosts it and lists ej.test) is not ejabberd's partner.
out=$(xp_client eve@evil.test send alice@ej.test "let me in" expect-error-from alice@ej.test '*' 2>&1)
rc=$?
ej_wait_log 'refused incoming s2s from evil.test: not a partner' 5
rc2=$?
sleep 0.3
if [ $rc -eq 0 ] && [ $rc2 -eq 0 ] && ! grep -q 'let me in' "$(xp_client_out rxalice)" &&
	! plog pext | grep -q 'evil.test:saslauth.*SASL EXTERNAL with ej.test succeeded'; then
	tap_ok "non-partner evil.test -> ej.test: refused before <success/>, eve's message bounced, refusal logged by the module"
else
	tap_fail "non-partner evil.test -> ej.test refused" "client rc=$rc log rc=$rc2
$out
$(grep -F evil.test "$EJ_LOG" | tail -n 5)
$(plog pext | grep -F 'evil.test:saslauth' | tail -n 3)"
fi
out=$(xp_client alice@ej.test send eve@evil.test "hi eve" expect-error-from eve@evil.test forbidden 2>&1)
rc=$?
ej_wait_log 'refused outgoing s2s to evil.test: not a partner' 5
rc2=$?
if [ $rc -eq 0 ] && ! grep -qF 'Outbound s2s connection started: ej.test -> evil.test' "$EJ_LOG"; then
	tap_ok "ej.test -> non-partner evil.test: no connection opened, alice gets 'forbidden'"
else
	tap_fail "ej.test -> non-partner evil.test refused before connecting" "client rc=$rc
$out
$(grep -F evil.test "$EJ_LOG" | tail -n 5)"
fi
# allow_host/3 runs here in alice's ejabberd_c2s process (an
# xmpp_stream_in too): the refusal must still be logged as outgoing.
if [ $rc2 -eq 0 ]; then
	tap_ok "ejabberd logs the refusal as outgoing: 'refused outgoing s2s to evil.test: not a partner'"
else
	tap_fail "ejabberd logs the refusal as outgoing: 'refused outgoing s2s to evil.test: not a partner'" \
		"$(grep -F 'refused' "$EJ_LOG" | grep -F evil.test | tail -n 3)"
fi

# evil2.test (on pdbtcp) tries dialback: its db:result is refused before
# mod_s2s_dialback verifies it (no connection back to evil2.test).
ej_log_mark
xp_log_mark pdbtcp
xp_shell pdbtcp "> local st = require'util.stanza'; prosody.core_post_stanza(prosody.hosts['evil2.test'], st.iq({type='get', from='evil2.test', to='ej.test', id='evil2'}):tag('ping', {xmlns='urn:xmpp:ping'})) return 'sent'" >/dev/null 2>&1
ej_wait_log 'refused incoming s2s from evil2.test: not a partner' 10
rc=$?
sleep 0.5
if [ $rc -eq 0 ] && ! ej_log_new | grep -qE 'Accepted inbound s2s [^ ]+ authentication evil2.test|ej.test -> evil2.test' &&
	! xp_log_new pdbtcp | grep -qF 'connection evil2.test->ej.test is now authenticated'; then
	tap_ok "non-partner evil2.test -> ej.test by dialback: db:result refused before any verification, logged"
else
	tap_fail "non-partner evil2.test -> ej.test by dialback refused" "log rc=$rc
$(ej_log_new | grep -F evil2.test | tail -n 5)
$(xp_log_new pdbtcp | grep -F evil2.test | grep -iE 'dialback|authenticated|closed' | tail -n 5)"
fi

# nop.test's server (pdeny) does not list ej.test: Prosody's policy refuses.
xp_log_mark pdeny
out=$(xp_client nick@nop.test send alice@ej.test "from nop" expect-error-from alice@ej.test '*' 2>&1)
rc=$?
xp_wait_new_log pdeny 'refused outgoing s2s to ej.test: not a partner' 5
expect_ok "nop.test (its Prosody does not list ej.test) -> ej.test: refused by Prosody, nick's message bounced" \
	$(( rc + $? )) "$out
$(xp_log_new pdeny | grep -F 'refused' | tail -n 3)"
out=$(xp_client alice@ej.test send nick@nop.test "to nop" expect-error-from nick@nop.test '*' 2>&1)
rc=$?
xp_wait_new_log pdeny 'refused incoming s2s from ej.test: not a partner' 5
rc2=$?
ej_wait_log 'Failed to establish outbound s2s connection ej.test -> nop.test: .*not a partner' 5
rc3=$?
if [ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ $rc3 -eq 0 ]; then
	tap_ok "ej.test -> nop.test: Prosody refuses ejabberd's stream (not a partner), alice's message bounced"
else
	tap_fail "ej.test -> nop.test refused by Prosody" "client rc=$rc log rc=$rc2
$out
$(grep -F nop.test "$EJ_LOG" | tail -n 5)
$(xp_log_new pdeny | grep -F 'refused' | tail -n 3)"
fi

# ---- each negotiation rule, each direction ------------------------------------------------
# Incoming: every rN-P.test pings ej.test from its Prosody server; outgoing:
# alice@ej.test pings every rN-P.test (the answers travel the other way).
for p in "${PROFILES[@]}"; do xp_log_mark "p$p"; done
ej_log_mark
for p in "${PROFILES[@]}"; do
	lst=""
	for row in "${ROWS[@]}"; do lst="$lst'r$row-$p.test',"; done
	xp_shell "p$p" "> local st = require'util.stanza'; for _, h in ipairs({$lst}) do prosody.core_post_stanza(prosody.hosts[h], st.iq({type='get', from=h, to='ej.test', id='in-'..h}):tag('ping', {xmlns='urn:xmpp:ping'})) end return 'pings sent'" >"$XP_WORK/shell-$p.out" 2>&1
done
cmds=()
for p in "${PROFILES[@]}"; do for row in "${ROWS[@]}"; do cmds+=(ping "r$row-$p.test"); done; done
xp_client_bg mx --timeout 5 alice@ej.test "${cmds[@]}" wait 60
xp_client_ready mx
n_doms=$(( ${#ROWS[@]} * ${#PROFILES[@]} ))
# every domain answered alice (pong or error) and has an incoming verdict
for _ in $(seq 1 300); do
	n_ans=$(grep -cE '^(iq-result|error) from=r[0-9]+-[a-z]+\.test ' "$(xp_client_out mx)")
	n_in=$(ej_log_new | sed -nE 's/.*(Accepted inbound s2s [^ ]+ authentication |refused incoming s2s from )(r[0-9]+-[a-z]+\.test).*/\2/p' | sort -u | wc -l)
	[ "$n_ans" -ge "$n_doms" ] && [ "$n_in" -ge "$n_doms" ] && break
	sleep 0.1
done
sleep 1 # late log lines
xp__stop_pids "${XP_CLI_PID[mx]}"
unset "XP_CLI_PID[mx]"
EJNEW=$XP_WORK/ej-matrix.log
ej_log_new >"$EJNEW"

for p in "${PROFILES[@]}"; do
	xp_log_new "p$p" >"$XP_WORK/p$p-matrix.log"
done

for p in "${PROFILES[@]}"; do
	m=${P_METHOD[$p]}
	case $m in sasl_tls) mech=EXTERNAL tr=tls ;; dialback_tls) mech=dialback tr=tls ;; dialback_tcp) mech=dialback tr=tcp ;; esac
	PL=$XP_WORK/p$p-matrix.log
	for row in "${ROWS[@]}"; do
		d=r$row-$p.test
		rt=${R_TLS[$row]} rs=${R_SASL[$row]} rd=${R_DB[$row]}
		label="row $row (tls=$rt sasl=$rs dialback=$rd: ${R_METHODS[$row]})"
		acc_in=$(grep -F "authentication $d -> ej.test " "$EJNEW" | sed -nE 's/.*\((tls|tcp)\|.*Accepted inbound s2s ([^ ]+) .*/\2\/\1/p' | sort -u | paste -sd, -)
		ref_in=$(grep -F "refused incoming s2s from $d: " "$EJNEW" | head -n 1 | sed 's/.*refused incoming s2s from [^:]*: //')
		acc_out=$(grep -F "authentication ej.test -> $d " "$EJNEW" | sed -nE 's/.*\((tls|tcp)\|.*Accepted outbound s2s ([^ ]+) .*/\2\/\1/p' | sort -u | paste -sd, -)
		ref_out=$(grep -F "refused outgoing s2s to $d: " "$EJNEW" | head -n 1 | sed 's/.*refused outgoing s2s to [^:]*: //')
		# ejabberd's own failure lines: the stream given up (and, when no
		# fallback followed, the failed SASL attempt before it)
		fail_out=$(grep -E "Failed to establish outbound s2s connection ej.test -> $d: " "$EJNEW" | tail -n 1 | sed -E 's/.*ej.test -> [^ :]+: //; s/; bouncing.*//')
		fail_auth=$(grep -E "Failed outbound s2s [^ ]+ authentication ej.test -> $d " "$EJNEW" | tail -n 1 | sed -E 's/.*\): //')
		ping=$(grep -E "^(iq-result|error) from=$d " "$(xp_client_out mx)" | head -n 1 | cut -c1-160)
		facts="ejabberd: inbound accepted [$acc_in] refused [$ref_in]; outbound accepted [$acc_out] refused [$ref_out] failed [$fail_out] auth failed [$fail_auth]; alice's ping: $ping"

		# ---- incoming: the Prosody peer connects to ejabberd
		if in_list "$m" "${R_METHODS[$row]}"; then
			# the peer agrees: <success/> for EXTERNAL, a valid dialback result
			case $m in
			sasl_tls) peer_line="$d:saslauth	debug	SASL EXTERNAL with ej.test succeeded" ;;
			*) peer_line="connection $d->ej.test is now authenticated for ej.test" ;;
			esac
			if [ "$acc_in" = "$mech/$tr" ] && [ -z "$ref_in" ] && grep -qF "$peer_line" "$PL"; then
				tap_ok "$label: $d (${P_DESC[$p]}) -> ej.test accepted, by $mech over $tr (both sides agree)"
			else
				tap_fail "$label: $d (${P_DESC[$p]}) -> ej.test accepted by $mech over $tr" "$facts"
			fi
		else
			# refused by the module; and never accepted by the peer's
			# side: no <success/> (EXTERNAL) / no valid dialback result.
			when="before"
			bad=""
			# no refusal line: the method was withheld (no STARTTLS, no
			# EXTERNAL, no dialback feature for this partner), so the
			# peer never got to try it; it must not be accepted either
			if [ -z "$ref_in" ]; then
				when="before the fact (method withheld by ejabberd)"
				[ -z "$acc_in" ] || bad="ejabberd accepted the stream ($acc_in) and logged no refusal"
			fi
			case $m in
			sasl_tls)
				when="after the fact (EXTERNAL offered, then vetoed before <success/>)"
				grep -qF "$d:saslauth	debug	SASL EXTERNAL with ej.test succeeded" "$PL" &&
					bad="$bad; the peer received <success/>"
				;;
			*)
				[ -n "$ref_in" ] && [ "$tr" = tcp ] && [ "$rt" = required ] && when="after the fact (plain stream closed at db:result)"
				grep -qF "connection $d->ej.test is now authenticated for ej.test" "$PL" &&
					bad="$bad; the peer's dialback was validated"
				;;
			esac
			if [ -z "$bad" ]; then
				tap_ok "$label: $d (${P_DESC[$p]}) -> ej.test refused $when: '$ref_in'"
			else
				tap_fail "$label: $d (${P_DESC[$p]}) -> ej.test refused" "$bad
$facts"
			fi
		fi

		# ---- outgoing: ejabberd connects to the Prosody peer
		if in_list "$m" "${R_METHODS[$row]}"; then
			name="$label: ej.test -> $d (${P_DESC[$p]}) accepted, by $mech over $tr; alice's ping answered"
			case $m in
			sasl_tls) peer_line="$d:saslauth	info	Accepting SASL EXTERNAL identity from ej.test" ;;
			*) peer_line="connection ej.test->$d is now authenticated for ej.test" ;;
			esac
			ok=0
			[ "$acc_out" = "$mech/$tr" ] && [ -z "$ref_out" ] && [ -z "$fail_out" ] && grep -qF "$peer_line" "$PL" &&
				case $ping in iq-result*) true ;; *) false ;; esac && ok=1
			if [ "$ok" = 1 ]; then
				tap_ok "$name"
			else
				tap_fail "$name" "$facts"
			fi
		else
			bad=""
			[ -z "$acc_out" ] || bad="ejabberd authenticated ($acc_out)"
			[ -n "$fail_out$fail_auth$ref_out" ] || bad="$bad; no failure logged"
			case $ping in error*) ;; *) bad="$bad; alice's ping was not bounced" ;; esac
			# the rule was kept before the fact: no dialback where the row
			# forbids it, no TLS where it is not supported
			case ${R_METHODS[$row]} in *dialback*) ;; *)
				grep -qF "Retrying with s2s dialback authentication: ej.test -> $d " "$EJNEW" &&
					bad="$bad; ejabberd fell back to dialback" ;;
			esac
			[ "$rt" = not_supported ] && grep -E "\(tls\|.*ej.test -> $d " "$EJNEW" | grep -q . &&
				bad="$bad; ejabberd used TLS"
			if [ "$m" = sasl_tls ] && ! in_list sasl_tls "${R_METHODS[$row]}" &&
				grep -qF "$d:saslauth	info	Accepting SASL EXTERNAL identity from ej.test" "$PL"; then
				bad="$bad; ejabberd used SASL EXTERNAL"
			fi
			if [ -z "$bad" ]; then
				tap_ok "$label: ej.test -> $d (${P_DESC[$p]}) refused before authenticating: '${fail_out:-${fail_auth:-$ref_out}}'"
			else
				tap_fail "$label: ej.test -> $d (${P_DESC[$p]}) refused" "$bad
$facts"
			fi
		fi
	done
done

# Withheld per remote (xmpp_partners_s2s_in): ejabberd offers no STARTTLS
# to a tls = not_supported partner (r17-dbtls.test cannot take it) and no
# EXTERNAL to a sasl = not_supported partner (r13-ext.test cannot try it).
grep -qF "r17-dbtls.test:tls	debug	ej.test is offering TLS, taking up the offer" "$XP_WORK/pdbtls-matrix.log"
tap_is $? 1 "ejabberd withholds STARTTLS from a tls = not_supported partner (r17-dbtls.test)"
grep -qF "r13-ext.test:saslauth	debug	Initiating SASL EXTERNAL with ej.test" "$XP_WORK/pext-matrix.log"
tap_is $? 1 "ejabberd withholds SASL EXTERNAL from a sasl = not_supported partner (r13-ext.test)"

# ---- contact policy, ejabberd local ---------------------------------------------------------
# ejabberd gives fed.test type federated, ver.test public_verified and
# unv.test public_unverified.
xp_client_bg alice alice@ej.test expect-silence bob@fed.test 4
xp_client_ready alice
out=$(xp_client bob@fed.test subscribe alice@ej.test expect-presence alice@ej.test subscribed 2>&1)
expect_ok "bob@fed.test (federated) adds alice@ej.test: approved automatically by ejabberd" $? "$out"
xp_client_wait alice >/dev/null
rc=$?
# in_subscription_approve/2 (roster_in_subscription, 60) answers and
# stops the hook with false: ejabberd_sm does not deliver the request.
if [ $rc -eq 0 ]; then
	tap_ok "alice is not asked about bob's request (it was approved for her)"
else
	tap_fail "alice is not asked about bob's request (it was approved for her)" "$(xp_client_report alice)"
fi
out=$(xp_client alice@ej.test expect-roster bob@fed.test from 2>&1)
expect_ok "alice's roster on ejabberd records bob@fed.test with subscription 'from'" $? "$out"
out=$(xp_client vera@ver.test subscribe alice@ej.test expect-presence alice@ej.test subscribed 2>&1)
expect_ok "vera@ver.test (public_verified) adds alice@ej.test: approved automatically" $? "$out"

ej_log_mark
xp_client_bg alice alice@ej.test expect-silence uma@unv.test 4
xp_client_ready alice
out=$(xp_client uma@unv.test subscribe alice@ej.test expect-presence alice@ej.test unsubscribed 2>&1)
expect_ok "uma@unv.test (public_unverified) adds alice@ej.test: refused with 'unsubscribed'" $? "$out"
xp_client_wait alice >/dev/null
rc=$?
out=$(xp_client alice@ej.test expect-roster uma@unv.test absent 2>&1)
rc2=$?
ej_wait_log 'refused subscription request from uma@unv.test to alice@ej.test' 5
expect_ok "alice never sees uma's request, nothing is stored, the refusal is logged" $((rc + rc2 + $?)) \
	"$(xp_client_report alice)
$out"

out=$(xp_client alice@ej.test roster-add uma2@unv.test expect-roster uma2@unv.test none 2>&1)
expect_ok "alice@ej.test puts uma2@unv.test in her roster (subscription none)" $? "$out"
xp_client_bg alice alice@ej.test expect-presence uma2@unv.test subscribe
xp_client_ready alice
out=$(xp_client uma2@unv.test subscribe alice@ej.test wait 2 2>&1)
xp_client_wait alice 10 >/dev/null
rc=$?
# roster_get_jid_info answers {none, none} for this item as for no item;
# mod_xmpp_partners asks the roster's storage whether the item exists.
if [ $rc -eq 0 ]; then
	tap_ok "uma2@unv.test, in alice's roster (subscription none), asks alice: the request reaches her"
else
	tap_fail "uma2@unv.test, in alice's roster (subscription none), asks alice: the request reaches her" "$out
$(xp_client_report alice)"
fi

# the invitation path: uma3 lets alice in on Prosody's side, alice asks
# uma3 (ask=out on ejabberd), then uma3's own request reaches alice.
out=$(xp_client uma3@unv.test roster-add alice@ej.test 2>&1)
out=$out$(xp_client alice@ej.test subscribe uma3@unv.test expect-roster uma3@unv.test none+ask 2>&1)
rc=$?
xp_client_bg alice alice@ej.test expect-presence uma3@unv.test subscribe approve uma3@unv.test wait 1
xp_client_ready alice
out2=$(xp_client uma3@unv.test subscribe alice@ej.test expect-presence alice@ej.test subscribed 2>&1)
rc2=$?
xp_client_wait alice >/dev/null
expect_ok "after alice invited uma3@unv.test, uma3's request reaches alice, who approves it" \
	$((rc + rc2 + $?)) "$out
$out2
$(xp_client_report alice)"

ej_log_mark
out=$(xp_client uma@unv.test send alice@ej.test "hello?" expect-error-from alice@ej.test service-unavailable 2>&1)
rc=$?
ej_wait_log 'bounced message from uma@unv.test' 5
expect_ok "a message from uma@unv.test (stranger, public_unverified) bounces with service-unavailable; logged" \
	$((rc + $?)) "$out"
sleep 0.3
grep -q 'hello?' "$(xp_client_out rxalice)"
tap_is $? 1 "alice never gets uma's message"

# status text: bob (federated) and vera (public_verified) are subscribed to alice
for who in bob@fed.test vera@ver.test; do
	xp_client_bg "w${who%%@*}" "$who" expect-presence alice@ej.test available wait 1
	xp_client_ready "w${who%%@*}"
done
xp_client alice@ej.test presence "in a meeting" wait 2 >/dev/null 2>&1
for who in bob@fed.test vera@ver.test; do xp_client_wait "w${who%%@*}" >/dev/null; done
grep -q '^presence from=alice@ej.test/[^ ]* type=available status=in a meeting$' "$(xp_client_out wbob)"
expect_ok "bob@fed.test (federated) sees alice's status text" $? "$(xp_client_report wbob)"
grep -q '^presence from=alice@ej.test/[^ ]* type=available status=$' "$(xp_client_out wvera)" &&
	! grep -q 'status=in a meeting' "$(xp_client_out wvera)"
expect_ok "vera@ver.test (public_verified) gets alice's presence without the text (stripped by ejabberd)" $? \
	"$(xp_client_report wvera)"

# ---- contact policy, Prosody local, ejabberd remote ------------------------------------------
# pext lists ej.test as federated, pdbtls as public_verified, pdbtcp as
# public_unverified.
out=$(xp_client carol@ej.test subscribe bob@fed.test expect-presence bob@fed.test subscribed 2>&1)
expect_ok "carol@ej.test adds bob@fed.test (ej.test federated there): approved automatically" $? "$out"
out=$(xp_client carol@ej.test subscribe vera@ver.test expect-presence vera@ver.test subscribed 2>&1)
expect_ok "carol@ej.test adds vera@ver.test (ej.test public_verified there): approved automatically" $? "$out"
xp_log_mark pdbtcp
out=$(xp_client carol@ej.test subscribe uma@unv.test expect-presence uma@unv.test unsubscribed 2>&1)
rc=$?
xp_wait_new_log pdbtcp 'refused subscription from carol@ej.test to uma@unv.test' 5
expect_ok "carol@ej.test adds uma@unv.test (ej.test public_unverified there): refused 'unsubscribed', logged" \
	$((rc + $?)) "$out"
out=$(xp_client carol@ej.test send uma3@unv.test "hi?" expect-error-from uma3@unv.test service-unavailable 2>&1)
expect_ok "carol's message to uma3@unv.test (a stranger there) bounces with service-unavailable" $? "$out"
xp_client_bg carol carol@ej.test expect-presence bob@fed.test available expect-presence vera@ver.test available wait 1
xp_client_ready carol
xp_client bob@fed.test presence "at lunch" wait 1 >/dev/null 2>&1
xp_client vera@ver.test presence "at lunch" wait 1 >/dev/null 2>&1
xp_client_wait carol >/dev/null
grep -q '^presence from=bob@fed.test/[^ ]* type=available status=at lunch$' "$(xp_client_out carol)" &&
	grep -q '^presence from=vera@ver.test/[^ ]* type=available status=$' "$(xp_client_out carol)" &&
	! grep -q 'from=vera@ver.test/.*status=at lunch' "$(xp_client_out carol)"
expect_ok "carol@ej.test sees bob's status text (federated) but not vera's (public_verified)" $? \
	"$(xp_client_report carol)"

# ---- ejabberdctl partners_* against Prosody's shell on the same table ------------------------
# padm runs the partner table ejabberd runs.  list: the core's one text
# on both hosts; the live column (each host counts its own streams) and
# the alignment it sets are left out, and Prosody lists the first 100.
norm_list() { awk '$1 ~ /\.test$/ && $3 ~ /\// { print $1, $2, $3, $4, $5 }' | sort | head -n 100; }
ej_list=$(ejctl partners_list)
pr_list=$(xp_shell_text padm partners list)
a=$(norm_list <<<"$ej_list") b=$(norm_list <<<"$pr_list")
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$(wc -l <<<"$a")" -eq "$((n_partners < 100 ? n_partners : 100))" ] &&
	grep -q "^$n_partners partner(s); unlisted domains refused$" <<<"$ej_list" &&
	grep -q "^$n_partners partner(s); unlisted domains refused$" <<<"$pr_list"; then
	tap_ok "partners_list: the same rows (type, tls/sasl/dialback, extra domains, source) and count as Prosody's 'partners list'"
else
	tap_fail "partners_list agrees with Prosody's 'partners list'" "$(diff <(echo "$a") <(echo "$b") | head -n 20)
---- ejabberdctl:
$(head -n 5 <<<"$ej_list")
---- prosody:
$(head -n 5 <<<"$pr_list")"
fi

# check: the same warnings (partner and matrix row), the same counts
# check: the core's one text on both hosts (diagnostics by partner, then
# the verdict), byte for byte
ej_check=$(ejctl partners_check)
pr_check=$(xp_shell_text padm partners check)
n_warn=$(grep -c '^warning: ' <<<"$ej_check")
if [ -n "$ej_check" ] && [ "$ej_check" = "$(ej_option_words <<<"$pr_check")" ] &&
	[ "$(tail -n 1 <<<"$ej_check")" = "partner table valid: $n_partners partner(s), $n_warn warning(s)" ]; then
	tap_ok "partners_check: the same text as Prosody's 'partners check' ($n_partners partners, $n_warn warnings)"
else
	tap_fail "partners_check: the same text as Prosody's 'partners check'" "$(diff <(echo "$ej_check") <(echo "$pr_check") | head -n 20)"
fi

# explain: the core's one text on both hosts, byte for byte once Prosody's
# option names are written as ejabberd.yml writes them
for d in r13-dbtls.test r9-dbtcp.test fed.test unv.test evil.test; do
	ej_out=$(ejctl partners_explain "$d")
	pr_out=$(xp_shell_text padm partners explain "$d")
	a=$ej_out
	b=$(ej_option_words <<<"$pr_out")
	if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$(head -n 1 <<<"$a")" = "$d" ] &&
		grep -qE '^(Contact policy|  refused: )' <<<"$a"; then
		tap_ok "partners_explain $d: the same text as Prosody's 'partners explain' ($(wc -l <<<"$a") lines)"
	else
		tap_fail "partners_explain $d: the same text as Prosody's 'partners explain'" "$(diff <(echo "$a") <(echo "$b") | head -n 30)
---- ejabberdctl:
$(head -n 12 <<<"$ej_out")"
	fi
done

# show: the record as the core words it, byte for byte (the live sessions
# after it are each host's own)
ej_show=$(ejctl partners_show ver.test)
pr_show=$(xp_shell_text padm partners show ver.test)
a=$(awk 'NF == 0 { exit } { print }' <<<"$ej_show")
b=$(awk 'NF == 0 { exit } { print }' <<<"$pr_show")
if [ -n "$a" ] && [ "$a" = "$b" ] && grep -qE '^proxy +127\.[0-9.]+:5269$' <<<"$a" &&
	grep -qE '^type +public_verified$' <<<"$a"; then
	tap_ok "partners_show ver.test: the same record text as Prosody's 'partners show' ($(wc -l <<<"$a") lines)"
else
	tap_fail "partners_show ver.test: the same record text as Prosody's 'partners show'" "$(diff <(echo "$a") <(echo "$b") | head -n 20)
---- ejabberdctl:
$ej_show"
fi

# ---- stop -----------------------------------------------------------------------------------
pid=$EJ_PID
ej_stop
kill -0 "$pid" 2>/dev/null
tap_is $? 1 "ejabberd node (PID $pid) stopped"
tap_stop_all
tap_done
