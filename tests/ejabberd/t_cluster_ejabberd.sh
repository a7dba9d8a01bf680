#!/bin/bash
# tests/ejabberd/t_cluster_ejabberd.sh: mod_xmpp_partners on a real
# two-node ejabberd 23.01 cluster (ej1, ej2 serving e.test, joined with
# `ejabberdctl join_cluster`) next to two stock Prosody 0.12.3 peers:
#   - the runtime partner table has a Mnesia copy on each node;
#   - partner traffic flows through either node, strangers are refused by
#     both;
#   - a change made on either node (partners_add / partners_remove) applies
#     on both at once and closes on the other node the streams it no
#     longer allows;
#   - partners_sessions lists the streams of both nodes with their node;
#   - partners_check names a node whose table differs and exits 1;
#   - a node that was down (stopped, or killed) during a change has it when
#     it comes back;
#   - killing a node mid-traffic right after a removal made there: the
#     other keeps the policy and its partner streams, and admits neither
#     the removed partner nor a stranger.
# Prosody pa (pa.test, xa.test, eva.test) reaches e.test on ej1 through the
# test hosts file; Prosody pb (pb.test, xb.test, evb.test) reaches it on ej2
# through its own hosts file (ejlib.sh's ejc_hosts_file).  The ejabberd
# nodes reach both through the partners' proxy keys.  Every server is
# stopped by its PID at exit, also on failure.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"
ej_require

xp_init
tap_plan 68
T0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
ok_if() { if [ "$2" = 0 ]; then tap_ok "$1"; else tap_fail "$1" "$3"; fi; }
like() {
	# shellcheck disable=SC2254
	case $2 in $3) tap_ok "$1" ;; *) tap_fail "$1" "$2" ;; esac
}
# ping SERVER FROM: a ping from FROM (a domain of Prosody SERVER) to e.test;
# 0 when answered
ping() {
	local out
	out=$(xp_shell "$1" "xmpp:ping('$2', 'e.test', 5)" 2>&1)
	case $out in *[Pp]ong*) return 0 ;; *) echo "$out"; return 1 ;; esac
}
# wait_no_sessions DOMAIN: on the selected node, until partners_sessions
# DOMAIN lists nothing (bounded: 6 s); prints the last answer
wait_no_sessions() {
	local i s
	for i in $(seq 1 30); do
		s=$(ejctl partners_sessions "$1")
		[ "$s" = "no live s2s sessions with $1" ] && break
		sleep 0.2
	done
	echo "$s"
}

ejc_init e.test 2
N1=${EJC_NODE[1]}
N2=${EJC_NODE[2]}
for d in pa.test pb.test; do xp_host "$d"; done
A=$(xp_addr pa.test)
B=$(xp_addr pb.test)
for d in xa.test eva.test; do xp_host "$d" "$A"; done
for d in xb.test evb.test; do xp_host "$d" "$B"; done
ejc_hosts_file 2 "$XP_WORK/hosts-ej2"
xp_start_prosody pa "$A" pa.test xa.test eva.test || xp_bail "prosody pa did not start"
xp_start_prosody pb "$B" pb.test xb.test evb.test \
	--extra-lua "$(ejc_unbound "$XP_WORK/hosts-ej2")" || xp_bail "prosody pb did not start"

# write_config [EXTRA]: the same partner table on the selected node; EXTRA
# goes under partners: (2 spaces in)
write_config() {
	ej_config <<EOF
default: deny
partners:
  pa.test: {type: federated, tls: optional, sasl: optional, dialback: true, proxy: "$A:5269"}
  pb.test: {type: federated, tls: optional, sasl: optional, dialback: true, proxy: "$B:5269"}
${1:-}
EOF
}

# ---- two nodes, one cluster ---------------------------------------------------------
for i in 1 2; do
	ejc_use "$i"
	write_config
	t=$(date +%s.%N)
	if ej_start; then
		tap_ok "ej$i ($EJ_NODE) started ($(since "$t") s)"
	else
		tap_fail "ej$i started"
		xp_bail "ejabberd node $i did not start"
	fi
