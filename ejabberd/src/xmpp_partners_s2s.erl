%%% xmpp_partners_s2s: the partner policy on ejabberd's s2s streams: the
%%% allow list, the incoming and outgoing stream hooks, the live streams
%%% this module admitted (connection limits, closing what a changed table
%%% no longer allows, adopting streams open before the module started),
%%% outgoing certificate pins and keepalives.  The stream callback modules
%%% xmpp_partners_s2s_in/out call in_verdicts/1, pinned_peer/1 and the
%%% keepalive functions; refusals are logged by xmpp_partners_refusals.
-module(xmpp_partners_s2s).

%% hooks (registered by mod_xmpp_partners)
-export([allow_host/3, in_auth_result/3, in_packet/2, out_init/2,
         out_auth_result/2, in_init/2]).
%% live streams
-export([enforce_existing/0, adopt_existing/1, adopt/3, primary/2]).
%% for the stream callback modules
-export([in_verdicts/1, pinned_peer/1, keepalive_arm/1, keepalive/2]).

-include("xmpp.hrl").
-include("logger.hrl").
-include("xmpp_partners_sessions.hrl").
-import(xmpp_partners_table, [table/1, loaded_table/1]).
-import(xmpp_partners_refusals, [refused/3, method_label/2]).

-define(NIF, xmpp_partners_nif).

register_session(Dir, Local, Remote, Primary, Enc, Method) ->
    xmpp_partners_sessions:register(Dir, Local, Remote, Primary, Enc, Method).

%% This node's live streams.  Connection limits count them per node (see
%% README-ejabberd.md, "Clustering"): admitting a stream never waits for
%% another node.
live_sessions() ->
    xmpp_partners_sessions:live().

%% Admit one more stream with Domain's partner (connection_limit, global
%% limit: the core's verdict on this node's counts); a stream already
%% counted (piggybacked domain) always is.
admit(T, Domain, Primary) ->
    case xmpp_partners_sessions:counted(self(), Primary) of
        true -> true;
        false ->
            {Mine, Total} = xmpp_partners_sessions:counts(self(), Primary),
            ?NIF:connection(T, Domain, Mine, Total)
    end.

%% Close every admitted stream the table in force no longer allows: a
%% removed partner, a tightened tls/sasl/dialback, a domain now unlisted.
%% Streams of a host where the module no longer runs (reload_config that
%% removed it runs this hook after gen_mod stopped it) are left alone.
-spec enforce_existing() -> ok.
enforce_existing() ->
    lists:foreach(
      fun(#xp_session{key = {Pid, Remote} = K, dir = Dir, local = Local,
                      encrypted = Enc, method = Method}) ->
              {Chain, Id} = case Method of
                                'EXTERNAL' -> {valid, valid};
                                _ -> {undefined, undefined}
                            end,
              Host = case Dir of
                         incoming -> ejabberd_router:host_of_route(Local);
                         outgoing -> Local
                     end,
              Verdict = case loaded_table(Host) of
                            undefined -> true;
                            T -> ?NIF:auth(T, Remote, Dir, Method, Enc, Chain,
                                           Id, false)
                        end,
              case Verdict of
                  true -> ok;
                  {false, Token, Text} ->
                      refused(Dir, Remote, Token),
                      xmpp_partners_sessions:forget(K),
                      Err = policy_violation(
                              <<"The partner policy changed: ", Text/binary>>),
                      case Dir of
                          incoming -> ejabberd_s2s_in:send(Pid, Err);
                          outgoing -> ejabberd_s2s_out:send(Pid, Err)
                      end
              end
      end, live_sessions()).

