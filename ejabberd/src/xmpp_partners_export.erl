%%% xmpp_partners_export: `ejabberdctl partners_export`, the effective
%%% partner table (partners_file, the partners option and runtime changes)
%%% as a partner file: the same text as Prosody's `partners:export()`
%%% (lua/xmpp_partners_admin.lib.lua, export_text), so one export moves a
%%% table between the two servers, or becomes a partners_file.
%%%
%%% Prosody writes this text in its host layer too (the core has no
%%% exporter); this module follows it line for line: a comment, the
%%% global options that are set (xmpp_partners_KEY = VALUE), then
%%% xmpp_partners = { ["domain"] = { key = value; ... }; -- source }, domains
%%% sorted, each record's keys in the documented order, strings quoted the
%%% way Lua's %q quotes them.  The records are those of the effective
%%% table (xmpp_partners_changes:export_data/0); a table with errors is not
%%% exported (the core's diagnostics are printed instead).
-module(xmpp_partners_export).

-export([start/0, stop/0, partners_export/0, text/2]).

-include("ejabberd_commands.hrl").

%% Prosody's RECORD_KEYS: the order of a record's keys in the export.
-define(RECORD_KEYS, [<<"description">>, <<"type">>, <<"tls">>, <<"sasl">>,
                      <<"dialback">>, <<"additional_domains">>, <<"proxy">>,
                      <<"connection_limit">>, <<"keepalive">>,
                      <<"fingerprints">>]).

-spec start() -> ok.
start() ->
    ejabberd_commands:register_commands(?MODULE, commands()),
    ok.

-spec stop() -> ok.
stop() ->
    ejabberd_commands:unregister_commands(commands()),
    ok.

commands() ->
    [#ejabberd_commands{name = partners_export, tags = [s2s],
                        desc = "The effective partner table as a partner "
                               "file (the text of Prosody's "
                               "partners:export())",
                        longdesc = "partners_file, the partners option and "
                                   "runtime changes merged; each partner "
                                   "with its source as a comment.  Usable as "
                                   "a partners_file or in prosody.cfg.lua.",
                        module = ?MODULE, function = partners_export,
                        args = [], result = {res, restuple}}].

-spec partners_export() -> {ok, string()} | {1, string()}.
partners_export() ->
    case xmpp_partners_changes:export_data() of
        {ok, Options, Partners} -> {ok, text(Options, Partners)};
        {error, Text} -> {1, Text}
    end.

%% The text, from the global options that are set and the records
%% [{Domain, [{Key, Value}], Source}].
-spec text([{atom(), term()}], [{binary(), [{binary(), term()}], binary()}])
          -> string().
text(Options, Partners) ->
    Lines = ["-- xmpp_partners: effective partner table (config plus "
             "runtime changes)"]
        ++ [["xmpp_partners_", atom_to_list(K), " = ", value(V)]
            || {K, V} <- Options]
        ++ ["xmpp_partners = {"]
        ++ [["\t[", quote(D), "] = ", record(R), "; -- ", Src]
            || {D, R, Src} <- lists:keysort(1, Partners)]
        ++ ["}"],
    %% quote/1 writes UTF-8 bytes: decode the whole text once
    unicode:characters_to_list(iolist_to_binary(lists:join("\n", Lines))).

%% A record on one line: the known keys in order, then any other key
%% sorted (the core refused unknown keys already; kept for fidelity).
record(R) ->
    Known = [[K, " = ", value(V)] || K <- ?RECORD_KEYS,
                                     {_, V} <- [lists:keyfind(K, 1, R)],
                                     V /= undefined],
    Other = [[key(K), " = ", value(V)]
             || {K, V} <- lists:keysort(1, R),
                not lists:member(K, ?RECORD_KEYS)],
    case Known ++ Other of
        [] -> "{}";
        Parts -> ["{ ", lists:join("; ", Parts), " }"]
    end.

key(K) ->
    case re:run(K, "^[A-Za-z_][A-Za-z0-9_]*$") of
        {match, _} -> K;
        nomatch -> ["[", quote(K), "]"]
    end.

value(true) -> "true";
value(false) -> "false";
value(I) when is_integer(I) -> integer_to_list(I);
value(F) when is_float(F) -> io_lib:format("~p", [F]);
value(A) when is_atom(A) -> quote(atom_to_binary(A, utf8));
value(B) when is_binary(B) -> quote(B);
value([]) -> "{}";
value(L) when is_list(L) ->
    case io_lib:printable_unicode_list(L) of
        true -> quote(unicode:characters_to_binary(L));
        false -> ["{ ", lists:join(", ", [value(X) || X <- L]), " }"]
    end;
value(Other) -> quote(iolist_to_binary(io_lib:format("~p", [Other]))).

%% Lua's string.format("%q", S): double quotes; backslash, quote and
%% newline escaped with a backslash, carriage return as \r, NUL and other
%% control characters as decimal escapes (three digits when a digit
%% follows).
quote(B) when is_binary(B) ->
    ["\"", q(B), "\""].

q(<<>>) -> [];
q(<<$", R/binary>>) -> ["\\\"" | q(R)];
q(<<$\\, R/binary>>) -> ["\\\\" | q(R)];
q(<<$\n, R/binary>>) -> ["\\\n" | q(R)];
q(<<$\r, R/binary>>) -> ["\\r" | q(R)];
q(<<C, R/binary>>) when C < 32; C == 127 ->
    Esc = case R of
              <<D, _/binary>> when D >= $0, D =< $9 ->
                  io_lib:format("\\~3..0B", [C]);
              _ -> io_lib:format("\\~B", [C])
          end,
    [Esc | q(R)];
q(<<C, R/binary>>) -> [C | q(R)].
