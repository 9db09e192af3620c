#!/usr/bin/env bash
# bus benchmark: publish + poll + ack throughput of the event bus against a
# hand-written queue measured in the same run.  4 publishers and 2
# subscribers run at the same time for BENCH_SECONDS (default 10), each
# publisher a pgbench client publishing one event per transaction, each
# subscriber a pgbench client that takes up to 100 events per transaction,
# receives their payloads and acknowledges them; a subscriber that finds
# nothing waits 1 ms before it asks again, as consumers wait rather than
# spin.  Every event reaches both subscribers.  Each system starts with
# a backlog of 10000 events (not counted as published during the run) and
# fresh planner statistics, as a queue in service would have.
#
#   q  the queue baseline, written by hand: a table with one row per event
#      and subscriber (a publisher INSERTs the event once for each of the
#      two subscribers); a subscriber takes a batch with SELECT ... FOR
#      UPDATE SKIP LOCKED and acknowledges it by DELETE ... RETURNING the
#      payloads;
#   w  worldstate: ws.publish (handshake, module grant, validation against
#      an event schema with one jsonpath rule, HLC, one row in ws.events);
#      a subscriber runs ws.poll(subscriber, 100), receives the payloads
#      and acknowledges the batch with ws.ack(subscriber, the hlc of its
#      last event in arrival order) in the same statement.
#
# The figure compared is deliveries per second: events received and
# acknowledged by the subscribers (both together), over the run.  Each
# system runs with synchronous_commit off and on, fsync on (BENCH_FSYNC=off
# to keep the throwaway cluster's fsync = off), each run in a fresh
# database after a CHECKPOINT.  The two systems take turns, BENCH_ROUNDS
# (default 3) rounds of each, so that load from elsewhere on the machine
# falls on both; every round is printed (published/s, delivered/s, the
# backlog left), then the ratio of the medians of delivered/s, w/q
# (target >= 1.0).
#
# Run by test/bench/run.sh, which exports PGHOST, PGPORT, PGUSER and
# PGDATABASE for the benchmark cluster.
set -euo pipefail

seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
fsync=${BENCH_FSYNC:-on}
batch=100
idle_ms=1
prefill=10000
db=ws_bench_bus
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
# q: the hand-written queue
# ---------------------------------------------------------------------------

