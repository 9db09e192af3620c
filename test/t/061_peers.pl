# The peers of a node (src/replication.c): ws.add_peer refuses, with a
# SQLSTATE and a hint and without writing anything on either node, every
# setup that cannot work -- a caller who is not a superuser, a peer that
# cannot be reached, a peer without worldstate or with another version,
# node ids unset or equal, wal_level, too few slots, WAL senders, apply
# workers or background workers (here and on the peer), a slot left on the
# peer; it links two nodes both ways with a hostile conninfo, after which
# an event written on one node arrives as a row of ws.events on the other
# and the row filter keeps each node's events from coming back to it; and
# ws.remove_peer leaves no subscription, no ws.nodes row and no slot on
# the peer, or a WARNING naming the slot when the peer is down.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsMesh;

my ($n1, $n2, $n3) = ws_mesh('peers', 3);

# the conninfo of a node over TCP, as a peer reaches it
sub conn
{
	my ($node, $db) = @_;
	return 'host=127.0.0.1 port=' . $node->port . ' dbname=' . ($db // 'postgres');
}

# the psql output (errors, warnings) of $sql on $node, with SQLSTATEs
sub output_of
{
	my ($node, $sql, @extra) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql", @extra);
	return $err;
}

# $sql fails with SQLSTATE $code, a message matching $re and a hint
sub fails_with
{
	my ($node, $sql, $code, $re, $name, @extra) = @_;
	my $err = output_of($node, $sql, @extra);
	like($err, qr/ERROR:  $code: $re/, $name);
	like($err, qr/\nHINT:  \S/, "$name: with a hint");
	return $err;
}

sub add_peer_sql
{
	my ($name, $conninfo) = @_;
	return "SELECT ws.add_peer('$name', \$c\$$conninfo\$c\$)";
}

# nothing of a link on $node: no ws.nodes row, subscription, publication
# or slot of worldstate's
sub nothing_written
{
	my ($node, $name) = @_;
	is($node->safe_psql('postgres', q{
		SELECT (SELECT count(*) FROM ws.nodes) + (SELECT count(*) FROM pg_subscription)
		     + (SELECT count(*) FROM pg_publication) + (SELECT count(*) FROM pg_replication_slots)}),
		'0', $name);
}

# write entity e$id on $writer (module m$id, kind k$id); its creation
# event arrives in ws.events on $reader
sub event_arrives
{
	my ($writer, $id, $reader, $name) = @_;
	$writer->safe_psql('postgres', qq{
		SET worldstate.handshake = '55-45-17';
		SELECT ws.register_module('m$id', 1);
		SELECT ws.define_kind('k$id', 'm$id');
		SELECT ws.create_entity('e$id', 'k$id', 'm$id', '{"a": $id}')});
	ok($reader->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM ws.events WHERE entity_id = 'e$id' AND origin_node = $id"),
		$name);
}

sub reconfigure
{
	my ($node, $conf) = @_;
	$node->append_conf('postgresql.conf', $conf);
	$node->restart;
}

# --- who may call it ---
$n1->safe_psql('postgres', 'CREATE ROLE mallory LOGIN IN ROLE ws_admin');
$n1->safe_psql('postgres', 'GRANT EXECUTE ON FUNCTION ws.add_peer(text, text) TO mallory');
fails_with($n1, add_peer_sql('n2', conn($n2)), '42501', 'only superusers may call ws.add_peer',
	'a ws_admin that is no superuser may not add a peer', extra_params => [ '-U', 'mallory' ]);

# --- a peer that cannot be reached: libpq's message, never the password ---
my $free = PostgreSQL::Test::Cluster::get_free_port();
my $err = fails_with($n1,
	add_peer_sql('nx', "host=127.0.0.1 port=$free dbname=postgres password=s3cret-pw connect_timeout=5"),
	'08001', 'could not connect to peer "nx"', 'an unreachable peer is refused');
like($err, qr/DETAIL:  .*(refused|connect)/, 'the detail is libpq\'s message');
unlike($err, qr/s3cret-pw/, 'the password appears nowhere in the error');

# --- the peer's database has no worldstate, or another version ---
$n2->safe_psql('postgres', 'CREATE DATABASE plain');
$n2->safe_psql('postgres', 'CREATE DATABASE old');
$n2->safe_psql('old', "CREATE EXTENSION worldstate VERSION '1.0'");
fails_with($n1, add_peer_sql('n2', conn($n2, 'plain')), '55000',
	'worldstate is not installed in the database of peer "n2"', 'a peer without worldstate is refused');
fails_with($n1, add_peer_sql('n2', conn($n2, 'old')), '55000',
	'peer "n2" has worldstate 1.0, this node 1.1', 'a peer with another version is refused');

# --- node ids and wal_level, here and on the peer (node 3 reconfigured) ---
reconfigure($n3, "worldstate.node_id = 0\n");
fails_with($n1, add_peer_sql('n3', conn($n3)), '55000',
	'worldstate.node_id is not set on peer "n3"', 'a peer without a node id is refused');
fails_with($n3, add_peer_sql('n1', conn($n1)), '55000',
	'worldstate.node_id is not set on this node', 'a node without a node id may not add peers');
reconfigure($n3, "worldstate.node_id = 1\n");
fails_with($n1, add_peer_sql('n3', conn($n3)), '55000',
	'peer "n3" has the node id of this node, 1', 'a peer with the same node id is refused');
fails_with($n1, add_peer_sql('me', conn($n1)), '55000',
	'peer "me" has the node id of this node, 1', 'a conninfo that reaches this node itself is refused');
reconfigure($n3, "worldstate.node_id = 3\nwal_level = replica\n");
fails_with($n1, add_peer_sql('n3', conn($n3)), '55000',
	'wal_level is replica on peer "n3", not logical', 'a peer without wal_level = logical is refused');
fails_with($n3, add_peer_sql('n1', conn($n1)), '55000',
	'wal_level is not logical on this node', 'a node without wal_level = logical may not add peers');

# --- the settings a node with one peer needs, here and on the peer ---
my @settings = (
	[ 'max_replication_slots', 0, 1 ],
	[ 'max_wal_senders', 0, 1 ],
	[ 'max_logical_replication_workers', 0, 1 ],
	[ 'max_worker_processes', 2, 3 ]);
my $normal = "wal_level = logical\n";
for my $s (@settings)
{
	my ($setting, $small, $need) = @$s;
	reconfigure($n3, "$normal$setting = $small\n");
	$normal = '';
	my $e = fails_with($n3, add_peer_sql('n1', conn($n1)), '55000',
		"$setting is $small on this node, too small for 1 peer",
		"$setting too small here is refused");
	like($e, qr/HINT:  Set $setting to at least $need in this node's postgresql.conf/,
		"$setting: the hint gives the number needed");
	$e = fails_with($n1, add_peer_sql('n3', conn($n3)), '55000',
		"$setting is $small on peer \"n3\", too small for its 1 peer",
		"$setting too small on the peer is refused");
	like($e, qr/HINT:  Set $setting to at least $need in the peer's postgresql.conf/,
		"$setting on the peer: the hint gives the number needed");
	# back to the mesh's value
	my $conf = join('', grep { /^$setting = / } split(/^/, slurp_file($n1->data_dir . '/postgresql.conf')));
	$n3->append_conf('postgresql.conf', $conf);
}

# --- every slot of the peer in use; a slot left from an earlier link ---
reconfigure($n3, "max_replication_slots = 1\n");
$n3->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('other', 'pgoutput')");
fails_with($n1, add_peer_sql('n3', conn($n3)), '55000',
	'all 1 replication slots of peer "n3" are in use', 'a peer without a free slot is refused');
$n3->safe_psql('postgres', "SELECT pg_drop_replication_slot('other')");
reconfigure($n3, "max_replication_slots = 10\n");
$n3->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('ws_node_3_to_1', 'pgoutput')");
$err = fails_with($n1, add_peer_sql('n3', conn($n3)), '42710',
	'replication slot "ws_node_3_to_1" already exists on peer "n3"', 'a slot left on the peer is reported');
like($err, qr/HINT:  Drop it on the peer with SELECT pg_drop_replication_slot\('ws_node_3_to_1'\)/,
	'the hint says how to drop it');
$n3->safe_psql('postgres', "SELECT pg_drop_replication_slot('ws_node_3_to_1')");

nothing_written($n1, 'node 1 holds nothing of the refused links');
nothing_written($n3, 'node 3 holds nothing of the refused links');
is($n2->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'node 2 holds no slot of the refused links');

# --- linking nodes 1 and 2 both ways; the conninfo is hostile text ---
my $hostile = conn($n2) . q{ password='p\\'w); DROP TABLE ws.events; --'};
is($n1->safe_psql('postgres',
		'SELECT node_id, name, subscription, slot FROM ' . substr(add_peer_sql('n2', $hostile), 7)),
	'2|n2|ws_peer_n2|ws_node_2_to_1', 'node 1 adds node 2: the ws.nodes row');
is($n2->safe_psql('postgres', 'SELECT node_id FROM ' . substr(add_peer_sql('n1', conn($n1)), 7)), '1',
	'node 2 adds node 1');
my $stored = $n1->safe_psql('postgres', "SELECT conninfo FROM ws.nodes WHERE name = 'n2'");
unlike($stored, qr/password|p\\?'w/, 'ws.nodes keeps the conninfo without its password');
like($stored, qr/port='${\ $n2->port}'/, 'ws.nodes keeps the rest of the conninfo');
is($n1->safe_psql('postgres', q{SELECT subpublications::text || ' ' || subslotname
		FROM pg_subscription WHERE subname = 'ws_peer_n2'}),
	'{ws_node_2} ws_node_2_to_1', 'node 1 subscribes to ws_node_2 through slot ws_node_2_to_1');
is($n2->safe_psql('postgres', q{SELECT plugin FROM pg_replication_slots WHERE slot_name = 'ws_node_2_to_1'}),
	'pgoutput', 'the slot is on node 2');
for my $n ([ $n1, 1 ], [ $n2, 2 ])
{
	my ($node, $id) = @$n;
	is($node->safe_psql('postgres', q{
			SELECT p.pubname || ' ' || p.pubinsert || p.pubupdate || p.pubdelete || p.pubtruncate
			       || ' ' || pg_get_expr(r.prqual, r.prrelid)
			FROM pg_publication p JOIN pg_publication_rel r ON r.prpubid = p.oid
			WHERE r.prrelid = 'ws.events'::regclass}),
		"ws_node_$id truefalsefalsefalse (origin_node = $id)", "node $id publishes only inserts of its own events");
}
fails_with($n1, add_peer_sql('n2', conn($n3)), '42710', 'peer "n2" already exists',
	'a name in use is refused');
fails_with($n1, add_peer_sql('again', conn($n2)), '42710', 'node 2 is a peer already, named "n2"',
	'a node that is a peer already is refused');

# --- an event written on node 1 arrives on node 2, and the other way ---
event_arrives($n1, 1, $n2, 'an event written on node 1 arrives in ws.events on node 2');
event_arrives($n2, 2, $n1, 'an event written on node 2 arrives in ws.events on node 1');
# both links caught up: a node's own events never came back to it (their
# event id would have stopped the apply worker with a unique violation)
# (the WAL sender feeding a node's subscription is named ws_node_<its id>)
$n2->wait_for_catchup('ws_node_1');
$n1->wait_for_catchup('ws_node_2');
for my $n ([ $n1, 'ws_peer_n2', 1 ], [ $n2, 'ws_peer_n1', 2 ])
{
	my ($node, $sub, $id) = @$n;
	is($node->safe_psql('postgres', qq{
			SELECT count(*) FILTER (WHERE origin_node = $id) || ' ' || count(*) FILTER (WHERE origin_node <> $id)
			       || ' ' || (SELECT apply_error_count FROM pg_stat_subscription_stats WHERE subname = '$sub')
			FROM ws.events WHERE entity_id IS NOT NULL}),
		'1 1 0', "node $id: its own event once, the peer's once, no apply error");
}
is($n1->safe_psql('postgres', q{SELECT name || ' ' || enabled || ' ' || (pid IS NOT NULL) FROM ws.peer_links}),
	'n2 true true', 'ws.peer_links shows the link enabled with its apply worker running');

# --- removing a peer leaves nothing on either node ---
$n1->safe_psql('postgres', "SELECT ws.remove_peer('n2')");
is($n1->safe_psql('postgres', q{SELECT (SELECT count(*) FROM ws.nodes) || ' ' || (SELECT count(*) FROM pg_subscription)}),
	'0 0', 'node 1 has no ws.nodes row and no subscription left');
is($n2->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'ws_node_2_to_1'}),
	'0', 'the slot on node 2 is gone');
