# The scan marks of the event bus (ws.subscriptions.scanned) across
# failures: a mark a poll moved is durable with its transaction and is
# kept across a crash, so polls after it still start past the events it
# stepped over; a mark never passes an event of a prepared transaction,
# which holds polls back across a crash until it commits.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('scan', "max_prepared_transactions = 5\n");
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.register_module('gauge', 1);
	SELECT ws.register_event_schema('gauge', 'tick', 1, '{}');
	SELECT ws.register_event_schema('gauge', 'alarm', 1, '{}');
	SELECT ws.subscribe('gauge.alarms', 'gauge', 'alarm');
	SELECT ws.ack('gauge.alarms', ws.hlc_now());
});

sub ticks
{
	$node->safe_psql('postgres', q{
		SELECT count(ws.publish('gauge', 'tick', jsonb_build_object('i', i), handshake => '55-45-17'))
		FROM generate_series(1, 200) i});
}

# the alarms ws.poll delivers now, in order
sub polled
{
	return $node->safe_psql('postgres',
		q{SELECT coalesce(string_agg(patch ->> 'n', ',' ORDER BY hlc), '') FROM ws.poll('gauge.alarms', 100)});
}

sub mark
{
	return $node->safe_psql('postgres',
		q{SELECT coalesce(scanned::text, 'none') FROM ws.subscriptions WHERE subscriber = 'gauge.alarms'});
}

# is the mark at or past every tick?
sub past_ticks
{
	return $node->safe_psql('postgres', q{
		SELECT p.scanned >= (SELECT max(arrival) FROM ws.events WHERE event_type = 'tick')
		FROM ws.subscriptions p WHERE p.subscriber = 'gauge.alarms'});
}

ticks();
is(polled(), '', 'nothing is due');
is(past_ticks(), 't', 'the poll moved the mark past the 200 ticks');
my $mark = mark();
ok(ws_crash_restart($node), 'the server restarts after a crash');
is(mark(), $mark, 'the mark is kept across the crash');
is(polled(), '', 'nothing is due after the crash');
is(mark(), $mark, 'and the poll found nothing new to step over');

# ticks, an alarm of a prepared transaction, ticks after it
ticks();
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	BEGIN;
	SELECT ws.publish('gauge', 'alarm', '{"n": "prepared"}');
	PREPARE TRANSACTION 'alarm';
});
ticks();
is(polled(), '', 'the prepared alarm is not delivered');
isnt(mark(), $mark, 'the ticks before it are stepped over');
$mark = mark();
ok(ws_crash_restart($node), 'the server restarts after a crash');
is(polled(), '', 'the prepared alarm still holds polls back after the crash');
is(mark(), $mark, 'the ticks after it are not stepped over');
$node->safe_psql('postgres', q{COMMIT PREPARED 'alarm'});
is(polled(), 'prepared', 'once committed, the alarm arrives: the mark stayed below it');
$node->safe_psql('postgres',
	q{SELECT ws.ack('gauge.alarms', hlc) FROM ws.poll('gauge.alarms', 100) ORDER BY hlc DESC LIMIT 1});
is(polled(), '', 'nothing is due after it');
is(past_ticks(), 't', 'the poll stepped over the 200 ticks after it');

$node->stop;
done_testing();
