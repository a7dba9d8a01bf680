%%% xmpp_partners_changes: the runtime changes an administrator makes
%%% (ejabberdctl partners_add/set/remove/reset, the ad-hoc commands of
%%% xmpp_partners_adhoc) and the effective table for partners_export:
%%% checked by the core on every host, stored (xmpp_partners_store) only
%%% when all build, applied on every node of the cluster.  Their result
%%% and refusal texts are the core's (change_text/2, change_refused/3),
%%% the same words as the Prosody shell's in ejabberd's command names.
-module(xmpp_partners_changes).

%% commands
-export([partners_add/2, partners_set/3, partners_remove/1,
         partners_reset/1]).
%% for xmpp_partners_adhoc and xmpp_partners_export
-export([adhoc_add/2, adhoc_replace/2, adhoc_remove/1, adhoc_list/0,
         export_data/0]).
%% for xmpp_partners_commands
-export([domain_arg/1, value_text/1]).

-include("logger.hrl").
%% the sources' parts (xmpp_partners_table)
-import(xmpp_partners_table, [build_effective/3, merge/4, key_bin/1, norm/1,
                              pairs/1, proplists_or_map/2, diag_text/1]).
-import(xmpp_partners_store, [runtime_rows/0]).

-define(NIF, xmpp_partners_nif).
-define(GEN_MOD, mod_xmpp_partners).

%% Build every host's table with the runtime rows Rows, computed by the
%% caller from Base (the rows it read: only the domains that differ are
%% stored, see store_runtime/2); only when all build
%% are the rows stored and the tables installed (then the streams they no
%% longer allow are closed).  Otherwise nothing changes.  In a cluster the
%% other running nodes have committed the rows when they are stored, and
%% have rebuilt and closed their streams when this returns (or do so on
%% their Mnesia event: xmpp_partners_runtime).  Change is the core's
%% description of the change (for its refusal texts), What the same in
%% words for the log and the cluster's problems.
%% -> {ok, Warnings} | {error, Text}
apply_change(Base, Rows, Change, What) ->
    Hosts = xmpp_partners_table:loaded_hosts(),
    Builds = [{H, build_effective(gen_mod:get_module_opts(H, ?GEN_MOD),
                                  file(H), Rows)}
              || H <- Hosts],
    case [D || {_, {error, D}} <- Builds] of
        [Diags | _] ->
            {error, text(?NIF:change_refused(Change, invalid, Diags))};
        [] when Hosts == [] ->
            {error, "mod_xmpp_partners is not running on any host"};
        [] ->
            case xmpp_partners_store:store_runtime(Base, Rows) of
                {error, Why} ->
                    {error, text(?NIF:change_refused(
                                   Change, store,
                                   unicode:characters_to_binary(Why)))};
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
                                   [xmpp_partners_table:install(H, T, Sources)
                                    || {H, {ok, T, _, Sources}} <- Builds],
                                   xmpp_partners_s2s:enforce_existing(),
                                   []
                           end,
                    case [node_problem(N, Why)
                          || {N, Why} <- Here ++
                                 xmpp_partners_runtime:sync_others()] of
                        [] ->
                            {ok, unicode:characters_to_binary(
                                   lists:join("\n", Warnings))};
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

%% A change applied: the core's result line, then the build's warnings.
done(Change, Warnings) ->
    {ok, text(?NIF:change_text(Change, Warnings))}.

refuse(Change, Why) ->
    {error, text(?NIF:change_refused(Change, Why, undefined))}.

text(Bin) ->
    unicode:characters_to_list(Bin).

%% -> {ok, Normalized} | {error, Text}
-spec domain_arg(binary()) -> {ok, binary()} | {error, string()}.
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
    Opts = gen_mod:get_module_opts(Host, ?GEN_MOD),
    {FileP, _} = file(Host),
    %% the sources laid over each other by the core, as for the table
    {Merged, _} = merge(FileP, pairs(proplists_or_map(partners, Opts)),
                        runtime_rows(), undefined),
    case [{K, R} || {K, R} <- Merged, norm(K) == D] of
        [KR | _] -> KR;
        [] -> undefined
    end.

