# The worker runs as the bootstrap superuser, so it must not pick up the
# search_path of its database or role: with public first, a planted
# public.text domain and public.=(bigint, bigint) operator would run as
# superuser in its snapshot cycle.  The worker pins search_path and
# qualifies what it runs; the planted objects are never called.  Its
# transactions are READ COMMITTED whatever the database's default, so a
# serializable default does not stop its snapshots.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsTest;

my $node = ws_node('worker_search_path', "worldstate.snapshot_interval = 0\n");
$node->safe_psql('postgres', q{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.register_module('wsp', 1);
	SELECT ws.define_kind('wsp_item', 'wsp');
	SELECT version FROM ws.create_entity('wsp1', 'wsp_item', 'wsp', '{"n": 0}');
	CREATE ROLE regress_planter;
	GRANT CREATE ON SCHEMA public TO regress_planter;
	CREATE TABLE public.called (what text);
	GRANT INSERT ON public.called TO PUBLIC;
});
# what an unprivileged role with CREATE on public plants
$node->safe_psql('postgres', q{
	SET ROLE regress_planter;
	CREATE FUNCTION public.planted_text(pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO public.called VALUES ('text domain as ' || current_user); RETURN true; END $$;
	CREATE DOMAIN public.text AS pg_catalog.text CHECK (public.planted_text(VALUE));
	CREATE FUNCTION public.planted_eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO public.called VALUES ('= as ' || current_user); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
	CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.planted_eq);
});
$node->safe_psql('postgres', 'ALTER DATABASE postgres SET search_path = public, pg_catalog');
# nor the isolation level: a snapshot is refused in a transaction snapshot
$node->safe_psql('postgres', "ALTER DATABASE postgres SET default_transaction_isolation = 'serializable'");

# turn the schedule on: the worker connects and takes snapshots
$node->safe_psql('postgres', "ALTER SYSTEM SET worldstate.snapshot_interval = '200ms'");
$node->safe_psql('postgres', 'ALTER SYSTEM SET worldstate.snapshot_retention = 1');
$node->reload;
ok($node->poll_query_until('postgres', 'SELECT count(*) >= 1 FROM ws.snapshots'),
	'the worker takes snapshots');
ok($node->poll_query_until('postgres', 'SELECT max(id) >= 3 FROM ws.snapshots'),
	'and prunes them, cycle after cycle');
is($node->safe_psql('postgres', 'SELECT count(*) FROM public.called'), '0',
	'no planted domain or operator ran in the worker');

$node->stop;
done_testing();
