#!/bin/bash
# t_piggyback.sh: dialback piggybacking.  One stream that authenticated a
# partner domain must not carry other domains the policy refuses (SPEC
# section 3: every authentication is checked per domain pair).
#
# A raw s2s peer (a Lua script using Prosody's own libraries) connects to
# a.test as the partner b.test and authenticates with dialback on a plain
# stream (b.test's rules allow dialback_tcp).  The real b.test, c.test,
# d.test and e.test servers share a known dialback secret, so the peer can
# make keys their authoritative servers confirm.  On the authenticated
# stream it then asks to authenticate more domains:
#   e.test  a partner with b.test's rules: accepted (the control: piggybacking
#           itself works, so the refusals below are the policy's doing);
#   c.test  not a partner: refused, logged, the stream stays up for b.test;
#   d.test  a partner whose rules require SASL EXTERNAL (sasl = required, so
#           its dialback = true is never used): refused, logged.
#   u.test  a public_unverified partner with b.test's rules: accepted, but
#           its users are strangers to alice, so their messages bounce
#           although b.test's and e.test's on the same stream did not (the
#           module decides per stream which messages need a roster check,
#           and must decide again for each domain the stream adds).
# Stanzas from the accepted domains reach alice@a.test; a stanza from c.test
# does not, and Prosody closes the stream for it.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
tap_plan 15

LUA=$(xp__prosody_lua)
PROSODY_SRC=$(sed -n "s/^CFG_SOURCEDIR=['\"]\\{0,1\\}\\([^'\"]*\\).*/\\1/p" "$(command -v "$XP_PROSODY")" | head -n 1)
: "${PROSODY_SRC:=/usr/lib/prosody}"
[ -r "$PROSODY_SRC/util/hashes.so" ] || xp__missing "Prosody's libraries not found in $PROSODY_SRC"
$LUA -e 'require "socket"' >/dev/null 2>&1 || xp__missing "LuaSocket is missing for $LUA"

for d in a.test b.test c.test d.test e.test u.test; do xp_host "$d"; done
SECRET=xp-piggyback-test-secret
cat >"$XP_WORK/partners-a.lua" <<'EOF'
xmpp_partners = {
	["b.test"] = { type = "federated", tls = "optional", sasl = "not_supported", dialback = true };
	["e.test"] = { type = "federated", tls = "optional", sasl = "not_supported", dialback = true };
	["d.test"] = { type = "federated", tls = "required", sasl = "required", dialback = true };
	["u.test"] = { type = "public_unverified", tls = "optional", sasl = "not_supported", dialback = true };
}
EOF
ok=1
xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners \
	--extra-lua "Include $(xp__lua_str "$XP_WORK/partners-a.lua")" || ok=0
for s in b c d e u; do
	xp_start_prosody "$s" "$(xp_addr $s.test)" $s.test --extra-lua "dialback_secret = \"$SECRET\"" || ok=0
done
if [ "$ok" = 1 ]; then
	tap_ok "a.test (mod_xmpp_partners) and b, c, d, e, u.test (shared dialback secret) started"
else
	tap_fail "servers started"
	xp_bail "cannot start the servers"
fi
xp_register a alice@a.test >"$XP_WORK/register.out" 2>&1 || xp_bail "cannot register alice"
xp_client_bg rx-a --resource rx --timeout 5 alice@a.test wait 600
xp_client_ready rx-a || xp_bail "alice did not log in"

# ---- the raw peer ----------------------------------------------------------------
cat >"$XP_WORK/rawpeer.lua" <<'EOF'
-- rawpeer.lua ADDR SECRET STEP...: a minimal s2s peer for tests.  Opens a
-- plain stream from b.test to a.test at ADDR:5269, then runs the STEPs:
--   auth DOMAIN        send <db:result from=DOMAIN> with the key DOMAIN's
--                      authoritative server (sharing SECRET) confirms, and
--                      print "result DOMAIN <type>" (valid, invalid, error)
--   msg FROM TO BODY   send a <message/>
--   wait SECONDS       keep reading
-- Every stream error is printed as "stream-error <condition>", the end of the
-- stream as "closed".  Each step waits at most 10 s.
local socket = require "socket";
local hashes = require "util.hashes";
local addr, secret = arg[1], arg[2];
local steps = { table.unpack(arg, 3) };

