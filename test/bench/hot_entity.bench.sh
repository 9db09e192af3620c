#!/usr/bin/env bash
# hot entity benchmark: N transitions of one entity in one transaction
# against the baseline of N transitions of N entities, one each, in one
# transaction, both in the same run, for N in BENCH_HOT_SIZES (default
# "1000 5000 20000").  Each case is one statement,
#
#   SELECT count(ws.transition(id, '{"n": 1, "note": "x"}', handshake => ...))
#   FROM generate_series(1, N) i
#
# with id the one entity, or 'm' || i; its entities are created beforehand
# in a transaction of their own.  Every case gets a database of its own and
# runs BENCH_ROUNDS times (default 3, the two cases in turn, each time on
# fresh entities); prints the median seconds of each, their microseconds
# per transition (flat when the cost grows linearly), and the ratio hot /
# many against the target: at most 2.0 at N = 20,000.
#
# Run by test/bench/run.sh (`make bench BENCH=hot_entity`), which exports
# the cluster's PGHOST, PGPORT, PGUSER and PGDATABASE.
set -euo pipefail

sizes=${BENCH_HOT_SIZES:-1000 5000 20000}
rounds=${BENCH_ROUNDS:-3}
db=ws_bench_hot

cleanup() {
	psql -X -q -d "$PGDATABASE" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

export PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off"
psql -X -q -v ON_ERROR_STOP=1 -d "$PGDATABASE" -c "SET client_min_messages = warning" \
	-c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL >/dev/null
CREATE EXTENSION worldstate;
SELECT ws.register_module('bench', 1);
SELECT ws.define_kind('counter', 'bench', 'lww', ARRAY['n']);
SQL

# secs SQL: the seconds SQL took, as psql's \timing reports them
secs() {
	psql -X -Atq -v ON_ERROR_STOP=1 -d "$db" -c "\\timing on" -c "$1" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{printf "%.3f", $1 / 1000}'
}

# create PREFIX N: entities PREFIX1 .. PREFIXN, committed
create() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SELECT count(ws.create_entity('$1' || i, 'counter', 'bench', '{\"n\": 0, \"note\": \"\"}', handshake => '55-45-17')) FROM generate_series(1, $2) i" >/dev/null
	psql -X -q -d "$db" -c "VACUUM ANALYZE ws.entities" >/dev/null
}

# median of the arguments
median() {
	printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'
}

echo "one transaction of N transitions: of one entity (hot), or of N entities once each (many);" \
	"median of $rounds rounds"
printf '\n%8s | %10s | %10s | %12s | %12s | %11s | %s\n' N "many s" "hot s" "many us/tr" "hot us/tr" "hot / many" "rounds hot"
printf '%s\n' "---------+------------+------------+--------------+--------------+-------------+-----------"
for n in $sizes; do
	many=() hot=()
	for ((r = 0; r < rounds; r++)); do
		create "m${n}r${r}_" "$n"
		create "h${n}r${r}_" 1
		m="SELECT count(ws.transition('m${n}r${r}_' || i, '{\"n\": 1, \"note\": \"x\"}', handshake => '55-45-17')) FROM generate_series(1, $n) i"
		h="SELECT count(ws.transition('h${n}r${r}_1', '{\"n\": 1, \"note\": \"x\"}', handshake => '55-45-17')) FROM generate_series(1, $n) i"
		if ((r % 2 == 0)); then
			many+=("$(secs "$m")")
			hot+=("$(secs "$h")")
		else
			hot+=("$(secs "$h")")
			many+=("$(secs "$m")")
		fi
		psql -X -q -d "$db" -c "CHECKPOINT" >/dev/null
	done
	ms=$(median "${many[@]}")
	hs=$(median "${hot[@]}")
	awk -v n="$n" -v m="$ms" -v h="$hs" -v rh="${hot[*]}" 'BEGIN {
		printf "%8d | %10.3f | %10.3f | %12.1f | %12.1f | %11.2f | %s\n",
			n, m, h, m * 1e6 / n, h * 1e6 / n, h / m, rh }'
	last_ratio=$(awk -v m="$ms" -v h="$hs" 'BEGIN {printf "%.2f", h / m}')
	last_n=$n
done
awk -v r="$last_ratio" -v n="$last_n" 'BEGIN {
	printf "\nhot / many at N = %d: %.2f, target <= 2.0 at N = 20000: %s\n", n, r,
		(n != 20000 ? "not measured (N differs)" : (r <= 2.0 ? "met" : "NOT met")) }'
