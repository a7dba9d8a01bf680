%%% xmpp_partners_webadmin: the partner status page in ejabberd's WebAdmin
%%% (issue 17), under WebAdmin's own access rules (configure or
%%% webadmin_view on the global host: ejabberd's admin ACL).
%%%
%%%   /admin/partners/              every partner with type, rules and
%%%                                 source; live streams; refusals per
%%%                                 partner and reason with the last one's
%%%                                 time; the last 50 refusals; the
%%%                                 refusal back-off; an explain
%%%                                 form (POST explain=DOMAIN, or a link
%%%                                 ?explain=DOMAIN)
%%%   /admin/partners/status.json   the same data as JSON (?explain= too)
%%%
%%% The page comes through the webadmin_menu_main / webadmin_page_main
%%% hooks, so WebAdmin checks the credentials and wraps it in its own
%%% layout and stylesheet; plain HTML tables with captions and header
%%% cells, a labelled form, no script.  WebAdmin wraps every hook answer in
%%% HTML, so the JSON sibling is put in front of WebAdmin's request handler
%%% (hook http_request_handlers) at WebAdmin's path + partners/status.json,
%%% and checks the same rules itself.  "/admin" is wherever the listener
%%% mounts ejabberd_web_admin.  The data: xmpp_partners_monitoring:status_data/1.
-module(xmpp_partners_webadmin).

-export([start/0, stop/0]).
%% hooks and the JSON request handler
-export([web_menu_main/2, web_page_main/2, http_request_handlers/3,
         process/2]).

-include("xmpp.hrl").
-include("ejabberd_http.hrl").

-define(MONITORING, xmpp_partners_monitoring).
-define(EXPLAIN_MAX, 300).  % bytes of a domain typed into the form

-spec start() -> ok.
start() ->
    ejabberd_hooks:add(webadmin_menu_main, ?MODULE, web_menu_main, 50),
    ejabberd_hooks:add(webadmin_page_main, ?MODULE, web_page_main, 50),
    ejabberd_hooks:add(http_request_handlers, ?MODULE, http_request_handlers,
                       50).

-spec stop() -> ok.
stop() ->
    ejabberd_hooks:delete(webadmin_menu_main, ?MODULE, web_menu_main, 50),
    ejabberd_hooks:delete(webadmin_page_main, ?MODULE, web_page_main, 50),
    ejabberd_hooks:delete(http_request_handlers, ?MODULE,
                          http_request_handlers, 50).

%%% ---- the page ------------------------------------------------------------------

-spec web_menu_main([{binary(), binary()}], binary()) -> [{binary(), binary()}].
web_menu_main(Acc, _Lang) ->
    Acc ++ [{<<"partners">>, <<"XMPP Partners">>}].

