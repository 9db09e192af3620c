#!/usr/bin/env bash
# strong benchmark: the latency of a strong change against an eventual one,
# on three nodes in a full mesh (clusters of their own, worldstate.node_id
# 1, 2 and 3, on loopback, fsync off).
#
# On node 1, one client (pgbench -c 1) runs BENCH_TRANSITIONS (default
# 2000) transitions of one entity, one a transaction, made on node 1 (its
# home), in three cases:
#   eventual   consistency => 'eventual' (synchronous_commit off)
#   strong 1   consistency => 'strong' with synchronous_standby_names =
#              ws.synchronous_standby_names(1): the commit waits until one
#              peer applied it
#   strong 2   the same with ws.synchronous_standby_names(2): both peers
# BENCH_ROUNDS (default 3) rounds of the three cases, in turn; prints the
# mean latency of each case and round in ms, and the median over rounds
# with its ratio to eventual's median.
#
# Run by test/bench/run.sh (`make bench BENCH=strong`), which exports
# PGUSER and WS_ROOT; the nodes take free ports above PGPORT.
set -euo pipefail
source "$WS_ROOT/test/cluster.sh"
bench_name=strong
# node_start, on, now, wait_for, link, mesh; $work
source "$WS_ROOT/test/bench/nodes.sh"

transitions=${BENCH_TRANSITIONS:-2000}
rounds=${BENCH_ROUNDS:-3}
handshake="handshake => '55-45-17'"

for id in 1 2 3; do
	node_start "$id"
	on "$id" "CREATE EXTENSION worldstate"
done
echo "nodes on ports ${port[1]}, ${port[2]} and ${port[3]}"
mesh 1 2 3
# only strong changes wait for peers; other commits for the local flush
on 1 "ALTER SYSTEM SET synchronous_commit = 'local'" "SELECT pg_reload_conf()" >/dev/null

on 1 "SELECT ws.register_module('bench', 1)" \
	"SELECT ws.define_kind('bench_doc', 'bench', 'lww')" \
	"SELECT ws.create_entity('s1', 'bench_doc', 'bench', '{\"n\": 0}', $handshake)" >/dev/null
for id in 2 3; do
	wait_for "$id" "EXISTS (SELECT FROM ws.entities WHERE entity_id = 's1')"
done

# sync K: node 1 waits for K synchronous peers (0: none), as a DBA sets it
sync() {
	local k=$1 names=''
	[ "$k" -gt 0 ] && names=$(on 1 "SELECT ws.synchronous_standby_names($k)")
	on 1 "ALTER SYSTEM SET synchronous_standby_names = '$names'" "SELECT pg_reload_conf()" >/dev/null
	# a new session each time: a backend reads the reloaded setting, which
	# also decides the sync_state it shows, only between statements
	for _ in $(seq 1000); do
		[ "$(on 1 "SELECT current_setting('synchronous_standby_names') = '$names'
			AND (SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync') = $k")" = t ] && return 0
		sleep 0.01
	done
	echo "node 1 did not take synchronous_standby_names = '$names'" >&2
	exit 1
}

# run LEVEL: mean latency in ms of the transitions at that level
run() {
	cat >"$work/$1.pgbench" <<SQL
SELECT ws.transition('s1', '{"n": 1}', $handshake, consistency => '$1');
SQL
	chmod 644 "$work/$1.pgbench"
	pgbench -n -M prepared -c 1 -t "$transitions" -f "$work/$1.pgbench" \
		-h 127.0.0.1 -p "${port[1]}" postgres >"$work/pgbench.out" 2>&1 ||
		{ cat "$work/pgbench.out" >&2; exit 1; }
	awk '/^latency average/ {print $4}' "$work/pgbench.out"
}

cases=(eventual strong1 strong2)
declare -A ms
echo
echo "$transitions transitions of one entity on node 1 (pgbench -c 1, one a transaction), per case and round"
for ((r = 0; r < rounds; r++)); do
	sync 0
	ms[eventual-$r]=$(run eventual)
	sync 1
	ms[strong1-$r]=$(run strong)
	sync 2
	ms[strong2-$r]=$(run strong)
done
sync 0

label() {
	case $1 in
	eventual) echo "eventual" ;;
	strong1) echo "strong, 1 synchronous peer" ;;
	strong2) echo "strong, 2 synchronous peers" ;;
	esac
}
median() { printf '%s\n' "$@" | sort -g | awk '{q[NR] = $1} END {
	printf "%.3f", (NR % 2 ? q[(NR + 1) / 2] : (q[NR / 2] + q[NR / 2 + 1]) / 2) }'; }

printf '\n%-28s |' case
for ((r = 0; r < rounds; r++)); do printf ' round %d ms |' $((r + 1)); done
printf ' median ms | ratio to eventual\n'
base=""
for c in "${cases[@]}"; do
	vals=()
	printf '%-28s |' "$(label "$c")"
	for ((r = 0; r < rounds; r++)); do
		vals+=("${ms[$c-$r]}")
		printf ' %10.3f |' "${ms[$c-$r]}"
	done
	m=$(median "${vals[@]}")
	[ -z "$base" ] && base=$m
	printf ' %9s | %s\n' "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}')"
done
