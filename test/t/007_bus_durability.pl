# The event bus across failures: a subscriber's position is durable; an
# event writer in flight holds polls back until its transaction ends,
# however it ends -- a terminated backend, a crash of the server -- and
# never beyond; snapshots, recovery and verification leave bus events
# alone; and pg_dump / pg_restore keep schemas, subscribers, positions and
# derived views (not session state).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('bus', "max_prepared_transactions = 5\n");
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.register_module('post', 1);
	SELECT ws.register_event_schema('post', 'letter', 1, ARRAY['exists($.n)']::jsonpath[]);
	SELECT ws.subscribe('post.sorter', 'post', 'letter');
	SELECT count(ws.publish('post', 'letter', jsonb_build_object('n', i))) FROM generate_series(1, 10) i;
	SELECT ws.ack('post.sorter', hlc) FROM ws.poll('post.sorter', 4) ORDER BY hlc DESC LIMIT 1;
});

# the payloads ws.poll delivers now to a subscriber, in order
sub polled
{
	my ($db, $subscriber) = @_;
	$subscriber //= 'post.sorter';
	return $node->safe_psql($db // 'postgres',
		"SELECT coalesce(string_agg(patch ->> 'n', ',' ORDER BY hlc), '') FROM ws.poll('$subscriber', 100)");
}

sub in_flight
{
	return $node->safe_psql('postgres',
		q{SELECT value FROM ws.stats() WHERE name = 'event_writers_in_flight'});
}

sub publish
{
	my ($n) = @_;
	$node->safe_psql('postgres',
		"SELECT ws.publish('post', 'letter', '{\"n\": \"$n\"}', handshake => '55-45-17')");
}

is(polled(), '5,6,7,8,9,10', 'the position is where the subscriber acknowledged');

# a writer in flight: earlier events flow, later ones wait for it
my $held = $node->background_psql('postgres');
$held->query_safe(q{SET worldstate.handshake = '55-45-17'});
$held->query_safe('BEGIN');
$held->query_safe(q{SELECT ws.publish('post', 'letter', '{"n": "held"}')});
my $held_pid = $held->query_safe('SELECT pg_backend_pid()');
publish('later');
is(polled(), '5,6,7,8,9,10', 'events after an open writer\'s event wait for it');
is($node->safe_psql('postgres', q{SELECT value FROM ws.stats() WHERE name = 'event_writers_in_flight'}),
	'1', 'ws.stats() shows the writer in flight');

# ... until its transaction ends, here by pg_terminate_backend
$node->safe_psql('postgres', "SELECT pg_terminate_backend($held_pid)");
eval { $held->quit };
ok($node->poll_query_until('postgres',
		q{SELECT value = 0 FROM ws.stats() WHERE name = 'event_writers_in_flight'}),
	'a terminated writer is no longer in flight');
is(polled(), '5,6,7,8,9,10,later', 'its rolled-back event is gone, the later one flows');

# a writer in flight when the server crashes
my $crashed = $node->background_psql('postgres');
$crashed->query_safe(q{SET worldstate.handshake = '55-45-17'});
$crashed->query_safe('BEGIN');
$crashed->query_safe(q{SELECT ws.publish('post', 'letter', '{"n": "lost"}')});
publish('after');
is(polled(), '5,6,7,8,9,10,later', 'the open writer holds back the next event');
ok(ws_crash_restart($node), 'the server restarts after a crash');
eval { $crashed->quit };
is(polled(), '5,6,7,8,9,10,later,after',
	'after the crash the position is kept and nothing is held back');
is($node->safe_psql('postgres', q{SELECT value FROM ws.stats() WHERE name = 'event_writers_in_flight'}),
	'0', 'no writer is in flight after the crash');

