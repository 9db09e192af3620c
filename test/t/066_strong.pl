# Strong changes on three nodes in a full mesh (src/transition.c,
# src/replication.c): a strong change of an entity is refused (WS421, with
# a hint naming the home node) on every node but the one that created it,
# where it is accepted; synchronous_standby_names set on node 1 from
# ws.synchronous_standby_names() makes a strong change there return only
# once the synchronous peers applied it, so a read on such a peer right
# after sees it, and it does not return while that peer cannot apply it (a
# session there holds the entity's row); with a synchronous peer stopped, a strong change waits
# (wait event SyncRep), a cancel ends the wait with a WARNING and leaves it
# committed on node 1, fewer synchronous peers let the next one through,
# and the stopped peer gets both once it runs again.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsMesh;

my @nodes = ws_mesh('strong', 3, "max_connections = 30\nshared_buffers = '16MB'\n");
my %node = map { ($_ + 1) => $nodes[$_] } 0 .. $#nodes;
my ($n1, $n2, $n3) = @nodes;
my $hs = "handshake => '55-45-17'";

# the full mesh: each node links the two others, named node<id>
for my $i (1 .. 3)
{
	for my $j (grep { $_ != $i } 1 .. 3)
	{
		$node{$i}->safe_psql('postgres',
			"SELECT ws.add_peer('node$j', 'host=127.0.0.1 port=" . $node{$j}->port . " dbname=postgres')");
	}
}

# the version of entity $id on $n, empty when it is not there
sub version_on
{
	my ($n, $id) = @_;
	return $n->safe_psql('postgres', "SELECT version FROM ws.entities WHERE entity_id = '$id'");
}

# wait until entity $id is at version $v on every node
sub everywhere
{
	my ($id, $v, $name) = @_;
	for my $i (1 .. 3)
	{
		ok($node{$i}->poll_query_until('postgres',
				"SELECT version = $v FROM ws.entities WHERE entity_id = '$id'"),
			"$name: version $v of $id on node $i");
	}
	return;
}

# the psql stderr of $sql on $n, errors with their SQLSTATE
sub errors_of
{
	my ($n, $sql) = @_;
	my ($ret, $out, $err) = $n->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	return $err;
}

sub strong
{
	my ($id, $patch) = @_;
	return "SELECT version FROM ws.transition('$id', '$patch', $hs, consistency => 'strong')";
}

# definitions travel as events: the module and kind made on node 1 only
$n1->safe_psql('postgres', q{
	SELECT ws.register_module('st', 1);
	SELECT ws.define_kind('st_doc', 'st', 'lww')});
$n1->safe_psql('postgres', "SELECT ws.create_entity('d1', 'st_doc', 'st', '{\"n\": 0}', $hs)");
everywhere('d1', 1, 'created on node 1');
$n2->safe_psql('postgres', "SELECT ws.create_entity('d2', 'st_doc', 'st', '{\"n\": 0}', $hs)");
everywhere('d2', 1, 'created on node 2');

# --- the home rule ---
for my $i (2, 3)
{
	my $err = errors_of($node{$i}, strong('d1', '{"n": 1}'));
	like($err, qr/ERROR:  WS421: strong change of entity "d1" refused on node $i: its home is node 1/,
		"node $i refuses a strong change of d1, made on node 1");
	like($err, qr/DETAIL:  Entity "d1" was created on node 1, the only node that accepts its strong changes\./,
		"node $i: the detail says where d1 was created");
	like($err, qr/HINT:  Send strong changes of this entity to node 1 \("node1"\)\./,
		"node $i: the hint names the home node by its peer name");
}
like(errors_of($n1, strong('d2', '{"n": 1}')),
	qr/ERROR:  WS421: .*\n(.*\n)*HINT:  Send strong changes of this entity to node 2 \("node2"\)\./,
	'node 1 refuses a strong change of d2, made on node 2, naming node2');
is(version_on($n2, 'd1'), '1', 'the refused change wrote nothing');
is($n2->safe_psql('postgres', "SELECT value FROM ws.stats() WHERE name = 'rejected_not_home'"), '1',
	'node 2 counts the refusal');
# other levels are not bound to the home
is($n2->safe_psql('postgres',
		"SELECT version FROM ws.transition('d1', '{\"n\": 1}', $hs, consistency => 'eventual')"),
	'2', 'node 2 takes an eventual change of d1');
is($n2->safe_psql('postgres', strong('d2', '{"n": 1}')), '2', 'node 2 takes a strong change of d2');
everywhere('d1', 2, 'the eventual change');
everywhere('d2', 2, 'the strong change at home');

# --- synchronous peers ---
is($n1->safe_psql('postgres', 'SELECT ws.synchronous_standby_names(1)'), 'FIRST 1 (ws_node_2, ws_node_3)',
	'one synchronous peer of node 1: the first of ws_node_2 and ws_node_3');
is($n1->safe_psql('postgres', 'SELECT ws.synchronous_standby_names()'), 'FIRST 2 (ws_node_2, ws_node_3)',
	'all of them by default');

