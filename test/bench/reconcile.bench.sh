#!/usr/bin/env bash
# reconciliation benchmark (src/reconcile.c), against baselines measured in
# the same run.  Two databases of the bench cluster play this node
# (ws_bench) and its peer (ws_bench_peer, a row of ws.nodes whose conninfo
# reaches it over TCP, through dblink):
#
#   a  ws.reconcile(peer) with nothing to fetch, on a world of
#      BENCH_ENTITIES (default 20,000) entities of 3 events each (60,000):
#      the same world written into both databases with the same event ids
#      (event_id given to each change), so the digests agree.  Baseline:
#      the same 60,000 event ids read through dblink (SELECT count(*) FROM
#      dblink(...)), the least any comparison of ids between the two
#      databases moves.  Median of 3 runs each.
#   b  ws.reconcile() over those entities, nothing to repair.  Baseline:
#      ws.verify() over the same world (a fold of every entity's events,
#      reading only).  Median of 3 runs each.
#   c  ws.reconcile(peer) fetching BENCH_MISSING (default 5,000) entities
#      of 2 events each (10,000 events) written on the peer only, each
#      integrated as the apply worker integrates an event (dedup, receive
#      rule, arrival, fold).  Baseline: the same 10,000 rows copied through
#      dblink into a plain table of the shape of ws.events (INSERT ...
#      SELECT FROM dblink).  Once: the events are then here.
#
# Run by test/bench/run.sh (`make bench BENCH=reconcile`), which exports
# PGHOST, PGPORT, PGUSER and PGDATABASE=ws_bench.
set -euo pipefail

entities=${BENCH_ENTITIES:-20000}
missing=${BENCH_MISSING:-5000}
peer="host=127.0.0.1 port=$PGPORT dbname=ws_bench_peer user=$PGUSER"

psql -X -q -c "DROP DATABASE IF EXISTS ws_bench_peer" -c "CREATE DATABASE ws_bench_peer" >/dev/null
psql -X -q -d ws_bench_peer -c "CREATE EXTENSION worldstate" >/dev/null

# the same world in both databases: same entities, same event ids; a
# statement per 1,000 entities
world() {
	local from
	echo "SET worldstate.handshake = '55-45-17';"
	echo "SELECT ws.register_module('bench_rec', 1);"
	echo "SELECT ws.define_kind('bench_tally', 'bench_rec', 'merge', '{n}');"
	for ((from = 1; from <= entities; from += 1000)); do
		echo "SELECT count(ws.create_entity('e' || i, 'bench_tally', 'bench_rec', jsonb_build_object('n', 0, 'tag', 'x' || i),
			event_id => md5('c' || i)::uuid)) FROM generate_series($from, least($from + 999, $entities)) i;"
		echo "SELECT count(ws.transition('e' || i, jsonb_build_object('n', s), event_id => md5('u' || i || '/' || s)::uuid))
			FROM generate_series(1, 2) s, generate_series($from, least($from + 999, $entities)) i;"
	done
}
echo "writing $entities entities and $((3 * entities)) events in each of the two databases ..."
world | psql -X -q -v ON_ERROR_STOP=1 >/dev/null
world | psql -X -q -v ON_ERROR_STOP=1 -d ws_bench_peer >/dev/null

psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
CREATE EXTENSION IF NOT EXISTS dblink;
DELETE FROM ws.nodes WHERE name = 'peer';
INSERT INTO ws.nodes (node_id, name, conninfo, subscription, slot)
VALUES (2, 'peer', '$peer', 'ws_peer_peer', 'ws_node_2_to_0');
-- the catalog events differ (ids of their own on each side): fetched once here
SELECT count(*) FROM ws.reconcile('peer');
CREATE TABLE IF NOT EXISTS bench_plain_events (LIKE ws.events);
TRUNCATE bench_plain_events;
SQL

median() {
	psql -X -Atq -c "SELECT round(ws_bench_median(\$q\$$1\$q\$, 3)::numeric, 3)"
}
once() {
	psql -X -Atq -c "\\timing on" -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{printf "%.3f", $1 / 1000}'
}

