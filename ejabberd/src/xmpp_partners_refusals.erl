%%% xmpp_partners_refusals: every refusal logged with the core's line,
%%% counted (xmpp_partners_backoff) and, incoming, logged once per back-off
%%% window; and the refusals xmpp_stream_in/out make on their own (issue
%%% 18), put back on the partner's rule that caused them.
-module(xmpp_partners_refusals).

-export([refused/3, method_label/2, at_header/1, out_refused/2,
         in_refused/2]).

-include("logger.hrl").
-import(xmpp_partners_table, [table/1, loaded_table/1, loaded_hosts/0]).

-define(NIF, xmpp_partners_nif).

%% Every refusal is counted; an incoming one that the refusal back-off
%% only counts (a peer retrying within its window) is not logged again.
%% -> the core's refusal line.
-spec refused(incoming | outgoing, binary() | undefined, atom()) -> binary().
refused(Dir, Domain, Token) ->
    Line = ?NIF:refusal(Dir, Domain, Token),
    xmpp_partners_backoff:count({refused, partner_label(Domain), Dir, Token}),
    xmpp_partners_backoff:note(Dir, Domain, Token, false),
    Log = case Dir of
              incoming ->
                  xmpp_partners_backoff:refused(Domain, get(xp_s2s_ip), Token);
              outgoing -> true
          end,
    case Log of
        true -> ?INFO_MSG("~ts", [Line]);
        false -> ok
    end,
    Line.

%% The metrics label of a remote domain: its partner's primary domain on
%% the first host that knows it, else one shared label, so a flood of
%% made-up names adds no series.
partner_label(undefined) -> <<"unlisted">>;
partner_label(Domain) ->
    Found = [P || H <- loaded_hosts(),
                  {ok, P} <- [catch ?NIF:resolve(table(H), Domain)]],
    case Found of
        [P | _] -> P;
        [] -> <<"unlisted">>
    end.

%% The method label of the metrics and the status page.
-spec method_label('EXTERNAL' | dialback, boolean()) ->
          sasl_tls | dialback_tls | dialback_tcp.
method_label('EXTERNAL', _) -> sasl_tls;
method_label(_, true) -> dialback_tls;
method_label(_, _) -> dialback_tcp.

%% At an incoming stream's first header (before TLS): {refuse, Text} when
%% its origin (domain from 'from', else address) is in a refusal back-off
%% window, else ok.  The attempt is counted, not logged.
-spec at_header(map()) -> ok | {refuse, binary()}.
at_header(#{stream_encrypted := true}) -> ok;
at_header(State) ->
    Domain = maps:get(remote_server, State, undefined),
    Ip = get(xp_s2s_ip),
    case xmpp_partners_backoff:at_header(Domain, Ip) of
        ok -> ok;
        {refuse, Token} ->
            xmpp_partners_backoff:count({refused, partner_label(Domain),
                                         incoming, Token}),
            xmpp_partners_backoff:note(incoming, Domain, Token, true),
            {refuse, ?NIF:reason_text(Token)}
    end.

%% An outgoing partner stream that xmpp_stream_out gives up on before
%% authentication (xmpp_partners_s2s_out: SASL impossible or failed with
%% no dialback to follow, or its own STARTTLS stream errors): the
%% partner's rules refused it, so it is logged and counted like every
%% refusal, with the core's reason.  What: auth_failure (the rule is why
%% dialback may not follow, or why EXTERNAL was not tried when that is
%% what the rules withheld, as on Prosody), tls_missing (tls = required,
%% the peer offered no STARTTLS), tls_refused (tls = not_supported, the
%% peer requires STARTTLS), {pkix, Why} (ejabberd rejected the peer's
%% certificate).
-spec out_refused(map(), auth_failure | tls_missing | tls_refused
                         | {pkix, atom()}) -> ok.
