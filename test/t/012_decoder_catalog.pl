# The output plugin finds ws.events by OID through the catalogs as of each
# change, and forgets it on relcache and syscache invalidations: a slot
# keeps working across DROP EXTENSION / CREATE EXTENSION (a new ws.events,
# even one created in the same transaction as its first event), columns
# added to or dropped from ws.events, and stretches without the extension
# (when a table named ws.events that is not the extension's is ignored).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('catalog');
ws_trust_plugins($node);

my $setup = q{
	SELECT ws.register_module('cat', 1);
	SELECT ws.define_kind('thing', 'cat');
	SELECT ws.create_entity('c1', 'thing', 'cat', '{"n": 1}', handshake => '55-45-17');
};
$node->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('cat', 'worldstate')");

# events: entity and version of each event line, in order
sub events
{
	return join ' ', map { /"entity_id":"([^"]+)".*"version":(\d+)/ ? "$1/$2" : () }
	  split /\n/,
	  $node->safe_psql('postgres',
		"SELECT data FROM pg_logical_slot_get_changes('cat', NULL, NULL, 'kinds', 'event')");
}

$node->safe_psql('postgres', $setup);
my $old_oid = $node->safe_psql('postgres', "SELECT 'ws.events'::regclass::oid");
$node->safe_psql('postgres', q{
	BEGIN;
	DROP EXTENSION worldstate CASCADE;
	CREATE EXTENSION worldstate;
	SELECT ws.register_module('cat', 1);
	SELECT ws.define_kind('thing', 'cat');
	SELECT ws.create_entity('c2', 'thing', 'cat', '{"n": 2}', handshake => '55-45-17');
	COMMIT;
});
$node->safe_psql('postgres',
	"SELECT ws.transition('c2', '{\"n\": 3}', handshake => '55-45-17')");
isnt($node->safe_psql('postgres', "SELECT 'ws.events'::regclass::oid"), $old_oid,
	'ws.events was created again, with a new OID');
is(events(), 'c1/1 c2/1 c2/2',
	'events of the old ws.events, of the new one in the transaction that created it, and after');

# columns added and dropped: found by name again
$node->safe_psql('postgres', q{
	ALTER TABLE ws.events ADD COLUMN note text;
	SELECT ws.transition('c2', '{"n": 4}', handshake => '55-45-17');
	ALTER TABLE ws.events DROP COLUMN note;
	SELECT ws.transition('c2', '{"n": 5}', handshake => '55-45-17');
});
is(events(), 'c2/3 c2/4', 'events across a column added to and dropped from ws.events');

# a stretch without the extension: other tables are not broadcast, and
# nothing fails
$node->safe_psql('postgres', q{
	DROP EXTENSION worldstate CASCADE;
	CREATE TABLE events (id int);
	INSERT INTO events VALUES (1);
	DROP SCHEMA IF EXISTS ws CASCADE;
	CREATE SCHEMA ws;
	CREATE TABLE ws.events (event_id uuid);
	INSERT INTO ws.events VALUES (gen_random_uuid());
});
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_logical_slot_get_changes('cat', NULL, NULL)"),
	'0', 'a table ws.events that is not worldstate\'s is not broadcast, and decoding goes on');
$node->safe_psql('postgres', q{
	DROP SCHEMA ws CASCADE;
	DROP TABLE events;
});
$node->safe_psql('postgres', 'CREATE TABLE plain (id int); INSERT INTO plain VALUES (1)');
is(events(), '', 'without the extension: nothing broadcast, nothing fails');
$node->safe_psql('postgres', 'CREATE EXTENSION worldstate');
$node->safe_psql('postgres', $setup);
is(events(), 'c1/1', 'after CREATE EXTENSION, events again');

$node->safe_psql('postgres', "SELECT pg_drop_replication_slot('cat')");
$node->stop;
done_testing();
