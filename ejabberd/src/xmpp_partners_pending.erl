%%% xmpp_partners_pending: what an incoming s2s stream may cost before it
%%% authenticates (issue 19; SECURITY.md, "Unauthenticated streams").
%%%
%%% ejabberd's connection limits in mod_xmpp_partners already count only
%%% authenticated streams (admit/3 runs at s2s_in_auth_result).  The streams
%%% that have not authenticated yet ("pending") get bounds of their own, the
%%% same as on Prosody:
%%%   pending_per_address  pending streams from one source address (10)
%%%   pending_limit        pending streams in all (500)
%%%   auth_timeout         seconds a stream has to authenticate (30)
%%%   preauth_bytes        elements a stream may send before it
%%%                        authenticates, in bytes (65536)
%%%   preauth_depth        element nesting before it authenticates (16)
%%% A cap never refuses the stream that just arrived: it closes the pending
%%% stream in the same scope that made the least progress (nothing yet;
%%% STARTTLS or a verify; an authentication in flight), the oldest among
%%% equals, so a stream that only sent a header always goes before a
%%% partner's stream that has started TLS.
%%%
%%% The stream header arrives before the local host is known, so the bounds
%%% are the smallest values over the hosts running the module.  ejabberd's
%%% xmpp_stream_in parses before any callback sees the input, so the byte
%%% budget and depth are checked per element received; the parser's own
%%% bound is the listener's max_stanza_size (README-ejabberd.md).
%%%
%%% Pending streams live in a public ETS table (xmpp_partners_ets owns it);
%%% each stream process registers itself (in_init), leaves when it
%%% authenticates, and is told to close by message ({xp_evict, Token},
%%% xp_auth_deadline), which xmpp_partners_s2s_in:handle_info/2 passes here.
-module(xmpp_partners_pending).

-export([tables/0, admit/1, authenticated/0, handle_info/2, recv/3]).

-include("xmpp.hrl").
-include("logger.hrl").

-define(NIF, xmpp_partners_nif).
-define(TAB, xmpp_partners_pending).
-define(WINDOW, 60).        % seconds between log lines for one reason
-define(IN_FLIGHT, 10000).  % ms an authentication attempt protects a stream
-define(DEFAULTS, #{pending_per_address => 10, pending_limit => 500,
                    auth_timeout => 30, preauth_bytes => 65536,
                    preauth_depth => 16}).

%% {Pid, Ip, Seq, StartMs, Progress (0 | 1), AuthAtMs (0: none)}
-define(E_IP, 2).
-define(E_PROGRESS, 5).
-define(E_AUTH_AT, 6).

%% For xmpp_partners_ets, which creates it: {Name, ets:new/2 options}.
-spec tables() -> [{atom(), list()}].
tables() ->
    [{?TAB, [named_table, public, set, {write_concurrency, true}]}].

%% The bounds: the smallest value of each over the hosts running the module.
limits() ->
    Tables = [T || H <- ejabberd_option:hosts(),
                   (T = xmpp_partners_table:loaded_table(H)) /= undefined],
    %% (Each table's info already holds the core's default for an option
    %% not set; the module's defaults serve only while no table is loaded.
    %% Starting the fold from them would make them a ceiling: an admin
    %% could lower a bound but never raise it.)
    case Tables of
        [] -> ?DEFAULTS;
        [First | Rest] ->
            Pick = fun(T) -> maps:with(maps:keys(?DEFAULTS),
                                       maps:merge(?DEFAULTS, ?NIF:info(T)))
                   end,
            lists:foldl(
              fun(T, Acc) ->
                      Info = Pick(T),
                      maps:map(fun(K, V) -> min(V, maps:get(K, Info)) end, Acc)
              end, Pick(First), Rest)
    end.

now_ms() -> erlang:monotonic_time(millisecond).