# prepared transactions outlive their session and restarts: their events
# hold later ones back until COMMIT or ROLLBACK PREPARED
$node->safe_psql('postgres', q{
	SELECT ws.subscribe('post.clerk', 'post', 'letter');
	SELECT ws.ack('post.clerk', ws.hlc_now());
});
sub prepare
{
	my ($n, $gid) = @_;
	$node->safe_psql('postgres', qq{
		SET worldstate.handshake = '55-45-17';
		BEGIN;
		SELECT ws.publish('post', 'letter', '{"n": "$n"}');
		PREPARE TRANSACTION '$gid';
	});
}
prepare('prepared', 'ws_bus_commit');
publish('after prepared');
is(polled('postgres', 'post.clerk'), '', 'an event after a prepared one waits for it');
is(in_flight(), '1', 'the prepared transaction is in flight');
$node->restart;
is(polled('postgres', 'post.clerk'), '', 'also after a restart');
$node->safe_psql('postgres', q{COMMIT PREPARED 'ws_bus_commit'});
is(polled('postgres', 'post.clerk'), 'prepared,after prepared',
	'after COMMIT PREPARED both arrive, in HLC order');
$node->safe_psql('postgres', q{SELECT ws.ack('post.clerk', ws.hlc_now())});
prepare('doomed', 'ws_bus_rollback');
publish('after doomed');
is(polled('postgres', 'post.clerk'), '', 'held back by another prepared transaction');
ok(ws_crash_restart($node), 'the server restarts after a crash');
is(polled('postgres', 'post.clerk'), '', 'also after a crash');
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'ws_bus_rollback'});
is(polled('postgres', 'post.clerk'), 'after doomed', 'after ROLLBACK PREPARED the later event arrives');
is(in_flight(), '0', 'nothing is in flight any more');
$node->safe_psql('postgres', q{SELECT ws.unsubscribe('post.clerk')});

# snapshots, recovery and verification treat entities only: events of the
# bus -- even one typed like a link -- are no entity history
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.define_kind('box', 'post');
	SELECT ws.create_entity('box1', 'box', 'post', '{"size": 1}');
	SELECT ws.transition('box1', '{"size": 2}');
	SELECT ws.register_event_schema('post', 'linked', 1, '{}');
	SELECT ws.publish('post', 'linked', '{"rel": "next", "to": "box1"}');
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM ws.verify()'), '0',
	'ws.verify() finds no problem with bus events in the log');
my $snap = $node->safe_psql('postgres', q{SELECT ws.create_snapshot('with bus events')});
ok($node->safe_psql('postgres', "SELECT ws.restore_snapshot($snap) >= 0"), 'a snapshot restores');
is($node->safe_psql('postgres', 'SELECT ws.restore_snapshot(NULL)'), '2',
	'a replay of the whole log replays the entity\'s two events, not the bus events');
is($node->safe_psql('postgres', q{SELECT version || ':' || state FROM ws.entities WHERE entity_id = 'box1'}),
	'2:{"size": 2}', 'the entity is as before');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ws.relationships'), '0',
	'a bus event typed "linked" makes no edge');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ws.verify()'), '0', 'and verification still passes');

# dump and restore
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.session_put('desk', '"open"');
	SELECT ws.define_derived('letters', $$SELECT count(*) AS n FROM ws.events WHERE module = 'post'$$);
});
my $file = $node->basedir . '/bus.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $file, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $file ],
	'pg_restore into a fresh database');
is(polled('restored'), '5,6,7,8,9,10,later,after,prepared,after prepared,after doomed',
	'the restored subscriber continues where it was');
is($node->safe_psql('restored', 'SELECT n FROM ws_derived.letters'), '18', 'the derived view is restored');
is($node->safe_psql('restored', 'SELECT count(*) FROM ws.session_data'), '0', 'session state is not restored');
is($node->safe_psql('restored', q{
	SELECT ws.publish('post', 'letter', '{"n": 11}', handshake => '55-45-17') IS NOT NULL;
	SELECT count(*) FROM ws.event_schemas}), "t\n2", 'the restored schemas validate new events');

$node->stop;
done_testing();
