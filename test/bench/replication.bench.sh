#!/usr/bin/env bash
# replication benchmark: two nodes (clusters of their own, worldstate.node_id
# 1 and 2, on loopback), against plain logical replication between the same
# two clusters, measured in the same run.
#
#   a  events per second applied on a peer: BENCH_EVENTS (default 10000)
#      transitions written on node 1 (pgbench, 4 clients, one event a
#      transaction, on 1000 entities of a merge kind with the counter n)
#      while node 2's link is disabled; then the link is enabled and the
#      clock runs until node 2 has integrated the last of them.  The
#      baseline: the same rows, copied one a transaction in hlc order into a
#      plain table of the same shape as ws.events (LIKE ws.events INCLUDING
#      ALL, less a unique key on version), published with the same row
#      filter (origin_node = 1, inserts only) and subscribed to by node 2,
#      enabled and timed the same way.  Both links start from slots made
#      before any of these writes, so both decode the same WAL.  Prints
#      both rates, and the ratio worldstate / plain of each of BENCH_ROUNDS
#      (default 3) rounds, the two cases in alternating order; the median
#      decides against the target (>= 0.5).
#   b  the time from heal to equal ws.state_hash() on both nodes after
#      BENCH_PARTITION_EVENTS (default 10000) transitions written on each
#      side of a partition (both links disabled) on 100 shared entities;
#      baseline: the same events of each side copied into the plain tables,
#      the time from enabling the plain links to an equal digest of the
#      plain tables on both nodes.
#
# worldstate's half needs ws.add_peer (multi-node, issue 13); on a build
# without it, the baseline half runs alone and says so.
#
# Run by test/bench/run.sh (`make bench BENCH=replication`), which exports
# PGUSER and WS_ROOT; the two nodes take free ports above PGPORT.
set -euo pipefail
source "$WS_ROOT/test/cluster.sh"

events=${BENCH_EVENTS:-10000}
rounds=${BENCH_ROUNDS:-3}
pevents=${BENCH_PARTITION_EVENTS:-10000}
handshake="handshake => '55-45-17'"
work=$(mktemp -d)
chmod 755 "$work"
declare -A port dir

# ---------------------------------------------------------------------------
# The two nodes
# ---------------------------------------------------------------------------

# node_start ID: a cluster with worldstate.node_id ID, started
node_start() {
	local id=$1 p=${PGPORT:-55432}
	dir[$id]=$(ws_workdir "bench-replication-$id")
	# a port above the last one taken
	[ "$id" -gt 1 ] && p=${port[$((id - 1))]}
	port[$id]=$(ws_free_port $((p + 1)))
	# the launcher starts an enabled link's worker at once, not after 5 s
	ws_server_start "${dir[$id]}" "${port[$id]}" "worldstate.node_id = $id" \
		"max_logical_replication_workers = 6" "max_worker_processes = 16" "max_connections = 40" \
		"shared_buffers = '256MB'" "wal_retrieve_retry_interval = '100ms'" || exit 1
}

cleanup() {
	local id
	for id in 1 2; do
		[ -n "${dir[$id]:-}" ] && [ -f "${dir[$id]}/data/postmaster.pid" ] &&
			ws_as_user pg_ctl -D "${dir[$id]}/data" -m immediate -w stop >/dev/null 2>&1
	done
	rm -rf "$work"
	return 0
}
trap cleanup EXIT

# on ID SQL...: run the statements on node ID, print the result unaligned
on() {
	local id=$1
	shift
	local args=()
	for s in "$@"; do args+=(-c "$s"); done
	psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port[$id]}" -d postgres "${args[@]}"
}

# now: wall-clock seconds, with nanoseconds
now() { date +%s.%N; }

# wait_for ID CONDITION: until the SQL condition holds on node ID, polled
# in the server every 5 ms (each statement of the loop sees the commits
# made before it)
wait_for() {
	on "$1" "SET statement_timeout = '30min'" "DO \$\$ BEGIN
		WHILE NOT ($2) LOOP PERFORM pg_sleep(0.005); END LOOP; END \$\$"
}

# link ID ACTION: enable or disable the links of node ID (its subscriptions
# whose names match a LIKE pattern), and after DISABLE until their workers
# stopped
link() {
	local id=$1 action=$2 pattern=$3 s
	for s in $(on "$id" "SELECT subname FROM pg_subscription WHERE subname LIKE '$pattern'"); do
		on "$id" "ALTER SUBSCRIPTION $s $action"
	done
	[ "$action" = DISABLE ] &&
		wait_for "$id" "NOT EXISTS (SELECT FROM pg_stat_subscription
			WHERE subname LIKE '$pattern' AND pid IS NOT NULL)"
	return 0
}

node_start 1
node_start 2
for id in 1 2; do
	on $id "CREATE EXTENSION worldstate"
