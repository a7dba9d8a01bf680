%%% xmpp_partners_export: `ejabberdctl partners_export`, the effective
%%% partner table (partners_file, the partners option and runtime changes)
%%% as a partner file: the same text as Prosody's `partners:export()`, so
%%% one export moves a table between the two servers, or becomes a
%%% partners_file.
%%%
%%% The core writes the text (xmpp_partners_nif:export_text/2), for
%%% Prosody too: a comment, the global options that are set
%%% (xmpp_partners_KEY = VALUE), then xmpp_partners = { ["domain"] = {
%%% key = value; ... }; -- source }, domains sorted, each record's keys in
%%% the documented order, strings quoted the way Lua's %q quotes them.
%%% The records are those of the effective table
%%% (xmpp_partners_changes:export_data/0); a table with errors is not
%%% exported (the core's diagnostics are printed instead).
-module(xmpp_partners_export).

-export([start/0, stop/0, partners_export/0, text/2]).

-include("ejabberd_commands.hrl").

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
%% [{Domain, [{Key, Value}], Source}]: the core's (export_text/2), the
%% same as Prosody's partners:export().
-spec text([{atom(), term()}], [{binary(), [{binary(), term()}], binary()}])
          -> string().
text(Options, Partners) ->
    unicode:characters_to_list(xmpp_partners_nif:export_text(Options,
                                                             Partners)).