local function out(...) io.write(table.concat({ ... }, " "), "\n"); io.flush(); end
local sock = assert(socket.tcp());
sock:settimeout(10);
assert(sock:connect(addr, 5269));
sock:settimeout(0.05);
local buf, closed = "", false;

local function pump(deadline)
	while socket.gettime() < deadline do
		local data, err, partial = sock:receive("*a");
		data = data or partial;
		if data and #data > 0 then buf = buf .. data; return true; end
		if err == "closed" then closed = true; return false; end
	end
	return false;
end

-- Wait until pattern matches the received text; returns the captures.
local function expect(pattern, secs)
	local deadline = socket.gettime() + (secs or 10);
	repeat
		local cap = { buf:match(pattern) };
		if cap[1] then return table.unpack(cap); end
	until not pump(deadline) and (closed or socket.gettime() >= deadline);
	local cap = { buf:match(pattern) };
	if cap[1] then return table.unpack(cap); end
	return nil;
end

-- The type of a.test's <db:result/> for domain (at most 10 s); the text up
-- to it is consumed.
local function result_for(domain)
	local deadline = socket.gettime() + 10;
	repeat
		for s, e in buf:gmatch("()<db:result[^>]*>()") do
			local tag = buf:sub(s, e - 1);
			if tag:match("to=['\"]([^'\"]*)['\"]") == domain then
				buf = buf:sub(e);
				return tag:match("type=['\"](%w+)['\"]") or "untyped";
			end
		end
	until not pump(deadline) and (closed or socket.gettime() >= deadline);
	return nil;
end

local function report_errors()
	for cond in buf:gmatch("<stream:error><([%w%-]+)") do out("stream-error", cond); end
	if closed or buf:find("</stream:stream>", 1, true) then out("closed"); end
end

sock:send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	.. "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
	.. "from='b.test' to='a.test' version='1.0'>");
local header = expect("(<stream:stream[^>]*>)");
local id = header and header:match("id=['\"]([^'\"]+)['\"]");
if not id or not expect("</stream:features>") then
	out("no-stream", buf:sub(1, 300));
	report_errors();
	os.exit(1);
end
out("stream", id);
buf = "";

local dialback_secret = hashes.sha256(secret, true);
local n = 1;
while n <= #steps do
	local step = steps[n];
	if step == "auth" then
		local domain = steps[n + 1];
		n = n + 2;
		local key = hashes.hmac_sha256(dialback_secret, "a.test " .. domain .. " " .. id, true);
		sock:send(("<db:result from='%s' to='a.test'>%s</db:result>"):format(domain, key));
		out("result", domain, result_for(domain) or "none");
	elseif step == "msg" then
		local from, to, body = steps[n + 1], steps[n + 2], steps[n + 3];
		n = n + 4;
		sock:send(("<message from='%s' to='%s' type='chat'><body>%s</body></message>"):format(from, to, body));
		out("sent", from, body);
	elseif step == "wait" then
		local secs = tonumber(steps[n + 1]);
		n = n + 2;
		local deadline = socket.gettime() + secs;
		while pump(deadline) or (not closed and socket.gettime() < deadline) do end
	else
		out("bad-step", step);
		os.exit(2);
	end
	if closed then break; end
end
report_errors();
sock:close();
EOF

xp_log_mark a
LUA_PATH="$PROSODY_SRC/?.lua;;" LUA_CPATH="$PROSODY_SRC/?.so;;" \
	timeout 60 "$LUA" "$XP_WORK/rawpeer.lua" "$(xp_addr a.test)" "$SECRET" \
	auth b.test \
	msg bob@b.test alice@a.test pb-from-b \
	auth c.test \
	auth d.test \
	auth e.test \
	msg eve@e.test alice@a.test pb-from-e \
	msg bob@b.test alice@a.test pb-from-b-after \
	auth u.test \
	msg uma@u.test alice@a.test pb-from-u \
	msg bob@b.test alice@a.test pb-from-b-last \
	wait 1 \
	msg carl@c.test alice@a.test pb-from-c \
	wait 2 >"$XP_WORK/rawpeer.out" 2>&1
rc=$?
RAW=$(cat "$XP_WORK/rawpeer.out")
sleep 0.3

# wait_rx BODY: wait (bounded) for alice to receive BODY.
wait_rx() {
	for _ in $(seq 1 60); do
		grep -q "body=$1\$" "$(xp_client_out rx-a)" && return 0
		sleep 0.05
	done
	return 1
}
got() { grep -qx "$1" <<<"$RAW"; }

