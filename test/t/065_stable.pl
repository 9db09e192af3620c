# The stable past of three nodes (src/stable.c) and ws.peer_status.
#
# Every node publishes its safe horizon (worldstate.horizon_interval) and
# records its peers'; ws.stable_hlc() advances past every event and is at
# most every peer's horizon.  When node 1's link from node 3 is disabled,
# node 1's stable HLC stops below node 3's new events while node 3's
# events wait elsewhere; time travel above it says it is tentative, below
# it does not; archival past it is refused.  ws.peer_status shows the
# disabled link (not enabled, not running, WAL retained growing on node 3
# for it), events waiting for it and an open conflict between two nodes'
# events, a synchronous standby; after the link is enabled again, every
# node gives the same ws.state_hash at a common stable HLC, and the
# workers are still up.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsMesh;

my @nodes = ws_mesh('stable', 3, join('',
	"worldstate.horizon_interval = '100ms'\n",
	"wal_receiver_status_interval = '1s'\n"));
my %node = map { ($_ + 1) => $nodes[$_] } 0 .. $#nodes;
my ($n1, $n2, $n3) = @nodes;

sub q1
{
	my ($i, $sql) = @_;
	return $node{$i}->safe_psql('postgres', $sql);
}

for my $i (1 .. 3)
{
	for my $j (grep { $_ != $i } 1 .. 3)
	{
		q1($i, "SELECT ws.add_peer('n$j', 'host=127.0.0.1 port=" . $node{$j}->port . " dbname=postgres')");
	}
}

my $hs = "SET worldstate.handshake = '55-45-17';";
q1(1, qq{$hs
	SELECT ws.register_module('st', 1);
	SELECT ws.define_kind('st_doc', 'st', 'lww');
	SELECT ws.define_kind('st_form', 'st', 'manual')});
for my $i (2, 3)
{
	ok($node{$i}->poll_query_until('postgres', "SELECT count(*) = 2 FROM ws.kinds WHERE module = 'st'"),
		"node $i has the kinds of node 1");
}

# a snapshot before the events below: archival up to it is allowed later
q1(1, "SELECT ws.create_snapshot('early')");
my $snap_early = q1(1, "SELECT hlc FROM ws.snapshots WHERE label = 'early'");

# horizons: every node hears from every peer, and the stable HLC passes
# an event written on each node once every node has it
for my $i (1 .. 3)
{
	ok($node{$i}->poll_query_until('postgres', 'SELECT count(*) = 2 FROM ws.nodes WHERE horizon IS NOT NULL'),
		"node $i has a horizon from each peer");
}
my %written;
for my $i (1 .. 3)
{
	$written{$i} = q1($i, "$hs SELECT hlc FROM ws.create_entity('d$i', 'st_doc', 'st', '{\"v\": $i}')");
}
for my $i (1 .. 3)
{
	my $cond = join(' AND ', map { "ws.stable_hlc() OPERATOR(ws.>=) '$written{$_}'::ws.hlc" } 1 .. 3);
	ok($node{$i}->poll_query_until('postgres', "SELECT $cond"),
		"node $i: the stable HLC passes the events written on every node");
	is(q1($i, 'SELECT ws.stable_hlc() OPERATOR(ws.<=) ws.min(horizon) FROM ws.nodes'), 't',
		"node $i: the stable HLC is at most every peer's horizon");
}
is(q1(1, q{SELECT count(*) > 0 FROM ws.events WHERE module = 'ws' AND event_type = 'horizon'
           AND entity_id IS NULL AND origin_node = 2}), 't', "node 2's horizon events reach node 1");
is(q1(1, q{SELECT count(*) FROM ws.history('d2')}), '1', 'horizon events are not in an entity history');

# node 1 stops receiving from node 3
q1(1, 'ALTER SUBSCRIPTION ws_peer_n3 DISABLE');
ok($n1->poll_query_until('postgres', q{SELECT NOT running FROM ws.peer_status WHERE name = 'n3'}),
	"node 1's apply worker for node 3 stops");
my $h3 = q1(1, q{SELECT horizon FROM ws.nodes WHERE name = 'n3'});
my $retained = q1(3, q{SELECT wal_retained_bytes FROM ws.peer_status WHERE name = 'n1'});

