#!/usr/bin/env bash
# scripts/deps.sh: install what building and testing xmpp-partners needs on
# Debian 12 (run as root).  Safe to run again: apt-get skips what is there.
set -euo pipefail
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
	prosody lua-unbound libstrophe-dev iproute2             # real servers and clients
	ejabberd erlang-dev erlang-nox                          # the ejabberd side
	clang libclang-rt-14-dev                                # libFuzzer
	debhelper dpkg-dev lintian fakeroot                     # the Debian packages
)
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
