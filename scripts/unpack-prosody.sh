#!/usr/bin/env bash
# scripts/unpack-prosody.sh: Debian's Prosody 13 from bookworm-backports,
# unpacked into a folder beside the installed Prosody 0.12.3 (never
# installed: dpkg and the system service keep 0.12.3).
#
#   bash scripts/unpack-prosody.sh [DEST]     # default: build/prosody13
#
# Downloads prosody=$XP_PROSODY13_VERSION (default 13.0.1-1~bpo12+1; when
# the archive no longer has it, the bookworm-backports candidate) with
# `apt-get download`, extracts it with `dpkg-deb -x` into DEST and points
# CFG_SOURCEDIR, CFG_PLUGINDIR, CFG_CONFIGDIR and CFG_DATADIR in
# DEST/usr/bin/prosody and prosodyctl into DEST, so that
#   DEST/usr/bin/prosody --config FILE -F
# runs Prosody 13 with its own libraries and modules (tests pass DEST as
# XP_PROSODY_PREFIX).  Needs bookworm-backports in the apt sources and the
# dependencies of that package (scripts/deps.sh does both); root is not
# needed.  Does nothing when DEST already holds that version and it runs.
# Prints one line saying what it did; exit status 1 with the reason on
# stderr when Prosody 13 cannot be had.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$top/build/prosody13}
want=${XP_PROSODY13_VERSION:-13.0.1-1~bpo12+1}
me=scripts/unpack-prosody.sh

fail() { echo "$me: $*" >&2; exit 1; }

# The Prosody version DEST's prosodyctl reports ("13.0.1"), empty if none.
about() {
	[ -x "$1/usr/bin/prosodyctl" ] || return 0
	timeout 20 "$1/usr/bin/prosodyctl" about 2>/dev/null </dev/null |
		sed -n 's/^Prosody \([0-9][^ ]*\)$/\1/p' | head -n 1
}

mkdir -p "$(dirname "$dest")"
dest=$(cd "$(dirname "$dest")" && pwd)/$(basename "$dest")

# Which package version: the pinned one if the archive has it.
versions=$(apt-cache madison prosody 2>/dev/null | awk -F' *[|] *' '{print $2}')
if grep -qxF "$want" <<<"$versions"; then
	spec="prosody=$want"
	version=$want
else
	version=$(apt-cache madison prosody 2>/dev/null |
		awk -F' *[|] *' '$3 ~ /bookworm-backports/ { print $2; exit }')
	[ -n "$version" ] ||
		fail "apt knows no prosody in bookworm-backports (enable it and apt-get update: scripts/deps.sh)"
	echo "$me: prosody $want is gone from the archive; using bookworm-backports' $version" >&2
	spec="prosody/bookworm-backports"
fi

if [ -f "$dest/.xp-unpacked" ] && [ "$(cat "$dest/.xp-unpacked")" = "$version" ] &&
	[ -n "$(about "$dest")" ]; then
	echo "$me: Prosody $(about "$dest") (package $version) already in $dest"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/xp-prosody13.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory; as root it warns that
# the download is not sandboxed when _apt cannot write there: let it write.
chmod 0777 "$work"
(cd "$work" && apt-get download -q "$spec" >download.log 2>&1) ||
	fail "apt-get download $spec failed: $(tail -n 5 "$work/download.log")"
deb=$(find "$work" -maxdepth 1 -name 'prosody_*.deb' | head -n 1)
[ -n "$deb" ] || fail "apt-get download $spec left no .deb"

# Unpack into a fresh folder next to DEST, then swap it in: a half-unpacked
# tree never sits at DEST.
rm -rf "$dest.new"
mkdir -p "$dest.new"
dpkg-deb -x "$deb" "$dest.new" || fail "dpkg-deb -x $deb failed"
for f in prosody prosodyctl; do
	bin=$dest.new/usr/bin/$f
	[ -f "$bin" ] || fail "$(basename "$deb") has no usr/bin/$f"
	grep -q "^CFG_SOURCEDIR=" "$bin" || fail "$bin has no CFG_SOURCEDIR line to point at $dest"
	# Every path the launcher knows lies inside DEST: its Lua sources and
	# modules, and (for a prosodyctl run without --config) its own default
	# config and data directory rather than the system ones of 0.12.3.
	sed -i \
		-e "s|^CFG_SOURCEDIR=.*|CFG_SOURCEDIR='$dest/usr/lib/prosody';|" \
		-e "s|^CFG_PLUGINDIR=.*|CFG_PLUGINDIR='$dest/usr/lib/prosody/modules/';|" \
		-e "s|^CFG_CONFIGDIR=.*|CFG_CONFIGDIR='$dest/etc/prosody';|" \
		-e "s|^CFG_DATADIR=.*|CFG_DATADIR='$dest/var/lib/prosody';|" \
		"$bin"
done
# the default config includes conf.d/* and indexes certs/, which the
# package's postinst makes
mkdir -p "$dest.new/var/lib/prosody" "$dest.new/etc/prosody/conf.d" "$dest.new/etc/prosody/certs"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "$version" >"$dest/.xp-unpacked"

got=$(about "$dest")
[ -n "$got" ] || fail "$dest/usr/bin/prosodyctl about does not run: $(timeout 20 "$dest/usr/bin/prosodyctl" about 2>&1 </dev/null | tail -n 5)"
echo "$me: Prosody $got (package $version) unpacked into $dest"
