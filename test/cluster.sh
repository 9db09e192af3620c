# Throwaway PostgreSQL 15 cluster for the demo, the test suites and the
# benchmarks; sourced by test/run-tests.sh, test/demo.sh and test/bench/*.
#
# PostgreSQL refuses to run as root, so as root the cluster (and the TAP
# tests, which start clusters of their own) run as the unprivileged OS user
# `postgres` that Debian's package creates; clients connect over TCP on
# loopback.  The cluster lives under ./tmp, or under /tmp when that user
# cannot reach ./tmp (for example a checkout under /root).

WS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# PG_CONFIG (as for make) selects the PostgreSQL installation; Debian's 15
# by default.
WS_PG_CONFIG=${PG_CONFIG:-$(command -v /usr/lib/postgresql/15/bin/pg_config || command -v pg_config)}
WS_BINDIR=$("$WS_PG_CONFIG" --bindir)
WS_PGXS=$(dirname "$("$WS_PG_CONFIG" --pgxs)")/..
export PATH="$WS_BINDIR:$PATH"

if [ "$(id -u)" -eq 0 ]; then
	WS_OSUSER=postgres
	id "$WS_OSUSER" >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash "$WS_OSUSER"
else
	WS_OSUSER=$(id -un)
fi

# Run a command as the cluster's OS user, keeping the environment.
ws_as_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$WS_OSUSER" --preserve-environment -- "$@"
	else
		"$@"
	fi
}

# A directory the cluster's OS user can write: ./tmp/NAME, else /tmp.
ws_workdir() {
	local name=$1
	local dir="$WS_ROOT/tmp/$name"
	mkdir -p "$dir"
	[ "$(id -u)" -eq 0 ] && chown "$WS_OSUSER" "$WS_ROOT/tmp" "$dir"
	if ! ws_as_user test -w "$dir" 2>/dev/null; then
		dir=$(mktemp -d "/tmp/worldstate-$name.XXXXXX")
		[ "$(id -u)" -eq 0 ] && chown "$WS_OSUSER" "$dir"
	fi
	echo "$dir"
}

# A TCP port on loopback that nothing listens on.
ws_free_port() {
	local port=${1:-54329}
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		port=$((port + 1))
	done
	echo "$port"
}

# ws_server_start DIR PORT [extra postgresql.conf lines...]
# Creates a cluster in DIR/data listening on 127.0.0.1:PORT, with
# worldstate preloaded and wal_level logical, and starts it (log in
# DIR/server.log).  WS_POSTGRES, when set, is the server program pg_ctl
# starts (a wrapper such as test/valgrind.sh writes), and WS_START_TIMEOUT
# the seconds it may take.
ws_server_start() {
	local dir=$1 port=$2
	shift 2
	rm -rf "$dir/data" "$dir/server.log"
	ws_as_user initdb -D "$dir/data" -A trust -U "$WS_OSUSER" --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; return 1; }
	{
		echo "port = $port"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = ''"
		echo "shared_preload_libraries = 'worldstate'"
		echo "wal_level = logical"
		echo "max_replication_slots = 10"
		echo "max_wal_senders = 10"
		echo "fsync = off"
		for line in "$@"; do echo "$line"; done
	} >>"$dir/data/postgresql.conf"
	ws_as_user pg_ctl -D "$dir/data" -l "$dir/server.log" ${WS_POSTGRES:+-p "$WS_POSTGRES"} \
		-w -t "${WS_START_TIMEOUT:-60}" start >/dev/null ||
		{ cat "$dir/server.log" >&2; return 1; }
}

# ws_cluster_start NAME [extra postgresql.conf lines...]
# Creates and starts a cluster (ws_server_start) under ws_workdir NAME;
# sets PGHOST, PGPORT, PGUSER, WS_DATA.
ws_cluster_start() {
	local name=$1
	shift
	WS_CLUSTER_DIR=$(ws_workdir "$name")
	WS_DATA="$WS_CLUSTER_DIR/data"
	export PGHOST=127.0.0.1 PGPORT PGUSER="$WS_OSUSER" PGDATABASE=postgres
	PGPORT=$(ws_free_port "${WS_PORT:-54329}")
	ws_server_start "$WS_CLUSTER_DIR" "$PGPORT" "max_connections = 60" "max_prepared_transactions = 10" "$@"
}

ws_cluster_stop() {
	[ -n "${WS_DATA:-}" ] && [ -f "$WS_DATA/postmaster.pid" ] &&
		ws_as_user pg_ctl -D "$WS_DATA" -m fast -w -t "${WS_START_TIMEOUT:-60}" stop >/dev/null 2>&1
	return 0
}
