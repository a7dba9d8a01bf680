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
    %% the version of configure.ac's AC_INIT (AM_TESTS_ENVIRONMENT)
    Version = list_to_binary(os:getenv("PACKAGE_VERSION", "unset")),
    [{"version", fun() -> ?N:version() == Version end},
     {"export_text writes whole floats (300.0 in a file, 10.0 in ejabberd.yml) as integers",
      fun() ->
              X = ?N:export_text([{keepalive_interval, 300.0}],
                                 [{<<"a.test">>, [{connection_limit, 10.0}],
                                   <<"config">>}]),
              binary:match(X, <<"xmpp_partners_keepalive_interval = 300\n">>) /= nomatch
                  andalso binary:match(X, <<"connection_limit = 10 ">>) /= nomatch
      end},
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
     {"explain: the core's text, options named as ejabberd.yml does",
      fun() -> {ok, X} = ?N:explain(T, <<"Corp.Fabrikam.COM.">>),
               {ok, R} = ?N:explain(T, <<"evil.test">>),
               Head = <<"corp.fabrikam.com\n  partner        fabrikam.com "
                        "(the domain is one of its additional_domains)\n">>,
               binary:part(X, 0, byte_size(Head)) == Head
                   andalso binary:match(X, <<"  STARTTLS       used when the partner offers it\n">>) /= nomatch
                   andalso binary:match(R, <<"  refused: not a partner (no partner lists it, "
                                             "and default: deny)\n">>) /= nomatch
                   andalso binary:match(<<X/binary, R/binary>>, <<"xmpp_partners_">>) == nomatch end},
     {"explain: a malformed domain is an error with the reason",
      fun() -> {error, Why} = ?N:explain(T, <<"bad domain">>), is_binary(Why) end},
     {"badarg: explain of a non-table",
      fun() -> badarg(fun() -> ?N:explain(nope, <<"a.test">>) end) end},
     {"overlay: Fabrikam.com in the file and fabrikam.com in the config are one record, the config's",
      fun() -> {M, S, []} = ?N:overlay([{<<"Fabrikam.com">>, file_rec}, {<<"f.test">>, f}],
                                       [{<<"fabrikam.com">>, cfg_rec}], [], [], <<"/p.lua">>),
               lists:sort(M) == [{<<"f.test">>, f}, {<<"fabrikam.com">>, cfg_rec}]
                   andalso S == #{<<"fabrikam.com">> => <<"config">>,
                                  <<"f.test">> => <<"file /p.lua">>} end},
     {"overlay: runtime over config, removals hide, odd keys pass through",
      fun() -> {M, S, H} = ?N:overlay([], [{<<"C.test">>, c}, {<<"gone.test">>, g}, {{1, 2}, odd}, nope],
                                      [{<<"c.test">>, rt}], [<<"GONE.test">>], undefined),
               lists:sort(M) == lists:sort([{<<"c.test">>, rt}, {{1, 2}, odd}])
                   andalso S == #{<<"c.test">> => <<"runtime (overrides config)">>}
                   andalso H == [<<"gone.test">>] end},
     {"parse_value: none, lists, yes/1, integers, text for the builder",
      fun() -> [remove, {ok, [<<"a.test">>, <<"b.test">>]}, {ok, [<<"a.test">>, <<"b.test">>]},
                {ok, true}, {ok, false}, {ok, 20}, {ok, <<"maybe">>}, {ok, <<"1">>}] ==
                   [?N:parse_value(<<"tls">>, <<" none ">>),
                    ?N:parse_value(<<"additional_domains">>, <<"a.test b.test">>),
                    ?N:parse_value(<<"fingerprints">>, <<"[a.test, 'b.test']">>),
                    ?N:parse_value(<<"dialback">>, <<"yes">>),
                    ?N:parse_value(<<"keepalive">>, "0"),
                    ?N:parse_value(<<"connection_limit">>, <<"20">>),
                    ?N:parse_value(<<"dialback">>, <<"maybe">>),
                    ?N:parse_value(<<"tls">>, <<"1">>)] end},
     {"badarg: parse_value of a non-text",
      fun() -> badarg(fun() -> ?N:parse_value(<<"tls">>, {x}) end) end},
     {"check_text: diagnostics by partner, then the verdict naming ejabberdctl's commands",
      fun() -> {error, Diags} = ?N:build([{<<"z.test">>, [{tsl, required}]}, {<<"a.test">>, [{tpe, x}]}], []),
               Text = ?N:check_text(Diags, undefined),
               [L1, L2, L3, <<>>] = binary:split(Text, <<"\n">>, [global]),
               binary:match(L1, <<"error: partner 'a.test'">>) == {0, 23}
                   andalso binary:match(L2, <<"error: partner 'z.test'">>) == {0, 23}
                   andalso L3 == <<"partner table INVALID: 2 error(s), 0 warning(s); fix them in the "
                                   "configuration or with ejabberdctl partners_set/partners_remove">> end},
     {"check_text and diag_line of a valid table",
      fun() -> {ok, _, [Wd | _]} = ?N:build(#{<<"w.test">> => #{tls => optional}}, []),
               Line = ?N:diag_line(Wd),
               ?N:check_text([Wd], 1) == <<Line/binary, "\npartner table valid: 1 partner(s), 1 warning(s)\n">>
                   andalso binary:match(Line, <<"is matrix row 4 (warning)">>) /= nomatch
                   andalso binary:match(Line, <<"[matrix row">>) == nomatch end},
     {"show: the record as the admin show commands print it",
      fun() -> {ok, S} = ?N:show(T, <<"corp.fabrikam.com">>, <<"config">>),
               {error, E} = ?N:show(T, <<"evil.test">>, undefined),
               Head = <<"domain               fabrikam.com  (corp.fabrikam.com is one of its domains)\n"
                        "source               config\n">>,
               binary:part(S, 0, byte_size(Head)) == Head
                   andalso E == <<"evil.test is not a partner: not a partner">> end},
     {"list_text: the partner list as the admin list commands print it",
      fun() -> L = ?N:list_text(T, [{<<"fabrikam.com">>, <<"config">>, 2}], 3, <<"f">>, [<<"gone.test">>]),
               [H, _, R, More, Count, Removed, <<>>] = binary:split(L, <<"\n">>, [global]),
               binary:match(H, <<"domain        type ">>) == {0, 19}
                   andalso binary:match(R, <<"fabrikam.com  federated ">>) == {0, 24}
                   andalso More == <<"... and 2 more (not shown)">>
                   andalso binary:match(Count, <<", 3 with 'f' in the domain; unlisted domains refused">>) /= nomatch
                   andalso Removed == <<"removed at runtime (config entries hidden): gone.test">> end},
     {"badarg: list_text with a row that is no {Domain, Source, Live}",
      fun() -> badarg(fun() -> ?N:list_text(T, [x], 1, undefined, []) end) end},
     {"badarg: check_text of a non-diagnostic",
      fun() -> badarg(fun() -> ?N:check_text([x], undefined) end) end},
     {"badarg: overlay of a non-list",
      fun() -> badarg(fun() -> ?N:overlay(nope, [], [], [], undefined) end) end},
     {"reason texts name ejabberd's options",
      fun() -> ?N:reason_text(auth_timeout) ==
                   <<"the stream did not authenticate within auth_timeout">> end},
     {"refusal line",
      fun() -> ?N:refusal(incoming, <<"evil.test">>, not_partner) ==
                   <<"refused incoming s2s from evil.test: not a partner">> end},
     {"refusal back-off: final reasons",
      fun() -> ?N:reason_is_final(not_partner) andalso
                   not ?N:reason_is_final(connection_limit) end},
     {"refusal back-off: windows 10, 20, 40, bounded, 0 is off",
      fun() -> [10, 20, 40, 40, 0] == [?N:backoff_next(0, 40), ?N:backoff_next(10, 40),
                                       ?N:backoff_next(20, 40), ?N:backoff_next(40, 40),
                                       ?N:backoff_next(0, 0)] end},
     {"refusal back-off: summary line",
      fun() -> ?N:refusal_summary(incoming, <<"j.test">>, 212, 60, not_partner) ==
                   <<"refused incoming s2s from j.test 212 more times in the last 60 s: not a partner">> end},
     {"refusal back-off: summary of a 3000-octet name is not truncated",
      fun() -> D = binary:copy(<<"a">>, 3000),
               binary:match(?N:refusal_summary(incoming, D, 1, 10, not_partner), D) /= nomatch end},
     {"badarg: back-off with a negative window",
      fun() -> badarg(fun() -> ?N:backoff_next(-1, 40) end) end},
     {"badarg: summary with an unknown token",
      fun() -> badarg(fun() -> ?N:refusal_summary(incoming, <<"a.test">>, 1, 1, nope) end) end},
     {"table info reports refusal_backoff",
      fun() -> {ok, B, _} = ?N:build(#{}, [{refusal_backoff, 40}]),
               maps:get(refusal_backoff, ?N:info(B)) == 40 end},
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
     {"matrix(Tls, Sasl, Dialback) parses the level names (xp_tls_parse)",
      fun() -> {ok, #{row := R}} = ?N:matrix(optional, optional, true),
               is_integer(R) andalso
                   ?N:matrix(sometimes, required, false)
                       == {error, <<"unknown tls value">>} andalso
                   ?N:matrix(required, 'Required', false)
                       == {error, <<"unknown sasl value">>} andalso
                   badarg(fun() -> ?N:matrix("required", required, false) end)
      end},
     {"pin_matches takes every pin spelling the fingerprints key takes",
      fun() -> Hex = lists:flatten([io_lib:format("~2.16.0b", [X])
                                    || X <- lists:seq(1, 32)]),
               Colons = string:join([string:to_upper(lists:sublist(Hex, I, 2))
                                     || I <- lists:seq(1, 63, 2)], ":"),
               Pin = list_to_binary("sha256:" ++ Hex),
               {ok, TP, _} = ?N:build(#{<<"pin.test">> =>
                                            #{fingerprints => [Pin]}}, []),
               ?N:pin_matches(TP, <<"pin.test">>, Pin) andalso
                   ?N:pin_matches(TP, <<"pin.test">>,
                                  list_to_binary("sha256:" ++ Colons)) andalso
                   not ?N:pin_matches(TP, <<"pin.test">>,
                                      list_to_binary("sha256:" ++ tl(Hex)))
      end},
     {"partner_file: partners, xmpp_partners_* options, a sequence as a list",
      fun() -> F = tmp_file("good.cfg.lua",
                            "xmpp_partners_default = \"allow\"\n"
                            "xmpp_partners_connection_limit = 7\n"
                            "xmpp_partners = { [\"f.test\"] = { tls = \"optional\";"
                            " dialback = true; additional_domains = { \"g.test\","
                            " \"h.test\" }; connection_limit = 3 } }\n"),
               {ok, [{<<"f.test">>, R}], Opts, []} = ?N:partner_file(F),
               lists:sort(R) == [{<<"additional_domains">>,
                                  [<<"g.test">>, <<"h.test">>]},
                                 {<<"connection_limit">>, 3},
                                 {<<"dialback">>, true},
                                 {<<"tls">>, <<"optional">>}]
                   andalso lists:sort(Opts) == [{connection_limit, 7},
                                                {default, <<"allow">>}]
                   andalso element(1, ?N:build([{<<"f.test">>, R}], [])) == ok
      end},
     {"odd keys named as walk.c and Lua name them: [2.5], [2.0], [true]",
      fun() -> {error, Ds} = ?N:build([{<<"a.test">>, [{2.5, 1}, {2.0, 1},
                                                       {true, 1}]}], []),
               Ms = [maps:get(message, D) || D <- Ds],
               lists:all(fun(K) ->
                                 lists:any(fun(M) -> binary:match(M, K) /= nomatch
                                           end, Ms)
                         end, [<<"'[2.5]'">>, <<"'[2.0]'">>, <<"'[true]'">>])
      end},
     {"partner_file: a file with errors is refused by the evaluator's walk",
      fun() -> F = tmp_file("fun.cfg.lua", "xmpp_partners = { [\"f.test\"] ="
                            " { tls = function() end } }\n"),
               {error, M} = ?N:partner_file(list_to_binary(F)),
               Prefix = list_to_binary(F ++ ": "),
               {0, _} = binary:match(M, Prefix),
               binary:match(M, <<"'tls'">>) /= nomatch andalso
                   binary:match(M, <<"not a function">>) /= nomatch
      end},
     {"partner_file: the sandbox refuses os, io, require",
      fun() -> F = tmp_file("bad.cfg.lua", "xmpp_partners = { [os.getenv('H')]"
                            " = {} }\n"),
               {error, M} = ?N:partner_file(F),
               binary:match(M, <<"'os' is not available">>) /= nomatch
      end},
     {"partner_file: xmpp_partners not a table, a missing file: errors",
      fun() -> F = tmp_file("str.cfg.lua", "xmpp_partners = \"x\"\n"),
               {error, M} = ?N:partner_file(F),
               binary:match(M, <<"not a table">>) /= nomatch andalso
                   element(1, ?N:partner_file("/nonexistent/p.cfg.lua")) == error
      end},
     {"partner_file: no xmpp_partners at all is an empty table",
      fun() -> F = tmp_file("empty.cfg.lua", "-- nothing\n"),
               ?N:partner_file(F) == {ok, [], [], []} end},
     {"badarg: partner_file of a non-path, an empty path, a NUL",
      fun() -> badarg(fun() -> ?N:partner_file(42) end) andalso
                   badarg(fun() -> ?N:partner_file(<<>>) end) andalso
                   badarg(fun() -> ?N:partner_file(<<"a", 0, "b">>) end) end},
     {"garbage collection frees tables without crashing",
      fun() -> [begin {ok, X, _} = ?N:build(#{<<"a.test">> => #{}}, []), X end
                || _ <- lists:seq(1, 2000)],
               erlang:garbage_collect(), true end}].

tmp_file(Name, Text) ->
    Dir = case os:getenv("XP_NIF_TMP") of
              false -> "/tmp";
              D -> D
          end,
    Path = filename:join(Dir, Name),
    ok = file:write_file(Path, Text),
    Path.

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
