#!/usr/bin/env bash
# timetravel benchmark: the cost of reading the past against reading the
# present, as histories grow (the ratio must not grow with them).
#
#   1. point queries -- three entities with 1k, 10k and 100k events
#      (default keyframe interval, 16).  For each: ws.get_state(e, h) at
#      1000 random past HLCs (event HLCs other than the last, so every call
#      rebuilds a past version) against ws.get_state(e) (the present).
#      Two measures:
#        per call   -- 1000 calls in one statement, 21 runs alternating
#                      with the present: medians divided by 1000 (the
#                      function's own cost), and the median of the ratios
#                      of runs paired in time;
#        statement  -- pgbench -M prepared, 1 client, one call per
#                      transaction at a random point, past and present
#                      statements interleaved at random in one run: the
#                      median latency a client sees.
#      "recent us" is the per-call cost at points among the last 1000
#      events of each history: the same number of pages whatever its
#      length, so its growth is the algorithm's, not the caches'.
#      Target: past/present below 5, and not growing from 1k to 100k.
#   2. ws.history of 100 consecutive events, at 100 random places of each
#      history, per call; against the same rows read with plain SQL.
#   3. ws.entities_at(h) over 100k entities: SELECT count(*), sum(...) at an
#      HLC before every entity's last change (every one is rebuilt), and at
#      the present HLC (none is), against the same aggregate on ws.entities.
#      Then (3b) a snapshot, 10,000 changes, a moment h and a change of
#      every entity: ws.entities_at(h), which starts from the snapshot and
#      folds the events between it and h, against ws.entities (target:
#      3x), and the same moment without the snapshot for comparison.  The
#      floors under that ratio: entities_at(now), which rebuilds nothing,
#      and a SQL function returning the rows of ws.entities in id order
#      (any function in FROM materialises its rows); and the same figures
#      with work_mem at its default, 4MB, where the SQL function's rows
#      too go to a temporary file instead of fresh memory.
#   4. the write cost of the two indexes the queries add to ws.events: one
#      backend running statements of 2000 ws.transition calls in two
#      databases, with and without them (warmed up, so the indexes have
#      grown by inserts as in service), 7 runs each in alternation; the
#      fastest runs (the least disturbed by anything else on the machine)
#      and the medians are compared.
#
# Run by test/bench/run.sh (make bench BENCH=timetravel), which exports
# PGHOST, PGPORT, PGUSER and PGDATABASE for the benchmark cluster and
# defines ws_bench_median(query, runs).
set -euo pipefail

