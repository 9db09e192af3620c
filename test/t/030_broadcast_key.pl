# Broadcast trust.  Event lines come only from the extension's own
# ws.events: in a database without worldstate, a look-alike ws.events
# made by an ordinary role is not broadcast.
#
# The broadcast key: created by the postmaster on the first start with the
# library preloaded, in $PGDATA/worldstate.key, readable by the server's
# OS user only, and kept across a restart and a crash, so a message written
# before them still authenticates when decoded after them.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('broadcast_key', "worldstate.snapshot_interval = 0\n");
ws_trust_plugins($node);
my $key_file = $node->data_dir . '/worldstate.key';

ok(-f $key_file, 'the key file exists after the first start');
is(-s $key_file, 32, 'it holds 32 bytes');
is(sprintf('%04o', (stat $key_file)[2] & 07777), '0600', 'only its owner may read it');
ok($node->log_contains(qr/worldstate created its broadcast key/), 'its creation is logged');
my $key = slurp_file($key_file);

$node->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('k', 'worldstate')");
$node->safe_psql('postgres', 'SELECT ws.heartbeat()');

$node->restart;
is(slurp_file($key_file), $key, 'a restart keeps the key');
ok(ws_crash_restart($node), 'the node restarts after a crash');
is(slurp_file($key_file), $key, 'a crash keeps the key');

# the heartbeat written before both still authenticates
$node->safe_psql('postgres', 'SELECT ws.heartbeat()');
my ($stdout, $stderr);
$node->psql('postgres',
	"SELECT data::jsonb->>'kind' FROM pg_logical_slot_get_changes('k', NULL, NULL)",
	stdout => \$stdout, stderr => \$stderr);
is($stdout, "heartbeat\nheartbeat", 'messages written before the restart are broadcast after it');
unlike($stderr, qr/WARNING/, 'and none is dropped');

# a damaged key file is replaced at the next start: messages made with the
# old key are dropped, new ones authenticate
$node->safe_psql('postgres', 'SELECT ws.heartbeat()');
$node->stop;
open(my $fh, '>', $key_file) or die $!;
print $fh 'short';
close($fh);
$node->start;
isnt(slurp_file($key_file), $key, 'a damaged key file is replaced');
$node->safe_psql('postgres', 'SELECT ws.heartbeat()');
$node->psql('postgres',
	"SELECT data::jsonb->>'kind' FROM pg_logical_slot_get_changes('k', NULL, NULL)",
	stdout => \$stdout, stderr => \$stderr);
is($stdout, 'heartbeat', 'only the message made with the new key is broadcast');
like($stderr, qr/drops a message that worldstate did not write/, 'the old one is dropped with a warning');
is($node->safe_psql('postgres', "SELECT value FROM ws.stats() WHERE name = 'broadcast_messages_dropped'"),
	'1', 'and counted');

# a look-alike ws.events in a database where worldstate is not installed
$node->safe_psql('postgres', q{
	CREATE ROLE regress_mimic LOGIN;
	CREATE DATABASE mimic OWNER regress_mimic;
});
$node->safe_psql('mimic', "SELECT pg_create_logical_replication_slot('m', 'worldstate')");
$node->safe_psql('mimic', q{
	SET ROLE regress_mimic;
	CREATE SCHEMA ws;
	CREATE TABLE ws.events (event_id uuid, entity_id text, kind text, version bigint, hlc uuid,
		origin_node int, module text, event_type text, patch jsonb, handshake text);
	INSERT INTO ws.events VALUES (gen_random_uuid(), 'e1', 'k', 1, gen_random_uuid(), 0, 'game',
		'update', '{"coins": 1000000}', '55-45-17');
});
is($node->safe_psql('mimic', "SELECT count(*) FROM pg_logical_slot_get_changes('m', NULL, NULL)"),
	'0', 'a look-alike ws.events is not broadcast');
$node->safe_psql('mimic', "SELECT pg_drop_replication_slot('m')");

$node->stop;
done_testing();
