%%% xmpp_partners_sessions: the live s2s streams mod_xmpp_partners admitted
%%% on this node, for partners_sessions, the connection limits and closing
%%% the streams a changed table no longer allows.
%%%
%%% The streams are an ETS table owned by xmpp_partners_ets, a
%%% gen_server under ejabberd's gen_mod supervisor (one per node, started
%%% by the first host that loads the module).  It lives as long as ejabberd
%%% runs: a restart of the module keeps the counts (adopt/3 re-registers
%%% only what is missing), and if the owner crashes the supervisor
%%% restarts it empty; the streams then count again as they are judged
%%% (limits err on the side of admitting the already authenticated, never
%%% of opening the table to strangers).
%%%
%%% Each node keeps its own streams; cluster/0 asks every running node of
%%% the cluster for its list, so partners_sessions shows the whole cluster.
-module(xmpp_partners_sessions).

-export([tables/0, register/6, live/0, counted/2, counts/2, member/1,
         forget/1, forget_process/1, cluster/0, live_here/0]).

-include("xmpp_partners_sessions.hrl").
%% An ETS match pattern puts '_' in record fields whose declared types do
%% not include it (dialyzer: "record construction violates the declared
%% type"); the pattern is right, the warning is not.
-dialyzer({nowarn_function, [forget_process/1]}).

-define(TABLE, xmpp_partners_sessions).
%% How long partners_sessions waits for another node's list.
-define(CLUSTER_TIMEOUT, 5000).

%% For xmpp_partners_ets, which creates it: {Name, ets:new/2 options}.
-spec tables() -> [{atom(), list()}].
tables() ->
    [{?TABLE, [named_table, public, set, {keypos, #xp_session.key},
               {read_concurrency, true}]}].

%% In the stream process that was just admitted.
-spec register(incoming | outgoing, binary(), binary(), binary(), boolean(),
               'EXTERNAL' | dialback) -> ok.
register(Dir, Local, Remote, Primary, Enc, Method) ->
    catch ets:insert(?TABLE, #xp_session{
                                key = {self(), Remote}, dir = Dir,
                                local = Local, remote = Remote,
                                primary = Primary, encrypted = Enc,
                                method = Method,
                                since = erlang:system_time(second)}),
    ok.

%% This node's live streams; entries of streams that are gone are dropped.
-spec live() -> [#xp_session{}].
live() ->
    All = try ets:tab2list(?TABLE) catch _:_ -> [] end,
    lists:filter(fun(#xp_session{key = {Pid, _} = K}) ->
                         case is_process_alive(Pid) of
                             true -> true;
                             false -> catch ets:delete(?TABLE, K), false
                         end
                 end, All).

%% What cluster/0 asks each node: a node where the module runs on no host
%% admits nothing and has no list to give (its table, if any, is stale):
%% not_running, so that it is named rather than shown with no streams.
-spec live_here() -> {ok, [#xp_session{}]} | not_running.
live_here() ->
    case [H || H <- ejabberd_option:hosts(),
               gen_mod:is_loaded(H, mod_xmpp_partners)] of
        [] -> not_running;
        _ -> {ok, live()}
    end.

%% Is stream process Pid already counted for Primary's partner?
-spec counted(pid(), binary()) -> boolean().
counted(Pid, Primary) ->
    [x || #xp_session{key = {P, _}, primary = Pr} <- live(),
          P == Pid, Pr == Primary] /= [].

%% Streams (stream processes) on this node with Primary's partner and with
%% all partners, not counting stream process Pid: {Partner, All}.
-spec counts(pid(), binary()) -> {non_neg_integer(), non_neg_integer()}.
counts(Pid, Primary) ->
    Live = [S || #xp_session{key = {P, _}} = S <- live(), P /= Pid],
    Procs = fun(L) ->
                    length(lists:usort([P || #xp_session{key = {P, _}} <- L]))
            end,
    {Procs([S || #xp_session{primary = Pr} = S <- Live, Pr == Primary]),
     Procs(Live)}.

-spec member({pid(), binary()}) -> boolean().
member(Key) ->
    try ets:member(?TABLE, Key) catch _:_ -> false end.

-spec forget({pid(), binary()}) -> ok.
forget(Key) ->
    catch ets:delete(?TABLE, Key),
    ok.

%% Every entry of the stream process Pid (a refused stream).
-spec forget_process(pid()) -> ok.
forget_process(Pid) ->
    catch ets:match_delete(?TABLE, #xp_session{key = {Pid, '_'}, _ = '_'}),
    ok.

%% The live streams of every running node of the cluster, this one
%% included: {[{Node, Session}], [{Node, Why}]} (nodes that did not answer
%% within ?CLUSTER_TIMEOUT, or do not run the module).
-spec cluster() -> {[{node(), #xp_session{}}], [{node(), term()}]}.
cluster() ->
    Nodes = lists:usort([node() | ejabberd_cluster:get_nodes()]),
    Answers = erpc:multicall(Nodes, ?MODULE, live_here, [],
                             ?CLUSTER_TIMEOUT),
    lists:foldr(fun({N, {ok, {ok, L}}}, {Ok, Bad}) when is_list(L) ->
                        {[{N, S} || S <- L] ++ Ok, Bad};
                   ({N, {ok, not_running}}, {Ok, Bad}) ->
                        {Ok, [{N, not_running} | Bad]};
                   ({N, {_Class, Why}}, {Ok, Bad}) ->
                        {Ok, [{N, Why} | Bad]}
                end, {[], []}, lists:zip(Nodes, Answers)).
