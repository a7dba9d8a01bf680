%%% xmpp_partners_nif: the Erlang face of the xmpp-partners policy core, a NIF
%%% (xmpp_partners_nif.so) over the same C core that Prosody loads as
%%% xmpp_partners.core.  See module/nif/xmpp_partners_nif.c for the API; every
%%% function here is replaced when the library loads.
%%%
%%% The library is looked for, in order: $XMPP_PARTNERS_NIF (a path without
%%% ".so", for tests and unusual layouts), priv/lib/ of the application
%%% directory this module was loaded from (xmpp_partners-VERSION/ebin ->
%%% xmpp_partners-VERSION/priv/lib), and code:priv_dir(xmpp_partners).
-module(xmpp_partners_nif).

-export([build/2, check/3, closed/0, resolve/2, lookup/2, explain/2, overlay/5, parse_value/2, diag_line/1, check_text/2, show/3, list_text/5,
         change_text/2, change_refused/3, export_text/2,
         tls/3,
         sasl_external/7, dialback/7, stanzas/7, auth/8, connection/4,
         subscribe/5, message/3, strip_status/2, keepalive/2, proxy/2,
         pin_matches/3, partners/1, info/1, warnings/1, matrix/1, matrix/3,
         normalize/1, reason_text/1, refusal/3, cert_identity/3, cert_pin/1,
         version/0, partner_file/1,
         reason_is_final/1, backoff_next/2, refusal_summary/5]).

-on_load(init/0).

-define(LIB, "xmpp_partners_nif").

%% the types of the API above (module/nif/xmpp_partners_nif.c)
-type table() :: reference().              % a table resource
-type domain() :: binary() | string().
-type dir() :: incoming | outgoing.
-type flag() :: boolean() | undefined.     % undefined counts as false
-type check() :: valid | invalid | undefined.
-type pin() :: binary() | false | undefined.  % false: no pin
-type refusal() :: {error, atom(), binary()}.
-type verdict() :: true | {false, atom(), binary()}.
-type diagnostic() :: #{atom() => term()}.
-export_type([table/0, diagnostic/0]).

-spec init() -> ok | {error, term()}.
init() ->
    load(candidates(), []).

load([], Errors) ->
    {error, {xmpp_partners_nif_not_found, lists:reverse(Errors)}};
load([Path | Rest], Errors) ->
    case erlang:load_nif(Path, 0) of
        ok -> ok;
        {error, Why} -> load(Rest, [{Path, Why} | Errors])
    end.

candidates() ->
    Env = case os:getenv("XMPP_PARTNERS_NIF") of
              false -> [];
              "" -> [];
              P -> [P]
          end,
    Beside = case code:which(?MODULE) of
                 File when is_list(File) ->
                     AppDir = filename:dirname(filename:dirname(File)),
                     [filename:join([AppDir, "priv", "lib", ?LIB])];
                 _ -> []
             end,
    Priv = case code:priv_dir(xmpp_partners) of
               Dir when is_list(Dir) -> [filename:join([Dir, "lib", ?LIB])];
               _ -> []
           end,
    Env ++ Beside ++ Priv.

-define(NIF, erlang:nif_error({nif_not_loaded, ?MODULE})).

-spec build(map() | [{domain(), term()}], map() | list()) ->
          {ok, table(), [diagnostic()]} | {error, [diagnostic()]}.
build(_Partners, _Options) -> ?NIF.
-spec check(domain(), map() | list(), map() | list()) -> {ok | error, [diagnostic()]}.
check(_Domain, _Record, _Options) -> ?NIF.
-spec closed() -> table().
closed() -> ?NIF.
-spec resolve(table(), domain()) -> {ok, binary()} | refusal().
resolve(_T, _D) -> ?NIF.
-spec lookup(table(), domain()) -> {ok, map()} | refusal().
lookup(_T, _D) -> ?NIF.
-spec explain(table(), domain()) -> {ok, binary()} | {error, binary()}.
explain(_T, _D) -> ?NIF.
-spec overlay([{term(), term()}], [{term(), term()}], [{term(), term()}],
              [term()], binary() | string() | undefined) ->
          {[{term(), term()}], #{binary() => binary()}, [term()]}.
overlay(_File, _Config, _Runtime, _Removed, _FilePath) -> ?NIF.
-spec parse_value(binary() | string(), binary() | string()) ->
          remove | {ok, term()} | {error, binary()}.
parse_value(_Key, _Text) -> ?NIF.
-spec diag_line(diagnostic()) -> binary().
diag_line(_Diag) -> ?NIF.
-spec check_text([diagnostic()], non_neg_integer() | undefined) -> binary().
check_text(_Diags, _Count) -> ?NIF.
%% An admin change: #{op := add | set | remove | reset | reset_backoff |
%% edit, domain := D, key => K, value => V, typed => T, hidden => K,
%% count => N} (module/core/xmpp_partners.h, xp_change).
-type change() :: #{op := add | set | remove | reset | reset_backoff | edit,
                    domain := domain(), atom() => term()}.
