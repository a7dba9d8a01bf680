#!/bin/bash
# tests/ejabberd/t_stream_callbacks.sh: the module's stream wrappers
# (xmpp_partners_s2s_out, xmpp_partners_s2s_in) pass through every callback
# the ejabberd under test implements, on 23.01 and on 24.12
# (tests/ejabberd/ejabberd2412.mk runs this again with XP_EJABBERD_PREFIX).
#
# xmpp_stream_out / xmpp_stream_in call an optional callback only where the
# module in the stream's 'mod' key exports it; a callback that
# ejabberd_s2s_out implements and the wrapper lacks is silently skipped on
# partner streams (24.x's handle_unauthenticated_features/2, which runs
# mod_s2s_bidi's hook, was such a gap).  So:
#   1-2  every callback of the behaviour that ejabberd_s2s_out (_in)
#        exports, the wrapper exports too (read from the loaded modules of
#        the ejabberd under test, not from a list typed here);
#   3    a real partner stream: alice@ej.test's message reaches bob@pa.test
#        over ejabberd's outgoing stream (the wrapper in 'mod');
#   4    where this ejabberd has mod_s2s_bidi (24.x): the outgoing partner
#        stream asks Prosody for a bidirectional stream (XEP-0288), which
#        only the pass-through of handle_unauthenticated_features/2 makes
#        happen.  23.01 has no mod_s2s_bidi: a skip that names why.
#        ejabberd 24.12's mod_s2s_bidi looks for the feature as
#        <bidi xmlns='urn:xmpp:bidi'/> (its own s2s_in advertises that),
#        while Prosody advertises XEP-0288's urn:xmpp:features:bidi: so the
#        Prosody peer gets a small test plugin that advertises the former as
#        well; Prosody's own mod_s2s_bidi answers the request and logs it.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"
ej_require

xp_init
tap_plan 4

# ---- 1-2: the callback lists of the loaded modules ------------------------------------------
# One line per behaviour: "BEHAVIOUR HOSTPATH missing: [F/A,...]".
cbs=$(ERL_CRASH_DUMP_SECONDS=0 ERL_LIBS="$EJ_ERL_LIBS" timeout 60 erl -noshell -pa "$EJ_MOD_EBIN" -eval '
    Check = fun(Beh, Host, Wrap) ->
        [{module, _} = code:ensure_loaded(M) || M <- [Beh, Host, Wrap]],
        HostExp = Host:module_info(exports),
        WrapExp = Wrap:module_info(exports),
        Missing = [io_lib:format("~s/~b", [F, A])
                   || {F, A} <- lists:usort(Beh:behaviour_info(callbacks)),
                      lists:member({F, A}, HostExp),
                      not lists:member({F, A}, WrapExp)],
        io:format("~s ~s missing: [~s]~n",
                  [Beh, code:which(Host), lists:join(",", Missing)])
    end,
    Check(xmpp_stream_out, ejabberd_s2s_out, xmpp_partners_s2s_out),
    Check(xmpp_stream_in, ejabberd_s2s_in, xmpp_partners_s2s_in),
    halt().' 2>&1 </dev/null)
for dir in out in; do
	line=$(grep "^xmpp_stream_$dir " <<<"$cbs")
	# ejabberd_s2s_DIR must be the one of the ejabberd under test
	from=$(awk '{print $2}' <<<"$line")
	if [ -n "$from" ] && [ "$(readlink -f "$(dirname "$from")")" = "$(readlink -f "$EJ_EBIN_SYS")" ] &&
		[ "${line##* missing: }" = "[]" ]; then
		tap_ok "xmpp_partners_s2s_$dir exports every callback ejabberd_s2s_$dir has"
	else
		tap_fail "xmpp_partners_s2s_$dir exports every callback ejabberd_s2s_$dir has" "${line:-$cbs}
(expected ejabberd_s2s_$dir from $EJ_EBIN_SYS)"
	fi
done

# ---- 3-4: a partner stream out of ejabberd, with mod_s2s_bidi where there is one ------------
bidi=0
[ -f "$EJ_EBIN_SYS/mod_s2s_bidi.beam" ] && bidi=1
ej_init ej.test
xp_host pa.test
mkdir -p "$XP_WORK/plugins"
cat >"$XP_WORK/plugins/mod_xp_bidi_ns.lua" <<'EOF'
-- test plugin: the bidi stream feature in the namespace ejabberd 24.12 reads
module:hook("s2s-stream-features", function(event)
	if event.origin.type == "s2sin_unauthed" then
		event.features:tag("bidi", { xmlns = "urn:xmpp:bidi" }):up();
	end
end);
EOF
xp_start_prosody pa "$(xp_addr pa.test)" pa.test --module s2s_bidi --module xp_bidi_ns \
	--plugin-path "$XP_WORK/plugins" || xp_bail "prosody did not start"
xp_register pa bob@pa.test || xp_bail "cannot register bob@pa.test"
EJ_MODULES="mod_s2s_dialback mod_ping mod_disco mod_roster$([ "$bidi" = 1 ] && echo ' mod_s2s_bidi')"
ej_config <<EOF
default: deny
partners:
  pa.test:
    type: federated
    tls: optional
    sasl: optional
    dialback: true
    proxy: "$(xp_server_addr pa):5269"
EOF
ej_start || xp_bail "ejabberd did not start"
ej_register alice || xp_bail "cannot register alice@ej.test"

xp_client_bg rxbob --resource rx bob@pa.test wait 60
xp_client_ready rxbob || xp_bail "bob@pa.test did not log in"
out=$(xp_client alice@ej.test send bob@pa.test "hello over the partner stream" 2>&1)
for _ in $(seq 1 100); do grep -q 'body=hello over the partner stream$' "$(xp_client_out rxbob)" && break; sleep 0.1; done
if grep -q '^message from=alice@ej.test/[^ ]* type=chat body=hello over the partner stream$' "$(xp_client_out rxbob)"; then
	tap_ok "ejabberd's outgoing partner stream carries alice's message to bob@pa.test"
else
	tap_fail "ejabberd's outgoing partner stream carries alice's message to bob@pa.test" "$out
$(xp_client_report rxbob)"
	ej_dump_log
fi

if [ "$bidi" = 1 ]; then
	# Prosody's mod_s2s_bidi logs this (debug) when the <bidi/> that
	# ejabberd's mod_s2s_bidi sends from the s2s_out_unauthenticated_features
	# hook arrives on the incoming stream from ej.test.
	ok=1
	for _ in $(seq 1 50); do grep -q 'Requested bidirectional stream' "$(xp_server_log pa)" && { ok=0; break; }; sleep 0.1; done
	tap_is "$ok" 0 "the outgoing partner stream asks for a bidirectional stream (handle_unauthenticated_features/2 reaches mod_s2s_bidi)"
	[ "$ok" = 0 ] || { ej_dump_log; xp_dump_logs; }
else
	tap_skip "the outgoing partner stream asks for a bidirectional stream" "ejabberd $EJ_VERSION has no mod_s2s_bidi"
fi
tap_done