# node 3 creates p; node 2, which has it, changes it: on node 1 the change
# waits for a creation that cannot arrive.  Node 3 and node 1 change form
# f concurrently: node 2 opens a conflict between their events.
q1(1, "$hs SELECT version FROM ws.create_entity('f', 'st_form', 'st', '{\"a\": 0}')");
ok($n3->poll_query_until('postgres', "SELECT count(*) = 1 FROM ws.entities WHERE entity_id = 'f'"),
	'node 3 has form f');
my $late3 = q1(3, qq{$hs
	SELECT hlc FROM ws.create_entity('p', 'st_doc', 'st', '{"v": 0}');
	SELECT hlc FROM ws.transition('f', '{"a": 3}')});
($late3) = (split /\n/, $late3)[0];
ok($n2->poll_query_until('postgres', "SELECT count(*) = 1 FROM ws.entities WHERE entity_id = 'p'"),
	'node 2 has p from node 3');
q1(2, "$hs SELECT version FROM ws.transition('p', '{\"v\": 2}')");
q1(1, "$hs SELECT version FROM ws.transition('f', '{\"a\": 1}')");
my $w1 = q1(1, "$hs SELECT hlc FROM ws.transition('d1', '{\"v\": 11}')");
ok($n1->poll_query_until('postgres', q{SELECT pending = 1 FROM ws.peer_status WHERE name = 'n2'}),
	"node 1: node 2's change of p waits, counted for node 2");
ok($n2->poll_query_until('postgres',
		q{SELECT bool_and(open_conflicts = 1) FROM ws.peer_status WHERE name IN ('n1', 'n3')}),
	"node 2: the open conflict of form f counts for node 1 and node 3");

# node 1's stable HLC stays at node 3's last horizon, below node 3's new
# events, while its own and node 2's horizons move on
ok($n1->poll_query_until('postgres',
		"SELECT horizon OPERATOR(ws.>=) '$w1'::ws.hlc FROM ws.nodes WHERE name = 'n2'"),
	"node 1 hears node 2's horizon past node 1's last event");
is(q1(1, "SELECT horizon OPERATOR(ws.=) '$h3'::ws.hlc FROM ws.nodes WHERE name = 'n3'"), 't',
	"node 1 keeps node 3's last horizon");
is(q1(1, "SELECT ws.stable_hlc() OPERATOR(ws.<=) '$h3'::ws.hlc AND ws.stable_hlc() OPERATOR(ws.<) '$late3'::ws.hlc"),
	't', "node 1's stable HLC stops at node 3's horizon, below node 3's new events");
ok($n2->poll_query_until('postgres', "SELECT ws.stable_hlc() OPERATOR(ws.>=) '$late3'::ws.hlc"),
	"node 2's stable HLC passes node 3's new events");

# tentative above the stable HLC, final at it
my ($ret, $out, $err) = $n1->psql('postgres', q{SELECT ws.get_state('d1', ws.hlc_now())});
like($err, qr/NOTICE:  the entity as of \S+ is tentative/, 'node 1: get_state above the stable HLC is tentative');
($ret, $out, $err) = $n1->psql('postgres', q{SELECT count(*) FROM ws.entities_at(ws.hlc_now())});
like($err, qr/NOTICE:  the world as of \S+ is tentative/, 'node 1: entities_at above it is tentative');
($ret, $out, $err) = $n1->psql('postgres',
	q{SELECT length(ws.state_hash(ws.hlc_now())), ws.get_state('d1', ws.hlc_now())});
is(scalar(() = $err =~ /tentative/g), 1, 'once per statement');
($ret, $out, $err) = $n1->psql('postgres',
	q{SELECT ws.get_state('d1', ws.stable_hlc()), length(ws.state_hash(ws.stable_hlc()))});
is($err, '', 'node 1: time travel at the stable HLC is not tentative');
($ret, $out, $err) = $n1->psql('postgres', q{SELECT ws.create_snapshot('late') > 0});
like($err, qr/NOTICE:  the snapshot as of \S+ is tentative/, 'node 1: a snapshot of the present is tentative');

# archival never passes the stable HLC
($ret, $out, $err) = $n1->psql('postgres',
	q{\set VERBOSITY verbose
	  SELECT ws.archive_events(hlc) FROM ws.snapshots WHERE label = 'late'});
like($err, qr/ERROR:  22023: cannot archive events before \S+, which lies above the stable HLC/,
	'node 1: archival up to the new snapshot is refused');
like(q1(1, "SELECT ws.archive_events('$snap_early'::ws.hlc)"), qr/^\d+$/,
	'node 1: archival up to a snapshot below the stable HLC goes ahead');

