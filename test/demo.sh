#!/usr/bin/env bash
# `make demo`: start a throwaway cluster, run a short scripted tour that
# prints each statement and its result, stop the cluster (or, with --keep,
# leave it running and print how to connect).
set -euo pipefail
source "$(dirname "$0")/cluster.sh"

keep=0
[ "${1:-}" = "--keep" ] && keep=1
[ $keep -eq 0 ] && trap ws_cluster_stop EXIT

echo "== starting a throwaway PostgreSQL 15 cluster with worldstate preloaded"
ws_cluster_start demo "worldstate.node_id = 1"
echo "   data directory $WS_DATA, port $PGPORT"
echo

psql -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS worldstate_demo" -c "CREATE DATABASE worldstate_demo" >/dev/null
export PGDATABASE=worldstate_demo

# Each step: a line saying what it shows, then the SQL echoed with its result.
step() {
	echo "-- $1"
	psql -X -q -e -v ON_ERROR_STOP=0 -v VERBOSITY=default -P pager=off 2>&1 <<<"$2" | sed 's/^/   /'
	echo
}

step "install the extension (schema ws)" \
	"CREATE EXTENSION worldstate;
SET search_path = ws, public;"

step "a module, a kind with a counter field, a constraint" \
	"SET worldstate.handshake = '55-45-17';
SELECT ws.register_module('game', 1);
SELECT ws.define_kind('player', 'game', policy => 'lww', counters => ARRAY['coins']);
SELECT ws.add_constraint('player', 'coins_not_negative', '\$.coins >= 0');"

step "create an entity, then change it with a JSON merge patch (coins is a counter: -3 is a delta)" \
	"SET worldstate.handshake = '55-45-17';
SELECT entity_id, state, version FROM ws.create_entity('p1', 'player', 'game', '{\"name\": \"Ada\", \"coins\": 10}');
SELECT state, version FROM ws.transition('p1', '{\"title\": \"Countess\", \"coins\": -3}', expected_version => 1);"

step "a stale expected version is refused (WS409), and so is breaking a constraint (WS422)" \
	"SET worldstate.handshake = '55-45-17';
\\set VERBOSITY verbose
SELECT ws.transition('p1', '{\"coins\": 1}', expected_version => 1);
SELECT ws.transition('p1', '{\"coins\": -100}');"

step "an idempotent retry: the same event_id returns the first result and writes nothing" \
	"SET worldstate.handshake = '55-45-17';
SELECT version FROM ws.transition('p1', '{\"coins\": 5}', event_id => 'a0d6c1c2-7a3e-4d38-9a63-2f0d1b7a9e01');
SELECT version FROM ws.transition('p1', '{\"level\": 2}');
SELECT version, state FROM ws.transition('p1', '{\"coins\": 5}', event_id => 'a0d6c1c2-7a3e-4d38-9a63-2f0d1b7a9e01');"

step "every change is an immutable event with an HLC; the log refuses edits" \
	"SELECT version, event_type, patch, hlc FROM ws.events WHERE entity_id = 'p1' ORDER BY version;
DELETE FROM ws.events;"

step "hybrid logical clock values: wall time, logical counter, node id" \
	"SET search_path = ws, public;
SELECT ws.hlc_now() AS now_1, ws.hlc_now() AS now_2;
SELECT ws.hlc_wall(h), ws.hlc_counter(h), ws.hlc_node(h)
FROM (SELECT '2026-01-15T10:00:00.123456Z/5@3'::ws.hlc AS h) s;"

step "the node clock never goes back, even when the system clock does (here: one hour back)" \
	"SET search_path = ws, public;
SELECT ws.hlc_now() AS before_step \\gset
SET worldstate.clock_offset = '-1h';
SELECT :'before_step' AS before_step, ws.hlc_now() AS after_step,
       ws.hlc_now() > :'before_step'::ws.hlc AS still_increasing;"

step "the HLC receive rule: a message from node 2, slightly ahead, moves the clock past it" \
	"SET search_path = ws, public;
SELECT ws.hlc_merge('2026-01-15T10:00:00Z/3@1', '2026-01-15T10:00:05Z/9@2',
                    '2026-01-15 10:00:01+00', 1) AS merged;"

step "a remote clock one hour ahead is refused (SQLSTATE WS508) and the refusal is counted" \
	"\\set VERBOSITY verbose
SELECT ws.hlc_receive(ws.hlc(clock_timestamp() + interval '1 hour', 0, 2));
SELECT * FROM ws.stats();"

step "hlc values index like timestamps: btree, hash and BRIN" \
	"SET search_path = ws, public;
CREATE TABLE log AS SELECT ws.hlc_now() AS h FROM generate_series(1, 10000);
CREATE INDEX ON log USING brin (h);
SELECT count(*) AS rows, ws.min(h) AS first, ws.max(h) AS last FROM log;"

step "vector clocks: causality between replicas" \
	"SET search_path = ws, public;
SELECT ws.vclock_tick('{1:3,2:5}', 1) AS ticked,
       ws.vclock_merge('{1:3,2:5}', '{1:4,3:1}') AS merged,
       ws.vclock_relation('{1:3,2:5}', '{1:4,2:5}') AS a_vs_b,
       ws.vclock_relation('{1:3}', '{2:1}') AS c_vs_d;"

if [ $keep -eq 1 ]; then
	echo "== the cluster keeps running; connect with:"
	echo "   psql -h $PGHOST -p $PGPORT -U $PGUSER worldstate_demo"
	echo "   stop it with: $( [ "$(id -u)" -eq 0 ] && echo "runuser -u $WS_OSUSER -- ")$WS_BINDIR/pg_ctl -D $WS_DATA stop"
else
	echo "== demo done; stopping the cluster"
fi
