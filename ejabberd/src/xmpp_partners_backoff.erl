%%% xmpp_partners_backoff: refusal back-off for incoming s2s streams, and the
%%% per-partner counters behind `ejabberdctl partners_metrics` (issue 17).
%%%
%%% A peer refused for a reason a retry cannot change (the core's
%%% reason_is_final: not a partner, a method the partner's rules forbid, an
%%% untrusted certificate, a pin mismatch) that reconnects at once would cost
%%% a TLS handshake and a log line per attempt, forever.  After such a
%%% refusal, later streams from the same origin are refused at their stream
%%% header, before TLS, with the same reason, for a window the core grows
%%% with each repeat (10 s, doubling, up to the module option
%%% refusal_backoff; 0 switches this off).  The log gets the first refusal
%%% and then one summary line per window; the refused counter counts every
%%% attempt.  Any change of the partner table ends every window at once.
%%% The same rules as Prosody's lua/xmpp_partners_backoff.lib.lua:
%%%
%%% The origin: for not_partner and bad_domain the verdict depends on the
%%% domain alone, so the window covers the domain from any address.  Every
%%% other final reason depends on what the peer did on the stream, and its
%%% domain is only claimed: the window covers that domain from that address,
%%% so a stranger naming a partner's domain cannot lock the partner out.  A
%%% stream that never named a domain is keyed by its address alone.
%%%
%%% The tables are public ETS tables owned by xmpp_partners_ets (the
%%% module's one table owner, supervised), which also calls tick/0 once a
%%% second: it writes the summaries of windows that ended and forgets
%%% origins that stayed quiet for two windows after theirs.
-module(xmpp_partners_backoff).

-export([tables/0, tick/0, set_max/1, refused/3, at_header/2, clear/1, reset/1,
         snapshot/0, count/1, counters/0, note/4, recent/0]).

-include("logger.hrl").

-define(NIF, xmpp_partners_nif).
-define(TAB, xmpp_partners_backoff).
-define(COUNTERS, xmpp_partners_counters).
-define(RECENT, xmpp_partners_recent).
-define(MAX_ENTRIES, 4096).  % memory bound under a flood of made-up names
-define(MAX_RECENT, 50).     % refusals kept for the status page

%% {Key, Domain | undefined, Ip | undefined, Token, WindowS, StartMs,
%%  UntilMs, Count, Windows, FirstSystemS}
-record(e, {key, domain, ip, token, window, start, until, count = 0,
            windows = 1, first}).

%%% ---- the tables ----------------------------------------------------------------

%% For xmpp_partners_ets, which creates them: {Name, ets:new/2 options}.
-spec tables() -> [{atom(), list()}].
tables() ->
    [{?TAB, [named_table, public, set, {keypos, #e.key}]},
     {?COUNTERS, [named_table, public, set, {write_concurrency, true}]},
     {?RECENT, [named_table, public, ordered_set]}].

%% The longest window in seconds, from the refusal_backoff option.
-spec set_max(non_neg_integer()) -> ok.
set_max(Seconds) ->
    persistent_term:put({?MODULE, max}, Seconds).

max_window() ->
    persistent_term:get({?MODULE, max}, 300).

now_ms() -> erlang:monotonic_time(millisecond).

%%% ---- refusals ------------------------------------------------------------------

key(undefined, undefined, _) -> undefined;
key(undefined, Ip, _) -> {ip, Ip};
key(Domain, _Ip, T) when T == not_partner; T == bad_domain -> {domain, Domain};
key(Domain, Ip, _) -> {domain, Domain, Ip}.

origin_text(#e{domain = undefined, ip = Ip}) -> ip_text(Ip);
origin_text(#e{domain = D}) -> D.

ip_text(undefined) -> <<"(unknown)">>;
ip_text(Ip) ->
    case inet:ntoa(Ip) of
        {error, _} -> <<"(unknown)">>;
        S -> list_to_binary(S)
    end.

%% Log the summary of E's window so far (nothing when it repeated none).
summarize(#e{count = 0} = E, _Now) -> E;
summarize(#e{count = C, start = S, until = U, token = T} = E, Now) ->
    Seconds = max(1, (min(Now, U) - S + 999) div 1000),
    ?INFO_MSG("~ts", [?NIF:refusal_summary(incoming, origin_text(E), C,
                                            Seconds, T)]),
    E#e{count = 0}.

%% A refusal of an incoming stream was decided the normal way (after
%% whatever negotiation it took).  true: log it (the first of its kind);
%% false: only count it for the window's summary.
-spec refused(binary() | undefined, inet:ip_address() | undefined, atom())
             -> boolean().
refused(Domain, Ip, Token) ->
    Max = max_window(),
    Key = key(Domain, Ip, Token),
    case Max > 0 andalso Key /= undefined andalso ets:info(?TAB, name) == ?TAB
        andalso ?NIF:reason_is_final(Token) of
        false -> true;
        true ->
            Now = now_ms(),
            case ets:lookup(?TAB, Key) of
                [#e{token = Token, until = U} = E] when Now < U ->
                    ets:insert(?TAB, E#e{count = E#e.count + 1}),
                    false;
                [#e{token = Token} = E] ->
                    %% The window ended and the peer got the same answer
                    %% again: a longer window, counted towards its summary.
                    E1 = summarize(E, Now),
                    W = ?NIF:backoff_next(E1#e.window, Max),
                    ets:insert(?TAB, E1#e{window = W, start = Now,
                                          until = Now + W * 1000, count = 1,
                                          windows = E1#e.windows + 1}),
                    false;
                Old ->
                    case Old of
                        [E] -> summarize(E, Now);
                        [] -> make_room(Now)
                    end,
                    W = ?NIF:backoff_next(0, Max),
                    ets:insert(?TAB, #e{key = Key, domain = Domain, ip = Ip,
                                        token = Token, window = W,
                                        start = Now, until = Now + W * 1000,
                                        first = erlang:system_time(second)}),
                    true
            end
    end.

make_room(Now) ->
    case ets:info(?TAB, size) >= ?MAX_ENTRIES of
        true ->
            case ets:first(?TAB) of
                '$end_of_table' -> ok;
                K -> drop(K, Now)
            end;
        false -> ok
    end.

drop(Key, Now) ->
    case ets:take(?TAB, Key) of
        [E] -> summarize(E, Now);
        [] -> ok
    end.

%% A new incoming stream header: {refuse, Token} when its origin is in a
%% back-off window (the attempt counts towards the summary), else ok.
-spec at_header(binary() | undefined, inet:ip_address() | undefined)
               -> ok | {refuse, atom()}.
at_header(Domain, Ip) ->
    case ets:info(?TAB, size) of
        N when is_integer(N), N > 0 ->
            Now = now_ms(),
            Found = case Domain of
                        undefined when Ip == undefined -> [];
                        undefined -> ets:lookup(?TAB, {ip, Ip});
                        _ ->
                            case ets:lookup(?TAB, {domain, Domain}) of
                                [] -> ets:lookup(?TAB, {domain, Domain, Ip});
                                L -> L
                            end
                    end,
            case Found of
                [#e{until = U, token = T} = E] when Now < U ->
                    ets:insert(?TAB, E#e{count = E#e.count + 1}),
                    {refuse, T};
                _ -> ok
            end;
        _ -> ok
    end.

%% Every window ends (a new partner table: Why says how it came).
-spec clear(string()) -> ok.
clear(Why) ->
    case catch ets:tab2list(?TAB) of
        L when is_list(L), L /= [] ->
            Now = now_ms(),
            lists:foreach(fun(#e{key = K}) -> drop(K, Now) end, L),
            ?DEBUG("Refusal back-off ended for ~B origin(s): ~ts",
                   [length(L), Why]);
        _ -> ok
    end,
    ok.

%% End the windows of one domain (any address); how many ended.
-spec reset(binary()) -> non_neg_integer().
reset(Domain) ->
    Now = now_ms(),
    L = try ets:match_object(?TAB, #e{domain = Domain, _ = '_'})
        catch _:_ -> [] end,
    lists:foreach(fun(#e{key = K}) -> drop(K, Now) end, L),
    length(L).

%% Once a second, from xmpp_partners_ets' process.
-spec tick() -> ok.
tick() ->
    Now = now_ms(),
    lists:foreach(
      fun(#e{until = U, window = W, key = K} = E) when Now >= U ->
              E1 = summarize(E, Now),
              case Now >= U + 2 * W * 1000 of
                  true -> ets:delete(?TAB, K);
                  false when E1 /= E -> ets:insert(?TAB, E1);
                  false -> ok
              end;
         (_) -> ok
      end, ets:tab2list(?TAB)).

%% The origins with a window, for the status page and metrics.
-spec snapshot() -> [map()].
snapshot() ->
    Now = now_ms(),
    L = try ets:tab2list(?TAB) catch _:_ -> [] end,
    lists:sort(
      [#{domain => D, ip => case Ip of undefined -> undefined;
                                 _ -> ip_text(Ip) end,
         reason => T, window => W, active => Now < U,
         remaining => max(0, (U - Now + 999) div 1000), repeats => C,
         windows => Ws, since => F}
       || #e{domain = D, ip = Ip, token = T, window = W, until = U,
             count = C, windows = Ws, first = F} <- L]).

%%% ---- counters ------------------------------------------------------------------

%% Key: {refused, Partner, Dir, Token} | {authenticated, Partner, Dir,
%% Method}; Partner is a partner's primary domain or <<"unlisted">>.  A
%% refusal also keeps its time ({last, Key}) for the status page.
-spec count(tuple()) -> ok.
count(Key) ->
    catch ets:update_counter(?COUNTERS, Key, 1, {Key, 0}),
    case element(1, Key) of
        refused ->
            catch ets:insert(?COUNTERS, {{last, Key},
                                         erlang:system_time(second)});
        _ -> ok
    end,
    ok.

%% The last refusals (every attempt, at the header or not), newest first.
-spec note(incoming | outgoing, binary() | undefined, atom(), boolean())
          -> ok.
note(Dir, Domain, Token, AtHeader) ->
    try
        ets:insert(?RECENT, {erlang:unique_integer([monotonic]),
                             erlang:system_time(second), Dir, Domain, Token,
                             AtHeader}),
        case ets:info(?RECENT, size) > ?MAX_RECENT of
            true -> ets:delete(?RECENT, ets:first(?RECENT));
            false -> ok
        end
    catch _:_ -> ok
    end,
    ok.

-spec recent() -> [map()].
recent() ->
    L = try ets:tab2list(?RECENT) catch _:_ -> [] end,
    [#{time => Ti, direction => Dir, domain => D, reason => T,
       at_header => H} || {_, Ti, Dir, D, T, H} <- lists:reverse(L)].

-spec counters() -> [{tuple(), non_neg_integer()}].
counters() ->
    try lists:sort(ets:tab2list(?COUNTERS)) catch _:_ -> [] end.