done
t=$(date +%s.%N)
ejc_join 2 1
ok_if "ej2 joined ej1's cluster with join_cluster ($(since "$t") s)" $? ""
ejc_use 1
out=$(ejctl list_cluster)
grep -qF "$N1" <<<"$out" && grep -qF "$N2" <<<"$out"
ok_if "list_cluster on ej1 names both nodes" $? "$out"
out=$(ejc_eval 1 "lists:sort(mnesia:table_info(xmpp_partners_runtime, disc_copies))")
like "the runtime partner table has a disc copy on both nodes" "$out" "*'$N1','$N2'*"

# ---- traffic through either node ----------------------------------------------------
out=$(ping pa pa.test)
ok_if "pa.test federates with e.test through ej1" $? "$out"
out=$(ping pb pb.test)
ok_if "pb.test federates with e.test through ej2" $? "$out"
ejc_use 1
ej_log_mark
! out=$(ping pa eva.test)
ok_if "the stranger eva.test is refused by ej1" $? "$out"
ej_wait_log 'refused incoming s2s from eva.test: not a partner' 5
ok_if "ej1 logged the core's refusal line for eva.test" $? "$(ej_log_new | tail -n 5)"
ejc_use 2
ej_log_mark
! out=$(ping pb evb.test)
ok_if "the stranger evb.test is refused by ej2" $? "$out"
ej_wait_log 'refused incoming s2s from evb.test: not a partner' 5
ok_if "ej2 logged the core's refusal line for evb.test" $? "$(ej_log_new | tail -n 5)"

# ---- a change on either node applies on both -----------------------------------------
ejc_use 2
out=$(ejctl partners_add xa.test "{type: federated, tls: optional, sasl: optional, dialback: true, proxy: \"$A:5269\"}")
like "partners_add xa.test on ej2" "$out" "xa.test added (runtime, stored)*"
ejc_use 1
out=$(ejctl partners_list)
like "at once: ej1's partners_list has xa.test (runtime)" "$out" "*xa.test*federated*runtime*"
out=$(ping pa xa.test)
ok_if "ej1 admits xa.test, added on ej2" $? "$out"
out=$(ejctl partners_add xb.test "{type: federated, tls: optional, sasl: optional, dialback: true, proxy: \"$B:5269\"}")
like "partners_add xb.test on ej1" "$out" "xb.test added (runtime, stored)*"
out=$(ping pb xb.test)
ok_if "ej2 admits xb.test, added on ej1" $? "$out"

# ---- partners_sessions: the whole cluster ----------------------------------------------
ejc_use 1
out=$(ejctl partners_sessions all)
like "partners_sessions on ej1: a node column" "$out" "dir*local*remote*partner*state*tls*method*certificate*node*"
grep -E "^in .*pb\.test .*$N2\$" <<<"$out" >/dev/null
ok_if "partners_sessions on ej1 lists ej2's incoming pb.test stream with node ej2" $? "$out"
grep -E "^in .*xa\.test .*$N1\$" <<<"$out" >/dev/null
ok_if "partners_sessions on ej1 lists its own xa.test stream with node ej1" $? "$out"
ejc_use 2
out=$(ejctl partners_sessions xa.test)
like "partners_sessions xa.test on ej2 lists ej1's stream" "$out" "*xa.test*established*$N1*"

# ---- a removal on ej2 closes the stream held by ej1 --------------------------------------
ejc_use 1
ej_log_mark
ejc_use 2
out=$(ejctl partners_remove xa.test)
tap_is "$out" "xa.test removed" "partners_remove xa.test on ej2"
ejc_use 1
out=$(wait_no_sessions xa.test)
tap_is "$out" "no live s2s sessions with xa.test" "ej1 closed its xa.test streams"
ej_wait_log 'refused (incoming|outgoing) s2s (from|to) xa.test: not a partner' 5
ok_if "ej1 logged the closing with the core's refusal line" $? "$(ej_log_new | grep xa.test | tail -n 5)"
! out=$(ping pa xa.test)
ok_if "ej1 refuses xa.test, removed on ej2" $? "$out"

