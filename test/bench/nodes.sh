# Several worldstate nodes on loopback for a benchmark: clusters of their
# own, worldstate.node_id 1, 2, ..., started on free ports above PGPORT and
# stopped when the benchmark exits.  Sourced by a NAME.bench.sh after
# test/cluster.sh, with bench_name set (it names the clusters' work
# directories).  Gives:
#   node_start ID          a cluster with worldstate.node_id ID, started
#   on ID SQL...           run the statements on node ID, print unaligned
#   now                    wall-clock seconds, with nanoseconds
#   wait_for ID CONDITION  until the SQL condition holds on node ID
#   link ID ACTION PATTERN enable or disable subscriptions of node ID
#   mesh ID...             ws.add_peer between every two of the nodes
# and $work, a scratch directory others can read, removed at exit.

work=$(mktemp -d)
chmod 755 "$work"
declare -A port dir

# node_start ID: a cluster with worldstate.node_id ID, started
node_start() {
	local id=$1 p=${PGPORT:-55432}
	dir[$id]=$(ws_workdir "bench-$bench_name-$id")
	# a port above the last one taken
	[ "$id" -gt 1 ] && p=${port[$((id - 1))]}
	port[$id]=$(ws_free_port $((p + 1)))
	# the launcher starts an enabled link's worker at once, not after 5 s
	ws_server_start "${dir[$id]}" "${port[$id]}" "worldstate.node_id = $id" \
		"max_logical_replication_workers = 6" "max_worker_processes = 16" "max_connections = 40" \
		"shared_buffers = '256MB'" "wal_retrieve_retry_interval = '100ms'" || exit 1
}

nodes_cleanup() {
	local id
	for id in "${!dir[@]}"; do
		[ -f "${dir[$id]}/data/postmaster.pid" ] &&
			ws_as_user pg_ctl -D "${dir[$id]}/data" -m immediate -w stop >/dev/null 2>&1
	done
	rm -rf "$work"
	return 0
}
trap nodes_cleanup EXIT

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

# link ID ACTION PATTERN: enable or disable the links of node ID (its
# subscriptions whose names match a LIKE pattern), and after DISABLE until
# their workers stopped
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

# mesh ID...: link every two of these nodes both ways with ws.add_peer
# (node ID names its peer P "n<P>")
mesh() {
	local id peer
	for id in "$@"; do
		for peer in "$@"; do
			[ "$id" = "$peer" ] && continue
			on "$id" "SELECT ws.add_peer('n$peer', 'host=127.0.0.1 port=${port[$peer]} dbname=postgres user=$PGUSER')" >/dev/null
		done
	done
}
