#!/bin/bash
# tests/ejabberd/t_ejabberd_admin.sh: administration of mod_xmpp_partners on
# a real ejabberd 23.01 node (this build tree's NIF and beams) next to a
# Prosody test server, sharing one node across the cases:
#   - partners_file (the shared Lua partner file) merged with `partners`;
#   - ejabberdctl partners_add / set / remove / reset / sessions: validation
#     by the core, a refused change leaves everything as it was, removal
#     closes the partner's live streams;
#   - runtime changes persist across a node restart (Mnesia) and survive
#     `ejabberdctl reload_config`, which keeps the old table on errors;
#   - per-remote stream features (STARTTLS withheld / required), whitespace
#     keepalives, connection_limit.
# The node is set up by ejlib.sh (own address 127.72.X.1, node name,
# cookie, distribution port; stopped by PID).
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"
ej_require
command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 not found (raw stream checks)"

xp_init
tap_plan 57
T0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
# ok_if NAME CONDITION-STATUS DETAIL
ok_if() { if [ "$2" = 0 ]; then tap_ok "$1"; else tap_fail "$1" "$3"; fi; }
# like NAME TEXT GLOB: TEXT matches the shell pattern GLOB
like() {
	# shellcheck disable=SC2254
	case $2 in $3) tap_ok "$1" ;; *) tap_fail "$1" "$2" ;; esac
}

ej_init ej.test
xp_host pa.test
# pp.test and pq.test serve self-signed certificates (for the pin checks)
xp_cert_selfsigned ppself pp.test || xp_bail "cannot make the pp.test certificate"
xp_cert_selfsigned pqself pq.test || xp_bail "cannot make the pq.test certificate"
xp_start_prosody pa "$(xp_addr pa.test)" pa.test pb.test pc.test pp.test pq.test evil.test \
	--cert pp.test=ppself --cert pq.test=pqself || xp_bail "prosody did not start"
PA=$(xp_server_addr pa)

# The shared partner file: pa.test and the partners of the raw-stream checks.
PFILE=$EJ_DIR/partners.cfg.lua
write_file() {
	{
		echo '-- shared partner file (Prosody syntax), read through partners_file'
		echo 'xmpp_partners_connection_limit = 500'
		echo 'xmpp_partners = {'
		echo "	[\"pa.test\"] = { type = \"federated\"; tls = \"optional\"; sasl = \"optional\";"
		echo "		dialback = true; proxy = \"$PA:5269\" };"
		echo '	["nt.test"] = { tls = "not_supported"; sasl = "not_supported"; dialback = true };'
		echo '	["rq.test"] = { tls = "required"; sasl = "required" };'
		# the Fabrikam case: the config spells it fabrikam.test and wins
		echo '	["Fabrikam.test"] = { type = "public_verified"; description = "from the file" };'
		cat # more entries
		echo '}'
	} >"$PFILE"
	chmod 644 "$PFILE"
}
# write_config EXTRA [MODULE]: ejabberd.yml; EXTRA goes under partners: (2
# spaces in); MODULE (default mod_s2s_dialback) before the others
write_config() {
	# shellcheck disable=SC2034 # read by ej_config
	local EJ_MODULES="${2:-mod_s2s_dialback} mod_ping mod_roster"
	ej_config <<EOF
default: deny
keepalive_interval: 1
partners_file: "$PFILE"
partners:
  cfg.test:
    type: federated
    tls: optional
  fabrikam.test:
    type: federated
$1
EOF
}
write_file </dev/null
write_config ""

t=$(date +%s.%N)
ej_start || {
	tap_fail "ejabberd started"
	xp_bail "ejabberd did not start"
}
tap_ok "ejabberd started with partners_file and partners ($(since "$t") s)"

# ---- partners_file merged with partners -------------------------------------------
out=$(ejctl partners_list)
like "partners_list: pa.test from the partners_file" "$out" "*pa.test*federated*file*"
like "partners_list: cfg.test from the partners option; 4 partners" "$out" \
	"*cfg.test*federated*config*5 partner(s); unlisted domains refused*"
n_fab=$(grep -ci fabrikam <<<"$out")
if [ "$n_fab" = 1 ] && grep -qE '^fabrikam\.test +federated +required/required/false +- +config +[0-9]+$' <<<"$out"; then
	tap_ok "partners_list: Fabrikam.test in the file and fabrikam.test in the config are one partner, the config's, its source named"
else
	tap_fail "the Fabrikam case: one record, the config's" "$n_fab lines: $(grep -i fabrikam <<<"$out")"
fi
out=$(ejctl partners_explain pa.test)
like "partners_explain pa.test: the file's record, the core's text" "$out" \
	"pa.test*  partner        pa.test (its primary domain)*  type           federated*Outgoing streams (we connect to pa.test)*"
