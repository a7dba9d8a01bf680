%%% xmpp_partners_commands: the ejabberdctl commands (their definitions,
%%% registered by mod_xmpp_partners) and the ones that only read: list,
%%% show, check (with the comparison of the cluster's nodes), explain,
%%% sessions, reset_backoff.  The changes are xmpp_partners_changes', the
%%% metrics xmpp_partners_monitoring's.
-module(xmpp_partners_commands).

-export([commands/0]).
%% commands
-export([partners_list/0, partners_show/1, partners_check/0,
         partners_explain/1, partners_sessions/1,
         partners_reset_backoff/1]).
%% partners_check on another node of the cluster reads table_view/0
-export([table_view/0]).

-include("logger.hrl").
-include("ejabberd_commands.hrl").
-include("xmpp_partners_sessions.hrl").
-import(xmpp_partners_table, [table/1, sources/1, loaded_hosts/0,
                              command_host/0]).
-import(xmpp_partners_changes, [domain_arg/1, value_text/1]).

-define(NIF, xmpp_partners_nif).
-define(GEN_MOD, mod_xmpp_partners).

-spec commands() -> [ejabberd_commands()].
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
                        module = xmpp_partners_changes,
                        function = partners_add,
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
                        module = xmpp_partners_changes,
                        function = partners_set,
                        args = [{domain, binary}, {key, binary},
                                {value, binary}],
                        args_example = [<<"fabrikam.com">>, <<"tls">>,
                                        <<"optional">>],
                        args_desc = ["Partner domain", "Record key", "Value"],
                        result = {res, restuple}},
     #ejabberd_commands{name = partners_remove, tags = [s2s],
                        desc = "Remove a partner and close its live s2s "
                               "streams (stored)",
                        module = xmpp_partners_changes,
                        function = partners_remove,
                        args = [{domain, binary}],
                        args_example = [<<"fabrikam.com">>],
                        args_desc = ["Partner domain"],
                        result = {res, restuple}},
     #ejabberd_commands{name = partners_reset, tags = [s2s],
                        desc = "Drop the runtime entry or removal of a "
                               "domain: the configuration applies again",
                        module = xmpp_partners_changes,
                        function = partners_reset,
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
                        module = xmpp_partners_monitoring,
                        function = partners_metrics,
                        args = [], result = {metrics, string}}].

with_table(Fun) ->
    case command_host() of
        undefined -> "mod_xmpp_partners is not running on any host";
        Host -> lists:flatten(Fun(Host, table(Host)))
    end.

-spec partners_list() -> string().
partners_list() ->
    with_table(
      fun(Host, T) ->
              Sources = sources(Host),
              Rows = [partner_row(Host, D, Sources) || D <- ?NIF:partners(T)],
              Removed = lists:sort([D || {D, removed}
                                          <- xmpp_partners_store:runtime_rows()]),
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
                            Host -> xmpp_partners_s2s:primary(table(Host), D)
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
    case xmpp_partners_table:build(gen_mod:get_module_opts(Host, ?GEN_MOD)) of
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

-spec partners_reset_backoff(binary()) -> {ok, string()} | {1, string()}.
partners_reset_backoff(Domain) ->
    case domain_arg(Domain) of
        {error, Text} -> {1, lists:flatten(Text)};
        {ok, D} ->
            N = xmpp_partners_backoff:reset(D),
            case N of
                0 -> ok;
                _ -> ?INFO_MSG("Refusal back-off of ~ts ended by an "
                               "administrator", [D])
            end,
            %% the core's text, with the number of origins
            {ok, unicode:characters_to_list(
                   ?NIF:change_text(#{op => reset_backoff, domain => D,
                                      count => N}, undefined))}
    end.


fmt(F, A) -> io_lib:format(F, A).
