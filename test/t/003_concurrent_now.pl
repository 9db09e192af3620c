# Several backends calling ws.hlc_now() at once never see a duplicate, and
# each backend sees strictly increasing values (pgbench, 4 clients).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('concurrent');
$node->safe_psql('postgres',
	'CREATE TABLE ticks (seq bigserial PRIMARY KEY, pid int, h ws.hlc)');

$node->pgbench(
	'--no-vacuum --client=4 --jobs=2 --transactions=500',
	0,
	[qr{processed: 2000/2000}],
	[qr{^$}],
	'pgbench: 4 clients each calling ws.hlc_now()',
	{
		'003_now' => q{
			INSERT INTO ticks (pid, h)
			SELECT pg_backend_pid(), ws.hlc_now() FROM generate_series(1, 20);
		}
	});

is($node->safe_psql('postgres', 'SELECT count(*) FROM ticks'), '40000', 'all values recorded');
is($node->safe_psql('postgres', 'SELECT count(*) - count(DISTINCT h) FROM ticks'),
	'0', 'no duplicate across backends');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
		SELECT h, lag(h) OVER (PARTITION BY pid ORDER BY seq) AS prev FROM ticks) t
	WHERE prev IS NOT NULL AND NOT h OPERATOR(ws.>) prev}),
	'0', 'no decrease within any backend');
# a unique index on the values builds, proving uniqueness by the btree opclass too
$node->safe_psql('postgres', 'CREATE UNIQUE INDEX ON ticks (h)');
pass('unique index on hlc_now() values builds');

$node->stop;
done_testing();