out_refused(#{server_host := Host, remote_server := R} = State, What) ->
    case loaded_table(Host) of
        undefined -> ok;
        T ->
            case out_refusal_token(T, R, State, What) of
                undefined -> ok;
                Token -> _ = refused(outgoing, R, Token), ok
            end
    end;
out_refused(_State, _What) ->
    ok.

out_refusal_token(T, R, State, {pkix, Why}) ->
    %% ejabberd verified the certificate because the core allows no
    %% dialback (or mod_s2s_dialback is not loaded): the rule is why
    %% EXTERNAL may not use this certificate
    cert_refusal_token(T, R, outgoing, Why, State);
out_refusal_token(_T, _R, _State, tls_missing) -> tls_required;
out_refusal_token(_T, _R, _State, tls_refused) -> tls_not_supported;
out_refusal_token(T, R, State, auth_failure) ->
    Enc = maps:get(stream_encrypted, State, false),
    case ?NIF:dialback(T, R, outgoing, Enc, undefined, undefined, false) of
        {false, DbToken, _} ->
            Ext = case maps:get(xp_external, State, true) of
                      false when Enc ->
                          ?NIF:sasl_external(T, R, outgoing, Enc, valid, valid,
                                             false);
                      _ -> true
                  end,
            case Ext of
                {false, ExtToken, _} -> ExtToken;
                _ -> DbToken
            end;
        %% dialback allowed but not loaded (mod_s2s_dialback): ejabberd's
        %% failure, not the partner's rules
        _ -> undefined
    end.

%% The certificate facts behind an xmpp_stream_pkix error and the core's
%% rule for SASL EXTERNAL with them, or undefined when the core would
%% accept them (then it was not the partner's rules).  The chain: trusted
%% when ejabberd got as far as the host name, absent without a
%% certificate, else not trusted; the identity: the core checks the
%% peer's certificate itself (ejabberd stops at the chain).
cert_refusal_token(T, R, Dir, Why, State) ->
    Der = case catch xmpp_socket:get_peer_certificate(maps:get(socket, State),
                                                     der) of
              {ok, D} when is_binary(D) -> D;
              %% an outgoing stream's socket is closed by now:
              %% xmpp_partners_s2s_out:tls_verify/1 kept the certificate
              _ -> get(xp_peer_cert)
          end,
    {Chain, Id} = case {Why, Der} of
                      {_, undefined} -> {undefined, undefined};
                      {hostname_mismatch, _} -> {valid, invalid};
                      {idna_failed, _} -> {valid, invalid};
                      _ -> {invalid, case ?NIF:cert_identity(Der, R, false) of
                                         valid -> valid;
                                         _ -> invalid
                                     end}
                  end,
    case ?NIF:sasl_external(T, R, Dir, true, Chain, Id, false) of
        {false, Token, _} -> Token;
        _ -> undefined
    end.

%% An incoming stream that xmpp_stream_in refuses on its own, for a domain
%% the module judges (xmpp_partners_s2s_in: handle_auth_failure/4,
%% handle_stream_end/2): logged with the core's rule, once per back-off
%% window like every incoming refusal.  What: {auth_failure, Mech,
%% ReasonText} (SASL failed: EXTERNAL the rules withhold, or a
%% certificate EXTERNAL may not use), tls_missing (tls = required, the
%% peer went on without STARTTLS), tls_refused (tls = not_supported, the
%% peer asked for STARTTLS).
-spec in_refused(map(), {auth_failure, binary(), binary()} | tls_missing
                        | tls_refused) -> ok.
in_refused(#{server_host := Host, remote_server := R} = State, What)
  when is_binary(R) ->
    case loaded_table(Host) of
        undefined -> ok;
        T ->
            case in_refusal_token(T, R, State, What) of
                undefined -> ok;
                Token -> _ = refused(incoming, R, Token), ok
            end
    end;
in_refused(_State, _What) ->
    ok.

in_refusal_token(_T, _R, _State, tls_missing) -> tls_required;
in_refusal_token(_T, _R, _State, tls_refused) -> tls_not_supported;
in_refusal_token(T, R, State, {auth_failure, <<"EXTERNAL">>, Text}) ->
    Enc = maps:get(stream_encrypted, State, false),
    %% first the rule itself (sasl = not_supported, no TLS), whatever the
    %% certificate; then the certificate xmpp_stream_pkix refused
    case ?NIF:sasl_external(T, R, incoming, Enc, valid, valid, false) of
        {false, Token, _} -> Token;
        _ ->
            Why = case Text of
                      <<"Certificate host name mismatch">> -> hostname_mismatch;
                      <<"Remote domain is not an IDN hostname">> -> idna_failed;
                      <<"Failed to get peer certificate">> -> get_cert_failed;
                      _ -> chain
                  end,
            pinned_but_untrusted(T, R, Why, State),
            cert_refusal_token(T, R, incoming, Why, State)
    end;
in_refusal_token(_T, _R, _State, _What) ->
    undefined.

%% Incoming pins cannot be honoured on ejabberd 23.01 (README-ejabberd.md,
%% "Incoming certificate pins"): xmpp_stream_in decides SASL EXTERNAL in
%% xmpp_stream_pkix from fast_tls's verify result, with no callback in
%% between.  When a partner's pinned key on a certificate valid for its
%% domain is what ejabberd just refused, say so, with the fix, next to the
%% refusal line.
pinned_but_untrusted(T, R, Why, #{socket := Socket})
  when Why /= hostname_mismatch, Why /= idna_failed ->
    case catch xmpp_socket:get_peer_certificate(Socket, der) of
        {ok, Der} when is_binary(Der) ->
            case ?NIF:cert_pin(Der) of
                {ok, Pin} ->
                    case ?NIF:pin_matches(T, R, Pin) andalso
                        ?NIF:cert_identity(Der, R, false) == valid of
                        true ->
                            ?WARNING_MSG(
                               "partner policy: ~ts presents the pinned key "
                               "~ts on a certificate without a trusted chain; "
                               "ejabberd verifies incoming certificates "
                               "itself and accepts no pinned key in their "
                               "place: add ~ts's certificate to s2s_cafile "
                               "(or ca_file), or allow it dialback",
                               [R, Pin, R]);
                        false -> ok
                    end;
                _ -> ok
            end;
        _ -> ok
    end;
pinned_but_untrusted(_T, _R, _Why, _State) ->
    ok.