%% At start: the s2s streams of Host that are already open (the module
%% added by reload_config to a running node, or restarted) are judged like
%% new ones.  Each stream process judges itself (ejabberd's update_state
%% cast runs adopt/3 there): a refused stream is closed with
%% policy-violation and the refusal line; an allowed one is counted for the
%% connection limits, gets this module's callback wrapper and its
%% keepalive.  Streams not authenticated yet meet the hooks installed above.
-spec adopt_existing(binary()) -> ok.
adopt_existing(Host) ->
    lists:foreach(
      fun({Sup, Mod, Dir}) ->
              Children = try supervisor:which_children(Sup)
                         catch _:_ -> []
                         end,
              [Mod:update_state(Pid, {?MODULE, adopt, [Host, Dir]})
               || {_, Pid, _, _} <- Children, is_pid(Pid)]
      end, [{ejabberd_s2s_in_sup, ejabberd_s2s_in, incoming},
            {ejabberd_s2s_out_sup, ejabberd_s2s_out, outgoing}]),
    ok.

%% In the stream process.  The method is read from what ejabberd leaves in
%% the state: an incoming stream authenticated by SASL keeps the
%% authenticated domain in 'user' (dialback leaves it empty); an outgoing
%% stream keeps db_enabled unless dialback authenticated it (where
%% mod_s2s_dialback is not loaded only SASL EXTERNAL can have).
-spec adopt(map(), binary(), incoming | outgoing) -> map().
adopt(#{lserver := Local, auth_domains := Domains} = State, Host, incoming) ->
    case ejabberd_router:host_of_route(Local) == Host andalso
        sets:size(Domains) > 0 of
        false -> State;
        true ->
            Method = case maps:get(user, State, <<>>) of
                         <<>> -> dialback;
                         _ -> 'EXTERNAL'
                     end,
            adopt_domains(State, Host, incoming, Local,
                          lists:sort(sets:to_list(Domains)), Method)
    end;
adopt(#{server_host := Host, remote_server := Remote,
        stream_state := established} = State, Host, outgoing) ->
    Method = case maps:is_key(db_enabled, State) orelse
                 not gen_mod:is_loaded(Host, mod_s2s_dialback) of
                 true -> 'EXTERNAL';
                 false -> dialback
             end,
    adopt_domains(State, Host, outgoing, Host, [Remote], Method);
adopt(State, _Host, _Dir) ->
    State.

adopt_domains(State, Host, Dir, Local, [Remote | Rest], Method) ->
    Enc = maps:get(stream_encrypted, State, false),
    {Chain, Id} = case Method of
                      'EXTERNAL' -> {valid, valid};
                      dialback -> {undefined, undefined}
                  end,
    T = table(Host),
    Verdict = case ?NIF:auth(T, Remote, Dir, Method, Enc, Chain, Id, false) of
                  true -> admit(T, Remote, primary(T, Remote));
                  Refused -> Refused
              end,
    case Verdict of
        true ->
            %% (a stream counted before a module restart keeps its entry)
            case xmpp_partners_sessions:member({self(), Remote}) of
                true -> ok;
                false -> register_session(Dir, Local, Remote,
                                          primary(T, Remote), Enc, Method)
            end,
            adopt_domains(State, Host, Dir, Local, Rest, Method);
        {false, Token, Text} ->
            refused(Dir, Remote, Token),
            xmpp_partners_sessions:forget_process(self()),
            Err = policy_violation(Text),
            case Dir of
                incoming -> ejabberd_s2s_in:send(State, Err);
                outgoing -> ejabberd_s2s_out:send(State, Err)
            end
    end;
