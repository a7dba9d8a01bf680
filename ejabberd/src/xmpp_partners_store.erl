%%% xmpp_partners_store: the runtime changes (partners_add/set/remove and
%%% the ad-hoc commands) kept in Mnesia, and the rebuild of every host's
%%% table when they change.  xmpp_partners_runtime is the per-node process
%%% that follows the changes other nodes make and calls runtime_changed/1.
-module(xmpp_partners_store).

-export([init_runtime/0, start_runtime_sync/2, runtime_rows/0,
         store_runtime/2, runtime_changed/0, runtime_changed/1,
         forget_installed/0]).

-include("logger.hrl").
%% A mnesia match pattern puts '_' in record fields whose declared
%% types do not include it (dialyzer: "record construction violates the
%% declared type"); the patterns are right, the warning is not.
-dialyzer({nowarn_function, [runtime_rows/0]}).

-define(NIF, xmpp_partners_nif).
%% the gen_mod: its options; the table's owner for ejabberd_mnesia (as
%% when this code was part of it); the persistent_term key of the rows
%% last installed
-define(GEN_MOD, mod_xmpp_partners).
%% Runtime changes (partners_add/set/remove), kept in Mnesia (disc_copies,
%% in ejabberd's spool with everything else, covered by ejabberdctl
%% backup/dump): one row per domain, a record that overrides the
%% configuration's or a removal that hides it.
-define(RUNTIME, xmpp_partners_runtime).
-record(xmpp_partners_runtime, {domain :: binary(),
                                value :: {partner, term()} | removed}).

%% A disc copy on every node of a cluster: ejabberd_mnesia:create creates
%% the table on the first node and, on a node where the table exists in
%% the cluster's schema but has no copy here (a node that joined before
%% the module was loaded), adds this node's disc copy; join_cluster itself
%% copies every table of the node joined.  The copy is loaded (from disc,
%% or from a running node when this one was down) before the table in
%% force is built from it.
-spec init_runtime() -> ok | {error, string()}.
init_runtime() ->
    case ejabberd_mnesia:create(?GEN_MOD, ?RUNTIME,
                                [{disc_copies, [node()]},
                                 {attributes,
                                  record_info(fields, xmpp_partners_runtime)}])
    of
        {aborted, Why} ->
            {error, lists:flatten(
                      fmt("the Mnesia table ~ts of the runtime changes "
                          "cannot be created (~p)", [?RUNTIME, Why]))};
        _ ->
            case mnesia:wait_for_tables([?RUNTIME], 30000) of
                ok -> ok;
                Other ->
                    {error, lists:flatten(
                              fmt("the Mnesia table ~ts of the runtime "
                                  "changes did not load in 30 s (~p)",
                                  [?RUNTIME, Other]))}
            end
    end.

%% The process that applies changes made on other nodes (see
%% xmpp_partners_runtime for why a Mnesia subscription).  Without it this
%% node still applies its own changes and rebuilds at start.
-spec start_runtime_sync(binary(), gen_mod:opts()) -> ok.
start_runtime_sync(Host, Opts) ->
    case xmpp_partners_runtime:start(Host, Opts) of
        ok -> ok;
        {error, Why} ->
            ?ERROR_MSG("Partner table: cannot follow the changes made on "
                       "other cluster nodes (~p); they apply here at the "
                       "next restart", [Why]),
            ok
    end.