cat >"$work/setup_q.sql" <<'SQL'
CREATE TABLE bench_queue (
    id         bigserial PRIMARY KEY,
    subscriber int NOT NULL,
    event_type text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON bench_queue (subscriber, id);
INSERT INTO bench_queue (subscriber, event_type, payload)
SELECT s, 'tick', jsonb_build_object('n', i) FROM generate_series(1, :prefill) i, generate_series(1, 2) s;
SQL
cat >"$work/publish_q.pgbench" <<'SQL'
\set n random(1, 1000000)
INSERT INTO bench_queue (subscriber, event_type, payload) SELECT s, 'tick', jsonb_build_object('n', :n::int) FROM generate_series(1, 2) s;
SQL
cat >"$work/consume_q.pgbench" <<SQL
\set sub :client_id + 1
\set got 0
WITH batch AS (SELECT id FROM bench_queue WHERE subscriber = :sub ORDER BY id LIMIT $batch FOR UPDATE SKIP LOCKED), taken AS (DELETE FROM bench_queue q USING batch WHERE q.id = batch.id RETURNING q.payload) SELECT payload, count(*) OVER () AS got FROM taken \aset
\if :got = 0
\sleep $idle_ms ms
\endif
SQL
# published events (each was queued twice) and deliveries
cat >"$work/count_q.sql" <<'SQL'
SELECT (SELECT last_value FROM bench_queue_id_seq) / 2,
       (SELECT last_value FROM bench_queue_id_seq) - (SELECT count(*) FROM bench_queue);
SQL

# ---------------------------------------------------------------------------
# w: worldstate's event bus
# ---------------------------------------------------------------------------

cat >"$work/setup_w.sql" <<'SQL'
SELECT ws.register_module('bench', 1);
SELECT ws.register_event_schema('bench', 'tick', 1, ARRAY['exists($.n)']::jsonpath[]);
SELECT ws.subscribe('bench.s1', 'bench', 'tick');
SELECT ws.subscribe('bench.s2', 'bench', 'tick');
SELECT count(ws.publish('bench', 'tick', jsonb_build_object('n', i), handshake => '55-45-17'))
FROM generate_series(1, :prefill) i;
SQL
cat >"$work/publish_w.pgbench" <<'SQL'
\set n random(1, 1000000)
SELECT ws.publish('bench', 'tick', jsonb_build_object('n', :n::int), handshake => '55-45-17');
SQL
cat >"$work/consume_w.pgbench" <<SQL
\set sub :client_id + 1
\set got 0
WITH batch AS MATERIALIZED (SELECT hlc, arrival, patch FROM ws.poll('bench.s' || :sub, $batch)), acked AS (SELECT ws.ack('bench.s' || :sub, last) FROM (SELECT hlc AS last FROM batch ORDER BY arrival DESC LIMIT 1) b) SELECT b.patch, count(*) OVER () AS got FROM batch b, (SELECT count(*) FROM acked) a \aset
\if :got = 0
\sleep $idle_ms ms
\endif
SQL
cat >"$work/count_w.sql" <<'SQL'
SELECT (SELECT count(*) FROM ws.events WHERE module = 'bench'),
       (SELECT sum((SELECT count(*) FROM ws.events e
                    WHERE e.module = 'bench' AND e.hlc OPERATOR(ws.<=) s.position))
        FROM ws.subscribers s WHERE s.module = 'bench');
SQL

declare -A label=(
	[q]="q queue: SKIP LOCKED"
	[w]="w ws.publish/poll/ack"
)
declare -A published delivered backlog

# run_case CASE SYNC ROUND: fresh database, CHECKPOINT, then publishers and
# subscribers at once with synchronous_commit = SYNC; records events
# published and delivered per second, and the deliveries still due, under
# the key CASE-SYNC-ROUND.
run_case() {
	local case=$1 sc=$2 key=$1-$2-$3
	psql -X -q -v ON_ERROR_STOP=1 -d "$PGDATABASE" -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION worldstate" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -v prefill=$prefill -d "$db" -f "$work/setup_$case.sql" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null

	local opts="${PGOPTIONS:-} -c synchronous_commit=$sc"
	local seen
	seen=$(PGOPTIONS="$opts" psql -X -Atc "SHOW synchronous_commit" -d "$db")
	[ "$seen" = "$sc" ] || { echo "synchronous_commit is $seen, not $sc" >&2; exit 1; }

	local pub_out="$work/$case-$sc-publish.out" con_out="$work/$case-$sc-consume.out" rc=0
	PGOPTIONS="$opts" pgbench -n -M prepared -c 4 -j 2 -T "$seconds" \
		-f "$work/publish_$case.pgbench" "$db" >"$pub_out" 2>&1 &
	local pub=$!
	PGOPTIONS="$opts" pgbench -n -M prepared -c 2 -j 2 -T "$seconds" \
		-f "$work/consume_$case.pgbench" "$db" >"$con_out" 2>&1 &
	local con=$!
	wait $pub || rc=1
	wait $con || rc=1
	if [ $rc -ne 0 ]; then
		echo "-- ${label[$case]}, synchronous_commit=$sc: pgbench failed; its output:"
		grep -v '^progress:' "$pub_out" "$con_out" | head -30 || true
		published[$key]=error
		delivered[$key]=error
		backlog[$key]=-
		return
	fi
	local p d
	read -r p d <<<"$(psql -X -At -F ' ' -d "$db" -f "$work/count_$case.sql")"
	p=$((p - prefill))
	published[$key]=$(awk -v n="$p" -v t="$seconds" 'BEGIN { printf "%.1f", n / t }')
	delivered[$key]=$(awk -v n="$d" -v t="$seconds" 'BEGIN { printf "%.1f", n / t }')
	backlog[$key]=$((2 * (p + prefill) - d))
}

# median of the delivered/s of CASE-SYNC over the rounds ("error" if any failed)
median_delivered() {
	local case=$1 sc=$2 r values=""
	for r in $(seq "$rounds"); do
		[ "${delivered[$case-$sc-$r]}" = error ] && { echo error; return; }
		values="$values ${delivered[$case-$sc-$r]}"
	done
	echo "$values" | tr ' ' '\n' | grep -v '^$' | sort -g |
		awk '{ v[NR] = $1 } END { printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "4 publishers + 2 subscribers (pgbench -M prepared), ${seconds}s per run, $rounds rounds, batches of $batch, ${idle_ms} ms wait when idle, fsync = $fsync"
for sc in off on; do
	for r in $(seq "$rounds"); do
		for case in q w; do
			run_case "$case" "$sc" "$r"
		done
	done
done

echo
printf '%-22s | %-18s | %5s | %12s | %12s | %s\n' case synchronous_commit round published/s delivered/s "backlog at end"
printf '%s\n' "-----------------------+--------------------+-------+--------------+--------------+---------------"
for sc in off on; do
	for case in q w; do
		for r in $(seq "$rounds"); do
			printf '%-22s | %-18s | %5s | %12s | %12s | %s\n' "${label[$case]}" "$sc" "$r" \
				"${published[$case-$sc-$r]}" "${delivered[$case-$sc-$r]}" "${backlog[$case-$sc-$r]}"
		done
	done
done

echo
printf '%-18s | %-13s | %-13s | %-5s | %-7s | %-6s | %s\n' synchronous_commit "q delivered/s" "w delivered/s" ratio target value result
printf '%s\n' "-------------------+---------------+---------------+-------+---------+--------+--------"
for sc in off on; do
	w=$(median_delivered w "$sc")
	q=$(median_delivered q "$sc")
	if [ "$w" = error ] || [ "$q" = error ]; then
		printf '%-18s | %-13s | %-13s | %-5s | %-7s | %-6s | %s\n' "$sc" "$q" "$w" w/q ">= 1.0" n/a "a run failed"
	else
		read -r v m <<<"$(awk -v x="$w" -v y="$q" \
			'BEGIN { printf "%.3f %s\n", x / y, (x / y >= 1.0 ? "met" : "NOT met") }')"
		printf '%-18s | %-13s | %-13s | %-5s | %-7s | %-6s | %s\n' "$sc" "$q" "$w" w/q ">= 1.0" "$v" "$m"
	fi
done
