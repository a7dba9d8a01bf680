%%% xmpp_partners_monitoring: what the module shows of itself: the
%%% OpenMetrics text of partners_metrics, and the status data of the
%%% WebAdmin page and its JSON (xmpp_partners_webadmin).
-module(xmpp_partners_monitoring).

-export([partners_metrics/0, status_data/1]).

-include("xmpp_partners_sessions.hrl").

-define(NIF, xmpp_partners_nif).

%% The counters and gauges in the OpenMetrics text format.  Labels:
%% partner (a partner's primary domain, or "unlisted"), direction, reason
%% (the core's tokens) or method (sasl_tls, dialback_tls, dialback_tcp).
-spec partners_metrics() -> string().
partners_metrics() ->
    Counters = xmpp_partners_backoff:counters(),
    Refused = [{[{partner, P}, {direction, D}, {reason, R}], N}
               || {{refused, P, D, R}, N} <- Counters],
    Auth = [{[{partner, P}, {direction, D}, {method, M}], N}
            || {{authenticated, P, D, M}, N} <- Counters],
    Streams = lists:foldl(
                fun(#xp_session{key = {Pid, _}, primary = P, dir = D}, Acc) ->
                        maps:put({P, D, Pid}, 1, Acc)
                end, #{}, xmpp_partners_sessions:live()),
    Gauge = lists:foldl(fun({P, D, _}, Acc) ->
                                maps:update_with({P, D}, fun(X) -> X + 1 end,
                                                 1, Acc)
                        end, #{}, maps:keys(Streams)),
    StreamRows = [{[{partner, P}, {direction, D}], N}
                  || {{P, D}, N} <- lists:sort(maps:to_list(Gauge))],
    Origins = length([x || #{active := true}
                               <- xmpp_partners_backoff:snapshot()]),
    lists:flatten(
      [metric_family("xmpp_partners_refused", counter,
                     "s2s streams, authentications and stanzas refused, "
                     "every attempt (back-off included)", Refused),
       metric_family("xmpp_partners_authenticated", counter,
                     "s2s authentications accepted", Auth),
       metric_family("xmpp_partners_streams", gauge,
                     "live s2s streams admitted by the partner policy",
                     StreamRows),
       metric_family("xmpp_partners_refusal_backoff_origins", gauge,
                     "origins refused at the stream header right now",
                     [{[], Origins}]),
       "# EOF"]).

metric_family(Name, Type, Help, Samples) ->
    Suffix = case Type of counter -> "_total"; gauge -> "" end,
    [fmt("# TYPE ~ts ~ts\n# HELP ~ts ~ts\n", [Name, Type, Name, Help]),
     [fmt("~ts~ts~ts ~B\n", [Name, Suffix, metric_labels(Labels), N])
      || {Labels, N} <- Samples]].

metric_labels([]) -> "";
metric_labels(Labels) ->
    ["{", lists:join(",", [[atom_to_list(K), "=\"", label_value(V), "\""]
                           || {K, V} <- Labels]), "}"].

label_value(V) when is_atom(V) -> label_value(atom_to_binary(V, utf8));
label_value(V) ->
    lists:flatmap(fun($\\) -> "\\\\"; ($") -> "\\\""; ($\n) -> "\\n";
                     (C) -> [C]
                  end, unicode:characters_to_list(V)).

%% Everything the status page shows, as a map jiffy can encode: the partner
%% table of the first host running the module (with type, rules and source),
%% live streams, refusal and authentication counters (with the time of the
%% last refusal), the refusal back-off, and the explain text for Explain.
-spec status_data(binary() | undefined) -> map().
status_data(Explain) ->
    case xmpp_partners_table:command_host() of
        undefined -> #{running => false};
        Host ->
            T = xmpp_partners_table:table(Host),
            Sources = xmpp_partners_table:sources(Host),
            Info = ?NIF:info(T),
            Partners = [begin
                            {ok, P} = ?NIF:lookup(T, D),
                            #{domain => D, type => maps:get(type, P),
                              tls => maps:get(tls, P),
                              sasl => maps:get(sasl, P),
                              dialback => maps:get(dialback, P),
                              additional_domains =>
                                  maps:get(additional_domains, P),
                              source => maps:get(D, Sources, <<"?">>)}
                        end || D <- ?NIF:partners(T)],
            Streams = lists:sort(
                        [#{partner => Pr, direction => Dir, local => L,
                           remote => R, encrypted => Enc,
                           method => xmpp_partners_refusals:method_label(M, Enc),
                           since => Since}
                         || #xp_session{dir = Dir, local = L, remote = R,
                                        primary = Pr, encrypted = Enc,
                                        method = M, since = Since}
                                <- xmpp_partners_sessions:live()]),
            C = xmpp_partners_backoff:counters(),
            Last = maps:from_list([{K, V} || {{last, K}, V} <- C]),
            Refused = [#{partner => P, direction => D, reason => R,
                         text => ?NIF:reason_text(R), count => N,
                         last => maps:get(K, Last, null)}
                       || {{refused, P, D, R} = K, N} <- C],
            Auth = [#{partner => P, direction => D, method => M, count => N}
                    || {{authenticated, P, D, M}, N} <- C],
            Backoff = [B#{domain := null_if_undefined(Dom),
                          ip := null_if_undefined(Ip),
                          text => ?NIF:reason_text(R)}
                       || #{domain := Dom, ip := Ip, reason := R} = B
                              <- xmpp_partners_backoff:snapshot()],
            #{running => true, host => Host,
              default => maps:get(default, Info),
              closed => maps:get(closed, Info, false),
              refusal_backoff => maps:get(refusal_backoff, Info, 300),
              partners => Partners, streams => Streams, refused => Refused,
              authenticated => Auth, backoff => Backoff,
              recent => [R#{domain := null_if_undefined(D),
                            text => ?NIF:reason_text(Tok)}
                         || #{domain := D, reason := Tok} = R
                                <- xmpp_partners_backoff:recent()],
              explain => case Explain of
                             undefined -> null;
                             _ -> #{domain => Explain,
                                    text => unicode:characters_to_binary(
                                              xmpp_partners_commands:
                                                  partners_explain(Explain))}
                         end}
    end.

null_if_undefined(undefined) -> null;
null_if_undefined(V) -> V.

fmt(F, A) -> io_lib:format(F, A).
