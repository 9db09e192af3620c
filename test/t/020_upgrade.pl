# A database made by worldstate 1.0 (test/t/fixtures/worldstate-1.0.sql, a
# pg_dump written by the 1.0 release, with what 1.0 answered about its
# world) is restored with the current library, updated with ALTER
# EXTENSION worldstate UPDATE, and keeps its world: the same state hashes
# now and in the past, the same past states, histories and neighbours, a
# clean ws.verify(); new changes continue its version chains.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'worldstate'\n");
$node->start;

# a fresh database gets the newest version (from its full script)
$node->safe_psql('postgres', 'CREATE EXTENSION worldstate');
my $newest = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'worldstate'");
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'worldstate'"),
	$newest, "CREATE EXTENSION installs the newest version ($newest)");
isnt($newest, '1.0', 'the newest version is past 1.0');

$node->safe_psql('postgres', 'CREATE ROLE upgrade_app');
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('old'),
	  '-f', "$FindBin::RealBin/fixtures/worldstate-1.0.sql" ],
	'the 1.0 database restores');
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'worldstate'"),
	'1.0', 'it is at version 1.0');

# The HLC send rule and binary I/O of ws.hlc through the functions as a
# database binds them: 1.0 binds ws.hlc_send(prev, wall, node) to the C
# name that is now the binary send function, and the binary I/O to
# hlc_recv_binary and hlc_send_binary; 1.1 binds the rule to hlc_tick and
# the binary I/O to hlc_recv and hlc_send.
my $hlc_file = $node->basedir . '/hlc.bin';
sub hlc_calls
{
	my ($db, $when) = @_;
	is($node->safe_psql($db, q{SELECT ws.hlc_send('2026-01-01T00:00:01Z/7@1', '2026-01-01 00:00:00+00', 2)}),
		'2026-01-01T00:00:01.000000Z/8@2', "$when: ws.hlc_send(prev, wall, node) is the send rule");
	is($node->safe_psql($db, q{SELECT ws.hlc_send('2026-01-01T00:00:00Z/7@1', '2026-01-01 00:00:01+00', 2)}),
		'2026-01-01T00:00:01.000000Z/0@2', "$when: and takes the physical clock when it is ahead");
	is($node->safe_psql($db, q{SELECT ws.hlc_send('1970-01-01T00:00:00.000001Z/2@3'::ws.hlc)}),
		'\x00000000000000010000000200000003', "$when: ws.hlc_send(ws.hlc) is the binary send function");
	is($node->safe_psql($db, q{CREATE TEMP TABLE hlc_io (h ws.hlc);
		COPY (SELECT '2026-01-15T10:00:00.123456Z/5@3'::ws.hlc) TO '} . $hlc_file . q{' WITH (FORMAT binary);
		COPY hlc_io FROM '} . $hlc_file . q{' WITH (FORMAT binary);
		SELECT h FROM hlc_io}),
		'2026-01-15T10:00:00.123456Z/5@3', "$when: COPY BINARY writes ws.hlc and reads it back");
}
hlc_calls('old', '1.0 definitions, current library');

$node->safe_psql('old', 'ALTER EXTENSION worldstate UPDATE');

hlc_calls('old', 'after the update');
is($node->safe_psql('old', q{
	SELECT string_agg(p.oid::regprocedure || '=' || p.prosrc, ', ' ORDER BY p.oid::regprocedure::text)
	FROM pg_proc p WHERE p.oid IN ('ws.hlc_recv(internal)'::regprocedure, 'ws.hlc_send(ws.hlc)'::regprocedure,
	                               'ws.hlc_send(ws.hlc, timestamptz, int)'::regprocedure,
	                               'ws.hlc_tick(ws.hlc, timestamptz, int)'::regprocedure)}),
	'ws.hlc_recv(internal)=hlc_recv, ws.hlc_send(ws.hlc)=hlc_send, '
	. 'ws.hlc_send(ws.hlc,timestamp with time zone,integer)=hlc_tick, '
	. 'ws.hlc_tick(ws.hlc,timestamp with time zone,integer)=hlc_tick',
	'the update binds the binary I/O to hlc_recv and hlc_send, the send rule and its alias to hlc_tick');
is($node->safe_psql('old', q{SELECT ws.hlc_tick('2026-01-01T00:00:01Z/7@1', '2026-01-01 00:00:00+00', 2)}),
	'2026-01-01T00:00:01.000000Z/8@2', 'ws.hlc_tick is the send rule');
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'worldstate'"),
	$newest, 'ALTER EXTENSION worldstate UPDATE reaches the newest version');