# ws.peer_status of the disabled link, and of running ones
is(q1(1, q{SELECT enabled, running, lag_seconds IS NULL FROM ws.peer_status WHERE name = 'n3'}),
	'f|f|t', 'node 1: the link from node 3 is disabled and not running');
is(q1(1, qq{SELECT enabled, running, lag_seconds >= 0, received_lsn IS NOT NULL,
                   last_applied_hlc OPERATOR(ws.=) (SELECT ws.max(hlc) FROM ws.events WHERE origin_node = 2),
                   max_clock_skew_us IS NOT NULL, synchronous, wal_retained_bytes >= 0, lag_bytes >= 0
            FROM ws.peer_status WHERE name = 'n2'}),
	't|t|t|t|t|t|f|t|t', 'node 1: the link from node 2 runs; its last event, skew, WAL kept for it');
q1(3, "$hs SELECT count(ws.transition('d3', jsonb_build_object('v', i))) FROM generate_series(1, 50) i");
ok($n3->poll_query_until('postgres',
		"SELECT wal_retained_bytes > $retained FROM ws.peer_status WHERE name = 'n1'"),
	'node 3 retains more and more WAL for node 1');

# a synchronous standby: node 1's subscription to node 2, whose WAL sender
# ws.add_peer named ws_node_1 (changing the subscription's connection here
# would restart it, and the standby would come and go under the checks)
ok($n2->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_replication WHERE application_name = 'ws_node_1'}),
	"node 2: node 1's WAL sender is named ws_node_1");
$n2->append_conf('postgresql.conf', "synchronous_standby_names = 'ws_node_1'\n");
$n2->reload;
ok($n2->poll_query_until('postgres', q{SELECT synchronous AND sync_state = 'sync' FROM ws.peer_status WHERE name = 'n1'}),
	'node 2: node 1 is its synchronous standby');
is(q1(2, q{SELECT count(*) FROM ws.peer_status WHERE synchronous}), '1', 'node 2: only node 1');
$n2->append_conf('postgresql.conf', "synchronous_standby_names = ''\n");
$n2->reload;

# a reader sees ws.peer_status, not the subscriptions' connection strings
q1(1, 'CREATE ROLE st_reader LOGIN IN ROLE ws_reader');
is($n1->safe_psql('postgres', 'SELECT count(*) FROM ws.peer_status', extra_params => ['-U', 'st_reader']),
	'2', 'a ws_reader reads ws.peer_status');
($ret, $out, $err) = $n1->psql('postgres', 'SELECT subconninfo FROM pg_subscription',
	extra_params => ['-U', 'st_reader']);
like($err, qr/permission denied/, 'but not the subscriptions');

# the link comes back: everything arrives, and every node gives the same
# state hash at a moment stable everywhere
q1(1, 'ALTER SUBSCRIPTION ws_peer_n3 ENABLE');
ok($n1->poll_query_until('postgres', q{SELECT running AND pending = 0 FROM ws.peer_status WHERE name = 'n2'}),
	"node 1: node 2's change of p is folded once node 3's creation arrives");
my $stable = q1(1, "SELECT ws.stable_hlc()");
ok($n1->poll_query_until('postgres', "SELECT ws.stable_hlc() OPERATOR(ws.>=) '$late3'::ws.hlc"),
	"node 1's stable HLC moves on past node 3's events");
$stable = q1(1, 'SELECT ws.stable_hlc()');
my %hash;
for my $i (1 .. 3)
{
	ok($node{$i}->poll_query_until('postgres', "SELECT ws.stable_hlc() OPERATOR(ws.>=) '$stable'::ws.hlc"),
		"node $i: the common moment is stable");
	($ret, $hash{$i}, $err) = $node{$i}->psql('postgres', "SELECT ws.state_hash('$stable'::ws.hlc)");
	is($err, '', "node $i: the state hash at it is final");
}
is($hash{2}, $hash{1}, 'node 2 has the state hash of node 1 at the stable HLC');
is($hash{3}, $hash{1}, 'node 3 has the state hash of node 1 at the stable HLC');

# an idle node writes no horizon event; the workers stayed up
for my $i (1 .. 3)
{
	ok($node{$i}->poll_query_until('postgres', 'SELECT ws._publish_horizon() IS NULL'),
		"node $i: no horizon event while the horizon does not advance");
	is(q1($i, q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'worldstate worker'}), '1',
		"node $i: the worker runs");
	unlike(slurp_file($node{$i}->logfile), qr/horizon failed/, "node $i: no horizon run failed");
}

done_testing();
