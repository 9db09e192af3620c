#!/usr/bin/env bash
# transition benchmark: the throughput of ws.transition against two
# baselines measured in the same run, with pgbench -M prepared, 4 clients
# (-j 2), BENCH_SECONDS (default 15) per case, on N = 1000 entities of one
# kind with one counter field and one jsonpath constraint; every
# transaction changes one random entity.
#
#   a  the floor: one writable-CTE statement -- merge the patch with ||,
#      the counter n + 1, version + 1, hlc and vclock, append the event row
#      with the resolved patch {"n": <new n>, "note": "x"};
#   b  the same protocol by hand in PL/pgSQL: handshake, SELECT ... FOR
#      UPDATE, expected version, merge, counter delta, jsonpath constraint,
#      clocks, insert the event, update the entity;
#   a and b write the same rows as c into tables shaped like ws.entities and
#   ws.events (same columns, defaults and indexes);
#   c  ws.transition('e' || id, '{"n": 1, "note": "x"}', handshake => ...)
#      on ws entities whose kind has the counter n and the constraint
#      '$.n >= 0'.
#
# Each case runs with synchronous_commit off and on.  The throwaway cluster
# runs with fsync = off, which would make "on" cost nothing more than a
# write(); this benchmark turns fsync on (BENCH_FSYNC=off to keep it off)
# so that "on" measures a durable commit.  Every run starts from a freshly
# created database holding the same initial data, after a CHECKPOINT.
# Prints tps (pgbench's figure without initial connection time) and the WAL
# written per transaction for each run, then the ratios c/a and c/b.
# Targets: c/a >= 0.85 and c/b >= 1.3, for each synchronous_commit setting.
#
# Run by test/bench/run.sh, which exports PGHOST, PGPORT, PGUSER and
# PGDATABASE for the benchmark cluster.
set -euo pipefail

seconds=${BENCH_SECONDS:-15}
fsync=${BENCH_FSYNC:-on}
entities=1000
db=ws_bench_transition
work=$(mktemp -d)

