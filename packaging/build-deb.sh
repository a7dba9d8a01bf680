#!/usr/bin/env bash
# packaging/build-deb.sh: build the Debian packages xmpp-partners-prosody and
# xmpp-partners-ejabberd from this source tree.
#
#   bash packaging/build-deb.sh [OPTIONS] [OUTDIR]
#
# dpkg-buildpackage wants debian/ at the top of the source tree, and the
# packaging lives in packaging/debian/, so this script copies the tree into
# a temporary directory (a clean copy: no build output, no autotools
# output), puts packaging/debian there as debian/ and runs
# `dpkg-buildpackage -us -uc -b` in it.  The build runs `make check` (unit,
# Lua, CLI and integration tests; the integration tests start Prosody and
# ejabberd on 127.x loopback addresses, and the ejabberd one needs root).
# The .deb files (with the .buildinfo and .changes) end up in OUTDIR
# (default: build/deb under the source tree); lintian then checks them.
#
# Options:
#   --ref REF        copy the tree as committed at REF (git archive) instead
#                    of the working tree (tracked and untracked, not ignored,
#                    files as they are now)
#   --install-deps   apt-get install the Build-Depends first (needs root)
#   --no-lintian     do not run lintian
#   --keep           keep the temporary build directory (its path is printed)
#   -h, --help       this text
# Environment:
#   DEB_BUILD_OPTIONS  passed on; "nocheck" skips every test (and the
#                      test-only Build-Depends, with DEB_BUILD_PROFILES=nocheck)
#   XP_DEB_SKIP_TESTS  test scripts to leave out of make check, separated by
#                      spaces, e.g. "tests/ejabberd/t_ejabberd.sh"
#   TMPDIR             where the temporary build directory goes (keep it
#                      short: the tests put unix sockets below it)
# Exit status: 0 when the packages were built and lintian found no error.
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

ref=""
install_deps=0
run_lintian=1
keep=0
outdir=""
while [ $# -gt 0 ]; do
	case $1 in
	--ref) ref=${2:?--ref needs a git revision}; shift 2 ;;
	--install-deps) install_deps=1; shift ;;
	--no-lintian) run_lintian=0; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "build-deb.sh: unknown option $1" >&2; exit 2 ;;
	*)
		[ -z "$outdir" ] || { echo "build-deb.sh: one OUTDIR only" >&2; exit 2; }
		outdir=$1
		shift
		;;
	esac
done

srcdir=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$srcdir/configure.ac" ] || [ ! -d "$srcdir/packaging/debian" ]; then
	echo "build-deb.sh: $srcdir is not the xmpp-partners source tree" >&2
	exit 2
fi
outdir=${outdir:-$srcdir/build/deb}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

for tool in dpkg-buildpackage dpkg-parsechangelog dh; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "build-deb.sh: $tool not found (Debian: apt-get install dpkg-dev debhelper)" >&2
		exit 2
	}
done

version=$(dpkg-parsechangelog -l "$srcdir/packaging/debian/changelog" -S Version)
upstream=${version%-*}
upstream=${upstream#*:}
ac_version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$srcdir/configure.ac")
if [ -n "$ac_version" ] && [ "$ac_version" != "$upstream" ]; then
	echo "build-deb.sh: configure.ac says version $ac_version but packaging/debian/changelog says $version;" >&2
	echo "build-deb.sh: add a changelog entry (dch -v $ac_version-1) first" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/xp-deb.XXXXXX")
cleanup() {
	if [ "$keep" = 1 ]; then
		echo "build-deb.sh: build directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
tree=$work/xmpp-partners-$upstream
mkdir -p "$tree"

# ---- a clean copy of the source tree ------------------------------------------
if [ -n "$ref" ]; then
	git -C "$srcdir" archive --format=tar "$ref" | tar -C "$tree" -xf -
	echo "build-deb.sh: copied the tree at $ref ($(git -C "$srcdir" rev-parse --short "$ref"))"
elif git -C "$srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Tracked and untracked files, not the ignored ones (build output,
	# configure, Makefile.in, ...); files deleted in the work tree are left out.
	(cd "$srcdir" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -cf -) | tar -C "$tree" -xf -
	echo "build-deb.sh: copied the working tree ($(git -C "$srcdir" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(git -C "$srcdir" diff --quiet HEAD 2>/dev/null || echo ', with uncommitted changes'))"
else
	(cd "$srcdir" && tar -cf - --exclude=./build --exclude=./.git --exclude='*.o' \
		--exclude='*.lo' --exclude='*.la' --exclude=.libs --exclude=.deps \
		--exclude=./debian .) | tar -C "$tree" -xf -
	# Not a git checkout: drop autotools output, dpkg-buildpackage's
	# autoreconf makes it again.
	(cd "$tree" && if [ -f Makefile ]; then make -s distclean >/dev/null 2>&1 || true; fi)
	echo "build-deb.sh: copied $srcdir (not a git checkout)"
fi
rm -rf "$tree/debian"
cp -a "$srcdir/packaging/debian" "$tree/debian"
chmod +x "$tree/debian/rules"

if [ "$install_deps" = 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "build-deb.sh: --install-deps needs root" >&2; exit 2; }
	DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q "$tree"
	# Installing prosody or ejabberd may start their system services, whose
	# listeners would take the ports the tests' servers bind: scripts/deps.sh
	# stops them by PID.
fi

# ---- build --------------------------------------------------------------------
log=$outdir/build.log
echo "build-deb.sh: dpkg-buildpackage -us -uc -b in $tree (log: $log)"
start=$(date +%s)
rc=0
(cd "$tree" && dpkg-buildpackage -us -uc -b) >"$log" 2>&1 || rc=$?
secs=$(($(date +%s) - start))
# The test summary of make check, whatever happened.
grep -E '^(# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):|(FAIL|ERROR|SKIP): )' "$log" | sed 's/^/  /' || true
if [ "$rc" -ne 0 ]; then
	echo "build-deb.sh: dpkg-buildpackage failed (exit $rc) after ${secs}s; the end of $log:" >&2
	tail -n 60 "$log" >&2
	find "$tree" -path '*/tests/*' -name '*.log' -print0 2>/dev/null |
		while IFS= read -r -d '' f; do
			if grep -qE '^(not ok|Bail out)' "$f"; then
				echo "---- $f" >&2
				tail -n 40 "$f" >&2
			fi
		done
	exit "$rc"
fi
echo "build-deb.sh: built in ${secs}s"

changes=$work/xmpp-partners_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).changes
files=("$changes")
while read -r _ _ _ _ name; do files+=("$work/$name"); done < <(
	sed -n '/^Files:/,/^[^ ]/{/^ /p}' "$changes")
for f in "${files[@]}"; do
	cp -f "$f" "$outdir/"
	echo "  $outdir/$(basename "$f")"
done

# ---- lintian ------------------------------------------------------------------
if [ "$run_lintian" = 1 ]; then
	if command -v lintian >/dev/null 2>&1; then
		echo "build-deb.sh: lintian $(basename "$changes")"
		lrc=0
		lintian --fail-on error "$outdir/$(basename "$changes")" || lrc=$?
		if [ "$lrc" -ne 0 ]; then
			echo "build-deb.sh: lintian reported errors" >&2
			exit 1
		fi
	else
		echo "build-deb.sh: lintian not installed (apt-get install lintian): not checked"
	fi
fi
