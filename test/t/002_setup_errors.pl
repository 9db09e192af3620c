# Without shared_preload_libraries = 'worldstate' or wal_level = logical,
# CREATE EXTENSION fails with a clear message and a hint naming the setting;
# functions that need shared memory say the same when the library was
# loaded late.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $plain = PostgreSQL::Test::Cluster->new('not_preloaded');
$plain->init(allows_streaming => 'logical');
$plain->start;
my ($rc, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION worldstate');
isnt($rc, 0, 'CREATE EXTENSION fails when the library is not preloaded');
like($err, qr/worldstate is not loaded through shared_preload_libraries/, 'the message says why');
like($err, qr/HINT:.*shared_preload_libraries/, 'the hint names shared_preload_libraries');
is($plain->safe_psql('postgres', "SELECT count(*) FROM pg_namespace WHERE nspname = 'ws'"),
	'0', 'nothing is left behind');
$plain->stop;

my $replica = PostgreSQL::Test::Cluster->new('wal_replica');
$replica->init;
$replica->append_conf('postgresql.conf', "shared_preload_libraries = 'worldstate'\nwal_level = replica\n");
$replica->start;
($rc, $out, $err) = $replica->psql('postgres', 'CREATE EXTENSION worldstate');
isnt($rc, 0, 'CREATE EXTENSION fails when wal_level is not logical');
like($err, qr/worldstate needs wal_level = logical/, 'the message says why');
like($err, qr/HINT:.*wal_level = logical/, 'the hint names wal_level');
$replica->stop;

done_testing();
