#!/usr/bin/env bash
# Runs every suite: the Makefile's compiler flags (test/build-flags.sh) and
# the layers of src/ (test/layers.pl, with its self-test), then against
# throwaway clusters pg_regress and isolation (through `make
# installcheck`), pgTAP (pg_prove), the Node.js client (test/client, `npm
# install` on first use), the README's SQL examples (test/readme.pl) and the
# TAP tests (PostgreSQL::Test::Cluster); last, pg_regress and isolation once
# more against the library built with USE_ASSERT_CHECKING.  Ends with one
# line "N passed, N failed", preceded by what failed (the failing tests'
# names and their diagnostics, so that the end of the output names them),
# and exits non-zero when anything failed; no server is left running.
set -uo pipefail
source "$(dirname "$0")/cluster.sh"
cd "$WS_ROOT"

passed=0
failed=0
logdir=$(ws_workdir logs)
trap ws_cluster_stop EXIT
failures="$logdir/failures"
: >"$failures"

# Keep what names a failure in a suite's log, for the end of the output:
# failed pg_regress/isolation tests, prove's failed tests with their
# diagnostics and summary, node's "not ok" lines.
note_failures() {
	local suite=$1 log=$2
	{
		echo "-- $suite ($log)"
		grep -E '\.\.\. (FAILED|failed)|^not ok|^# +(Failed test|at |got:|expected:|Looks like)|\(Wstat: |^Dubious|^ +Failed tests?:|^ +Non-zero' "$log" | head -40
	} >>"$failures"
}

# Count a pg_regress run's "... ok" and "... FAILED" lines.
count_regress() {
	local log=$1 ok bad
	ok=$(grep -cE '\.\.\. ok' "$log")
	bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$log")
	passed=$((passed + ok))
	failed=$((failed + bad))
}

# Count a `node --test` run (TAP reporter): its "# pass N" and "# fail N"
# summary; a run that died without one is one failure.
count_node() {
	local log=$1 rc=$2 ok bad
	ok=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$log" | tail -1)
	bad=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$log" | tail -1)
	ok=${ok:-0}
	bad=${bad:-0}
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
	fi
	passed=$((passed + ok))
	failed=$((failed + bad))
}

