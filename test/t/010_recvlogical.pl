# Broadcasts consumed by a real client, pg_recvlogical:
#
# 1. under a concurrent pgbench load of transitions, a consumer receives
#    every event exactly once, in commit order, each positioned at its
#    commit (checked against test_decoding reading the same WAL);
# 2. a consumer killed with SIGKILL after k lines and restarted from the
#    slot's confirmed position loses nothing, and every line it receives
#    twice carries the same event id at the same position;
# 3. a transaction of 200k events decodes with the walsender's memory
#    bounded, both decoded at commit (spilled to disk) and streamed before
#    commit (option stream-changes); the peak is reported;
# 4. options given without a value through the replication protocol.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use WsTest;

my $node = ws_node('recvlogical',
	"worldstate.node_id = 1\nmax_connections = 40\nmax_wal_senders = 10\n");
ws_trust_plugins($node);
my $work = PostgreSQL::Test::Utils::tempdir;
my $hs = "handshake => '55-45-17'";

# Start pg_recvlogical on a slot, writing to a file, confirming every second.
sub start_consumer
{
	my ($slot, $file, $conn_extra, @opts) = @_;
	my @cmd = (
		'pg_recvlogical', '-d', $node->connstr('postgres') . ($conn_extra // ''),
		'-S', $slot, '--start', '-f', $file, '-F', '1', '-s', '1', '--no-loop',
		map { ('-o', $_) } @opts);
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(\@cmd, '>', \$out, '2>', \$err);
	return { h => $h, err => \$err };
}

# Stop a consumer: SIGINT lets it flush and exit; SIGKILL does not.
sub stop_consumer
{
	my ($c, $signal) = @_;
	$c->{h}->signal($signal // 'INT');
	eval { $c->{h}->finish; };
}

# The last $n bytes of a file.
sub tail
{
	my ($file, $n) = @_;
	open(my $fh, '<', $file) or return '';
	my $size = -s $fh;
	seek($fh, $size > $n ? $size - $n : 0, 0);
	local $/;
	my $t = <$fh>;
	close($fh);
	return $t // '';
}

# Wait until the end of a file matches $re.
sub wait_for_tail
{
	my ($file, $re, $secs) = @_;
	my $deadline = time + ($secs // $PostgreSQL::Test::Utils::timeout_default);
	while (time < $deadline)
	{
		return 1 if tail($file, 65536) =~ $re;
		usleep(100_000);
	}
	return 0;
}

# The complete (newline-terminated) lines of a file.
sub lines_of
{
	my ($file) = @_;
	open(my $fh, '<', $file) or return ();
	local $/;
	my $t = <$fh> // '';
	close($fh);
	my @l = split /\n/, $t, -1;
	pop @l;    # after the last newline: empty, or a line cut short
	return @l;
}

# (event_id, commit LSN, ordinal) of every ws.events insert read by the
# test_decoding slot, in commit order: the reference.
sub reference_events
{
	my ($slot) = @_;
	my @ref;
	my @pending;
	for my $row (split /\n/,
		$node->safe_psql('postgres', "SELECT lsn, data FROM pg_logical_slot_get_changes('$slot', NULL, NULL)"))
	{
		my ($lsn, $data) = split /\|/, $row, 2;
		if ($data =~ /^table ws\.events: INSERT: event_id\[uuid\]:'([0-9a-f-]{36})'/)
		{
			push @pending, $1;
		}
		elsif ($data =~ /^COMMIT/)
		{
			my $n = 0;
			push @ref, map { [ $_, $lsn, ++$n ] } @pending;
			@pending = ();
		}
	}
	return @ref;
}

# Events of broadcast lines: [event_id, position LSN, ordinal, line].
sub broadcast_events
{
	my @ev;
	for my $l (@_)
	{
		next unless $l =~ /"kind":"event"/;
		$l =~ /"position":"([0-9A-F]+\/[0-9A-F]+):(\d+)"/ or die "no position in $l";
		my ($lsn, $n) = ($1, $2);
		$l =~ /"event_id":"([0-9a-f-]{36})"/ or die "no event_id in $l";
		push @ev, [ $1, $lsn, $n, $l ];
	}
	return @ev;
}

# Position order: LSN, then ordinal.
sub lsn_num
{
	my ($hi, $lo) = split /\//, $_[0];
	return hex($hi) * 4294967296 + hex($lo);
}

sub pos_cmp
{
	my ($a, $b) = @_;
	return lsn_num($a->[1]) <=> lsn_num($b->[1]) || $a->[2] <=> $b->[2];
}

# Run pgbench in the background: single transitions and two-entity
# transition_many transactions on 50 + 50 entities.
my $bench1 = "$work/transition.pgbench";
my $bench2 = "$work/many.pgbench";
open(my $fh, '>', $bench1) or die;
print $fh "\\set id random(1, 50)\nSELECT ws.transition('e' || :id, '{\"n\": 1}', $hs);\n";
close($fh);
open($fh, '>', $bench2) or die;
print $fh "\\set id random(1, 50)\n"
  . "SELECT count(*) FROM ws.transition_many(('[{\"entity_id\": \"e' || :id || '\", \"patch\": {\"n\": 1}, \"handshake\": \"55-45-17\"},'\n"
  . "  || '{\"entity_id\": \"f' || :id || '\", \"patch\": {\"m\": 1}, \"handshake\": \"55-45-17\"}]')::jsonb);\n";
close($fh);

sub start_load
{
	my ($secs) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'pgbench', '-n', '-c', '4', '-j', '2', '-T', $secs,
			'-f', "$bench1\@3", '-f', "$bench2\@1",
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err };
}

sub finish_load
{
	my ($l) = @_;
	$l->{h}->finish;
	like(${ $l->{out} }, qr/processed: [1-9]\d*/, 'pgbench load ran');
	is(${ $l->{err} } =~ /error|abort/i ? ${ $l->{err} } : '', '', 'pgbench load without errors');
}

$node->safe_psql('postgres', qq{
	SET worldstate.handshake = '55-45-17';
	SELECT ws.register_module('recv', 1);
	SELECT ws.define_kind('counter', 'recv', 'lww', ARRAY['n', 'm']);
	SELECT count(ws.create_entity(p || i, 'counter', 'recv', '{"n": 0, "m": 0}'))
	FROM generate_series(1, 50) i, unnest(ARRAY['e', 'f']) p;
	SELECT ws.create_entity('sentinel', 'counter', 'recv', '{"n": 0}');
});

# ---------------------------------------------------------------------
# 1. exactly once, in commit order
# ---------------------------------------------------------------------
$node->safe_psql('postgres',
	"SELECT pg_create_logical_replication_slot('ws1', 'worldstate')");
$node->safe_psql('postgres',
	"SELECT pg_create_logical_replication_slot('ref', 'test_decoding')");

my $file1 = "$work/phase1.jsonl";
my $r1 = start_consumer('ws1', $file1);
my $load = start_load(4);
finish_load($load);
$node->safe_psql('postgres',
	"SELECT ws.transition('sentinel', '{\"n\": 1}', event_type => 'sentinel1', $hs)");
ok(wait_for_tail($file1, qr/"event_type":"sentinel1"/), 'phase 1: the consumer received the sentinel');
stop_consumer($r1);

my @ref1 = reference_events('ref');
my @lines1 = lines_of($file1);
my @ev1 = broadcast_events(@lines1);
cmp_ok(scalar(@ref1), '>', 200, 'phase 1: the load wrote events (' . scalar(@ref1) . ')');
my $json = JSON::PP->new;
is(scalar(grep { !eval { ref($json->decode($_)) eq 'HASH' } } @lines1), 0,
	'phase 1: every line is a JSON object');
is(scalar(@ev1), scalar(@ref1), 'phase 1: as many events received as committed');
is_deeply([ map { $_->[0] } @ev1 ], [ map { $_->[0] } @ref1 ],
	'phase 1: every event exactly once, in commit order');
is_deeply([ map { "$_->[1]:$_->[2]" } @ev1 ], [ map { "$_->[1]:$_->[2]" } @ref1 ],
	'phase 1: each position is the commit LSN and the ordinal within the commit');
is(scalar(grep { pos_cmp($ev1[ $_ - 1 ], $ev1[$_]) >= 0 } 1 .. $#ev1), 0,
	'phase 1: positions strictly increase');
my %multi;
$multi{ $_->[1] }++ for @ev1;
cmp_ok(scalar(grep { $_ > 1 } values %multi), '>', 0,
	'phase 1: transactions with several events share one position LSN');

# ---------------------------------------------------------------------
# 2. killed after k lines, restarted from the confirmed position
# ---------------------------------------------------------------------
my $k = 150;
my $file2 = "$work/phase2a.jsonl";
my $file3 = "$work/phase2b.jsonl";
my $r2 = start_consumer('ws1', $file2);
$load = start_load(6);
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
usleep(50_000) while (scalar(lines_of($file2)) < $k && time < $deadline);
stop_consumer($r2, 'KILL');
my @lines2 = lines_of($file2);
cmp_ok(scalar(@lines2), '>=', $k, "phase 2: the first consumer was killed after $k lines or more");
$load->{h}->pump_nb if $load->{h}->pumpable;
ok($load->{h}->pumpable, 'phase 2: ... while the load was still running');
my $r3 = start_consumer('ws1', $file3);
finish_load($load);
$node->safe_psql('postgres',
	"SELECT ws.transition('sentinel', '{\"n\": 2}', event_type => 'sentinel2', $hs)");
ok(wait_for_tail($file3, qr/"event_type":"sentinel2"/), 'phase 2: the restarted consumer received the sentinel');
stop_consumer($r3);

my @ref2 = reference_events('ref');
my @ev2 = (broadcast_events(@lines2), broadcast_events(lines_of($file3)));
my $last1 = $ev1[-1];
my (%at, %pos_of, $dups, @seq);
my $bad = 0;
$dups = 0;
for my $e (@ev2)
{
	my $p = "$e->[1]:$e->[2]";
	$bad++ if defined $pos_of{ $e->[0] } && $pos_of{ $e->[0] } ne $p;
	$pos_of{ $e->[0] } = $p;
	if (exists $at{$p})
	{
		$bad++ if $at{$p} ne $e->[0];
		$dups++;
		next;
	}
	$at{$p} = $e->[0];
	# lines at or before the end of phase 1 were delivered then
	if (pos_cmp($e, $last1) <= 0)
	{
		$bad++ unless grep { $_->[0] eq $e->[0] && "$_->[1]:$_->[2]" eq $p } @ev1;
		next;
	}
	push @seq, $e;
}
is($bad, 0, 'phase 2: a line received twice carries the same event id at the same position');
is_deeply([ map { $_->[0] } @seq ], [ map { $_->[0] } @ref2 ],
	'phase 2: after the restart nothing is lost, and the events are in commit order');
is(scalar(grep { pos_cmp($seq[ $_ - 1 ], $seq[$_]) >= 0 } 1 .. $#seq), 0,
	'phase 2: positions strictly increase once duplicates are dropped');
diag("phase 2: " . scalar(@ref2) . " events, $dups received twice after the restart");

# ---------------------------------------------------------------------
# 3. a 200k-event transaction in bounded memory
# ---------------------------------------------------------------------
my $entities = 20_000;
for my $b (0 .. 9)
{
	my ($from, $to) = ($b * $entities / 10 + 1, ($b + 1) * $entities / 10);
	$node->safe_psql('postgres',
		"SELECT count(ws.create_entity('big' || i, 'counter', 'recv', '{\"n\": 0}', $hs)) FROM generate_series($from, $to) i");
}
$node->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('big', 'worldstate')");
$node->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('bigs', 'worldstate')");
my $file4 = "$work/big.jsonl";
my $file5 = "$work/big_streamed.jsonl";
my $mem = " options='-c logical_decoding_work_mem=4MB'";
my $r4 = start_consumer('big', $file4, $mem);
my $r5 = start_consumer('bigs', $file5, $mem, 'stream-changes=on');
$node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM pg_replication_slots WHERE slot_name IN ('big', 'bigs') AND active")
  or die "consumers did not start";
my %pid = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres',
	"SELECT slot_name, active_pid FROM pg_replication_slots WHERE slot_name IN ('big', 'bigs')");

my ($bout, $berr) = ('', '');
my $big = IPC::Run::start(
	[
		'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
		'-c', "SELECT count(ws.transition('big' || (i % $entities + 1), '{\"n\": 1}', $hs)) FROM generate_series(1, 200000) i",
		'-c', "SELECT ws.transition('sentinel', '{\"n\": 3}', event_type => 'sentinel3', $hs)"
	],
	'>', \$bout, '2>', \$berr);

# sample the walsenders' private memory until both consumers are done
my %peak = (big => 0, bigs => 0);
my $streamed_before_commit = 0;
$deadline = time + 3 * $PostgreSQL::Test::Utils::timeout_default;
while (time < $deadline)
{
	for my $s (keys %peak)
	{
		open(my $st, '<', "/proc/$pid{$s}/status") or next;
		while (<$st>)
		{
			$peak{$s} = $1 if /^RssAnon:\s+(\d+) kB/ && $1 > $peak{$s};
		}
		close($st);
	}
	$big->pump_nb if $big->pumpable;
	$streamed_before_commit = 1
	  if $big->pumpable && -s $file5 && tail($file5, 4096) =~ /"kind":"event"/;
	last
	  if !$big->pumpable
	  && tail($file4, 4096) =~ /sentinel3/
	  && tail($file5, 4096) =~ /sentinel3/;
	usleep(100_000);
}
$big->finish;
is($berr, '', 'the 200k-event transaction committed');
my %hwm;
for my $s (keys %pid)
{
	open(my $st, '<', "/proc/$pid{$s}/status") or next;
	while (<$st>) { $hwm{$s} = $1 if /^VmHWM:\s+(\d+) kB/; }
	close($st);
}
stop_consumer($r4);
stop_consumer($r5);

my ($n4, $seq_ok, $lsn4) = (0, 1, undef);
for my $l (lines_of($file4))
{
	next unless $l =~ /"position":"([0-9A-F\/]+):(\d+)".*"patch":\{"n": \d+\}(,"actor":"[^"]*")?\}$/ && $l !~ /sentinel/;
	$lsn4 //= $1;
	$n4++;
	$seq_ok = 0 if $1 ne $lsn4 || $2 != $n4;
}
is($n4, 200_000, 'decoded at commit: 200k events');
ok($seq_ok, 'decoded at commit: one position LSN, ordinals 1 to 200000');
my ($n5, $starts, $commit) = (0, 0, '');
for my $l (lines_of($file5))
{
	$n5++ if $l =~ /"kind":"event","position":null,"seq":\d+/;
	$starts++ if $l =~ /"kind":"stream_start"/;
	$commit = $1 if $l =~ /"kind":"stream_commit","position":"[0-9A-F\/]+:(\d+)"/;
}
is($n5, 200_000, 'streamed: 200k events written before the commit record');
cmp_ok($starts, '>', 1, "streamed: in several chunks ($starts)");
is($commit, 200_001, 'streamed: the stream_commit line numbers after the 200000th event');
ok($streamed_before_commit, 'streamed: events reached the consumer while the transaction was still running');

# what the reorder buffer had to hold: far more than the memory used
$node->poll_query_until('postgres',
	"SELECT spill_bytes > 0 FROM pg_stat_replication_slots WHERE slot_name = 'big'");
$node->poll_query_until('postgres',
	"SELECT stream_bytes > 0 FROM pg_stat_replication_slots WHERE slot_name = 'bigs'");
my ($spilled, $streamed) = split /\|/, $node->safe_psql('postgres',
	"SELECT (SELECT spill_bytes FROM pg_stat_replication_slots WHERE slot_name = 'big'),
	        (SELECT stream_bytes FROM pg_stat_replication_slots WHERE slot_name = 'bigs')");
diag(sprintf("200k-event transaction: %.0f MB spilled to disk (decoded at commit), %.0f MB streamed",
		$spilled / 1048576, $streamed / 1048576));
cmp_ok($spilled, '>', 64 * 1048576, 'decoded at commit: the transaction was larger than the memory bound (spilled)');
cmp_ok($streamed, '>', 64 * 1048576, 'streamed: the transaction was larger than the memory bound (streamed)');

my $bound_kb = 64 * 1024;
for my $s (sort keys %peak)
{
	diag(sprintf("200k-event transaction, %s: walsender peak private memory (RssAnon) %.1f MB, peak RSS (VmHWM) %.1f MB",
			$s eq 'big' ? 'decoded at commit' : 'streamed', $peak{$s} / 1024, ($hwm{$s} // 0) / 1024));
	cmp_ok($peak{$s}, '>', 0, "$s: the walsender's memory was sampled");
	cmp_ok($peak{$s}, '<', $bound_kb,
		"$s: the walsender's private memory stays under 64 MB (logical_decoding_work_mem = 4MB)");
}

# ---------------------------------------------------------------------
# 4. options without a value, as pg_recvlogical -o name sends them
# ---------------------------------------------------------------------
my $end = $node->safe_psql('postgres', 'SELECT ws.heartbeat()');
my ($out, $err) = ('', '');
IPC::Run::run(
	[
		'pg_recvlogical', '-d', $node->connstr('postgres'), '-S', 'ws1', '--start', '--no-loop',
		'--endpos', $end, '-f', '-', '-o', 'pretty', '-o', 'kinds=heartbeat'
	],
	'>', \$out, '2>', \$err);
like($out, qr/\{\n    "handshake": "55-45-17",\n    "format_version": 1,\n    "kind": "heartbeat",/,
	'an option given without a value means on (-o pretty)');
IPC::Run::run(
	[
		'pg_recvlogical', '-d', $node->connstr('postgres'), '-S', 'ws1', '--start', '--no-loop',
		'--endpos', $end, '-f', '-', '-o', 'format-version'
	],
	'>', \$out, '2>', \$err);
like($err, qr/invalid value "" for option "format-version"/,
	'an option that needs a value is refused without one');

$node->stop;
done_testing();
