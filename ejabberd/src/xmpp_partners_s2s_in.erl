%%% xmpp_partners_s2s_in: ejabberd_s2s_in with per-partner answers to the
%%% questions xmpp_stream_in only asks its callback module.  ejabberd
%%% decides STARTTLS and the SASL mechanisms per local host; the partner
%%% policy decides them per remote domain.  mod_xmpp_partners puts this
%%% module in the 'mod' key of every incoming stream (global hook
%%% s2s_in_init); once the stream header has named the remote domain
%%% ('from'), it answers:
%%%   tls_enabled/1     false where the core withholds STARTTLS
%%%                     (tls: not_supported)
%%%   tls_required/1    true where the core requires it (only STARTTLS is
%%%                     offered, nothing else until TLS), false where it is
%%%                     optional for the partner
%%%   sasl_mechanisms/2 no EXTERNAL where the core does not offer it
%%%                     (sasl: not_supported)
%%%   unauthenticated_stream_features/1
%%%                     no dialback feature where the core refuses dialback
%%% logs the refusals xmpp_stream_in makes for such a domain on its own
%%% (handle_auth_failure/4, handle_stream_end/2: the rule from the core
%%% through xmpp_partners_refusals:in_refused/2),
%%% refuses at the stream header the origins in a refusal back-off window
%%% (handle_stream_start/2), closes unauthenticated streams past the bounds of xmpp_partners_pending
%%% (handle_info/2, handle_recv/3), and sends whitespace keepalives on idle partner streams (handle_info/2,
%%% handle_send/3).  For a stream without 'from', a domain the allow list
%%% refuses, or a host not running mod_xmpp_partners, ejabberd_s2s_in
%%% answers unchanged; everything else is passed to ejabberd_s2s_in.  The
%%% verdicts come from the core through xmpp_partners_s2s:in_verdicts/1.
%%%
%%% This relies on an internal interface of ejabberd 23.01 (the callback
%%% module of xmpp_stream_in); README-ejabberd.md says what to check on
%%% upgrades.
-module(xmpp_partners_s2s_in).

-export([tls_enabled/1, tls_required/1, sasl_mechanisms/2,
         unauthenticated_stream_features/1, handle_info/2, handle_send/3]).
%% delegated to ejabberd_s2s_in
-export([tls_options/1, compress_methods/1, authenticated_stream_features/1,
         handle_stream_start/2, handle_stream_end/2,
         handle_stream_established/1, handle_auth_success/4,
         handle_auth_failure/4, handle_unauthenticated_packet/2,
         handle_authenticated_packet/2, handle_cdata/2, handle_recv/3,
         init/1, handle_call/3, handle_cast/2, terminate/2, code_change/3]).

-include("xmpp.hrl").

-define(IN, ejabberd_s2s_in).
-define(S2S, xmpp_partners_s2s).
-define(REFUSALS, xmpp_partners_refusals).

%% the stream state: the map xmpp_stream_out/in keep (this module adds
%% xp_* keys)
-type state() :: map().

-spec tls_enabled(state()) -> boolean().
tls_enabled(State) ->
    case ?S2S:in_verdicts(State) of
        #{tls := withhold} -> false;
        _ -> ?IN:tls_enabled(State)
    end.

-spec tls_required(state()) -> boolean().
tls_required(State) ->
    case ?S2S:in_verdicts(State) of
        #{tls := require} -> true;
        #{tls := _} -> false;
        undefined -> ?IN:tls_required(State)
    end.

%% ejabberd_s2s_in has no sasl_mechanisms/2: xmpp_stream_in's list
%% (EXTERNAL on encrypted streams) is the default.
-spec sasl_mechanisms([binary()], state()) -> [binary()].
sasl_mechanisms(Mechs, State) ->
    case ?S2S:in_verdicts(State) of
        #{external := false} -> Mechs -- [<<"EXTERNAL">>];
        _ -> Mechs
    end.

-spec unauthenticated_stream_features(state()) -> [term()].
unauthenticated_stream_features(State) ->
    Features = ?IN:unauthenticated_stream_features(State),
    case ?S2S:in_verdicts(State) of
        #{dialback := false} ->
            [F || F <- Features, not is_record(F, db_feature)];
        _ -> Features
    end.

-spec handle_info(term(), state()) -> state().
handle_info({xp_evict, _} = Evict, State) ->
    xmpp_partners_pending:handle_info(Evict, State);
handle_info(xp_auth_deadline, State) ->
    xmpp_partners_pending:handle_info(xp_auth_deadline, State);
handle_info(xp_keepalive, State) ->
    ?S2S:keepalive(State, fun xmpp_stream_in:send_ws_ping/1);
handle_info(Info, State) ->
    ?IN:handle_info(Info, State).

