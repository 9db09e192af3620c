# ws.causal_graph on a converged mesh of three nodes: node 3 is cut off
# (its links disabled), every node changes one entity of a manual kind
# while it is, the links are enabled again, and once every node holds the
# same events -- equal ws.state_hash() -- and a manual conflict has been
# resolved, the picture of the entity's causal history is byte-identical
# on every node and Graphviz renders it (dot -Tsvg) with one node per event
# and an edge per arrow.  Hostile text in a patch and an event type stays
# inside its strings.  Without Graphviz's dot the rendering checks are
# skipped, saying so (make test installs it).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsMesh;

my @nodes = ws_mesh('cgraph', 3, "max_connections = 30\nshared_buffers = '16MB'\n");
my %node = map { ($_ + 1) => $nodes[$_] } 0 .. $#nodes;
my $hs = "SET worldstate.handshake = '55-45-17';";

sub q1
{
	my ($i, $sql) = @_;
	return $node{$i}->safe_psql('postgres', $sql);
}

# the full mesh
for my $i (1 .. 3)
{
	for my $j (grep { $_ != $i } 1 .. 3)
	{
		q1($i, "SELECT ws.add_peer('n$j', 'host=127.0.0.1 port=" . $node{$j}->port . " dbname=postgres')");
	}
}

# enable or disable the links between node 3 and the others (both ways),
# and after DISABLE until their apply workers are gone
sub links_of_3
{
	my ($action) = @_;
	my %subs = (1 => ['ws_peer_n3'], 2 => ['ws_peer_n3'], 3 => [ 'ws_peer_n1', 'ws_peer_n2' ]);
	for my $i (1 .. 3)
	{
		q1($i, "ALTER SUBSCRIPTION $_ $action") for @{ $subs{$i} };
	}
	return if $action ne 'DISABLE';
	for my $i (1 .. 3)
	{
		my $names = join(', ', map { "'$_'" } @{ $subs{$i} });
		$node{$i}->poll_query_until('postgres',
			"SELECT NOT EXISTS (SELECT FROM pg_stat_subscription WHERE subname IN ($names) AND pid IS NOT NULL)")
		  or die "node $i: the apply workers of $names did not stop";
	}
	return;
}

# until every node holds $n events of the entity and nothing pending
sub events_everywhere
{
	my ($n, $name) = @_;
	for my $i (1 .. 3)
	{
		ok($node{$i}->poll_query_until('postgres',
				"SELECT (SELECT count(*) FROM ws.events WHERE entity_id = 'doc') = $n"
				  . " AND NOT EXISTS (SELECT FROM ws.pending)"),
			"node $i: $name");
	}
	return;
}

q1(1, qq{$hs
	SELECT ws.register_module('paper', 1);
	SELECT ws.define_kind('cg_doc', 'paper', 'manual');
	SELECT ws.create_entity('doc', 'cg_doc', 'paper', '{"title": "draft", "body": ""}');
	SELECT ws.transition('doc', '{"body": "intro"}');});
events_everywhere(2, 'the entity and its first change arrived');

# the partition: node 3 on its own; each side changes the entity
links_of_3('DISABLE');
q1(1, qq{$hs SELECT ws.transition('doc', '{"title": "Causality"}');});
q1(2, qq{$hs SELECT ws.transition('doc', '{"abstract": "when"}');});
q1(1, qq{$hs SELECT ws.transition('doc', '{"body": "intro, methods, results"}');});
q1(3, qq{$hs SELECT ws.transition('doc', '{"title": "On \\"time\\" <b>&amp;</b>\\n\\\\N"}',
	event_type => E'retitle"];\\nevil -> x;');});
is(q1(3, "SELECT count(*) FROM ws.events WHERE entity_id = 'doc'"), '3', 'node 3 wrote on its own');

