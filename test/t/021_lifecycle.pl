# Lifecycle: ws.delete_snapshot keeps the snapshot that recovery from an
# archived log needs, and DROP EXTENSION worldstate leaves behind exactly
# what the README says: the empty schema ws, the cluster-wide roles, the
# node clock file, and replication slots their creators made; no table,
# function, type, view, schema ws_derived or publication of its own.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('lifecycle');
ws_trust_plugins($node);
$node->safe_psql('postgres', 'CREATE DATABASE app');

# what a database holds before the extension
my %catalog = (
	schemas => q{SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace
		WHERE nspname NOT LIKE 'pg\_%temp\_%'},
	roles => q{SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles},
	publications => q{SELECT count(*) FROM pg_publication},
	event_triggers => q{SELECT count(*) FROM pg_event_trigger},
	casts => q{SELECT count(*) FROM pg_cast},
	operators => q{SELECT count(*) FROM pg_operator},
	opfamilies => q{SELECT count(*) FROM pg_opfamily},
);
my %before = map { $_ => $node->safe_psql('app', $catalog{$_}) } keys %catalog;

$node->safe_psql('app', 'CREATE EXTENSION worldstate');
$node->safe_psql('app', q{
	SET worldstate.handshake = '55-45-17';
	SET worldstate.keyframe_interval = 4;
	SELECT ws.register_module('life', 1);
	SELECT ws.define_kind('cell', 'life', 'merge', ARRAY['n']);
	SELECT ws.add_constraint('cell', 'n_not_negative', '$.n >= 0');
	SELECT count(ws.create_entity('c' || i, 'cell', 'life', '{"n": 0}')) FROM generate_series(1, 5) i;
	SELECT count(ws.transition('c' || (i % 5 + 1), '{"n": 1}')) FROM generate_series(1, 40) i;
	SELECT ws.link('c1', 'next', 'c2');
	SELECT ws.register_event_schema('life', 'born', 1, '{}');
	SELECT ws.publish('life', 'born', '{}');
	SELECT ws.subscribe('life.watch', 'life', '%');
	SELECT ws.session_put('k', '1');
	SELECT ws.define_derived('cell_count', 'SELECT count(*) AS n FROM ws.entities');
	SELECT 'slot' FROM pg_create_logical_replication_slot('life_slot', 'worldstate');
});

# ws.delete_snapshot: the last snapshot taken since an archival is kept
my $s1 = $node->safe_psql('app', 'SELECT ws.create_snapshot()');
$node->safe_psql('app', q{
	SET worldstate.handshake = '55-45-17';
	SELECT count(ws.transition('c' || (i % 5 + 1), '{"n": 1}')) FROM generate_series(1, 10) i;
});
ok($node->safe_psql('app',
	"SELECT ws.archive_events((SELECT hlc FROM ws.snapshots WHERE id = $s1))") > 0,
	'events before the snapshot are archived');
my ($rc, $out, $err) = $node->psql('app', "SELECT ws.delete_snapshot($s1)");
like($err, qr/snapshot $s1 is the last one taken since events were archived/,
	'the only snapshot since the archival cannot be deleted');
like($err, qr/HINT:  Take a newer snapshot/, 'the error says what to do');
my $s2 = $node->safe_psql('app', 'SELECT ws.create_snapshot()');
$node->safe_psql('app', "SELECT ws.delete_snapshot($s1)");
is($node->safe_psql('app', "SELECT string_agg(id::text, ',') FROM ws.snapshots"), $s2,
	'once a newer one exists, the older one is deleted');
($rc, $out, $err) = $node->psql('app', "SELECT ws.delete_snapshot($s2)");
like($err, qr/is the last one taken since events were archived/, 'and the newer one is now kept');
my $hash = $node->safe_psql('app', 'SELECT ws.state_hash()');
$node->safe_psql('app', "SELECT ws.restore_snapshot($s2)");
is($node->safe_psql('app', 'SELECT ws.state_hash()'), $hash, 'recovery from the kept snapshot still works');

# DROP EXTENSION: derived views are objects of the roles that defined them,
# so a plain DROP refuses while one exists, and CASCADE drops them too
($rc, $out, $err) = $node->psql('app', 'DROP EXTENSION worldstate');
isnt($rc, 0, 'DROP EXTENSION refuses while a derived view exists');
like($err, qr/materialized view ws_derived\.cell_count depends on/, 'naming the derived view');
$node->safe_psql('app', 'DROP EXTENSION worldstate CASCADE');

my %after = map { $_ => $node->safe_psql('app', $catalog{$_}) } keys %catalog;
is($after{schemas}, join(',', sort(split(/,/, $before{schemas}), 'ws')),
	'of the schemas only ws is left, by PostgreSQL, which made it for the extension');
is($node->safe_psql('app', q{
	SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'ws'::regnamespace)
	     + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'ws'::regnamespace)
	     + (SELECT count(*) FROM pg_type WHERE typnamespace = 'ws'::regnamespace)
	     + (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'ws'::regnamespace)
	     + (SELECT count(*) FROM pg_opclass WHERE opcnamespace = 'ws'::regnamespace)}),
	'0', 'and it is empty: no table, sequence, view, function, type, operator or operator class');
is($after{roles}, $before{roles}, 'the roles ws_reader, ws_writer and ws_admin stay: they are cluster-wide');
like($after{roles}, qr/\bws_admin,ws_reader,ws_writer\b/, 'they existed before (made by the first CREATE EXTENSION)');
is($after{publications}, $before{publications}, 'no publication is left');
is($after{event_triggers}, $before{event_triggers}, 'no event trigger is left');
is($after{casts}, $before{casts}, 'no cast is left');
is($after{operators}, $before{operators}, 'no operator is left');
is($after{opfamilies}, $before{opfamilies}, 'no operator family is left');
is($node->safe_psql('app', q{SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
	AND refobjid NOT IN (SELECT oid FROM pg_extension)}), '0', 'no object depends on the dropped extension');
is($node->safe_psql('app', q{SELECT string_agg(slot_name, ',') FROM pg_replication_slots WHERE plugin = 'worldstate'}),
	'life_slot', 'a slot its creator made stays, as slots of any plugin do');
ok(-f $node->data_dir . '/worldstate.clock',
	'the node clock file stays in PGDATA: the clock never goes back while the library is loaded');
$node->safe_psql('app', q{SELECT pg_drop_replication_slot('life_slot')});

# the extension comes back empty, in the schema that was left
$node->safe_psql('app', 'CREATE EXTENSION worldstate');
is($node->safe_psql('app', q{SELECT (SELECT count(*) FROM ws.entities) + (SELECT count(*) FROM ws.modules)
	+ (SELECT count(*) FROM ws.snapshots) + (SELECT count(*) FROM ws.events)}),
	'0', 'CREATE EXTENSION after the drop starts an empty world');
$node->safe_psql('app', 'DROP EXTENSION worldstate');
$node->safe_psql('app', 'DROP SCHEMA ws');
is($node->safe_psql('app', $catalog{schemas}), $before{schemas},
	'DROP SCHEMA ws after DROP EXTENSION leaves the database as it was');

$node->stop;
done_testing();