# ---- partners_check compares the nodes ---------------------------------------------------
ejc_use 1
out=$(ejctl partners_check)
like "partners_check on ej1, same tables: ok, exit 0" "$?:$out" "0:ok: 3 partners*"
ejc_use 2
write_config "  zz.test: {type: public_verified}"
out=$(ejctl reload_config)
ok_if "ej2 alone gets an extra static partner zz.test (reload_config)" $? "$out"
ejc_use 1
out=$(ejctl partners_check)
like "partners_check on ej1: exit 1, names ej2 and zz.test" "$?:$out" \
	"1:*differ between the nodes*node $N2: partner zz.test is there, not here*"
like "partners_check on ej1 names the host the difference is on" "$out" \
	"*node $N2: partner zz.test is there, not here (host e.test)*"
ejc_use 2
out=$(ejctl partners_check)
like "partners_check on ej2: exit 1, names ej1 and zz.test" "$?:$out" \
	"1:*node $N1: partner zz.test is missing there*"
write_config
ejctl reload_config >/dev/null
out=$(ejctl partners_check)
like "partners_check once ej2's configuration is restored: exit 0" "$?:$out" "0:ok: 3 partners*"

# ---- a node where the module is not running -------------------------------------------
out=$(ejc_eval 2 'gen_mod:stop_module_keep_config(<<"e.test">>, mod_xmpp_partners)')
grep -qx ok <<<"$out"
ok_if "mod_xmpp_partners stopped on ej2 (configuration kept)" $? "$out"
ejc_use 1
out=$(ejctl partners_sessions all)
like "partners_sessions on ej1 names ej2 as not running the module" "$out" \
	"*node $N2: mod_xmpp_partners is not running there: its streams are not listed*"
out=$(ejctl partners_check)
like "partners_check on ej1: exit 1, the module is not running on ej2" "$?:$out" \
	"1:*node $N2: mod_xmpp_partners is not running there*"
out=$(ejc_eval 2 'gen_mod:start_module(<<"e.test">>, mod_xmpp_partners)')
grep -qx ok <<<"$out"
ok_if "mod_xmpp_partners started again on ej2" $? "$out"
out=$(ejctl partners_check)
like "partners_check on ej1 with the module back on ej2: exit 0" "$?:$out" "0:ok: 3 partners*"

# ---- a change seen only through Mnesia ----------------------------------------------------
# Written straight into ej1's copy, as if the node that made a change died
# before asking the others to rebuild: each node rebuilds on its own
# Mnesia event.
out=$(ejc_eval 1 'mnesia:sync_transaction(fun() -> mnesia:write({xmpp_partners_runtime, <<"xe.test">>, {partner, [{<<"type">>, public_verified}]}}) end)')
tap_is "$out" "{atomic,ok}" "a runtime row for xe.test written into ej1's Mnesia copy alone"
for n in 2 1; do
	ejc_use "$n"
	for i in $(seq 1 25); do
		out=$(ejctl partners_list)
		grep -q '^xe\.test ' <<<"$out" && break
		sleep 0.2
	done
	like "ej$n applies it from its Mnesia event (no request from the writer)" "$out" "*xe.test*public_verified*runtime*"
done

