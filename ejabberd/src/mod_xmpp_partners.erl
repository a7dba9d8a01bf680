%%% mod_xmpp_partners: per-partner federation policy for ejabberd.
%%%
%%% The policy core (C, through the NIF xmpp_partners_nif) decides
%%% everything: which remote domains may federate, what a partner's streams
%%% must use (TLS, SASL EXTERNAL, dialback), contact policy and refusal texts.
%%% This module only puts the core's verdicts on ejabberd's s2s, roster and
%%% routing hooks; README-ejabberd.md lists which rules ejabberd lets us
%%% apply before the fact and which only by closing the stream afterwards.
%%%
%%% This module is the gen_mod: options, start/stop and the hooks and
%%% commands it registers.  The work is split by concern, the way ejabberd
%%% splits mod_muc_* and mod_antispam_*:
%%%   xmpp_partners_table       the table in force per host, its sources
%%%   xmpp_partners_store       runtime changes in Mnesia, rebuilds
%%%   xmpp_partners_runtime     the process applying other nodes' changes
%%%   xmpp_partners_s2s         s2s hooks, live streams, pins, keepalives
%%%   xmpp_partners_refusals    refusal logging, xmpp_stream_in/out refusals
%%%   xmpp_partners_contact     message and subscription policy
%%%   xmpp_partners_commands    ejabberdctl commands, the read-only ones
%%%   xmpp_partners_changes     partners_add/set/remove/reset, ad-hoc, export
%%%   xmpp_partners_monitoring  metrics, the WebAdmin status data
%%%   xmpp_partners_ets         the one process owning the ETS tables
%%%   (xmpp_partners_sessions, _pending and _backoff use those tables)
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
%% hooks: ejabberd runs handlers of one priority in the order of their
%% module's name, so the hooks stay registered on this module (where they
%% always were) and delegate to the module of their concern
-export([allow_host/3, in_auth_result/3, in_packet/2, out_init/2,
         out_auth_result/2, receive_packet/1, send_packet/1,
         in_subscription/2, in_subscription_approve/2, in_init/2,
         config_reloaded/0]).

-include("xmpp.hrl").
-include("logger.hrl").

-define(NIF, xmpp_partners_nif).

-spec start(binary(), gen_mod:opts()) -> ok.
start(Host, Opts) ->
    %% xmpp_stream_in/out ask erlang:function_exported/3 before each
    %% callback, which is false for a module not loaded yet: load the
    %% wrappers now.
    {module, _} = code:ensure_loaded(xmpp_partners_s2s_out),
    {module, _} = code:ensure_loaded(xmpp_partners_s2s_in),
    Runtime = xmpp_partners_store:init_runtime(),
    %% the ETS tables of the live streams, pending streams and back-off
    ok = xmpp_partners_ets:start(Host, Opts),
    xmpp_partners_store:start_runtime_sync(Host, Opts),
    %% persistent_term outlives a module restart: rows recorded before it
    %% say nothing of the table about to be built
    xmpp_partners_store:forget_installed(),
    case Runtime of
        ok ->
            xmpp_partners_table:install(
              Host, xmpp_partners_table:load_table(Host, Opts, "loaded"));
        {error, Why} ->
            %% Without every runtime row a removal could be missing and
            %% re-admit the removed partner: closed.  No file key: the
            %% rebuilds skip this host until the module starts again.
            ?ERROR_MSG("Partner table for ~ts: ~ts; refusing all "
                       "server-to-server traffic until the module is "
                       "restarted with the table loaded (ejabberdctl "
                       "restart_module ~ts mod_xmpp_partners, or restart "
                       "ejabberd)", [Host, Why, Host]),
            xmpp_partners_table:install(Host, ?NIF:closed())
    end,
    lists:foreach(fun({Hook, Fun, Seq}) ->
                          ejabberd_hooks:add(Hook, Host, ?MODULE, Fun, Seq)
                  end, hooks()),
    lists:foreach(fun({Hook, Fun, Seq}) ->
                          ejabberd_hooks:add(Hook, ?MODULE, Fun, Seq)
                  end, global_hooks()),
    ejabberd_commands:register_commands(?MODULE,
                                        xmpp_partners_commands:commands()),
    ok = xmpp_partners_export:start(),
    ok = xmpp_partners_adhoc:start(Host),
    ok = xmpp_partners_webadmin:start(),
    xmpp_partners_s2s:adopt_existing(Host),
    start_sync(),
    ok.

