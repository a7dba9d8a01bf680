#!/bin/bash
# t_storage.sh: runtime partner changes go through Prosody's configured
# storage, on whichever Prosody XP_PROSODY names (0.12 or 13).
#
#   a.test (mod_xmpp_partners; config partner c.test only) and b.test.  For
#   each backend, a.test is started afresh with
#     internal  the default (file <data_path>/%2a/xmpp_partners.dat)
#     sqlite    storage = "sql", SQLite3 (lua-dbi-sqlite3): data/prosody.sqlite
#     postgres  storage = "sql", PostgreSQL (lua-dbi-postgresql): a private
#               PostgreSQL server this script starts as the postgres user on
#               a socket in a directory of its own (no TCP), stopped by
#               pg_ctl at exit, also when the test fails
#   and then:
#   1. `partners add b.test { type = "federated" }` is accepted and alice@a.test
#      reaches bob@b.test at once;
#   2. the record is in the backend (the file; sqlite3 / psql on the table
#      `prosody`, store xmpp_partners, host = the storage VirtualHost a.test);
#   3. after a restart the runtime partner is still in force and listed as
#      "runtime";
#   4. a store that refuses writes (internal: the scratch file of the atomic
#      write is a directory; SQL: a trigger raising an error on the
#      xmpp_partners rows) refuses `partners set b.test tls optional` with
#      the storage error, and nothing is half-applied: the table in force and
#      the stored record are as before;
#   5. `prosodyctl mod_xmpp_partners check` (a process of its own, no live
#      hosts) reads the same store: 2 partners.
#   PostgreSQL only: with the database server stopped a change is refused
#   and the table in force kept; after it is back, changes work again.
#   Internal only: the shell's Lua form partners:list() and `help partners`.
#   SQLite only: xmpp_partners_storage_host picks the VirtualHost whose
#   store keeps the record.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/integration/lib.sh"

xp_init
tap_plan 39

LUA=$(xp__prosody_lua)
PG_BIN=/usr/lib/postgresql/15/bin
have_sqlite=1 have_pg=1
$LUA -e 'require "dbd.sqlite3"' >/dev/null 2>&1 || have_sqlite="lua-dbi-sqlite3 is missing for $LUA"
command -v sqlite3 >/dev/null 2>&1 || have_sqlite="the sqlite3 command is missing (apt-get install sqlite3)"
$LUA -e 'require "dbd.postgresql"' >/dev/null 2>&1 || have_pg="lua-dbi-postgresql is missing for $LUA"
[ -x "$PG_BIN/pg_ctl" ] && [ -x "$PG_BIN/initdb" ] || have_pg="PostgreSQL 15 is not installed ($PG_BIN; apt-get install postgresql)"
command -v psql >/dev/null 2>&1 || have_pg="psql is missing (apt-get install postgresql-client)"
id postgres >/dev/null 2>&1 || have_pg="no postgres user to run PostgreSQL as"
command -v runuser >/dev/null 2>&1 || have_pg="runuser is missing"
for why in "$have_sqlite" "$have_pg"; do
	if [ "$why" != 1 ] && [ "${XP_REQUIRE:-0}" = 1 ]; then
		echo "Bail out! $why (XP_REQUIRE=1)"
		exit 1
	fi
done

for d in a.test b.test m.test; do xp_host "$d" "$([ $d = m.test ] && xp_addr a.test)"; done
PARTNERS=$XP_WORK/partners-a.lua
printf 'xmpp_partners = {\n\t["c.test"] = { type = "federated" };\n}\n' >"$PARTNERS"

xp_start_prosody b "$(xp_addr b.test)" b.test || xp_bail "b.test did not start"
xp_register b bob@b.test >"$XP_WORK/register.out" 2>&1 || xp_bail "bob: $(cat "$XP_WORK/register.out")"
xp_client_bg rx-b --resource rx --timeout 5 bob@b.test wait 600
xp_client_ready rx-b || xp_bail "bob@b.test is not online"
tap_ok "b.test started, bob@b.test online"