is($n1->safe_psql('postgres', q{SELECT count(*) FROM pg_publication WHERE pubname = 'ws_node_1'}),
	'1', 'node 1 keeps its publication (node 2 still subscribes to it)');
fails_with($n1, "SELECT ws.remove_peer('n2')", '42704', 'peer "n2" does not exist',
	'removing it again: no such peer');

# linking again works: nothing of the first link is in the way; an
# application_name in the conninfo gives way to ws_node_<this node's id>,
# the name of the WAL sender on the peer (what synchronous_standby_names
# lists)
is($n1->safe_psql('postgres', 'SELECT node_id FROM '
	  . substr(add_peer_sql('n2', conn($n2) . ' application_name=chosen_by_dba'), 7)), '2',
	'node 1 adds node 2 again');
like($n1->safe_psql('postgres', "SELECT conninfo FROM ws.nodes WHERE name = 'n2'"),
	qr/application_name='ws_node_1'$/, 'ws.nodes keeps the conninfo with application_name ws_node_1');
unlike($n1->safe_psql('postgres', "SELECT subconninfo FROM pg_subscription WHERE subname = 'ws_peer_n2'"),
	qr/chosen_by_dba/, 'the subscription\'s conninfo has no other application_name');
ok($n2->poll_query_until('postgres', q{
		SELECT r.application_name FROM pg_stat_replication r
		JOIN pg_replication_slots s ON s.active_pid = r.pid
		WHERE s.slot_name = 'ws_node_2_to_1'}, 'ws_node_1'),
	'on node 2, the WAL sender of slot ws_node_2_to_1 is named ws_node_1');