done
worldstate=$([ "$(on 1 "SELECT to_regprocedure('ws.add_peer(text,text)') IS NOT NULL")" = t ] && echo on || echo off)
echo "nodes on ports ${port[1]} and ${port[2]}; worldstate's half: $worldstate"

# ---------------------------------------------------------------------------
# Links: plain (a publication per node, a subscription to the other,
# made disabled), then worldstate's (ws.add_peer both ways, disabled once
# the kind and the entities made on node 1 have crossed).  All slots exist
# before the measured events are written.
# ---------------------------------------------------------------------------

for id in 1 2; do
	on $id "CREATE TABLE public.bench_events (LIKE ws.events INCLUDING ALL)"
	# the same (entity_id, version) written on two nodes is normal: a unique
	# key on version would stop the plain link, as it would stop ws.events'
	on $id "DO \$\$ DECLARE c text; BEGIN
		FOR c IN SELECT conname FROM pg_constraint
			WHERE conrelid = 'public.bench_events'::regclass AND contype = 'u'
			  AND (SELECT attnum FROM pg_attribute WHERE attrelid = conrelid AND attname = 'version') = ANY (conkey)
		LOOP EXECUTE format('ALTER TABLE public.bench_events DROP CONSTRAINT %I', c); END LOOP; END \$\$"
	on $id "CREATE PUBLICATION bench_plain_$id FOR TABLE public.bench_events
		WHERE (origin_node = $id) WITH (publish = 'insert')"
done
for id in 1 2; do
	peer=$((3 - id))
	on $id "SET client_min_messages = warning" "CREATE SUBSCRIPTION bench_plain_from_$peer
		CONNECTION 'host=127.0.0.1 port=${port[$peer]} dbname=postgres user=$PGUSER'
		PUBLICATION bench_plain_$peer WITH (copy_data = false, enabled = false)"
done

if [ $worldstate = on ]; then
	for id in 1 2; do
		peer=$((3 - id))
		on $id "SELECT ws.add_peer('n$peer', 'host=127.0.0.1 port=${port[$peer]} dbname=postgres user=$PGUSER')" >/dev/null
	done
fi

# the kind and the entities: made on node 1; they reach node 2 over the
# link, or are made there too when there is no worldstate link
setup_sql="SELECT ws.register_module('bench', 1);
SELECT ws.define_kind('bench_counter', 'bench', 'merge', ARRAY['n']);
SELECT count(ws.create_entity('e' || i, 'bench_counter', 'bench', '{\"n\": 0, \"note\": \"\"}', $handshake))
FROM generate_series(1, 1000) i;"
on 1 "$setup_sql" >/dev/null
if [ $worldstate = on ]; then
	wait_for 2 "(SELECT count(*) FROM ws.entities WHERE kind = 'bench_counter') = 1000"
	link 1 DISABLE 'ws_peer_%'
	link 2 DISABLE 'ws_peer_%'
else
	on 2 "$setup_sql" >/dev/null
fi

cat >"$work/t.pgbench" <<SQL
\set id random(1, :entities)
SELECT ws.transition('e' || :id, '{"n": 1, "note": "x"}', $handshake);
SQL
chmod 644 "$work/t.pgbench"

# write ID N ENTITIES: N transitions on node ID (4 clients, one event a
# transaction) on e1..eENTITIES, then one more with a known event id, the
# last commit; prints that id
write() {
	local id=$1 n=$2 m
	m=$(on "$id" "SELECT gen_random_uuid()")
	pgbench -n -M prepared -c 4 -j 2 -t $((n / 4)) -D entities="$3" -f "$work/t.pgbench" \
		-h 127.0.0.1 -p "${port[$id]}" postgres >"$work/pgbench-$id.out" 2>&1 ||
		{ cat "$work/pgbench-$id.out" >&2; exit 1; }
	on "$id" "SELECT ws.transition('e1', '{\"n\": 1}', $handshake, event_id => '$m')" >/dev/null
	echo "$m"
}

# copy ID SINCE: node ID's own events with an hlc above SINCE into its plain
# table, one a transaction, in hlc order (the last is the marker)
copy() {
	on "$1" "DO \$\$ DECLARE r ws.events; BEGIN
		FOR r IN SELECT * FROM ws.events WHERE origin_node = $1 AND hlc OPERATOR(ws.>) '$2'::ws.hlc ORDER BY hlc
		LOOP INSERT INTO public.bench_events VALUES (r.*); COMMIT; END LOOP; END \$\$"
}

# ---------------------------------------------------------------------------
# a: events per second applied on a peer
# ---------------------------------------------------------------------------

