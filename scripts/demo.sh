#!/usr/bin/env bash
# scripts/demo.sh: partner policy at work between real Prosody servers.
#
#   sudo bash scripts/demo.sh          # installs packages first
#   XP_NO_DEPS=1 bash scripts/demo.sh  # packages already there
#   bash scripts/demo.sh --prosody build/prosody13   # the same on Prosody 13
#
# --prosody PREFIX (or XP_PROSODY_PREFIX=PREFIX) runs every server with
# PREFIX/usr/bin/prosody: Prosody 13 from scripts/unpack-prosody.sh (which
# scripts/deps.sh runs) is in build/prosody13; PREFIX / is the installed
# Prosody, the default.  XP_DEMO_BUILD=DIR uses the build in DIR (as
# scripts/test.sh does) instead of building into build/demo.
#
# Builds the project, starts four Prosody servers on their own loopback
# addresses (127.71.X.Y) with their own data and certificates:
#   a.test  runs mod_xmpp_partners with two partners:
#           b.test (federated) and u.test (public_unverified)
#   b.test, u.test  partners;   c.test  not a partner
# then real XMPP clients (libstrophe) try things a user would, the outcome is
# printed as a table, and every server is stopped again.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
while [ $# -gt 0 ]; do
	case $1 in
	--prosody)
		[ $# -ge 2 ] || { echo "scripts/demo.sh: --prosody needs a PREFIX" >&2; exit 2; }
		XP_PROSODY_PREFIX=$2
		shift 2
		;;
	-h | --help) sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "scripts/demo.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
# / is the installed Prosody (the harness's default); a relative PREFIX is
# taken from where the demo was started.
case ${XP_PROSODY_PREFIX:-/} in
/) unset XP_PROSODY_PREFIX ;;
/*) export XP_PROSODY_PREFIX ;;
*) XP_PROSODY_PREFIX=$(pwd)/$XP_PROSODY_PREFIX; export XP_PROSODY_PREFIX ;;
esac
cd "$top" || exit 1
if [ -n "${XP_PROSODY_PREFIX:-}" ] && [ ! -x "$XP_PROSODY_PREFIX/usr/bin/prosody" ]; then
	echo "scripts/demo.sh: no Prosody in $XP_PROSODY_PREFIX (make it: bash scripts/unpack-prosody.sh $XP_PROSODY_PREFIX)" >&2
	exit 1
fi
if [ -z "${XP_NO_DEPS:-}" ]; then
	bash scripts/deps.sh >/dev/null || exit 1
fi

if [ -n "${XP_DEMO_BUILD:-}" ]; then
	dir=$(cd "$XP_DEMO_BUILD" && pwd) || exit 1
	if [ ! -x "$dir/tests/clients/xpclient" ] || [ ! -f "$dir/module/lua/.libs/core.so" ]; then
		echo "XP_DEMO_BUILD=$XP_DEMO_BUILD: no built core and xpclient there"
		exit 1
	fi
else
	dir="$top/build/demo"
	mkdir -p "$dir"
	echo "Building in $dir ..."
	autoreconf -fi >/dev/null 2>&1 || { echo "autoreconf failed"; exit 1; }
	(cd "$dir" && "$top/configure" -q >/dev/null && make -j"$(nproc)" >/dev/null &&
		make -j"$(nproc)" tests/clients/xpclient >/dev/null) || { echo "build failed"; exit 1; }
fi

export top_srcdir="$top" top_builddir="$dir" XP_REQUIRE=1
. "$top/tests/integration/lib.sh"
# The harness speaks TAP; the demo prints its own table instead.
tap_plan() { :; }
xp_init >/dev/null
# no test names here
XP_TAP_TAG=""

for d in a b u c; do xp_host $d.test; done
cat >"$XP_WORK/a.lua" <<'EOF'
xmpp_partners = {
	["b.test"] = { description = "Fabrikam"; type = "federated" };
	["u.test"] = { description = "a public service"; type = "public_unverified" };
}
xmpp_partners_default = "deny"
EOF
echo "Starting a.test (with mod_xmpp_partners), b.test, u.test and c.test on Prosody $XP_PROSODY_VERSION ..."
xp_start_prosody a "$(xp_addr a.test)" a.test --module xmpp_partners --extra "$XP_WORK/a.lua" >/dev/null ||
	{ echo "a.test did not start"; exit 1; }
for s in b u c; do
	xp_start_prosody $s "$(xp_addr $s.test)" $s.test >/dev/null || { echo "$s.test did not start"; exit 1; }
done
for u in alice@a.test bob@b.test uma@u.test carol@c.test; do
	d=${u#*@}
	xp_register "${d%.test}" "$u" >/dev/null 2>&1 || { echo "cannot register $u"; exit 1; }
done

rows=()
row() { rows+=("$1|$2|$3"); } # scenario, expected, observed

# deliver FROM TO: does a message arrive?
deliver() {
	local from=$1 to=$2 body="hello from $1"
	xp_client_bg recv "$to" expect-message "$from" "$body"
	xp_client_ready recv >/dev/null 2>&1
	local out secs=""
	out=$(xp_client --timeout 6 "$from" send "$to" "$body" wait 1 2>&1)
	# The sender got an error back: refused.  A second more shows that the
	# receiver got nothing (its full timeout would add 10 s per row).
	if printf '%s\n' "$out" | grep -q '^error '; then secs=1; fi
	if xp_client_wait recv $secs >/dev/null 2>&1; then
		echo "delivered"
	else
		local err
		err=$(printf '%s\n' "$out" | sed -n 's/^error .*condition=\([^ ]*\).*/\1/p' | head -1)
		echo "not delivered${err:+ (error: $err)}"
	fi
}

