%%% mod_xmpp_partners: per-partner federation policy for ejabberd.
%%%
%%% The policy core (C, through the NIF xmpp_partners_nif) decides
%%% everything: which remote domains may federate, what a partner's streams
%%% must use (TLS, SASL EXTERNAL, dialback), contact policy and refusal texts.
%%% This module only puts the core's verdicts on ejabberd's s2s, roster and
%%% routing hooks; README-ejabberd.md lists which rules ejabberd lets us
%%% apply before the fact and which only by closing the stream afterwards.
%%%
%%% Configuration (ejabberd.yml):
%%%   modules:
%%%     mod_xmpp_partners:
%%%       default: deny                 # or allow
%%%       keepalive_interval: 300
%%%       connection_limit: 1000
%%%       partners_file: /etc/xmpp-partners/partners.cfg.lua
%%%       partners:
%%%         fabrikam.com:
%%%           type: federated
%%%           tls: required
%%%           additional_domains: [corp.fabrikam.com]
-module(mod_xmpp_partners).
-behaviour(gen_mod).

-export([start/2, stop/1, reload/3, depends/2, mod_opt_type/1,
         mod_options/1, mod_doc/0]).
%% hooks
-export([allow_host/3, in_auth_result/3, in_packet/2, out_init/2,
         out_auth_result/2, receive_packet/1, send_packet/1,
         in_subscription/2, in_subscription_approve/2, in_init/2,
         config_reloaded/0]).
%% commands
-export([partners_list/0, partners_show/1, partners_check/0,
         partners_explain/1, partners_add/2, partners_set/3,
         partners_remove/1, partners_reset/1, partners_sessions/1,
         partners_reset_backoff/1, partners_metrics/0]).
%% for tests and the stream callback modules
-export([table/1, build/1, loaded_table/1, in_verdicts/1, keepalive/2,
         keepalive_arm/1, pinned_peer/1, adopt/3, at_header/1,
         status_data/1]).
%% cluster: xmpp_partners_runtime rebuilds through runtime_changed/0,
%% partners_check on another node reads table_view/0
-export([runtime_changed/0, runtime_changed/1, table_view/0]).

%% for the stream callback modules, xmpp_partners_adhoc and
%% xmpp_partners_export
-export([out_refused/2, in_refused/2, adhoc_add/2, adhoc_replace/2,
         adhoc_remove/1, adhoc_list/0, export_data/0]).

-include("xmpp.hrl").
-include("logger.hrl").
-include("ejabberd_commands.hrl").
-include("xmpp_partners_sessions.hrl").
%% A mnesia match pattern puts '_' in record fields whose declared
%% types do not include it (dialyzer: "record construction violates the
%% declared type"); the patterns are right, the warning is not.
-dialyzer({nowarn_function, [runtime_rows/0]}).

-define(NIF, xmpp_partners_nif).
%% Runtime changes (partners_add/set/remove), kept in Mnesia (disc_copies,
%% in ejabberd's spool with everything else, covered by ejabberdctl
%% backup/dump): one row per domain, a record that overrides the
%% configuration's or a removal that hides it.
-define(RUNTIME, xmpp_partners_runtime).
-record(xmpp_partners_runtime, {domain :: binary(),
                                value :: {partner, term()} | removed}).
%% Live s2s streams this module admitted: xmpp_partners_sessions (for
%% partners_sessions, connection limits and closing the streams of a
%% removed partner).

%%% ---- gen_mod ----------------------------------------------------------------

-spec start(binary(), gen_mod:opts()) -> ok.
start(Host, Opts) ->
    %% xmpp_stream_in/out ask erlang:function_exported/3 before each
    %% callback, which is false for a module not loaded yet: load the
    %% wrappers now.
    {module, _} = code:ensure_loaded(xmpp_partners_s2s_out),
    {module, _} = code:ensure_loaded(xmpp_partners_s2s_in),
    Runtime = init_runtime(),
    %% the ETS tables of the live streams, pending streams and back-off
    ok = xmpp_partners_ets:start(Host, Opts),
    start_runtime_sync(Host, Opts),
    %% persistent_term outlives a module restart: rows recorded before it
    %% say nothing of the table about to be built
    persistent_term:erase({?MODULE, runtime_rows}),
    case Runtime of
        ok -> install(Host, load_table(Host, Opts, "loaded"));
        {error, Why} ->
            %% Without every runtime row a removal could be missing and
            %% re-admit the removed partner: closed.  No file key: the
            %% rebuilds skip this host until the module starts again.
            ?ERROR_MSG("Partner table for ~ts: ~ts; refusing all "
                       "server-to-server traffic until the module is "
                       "restarted with the table loaded (ejabberdctl "
                       "restart_module ~ts mod_xmpp_partners, or restart "
                       "ejabberd)", [Host, Why, Host]),
            install(Host, ?NIF:closed())
    end,
    lists:foreach(fun({Hook, Fun, Seq}) ->
                          ejabberd_hooks:add(Hook, Host, ?MODULE, Fun, Seq)
                  end, hooks()),
    lists:foreach(fun({Hook, Fun, Seq}) ->
                          ejabberd_hooks:add(Hook, ?MODULE, Fun, Seq)
                  end, global_hooks()),
    ejabberd_commands:register_commands(?MODULE, commands()),
    ok = xmpp_partners_export:start(),
    ok = xmpp_partners_adhoc:start(Host),
    ok = xmpp_partners_webadmin:start(),
    adopt_existing(Host),
    start_sync(),
    ok.

%% The table above was built from the rows read then; a change another
%% node made meanwhile may have been installed by xmpp_partners_runtime's
%% process before it: rebuild from the newest rows (through that process,
%% the one that installs runtime changes; directly when it is not running).
start_sync() ->
    case whereis(xmpp_partners_runtime) of
        undefined -> runtime_changed(true);
        _ -> xmpp_partners_runtime:sync()
    end,
    ok.

-spec stop(binary()) -> ok.
stop(Host) ->
    %% first: a rebuild running now (xmpp_partners_runtime) skips this host
    persistent_term:erase({?MODULE, Host, file}),
    lists:foreach(fun({Hook, Fun, Seq}) ->
                          ejabberd_hooks:delete(Hook, Host, ?MODULE, Fun, Seq)
                  end, hooks()),
    ok = xmpp_partners_adhoc:stop(Host),
    case gen_mod:is_loaded_elsewhere(Host, ?MODULE) of
        false ->
            lists:foreach(fun({Hook, Fun, Seq}) ->
                                  ejabberd_hooks:delete(Hook, ?MODULE, Fun,
                                                        Seq)
                          end, global_hooks()),
            ejabberd_commands:unregister_commands(commands()),
            xmpp_partners_runtime:stop(),
            ok = xmpp_partners_export:stop(),
            xmpp_partners_webadmin:stop();
        true -> ok
    end,
    persistent_term:erase({?MODULE, Host}),
    persistent_term:erase({?MODULE, Host, sources}),
    persistent_term:erase({?MODULE, runtime_rows}),
    ok.

%% The config_reloaded hook rebuilds the table (also when only the
%% partners_file changed, which gen_mod does not see as a change).
-spec reload(binary(), gen_mod:opts(), gen_mod:opts()) -> ok.
reload(_Host, _NewOpts, _OldOpts) ->
    ok.

%% After `ejabberdctl reload_config` (gen_mod has applied the new module
%% options): configuration, partner file and runtime changes are built
%% again; a table with errors leaves the previous one in force.
-spec config_reloaded() -> ok.
config_reloaded() ->
    lists:foreach(
      fun(Host) ->
              Opts = gen_mod:get_module_opts(Host, ?MODULE),
              case read_file(Opts) of
                  {error, Text} ->
                      ?ERROR_MSG("Partner table for ~ts: ~ts; keeping the "
                                 "previous policy", [Host, Text]);
                  {ok, File} ->
                      case build_effective(Opts, File, runtime_rows()) of
                          {ok, Table, Warnings, Sources} ->
                              log_diagnostics(Host, Warnings),
                              persistent_term:put({?MODULE, Host, file}, File),
                              install(Host, Table, Sources),
                              ?INFO_MSG("Partner policy reloaded for ~ts: ~B "
                                        "partners",
                                        [Host, maps:get(count, ?NIF:info(Table))]);
                          {error, Diags} ->
                              log_diagnostics(Host, Diags),
                              ?ERROR_MSG("Partner table for ~ts has errors: "
                                         "keeping the previous policy", [Host])
                      end
              end
      end, loaded_hosts()),
    enforce_existing().

-spec depends(binary(), gen_mod:opts()) -> [].
depends(_Host, _Opts) -> [].

%% Hook priorities: dialback (mod_s2s_dialback) handles db:result at 50 and
%% retries failed outbound authentication at 50; ejabberd's own handlers
%% run at 100.  The policy must see each event before them.
hooks() ->
    [{s2s_allow_host, allow_host, 50},
     {s2s_in_auth_result, in_auth_result, 50},
     {s2s_in_unauthenticated_packet, in_packet, 40},
     {s2s_in_authenticated_packet, in_packet, 40},
     %% after dialback's own s2s_out_init (50) set db_enabled
     {s2s_out_init, out_init, 60},
     {s2s_out_auth_result, out_auth_result, 40},
     {s2s_receive_packet, receive_packet, 50},
     {s2s_send_packet, send_packet, 50},
     %% after the user-exists check (20), before mod_roster (50) stores
     %% the request; approval after mod_roster recorded it
     {roster_in_subscription, in_subscription, 30},
     {roster_in_subscription, in_subscription_approve, 60}].

%% s2s_in_init runs before the stream knows its local host: it puts
%% xmpp_partners_s2s_in in the stream's callback slot, which then answers
%% per remote domain what ejabberd otherwise decides per local host
%% (STARTTLS, SASL EXTERNAL, the dialback feature).  After gen_mod (60).
global_hooks() ->
    [{s2s_in_init, in_init, 50},
     {config_reloaded, config_reloaded, 70}].

-spec mod_opt_type(atom()) -> econf:validator().
mod_opt_type(partners) ->
    econf:and_then(econf:any(), fun check_partners/1);
mod_opt_type(default) ->
    econf:enum([deny, allow]);
mod_opt_type(keepalive_interval) ->
    econf:pos_int();
mod_opt_type(connection_limit) ->
    econf:pos_int();
%% bounds on unauthenticated streams (xmpp_partners_pending); the core
%% checks their ranges
mod_opt_type(O) when O == pending_per_address; O == pending_limit;
                     O == auth_timeout; O == preauth_bytes;
                     O == preauth_depth ->
    econf:pos_int();
%% the longest refusal back-off window in seconds (0: off); the core
%% checks the range
mod_opt_type(refusal_backoff) ->
    econf:non_neg_int();
mod_opt_type(partners_file) ->
    econf:and_then(econf:binary(), fun check_file/1).

%% default, keepalive_interval and connection_limit: undefined means "not
%% set here", so a partners_file's xmpp_partners_* value (or else the core's
%% default: deny, 300, 1000) applies.
-spec mod_options(binary()) -> [{atom(), term()}].
mod_options(_Host) ->
    [{partners, []},
     {default, undefined},
     {keepalive_interval, undefined},
     {connection_limit, undefined},
     {pending_per_address, undefined},
     {pending_limit, undefined},
     {auth_timeout, undefined},
     {preauth_bytes, undefined},
     {preauth_depth, undefined},
     {refusal_backoff, undefined},
     {partners_file, undefined}].

