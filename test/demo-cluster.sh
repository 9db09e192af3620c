#!/usr/bin/env bash
# `make demo-cluster`: three throwaway worldstate nodes in a full mesh on
# loopback.  Node 3 is cut off (the subscriptions that cross the cut are
# disabled), both sides change the same document, the links are enabled
# again and the nodes converge to the same ws.state_hash(); the conflict
# the partition made is resolved, the document retired, and its causal
# history -- ws.causal_graph, the same DOT on every node -- is rendered
# with Graphviz to tmp/demo-cluster/causal-graph.svg.  With --keep the
# nodes keep running and the script says how to reach them.
set -euo pipefail
source "$(dirname "$0")/cluster.sh"

keep=0
[ "${1:-}" = "--keep" ] && keep=1
command -v dot >/dev/null 2>&1 ||
	{ echo "Graphviz's dot is missing: run 'make deps' (Debian package graphviz)" >&2; exit 1; }

out="$WS_ROOT/tmp/demo-cluster"
mkdir -p "$out"
export PGHOST=127.0.0.1 PGUSER="$WS_OSUSER" PGDATABASE=postgres
handshake="SET worldstate.handshake = '55-45-17';"
declare -A port dir
nodes="1 2 3"

# node_start ID: a cluster with worldstate.node_id ID, started, with the
# extension created
node_start() {
	local id=$1 p=${WS_PORT:-54329}
	dir[$id]=$(ws_workdir "demo-cluster/node$id")
	[ "$id" -gt 1 ] && p=$((${port[$((id - 1))]} + 1))
	port[$id]=$(ws_free_port "$p")
	# an enabled link's apply worker starts at once, not after 5 s
	ws_server_start "${dir[$id]}" "${port[$id]}" "worldstate.node_id = $id" \
		"max_logical_replication_workers = 7" "max_worker_processes = 19" "max_connections = 30" \
		"wal_retrieve_retry_interval = '200ms'" || exit 1
	on "$id" "CREATE EXTENSION worldstate" >/dev/null
}

stop_all() {
	local id
	for id in $nodes; do
		[ -n "${dir[$id]:-}" ] && [ -f "${dir[$id]}/data/postmaster.pid" ] &&
			ws_as_user pg_ctl -D "${dir[$id]}/data" -m fast -w stop >/dev/null 2>&1
	done
	return 0
}
[ $keep -eq 0 ] && trap stop_all EXIT

# on ID SQL...: the statements on node ID, results unaligned
on() {
	local id=$1
	shift
	local args=()
	for s in "$@"; do args+=(-c "$s"); done
	psql -X -q -At -v ON_ERROR_STOP=1 -p "${port[$id]}" "${args[@]}"
}

# step ID TEXT SQL: say what node ID does, then the SQL echoed with its result
step() {
	echo "-- node $1: $2"
	psql -X -q -e -v ON_ERROR_STOP=1 -P pager=off -p "${port[$1]}" <<<"$3" 2>&1 | sed 's/^/   /'
	echo
}

# wait_for ID CONDITION: until the SQL condition holds on node ID, polled
# in the server (each statement of the loop sees the commits before it)
wait_for() {
	on "$1" "SET statement_timeout = '2min'" "DO \$\$ BEGIN
		WHILE NOT ($2) LOOP PERFORM pg_sleep(0.02); END LOOP; END \$\$"
}

# links ACTION: enable or disable the subscriptions that cross the cut
# around node 3 (theirs to node 3, node 3's to them), and after DISABLE
# until their apply workers are gone
links() {
	local id s subs
	for id in $nodes; do
		if [ "$id" = 3 ]; then subs="ws_peer_n1 ws_peer_n2"; else subs="ws_peer_n3"; fi
		for s in $subs; do on "$id" "ALTER SUBSCRIPTION $s $1"; done
		[ "$1" = DISABLE ] && wait_for "$id" "NOT EXISTS (SELECT FROM pg_stat_subscription
			WHERE subname = ANY (string_to_array('$subs', ' ')) AND pid IS NOT NULL)"
	done
	return 0
}

# converged: until every node holds every node's events and nothing waits
converged() {
	local id counts cond
	for id in $nodes; do
		counts=$(on "$id" "SELECT count(*) FROM ws.events WHERE origin_node = $id")
		cond="${cond:+$cond AND }(SELECT count(*) FROM ws.events WHERE origin_node = $id) = $counts"
	done
	for id in $nodes; do wait_for "$id" "$cond AND NOT EXISTS (SELECT FROM ws.pending)"; done
}

hashes() {
	local id
	for id in $nodes; do echo "   node $id: ws.state_hash() = $(on "$id" "SELECT ws.state_hash()")"; done
}

