#!/bin/bash
# t_docs.sh: every example of README.md and doc/xmpp-partners.1 that is
# marked runnable works as written (issue 20, item 6).
#
# The marker convention: a comment on the line before the block,
#   README.md   <!-- test: KIND [ARG] -->   then a ``` fenced block
#   man page    .\" test: KIND [ARG]        then a .nf ... .fi block
# KIND is
#   config [FILE]  the block is a partner file or a prosody.cfg.lua part:
#                  it is written to FILE (default: a file of its own) and
#                  `xmpp-partners check` must find no error (exit 0);
#   run            shell commands.  Lines starting "$ " are commands, the
#                  lines after each are its output (stdout and stderr), which
#                  must be exactly what the command prints.  A block without
#                  "$ " lines is one command per line, each must exit 0;
#   install-files  the module's file list, "DEST from SOURCE ...": every
#                  SOURCE exists (tests/integration/t_install.sh copies it).
# Commands run in a scratch directory holding the sample files of
# tests/cli/data (errors.cfg.lua, sfb-2015.csv, ...), with xmpp-partners on
# PATH; /etc/ in a command or FILE means that directory's etc/, where
# etc/prosody/prosody.cfg.lua is tests/cli/data/prosody.cfg.lua and
# partners.csv is sfb-2015.csv.  Each document gets a fresh directory, and
# its blocks run in order (a config block can make the file a later run
# block reads).  Blocks without a marker (server sessions, build steps,
# YAML for ejabberd) are not run here.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/cli/lib.sh"

TOOL_DIR=$(cd "$(dirname "$XP_TOOL")" && pwd)

# extract DOC STYLE: print the marked blocks of DOC as records
#   @@ LINE KIND ARG
#   body lines...
# (STYLE md or man; man bodies are un-escaped: \- is -, \e and \\ are \).
extract() {
	awk -v style="$2" '
		function start(kind_arg) { want = kind_arg; wantline = NR }
		style == "md" && /^<!-- test: .* -->$/ {
			s = $0; sub(/^<!-- test: /, "", s); sub(/ -->$/, "", s); start(s); next
		}
		style == "man" && /^\.\\" test: / {
			s = $0; sub(/^\.\\" test: /, "", s); start(s); next
		}
		want != "" && !inblock {
			if ((style == "md" && /^```/) || (style == "man" && /^\.nf$/)) {
				inblock = 1; print "@@ " wantline " " want; next
			}
			if (style == "man" && /^\.(RS|PP)/) next
			print "@@ " wantline " error marker not followed by a block"; want = ""; next
		}
		inblock {
			if ((style == "md" && /^```$/) || (style == "man" && /^\.fi$/)) {
				inblock = 0; want = ""; next
			}
			line = $0
			if (style == "man") { gsub(/\\-/, "-", line); gsub(/\\e/, "\\", line); gsub(/\\\\/, "\\", line) }
			print line
		}
	' "$1"
}