# ---- a module restart does not keep stale rows --------------------------------------------
# ej1 removes xr.test (the rows it last installed: without xr.test), its
# module restarts, another node's add of xr.test lands in Mnesia while it
# is stopped; the restarted module has xr.test, and a removal on ej1 must
# take it out of force again (a sync always rebuilds).
ejc_use 1
out=$(ejctl partners_add xr.test "{type: public_verified}")
like "partners_add xr.test on ej1" "$out" "xr.test added (runtime, stored)*"
out=$(ejctl partners_remove xr.test)
tap_is "$out" "xr.test removed" "partners_remove xr.test on ej1"
out=$(ejc_eval 1 'gen_mod:stop_module_keep_config(<<"e.test">>, mod_xmpp_partners)')
tap_is "$out" "ok" "mod_xmpp_partners stopped on ej1 (configuration kept)"
out=$(ejc_eval 1 'mnesia:sync_transaction(fun() -> mnesia:write({xmpp_partners_runtime, <<"xr.test">>, {partner, [{<<"type">>, public_verified}]}}) end)')
tap_is "$out" "{atomic,ok}" "meanwhile a runtime row for xr.test is written into Mnesia"
# (the node's log lines may come before or after the answer)
out=$(ejc_eval 1 'gen_mod:start_module(<<"e.test">>, mod_xmpp_partners)')
grep -qx ok <<<"$out"
ok_if "mod_xmpp_partners started again on ej1" $? "$out"
out=$(ejctl partners_list)
like "the restarted module has xr.test in force" "$out" "*xr.test*public_verified*runtime*"
ex1=$(ejctl partners_explain xr.test)
out=$(ejctl partners_remove xr.test)
tap_is "$out" "xr.test removed" "partners_remove xr.test on ej1 after the restart"
out=$(ejctl partners_list)
! grep -q '^xr\.test ' <<<"$out"
ok_if "ej1 no longer has xr.test in force after its removal" $? "$out"
out=$(ejctl partners_explain xr.test)
[ -n "$out" ] && [ "$out" != "$ex1" ]
ok_if "partners_explain xr.test on ej1 changed with the removal" $? "before: $ex1; after: $out"

# ---- a change another node cannot build ------------------------------------------------------
# ej2 alone has a static partner whose additional domain is xk.test: adding
# xk.test on ej1 builds there, not on ej2, which keeps its previous table;
# ej1's command says so and exits 1.
ejc_use 2
write_config "  zk.test: {type: public_verified, additional_domains: [xk.test]}"
out=$(ejctl reload_config)
ok_if "ej2 alone gets zk.test with the additional domain xk.test" $? "$out"
ejc_use 1
out=$(ejctl partners_add xk.test "{type: public_verified}")
like "partners_add xk.test on ej1: exit 1, ej2 kept its previous table" "$?:$out" \
	"1:*stored, but:*node $N2 kept its previous table: error*xk.test*"
ejc_use 2
out=$(ejctl partners_list)
! grep -q '^xk\.test ' <<<"$out"
ok_if "ej2 does not have xk.test as a partner of its own" $? "$out"
ejc_use 1
out=$(ejctl partners_reset xk.test)
like "partners_reset xk.test on ej1 (ej2 can build that)" "$?:$out" "0:xk.test: runtime entry cleared*"
ejc_use 2
write_config
ejctl reload_config >/dev/null
out=$(ejctl partners_check)
like "partners_check on ej2 once its configuration is restored: exit 0" "$?:$out" "0:ok:*"

# ---- two changes at the same time on two nodes ----------------------------------------------
# different domains: both stay, on both nodes
ejc_use 1
ejctl partners_add xs.test "{type: public_verified}" >"$XP_WORK/add-xs.out" 2>&1 &
padd=$!
ejc_use 2
out2=$(ejctl partners_add xt.test "{type: public_verified}")
wait "$padd"
out1=$(cat "$XP_WORK/add-xs.out")
like "partners_add xs.test on ej1 and xt.test on ej2 at the same time" "$out1|$out2" \
	"xs.test added (runtime, stored)*|xt.test added (runtime, stored)*"
for n in 1 2; do
	ejc_use "$n"
	out=$(ejctl partners_list)
	grep -q '^xs\.test ' <<<"$out" && grep -q '^xt\.test ' <<<"$out"
	ok_if "ej$n has both xs.test and xt.test in force" $? "$out"