%% [{Domain, {partner, Record} | removed}]
-spec runtime_rows() -> [{binary(), {partner, term()} | removed}].
runtime_rows() ->
    try ets:tab2list(?RUNTIME) of
        Rs -> [{D, V} || #xmpp_partners_runtime{domain = D, value = V} <- Rs]
    catch
        _:_ ->
            case mnesia:dirty_match_object(#xmpp_partners_runtime{_ = '_'}) of
                Rs when is_list(Rs) ->
                    [{D, V} || #xmpp_partners_runtime{domain = D, value = V}
                                   <- Rs];
                _ -> []
            end
    end.

%% Store the change from Base (the rows the change was computed from) to
%% Rows: only the domains that differ are written or deleted, so two
%% administrators changing different domains on two nodes at the same
%% time both keep their change (the same domain: the last one wins).  A
%% sync_transaction returns once every node holding a copy has committed
%% and logged it: a node killed right after the command returned cannot
%% take the change with it.
-spec store_runtime([{binary(), term()}], [{binary(), term()}]) ->
          ok | {error, string()}.
store_runtime(Base, Rows) ->
    Old = maps:from_list(Base),
    New = maps:from_list(Rows),
    Deleted = [D || D <- maps:keys(Old), not maps:is_key(D, New)],
    Written = [{D, V} || {D, V} <- Rows, maps:get(D, Old, none) /= V],
    F = fun() ->
                lists:foreach(fun(D) -> mnesia:delete({?RUNTIME, D}) end,
                              Deleted),
                lists:foreach(fun({D, V}) ->
                                      mnesia:write(#xmpp_partners_runtime{
                                                      domain = D, value = V})
                              end, Written)
        end,
    case mnesia:sync_transaction(F) of
        {atomic, _} -> ok;
        {aborted, Why} -> {error, lists:flatten(io_lib:format("~p", [Why]))}
    end.

%% The runtime rows changed (a change made here or on another node of the
%% cluster, seen through Mnesia): rebuild every host's table from the
%% node's own copy and close the streams it no longer allows.  Runs in
%% xmpp_partners_runtime's process only.  Force is false for a Mnesia
%% event: nothing is done when the rows are the ones last installed from
%% here (the event of a change that sync/0 already applied).  A sync
%% (Force true) always rebuilds: the tables in force may have been built
%% elsewhere (start/1, a configuration reload) from other rows.  A table
%% with errors here (this node's configuration differs from the node
%% where the change was made) keeps the previous one: -> {error, {kept,
%% [{Host, Text}]}}, Text in the core's words, for the node that made the
%% change to print.  A host being stopped (its file key already erased
%% by stop/1) is skipped, so a rebuild cannot reinstall its table.
-spec runtime_changed() -> ok | {error, {kept, [{binary(), string()}]}}.
runtime_changed() ->
    runtime_changed(true).

-spec runtime_changed(boolean()) ->
          ok | {error, {kept, [{binary(), string()}]}}.
runtime_changed(Force) ->
    Rows = lists:sort(runtime_rows()),
    case (not Force) andalso
        persistent_term:get({?GEN_MOD, runtime_rows}, undefined) == Rows of
        true -> ok;
        false ->
            Kept = lists:append(
                     [rebuild_host(Host, File, Rows)
                      || Host <- xmpp_partners_table:loaded_hosts(),
                         File <- [xmpp_partners_table:file(Host)],
                         File /= undefined]),
            xmpp_partners_s2s:enforce_existing(),
            case Kept of
                [] ->
                    persistent_term:put({?GEN_MOD, runtime_rows}, Rows),
                    ok;
                _ ->
                    %% not recorded: the next event tries again
                    persistent_term:erase({?GEN_MOD, runtime_rows}),
                    {error, {kept, Kept}}
            end
    end.

%% At the module's start and stop: persistent_term outlives a module
%% restart, and rows recorded before it say nothing of the tables built
%% after it (runtime_changed(false) must rebuild).
-spec forget_installed() -> ok.
forget_installed() ->
    _ = persistent_term:erase({?GEN_MOD, runtime_rows}),
    ok.

%% -> [] | [{Host, Text}] (the table with errors, the previous one kept)
rebuild_host(Host, File, Rows) ->
    Opts = gen_mod:get_module_opts(Host, ?GEN_MOD),
    case xmpp_partners_table:build_effective(Opts, File, Rows) of
        {ok, Table, _Warnings, Sources} ->
            xmpp_partners_table:install(Host, Table, Sources),
            ?INFO_MSG("Partner policy for ~ts changed on the cluster: ~B "
                      "partners", [Host, maps:get(count, ?NIF:info(Table))]),
            [];
        {error, Diags} ->
            xmpp_partners_table:log_diagnostics(Host, Diags),
            ?ERROR_MSG("Partner table for ~ts: a runtime change made on "
                       "another node has errors here: keeping the previous "
                       "policy (see partners_check)", [Host]),
            [{Host, lists:flatten(
                      lists:join("; ", [xmpp_partners_table:diag_text(D)
                                        || #{severity := error} = D
                                               <- Diags]))}]
    end.

fmt(F, A) -> io_lib:format(F, A).
