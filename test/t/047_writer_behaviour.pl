# What the one writer does for every caller alike.  Each event it appends
# is announced in one format (NOTIFY worldstate, when worldstate.notify is
# on): a create, a link, an unlink and a retirement like a transition --
# the event id, the entity, its module and version, the HLC -- and an event
# published on the bus with its module and event type instead of an entity.
# Creation keeps no lock per created entity until commit (concurrent
# creates of one id are told apart by speculative insertion): one
# transaction creates more entities than the lock table has room for.
# Restore writes entities and relationships through the same writer: the
# graph after a restore is the graph before it.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

# a lock table of about 10 * (max_connections + other processes) entries
my $node = ws_node('writer', "max_locks_per_transaction = 10\nmax_connections = 10\n");
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.register_module('wr', 1);
	SELECT ws.define_kind('wr_item', 'wr', 'lww');
	SELECT ws.register_event_schema('wr', 'ping', 1, '{}');
});

my $uuid = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
my $hlc = qr/[^"]+/;

# the payloads of the NOTIFY worldstate sent by the statements in sql
sub notified
{
	my ($sql) = @_;
	my $out = $node->safe_psql('postgres', qq{
		SET worldstate.handshake = '55-45-17';
		SET worldstate.notify = on;
		LISTEN worldstate;
		$sql
	});
	return [ $out =~ /Asynchronous notification "worldstate" with payload "(.*?)" received/g ];
}

my $got = notified(q{
	SELECT version FROM ws.create_entity('n1', 'wr_item', 'wr', '{"a": 1}');
	SELECT version FROM ws.create_entity('n2', 'wr_item', 'wr', '{}');
	SELECT hlc IS NOT NULL FROM ws.link('n1', 'knows', 'n2', '{"since": 1}');
	SELECT hlc IS NOT NULL FROM ws.unlink('n1', 'knows', 'n2');
	SELECT version FROM ws.retire_entity('n2');
	SELECT ws.publish('wr', 'ping', '{}', 1) IS NOT NULL;
});
is(scalar(@$got), 6, 'one NOTIFY per event');
my @expect = (
	[ 'create', qr/^\{"event_id":"$uuid","entity_id":"n1","module":"wr","version":1,"hlc":"$hlc"\}$/ ],
	[ 'create', qr/^\{"event_id":"$uuid","entity_id":"n2","module":"wr","version":1,"hlc":"$hlc"\}$/ ],
	[ 'link', qr/^\{"event_id":"$uuid","entity_id":"n1","module":"wr","version":2,"hlc":"$hlc"\}$/ ],
	[ 'unlink', qr/^\{"event_id":"$uuid","entity_id":"n1","module":"wr","version":3,"hlc":"$hlc"\}$/ ],
	[ 'retire', qr/^\{"event_id":"$uuid","entity_id":"n2","module":"wr","version":2,"hlc":"$hlc"\}$/ ],
	[ 'publish', qr/^\{"event_id":"$uuid","module":"wr","event_type":"ping","hlc":"$hlc"\}$/ ]);
for my $i (0 .. $#expect)
{
	like($got->[$i] // '', $expect[$i][1], "the NOTIFY of a $expect[$i][0]");
}

# many creates in one transaction: no lock per entity is kept
is( $node->safe_psql('postgres', q{
		SET worldstate.handshake = '55-45-17';
		SELECT count(ws.create_entity('bulk-' || i, 'wr_item', 'wr', '{}'))
		FROM generate_series(1, 5000) i;
	}),
	'5000',
	'one transaction creates 5000 entities with max_locks_per_transaction = 10');

# a graph replayed by restore through the writer is the graph before it
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT count(ws.create_entity('g' || i, 'wr_item', 'wr', '{}')) FROM generate_series(1, 4) i;
	SELECT ws.link('g1', 'next', 'g2', '{"w": 1}');
	SELECT ws.create_snapshot('before more links');
	SELECT ws.link('g1', 'next', 'g2', '{"w": 2}');
	SELECT ws.link('g2', 'next', 'g3');
	SELECT ws.link('g3', 'next', 'g4');
	SELECT ws.unlink('g3', 'next', 'g4');
	SELECT version FROM ws.transition('g4', '{"x": 1}');
});
my $graph = q{SELECT string_agg(from_id || '-' || rel || '->' || to_id || ' ' || props::text, ', '
	ORDER BY from_id, rel, to_id) FROM ws.relationships};
my $world = q{SELECT ws.state_hash()};
my ($graph_before, $world_before) =
  ($node->safe_psql('postgres', $graph), $node->safe_psql('postgres', $world));
is($graph_before, 'g1-next->g2 {"w": 2}, g2-next->g3 {}', 'the graph before restoring');
$node->safe_psql('postgres',
	q{SELECT ws.restore_snapshot((SELECT max(id) FROM ws.snapshots))});
is($node->safe_psql('postgres', $graph), $graph_before, 'restore from a snapshot keeps the graph');
is($node->safe_psql('postgres', $world), $world_before, 'and every entity');
$node->safe_psql('postgres', q{SELECT ws.restore_snapshot(NULL)});
is($node->safe_psql('postgres', $graph), $graph_before, 'replaying the whole log keeps the graph');
is($node->safe_psql('postgres', $world), $world_before, 'and every entity');

$node->stop;
done_testing();