$n1->safe_psql('postgres', "SELECT ws.remove_peer('n2')");

# --- the statement fails after ws.add_peer returned: the slot goes too ---
like(output_of($n1, 'SELECT (' . substr(add_peer_sql('n2', conn($n2)), 7) . ').node_id / 0'),
	qr/ERROR:  22012: division by zero/, 'a statement fails after ws.add_peer returned');
is($n2->safe_psql('postgres', q{
		SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'ws_node_2_to_1'}),
	'0', 'the slot made on node 2 is dropped with the rollback');
is($n1->safe_psql('postgres', q{SELECT (SELECT count(*) FROM ws.nodes) || ' ' || (SELECT count(*) FROM pg_subscription)}),
	'0 0', 'and node 1 has no ws.nodes row and no subscription');

# --- interrupted while the peer creates the slot: nothing is left ---
# Creating a logical slot waits for the peer's open transactions; node 1's
# backend is cancelled meanwhile, and cancels the creation on node 2.
my $open = $n2->background_psql('postgres');
$open->query_safe('BEGIN');
$open->query_safe('SELECT pg_current_xact_id()');
my $adder = $n1->background_psql('postgres', on_error_stop => 0);
$adder->query_until(qr/adding/, "\\echo adding\n" . add_peer_sql('n2', conn($n2)) . ";\n");
ok($n2->poll_query_until('postgres', q{
		SELECT EXISTS (SELECT FROM pg_stat_activity
		               WHERE query LIKE '%pg_create_logical_replication_slot%' AND wait_event_type = 'Lock')}),
	'node 2 is creating the slot, waiting for its open transaction');