configured(Host, D) ->
    Opts = gen_mod:get_module_opts(Host, ?GEN_MOD),
    {FileP, _} = file(Host),
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

%% A value as the commands print it.
-spec value_text(term()) -> io_lib:chars().
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
                               C = #{op => add, domain => D},
                               case effective_record(Host, D) of
                                   {_, _} -> refuse(C, exists);
                                   undefined ->
                                       Rows = set_rows(Base = runtime_rows(), D,
                                                       {partner, R}),
                                       What = io_lib:format("adding ~ts", [D]),
                                       case apply_change(Base, Rows, C, What) of
                                           {ok, W} -> done(C, W);
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
                               C = #{op => set, domain => D, key => Key,
                                     value => V},
                               case effective_record(Host, D) of
                                   undefined -> not_partner(Host, C);
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
                                       case apply_change(Base, Rows, C, What) of
                                           {ok, W} -> done(C, W);
                                           E -> E
                                       end
                               end
                       end)
      end).

%% The change C names a domain that is no partner: an additional domain
%% of one, or none at all.
not_partner(Host, #{domain := D} = C) ->
    case ?NIF:resolve(xmpp_partners_table:table(Host), D) of
        {ok, P} when P /= D, P /= <<"*">> ->
            {error, text(?NIF:change_refused(C, additional, P))};
        _ -> refuse(C, not_partner)
    end.

-spec partners_remove(binary()) -> {ok, string()} | {1, string()}.
partners_remove(Domain) ->
    cli_result(do_partners_remove(Domain)).

do_partners_remove(Domain) ->
    with_host(
      fun(Host) ->
              maybe_do([fun() -> domain_arg(Domain) end],
                       fun([D]) ->
                               C = #{op => remove, domain => D},
                               case effective_record(Host, D) of
                                   undefined -> refuse(C, not_partner);
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
                                       case apply_change(Base, Rows, C, What) of
                                           %% the configured entry stays
                                           %% hidden until partners_reset D
                                           {ok, _} when Conf ->
                                               done(C#{hidden => D}, undefined);
                                           {ok, _} -> done(C, undefined);
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
                               C = #{op => reset, domain => D},
                               Base = Rows0 = runtime_rows(),
                               Rows = [R || {K, _} = R <- Rows0, norm(K) /= D],
                               case length(Rows) == length(Rows0) of
                                   true -> refuse(C, nothing);
                                   false ->
                                       What = io_lib:format("resetting ~ts", [D]),
                                       case apply_change(Base, Rows, C, What) of
                                           {ok, _} -> done(C, undefined);
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
    case xmpp_partners_table:command_host() of
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

%% The partner list as partners_list prints it.
-spec adhoc_list() -> string().
adhoc_list() ->
    xmpp_partners_commands:partners_list().

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
                      C = #{op => add, domain => D},
                      case effective_record(Host, D) of
                          {_, _} -> refuse(C, exists);
                          undefined ->
                              runtime_record(D, Record, C,
                                             io_lib:format("adding ~ts", [D]))
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
                          undefined ->
                              not_partner(Host, #{op => edit, domain => D});
                          {K, _} ->
                              runtime_record(key_bin(K), Record,
                                             #{op => edit,
                                               domain => key_bin(K)},
                                             io_lib:format("editing ~ts", [D]))
                      end
              end
      end).

runtime_record(Key, Record, Change, What) ->
    Rows = set_rows(Base = runtime_rows(), Key, {partner, Record}),
    case apply_change(Base, Rows, Change, What) of
        {ok, W} -> done(Change, W);
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
              Opts = gen_mod:get_module_opts(Host, ?GEN_MOD),
              {FileP, FileO} = file(Host),
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

fmt(F, A) -> io_lib:format(F, A).

%% The partner file Host's table was built from (none when it has none).
file(Host) ->
    case xmpp_partners_table:file(Host) of
        undefined -> {[], []};
        File -> File
    end.
