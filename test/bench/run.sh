#!/usr/bin/env bash
# `make bench [BENCH=name]`: run the benchmarks under test/bench (all, or
# the one named) against a throwaway cluster.  Benchmarks print figures and
# ratios against a baseline measured in the same run; they are not tests.
#
# A benchmark is either test/bench/NAME.bench.sql, run with psql, or
# test/bench/NAME.bench.sh, a bash script run with the same environment
# (PGHOST, PGPORT, PGUSER, PGDATABASE=ws_bench, WS_ROOT, WS_DATA) exported.
# Without a name, all of both kinds run, sorted by name.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
trap ws_cluster_stop EXIT

bench_dir="$WS_ROOT/test/bench"
if [ -n "$*" ]; then
	names="$*"
	for b in $names; do
		[ -f "$bench_dir/$b.bench.sql" ] || [ -f "$bench_dir/$b.bench.sh" ] ||
			{ echo "no benchmark $b: neither test/bench/$b.bench.sql nor test/bench/$b.bench.sh" >&2; exit 1; }
	done
else
	names=$(cd "$bench_dir" && for f in *.bench.sql *.bench.sh; do
		[ -f "$f" ] && echo "${f%.bench.*}"
	done | sort -u)
fi

ws_cluster_start bench "shared_buffers = '512MB'" "work_mem = '1GB'" "max_parallel_workers_per_gather = 0"
psql -X -q -c "DROP DATABASE IF EXISTS ws_bench" -c "CREATE DATABASE ws_bench" >/dev/null
export PGDATABASE=ws_bench WS_ROOT WS_DATA
psql -X -q -c "CREATE EXTENSION worldstate" >/dev/null
# ws_bench_median(query, runs): median wall-clock seconds of running query
psql -X -q -f "$bench_dir/timing.sql" >/dev/null

for b in $names; do
	echo "== benchmark: $b"
	if [ -f "$bench_dir/$b.bench.sh" ]; then
		bash "$bench_dir/$b.bench.sh"
	else
		psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f "$bench_dir/$b.bench.sql"
	fi
done
