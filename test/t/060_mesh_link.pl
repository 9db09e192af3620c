# The mesh harness (WsMesh.pm): two nodes with their node ids, a logical
# replication link from node 1 to node 2 through the TCP proxy, and the
# proxy's pause, resume and cut seen by PostgreSQL as a stalled and a
# broken link.  The multi-node tests build on these pieces.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsMesh;

my ($n1, $n2) = ws_mesh('link', 2);
is($n1->safe_psql('postgres', 'SHOW worldstate.node_id'), '1', 'node 1 has node id 1');
is($n2->safe_psql('postgres', 'SHOW worldstate.node_id'), '2', 'node 2 has node id 2');

for my $n ($n1, $n2)
{
	$n->safe_psql('postgres', 'CREATE TABLE public.t (id int PRIMARY KEY, origin int NOT NULL)');
}
$n1->safe_psql('postgres',
	"CREATE PUBLICATION p1 FOR TABLE public.t WHERE (origin = 1) WITH (publish = 'insert')");

my $proxy = ws_proxy_start($n1->port);
$n2->safe_psql('postgres',
	"CREATE SUBSCRIPTION s1 CONNECTION 'host=127.0.0.1 port=$proxy->{port} dbname=postgres' PUBLICATION p1");
$n2->wait_for_subscription_sync($n1, 's1');

# the link works through the proxy, and the row filter holds
$n1->safe_psql('postgres', 'INSERT INTO public.t VALUES (1, 1), (2, 2)');
$n1->wait_for_catchup('s1');
is($n2->safe_psql('postgres', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM public.t'),
	'1', 'a row of origin 1 arrives through the proxy; one of origin 2 is filtered out');

# pause: the walsender hears nothing back and gives up (wal_sender_timeout)
my $sender = $n1->safe_psql('postgres', "SELECT pid FROM pg_stat_replication WHERE application_name = 's1'");
ws_proxy_signal($proxy, 'USR1');
$n1->safe_psql('postgres', 'INSERT INTO public.t VALUES (3, 1)');
ok($n1->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT FROM pg_stat_replication WHERE pid = $sender)"),
	'a paused proxy stalls the link until the sender times out');
is($n2->safe_psql('postgres', 'SELECT count(*) FROM public.t WHERE id = 3'), '0',
	'nothing crossed the paused proxy');

# resume: the subscription reconnects and catches up
ws_proxy_signal($proxy, 'USR2');
ok($n2->poll_query_until('postgres', 'SELECT count(*) = 1 FROM public.t WHERE id = 3'),
	'after resume the row written during the pause arrives');

# cut: connections close at once and new ones are refused until resume
my $worker = $n2->safe_psql('postgres', "SELECT pid FROM pg_stat_subscription WHERE subname = 's1'");
ws_proxy_signal($proxy, 'HUP');
ok($n2->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT FROM pg_stat_subscription WHERE subname = 's1' AND pid = $worker)"),
	'a cut ends the apply worker\'s connection');
$n1->safe_psql('postgres', 'INSERT INTO public.t VALUES (4, 1)');
is($n2->safe_psql('postgres', 'SELECT count(*) FROM public.t WHERE id = 4'), '0',
	'nothing crosses a cut link');
ws_proxy_signal($proxy, 'USR2');
ok($n2->poll_query_until('postgres', 'SELECT count(*) = 1 FROM public.t WHERE id = 4'),
	'after the cut heals the row arrives');

ws_proxy_stop($proxy);
done_testing();
