#!/usr/bin/env bash
# make valgrind: the pg_regress suite against a throwaway cluster whose
# server runs under valgrind's memcheck (every server process, the forked
# backends and workers included: --trace-children=yes), with the
# suppressions of test/valgrind/*.supp and of the files named in
# VALGRIND_SUPP (colon-separated).  One log a process under
# ./tmp/valgrind/logs; ends with a summary of the errors found, in
# worldstate's code and in the server's own, lists the former, and exits
# non-zero when there are any of those or a test failed.  Slow (the suite takes many minutes); not part of
# make test.
set -uo pipefail
source "$(dirname "$0")/cluster.sh"
cd "$WS_ROOT"

command -v valgrind >/dev/null 2>&1 || { echo "valgrind is not installed (Debian: apt-get install valgrind)" >&2; exit 1; }

vgdir=$(ws_workdir valgrind)
rm -rf "$vgdir/logs" "$vgdir/supp" "$vgdir"/worldstate-*.txt
mkdir -p "$vgdir/logs" "$vgdir/supp"
# copies the server's OS user can read wherever the checkout is
supp_args=""
i=0
IFS=: read -ra extra <<<"${VALGRIND_SUPP:-}"
for f in test/valgrind/*.supp "${extra[@]}"; do
	[ -n "$f" ] || continue
	[ -r "$f" ] || { echo "cannot read suppression file $f" >&2; exit 1; }
	i=$((i + 1))
	cp "$f" "$vgdir/supp/$i-$(basename "$f")"
	supp_args="$supp_args --suppressions='$vgdir/supp/$i-$(basename "$f")'"
done

cat >"$vgdir/postgres" <<EOF
#!/bin/sh
# the server under valgrind, for pg_ctl -p (written by test/valgrind.sh)
exec valgrind --quiet --trace-children=yes --track-origins=yes \\
	--read-var-info=no --num-callers=30 --error-limit=no --leak-check=no \\
	--vgdb=no --gen-suppressions=all $supp_args \\
	--log-file='$vgdir/logs/%p.log' '$WS_BINDIR/postgres' "\$@"
EOF
chmod 755 "$vgdir/postgres"
[ "$(id -u)" -eq 0 ] && chown -R "$WS_OSUSER" "$vgdir"

trap ws_cluster_stop EXIT
export WS_POSTGRES="$vgdir/postgres" WS_START_TIMEOUT=${WS_START_TIMEOUT:-600}
echo "== starting a throwaway cluster under valgrind"
ws_cluster_start valgrind-cluster || exit 1
echo "   port $PGPORT, data in $WS_DATA"

echo "== pg_regress (server under valgrind)"
make --no-print-directory installcheck ISOLATION= >"$vgdir/regress.log" 2>&1
rc=$?
grep -E '^(test| +[a-z_]+ +\.\.\.|ok|not ok|# )' "$vgdir/regress.log" || true
[ $rc -ne 0 ] && [ -f regression.diffs ] && head -200 regression.diffs
ws_cluster_stop

# Each error is a block of "==PID== " lines up to an empty one, with a
# stack for where it happened and, for some, one for where the memory was
# allocated ("Address ... alloc'd", "Uninitialised value was created by").
# A stack is worldstate's when, going up from the top, the first frame that
# is in either the server's program or worldstate is worldstate's (one of
# its source files, or its library); frames of libc and of the valgrind
# preload are passed over.  Errors whose first stack is worldstate's are in
# its code; those whose memory stack is are listed too, for a look: the
# memory may be worldstate's (or a stack slot it used before the server
# did).
ours=$(cd src && ls *.c | sed 's/\./\\./g' | paste -sd'|')
summary=$(awk -v ours="\\((${ours}):[0-9]+\\)|worldstate\\.so\\)" \
	-v out="$vgdir/worldstate-errors.txt" -v born_out="$vgdir/worldstate-memory.txt" '
	function flush() {
		if (block != "" && frames) {
			total++
			if (where[1] == "ours") { mine++; print block > out }
			else if (where[2] == "ours") { born++; print block > born_out }
		}
		block = ""
		frames = 0
		stack = 0
		delete where
	}
	FNR == 1 { flush() }
	/^==[0-9]+== / {
		line = $0
		sub(/^==[0-9]+== /, "", line)
		if (line == "") { flush(); next }
		block = block FILENAME ": " line "\n"
		if (line !~ /^ +(at|by) 0x/) {
			stack = (stack == 0) ? 1 : 2
			next
		}
		frames++
		if (!(stack in where)) {
			if (line ~ ours) where[stack] = "ours"
			else if (line ~ /\/bin\/postgres\)$/ || line ~ /: (main|PostmasterMain) /) where[stack] = "server"
		}
		next
	}
	{ flush() }
	END { flush(); printf "%d %d %d\n", total, mine, born }
' /dev/null "$vgdir"/logs/*.log)
read -r total mine born <<<"$summary"
nlogs=$(ls "$vgdir"/logs/*.log 2>/dev/null | wc -l)

echo
echo "== valgrind summary"
[ "$mine" -gt 0 ] && head -150 "$vgdir/worldstate-errors.txt"
[ "$born" -gt 0 ] && echo "-- errors in the server's code on memory allocated in worldstate's frames:" &&
	head -60 "$vgdir/worldstate-memory.txt"
echo "$nlogs server processes, $total valgrind errors: $mine in worldstate's code, $born more on memory allocated in its frames, $((total - mine - born)) in the server's own; logs in $vgdir/logs"
echo "pg_regress under valgrind: $( [ $rc -eq 0 ] && echo passed || echo "FAILED (see $vgdir/regress.log and regression.diffs)")"
[ "$mine" -eq 0 ] && [ $rc -eq 0 ]
