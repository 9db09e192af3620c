# Session state lives as long as the session that put it: visible to other
# sessions meanwhile, gone when the session ends -- normally, through
# pg_terminate_backend, or killed with SIGKILL -- and gone after a server
# restart.  Rows of ended sessions are hidden at once and deleted by the
# next session that puts state; crash recovery empties the (unlogged) table.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

# a killed backend makes the postmaster reinitialise, not stop
my $node = ws_node('session', "restart_after_crash = on\n");
$node->safe_psql('postgres', 'CREATE ROLE presence_app LOGIN IN ROLE ws_writer');

sub shown
{
	return $node->safe_psql('postgres',
		q{SELECT coalesce(string_agg(pid || ':' || key || '=' || value, ',' ORDER BY pid, key), '') FROM ws.session_state});
}

sub stored
{
	my ($pid) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM ws.session_data WHERE pid = $pid");
}

# a session that puts its presence, as an application role
sub present
{
	my ($space) = @_;
	my $s = $node->background_psql('postgres', extra_params => [ '-U', 'presence_app' ]);
	$s->query_safe(qq{SELECT ws.session_put('presence', '"$space"')});
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	return ($s, $pid);
}

# visible to other sessions while the session lives
my ($s1, $pid1) = present('lobby');
my ($s2, $pid2) = present('garden');
is(shown(), join(',', sort ("$pid1:presence=\"lobby\"", "$pid2:presence=\"garden\"")),
	'two live sessions: each one\'s state is visible to every session');
is($s1->query_safe(q{SELECT ws.session_get('presence')}), '"lobby"', 'session_get reads the own state');

# a normal disconnect
$s2->quit;
ok($node->poll_query_until('postgres', "SELECT NOT EXISTS (SELECT FROM ws.session_state WHERE pid = $pid2)"),
	'state of a session that disconnected disappears from the view');
is(shown(), "$pid1:presence=\"lobby\"", 'the other session\'s state stays');

# pg_terminate_backend
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid1)");
eval { $s1->quit };
ok($node->poll_query_until('postgres', 'SELECT NOT EXISTS (SELECT FROM ws.session_state)'),
	'state of a terminated session disappears from the view');
is(stored($pid1), '1', 'its row is still stored ...');
$node->safe_psql('postgres', q{SELECT ws.session_put('probe', '1')});
is(stored($pid1) + stored($pid2), 0, '... until the next session that puts state purges it');

# kill -9 of a backend: the postmaster restarts all backends, and crash
# recovery resets the unlogged table
my ($s3, $pid3) = present('attic');
is(shown(), "$pid3:presence=\"attic\"", 'a new session is present');
kill 'KILL', $pid3;
eval { $s3->quit };
ok($node->poll_query_until('postgres', 'SELECT true'), 'the server is back after the crash of a backend');
ok($node->log_contains("server process \\(PID $pid3\\) was terminated by signal 9"),
	'the backend was killed');
is(shown(), '', 'no state of the killed session is shown');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ws.session_data'), '0',
	'crash recovery emptied the session state table');

# a clean restart, with sessions holding state
my ($s4, $pid4) = present('hall');
my ($s5, $pid5) = present('tower');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ws.session_state'), '2', 'two sessions present');
$node->restart;
eval { $s4->quit };
eval { $s5->quit };
is(shown(), '', 'after a restart no session state is shown');
isnt($node->safe_psql('postgres', 'SELECT count(*) FROM ws.session_data'), '0',
	'the rows of the old sessions survived the clean shutdown ...');
my ($s6, $pid6) = present('cellar');
is($node->safe_psql('postgres', "SELECT count(*) FROM ws.session_data WHERE pid <> $pid6"), '0',
	'... until the first put of a new session purged them');
is(shown(), "$pid6:presence=\"cellar\"", 'only the new session is present');
$s6->quit;

# a put in a transaction that read ws.session_state before (PostgreSQL
# keeps the list of backends it read for the rest of the transaction)
# never deletes the state of a session that started since
my $reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN');
$reader->query_safe('SELECT count(*) FROM ws.session_state');
my ($s7, $pid7) = present('porch');
$reader->query_safe(q{SELECT ws.session_put('presence', '"reader"')});
$reader->query_safe('COMMIT');
is(stored($pid7), '1', 'the first put of a transaction that read the view keeps the state of a session started since');
like(shown(), qr/$pid7:presence="porch"/, 'and that session is still present');
$s7->quit;
$reader->quit;

$node->stop;
done_testing();
