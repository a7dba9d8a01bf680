%%% xmpp_partners_ets: the one process that owns the module's ETS tables
%%% on this node: the live streams (xmpp_partners_sessions), the pending
%%% streams (xmpp_partners_pending), the refusal back-off with its counters
%%% and recent refusals (xmpp_partners_backoff).  Each of those modules says
%%% which tables it needs (tables/0) and reads and writes them itself; the
%%% tables are public, so no call goes through this process.
%%%
%%% A gen_server under ejabberd's gen_mod supervisor, started by the first
%%% host that loads the module and left running when the module stops: a
%%% restart of the module keeps the counts, the pending streams and the
%%% back-off windows.  If it crashes the supervisor restarts it with empty
%%% tables (the streams count again as they are judged; the back-off starts
%%% over).  Once a second it has xmpp_partners_backoff write the summaries
%%% of back-off windows that ended.
-module(xmpp_partners_ets).
-behaviour(gen_server).

-export([start/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

-include("logger.hrl").

-define(TICK_MS, 1000).

%% From mod_xmpp_partners:start/2, once per host: the first call starts the
%% owner, later ones find it running.
-spec start(binary(), gen_mod:opts()) -> ok | {error, term()}.
start(Host, Opts) ->
    case gen_mod:start_child(?MODULE, Host, Opts, ?MODULE) of
        {ok, _} -> ok;
        {error, {already_started, _}} -> ok;
        {error, already_present} ->
            %% stopped earlier but still a child spec: start it again
            case supervisor:restart_child(ejabberd_gen_mod_sup, ?MODULE) of
                {ok, _} -> ok;
                {error, running} -> ok;
                Err -> Err
            end;
        Err -> Err
    end.

%%% ---- gen_server -------------------------------------------------------

-spec init([binary() | gen_mod:opts()]) -> {ok, map()}.
init([_Host, _Opts]) ->
    %% A table that exists already belongs to a process of an earlier
    %% version still running after an in-place upgrade: keep it (the
    %% hooks use it by name) rather than fail the module's start, which
    %% would leave ejabberd federating without the policy.
    lists:foreach(fun({Name, Options}) ->
                          case ets:info(Name, owner) of
                              undefined -> Name = ets:new(Name, Options);
                              Owner ->
                                  ?WARNING_MSG("Partner policy: ETS table ~p "
                                               "is kept with its owner ~p "
                                               "(an earlier version still "
                                               "running); restart ejabberd "
                                               "to renew it", [Name, Owner])
                          end
                  end,
                  xmpp_partners_sessions:tables() ++
                      xmpp_partners_pending:tables() ++
                      xmpp_partners_backoff:tables()),
    erlang:send_after(?TICK_MS, self(), tick),
    {ok, #{}}.

-spec handle_call(term(), {pid(), term()}, map()) -> {reply, term(), map()}.
handle_call(_Request, _From, State) ->
    {reply, {error, badarg}, State}.

-spec handle_cast(term(), map()) -> {noreply, map()}.
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), map()) -> {noreply, map()}.
handle_info(tick, State) ->
    %% a failing tick (a bug) must not take the tables with it
    catch xmpp_partners_backoff:tick(),
    erlang:send_after(?TICK_MS, self(), tick),
    {noreply, State};
handle_info(_Info, State) ->
    {noreply, State}.

-spec terminate(term(), map()) -> ok.
terminate(_Reason, _State) ->
    ok.

-spec code_change(term(), map(), term()) -> {ok, map()}.
code_change(_OldVsn, State, _Extra) ->
    {ok, State}.