# Count a prove run: assertions passed and failed; a script that died
# without a count is one failure.
count_prove() {
	local log=$1 rc=$2 tests bad
	tests=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$log" | tail -1)
	bad=$(sed -nE 's/.*Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	tests=${tests:-0}
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
	fi
	passed=$((passed + tests - (bad > tests ? tests : bad)))
	failed=$((failed + bad))
}

echo "== build flags (test/build-flags.sh)"
prove --exec bash test/build-flags.sh >"$logdir/build-flags.log" 2>&1
rc=$?
cat "$logdir/build-flags.log"
[ $rc -ne 0 ] && note_failures "build flags" "$logdir/build-flags.log"
count_prove "$logdir/build-flags.log" $rc

echo "== layers of src/ (test/layers.pl)"
prove test/layers.pl :: --self-test >"$logdir/layers.log" 2>&1
rc=$?
cat "$logdir/layers.log"
[ $rc -ne 0 ] && note_failures "layers" "$logdir/layers.log"
count_prove "$logdir/layers.log" $rc

echo "== starting a throwaway cluster"
ws_cluster_start main || { echo "0 passed, 1 failed"; exit 1; }
echo "   port $PGPORT, data in $WS_DATA"

# pg_regress and isolation (make installcheck) against the running cluster;
# $1, when given, is added to the headings and the log names.
run_installcheck() {
	local tag=$1 suite log rc diffs
	for suite in pg_regress isolation; do
		log="$logdir/$suite${tag:+-$tag}.log"
		echo "== $suite${tag:+ ($tag)}"
		if [ $suite = pg_regress ]; then
			make --no-print-directory installcheck ISOLATION= >"$log" 2>&1
			rc=$?
			diffs=regression.diffs
		else
			make --no-print-directory installcheck REGRESS= >"$log" 2>&1
			rc=$?
			diffs=output_iso/regression.diffs
		fi
		grep -E '^(test| +[a-z_]+ +\.\.\.|ok|not ok|# )' "$log" || true
		count_regress "$log"
		if [ $rc -ne 0 ]; then
			note_failures "$suite${tag:+ ($tag)}" "$log"
			[ -f "$diffs" ] && cat "$diffs"
			grep -q '\.\.\.' "$log" || { cat "$log"; failed=$((failed + 1)); }
		fi
	done
}

run_installcheck ""

echo "== pgTAP"
psql -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS ws_pgtap" -c "CREATE DATABASE ws_pgtap" >/dev/null &&
	psql -X -q -v ON_ERROR_STOP=1 -d ws_pgtap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION worldstate" >/dev/null
pg_prove -d ws_pgtap test/pgtap/*.sql >"$logdir/pgtap.log" 2>&1
rc=$?
cat "$logdir/pgtap.log"
[ $rc -ne 0 ] && note_failures pgTAP "$logdir/pgtap.log"
count_prove "$logdir/pgtap.log" $rc

echo "== Node.js client (test/client)"
# node-postgres from test/client/node_modules, else Debian's node-pg, else
# installed there with npm (from the npm registry)
client_dir="$WS_ROOT/test/client"
client_env=()
if ! command -v node >/dev/null 2>&1; then
	echo "node is needed for the client test (make deps installs Debian's nodejs and node-pg)"
	failed=$((failed + 1))
elif [ ! -d "$client_dir/node_modules/pg" ] && [ -d /usr/share/nodejs/pg ]; then
	client_env=(NODE_PATH=/usr/share/nodejs)
elif [ ! -d "$client_dir/node_modules/pg" ] &&
	! (cd "$client_dir" && npm install --no-audit --no-fund) >"$logdir/npm.log" 2>&1; then
	cat "$logdir/npm.log"
	echo "npm install failed in test/client"
	failed=$((failed + 1))
	client_env=(failed)
fi
if command -v node >/dev/null 2>&1 && [ "${client_env[0]:-}" != failed ]; then
	(cd "$client_dir" && env "${client_env[@]}" node --test --test-reporter=tap client.test.js) >"$logdir/client.log" 2>&1
	rc=$?
	grep -E '^(ok|not ok|# )' "$logdir/client.log" || true
	[ $rc -ne 0 ] && cat "$logdir/client.log" && note_failures "Node.js client" "$logdir/client.log"
	count_node "$logdir/client.log" $rc
fi

ws_cluster_stop

# Every SQL example of the README, in order, on a fresh cluster and a fresh
# database (named mydb, as the README's examples call it).
echo "== README examples (test/readme.pl)"
if ws_cluster_start readme && psql -X -q -c 'CREATE DATABASE mydb'; then
	# as the README's installation section says, where the server has it
	if [ "$(psql -X -Atc "SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries'")" = 1 ]; then
		psql -X -q -c "ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding', 'worldstate'" -c "SELECT pg_reload_conf()" >/dev/null
	fi
	PGDATABASE=mydb prove test/readme.pl :: README.md >"$logdir/readme.log" 2>&1
	rc=$?
	grep -E '^(not ok|#|Files|Result)' "$logdir/readme.log" | grep -v '^#   at ' || true
	[ $rc -ne 0 ] && note_failures "README examples" "$logdir/readme.log"
	count_prove "$logdir/readme.log" $rc
else
	failed=$((failed + 1))
fi
ws_cluster_stop

echo "== TAP (PostgreSQL::Test::Cluster)"
tapdir=$(ws_workdir tap)
rm -rf "$tapdir/tmp_check"
tsrc="$WS_ROOT/test/t"
# tests that read the sources find them in WS_SRC
export WS_SRC="$WS_ROOT/src"
if ! ws_as_user test -r "$tsrc/001_clock_persistence.pl" 2>/dev/null; then
	rm -rf "$tapdir/t" "$tapdir/src"
	cp -r "$tsrc" "$tapdir/t" && cp -r "$WS_ROOT/src" "$tapdir/src" &&
		chown -R "$WS_OSUSER" "$tapdir/t" "$tapdir/src" && tsrc="$tapdir/t" && WS_SRC="$tapdir/src"
fi
(
	cd "$tapdir" &&
	TESTDIR="$tapdir" PG_REGRESS="$WS_PGXS/test/regress/pg_regress" \
		PERL5LIB="$WS_PGXS/test/perl${PERL5LIB:+:$PERL5LIB}" \
		ws_as_user prove ${PROVE_FLAGS:-} "$tsrc"/*.pl
) >"$logdir/tap.log" 2>&1
rc=$?
cat "$logdir/tap.log"
if [ $rc -ne 0 ]; then
	note_failures TAP "$logdir/tap.log"
	for f in "$tapdir"/tmp_check/log/regress_log_*; do
		[ -f "$f" ] && grep -q "not ok\|died\|Dubious" "$f" && { echo "--- $f"; tail -40 "$f"; }
	done
fi
count_prove "$logdir/tap.log" $rc

# The library once more, built with USE_ASSERT_CHECKING (make ASSERTS=1,
# in a copy of the sources in ./tmp/assert-build) and installed in place of the normal
# one, which is installed again afterwards; pg_regress and isolation run
# against it on a fresh cluster.  The server itself need not be
# assert-enabled: the Asserts of this extension and of the inline functions
# of the server headers it includes are checked.  A failed Assert shows as
# a "TRAP:" line in the server log and counts as a failure.
echo "== build with USE_ASSERT_CHECKING"
assert_dir="$WS_ROOT/tmp/assert-build"
trap 'ws_cluster_stop; test/install.sh make >/dev/null' EXIT
# a copy of the sources (a VPATH build would take this tree's objects)
rm -rf "$assert_dir" && mkdir -p "$assert_dir/src" "$assert_dir/sql" &&
	cp Makefile worldstate.control "$assert_dir/" && cp src/*.[ch] "$assert_dir/src/" &&
	cp sql/worldstate--*.sql "$assert_dir/sql/"
if make --no-print-directory -C "$assert_dir" ASSERTS=1 all install >"$logdir/assert-build.log" 2>&1 &&
	grep -aq ExceptionalCondition "$assert_dir/worldstate.so" &&
	ws_cluster_start assert; then
	echo "   installed $assert_dir/worldstate.so; port $PGPORT, data in $WS_DATA"
	run_installcheck assert
	ws_cluster_stop
	if grep -a '^TRAP:' "$WS_CLUSTER_DIR/server.log"; then
		failed=$((failed + 1))
	fi
else
	cat "$logdir/assert-build.log"
	grep -aq ExceptionalCondition "$assert_dir/worldstate.so" 2>/dev/null ||
		echo "$assert_dir/worldstate.so is not built with USE_ASSERT_CHECKING"
	failed=$((failed + 1))
fi
test/install.sh make || failed=$((failed + 1))
trap ws_cluster_stop EXIT

echo
if [ "$failed" -ne 0 ] && [ -s "$failures" ]; then
	echo "== what failed"
	cat "$failures"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
