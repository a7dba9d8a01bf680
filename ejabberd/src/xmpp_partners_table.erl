%%% xmpp_partners_table: the partner table in force on each local host,
%%% built by the core from the sources (partners_file, the partners option,
%%% the runtime rows of xmpp_partners_store) and kept in persistent_term
%%% for the hooks to read without a process in between.
-module(xmpp_partners_table).

-export([build/1, read_file/1, file_options/1, build_effective/3,
         load_table/3, install/2, install/3]).
%% the table in force, and what it was built from
-export([table/1, loaded_table/1, loaded_hosts/0, command_host/0,
         sources/1, file/1, put_file/2, forget_file/1, forget/1]).
%% the sources' parts, shared with the runtime changes
-export([pairs/1, key_bin/1, norm/1, merge/4, proplists_or_map/2,
         log_diagnostics/2, diag_text/1]).

%% a partner file as evaluated: {Partners, Options}
-type file() :: {[{term(), term()}], [{atom(), term()}]}.
-export_type([file/0]).

-include("logger.hrl").

-define(NIF, xmpp_partners_nif).
%% the gen_mod: its options, and the persistent_term keys it clears at stop
-define(GEN_MOD, mod_xmpp_partners).

%% The effective partner table, from lowest to highest precedence:
%%   1. partners_file (the shared Lua file), then
%%   2. the partners option (same domain: the option's record wins), then
%%   3. runtime changes (partners_add/set/remove, stored in Mnesia): a
%%      runtime record replaces the record of the same domain, a runtime
%%      removal hides it.
%% Global options: the module option when set, else the file's
%% xmpp_partners_* value, else the core's default.
-spec build(gen_mod:opts()) ->
          {ok, xmpp_partners_nif:table(), [xmpp_partners_nif:diagnostic()]}
          | {error, [xmpp_partners_nif:diagnostic()]}.
build(Opts) ->
    case read_file(Opts) of
        {ok, File} ->
            case build_effective(Opts, File,
                                 xmpp_partners_store:runtime_rows()) of
                {ok, T, W, _Sources} -> {ok, T, W};
                Error -> Error
            end;
        {error, Text} ->
            {error, [#{severity => error, message => Text, partner => undefined,
                       key => <<"partners_file">>, row => undefined,
                       suggestion => undefined}]}
    end.

-spec proplists_or_map(atom(), gen_mod:opts() | map() | list()) -> term().
proplists_or_map(K, Opts) when is_map(Opts) -> maps:get(K, Opts, undefined);
proplists_or_map(K, Opts) -> proplists:get_value(K, Opts).

%% {ok, {FilePartners, FileOptions}} | {error, Text}
-spec read_file(gen_mod:opts()) -> {ok, file()} | {error, binary()}.
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

-spec file_options([{atom(), term()}]) -> [{atom(), term()}].
file_options(Options) ->
    [{K, case V of
             B when is_binary(B), K == default -> binary_to_atom(B, utf8);
             _ -> V
         end} || {K, V} <- Options].

