%%% xmpp_partners_adhoc: XEP-0050 ad-hoc commands for the partner table,
%%% through ejabberd's mod_adhoc (its adhoc_local_items and
%%% adhoc_local_commands hooks): list, add, edit and remove partners from
%%% an XMPP client, with the nodes, forms and texts of the Prosody module
%%% (lua/xmpp_partners_admin.lib.lua, "XEP-0050 ad-hoc commands"):
%%%   urn:xmpp-partners:list    the partners_list text, in one step
%%%   urn:xmpp-partners:add     the record form (with the domain), one step
%%%   urn:xmpp-partners:edit    choose a partner, then its record form with
%%%                             its current values; the record is replaced
%%%   urn:xmpp-partners:remove  choose a partner
%%% Every change goes through mod_xmpp_partners (the core checks the record,
%%% a refused change leaves everything as it was, the streams a change no
%%% longer allows are closed), like `ejabberdctl partners_add`.
%%%
%%% Admins only: the JIDs ejabberd's `configure` access rule allows on the
%%% host (the rule of ejabberd's own configuration commands, mod_configure;
%%% not defined means nobody).  Others do not see the commands and get
%%% <forbidden/> when they execute one.
%%%
%%% The commands keep no state between steps: the edit form carries the
%%% chosen domain in a hidden field.
-module(xmpp_partners_adhoc).

-export([start/1, stop/1, items/4, commands/4]).

-include("xmpp.hrl").

-define(NODE_LIST, <<"urn:xmpp-partners:list">>).
-define(NODE_ADD, <<"urn:xmpp-partners:add">>).
-define(NODE_EDIT, <<"urn:xmpp-partners:edit">>).
-define(NODE_REMOVE, <<"urn:xmpp-partners:remove">>).
-define(ACCESS, configure).

%% Prosody's RECORD_KEYS, LIST_KEYS, BOOL_KEYS and NUMBER_KEYS.
-define(RECORD_KEYS, [<<"description">>, <<"type">>, <<"tls">>, <<"sasl">>,
                      <<"dialback">>, <<"additional_domains">>, <<"proxy">>,
                      <<"connection_limit">>, <<"keepalive">>,
                      <<"fingerprints">>]).
-define(IS_LIST_KEY(K), (K == <<"additional_domains">> orelse
                         K == <<"fingerprints">>)).
-define(IS_BOOL_KEY(K), (K == <<"dialback">> orelse K == <<"keepalive">>)).

-spec start(binary()) -> ok.
start(Host) ->
    ejabberd_hooks:add(adhoc_local_items, Host, ?MODULE, items, 60),
    ejabberd_hooks:add(adhoc_local_commands, Host, ?MODULE, commands, 60),
    ok.

-spec stop(binary()) -> ok.
stop(Host) ->
    ejabberd_hooks:delete(adhoc_local_commands, Host, ?MODULE, commands, 60),
    ejabberd_hooks:delete(adhoc_local_items, Host, ?MODULE, items, 60),
    ok.

