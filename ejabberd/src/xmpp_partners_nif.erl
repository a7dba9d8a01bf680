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
         tls/3,
         sasl_external/7, dialback/7, stanzas/7, auth/8, connection/4,
         subscribe/5, message/3, strip_status/2, keepalive/2, proxy/2,
         pin_matches/3, partners/1, info/1, warnings/1, matrix/1, matrix/3,
         normalize/1, reason_text/1, refusal/3, cert_identity/3, cert_pin/1,
         version/0, partner_file/1,
         reason_is_final/1, backoff_next/2, refusal_summary/5]).

-on_load(init/0).

-define(LIB, "xmpp_partners_nif").

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

build(_Partners, _Options) -> ?NIF.
check(_Domain, _Record, _Options) -> ?NIF.
closed() -> ?NIF.
resolve(_T, _D) -> ?NIF.
lookup(_T, _D) -> ?NIF.
explain(_T, _D) -> ?NIF.
overlay(_File, _Config, _Runtime, _Removed, _FilePath) -> ?NIF.
parse_value(_Key, _Text) -> ?NIF.
diag_line(_Diag) -> ?NIF.
check_text(_Diags, _Count) -> ?NIF.
show(_T, _D, _Source) -> ?NIF.
list_text(_T, _Rows, _Matched, _Pattern, _Removed) -> ?NIF.
tls(_T, _D, _Dir) -> ?NIF.
sasl_external(_T, _D, _Dir, _Enc, _Chain, _Id, _Pin) -> ?NIF.
dialback(_T, _D, _Dir, _Enc, _Chain, _Id, _Pin) -> ?NIF.
stanzas(_T, _D, _Dir, _Enc, _Chain, _Id, _Pin) -> ?NIF.
auth(_T, _D, _Dir, _Method, _Enc, _Chain, _Id, _Pin) -> ?NIF.
connection(_T, _D, _Mine, _Total) -> ?NIF.
subscribe(_T, _D, _InRoster, _SubscribedFrom, _Blocked) -> ?NIF.
message(_T, _D, _InRoster) -> ?NIF.
strip_status(_T, _D) -> ?NIF.
keepalive(_T, _D) -> ?NIF.
proxy(_T, _D) -> ?NIF.
pin_matches(_T, _D, _Pin) -> ?NIF.
partners(_T) -> ?NIF.
info(_T) -> ?NIF.
warnings(_T) -> ?NIF.
matrix(_Row) -> ?NIF.
matrix(_Tls, _Sasl, _Dialback) -> ?NIF.
normalize(_D) -> ?NIF.
reason_text(_Token) -> ?NIF.
refusal(_Dir, _D, _Token) -> ?NIF.
cert_identity(_Cert, _D, _LegacyCN) -> ?NIF.
cert_pin(_Cert) -> ?NIF.
version() -> ?NIF.
partner_file(_Path) -> ?NIF.
-spec reason_is_final(atom()) -> boolean().
reason_is_final(_Token) -> ?NIF.
-spec backoff_next(non_neg_integer(), non_neg_integer()) -> non_neg_integer().
backoff_next(_Previous, _Max) -> ?NIF.
-spec refusal_summary(incoming | outgoing, binary(), non_neg_integer(),
                      non_neg_integer(), atom()) -> binary().
refusal_summary(_Dir, _D, _Count, _Seconds, _Token) -> ?NIF.