N=0
# delivered NAME: a fresh message from alice@a.test reaches bob@b.test.
delivered() {
	local body out rc
	N=$((N + 1))
	body="m$N"
	out=$(xp_client alice@a.test send bob@b.test "$body" 2>&1)
	rc=$?
	for _ in $(seq 1 100); do
		grep -q "body=$body\$" "$(xp_client_out rx-b)" && break
		sleep 0.05
	done
	if [ "$rc" -eq 0 ] && grep -q "body=$body\$" "$(xp_client_out rx-b)"; then
		tap_ok "$1"
	else
		tap_fail "$1" "sender exit $rc: $out
$(grep -E 'refused|policy|storage|error' "$(xp_server_log "$SRV")" | grep -vE 'Sending|Received' | tail -n 5)"
	fi
}

# shell_ok NAME REGEX WORD...: `prosodyctl shell WORD...` against $SRV exits
# 0 and its output matches every line of the extended REGEX.
shell_ok() {
	local name=$1 re=$2 out rc line miss=""
	shift 2
	out=$(xp_shell_cmd "$SRV" "$@" 2>&1)
	rc=$?
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		grep -qE -- "$line" <<<"$out" || miss="$miss
missing: $line"
	done <<<"$re"
	if [ "$rc" -eq 0 ] && [ -z "$miss" ]; then
		tap_ok "$name"
	else
		tap_fail "$name" "exit $rc$miss
$out"
	fi
}

# ---- the backends: how to read the record, how to make writes fail ------------------