is_admin(#jid{lserver = Host}, From) ->
    acl:match_rule(Host, ?ACCESS, From) == allow.

%%% ---- disco#items of the commands node -----------------------------------------

-spec items(term(), jid(), jid(), binary()) -> term().
items(Acc, From, #jid{lserver = Host, luser = <<>>} = To, _Lang) ->
    case is_admin(To, From) of
        false -> Acc;
        true ->
            Items = case Acc of
                        {result, I} -> I;
                        _ -> []
                    end,
            Server = jid:make(Host),
            {result, Items ++
                 [#disco_item{jid = Server, node = N, name = Name}
                  || {N, Name} <- [{?NODE_LIST, <<"List federation partners">>},
                                   {?NODE_ADD, <<"Add a federation partner">>},
                                   {?NODE_EDIT, <<"Edit a federation partner">>},
                                   {?NODE_REMOVE,
                                    <<"Remove a federation partner">>}]]}
    end;
items(Acc, _From, _To, _Lang) ->
    Acc.

%%% ---- execution ------------------------------------------------------------------

-spec commands(term(), jid(), jid(), #adhoc_command{}) -> term().
commands(_Acc, From, #jid{luser = <<>>} = To,
         #adhoc_command{node = Node} = Req)
  when Node == ?NODE_LIST; Node == ?NODE_ADD; Node == ?NODE_EDIT;
       Node == ?NODE_REMOVE ->
    case is_admin(To, From) of
        false ->
            {error, xmpp:err_forbidden(<<"Only server administrators may "
                                         "change the partner table">>,
                                       Req#adhoc_command.lang)};
        true ->
            case Req#adhoc_command.action of
                cancel -> respond(Req, #adhoc_command{status = canceled});
                _ -> respond(Req, run(Node, Req))
            end
    end;
commands(Acc, _From, _To, _Req) ->
    Acc.

%% Not xmpp_util:make_adhoc_response/2: on a first answer (no session id
%% yet) it drops the actions of an executing command, so a client would
%% not offer the edit command's "next".
respond(#adhoc_command{lang = Lang, node = Node, sid = Sid}, Resp) ->
    Resp#adhoc_command{lang = Lang, node = Node,
                       sid = case Sid of
                                 <<>> -> integer_to_binary(
                                           erlang:unique_integer([positive]));
                                 _ -> Sid
                             end}.

completed({ok, Text}) ->
    #adhoc_command{status = completed,
                   notes = [#adhoc_note{type = info, data = bin(Text)}]};
completed({error, Text}) ->
    #adhoc_command{status = completed,
                   notes = [#adhoc_note{type = error, data = bin(Text)}]}.

executing(Form, Action) ->
    #adhoc_command{status = executing,
                   actions = case Action of
                                 next -> #adhoc_actions{execute = next,
                                                        next = true};
                                 complete -> #adhoc_actions{execute = complete,
                                                            complete = true}
                             end,
                   xdata = Form}.

run(?NODE_LIST, _Req) ->
    completed({ok, xmpp_partners_changes:adhoc_list()});
run(?NODE_ADD, #adhoc_command{xdata = undefined}) ->
    executing(record_form(true, #{}), complete);
run(?NODE_ADD, #adhoc_command{xdata = X}) ->
    Fields = fields(X),
    case value(<<"domain">>, Fields) of
        <<>> -> completed({error, <<"Invalid form: domain: Required value "
                                    "missing">>});
        D -> completed(xmpp_partners_changes:adhoc_add(D, record_from(Fields)))
    end;
run(?NODE_EDIT, #adhoc_command{xdata = undefined}) ->
    executing(pick_form(<<"Choose a partner">>), next);
run(?NODE_EDIT, #adhoc_command{xdata = X}) ->
    Fields = fields(X),
    D = value(<<"domain">>, Fields),
    case maps:is_key(<<"type">>, Fields) of
        false -> edit_form(D);
        true when D == <<>> ->
            completed({error, <<"Invalid form: choose a partner">>});
        true ->
            completed(xmpp_partners_changes:adhoc_replace(D, record_from(Fields)))
    end;
run(?NODE_REMOVE, #adhoc_command{xdata = undefined}) ->
    executing(pick_form(<<"Remove a partner">>), complete);
run(?NODE_REMOVE, #adhoc_command{xdata = X}) ->
    case value(<<"domain">>, fields(X)) of
        <<>> -> completed({error, <<"Invalid form: choose a partner">>});
        D -> completed(xmpp_partners_changes:adhoc_remove(D))
    end.

%% Step two of edit: the record form with the partner's values (the core's
%% full record, defaults filled in, as Prosody shows it).
edit_form(D) ->
    case partner(D) of
        {ok, P} ->
            Values = maps:from_list(
                       [{K, form_value(K, maps:get(binary_to_atom(K, utf8), P,
                                                   undefined))}
                        || K <- ?RECORD_KEYS]),
            executing(record_form(false, Values#{<<"domain">> =>
                                                     [maps:get(domain, P)]}),
                      complete);
        error ->
            completed({error, <<D/binary, " is not a partner">>})
    end.

partner(<<>>) -> error;
partner(D) ->
    case partner_table() of
        undefined -> error;
        T ->
            case xmpp_partners_nif:lookup(T, D) of
                {ok, #{default := false} = P} -> {ok, P};
                _ -> error
            end
    end.

partner_table() ->
    case [H || H <- ejabberd_option:hosts(),
               gen_mod:is_loaded(H, mod_xmpp_partners)] of
        [H | _] -> xmpp_partners_table:table(H);
        [] -> undefined
    end.

partner_domains() ->
    case partner_table() of
        undefined -> [];
        T -> xmpp_partners_nif:partners(T)
    end.

form_value(_K, undefined) -> [];
form_value(_K, <<>>) -> [];
form_value(K, L) when ?IS_LIST_KEY(K), is_list(L) -> L;  % one a line
form_value(_K, true) -> [<<"1">>];
form_value(_K, false) -> [<<"0">>];
form_value(_K, I) when is_integer(I) -> [integer_to_binary(I)];
form_value(_K, A) when is_atom(A) -> [atom_to_binary(A, utf8)];
form_value(_K, B) when is_binary(B) -> [B].

%%% ---- forms ------------------------------------------------------------------------

pick_form(Title) ->
    #xdata{type = form, title = Title,
           fields = [#xdata_field{var = <<"domain">>, type = 'list-single',
                                  label = <<"Partner">>, required = true,
                                  options = [#xdata_option{value = D}
                                             || D <- partner_domains()]}]}.

%% Prosody's record_fields(with_domain); the edit form (without the
%% domain field) carries the chosen domain in a hidden field instead of a
%% session.
record_form(WithDomain, Values) ->
    V = fun(K) -> maps:get(K, Values, []) end,
    Opts = fun(L) -> [#xdata_option{value = O} || O <- L] end,
    Domain = case WithDomain of
                 true -> [#xdata_field{var = <<"domain">>,
                                       type = 'text-single',
                                       label = <<"Partner domain">>,
                                       required = true}];
                 false -> [#xdata_field{var = <<"domain">>, type = hidden,
                                        values = V(<<"domain">>)}]
             end,
    F = fun(Var, Type, Label) ->
                #xdata_field{var = Var, type = Type, label = Label,
                             values = V(Var)}
        end,
    L = fun(Var, Label, Options) ->
                (F(Var, 'list-single', Label))#xdata_field{
                  options = Opts(Options)}
        end,
    #xdata{type = form, title = <<"Partner record">>,
           instructions = [<<"Values are checked by the partner policy core; "
                             "an invalid combination is refused with its "
                             "reason.">>],
           fields = Domain ++
               [F(<<"description">>, 'text-single', <<"Description">>),
                L(<<"type">>, <<"Type">>, [<<"federated">>,
                                           <<"public_verified">>,
                                           <<"public_unverified">>]),
                L(<<"tls">>, <<"TLS">>, [<<"required">>, <<"optional">>,
                                         <<"not_supported">>]),
                L(<<"sasl">>, <<"SASL EXTERNAL">>, [<<"required">>,
                                                    <<"optional">>,
                                                    <<"not_supported">>]),
                F(<<"dialback">>, boolean, <<"Accept and use dialback">>),
                F(<<"keepalive">>, boolean, <<"Whitespace keepalives">>),
                F(<<"additional_domains">>, 'text-multi',
                  <<"Additional domains (one a line)">>),
                F(<<"fingerprints">>, 'text-multi',
                  <<"Pinned keys sha256:HEX (one a line)">>),
                F(<<"proxy">>, 'text-single', <<"Proxy host[:port]">>),
                F(<<"connection_limit">>, 'text-single',
                  <<"Connection limit">>)]}.

%% Submitted fields: #{Var => [Value]}.
fields(#xdata{fields = Fs}) ->
    maps:from_list([{Var, Vs} || #xdata_field{var = Var, values = Vs} <- Fs]);
fields(_) ->
    #{}.

value(K, Fields) ->
    string:trim(iolist_to_binary(lists:join("\n", maps:get(K, Fields, [])))).

%% Prosody's record_from: empty fields are left out; list keys split on
%% blanks and commas; booleans as XEP-0004 writes them; a number for
%% connection_limit when it reads as one.  Anything else stays a string for
%% the core to judge.
record_from(Fields) ->
    lists:flatmap(
      fun(K) ->
              case {K, value(K, Fields)} of
                  {_, <<>>} -> [];
                  {_, V} when ?IS_LIST_KEY(K) ->
                      [{K, [X || X <- re:split(V, "[\\s,]+",
                                               [{return, binary}, unicode]),
                                 X /= <<>>]}];
                  {_, V} when ?IS_BOOL_KEY(K) ->
                      [{K, case V of
                               _ when V == <<"1">>; V == <<"true">> -> true;
                               _ when V == <<"0">>; V == <<"false">> -> false;
                               _ -> V
                           end}];
                  {<<"connection_limit">>, V} ->
                      [{K, try binary_to_integer(V) catch _:_ -> V end}];
                  {_, V} -> [{K, V}]
              end
      end, ?RECORD_KEYS).

bin(T) -> unicode:characters_to_binary(T).
