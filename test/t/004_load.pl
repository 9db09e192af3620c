# A short load test: 8 pgbench clients updating 50 hot entities for 20
# seconds through ws.transition, then every entity's version equals its
# number of events, its state equals the fold of its patches, and the
# counter deltas add up (no lost update).  Also checks NOTIFY worldstate.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('load', "worldstate.node_id = 1\nmax_connections = 30\n");
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.register_module('load', 1);
	SELECT ws.define_kind('hot', 'load', 'lww', ARRAY['hits']);
	SELECT ws.add_constraint('hot', 'hits_not_negative', '$.hits >= 0');
	SELECT count(ws.create_entity('hot' || i, 'hot', 'load', '{"hits": 0}'))
	FROM generate_series(1, 50) i;
});

my $seconds = $ENV{WS_LOAD_SECONDS} // 20;
$node->pgbench(
	"--no-vacuum --client=8 --jobs=2 --time=$seconds",
	0,
	[qr{processed: [1-9]\d*}],
	[qr{^$}],
	"pgbench: 8 clients, 50 hot entities, ${seconds}s",
	{
		'004_hot' => q{
			\set id random(1, 50)
			SELECT ws.transition('hot' || :id, '{"hits": 1, "touched": true}', handshake => '55-45-17');
		}
	});

my $events = $node->safe_psql('postgres',
	"SELECT count(*) FROM ws.events WHERE kind = 'hot' AND event_type = 'update'");
cmp_ok($events, '>', 100, "the load wrote events ($events)");

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM ws.entities e
	WHERE kind = 'hot'
	  AND e.version <> (SELECT count(*) FROM ws.events v WHERE v.entity_id = e.entity_id)}),
	'0', 'every version equals the number of events of its entity');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM ws.entities e
	WHERE kind = 'hot'
	  AND EXISTS (SELECT FROM ws.events v WHERE v.entity_id = e.entity_id
	              GROUP BY v.entity_id
	              HAVING max(version) <> count(*) OR min(version) <> 1)}),
	'0', 'versions are contiguous from 1');

is($node->safe_psql('postgres', q{
	WITH RECURSIVE fold(entity_id, version, acc) AS (
	    SELECT entity_id, version, patch FROM ws.events WHERE version = 1 AND kind = 'hot'
	  UNION ALL
	    SELECT f.entity_id, e.version, ws.merge_patch(f.acc, e.patch)
	    FROM fold f JOIN ws.events e ON e.entity_id = f.entity_id AND e.version = f.version + 1
	)
	SELECT count(*) FROM ws.entities e
	WHERE kind = 'hot'
	  AND e.state <> (SELECT acc FROM fold f WHERE f.entity_id = e.entity_id AND f.version = e.version)}),
	'0', 'every state equals the fold of its patches');

is($node->safe_psql('postgres',
		"SELECT sum((state->>'hits')::bigint) FROM ws.entities WHERE kind = 'hot'"),
	$events, 'the counter deltas add up: no lost update');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
		SELECT hlc, lag(hlc) OVER (PARTITION BY entity_id ORDER BY version) AS prev
		FROM ws.events WHERE kind = 'hot') s
	WHERE prev IS NOT NULL AND NOT hlc OPERATOR(ws.>) prev}),
	'0', 'HLCs increase along every entity chain');

# NOTIFY worldstate carries the event header, only when asked for
my $out = $node->safe_psql('postgres', q{
	LISTEN worldstate;
	SET worldstate.notify = on;
	SELECT version FROM ws.transition('hot1', '{"hits": 1}', handshake => '55-45-17');
});
like($out, qr/Asynchronous notification "worldstate" with payload "\{"event_id":"[0-9a-f-]{36}","entity_id":"hot1","module":"[^"]+","version":\d+,"hlc":"[^"]+"\}"/,
	'NOTIFY worldstate with the event header when worldstate.notify = on');
$out = $node->safe_psql('postgres', q{
	LISTEN worldstate;
	SELECT version FROM ws.transition('hot1', '{"hits": 1}', handshake => '55-45-17');
});
unlike($out, qr/Asynchronous notification/, 'no NOTIFY by default');

$node->stop;
done_testing();