-spec mod_doc() -> #{desc => [binary()]}.
mod_doc() ->
    #{desc => [<<"Per-partner XMPP federation policy (allow list, TLS, "
                 "SASL EXTERNAL and dialback per partner, contact policy), "
                 "decided by the xmpp-partners policy core.">>]}.

%% The partner table as the core reports it: errors fail the config load
%% with the core's own texts (the same as Prosody prints).
check_partners(Partners) ->
    case ?NIF:build(Partners, []) of
        {ok, _Table, _Warnings} -> Partners;
        {error, Diags} ->
            Texts = [binary_to_list(maps:get(message, D))
                     || #{severity := error} = D <- Diags],
            lists:foreach(fun(T) -> ?ERROR_MSG("mod_xmpp_partners: ~ts", [T]) end,
                          Texts),
            fail_with_core_text(lists:flatten(lists:join("; ", Texts)))
    end.

%% The shared partner file: evaluated (sandbox) and its partners built on
%% their own, so a broken file fails the config load with the core's texts.
check_file(Path) ->
    case ?NIF:partner_file(Path) of
        {ok, Partners, Options, _Notes} ->
            case ?NIF:build(Partners, file_options(Options)) of
                {ok, _, _} -> Path;
                {error, Diags} ->
                    Texts = [binary_to_list(maps:get(message, D))
                             || #{severity := error} = D <- Diags],
                    lists:foreach(fun(T) -> ?ERROR_MSG("mod_xmpp_partners: "
                                                       "~ts: ~ts", [Path, T])
                                  end, Texts),
                    fail_with_core_text(lists:flatten(
                                 [binary_to_list(Path), ": ",
                                  lists:join("; ", Texts)]))
            end;
        {error, Text} ->
            ?ERROR_MSG("mod_xmpp_partners: ~ts", [Text]),
            fail_with_core_text(binary_to_list(Text))
    end.

%% econf:fail/1 with a plain string comes out of `ejabberdctl
%% reload_config` as "Unexpected error reason: \"...\"" (yconf's words for
%% a reason it does not know, the text quoted and escaped).  econf formats
%% {invalid_syntax, Text} as Text itself; ejabberd still puts its option
%% path first ("Invalid value of option modules->mod_xmpp_partners->
%% partners: "), which no validator can remove (econf:format_error/2).
fail_with_core_text(Text) ->
    econf:fail({invalid_syntax, unicode:characters_to_binary(Text)}).

%%% ---- the table in force ----------------------------------------------------

%% The effective partner table, from lowest to highest precedence:
%%   1. partners_file (the shared Lua file), then
%%   2. the partners option (same domain: the option's record wins), then
%%   3. runtime changes (partners_add/set/remove, stored in Mnesia): a
%%      runtime record replaces the record of the same domain, a runtime
%%      removal hides it.
%% Global options: the module option when set, else the file's
%% xmpp_partners_* value, else the core's default.
-spec build(gen_mod:opts()) ->
          {ok, xmpp_partners_nif:table(), [xmpp_partners_nif:diagnostic()]} | {error, term()}.
build(Opts) ->
    case read_file(Opts) of
        {ok, File} ->
            case build_effective(Opts, File, runtime_rows()) of
                {ok, T, W, _Sources} -> {ok, T, W};
                Error -> Error
            end;
        {error, Text} ->
            {error, [#{severity => error, message => Text, partner => undefined,
                       key => <<"partners_file">>, row => undefined,
                       suggestion => undefined}]}
    end.

proplists_or_map(K, Opts) when is_map(Opts) -> maps:get(K, Opts, undefined);
proplists_or_map(K, Opts) -> proplists:get_value(K, Opts).

%% {ok, {FilePartners, FileOptions}} | {error, Text}
read_file(Opts) ->
    case proplists_or_map(partners_file, Opts) of
        undefined -> {ok, {[], []}};
        Path ->
            case ?NIF:partner_file(Path) of
                {ok, Partners, Options, Notes} ->
                    lists:foreach(fun(N) -> ?DEBUG("partners_file: ~ts", [N])
                                  end, Notes),
                    {ok, {Partners, file_options(Options)}};
                {error, Text} -> {error, Text}
            end
    end.

file_options(Options) ->
    [{K, case V of
             B when is_binary(B), K == default -> binary_to_atom(B, utf8);
             _ -> V
         end} || {K, V} <- Options].

%% -> {ok, Table, Warnings, Sources} | {error, Diags}
build_effective(Opts, {FilePartners, FileOptions}, Rows) ->
    {Merged, Sources} = merge(FilePartners,
                              pairs(proplists_or_map(partners, Opts)), Rows,
                              proplists_or_map(partners_file, Opts)),
    Options = [{K, case proplists_or_map(K, Opts) of
                       undefined -> proplists:get_value(K, FileOptions);
                       V -> V
                   end} || K <- [default, keepalive_interval, connection_limit,
                                 pending_per_address, pending_limit,
                                 auth_timeout, preauth_bytes, preauth_depth,
                                 refusal_backoff]],
    case ?NIF:build(Merged, [{K, V} || {K, V} <- Options, V /= undefined]) of
        {ok, T, W} -> {ok, T, W, Sources};
        {error, Diags} -> {error, Diags}
    end.

pairs(M) when is_map(M) -> maps:to_list(M);
pairs(L) when is_list(L) -> L;
pairs(_) -> [].

key_bin(K) when is_binary(K) -> K;
key_bin(K) when is_atom(K) -> atom_to_binary(K, utf8);
key_bin(K) when is_list(K) ->
    try unicode:characters_to_binary(K) of
        B when is_binary(B) -> B;
        _ -> iolist_to_binary(io_lib:format("~p", [K]))
    catch _:_ -> iolist_to_binary(io_lib:format("~p", [K]))
    end;
key_bin(K) -> iolist_to_binary(io_lib:format("~p", [K])).

%% The domain a key stands for, for merging (the written key is kept).
norm(K) ->
    B = key_bin(K),
    case ?NIF:normalize(B) of
        {ok, N} -> N;
        _ -> B
    end.

%% The core lays the sources over each other (xp_overlay: file < config <
%% runtime, by normalised domain, removals hiding file and config records)
%% -> {[{Key, Record}], #{NormDomain => Source}}
merge(FileP, ConfP, Rows, FilePath) ->
    {Merged, Sources, _Hidden} =
        ?NIF:overlay(pairs(FileP), ConfP,
                     [{D, R} || {D, {partner, R}} <- lists:sort(Rows)],
                     [D || {D, removed} <- Rows], FilePath),
    {Merged, Sources}.

load_table(Host, Opts, Why) ->
    File = case read_file(Opts) of
               {ok, F} -> F;
               {error, Text} ->
                   ?ERROR_MSG("Partner table for ~ts: ~ts", [Host, Text]),
                   error
           end,
    Result = case File of
                 error -> {error, []};
                 _ -> build_effective(Opts, File, runtime_rows())
             end,
    case Result of
        {ok, Table, Warnings, Sources} ->
            persistent_term:put({?MODULE, Host, file}, File),
            persistent_term:put({?MODULE, Host, sources}, Sources),
            log_diagnostics(Host, Warnings),
            Info = ?NIF:info(Table),
            ?INFO_MSG("Partner policy ~ts for ~ts: ~B partners, unlisted "
                      "domains ~ts", [Why, Host, maps:get(count, Info),
                                      case maps:get(default, Info) of
                                          deny -> "refused";
                                          allow -> "allowed"
                                      end]),
            Table;
        {error, Diags} ->
            %% Fail closed: no federation until a valid table loads.
            log_diagnostics(Host, Diags),
            ?ERROR_MSG("Partner table for ~ts has errors: refusing all "
                       "server-to-server traffic", [Host]),
            ?NIF:closed()
    end.

%% A new table ends every refusal back-off window: a partner fixed on our
%% side connects on its next try.
install(Host, Table) ->
    persistent_term:put({?MODULE, Host}, Table),
    xmpp_partners_backoff:set_max(maps:get(refusal_backoff,
                                           ?NIF:info(Table), 300)),
    xmpp_partners_backoff:clear("the partner table changed").

install(Host, Table, Sources) ->
    persistent_term:put({?MODULE, Host, sources}, Sources),
    install(Host, Table).

%% The table for a local host; a closed one when the module is not running
%% there (a hook that outlives stop/1 must not open anything).
-spec table(binary()) -> xmpp_partners_nif:table().
table(Host) ->
    case persistent_term:get({?MODULE, Host}, undefined) of
        undefined -> ?NIF:closed();
        T -> T
    end.

%% The table, or undefined when the module does not run on Host (the
%% stream callback modules then leave ejabberd's own answers alone).
-spec loaded_table(binary()) -> xmpp_partners_nif:table() | undefined.
loaded_table(Host) ->
    persistent_term:get({?MODULE, Host}, undefined).

loaded_hosts() ->
    [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, ?MODULE)].

sources(Host) ->
    persistent_term:get({?MODULE, Host, sources}, #{}).

%%% ---- runtime changes: Mnesia ---------------------------------------------------

%% A disc copy on every node of a cluster: ejabberd_mnesia:create creates
%% the table on the first node and, on a node where the table exists in
%% the cluster's schema but has no copy here (a node that joined before
%% the module was loaded), adds this node's disc copy; join_cluster itself
%% copies every table of the node joined.  The copy is loaded (from disc,
%% or from a running node when this one was down) before the table in
%% force is built from it.
init_runtime() ->
    case ejabberd_mnesia:create(?MODULE, ?RUNTIME,
                                [{disc_copies, [node()]},
                                 {attributes,
                                  record_info(fields, xmpp_partners_runtime)}])
    of
        {aborted, Why} ->
            {error, fmt("the Mnesia table ~ts of the runtime changes cannot "
                        "be created (~p)", [?RUNTIME, Why])};
        _ ->
            case mnesia:wait_for_tables([?RUNTIME], 30000) of
                ok -> ok;
                Other ->
                    {error, fmt("the Mnesia table ~ts of the runtime "
                                "changes did not load in 30 s (~p)",
                                [?RUNTIME, Other])}
            end
    end.

%% The process that applies changes made on other nodes (see
%% xmpp_partners_runtime for why a Mnesia subscription).  Without it this
%% node still applies its own changes and rebuilds at start.
start_runtime_sync(Host, Opts) ->
    case xmpp_partners_runtime:start(Host, Opts) of
        ok -> ok;
        {error, Why} ->
            ?ERROR_MSG("Partner table: cannot follow the changes made on "
                       "other cluster nodes (~p); they apply here at the "
                       "next restart", [Why])
    end.

%% [{Domain, {partner, Record} | removed}]
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
        {aborted, Why} -> {error, io_lib:format("~p", [Why])}
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
        persistent_term:get({?MODULE, runtime_rows}, undefined) == Rows of
        true -> ok;
        false ->
            Kept = lists:append(
                     [rebuild_host(Host, File, Rows)
                      || Host <- loaded_hosts(),
                         File <- [persistent_term:get({?MODULE, Host, file},
                                                      undefined)],
                         File /= undefined]),
            enforce_existing(),
            case Kept of
                [] ->
                    persistent_term:put({?MODULE, runtime_rows}, Rows),
                    ok;
                _ ->
                    %% not recorded: the next event tries again
                    persistent_term:erase({?MODULE, runtime_rows}),
                    {error, {kept, Kept}}
            end
    end.

%% -> [] | [{Host, Text}] (the table with errors, the previous one kept)
rebuild_host(Host, File, Rows) ->
    Opts = gen_mod:get_module_opts(Host, ?MODULE),
    case build_effective(Opts, File, Rows) of
        {ok, Table, _Warnings, Sources} ->
            install(Host, Table, Sources),
            ?INFO_MSG("Partner policy for ~ts changed on the cluster: ~B "
                      "partners", [Host, maps:get(count, ?NIF:info(Table))]),
            [];
        {error, Diags} ->
            log_diagnostics(Host, Diags),
            ?ERROR_MSG("Partner table for ~ts: a runtime change made on "
                       "another node has errors here: keeping the previous "
                       "policy (see partners_check)", [Host]),
            [{Host, lists:flatten(
                      lists:join("; ", [diag_text(D)
                                        || #{severity := error} = D
                                               <- Diags]))}]
    end.

%%% ---- live streams ----------------------------------------------------------------

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

%%% ---- certificate pins (outgoing) ---------------------------------------------------

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

%%% ---- keepalives ------------------------------------------------------------------

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

log_diagnostics(Host, Diags) ->
    lists:foreach(
      fun(#{severity := error, message := M}) ->
              ?ERROR_MSG("Partner table for ~ts: ~ts", [Host, M]);
         (#{message := M}) ->
              ?WARNING_MSG("Partner table for ~ts: ~ts", [Host, M])
      end, Diags).

%% Every refusal is counted; an incoming one that the refusal back-off
%% only counts (a peer retrying within its window) is not logged again.
refused(Dir, Domain, Token) ->
    Line = ?NIF:refusal(Dir, Domain, Token),
    xmpp_partners_backoff:count({refused, partner_label(Domain), Dir, Token}),
    xmpp_partners_backoff:note(Dir, Domain, Token, false),
    Log = case Dir of
              incoming ->
                  xmpp_partners_backoff:refused(Domain, get(xp_s2s_ip), Token);
              outgoing -> true
          end,
    case Log of
        true -> ?INFO_MSG("~ts", [Line]);
        false -> ok
    end,
    Line.

%% The metrics label of a remote domain: its partner's primary domain on
%% the first host that knows it, else one shared label, so a flood of
%% made-up names adds no series.
partner_label(undefined) -> <<"unlisted">>;
partner_label(Domain) ->
    Found = [P || H <- loaded_hosts(),
                  {ok, P} <- [catch ?NIF:resolve(table(H), Domain)]],
    case Found of
        [P | _] -> P;
        [] -> <<"unlisted">>
    end.

method_label('EXTERNAL', _) -> sasl_tls;
method_label(_, true) -> dialback_tls;
method_label(_, _) -> dialback_tcp.

%% At an incoming stream's first header (before TLS): {refuse, Text} when
%% its origin (domain from 'from', else address) is in a refusal back-off
%% window, else ok.  The attempt is counted, not logged.
-spec at_header(map()) -> ok | {refuse, binary()}.
at_header(#{stream_encrypted := true}) -> ok;
at_header(State) ->
    Domain = maps:get(remote_server, State, undefined),
    Ip = get(xp_s2s_ip),
    case xmpp_partners_backoff:at_header(Domain, Ip) of
        ok -> ok;
        {refuse, Token} ->
            xmpp_partners_backoff:count({refused, partner_label(Domain),
                                         incoming, Token}),
            xmpp_partners_backoff:note(incoming, Domain, Token, true),
            {refuse, ?NIF:reason_text(Token)}
    end.

policy_violation(Text) ->
    xmpp:serr_policy_violation(Text, <<"en">>).

%%% ---- the allow list ----------------------------------------------------------

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

%%% ---- incoming streams -----------------------------------------------------------

%% Runs before <success/> (SASL) or the dialback verdict is sent, once per
%% authenticated domain (piggybacked dialback domains included).
-spec in_auth_result(map(), boolean(), binary()) -> map() | {stop, map()}.
in_auth_result(#{server_host := Host} = State, true, RServer) ->
    Enc = maps:get(stream_encrypted, State, false),
    {Method, Chain, Id} = case maps:get(sasl_mech, State, undefined) of
                              %% xmpp_stream_pkix has verified the chain
                              %% and identity before EXTERNAL succeeds
                              <<"EXTERNAL">> -> {'EXTERNAL', valid, valid};
                              _ -> {dialback, undefined, undefined}
                          end,
    T = table(Host),
    Verdict = case ?NIF:auth(T, RServer, incoming, Method, Enc, Chain, Id,
                             false) of
                  true -> admit(T, RServer, primary(T, RServer));
                  Refused -> Refused
              end,
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

%% Stanzas from partner users (after ejabberd checked that the 'from'
%% domain is authenticated on this stream): the message policy.
-spec receive_packet({stanza(), map()}) -> {stanza() | drop, map()}.
receive_packet({#message{type = Type, from = From, to = To} = Pkt, State} = Acc)
  when Type /= error, Type /= groupchat ->
    #jid{luser = LUser, lserver = LServer} = To,
    case LUser of
        <<>> -> Acc;
        _ ->
            InRoster = in_roster(LUser, LServer, From),
            case ?NIF:message(table(LServer), From#jid.lserver, InRoster) of
                deliver -> Acc;
                bounce ->
                    ?INFO_MSG("partner policy: bounced message from ~ts to "
                              "~ts@~ts (not in roster)",
                              [jid:encode(From), LUser, LServer]),
                    ejabberd_router:route_error(
                      Pkt, xmpp:err_service_unavailable()),
                    {drop, State}
            end
    end;
receive_packet(Acc) ->
    Acc.

%%% ---- outgoing streams -------------------------------------------------------------

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
    Enc = maps:get(stream_encrypted, State, false),
    {Method, Chain, Id} = case maps:get(xp_mech, State, undefined) of
                              <<"EXTERNAL">> -> {'EXTERNAL', valid, valid};
                              _ -> {dialback, undefined, undefined}
                          end,
    T = table(Host),
    Verdict = case ?NIF:auth(T, RServer, outgoing, Method, Enc, Chain, Id,
                             false) of
                  true -> admit(T, RServer, primary(T, RServer));
                  Refused -> Refused
              end,
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

%% Presence to partner users: status text only for federated partners.
-spec send_packet(T) -> T.
send_packet(#presence{type = available, status = [_ | _],
                      from = From, to = To} = Pkt) ->
    case ?NIF:strip_status(table(From#jid.lserver), To#jid.lserver) of
        true -> Pkt#presence{status = []};
        false -> Pkt
    end;
send_packet(Pkt) ->
    Pkt.

%%% ---- contact policy ----------------------------------------------------------------

%% Any roster item counts (README's contact table), subscription none
%% without a pending request included.
in_roster(LUser, LServer, From) ->
    {Sub, Ask, _} = roster_info(LUser, LServer, From),
    Sub /= none orelse Ask /= none orelse has_item(LUser, LServer, From).

roster_info(LUser, LServer, From) ->
    ejabberd_hooks:run_fold(roster_get_jid_info, LServer, {none, none, []},
                            [LUser, LServer, jid:remove_resource(From)]).

%% roster_get_jid_info (mod_roster:get_jid_info/4 in 23.01) answers
%% {none, none, Groups} both for an item with subscription none and no ask
%% and for no item at all, and mod_roster:get_roster_item/3 is not exported
%% (it makes up an empty item when there is none); the storage modules'
%% get_roster_item/3 needs a transaction for mnesia.  mod_roster:get_roster/2
%% (cached, no transaction) lists the items that exist; #roster.jid is the
%% record's 4th element (mod_roster.hrl).
has_item(LUser, LServer, From) ->
    case gen_mod:is_loaded(LServer, mod_roster) of
        false -> false;
        true ->
            LJID = jid:tolower(jid:remove_resource(From)),
            lists:keymember(LJID, 4, mod_roster:get_roster(LUser, LServer))
    end.

remote_subscribe(#presence{type = subscribe, from = #jid{lserver = RServer},
                           to = #jid{lserver = LServer}}) ->
    not ejabberd_router:is_my_host(RServer) andalso
        gen_mod:is_loaded(LServer, ?MODULE);
remote_subscribe(_) ->
    false.

subscribe_action(#presence{from = From, to = #jid{luser = U, lserver = S}}) ->
    {Sub, _, _} = roster_info(U, S, From),
    InRoster = in_roster(U, S, From),
    SubFrom = Sub == from orelse Sub == both,
    %% The blocklist (XEP-0191) was applied by ejabberd_sm before this hook.
    ?NIF:subscribe(table(S), From#jid.lserver, InRoster, SubFrom, false).

-spec in_subscription(boolean(), presence()) -> boolean() | {stop, false}.
in_subscription(Acc, #presence{from = From, to = To} = Pres) ->
    case remote_subscribe(Pres) andalso subscribe_action(Pres) of
        deny ->
            ?INFO_MSG("partner policy: refused subscription request from "
                      "~ts to ~ts (not in roster)",
                      [jid:encode(From), jid:encode(To)]),
            ejabberd_router:route(
              #presence{type = unsubscribed, from = jid:remove_resource(To),
                        to = jid:remove_resource(From)}),
            {stop, false};
        _ -> Acc
    end.

-spec in_subscription_approve(boolean(), presence()) -> boolean() | {stop, false}.
in_subscription_approve(Acc, #presence{from = From, to = To} = Pres) ->
    case remote_subscribe(Pres) andalso subscribe_action(Pres) of
        approve ->
            Reply = #presence{type = subscribed,
                              from = jid:remove_resource(To),
                              to = jid:remove_resource(From)},
            ejabberd_hooks:run(roster_out_subscription, To#jid.lserver,
                               [Reply]),
            ejabberd_router:route(Reply),
            %% mod_roster (priority 50) stored the request and
            %% roster_out_subscription the approval ('from'); false keeps
            %% ejabberd_sm from showing the answered request to the user.
            {stop, false};
        _ -> Acc
    end.

%%% ---- ejabberdctl commands ------------------------------------------------------------

commands() ->
    [#ejabberd_commands{name = partners_list, tags = [s2s],
                        desc = "List the XMPP federation partners",
                        module = ?MODULE, function = partners_list,
                        args = [], result = {partners, string}},
     #ejabberd_commands{name = partners_show, tags = [s2s],
                        desc = "Show one partner's record and matrix row",
                        module = ?MODULE, function = partners_show,
                        args = [{domain, binary}],
                        args_example = [<<"fabrikam.com">>],
                        args_desc = ["Partner domain"],
                        result = {partner, string}},
     #ejabberd_commands{name = partners_check, tags = [s2s],
                        desc = "Validate the partner table in force",
                        module = ?MODULE, function = partners_check,
                        args = [], result = {res, restuple}},
     #ejabberd_commands{name = partners_explain, tags = [s2s],
                        desc = "Explain the policy for a remote domain",
                        module = ?MODULE, function = partners_explain,
                        args = [{domain, binary}],
                        args_example = [<<"fabrikam.com">>],
                        args_desc = ["Remote domain"],
                        result = {explanation, string}},
     #ejabberd_commands{name = partners_add, tags = [s2s],
                        desc = "Add a federation partner (stored, applies "
                               "at once)",
                        longdesc = "The record is YAML, as under partners: "
                                   "in ejabberd.yml; the braces may be left "
                                   "out.",
                        module = ?MODULE, function = partners_add,
                        args = [{domain, binary}, {record, binary}],
                        args_example = [<<"fabrikam.com">>,
                                        <<"{type: federated, tls: required}">>],
                        args_desc = ["Partner domain", "Partner record (YAML)"],
                        result = {res, restuple}},
     #ejabberd_commands{name = partners_set, tags = [s2s],
                        desc = "Change one key of a partner (stored, applies "
                               "at once)",
                        longdesc = "Lists as a,b or [a, b]; none removes the "
                                   "key.",
                        module = ?MODULE, function = partners_set,
                        args = [{domain, binary}, {key, binary},
                                {value, binary}],
                        args_example = [<<"fabrikam.com">>, <<"tls">>,
                                        <<"optional">>],
                        args_desc = ["Partner domain", "Record key", "Value"],
                        result = {res, restuple}},
     #ejabberd_commands{name = partners_remove, tags = [s2s],
                        desc = "Remove a partner and close its live s2s "
                               "streams (stored)",
                        module = ?MODULE, function = partners_remove,
                        args = [{domain, binary}],
                        args_example = [<<"fabrikam.com">>],
                        args_desc = ["Partner domain"],
                        result = {res, restuple}},
     #ejabberd_commands{name = partners_reset, tags = [s2s],
                        desc = "Drop the runtime entry or removal of a "
                               "domain: the configuration applies again",
                        module = ?MODULE, function = partners_reset,
                        args = [{domain, binary}],
                        args_example = [<<"fabrikam.com">>],
                        args_desc = ["Partner domain"],
                        result = {res, restuple}},
     #ejabberd_commands{name = partners_sessions, tags = [s2s],
                        desc = "Live s2s streams admitted by the partner "
                               "policy (all for 'all')",
                        module = ?MODULE, function = partners_sessions,
                        args = [{domain, binary}],
                        args_example = [<<"all">>],
                        args_desc = ["A domain of the partner, or all"],
                        result = {sessions, string}},
     #ejabberd_commands{name = partners_reset_backoff, tags = [s2s],
                        desc = "End the refusal back-off of a remote domain "
                               "now (its next stream is judged afresh)",
                        module = ?MODULE, function = partners_reset_backoff,
                        args = [{domain, binary}],
                        args_example = [<<"fabrikam.com">>],
                        args_desc = ["Remote domain"],
                        result = {res, restuple}},
     #ejabberd_commands{name = partners_metrics, tags = [s2s],
                        desc = "Per-partner counters and gauges in the "
                               "OpenMetrics text format",
                        module = ?MODULE, function = partners_metrics,
                        args = [], result = {metrics, string}}].

%% The commands show the first local host running the module (the
%% partner table is normally the same on every host).
command_host() ->
    case [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, ?MODULE)] of
        [H | _] -> H;
        [] -> undefined
    end.

with_table(Fun) ->
    case command_host() of
        undefined -> "mod_xmpp_partners is not running on any host";
        Host -> lists:flatten(Fun(Host, table(Host)))
    end.

fmt(F, A) -> io_lib:format(F, A).

-spec partners_list() -> string().
partners_list() ->
    with_table(
      fun(Host, T) ->
              Sources = sources(Host),
              Rows = [partner_row(Host, D, Sources) || D <- ?NIF:partners(T)],
              Removed = lists:sort([D || {D, removed} <- runtime_rows()]),
              %% the core's text, the same as the Prosody shell's
              Text = ?NIF:list_text(T, Rows, length(Rows), undefined, Removed),
              string:trim(unicode:characters_to_list(Text), trailing, "\n")
      end).

%% {Domain, Source, Live}: what only this host knows of a partner's row
partner_row(Host, D, Sources) ->
    {D, maps:get(D, Sources, <<"?">>),
     length(ejabberd_s2s:get_connections_pids({Host, D}))}.

-spec partners_show(binary()) -> string().
partners_show(Domain) ->
    with_table(
      fun(Host, T) ->
              case ?NIF:lookup(T, Domain) of
                  {error, _Token, _} ->
                      {error, Text} = ?NIF:show(T, Domain, undefined),
                      unicode:characters_to_list(Text);
                  {ok, P} ->
                      Primary = maps:get(domain, P),
                      %% the record as the core words it, the same as the
                      %% Prosody shell's; the sessions are this host's
                      {ok, Text} = ?NIF:show(T, Domain,
                                             maps:get(Primary, sources(Host),
                                                      <<"?">>)),
                      [unicode:characters_to_list(Text), "\n",
                       sessions_text(Primary)]
              end
      end).

%%% ---- runtime changes -------------------------------------------------------------

%% Build every host's table with the runtime rows Rows, computed by the
%% caller from Base (the rows it read: only the domains that differ are
%% stored, see store_runtime/2); only when all build
%% are the rows stored and the tables installed (then the streams they no
%% longer allow are closed).  Otherwise nothing changes.  In a cluster the
%% other running nodes have committed the rows when they are stored, and
%% have rebuilt and closed their streams when this returns (or do so on
%% their Mnesia event: xmpp_partners_runtime).
apply_change(Base, Rows, What) ->
    Hosts = loaded_hosts(),
    Builds = [{H, build_effective(gen_mod:get_module_opts(H, ?MODULE),
                                  persistent_term:get({?MODULE, H, file},
                                                      {[], []}), Rows)}
              || H <- Hosts],
    case [D || {_, {error, D}} <- Builds] of
        [Diags | _] ->
            {error, lists:flatten(
                      [What, " refused, nothing changed:\n",
                       lists:join("\n", [diag_text(D)
                                         || #{severity := error} = D <- Diags])])};
        [] when Hosts == [] ->
            {error, "mod_xmpp_partners is not running on any host"};
        [] ->
            case store_runtime(Base, Rows) of
                {error, Why} ->
                    {error, lists:flatten(
                              [What, " refused, nothing changed: the change "
                               "could not be stored in Mnesia (", Why, ")"])};
                ok ->
                    Warnings = lists:usort(
                                 lists:append(
                                   [[diag_text(W) || W <- Ws]
                                    || {_, {ok, _, Ws, _}} <- Builds])),
                    ?INFO_MSG("Partner policy changed by an administrator "
                              "(~ts)", [What]),
                    %% The tables are installed by xmpp_partners_runtime's
                    %% process from what Mnesia now holds (this change and
                    %% any other node's made meanwhile), the one process
                    %% that installs runtime changes on this node: two
                    %% changes racing cannot leave the older table in force.
                    Here = case xmpp_partners_runtime:sync() of
                               ok -> [];
                               {error, {kept, _} = Kept} -> [{node(), Kept}];
                               {error, _} ->
                                   [install(H, T, Sources)
                                    || {H, {ok, T, _, Sources}} <- Builds],
                                   enforce_existing(),
                                   []
                           end,
                    case [node_problem(N, Why)
                          || {N, Why} <- Here ++
                                 xmpp_partners_runtime:sync_others()] of
                        [] -> {ok, lists:join("\n", Warnings)};
                        Problems ->
                            %% stored: the nodes that kept their table
                            %% differ until fixed (partners_check names it)
                            ?ERROR_MSG("Partner table: ~ts stored, but:~n~ts",
                                       [What, lists:join("\n", Problems)]),
                            {error, lists:flatten(
                                      [What, " stored, but:\n",
                                       lists:join("\n", Problems)])}
                    end
            end
    end.

%% One line of a change's output for a node that did not rebuild.
node_problem(N, {kept, HostTexts}) ->
    lists:join("\n", [fmt("node ~ts kept its previous table: ~ts (host ~ts)",
                          [N, Text, H]) || {H, Text} <- HostTexts]);
node_problem(N, Why) ->
    fmt("node ~ts did not confirm the change (~p); it applies it from its "
        "Mnesia copy when it can", [N, Why]).

%% The one line every host prints for a diagnostic (the core's).
diag_text(D) ->
    unicode:characters_to_list(?NIF:diag_line(D)).

with_warnings(Text, []) -> {ok, lists:flatten(Text)};
with_warnings(Text, W) -> {ok, lists:flatten([Text, "\n", W])}.

%% -> {ok, Normalized} | {error, Text}
domain_arg(Domain) ->
    case ?NIF:normalize(Domain) of
        {ok, D} -> {ok, D};
        {error, Why} ->
            {error, lists:flatten(io_lib:format("'~ts' is not a valid domain: "
                                                "~ts", [Domain, Why]))}
    end.

%% The effective record of domain D: {Key, Record} from the table's
%% sources (file, config, runtime) | undefined.
effective_record(Host, D) ->
    Opts = gen_mod:get_module_opts(Host, ?MODULE),
    {FileP, _} = persistent_term:get({?MODULE, Host, file}, {[], []}),
    %% the sources laid over each other by the core, as for the table
    {Merged, _} = merge(FileP, pairs(proplists_or_map(partners, Opts)),
                        runtime_rows(), undefined),
    case [{K, R} || {K, R} <- Merged, norm(K) == D] of
        [KR | _] -> KR;
        [] -> undefined
    end.

configured(Host, D) ->
    Opts = gen_mod:get_module_opts(Host, ?MODULE),
    {FileP, _} = persistent_term:get({?MODULE, Host, file}, {[], []}),
    lists:any(fun({K, _}) -> norm(K) == D; (_) -> false end,
              pairs(proplists_or_map(partners, Opts)) ++ pairs(FileP)).

%% A YAML value or mapping as the configuration would give it.
yaml(Text) ->
    try fast_yaml:decode(Text, [plain_as_atom]) of
        {ok, [Doc]} -> {ok, Doc};
        {ok, []} -> {ok, []};
        {ok, _} -> {error, "give one YAML value"};
        {error, Why} -> {error, lists:flatten(fast_yaml:format_error(Why))}
    catch _:Why -> {error, lists:flatten(io_lib:format("~p", [Why]))}
    end.

parse_record(Text) ->
    T = string:trim(Text),
    Yaml = case T of
               <<"{", _/binary>> -> T;
               <<>> -> <<"{}">>;
               _ -> <<"{", T/binary, "}">>
           end,
    case yaml(Yaml) of
        {ok, R} when is_list(R) -> {ok, [{key_bin(K), V} || {K, V} <- R]};
        {ok, _} -> {error, "the record is not a YAML mapping, e.g. "
                           "\"{type: federated, tls: required}\""};
        {error, Why} -> {error, "the record is not YAML: " ++ Why}
    end.

%% A value typed at the command line, read by the core the way the
%% Prosody shell reads it (xp_value_parse): none/nil removes the key.
%% -> remove | {ok, Value}
parse_value(Key, Value) ->
    ?NIF:parse_value(Key, Value).

value_text(remove) -> "none";
value_text(L) when is_list(L) ->
    ["[", lists:join(", ", [io_lib:format("~ts", [X]) || X <- L]), "]"];
value_text(B) when is_binary(B) -> io_lib:format("~ts", [B]);
value_text(V) -> io_lib:format("~p", [V]).

set_rows(Rows, Key, Value) ->
    lists:keystore(Key, 1, [R || {K, _} = R <- Rows, norm(K) /= norm(Key)],
                   {Key, Value}).

-spec partners_add(binary(), binary()) -> {ok, string()} | {1, string()}.
partners_add(Domain, Record) ->
    cli_result(do_partners_add(Domain, Record)).

do_partners_add(Domain, Record) ->
    with_host(
      fun(Host) ->
              maybe_do([fun() -> domain_arg(Domain) end,
                        fun(_) -> parse_record(Record) end],
                       fun([D, R]) ->
                               case effective_record(Host, D) of
                                   {_, _} ->
                                       {error, lists:flatten(io_lib:format(
                                         "~ts is already a partner; change it "
                                         "with partners_set ~ts KEY VALUE or "
                                         "remove it first", [D, D]))};
                                   undefined ->
                                       Rows = set_rows(Base = runtime_rows(), D,
                                                       {partner, R}),
                                       What = io_lib:format("adding ~ts", [D]),
                                       case apply_change(Base, Rows, What) of
                                           {ok, W} ->
                                               with_warnings(io_lib:format(
                                                 "~ts added (runtime, stored)",
                                                 [D]), W);
                                           E -> E
                                       end
                               end
                       end)
      end).

-spec partners_set(binary(), binary(), binary()) -> {ok, string()} | {1, string()}.
partners_set(Domain, Key, Value) ->
    cli_result(do_partners_set(Domain, Key, Value)).

do_partners_set(Domain, Key, Value) ->
    with_host(
      fun(Host) ->
              maybe_do([fun() -> domain_arg(Domain) end,
                        fun(_) -> parse_value(Key, Value) end],
                       fun([D, V]) ->
                               case effective_record(Host, D) of
                                   undefined -> not_partner(Host, D);
                                   {K, R0} ->
                                       R1 = [{key_bin(RK), RV}
                                             || {RK, RV} <- pairs(R0),
                                                key_bin(RK) /= Key],
                                       R = case V of
                                               remove -> R1;
                                               _ -> R1 ++ [{Key, V}]
                                           end,
                                       Rows = set_rows(Base = runtime_rows(),
                                                       key_bin(K),
                                                       {partner, R}),
                                       What = io_lib:format(
                                                "setting ~ts of ~ts", [Key, D]),
                                       case apply_change(Base, Rows, What) of
                                           {ok, W} ->
                                               with_warnings(io_lib:format(
                                                 "~ts: ~ts = ~ts (runtime, "
                                                 "stored)",
                                                 [D, Key, value_text(V)]), W);
                                           E -> E
                                       end
                               end
                       end)
      end).

not_partner(Host, D) ->
    case ?NIF:resolve(table(Host), D) of
        {ok, P} when P /= D, P /= <<"*">> ->
            {error, lists:flatten(io_lib:format(
                                    "~ts is an additional domain of ~ts; "
                                    "change ~ts instead", [D, P, P]))};
        _ ->
            {error, lists:flatten(io_lib:format(
                                    "~ts is not a partner; add it with "
                                    "partners_add ~ts RECORD", [D, D]))}
    end.

-spec partners_remove(binary()) -> {ok, string()} | {1, string()}.
partners_remove(Domain) ->
    cli_result(do_partners_remove(Domain)).

do_partners_remove(Domain) ->
    with_host(
      fun(Host) ->
              maybe_do([fun() -> domain_arg(Domain) end],
                       fun([D]) ->
                               case effective_record(Host, D) of
                                   undefined ->
                                       {error, lists:flatten(io_lib:format(
                                         "~ts is not a partner (see "
                                         "partners_list)", [D]))};
                                   {K, _} ->
                                       Conf = configured(Host, D),
                                       Base = runtime_rows(),
                                       Rows0 = [R || {RK, _} = R <- Base,
                                                     norm(RK) /= D],
                                       Rows = case Conf of
                                                  true -> [{key_bin(K), removed}
                                                           | Rows0];
                                                  false -> Rows0
                                              end,
                                       What = io_lib:format("removing ~ts", [D]),
                                       case apply_change(Base, Rows, What) of
                                           {ok, _} when Conf ->
                                               {ok, lists:flatten(io_lib:format(
                                                 "~ts removed (its configured "
                                                 "entry stays hidden until "
                                                 "partners_reset ~ts)", [D, D]))};
                                           {ok, _} ->
                                               {ok, lists:flatten(io_lib:format(
                                                 "~ts removed", [D]))};
                                           E -> E
                                       end
                               end
                       end)
      end).

-spec partners_reset(binary()) -> {ok, string()} | {1, string()}.
partners_reset(Domain) ->
    cli_result(do_partners_reset(Domain)).

do_partners_reset(Domain) ->
    with_host(
      fun(_Host) ->
              maybe_do([fun() -> domain_arg(Domain) end],
                       fun([D]) ->
                               Base = Rows0 = runtime_rows(),
                               Rows = [R || {K, _} = R <- Rows0, norm(K) /= D],
                               case length(Rows) == length(Rows0) of
                                   true ->
                                       {error, lists:flatten(io_lib:format(
                                         "~ts has no runtime entry or removal "
                                         "to reset", [D]))};
                                   false ->
                                       What = io_lib:format("resetting ~ts", [D]),
                                       case apply_change(Base, Rows, What) of
                                           {ok, _} ->
                                               {ok, lists:flatten(io_lib:format(
                                                 "~ts: runtime entry cleared, "
                                                 "the configuration applies",
                                                 [D]))};
                                           E -> E
                                       end
                               end
                       end)
      end).

%% ejabberdctl prints the text of {Code, Text}; a nonzero integer code is
%% its exit status ({error, _} would be printed as an Erlang term).
cli_result({ok, Text}) -> {ok, Text};
cli_result({error, Text}) -> {1, Text}.

with_host(Fun) ->
    case command_host() of
        undefined -> {error, "mod_xmpp_partners is not running on any host"};
        Host -> Fun(Host)
    end.

%% Run the steps in turn (each gets the previous results); the first
%% {error, _} stops; Last gets the values.
maybe_do(Steps, Last) ->
    maybe_do(Steps, [], Last).

maybe_do([], Acc, Last) ->
    Last(lists:reverse(Acc));
maybe_do([Step | Rest], Acc, Last) ->
    R = case erlang:fun_info(Step, arity) of
            {arity, 0} -> Step();
            {arity, 1} -> Step(lists:reverse(Acc))
        end,
    case R of
        {ok, V} -> maybe_do(Rest, [V | Acc], Last);
        remove -> maybe_do(Rest, [remove | Acc], Last);
        {error, _} = E -> E
    end.

%%% ---- sessions --------------------------------------------------------------------

-spec partners_sessions(binary()) -> string().
partners_sessions(Domain) ->
    lists:flatten(partners_sessions_text(Domain)).

partners_sessions_text(Domain) ->
    case Domain of
        D when D == <<"all">>; D == <<"*">>; D == <<>> -> sessions_text(all);
        _ ->
            case domain_arg(Domain) of
                {error, Text} -> Text;
                {ok, D} ->
                    P = case command_host() of
                            undefined -> D;
                            Host -> primary(table(Host), D)
                        end,
                    sessions_text(P)
            end
    end.

%% The streams of every running node of the cluster, each with its node
%% (a node that did not answer is named below the table).
sessions_text(Primary) ->
    {Sessions, Silent} = xmpp_partners_sessions:cluster(),
    Rows = lists:sort(
             [[case Dir of incoming -> "in"; outgoing -> "out" end,
               Local, Remote, Pr, "established",
               case Enc of true -> "yes"; false -> "no" end,
               case M of 'EXTERNAL' -> "sasl_tls"; _ when Enc -> "dialback_tls";
                   _ -> "dialback_tcp" end,
               %% incoming EXTERNAL: xmpp_stream_pkix verified chain and
               %% identity; outgoing, ejabberd's tls_verify decides (and
               %% checks nothing where dialback is allowed): not claimed
               case {Dir, M} of
                   {incoming, 'EXTERNAL'} -> "chain valid, identity valid";
                   _ -> "-"
               end,
               atom_to_list(Node)]
              || {Node, #xp_session{dir = Dir, local = Local, remote = Remote,
                                    primary = Pr, encrypted = Enc, method = M}}
                     <- Sessions,
                 Primary == all orelse Pr == Primary]),
    Table = case Rows of
                [] when Primary == all -> "no live s2s sessions";
                [] -> fmt("no live s2s sessions with ~ts", [Primary]);
                _ ->
                    Header = ["dir", "local", "remote", "partner", "state",
                              "tls", "method", "certificate", "node"],
                    format_table(Header, Rows)
            end,
    [Table | [case Why of
                  not_running ->
                      fmt("~nnode ~ts: mod_xmpp_partners is not running "
                          "there: its streams are not listed", [N]);
                  _ ->
                      fmt("~nnode ~ts did not answer (~p): its streams are "
                          "not listed", [N, Why])
              end || {N, Why} <- Silent]].

format_table(Header, Rows) ->
    Str = fun(C) -> lists:flatten(io_lib:format("~ts", [C])) end,
    Rows1 = [[Str(C) || C <- R] || R <- [Header | Rows]],
    Widths = lists:foldl(fun(R, W) -> [max(length(C), X) || {C, X} <- lists:zip(R, W)] end,
                         [0 || _ <- Header], Rows1),
    Line = fun(R) ->
                   Cells = [string:pad(C, X) || {C, X} <- lists:zip(R, Widths)],
                   string:trim(lists:flatten(lists:join("  ", Cells)), trailing)
           end,
    [H | Body] = Rows1,
    Sep = [lists:duplicate(X, $-) || X <- Widths],
    lists:flatten(lists:join("\n", [Line(H), Line(Sep) | [Line(R) || R <- Body]])).

%% The configuration as it reads now, then the tables in force on the other
%% nodes of the cluster compared with this node's, every host running the
%% module host by host.  Exit status 1 when the configuration has errors
%% or a node's table differs (or cannot be read).
-spec partners_check() -> {ok | 1, string()}.
partners_check() ->
    case loaded_hosts() of
        [] -> {1, "mod_xmpp_partners is not running on any host"};
        Hosts ->
            Checks = [check_config(H) || H <- Hosts],
            Text = case Checks of
                       [{_, T}] -> T;
                       _ -> [[fmt("host ~ts: ", [H]), T]
                             || {H, {_, T}} <- lists:zip(Hosts, Checks)]
                   end,
            Valid = lists:all(fun({V, _}) -> V end, Checks),
            Diffs = cluster_differences(),
            Cluster = case Diffs of
                          [] -> "";
                          _ -> [fmt("~nthe partner tables in force differ "
                                    "between the nodes of the cluster "
                                    "(compared with this node, ~ts):~n",
                                    [node()]),
                                lists:join("\n", Diffs)]
                      end,
            Code = case Valid andalso Diffs == [] of
                       true -> ok;
                       false -> 1
                   end,
            {Code, string:trim(unicode:characters_to_list([Text, Cluster]), trailing, "\n")}
    end.

%% -> {Valid, Text}: Host's configuration as it reads now
check_config(Host) ->
    %% the core's text, the same as the Prosody shell's
    case build(gen_mod:get_module_opts(Host, ?MODULE)) of
        {ok, T, Warnings} ->
            {true, ?NIF:check_text(Warnings, maps:get(count, ?NIF:info(T)))};
        {error, Diags} ->
            {false, ?NIF:check_text(Diags, undefined)}
    end.

%% What partners_check compares between nodes: for every local host
%% running the module, the table in force: its global options and every
%% partner's effective record.  undefined: the module runs on no host.
-spec table_view() -> #{binary() => {map(), #{binary() => map()}}} |
                      undefined.
table_view() ->
    case loaded_hosts() of
        [] -> undefined;
        Hosts ->
            maps:from_list(
              [{H, {?NIF:info(T),
                    maps:from_list([{D, element(2, ?NIF:lookup(T, D))}
                                    || D <- ?NIF:partners(T)])}}
               || H <- Hosts, T <- [table(H)]])
    end.

%% One line per difference, each naming the other node and the host.  A
%% node of the Mnesia database that is not running (stopped, or cut off by
%% a network partition) is named too: its table cannot be compared, and
%% after a partition Mnesia does not merge (README-ejabberd, Clustering).
cluster_differences() ->
    Others = ejabberd_cluster:get_nodes() -- [node()],
    Mine = table_view(),
    Answers = erpc:multicall(Others, ?MODULE, table_view, [], 5000),
    Down = [fmt("node ~ts: a node of the cluster's Mnesia database that is "
                "not running or not reachable from here: its table cannot "
                "be compared", [N])
            || N <- lists:sort(mnesia:system_info(db_nodes) --
                                   mnesia:system_info(running_db_nodes))],
    lists:append(
      [case A of
           {ok, undefined} ->
               [fmt("node ~ts: mod_xmpp_partners is not running there",
                    [N])];
           {ok, View} when is_map(View) -> host_differences(N, Mine, View);
           {ok, Other} ->
               [fmt("node ~ts: its table could not be read (~p)",
                    [N, Other])];
           {_Class, Why} ->
               [fmt("node ~ts: its table could not be read (~p)", [N, Why])]
       end || {N, A} <- lists:zip(Others, Answers)]) ++ Down.

%% Host by host; each line ends with the host it is about.
host_differences(N, Mine, Theirs) ->
    lists:append(
      [case {maps:find(H, Mine), maps:find(H, Theirs)} of
           {{ok, A}, {ok, B}} ->
               [[L, fmt(" (host ~ts)", [H])]
                || L <- view_differences(N, A, B)];
           {{ok, _}, error} ->
               [fmt("node ~ts: mod_xmpp_partners is not running there for "
                    "host ~ts", [N, H])];
           {error, {ok, _}} ->
               [fmt("node ~ts: mod_xmpp_partners runs there for host ~ts, "
                    "not here", [N, H])]
       end || H <- lists:usort(maps:keys(Mine) ++ maps:keys(Theirs))]).

view_differences(N, {InfoA, PA}, {InfoB, PB}) ->
    Options = [fmt("node ~ts: option ~s is ~ts there, ~ts here",
                   [N, K, value_text(maps:get(K, InfoB, none)),
                    value_text(V)])
               || {K, V} <- lists:sort(maps:to_list(InfoA)), K /= count,
                  maps:get(K, InfoB, none) /= V],
    Domains = lists:usort(maps:keys(PA) ++ maps:keys(PB)),
    Partners = lists:append(
                 [case {maps:find(D, PA), maps:find(D, PB)} of
                      {{ok, R}, {ok, R}} -> [];
                      {{ok, _}, error} ->
                          [fmt("node ~ts: partner ~ts is missing there",
                               [N, D])];
                      {error, {ok, _}} ->
                          [fmt("node ~ts: partner ~ts is there, not here",
                               [N, D])];
                      {{ok, RA}, {ok, RB}} ->
                          [fmt("node ~ts: partner ~ts: ~s is ~ts there, ~ts "
                               "here", [N, D, K, value_text(maps:get(K, RB,
                                                                    none)),
                                        value_text(V)])
                           || {K, V} <- lists:sort(maps:to_list(RA)),
                              maps:get(K, RB, none) /= V]
                  end || D <- Domains]),
    Options ++ Partners.

-spec partners_explain(binary()) -> string().
partners_explain(Domain) ->
    with_table(fun(_Host, T) -> explain(T, Domain) end).

%% The core's explain text (module/explain.c), the same the CLI and the
%% Prosody shell print; this module only prints it.
explain(T, Domain) ->
    case ?NIF:explain(T, Domain) of
        {ok, Text} ->
            string:trim(unicode:characters_to_list(Text), trailing, "\n");
        {error, Why} ->
            fmt("~ts: not a valid domain: ~ts", [Domain, Why])
    end.

%%% ---- monitoring: back-off and metrics ---------------------------------------------

-spec partners_reset_backoff(binary()) -> {ok, string()} | {1, string()}.
partners_reset_backoff(Domain) ->
    case domain_arg(Domain) of
        {error, Text} -> {1, lists:flatten(Text)};
        {ok, D} ->
            case xmpp_partners_backoff:reset(D) of
                0 -> {ok, fmt("~ts has no refusal back-off", [D])};
                N ->
                    ?INFO_MSG("Refusal back-off of ~ts ended by an "
                              "administrator", [D]),
                    {ok, lists:flatten(
                           fmt("refusal back-off of ~ts ended (~B origin~ts); "
                               "its next stream is judged afresh",
                               [D, N, case N of 1 -> ""; _ -> "s" end]))}
            end
    end.

%% The counters and gauges in the OpenMetrics text format.  Labels:
%% partner (a partner's primary domain, or "unlisted"), direction, reason
%% (the core's tokens) or method (sasl_tls, dialback_tls, dialback_tcp).
-spec partners_metrics() -> string().
partners_metrics() ->
    Counters = xmpp_partners_backoff:counters(),
    Refused = [{[{partner, P}, {direction, D}, {reason, R}], N}
               || {{refused, P, D, R}, N} <- Counters],
    Auth = [{[{partner, P}, {direction, D}, {method, M}], N}
            || {{authenticated, P, D, M}, N} <- Counters],
    Streams = lists:foldl(
                fun(#xp_session{key = {Pid, _}, primary = P, dir = D}, Acc) ->
                        maps:put({P, D, Pid}, 1, Acc)
                end, #{}, live_sessions()),
    Gauge = lists:foldl(fun({P, D, _}, Acc) ->
                                maps:update_with({P, D}, fun(X) -> X + 1 end,
                                                 1, Acc)
                        end, #{}, maps:keys(Streams)),
    StreamRows = [{[{partner, P}, {direction, D}], N}
                  || {{P, D}, N} <- lists:sort(maps:to_list(Gauge))],
    Origins = length([x || #{active := true}
                               <- xmpp_partners_backoff:snapshot()]),
    lists:flatten(
      [metric_family("xmpp_partners_refused", counter,
                     "s2s streams, authentications and stanzas refused, "
                     "every attempt (back-off included)", Refused),
       metric_family("xmpp_partners_authenticated", counter,
                     "s2s authentications accepted", Auth),
       metric_family("xmpp_partners_streams", gauge,
                     "live s2s streams admitted by the partner policy",
                     StreamRows),
       metric_family("xmpp_partners_refusal_backoff_origins", gauge,
                     "origins refused at the stream header right now",
                     [{[], Origins}]),
       "# EOF"]).

metric_family(Name, Type, Help, Samples) ->
    Suffix = case Type of counter -> "_total"; gauge -> "" end,
    [fmt("# TYPE ~ts ~ts\n# HELP ~ts ~ts\n", [Name, Type, Name, Help]),
     [fmt("~ts~ts~ts ~B\n", [Name, Suffix, metric_labels(Labels), N])
      || {Labels, N} <- Samples]].

metric_labels([]) -> "";
metric_labels(Labels) ->
    ["{", lists:join(",", [[atom_to_list(K), "=\"", label_value(V), "\""]
                           || {K, V} <- Labels]), "}"].

label_value(V) when is_atom(V) -> label_value(atom_to_binary(V, utf8));
label_value(V) ->
    lists:flatmap(fun($\\) -> "\\\\"; ($") -> "\\\""; ($\n) -> "\\n";
                     (C) -> [C]
                  end, unicode:characters_to_list(V)).

%%% ---- monitoring: the status data (WebAdmin page and its JSON) ---------------------

%% Everything the status page shows, as a map jiffy can encode: the partner
%% table of the first host running the module (with type, rules and source),
%% live streams, refusal and authentication counters (with the time of the
%% last refusal), the refusal back-off, and the explain text for Explain.
-spec status_data(binary() | undefined) -> map().
status_data(Explain) ->
    case command_host() of
        undefined -> #{running => false};
        Host ->
            T = table(Host),
            Sources = sources(Host),
            Info = ?NIF:info(T),
            Partners = [begin
                            {ok, P} = ?NIF:lookup(T, D),
                            #{domain => D, type => maps:get(type, P),
                              tls => maps:get(tls, P),
                              sasl => maps:get(sasl, P),
                              dialback => maps:get(dialback, P),
                              additional_domains =>
                                  maps:get(additional_domains, P),
                              source => maps:get(D, Sources, <<"?">>)}
                        end || D <- ?NIF:partners(T)],
            Streams = lists:sort(
                        [#{partner => Pr, direction => Dir, local => L,
                           remote => R, encrypted => Enc,
                           method => method_label(M, Enc), since => Since}
                         || #xp_session{dir = Dir, local = L, remote = R,
                                        primary = Pr, encrypted = Enc,
                                        method = M, since = Since}
                                <- live_sessions()]),
            C = xmpp_partners_backoff:counters(),
            Last = maps:from_list([{K, V} || {{last, K}, V} <- C]),
            Refused = [#{partner => P, direction => D, reason => R,
                         text => ?NIF:reason_text(R), count => N,
                         last => maps:get(K, Last, null)}
                       || {{refused, P, D, R} = K, N} <- C],
            Auth = [#{partner => P, direction => D, method => M, count => N}
                    || {{authenticated, P, D, M}, N} <- C],
            Backoff = [B#{domain := null_if_undefined(Dom),
                          ip := null_if_undefined(Ip),
                          text => ?NIF:reason_text(R)}
                       || #{domain := Dom, ip := Ip, reason := R} = B
                              <- xmpp_partners_backoff:snapshot()],
            #{running => true, host => Host,
              default => maps:get(default, Info),
              closed => maps:get(closed, Info, false),
              refusal_backoff => maps:get(refusal_backoff, Info, 300),
              partners => Partners, streams => Streams, refused => Refused,
              authenticated => Auth, backoff => Backoff,
              recent => [R#{domain := null_if_undefined(D),
                            text => ?NIF:reason_text(Tok)}
                         || #{domain := D, reason := Tok} = R
                                <- xmpp_partners_backoff:recent()],
              explain => case Explain of
                             undefined -> null;
                             _ -> #{domain => Explain,
                                    text => unicode:characters_to_binary(
                                              partners_explain(Explain))}
                         end}
    end.

null_if_undefined(undefined) -> null;
null_if_undefined(V) -> V.

%%% ---- outgoing refusals that xmpp_stream_out makes (issue 18) -------------------

%% An outgoing partner stream that xmpp_stream_out gives up on before
%% authentication (xmpp_partners_s2s_out: SASL impossible or failed with
%% no dialback to follow, or its own STARTTLS stream errors): the
%% partner's rules refused it, so it is logged and counted like every
%% refusal, with the core's reason.  What: auth_failure (the rule is why
%% dialback may not follow, or why EXTERNAL was not tried when that is
%% what the rules withheld, as on Prosody), tls_missing (tls = required,
%% the peer offered no STARTTLS), tls_refused (tls = not_supported, the
%% peer requires STARTTLS), {pkix, Why} (ejabberd rejected the peer's
%% certificate).
-spec out_refused(map(), auth_failure | tls_missing | tls_refused
                         | {pkix, atom()}) -> ok.
out_refused(#{server_host := Host, remote_server := R} = State, What) ->
    case loaded_table(Host) of
        undefined -> ok;
        T ->
            case out_refusal_token(T, R, State, What) of
                undefined -> ok;
                Token -> _ = refused(outgoing, R, Token), ok
            end
    end;
out_refused(_State, _What) ->
    ok.

out_refusal_token(T, R, State, {pkix, Why}) ->
    %% ejabberd verified the certificate because the core allows no
    %% dialback (or mod_s2s_dialback is not loaded): the rule is why
    %% EXTERNAL may not use this certificate
    cert_refusal_token(T, R, outgoing, Why, State);
out_refusal_token(_T, _R, _State, tls_missing) -> tls_required;
out_refusal_token(_T, _R, _State, tls_refused) -> tls_not_supported;
out_refusal_token(T, R, State, auth_failure) ->
    Enc = maps:get(stream_encrypted, State, false),
    case ?NIF:dialback(T, R, outgoing, Enc, undefined, undefined, false) of
        {false, DbToken, _} ->
            Ext = case maps:get(xp_external, State, true) of
                      false when Enc ->
                          ?NIF:sasl_external(T, R, outgoing, Enc, valid, valid,
                                             false);
                      _ -> true
                  end,
            case Ext of
                {false, ExtToken, _} -> ExtToken;
                _ -> DbToken
            end;
        %% dialback allowed but not loaded (mod_s2s_dialback): ejabberd's
        %% failure, not the partner's rules
        _ -> undefined
    end.

%%% ---- for the ad-hoc commands and partners_export (issue 18) ---------------------

%% The partner list as partners_list prints it.
-spec adhoc_list() -> string().
adhoc_list() ->
    partners_list().

%% Add Domain with the record Record ([{KeyBin, Value}], checked by the
%% core like partners_add's): {ok, Text} | {error, Text}.
-spec adhoc_add(binary(), [{binary(), term()}]) -> {ok, string()}
                                                     | {error, string()}.
adhoc_add(Domain, Record) ->
    with_host(
      fun(Host) ->
              case domain_arg(Domain) of
                  {error, _} = E -> E;
                  {ok, D} ->
                      case effective_record(Host, D) of
                          {_, _} ->
                              {error, lists:flatten(io_lib:format(
                                        "~ts is already a partner; edit it or "
                                        "remove it first", [D]))};
                          undefined ->
                              runtime_record(D, Record,
                                             io_lib:format("adding ~ts", [D]),
                                             "~ts added (runtime, stored)")
                      end
              end
      end).

%% Replace the whole record of the partner Domain (the edit form):
%% {ok, Text} | {error, Text}.
-spec adhoc_replace(binary(), [{binary(), term()}]) -> {ok, string()}
                                                         | {error, string()}.
adhoc_replace(Domain, Record) ->
    with_host(
      fun(Host) ->
              case domain_arg(Domain) of
                  {error, _} = E -> E;
                  {ok, D} ->
                      case effective_record(Host, D) of
                          undefined -> not_partner(Host, D);
                          {K, _} ->
                              runtime_record(key_bin(K), Record,
                                             io_lib:format("editing ~ts", [D]),
                                             "~ts changed (runtime, stored)")
                      end
              end
      end).

runtime_record(Key, Record, What, Done) ->
    Rows = set_rows(Base = runtime_rows(), Key, {partner, Record}),
    case apply_change(Base, Rows, What) of
        {ok, W} -> with_warnings(io_lib:format(Done, [Key]), W);
        E -> E
    end.

-spec adhoc_remove(binary()) -> {ok, string()} | {error, string()}.
adhoc_remove(Domain) ->
    do_partners_remove(Domain).

%% The effective table's parts for partners_export: {ok, Options,
%% [{KeyBin, Record, Source}]} | {error, Text}.
-spec export_data() -> {ok, [{atom(), term()}], [{binary(), list(), binary()}]}
                           | {error, string()}.
export_data() ->
    with_host(
      fun(Host) ->
              Opts = gen_mod:get_module_opts(Host, ?MODULE),
              {FileP, FileO} = persistent_term:get({?MODULE, Host, file},
                                                   {[], []}),
              case build_effective(Opts, {FileP, FileO}, runtime_rows()) of
                  {error, Diags} ->
                      {error, lists:flatten(
                                ["the effective partner table has errors; fix "
                                 "them first (partners_check):\n",
                                 lists:join("\n", [diag_text(D)
                                                   || D <- Diags])])};
                  {ok, _T, _W, Sources} ->
                      {Merged, _} = merge(FileP, pairs(proplists_or_map(
                                                         partners, Opts)),
                                          runtime_rows(),
                                          proplists_or_map(partners_file,
                                                           Opts)),
                      Options = [{K, V} || K <- [default, keepalive_interval,
                                                 connection_limit,
                                                 refusal_backoff,
                                                 pending_per_address,
                                                 pending_limit, auth_timeout,
                                                 preauth_bytes, preauth_depth],
                                           V <- [case proplists_or_map(K, Opts) of
                                                     undefined -> proplists:get_value(K, FileO);
                                                     OV -> OV
                                                 end],
                                           V /= undefined],
                      {ok, Options,
                       [{key_bin(K), [{key_bin(RK), RV} || {RK, RV} <- pairs(R)],
                         maps:get(norm(K), Sources, <<"?">>)}
                        || {K, R} <- Merged]}
              end
      end).

%% The certificate facts behind an xmpp_stream_pkix error and the core's
%% rule for SASL EXTERNAL with them, or undefined when the core would
%% accept them (then it was not the partner's rules).  The chain: trusted
%% when ejabberd got as far as the host name, absent without a
%% certificate, else not trusted; the identity: the core checks the
%% peer's certificate itself (ejabberd stops at the chain).
cert_refusal_token(T, R, Dir, Why, State) ->
    Der = case catch xmpp_socket:get_peer_certificate(maps:get(socket, State),
                                                     der) of
              {ok, D} when is_binary(D) -> D;
              %% an outgoing stream's socket is closed by now:
              %% xmpp_partners_s2s_out:tls_verify/1 kept the certificate
              _ -> get(xp_peer_cert)
          end,
    {Chain, Id} = case {Why, Der} of
                      {_, undefined} -> {undefined, undefined};
                      {hostname_mismatch, _} -> {valid, invalid};
                      {idna_failed, _} -> {valid, invalid};
                      _ -> {invalid, case ?NIF:cert_identity(Der, R, false) of
                                         valid -> valid;
                                         _ -> invalid
                                     end}
                  end,
    case ?NIF:sasl_external(T, R, Dir, true, Chain, Id, false) of
        {false, Token, _} -> Token;
        _ -> undefined
    end.

%%% ---- incoming refusals that xmpp_stream_in makes (issue 18) --------------------

%% An incoming stream that xmpp_stream_in refuses on its own, for a domain
%% the module judges (xmpp_partners_s2s_in: handle_auth_failure/4,
%% handle_stream_end/2): logged with the core's rule, once per back-off
%% window like every incoming refusal.  What: {auth_failure, Mech,
%% ReasonText} (SASL failed: EXTERNAL the rules withhold, or a
%% certificate EXTERNAL may not use), tls_missing (tls = required, the
%% peer went on without STARTTLS), tls_refused (tls = not_supported, the
%% peer asked for STARTTLS).
-spec in_refused(map(), {auth_failure, binary(), binary()} | tls_missing
                        | tls_refused) -> ok.
in_refused(#{server_host := Host, remote_server := R} = State, What)
  when is_binary(R) ->
    case loaded_table(Host) of
        undefined -> ok;
        T ->
            case in_refusal_token(T, R, State, What) of
                undefined -> ok;
                Token -> _ = refused(incoming, R, Token), ok
            end
    end;
in_refused(_State, _What) ->
    ok.

in_refusal_token(_T, _R, _State, tls_missing) -> tls_required;
in_refusal_token(_T, _R, _State, tls_refused) -> tls_not_supported;
in_refusal_token(T, R, State, {auth_failure, <<"EXTERNAL">>, Text}) ->
    Enc = maps:get(stream_encrypted, State, false),
    %% first the rule itself (sasl = not_supported, no TLS), whatever the
    %% certificate; then the certificate xmpp_stream_pkix refused
    case ?NIF:sasl_external(T, R, incoming, Enc, valid, valid, false) of
        {false, Token, _} -> Token;
        _ ->
            Why = case Text of
                      <<"Certificate host name mismatch">> -> hostname_mismatch;
                      <<"Remote domain is not an IDN hostname">> -> idna_failed;
                      <<"Failed to get peer certificate">> -> get_cert_failed;
                      _ -> chain
                  end,
            pinned_but_untrusted(T, R, Why, State),
            cert_refusal_token(T, R, incoming, Why, State)
    end;
in_refusal_token(_T, _R, _State, _What) ->
    undefined.

%% Incoming pins cannot be honoured on ejabberd 23.01 (README-ejabberd.md,
%% "Incoming certificate pins"): xmpp_stream_in decides SASL EXTERNAL in
%% xmpp_stream_pkix from fast_tls's verify result, with no callback in
%% between.  When a partner's pinned key on a certificate valid for its
%% domain is what ejabberd just refused, say so, with the fix, next to the
%% refusal line.
pinned_but_untrusted(T, R, Why, #{socket := Socket})
  when Why /= hostname_mismatch, Why /= idna_failed ->
    case catch xmpp_socket:get_peer_certificate(Socket, der) of
        {ok, Der} when is_binary(Der) ->
            case ?NIF:cert_pin(Der) of
                {ok, Pin} ->
                    case ?NIF:pin_matches(T, R, Pin) andalso
                        ?NIF:cert_identity(Der, R, false) == valid of
                        true ->
                            ?WARNING_MSG(
                               "partner policy: ~ts presents the pinned key "
                               "~ts on a certificate without a trusted chain; "
                               "ejabberd verifies incoming certificates "
                               "itself and accepts no pinned key in their "
                               "place: add ~ts's certificate to s2s_cafile "
                               "(or ca_file), or allow it dialback",
                               [R, Pin, R]);
                        false -> ok
                    end;
                _ -> ok
            end;
        _ -> ok
    end;
pinned_but_untrusted(_T, _R, _Why, _State) ->
    ok.
