# pg_dump / pg_restore into a fresh database keeps every module, kind,
# constraint, entity, event, version, relationship and snapshot, and
# ws.state_hash(); the restored world keeps working.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('dump');
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SET worldstate.keyframe_interval = 5;
	SELECT ws.register_module('shop', 1);
	SELECT ws.define_kind('cart', 'shop', 'lww', ARRAY['items']);
	SELECT ws.add_constraint('cart', 'items_not_negative', '$.items >= 0');
	SELECT count(ws.create_entity('cart' || i, 'cart', 'shop', '{"items": 0}')) FROM generate_series(1, 20) i;
	SELECT count(ws.transition('cart' || (i % 20 + 1), jsonb_build_object('items', 1, 'note', 'n' || i)))
	FROM generate_series(1, 300) i;
	SELECT ws.link('cart1', 'next', 'cart2', '{"w": 1}');
	SELECT ws.retire_entity('cart20');
	CREATE ROLE dump_app;
	SELECT ws.grant_module('shop', 'dump_app');
	SELECT ws.create_snapshot('before dump');
	SELECT count(ws.transition('cart' || i, '{"items": 1}')) FROM generate_series(1, 5) i;
});

# a digest of everything the world consists of
my $digest_sql = q{
	SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
		SELECT format('%s/%s/%s/%s/%s/%s/%s', entity_id, kind, module, state, version, hlc, vclock) AS x FROM ws.entities
		UNION ALL SELECT format('%s/%s/%s/%s/%s/%s/%s/%s', event_id, entity_id, version, hlc, patch, state, meta, event_type) FROM ws.events
		UNION ALL SELECT format('%s/%s/%s/%s/%s', from_id, rel, to_id, props, hlc) FROM ws.relationships
		UNION ALL SELECT format('%s/%s/%s', kind, module, counters) FROM ws.kinds
		UNION ALL SELECT format('%s/%s/%s', kind, name, predicate) FROM ws.constraints
		UNION ALL SELECT format('%s/%s', name, api_version) FROM ws.modules
		UNION ALL SELECT format('%s/%s', module, role) FROM ws.module_grants
	) s};
my $before = $node->safe_psql('postgres', $digest_sql);
my $counts = 'SELECT (SELECT count(*) FROM ws.entities) || \'/\' || (SELECT count(*) FROM ws.events)';
is($node->safe_psql('postgres', $counts), '20/327', 'the world before the dump');
my $hash = $node->safe_psql('postgres', 'SELECT ws.state_hash()');

my $file = $node->basedir . '/world.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $file, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $file ], 'pg_restore into a fresh database');

is($node->safe_psql('restored', $counts), '20/327', 'every entity and event restored');
is($node->safe_psql('restored', $digest_sql), $before, 'restored world is identical');
is($node->safe_psql('restored', 'SELECT ws.state_hash()'), $hash, 'ws.state_hash() is kept');
is($node->safe_psql('restored', 'SELECT count(*) FROM ws.verify()'), '0', 'the restored world verifies');
is($node->safe_psql('restored', q{
	SELECT ws.restore_snapshot((SELECT max(id) FROM ws.snapshots))}), '5',
	'the dumped snapshot restores, replaying the 5 events after it');
is($node->safe_psql('restored', 'SELECT ws.state_hash()'), $hash, 'and gives the same world');
is($node->safe_psql('restored', q{
	SELECT tgenabled FROM pg_trigger WHERE tgname = 'events_no_update'}), 'A',
	'the append-only guard is restored');

# the restored world keeps working: versions continue, guards hold
is($node->safe_psql('restored', q{
	SELECT version FROM ws.transition('cart1', '{"items": 1}', handshake => '55-45-17')}),
	$node->safe_psql('postgres', "SELECT version + 1 FROM ws.entities WHERE entity_id = 'cart1'"),
	'a transition after restore continues the version chain');
my ($rc, $out, $err) = $node->psql('restored', 'DELETE FROM ws.events');
like($err, qr/append-only/, 'events stay immutable after restore');

$node->stop;
done_testing();