# stored_internal / stored_sqlite / stored_postgres: the stored record as text.
STORE_FILE=""
stored_internal() { cat "$STORE_FILE" 2>/dev/null; }
SQLITE_DB=""
SQL_QUERY="SELECT host, \"user\", store, key, type, value FROM prosody WHERE store = 'xmpp_partners' ORDER BY key"
stored_sqlite() { sqlite3 "$SQLITE_DB" "$SQL_QUERY" 2>&1; }
PG_DIR=""
pg() { PGOPTIONS="-c client_min_messages=warning" psql -h "$PG_DIR" -U xp -d prosody -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
stored_postgres() { pg -c "$SQL_QUERY" 2>&1; }

# break_* / fix_*: make the store refuse writes of the partner record / undo.
break_internal() { mkdir "$STORE_FILE~"; }
fix_internal() { rmdir "$STORE_FILE~"; }
SQLITE_TRIGGERS=""
for op in INSERT UPDATE DELETE; do
	SQLITE_TRIGGERS="$SQLITE_TRIGGERS
CREATE TRIGGER xp_refuse_$op BEFORE $op ON prosody
WHEN $([ $op = DELETE ] && echo OLD || echo NEW).store = 'xmpp_partners'
BEGIN SELECT RAISE(ABORT, 'xp test: this store refuses writes'); END;"
done
break_sqlite() { sqlite3 "$SQLITE_DB" "$SQLITE_TRIGGERS"; }
fix_sqlite() { sqlite3 "$SQLITE_DB" "DROP TRIGGER xp_refuse_INSERT; DROP TRIGGER xp_refuse_UPDATE; DROP TRIGGER xp_refuse_DELETE;"; }
break_postgres() {
	pg -c "CREATE FUNCTION xp_refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF (TG_OP = 'DELETE' AND OLD.store = 'xmpp_partners') OR (TG_OP <> 'DELETE' AND NEW.store = 'xmpp_partners') THEN
		RAISE EXCEPTION 'xp test: this store refuses writes';
	END IF;
	IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER xp_refuse BEFORE INSERT OR UPDATE OR DELETE ON prosody FOR EACH ROW EXECUTE FUNCTION xp_refuse();"
}
fix_postgres() { pg -c "DROP TRIGGER xp_refuse ON prosody; DROP FUNCTION xp_refuse();"; }

# PostgreSQL: initdb and start as the postgres user in a directory it owns
# (PostgreSQL refuses to run as root), listening on a socket there only.
pg_run() { (cd "$PG_DIR" && runuser -u postgres -- "$@"); }
pg_stop() {
	[ -n "$PG_DIR" ] && [ -f "$PG_DIR/db/postmaster.pid" ] || return 0
	pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/db" -m fast -w -t 20 stop >>"$PG_DIR/ctl.out" 2>&1
}
pg_cleanup() {
	pg_stop
	if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
		if [ "${XP_KEEP:-0}" = 1 ]; then echo "# XP_KEEP=1: PostgreSQL directory kept: $PG_DIR"; else rm -rf "$PG_DIR"; fi
	fi
}
pg_start() {
	pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/db" -o "-k $PG_DIR -h ''" -l "$PG_DIR/log" -w -t 20 start \
		>>"$PG_DIR/ctl.out" 2>&1
}
pg_setup() {
	PG_DIR=$(mktemp -d /tmp/xp-pg.XXXXXX) || return 1
	xp_at_exit pg_cleanup
	chown postgres: "$PG_DIR" || return 1
	pg_run "$PG_BIN/initdb" -D "$PG_DIR/db" -A trust -U xp >"$PG_DIR/initdb.out" 2>&1 || return 1
	pg_start || return 1
	psql -h "$PG_DIR" -U xp -d postgres -X -q -c "CREATE DATABASE prosody" >>"$PG_DIR/ctl.out" 2>&1
}

# ---- one backend ---------------------------------------------------------------------------

# run_backend NAME LABEL EXTRA-LUA: steps 1-5 above against server NAME.
run_backend() {
	local name=$1 label=$2 extra=$3 before after out rc i
	SRV=$name
	if xp_start_prosody "$name" "$(xp_addr a.test)" a.test --module xmpp_partners \
		--extra-lua "Include $(xp__lua_str "$PARTNERS")
$extra" && xp_wait_log "$name" 'Partner policy loaded: 1 partners' 5 &&
		xp_register "$name" alice@a.test >>"$XP_WORK/register.out" 2>&1; then
		tap_ok "$label: a.test started with 1 config partner"
	else
		tap_fail "$label: a.test started" "$(grep -E 'xmpp_partners|error|sql' "$(xp_server_log "$name")" | tail -n 8)"
		for i in 2 3 4 5 6 7 8 9 10; do tap_skip "$label: step $i" "a.test did not start"; done
		return 1
	fi
	STORE_FILE=$(xp_server_dir "$name")/data/%2a/xmpp_partners.dat
	SQLITE_DB=$(xp_server_dir "$name")/data/prosody.sqlite

	shell_ok "$label: partners add b.test is accepted and stored" \
		'b\.test added \(runtime, stored\)' partners add b.test '{ type = "federated" }'
	delivered "$label: the runtime partner b.test federates at once (alice -> bob)"

	out=$("stored_$label")
	case $label in
	internal) re='\["b\.test"\] = \{' ;;
	*) re='^a\.test\|\|xmpp_partners\|partners\|.*b\.test' ;;
	esac
	if grep -qE "$re" <<<"$out"; then
		tap_ok "$label: the record is in the backend ($( [ "$label" = internal ] && echo "data/%2a/xmpp_partners.dat" || echo "table prosody, host a.test, store xmpp_partners"))"
	else
		tap_fail "$label: the record is in the backend" "$out"
	fi

	xp_log_mark "$name"
	if xp_restart "$name" && xp_wait_new_log "$name" 'Partner policy loaded: 2 partners' 5; then
		tap_ok "$label: after a restart the stored partner is loaded (2 partners)"
	else
		tap_fail "$label: stored partner survives a restart" "$(xp_log_new "$name" | grep -E 'xmpp_partners|error|sql' | tail -n 8)"
	fi
	shell_ok "$label: partners list after the restart: b.test from runtime, c.test from config" \
		'^b\.test +federated .* runtime +[0-9]+$
