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
# so that "on" measures a durable commit.  For each setting, every case
# gets a freshly created database holding the same initial data; the
# BENCH_SECONDS (default 21) of each case are spent in BENCH_ROUNDS
# (default 7) short rounds that take the cases in turn, in a different
# order each round, each run after a CHECKPOINT, so that a slow spell of a
# shared machine falls on every case alike rather than on one.  Prints the
# median tps of the rounds (pgbench's figure without initial connection
# time), their range, the WAL written per transaction, and the CPU time
# (user and system, from /proc) that pgbench's four backends used per
# transaction over the middle 60 % of each round -- a figure that the load
# of other programs on the machine hardly moves, unlike the tps.  The ratios
# c/a and c/b are taken round by round -- the cases of one round ran
# within seconds of each other, under the same load -- and each is
# reported as the median of its rounds, with their range and the number
# of rounds that reached the target; the median decides.  Targets, against
# the floor: c/a >= 1.0 with synchronous_commit off, and c/a >= 0.85 with
# it on, where every case waits for the same WAL flush.  c/b has no target
# and is printed as information: it is what running the protocol in C
# saves against writing the same steps by hand, the comparison a user
# choosing between the two would make.
#
# Run by test/bench/run.sh, which exports PGHOST, PGPORT, PGUSER and
# PGDATABASE for the benchmark cluster.
set -euo pipefail

seconds=${BENCH_SECONDS:-21}
rounds=${BENCH_ROUNDS:-7}
fsync=${BENCH_FSYNC:-on}
entities=1000
db=ws_bench_transition
work=$(mktemp -d)

