#!/usr/bin/env bash
# `make bench [BENCH=name]`: run the benchmarks under test/bench (all, or
# the one named) against a throwaway cluster.  Benchmarks print figures and
# ratios against a baseline measured in the same run; they are not tests.
set -euo pipefail
source "$(dirname "$0")/../cluster.sh"
trap ws_cluster_stop EXIT

ws_cluster_start bench "shared_buffers = '512MB'" "work_mem = '1GB'" "max_parallel_workers_per_gather = 0"
psql -X -q -c "DROP DATABASE IF EXISTS ws_bench" -c "CREATE DATABASE ws_bench" >/dev/null
export PGDATABASE=ws_bench
psql -X -q -c "CREATE EXTENSION worldstate" >/dev/null
# ws_bench_median(query, runs): median wall-clock seconds of running query
psql -X -q -f "$WS_ROOT/test/bench/timing.sql" >/dev/null

for b in ${1:-$(cd "$WS_ROOT/test/bench" && ls *.bench.sql | sed 's/\.bench\.sql$//')}; do
	echo "== benchmark: $b"
	psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f "$WS_ROOT/test/bench/$b.bench.sql"
done