^c\.test +federated .* config +[0-9]+$' partners list
	delivered "$label: b.test still federates after the restart"

	before=$("stored_$label")
	if ! "break_$label" >"$XP_WORK/break.out" 2>&1; then
		tap_fail "$label: make the store refuse writes" "$(cat "$XP_WORK/break.out")"
		tap_fail "$label: nothing half-applied" "(not run)"
	else
		xp_log_mark "$name"
		out=$(xp_shell_cmd "$name" partners set b.test tls optional 2>&1)
		rc=$?
		if [ "$rc" -ne 0 ] && grep -q 'refused, nothing changed: the change could not be stored' <<<"$out"; then
			tap_ok "$label: a store that refuses the write refuses the change, and says so"
		else
			tap_fail "$label: a failing store refuses the change" "exit $rc: $out"
		fi
		"fix_$label" >>"$XP_WORK/break.out" 2>&1
		after=$("stored_$label")
		out=$(xp_shell_cmd "$name" partners show b.test 2>&1)
		if grep -q '^tls  *required$' <<<"$out" && [ "$before" = "$after" ] &&
			[ "$(xp_log_count "$name" 'Partner policy changed')" -eq 0 ]; then
			tap_ok "$label: nothing half-applied (b.test tls required in force and in the store)"
		else
			tap_fail "$label: nothing half-applied" "show: $out
store before: $before
store after:  $after"
		fi
	fi

	out=$(xp_prosodyctl "$name" mod_xmpp_partners check 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && grep -q 'partner table valid: 2 partner(s)' <<<"$out"; then
		tap_ok "$label: prosodyctl mod_xmpp_partners check reads the store (2 partners)"
	else
		tap_fail "$label: prosodyctl mod_xmpp_partners check" "exit $rc: $out"
	fi
}

skip_backend() {
	local label=$1 why=$2 i
	for i in 1 2 3 4 5 6 7 8 9 10; do tap_skip "$label: step $i" "$why"; done
}

# ---- internal ----------------------------------------------------------------------------------
run_backend a_int internal "" || xp_bail "a.test did not start with internal storage"

# The shell's two forms on this host version: Lua and `help`.
out=$(xp_shell a_int "partners:list()" 2>&1)
if grep -qE '^b\.test +federated' <<<"$out" && grep -q 'Showing 2 partner(s)' <<<"$out"; then
	tap_ok "prosodyctl shell \"partners:list()\" (the Lua form) lists the partners"
else
	tap_fail "the shell's Lua form partners:list()" "$out"
fi
# `help SECTION` is open to modules' sections from Prosody 13 on; 0.12's
# help text is fixed, and its section help is partners:help().
major=$(xp_prosodyctl a_int about 2>/dev/null | sed -n 's/^Prosody \([0-9][0-9]*\)\..*/\1/p' | head -n 1)
if [ "${major:-0}" -ge 13 ]; then help_cmd="help partners"; else help_cmd="partners:help()"; fi
out=$(xp_shell a_int "$help_cmd" 2>&1)
if grep -qE 'list' <<<"$out" && grep -q 'explain' <<<"$out" && grep -q 'sessions' <<<"$out" &&
	! grep -qiE 'unknown topic|not found' <<<"$out"; then
	tap_ok "prosodyctl shell \"$help_cmd\" describes the partners commands (Prosody ${major:-?})"
else
	tap_fail "prosodyctl shell \"$help_cmd\" (Prosody ${major:-?})" "$out"
fi
xp_stop a_int

# ---- SQLite ---------------------------------------------------------------------------------------
if [ "$have_sqlite" = 1 ]; then
	run_backend a_lite sqlite 'storage = "sql"