row "alice@a.test -> bob@b.test (partner, federated)" "delivered" "$(deliver alice@a.test bob@b.test)"
row "bob@b.test -> alice@a.test" "delivered" "$(deliver bob@b.test alice@a.test)"
row "alice@a.test -> carol@c.test (not a partner)" "refused" "$(deliver alice@a.test carol@c.test)"
row "carol@c.test -> alice@a.test" "refused" "$(deliver carol@c.test alice@a.test)"

subscribe() { # FROM TO: what does FROM get back?
	local out
	out=$(xp_client --timeout 6 "$1" subscribe "$2" wait 3 2>&1)
	local got
	got=$(printf '%s\n' "$out" | sed -n "s/^presence from=$2[^ ]* type=\(subscribed\|unsubscribed\).*/\1/p" | head -1)
	echo "${got:-no answer}"
}
row "bob@b.test adds alice@a.test (federated)" "subscribed (automatic)" "$(subscribe bob@b.test alice@a.test)"
row "uma@u.test adds alice@a.test (public_unverified, not in roster)" "unsubscribed" "$(subscribe uma@u.test alice@a.test)"
row "uma@u.test -> alice@a.test message (stranger)" "refused" "$(deliver uma@u.test alice@a.test)"

refusals=$(grep -c 'refused ' "$(xp_server_log a)" 2>/dev/null)

printf '\n%-66s %-24s %s\n' "scenario" "partner policy says" "what the users saw"
printf '%s\n' "$(printf '%.0s-' {1..120})"
ok=0
good=0
for r in "${rows[@]}"; do
	IFS='|' read -r scenario expected observed <<<"$r"
	mark="  "
	case "$expected:$observed" in
	delivered:delivered | refused:not\ delivered* | subscribed*:subscribed | unsubscribed:unsubscribed) mark="ok"; good=$((good + 1)) ;;
	*) mark="!!"; ok=1 ;;
	esac
	printf '%-66s %-24s %s %s\n' "$scenario" "$expected" "$mark" "$observed"
done
echo
echo "a.test logged $refusals refusal(s), for example:"
grep -h 'refused ' "$(xp_server_log a)" | sed 's/^[A-Z][a-z][a-z] [0-9 ]* [0-9:]* /  /' | sort -u | head -5
echo
echo "All servers stopped. The full logs were in $XP_WORK (removed; XP_KEEP=1 keeps them)."
echo "demo on Prosody $XP_PROSODY_VERSION: $good of ${#rows[@]} rows as the policy says"
exit $ok
