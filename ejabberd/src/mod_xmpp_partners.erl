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
         in_subscription/2, in_subscription_approve/2]).
%% commands
-export([partners_list/0, partners_show/1, partners_check/0,
         partners_explain/1]).
%% for tests and other modules
-export([table/1, build/1]).

-include("xmpp.hrl").
-include("logger.hrl").
-include("ejabberd_commands.hrl").

-define(NIF, xmpp_partners_nif).

%%% ---- gen_mod ----------------------------------------------------------------

start(Host, Opts) ->
    %% xmpp_stream_out asks erlang:function_exported/3 before each callback,
    %% which is false for a module not loaded yet: load the wrapper now.
    {module, _} = code:ensure_loaded(xmpp_partners_s2s_out),
    install(Host, load_table(Host, Opts, "loaded")),
    lists:foreach(fun({Hook, Fun, Seq}) ->
                          ejabberd_hooks:add(Hook, Host, ?MODULE, Fun, Seq)
                  end, hooks()),
    ejabberd_commands:register_commands(?MODULE, commands()),
    ok.

stop(Host) ->
    lists:foreach(fun({Hook, Fun, Seq}) ->
                          ejabberd_hooks:delete(Hook, Host, ?MODULE, Fun, Seq)
                  end, hooks()),
    case gen_mod:is_loaded_elsewhere(Host, ?MODULE) of
        false -> ejabberd_commands:unregister_commands(commands());
        true -> ok
    end,
    persistent_term:erase({?MODULE, Host}),
    ok.

%% A new table replaces the old one only when it builds: config validation
%% already refuses bad input, so this guards against what it cannot see.
reload(Host, NewOpts, _OldOpts) ->
    case build(NewOpts) of
        {ok, Table, Warnings} ->
            log_diagnostics(Host, Warnings),
            install(Host, Table),
            ?INFO_MSG("Partner policy reloaded for ~ts: ~B partners",
                      [Host, maps:get(count, ?NIF:info(Table))]);
        {error, Diags} ->
            log_diagnostics(Host, Diags),
            ?ERROR_MSG("Partner table for ~ts has errors: keeping the "
                       "previous policy", [Host])
    end,
    ok.

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

mod_opt_type(partners) ->
    econf:and_then(econf:any(), fun check_partners/1);
mod_opt_type(default) ->
    econf:enum([deny, allow]);
mod_opt_type(keepalive_interval) ->
    econf:pos_int();
mod_opt_type(connection_limit) ->
    econf:pos_int().

mod_options(_Host) ->
    [{partners, []},
     {default, deny},
     {keepalive_interval, 300},
     {connection_limit, 1000}].

mod_doc() ->
    #{desc => ["Per-partner XMPP federation policy (allow list, TLS, "
               "SASL EXTERNAL and dialback per partner, contact policy), "
               "decided by the xmpp-partners policy core."]}.

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
            econf:fail(lists:flatten(lists:join("; ", Texts)))
    end.

%%% ---- the table in force ----------------------------------------------------

build(Opts) ->
    Get = fun(K) -> proplists_or_map(K, Opts) end,
    ?NIF:build(Get(partners),
               [{default, Get(default)},
                {keepalive_interval, Get(keepalive_interval)},
                {connection_limit, Get(connection_limit)}]).

proplists_or_map(K, Opts) when is_map(Opts) -> maps:get(K, Opts);
proplists_or_map(K, Opts) -> proplists:get_value(K, Opts).

load_table(Host, Opts, Why) ->
    case build(Opts) of
        {ok, Table, Warnings} ->
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

install(Host, Table) ->
    persistent_term:put({?MODULE, Host}, Table).

%% The table for a local host; a closed one when the module is not running
%% there (a hook that outlives stop/1 must not open anything).
table(Host) ->
    case persistent_term:get({?MODULE, Host}, undefined) of
        undefined -> ?NIF:closed();
        T -> T
    end.