-spec change_text(change(), binary() | string() | undefined) -> binary().
change_text(_Change, _Warnings) -> ?NIF.
-spec change_refused(change(),
                     invalid | read | store | exists | not_partner |
                     additional | nothing,
                     binary() | string() | [diagnostic()] | undefined) ->
          binary().
change_refused(_Change, _Why, _Detail) -> ?NIF.
-spec export_text(#{atom() | binary() => term()} | [{atom() | binary(), term()}],
                  [{domain(), #{atom() | binary() => term()}
                              | [{atom() | binary(), term()}], binary() | string()}]) ->
          binary().
export_text(_Options, _Partners) -> ?NIF.
-spec show(table(), domain(), binary() | string() | undefined) ->
          {ok, binary()} | {error, binary()}.
show(_T, _D, _Source) -> ?NIF.
-spec list_text(table(), [{binary(), binary(), term()}], non_neg_integer(),
                binary() | string() | undefined, [binary()]) -> binary().
list_text(_T, _Rows, _Matched, _Pattern, _Removed) -> ?NIF.
-spec tls(table(), domain(), dir()) -> withhold | offer | require | refusal().
tls(_T, _D, _Dir) -> ?NIF.
-spec sasl_external(table(), domain(), dir(), flag(), check(), check(), pin()) -> verdict().
sasl_external(_T, _D, _Dir, _Enc, _Chain, _Id, _Pin) -> ?NIF.
-spec dialback(table(), domain(), dir(), flag(), check(), check(), pin()) -> verdict().
dialback(_T, _D, _Dir, _Enc, _Chain, _Id, _Pin) -> ?NIF.
-spec stanzas(table(), domain(), dir(), flag(), check(), check(), pin()) -> verdict().
stanzas(_T, _D, _Dir, _Enc, _Chain, _Id, _Pin) -> ?NIF.
-spec auth(table(), domain(), dir(), atom() | binary(), flag(), check(), check(), pin()) ->
          verdict().
auth(_T, _D, _Dir, _Method, _Enc, _Chain, _Id, _Pin) -> ?NIF.
-spec connection(table(), domain(), non_neg_integer(), non_neg_integer()) -> verdict().
connection(_T, _D, _Mine, _Total) -> ?NIF.
-spec subscribe(table(), domain(), flag(), flag(), flag()) -> approve | deliver | deny.
subscribe(_T, _D, _InRoster, _SubscribedFrom, _Blocked) -> ?NIF.
-spec message(table(), domain(), flag()) -> deliver | bounce.
message(_T, _D, _InRoster) -> ?NIF.
-spec strip_status(table(), domain()) -> boolean().
strip_status(_T, _D) -> ?NIF.
-spec keepalive(table(), domain()) -> {boolean(), non_neg_integer()}.
keepalive(_T, _D) -> ?NIF.
-spec proxy(table(), domain()) -> {binary(), inet:port_number()} | none.
proxy(_T, _D) -> ?NIF.
-spec pin_matches(table(), domain(), binary()) -> boolean().
pin_matches(_T, _D, _Pin) -> ?NIF.
-spec partners(table()) -> [binary()].
partners(_T) -> ?NIF.
-spec info(table()) -> map().
info(_T) -> ?NIF.
-spec warnings(table()) -> [diagnostic()].
warnings(_T) -> ?NIF.
-spec matrix(pos_integer()) -> {ok, map()} | {error, term()}.
matrix(_Row) -> ?NIF.
-spec matrix(term(), term(), term()) -> {ok, map()} | {error, term()}.
matrix(_Tls, _Sasl, _Dialback) -> ?NIF.
-spec normalize(domain()) -> {ok, binary()} | {error, term()}.
normalize(_D) -> ?NIF.
-spec reason_text(atom()) -> binary().
reason_text(_Token) -> ?NIF.
-spec refusal(dir(), domain(), atom()) -> binary().
refusal(_Dir, _D, _Token) -> ?NIF.
-spec cert_identity(binary(), domain(), boolean()) -> valid | invalid | {error, term()}.
cert_identity(_Cert, _D, _LegacyCN) -> ?NIF.
-spec cert_pin(binary()) -> {ok, binary()} | {error, term()}.
cert_pin(_Cert) -> ?NIF.
-spec version() -> term().
version() -> ?NIF.
-spec partner_file(file:filename_all()) ->
          {ok, term(), term(), term()} | {error, term()}.
partner_file(_Path) -> ?NIF.
-spec reason_is_final(atom()) -> boolean().
reason_is_final(_Token) -> ?NIF.
-spec backoff_next(non_neg_integer(), non_neg_integer()) -> non_neg_integer().
backoff_next(_Previous, _Max) -> ?NIF.
-spec refusal_summary(incoming | outgoing, binary(), non_neg_integer(),
                      non_neg_integer(), atom()) -> binary().
refusal_summary(_Dir, _D, _Count, _Seconds, _Token) -> ?NIF.
