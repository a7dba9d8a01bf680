%%% nif_test: TAP tests of the NIF xmpp_partners_nif in a plain Erlang node
%%% (no ejabberd): build, verdicts, diagnostics, bad arguments, reload.
-module(nif_test).
-export([main/0]).

-define(N, xmpp_partners_nif).

cases() ->
    Partners = #{<<"fabrikam.com">> =>
                     #{type => federated, tls => optional, sasl => optional,
                       dialback => true,
                       additional_domains => [<<"corp.fabrikam.com">>],
                       proxy => <<"127.0.0.1:5270">>},
                 'strict.test' => [{tls, required}, {sasl, required}],
                 "plain.test" => #{tls => <<"not_supported">>,
                                   sasl => not_supported, dialback => true}},
    {ok, T, W} = ?N:build(Partners, #{default => deny}),
    [{"version", fun() -> ?N:version() == <<"0.1.0">> end},
     {"build returns the matrix warning of row 9",
      fun() -> [9] == [R || #{row := R, severity := warning} <- W] end},
     {"partners in input order are the three primaries",
      fun() -> lists:sort(?N:partners(T)) ==
                   [<<"fabrikam.com">>, <<"plain.test">>, <<"strict.test">>] end},
     {"additional domain resolves to its partner",
      fun() -> ?N:resolve(T, <<"CORP.Fabrikam.com.">>) == {ok, <<"fabrikam.com">>} end},
     {"unlisted domain refused with not_partner",
      fun() -> element(2, ?N:resolve(T, <<"evil.test">>)) == not_partner end},
     {"malformed domain refused with bad_domain",
      fun() -> element(2, ?N:resolve(T, <<"a..b">>)) == bad_domain end},
     {"tls verdicts by partner",
      fun() -> {?N:tls(T, <<"strict.test">>, incoming),
                ?N:tls(T, <<"fabrikam.com">>, outgoing),
                ?N:tls(T, <<"plain.test">>, incoming)} == {require, offer, withhold} end},
     {"dialback refused for a partner with the default dialback = false",
      fun() -> element(2, ?N:auth(T, <<"strict.test">>, incoming, dialback, true,
                                  undefined, undefined, false)) == dialback_disabled end},
     {"EXTERNAL accepted for strict partner with valid certificate",
      fun() -> ?N:auth(T, <<"strict.test">>, incoming, <<"EXTERNAL">>, true,
                       valid, valid, false) end},
     {"dialback over plain TCP accepted for plain.test",
      fun() -> ?N:auth(T, <<"plain.test">>, incoming, dialback, false,
                       undefined, undefined, false) end},
     {"unknown method gives unknown_method",
      fun() -> element(2, ?N:auth(T, <<"plain.test">>, incoming, carrier_pigeon,
                                  false, undefined, undefined, false)) == unknown_method end},
     {"contact policy of public_unverified",
      fun() -> {?N:subscribe(T, <<"strict.test">>, false, false, false),
                ?N:message(T, <<"strict.test">>, false),
                ?N:strip_status(T, <<"strict.test">>)} == {deny, bounce, true} end},
     {"contact policy of federated",
      fun() -> {?N:subscribe(T, <<"fabrikam.com">>, false, false, false),
                ?N:message(T, <<"fabrikam.com">>, false),
                ?N:strip_status(T, <<"fabrikam.com">>)} == {approve, deliver, false} end},
     {"proxy",
      fun() -> ?N:proxy(T, <<"fabrikam.com">>) == {<<"127.0.0.1">>, 5270} andalso
                   ?N:proxy(T, <<"strict.test">>) == none end},
     {"connection limit",
      fun() -> ?N:connection(T, <<"strict.test">>, 19, 0) == true andalso
                   element(2, ?N:connection(T, <<"strict.test">>, 20, 0)) == connection_limit end},
     {"lookup fields",
      fun() -> {ok, #{type := federated, row := 9, verdict := warn,
                      additional_domains := [<<"corp.fabrikam.com">>]}} =
                   ?N:lookup(T, <<"fabrikam.com">>), true end},
     {"errors name partner and key, sorted, with suggestion",
      fun() -> {error, [#{key := <<"dialback">>}, #{key := <<"tsl">>, suggestion := <<"tls">>,
                                                   partner := <<"x.test">>}]} =
                   ?N:build([{<<"x.test">>, [{tsl, required}, {dialback, <<"yes">>}]}], []),
               true end},
     {"a non-map record is an error naming its Erlang type",
      fun() -> {error, [#{message := M}]} = ?N:build(#{<<"x.test">> => {1, 2}}, #{}),
               binary:match(M, <<"tuple">>) /= nomatch end},
     {"error table is refused; closed table refuses all",
      fun() -> C = ?N:closed(),
               element(2, ?N:resolve(C, <<"fabrikam.com">>)) == config_invalid end},
     {"allow mode gives the default record",
      fun() -> {ok, A, _} = ?N:build(#{}, [{default, <<"allow">>}]),
               ?N:resolve(A, <<"any.test">>) == {ok, <<"*">>} end},
     {"bad option value is a diagnostic",
      fun() -> {error, [_]} = ?N:build(#{}, #{default => maybe}), true end},
     {"refusal line",
      fun() -> ?N:refusal(incoming, <<"evil.test">>, not_partner) ==
                   <<"refused incoming s2s from evil.test: not a partner">> end},
     {"normalize", fun() -> ?N:normalize(<<"Example.COM.">>) == {ok, <<"example.com">>} end},
     {"badarg: bad direction", fun() -> badarg(fun() -> ?N:tls(T, <<"a.test">>, up) end) end},
     {"badarg: not a table", fun() -> badarg(fun() -> ?N:resolve(make_ref(), <<"a.test">>) end) end},
     {"badarg: domain not text", fun() -> badarg(fun() -> ?N:resolve(T, 42) end) end},
     {"badarg: options not a map or list", fun() -> badarg(fun() -> ?N:build(#{}, 7) end) end},
     {"badarg: negative count", fun() -> badarg(fun() -> ?N:connection(T, <<"a.test">>, -1, 0) end) end},
     {"badarg: unknown reason token", fun() -> badarg(fun() -> ?N:reason_text(nope) end) end},
     {"badarg: bad stream flag", fun() -> badarg(fun() -> ?N:dialback(T, <<"a.test">>, incoming, yes, undefined, undefined, false) end) end},
     {"cert_pin of garbage is an error, not a crash",
      fun() -> element(1, ?N:cert_pin(<<"not a certificate">>)) == error end},
     {"hostile input: 100000 partners with odd keys builds or fails cleanly",
      fun() -> Big = maps:from_list([{I, #{}} || I <- lists:seq(1, 100000)]),
               {error, Ds} = ?N:build(Big, []), length(Ds) >= 100000 end},
     {"tables survive a reload of the NIF module (upgrade callback)",
      fun() -> {ok, Bin} = file:read_file(code:which(?N)),
               {module, ?N} = code:load_binary(?N, code:which(?N), Bin),
               {ok, T2, _} = ?N:build(#{<<"a.test">> => #{}}, []),
               ?N:resolve(T2, <<"a.test">>) == {ok, <<"a.test">>} end},
     {"garbage collection frees tables without crashing",
      fun() -> [begin {ok, X, _} = ?N:build(#{<<"a.test">> => #{}}, []), X end
                || _ <- lists:seq(1, 2000)],
               erlang:garbage_collect(), true end}].

badarg(F) ->
    try F(), false catch error:badarg -> true end.

main() ->
    Cases = cases(),
    io:format("1..~B~n", [length(Cases)]),
    Failed = lists:foldl(
               fun({{Name, F}, I}, Acc) ->
                       R = try F() catch C:E:St -> {C, E, St} end,
                       case R of
                           true -> io:format("ok ~B - ~s~n", [I, Name]), Acc;
                           Other -> io:format("not ok ~B - ~s~n# ~p~n", [I, Name, Other]),
                                    Acc + 1
                       end
               end, 0, lists:zip(Cases, lists:seq(1, length(Cases)))),
    halt(case Failed of 0 -> 0; _ -> 1 end).
