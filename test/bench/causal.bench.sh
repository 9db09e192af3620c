#!/usr/bin/env bash
# causal buffering benchmark (src/converge.c), on the bench cluster, with
# events fabricated as a peer's apply worker inserts them (a replica
# session, one INSERT statement per event, all in one transaction):
#
#   drain     BENCH_EVENTS (default 10000) updates of node 2 on one entity
#             arrive before node 1's creation they build on and are held in
#             ws.pending; the clock runs while the creation is inserted,
#             which releases and applies all of them, in order, in the same
#             transaction.
#   baseline  the creation and the same updates of another entity, inserted
#             in causal order in one transaction (nothing is held).
#
# Prints both times, the time to hold the events, and the ratio drain /
# baseline of each of BENCH_ROUNDS (default 3) rounds; the median is the
# figure.  Then the drain alone at each of BENCH_SIZES (default 2500 5000
# 10000) held events, its rate, and the rate at the largest size over the
# rate at the smallest: about 1 when the drain is linear (a drain whose
# cost per event grows with the number of events shows 1/2 or less for
# four times the events).
#
# Run by test/bench/run.sh (`make bench BENCH=causal`).
set -euo pipefail

events=${BENCH_EVENTS:-10000}
rounds=${BENCH_ROUNDS:-3}
sizes=${BENCH_SIZES:-2500 5000 10000}

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SELECT ws.register_module('cbench', 1);
SELECT ws.define_kind('cbench_doc', 'cbench', 'merge');
-- n updates of node 2 on entity e, in the order given, one INSERT each (as
-- the apply worker applies a peer's transaction); with the creation of
-- node 1 first when create is true
CREATE FUNCTION cbench_arrive(e text, n int, ascending boolean, create_first boolean)
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    i int;
BEGIN
    SET LOCAL session_replication_role = replica;
    IF create_first THEN
        PERFORM cbench_create(e);
    END IF;
    FOR k IN 1..n LOOP
        i := CASE WHEN ascending THEN k ELSE n + 1 - k END;
        INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind,
                               event_type, patch, handshake, vclock, txid, recorded_at)
        VALUES (gen_random_uuid(), e, i + 1,
                ws.hlc('2026-01-01 00:00:00+00'::timestamptz + i * interval '1 ms', 0, 2), 2,
                'cbench', 'cbench_doc', 'update', jsonb_build_object('i', i), '55-45-17',
                format('{1:1,2:%s}', i)::ws.vclock, pg_current_xact_id(), now());
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
CREATE FUNCTION cbench_create(e text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind,
                           event_type, patch, handshake, vclock, txid, recorded_at)
    VALUES (gen_random_uuid(), e, 1, ws.hlc('2026-01-01 00:00:00+00', 0, 1), 1, 'cbench',
            'cbench_doc', 'created', '{"i": 0}', '55-45-17', '{1:1}', pg_current_xact_id(), now())
$$;
-- the creation alone: what it releases is applied in the same transaction
CREATE FUNCTION cbench_release(e text) RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    SET LOCAL session_replication_role = replica;
    PERFORM cbench_create(e);
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
SQL

ratios=()
for r in $(seq 1 "$rounds"); do
	hold=$(psql -X -Atq -c "SELECT cbench_arrive('drain$r', $events, false, false)")
	held=$(psql -X -Atq -c "SELECT count(*) FROM ws.pending WHERE entity_id = 'drain$r'")
	drain=$(psql -X -Atq -c "SELECT cbench_release('drain$r')")
	base=$(psql -X -Atq -c "SELECT cbench_arrive('base$r', $events, true, true)")
	check=$(psql -X -Atq -c "SELECT (SELECT version FROM ws.entities WHERE entity_id = 'drain$r')
		|| ' ' || (SELECT version FROM ws.entities WHERE entity_id = 'base$r')
		|| ' ' || (SELECT count(*) FROM ws.pending WHERE entity_id = 'drain$r')")
	[ "$check" = "$((events + 1)) $((events + 1)) 0" ] ||
		{ echo "round $r: versions and pending are '$check', not every event was applied" >&2; exit 1; }
	ratio=$(awk -v d="$drain" -v b="$base" 'BEGIN { printf "%.2f", d / b }')
	ratios+=("$ratio")
	printf 'round %d: %d events held in %.3f s; drain on arrival of the creation %.3f s (%.0f events/s); in order %.3f s (%.0f events/s); drain / in order = %s\n' \
		"$r" "$held" "$hold" "$drain" "$(awk -v n="$events" -v t="$drain" 'BEGIN { print n / t }')" \
		"$base" "$(awk -v n="$events" -v t="$base" 'BEGIN { print n / t }')" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "causal drain of $events held events / in-order apply of the same events: median ratio $median"

# the drain alone at growing sizes: linear when the rate stays
rates=()
for n in $sizes; do
	psql -X -Atq -c "SELECT cbench_arrive('lin$n', $n, false, false)" >/dev/null
	drain=$(psql -X -Atq -c "SELECT cbench_release('lin$n')")
	check=$(psql -X -Atq -c "SELECT (SELECT version FROM ws.entities WHERE entity_id = 'lin$n')
		|| ' ' || (SELECT count(*) FROM ws.pending WHERE entity_id = 'lin$n')")
	[ "$check" = "$((n + 1)) 0" ] ||
		{ echo "drain of $n: version and pending are '$check', not every event was applied" >&2; exit 1; }
	rate=$(awk -v n="$n" -v t="$drain" 'BEGIN { printf "%.0f", n / t }')
	rates+=("$rate")
	printf 'drain of %d held events: %.3f s (%s events/s)\n' "$n" "$drain" "$rate"
done
first=${rates[0]}
last=${rates[${#rates[@]}-1]}
set -- $sizes
echo "drain rate at ${!#} events / at $1 events: $(awk -v a="$last" -v b="$first" 'BEGIN { printf "%.2f", a / b }')"
