# Helpers shared by worldstate's TAP tests.
package WsTest;

use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);
use Exporter 'import';
our @EXPORT = qw(ws_node ws_crash_restart ws_trust_plugins);

# A new node configured as worldstate requires, started, with the extension
# created in database postgres.  Extra postgresql.conf text may be given.
sub ws_node
{
	my ($name, $extra) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'worldstate'\n" . ($extra // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION worldstate');
	return $node;
}

# Where the server has output_plugin_libraries (15.19 and later), list
# the plugins the tests use in it.
sub ws_trust_plugins
{
	my ($node) = @_;
	return
	  unless $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries'");
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding', 'worldstate'");
	$node->reload;
	$node->poll_query_until('postgres',
		"SELECT current_setting('output_plugin_libraries') LIKE '%worldstate%'");
	return;
}

# True while process $pid exists and is not a zombie.
sub alive
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return 0;
	my $stat = <$fh>;
	close($fh);
	return defined $stat && $stat =~ /^\d+ \(.*\) (\S)/ && $1 ne 'Z';
}

# Pids of the live children of $pid.
sub children
{
	my ($pid) = @_;
	my @kids;
	for my $f (glob('/proc/[0-9]*/stat'))
	{
		open(my $fh, '<', $f) or next;
		my $stat = <$fh>;
		close($fh);
		push @kids, $1 if defined $stat && $stat =~ /^(\d+) \(.*\) \S (\d+)/ && $2 == $pid;
	}
	return @kids;
}

# Crash a node: SIGKILL its postmaster, wait until it and its orphaned
# backends are gone (they exit when they notice the postmaster's death),
# then start it again.  A killed postmaster may linger as a zombie where
# nothing reaps orphans, so its stale postmaster.pid is removed once no
# process of the old server is alive, and so is its socket lock file.
sub ws_crash_restart
{
	my ($node) = @_;
	my $pid = $node->{_pid};
	my @procs = ($pid, children($pid));
	$node->kill9;
	for my $try (1 .. 600)
	{
		last unless grep { alive($_) } @procs;
		usleep(50_000);
	}
	return 0 if grep { alive($_) } @procs;
	unlink($node->data_dir . '/postmaster.pid');
	unlink($node->host . '/.s.PGSQL.' . $node->port . '.lock');
	return $node->start(fail_ok => 1);
}

1;
