# An independent checker of a multi-node history, in the spirit of
# Jepsen's: it reads what every node holds and what the writers were told,
# and decides on its own -- with none of worldstate's functions -- whether
#
#   - every acknowledged event is on every node (nothing acknowledged was
#     lost);
#   - no node applied an event before its causal past: on each node, every
#     event of an entity comes after (in the node's arrival order,
#     ws.events.arrival) as many events of each origin as the event's
#     entity vclock says its writer had seen, and after every event named
#     in its causal_deps;
#   - the nodes converged: the same events, and the same entity rows
#     (state, version, retired), byte for byte.
#
# ws_check_collect($node) reads a node; ws_check(\%history, \@acked) takes
# { name => collected } and the acknowledged event ids and returns the
# violations found, one line each (none: the history passes).  Histories
# can as well be made by hand, which is how the checker's own test feeds it
# histories that must fail.
package WsCheck;

use strict;
use warnings;
use Exporter 'import';
our @EXPORT = qw(ws_check ws_check_collect ws_vclock_parse);

# '{1:3,2:5}' -> { 1 => 3, 2 => 5 }; undef or '{}' -> {}.
sub ws_vclock_parse
{
	my ($text) = @_;
	my %v;
	return \%v unless defined $text && $text ne '';
	$text =~ /^\{(.*)\}$/ or die "not a vclock: $text";
	for my $pair (split /,/, $1)
	{
		my ($node, $count) = $pair =~ /^\s*(\d+)\s*:\s*(\d+)\s*$/
		  or die "not a vclock entry: $pair in $text";
		$v{$node} = $count;
	}
	return \%v;
}

# What a node holds: { events => [ { id, entity, origin, vclock, deps,
# arrival } ... ], entities => { id => 'state|version|retired' } }.
sub ws_check_collect
{
	my ($node, $db) = @_;
	$db //= 'postgres';
	my %h = (events => [], entities => {});
	my $rows = $node->safe_psql($db, q{
		SELECT event_id, coalesce(entity_id, ''), origin_node, coalesce(vclock::text, ''),
		       coalesce(array_to_string(causal_deps, ' '), ''), arrival
		FROM ws.events
		-- a node's periodic report of its safe horizon, not a change: each
		-- node is at its own point of the others' stream of them
		WHERE NOT (module = 'ws' AND event_type = 'horizon')
		ORDER BY arrival});
	for my $line (split /\n/, $rows)
	{
		my ($id, $entity, $origin, $vclock, $deps, $arrival) = split /\|/, $line, -1;
		push @{ $h{events} }, {
			id => $id,
			entity => $entity eq '' ? undef : $entity,
			origin => $origin,
			vclock => ws_vclock_parse($vclock),
			deps => [ grep { $_ ne '' } split / /, $deps ],
			arrival => $arrival,
		};
	}
	my $ents = $node->safe_psql($db, q{
		SELECT entity_id, state::text || '|' || version || '|' || retired FROM ws.entities});
	for my $line (split /\n/, $ents)
	{
		my ($id, $rest) = split /\|/, $line, 2;
		$h{entities}{$id} = $rest;
	}
	return \%h;
}

# The causal violations of one node's history.
sub causal_violations
{
	my ($name, $h) = @_;
	my @out;
	my %arrival = map { $_->{id} => $_->{arrival} } @{ $h->{events} };
	# seen{entity}{origin}: events of that entity from that origin so far,
	# in arrival order
	my %seen;
	for my $e (sort { $a->{arrival} <=> $b->{arrival} } @{ $h->{events} })
	{
		if (defined $e->{entity})
		{
			my $s = $seen{ $e->{entity} } //= {};
			for my $o (sort { $a <=> $b } keys %{ $e->{vclock} })
			{
				my $need = $e->{vclock}{$o} - ($o == $e->{origin} ? 1 : 0);
				my $have = $s->{$o} // 0;
				push @out, "$name: event $e->{id} of $e->{entity} (from node $e->{origin}) applied after "
				  . "$have event(s) of node $o, but its writer had seen $need"
				  if $have < $need;
			}
			$s->{ $e->{origin} }++;
		}
		for my $d (@{ $e->{deps} })
		{
			my $at = $arrival{$d};
			push @out, "$name: event $e->{id} applied before its causal dependency $d"
			  . (defined $at ? " (arrival $at > $e->{arrival})" : ' (absent)')
			  if !defined $at || $at > $e->{arrival};
		}
	}
	return @out;
}

sub ws_check
{
	my ($history, $acked) = @_;
	my @out;
	my @names = sort keys %$history;

	# acknowledged events everywhere
	for my $n (@names)
	{
		my %has = map { $_->{id} => 1 } @{ $history->{$n}{events} };
		my @lost = grep { !$has{$_} } @$acked;
		push @out, "$n: acknowledged event $_ missing" for @lost;
	}

	# causal order of application on each node
	push @out, causal_violations($_, $history->{$_}) for @names;

	# convergence: the same events, the same entity rows
	my $first = $names[0];
	my %ref_ev = map { $_->{id} => 1 } @{ $history->{$first}{events} };
	my $ref_en = $history->{$first}{entities};
	for my $n (@names[ 1 .. $#names ])
	{
		my %ev = map { $_->{id} => 1 } @{ $history->{$n}{events} };
		push @out, "$n: event $_ that $first has is missing" for sort grep { !$ev{$_} } keys %ref_ev;
		push @out, "$n: has event $_ that $first lacks" for sort grep { !$ref_ev{$_} } keys %ev;
		my $en = $history->{$n}{entities};
		for my $id (sort keys %{ { %$en, %$ref_en } })
		{
			my ($a, $b) = ($ref_en->{$id} // '(none)', $en->{$id} // '(none)');
			push @out, "$n: entity $id is $b, on $first $a" if $a ne $b;
		}
	}
	return @out;
}

1;