work=$(mktemp -d)
chmod 777 "$work"
wdb=ws_bench_tt_write
cleanup() {
	psql -X -q -d "$PGDATABASE" -c "DROP DATABASE IF EXISTS $wdb" >/dev/null 2>&1 || true
	psql -X -q -d "$PGDATABASE" -c "DROP DATABASE IF EXISTS ${wdb}_without" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# median latency (us) of script `n` in the pgbench per-transaction logs
# (fields: client, transaction, latency us, script number, ...)
log_median() {
	cat "$work"/pgbench_log.* | awk -v n="$1" '$4 == n {print $3}' | sort -n |
		awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'
}

# statement latency of two statements, one client, 6 seconds, each
# transaction running one of them at random (so both see the same load):
# prints the two medians
stmt_latency_pair() {
	printf '%s\n' '\set i random(1, 1000)' "$1" >"$work/a.sql"
	printf '%s\n' '\set i random(1, 1000)' "$2" >"$work/b.sql"
	rm -f "$work"/pgbench_log.*
	(cd "$work" && pgbench -n -M prepared -c 1 -T 6 -l -f "$work/a.sql" -f "$work/b.sql" >/dev/null 2>&1)
	echo "$(log_median 0) $(log_median 1)"
	rm -f "$work"/pgbench_log.*
}

echo "-- setting up: histories of 1k, 10k and 100k events, 100k entities"
t0=$(date +%s)
q >/dev/null <<'SQL'
SET worldstate.handshake = '55-45-17';
SELECT ws.register_module('tt', 1);
SELECT ws.define_kind('tt_doc', 'tt', 'lww', ARRAY['n']);
SELECT ws.define_kind('tt_item', 'tt', 'lww', ARRAY['n']);
-- A transaction that changes one entity N times keeps N row versions of it
-- that every later change must step over, so histories are written 20
-- changes per transaction.
CREATE PROCEDURE tt_history(e text, n int) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ws.create_entity(e, 'tt_doc', 'tt', '{"n": 0, "note": "", "pos": {"x": 0, "y": 0}}');
    COMMIT;
    FOR s IN 0 .. (n - 2) / 20 LOOP
        PERFORM ws.transition(e, CASE i % 3
                    WHEN 0 THEN jsonb_build_object('n', 1, 'note', 'step ' || i)
                    WHEN 1 THEN jsonb_build_object('pos', jsonb_build_object('x', i % 100))
                    ELSE jsonb_build_object('n', 1, 'pos', jsonb_build_object('y', i % 50)) END)
        FROM generate_series(s * 20 + 2, least(n, s * 20 + 21)) i;
        COMMIT;
    END LOOP;
END $$;
-- create_entity holds an advisory lock per new id until commit: 5000 per
-- transaction
CREATE PROCEDURE tt_world(n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR s IN 0 .. (n - 1) / 5000 LOOP
        PERFORM ws.create_entity('w' || lpad(i::text, 6, '0'), 'tt_item', 'tt',
                                 jsonb_build_object('n', i % 1000, 'grp', i % 10, 'name', 'item ' || i))
        FROM generate_series(s * 5000 + 1, least(n, (s + 1) * 5000)) i;
        COMMIT;
    END LOOP;
END $$;
CREATE PROCEDURE tt_touch_world(n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR s IN 0 .. (n - 1) / 5000 LOOP
        PERFORM ws.transition('w' || lpad(i::text, 6, '0'), '{"n": 1, "touched": true}')
        FROM generate_series(s * 5000 + 1, least(n, (s + 1) * 5000)) i;
        COMMIT;
    END LOOP;
END $$;
CALL tt_history('tt_1k', 1000);
CALL tt_history('tt_10k', 10000);
CALL tt_history('tt_100k', 100000);
CALL tt_world(100000);
CREATE TABLE tt_world_mark AS SELECT ws.hlc_now() AS h;
CALL tt_touch_world(100000);
VACUUM ANALYZE ws.events;
VACUUM ANALYZE ws.entities;

-- 1000 random past points per history: event HLCs, never the last event
SELECT setseed(0.5);
CREATE TABLE tt_points AS
SELECT e.entity_id, row_number() OVER (PARTITION BY e.entity_id ORDER BY random()) AS i, v.hlc AS h
FROM ws.entities e
JOIN LATERAL (SELECT hlc FROM ws.events x
              WHERE x.entity_id = e.entity_id AND x.version < e.version
              ORDER BY random() LIMIT 1000) v ON true
WHERE e.entity_id IN ('tt_1k', 'tt_10k', 'tt_100k');
CREATE INDEX ON tt_points (entity_id, i);
-- and 1000 among each history's last 1000 events: the same number of
-- index and heap pages for every history, to tell the algorithm's cost
-- from the cache's
CREATE TABLE tt_recent AS
SELECT e.entity_id, v.hlc AS h
FROM ws.entities e
JOIN LATERAL (SELECT hlc FROM ws.events x
              WHERE x.entity_id = e.entity_id AND x.version < e.version AND x.version >= e.version - 1000
              ORDER BY random() LIMIT 1000) v ON true
WHERE e.entity_id IN ('tt_1k', 'tt_10k', 'tt_100k');
-- 100 windows of 100 consecutive events per history
CREATE TABLE tt_windows AS
SELECT e.entity_id, a.hlc AS f, b.hlc AS t
FROM ws.entities e
JOIN LATERAL (SELECT floor(random() * (e.version - 100))::int + 1 AS v FROM generate_series(1, 100)) r ON true
JOIN ws.events a ON a.entity_id = e.entity_id AND a.version = r.v
JOIN ws.events b ON b.entity_id = e.entity_id AND b.version = r.v + 99
WHERE e.entity_id IN ('tt_1k', 'tt_10k', 'tt_100k');
ANALYZE tt_points;
ANALYZE tt_recent;
ANALYZE tt_windows;
-- the medians (ms) of two queries run alternately `runs` times, after one
-- run of each, and the median of the ratios of the runs paired in time:
-- both see the same load
CREATE FUNCTION tt_pair(a text, b text, runs int, OUT ma float8, OUT mb float8, OUT mr float8)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    ta float8[] := '{}';
    tb float8[] := '{}';
BEGIN
    EXECUTE a;
    EXECUTE b;
    FOR i IN 1 .. runs LOOP
        t0 := clock_timestamp();
        EXECUTE a;
        ta := ta || extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
        t0 := clock_timestamp();
        EXECUTE b;
        tb := tb || extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
    END LOOP;
    ma := (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(ta) x);
    mb := (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(tb) x);
    mr := (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x / y) FROM unnest(ta, tb) u(x, y));
END
$$;
SQL
echo "   done in $(($(date +%s) - t0)) s; keyframe interval $(q -c 'SHOW worldstate.keyframe_interval')"

echo
echo "-- 1. ws.get_state: a past version against the present"
printf '%-8s %12s %12s %7s   %12s %12s %7s   %12s\n' history "past us" "present us" ratio "past stmt" "present stmt" ratio "recent us"
for e in tt_1k tt_10k tt_100k; do
	# 1000 calls per run: milliseconds per run are microseconds per call
	read -r past present ratio < <(q -F ' ' -c "
		SELECT round(ma::numeric, 2), round(mb::numeric, 2), round(mr::numeric, 2)
		FROM tt_pair(\$q\$SELECT count(ws.get_state('$e', h)) FROM tt_points WHERE entity_id = '$e'\$q\$,
		             \$q\$SELECT count(ws.get_state('$e')) FROM tt_points WHERE entity_id = '$e'\$q\$, 21)")
	read -r recent < <(q -c "
		SELECT round(ma::numeric, 2)
		FROM tt_pair(\$q\$SELECT count(ws.get_state('$e', h)) FROM tt_recent WHERE entity_id = '$e'\$q\$,
		             \$q\$SELECT count(ws.get_state('$e')) FROM tt_recent WHERE entity_id = '$e'\$q\$, 9)")
	read -r sp sn < <(stmt_latency_pair \
		"SELECT ws.get_state('$e', h) FROM tt_points WHERE entity_id = '$e' AND i = :i;" \
		"SELECT ws.get_state('$e') FROM tt_points WHERE entity_id = '$e' AND i = :i;")
	printf '%-8s %12s %12s %7s   %12s %12s %7s   %12s\n' "$e" "$past" "$present" "$ratio" \
		"$sp" "$sn" "$(awk -v a="$sp" -v b="$sn" 'BEGIN {printf "%.2f", a / b}')" "$recent"
	echo "$e $ratio $sp $sn" >>"$work/point"
done
awk 'NR == 1 {r1 = $2; s1 = $3 / $4} END {printf "   growth of the ratio from 1k to 100k events: per call x%.2f, statement x%.2f (target: no growth)\n", $2 / r1, ($3 / $4) / s1}' "$work/point"
awk 'END {printf "   past / present per call at 100k events: %.2f (target: at most 5): %s\n", $2, ($2 <= 5 ? "met" : "NOT met")}' "$work/point"

echo
echo "-- 2. ws.history of 100 events"
printf '%-8s %14s %16s %7s\n' history "history us" "plain SQL us" ratio
for e in tt_1k tt_10k tt_100k; do
	# 100 calls per run: milliseconds per run times 10 are microseconds per call
	read -r hist plain ratio < <(q -F ' ' -c "
		SELECT round((ma * 10)::numeric, 1), round((mb * 10)::numeric, 1), round(mr::numeric, 2)
		FROM tt_pair(\$q\$SELECT count(*) FROM tt_windows w, LATERAL ws.history(w.entity_id, w.f, w.t) WHERE w.entity_id = '$e'\$q\$,
		             \$q\$SELECT count(*) FROM tt_windows w, LATERAL (SELECT * FROM ws.events x WHERE x.entity_id = w.entity_id AND x.hlc OPERATOR(ws.>=) w.f AND x.hlc OPERATOR(ws.<=) w.t ORDER BY x.hlc) x WHERE w.entity_id = '$e'\$q\$, 9)")
	printf '%-8s %14s %16s %7s\n' "$e" "$hist" "$plain" "$ratio"
done

echo
echo "-- 3. an aggregate over the world: ws.entities_at(h) against ws.entities ($(q -c "SELECT count(*) FROM ws.entities"))"
q <<'SQL'
SELECT format(E'   entities_at(h), every entity rebuilt  %8s ms\n'
              '   entities_at(now), none rebuilt       %8s ms\n'
              '   ws.entities                          %8s ms\n'
              '   ratio past/table %s, now/table %s',
              round((a * 1000)::numeric, 1), round((b * 1000)::numeric, 1), round((c * 1000)::numeric, 1),
              round((a / c)::numeric, 1), round((b / c)::numeric, 1))
FROM (SELECT ws_bench_median($q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities_at((SELECT h FROM tt_world_mark))$q$, 5) AS a,
             ws_bench_median($q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities_at(ws.hlc_now())$q$, 5) AS b,
             ws_bench_median($q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities$q$, 5) AS c) s;
SQL
q -c "SELECT '   same answer: ' || ((SELECT count(*) || '/' || sum((state->>'n')::bigint) FROM ws.entities_at((SELECT h FROM tt_world_mark)) WHERE kind = 'tt_item')
                                = (SELECT count(*) || '/' || sum((state->>'n')::bigint - 1) FROM ws.entities WHERE kind = 'tt_item'))"

echo
echo "-- 3b. ws.entities_at(h) just after a snapshot against ws.entities (target: 3x)"
# a snapshot, 10,000 changes, the moment h, then a change of every entity
# (so every one is rebuilt as of h): entities_at(h) reads the snapshot and
# folds the 10,000 events between it and h
q >/dev/null <<'SQL'
SET worldstate.handshake = '55-45-17';
SELECT ws.create_snapshot('tt_part3');
CALL tt_touch_world(10000);
CREATE TABLE tt_snap_mark AS SELECT ws.hlc_now() AS h;
CREATE TABLE tt_snap_expect AS
SELECT count(*) AS n, sum((state->>'n')::bigint) AS total FROM ws.entities WHERE kind = 'tt_item';
CALL tt_touch_world(100000);
VACUUM ANALYZE ws.events;
VACUUM ANALYZE ws.entities;
VACUUM ANALYZE ws.snapshot_entities;
-- the floor of any set-returning function in FROM: the same rows in the
-- same order through a function scan, which materialises them (SET keeps
-- the function from being inlined into the query)
CREATE FUNCTION tt_floor() RETURNS SETOF ws.entities LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM ws.entities e WHERE NOT e.retired ORDER BY e.entity_id $$;
SQL
q <<'SQL'
SELECT format('   snapshot %s events before h, %s events between it and h (%s %%)',
              b, a, round(100.0 * a / b, 1))
FROM (SELECT count(*) FILTER (WHERE e.hlc OPERATOR(ws.>) s.hlc) AS a, count(*) AS b
      FROM ws.events e, ws.snapshots s, tt_snap_mark m
      WHERE s.label = 'tt_part3' AND e.hlc OPERATOR(ws.<=) m.h) x;
-- each against ws.entities, run alternately (tt_pair): the medians, and
-- the median of the ratios of runs paired in time
CREATE TEMP TABLE tt_3b AS
SELECT 'from the snapshot' AS what, p.* FROM tt_pair($q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities_at((SELECT h FROM tt_snap_mark))$q$,
                                                    $q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities$q$, 7) p
UNION ALL
SELECT 'now', p.* FROM tt_pair($q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities_at(ws.hlc_now())$q$,
                               $q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities$q$, 7) p
UNION ALL
SELECT 'sql function', p.* FROM tt_pair($q$SELECT count(*), sum((state->>'n')::bigint) FROM tt_floor()$q$,
                                        $q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities$q$, 7) p;
SELECT format(E'   entities_at(h) from the snapshot         %8s ms\n'
              '   ws.entities                              %8s ms\n'
              '   ratio %s, paired runs %s (target: at most 3)',
              round(ma::numeric, 1), round(mb::numeric, 1), round((ma / mb)::numeric, 2), round(mr::numeric, 2))
FROM tt_3b WHERE what = 'from the snapshot';
SELECT format(E'   floors, each against ws.entities (its ms) in alternation:\n'
              '   entities_at(now), nothing rebuilt        %8s ms (%s)  ratio %s, paired runs %s\n'
              '   a SQL function returning ws.entities     %8s ms (%s)  ratio %s, paired runs %s',
              round(n.ma::numeric, 1), round(n.mb::numeric, 1), round((n.ma / n.mb)::numeric, 2), round(n.mr::numeric, 2),
              round(f.ma::numeric, 1), round(f.mb::numeric, 1), round((f.ma / f.mb)::numeric, 2), round(f.mr::numeric, 2))
FROM tt_3b n, tt_3b f WHERE n.what = 'now' AND f.what = 'sql function';
-- with work_mem at its default, 4MB: a function scan's rows held in memory
-- up to work_mem (1GB here) cost the page faults of fresh memory (see
-- RESULT_MEMORY_KB in src/query.c; entities_at holds at most 4MB anyway)
SET work_mem = '4MB';
SELECT format(E'   with work_mem 4MB: from the snapshot %s ms, now %s ms, SQL function %s ms, ws.entities %s ms\n'
              '   ratios %s, %s, %s',
              round((a * 1000)::numeric, 1), round((b * 1000)::numeric, 1), round((f * 1000)::numeric, 1),
              round((c * 1000)::numeric, 1), round((a / c)::numeric, 2), round((b / c)::numeric, 2),
              round((f / c)::numeric, 2))
FROM (SELECT ws_bench_median($q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities_at((SELECT h FROM tt_snap_mark))$q$, 5) AS a,
             ws_bench_median($q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities_at(ws.hlc_now())$q$, 5) AS b,
             ws_bench_median($q$SELECT count(*), sum((state->>'n')::bigint) FROM tt_floor()$q$, 5) AS f,
             ws_bench_median($q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities$q$, 5) AS c) s;
RESET work_mem;
-- the same moment without the snapshot, for comparison (rolled back)
BEGIN;
DELETE FROM ws.snapshots WHERE label = 'tt_part3';
SELECT format('   entities_at(h) without the snapshot      %8s ms',
              round((ws_bench_median($q$SELECT count(*), sum((state->>'n')::bigint) FROM ws.entities_at((SELECT h FROM tt_snap_mark))$q$, 3) * 1000)::numeric, 1));
ROLLBACK;
SQL
q -c "SELECT '   same answer: ' || ((SELECT count(*) || '/' || sum((state->>'n')::bigint) FROM ws.entities_at((SELECT h FROM tt_snap_mark)) WHERE kind = 'tt_item')
                                = (SELECT n || '/' || total FROM tt_snap_expect))"

echo
echo "-- 4. write cost of events_entity_hlc_idx and events_links_idx"
echo "   (one backend, statements of 2000 ws.transition calls over 1000 entities, in two"
echo "    databases, with and without the indexes, both warmed up; 7 runs each, alternating)"
for db in "$wdb" "${wdb}_without"; do
	q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
	q -d "$db" >/dev/null <<'SQL'
CREATE EXTENSION worldstate;
SET worldstate.handshake = '55-45-17';
SELECT ws.register_module('bench', 1);
SELECT ws.define_kind('counter', 'bench', 'lww', ARRAY['n']);
SELECT count(ws.create_entity('e' || i, 'counter', 'bench', '{"n": 0, "note": ""}')) FROM generate_series(1, 1000) i;
CREATE TABLE public.tt_runs (ms float8);
CREATE FUNCTION public.tt_run() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM count(ws.transition('e' || (i % 1000 + 1), '{"n": 1, "note": "x"}', handshake => '55-45-17'))
    FROM generate_series(1, 2000) i;
    INSERT INTO public.tt_runs VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
END $$;
SQL
done
q -d "${wdb}_without" -c "DROP INDEX ws.events_entity_hlc_idx" -c "DROP INDEX ws.events_links_idx"
# warm up: indexes grown by inserts, as in service, not freshly built
for i in 1 2 3 4 5; do
	for db in "$wdb" "${wdb}_without"; do q -d "$db" -c "SELECT public.tt_run()" >/dev/null; done
done
for db in "$wdb" "${wdb}_without"; do q -d "$db" -c "TRUNCATE public.tt_runs"; done
for i in 1 2 3 4 5 6 7; do
	for db in "$wdb" "${wdb}_without"; do q -d "$db" -c "SELECT public.tt_run()" >/dev/null; done
done
stats() {
	q -d "$1" -F ' ' -c "SELECT round((min(ms) / 2)::numeric, 1), round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) / 2)::numeric, 1) FROM public.tt_runs"
}
read -r wmin wmed < <(stats "$wdb")
read -r omin omed < <(stats "${wdb}_without")
printf '   with the indexes:    fastest %s us per transition, median %s\n' "$wmin" "$wmed"
printf '   without the indexes: fastest %s us per transition, median %s\n' "$omin" "$omed"
printf '   with/without: fastest %s, median %s\n' \
	"$(awk -v a="$wmin" -v b="$omin" 'BEGIN {printf "%.3f", a / b}')" \
	"$(awk -v a="$wmed" -v b="$omed" 'BEGIN {printf "%.3f", a / b}')"