cleanup() {
	for case in a b c; do
		psql -X -q -d "$PGDATABASE" -c "DROP DATABASE IF EXISTS ${db}_$case" >/dev/null 2>&1 || true
	done
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
declare -A tps range wal runs xacts walbytes round_tps cpu cputicks cpuxacts

# setup_case CASE: a fresh database ${db}_CASE with the initial data.
setup_case() {
	local d=${db}_$1
	psql -X -q -v ON_ERROR_STOP=1 -d "$PGDATABASE" -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "$d" -c "CREATE EXTENSION worldstate" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "$d" -f "$work/setup_$1.sql" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "$d" -c "VACUUM ANALYZE" >/dev/null
}

# cpu_ticks PID...: the CPU time, user and system, in clock ticks, that the
# processes have used; empty when /proc cannot tell (not Linux)
cpu_ticks() {
	local p f total=0
	for p in "$@"; do
		f=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || { echo; return; }
		read -ra f <<<"$f"
		total=$((total + f[11] + f[12]))
	done
	echo "$total"
}

# round_case CASE SYNC SECONDS ROUND: CHECKPOINT, then pgbench on ${db}_CASE
# with synchronous_commit = SYNC; adds its tps (or "error") to
# runs[CASE-SYNC] and keeps it as round_tps[CASE-SYNC-ROUND],
# and its transactions and the WAL they wrote to the totals.
round_case() {
	local case=$1 sc=$2 secs=$3 d=${db}_$1 out="$work/$1-$2.out"
	psql -X -q -v ON_ERROR_STOP=1 -d "$d" -c "CHECKPOINT" >/dev/null

	# every pgbench connection gets the setting through PGOPTIONS (the
	# last -c wins over anything already there); check that it does
	local opts="${PGOPTIONS:-} -c synchronous_commit=$sc"
	local seen
	seen=$(PGOPTIONS="$opts" psql -X -Atc "SHOW synchronous_commit" -d "$d")
	[ "$seen" = "$sc" ] || { echo "synchronous_commit is $seen, not $sc" >&2; exit 1; }

	local lsn0 lsn1 n t bench pids x0 x1 c0 c1
	lsn0=$(psql -X -Atc "SELECT pg_current_wal_lsn()" -d "$d")
	PGOPTIONS="$opts" pgbench -n -M prepared -c 4 -j 2 -T "$secs" \
		-f "$work/$case.pgbench" "$d" >"$out" 2>&1 &
	bench=$!
	# the CPU time of pgbench's backends over the middle of the run, and
	# the transaction ids assigned meanwhile (one a transaction)
	sleep "$(awk -v s="$secs" 'BEGIN {print s * 0.2}')"
	pids=$(psql -X -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$d' AND application_name = 'pgbench'" -d "$d")
	x0=$(psql -X -Atc "SELECT pg_snapshot_xmax(pg_current_snapshot())" -d "$d")
	c0=$(cpu_ticks $pids)
	sleep "$(awk -v s="$secs" 'BEGIN {print s * 0.6}')"
	c1=$(cpu_ticks $pids)
	x1=$(psql -X -Atc "SELECT pg_snapshot_xmax(pg_current_snapshot())" -d "$d")
	if wait "$bench"; then
		t=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
	fi
	if [ -n "$c0" ] && [ -n "$c1" ] && [ "$(echo $pids | wc -w)" -eq 4 ] && [ "$x1" -gt "$x0" ]; then
		cputicks[$case-$sc]=$((${cputicks[$case-$sc]:-0} + c1 - c0))
		cpuxacts[$case-$sc]=$((${cpuxacts[$case-$sc]:-0} + x1 - x0))
	fi
	lsn1=$(psql -X -Atc "SELECT pg_current_wal_lsn()" -d "$d")
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	if [ -z "${t:-}" ]; then
		t=error
		echo "-- ${label[$case]}, synchronous_commit=$sc: pgbench failed; its output:"
		grep -v '^progress:' "$out" | head -30 || true
	fi
	runs[$case-$sc]="${runs[$case-$sc]:-} $t"
	round_tps[$case-$sc-$4]=$t
	if [ -n "$n" ] && [ "$n" -gt 0 ]; then
		xacts[$case-$sc]=$((${xacts[$case-$sc]:-0} + n))
		walbytes[$case-$sc]=$(psql -X -Atc "SELECT ${walbytes[$case-$sc]:-0} + pg_wal_lsn_diff('$lsn1', '$lsn0')" -d "$d")
	fi
}

# summarize CASE SYNC: the median tps of the rounds and their range, and
# the WAL bytes per transaction over all of them.
summarize() {
	local k=$1-$2
	if [[ " ${runs[$k]} " == *" error "* ]]; then
		tps[$k]=error
		range[$k]=-
	else
		tps[$k]=$(printf '%s\n' ${runs[$k]} | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}')
		range[$k]=$(printf '%s\n' ${runs[$k]} | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.0f-%.0f", lo, hi}')
	fi
	if [ "${xacts[$k]:-0}" -gt 0 ]; then
		wal[$k]=$(awk -v b="${walbytes[$k]}" -v n="${xacts[$k]}" 'BEGIN {printf "%.0f", b / n}')
	else
		wal[$k]=-
	fi
	if [ "${cpuxacts[$k]:-0}" -gt 0 ]; then
		cpu[$k]=$(awk -v t="${cputicks[$k]}" -v n="${cpuxacts[$k]}" -v hz="$(getconf CLK_TCK)" \
			'BEGIN {printf "%.0f", t * 1e6 / hz / n}')
	else
		cpu[$k]=-
	fi
}

per_round=$(awk -v s="$seconds" -v r="$rounds" 'BEGIN {printf "%d", (s / r < 1 ? 1 : s / r)}')
echo "pgbench -M prepared -c 4 -j 2, $entities entities, fsync = $fsync;" \
	"$rounds rounds of $per_round s per case"
order=(a b c)
for sc in off on; do
	for case in a b c; do
		setup_case "$case"
	done
	for ((r = 0; r < rounds; r++)); do
		for ((i = 0; i < 3; i++)); do
			round_case "${order[(r + i) % 3]}" "$sc" "$per_round" "$r"
		done
	done
	for case in a b c; do
		summarize "$case" "$sc"
	done
done

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

echo
printf '%-24s | %-18s | %10s | %-13s | %12s | %s\n' case synchronous_commit "tps median" "rounds" "WAL bytes/tx" \
	"backend CPU us/tx"
printf '%s\n' "-------------------------+--------------------+------------+---------------+--------------+------------------"
for sc in off on; do
	for case in a b c; do
		t=${tps[$case-$sc]}
		[ "$t" = error ] || t=$(printf '%.1f' "$t")
		printf '%-24s | %-18s | %10s | %-13s | %12s | %17s\n' "${label[$case]}" "$sc" "$t" "${range[$case-$sc]}" \
			"${wal[$case-$sc]}" "${cpu[$case-$sc]}"
	done
done

# ratio X Y SYNC TARGET: the ratios X/Y of the rounds with
# synchronous_commit = SYNC; prints their median (three places), their
# range, how many of them reach TARGET, and whether the median does
ratio() {
	local x=$1 y=$2 sc=$3 t=$4 r list=""
	for ((r = 0; r < rounds; r++)); do
		if [ "${round_tps[$x-$sc-$r]:-error}" = error ] || [ "${round_tps[$y-$sc-$r]:-error}" = error ]; then
			echo "n/a - - (a run failed)"
			return
		fi
		list="$list ${round_tps[$x-$sc-$r]}/${round_tps[$y-$sc-$r]}"
	done
	printf '%s\n' $list | awk -F/ '{ printf "%.6f\n", $1 / $2 }' | sort -g | awk -v t="$t" '
		{ q[NR] = $1; if ($1 >= t) met++ }
		END {
			m = (NR % 2 ? q[(NR + 1) / 2] : (q[NR / 2] + q[NR / 2 + 1]) / 2)
			printf "%.3f %.2f-%.2f %d/%d %s\n", m, q[1], q[NR], met, NR, (m >= t ? "met" : "NOT met")
		}'
}

# the target of c/a: 1.0 with synchronous_commit off, 0.85 with it on
declare -A target=([off]=1.0 [on]=0.85)

echo
echo "ratios of the rounds (the cases of one round ran one after the other):"
echo "their median, their range, and how many rounds reached the target"
printf '%-18s | %-5s | %-11s | %-6s | %-9s | %-10s | %s\n' synchronous_commit ratio target median range "rounds met" result
printf '%s\n' "-------------------+-------+-------------+--------+-----------+------------+--------"
for sc in off on; do
	read -r v spread k m <<<"$(ratio c a "$sc" "${target[$sc]}")"
	printf '%-18s | %-5s | %-11s | %-6s | %-9s | %-10s | %s\n' "$sc" c/a ">= ${target[$sc]}" "$v" "$spread" "$k" "$m"
	read -r v spread k m <<<"$(ratio c b "$sc" 0)"
	printf '%-18s | %-5s | %-11s | %-6s | %-9s | %-10s | %s\n' "$sc" c/b "information" "$v" "$spread" "-" "-"
done