out=$(ejctl partners_list)
like "partners_list: cfg.test keeps its tls key from ejabberd.yml" "$out" "*cfg.test*federated*optional*config*"

# ---- partners_add ---------------------------------------------------------------------
out=$(ejctl partners_add pb.test "{type: federated, tls: optional, sasl: optional, dialback: true, proxy: \"$PA:5269\"}")
rc=$?
# (the matrix warnings of the table follow, as in Prosody's shell)
like "partners_add pb.test: added (runtime, stored)" "$rc:$out" "0:pb.test added (runtime, stored)*"
out=$(xp_shell pa "xmpp:ping('pb.test', 'ej.test')")
like "the added partner pb.test federates at once" "$out" "*[Pp]ong*"
out=$(ejctl partners_sessions pb.test)
like "partners_sessions pb.test: the live incoming stream" "$out" "*in *ej.test*pb.test*pb.test*established*"
like "partners_sessions pb.test: the live outgoing stream" "$out" "*out *ej.test*pb.test*pb.test*established*"
out=$(ejctl partners_sessions all)
like "partners_sessions all: header and rows" "$out" "dir*local*remote*partner*state*tls*method*certificate*pb.test*"

# Refused changes: the core's text, nothing changed.
before=$(ejctl partners_list)
out=$(ejctl partners_add bad.test "{type: federated, tls: sometimes}")
rc=$?
like "partners_add with a bad value: refused with the core's error" "$rc:$out" \
	"[1-9]*adding bad.test refused, nothing changed*key 'tls' is \"sometimes\"*"
out=$(ejctl partners_add pb.test "{type: federated}")
rc=$?
like "partners_add of an existing partner: refused" "$rc:$out" "[1-9]*pb.test is already a partner*"
out=$(ejctl partners_set pb.test tls sometimes)
rc=$?
like "partners_set with a bad value: refused with the core's error" "$rc:$out" \
	"[1-9]*setting tls of pb.test refused, nothing changed*sometimes*"
out=$(ejctl partners_set pb.test tls_mode optional)
rc=$?
like "partners_set with an unknown key: refused, the key named" "$rc:$out" "[1-9]*refused*tls_mode*"
out=$(ejctl partners_add "bad domain" "{}")
like "partners_add of a malformed domain: refused" "$out" "*not a valid domain*"
after=$(ejctl partners_list)
tap_is "$after" "$before" "after the refused changes partners_list is unchanged"

# partners_set
out=$(ejctl partners_set pb.test description "Partner B" | head -n 1)
tap_is "$out" 'pb.test: description = Partner B (runtime, stored)' "partners_set pb.test description"
out=$(ejctl partners_set pa.test additional_domains "pa2.test, pa3.test" | head -n 1)
tap_is "$out" 'pa.test: additional_domains = [pa2.test, pa3.test] (runtime, stored)' \
	"partners_set of a list key (comma separated) on a partner of the file"
out=$(ejctl partners_list)
like "partners_list: pa.test now a runtime record overriding the file" "$out" \
	"*pa.test*pa2.test,pa3.test*runtime (overrides file)*"
out=$(ejctl partners_set pa3.test tls required)
like "partners_set on an additional domain names the partner" "$out" "*pa3.test is an additional domain of pa.test*"

# ---- per-remote stream features (raw plain streams) -----------------------------------
features() { # FROM: the <stream:features/> ejabberd sends a plain stream from FROM
	python3 - "$EJ_ADDR" "$1" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 5269), timeout=5)
s.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
           "xmlns:stream='http://etherx.jabber.org/streams' "
           "xmlns:db='jabber:server:dialback' from='%s' to='ej.test' "
           "version='1.0'>" % sys.argv[2]).encode())
buf = b""
try:
    while b"</stream:features>" not in buf and b"<stream:features/>" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
except socket.timeout:
    pass
s.close()
i = buf.find(b"<stream:features")
print(buf[i:].decode(errors="replace") if i >= 0 else "NO FEATURES: " + buf.decode(errors="replace"))
PY
}
out=$(features nt.test)
case $out in
*"<stream:features"*starttls*) tap_fail "tls not_supported: STARTTLS withheld" "$out" ;;
*"<stream:features"*dialback*) tap_ok "tls not_supported: STARTTLS withheld, dialback offered (before the fact)" ;;
*) tap_fail "tls not_supported: STARTTLS withheld, dialback offered" "$out" ;;
esac
out=$(features rq.test)
case $out in
*dialback* | *mechanisms*) tap_fail "tls required: only STARTTLS, required" "$out" ;;
*"<starttls"*"<required/>"*) tap_ok "tls required: STARTTLS with <required/>, nothing else (before the fact)" ;;
*) tap_fail "tls required: only STARTTLS, required" "$out" ;;
esac
out=$(features pa.test)
case $out in
*"<required/>"*) tap_fail "tls optional: STARTTLS offered, not required" "$out" ;;
*"<starttls"*dialback*) tap_ok "tls optional: STARTTLS offered, not required; dialback offered" ;;
*) tap_fail "tls optional: STARTTLS offered, not required; dialback offered" "$out" ;;
esac