echo "== starting three throwaway PostgreSQL 15 clusters, worldstate.node_id 1, 2 and 3"
for id in $nodes; do node_start "$id"; done
echo "   ports ${port[1]}, ${port[2]} and ${port[3]}; data under $(dirname "${dir[1]}")"
for id in $nodes; do
	for peer in $nodes; do
		[ "$peer" = "$id" ] && continue
		on "$id" "SELECT ws.add_peer('n$peer', 'host=127.0.0.1 port=${port[$peer]} dbname=postgres user=$PGUSER')" >/dev/null
	done
done
echo "   a full mesh: on every node, ws.add_peer for each other node"
echo

step 1 "a module, a kind whose concurrent changes of a field wait for a person (policy manual), a document" \
	"$handshake
SELECT ws.register_module('paper', 1);
SELECT ws.define_kind('doc', 'paper', policy => 'manual');
SELECT entity_id, state, version FROM ws.create_entity('paper-1', 'doc', 'paper', '{\"title\": \"Draft\", \"body\": \"\"}');
SELECT state, version FROM ws.transition('paper-1', '{\"body\": \"Introduction\"}');"
converged

echo "== partition: node 3 is cut off (the subscriptions to and from it are disabled)"
links DISABLE
echo
step 1 "changes the title and the body" \
	"$handshake
SELECT state, version FROM ws.transition('paper-1', '{\"title\": \"Time, clocks\"}');
SELECT state, version FROM ws.transition('paper-1', '{\"body\": \"Introduction. Method.\"}');"
wait_for 2 "(SELECT count(*) FROM ws.events WHERE entity_id = 'paper-1') = 4"
step 2 "adds an abstract, having seen node 1's changes" \
	"$handshake
SELECT state, version FROM ws.transition('paper-1', '{\"abstract\": \"Ordering events\"}');"
step 3 "cut off, changes the title too, and adds keywords" \
	"$handshake
SELECT state, version FROM ws.transition('paper-1', '{\"title\": \"Clocks in a distributed system\"}');
SELECT state, version FROM ws.transition('paper-1', '{\"keywords\": [\"hlc\", \"vclock\"]}');"
echo "== the two sides differ"
hashes
echo

echo "== heal: the subscriptions are enabled again; waiting for every event on every node"
links ENABLE
converged
hashes
echo
step 1 "the concurrent titles are a conflict, the same on every node; the other fields merged" \
	"SELECT conflict_id, type, status FROM ws.conflicts WHERE entity_id = 'paper-1';
SELECT state FROM ws.entities WHERE entity_id = 'paper-1';"

cid=$(on 2 "SELECT conflict_id FROM ws.conflicts WHERE entity_id = 'paper-1' AND status = 'open'")
step 2 "resolves the conflict: the title becomes one of its own" \
	"$handshake
SELECT state, version FROM ws.resolve_conflict('$cid',
    (SELECT jsonb_set(state, '{title}', '\"Time, clocks, and the ordering of events\"')
     FROM ws.entities WHERE entity_id = 'paper-1'));"
converged
step 3 "retires the document: retirement is final, on every node" \
	"$handshake
SELECT retired, version FROM ws.retire_entity('paper-1');"
converged

echo "== converged: the same world on every node"
hashes
hash=$(on 1 "SELECT ws.state_hash()")
for id in $nodes; do
	[ "$(on "$id" "SELECT ws.state_hash()")" = "$hash" ] || { echo "node $id has not converged" >&2; exit 1; }
done
echo

echo "== the causal history of paper-1: ws.causal_graph('paper-1'), the same DOT on every node"
on 1 "SELECT ws.causal_graph('paper-1')" >"$out/causal-graph.dot"
for id in 2 3; do
	on "$id" "SELECT ws.causal_graph('paper-1')" | cmp -s - "$out/causal-graph.dot" ||
		{ echo "node $id draws another picture" >&2; exit 1; }
done
dot -Tsvg "$out/causal-graph.dot" -o "$out/causal-graph.svg"
echo "   DOT: $out/causal-graph.dot"
echo "   SVG: $out/causal-graph.svg (rendered with Graphviz: dot -Tsvg)"
echo

if [ $keep -eq 1 ]; then
	echo "== the nodes keep running; connect with:"
	for id in $nodes; do echo "   psql -h 127.0.0.1 -p ${port[$id]} -U $PGUSER postgres   # node $id"; done
	echo "   stop them with: $( [ "$(id -u)" -eq 0 ] && echo "runuser -u $WS_OSUSER -- ")$WS_BINDIR/pg_ctl -D <data> stop, for each data directory under $(dirname "${dir[1]}")"
else
	echo "== demo done; stopping the nodes"
fi
