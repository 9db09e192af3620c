# Causal buffering through real replication (src/converge.c): node 3
# receives node 2's update before node 1's creation and update it builds
# on (node 3's link to node 1 is down), holds it in ws.pending outside
# ws.events, and applies it in causal order once node 1's events arrive;
# the three nodes then hold the same world.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsMesh;

my @nodes = ws_mesh('causal', 3, "worldstate.causal_timeout = '1s'\n");
my %node = map { ($_ + 1) => $nodes[$_] } 0 .. $#nodes;
for my $i (1 .. 3)
{
	for my $j (grep { $_ != $i } 1 .. 3)
	{
		$node{$i}->safe_psql('postgres',
			"SELECT ws.add_peer('n$j', 'host=127.0.0.1 port=" . $node{$j}->port . " dbname=postgres')");
	}
}

# the module and kind, defined on node 2: they reach node 1 and node 3
# without node 3's link to node 1
$node{2}->safe_psql('postgres', q{
	SELECT ws.register_module('cz', 1);
	SELECT ws.define_kind('cz_doc', 'cz', 'merge')});
for my $i (1, 3)
{
	ok($node{$i}->poll_query_until('postgres', "SELECT count(*) = 1 FROM ws.kinds WHERE kind = 'cz_doc'"),
		"the kind reaches node $i");
}

# node 3 stops hearing from node 1
$node{3}->safe_psql('postgres', 'ALTER SUBSCRIPTION ws_peer_n1 DISABLE');
ok($node{3}->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_subscription WHERE subname = 'ws_peer_n1' AND pid IS NOT NULL"),
	"node 3's link to node 1 is down");

# node 1 creates and updates; node 2, having both, updates on top
$node{1}->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.create_entity('doc', 'cz_doc', 'cz', '{"a": 1}');
	SELECT ws.transition('doc', '{"b": 1}')});
ok($node{2}->poll_query_until('postgres', "SELECT version = 2 FROM ws.entities WHERE entity_id = 'doc'"),
	"node 2 has node 1's creation and update");
$node{2}->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.transition('doc', '{"c": 2}')});

# node 3 gets node 2's update alone: it is held, not applied
ok($node{3}->poll_query_until('postgres', "SELECT count(*) = 1 FROM ws.pending WHERE entity_id = 'doc'"),
	"node 3 holds node 2's update");
is($node{3}->safe_psql('postgres', q{SELECT reason, origin_node, waits_for, (held).event_type
	FROM ws.pending WHERE entity_id = 'doc'}),
	'causal|2|entity:1:2:doc|update', 'it waits for the second event of node 1 on the entity');
is($node{3}->safe_psql('postgres', q{SELECT count(*) FROM ws.events WHERE entity_id = 'doc'}),
	'0', 'nothing of the entity is in ws.events on node 3');

# after worldstate.causal_timeout the worker reports it, and it stays held
ok($node{3}->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM ws.conflicts WHERE entity_id = 'doc' AND type = 'causal_timeout' AND status = 'open'"),
	'the worker reports the held event past worldstate.causal_timeout');
ok($node{3}->log_contains(qr/WARNING:  event [0-9a-f-]+ from node 2 has waited more than 1000 ms for its causal past/),
	'with a WARNING in the log');
is($node{3}->safe_psql('postgres', "SELECT value FROM ws.stats() WHERE name = 'causal_expired'"),
	'1', 'and the counter causal_expired');

# node 3 hears from node 1 again: the update follows node 1's events
$node{3}->safe_psql('postgres', 'ALTER SUBSCRIPTION ws_peer_n1 ENABLE');
ok($node{3}->poll_query_until('postgres', "SELECT version = 3 FROM ws.entities WHERE entity_id = 'doc'"),
	"node 3 applies node 2's update once node 1's events are here");
is($node{3}->safe_psql('postgres', q{SELECT string_agg(origin_node || ':' || event_type, ',' ORDER BY arrival)
	FROM ws.events WHERE entity_id = 'doc'}),
	'1:created,1:update,2:update', 'in causal order');
is($node{3}->safe_psql('postgres', q{SELECT count(*) FROM ws.pending}), '0', 'nothing waits');
is($node{3}->safe_psql('postgres',
	q{SELECT status || '/' || resolution FROM ws.conflicts WHERE type = 'causal_timeout'}),
	'resolved/released', 'the causal_timeout conflict is closed');
is($node{3}->safe_psql('postgres', q{SELECT string_agg(name || '=' || value, ',' ORDER BY name)
	FROM ws.stats() WHERE name IN ('events_buffered', 'events_released')}),
	'events_buffered=1,events_released=1', 'counted as buffered and released');

# the same world everywhere
for my $i (1 .. 3)
{
	ok($node{$i}->poll_query_until('postgres', "SELECT version = 3 FROM ws.entities WHERE entity_id = 'doc'"),
		"node $i has the three events");
}
my @hash = map { $node{$_}->safe_psql('postgres', 'SELECT ws.state_hash()') } 1 .. 3;
is($hash[1], $hash[0], 'node 2 has the world of node 1');
is($hash[2], $hash[0], 'node 3 has the world of node 1');
is($node{3}->safe_psql('postgres', q{SELECT state FROM ws.entities WHERE entity_id = 'doc'}),
	'{"a": 1, "b": 1, "c": 2}', 'the state of every event');

$_->stop for @nodes;
done_testing();
