# Reconciliation with a peer (src/reconcile.c): events whose origin is gone
# travel no further by replication (nothing is relayed), so a node that
# missed them fetches them from a peer that has them with
# ws.reconcile(peer).  Three nodes in a full mesh: node 1 writes while
# node 3 does not receive from it (its subscription disabled), so only
# node 2 gets those events -- a new kind among them, a catalog event --
# and node 2 changes one of node 1's entities; then node 1 is destroyed.
# Node 3 fetches what it lacks from node 2 (some of it archived there):
# afterwards node 2 and node 3 hold the same events and the same world,
# and a second call fetches nothing.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsMesh;

my @n = ws_mesh('rec', 3);
my %node = map { $_ + 1 => $n[$_] } 0 .. 2;
for my $i (1 .. 3)
{
	for my $p (grep { $_ != $i } 1 .. 3)
	{
		$node{$i}->safe_psql('postgres',
			"SELECT ws.add_peer('node$p', 'host=127.0.0.1 port=" . $node{$p}->port . " dbname=postgres')");
	}
}
$node{3}->safe_psql('postgres', 'CREATE EXTENSION dblink');

# a module and a kind every node has
$node{1}->safe_psql('postgres', q{
	SELECT ws.register_module('rec', 1);
	SELECT ws.define_kind('tally', 'rec', 'merge', '{n}')});
for my $i (2, 3)
{
	ok($node{$i}->poll_query_until('postgres', "SELECT count(*) = 1 FROM ws.kinds WHERE kind = 'tally'"),
		"the kind reaches node $i");
}

# node 3 stops receiving from node 1; node 1 writes
$node{3}->safe_psql('postgres', 'ALTER SUBSCRIPTION ws_peer_node1 DISABLE');
ok($node{3}->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_subscription WHERE subname = 'ws_peer_node1' AND pid IS NOT NULL"),
	'node 3 no longer receives from node 1');
$node{1}->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.define_kind('doc', 'rec', 'lww');
	SELECT count(ws.create_entity('t' || i, 'tally', 'rec', jsonb_build_object('n', i)))
	FROM generate_series(1, 20) i;
	SELECT count(ws.transition('t' || i, '{"n": 1}')) FROM generate_series(1, 20) i, generate_series(1, 3);
	SELECT count(ws.create_entity('d' || i, 'doc', 'rec', jsonb_build_object('title', 'd' || i)))
	FROM generate_series(1, 5) i;
	SELECT ws.retire_entity('d5')});
# (the horizon events each node keeps publishing are left out of counts)
my $changes = "NOT (module = 'ws' AND event_type = 'horizon')";
my $written = $node{1}->safe_psql('postgres', "SELECT count(*) FROM ws.events WHERE origin_node = 1 AND $changes");
ok($node{2}->poll_query_until('postgres', "SELECT count(*) = $written FROM ws.events WHERE origin_node = 1 AND $changes"),
	'node 2 has every event of node 1');
is($node{3}->safe_psql('postgres', q{SELECT count(*) FROM ws.events WHERE module = 'rec' AND origin_node = 1
	AND entity_id IS NOT NULL}), '0', 'node 3 has none of node 1\'s entity events');

# node 2 changes an entity of node 1's: node 3 gets that event, not its
# creation, and holds it in ws.pending (it is not in ws.events before its
# causal past)
$node{2}->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.transition('t1', '{"n": 100}')});
my $node2_events = $node{2}->safe_psql('postgres', "SELECT count(*) FROM ws.events WHERE origin_node = 2 AND $changes");
ok($node{3}->poll_query_until('postgres', "SELECT count(*) = $node2_events FROM
	(SELECT event_id FROM ws.events WHERE origin_node = 2 AND $changes
	 UNION ALL SELECT event_id FROM ws.pending WHERE origin_node = 2) e"),
	'node 3 has every event of node 2, applied or held');
is($node{3}->safe_psql('postgres', q{SELECT reason || ' ' || ((held).event_id IS NOT NULL) FROM ws.pending
	WHERE entity_id = 't1'}), 'causal true', 'on node 3, node 2\'s change waits for the creation');

# node 1 is destroyed and removed from the mesh
$node{1}->stop('immediate');
for my $i (2, 3)
{
	my ($ret, $out, $err) = $node{$i}->psql('postgres', "SELECT ws.remove_peer('node1')");
	is($ret, 0, "node 1 is removed from node $i");
}

# node 2 archives some of them: archived events are fetched too
$node{2}->safe_psql('postgres', q{SET worldstate.handshake = '55-45-17';
	SET worldstate.keyframe_interval = 2;
	SELECT count(ws.transition('t2', '{"n": 1}')) FROM generate_series(1, 3)});
# archival stays at or below the stable past: until node 3's horizon,
# which moves with the events of t2 it receives, reaches them
$node{2}->poll_query_until('postgres',
	q{SELECT ws.stable_hlc() OPERATOR(ws.>=) (SELECT ws.max(hlc) FROM ws.events WHERE entity_id = 't2')})
  or die 'node 2: the stable past did not reach the events of t2: stable HLC, horizons of the peers: '
  . $node{2}->safe_psql('postgres', q{SELECT ws.stable_hlc() || ' ' || string_agg(name || '=' || coalesce(horizon::text, 'none'), ' ')
	FROM ws.nodes});
$node{2}->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SELECT ws.create_snapshot('before reconcile') IS NOT NULL;
	SELECT ws.archive_events((SELECT ws.max(hlc) FROM ws.events WHERE entity_id = 't2'))});
