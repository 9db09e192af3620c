#!/usr/bin/env bash
# recovery benchmark: with ENTITIES entities (default 100k) and EVENTS
# events (default 1M) in the log, the time to take a snapshot, to restore
# from the newest snapshot (which replays only the events after it), and to
# rebuild everything by replaying the log from its first event; prints the
# ratio full replay / snapshot restore against its target (at least 5; the
# ideal is about 10).  The snapshot is taken when 90% of the events are
# written, so a tenth of the log follows it.  Both include their
# verification: the full replay checks the whole log, the restore what it
# rebuilt (the events after the snapshot, the snapshot by its checksum).
# A restore writes only the rows that are not already what it rebuilds,
# so last, for comparison, the same restore into emptied tables, which
# writes every row (no target: a recovery that lost the tables).
#
# Run by test/bench/run.sh (`make bench BENCH=recovery`), which exports the
# cluster's PGHOST, PGPORT, PGUSER and PGDATABASE.
set -euo pipefail

entities=${BENCH_ENTITIES:-100000}
events=${BENCH_EVENTS:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off"
psql -X -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
SET worldstate.handshake = '55-45-17';
SELECT ws.register_module('recovery', 1);
SELECT ws.define_kind('recovery_item', 'recovery', 'lww', ARRAY['n']);
SELECT count(ws.create_entity('r' || i, 'recovery_item', 'recovery', '{"n": 0, "tag": "x"}'))
FROM generate_series(1, $entities) i;
SQL

# the transitions: 4 pgbench clients, each a share of the events
updates=$((events - entities))
cat >"$work/t.pgbench" <<SQL
\set id random(1, $entities)
SELECT ws.transition('r' || :id, '{"n": 1, "note": "abc"}', handshake => '55-45-17');
SQL
before=$((updates * 9 / 10 - entities / 10))
after=$((updates - before))
echo "writing $entities entities and $events events ..."
pgbench -n -M prepared -c 4 -j 2 -t $((before / 4)) -f "$work/t.pgbench" >/dev/null
# the seconds a statement takes, after a checkpoint: none of the writes
# before it is still being flushed while it runs
secs() {
	psql -X -q -c "CHECKPOINT" >/dev/null
	psql -X -Atq -c "\\timing on" -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{printf "%.3f", $1 / 1000}'
}
snap_s=$(secs "SELECT ws.create_snapshot('bench')")
pgbench -n -M prepared -c 4 -j 2 -t $((after / 4)) -f "$work/t.pgbench" >/dev/null
psql -X -q -c "VACUUM ANALYZE" >/dev/null

total=$(psql -X -Atc "SELECT count(*) FROM ws.events")
later=$(psql -X -Atc "SELECT count(*) FROM ws.events WHERE hlc OPERATOR(ws.>) (SELECT hlc FROM ws.snapshots ORDER BY id DESC LIMIT 1)")
hash=$(psql -X -Atc "SELECT ws.state_hash()")
restore_s=$(secs "SELECT ws.restore_snapshot((SELECT max(id) FROM ws.snapshots))")
[ "$(psql -X -Atc "SELECT ws.state_hash()")" = "$hash" ] || { echo "restore from the snapshot changed the world" >&2; exit 1; }
replay_s=$(secs "SELECT ws.restore_snapshot(NULL)")
[ "$(psql -X -Atc "SELECT ws.state_hash()")" = "$hash" ] || { echo "full replay changed the world" >&2; exit 1; }
psql -X -q -c "DELETE FROM ws.relationships" -c "DELETE FROM ws.entities" -c "VACUUM ws.entities" >/dev/null
empty_s=$(secs "SELECT ws.restore_snapshot((SELECT max(id) FROM ws.snapshots))")
[ "$(psql -X -Atc "SELECT ws.state_hash()")" = "$hash" ] || { echo "restore into emptied tables changed the world" >&2; exit 1; }

printf '%-44s | %10s\n' measurement seconds
printf '%s\n' "---------------------------------------------+-----------"
printf '%-44s | %10s\n' "create snapshot of $entities entities" "$snap_s"
printf '%-44s | %10s\n' "restore newest snapshot + replay $later events" "$restore_s"
printf '%-44s | %10s\n' "full replay of $total events" "$replay_s"
printf '%-44s | %10s\n' "the same restore into emptied tables" "$empty_s"
awk -v a="$replay_s" -v b="$restore_s" -v c="$empty_s" 'BEGIN {
	r = a / b
	printf "\nratio full replay / snapshot restore: %.2f (target >= 5, ideal about 10): %s\n",
		r, (r >= 5 ? "met" : "NOT met")
	printf "ratio full replay / restore into emptied tables: %.2f (no target)\n", a / c
}'