-spec handle_send(term(), ok | {error, term()}, state()) -> state().
handle_send(Pkt, Result, State) ->
    case ?IN:handle_send(Pkt, Result, State) of
        #{xp_keepalive := _} = S ->
            S#{xp_last_out => erlang:monotonic_time(second)};
        S -> S
    end.

-spec tls_options(state()) -> list().
tls_options(S) -> ?IN:tls_options(S).
-spec compress_methods(state()) -> [binary()].
compress_methods(S) -> ?IN:compress_methods(S).
-spec authenticated_stream_features(state()) -> [term()].
authenticated_stream_features(S) -> ?IN:authenticated_stream_features(S).
%% A stream whose origin is in a refusal back-off window is refused at its
%% header, before TLS, with its reason (xmpp_partners_refusals:at_header/1).
-spec handle_stream_start(term(), state()) -> state().
handle_stream_start(P, S) ->
    case ?REFUSALS:at_header(S) of
        ok -> ?IN:handle_stream_start(P, S);
        {refuse, Text} ->
            xmpp_stream_in:send(S#{xp_backoff => true},
                                xmpp:serr_policy_violation(Text, <<"en">>))
    end.

%% A stream refused by the back-off closes without ejabberd's "Closing
%% inbound s2s connection" info line (s2s_in_closed): the summary line of
%% the window is its log.
-spec handle_stream_end(term(), state()) -> state().
handle_stream_end(R, #{xp_backoff := true} = S) ->
    xmpp_stream_in:stop_async(self()),
    S#{stop_reason => R};
%% xmpp_stream_in's own refusals of a stream whose domain the module
%% judges (its texts tell them from the module's refusals, logged where
%% they are made): the peer went on without the STARTTLS the partner's
%% rules require, or asked for the STARTTLS they withhold.
handle_stream_end({stream, {out, #stream_error{reason = 'policy-violation',
                                               text = Text}}} = R,
                  #{stream_encrypted := false,
                    stream_authenticated := false} = S) ->
    case {[D || #text{data = D} <- Text], ?S2S:in_verdicts(S)} of
        {[<<"Use of STARTTLS required">>], #{tls := require}} ->
            ?REFUSALS:in_refused(S, tls_missing);
        _ -> ok
    end,
    ?IN:handle_stream_end(R, S);
handle_stream_end({tls, starttls_unsupported} = R, S) ->
    case ?S2S:in_verdicts(S) of
        #{tls := withhold} -> ?REFUSALS:in_refused(S, tls_refused);
        _ -> ok
    end,
    ?IN:handle_stream_end(R, S);
handle_stream_end(R, S) -> ?IN:handle_stream_end(R, S).
-spec handle_stream_established(state()) -> state().
handle_stream_established(S) -> ?IN:handle_stream_established(S).
-spec handle_auth_success(binary(), binary(), term(), state()) -> state().
handle_auth_success(R, M, A, S) -> ?IN:handle_auth_success(R, M, A, S).
%% SASL failed before <failure/> is sent: EXTERNAL that the partner's
%% rules withhold (not offered, asked for anyway), or a certificate
%% xmpp_stream_pkix refused; logged with the core's rule.
-spec handle_auth_failure(binary(), binary(), binary(), state()) -> state().
handle_auth_failure(R, M, T, S) ->
    ?REFUSALS:in_refused(S, {auth_failure, M, T}),
    ?IN:handle_auth_failure(R, M, T, S).
-spec handle_unauthenticated_packet(term(), state()) -> state().
handle_unauthenticated_packet(P, S) -> ?IN:handle_unauthenticated_packet(P, S).
-spec handle_authenticated_packet(term(), state()) -> state().
handle_authenticated_packet(P, S) -> ?IN:handle_authenticated_packet(P, S).
-spec handle_cdata(binary(), state()) -> state().
handle_cdata(D, S) -> ?IN:handle_cdata(D, S).
%% pre-authentication bounds first (xmpp_partners_pending)
-spec handle_recv(term(), term(), state()) -> state().
handle_recv(E, P, S) ->
    S1 = xmpp_partners_pending:recv(E, P, S),
    case S1 of
        #{stream_state := disconnected} -> S1;
        _ -> ?IN:handle_recv(E, P, S1)
    end.
-spec init(list()) -> {ok, state()} | {error, term()} | ignore.
init(A) -> ?IN:init(A).
-spec handle_call(term(), term(), state()) -> state().
handle_call(R, F, S) -> ?IN:handle_call(R, F, S).
-spec handle_cast(term(), state()) -> state().
handle_cast(M, S) -> ?IN:handle_cast(M, S).
-spec terminate(term(), state()) -> any().
terminate(R, S) -> ?IN:terminate(R, S).
-spec code_change(term(), state(), term()) -> {ok, state()}.
code_change(V, S, E) -> ?IN:code_change(V, S, E).
