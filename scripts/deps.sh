#!/usr/bin/env bash
# scripts/deps.sh: install what building and testing xmpp-partners needs on
# Debian 12 (run as root).  Safe to run again: apt-get skips what is there.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "scripts/deps.sh: run as root (sudo bash scripts/deps.sh)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
packages=(
	build-essential autoconf automake libtool pkg-config   # the build
	libssl-dev openssl libidn2-dev                          # the core
	liblua5.4-dev lua5.4                                    # the Prosody module
	libcmocka-dev lua-busted valgrind clang-format          # the tests
	lua-check                                               # luacheck (tests/lua/t_luacheck.sh)
	prosody lua-unbound libstrophe-dev iproute2             # real servers and clients
	ejabberd erlang-dev erlang-nox                          # the ejabberd side
	clang libclang-rt-14-dev                                # libFuzzer
	debhelper dpkg-dev lintian fakeroot                     # the Debian packages
	lua-bitop libicu72 lua-expat lua-filesystem lua-sec lua-socket  # Prosody 13 (unpacked below)
	lua-dbi-sqlite3 lua-dbi-postgresql sqlite3 postgresql  # Prosody's SQL storage in tests
	chromium curl                                           # the status page, in a real browser
)

# bookworm-backports holds Prosody 13 and ejabberd 24.12, which the tests
# run beside the installed 0.12.3 and 23.01 (unpacked, never installed:
# scripts/unpack-prosody.sh, scripts/unpack-ejabberd.sh).
# Its packages have priority 100 (the archive is NotAutomatic), below the
# installed ones, so this source alone never upgrades the system prosody or
# ejabberd; nothing here installs with -t bookworm-backports (checked below).
backports=/etc/apt/sources.list.d/backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo "scripts/deps.sh: enabling bookworm-backports in $backports"
	cat >"$backports" <<-'EOF'
		Types: deb
		URIs: http://deb.debian.org/debian
		Suites: bookworm-backports
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"

# Installing prosody may start the system service, whose listeners on all
# addresses would take the ports the tests' own servers bind.  Stop it by
# the PID its pidfile names (never by process name).
for pidfile in /run/prosody/prosody.pid /var/run/prosody/prosody.pid; do
	if [ -s "$pidfile" ]; then
		pid=$(cat "$pidfile")
		if kill -0 "$pid" 2>/dev/null; then
			echo "scripts/deps.sh: stopping the system prosody (pid $pid) started by the package"
			kill "$pid" || true
			for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
		fi
	fi
done

# An upgrade must still keep bookworm's Prosody and ejabberd.
if apt-get -s -q upgrade 2>/dev/null | grep -E '^Inst (prosody|ejabberd) .*(bpo|[Bb]ackports)'; then
	echo "scripts/deps.sh: apt would upgrade prosody/ejabberd from bookworm-backports (an apt pin prefers it?)" >&2
	exit 1
fi

# Prosody 13 into the build tree (build/prosody13) for the tests; a failure
# here is reported by the tests (they fail with XP_REQUIRE=1, else skip).
bash "$top/scripts/unpack-prosody.sh" "$top/build/prosody13" ||
	echo "scripts/deps.sh: Prosody 13 is not available; its test runs will skip (or fail with XP_REQUIRE=1)" >&2

# ejabberd 24.12 and the newer Erlang libraries it needs, likewise unpacked
# beside the installed 23.01 (build/ejabberd2412, never installed).
bash "$top/scripts/unpack-ejabberd.sh" "$top/build/ejabberd2412" ||
	echo "scripts/deps.sh: ejabberd 24.12 is not available; its test runs will skip (or fail with XP_REQUIRE=1)" >&2
