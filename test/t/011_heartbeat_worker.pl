# The worldstate background worker, on a standalone node (worldstate.node_id
# 0: on a node of a mesh it always releases held peer events, so it always
# connects): with every task off (here the snapshot schedule is turned off
# too) it holds no connection; it
# starts sending heartbeats when worldstate.heartbeat_interval is set and
# the configuration reloaded, only into a database where the extension is
# installed, and moves to another database when worldstate.database
# changes.  A slot on an idle database advances with the heartbeats.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('heartbeat', "worldstate.snapshot_interval = 0\n");
ws_trust_plugins($node);

my $worker = "SELECT datname FROM pg_stat_activity WHERE backend_type = 'worldstate worker'";
my $heartbeats = sub {
	my ($db, $slot) = @_;
	return $node->safe_psql($db,
		"SELECT count(*) FROM pg_logical_slot_peek_changes('$slot', NULL, NULL, 'kinds', 'heartbeat')");
};

# heartbeats are off by default; with no task on the worker is registered
# but connected to no database
is($node->safe_psql('postgres', "SHOW worldstate.heartbeat_interval"), '0', 'heartbeats are off by default');
is($node->safe_psql('postgres', $worker), '', 'the idle worker holds no database connection');

$node->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('hb', 'worldstate')");
my $confirmed0 = $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn FROM ws.slots WHERE slot_name = 'hb'");

# on: heartbeats arrive without any other activity
$node->safe_psql('postgres', "ALTER SYSTEM SET worldstate.heartbeat_interval = '100ms'");
$node->reload;
ok($node->poll_query_until('postgres', "SELECT EXISTS ($worker AND datname = 'postgres')"),
	'the worker connects to worldstate.database once a task is on');
ok($node->poll_query_until('postgres',
		"SELECT count(*) >= 3 FROM pg_logical_slot_peek_changes('hb', NULL, NULL, 'kinds', 'heartbeat')"),
	'heartbeats reach the slot');
like(
	$node->safe_psql('postgres', "SELECT data FROM pg_logical_slot_peek_changes('hb', NULL, NULL) LIMIT 1"),
	qr/^\{"handshake":"55-45-17","format_version":1,"kind":"heartbeat","position":"[0-9A-F]+\/[0-9A-F]+:0","origin":0,"hlc":"[^"]+\@0"\}$/,
	'a heartbeat line: origin and hlc of this node');

# consuming them advances the slot of an idle database
$node->safe_psql('postgres', "SELECT count(*) FROM pg_logical_slot_get_changes('hb', NULL, NULL)");
ok($node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn > '$confirmed0' FROM ws.slots WHERE slot_name = 'hb'") eq 't',
	'the idle slot advanced');
my $lag = $node->safe_psql('postgres', "SELECT lag_bytes FROM ws.slots WHERE slot_name = 'hb'");
cmp_ok($lag, '<', 1024 * 1024, "ws.slots shows a small lag ($lag bytes)");

# another database, without the extension: the worker moves there and waits
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', "SELECT pg_create_logical_replication_slot('hbo', 'worldstate')");
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', "ALTER SYSTEM SET worldstate.database = 'other'");
$node->reload;
ok($node->poll_query_until('postgres', "SELECT EXISTS ($worker AND datname = 'other')"),
	'the worker restarts into the new worldstate.database');
ok($node->wait_for_log(qr/extension worldstate is not installed in database "other", its tasks wait/, $log_offset),
	'the worker says that worldstate is not installed there');
$node->safe_psql('other', "SELECT txid_current()");    # flush anything pending
is($heartbeats->('other', 'hbo'), '0', 'no heartbeat where worldstate is not installed');

$node->safe_psql('other', 'CREATE EXTENSION worldstate');
ok($node->poll_query_until('other',
		"SELECT count(*) > 0 FROM pg_logical_slot_peek_changes('hbo', NULL, NULL, 'kinds', 'heartbeat')"),
	'heartbeats start once the extension is created');
ok($node->wait_for_log(qr/extension worldstate found in database "other", running its tasks/, $log_offset),
	'the worker says so');

# off again: once the worker has taken the new setting, the next heartbeat
# in the slot is the one sent by hand
$log_offset = -s $node->logfile;
$node->safe_psql('postgres', "ALTER SYSTEM SET worldstate.heartbeat_interval = 0");
$node->reload;
ok($node->wait_for_log(qr/worldstate worker: heartbeat off/, $log_offset),
	'the worker turns heartbeats off on reload');
my $before = $heartbeats->('other', 'hbo');
$node->safe_psql('other', "SELECT ws.heartbeat()");
is($heartbeats->('other', 'hbo'), $before + 1, 'with the interval at 0, only the heartbeat sent by hand arrives');

$node->safe_psql('other', "SELECT pg_drop_replication_slot('hbo')");
$node->safe_psql('postgres', "SELECT pg_drop_replication_slot('hb')");
$node->stop;
done_testing();
