# The apply path cannot fail (src/converge.c), through real replication:
# a malformed row, an event of a kind the peer does not have, and an event
# that breaks a constraint only the peer has are kept and recorded there,
# and the apply worker goes on with the events behind them.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsMesh;

my ($n1, $n2) = ws_mesh('flow', 2);
my %node = (1 => $n1, 2 => $n2);
for my $i (1, 2)
{
	my $peer = 3 - $i;
	$node{$i}->safe_psql('postgres',
		"SELECT ws.add_peer('n$peer', 'host=127.0.0.1 port=" . $node{$peer}->port . " dbname=postgres')");
}

# definitions made on node 1 reach node 2
$n1->safe_psql('postgres', q{
	SELECT ws.register_module('flow', 1);
	SELECT ws.define_kind('tally', 'flow', 'merge', '{n}');
	SELECT ws.define_kind('ghost', 'flow', 'lww')});
ok($n2->poll_query_until('postgres', "SELECT count(*) = 2 FROM ws.kinds WHERE module = 'flow'"),
	'kinds defined on node 1 reach node 2');
my $worker = $n2->safe_psql('postgres', 'SELECT pid FROM pg_stat_subscription WHERE subname = \'ws_peer_n1\'');

# node 2 loses a kind and gains a constraint, without telling node 1
$n2->safe_psql('postgres', q{
	DELETE FROM ws.kinds WHERE kind = 'ghost';
	INSERT INTO ws.constraints (kind, name, predicate) VALUES ('tally', 'small', '$.n < 5')});

# node 1: an entity, a row forged by hand with a patch that is no object,
# an entity of the kind node 2 lost, an increment past node 2's
# constraint, and a last ordinary change
$n1->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.create_entity('t', 'tally', 'flow', '{"n": 0}');
	INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind, event_type,
	                       patch, handshake, vclock)
	VALUES (gen_random_uuid(), 't', 99, ws.hlc_now(), 1, 'flow', 'tally', 'update', '[1]', '55-45-17',
	        '{1:2}');
	SELECT ws.create_entity('g', 'ghost', 'flow', '{"a": 1}');
	SELECT ws.transition('t', '{"n": 10}');
	SELECT ws.create_entity('last', 'tally', 'flow', '{"n": 1}')});
ok($n2->poll_query_until('postgres', "SELECT count(*) = 1 FROM ws.entities WHERE entity_id = 'last'"),
	'the events behind the failures arrive and are folded');
is($n2->safe_psql('postgres', 'SELECT pid FROM pg_stat_subscription WHERE subname = \'ws_peer_n1\''),
	$worker, 'the same apply worker went on: nothing stopped it');
is($n2->safe_psql('postgres', q{SELECT type FROM ws.conflicts WHERE entity_id = 't' ORDER BY type}),
	'malformed_event', 'the malformed row is kept and recorded as a conflict');
is($n2->safe_psql('postgres', q{SELECT state->>'n' FROM ws.entities WHERE entity_id = 't'}),
	'10', 'the increment that breaks a constraint of node 2 only is applied, as on node 1');
is($n2->safe_psql('postgres', q{SELECT reason FROM ws.pending p JOIN ws.events e USING (event_id)
	WHERE e.entity_id = 'g'}),
	'kind_missing', 'the event of the kind node 2 lost waits in ws.pending');
is($n2->safe_psql('postgres', q{SELECT count(*) FROM ws.events WHERE entity_id IN ('t', 'g', 'last')}),
	$n1->safe_psql('postgres', q{SELECT count(*) FROM ws.events WHERE entity_id IN ('t', 'g', 'last')}),
	'every event is in both logs');

# the kind comes back: the waiting event is folded
$n2->safe_psql('postgres', q{
	INSERT INTO ws.kinds (kind, module, policy) VALUES ('ghost', 'flow', 'lww');
	SELECT ws.retry_pending()});
is($n2->safe_psql('postgres', q{SELECT state FROM ws.entities WHERE entity_id = 'g'}),
	'{"a": 1}', 'once the kind is back, ws.retry_pending folds the waiting event');
my @errors = ws_apply_errors($n2);
is(scalar(@errors), 0, 'no apply worker error in the log of node 2') or diag(join("\n", @errors));

done_testing();