declare -A rate
# apply CASE MARKER: enable node 2's link of CASE (plain or ws), time until
# the marker is there; sets rate[CASE-ROUND]
apply() {
	local case=$1 m=$2 t0 t1
	t0=$(now)
	if [ "$case" = plain ]; then
		link 2 ENABLE bench_plain_from_1
		wait_for 2 "EXISTS (SELECT FROM public.bench_events WHERE event_id = '$m')"
	else
		link 2 ENABLE ws_peer_n1
		wait_for 2 "EXISTS (SELECT FROM ws.events WHERE event_id = '$m')"
	fi
	t1=$(now)
	rate[$case-$r]=$(awk -v n="$((events + 1))" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
	link 2 DISABLE "$([ "$case" = plain ] && echo bench_plain_from_1 || echo ws_peer_n1)"
}

echo
echo "a: $events transitions on node 1 (pgbench -c 4, one event a transaction), applied on node 2"
for ((r = 0; r < rounds; r++)); do
	since=$(on 1 "SELECT ws.hlc_now()")
	m=$(write 1 "$events" 1000)
	copy 1 "$since"
	on 1 "CHECKPOINT"
	on 2 "CHECKPOINT"
	if [ $worldstate = off ]; then
		apply plain "$m"
	elif [ $((r % 2)) -eq 0 ]; then
		apply plain "$m"
		apply ws "$m"
	else
		apply ws "$m"
		apply plain "$m"
	fi
done

printf '\n%-6s | %-30s | %-30s | %s\n' round "plain logical replication ev/s" "worldstate ev/s" "ratio"
printf '%s\n' "-------+--------------------------------+--------------------------------+------"
ratios=""
for ((r = 0; r < rounds; r++)); do
	if [ $worldstate = on ]; then
		q=$(awk -v a="${rate[ws-$r]}" -v b="${rate[plain-$r]}" 'BEGIN {printf "%.3f", a / b}')
		ratios="$ratios $q"
	else
		q=-
	fi
	printf '%-6s | %30s | %30s | %s\n' "$((r + 1))" "${rate[plain-$r]}" "${rate[ws-$r]:-not run}" "$q"
done
if [ $worldstate = on ]; then
	printf '%s\n' $ratios | sort -g | awk '{q[NR] = $1} END {
		m = (NR % 2 ? q[(NR + 1) / 2] : (q[NR / 2] + q[NR / 2 + 1]) / 2)
		printf "\nratio worldstate / plain, median of %d rounds: %.3f (target >= 0.5): %s\n", NR, m, (m >= 0.5 ? "met" : "NOT met")
	}'
else
	echo
	echo "worldstate / plain: not run (this build has no ws.add_peer)"
fi

# ---------------------------------------------------------------------------
# b: from heal to the same world after a partition
# ---------------------------------------------------------------------------

echo
echo "b: $pevents transitions on each side of a partition (100 shared entities), then heal"
since1=$(on 1 "SELECT ws.hlc_now()")
since2=$(on 2 "SELECT ws.hlc_now()")
# both sides at once
write 1 "$pevents" 100 >"$work/m1" &
w1=$!
write 2 "$pevents" 100 >"$work/m2" &
w2=$!
wait $w1
wait $w2
m1=$(cat "$work/m1")
m2=$(cat "$work/m2")
copy 1 "$since1"
copy 2 "$since2"
on 1 "CHECKPOINT"
on 2 "CHECKPOINT"

# heal KIND: enable both links of KIND, time until both markers arrived
# and the digests are equal; prints the seconds
heal() {
	local case=$1 t0 t1 h1 h2 digest table pattern
	if [ "$case" = plain ]; then
		table=public.bench_events pattern='bench_plain_from_%'
		digest="SELECT md5(string_agg(event_id::text, ',' ORDER BY event_id)) FROM public.bench_events"
	else
		table=ws.events pattern='ws_peer_%'
		digest="SELECT ws.state_hash()"
	fi
	t0=$(now)
	link 1 ENABLE "$pattern"
	link 2 ENABLE "$pattern"
	wait_for 2 "EXISTS (SELECT FROM $table WHERE event_id = '$m1')" &
	local p=$!
	wait_for 1 "EXISTS (SELECT FROM $table WHERE event_id = '$m2')"
	wait $p
	for _ in $(seq 6000); do
		h1=$(on 1 "$digest")
		h2=$(on 2 "$digest")
		[ "$h1" = "$h2" ] && break
	done
	t1=$(now)
	[ "$h1" = "$h2" ] || { echo "$case: the two nodes did not reach the same digest" >&2; exit 1; }
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}'
}

plain_s=$(heal plain)
if [ $worldstate = on ]; then
	ws_s=$(heal ws)
fi
printf '\n%-58s | %8s\n' measurement seconds
printf '%s\n' "-----------------------------------------------------------+---------"
printf '%-58s | %8s\n' "plain: heal to the same events on both nodes" "$plain_s"
printf '%-58s | %8s\n' "worldstate: heal to the same ws.state_hash() on both nodes" "${ws_s:-not run}"
if [ $worldstate = on ]; then
	awk -v a="$ws_s" -v b="$plain_s" 'BEGIN {printf "\nratio worldstate / plain: %.2f (no target)\n", a / b}'
fi