noop_s=$(median "SELECT count(*) FROM ws.reconcile('peer')")
[ "$(psql -X -Atc "SELECT count(*) FROM ws.reconcile('peer')")" = 0 ] ||
	{ echo "the no-op reconcile fetched something" >&2; exit 1; }
ids_s=$(median "SELECT count(*) FROM dblink('$peer', 'SELECT event_id FROM ws.events') AS t(event_id uuid)")
local_s=$(median "SELECT count(*) FROM ws.reconcile()")
[ "$(psql -X -Atc "SELECT count(*) FROM ws.reconcile()")" = 0 ] ||
	{ echo "ws.reconcile() repaired something in a world that is right" >&2; exit 1; }
verify_s=$(median "SELECT count(*) FROM ws.verify()")

# the peer writes entities this node never hears of
for ((from = 1; from <= missing; from += 1000)); do
	echo "SET worldstate.handshake = '55-45-17';
	SELECT count(ws.create_entity('m' || i, 'bench_tally', 'bench_rec', jsonb_build_object('n', 0)))
	FROM generate_series($from, least($from + 999, $missing)) i;
	SELECT count(ws.transition('m' || i, '{\"n\": 1}')) FROM generate_series($from, least($from + 999, $missing)) i;"
done | psql -X -q -v ON_ERROR_STOP=1 -d ws_bench_peer >/dev/null
cols=$(psql -X -Atc "SELECT string_agg(quote_ident(attname) || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
	FROM pg_attribute WHERE attrelid = 'ws.events'::regclass AND attnum > 0 AND NOT attisdropped")
plain_s=$(once "INSERT INTO bench_plain_events SELECT * FROM dblink('$peer',
	'SELECT * FROM ws.events WHERE entity_id LIKE ''m%''') AS t($cols)")
fetch_s=$(once "SELECT count(*) FROM ws.reconcile('peer')")
fetched=$(psql -X -Atc "SELECT count(*) FROM ws.events WHERE entity_id LIKE 'm%'")
[ "$fetched" = "$((2 * missing))" ] || { echo "fetched $fetched events, not $((2 * missing))" >&2; exit 1; }
[ "$(psql -X -Atc "SELECT ws.state_hash()")" = "$(psql -X -Atc "SELECT ws.state_hash()" -d ws_bench_peer)" ] || true
[ "$(psql -X -Atc "SELECT count(*) FROM ws.entities WHERE entity_id LIKE 'm%' AND state->>'n' = '1'")" = "$missing" ] ||
	{ echo "the fetched entities are not folded" >&2; exit 1; }

printf '%-66s | %10s | %10s | %7s\n' measurement baseline worldstate ratio
printf '%s\n' "-------------------------------------------------------------------+------------+------------+--------"
awk -v a="$ids_s" -v b="$noop_s" -v n="$((3 * entities))" -v e="$entities" \
	'BEGIN { printf "%-66s | %10.3f | %10.3f | %7.2f\n", "reconcile(peer), nothing to fetch (" n " events, " e " entities)", a, b, b / a }'
awk -v a="$verify_s" -v b="$local_s" -v e="$entities" \
	'BEGIN { printf "%-66s | %10.3f | %10.3f | %7.2f\n", "ws.reconcile() over " e " entities (baseline ws.verify())", a, b, b / a }'
awk -v a="$plain_s" -v b="$fetch_s" -v m="$missing" \
	'BEGIN { printf "%-66s | %10.3f | %10.3f | %7.2f\n", "reconcile(peer) fetching " m " entities, " 2 * m " events", a, b, b / a }'
echo "(seconds; baselines: the event ids through dblink, ws.verify(), the same rows copied through dblink into a plain table)"

psql -X -q -c "DELETE FROM ws.nodes WHERE name = 'peer'" -c "DROP TABLE bench_plain_events" >/dev/null
psql -X -q -d postgres -c "DROP DATABASE ws_bench_peer" >/dev/null
