# A rejection reaches consumers at once: PostgreSQL 15 does not flush WAL
# when a transaction aborts, so worldstate flushes the rejection itself.
# With nothing written after the refused change, the line is decodable as
# soon as the error has returned, and a streaming consumer
# (pg_recvlogical) gets it within one second.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);
use WsTest;

# no background writes: no heartbeats, no snapshots
my $node = ws_node('rejection_arrives',
	"worldstate.snapshot_interval = 0\nworldstate.heartbeat_interval = 0\nautovacuum = off\n");
ws_trust_plugins($node);
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.register_module('ra', 1);
	SELECT ws.define_kind('ra_item', 'ra');
	SELECT version FROM ws.create_entity('ra1', 'ra_item', 'ra', '{"n": 0}');
	SELECT pg_create_logical_replication_slot('ra', 'worldstate');
});
my $rejected = q{SELECT count(*) FROM pg_logical_slot_peek_changes('ra', NULL, NULL, 'kinds', 'rejected')};

# a refused change, then nothing: the line is there when the error returns.
# A wrong handshake is refused before the transaction has an id, so no
# abort record follows the rejection (an abort record would have the WAL
# writer flush it within wal_writer_delay).
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT ws.transition('ra1', '{"n": 1}', handshake => '00-00-00')});
like($stderr, qr/invalid handshake/, 'the change is refused');
is($node->safe_psql('postgres', $rejected), '1',
	'the rejection is decodable with nothing written after it');

# the same inside a transaction that wrote an event and rolls back
$node->psql('postgres', q{
	BEGIN;
	SELECT version FROM ws.transition('ra1', '{"n": 2}', handshake => '55-45-17');
	SELECT ws.transition('ra1', '{"n": 3}', expected_version => 9, handshake => '55-45-17');
	ROLLBACK;
});
is($node->safe_psql('postgres', $rejected), '2',
	'a rejection inside a rolled-back transaction is decodable at once too');
$node->safe_psql('postgres', q{SELECT count(*) FROM pg_logical_slot_get_changes('ra', NULL, NULL)});

# a streaming consumer: the line arrives within one second
my $out = $node->basedir . '/recvlogical.out';
my $recv = IPC::Run::start(
	[ 'pg_recvlogical', '-d', $node->connstr('postgres'), '-S', 'ra', '--start',
	  '-o', 'kinds=rejected', '-f', $out, '-F', '1', '-s', '1', '--no-loop' ],
	'>', \my $recv_out, '2>', \my $recv_err);
ok($node->poll_query_until('postgres',
		q{SELECT active FROM pg_replication_slots WHERE slot_name = 'ra'}),
	'pg_recvlogical streams from the slot');
my $t0 = time();
$node->psql('postgres',
	q{SELECT ws.transition('ra1', '{"n": 4}', handshake => '11-11-11')});
my $t1 = time();
my $seen;
while (time() - $t1 < 30)
{
	if (-f $out && slurp_file($out) =~ /"kind":"rejected".*11-11-11/s)
	{
		$seen = time();
		last;
	}
	usleep(5_000);
}
ok(defined $seen, 'pg_recvlogical receives the rejection');
my $delay = defined $seen ? $seen - $t1 : 30;
diag(sprintf('rejection delay: %.3f s after the error returned (%.3f s after the call)',
		$delay, defined $seen ? $seen - $t0 : 30));
cmp_ok($delay, '<', 1, 'within one second, with nothing written afterwards');
like(slurp_file($out), qr/"module":"ra"/, 'the line names the module');
$recv->signal('INT');
eval { $recv->finish; };

$node->stop;
done_testing();