sql = { driver = "SQLite3", database = "prosody.sqlite" }'
	xp_stop a_lite
	# xmpp_partners_storage_host names the VirtualHost whose store is used
	# (here m.test, not a.test which sorts first; Prosody activates the two
	# in either order, and the module waits for m.test when it comes second).
	SRV=a_sh
	out=""
	if xp_start_prosody a_sh "$(xp_addr a.test)" a.test m.test --module xmpp_partners \
		--extra-lua "Include $(xp__lua_str "$PARTNERS")
storage = \"sql\"
sql = { driver = \"SQLite3\", database = \"prosody.sqlite\" }
xmpp_partners_storage_host = \"m.test\"" && xp_wait_log a_sh 'Partner policy loaded: 1 partners' 5 &&
		xp_shell_cmd a_sh partners add b.test '{ type = "federated" }' >/dev/null 2>&1; then
		SQLITE_DB=$(xp_server_dir a_sh)/data/prosody.sqlite
		out=$(sqlite3 "$SQLITE_DB" "SELECT DISTINCT host FROM prosody WHERE store = 'xmpp_partners'" 2>&1)
	fi
	tap_is "$out" m.test "xmpp_partners_storage_host = \"m.test\": the record is kept under host m.test"
	xp_log_mark a_sh
	if xp_restart a_sh && xp_wait_new_log a_sh 'Partner policy loaded: 2 partners' 5; then
		tap_ok "xmpp_partners_storage_host: the record is loaded from m.test's store after a restart"
	else
		tap_fail "xmpp_partners_storage_host: loaded after a restart" "$(xp_log_new a_sh | grep -E 'xmpp_partners|error|sql' | tail -n 8)"
	fi
	xp_stop a_sh
else
	skip_backend sqlite "$have_sqlite"
	tap_skip "storage host option" "$have_sqlite"
	tap_skip "storage host option, restart" "$have_sqlite"
fi

# ---- PostgreSQL -----------------------------------------------------------------------------------
if [ "$have_pg" != 1 ]; then
	skip_backend postgres "$have_pg"
	tap_skip "postgres: database down" "$have_pg"
	tap_skip "postgres: database back" "$have_pg"
elif ! pg_setup; then
	tap_fail "postgres: a private PostgreSQL server started" "$(cat "$PG_DIR"/*.out "$PG_DIR/log" 2>/dev/null | tail -n 20)"
	for i in 1 2 3 4 5 6 7 8 9 10 11; do tap_skip "postgres: step $i" "PostgreSQL did not start"; done
else
	run_backend a_pg postgres "storage = \"sql\"
sql = { driver = \"PostgreSQL\", database = \"prosody\", username = \"xp\", host = $(xp__lua_str "$PG_DIR") }"
	SRV=a_pg
	# The database server goes away: a change is refused, the table stays.
	pg_stop
	out=$(xp_shell_cmd a_pg partners add e.test '{ type = "federated" }' 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q 'adding e\.test refused, nothing changed: cannot read the stored' <<<"$out" &&
		xp_shell_cmd a_pg partners show b.test 2>&1 | grep -q '^tls  *required$' &&
		! xp_shell_cmd a_pg partners show e.test >/dev/null 2>&1; then
		tap_ok "postgres: with the database down, partners add is refused and the table in force kept"
	else
		tap_fail "postgres: database down" "exit $rc: $out"
	fi
	# With the database back, a restarted server takes changes again.  (Not
	# the same process: Prosody 13.0.1's own SQL layer, without this module,
	# crashes with SIGSEGV on the first query after an outage in which some
	# queries failed: checked with logins alone.)
	xp_log_mark a_pg
	if pg_start && xp_restart a_pg && xp_wait_new_log a_pg 'Partner policy loaded: 2 partners' 5; then
		shell_ok "postgres: with the database back (server restarted), b.test is loaded and changes work again" \
			'e\.test added \(runtime, stored\)' partners add e.test '{ type = "federated" }'
	else
		tap_fail "postgres: database back" "$(tail -n 5 "$PG_DIR/log")"
	fi
	xp_stop a_pg
fi

tap_stop_all
tap_done
