#!/usr/bin/env bash
# tests/ejabberd/erlang-static.sh: static checks of the ejabberd module's
# beams (make check-erlang-static runs it; scripts/test.sh runs that).
#
#   erlang-static.sh --ebin DIR --erl-libs LIBS [--plt FILE] [--label TEXT]
#
# DIR holds this build tree's beams (built with +debug_info), LIBS is the
# ERL_LIBS under which the ejabberd they were built for runs (its
# applications and the libraries beside them), so every call into ejabberd,
# xmpp, fast_yaml, ... resolves against that version's code.  Checks:
#   1. every exported function has a -spec (module_info/0,1 aside);
#   2. xref: no call to an undefined function, no unused local function,
#      no call to a deprecated function;
#   3. with --plt: dialyzer, default warnings, no warning.  The PLT holds
#      erts, kernel and stdlib plus only the other modules the beams call
#      (found by xref, e.g. ejabberd_hooks, xmpp, mnesia) and those whose
#      types ejabberd's headers and econf use (fxml, fast_tls, yconf).
#      erts, kernel and stdlib go into a base PLT beside FILE, built once
#      and shared by the runs for each ejabberd version; FILE is the base
#      plus that version's modules, made again when the module list changed.
# Prints the time of each step; exit status 1 on any finding, each shown.
set -euo pipefail
ebin="" libs="" plt="" label=""
while [ $# -gt 0 ]; do
	case $1 in
	--ebin) ebin=$2; shift 2 ;;
	--erl-libs) libs=$2; shift 2 ;;
	--plt) plt=$2; shift 2 ;;
	--label) label=$2; shift 2 ;;
	*) echo "usage: $0 --ebin DIR --erl-libs LIBS [--plt FILE] [--label TEXT]" >&2; exit 2 ;;
	esac