# set synchronous_standby_names on node 1 as the DBA does; other changes
# keep waiting only for the local flush
sub sync_peers
{
	my ($n) = @_;
	$n1->safe_psql('postgres', "ALTER SYSTEM SET synchronous_standby_names = '"
		  . $n1->safe_psql('postgres', "SELECT ws.synchronous_standby_names($n)") . "'");
	$n1->safe_psql('postgres', 'SELECT pg_reload_conf()');
	return;
}
# the sync_state of node 1's WAL senders to its peers becomes $states
sub senders_are
{
	my ($states, $name) = @_;
	ok($n1->poll_query_until('postgres', q{
			SELECT string_agg(application_name || ' ' || sync_state, ', ' ORDER BY application_name)
			FROM pg_stat_replication WHERE application_name LIKE 'ws_node_%'}, $states),
		$name);
	return;
}

# node 1's backends that wait (SyncRep) in a strong change
my $waiting = q{FROM pg_stat_activity
	WHERE query LIKE '%consistency => ''strong''%' AND wait_event = 'SyncRep'
	  AND pid <> pg_backend_pid()};

# start a strong change of d1 on node 1 in a session of its own, which
# comes to wait; returns the session
sub strong_waits
{
	my ($patch, $name) = @_;
	my $session = $n1->background_psql('postgres', on_error_stop => 0);
	$session->query_until(qr/sending/, "\\echo sending\n" . strong('d1', $patch) . ";\n");
	ok($n1->poll_query_until('postgres', "SELECT EXISTS (SELECT $waiting)"), $name);
	return $session;
}

$n1->safe_psql('postgres', "ALTER SYSTEM SET synchronous_commit = 'local'");
sync_peers(1);
senders_are('ws_node_2 sync, ws_node_3 potential',
	'node 1: the WAL sender of node 2 is synchronous, that of node 3 a candidate');
is($n1->safe_psql('postgres', 'BEGIN; ' . strong('d1', '{"n": 2}') . '; SHOW synchronous_commit; ROLLBACK'),
	"3\nremote_apply", 'a strong change on a node with peers commits with remote_apply');

# a strong change returns once node 2 applied it: read there at once
my $v = 2;
my $seen = 0;
for my $k (1 .. 10)
{
	$v = $n1->safe_psql('postgres', strong('d1', qq({"n": $k})));
	$seen++ if version_on($n2, 'd1') eq $v;
}
is($seen, 10, 'each of 10 strong changes on node 1 is on node 2 when it returns');

# while node 2 cannot apply it (a session there holds d1's row), a strong
# change on node 1 does not return; once node 2 applied it, it does
my $hold = $n2->background_psql('postgres');
$hold->query_safe("BEGIN; SELECT 1 FROM ws.entities WHERE entity_id = 'd1' FOR UPDATE");
my $writer = strong_waits('{"n": 11}', 'a strong change waits (SyncRep) while node 2 cannot apply it');
is(version_on($n2, 'd1'), $v, 'node 2 does not have it yet');
$hold->query_safe('ROLLBACK');
my ($row) = $writer->query('SELECT 0');
$v = $v + 1;
like($row, qr/^$v$/m, 'once node 2 applied it, the strong change returns');
is(version_on($n2, 'd1'), $v, 'and node 2 has it');
$writer->quit;
$hold->quit;

# all peers synchronous: node 3 too
sync_peers(undef);
senders_are('ws_node_2 sync, ws_node_3 sync', 'node 1: both WAL senders are synchronous');
$v = $n1->safe_psql('postgres', strong('d1', '{"n": 20}'));
is(version_on($n2, 'd1') . ' ' . version_on($n3, 'd1'), "$v $v",
	'a strong change is on nodes 2 and 3 when it returns');

# --- a synchronous peer stopped: the strong change waits ---
$n2->stop;
my $bg = strong_waits('{"n": 21}', 'with node 2 stopped, the strong change waits for it (SyncRep)');
is(version_on($n1, 'd1'), $v, 'meanwhile node 1 shows the version before it');
$n1->safe_psql('postgres', "SELECT pg_cancel_backend(pid) $waiting");
my ($out) = $bg->query('SELECT 1');
like($bg->{stderr}, qr/WARNING:  canceling wait for synchronous replication/,
	'the cancel ends the wait with a WARNING');
like($out, qr/^${\ ($v + 1)}$/m, 'and the change returns its row');
is(version_on($n1, 'd1'), $v + 1, 'it is committed on node 1');
$bg->quit;

# fewer synchronous peers: node 3 alone is enough now
sync_peers(1);
senders_are('ws_node_3 sync', 'node 1: with one synchronous peer, node 3 is it');
$v = $n1->safe_psql('postgres', strong('d1', '{"n": 22}'));
is(version_on($n3, 'd1'), $v,
	'with one synchronous peer, a strong change returns while node 2 is down, and is on node 3');

# node 2 back: it gets both
$n2->start;
ok($n2->poll_query_until('postgres', "SELECT version = $v FROM ws.entities WHERE entity_id = 'd1'"),
	'node 2, started again, gets the cancelled change and the next');
is($n2->safe_psql('postgres', "SELECT state->>'n' FROM ws.entities WHERE entity_id = 'd1'"), '22',
	'node 2 holds the latest state of d1');
is($n1->safe_psql('postgres', 'SELECT ws.state_hash()'), $n2->safe_psql('postgres', 'SELECT ws.state_hash()'),
	'nodes 1 and 2 hold the same world');

done_testing();