%% -> {ok, Table, Warnings, Sources} | {error, Diags}
-spec build_effective(gen_mod:opts(), file(), [{binary(), term()}]) ->
          {ok, xmpp_partners_nif:table(), [xmpp_partners_nif:diagnostic()],
           #{binary() => binary()}}
          | {error, [xmpp_partners_nif:diagnostic()]}.
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

-spec pairs(term()) -> [{term(), term()}].
pairs(M) when is_map(M) -> maps:to_list(M);
pairs(L) when is_list(L) -> L;
pairs(_) -> [].

-spec key_bin(term()) -> binary().
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
-spec norm(term()) -> binary().
norm(K) ->
    B = key_bin(K),
    case ?NIF:normalize(B) of
        {ok, N} -> N;
        _ -> B
    end.

%% The core lays the sources over each other (xp_overlay: file < config <
%% runtime, by normalised domain, removals hiding file and config records)
%% -> {[{Key, Record}], #{NormDomain => Source}}
-spec merge(term(), [{term(), term()}], [{binary(), term()}],
            binary() | undefined) ->
          {[{term(), term()}], #{binary() => binary()}}.
merge(FileP, ConfP, Rows, FilePath) ->
    {Merged, Sources, _Hidden} =
        ?NIF:overlay(pairs(FileP), ConfP,
                     [{D, R} || {D, {partner, R}} <- lists:sort(Rows)],
                     [D || {D, removed} <- Rows], FilePath),
    {Merged, Sources}.

-spec load_table(binary(), gen_mod:opts(), string()) ->
          xmpp_partners_nif:table().
load_table(Host, Opts, Why) ->
    File = case read_file(Opts) of
               {ok, F} -> F;
               {error, Text} ->
                   ?ERROR_MSG("Partner table for ~ts: ~ts", [Host, Text]),
                   error
           end,
    Result = case File of
                 error -> {error, []};
                 _ -> build_effective(Opts, File,
                                      xmpp_partners_store:runtime_rows())
             end,
    case Result of
        {ok, Table, Warnings, Sources} ->
            put_file(Host, File),
            persistent_term:put({?GEN_MOD, Host, sources}, Sources),
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
-spec install(binary(), xmpp_partners_nif:table()) -> ok.
install(Host, Table) ->
    persistent_term:put({?GEN_MOD, Host}, Table),
    xmpp_partners_backoff:set_max(maps:get(refusal_backoff,
                                           ?NIF:info(Table), 300)),
    xmpp_partners_backoff:clear("the partner table changed"),
    ok.

-spec install(binary(), xmpp_partners_nif:table(),
              #{binary() => binary()}) -> ok.
install(Host, Table, Sources) ->
    persistent_term:put({?GEN_MOD, Host, sources}, Sources),
    install(Host, Table).

%% The table for a local host; a closed one when the module is not running
%% there (a hook that outlives stop/1 must not open anything).
-spec table(binary()) -> xmpp_partners_nif:table().
table(Host) ->
    case persistent_term:get({?GEN_MOD, Host}, undefined) of
        undefined -> ?NIF:closed();
        T -> T
    end.

%% The table, or undefined when the module does not run on Host (the
%% stream callback modules then leave ejabberd's own answers alone).
-spec loaded_table(binary()) -> xmpp_partners_nif:table() | undefined.
loaded_table(Host) ->
    persistent_term:get({?GEN_MOD, Host}, undefined).

%% The local hosts running the module.
-spec loaded_hosts() -> [binary()].
loaded_hosts() ->
    [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, ?GEN_MOD)].

%% The source of each partner (normalised domain => label) of Host's table.
-spec sources(binary()) -> #{binary() => binary()}.
sources(Host) ->
    persistent_term:get({?GEN_MOD, Host, sources}, #{}).

%% The partner file Host's table was last built from; undefined when the
%% module does not run there (or stop/1 has begun: the rebuilds of
%% xmpp_partners_store skip such a host).
-spec file(binary()) -> file() | undefined.
file(Host) ->
    persistent_term:get({?GEN_MOD, Host, file}, undefined).

-spec put_file(binary(), file()) -> ok.
put_file(Host, File) ->
    persistent_term:put({?GEN_MOD, Host, file}, File).

-spec forget_file(binary()) -> ok.
forget_file(Host) ->
    _ = persistent_term:erase({?GEN_MOD, Host, file}),
    ok.

%% The module stopped on Host: its table and sources go.
-spec forget(binary()) -> ok.
forget(Host) ->
    _ = persistent_term:erase({?GEN_MOD, Host}),
    _ = persistent_term:erase({?GEN_MOD, Host, sources}),
    ok.

-spec log_diagnostics(binary(), [xmpp_partners_nif:diagnostic()]) -> ok.
log_diagnostics(Host, Diags) ->
    lists:foreach(
      fun(#{severity := error, message := M}) ->
              ?ERROR_MSG("Partner table for ~ts: ~ts", [Host, M]);
         (#{message := M}) ->
              ?WARNING_MSG("Partner table for ~ts: ~ts", [Host, M])
      end, Diags).

%% The one line every host prints for a diagnostic (the core's).
-spec diag_text(xmpp_partners_nif:diagnostic()) -> string().
diag_text(D) ->
    unicode:characters_to_list(?NIF:diag_line(D)).

%% The commands show the first local host running the module (the
%% partner table is normally the same on every host).
-spec command_host() -> binary() | undefined.
command_host() ->
    case loaded_hosts() of
        [H | _] -> H;
        [] -> undefined
    end.
