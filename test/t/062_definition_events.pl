# Catalog events: on a node of a mesh (worldstate.node_id 1 here) every
# catalog function that changes a definition appends one event of the
# reserved module "ws", type "definitions", in its own transaction, whose
# patch holds what changed in the format of ws.export_definitions; a call
# that changes nothing, or that fails, appends none.  The catalog of node
# 1, exported and imported on node 2, exports the same bytes there; and
# node 1's catalog events, applied in HLC order to an empty database as
# replication applies them, rebuild the same catalog.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsMesh;

my ($n1, $n2) = ws_mesh('defs', 2);

for my $n ($n1, $n2)
{
	$n->safe_psql('postgres',
		'CREATE ROLE clerk LOGIN IN ROLE ws_writer; CREATE ROLE temp_clerk NOLOGIN');
}

# the catalog events of a node, in HLC order
sub catalog_events
{
	my ($node, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT count(*) FROM ws.events WHERE module = 'ws' AND event_type = 'definitions'");
}

# Run $sql on node 1; check it appended exactly one catalog event whose
# patch is $patch (jsonb equality), complete as an event of the node.
sub appends
{
	my ($sql, $patch, $what) = @_;
	my $before = catalog_events($n1);
	$n1->safe_psql('postgres', $sql);
	is(catalog_events($n1), $before + 1, "$what appends one catalog event");
	is( $n1->safe_psql(
			'postgres', qq{
		SELECT patch = '$patch'::jsonb, entity_id IS NULL AND version IS NULL AND kind IS NULL,
		       origin_node, ws.hlc_node(hlc), handshake, actor, schema_version
		FROM ws.events WHERE module = 'ws' ORDER BY hlc DESC LIMIT 1}),
		't|t|1|1|55-45-17|postgres|1',
		"$what: its patch holds what changed, origin node 1, no entity")
	  or diag($n1->safe_psql('postgres',
			"SELECT patch FROM ws.events WHERE module = 'ws' ORDER BY hlc DESC LIMIT 1"));
}

# Run $sql on node 1 (it may fail); check it appended no catalog event.
sub appends_none
{
	my ($sql, $what) = @_;
	my $before = catalog_events($n1);
	$n1->psql('postgres', $sql);
	is(catalog_events($n1), $before, "$what appends no catalog event");
}

$n1->safe_psql('postgres', q{ALTER SYSTEM SET worldstate.handshake = '55-45-17'; SELECT pg_reload_conf()});

appends(q{SELECT ws.register_module('shop', 1)},
	'{"format": 1, "modules": [{"name": "shop", "api_version": 1, "require_event_schemas": false}]}',
	'ws.register_module');
appends_none(q{SELECT ws.register_module('shop', 1)}, 'registering a module again unchanged');
appends(q{SELECT ws.register_module('shop', 2, require_event_schemas => true)},
	'{"format": 1, "modules": [{"name": "shop", "api_version": 2, "require_event_schemas": true}]}',
	'ws.register_module changing the module');
appends(q{SELECT ws.grant_module('shop', 'clerk')},
	'{"format": 1, "grants": [{"module": "shop", "role": "clerk", "admin": false}]}',
	'ws.grant_module');
appends(q{SELECT ws.grant_module('shop', 'clerk', admin => true)},
	'{"format": 1, "grants": [{"module": "shop", "role": "clerk", "admin": true}]}',
	'ws.grant_module changing the tier');
appends(q{SELECT ws.define_kind('order', 'shop', 'merge', ARRAY['total'])},
	'{"format": 1, "kinds": [{"kind": "order", "module": "shop", "policy": "merge", "counters": ["total"]}]}',
	'ws.define_kind');
appends(q{SELECT ws.add_constraint('order', 'total_ok', '$.total >= 0')},
	'{"format": 1, "constraints": [{"kind": "order", "name": "total_ok", "predicate": "($.\"total\" >= 0)"}]}',
	'ws.add_constraint');
appends(q{SELECT ws.register_event_schema('shop', 'paid', 1, ARRAY['$.amount > 0']::jsonpath[], '1 day')},
	'{"format": 1, "event_schemas": [{"module": "shop", "event_type": "paid", "version": 1, "rules": ["($.\"amount\" > 0)"], "grace": "P1D"}]}',
	'ws.register_event_schema');
appends_none(q{SELECT ws.register_event_schema('shop', 'paid', 1, ARRAY['$.amount > 0']::jsonpath[], '1 day')},
	'registering an event schema version again unchanged');
$n1->safe_psql('postgres', q{SELECT ws.add_constraint('order', 'tmp', '$.x > 0')});
appends(q{SELECT ws.drop_constraint('order', 'tmp')},
	'{"format": 1, "dropped_constraints": [{"kind": "order", "name": "tmp"}]}',
	'ws.drop_constraint');
$n1->safe_psql('postgres', q{SELECT ws.grant_module('shop', 'temp_clerk')});
appends(q{SELECT ws.revoke_module('shop', 'temp_clerk')},
	'{"format": 1, "revoked_grants": [{"module": "shop", "role": "temp_clerk"}]}',
	'ws.revoke_module');
appends_none(q{SELECT ws.define_kind('bad', 'shop', 'sometimes')}, 'a catalog call that fails');
appends_none(q{BEGIN; SELECT ws.register_module('gone', 1); ROLLBACK},
	'a catalog change rolled back');
# the last line of the output: the count (register_module prints an empty one)
is((split /\n/, $n1->safe_psql('postgres', q{
	BEGIN;
	SELECT ws.register_module('same_tx', 1);
	SELECT count(*) FROM ws.events e WHERE e.module = 'ws' AND e.txid = pg_current_xact_id()
	  AND e.patch @> '{"modules": [{"name": "same_tx"}]}';
	COMMIT}))[-1], '1', 'the event is written in the transaction of the change');

# an import appends one event per definition it creates
my $before = catalog_events($n1);
is($n1->safe_psql('postgres', q{SELECT ws.import_definitions('{"format": 1,
	"modules": [{"name": "bank", "api_version": 1}],
	"kinds": [{"kind": "account", "module": "bank", "counters": ["balance"]}]}')}),
	'2', 'an import creates two definitions');
is(catalog_events($n1), $before + 2, 'and appends their two catalog events');
appends_none(q{SELECT ws.import_definitions('{"format": 1,
	"modules": [{"name": "later", "api_version": 1}],
	"kinds": [{"kind": "account", "module": "bank", "policy": "merge", "counters": ["balance"]}]}')},
	'an import that fails on its last definition');

# export on node 1, import on node 2: the same document
my $doc = $n1->safe_psql('postgres', 'SELECT ws.export_definitions()');
# (another IntervalStyle on node 2 changes nothing)
my $created = $n2->safe_psql('postgres',
	"SET intervalstyle = sql_standard; SELECT ws.import_definitions(\$d\$$doc\$d\$)");
ok($created > 5, "node 2 imports node 1's definitions ($created created)");
is($n2->safe_psql('postgres', 'SELECT ws.export_definitions()'), $doc,
	'node 2 exports the same document as node 1, byte for byte');
is($n2->safe_psql('postgres',
		"SELECT count(*), min(origin_node), max(origin_node) FROM ws.events WHERE module = 'ws'"),
	"$created|2|2", 'the import appended its catalog events on node 2, of origin 2');
is($n2->safe_psql('postgres', "SELECT ws.import_definitions(\$d\$$doc\$d\$)"), '0',
	'a second import creates nothing');

# node 1's catalog events, applied in HLC order to an empty database as
# replication applies them, rebuild node 1's catalog, appending no event
$n2->safe_psql('postgres', 'CREATE DATABASE replay');
$n2->safe_psql('replay', 'CREATE EXTENSION worldstate');
my @patches = split /\n/, $n1->safe_psql('postgres',
	"SELECT patch FROM ws.events WHERE module = 'ws' AND event_type = 'definitions' ORDER BY hlc");
for my $patch (@patches)
{
	$n2->safe_psql('replay', "SELECT ws._apply_definitions(\$d\$$patch\$d\$)");
}
is($n2->safe_psql('replay', 'SELECT ws.export_definitions()'), $doc,
	'applying node 1\'s catalog events in order rebuilds its catalog');
is(catalog_events($n2, 'replay'), '0', 'applying catalog events appends none');

done_testing();