$n1->safe_psql('postgres', q{
	SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT ws.add_peer(%'});
ok($n1->poll_query_until('postgres', q{
		SELECT NOT EXISTS (SELECT FROM pg_stat_activity
		                   WHERE query LIKE 'SELECT ws.add_peer(%' AND state = 'active')}),
	'the call on node 1 ends');
# the transaction the creation waited for ends: a creation still running
# on node 2 would make the slot now
$open->query_safe('COMMIT');
$open->quit;
ok($n2->poll_query_until('postgres', q{
		SELECT NOT EXISTS (SELECT FROM pg_stat_activity
		                   WHERE query LIKE '%pg_create_logical_replication_slot%'
		                     AND state = 'active' AND pid <> pg_backend_pid())}),
	'nothing creates a slot on node 2 any more');
is($n2->safe_psql('postgres', q{
		SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'ws_node_2_to_1'}),
	'0', 'no slot is left on node 2');
is($n1->safe_psql('postgres', q{SELECT (SELECT count(*) FROM ws.nodes) || ' ' || (SELECT count(*) FROM pg_subscription)}),
	'0 0', 'no ws.nodes row and no subscription on node 1');
$adder->quit;

# --- the peer reached as a role with REPLICATION, not a superuser ---
$n3->safe_psql('postgres', 'CREATE ROLE replicator LOGIN REPLICATION; CREATE ROLE plain LOGIN');
$err = fails_with($n1, add_peer_sql('n3', conn($n3) . ' user=plain'), '42501',
	'a statement failed on peer "n3"', 'a peer role without REPLICATION is refused');
like($err, qr/DETAIL:  The peer said: only superusers and replication roles may call ws._ensure_publication/,
	'the detail gives the peer\'s reason');
nothing_written($n3, 'node 3 holds nothing of the refused link');
is($n1->safe_psql('postgres', 'SELECT node_id FROM ' . substr(add_peer_sql('n3', conn($n3) . ' user=replicator'), 7)), '3',
	'node 1 adds node 3 reached as a replication role');
event_arrives($n3, 3, $n1, 'an event written on node 3 arrives on node 1 over that link');
$n1->safe_psql('postgres', "SELECT ws.remove_peer('n3')");
is($n3->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'removing it drops the slot on node 3 as the replication role');

# --- a peer that is down: a WARNING says which slot to drop there ---
$n1->stop;
$err = output_of($n2, "SELECT ws.remove_peer('n1')");
like($err, qr/WARNING:  01000: could not drop replication slot "ws_node_1_to_2" on peer "n1"/,
	'removing a peer that is down warns');
like($err, qr/HINT:  Drop it on the peer with SELECT pg_drop_replication_slot\('ws_node_1_to_2'\)/,
	'the warning says how to drop the slot');
unlike($err, qr/ERROR/, 'and is no error');
is($n2->safe_psql('postgres', q{SELECT (SELECT count(*) FROM ws.nodes) || ' ' || (SELECT count(*) FROM pg_subscription)}),
	'0 0', 'node 2 has no ws.nodes row and no subscription left');
$n1->start;
is($n1->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'ws_node_1_to_2'}),
	'1', 'the slot the warning named is on node 1');
$n1->safe_psql('postgres', "SELECT pg_drop_replication_slot('ws_node_1_to_2')");

done_testing();