cleanup() {
	psql -X -q -d "$PGDATABASE" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
	psql -X -q -d "$PGDATABASE" -c "ALTER SYSTEM RESET fsync" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 -c "ALTER SYSTEM SET fsync = $fsync" -c "SELECT pg_reload_conf()" >/dev/null
# the reload is asynchronous: wait until a new backend sees the setting
for _ in $(seq 50); do
	[ "$(psql -X -Atc 'SHOW fsync')" = "$fsync" ] && break
	sleep 0.1
done
[ "$(psql -X -Atc 'SHOW fsync')" = "$fsync" ] || { echo "fsync did not become $fsync" >&2; exit 1; }

# ---------------------------------------------------------------------------
# Schemas and initial data of the three cases.  Every case starts with the
# same N entities e1..eN in state {"n": 0, "note": ""} at version 1 and one
# event per entity (the creation).
# ---------------------------------------------------------------------------

# a and b write the same rows into tables of the same shape as ws.entities
# and ws.events (LIKE ... INCLUDING ALL: the same columns, defaults and
# indexes -- GIN on the state, uuid primary key, (entity_id, version),
# BRIN on hlc), so the comparison is of the protocol, not of the schema.
cat >"$work/tables.sql" <<SQL
CREATE TABLE bench_entities (LIKE ws.entities INCLUDING ALL);
CREATE TABLE bench_events (LIKE ws.events INCLUDING ALL);
INSERT INTO bench_entities (entity_id, kind, module, state, version, hlc, vclock, created_hlc)
SELECT 'e' || i, 'counter', 'bench', '{"n": 0, "note": ""}', 1, h, '{0:1}', h
FROM generate_series(1, $entities) i, LATERAL (SELECT ws.hlc_now() AS h) c;
INSERT INTO bench_events (event_id, entity_id, version, hlc, origin_node, module, kind,
                          event_type, patch, state, handshake, vclock)
SELECT gen_random_uuid(), entity_id, 1, hlc, 0, module, kind, 'created', state, state, '55-45-17', vclock
FROM bench_entities;
SQL

# a: the floor -- one writable-CTE statement doing the two writes.
cp "$work/tables.sql" "$work/setup_a.sql"

# b: the protocol as a PL/pgSQL function returning the new entity row, as
# ws.transition does.
cp "$work/tables.sql" "$work/setup_b.sql"
cat >>"$work/setup_b.sql" <<SQL
CREATE FUNCTION bench_transition(p_entity_id text, patch jsonb, expected_version bigint DEFAULT NULL,
                                 handshake text DEFAULT NULL)
RETURNS bench_entities LANGUAGE plpgsql AS \$\$
DECLARE
    e bench_entities;
    new_state jsonb;
    effective jsonb := patch;
BEGIN
    -- 1. handshake
    IF handshake IS DISTINCT FROM '55-45-17' THEN
        RAISE EXCEPTION 'invalid handshake' USING ERRCODE = 'WS401';
    END IF;
    -- 2. lock
    SELECT * INTO e FROM bench_entities WHERE entity_id = p_entity_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'entity % not found', p_entity_id USING ERRCODE = 'WS404';
    END IF;
    -- 3. expected version
    IF expected_version IS NOT NULL AND e.version <> expected_version THEN
        RAISE EXCEPTION 'version conflict' USING ERRCODE = 'WS409';
    END IF;
    -- 4. merge (|| is the merge patch for a flat patch without nulls), and
    -- the counter n takes a delta; the event keeps the resolved value
    new_state := e.state || patch;
    IF patch ? 'n' THEN
        new_state := jsonb_set(new_state, '{n}',
                               to_jsonb(coalesce((e.state ->> 'n')::numeric, 0) + (patch ->> 'n')::numeric));
        effective := patch || jsonb_build_object('n', new_state -> 'n');
    END IF;
    -- 5. constraint
    IF NOT jsonb_path_match(new_state, '\$.n >= 0') THEN
        RAISE EXCEPTION 'constraint n_not_negative violated' USING ERRCODE = 'WS422';
    END IF;
    -- 6. clocks, 7. event, 8. entity
    e.version := e.version + 1;
    e.hlc := ws.hlc_now();
    e.vclock := ws.vclock_tick(e.vclock, 0);
    INSERT INTO bench_events (event_id, entity_id, version, hlc, origin_node, module, kind,
                              event_type, patch, handshake, vclock)
    VALUES (gen_random_uuid(), p_entity_id, e.version, e.hlc, 0, e.module, e.kind,
            'update', effective, handshake, e.vclock);
    UPDATE bench_entities SET state = new_state, version = e.version, hlc = e.hlc, vclock = e.vclock
    WHERE entity_id = p_entity_id RETURNING * INTO e;
    RETURN e;
END
\$\$;
SQL

# c: ws entities through the extension's own API.
cat >"$work/setup_c.sql" <<SQL
SELECT ws.register_module('bench', 1);
SELECT ws.define_kind('counter', 'bench', 'lww', ARRAY['n']);
SELECT ws.add_constraint('counter', 'n_not_negative', '\$.n >= 0');
SELECT count(*) FROM (
    SELECT ws.create_entity('e' || i, 'counter', 'bench', '{"n": 0, "note": ""}', handshake => '55-45-17')
    FROM generate_series(1, $entities) i) s;
SQL

# ---------------------------------------------------------------------------
# The pgbench transactions, one statement each.
# ---------------------------------------------------------------------------

cat >"$work/a.pgbench" <<SQL
\set id random(1, $entities)
WITH u AS (UPDATE bench_entities SET state = state || jsonb_build_object('n', (state ->> 'n')::numeric + 1, 'note', 'x'), version = version + 1, hlc = ws.hlc_now(), vclock = ws.vclock_tick(vclock, 0) WHERE entity_id = 'e' || :id RETURNING entity_id, kind, module, state, version, hlc, vclock) INSERT INTO bench_events (event_id, entity_id, version, hlc, origin_node, module, kind, event_type, patch, handshake, vclock) SELECT gen_random_uuid(), entity_id, version, hlc, 0, module, kind, 'update', jsonb_build_object('n', state -> 'n', 'note', 'x'), '55-45-17', vclock FROM u;
SQL
cat >"$work/b.pgbench" <<SQL
\set id random(1, $entities)
SELECT bench_transition('e' || :id, '{"n": 1, "note": "x"}', handshake => '55-45-17');
SQL
cat >"$work/c.pgbench" <<SQL
\set id random(1, $entities)
SELECT ws.transition('e' || :id, '{"n": 1, "note": "x"}', handshake => '55-45-17');
SQL

declare -A label=(
	[a]="a floor: writable CTE"
	[b]="b PL/pgSQL protocol"
	[c]="c ws.transition"
)
declare -A tps wal

# run_case CASE SYNC: fresh database, initial data, CHECKPOINT, then pgbench
# with synchronous_commit = SYNC; records the tps (or "error") and the WAL
# written per transaction (from the WAL position before and after).
run_case() {
	local case=$1 sc=$2 out="$work/$1-$2.out"
	psql -X -q -v ON_ERROR_STOP=1 -d "$PGDATABASE" -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION worldstate" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$work/setup_$case.sql" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null

	# every pgbench connection gets the setting through PGOPTIONS (the
	# last -c wins over anything already there); check that it does
	local opts="${PGOPTIONS:-} -c synchronous_commit=$sc"
	local seen
	seen=$(PGOPTIONS="$opts" psql -X -Atc "SHOW synchronous_commit" -d "$db")
	[ "$seen" = "$sc" ] || { echo "synchronous_commit is $seen, not $sc" >&2; exit 1; }

	local lsn0 lsn1 xacts
	lsn0=$(psql -X -Atc "SELECT pg_current_wal_lsn()" -d "$db")
	if PGOPTIONS="$opts" pgbench -n -M prepared -c 4 -j 2 -T "$seconds" \
		-f "$work/$case.pgbench" "$db" >"$out" 2>&1; then
		tps[$case-$sc]=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
	else
		tps[$case-$sc]=error
	fi
	lsn1=$(psql -X -Atc "SELECT pg_current_wal_lsn()" -d "$db")
	xacts=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	if [ -n "$xacts" ] && [ "$xacts" -gt 0 ]; then
		wal[$case-$sc]=$(psql -X -Atc "SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / $xacts)" -d "$db")
	else
		wal[$case-$sc]=-
	fi
	if [ -z "${tps[$case-$sc]}" ] || [ "${tps[$case-$sc]}" = error ]; then
		tps[$case-$sc]=error
		echo "-- ${label[$case]}, synchronous_commit=$sc: pgbench failed; its output:"
		grep -v '^progress:' "$out" | head -30 || true
	fi
}

echo "pgbench -M prepared -c 4 -j 2 -T $seconds, $entities entities, fsync = $fsync"
for sc in off on; do
	for case in a b c; do
		run_case "$case" "$sc"
	done
done

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

echo
printf '%-24s | %-18s | %10s | %s\n' case synchronous_commit tps "WAL bytes/tx"
printf '%s\n' "-------------------------+--------------------+------------+-------------"
for sc in off on; do
	for case in a b c; do
		t=${tps[$case-$sc]}
		[ "$t" = error ] || t=$(printf '%.1f' "$t")
		printf '%-24s | %-18s | %10s | %12s\n' "${label[$case]}" "$sc" "$t" "${wal[$case-$sc]}"
	done
done

# ratio X Y TARGET: X/Y to three places and whether it reaches TARGET
ratio() {
	if [ "$1" = error ] || [ "$2" = error ]; then
		echo "n/a (a run failed)"
	else
		awk -v x="$1" -v y="$2" -v t="$3" \
			'BEGIN { printf "%.3f %s\n", x / y, (x / y >= t ? "met" : "NOT met") }'
	fi
}

echo
printf '%-18s | %-5s | %-7s | %-6s | %s\n' synchronous_commit ratio target value result
printf '%s\n' "-------------------+-------+---------+--------+--------"
for sc in off on; do
	read -r v m <<<"$(ratio "${tps[c-$sc]}" "${tps[a-$sc]}" 0.85)"
	printf '%-18s | %-5s | %-7s | %-6s | %s\n' "$sc" c/a ">= 0.85" "$v" "$m"
	read -r v m <<<"$(ratio "${tps[c-$sc]}" "${tps[b-$sc]}" 1.3)"
	printf '%-18s | %-5s | %-7s | %-6s | %s\n' "$sc" c/b ">= 1.3" "$v" "$m"
done