%%% ---- admission (in the new stream's process, from s2s_in_init) ----------------

-spec admit(map()) -> map().
admit(#{ip := {Ip, _}} = State) ->
    case ets:info(?TAB, name) of
        undefined -> State;
        _ ->
            L = limits(),
            Now = now_ms(),
            ets:insert(?TAB, {self(), Ip, erlang:unique_integer([monotonic]),
                              Now, 0, 0}),
            erlang:send_after(maps:get(auth_timeout, L) * 1000, self(),
                              xp_auth_deadline),
            All = live(),
            PerIp = length([x || {_, I, _, _, _, _} <- All, I == Ip]),
            caps(All, Ip, PerIp, length(All), L, Now),
            State#{xp_pending => true, xp_preauth_used => 0}
    end;
admit(State) ->
    State.

%% The pending entries whose process still lives.
live() ->
    lists:filter(fun({Pid, _, _, _, _, _}) ->
                         is_process_alive(Pid) orelse
                             (ets:delete(?TAB, Pid) andalso false)
                 end, ets:match_object(?TAB, {'_', '_', '_', '_', '_', '_'})).

%% Bounded: each step closes one stream other than the caller's.
caps(All, Ip, PerIp, Total, L, Now) ->
    PerAddress = maps:get(pending_per_address, L),
    Limit = maps:get(pending_limit, L),
    if PerIp > PerAddress ->
            Scope = [E || {_, I, _, _, _, _} = E <- All, I == Ip],
            case victim(Scope, Now) of
                none -> ok;
                V -> evict(V, pending_per_address),
                     caps(lists:keydelete(element(1, V), 1, All), Ip,
                          PerIp - 1, Total - 1, L, Now)
            end;
       Total > Limit ->
            case victim_global(All, Now) of
                none -> ok;
                V -> evict(V, pending_limit),
                     Ip1 = element(?E_IP, V),
                     caps(lists:keydelete(element(1, V), 1, All), Ip,
                          PerIp - (if Ip1 == Ip -> 1; true -> 0 end),
                          Total - 1, L, Now)
            end;
       true -> ok
    end.

%% The stream to close for the global cap, never the caller's: from the
%% network holding the most pending streams (a /24 of IPv4, a /64 of IPv6:
%% one attacker easily holds many addresses of one such network), then the
%% least progress, then the oldest.  A partner's own few streams are thus
%% closed only when its network is the busiest, whatever level an
%% attacker's streams claim.
victim_global(All, Now) ->
    Me = self(),
    Counts = lists:foldl(fun({_, I, _, _, _, _}, M) ->
                                 maps:update_with(net(I), fun(C) -> C + 1 end, 1, M)
                         end, #{}, All),
    Cands = [{-maps:get(net(I), Counts), level(E, Now), Seq, E}
             || {P, I, Seq, _, _, _} = E <- All, P /= Me],
    case lists:sort(Cands) of
        [] -> none;
        [{_, _, _, E} | _] -> E
    end.

-spec net(inet:ip_address()) -> term().
net({A, B, C, _}) -> {A, B, C};
net({0, 0, 0, 0, 0, 16#ffff, AB, _}) -> {AB bsr 8, AB band 255}; % v4-mapped: close enough
net({A, B, C, D, _, _, _, _}) -> {A, B, C, D};
net(Other) -> Other.

level({_, _, _, _, Progress, AuthAt}, Now) ->
    if AuthAt > 0, Now - AuthAt < ?IN_FLIGHT -> 2;
       true -> Progress
    end.

%% Least progress, then oldest; never the caller.
victim(Entries, Now) ->
    Me = self(),
    Cands = [{level(E, Now), Seq, E} || {P, _, Seq, _, _, _} = E <- Entries,
                                        P /= Me],
    case lists:sort(Cands) of
        [] -> none;
        [{_, _, E} | _] -> E
    end.

evict({Pid, _, _, _, _, _}, Token) ->
    ets:delete(?TAB, Pid),
    Pid ! {xp_evict, Token}.

-spec authenticated() -> ok.
authenticated() ->
    catch ets:delete(?TAB, self()),
    ok.

%%% ---- in the stream process ---------------------------------------------------------

is_authenticated(State) ->
    maps:get(stream_authenticated, State, false) == true orelse
        sets:size(maps:get(auth_domains, State, sets:new())) > 0.

-spec handle_info({xp_evict, atom()} | xp_auth_deadline, map()) -> map().
handle_info({xp_evict, Token}, State) ->
    close(State, Token, policy_violation);
handle_info(xp_auth_deadline, State) ->
    close(State, auth_timeout, connection_timeout).

close(State, Token, Condition) ->
    case is_authenticated(State) of
        true -> authenticated(), State;
        false ->
            authenticated(),
            log_windowed(Token, maps:get(remote_server, State, undefined), State),
            Text = ?NIF:reason_text(Token),
            Err = case Condition of
                      policy_violation -> xmpp:serr_policy_violation(Text, <<"en">>);
                      not_well_formed -> xmpp:serr_not_well_formed(Text, <<"en">>);
                      connection_timeout -> xmpp:serr_connection_timeout(Text, <<"en">>)
                  end,
            case maps:get(stream_header_sent, State, false) of
                true -> xmpp_stream_in:send(State, Err);
                false ->
                    %% no header yet (the peer said nothing): just hang up
                    xmpp_stream_in:stop_async(self()),
                    xmpp_stream_in:close(State)
            end
    end.

%% Every element before authentication: the byte budget, the nesting, and
%% progress marks for victim/2.
-spec recv(term(), term(), map()) -> map().
recv(El, Pkt, #{xp_pending := true} = State) ->
    case is_authenticated(State) of
        true ->
            authenticated(),
            maps:remove(xp_pending, State);
        false ->
            mark(Pkt),
            L = limits(),
            Max = maps:get(preauth_depth, L),
            Used = maps:get(xp_preauth_used, State, 0) + size(El, Max),
            % the stream element is level 1, a top-level element level 2
            Depth = 1 + depth(El, Max),
            if Used > map_get(preauth_bytes, L) ->
                    close(State, preauth_bytes, policy_violation);
               Depth > map_get(preauth_depth, L) ->
                    close(State, preauth_depth, not_well_formed);
               true -> State#{xp_preauth_used => Used}
            end
    end;
recv(_El, _Pkt, State) ->
    State.

mark(#starttls{}) -> ets:update_element(?TAB, self(), {?E_PROGRESS, 1});
mark(#db_verify{}) -> ets:update_element(?TAB, self(), {?E_PROGRESS, 1});
%% An authentication attempt protects a stream for ?IN_FLIGHT ms, once: a
%% peer that repeats <db:result/> or <auth/> cannot keep its streams at the
%% top rank (the attempt is the peer's own claim; the verdict comes later).
mark(#sasl_auth{}) -> mark_auth();
mark(#db_result{}) -> mark_auth();
mark(_) -> false.

mark_auth() ->
    case ets:lookup(?TAB, self()) of
        [{_, _, _, _, _, 0}] -> ets:update_element(?TAB, self(), {?E_AUTH_AT, now_ms()});
        _ -> false
    end.

%% About the bytes an element took on the wire (names, attributes, text,
%% tags), in Erlang and bounded in depth: a C encoder would recurse once per
%% level on a scheduler's stack, which a deeply nested element overflows.
size(#xmlel{name = N, attrs = As, children = Cs}, Max) when Max > 0 ->
    5 + 2 * byte_size(N) +
        lists:foldl(fun({K, V}, A) -> A + 4 + byte_size(K) + byte_size(V) end,
                    0, As) +
        lists:foldl(fun(C, A) -> A + size(C, Max - 1) end, 0, Cs);
size(#xmlel{name = N}, _) -> 5 + 2 * byte_size(N);
size({xmlcdata, D}, _) -> byte_size(D);
size(_, _) -> 0.

%% Depth of an element (1 for a leaf), bounded: stops counting past Max.
depth(#xmlel{children = Children}, Max) when Max > 0 ->
    1 + lists:foldl(fun(C, D) -> max(D, depth(C, Max - 1)) end, 0, Children);
depth(#xmlel{}, _) -> 1;
depth(_, _) -> 0.

%%% ---- logging once per window ---------------------------------------------------------

log_windowed(Token, Domain, State) ->
    Key = {window, Token, Domain},
    Now = erlang:monotonic_time(second),
    D = case Domain of undefined -> <<"(unknown domain)">>; _ -> Domain end,
    case ets:lookup(?TAB, Key) of
        [{_, Start, N}] when Now - Start < ?WINDOW ->
            catch ets:update_counter(?TAB, Key, {3, 1}),
            _ = N,
            ok;
        Old ->
            case Old of
                [{_, _, N}] when N > 0 ->
                    ?INFO_MSG("~B more incoming s2s stream(s) from ~ts closed "
                              "in the last ~B s: ~ts",
                              [N, D, ?WINDOW, ?NIF:reason_text(Token)]);
                _ -> ok
            end,
            %% (keys carry the peer's claimed domain: drop windows that
            %% ended, so random names cannot grow the table)
            ets:select_delete(?TAB, [{{{window, '_', '_'}, '$1', '_'},
                                      [{'<', '$1', Now - ?WINDOW}], [true]}]),
            ets:insert(?TAB, {Key, Now, 0}),
            Ip = case maps:get(ip, State, undefined) of
                     {A, _} -> inet:ntoa(A);
                     _ -> "?"
                 end,
            ?INFO_MSG("~ts (address ~ts; further closures for this reason are "
                      "counted and logged once every ~B s)",
                      [?NIF:refusal(incoming, D, Token), Ip, ?WINDOW])
    end.