-spec web_page_main(term(), #request{}) -> term().
web_page_main(_Acc, #request{path = [<<"partners">>], q = Q}) ->
    {stop, page(?MONITORING:status_data(explain_arg(Q)))};
web_page_main(Acc, _Request) ->
    Acc.

%% The form posts (WebAdmin redirects a GET whose raw path, query
%% included, does not end in "/" to the same with "/" appended: a link
%% ?explain=D arrives as D/, which is taken as D).
explain_arg(Q) ->
    case proplists:get_value(<<"explain">>, Q) of
        undefined -> undefined;
        <<>> -> undefined;
        D when byte_size(D) > ?EXPLAIN_MAX -> binary:part(D, 0, ?EXPLAIN_MAX);
        D ->
            case binary:last(D) of
                $/ -> binary:part(D, 0, byte_size(D) - 1);
                _ -> D
            end
    end.

el(Name, Children) -> el(Name, [], Children).
el(Name, Attrs, Children) ->
    #xmlel{name = Name, attrs = Attrs, children = Children}.
txt(T) -> {xmlcdata, text(T)}.

text(null) -> <<"-">>;
text(T) when is_binary(T) -> T;
text(T) when is_atom(T) -> atom_to_binary(T, utf8);
text(T) when is_integer(T) -> integer_to_binary(T);
text(L) when is_list(L) ->
    case io_lib:printable_unicode_list(L) of
        true -> unicode:characters_to_binary(L);
        false -> iolist_to_binary(lists:join(<<", ">>, [text(X) || X <- L]))
    end.

time_text(null) -> <<"-">>;
time_text(S) when is_integer(S) ->
    list_to_binary(calendar:system_time_to_rfc3339(S, [{offset, "Z"}])).

%% A table with a caption and header cells; Empty when there are no rows.
table(Caption, Head, Rows, Empty) ->
    case Rows of
        [] -> el(<<"p">>, [txt(Empty)]);
        _ ->
            el(<<"table">>, [{<<"class">>, <<"withtextareas">>}],
               [el(<<"caption">>, [txt(Caption)]),
                el(<<"thead">>,
                   [el(<<"tr">>, [el(<<"th">>, [{<<"scope">>, <<"col">>}],
                                     [txt(H)]) || H <- Head])]),
                el(<<"tbody">>,
                   [el(<<"tr">>, [el(<<"td">>, [txt(C)]) || C <- R])
                    || R <- Rows])])
    end.

page(#{running := false}) ->
    [el(<<"h1">>, [txt(<<"XMPP Partners">>)]),
     el(<<"p">>, [txt(<<"mod_xmpp_partners is not running on any host.">>)])];
page(#{host := Host, default := Default, closed := Closed,
       refusal_backoff := Max, partners := Partners, streams := Streams,
       refused := Refused, authenticated := Auth, backoff := Backoff,
       recent := Recent, explain := Explain}) ->
    [el(<<"h1">>, [txt(<<"XMPP Partners">>)]),
     el(<<"p">>,
        [txt(iolist_to_binary(
               [integer_to_binary(length(Partners)), " partners on ", Host,
                "; unlisted domains ",
                case Default of allow -> "allowed"; _ -> "refused" end,
                "; refusal back-off up to ", integer_to_binary(Max), " s",
                case Closed of
                    true -> ". The table in force refuses every domain: the "
                            "partner configuration is invalid";
                    _ -> ""
                end, ". JSON: "])),
         el(<<"a">>, [{<<"href">>, <<"status.json">>}],
            [txt(<<"status.json">>)])]),
     el(<<"h2">>, [txt(<<"Explain">>)]),
     el(<<"form">>, [{<<"method">>, <<"post">>}, {<<"action">>, <<"">>}],
        [el(<<"label">>, [{<<"for">>, <<"xp-explain">>}],
            [txt(<<"Remote domain ">>)]),
         el(<<"input">>, [{<<"type">>, <<"text">>}, {<<"id">>, <<"xp-explain">>},
                          {<<"name">>, <<"explain">>},
                          {<<"maxlength">>, integer_to_binary(?EXPLAIN_MAX)},
                          {<<"value">>, case Explain of
                                            #{domain := D} -> D;
                                            _ -> <<>>
                                        end}], []),
         txt(<<" ">>),
         el(<<"input">>, [{<<"type">>, <<"submit">>},
                          {<<"value">>, <<"Explain">>}], [])]),
     case Explain of
         #{text := ExplainText} ->
             el(<<"pre">>, [{<<"id">>, <<"xp-explain-result">>}],
                [txt(ExplainText)]);
         _ -> el(<<"p">>, [])
     end,
     el(<<"h2">>, [txt(<<"Partners">>)]),
     table(<<"Partners (source: config, file or runtime)">>,
           [<<"domain">>, <<"type">>, <<"tls">>, <<"sasl">>, <<"dialback">>,
            <<"additional domains">>, <<"source">>],
           [[D, Ty, Tl, Sa, Db, case Ad of [] -> null; _ -> Ad end, So]
            || #{domain := D, type := Ty, tls := Tl, sasl := Sa,
                 dialback := Db, additional_domains := Ad, source := So}
                   <- Partners],
           <<"No partners.">>),
     el(<<"h2">>, [txt(<<"Live streams">>)]),
     table(<<"Live s2s streams admitted by the partner policy">>,
           [<<"partner">>, <<"direction">>, <<"local">>, <<"remote">>,
            <<"encrypted">>, <<"method">>, <<"since">>],
           [[P, D, L, R, case E of true -> <<"yes">>; _ -> <<"no">> end, M,
             time_text(S)]
            || #{partner := P, direction := D, local := L, remote := R,
                 encrypted := E, method := M, since := S} <- Streams],
           <<"No live s2s streams.">>),
     el(<<"h2">>, [txt(<<"Refusals">>)]),
     table(<<"Refusals per partner and reason since start (unlisted: "
             "every domain that is not a partner)">>,
           [<<"partner">>, <<"direction">>, <<"reason">>, <<"count">>,
            <<"last">>],
           [[P, D, T, N, time_text(La)]
            || #{partner := P, direction := D, text := T, count := N,
                 last := La} <- Refused],
           <<"No refusals since start.">>),
     table(<<"Refusal back-off (origins refused at the stream header)">>,
           [<<"domain">>, <<"address">>, <<"reason">>, <<"state">>,
            <<"window (s)">>, <<"repeats this window">>, <<"since">>],
           [[D, Ip, T, case A of
                           true -> iolist_to_binary(["active, ",
                                                     integer_to_binary(Rem),
                                                     " s left"]);
                           false -> <<"ended">>
                       end, W, C, time_text(S)]
            || #{domain := D, ip := Ip, text := T, active := A,
                 remaining := Rem, window := W, repeats := C,
                 since := S} <- Backoff],
           <<"No origin is backed off.">>),
     table(<<"The last refusals, newest first">>,
           [<<"time">>, <<"direction">>, <<"domain">>, <<"reason">>,
            <<"where">>],
           [[time_text(Ti), Dir, D, T, case H of
                                           true -> <<"stream header (back-off)">>;
                                           false -> <<"negotiation">>
                                       end]
            || #{time := Ti, direction := Dir, domain := D, text := T,
                 at_header := H} <- Recent],
           <<"No refusals since start.">>),
     el(<<"h2">>, [txt(<<"Authentications">>)]),
     table(<<"Authentications accepted per partner and method">>,
           [<<"partner">>, <<"direction">>, <<"method">>, <<"count">>],
           [[P, D, M, N] || #{partner := P, direction := D, method := M,
                              count := N} <- Auth],
           <<"No authentications since start.">>)].