adopt_domains(#{mod := ejabberd_s2s_in} = State, _Host, incoming, _, [], _) ->
    put(xp_s2s_in, true),
    keepalive_arm(State#{mod => xmpp_partners_s2s_in});
adopt_domains(#{mod := ejabberd_s2s_out} = State, _Host, outgoing, _, [], _) ->
    keepalive_arm(State#{mod => xmpp_partners_s2s_out});
adopt_domains(#{mod := Mod} = State, _Host, _Dir, _, [], _)
  when Mod == xmpp_partners_s2s_in; Mod == xmpp_partners_s2s_out ->
    keepalive_arm(State);
adopt_domains(State, _Host, _Dir, _, [], _) ->
    State.

%% In an outgoing stream after STARTTLS: does the peer present a key the
%% partner pins (fingerprints), on a certificate valid for its domain?
-spec pinned_peer(map()) -> boolean().
pinned_peer(#{server_host := Host, remote_server := Remote,
              socket := Socket}) ->
    case loaded_table(Host) of
        undefined -> false;
        T ->
            case catch xmpp_socket:get_peer_certificate(Socket, der) of
                {ok, Der} when is_binary(Der) ->
                    case ?NIF:cert_pin(Der) of
                        {ok, Pin} ->
                            Match = ?NIF:pin_matches(T, Remote, Pin) andalso
                                ?NIF:cert_identity(Der, Remote, false) == valid,
                            case Match of
                                true ->
                                    ?INFO_MSG("partner policy: ~ts presents "
                                              "the pinned key ~ts: accepted "
                                              "in place of a trusted chain",
                                              [Remote, Pin]);
                                false -> ok
                            end,
                            Match;
                        _ -> false
                    end;
                _ -> false
            end
    end;
pinned_peer(_State) ->
    false.

%% In a stream process whose callback module is one of ours: whitespace
%% keepalives after keepalive_interval seconds without output, when the
%% partner's keepalive is on.
-spec keepalive_arm(map()) -> map().
keepalive_arm(#{xp_keepalive := _} = State) ->
    State;
keepalive_arm(#{server_host := Host, remote_server := Remote} = State) ->
    case loaded_table(Host) of
        undefined -> State;
        T ->
            case ?NIF:keepalive(T, Remote) of
                {true, Interval} ->
                    erlang:send_after(Interval * 1000, self(), xp_keepalive),
                    State#{xp_keepalive => true,
                           xp_last_out => erlang:monotonic_time(second)};
                _ -> State
            end
    end;
keepalive_arm(State) ->
    State.

%% The timer fired: Send(State) writes the whitespace when the stream was
%% idle long enough; the timer is armed again for the rest of the interval.
-spec keepalive(map(), fun((map()) -> map())) -> map().
keepalive(#{server_host := Host, remote_server := Remote} = State, Send) ->
    Now = erlang:monotonic_time(second),
    case loaded_table(Host) of
        undefined -> maps:remove(xp_keepalive, State);
        T ->
            case ?NIF:keepalive(T, Remote) of
                {true, Interval} ->
                    Idle = Now - maps:get(xp_last_out, State, Now),
                    case Idle >= Interval of
                        true ->
                            State1 = Send(State),
                            erlang:send_after(Interval * 1000, self(),
                                              xp_keepalive),
                            State1#{xp_last_out => Now};
                        false ->
                            erlang:send_after((Interval - Idle) * 1000, self(),
                                              xp_keepalive),
                            State
                    end;
                _ -> maps:remove(xp_keepalive, State)
            end
    end;
keepalive(State, _Send) ->
    State.

%% Runs for outbound connections (in the routing process, which for a
%% local user's stanza is that user's ejabberd_c2s, itself an
%% xmpp_stream_in), inbound authentication and dialback checks (in the
%% s2s_in process, marked by in_init/2); which one is only for the log line.
-spec allow_host(allow | deny, binary(), binary()) -> allow | deny | {stop, deny}.
allow_host(Acc, MyHost, RemoteHost) ->
    case ?NIF:resolve(table(MyHost), RemoteHost) of
        {ok, _} -> Acc;
        {error, Token, _Text} ->
            refused(direction_of_process(), RemoteHost, Token),
            {stop, deny}
    end.

direction_of_process() ->
    case get(xp_s2s_in) of
        true -> incoming;
        _ -> outgoing
    end.

%% Runs before <success/> (SASL) or the dialback verdict is sent, once per
%% authenticated domain (piggybacked dialback domains included).
-spec in_auth_result(map(), boolean(), binary()) -> map() | {stop, map()}.
in_auth_result(#{server_host := Host} = State, true, RServer) ->
    T = table(Host),
    {Verdict, Method, Enc} = auth_verdict(T, RServer, incoming, State,
                                          sasl_mech),
    case Verdict of
        true ->
            xmpp_partners_pending:authenticated(),
            xmpp_partners_backoff:count({authenticated, primary(T, RServer),
                                         incoming, method_label(Method, Enc)}),
            register_session(incoming, maps:get(lserver, State, Host), RServer,
                             primary(T, RServer), Enc, Method),
            keepalive_arm_if_ours(State, xmpp_partners_s2s_in);
        {false, Token, Text} when Token == connection_limit;
                                  Token == global_connection_limit ->
            refused(incoming, RServer, Token),
            {stop, ejabberd_s2s_in:send(State, policy_violation(Text))};
        {false, Token, Text} ->
            %% A domain the allow list refused (s2s_allow_host, just before
            %% this hook) is not in auth_domains and was logged there.
            case sets:is_element(RServer, maps:get(auth_domains, State,
                                                   sets:new())) of
                true -> refused(incoming, RServer, Token);
                false -> ok
            end,
            {stop, ejabberd_s2s_in:send(State, policy_violation(Text))}
    end;
in_auth_result(State, _, _) ->
    State.

%% The core's verdict on a stream that just authenticated, then the
%% connection limits: the mechanism is in State under MechKey (the SASL
%% mechanism ejabberd recorded incoming, ours outgoing); EXTERNAL only
%% succeeds after xmpp_stream_pkix verified the chain and the identity.
-spec auth_verdict(xmpp_partners_nif:table(), binary(), incoming | outgoing,
                   map(), atom()) ->
          {true | {false, atom(), binary()}, 'EXTERNAL' | dialback, boolean()}.
auth_verdict(T, RServer, Dir, State, MechKey) ->
    Enc = maps:get(stream_encrypted, State, false),
    {Method, Chain, Id} = case maps:get(MechKey, State, undefined) of
                              <<"EXTERNAL">> -> {'EXTERNAL', valid, valid};
                              _ -> {dialback, undefined, undefined}
                          end,
    Verdict = case ?NIF:auth(T, RServer, Dir, Method, Enc, Chain, Id, false) of
                  true -> admit(T, RServer, primary(T, RServer));
                  Refused -> Refused
              end,
    {Verdict, Method, Enc}.

%% The primary domain of Domain's partner (Domain itself when unlisted).
-spec primary(xmpp_partners_nif:table(), binary()) -> binary().
primary(T, Domain) ->
    case ?NIF:resolve(T, Domain) of
        {ok, P} -> P;
        _ -> Domain
    end.

keepalive_arm_if_ours(#{mod := Mod} = State, Mod) ->
    keepalive_arm(State);
keepalive_arm_if_ours(State, _) ->
    State.

%% Every incoming stream gets xmpp_partners_s2s_in as its callback module
%% (it delegates to ejabberd_s2s_in; see that module).
-spec in_init({ok, map()} | term(), list()) -> {ok, map()} | term().
in_init({ok, #{mod := ejabberd_s2s_in} = State}, _Opts) ->
    %% marks the process for direction_of_process/0
    put(xp_s2s_in, true),
    %% the origin of a stream that names no domain (refusal back-off)
    case maps:get(ip, State, undefined) of
        {Ip, _Port} -> put(xp_s2s_ip, Ip);
        _ -> ok
    end,
    {ok, xmpp_partners_pending:admit(State#{mod => xmpp_partners_s2s_in})};
in_init(Acc, _Opts) ->
    Acc.

%% For xmpp_partners_s2s_in, once the stream header named the remote
%% domain: what to offer it, or undefined (not a stream we judge: no
%% 'from', the module not running on the local host, a refused domain,
%% which the allow list closes later with its own log line).
-spec in_verdicts(map()) -> map() | undefined.
in_verdicts(#{server_host := Host, remote_server := Remote} = State) ->
    case loaded_table(Host) of
        undefined -> undefined;
        T ->
            case ?NIF:tls(T, Remote, incoming) of
                {error, _, _} -> undefined;
                Tls ->
                    Enc = maps:get(stream_encrypted, State, false),
                    #{tls => Tls,
                      external => ?NIF:sasl_external(T, Remote, incoming, Enc,
                                                     valid, valid, false)
                          == true,
                      dialback => ?NIF:dialback(T, Remote, incoming, Enc,
                                                undefined, undefined, false)
                          == true}
            end
    end;
in_verdicts(_State) ->
    undefined.

%% <db:result/> requests, judged for the domain they name before
%% mod_s2s_dialback (50) acts on them.  The first domain of a stream closes
%% it; a further (piggybacked) domain is refused alone.
-spec in_packet(map(), term()) -> map() | {stop, map()}.
in_packet(#{server_host := Host} = State,
          #db_result{type = undefined, from = From, to = To}) ->
    Enc = maps:get(stream_encrypted, State, false),
    case ?NIF:dialback(table(Host), From, incoming, Enc, undefined,
                       undefined, false) of
        true -> State;
        {false, Token, Text} ->
            refused(incoming, From, Token),
            Domains = maps:get(auth_domains, State, sets:new()),
            case sets:size(Domains) of
                0 ->
                    {stop, ejabberd_s2s_in:send(State, policy_violation(Text))};
                _ ->
                    Err = #db_result{from = To, to = From, type = error,
                                     sub_els = [xmpp:err_policy_violation(
                                                  Text, <<"en">>)]},
                    {stop, ejabberd_s2s_in:send(State, Err)}
            end
    end;
in_packet(State, _Pkt) ->
    State.

%% Before the connection is made: per-partner answers for ejabberd's
%% callback questions (xmpp_partners_s2s_out), no dialback where the core
%% allows none.
-spec out_init({ok, map()} | term(), list()) -> {ok, map()} | term().
out_init({ok, #{server_host := Host, remote_server := RServer} = State},
         _Opts) ->
    T = table(Host),
    case ?NIF:tls(T, RServer, outgoing) of
        {error, _, _} -> {ok, State};
        Tls ->
            Ext = ?NIF:sasl_external(T, RServer, outgoing, true, valid,
                                     valid, false) == true,
            Db = ?NIF:dialback(T, RServer, outgoing, true, undefined,
                               undefined, false) == true orelse
                 ?NIF:dialback(T, RServer, outgoing, false, undefined,
                               undefined, false) == true,
            State1 = State#{mod => xmpp_partners_s2s_out, xp_tls => Tls,
                            xp_external => Ext},
            State2 = case ?NIF:proxy(T, RServer) of
                         {PHost, Port} -> State1#{xp_proxy => {PHost, Port}};
                         none -> State1
                     end,
            State3 = case Db of
                         true -> State2;
                         false -> maps:remove(db_enabled, State2)
                     end,
            {ok, State3}
    end;
out_init(Acc, _Opts) ->
    Acc.

%% After the peer accepted us, before the stream is marked established.
-spec out_auth_result(map(), true | {false, term()}) -> map() | {stop, map()}.
out_auth_result(#{server_host := Host, remote_server := RServer} = State,
                true) ->
    T = table(Host),
    {Verdict, Method, Enc} = auth_verdict(T, RServer, outgoing, State, xp_mech),
    case Verdict of
        true ->
            xmpp_partners_backoff:count({authenticated, primary(T, RServer),
                                         outgoing, method_label(Method, Enc)}),
            register_session(outgoing, Host, RServer, primary(T, RServer), Enc,
                             Method),
            keepalive_arm_if_ours(State, xmpp_partners_s2s_out);
        {false, Token, Text} ->
            refused(outgoing, RServer, Token),
            {stop, ejabberd_s2s_out:send(State, policy_violation(Text))}
    end;
out_auth_result(State, _) ->
    State.

policy_violation(Text) ->
    xmpp:serr_policy_violation(Text, <<"en">>).