done

# ---- a node down during a change ------------------------------------------------------------
ejc_use 2
ej_stop
ejc_use 1
out=$(ejctl partners_check)
like "partners_check on ej1 while ej2 is stopped: exit 1, names ej2 as not running" "$?:$out" \
	"1:*node $N2: a node of the cluster's Mnesia database that is not running*"
out=$(ejctl partners_add xc.test "{type: public_verified}")
like "partners_add xc.test on ej1 while ej2 is stopped" "$out" "xc.test added (runtime, stored)*"
ejc_use 2
t=$(date +%s.%N)
ej_start || xp_bail "ej2 did not start again"
out=$(ejctl partners_list)
like "ej2, started again ($(since "$t") s), has xc.test" "$out" "*xc.test*public_verified*runtime*"

# ---- failover: a removal on ej1, ej1 killed at once ------------------------------------------
out=$(ping pb pb.test) && out=$(ping pb xb.test)
ok_if "before the failover: pb.test and xb.test federate through ej2" $? "$out"
# the TCP connections between pb and ej2 (pb's source address is the
# kernel's choice; only pb connects to ej2): "local-peer" per line
conns() {
	ss -Htn state established "( dst ${EJC_ADDR[2]}:5269 or ( src ${EJC_ADDR[2]} and dst $B:5269 ) )" \
		2>/dev/null | awk '{print $3 "-" $4}' | sort
}
before=$(conns)
ejc_use 1
out=$(ejctl partners_remove xb.test)
pid1=$EJ_PID
ejc_kill 1
kill -0 "$pid1" 2>/dev/null
tap_is "$?:$out" "1:xb.test removed" "partners_remove xb.test on ej1, ej1 (PID $pid1) killed right after"
# traffic during the failover: the partner keeps working, nothing refused
# gets in
ejc_use 2
got=
for i in 1 2 3; do
	ping pb pb.test >/dev/null && got+=P || got+=p
	ping pb xb.test >/dev/null && got+=X || got+=x
	ping pb evb.test >/dev/null && got+=E || got+=e
done
tap_is "$got" "PxePxePxe" "during the failover ej2 answers pb.test, refuses xb.test and evb.test (3 rounds)"
out=$(ejctl partners_list)
! grep -q '^xb\.test ' <<<"$out"
ok_if "ej2 no longer lists xb.test" $? "$out"
out=$(wait_no_sessions xb.test)
tap_is "$out" "no live s2s sessions with xb.test" "ej2 holds no xb.test stream"
after=$(conns)
kept=$(comm -12 <(echo "$before") <(echo "$after") | grep -c .)
[ "$kept" -ge 1 ]
ok_if "ej2 kept pb's stream across the failover ($kept of $(echo "$before" | grep -c .) TCP connections)" $? \
	"before: $before; after: $after"

# ---- the killed node comes back ---------------------------------------------------------------
out=$(ejctl partners_add xd.test "{type: public_verified}")
like "partners_add xd.test on ej2 while ej1 is down" "$out" "xd.test added (runtime, stored)*"
ejc_use 1
t=$(date +%s.%N)
ej_start || xp_bail "ej1 did not start again"
out=$(ejctl partners_list)
like "ej1, started again after the kill ($(since "$t") s), has xd.test" "$out" "*xd.test*public_verified*runtime*"
! grep -q '^xb\.test ' <<<"$out"
ok_if "ej1 has the removal of xb.test it made before it was killed" $? "$out"

ejc_use 1
p1=$EJ_PID
ejc_use 2
p2=$EJ_PID
ejc_stop_all
kill -0 "$p1" 2>/dev/null || kill -0 "$p2" 2>/dev/null
tap_is $? 1 "both nodes (PIDs $p1, $p2) stopped; total $(since "$T0") s"
tap_done