# heal: the same events, the same world, everywhere
links_of_3('ENABLE');
events_everywhere(6, 'every event arrived after the heal');
my $hash = q1(1, 'SELECT ws.state_hash()');
is(q1($_, 'SELECT ws.state_hash()'), $hash, "node $_: the same world as node 1") for 2 .. 3;

# the concurrent titles opened a manual conflict on every node; node 2
# resolves it, and its resolution reaches the others
my $cid = q1(1, "SELECT conflict_id FROM ws.conflicts WHERE entity_id = 'doc' AND status = 'open'");
like($cid, qr/^[0-9a-f-]{36}$/, 'one open conflict');
ok($node{$_}->poll_query_until('postgres', "SELECT EXISTS (SELECT FROM ws.conflicts WHERE conflict_id = '$cid')"),
	"node $_ has the conflict") for 2 .. 3;
q1(2, qq{$hs SELECT ws.resolve_conflict('$cid', jsonb_set(state, '{title}', '"Causality"'))
	FROM ws.entities WHERE entity_id = 'doc'});
events_everywhere(7, 'the resolution arrived');
for my $i (1 .. 3)
{
	ok($node{$i}->poll_query_until('postgres',
			"SELECT status = 'resolved' FROM ws.conflicts WHERE conflict_id = '$cid'"),
		"node $i: the conflict is resolved");
}

# the picture: the same bytes on every node
my $dot = q1(1, "SELECT ws.causal_graph('doc')");
is(q1($_, "SELECT ws.causal_graph('doc')"), $dot, "node $_: the same DOT as node 1") for 2 .. 3;
my @event_nodes = $dot =~ /^\t\te\d+ \[/mg;
my @arrows = $dot =~ /^\te\d+ -> e\d+;$/mg;
my @conflicts = $dot =~ /^\te\d+ -> e\d+ \[dir=none, style=dashed, color=red.*resolved by v\d+\@2"\];$/mg;
my @lanes = $dot =~ /^\tsubgraph cluster_node_\d+ \{$/mg;
is(scalar(@event_nodes), 7, 'a node per event');
is(scalar(@lanes), 3, 'a lane per origin node');
is(scalar(@conflicts), 1, 'the conflict, resolved on node 2');
like($dot, qr/shape=box, style="filled,bold"[^\n]*peripheries=2[^\n]*resolve\\n[^\n]*resolves v/,
	'the resolution is marked');
is(() = $dot =~ /canonical head/g, 1, 'one canonical head');
# the two sides of the partition are concurrent: no path joins node 3's
# event with node 1's title or node 2's body; the resolution saw them all
# (its arrows come from the latest event of each origin it saw)
ok(scalar(@arrows) >= 6, 'the arrows of causality: ' . scalar(@arrows));
(my $syntax = $dot) =~ s/"(?:[^"\\]|\\.)*"/""/g;
unlike($syntax, qr/evil|<|&/, 'hostile text stays inside its strings');

SKIP:
{
	my $have_dot = grep { -x "$_/dot" } split /:/, ($ENV{PATH} // '');
	skip('Graphviz is not installed (no dot on PATH): the DOT is not rendered; make test installs it (test/deps.sh)', 4)
	  unless $have_dot;
	my ($svg, $err) = ('', '');
	my $ok = IPC::Run::run([ 'dot', '-Tsvg' ], '<', \$dot, '>', \$svg, '2>', \$err);
	ok($ok, 'dot -Tsvg renders the DOT') or diag($err);
	is($err, '', 'dot has no warning about it');
	is(() = $svg =~ /<g id="node\d+" class="node">/g, 7, 'the SVG has a node per event');
	# the edges that keep HLC order are invisible, and not in the SVG
	my @edges = grep { !/style=invis/ } $dot =~ /^\t(e\d+ -> e\d+.*)$/mg;
	is(() = $svg =~ /<g id="edge\d+" class="edge">/g, scalar(@edges),
		'the SVG has an edge per visible DOT edge: ' . scalar(@edges));
}

done_testing();
