#!/bin/bash
# tests/ejabberd/t_golden.sh: one partner table, three front ends, one
# text (issue 15).  The same partner file is the table of a Prosody server
# (xmpp_partners_file), of an ejabberd node (partners_file) and of the
# xmpp-partners tool; then one sequence of admin changes is made on both
# servers through their own admin commands (prosodyctl shell partners ...,
# ejabberdctl partners_...).  Before and after the changes, `list`,
# `check`, `show` (the record; the live sessions are each host's) and
# `explain` of the servers are compared byte for byte (host framing aside:
# the shell's closing "OK: ..." line, and global options named as each
# host's configuration writes them), and the tool's `explain` of the same
# table (the file before, Prosody's `partners export` after) likewise.
# The tool's `check` is compared line for line after its own framing (the
# "path:line: " in front, its summary line) is taken off.
#
# Prosody 0.12.3 by default; XP_PROSODY_PREFIX=/work/main/build/prosody13
# runs the same test against Prosody 13.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/ejabberd/ejlib.sh"
ej_require
CLI=$top_builddir/tools/xmpp-partners
[ -x "$CLI" ] || tap_skip_all "the xmpp-partners tool was not built"

xp_init
tap_plan 22

ej_init ej.test
xp_host pr.test

# ---- the one table -----------------------------------------------------------------
PIN=sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
PFILE=$XP_WORK/golden-partners.cfg.lua
cat >"$PFILE" <<EOF
-- the golden table: every partner type, several matrix rows, a warning
xmpp_partners_default = "deny"
xmpp_partners_keepalive_interval = 120
xmpp_partners_connection_limit = 50
xmpp_partners = {
	["fed.test"] = { type = "federated"; additional_domains = { "corp.fed.test" };
		connection_limit = 5; description = "Federated Ltd" };
	["ver.test"] = { type = "public_verified"; tls = "optional"; sasl = "optional";
		dialback = true; fingerprints = { "$PIN" } };
	["unv.test"] = { type = "public_unverified"; tls = "not_supported";
		sasl = "not_supported"; dialback = true; keepalive = false;
		proxy = "127.0.0.9:5270" };
	["opt.test"] = { type = "federated"; tls = "optional" };
}
EOF
chmod 644 "$PFILE"

ej_config <<EOF
partners_file: "$PFILE"
EOF
ok=1
xp_start_prosody pr "$(xp_addr pr.test)" pr.test --module xmpp_partners \
	--extra-lua "xmpp_partners_file = \"$PFILE\"" || ok=0
ej_start || ok=0
if [ "$ok" = 1 ]; then
	tap_ok "Prosody $XP_PROSODY_VERSION and ejabberd started on the same partner file"
else
	tap_fail "servers started"
	xp_bail "the servers did not start"
fi

# ---- comparing ---------------------------------------------------------------------
# same NAME A B: A and B are the same text, byte for byte (and not empty).
same() {
	if [ -n "$2" ] && [ "$2" = "$3" ]; then
		tap_ok "$1 ($(wc -l <<<"$2") lines)"
	else
		tap_fail "$1" "$(diff <(echo "$2") <(echo "$3") | head -n 30)"
	fi
}
# pr_cmd / ej_cmd: a command's text on each server, Prosody's with its
# global options named as ejabberd.yml names them.
pr_cmd() { xp_shell_text pr partners "$@" | ej_option_words; }
ej_cmd() { ejctl "partners_$1" "${@:2}"; }
# the tool's check, without its framing: the diagnostic lines, sorted (it
# orders them by line, the servers by partner)
cli_check_lines() { "$CLI" check "$1" | sed -nE 's/^[^:]+(:[0-9]+)?: ((error|warning): .*)$/\2/p' | sort; }
host_check_lines() { grep -E '^(error|warning): ' | sort; }

# show's record part (the live sessions after it are each host's own)
record_part() { awk 'NF == 0 { exit } { print }'; }

DOMAINS="fed.test corp.fed.test ver.test unv.test opt.test new.test evil.test"
compare_all() { # WHEN CLI_FILE: check, show and explain on both servers and the tool
	local when=$1 file=$2 d pr ej cli shown=
	pr=$(pr_cmd check)
	ej=$(ej_cmd check)
	same "$when: check, Prosody and ejabberd" "$pr" "$ej"
	cli=$(cli_check_lines "$file")
	same "$when: check, the tool's diagnostics and the servers'" "$cli" "$(host_check_lines <<<"$ej")"
	pr= ej=
	for d in $SHOW; do
		pr+=$(pr_cmd show "$d" | record_part)$'\n'
		ej+=$(ej_cmd show "$d" | record_part)$'\n'
	done
	same "$when: show of every partner ($SHOW), Prosody and ejabberd" "$pr" "$ej"
	same "$when: list, Prosody and ejabberd" "$(pr_cmd list)" "$(ej_cmd list)"
	for d in $DOMAINS; do
		pr=$(pr_cmd explain "$d")
		ej=$(ej_cmd explain "$d")
		cli=$("$CLI" explain "$file" "$d" | ej_option_words)
		if [ -n "$pr" ] && [ "$pr" = "$ej" ] && [ "$pr" = "$cli" ]; then
			EXPLAINED+=" $d"
		else
			tap_fail "$when: explain $d, Prosody, ejabberd and the tool" "prosody vs ejabberd:
$(diff <(echo "$pr") <(echo "$ej") | head -n 20)
prosody vs the tool:
$(diff <(echo "$pr") <(echo "$cli") | head -n 20)"
			EXPLAIN_FAILED=1
		fi
	done
}