%%% ---- the JSON sibling -----------------------------------------------------------

%% In front of WebAdmin's handler: WebAdmin's path + partners/status.json.
-spec http_request_handlers(list(), binary(), #request{}) -> list().
http_request_handlers(Handlers, _Host, _Request) ->
    Json = [{Pfx ++ [<<"partners">>, <<"status.json">>], ?MODULE}
            || H <- Handlers, {Pfx, ejabberd_web_admin} <- [web_admin(H)]],
    Json ++ Handlers.

web_admin({Pfx, ejabberd_web_admin}) -> {Pfx, ejabberd_web_admin};
web_admin({Pfx, ejabberd_web_admin, _}) -> {Pfx, ejabberd_web_admin};
web_admin(_) -> none.

-spec process([binary()], #request{}) -> {integer(), list(), binary()}.
process([], #request{method = M, q = Q} = Request)
  when M == 'GET'; M == 'HEAD' ->
    case authorized(Request) of
        ok ->
            {200, [{<<"Content-Type">>, <<"application/json">>},
                   {<<"Cache-Control">>, <<"no-store">>}],
             jiffy:encode(?MONITORING:status_data(explain_arg(Q)))};
        {error, 401} ->
            {401, [{<<"WWW-Authenticate">>,
                    <<"basic realm=\"ejabberd\"">>}],
             <<"Unauthorized\n">>};
        {error, 403} ->
            {403, [], <<"Forbidden: not an ejabberd administrator\n">>}
    end;
process([], _Request) ->
    {405, [{<<"Allow">>, <<"GET, HEAD">>}], <<"Method not allowed\n">>};
process(_, _Request) ->
    {404, [], <<"Not found\n">>}.

%% The rules WebAdmin applies to a GET on a global page: a local account
%% with its password, allowed by configure or webadmin_view.
authorized(#request{auth = {SJID, Pass}}) when is_binary(SJID),
                                               is_binary(Pass) ->
    try jid:decode(SJID) of
        #jid{luser = U, lserver = S} = JID when U /= <<>> ->
            case lists:member(S, ejabberd_option:hosts()) andalso
                ejabberd_auth:check_password(U, <<>>, S, Pass) of
                true ->
                    case lists:any(fun(R) ->
                                           acl:match_rule(global, R, JID)
                                               == allow
                                   end, [configure, webadmin_view]) of
                        true -> ok;
                        false -> {error, 403}
                    end;
                false -> {error, 401}
            end;
        _ -> {error, 401}
    catch _:_ -> {error, 401}
    end;
authorized(_) ->
    {error, 401}.