# every answer 1.0 gave about the world, asked again after the update
my %now = (
	state_hash => 'SELECT ws.state_hash()',
	state_hash_mid => 'SELECT ws.state_hash((SELECT h FROM public.upgrade_mid))',
	entities_at_mid => q{SELECT md5(string_agg(format('%s/%s/%s/%s', entity_id, state, version, retired), '|' ORDER BY entity_id))
		FROM ws.entities_at((SELECT h FROM public.upgrade_mid))},
	states_mid => q{SELECT md5(string_agg(format('%s/%s', entity_id, ws.get_state(entity_id, (SELECT h FROM public.upgrade_mid))), '|' ORDER BY entity_id))
		FROM ws.entities},
	entities => q{SELECT md5(string_agg(format('%s/%s/%s/%s/%s', entity_id, state, version, hlc, retired), '|' ORDER BY entity_id))
		FROM ws.entities},
	history_p1 => q{SELECT md5(string_agg(format('%s/%s/%s', version, hlc, patch), '|' ORDER BY hlc)) FROM ws.history('p1')},
	neighbors_mid => q{SELECT md5(string_agg(format('%s/%s/%s', rel, to_id, props), '|' ORDER BY rel, to_id))
		FROM ws.neighbors('cart2', NULL, (SELECT h FROM public.upgrade_mid))},
	find => q{SELECT string_agg(entity_id, ',' ORDER BY entity_id) FROM ws.find('{"name": "n"}')},
	verify => 'SELECT count(*) FROM ws.verify()',
	events => 'SELECT count(*) FROM ws.events',
);
for my $name (sort keys %now)
{
	my $then = $node->safe_psql('old', "SELECT value FROM public.upgrade_expect WHERE name = '$name'");
	isnt($then, '', "1.0 recorded $name");
	is($node->safe_psql('old', $now{$name}), $then, "$name is what 1.0 answered");
}

# 1.1 records who made each event: the events written by 1.0 have no actor
is($node->safe_psql('old', 'SELECT count(*) FROM ws.events WHERE actor IS NOT NULL OR caller_meta IS NOT NULL'),
	'0', 'events written by 1.0 have no actor and no caller meta');

# 1.1 numbers events in local arrival order: 1.0's events get numbers in
# HLC order, archived ones first, and the subscriber's position becomes the
# arrival of the event it acknowledged, so it is due the same events
is($node->safe_psql('old', q{
	SELECT count(*) FILTER (WHERE arrival IS NULL) || '/' || count(DISTINCT arrival) || '/' || max(arrival)
	FROM (SELECT arrival FROM ws.events UNION ALL SELECT arrival FROM ws.events_archive) a}),
	$node->safe_psql('old', q{SELECT '0/' || n || '/' || n
	FROM (SELECT (SELECT count(*) FROM ws.events) + (SELECT count(*) FROM ws.events_archive) AS n) c}),
	'every event of 1.0 has an arrival number, 1 to the number of events');
is($node->safe_psql('old', q{
	SELECT count(*) FROM (SELECT arrival, lag(arrival) OVER (ORDER BY hlc) AS before FROM ws.events) e
	WHERE arrival <= before}), '0', 'in HLC order');
is($node->safe_psql('old', q{SELECT count(*) FROM ws.poll('shop', 1000)}),
	$node->safe_psql('old', q{SELECT count(*) FROM ws.events
		WHERE module = 'shop' AND hlc OPERATOR(ws.>) (SELECT position FROM ws.subscribers WHERE subscriber = 'shop')}),
	'the 1.0 subscriber is due the events above its position');
isnt($node->safe_psql('old', q{SELECT count(*) FROM ws.poll('shop', 1000)}), '0', 'some of them');

# the updated world keeps working: versions continue, the snapshot restores
# 1.1 grants have two tiers: a grant made under 1.0 is a writer grant
is($node->safe_psql('old', q{SELECT string_agg(module || ':' || role::text || ':' || admin, ',') FROM ws.module_grants}),
	'shop:upgrade_app:false', 'the 1.0 grant is a writer grant after the update');
is($node->safe_psql('old', q{SELECT count(*) FROM ws.modules WHERE require_event_schemas}), '0',
	'no 1.0 module requires event schemas');
is($node->safe_psql('old', q{SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc p
	WHERE p.pronamespace = 'ws'::regnamespace AND p.proisstrict
	  AND p.proname IN ('register_module', 'grant_module', 'define_kind', 'add_constraint', 'archive_events')}),
	'', 'the catalog functions that were STRICT in 1.0 are not after the update');

my $v = $node->safe_psql('old', "SELECT version FROM ws.entities WHERE entity_id = 'p1'");
is($node->safe_psql('old', q{
	SET worldstate.handshake = '55-45-17';
	SELECT version FROM ws.transition('p1', '{"coins": 1}')}), $v + 1,
	'a transition after the update continues the version chain');
is($node->safe_psql('old', q{
	SELECT actor = current_user AND caller_meta IS NULL FROM ws.events
	WHERE entity_id = 'p1' ORDER BY version DESC LIMIT 1}), 't',
	'and records its actor');
is($node->safe_psql('old', q{
	SELECT arrival = (SELECT max(arrival) FROM ws.events) AND arrival = pg_sequence_last_value('ws.events_arrival_seq')
	FROM ws.events WHERE entity_id = 'p1' ORDER BY version DESC LIMIT 1}), 't',
	'and takes the next arrival number');
is($node->safe_psql('old', q{
	SET worldstate.handshake = '55-45-17';
	SELECT version FROM ws.create_entity('cart21', 'cart', 'shop', '{"items": 0}')}), '1',
	'a new entity can be created');
my $hash = $node->safe_psql('old', 'SELECT ws.state_hash()');
$node->safe_psql('old', 'SELECT ws.restore_snapshot((SELECT max(id) FROM ws.snapshots))');
is($node->safe_psql('old', 'SELECT ws.state_hash()'), $hash,
	'the 1.0 snapshot restores to the same world after the update');
is($node->safe_psql('old', 'SELECT count(*) FROM ws.verify()'), '0', 'and it verifies');

$node->stop;
done_testing();
