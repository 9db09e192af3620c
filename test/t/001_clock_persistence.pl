# ws.hlc_now() stays strictly above every value issued or received before a
# clean restart and before a crash (kill -9 of the postmaster), even when
# the system clock has gone one hour backwards.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('clock', "worldstate.node_id = 3\n");

# the highest value issued so far: issue a burst and take the maximum
sub burst_max
{
	return $node->safe_psql('postgres',
		'SELECT ws.max(h) FROM (SELECT ws.hlc_now() AS h FROM generate_series(1, 5000)) s');
}

sub above
{
	my ($a, $b) = @_;
	return $node->safe_psql('postgres', "SELECT '$a'::ws.hlc OPERATOR(ws.>) '$b'::ws.hlc") eq 't';
}

my $before = burst_max();
like($before, qr/\@3$/, 'values carry worldstate.node_id');
ok(-f $node->data_dir . '/worldstate.clock', 'the clock persists its high-water mark in the data directory');

# clean restart
$node->restart;
my $after = $node->safe_psql('postgres', 'SELECT ws.hlc_now()');
ok(above($after, $before), "after restart: $after > $before");

# the system clock steps one hour back, then the postmaster is killed
$node->append_conf('postgresql.conf', "worldstate.clock_offset = '-1h'\n");
$node->reload;
$before = burst_max();
# a received remote value ahead of the local clock (within the skew) counts too
my $received = $node->safe_psql('postgres',
	"SELECT ws.hlc_receive(ws.hlc(clock_timestamp() - interval '1 hour' + interval '400 ms', 0, 9))");
ok(above($received, $before), 'received value moves the clock ahead');
ok(ws_crash_restart($node), 'restarted after kill -9 of the postmaster');
$after = $node->safe_psql('postgres', 'SELECT ws.hlc_now()');
ok(above($after, $before), "after crash with the clock an hour back: $after > $before");
ok(above($after, $received), "after crash: above the received value $received");

# once more, crash right after a burst, without any restart in between
$before = burst_max();
ok(ws_crash_restart($node), 'restarted after a second kill -9');
$after = $node->safe_psql('postgres', 'SELECT ws.hlc_now()');
ok(above($after, $before), "after the second crash: $after > $before");

# with the clock offset removed it follows the wall clock again
$node->adjust_conf('postgresql.conf', 'worldstate.clock_offset', "'0'");
$node->restart;
is($node->safe_psql('postgres',
		'SELECT abs(extract(epoch FROM ws.hlc_wall(ws.hlc_now()) - clock_timestamp())) < 5'),
	't', 'the clock follows the wall clock once it is correct again');

# a damaged high-water mark file is reported, and the server still starts
$node->stop;
open(my $fh, '>', $node->data_dir . '/worldstate.clock') or die $!;
print $fh "garbage";
close($fh);
$node->start;
ok($node->log_contains('ignoring damaged hybrid logical clock file'), 'damaged clock file is reported');
is($node->safe_psql('postgres', 'SELECT ws.hlc_now() IS NOT NULL'), 't', 'clock works after a damaged file');

$node->stop;
done_testing();
