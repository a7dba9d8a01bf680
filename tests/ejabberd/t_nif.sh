#!/bin/sh
# tests/ejabberd/t_nif.sh: the NIF in a plain Erlang node (TAP; no ejabberd
# needed).  Skips when Erlang or the NIF was not built.
: "${top_srcdir:=.}" "${top_builddir:=.}"
nif=$top_builddir/module/erlang/.libs/xmpp_partners_nif.so
if [ "${XP_SANITIZERS:-no}" = yes ]; then
	echo "1..0 # SKIP sanitizer build: the NIF cannot load into an uninstrumented erl"
	exit 0
fi
command -v erl >/dev/null 2>&1 && command -v erlc >/dev/null 2>&1 ||
	{ echo "1..0 # SKIP erl/erlc not found (Debian: apt-get install erlang-nox erlang-dev)"; exit 0; }
[ -f "$nif" ] && [ -f "$top_builddir/ejabberd/ebin/xmpp_partners_nif.beam" ] ||
	{ echo "1..0 # SKIP the NIF was not built (configure found no erl_nif.h)"; exit 0; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/xp-nif.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
erlc -o "$dir" "$top_srcdir/tests/ejabberd/nif_test.erl" || { echo "Bail out! cannot compile nif_test.erl"; exit 1; }
# -noshell without distribution: no epmd is started.  Bounded by timeout.
XMPP_PARTNERS_NIF=${nif%.so} XP_NIF_TMP=$dir timeout 120 erl -noshell -pa "$dir" \
	-pa "$top_builddir/ejabberd/ebin" -eval 'nif_test:main().'