# ---- 1. the table as loaded --------------------------------------------------------
EXPLAINED= EXPLAIN_FAILED=
SHOW="fed.test corp.fed.test ver.test unv.test opt.test"
compare_all "as loaded" "$PFILE"
[ -z "$EXPLAIN_FAILED" ] && tap_ok "as loaded: explain, the same text on Prosody, ejabberd and the tool:$EXPLAINED"
# it cannot pass by comparing nothing: the texts say what they should
ej=$(ej_cmd explain corp.fed.test)
case $ej in
"corp.fed.test
  partner        fed.test (the domain is one of its additional_domains)"*"  STARTTLS       required: the stream is closed rather than continue in the clear"*) tap_ok "the explain text is the core's: corp.fed.test maps to fed.test" ;;
*) tap_fail "the explain text is the core's" "$ej" ;;
esac
ej=$(ej_cmd check)
case $ej in
*"warning: partner 'opt.test': "*"is matrix row 4 (warning)"*"partner table valid: 4 partner(s), "*) tap_ok "the check text is the core's: opt.test's row 4 warning, 4 partners" ;;
*) tap_fail "the check text is the core's" "$ej" ;;
esac

# ---- 2. one sequence of admin changes, on both servers -----------------------------
change() { # NAME PROSODY-ARGS... -- EJABBERD-ARGS...
	local name=$1 pr_args=() ej_args=() out_pr out_ej rc_pr rc_ej
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do pr_args+=("$1"); shift; done
	shift
	ej_args=("$@")
	out_pr=$(xp_shell_cmd pr partners "${pr_args[@]}" 2>&1)
	rc_pr=$?
	out_ej=$(ejctl "${ej_args[@]}")
	rc_ej=$?
	if [ "$rc_pr" = 0 ] && [ "$rc_ej" = 0 ]; then
		tap_ok "$name: done on both servers"
	else
		tap_fail "$name" "prosody ($rc_pr): $out_pr
ejabberd ($rc_ej): $out_ej"
	fi
}
change "set opt.test tls required" set opt.test tls required -- partners_set opt.test tls required
change "set ver.test connection_limit 7" set ver.test connection_limit 7 -- partners_set ver.test connection_limit 7
change "set fed.test dialback yes (a typed value, read by the core)" set fed.test dialback yes -- \
	partners_set fed.test dialback yes
change "add new.test" add new.test '{ type = "federated", tls = "optional", sasl = "optional", dialback = true }' -- \
	partners_add new.test "{type: federated, tls: optional, sasl: optional, dialback: true}"
change "remove unv.test" remove unv.test -- partners_remove unv.test
change "set ver.test additional_domains (a typed list)" set ver.test additional_domains "alt.ver.test, alt2.ver.test" -- \
	partners_set ver.test additional_domains "alt.ver.test, alt2.ver.test"

# the table in force after the changes, as Prosody exports it, for the tool
EXPORT=$XP_WORK/golden-export.cfg.lua
xp_shell_text pr partners export >"$EXPORT"
if grep -q '^xmpp_partners = {$' "$EXPORT" && "$CLI" check "$EXPORT" >/dev/null; then
	tap_ok "partners export: the table after the changes, which the tool reads"
else
	tap_fail "partners export for the tool" "$(head -n 20 "$EXPORT")"
fi

# ---- 3. after the changes ----------------------------------------------------------
EXPLAINED= EXPLAIN_FAILED=
SHOW="fed.test corp.fed.test ver.test opt.test new.test"
compare_all "after the changes" "$EXPORT"
[ -z "$EXPLAIN_FAILED" ] && tap_ok "after the changes: explain, the same text on Prosody, ejabberd and the tool:$EXPLAINED"
ej=$(ej_cmd explain new.test)$'\n'$(ej_cmd explain unv.test)$'\n'$(ej_cmd explain fed.test)
case $ej in
"new.test
  partner        new.test (its primary domain)"*"unv.test
  refused: not a partner (no partner lists it, and default: deny)"*"negotiation    tls = \"required\", sasl = \"required\", dialback = true"*) tap_ok "the changes are in the texts: new.test added, unv.test refused, fed.test with dialback" ;;
*) tap_fail "the changes are in the texts" "$ej" ;;
esac

pid=$EJ_PID
ej_stop
kill -0 "$pid" 2>/dev/null
tap_is $? 1 "ejabberd node (PID $pid) stopped"
tap_done
