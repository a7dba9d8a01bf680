#!/usr/bin/env bash
# scripts/unpack-ejabberd.sh: Debian's ejabberd 24.12 from bookworm-backports,
# unpacked into a folder beside the installed ejabberd 23.01 (never
# installed: apt allows one ejabberd per machine, and 24.12 pulls newer
# erlang-p1-* libraries that 23.01 cannot run with).
#
#   bash scripts/unpack-ejabberd.sh [DEST]    # default: build/ejabberd2412
#
# Downloads ejabberd=$XP_EJABBERD2412_VERSION (default 24.12-3~bpo12+1;
# when the archive no longer has it, the bookworm-backports candidate) and
# every Erlang library it depends on whose installed version is too old
# for it (erlang-p1-xmpp 1.9.x, erlang-p1-xml, erlang-jose, ...: the
# bookworm-backports versions, followed through their own dependencies),
# with `apt-get download`, and extracts them all with `dpkg-deb -x` into
# DEST.  DEST then holds:
#   usr/lib/erlang/lib/             the newer libraries (xmpp-1.9.x, ...)
#   usr/lib/<multiarch>/ejabberd-24.12/{ebin,include,priv}
#   usr/sbin/ejabberdctl            with ERL_LIBS pointing into DEST
# A node runs 24.12 when both library folders come first in ERL_LIBS
# (Erlang puts ERL_LIBS before its own lib directory, so the system's
# xmpp-1.6.1 is shadowed); tests/ejabberd/ejlib.sh does that when
# XP_EJABBERD_PREFIX=DEST.  Needs bookworm-backports in the apt sources
# (scripts/deps.sh); root is not needed.  Does nothing when DEST already
# holds that version.  Prints one line saying what it did; exit status 1
# with the reason on stderr when ejabberd 24.12 cannot be had.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$top/build/ejabberd2412}
want=${XP_EJABBERD2412_VERSION:-24.12-3~bpo12+1}
me=scripts/unpack-ejabberd.sh

fail() { echo "$me: $*" >&2; exit 1; }

# The ejabberd version of DEST's ebin/ejabberd.app ("24.12"), empty if none.
app_version() {
	local app
	app=$(ls -d "$1"/usr/lib/*/ejabberd-*/ebin/ejabberd.app 2>/dev/null | sort -V | tail -n 1)
	[ -n "$app" ] || return 0
	sed -n 's/.*{vsn, *"\([0-9][0-9.]*\).*/\1/p' "$app" | head -n 1
}

mkdir -p "$(dirname "$dest")"
dest=$(cd "$(dirname "$dest")" && pwd)/$(basename "$dest")

# bookworm-backports' version of a package, empty if it has none.
bpo_version() {
	apt-cache madison "$1" 2>/dev/null | awk -F' *[|] *' '$3 ~ /bookworm-backports/ { print $2; exit }'
}

versions=$(apt-cache madison ejabberd 2>/dev/null | awk -F' *[|] *' '{print $2}')
if grep -qxF "$want" <<<"$versions"; then
	version=$want
else
	version=$(bpo_version ejabberd)
	[ -n "$version" ] ||
		fail "apt knows no ejabberd in bookworm-backports (enable it and apt-get update: scripts/deps.sh)"
	echo "$me: ejabberd $want is gone from the archive; using bookworm-backports' $version" >&2
fi

if [ -f "$dest/.xp-unpacked" ] && [ "$(cat "$dest/.xp-unpacked")" = "$version" ] &&
	[ -n "$(app_version "$dest")" ] && [ -x "$dest/usr/sbin/ejabberdctl" ]; then
	echo "$me: ejabberd $(app_version "$dest") (package $version) already in $dest"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/xp-ejabberd2412.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory; as root it warns that
# the download is not sandboxed when _apt cannot write there: let it write.
chmod 0777 "$work"