if got "result b.test valid" && xp_log_new a | grep -q 'partner policy accepted incoming b.test by dialback_tcp'; then
	tap_ok "the raw peer authenticates as the partner b.test by dialback_tcp"
else
	tap_fail "the raw peer authenticates as b.test" "exit $rc
$RAW
$(xp_log_new a | grep -vE 'Sending|Received' | tail -n 20)"
	xp_bail "the raw peer could not authenticate; nothing else can be tested"
fi
if wait_rx pb-from-b; then
	tap_ok "bob@b.test's message over the raw stream reaches alice"
else
	tap_fail "bob@b.test's message over the raw stream reaches alice" "$(xp_client_report rx-a)"
fi

# The control: piggybacking a domain the policy allows works.
if got "result e.test valid" && xp_log_new a | grep -q 'partner policy accepted incoming e.test by dialback_tcp'; then
	tap_ok "piggybacked e.test (a partner with b.test's rules) is accepted: piggybacking works"
else
	tap_fail "piggybacked e.test is accepted" "$RAW"
fi
if wait_rx pb-from-e; then
	tap_ok "eve@e.test's message over b.test's stream reaches alice"
else
	tap_fail "eve@e.test's message over b.test's stream reaches alice" "$(xp_client_report rx-a)"
fi

# The refusals.
n_c=$(xp_log_count a 'info	refused incoming s2s from c\.test: not a partner$')
if got "result c.test error" && [ "$n_c" -eq 1 ]; then
	tap_ok "piggybacked c.test (not a partner) is refused: db:result type=error; 'refused incoming s2s from c.test: not a partner' logged once"
else
	tap_fail "piggybacked c.test is refused and logged once" "refusal lines: $n_c
$RAW"
fi
n_d=$(xp_log_count a 'info	refused incoming s2s from d\.test: the partner must authenticate with SASL EXTERNAL')
if got "result d.test error" && [ "$n_d" -eq 1 ]; then
	tap_ok "piggybacked d.test (partner with sasl = required, dialback = true) is refused: db:result type=error; 'refused incoming s2s from d.test: the partner must authenticate with SASL EXTERNAL ...' logged once"
else
	tap_fail "piggybacked d.test is refused and logged once" "refusal lines: $n_d
$RAW"
fi
accepted_other=$(xp_log_new a | grep -cE 'partner policy accepted incoming (c|d)\.test')
verified=$(xp_log_new a | grep -cE 'asking (c|d)\.test if key')
tap_is "$accepted_other/$verified" 0/0 \
	"c.test and d.test are never authenticated, not even sent to their servers for verification"
if wait_rx pb-from-b-after; then
	tap_ok "the stream stays up for b.test after the refusals (bob's next message arrives)"
else
	tap_fail "the stream stays up for b.test after the refusals" "$RAW"
fi

# A public_unverified domain added to a stream whose messages needed no
# roster check: its stranger's message bounces, b.test's still arrive.
n_u=$(xp_log_count a 'refused message from uma@u\.test to alice@a\.test: not in the roster')
if got "result u.test valid" && wait_rx pb-from-b-last && [ "$n_u" -eq 1 ] &&
	! grep -q 'body=pb-from-u$' "$(xp_client_out rx-a)"; then
	tap_ok "piggybacked u.test (public_unverified): uma@u.test's message to alice is refused (not in her roster), bob's next one arrives"
else
	tap_fail "uma@u.test's message over b.test's stream is refused" "refusal lines: $n_u
$RAW
$(xp_client_report rx-a)"
fi
tap_is "$(grep -c 'body=pb-from-u$' "$(xp_client_out rx-a)")" 0 "alice never got uma@u.test's message"

# A stanza from the refused domain: never delivered, stream closed.
if got "stream-error not-authorized" && ! grep -q 'body=pb-from-c$' "$(xp_client_out rx-a)"; then
	tap_ok "a message from carl@c.test over the stream is not delivered; the stream is closed (not-authorized)"
else
	tap_fail "a message from carl@c.test is not delivered" "$RAW
$(xp_client_report rx-a)"
fi
tap_is "$(grep -c 'body=pb-from-c$' "$(xp_client_out rx-a)")" 0 "alice never got anything from c.test"

tap_stop_all
tap_done
