# Several worldstate nodes on loopback, and a TCP proxy between two of
# them that a test can pause, resume or cut: the pieces of the multi-node
# TAP tests.
#
# Each node listens on 127.0.0.1 as well as on its socket, so that a
# subscription can reach a peer through the proxy (host=127.0.0.1
# port=<proxy port>).  The proxy is a child process; signals drive it:
#   SIGUSR1  pause: stop forwarding, keep the connections open (a stalled
#            link: the peers notice only by their timeouts)
#   SIGUSR2  resume forwarding
#   SIGHUP   cut: close every connection now and refuse new ones until
#            SIGUSR2 (a broken link: the peers notice at once)
package WsMesh;

use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Exporter 'import';
our @EXPORT = qw(ws_mesh_node ws_mesh ws_apply_errors ws_proxy_start ws_proxy_signal ws_proxy_stop);

# A node configured for a mesh of $size nodes, worldstate.node_id $id,
# started, with the extension created in database postgres.
sub ws_mesh_node
{
	my ($name, $id, $size, $extra) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my $slots = 2 * $size + 4;

	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf', join('',
		"shared_preload_libraries = 'worldstate'\n",
		"worldstate.node_id = $id\n",
		"listen_addresses = '127.0.0.1'\n",
		"max_replication_slots = $slots\n",
		"max_wal_senders = $slots\n",
		"max_logical_replication_workers = ", $size + 4, "\n",
		"max_worker_processes = ", $size + 16, "\n",
		"wal_receiver_timeout = '5s'\n",
		"wal_sender_timeout = '5s'\n",
		"wal_retrieve_retry_interval = '200ms'\n",
		$extra // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION worldstate');
	return $node;
}

# $size nodes named "$prefix$i", node ids 1 .. $size.
sub ws_mesh
{
	my ($prefix, $size, $extra) = @_;
	return map { ws_mesh_node("$prefix$_", $_, $size, $extra) } 1 .. $size;
}

# The ERRORs an apply worker raised while it processed a remote change, in
# $node's log from byte $from on: each an ERROR line whose process's next
# line is the CONTEXT "processing remote data for replication origin" (a
# worker stopped by a disabled subscription or a killed peer logs that
# CONTEXT under a LOG line, and is not one).
sub ws_apply_errors
{
	my ($node, $from) = @_;
	my $log = slurp_file($node->logfile, $from // 0);
	my (%last, @errors);
	for my $line (split /\n/, $log)
	{
		my ($pid, $level) = $line =~ /^\S+ \S+ \S+ \[(\d+)\] (?:\S+ )?([A-Z]+): / or next;
		push @errors, $last{$pid}
		  if $level eq 'CONTEXT' && $line =~ /processing remote data for replication origin/
		  && ($last{$pid} // '') =~ /\] (?:\S+ )?ERROR: /;
		$last{$pid} = $line unless $level eq 'CONTEXT';
	}
	return @errors;
}

# The proxy's loop: accept on $listen, forward each connection to
# 127.0.0.1:$target in both directions; signals as in the file header.
sub proxy_loop
{
	my ($listen, $target) = @_;
	my ($paused, $cut) = (0, 0);
	my %peer;	# socket -> the socket it forwards to
	my $sel = IO::Select->new($listen);

	# keys of %peer are stringified; its values are the sockets, both ends
	my $close_all = sub {
		my @socks = values %peer;
		%peer = ();
		for my $sock (@socks)
		{
			$sel->remove($sock);
			close($sock);
		}
	};
	local $SIG{USR1} = sub { $paused = 1 };
	local $SIG{USR2} = sub { $paused = 0; $cut = 0 };
	local $SIG{HUP} = sub { $cut = 1 };
	# _exit: the child must not run the test's END blocks (they stop the nodes)
	local $SIG{TERM} = sub { $close_all->(); POSIX::_exit(0) };

	for (;;)
	{
		$close_all->() if $cut && %peer;
		my @ready = $sel->can_read(0.1);
		for my $s (@ready)
		{
			if ($s == $listen)
			{
				my $in = $listen->accept or next;
				if ($cut)
				{
					close($in);
					next;
				}
				my $out = IO::Socket::INET->new(
					PeerAddr => '127.0.0.1',
					PeerPort => $target,
					Proto => 'tcp');
				if (!$out)
				{
					close($in);
					next;
				}
				$peer{$in} = $out;
				$peer{$out} = $in;
				$sel->add($in, $out);
				next;
			}
			next if $paused;
			my $to = $peer{$s} or next;
			my $buf;
			my $n = sysread($s, $buf, 65536);
			if (!$n)
			{
				delete $peer{$s};
				delete $peer{$to};
				$sel->remove($s, $to);
				close($s);
				close($to);
				next;
			}
			my $off = 0;
			while ($off < $n)
			{
				my $w = syswrite($to, $buf, $n - $off, $off);
				last unless defined $w;
				$off += $w;
			}
		}
	}
}

# Start a proxy to 127.0.0.1:$target_port; returns { pid, port }.
sub ws_proxy_start
{
	my ($target_port) = @_;
	my $listen = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1',
		LocalPort => 0,
		Listen => 16,
		ReuseAddr => 1,
		Proto => 'tcp') or die "proxy: cannot listen: $!";
	my $port = $listen->sockport;
	my $pid = fork();
	die "proxy: cannot fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		proxy_loop($listen, $target_port);
		POSIX::_exit(0);
	}
	close($listen);
	return { pid => $pid, port => $port };
}

# Send the proxy 'USR1' (pause), 'USR2' (resume) or 'HUP' (cut).
sub ws_proxy_signal
{
	my ($proxy, $sig) = @_;
	kill($sig, $proxy->{pid}) or die "proxy: cannot signal $proxy->{pid}: $!";
	return;
}

sub ws_proxy_stop
{
	my ($proxy) = @_;
	kill('TERM', $proxy->{pid});
	waitpid($proxy->{pid}, 0);
	return;
}

1;
