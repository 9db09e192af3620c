#!/usr/bin/env bash
# decode benchmark: how fast the worldstate output plugin turns WAL into
# broadcasts, against test_decoding and wal2json decoding the same WAL in
# the same run.
#
# One database, BENCH_EVENTS (default 200000) transitions written by
# pgbench -M prepared (4 clients, one ws.transition per transaction, 1000
# entities), after the slots of every plugin were created, so each slot
# decodes exactly the same WAL: 200k transactions, each updating
# ws.entities and inserting into ws.events.  Each case is
#
#   SELECT count(*) FROM pg_logical_slot_peek_changes(slot, NULL, NULL, options...)
#
# (peek, so every run decodes everything again), timed on the server; the
# figure is the median of BENCH_RUNS (default 3) runs after a warm-up run.
# Cases:
#
#   worldstate                   the broadcast: one line per event
#   worldstate include-state     the same with the state of keyframe events
#   test_decoding                every change of every table, as text
#   wal2json                     every change of every table, one JSON
#                                document per transaction (format 1)
#   wal2json add-tables          the same, restricted to ws.events
#
# Prints rows, seconds and events per second for each, then the ratio of
# worldstate's speed to each baseline's.  Target: worldstate at least as
# fast as wal2json (ratio >= 1.0).
#
# wal2json is Debian's postgresql-15-wal2json; as root the benchmark
# installs it when it is missing.  Run by test/bench/run.sh, which exports
# PGHOST, PGPORT, PGUSER, PGDATABASE and WS_ROOT for the benchmark cluster.
set -euo pipefail

events=${BENCH_EVENTS:-200000}
runs=${BENCH_RUNS:-3}
clients=4
entities=1000
db=ws_bench_decode
work=$(mktemp -d)

cleanup() {
	psql -X -q -d "$PGDATABASE" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

pkglibdir=$(pg_config --pkglibdir)
if [ ! -f "$pkglibdir/wal2json.so" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
	echo "installing postgresql-15-wal2json"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15-wal2json >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15-wal2json >/dev/null; } || true
fi
have_wal2json=0
[ -f "$pkglibdir/wal2json.so" ] && have_wal2json=1
[ $have_wal2json -eq 1 ] || echo "wal2json is not installed in $pkglibdir: its cases are skipped"

# Servers with output_plugin_libraries trust only the plugins it lists;
# a superuser may widen it for the session.
if [ "$(psql -X -Atc "SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries'")" = 1 ]; then
	export PGOPTIONS="${PGOPTIONS:-} -c output_plugin_libraries=pgoutput,test_decoding,worldstate,wal2json"
fi

psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
	-c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
export PGDATABASE=$db
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION worldstate" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -f "$WS_ROOT/test/bench/timing.sql" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT ws.register_module('bench', 1);
SELECT ws.define_kind('counter', 'bench', 'lww', ARRAY['n']);
SELECT count(ws.create_entity('e' || i, 'counter', 'bench', '{"n": 0, "note": ""}', handshake => '55-45-17'))
FROM generate_series(1, $entities) i;
SELECT 'slot' FROM pg_create_logical_replication_slot('bench_worldstate', 'worldstate');
SELECT 'slot' FROM pg_create_logical_replication_slot('bench_test_decoding', 'test_decoding');
SQL
if [ $have_wal2json -eq 1 ]; then
	psql -X -q -v ON_ERROR_STOP=1 -c "SELECT 'slot' FROM pg_create_logical_replication_slot('bench_wal2json', 'wal2json')" >/dev/null
fi

cat >"$work/transition.pgbench" <<SQL
\set id random(1, $entities)
SELECT ws.transition('e' || :id, '{"n": 1, "note": "x"}', handshake => '55-45-17');
SQL
lsn0=$(psql -X -Atc "SELECT pg_current_wal_lsn()")
pgbench -n -M prepared -c $clients -j 2 -t $((events / clients)) -f "$work/transition.pgbench" >"$work/pgbench.out" 2>&1 ||
	{ cat "$work/pgbench.out"; exit 1; }
written=$(psql -X -Atc "SELECT count(*) FROM ws.events WHERE event_type = 'update'")
wal=$(psql -X -Atc "SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0'))")
echo "$written transitions in $written transactions, $wal of WAL; median of $runs decodes after a warm-up"

# case LABEL SLOT OPTIONS...: rows and median seconds of a full peek
declare -a labels=() rows=() secs=()
run_case() {
	local label=$1 slot=$2
	shift 2
	local opts=""
	for o in "$@"; do opts="$opts, '$o'"; done
	local q="SELECT count(*) FROM pg_logical_slot_peek_changes('$slot', NULL, NULL$opts)"
	local n t
	n=$(psql -X -Atc "$q")
	t=$(psql -X -Atc "SELECT ws_bench_median(\$q\$$q\$q\$, $runs)")
	labels+=("$label")
	rows+=("$n")
	secs+=("$t")
}

run_case "worldstate" bench_worldstate
run_case "worldstate include-state" bench_worldstate include-state on
run_case "test_decoding" bench_test_decoding
if [ $have_wal2json -eq 1 ]; then
	run_case "wal2json" bench_wal2json
	run_case "wal2json add-tables=ws.events" bench_wal2json add-tables ws.events
fi

echo
printf '%-30s | %9s | %9s | %10s\n' case rows seconds "events/s"
printf '%s\n' "-------------------------------+-----------+-----------+-----------"
for i in "${!labels[@]}"; do
	awk -v l="${labels[$i]}" -v r="${rows[$i]}" -v s="${secs[$i]}" -v e="$written" \
		'BEGIN { printf "%-30s | %9d | %9.3f | %10.0f\n", l, r, s, e / s }'
done

echo
printf '%-44s | %6s | %s\n' "worldstate speed / baseline speed" ratio target
printf '%s\n' "---------------------------------------------+--------+------------------"
for i in "${!labels[@]}"; do
	case "${labels[$i]}" in
		worldstate*) continue ;;
	esac
	awk -v l="${labels[$i]}" -v b="${secs[$i]}" -v w="${secs[0]}" \
		'BEGIN {
			r = b / w
			t = (l ~ /^wal2json/) ? (r >= 1.0 ? ">= 1.0: met" : ">= 1.0: NOT met") : ""
			printf "%-44s | %6.2f | %s\n", "worldstate / " l, r, t
		}'
done

psql -X -q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$db'" >/dev/null