%% The table above was built from the rows read then; a change another
%% node made meanwhile may have been installed by xmpp_partners_runtime's
%% process before it: rebuild from the newest rows (through that process,
%% the one that installs runtime changes; directly when it is not running).
start_sync() ->
    case whereis(xmpp_partners_runtime) of
        undefined -> xmpp_partners_store:runtime_changed(true);
        _ -> xmpp_partners_runtime:sync()
    end,
    ok.

-spec stop(binary()) -> ok.
stop(Host) ->
    %% first: a rebuild running now (xmpp_partners_runtime) skips this host
    xmpp_partners_table:forget_file(Host),
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
            ejabberd_commands:unregister_commands(
              xmpp_partners_commands:commands()),
            xmpp_partners_runtime:stop(),
            ok = xmpp_partners_export:stop(),
            xmpp_partners_webadmin:stop();
        true -> ok
    end,
    xmpp_partners_table:forget(Host),
    xmpp_partners_store:forget_installed(),
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
              case xmpp_partners_table:read_file(Opts) of
                  {error, Text} ->
                      ?ERROR_MSG("Partner table for ~ts: ~ts; keeping the "
                                 "previous policy", [Host, Text]);
                  {ok, File} ->
                      case xmpp_partners_table:build_effective(
                             Opts, File, xmpp_partners_store:runtime_rows()) of
                          {ok, Table, Warnings, Sources} ->
                              xmpp_partners_table:log_diagnostics(Host,
                                                                  Warnings),
                              xmpp_partners_table:put_file(Host, File),
                              xmpp_partners_table:install(Host, Table, Sources),
                              ?INFO_MSG("Partner policy reloaded for ~ts: ~B "
                                        "partners",
                                        [Host, maps:get(count, ?NIF:info(Table))]);
                          {error, Diags} ->
                              xmpp_partners_table:log_diagnostics(Host, Diags),
                              ?ERROR_MSG("Partner table for ~ts has errors: "
                                         "keeping the previous policy", [Host])
                      end
              end
      end, xmpp_partners_table:loaded_hosts()),
    xmpp_partners_s2s:enforce_existing().

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

%% The hooks' handlers: xmpp_partners_s2s (streams), xmpp_partners_contact
%% (stanzas and subscriptions).
-spec allow_host(allow | deny, binary(), binary()) -> allow | deny | {stop, deny}.
allow_host(Acc, MyHost, RemoteHost) ->
    xmpp_partners_s2s:allow_host(Acc, MyHost, RemoteHost).

-spec in_auth_result(map(), boolean(), binary()) -> map() | {stop, map()}.
in_auth_result(State, Ok, RServer) ->
    xmpp_partners_s2s:in_auth_result(State, Ok, RServer).

-spec in_packet(map(), term()) -> map() | {stop, map()}.
in_packet(State, Pkt) ->
    xmpp_partners_s2s:in_packet(State, Pkt).

-spec out_init({ok, map()} | term(), list()) -> {ok, map()} | term().
out_init(Acc, Opts) ->
    xmpp_partners_s2s:out_init(Acc, Opts).

-spec out_auth_result(map(), true | {false, term()}) -> map() | {stop, map()}.
out_auth_result(State, Result) ->
    xmpp_partners_s2s:out_auth_result(State, Result).

-spec in_init({ok, map()} | term(), list()) -> {ok, map()} | term().
in_init(Acc, Opts) ->
    xmpp_partners_s2s:in_init(Acc, Opts).

-spec receive_packet({stanza(), map()}) -> {stanza() | drop, map()}.
receive_packet(Acc) ->
    xmpp_partners_contact:receive_packet(Acc).

-spec send_packet(T) -> T.
send_packet(Pkt) ->
    xmpp_partners_contact:send_packet(Pkt).

-spec in_subscription(boolean(), presence()) -> boolean() | {stop, false}.
in_subscription(Acc, Pres) ->
    xmpp_partners_contact:in_subscription(Acc, Pres).

-spec in_subscription_approve(boolean(), presence()) -> boolean() | {stop, false}.
in_subscription_approve(Acc, Pres) ->
    xmpp_partners_contact:in_subscription_approve(Acc, Pres).

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
            case ?NIF:build(Partners,
                            xmpp_partners_table:file_options(Options)) of
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