log_diagnostics(Host, Diags) ->
    lists:foreach(
      fun(#{severity := error, message := M}) ->
              ?ERROR_MSG("Partner table for ~ts: ~ts", [Host, M]);
         (#{message := M}) ->
              ?WARNING_MSG("Partner table for ~ts: ~ts", [Host, M])
      end, Diags).

refused(Dir, Domain, Token) ->
    Line = ?NIF:refusal(Dir, Domain, Token),
    ?INFO_MSG("~ts", [Line]),
    Line.

policy_violation(Text) ->
    xmpp:serr_policy_violation(Text, <<"en">>).

%%% ---- the allow list ----------------------------------------------------------

%% Runs for outbound connections (in the routing process), inbound
%% authentication and dialback checks (in the s2s_in process); which one is
%% only for the log line.
allow_host(Acc, MyHost, RemoteHost) ->
    case ?NIF:resolve(table(MyHost), RemoteHost) of
        {ok, _} -> Acc;
        {error, Token, _Text} ->
            refused(direction_of_process(), RemoteHost, Token),
            {stop, deny}
    end.

direction_of_process() ->
    case get('$initial_call') of
        {xmpp_stream_in, _, _} -> incoming;
        _ -> outgoing
    end.

%%% ---- incoming streams -----------------------------------------------------------

%% Runs before <success/> (SASL) or the dialback verdict is sent, once per
%% authenticated domain (piggybacked dialback domains included).
in_auth_result(#{server_host := Host} = State, true, RServer) ->
    Enc = maps:get(stream_encrypted, State, false),
    {Method, Chain, Id} = case maps:get(sasl_mech, State, undefined) of
                              %% xmpp_stream_pkix has verified the chain
                              %% and identity before EXTERNAL succeeds
                              <<"EXTERNAL">> -> {'EXTERNAL', valid, valid};
                              _ -> {dialback, undefined, undefined}
                          end,
    case ?NIF:auth(table(Host), RServer, incoming, Method, Enc, Chain, Id,
                   false) of
        true -> State;
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

%% <db:result/> requests, judged for the domain they name before
%% mod_s2s_dialback (50) acts on them.  The first domain of a stream closes
%% it; a further (piggybacked) domain is refused alone.
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
out_auth_result(#{server_host := Host, remote_server := RServer} = State,
                true) ->
    Enc = maps:get(stream_encrypted, State, false),
    {Method, Chain, Id} = case maps:get(sasl_mech, State, undefined) of
                              <<"EXTERNAL">> -> {'EXTERNAL', valid, valid};
                              _ -> {dialback, undefined, undefined}
                          end,
    case ?NIF:auth(table(Host), RServer, outgoing, Method, Enc, Chain, Id,
                   false) of
        true -> State;
        {false, Token, Text} ->
            refused(outgoing, RServer, Token),
            {stop, ejabberd_s2s_out:send(State, policy_violation(Text))}
    end;
out_auth_result(State, _) ->
    State.

%% Presence to partner users: status text only for federated partners.
send_packet(#presence{type = available, status = [_ | _],
                      from = From, to = To} = Pkt) ->
    case ?NIF:strip_status(table(From#jid.lserver), To#jid.lserver) of
        true -> Pkt#presence{status = []};
        false -> Pkt
    end;
send_packet(Pkt) ->
    Pkt.

%%% ---- contact policy ----------------------------------------------------------------

in_roster(LUser, LServer, From) ->
    {Sub, Ask, _} = roster_info(LUser, LServer, From),
    Sub /= none orelse Ask /= none.

roster_info(LUser, LServer, From) ->
    ejabberd_hooks:run_fold(roster_get_jid_info, LServer, {none, none, []},
                            [LUser, LServer, jid:remove_resource(From)]).

remote_subscribe(#presence{type = subscribe, from = #jid{lserver = RServer},
                           to = #jid{lserver = LServer}}) ->
    not ejabberd_router:is_my_host(RServer) andalso
        gen_mod:is_loaded(LServer, ?MODULE);
remote_subscribe(_) ->
    false.

subscribe_action(#presence{from = From, to = #jid{luser = U, lserver = S}}) ->
    {Sub, Ask, _} = roster_info(U, S, From),
    InRoster = Sub /= none orelse Ask /= none,
    SubFrom = Sub == from orelse Sub == both,
    %% The blocklist (XEP-0191) was applied by ejabberd_sm before this hook.
    ?NIF:subscribe(table(S), From#jid.lserver, InRoster, SubFrom, false).

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

in_subscription_approve(Acc, #presence{from = From, to = To} = Pres) ->
    case remote_subscribe(Pres) andalso subscribe_action(Pres) of
        approve ->
            Reply = #presence{type = subscribed,
                              from = jid:remove_resource(To),
                              to = jid:remove_resource(From)},
            ejabberd_hooks:run(roster_out_subscription, To#jid.lserver,
                               [Reply]),
            ejabberd_router:route(Reply),
            Acc;
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
                        args = [], result = {check, string}},
     #ejabberd_commands{name = partners_explain, tags = [s2s],
                        desc = "Explain the policy for a remote domain",
                        module = ?MODULE, function = partners_explain,
                        args = [{domain, binary}],
                        args_example = [<<"fabrikam.com">>],
                        args_desc = ["Remote domain"],
                        result = {explanation, string}}].

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

partners_list() ->
    with_table(
      fun(Host, T) ->
              Rows = [partner_row(Host, T, D) || D <- ?NIF:partners(T)],
              Info = ?NIF:info(T),
              [fmt("~-30s ~-18s ~-13s ~-13s ~-8s ~-6s ~s~n",
                   ["domain", "type", "tls", "sasl", "dialback", "out", "additional"]),
               Rows,
               fmt("(~B partners; unlisted domains: ~s)",
                   [maps:get(count, Info), maps:get(default, Info)])]
      end).

partner_row(Host, T, D) ->
    {ok, P} = ?NIF:lookup(T, D),
    Out = length(ejabberd_s2s:get_connections_pids({Host, D})),
    fmt("~-30ts ~-18s ~-13s ~-13s ~-8s ~-6B ~ts~n",
        [D, maps:get(type, P), maps:get(tls, P), maps:get(sasl, P),
         maps:get(dialback, P), Out,
         lists:join(",", maps:get(additional_domains, P))]).

partners_show(Domain) ->
    with_table(
      fun(_Host, T) ->
              case ?NIF:lookup(T, Domain) of
                  {error, _Token, Text} ->
                      fmt("~ts: ~ts", [Domain, Text]);
                  {ok, P} ->
                      [fmt("~s: ~tp~n", [K, V])
                       || {K, V} <- lists:sort(maps:to_list(P))]
              end
      end).

partners_check() ->
    with_table(
      fun(Host, _T) ->
              case build(gen_mod:get_module_opts(Host, ?MODULE)) of
                  {ok, T, []} ->
                      fmt("ok: ~B partners, no warnings",
                          [maps:get(count, ?NIF:info(T))]);
                  {ok, T, Warnings} ->
                      [fmt("ok: ~B partners, ~B warnings~n",
                           [maps:get(count, ?NIF:info(T)), length(Warnings)]),
                       [diag_line(D) || D <- Warnings]];
                  {error, Diags} ->
                      ["errors (the table is refused):\n",
                       [diag_line(D) || D <- Diags]]
              end
      end).

diag_line(#{severity := S, message := M, row := Row}) ->
    case Row of
        undefined -> fmt("~s: ~ts~n", [S, M]);
        _ -> fmt("~s (matrix row ~B): ~ts~n", [S, Row, M])
    end.

partners_explain(Domain) ->
    with_table(fun(_Host, T) -> explain(T, Domain) end).

explain(T, Domain) ->
    case ?NIF:resolve(T, Domain) of
        {error, _Token, Text} ->
            fmt("~ts: refused in both directions: ~ts", [Domain, Text]);
        {ok, Primary} ->
            {ok, P} = ?NIF:lookup(T, Domain),
            Who = case Primary of
                      <<"*">> -> "the default record (allow mode)";
                      _ -> io_lib:format("partner ~ts", [Primary])
                  end,
            [fmt("~ts: ~s, type ~s, matrix row ~B (~s)~n",
                 [Domain, Who, maps:get(type, P), maps:get(row, P),
                  maps:get(verdict, P)]),
             [explain_direction(T, Domain, Dir) || Dir <- [incoming, outgoing]],
             fmt("contact: subscribe from a user not in the roster: ~s; "
                 "message from a user not in the roster: ~s; status text "
                 "sent: ~s~n",
                 [?NIF:subscribe(T, Domain, false, false, false),
                  ?NIF:message(T, Domain, false),
                  case ?NIF:strip_status(T, Domain) of
                      true -> "no";
                      false -> "yes"
                  end])]
    end.

explain_direction(T, D, Dir) ->
    V = fun(true) -> "accepted";
           ({false, _, Text}) -> io_lib:format("refused (~ts)", [Text])
        end,
    fmt("~s: STARTTLS ~s~s; SASL EXTERNAL over TLS: ~s; dialback over "
        "TLS: ~s; dialback over plain TCP: ~s~n",
        [Dir, ?NIF:tls(T, D, Dir),
         case Dir of
             incoming -> " (ejabberd: enforced after the fact, see README)";
             outgoing -> ""
         end,
         V(?NIF:auth(T, D, Dir, sasl_tls, true, valid, valid, false)),
         V(?NIF:auth(T, D, Dir, dialback_tls, true, undefined, undefined,
                     false)),
         V(?NIF:auth(T, D, Dir, dialback_tcp, false, undefined, undefined,
                     false))]).