# ---- keepalives: what ejabberd sends the partner grows while idle ---------------------
# acked FILTER: bytes ejabberd sent (and had acknowledged) on the sockets
# FILTER selects: dst $PA (outgoing streams), src $EJ_ADDR:5269 (incoming)
acked() {
	ss -Htin "$@" 2>/dev/null | grep -o 'bytes_acked:[0-9]*' |
		awk -F: '{ s += $2 } END { print s + 0 }'
}
a1=$(acked dst "$PA")
i1=$(acked src "$EJ_ADDR:5269")
sleep 3
a2=$(acked dst "$PA")
i2=$(acked src "$EJ_ADDR:5269")
[ $((a2 - a1)) -ge 8 ]
ok_if "keepalive: whitespace on idle outgoing partner streams (interval 1 s: $a1 -> $a2 bytes)" $? "$a1 -> $a2"
[ $((i2 - i1)) -ge 8 ]
ok_if "keepalive: whitespace on idle incoming partner streams ($i1 -> $i2 bytes)" $? "$i1 -> $i2"
ejctl partners_set pa.test keepalive false >/dev/null
ejctl partners_set pb.test keepalive false >/dev/null
sleep 1.5
a1=$(acked dst "$PA")
sleep 3
a2=$(acked dst "$PA")
tap_is "$((a2 - a1))" 0 "keepalive false (partners_set): no more whitespace ($a1 -> $a2 bytes)"

# ---- connection_limit 1: the reply needs a second stream ---------------------------------
ejctl partners_add pc.test "{type: federated, tls: optional, sasl: optional, dialback: true, connection_limit: 1, proxy: \"$PA:5269\"}" >/dev/null
out=$(xp_shell pa "xmpp:ping('pc.test', 'ej.test', 3)")
case $out in
*[Pp]ong*) tap_fail "connection_limit 1: the second stream with pc.test is refused" "$out" ;;
*)
	ej_wait_log "pc.test: the partner's connection_limit is reached" 5
	ok_if "connection_limit 1: the second stream with pc.test is refused and logged" $? \
		"$(grep pc.test "$EJ_LOG" | tail -n 5)"
	;;
esac

# ---- partners_remove closes the live streams ---------------------------------------
out=$(ejctl partners_remove pb.test)
tap_is "$out" "pb.test removed" "partners_remove pb.test (a runtime partner)"
for i in $(seq 1 30); do
	s=$(ejctl partners_sessions pb.test)
	[ "$s" = "no live s2s sessions with pb.test" ] && break
	sleep 0.2
done
tap_is "$s" "no live s2s sessions with pb.test" "partners_remove closed pb.test's live streams"
ej_wait_log 'refused (incoming|outgoing) s2s (from|to) pb.test: not a partner' 5
ok_if "the closed streams were logged with the core's refusal line" $? "$(grep pb.test "$EJ_LOG" | tail -n 5)"
out=$(xp_shell pa "xmpp:ping('pb.test', 'ej.test', 3)")
case $out in *[Pp]ong*) tap_fail "the removed partner pb.test is refused" "$out" ;;
*) tap_ok "the removed partner pb.test is refused" ;; esac
out=$(ejctl partners_remove cfg.test)
tap_is "$out" "cfg.test removed (its configured entry stays hidden until partners_reset cfg.test)" \
	"partners_remove of a configured partner hides it"

# ---- persistence across a restart -----------------------------------------------------
ejctl partners_add pd.test "{type: public_verified}" >/dev/null
ej_stop
t=$(date +%s.%N)
ej_start || xp_bail "ejabberd did not start again"
out=$(ejctl partners_list)
like "after a restart ($(since "$t") s): pd.test added at runtime is there" "$out" "*pd.test*public_verified*runtime*"
! grep -qE '^(cfg|pb)\.test ' <<<"$out"
ok_if "after a restart: pb.test and cfg.test still removed" $? "$out"
like "after a restart: cfg.test listed as removed at runtime" "$out" \
	"*removed at runtime (config entries hidden): cfg.test*"
like "after a restart: the runtime record of pa.test still overrides the file" "$out" \
	"*pa.test*pa2.test,pa3.test*runtime (overrides file)*"

# ---- reload_config ------------------------------------------------------------------------
before=$(ejctl partners_list)
write_config "  cfg2.test:
    tls: sometimes"
