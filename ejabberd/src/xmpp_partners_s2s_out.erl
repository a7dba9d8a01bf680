%%% xmpp_partners_s2s_out: ejabberd_s2s_out with per-partner answers to the
%%% questions ejabberd only asks its callback module (xmpp_stream_out
%%% dispatches every callback through the 'mod' key of the stream state).
%%% mod_xmpp_partners puts this module there in s2s_out_init for streams to a
%%% partner; it answers resolve/2 (the partner's proxy host:port instead of
%%% DNS), tls_enabled/1 and tls_required/1 (the partner's STARTTLS verdict)
%%% sasl_mechanisms/1 (EXTERNAL only where the core allows it) and
%%% tls_verify/1 (a pinned key instead of a trusted chain), sends
%%% whitespace keepalives on idle partner streams (handle_info/2,
%%% handle_send/3), logs the refusals xmpp_stream_out makes on a partner
%%% stream whose rules leave no way to authenticate (handle_auth_failure/3
%%% without a dialback fallback, handle_stream_end/2 after its own
%%% STARTTLS stream errors; the rule from the core through
%%% xmpp_partners_refusals:out_refused/2; a certificate rejected by
%%% xmpp_stream_pkix too), and passes everything else to
%%% ejabberd_s2s_out unchanged.  The verdicts come
%%% from the core through mod_xmpp_partners; no policy lives here.
%%%
%%% xmpp_stream_out calls an optional callback only where the module in
%%% 'mod' exports it, so every callback ejabberd_s2s_out implements must be
%%% exported here too, or ejabberd's own step is silently skipped on partner
%%% streams.  Callbacks that only newer ejabberd_s2s_out versions implement
%%% (handle_unauthenticated_features/2 since 24.x, which runs the
%%% s2s_out_unauthenticated_features hook of mod_s2s_bidi) go through
%%% delegate/3: ejabberd_s2s_out's if it has one, else xmpp_stream_out's
%%% default.  tests/ejabberd/t_stream_callbacks.sh checks the list against
%%% the ejabberd under test.
%%%
%%% This relies on an internal interface of ejabberd 23.01 and 24.12 (the
%%% callback swap); README-ejabberd.md says what to check on upgrades.
-module(xmpp_partners_s2s_out).

-export([resolve/2, tls_enabled/1, tls_required/1, sasl_mechanisms/1,
         tls_verify/1, handle_auth_success/2, handle_info/2, handle_send/3]).
%% delegated to ejabberd_s2s_out
-export([tls_options/1, connect_options/3, connect_timeout/1,
         address_families/1, default_port/1, dns_retries/1, dns_timeout/1,
         handle_auth_failure/3, handle_packet/2,
         handle_stream_end/2, handle_stream_downgraded/2, handle_recv/3,
         handle_cdata/2, handle_stream_established/1,
         handle_timeout/1, init/1, handle_call/3, handle_cast/2,
         terminate/2, code_change/3]).
%% delegated where ejabberd_s2s_out has it (newer versions only)
-export([handle_unauthenticated_features/2]).

-include("xmpp.hrl").

-define(OUT, ejabberd_s2s_out).

%% the stream state: the map xmpp_stream_out/in keep (this module adds
%% xp_* keys)
-type state() :: map().

%% [] makes xmpp_stream_out fall back to its own SRV and A lookups.
-spec resolve(string(), state()) -> [{string(), inet:port_number(), boolean()}].
resolve(_Host, #{xp_proxy := {Host, Port}} = State) ->
    [{binary_to_list(Host), Port, tls_direct(State)}];
resolve(_Host, _State) ->
    [].

%% The proxy speaks plain XMPP on its port; STARTTLS follows if allowed.
tls_direct(_State) -> false.

-spec tls_enabled(state()) -> boolean().
tls_enabled(#{xp_tls := withhold}) -> false;
tls_enabled(State) -> ?OUT:tls_enabled(State).

-spec tls_required(state()) -> boolean().
tls_required(#{xp_tls := require}) -> true;
tls_required(#{xp_tls := withhold}) -> false;
tls_required(State) -> ?OUT:tls_required(State).

-spec sasl_mechanisms(state()) -> [binary()].
sasl_mechanisms(#{xp_external := false}) -> [];
sasl_mechanisms(#{stream_encrypted := true}) -> [<<"EXTERNAL">>];
sasl_mechanisms(_) -> [].

%% Where ejabberd verifies the peer's certificate (mod_s2s_dialback not
%% loaded, or its access rule denies dialback with the peer): a key the
%% partner's fingerprints pin, on a certificate valid for the domain,
%% stands in for a trusted chain.  Where ejabberd does not verify (dialback
%% allowed), nothing changes.
-spec tls_verify(state()) -> boolean().
tls_verify(State) ->
    case ?OUT:tls_verify(State) of
        true ->
            keep_peer_cert(State),
            not xmpp_partners_s2s:pinned_peer(State);
        false -> false
    end.

%% If ejabberd rejects the certificate, the stream ends and its socket is
%% closed before handle_stream_end/2 can name the rule: keep the
%% certificate for xmpp_partners_refusals:out_refused/2 (this process is this
%% one stream).
keep_peer_cert(#{socket := Socket}) ->
    case catch xmpp_socket:get_peer_certificate(Socket, der) of
        {ok, Der} when is_binary(Der) -> put(xp_peer_cert, Der);
        _ -> ok
    end;
keep_peer_cert(_State) ->
    ok.

%% xmpp_stream_out drops sasl_mech from the state before this callback,
%% which runs the s2s_out_auth_result hook: keep the mechanism for
%% xmpp_partners_s2s:out_auth_result/2 (mod_s2s_dialback calls
%% ejabberd_s2s_out directly, so a dialback success never carries it).
-spec handle_auth_success(binary(), state()) -> state().
handle_auth_success(Mech, State) ->
    ?OUT:handle_auth_success(Mech, State#{xp_mech => Mech}).

-spec handle_info(term(), state()) -> state().
handle_info(xp_keepalive, State) ->
    xmpp_partners_s2s:keepalive(State, fun send_whitespace/1);
handle_info(I, S) ->
    ?OUT:handle_info(I, S).

-spec handle_send(term(), ok | {error, term()}, state()) -> state().
handle_send(Pkt, Result, State) ->
    case ?OUT:handle_send(Pkt, Result, State) of
        #{xp_keepalive := _} = S ->
            S#{xp_last_out => erlang:monotonic_time(second)};
        S -> S
    end.

send_whitespace(#{socket := Socket} = State) ->
    _ = xmpp_socket:send_ws_ping(Socket),
    State;
send_whitespace(State) ->
    State.

-spec tls_options(state()) -> list().
tls_options(S) -> ?OUT:tls_options(S).
-spec connect_options(inet:ip_address(), list(), state()) -> list().
connect_options(A, O, S) -> ?OUT:connect_options(A, O, S).
-spec connect_timeout(state()) -> timeout().
connect_timeout(S) -> ?OUT:connect_timeout(S).
-spec address_families(state()) -> [inet | inet6].
address_families(S) -> ?OUT:address_families(S).
-spec default_port(state()) -> inet:port_number().
default_port(S) -> ?OUT:default_port(S).
-spec dns_retries(state()) -> non_neg_integer().
dns_retries(S) -> ?OUT:dns_retries(S).
-spec dns_timeout(state()) -> timeout().
dns_timeout(S) -> ?OUT:dns_timeout(S).
%% SASL failed (or was impossible: no TLS, no mechanism the peer offers)
%% on a partner stream without db_enabled (out_init removed it where the
%% core allows no dialback): nothing follows, the partner's rules refused
%% the stream; ejabberd only logs its own line.  With db_enabled,
%% mod_s2s_dialback tries dialback next: no refusal yet.
-spec handle_auth_failure(binary(), term(), state()) -> state().
handle_auth_failure(M, R, #{xp_tls := _} = S) when not is_map_key(db_enabled, S) ->
    xmpp_partners_refusals:out_refused(S, auth_failure),
    ?OUT:handle_auth_failure(M, R, S);
handle_auth_failure(M, R, S) -> ?OUT:handle_auth_failure(M, R, S).
-spec handle_packet(term(), state()) -> state().
handle_packet(P, S) -> ?OUT:handle_packet(P, S).
%% xmpp_stream_out's own stream errors before authentication on a partner
%% stream (its texts tell them from the module's own refusals, which are
%% logged where they are made): policy-violation when STARTTLS is required
%% (tls_required/1) and not offered, unsupported-feature when the peer
%% requires the STARTTLS the partner's rules withhold (tls_enabled/1).
%% And a certificate ejabberd verified (tls_verify/1) and rejected.
-spec handle_stream_end(term(), state()) -> state().
handle_stream_end({stream, {out, #stream_error{reason = Why, text = Text}}} = R,
                  #{xp_tls := Tls, stream_encrypted := false,
                    stream_authenticated := false} = S) ->
    case {Tls, Why, [D || #text{data = D} <- Text]} of
        {require, 'policy-violation', [<<"Use of STARTTLS required">>]} ->
            xmpp_partners_refusals:out_refused(S, tls_missing);
        {withhold, 'unsupported-feature',
         [<<"STARTTLS is disabled in local configuration">>]} ->
            xmpp_partners_refusals:out_refused(S, tls_refused);
        _ -> ok
    end,
    ?OUT:handle_stream_end(R, S);
handle_stream_end({pkix, Why} = R, #{xp_tls := _} = S) ->
    xmpp_partners_refusals:out_refused(S, {pkix, Why}),
    ?OUT:handle_stream_end(R, S);
handle_stream_end(R, S) -> ?OUT:handle_stream_end(R, S).
-spec handle_stream_downgraded(term(), state()) -> state().
handle_stream_downgraded(H, S) -> ?OUT:handle_stream_downgraded(H, S).
-spec handle_recv(term(), term(), state()) -> state().
handle_recv(E, P, S) -> ?OUT:handle_recv(E, P, S).
-spec handle_cdata(binary(), state()) -> state().
handle_cdata(D, S) -> ?OUT:handle_cdata(D, S).
-spec handle_stream_established(state()) -> state().
handle_stream_established(S) -> ?OUT:handle_stream_established(S).
-spec handle_timeout(state()) -> state().
handle_timeout(S) -> ?OUT:handle_timeout(S).
-spec init(list()) -> {ok, state()} | {error, term()} | ignore.
init(A) -> ?OUT:init(A).
-spec handle_call(term(), term(), state()) -> state().
handle_call(R, F, S) -> ?OUT:handle_call(R, F, S).
-spec handle_cast(term(), state()) -> state().
handle_cast(M, S) -> ?OUT:handle_cast(M, S).
-spec terminate(term(), state()) -> any().
terminate(R, S) -> ?OUT:terminate(R, S).
-spec code_change(term(), state(), term()) -> {ok, state()}.
code_change(V, S, E) -> ?OUT:code_change(V, S, E).

%% ejabberd 24.x: the s2s_out_unauthenticated_features hook (mod_s2s_bidi
%% asks for a bidirectional stream there).  23.01 has no such callback:
%% xmpp_stream_out's default then is the state unchanged.
-spec handle_unauthenticated_features(term(), state()) -> state().
handle_unauthenticated_features(F, S) ->
    delegate(handle_unauthenticated_features, [F, S], S).

%% ejabberd_s2s_out:Fun(Args...) where this ejabberd's version exports it,
%% else Default (what xmpp_stream_out does when the callback is missing).
%% ejabberd_s2s_out is loaded: it started this stream.
delegate(Fun, Args, Default) ->
    case erlang:function_exported(?OUT, Fun, length(Args)) of
        true -> apply(?OUT, Fun, Args);
        false -> Default
    end.
