# The background worker takes snapshots on schedule, applies retention,
# picks up a reload, and keeps going after the server restarts and after a
# crash.  Waits poll for the condition; nothing sleeps for a fixed time.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('snapshot_worker',
	"worldstate.snapshot_interval = '1s'\nworldstate.snapshot_retention = 3\n");
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.register_module('sw', 1);
	SELECT ws.define_kind('sw_item', 'sw');
	SELECT count(ws.create_entity('sw' || i, 'sw_item', 'sw', '{"n": 0}')) FROM generate_series(1, 10) i;
});

sub max_id { $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM ws.snapshots') }

ok($node->poll_query_until('postgres', 'SELECT count(*) >= 2 FROM ws.snapshots'),
	'the worker takes snapshots on schedule');
is($node->safe_psql('postgres', q{SELECT bool_and(label = 'scheduled' AND entity_count = 10) FROM ws.snapshots}),
	't', 'scheduled snapshots hold every entity');
ok($node->poll_query_until('postgres', 'SELECT max(id) >= 5 FROM ws.snapshots'),
	'more snapshots follow');
is($node->safe_psql('postgres', 'SELECT count(*) <= 3 FROM ws.snapshots'), 't',
	'retention keeps the newest 3');

# a reload changes the retention
$node->safe_psql('postgres', 'ALTER SYSTEM SET worldstate.snapshot_retention = 1');
$node->reload;
ok($node->poll_query_until('postgres', 'SELECT count(*) = 1 FROM ws.snapshots'),
	'a reload takes effect: one snapshot kept');

# ws.run_snapshot_worker_now() runs the same cycle at once
my $before = max_id();
my $id = $node->safe_psql('postgres', 'SELECT ws.run_snapshot_worker_now()');
cmp_ok($id, '>', $before, 'ws.run_snapshot_worker_now() takes a snapshot now');
# (the 1 s schedule may take and prune another one meanwhile: every
# snapshot older than the one just taken is gone either way)
is($node->safe_psql('postgres', 'SELECT count(*) FROM ws.snapshots WHERE id < ' . $id), '0',
	'and applies the retention');

# after a restart, and after a crash, the schedule goes on
$node->restart;
$before = max_id();
ok($node->poll_query_until('postgres', "SELECT max(id) > $before FROM ws.snapshots"),
	'snapshots continue after a restart');
ok(ws_crash_restart($node), 'restarted after kill -9 of the postmaster');
$before = max_id();
ok($node->poll_query_until('postgres', "SELECT max(id) > $before FROM ws.snapshots"),
	'snapshots continue after a crash');

# a failing cycle is logged and the next one runs: make the copy fail
my $offset = -s $node->logfile;
$node->safe_psql('postgres',
	'ALTER TABLE ws.snapshot_entities ADD CONSTRAINT ws_test_fail CHECK (false) NOT VALID');
ok($node->wait_for_log(qr/worldstate worker: snapshot failed, retrying next cycle/, $offset),
	'a failing cycle is logged');
$before = max_id();
$node->safe_psql('postgres', 'ALTER TABLE ws.snapshot_entities DROP CONSTRAINT ws_test_fail');
ok($node->poll_query_until('postgres', "SELECT max(id) > $before FROM ws.snapshots"),
	'and the next cycle succeeds');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ws.verify()'), '0', 'the world verifies');

$node->stop;
done_testing();