out=$(ejctl reload_config)
rc=$?
like "reload_config with a bad partner: refused with the core's error" "$rc:$out" "[1-9]*sometimes*"
tap_is "$(ejctl partners_list)" "$before" "reload_config with errors kept the old table"
echo '	["x.test"] = { tls = os.getenv("X") };' | write_file
write_config ""
out=$(ejctl reload_config)
rc=$?
like "reload_config with a partners_file the sandbox refuses: refused" "$rc:$out" "[1-9]*'os' is not available*"
tap_is "$(ejctl partners_list)" "$before" "reload_config with a bad partners_file kept the old table"
echo '	["pf2.test"] = { type = "public_verified" };' | write_file
write_config "  cfg2.test:
    type: public_unverified"
out=$(ejctl reload_config)
rc=$?
out2=$(ejctl partners_list)
like "reload_config applied the new partners_file" "$rc:$out2" "0:*pf2.test*public_verified*file*" ||
	tap_diag "reload_config: $out"
like "reload_config applied the new partners option" "$out2" "*cfg2.test*public_unverified*config*"
like "reload_config kept the runtime changes" "$out2" "*pd.test*public_verified*runtime*"
out=$(ejctl partners_check)
like "partners_check: the effective table (file + config + runtime), 8 partners" "$out" "*partner table valid: 8 partner(s), * warning(s)"
out=$(ejctl partners_show pa.test)
like "partners_show pa.test: its source" "$out" "*source               runtime (overrides file)*"
out=$(ejctl partners_reset cfg.test)
tap_is "$out" "cfg.test: runtime entry cleared, the configuration applies" "partners_reset cfg.test"
like "partners_reset: cfg.test from the configuration again" "$(ejctl partners_list)" "*cfg.test*federated*config*"
# values typed at the prompt are read by the core (xp_value_parse), as the
# Prosody shell's partners:set reads them
out=$(ejctl partners_set cfg.test keepalive yes)
like "partners_set cfg.test keepalive yes: read by the core as true" "$out" "cfg.test: keepalive = true (runtime, stored)*"
out=$(ejctl partners_set cfg.test additional_domains "[cfg-a.test, 'cfg-b.test']")
like "partners_set additional_domains \"[a, 'b']\": a list of two, the quotes dropped" "$out" \
	"cfg.test: additional_domains = \[cfg-a.test, cfg-b.test\] (runtime, stored)*"
ejctl partners_reset cfg.test >/dev/null

# ---- certificate pins (outgoing): ejabberd verifies certificates without dialback ---
write_config "" mod_admin_extra
out=$(ejctl reload_config)
ok_if "reload_config without mod_s2s_dialback (outbound certificates verified)" $? "$out"
# pp.test with the pin of its key, pq.test without (a refused outbound
# stream is then bounced for a while, so the accepted case comes first)
pin=$("$top_builddir/tools/xmpp-partners" pin "$XP_WORK/pki/ppself.crt" | grep -o 'sha256:[0-9a-f]*' | head -n 1)
out=$(ejctl partners_add pp.test "{type: federated, tls: required, sasl: required, proxy: \"$PA:5269\", fingerprints: [\"$pin\"]}" | head -n 1)
like "partners_add pp.test with fingerprints (its key's pin)" "$out" "pp.test added (runtime, stored)"
ejctl partners_add pq.test "{type: federated, tls: required, sasl: required, proxy: \"$PA:5269\"}" >/dev/null
ejctl send_message chat ej.test "u@pp.test" "" "pinned" >/dev/null
ej_wait_log 'Accepted outbound s2s EXTERNAL authentication ej.test -> pp.test' 10
ok_if "with the pin: pp.test's self-signed certificate is accepted, EXTERNAL used" $? \
	"$(grep pp.test "$EJ_LOG" | tail -n 5)"
ej_wait_log 'pp.test presents the pinned key sha256:' 1
ok_if "with the pin: the pinned key standing in for a trusted chain is logged" $? \
	"$(grep pp.test "$EJ_LOG" | tail -n 5)"
sleep 0.5
out=$(ejctl partners_sessions pp.test)
like "partners_sessions pp.test: outgoing, sasl_tls" "$out" "*out *ej.test*pp.test*pp.test*established*yes*sasl_tls*"
ejctl send_message chat ej.test "u@pq.test" "" "not pinned" >/dev/null
ej_wait_log 'outbound s2s connection ej.test -> pq.test: Peer certificate rejected' 10
ok_if "without a pin: pq.test's self-signed certificate is refused" $? \
	"$(grep pq.test "$EJ_LOG" | tail -n 5)"

pid=$EJ_PID
ej_stop
kill -0 "$pid" 2>/dev/null
tap_is $? 1 "ejabberd node (PID $pid) stopped; total $(since "$T0") s"
tap_done