# fresh_dir: a scratch directory with the samples.
fresh_dir() {
	W=$(mktemp -d "$TMP/doc.XXXXXX")
	cp "$DATA"/* "$W"/
	mkdir -p "$W/etc/prosody"
	cp "$DATA/prosody.cfg.lua" "$W/etc/prosody/prosody.cfg.lua"
	cp "$DATA/sfb-2015.csv" "$W/partners.csv"
}

# in_dir COMMAND: run COMMAND (bash) in $W, /etc/ meaning $W/etc/; 2>&1.
in_dir() {
	(cd "$W" && PATH="$TOOL_DIR:$PATH" timeout "$XP_TIMEOUT" bash -c "${1//\/etc\//$W/etc/}" 2>&1)
}

# run_block DOC LINE KIND ARG BODYFILE: one TAP case.
NBLOCK=0
run_block() {
	local doc=$1 line=$2 kind=$3 arg=$4 body=$5 name file out rc cmd expected got
	NBLOCK=$((NBLOCK + 1))
	name="$doc:$line ($kind${arg:+ $arg})"
	case $kind in
	config)
		file=${arg:-block$NBLOCK.cfg.lua}
		file=${file//\/etc\//$W/etc/}
		case $file in /*) ;; *) file=$W/$file ;; esac
		mkdir -p "$(dirname "$file")"
		cp "$body" "$file"
		out=$(cd "$W" && timeout "$XP_TIMEOUT" "$XP_TOOL" check "$file" 2>&1)
		rc=$?
		if [ "$rc" = 0 ] && ! printf '%s\n' "$out" | grep -q ': error: '; then
			tap_ok "$name: a valid configuration as written"
		else
			tap_fail "$name: a valid configuration as written" "xmpp-partners check exit $rc:
$out"
		fi
		;;
	run)
		if grep -q '^\$ ' "$body"; then
			local fail=""
			cmd=""
			expected=""
			# (a trailing "$ " line flushes the last command)
			while IFS= read -r l; do
				if [ "${l#\$ }" != "$l" ]; then
					if [ -n "$cmd" ]; then
						got=$(in_dir "$cmd")
						if [ "$got" != "${expected%$'\n'}" ]; then
							fail="$fail
---- \$ $cmd
$(diff <(printf '%s\n' "${expected%$'\n'}") <(printf '%s\n' "$got") | head -n 30)"
						fi
					fi
					cmd=${l#\$ }
					expected=""
				else
					expected="$expected$l"$'\n'
				fi
			done < <(cat "$body"; echo '$ ')
			if [ -z "$fail" ]; then
				tap_ok "$name: every command prints what the document shows"
			else
				tap_fail "$name: every command prints what the document shows" "diff (< document, > actual):$fail"
			fi
		else
			local fail=""
			while IFS= read -r cmd; do
				[ -n "$cmd" ] || continue
				out=$(in_dir "$cmd")
				rc=$?
				[ "$rc" = 0 ] || fail="$fail
---- $cmd (exit $rc)
$out"
			done <"$body"
			if [ -z "$fail" ]; then
				tap_ok "$name: every command succeeds"
			else
				tap_fail "$name: every command succeeds" "$fail"
			fi
		fi
		;;
	install-files)
		# (tests/integration/t_install.sh installs by this list; here:
		# every source it names exists)
		local missing=""
		while read -r _ _ src _; do
			[ -n "$src" ] || continue
			[ -e "$top_srcdir/$src" ] || [ -e "$top_builddir/$src" ] || missing="$missing $src"
		done <"$body"
		if [ -z "$missing" ]; then
			tap_ok "$name: every file of the install list exists"
		else
			tap_fail "$name: every file of the install list exists" "missing:$missing"
		fi
		;;
	error)
		tap_fail "$name" "a test marker that is not followed by a block" ;;
	*)
		tap_fail "$name" "unknown test marker kind '$kind'" ;;
	esac
}

for doc in README.md doc/xmpp-partners.1; do
	case $doc in *.md) style="md" ;; *) style="man" ;; esac
	fresh_dir
	extract "$top_srcdir/$doc" "$style" >"$TMP/blocks"
	n=$(grep -c '^@@ ' "$TMP/blocks")
	if [ "$n" -lt 3 ]; then
		tap_fail "$doc has marked examples" "found $n marked blocks"
		continue
	fi
	# split into one body file per block, then run them in order
	awk -v dir="$TMP" '/^@@ / { n++; f = dir "/body." n; print $0 > (dir "/head." n); printf "" > f; next } { print > f }' "$TMP/blocks"
	for i in $(seq 1 "$n"); do
		read -r _ line kind arg <"$TMP/head.$i"
		run_block "$doc" "$line" "$kind" "$arg" "$TMP/body.$i"
	done
	rm -f "$TMP"/head.* "$TMP"/body.*
done

tap_done
