%%% xmpp_partners_sessions.hrl: one live s2s stream the partner policy
%%% admitted, as xmpp_partners_sessions keeps it (keyed by the stream's
%%% process and the remote domain: a dialback stream may carry several).
-record(xp_session, {key :: {pid(), binary()}, dir :: incoming | outgoing,
                     local :: binary(), remote :: binary(),
                     primary :: binary(), encrypted :: boolean(),
                     method :: 'EXTERNAL' | dialback, since :: integer()}).
