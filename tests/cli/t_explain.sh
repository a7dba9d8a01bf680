#!/usr/bin/env bash
# t_explain.sh: `xmpp-partners explain`: mapping, directions, limits and
# contact policy, refused domains, allow mode, bad input.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/cli/lib.sh"
G=$DATA/good.cfg.lua

run explain "$G" fabrikam.com
expect_rc "a primary domain: status 0" 0
expect_out "the primary domain maps to its partner" '^  partner +fabrikam\.com \(its primary domain\)'
expect_out "the matrix row and its warning" 'dialback = true: matrix row 1 \(warn\): dialback is never used'
expect_out "incoming STARTTLS is required" '^  STARTTLS +offered as required'
expect_out "outgoing STARTTLS is required" '^  STARTTLS +required: the stream is closed rather than continue in the clear'
expect_out "SASL EXTERNAL offered with a trusted chain" 'TLS, valid certificate, trusted chain +yes'
expect_out "SASL EXTERNAL refused without a pin or a trusted chain" 'TLS, valid certificate, untrusted chain, no pin +no: the certificate chain is not trusted'
expect_out "dialback refused because SASL is required" 'no: the partner must authenticate with SASL EXTERNAL \(sasl = required\)'
expect_out "dialback_tcp is refused" 'dialback_tcp, on a plain stream +no:'
expect_out "stanzas need TLS" 'on a plain stream +no: the partner requires TLS'
expect_out "the proxy" 'connect to +xmpp-gw\.fabrikam\.com port 5269 \(proxy\)'
expect_out "the partner's connection limit" 'at most 10 with this partner and 500 with all partners together'
expect_out "the limit is enforced by the core" "with 10 open to this partner, one more: no: the partner's connection_limit is reached"
expect_out "the keepalive interval of the file" 'a whitespace keepalive after 120 s'
expect_out "federated: subscriptions approved" 'not in the local user.s roster +approved automatically'
expect_out "federated: status sent" 'the <status/> text is sent'

run explain "$G" Corp.Fabrikam.COM.
expect_rc "an additional domain, in capitals with a dot: status 0" 0
expect_out "an additional domain maps to its partner" 'partner +fabrikam\.com \(the domain is one of its additional_domains\)'

run explain "$G" contoso.com
expect_out "a pinned key is listed" 'pinned keys +sha256:9f86d081'
expect_out "public_verified: status removed" 'the <status/> text is removed'
expect_out "sasl optional: dialback over TLS accepted" 'dialback_tls, on a TLS stream +yes'

run explain "$G" litware.test
expect_out "tls optional: offered, not required" '^  STARTTLS +offered \(not required\)'
expect_out "sasl not_supported: one line for every situation" "in every situation +no: SASL EXTERNAL is not used with this partner"
expect_out "public_unverified: strangers' requests refused" 'not in the local user.s roster +refused: answered with unsubscribed'
expect_out "public_unverified: strangers' messages bounced" 'from a user not in the roster +bounced with service-unavailable'
expect_out "keepalive off" 'keepalive +none'

run explain "$G" evil.test
expect_rc "a refused domain is explained: status 0" 0
expect_out "refused, with the reason and the mode" '^  refused: not a partner \(no partner lists it, and xmpp_partners_default = "deny"\)'
expect_out "the refusal log line, incoming" 'refused incoming s2s from evil\.test: not a partner'
expect_out "the refusal log line, outgoing" 'refused outgoing s2s to evil\.test: not a partner'
expect_out "refused: messages bounced" 'bounced with service-unavailable'

run explain "$DATA/allow.cfg.lua" other.example
expect_rc "allow mode: status 0" 0
expect_out "allow mode: the built-in default record" 'xmpp_partners_default = "allow" lets it federate with the built-in default record'
expect_out "allow mode defaults: row 9" 'tls = "optional", sasl = "optional", dialback = true: matrix row 9'

run explain "$G" "bad domain"
expect_rc "an invalid domain: status 2" 2
expect_err "an invalid domain is explained" "'bad domain' is not a valid domain: .*white space"

run explain "$DATA/errors.cfg.lua" fabrikam.com
expect_rc "a file with errors: status 1" 1
expect_out "the errors are shown" "errors\.cfg\.lua:4: error:"
expect_out "and why nothing is explained" 'nothing to explain'

run explain "$TMP/missing.lua" a.example
expect_rc "a missing file: status 2" 2

f=$(write_file v.lua 'os.exit(1)')
run explain "$f" a.example
expect_rc "a sandbox violation: status 2" 2

run explain "$DATA/prosody.cfg.lua" corp.fabrikam.com
expect_rc "explain reads a whole prosody.cfg.lua" 0
expect_out "with lists computed in the file" 'partner +fabrikam\.com \(the domain is one of its additional_domains\)'

tap_done
