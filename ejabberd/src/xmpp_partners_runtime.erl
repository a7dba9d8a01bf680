%%% xmpp_partners_runtime: makes a runtime change (partners_add, set,
%%% remove, reset) made on any node of an ejabberd cluster apply on every
%%% node.
%%%
%%% The changes live in the Mnesia table xmpp_partners_runtime, with a disc
%%% copy on every node (xmpp_partners_store:init_runtime/0; a node that joins
%%% gets its copy from join_cluster, or from ejabberd_mnesia:create when it
%%% loads the module later).  The node where the administrator typed the
%%% command writes the change with mnesia:sync_transaction, so every
%%% running node has committed it when the write returns; it then asks
%%% this node's process and each other node's to rebuild (sync/0, bounded),
%%% so the command returns once the change is in force cluster-wide.  This
%%% process is the only one that installs runtime changes on its node, and
%%% always from what the node's copy holds: two changes racing on two nodes
%%% cannot leave an older table in force.
%%%
%%% Why also a Mnesia subscription, here: a node learns of the change from
%%% its own Mnesia replica, not from the node that made it.  If that node
%%% dies between the commit and its request (killed right after a removal),
%%% the others still rebuild; a change made on a node that lost its request
%%% to a timeout is applied anyway.  Rebuilding reads the whole table, so
%%% the order of events and duplicates do not matter (the last state wins),
%%% and events queued while a rebuild ran are folded into one.  A node that
%%% was down during a change rebuilds from its replica when it starts, which
%%% Mnesia has brought up to date before ejabberd's modules start.
-module(xmpp_partners_runtime).
-behaviour(gen_server).

-export([start/2, stop/0, sync/0, sync_others/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

-include("logger.hrl").

-define(RUNTIME, xmpp_partners_runtime).
%% How long a change waits for another node to rebuild.
-define(SYNC_TIMEOUT, 5000).

-spec start(binary(), gen_mod:opts()) -> ok | {error, term()}.
start(Host, Opts) ->
    case gen_mod:start_child(?MODULE, Host, Opts, ?MODULE) of
        {ok, _} -> ok;
        {error, {already_started, _}} -> ok;
        Err -> Err
    end.

-spec stop() -> ok.
stop() ->
    gen_mod:stop_child(?MODULE),
    ok.

%% Rebuild this node's tables from its replica now (returns when done).
-spec sync() -> ok | {error, term()}.
sync() ->
    try gen_server:call(?MODULE, sync, ?SYNC_TIMEOUT)
    catch exit:Why -> {error, Why}
    end.

%% After a change stored here: have every other running node rebuild.
%% -> [{Node, Why}] of the nodes that did not confirm (they still rebuild
%% on their Mnesia event).
-spec sync_others() -> [{node(), term()}].
sync_others() ->
    Nodes = ejabberd_cluster:get_nodes() -- [node()],
    Answers = erpc:multicall(Nodes, ?MODULE, sync, [], ?SYNC_TIMEOUT + 1000),
    [{N, Why} || {N, A} <- lists:zip(Nodes, Answers),
                 Why <- case A of
                            {ok, ok} -> [];
                            {ok, {error, W}} -> [W];
                            {_Class, W} -> [W]
                        end].

%%% ---- gen_server ----------------------------------------------------------------

-spec init([binary() | gen_mod:opts()]) -> {ok, map()} | {stop, term()}.
init([_Host, _Opts]) ->
    %% system events: a network partition seen by Mnesia, which does not
    %% merge the two sides when they meet again
    _ = mnesia:subscribe(system),
    case mnesia:subscribe({table, ?RUNTIME, simple}) of
        {ok, _} -> {ok, #{}};
        {error, Why} -> {stop, {cannot_subscribe, ?RUNTIME, Why}}
    end.

-spec handle_call(term(), {pid(), term()}, map()) -> {reply, term(), map()}.
handle_call(sync, _From, State) ->
    drain(),
    {reply, rebuild(true), State};
handle_call(_Request, _From, State) ->
    {reply, {error, badarg}, State}.

-spec handle_cast(term(), map()) -> {noreply, map()}.
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), map()) -> {noreply, map()}.
handle_info({mnesia_table_event, _}, State) ->
    drain(),
    rebuild(false),
    {noreply, State};
handle_info({mnesia_system_event,
             {inconsistent_database, Context, Node}}, State) ->
    ?ERROR_MSG("Partner table: Mnesia reports an inconsistent database with "
               "node ~ts (~p, a network partition): runtime partner changes "
               "made on either side while they were apart are not merged; "
               "compare the tables with `ejabberdctl partners_check` and "
               "restart the node whose side is to be dropped (README-ejabberd,"
               " Clustering)", [Node, Context]),
    {noreply, State};
handle_info(_Info, State) ->
    {noreply, State}.

-spec terminate(term(), map()) -> ok.
terminate(_Reason, _State) ->
    catch mnesia:unsubscribe({table, ?RUNTIME, simple}),
    catch mnesia:unsubscribe(system),
    ok.

-spec code_change(term(), map(), term()) -> {ok, map()}.
code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

%% The events already queued are covered by the rebuild about to run.
drain() ->
    receive {mnesia_table_event, _} -> drain()
    after 0 -> ok
    end.

%% Force: rebuild even when the rows are the ones last installed (a sync;
%% an event passes false).  -> ok | {error, {kept, [{Host, Text}]}} |
%% {error, Why}
rebuild(Force) ->
    try xmpp_partners_store:runtime_changed(Force)
    catch Class:Why:St ->
            ?ERROR_MSG("Partner table: applying a runtime change from the "
                       "cluster failed: ~p", [{Class, Why, St}]),
            {error, Why}
    end.