# The packages to fetch: ejabberd itself, then (breadth first, at most 5
# rounds: the erlang-p1-* graph is two deep) every dependency whose
# installed version does not satisfy the "(>= V)" of the package that needs
# it and that bookworm-backports has in a version that does.  Others (the
# OTP applications, libc, ...) are the installed ones.
declare -A spec=([ejabberd]="ejabberd=$version")
queue=("ejabberd=$version")
for _round in 1 2 3 4 5; do
	[ "${#queue[@]}" -gt 0 ] || break
	next=()
	for p in "${queue[@]}"; do
		while IFS= read -r dep; do
			[ -n "$dep" ] || continue
			name=${dep%% *}
			[ -z "${spec[$name]:-}" ] || continue
			need=$(sed -n 's/.*(>= *\([^)]*\)).*/\1/p' <<<"$dep")
			[ -n "$need" ] || continue
			have=$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)
			if [ -n "$have" ] && dpkg --compare-versions "$have" ge "$need"; then continue; fi
			bpo=$(bpo_version "$name")
			[ -n "$bpo" ] && dpkg --compare-versions "$bpo" ge "$need" ||
				fail "$p needs $name (>= $need); installed: ${have:-none}; bookworm-backports: ${bpo:-none}"
			spec[$name]="$name=$bpo"
			next+=("$name=$bpo")
		done < <(apt-cache show "$p" 2>/dev/null | sed -n '1,/^$/ s/^Depends: //p' | tr ',' '\n' |
			sed 's/^ *//; s/ *|.*//' | grep -E '^erlang-')
	done
	queue=("${next[@]}")
done
[ "${#queue[@]}" -eq 0 ] || fail "dependencies of ejabberd $version still open after 5 rounds: ${queue[*]}"

(cd "$work" && apt-get download -q "${spec[@]}" >download.log 2>&1) ||
	fail "apt-get download ${spec[*]} failed: $(tail -n 5 "$work/download.log")"

# Unpack into a fresh folder next to DEST, then swap it in: a half-unpacked
# tree never sits at DEST.
rm -rf "$dest.new"
mkdir -p "$dest.new"
n=0
for deb in "$work"/*.deb; do
	[ -f "$deb" ] || continue
	dpkg-deb -x "$deb" "$dest.new" || fail "dpkg-deb -x $deb failed"
	n=$((n + 1))
done
[ "$n" -eq "${#spec[@]}" ] || fail "apt-get download gave $n packages for ${#spec[@]} (${spec[*]})"

ctl=$dest.new/usr/sbin/ejabberdctl
[ -f "$ctl" ] || fail "the ejabberd package has no usr/sbin/ejabberdctl"
multi=$(basename "$(dirname "$(dirname "$(ls -d "$dest.new"/usr/lib/*/ejabberd-*/ebin | head -n 1)")")")
# Its ctl helper node must load 24.12's ejabberd_ctl and libraries, not
# the system's: DEST's library folders replace the one ERL_LIBS it sets.
grep -q "^ERL_LIBS=" "$ctl" || fail "$ctl has no ERL_LIBS line to point at $dest"
sed -i "s|^ERL_LIBS=.*|ERL_LIBS='$dest/usr/lib/erlang/lib:$dest/usr/lib/$multi'|" "$ctl"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "$version" >"$dest/.xp-unpacked"

got=$(app_version "$dest")
[ -n "$got" ] || fail "$dest holds no ejabberd.app"
# A plain node loads 24.12's xmpp library from DEST (not 1.6.1 from the system).
xmpp=$(ERL_LIBS="$dest/usr/lib/erlang/lib:$dest/usr/lib/$multi" timeout 30 erl -noshell \
	-eval 'io:put_chars(code:which(xmpp)), halt().' 2>/dev/null </dev/null || true)
case $xmpp in
"$dest"/*) ;;
*) fail "a node with ERL_LIBS into $dest loads xmpp from '$xmpp', not from $dest" ;;
esac
echo "$me: ejabberd $got (package $version, ${#spec[@]} packages) unpacked into $dest"