is($node{2}->safe_psql('postgres', q{SELECT count(*) FROM ws.events_archive WHERE entity_id = 't2' AND origin_node = 1}),
	'4', 'node 2 archived the four events of t2 that node 1 wrote');

# node 3 fetches from node 2 what it lacks
my $out = $node{3}->safe_psql('postgres', q{
	SELECT coalesce(entity_id, '-') || ' ' || change FROM ws.reconcile('node2') ORDER BY 1});
my @rows = split /\n/, $out;
is(scalar(grep { /^t\d+ fetched \d+ events?$/ } @rows), 20, 'each tally entity is reported with what was fetched');
ok((grep { /^t1 fetched 4 events$/ } @rows), 't1: its four events of node 1 (node 2\'s change was there)');
ok((grep { /^t2 fetched 4 events$/ } @rows), 't2: its four events of node 1, archived on node 2');
is(scalar(grep { /^d\d fetched \d events?$/ } @rows), 5, 'each doc entity is reported');
ok((grep { /^- fetched \d+ events? without an entity, of module 'ws'$/ } @rows),
	'the catalog event that defines the kind doc is fetched');
diag("ws.reconcile('node2') on node 3:\n$out");

my $ids = qq{SELECT md5(string_agg(event_id::text, ',' ORDER BY event_id)) FROM
	(SELECT event_id FROM ws.events WHERE $changes UNION ALL SELECT event_id FROM ws.events_archive WHERE $changes) e};
is($node{3}->safe_psql('postgres', $ids), $node{2}->safe_psql('postgres', $ids),
	'node 2 and node 3 hold the same events');
is($node{3}->safe_psql('postgres', 'SELECT ws.state_hash()'), $node{2}->safe_psql('postgres', 'SELECT ws.state_hash()'),
	'node 2 and node 3 hold the same world');
is($node{3}->safe_psql('postgres', q{SELECT state->>'n' FROM ws.entities WHERE entity_id = 't1'}),
	$node{2}->safe_psql('postgres', q{SELECT state->>'n' FROM ws.entities WHERE entity_id = 't1'}),
	't1 has the same state on both nodes');
is($node{3}->safe_psql('postgres', 'SELECT count(*) FROM ws.pending'), '0', 'nothing waits on node 3');
is($node{3}->safe_psql('postgres', q{SELECT retired FROM ws.entities WHERE entity_id = 'd5'}), 't',
	'the retirement arrived');
is($node{3}->safe_psql('postgres', q{SELECT count(*) FROM ws.verify()}), '0', 'ws.verify() finds nothing on node 3');

# a second call has nothing to fetch
is($node{3}->safe_psql('postgres', q{SELECT count(*) FROM ws.reconcile('node2')}), '0',
	'a second reconcile fetches nothing');
is($node{3}->safe_psql('postgres', 'SELECT dblink_get_connections()'), '', 'no dblink connection is left open');

# the links between node 2 and node 3 still work
$node{3}->safe_psql('postgres', q{SET worldstate.handshake = '55-45-17';
	SELECT ws.transition('t3', '{"n": 1}')});
ok($node{2}->poll_query_until('postgres', q{SELECT state->>'n' = '7' FROM ws.entities WHERE entity_id = 't3'}),
	'a later change on node 3 reaches node 2');
my @errors = ws_apply_errors($node{3});
is(scalar(@errors), 0, 'no apply worker error on node 3') or diag(join("\n", @errors));

done_testing();
