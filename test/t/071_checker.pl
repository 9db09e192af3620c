# The independent checker (WsCheck.pm): first on histories made by hand,
# each of which must fail for its own reason (and one that must pass), so
# that the checker is known to see what it claims to; then on a real
# three-node mesh where node 3 is cut off from node 1 while node 2 builds
# on node 1's events -- the order in which node 3 receives events is then
# not their causal order -- with concurrent writers on every node whose
# acknowledgements (the event ids psql printed after each commit) are
# collected on the client side.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsCheck;
use WsMesh;

# ---------------------------------------------------------------------------
# The checker on histories made by hand
# ---------------------------------------------------------------------------

# an event: id, entity, origin, vclock text, arrival, deps
sub ev
{
	my ($id, $entity, $origin, $vclock, $arrival, @deps) = @_;
	return { id => $id, entity => $entity, origin => $origin,
		vclock => ws_vclock_parse($vclock), arrival => $arrival, deps => \@deps };
}

# node a: create on 1, update on 2 after it, update on 1 concurrent
# with it, an event of another entity that names the create as a dependency
sub good_history
{
	my %e = (entities => { x => '{"v": 3}|3|f', y => '{}|1|f' });
	$e{events} = [
		ev('c', 'x', 1, '{1:1}', 1),
		ev('u2', 'x', 2, '{1:1,2:1}', 2),
		ev('u1', 'x', 1, '{1:2}', 3),
		ev('y1', 'y', 2, '{2:1}', 4, 'c'),
	];
	return \%e;
}

# the same events, another arrival order that respects causality
sub good_history_b
{
	my $h = good_history();
	my %arr = (c => 1, u1 => 2, y1 => 3, u2 => 4);
	$_->{arrival} = $arr{ $_->{id} } for @{ $h->{events} };
	return $h;
}

my @acks = qw(c u1 u2 y1);
is_deeply([ ws_check({ a => good_history(), b => good_history_b() }, \@acks) ], [],
	'checker: a converged history in causal order passes');

my %bad = (
	'an acknowledged event lost' => [ sub { }, [ @acks, 'lost' ], qr/acknowledged event lost missing/ ],
	'an update applied before the create it follows' => [
		sub { my $h = shift; $_->{arrival} = { c => 3, u2 => 1, u1 => 4, y1 => 5 }->{ $_->{id} } for @{ $h->{events} } },
		\@acks, qr/event u2 of x \(from node 2\) applied after 0 event\(s\) of node 1, but its writer had seen 1/ ],
	'an event applied before its explicit dependency' => [
		sub { my $h = shift; $_->{arrival} = { y1 => 1, c => 2, u2 => 3, u1 => 4 }->{ $_->{id} } for @{ $h->{events} } },
		\@acks, qr/event y1 applied before its causal dependency c/ ],
	'a node missing an event the others have' => [
		sub { my $h = shift; $h->{events} = [ grep { $_->{id} ne 'u1' } @{ $h->{events} } ] },
		[ qw(c u2 y1) ], qr/b: event u1 that a has is missing/ ],
	'a node with another state' => [
		sub { my $h = shift; $h->{entities}{x} = '{"v": 2}|3|f' },
		\@acks, qr/b: entity x is \{"v": 2\}\|3\|f, on a \{"v": 3\}\|3\|f/ ],
	'a node with an entity retired only there' => [
		sub { my $h = shift; $h->{entities}{y} = '{}|1|t' },
		\@acks, qr/b: entity y is \{\}\|1\|t/ ],
);
for my $what (sort keys %bad)
{
	my ($spoil, $acked, $want) = @{ $bad{$what} };
	my $b = good_history_b();
	$spoil->($b);
	my @v = ws_check({ a => good_history(), b => $b }, $acked);
	ok(scalar(grep { $_ =~ $want } @v), "checker: $what is found")
	  or diag(join("\n", 'violations:', @v));
}

# ---------------------------------------------------------------------------
# A real mesh
# ---------------------------------------------------------------------------

my @nodes = ws_mesh('chk', 3, "wal_receiver_status_interval = '1s'\n");
my %node = map { ($_ + 1) => $nodes[$_] } 0 .. $#nodes;
for my $i (1 .. 3)
{
	for my $j (grep { $_ != $i } 1 .. 3)
	{
		$node{$i}->safe_psql('postgres',
			"SELECT ws.add_peer('n$j', 'host=127.0.0.1 port=" . $node{$j}->port . " dbname=postgres')");
	}
}
$node{1}->safe_psql('postgres', q{
	SELECT ws.register_module('chk', 1);
	SELECT ws.define_kind('chk_tally', 'chk', 'merge', ARRAY['n']);
	SELECT ws.define_kind('chk_item', 'chk', 'lww')});
for my $i (2, 3)
{
	$node{$i}->poll_query_until('postgres', "SELECT count(*) = 2 FROM ws.kinds WHERE module = 'chk'")
	  or die "node $i: the kinds did not arrive";
}

my @acked;
my $hs = "handshake => '55-45-17'";

