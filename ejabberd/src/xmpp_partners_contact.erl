%%% xmpp_partners_contact: the contact policy on partner users' stanzas:
%%% messages from strangers (not in the roster), subscription requests
%%% refused or approved, presence status stripped for non-federated
%%% partners.  The core decides; this module reads the roster.
-module(xmpp_partners_contact).

%% hooks (registered by mod_xmpp_partners)
-export([receive_packet/1, send_packet/1, in_subscription/2,
         in_subscription_approve/2]).

-include("xmpp.hrl").
-include("logger.hrl").
-import(xmpp_partners_table, [table/1]).

-define(NIF, xmpp_partners_nif).
-define(GEN_MOD, mod_xmpp_partners).

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
        gen_mod:is_loaded(LServer, ?GEN_MOD);
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