done
me="erlang static checks${label:+ ($label)}"
[ -n "$ebin" ] && [ -n "$libs" ] || { echo "$0: --ebin and --erl-libs are required" >&2; exit 2; }
ls "$ebin"/*.beam >/dev/null 2>&1 || { echo "$me: no beams in $ebin" >&2; exit 1; }
command -v erl >/dev/null || { echo "$me: erl not found (Debian: apt-get install erlang-nox)" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
status=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xp-erlstatic.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- 1 and 2: specs and xref, one Erlang run (bounded) --------------------------------
# Prints "SPEC M:F/A", "XREF KIND M:F/A -> M:F/A" or "XREF KIND M:F/A" per
# finding and "PLTMOD PATH" per module the PLT needs.
t0=$(now)
ERL_CRASH_DUMP_SECONDS=0 ERL_LIBS=$libs timeout 300 erl -noshell -eval '
    [Dir] = init:get_plain_arguments(),
    Beams = filelib:wildcard(filename:join(Dir, "*.beam")),
    Ours = [list_to_atom(filename:basename(B, ".beam")) || B <- Beams],
    %% 1: every export has a -spec
    lists:foreach(
      fun(B) ->
          {ok, {M, [{abstract_code, {raw_abstract_v1, Forms}}]}} =
              beam_lib:chunks(B, [abstract_code]),
          Exports = lists:append([Es || {attribute, _, export, Es} <- Forms]),
          Specs = [FA || {attribute, _, spec, {FA, _}} <- Forms],
          [io:format("SPEC ~s:~s/~b~n", [M, F, A])
           || {F, A} <- lists:usort(Exports), not lists:member({F, A}, Specs)]
      end, Beams),
    %% 2: xref against the code of this ejabberd
    {ok, _} = xref:start(xp),
    xref:set_default(xp, [{warnings, false}, {verbose, false}]),
    ok = xref:set_library_path(xp, code:get_path()),
    {ok, _} = xref:add_directory(xp, Dir),
    MFA = fun({M, F, A}) -> io_lib:format("~s:~s/~b", [M, F, A]) end,
    lists:foreach(
      fun(Kind) ->
          {ok, Res} = xref:analyze(xp, Kind),
          [case R of
               {From, To} -> io:format("XREF ~s ~s -> ~s~n", [Kind, MFA(From), MFA(To)]);
               _ -> io:format("XREF ~s ~s~n", [Kind, MFA(R)])
           end || R <- Res]
      end, [undefined_function_calls, locals_not_used, deprecated_function_calls]),
    %% the modules outside erts, kernel and stdlib that the beams call
    {ok, Called} = xref:q(xp, "range XC"),
    Core = [code:lib_dir(A) || A <- [erts, kernel, stdlib]],
    InCore = fun(P) -> lists:any(fun(C) -> lists:prefix(C, P) end, Core) end,
    Mods = lists:usort([M || {M, _, _} <- Called] ++ [fxml, fast_tls, yconf]) -- Ours,
    [case code:which(M) of
         P when is_list(P) -> case InCore(P) of true -> ok; false -> io:format("PLTMOD ~s~n", [P]) end;
         _ -> ok
     end || M <- Mods],
    halt().' -extra "$ebin" >"$tmp/xref.out" 2>&1 </dev/null || {
	echo "$me: the spec/xref run failed:"
	cat "$tmp/xref.out"
	exit 1
}
nspec=$(grep -c '^SPEC ' "$tmp/xref.out" || true)
nxref=$(grep -c '^XREF ' "$tmp/xref.out" || true)
nbeams=$(ls "$ebin"/*.beam | wc -l)
if [ "$nspec" -gt 0 ]; then
	echo "$me: $nspec exported functions without a -spec:"
	sed -n 's/^SPEC /  /p' "$tmp/xref.out"
	status=1
fi
if [ "$nxref" -gt 0 ]; then
	echo "$me: xref found $nxref problems:"
	sed -n 's/^XREF /  /p' "$tmp/xref.out"
	status=1
fi
echo "$me: specs and xref on $nbeams modules: $nspec missing specs, $nxref xref findings ($(secs "$t0") s)"

# ---- 3: dialyzer --------------------------------------------------------------------------
if [ -n "$plt" ]; then
	command -v dialyzer >/dev/null || { echo "$me: dialyzer not found (Debian: apt-get install erlang-dialyzer)"; exit 1; }
	sed -n 's/^PLTMOD //p' "$tmp/xref.out" | sort >"$tmp/pltmods"
	# erts, kernel and stdlib once in a base PLT beside FILE (shared by
	# the runs for each ejabberd version), then FILE = base + the modules
	base=$(dirname "$plt")/otp-base.plt
	mkdir -p "$(dirname "$plt")"
	if [ ! -f "$base" ]; then
		t1=$(now)
		timeout 1200 dialyzer --build_plt --output_plt "$base.tmp" --apps erts kernel stdlib \
			>"$tmp/base.out" 2>&1 ||
			{ echo "$me: building the base PLT failed:"; tail -n 30 "$tmp/base.out"; exit 1; }
		mv "$base.tmp" "$base"
		echo "$me: base PLT built: erts, kernel, stdlib ($(secs "$t1") s)"
	fi
	if [ -f "$plt" ] && [ -f "$plt.modules" ] && cmp -s "$tmp/pltmods" "$plt.modules" &&
		[ "$plt" -nt "$base" ]; then
		echo "$me: PLT $plt reused ($(wc -l <"$tmp/pltmods") modules beside erts, kernel, stdlib)"
	else
		t1=$(now)
		rm -f "$plt" "$plt.modules"
		cp "$base" "$plt.tmp"
		# unknown functions in the added modules (their own callees, left
		# out on purpose) are warnings, not a failed build
		# shellcheck disable=SC2046
		ERL_LIBS=$libs timeout 1200 dialyzer --add_to_plt --plt "$plt.tmp" --output_plt "$plt.tmp" \
			$(cat "$tmp/pltmods") >"$tmp/plt.out" 2>&1 || true
		grep -q 'done (warnings were emitted)\|done (passed successfully)' "$tmp/plt.out" ||
			{ echo "$me: adding to the PLT failed:"; tail -n 30 "$tmp/plt.out"; rm -f "$plt.tmp"; exit 1; }
		mv "$plt.tmp" "$plt"
		cp "$tmp/pltmods" "$plt.modules"
		echo "$me: PLT built: the base and $(wc -l <"$tmp/pltmods") modules ($(secs "$t1") s)"
	fi
	t2=$(now)
	if ERL_LIBS=$libs timeout 600 dialyzer --plt "$plt" "$ebin"/*.beam >"$tmp/dia.out" 2>&1; then
		echo "$me: dialyzer: no warnings ($(secs "$t2") s)"
	else
		echo "$me: dialyzer found problems ($(secs "$t2") s):"
		grep -v '^  Checking whether\|^  Proceeding with\|^ *done in\|^done (' "$tmp/dia.out" || true
		status=1
	fi
fi
exit $status