# Run @sql on node $i, one statement a line, each printing the id of the
# event it wrote when it committed; those ids are acknowledged.
sub write_acked
{
	my ($i, @sql) = @_;
	my $out = $node{$i}->safe_psql('postgres', join(";\n", @sql));
	push @acked, grep { /^[0-9a-f-]{36}$/ } split /\n/, $out;
	return;
}

sub uuid
{
	return sprintf('%08x-%04x-4%03x-a%03x-%012x',
		int(rand(2**32)), int(rand(2**16)), int(rand(2**12)), int(rand(2**12)), int(rand(2**48)));
}

# a statement that writes one event with a fresh id and prints the id
sub change
{
	my ($fn, @args) = @_;
	my $u = uuid();
	return "SELECT '$u' FROM ws.$fn(" . join(', ', @args, $hs, "event_id => '$u'") . ')';
}

# the shared entities, made on node 1 and everywhere before the cut
write_acked(1, map { (change('create_entity', "'c$_'", "'chk_tally'", "'chk'", "'{\"n\": 0}'"),
		change('create_entity', "'l$_'", "'chk_item'", "'chk'", "'{\"v\": 0}'")) } 1 .. 3);
for my $i (2, 3)
{
	$node{$i}->poll_query_until('postgres', "SELECT count(*) = 6 FROM ws.entities WHERE module = 'chk'")
	  or die "node $i: the entities did not arrive";
}

# node 3 stops hearing from node 1
$node{3}->safe_psql('postgres', 'ALTER SUBSCRIPTION ws_peer_n1 DISABLE');
$node{3}->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT FROM pg_stat_subscription WHERE subname = 'ws_peer_n1' AND pid IS NOT NULL)")
  or die 'node 3: the link from node 1 did not stop';

# node 1 makes an entity and changes it; node 2 sees that and changes it
# too, and makes another entity that names node 1's change as a dependency
my $first = uuid();
write_acked(1, "SELECT '$first' FROM ws.create_entity('chain', 'chk_item', 'chk', '{\"v\": 1}', $hs, event_id => '$first')",
	change('transition', "'chain'", "'{\"v\": 2}'"));
$node{2}->poll_query_until('postgres', "SELECT version = 2 FROM ws.entities WHERE entity_id = 'chain'")
  or die 'node 2: node 1\'s changes did not arrive';
my ($on2, $dep) = (uuid(), uuid());
write_acked(2, "SELECT '$on2' FROM ws.transition('chain', '{\"w\": 3}', $hs, event_id => '$on2')",
	"SELECT '$dep' FROM ws.transition('l1', '{\"v\": 99}', $hs, event_id => '$dep', causal_deps => ARRAY['$first']::uuid[])");

# concurrent writers on every node meanwhile: increments and lww writes
my @runs;
for my $i (1 .. 3)
{
	my @sql;
	for my $k (1 .. 40)
	{
		my $id = 1 + int(rand(3));
		push @sql, rand() < 0.5
		  ? change('transition', "'c$id'", "'{\"n\": " . (1 + int(rand(9))) . "}'")
		  : change('transition', "'l$id'", "'{\"v\": $k, \"by\": $i}'");
	}
	my %r = (out => '', err => '');
	$r{run} = IPC::Run::start(
		[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', $node{$i}->host, '-p', $node{$i}->port,
		  '-d', 'postgres', '-f', '-' ],
		'<', \(join(";\n", @sql) . ";\n"), '>', \$r{out}, '2>', \$r{err});
	push @runs, \%r;
}
for my $r (@runs)
{
	ok($r->{run}->finish, 'a writer finished') or diag($r->{err});
	push @acked, grep { /^[0-9a-f-]{36}$/ } split /\n/, $r->{out};
}

# node 3 has what node 2 wrote on top of node 1's events, or holds it
$node{3}->poll_query_until('postgres', qq{
	SELECT count(*) = 2 FROM (SELECT event_id FROM ws.events UNION SELECT event_id FROM ws.pending) e
	WHERE event_id IN ('$on2', '$dep')})
  or die 'node 3: node 2\'s events did not arrive';

# heal, and wait until every node holds every event and nothing waits
$node{3}->safe_psql('postgres', 'ALTER SUBSCRIPTION ws_peer_n1 ENABLE');
my $all = scalar(@acked);
for my $i (1 .. 3)
{
	$node{$i}->poll_query_until('postgres', qq{
		SELECT (SELECT count(*) FROM ws.events WHERE module = 'chk') >= $all
		   AND NOT EXISTS (SELECT FROM ws.pending)})
	  or die "node $i: did not receive every event";
}
# the acknowledgements are the checker's only input from the writers:
# every event written here was acknowledged
is(scalar(@acked), 6 + 2 + 2 + 3 * 40, 'every write was acknowledged to its client');

my %history = map { ("node$_" => ws_check_collect($node{$_})) } 1 .. 3;
my @violations = ws_check(\%history, \@acked);
is_deeply(\@violations, [], 'the checker finds no lost event, no event applied before its causal past, '
	  . 'and the same world on every node')
  or diag(join("\n", @violations[ 0 .. ($#violations < 20 ? $#violations : 20) ]));

done_testing();
