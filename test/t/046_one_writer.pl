# Rows of ws.entities, ws.events and ws.relationships are written through
# one writer, src/writer.c, and creation is a change like the others.
# This reads the sources and fails when a file writes those tables in SQL
# again (beyond the set-based statements of restore and archival that
# writer.c's header lists), when the protocol's steps are written twice
# (create beside the other changes), when NOTIFY worldstate is built in
# two places, or when transition.c's run of changes is named like session
# state or its static functions carry the exported ws_ prefix.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use Test::More;
use WsSources;

my @files = ws_source_files();
my %text = map { $_ => ws_source_text($_) } @files;
ok(scalar(@files) > 10, 'the sources are there');

# every SQL write of the three tables, as "file: statement head"
my @writes;
for my $f (@files)
{
	while ($text{$f} =~
		/\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(ws\.(?:entities|events|relationships))\b([^"]*)/g)
	{
		my ($verb, $table, $rest) = ($1, $2, $3);
		$verb =~ s/\s+/ /g;
		$rest =~ s/^\s+|\s+$//g;
		push @writes, "$f: $verb $table" . ($rest eq '' ? '' : " $rest");
	}
}
is_deeply(
	[ sort @writes ],
	[
		sort(
			# restore from a snapshot: clear the relationships, make the
			# entities the replay did not rebuild the snapshot's (delete,
			# update in place, insert: the rows one join found to differ),
			# load its relationships
			'snapshot.c: DELETE FROM ws.relationships',
			'snapshot.c: DELETE FROM ws.entities WHERE entity_id OPERATOR(pg_catalog.=) ANY ($2)',
			'snapshot.c: UPDATE ws.entities e SET kind = s.kind, module = s.module, state = s.state,',
			'snapshot.c: INSERT INTO ws.entities SELECT entity_id, kind, module, state, version, hlc,',
			'snapshot.c: INSERT INTO ws.relationships SELECT from_id, rel, to_id, props, hlc',
			# full replay: clear both tables
			'snapshot.c: DELETE FROM ws.relationships',
			'snapshot.c: DELETE FROM ws.entities',
			# archival's moves: the events a keyframe covers, and the
			# horizon events before the boundary
			'snapshot.c: DELETE FROM ws.events e USING k',
			'snapshot.c: DELETE FROM ws.events',
			# the fold of peers' events: the relationship of the latest link
			# or unlink (the entity row it derives goes through the writer)
			'converge.c: INSERT INTO ws.relationships (from_id, rel, to_id, props, hlc)',
			'converge.c: DELETE FROM ws.relationships WHERE from_id OPERATOR(pg_catalog.=) $1',
			# peers' events inserted as a replica session inserts them, so
			# that the replica triggers decide and fold: a held event
			# released, and the events ws.reconcile(peer) fetches
			'converge.c: INSERT INTO ws.events SELECT ($1).*',
			'reconcile.c: INSERT INTO ws.events (%s) VALUES (%s) ON CONFLICT DO NOTHING')
	],
	'ws.entities, ws.events and ws.relationships are written in SQL only by restore, archival and the fold and arrival of peers\' events'
) or diag(explain(\@writes));

is_deeply(ws_files_with(qr/\bExecSimpleRelation(?:Insert|Update|Delete)\s*\(|\btable_tuple_(?:insert|update|delete)\w*\s*\(/),
	['writer.c'], 'rows are written through the executor in writer.c only');

# one sequence of steps: each step of the protocol is called once
for my $step (qw(ws_check_handshake_module ws_check_handshake check_constraints
	ws_event_schema_check insert_event ws_hlc_for_event))
{
	my @calls = $text{'transition.c'} =~ /[^\w\n]\Q$step\E\s*\(/g;
	is(scalar(@calls), $step eq 'ws_check_handshake' ? 0 : 1,
		"transition.c calls $step in one place");
}
like($text{'transition.c'}, qr/\bWS_CHANGE_CREATE\b/, 'creation is a kind of change');

is_deeply(ws_files_with(qr/\bAsync_Notify\s*\(/), ['writer.c'],
	'NOTIFY worldstate is built in one place');

is_deeply(ws_files_with(qr/\bWsSession\b|\bws_changes_(?:begin|end)\b/), [],
	'no run of changes is named like session state');

my @static_ws = $text{'transition.c'} =~ /^static\s[^\n]*\n(ws_\w+)\s*\(/mg;
is_deeply(\@static_ws, [], 'static functions of transition.c take no ws_ prefix');

done_testing();
