# Three nodes in a full mesh reach the same world after partitions.
#
# Seeded random rounds.  Each round cuts the mesh in two, runs concurrent
# writers on every node (pgbench: transitions on a small set of shared ids
# of three kinds -- lww, merge with the counter n, manual -- each event
# acknowledged in a local side table in the same transaction), writes on
# both sides a retirement against an update of one entity and a create of
# the same new id, heals, waits until every node holds every event and
# every apply worker has caught up, then checks: the same ws.state_hash()
# on every node, now and at past HLCs; the same set of events everywhere,
# every acknowledged event among them; every counter equal to the sum of
# its acknowledged increments; every lww entity equal to its latest event;
# retired entities retired everywhere, for good; the same manual conflicts
# on every node, and a resolved one resolved everywhere; nothing pending;
# every apply worker running, none having failed on a remote change.
#
# The rounds: a partition by ALTER SUBSCRIPTION ... DISABLE of the links
# that cross it; the same with a node of the connected side killed
# (immediate stop) and restarted while its writers run; the link between
# nodes 1 and 2 paused in the TCP proxies of WsMesh.pm, then resumed, while
# node 3 still reaches both (nothing is relayed through it).  Later rounds
# of this kind pause the link or cut it (connections closed at once).
#
# WS_SOAK=N runs N rounds (after the three above, random ones); WS_SEED
# with the same WS_SOAK replays a run (the seed is printed).  The parts that touch worldstate's
# replication API (ws.add_peer, its subscriptions ws_peer_<name>,
# ws.conflicts, ws.pending, ws.resolve_conflict) are the subs of %worldstate
# below.  On a build without ws.add_peer, or with WS_MESH_BACKEND=plain, the
# same rounds, partitions, kills, proxy and checks run on a plain table
# replicated by publications and subscriptions of its own (%plain): a check
# of the harness, not of worldstate.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WsCheck;
use WsMesh;

my $seed = $ENV{WS_SEED} // int(rand(1_000_000));
srand($seed);
my $nrounds = $ENV{WS_SOAK} // 3;
diag("seed $seed (WS_SEED=$seed WS_SOAK=$nrounds replays this run)");
my $ids = 3;			# shared ids per kind: l1.., c1.., m1..
my $xacts = 60;			# pgbench transactions per client and round
my $handshake = "handshake => '55-45-17'";

my @nodes = ws_mesh('conv', 3, join('',
	"max_connections = 30\n",
	"shared_buffers = '16MB'\n",
	"log_statement = 'none'\n",
	"wal_receiver_status_interval = '1s'\n"));
my %node = map { ($_ + 1) => $nodes[$_] } 0 .. $#nodes;

# ---------------------------------------------------------------------------
# The two backends.  Each gives: the tables the checks read (events: one row
# per event with event_id, entity_id, kind, origin_node, hlc, event_type,
# patch; entities: entity_id, kind, state, retired), the name of the
# subscription a node has to a peer, and the statements that set up, link,
# write and hash.
# ---------------------------------------------------------------------------

# worldstate: the extension's own replication.  The checks compare the
# events of the rounds: each node's horizon events (src/stable.c) follow
# its own schedule and may still be on their way when a round is checked.
my %worldstate = (
	name => 'worldstate',
	events => 'public.mesh_events',
	entities => 'ws.entities',
	setup => sub {
		$_->safe_psql('postgres', q{CREATE VIEW public.mesh_events AS
			SELECT * FROM ws.events WHERE NOT (module = 'ws' AND event_type = 'horizon')})
		  for values %node;
	},
	link => \&ws_link,
	subscription => sub { my ($peer) = @_; return "ws_peer_n$peer" },
	define => \&ws_define,
	create => sub {
		my ($id, $kind, $state, $uuid) = @_;
		return "SELECT ws.create_entity('$id', '$kind', 'mesh', '$state', $handshake, event_id => '$uuid')";
	},
	update => sub {
		my ($id, $patch, $uuid) = @_;
		return "SELECT ws.transition('$id', '$patch', $handshake, event_id => '$uuid')";
	},
	retire => sub {
		my ($id) = @_;
		return "SELECT ws.retire_entity('$id', $handshake)";
	},
	# the CTE that writes one event of the pgbench script: uuid from g
	write_cte => sub {
		my ($id, $kind, $patch, $delta) = @_;
		return "SELECT ws.transition($id, $patch, $handshake, event_id => (SELECT u FROM g))";
	},
	state_hash => sub {
		my ($at) = @_;
		return defined $at ? "SELECT ws.state_hash('$at'::ws.hlc)" : 'SELECT ws.state_hash()';
	},
	pending => 'SELECT count(*) FROM ws.pending',
	# the manual conflicts, one line each: id, entity, status
	conflicts => q{SELECT string_agg(conflict_id || ' ' || entity_id || ' ' || status, E'\n' ORDER BY conflict_id)
		FROM ws.conflicts WHERE policy = 'manual'},
	resolve => \&ws_resolve_one,
);

# The full mesh: on every node, ws.add_peer for each other node.
sub ws_link
{
	my ($conninfo) = @_;
	for my $i (sort keys %node)
	{
		for my $j (grep { $_ != $i } sort keys %node)
		{
			$node{$i}->safe_psql('postgres',
				"SELECT ws.add_peer('n$j', '" . $conninfo->($i, $j) . "')");
		}
	}
	return;
}

# The module and kinds, defined on node 1 only: definitions travel to
# every node as events.
sub ws_define
{
	$node{1}->safe_psql('postgres', q{
		SELECT ws.register_module('mesh', 1);
		SELECT ws.define_kind('mesh_lww', 'mesh', 'lww');
		SELECT ws.define_kind('mesh_merge', 'mesh', 'merge', ARRAY['n']);
		SELECT ws.define_kind('mesh_manual', 'mesh', 'manual');
	});
	return;
}

# Resolve one open manual conflict on $n with the entity's current state;
# returns its id, or undef when none is open.
sub ws_resolve_one
{
	my ($n, $pick) = @_;
	my @open = split /\n/, $n->safe_psql('postgres', q{
		SELECT conflict_id FROM ws.conflicts
		WHERE policy = 'manual' AND status = 'open' ORDER BY conflict_id});
	return undef unless @open;
	my $cid = $open[$pick % @open];
	$n->safe_psql('postgres', qq{
		SET worldstate.handshake = '55-45-17';
		SELECT ws.resolve_conflict('$cid', e.state)
		FROM ws.conflicts c JOIN ws.entities e USING (entity_id)
		WHERE c.conflict_id = '$cid'});
	return $cid;
}

# plain: a table shaped for the checks, replicated by a publication per
# node (row filter origin_node = <id>, inserts only) and a subscription per
# peer, as worldstate does; its world is a fold in SQL (lww by hlc, the
# counter n summed).
my %plain = (
	name => 'plain',
	events => 'public.mesh_events',
	entities => 'public.mesh_entities',
	setup => \&plain_setup,
	link => \&plain_link,
	subscription => sub { my ($peer) = @_; return "mesh_peer_n$peer" },
	define => sub { },
	create => sub {
		my ($id, $kind, $state, $uuid) = @_;
		return plain_insert("'$uuid'", "'$id'", "'$kind'", 'created', "'$state'", 'NULL');
	},
	update => sub {
		my ($id, $patch, $uuid) = @_;
		return plain_insert("'$uuid'", "'$id'", "(SELECT kind FROM public.mesh_entities WHERE entity_id = '$id')",
			'update', "'$patch'", 'NULL');
	},
	retire => sub {
		my ($id) = @_;
		return plain_insert('gen_random_uuid()', "'$id'",
			"(SELECT kind FROM public.mesh_entities WHERE entity_id = '$id')", 'retired', "'{}'", 'NULL');
	},
	write_cte => sub {
		my ($id, $kind, $patch, $delta) = @_;
		return plain_insert('(SELECT u FROM g)', $id, "'$kind'", 'update', $patch, $delta) . ' RETURNING 1';
	},
	state_hash => sub {
		my ($at) = @_;
		return 'SELECT public.mesh_state_hash(' . (defined $at ? "'$at'::ws.hlc" : 'NULL') . ')';
	},
	pending => 'SELECT 0',
	conflicts => undef,
	resolve => undef,
);

sub plain_insert
{
	my ($uuid, $id, $kind, $type, $patch, $delta) = @_;
	return "INSERT INTO public.mesh_events (event_id, entity_id, kind, origin_node, hlc, event_type, patch, delta) "
	  . "SELECT $uuid, $id, $kind, current_setting('worldstate.node_id')::int, ws.hlc_now(), '$type', $patch, $delta";
}

sub plain_setup
{
	for my $n (values %node)
	{
		$n->safe_psql('postgres', q{
			CREATE TABLE public.mesh_events (
				event_id uuid PRIMARY KEY,
				entity_id text NOT NULL,
				kind text NOT NULL,
				origin_node int NOT NULL,
				hlc ws.hlc NOT NULL,
				event_type text NOT NULL,
				patch jsonb NOT NULL,
				delta numeric);
			CREATE FUNCTION public.mesh_world(at ws.hlc)
			RETURNS TABLE (entity_id text, kind text, state jsonb, retired boolean)
			LANGUAGE sql STABLE AS $$
				SELECT entity_id, min(kind),
				       CASE WHEN min(kind) = 'mesh_merge'
				            THEN jsonb_build_object('n', coalesce(sum(delta), 0))
				            ELSE (array_agg(patch ORDER BY hlc DESC) FILTER (WHERE event_type <> 'retired'))[1]
				       END,
				       bool_or(event_type = 'retired')
				FROM public.mesh_events
				WHERE at IS NULL OR hlc OPERATOR(ws.<=) at
				GROUP BY entity_id
			$$;
			CREATE VIEW public.mesh_entities AS SELECT * FROM public.mesh_world(NULL);
			CREATE FUNCTION public.mesh_state_hash(at ws.hlc) RETURNS text LANGUAGE sql STABLE AS $$
				SELECT md5(coalesce(string_agg(entity_id || ' ' || state::text || ' ' || retired, E'\n'
				                               ORDER BY entity_id), ''))
				FROM public.mesh_world(at)
			$$;
		});
	}
	return;
}

sub plain_link
{
	my ($conninfo) = @_;
	for my $i (sort keys %node)
	{
		$node{$i}->safe_psql('postgres',
			"CREATE PUBLICATION mesh_node_$i FOR TABLE public.mesh_events WHERE (origin_node = $i) WITH (publish = 'insert')");
	}
	for my $i (sort keys %node)
	{
		for my $j (grep { $_ != $i } sort keys %node)
		{
			$node{$i}->safe_psql('postgres',
				"CREATE SUBSCRIPTION mesh_peer_n$j CONNECTION '" . $conninfo->($i, $j)
				  . "' PUBLICATION mesh_node_$j WITH (slot_name = 'mesh_n${i}_from_n$j')");
		}
	}
	return;
}

my $probe = $node{1}->safe_psql('postgres', "SELECT to_regprocedure('ws.add_peer(text,text)') IS NOT NULL");
my $choice = $ENV{WS_MESH_BACKEND} // ($probe eq 't' ? 'worldstate' : 'plain');
my $B = $choice eq 'worldstate' ? \%worldstate : \%plain;
diag("backend: $B->{name}"
	  . ($B->{name} eq 'plain' ? ' (a plain table: the harness is checked, not worldstate)' : ''));

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

sub q1
{
	my ($i, $sql) = @_;
	return $node{$i}->safe_psql('postgres', $sql);
}

sub peers_of { my ($i) = @_; return grep { $_ != $i } sort keys %node }

# a random (version 4) uuid from the seeded generator
sub uuid
{
	return sprintf('%08x-%04x-4%03x-a%03x-%012x',
		int(rand(2**32)), int(rand(2**16)), int(rand(2**12)), int(rand(2**12)), int(rand(2**48)));
}

sub quoted { return join(', ', map { "'$_'" } @_) }

# The links between nodes 1 and 2 go through a proxy each.
my %proxy = (1 => ws_proxy_start($node{1}->port), 2 => ws_proxy_start($node{2}->port));
# the proxies are children of this test: stopped however it ends
END { ws_proxy_stop($_) for values %proxy }

# conninfo for node $from's link to node $to
sub conninfo
{
	my ($from, $to) = @_;
	my $port = ($from == 1 && $to == 2) || ($from == 2 && $to == 1)
	  ? $proxy{$to}{port} : $node{$to}->port;
	return "host=127.0.0.1 port=$port dbname=postgres";
}

# Every enabled subscription of every node has its apply worker.
sub workers_running
{
	for my $i (sort keys %node)
	{
		my $subs = quoted(map { $B->{subscription}->($_) } peers_of($i));
		$node{$i}->poll_query_until('postgres', qq{
			SELECT count(*) = (SELECT count(*) FROM pg_subscription WHERE subname IN ($subs) AND subenabled)
			FROM pg_stat_subscription WHERE subname IN ($subs) AND relid IS NULL AND pid IS NOT NULL})
		  or return 0;
	}
	return 1;
}

# slot{i}{j}: the slot on node i of node j's subscription to it
my %slot;

# Until every node holds every event: for each origin, at least as many of
# its events as the origin has, and nothing pending, until the counts no
# longer move; then until each peer's slot on each node has confirmed the
# node's WAL as of then.
sub wait_converged
{
	my $counts = sub {
		return join(',', map { q1($_, "SELECT count(*) FROM $B->{events} WHERE origin_node = $_") } sort keys %node);
	};
	my $count = $counts->();
	for (;;)
	{
		my @c = split /,/, $count;
		my $cond = join(' AND ',
			map { "(SELECT count(*) FROM $B->{events} WHERE origin_node = $_) >= $c[$_ - 1]" } sort keys %node);
		for my $j (sort keys %node)
		{
			next if $node{$j}->poll_query_until('postgres', "SELECT $cond AND ($B->{pending}) = 0");
			diag("events of each origin, expected at least $count:");
			for my $i (sort keys %node)
			{
				my (undef, $out, $err) = $node{$i}->psql('postgres', "SELECT (SELECT string_agg(n::text, ',' ORDER BY o)
					FROM (SELECT o, (SELECT count(*) FROM $B->{events} WHERE origin_node = o) AS n
					      FROM generate_series(1, 3) o) s) || ', pending ' || ($B->{pending})");
				diag("node $i: $out$err");
			}
			die "node $j did not receive every event";
		}
		my $again = $counts->();
		last if $again eq $count;
		$count = $again;
	}
	for my $i (sort keys %node)
	{
		my @slots = map { $slot{$i}{$_} } peers_of($i);
		my $lsn = q1($i, 'SELECT pg_current_wal_lsn()');
		$node{$i}->poll_query_until('postgres', qq{
			SELECT count(*) = @{[scalar @slots]} FROM pg_replication_slots
			WHERE slot_name IN (@{[quoted(@slots)]}) AND confirmed_flush_lsn >= '$lsn'})
		  or die "node $i: the peers' apply workers did not catch up";
	}
	return;
}

# Disable or enable the subscriptions of the links between the groups;
# after DISABLE, until their apply workers have stopped.
sub set_links
{
	my ($action, $a, $b) = @_;
	for my $i (@$a, @$b)
	{
		my $other = (grep { $_ == $i } @$a) ? $b : $a;
		q1($i, join(";\n", map { "ALTER SUBSCRIPTION " . $B->{subscription}->($_) . " $action" } @$other));
	}
	return if $action ne 'DISABLE';
	for my $i (@$a, @$b)
	{
		my $other = (grep { $_ == $i } @$a) ? $b : $a;
		my $subs = quoted(map { $B->{subscription}->($_) } @$other);
		$node{$i}->poll_query_until('postgres',
			"SELECT NOT EXISTS (SELECT FROM pg_stat_subscription WHERE subname IN ($subs) AND pid IS NOT NULL)")
		  or die "node $i: the apply workers of disabled links did not stop";
	}
	return;
}

# The pgbench script of the writers: one event per transaction on one of
# the shared ids, acknowledged in public.mesh_acked in the same
# transaction.  40% counter increments of 1..50 on c<i>, 30% lww writes of
# the whole state of l<i>, 30% writes of one of the two fields of m<i>.
sub writer_script
{
	my $write = sub {
		my ($id, $kind, $patch, $delta) = @_;
		return "WITH g AS (SELECT gen_random_uuid() AS u),\n"
		  . " w AS (" . $B->{write_cte}->($id, $kind, $patch, $delta) . ")\n"
		  . "INSERT INTO public.mesh_acked (event_id, node, entity_id, delta)\n"
		  . "SELECT (SELECT u FROM g), :node, $id, $delta FROM w;\n";
	};
	return "\\set k random(1, 10)\n"
	  . "\\set i random(1, $ids)\n"
	  . "\\set d random(1, 50)\n"
	  . "\\set v random(1, 1000000)\n"
	  . "\\set f random(1, 2)\n"
	  . "\\if :k <= 4\n"
	  . $write->("'c' || :i", 'mesh_merge', "jsonb_build_object('n', :d)", ':d')
	  . "\\elif :k <= 7\n"
	  . $write->("'l' || :i", 'mesh_lww', "jsonb_build_object('v', :v, 'by', :node)", 'NULL')
	  . "\\else\n"
	  . $write->("'m' || :i", 'mesh_manual', "jsonb_build_object('f' || :f, :v)", 'NULL')
	  . "\\endif\n";
}

my $script = PostgreSQL::Test::Utils::tempdir() . '/writer.sql';
PostgreSQL::Test::Utils::append_to_file($script, writer_script());

# Whether every error pgbench printed is one of a client whose server went
# away (and there is one).
sub lost_connection_only
{
	my ($err) = @_;
	my $lost = join('|', 'server closed the connection', 'terminating connection', 'perhaps the backend died',
		'command send failed', 'connection reset', 'could not (send|receive) data', 'no connection to the server',
		'connection to server .* failed');
	my @errors = grep { /error:/ && !/Run was aborted/ } split /\n/, $err;
	return @errors && !grep { !/$lost/i } @errors;
}

# Start pgbench on node $i: 2 clients of $t transactions each.
sub start_writers
{
	my ($i, $t, $rseed) = @_;
	my %h = (out => '', err => '', node => $i);
	$h{run} = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-j', '2', '-t', $t, "--random-seed=$rseed",
		  '-D', "node=$i", '-f', $script,
		  '-h', $node{$i}->host, '-p', $node{$i}->port, 'postgres' ],
		'<', \undef, '>', \$h{out}, '2>', \$h{err});
	return \%h;
}

# ---------------------------------------------------------------------------
# The mesh
# ---------------------------------------------------------------------------

for my $i (sort keys %node)
{
	q1($i, 'CREATE TABLE public.mesh_acked (event_id uuid PRIMARY KEY, node int NOT NULL,
		entity_id text NOT NULL, delta numeric)');
	# the value of a query, or its error
	q1($i, q{CREATE FUNCTION public.mesh_try(query text) RETURNS text LANGUAGE plpgsql AS $$
		DECLARE v text;
		BEGIN
			EXECUTE query INTO v;
			RETURN v;
		EXCEPTION WHEN OTHERS THEN
			RETURN 'ERROR: ' || SQLERRM;
		END $$});
}
$B->{setup}->();
$B->{link}->(\&conninfo);
for my $i (sort keys %node)
{
	for my $j (peers_of($i))
	{
		$slot{$j}{$i} = q1($i, "SELECT subslotname FROM pg_subscription WHERE subname = '"
			  . $B->{subscription}->($j) . "'");
	}
	$node{$i}->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')")
	  or die "node $i: subscriptions did not synchronize";
}
ok(workers_running(), 'every node runs an apply worker for each of its two peers');
$B->{define}->();

# the shared entities, and one entity per round to retire, made on node 1
my @init;
for my $k (1 .. $ids)
{
	push @init, $B->{create}->("l$k", 'mesh_lww', '{"v": 0, "by": 0}', uuid()),
	  $B->{create}->("c$k", 'mesh_merge', '{"n": 0}', uuid()),
	  $B->{create}->("m$k", 'mesh_manual', '{"f1": 0, "f2": 0}', uuid());
}
push @init, map { $B->{create}->("x$_", 'mesh_lww', '{"v": 0, "by": 0}', uuid()) } 1 .. $nrounds;
q1(1, join(";\n", @init));
wait_converged();
is(q1(3, "SELECT count(*) FROM $B->{entities} WHERE entity_id ~ '^[lcmx][0-9]+\$'"), 3 * $ids + $nrounds,
	'the entities made on node 1 reach node 3');

# ---------------------------------------------------------------------------
# One round
# ---------------------------------------------------------------------------

my (@retired, %resolved);

sub round
{
	my ($r, $type) = @_;
	my %logpos = map { $_ => -s $node{$_}->logfile } keys %node;

	# a manual conflict of an earlier round, resolved on some node
	if ($B->{resolve})
	{
		my $cid = $B->{resolve}->($node{ 1 + int(rand(3)) }, int(rand(1000)));
		$resolved{$cid} = $r if defined $cid;
	}

	# the partition: groups @$a and @$b
	my ($a, $b, $kill);
	if ($type eq 'proxy')
	{
		($a, $b) = ([1], [2]);
		# paused (a stalled link) in the fixed round, else paused or cut
		my $sig = $r <= 3 || rand() < 0.5 ? 'USR1' : 'HUP';
		$type .= $sig eq 'USR1' ? ' (paused)' : ' (cut)';
		ws_proxy_signal($proxy{$_}, $sig) for 1, 2;
	}
	else
	{
		my $k = 1 + int(rand(3));
		($a, $b) = ([$k], [ peers_of($k) ]);
		set_links('DISABLE', $a, $b);
		$kill = $b->[ int(rand(2)) ] if $type eq 'kill';
	}
	my ($sa, $sb) = ($a->[0], $b->[ int(rand(@$b)) ]);
	note("round $r, $type: groups (@$a) (@$b)" . (defined $kill ? ", node $kill killed mid-round" : ''));

	# on both sides: a retirement against an update, and one id created
	my ($x, $upd) = ("x$r", uuid());
	q1($sa, $B->{retire}->($x));
	q1($sb, $B->{update}->($x, '{"v": 1, "by": 0}', $upd));
	push @retired, [ $x, $upd ];
	my ($d, $da, $db) = ("d$r", uuid(), uuid());
	q1($sa, $B->{create}->($d, 'mesh_lww', '{"v": 1, "by": ' . $sa . '}', $da));
	q1($sb, $B->{create}->($d, 'mesh_lww', '{"v": 2, "by": ' . $sb . '}', $db));

	# the writers; a killed node is restarted and writes some more
	my $acked = q1($kill // 1, 'SELECT count(*) FROM public.mesh_acked');
	my @w = map { start_writers($_, $xacts, $seed + 10 * $r + $_) } sort keys %node;
	if (defined $kill)
	{
		$node{$kill}->poll_query_until('postgres',
			'SELECT count(*) >= ' . ($acked + $xacts / 2) . ' FROM public.mesh_acked')
		  or die "node $kill: its writers made no progress";
		$node{$kill}->stop('immediate');
		$node{$kill}->start;
		push @w, start_writers($kill, $xacts / 2, $seed + 10 * $r + 5);
	}
	for my $h (@w)
	{
		next if $h->{run}->finish;
		# the first writers of the killed node lose their connections; how
		# pgbench words it depends on where each client was when its
		# backend died (a FATAL received, the socket closed while waiting
		# for a result, or a query that could not be sent)
		if (defined $kill && $h->{node} == $kill && lost_connection_only($h->{err}))
		{
			note("node $kill: writers killed mid-round: $h->{err}");
			next;
		}
		fail("round $r: pgbench on node $h->{node}");
		diag($h->{out} . $h->{err});
	}

	# nothing crossed the partition
	is(q1($sb, "SELECT count(*) FILTER (WHERE retired) FROM $B->{entities} WHERE entity_id = '$x'") . ' '
		  . q1($sa, "SELECT count(*) FROM $B->{events} WHERE event_id = '$upd'"),
		'0 0', "round $r: before the heal neither side has the other's write");

	# heal
	if ($type =~ /^proxy/)
	{
		ws_proxy_signal($proxy{$_}, 'USR2') for 1, 2;
	}
	else
	{
		set_links('ENABLE', $a, $b);
	}
	wait_converged();
	ok(workers_running(), "round $r: every apply worker runs after the heal");
	check_round($r, $d, [ $da, $db ], \%logpos);
	return;
}

# ---------------------------------------------------------------------------
# The checks after a heal: one query a node
# ---------------------------------------------------------------------------

# What differs between the values of the nodes: a one-line value whole;
# of a value of several lines, the lines each node has and node 1 lacks,
# and the other way, at most ten of each.
sub differences
{
	my @vals = @_;
	my $out = '';
	for my $i (1 .. $#vals + 1)
	{
		my $v = $vals[ $i - 1 ];
		if ($v !~ /\n/ && $vals[0] !~ /\n/)
		{
			$out .= "node $i: $v\n";
			next;
		}
		next if $i == 1;
		my %first = map { $_ => 1 } split /\n/, $vals[0];
		my %this = map { $_ => 1 } split /\n/, $v;
		my @more = grep { !$first{$_} } sort keys %this;
		my @less = grep { !$this{$_} } sort keys %first;
		$out .= "node $i has, node 1 not: " . join('; ', splice(@more, 0, 10)) . "\n"
		  . "node 1 has, node $i not: " . join('; ', splice(@less, 0, 10)) . "\n";
	}
	return $out;
}

sub check_round
{
	my ($r, $d, $creations, $logpos) = @_;
	my ($ev, $en) = ($B->{events}, $B->{entities});

	# three past moments: the hlcs of events at random positions of the log
	my $total = q1(1, "SELECT count(*) FROM $ev");
	my @at = map { q1(1, "SELECT hlc FROM $ev ORDER BY hlc OFFSET $_ LIMIT 1") } map { int(rand($total)) } 1 .. 3;
	my @resolved = sort grep { $resolved{$_} == $r } keys %resolved;
	my %sql = (
		hash => $B->{state_hash}->(undef),
		(map { ("hash_at_$_" => $B->{state_hash}->($at[$_])) } 0 .. $#at),
		events => "SELECT count(*) || ' ' || md5(string_agg(event_id::text, ',' ORDER BY event_id)) FROM $ev",
		acked_missing => "SELECT count(*) FROM public.mesh_acked a
			WHERE NOT EXISTS (SELECT FROM $ev e WHERE e.event_id = a.event_id)",
		counters => "SELECT string_agg(entity_id || '=' || (state ->> 'n'), ' ' ORDER BY entity_id)
			FROM $en WHERE kind = 'mesh_merge'",
		lww_stale => "SELECT count(*) FROM $en n
			CROSS JOIN LATERAL (SELECT e.patch FROM $ev e WHERE e.entity_id = n.entity_id
			                    ORDER BY e.hlc DESC LIMIT 1) h
			WHERE n.entity_id ~ '^l[0-9]+\$' AND n.state IS DISTINCT FROM h.patch",
		retired => "SELECT count(*) FROM $en
			WHERE retired AND entity_id IN (" . quoted(map { $_->[0] } @retired) . ")",
		kept => "SELECT count(*) FROM $ev WHERE event_id IN (" . quoted(map { $_->[1] } @retired) . ")",
		dup_state => "SELECT state::text FROM $en WHERE entity_id = '$d'",
		dup_kept => "SELECT count(*) FROM $ev WHERE event_id IN (" . quoted(@$creations) . ")",
		$B->{conflicts} ? (manual => $B->{conflicts}) : (),
		@resolved ? (resolved => "SELECT string_agg(status, ' ' ORDER BY conflict_id) FROM ws.conflicts
			WHERE conflict_id IN (" . quoted(@resolved) . ")") : (),
	);
	# each check runs apart: one that fails shows its error, the others
	# their values
	my @keys = sort keys %sql;
	my $query = 'SELECT json_build_object('
	  . join(",\n", map { "'$_', public.mesh_try(\$q\$$sql{$_}\$q\$)" } @keys) . ')';
	my %v = map { $_ => decode_json(q1($_, $query)) } sort keys %node;

	# the same everywhere
	my %what = (
		hash => 'the same state_hash()',
		events => 'the same events',
		dup_state => "one state of the id $d created on both sides",
		manual => 'the same manual conflicts',
		resolved => 'the resolved conflicts resolved',
		(map { ("hash_at_$_" => "the same state_hash(at) at $at[$_]") } 0 .. $#at),
	);
	for my $k (grep { exists $what{$_} } @keys)
	{
		my @vals = map { $v{$_}{$k} // 'NULL' } sort keys %node;
		ok(!grep({ $_ ne $vals[0] } @vals), "round $r: $what{$k} on every node")
		  or diag(differences(map { $v{$_}{$k} // 'NULL' } sort keys %node));
	}

	# each node against what must hold
	my %sum;
	for my $i (sort keys %node)
	{
		for (split /\n/, q1($i, 'SELECT entity_id, sum(delta) FROM public.mesh_acked
				WHERE delta IS NOT NULL GROUP BY entity_id'))
		{
			my ($id, $s) = split /\|/;
			$sum{$id} += $s;
		}
	}
	my %want = (
		acked_missing => [ 0, 'every event it acknowledged is in its log (so on every node)' ],
		counters => [ join(' ', map { "c$_=" . ($sum{"c$_"} // 0) } 1 .. $ids),
			'every counter is the sum of the increments acknowledged on every node' ],
		lww_stale => [ 0, 'every lww entity holds the state of its latest event' ],
		retired => [ scalar(@retired), 'every entity retired in a round is retired' ],
		kept => [ scalar(@retired), 'the updates concurrent with the retirements are in history' ],
		dup_kept => [ 2, "both creations of $d are in history" ],
		@resolved ? (resolved => [ join(' ', ('resolved') x @resolved), 'a resolved conflict is resolved' ]) : (),
	);
	for my $i (sort keys %node)
	{
		is($v{$i}{$_}, $want{$_}[0], "round $r: node $i: $want{$_}[1]") for sort keys %want;
		if ($B->{conflicts})
		{
			ok(($v{$i}{manual} // '') ne '', "round $r: node $i: concurrent writes of a manual field opened conflicts");
		}
	}

	# no apply worker failed on a remote change
	for my $i (sort keys %node)
	{
		my @errors = ws_apply_errors($node{$i}, $logpos->{$i});
		is(scalar(@errors), 0, "round $r: node $i: no apply worker failed on a remote change")
		  or diag(join("\n", @errors[ 0 .. ($#errors < 4 ? $#errors : 4) ]));
	}
	return;
}

# ---------------------------------------------------------------------------
# The rounds
# ---------------------------------------------------------------------------

my @fixed = ('disable', 'kill', 'proxy');
for my $r (1 .. $nrounds)
{
	round($r, $r <= @fixed ? $fixed[ $r - 1 ] : $fixed[ int(rand(@fixed)) ]);
}

# the independent checker (WsCheck.pm) over the whole run: the writers'
# acknowledgements of every node against every node's log and world
if ($B->{name} eq 'worldstate')
{
	my @acked = map { split /\n/, q1($_, 'SELECT event_id FROM public.mesh_acked') } sort keys %node;
	my @violations = ws_check({ map { ("node$_" => ws_check_collect($node{$_})) } sort keys %node }, \@acked);
	is_deeply(\@violations, [], 'the checker finds no lost event, no event applied before its causal past, '
		  . 'and the same world on every node')
	  or diag(join("\n", @violations[ 0 .. ($#violations < 20 ? $#violations : 20) ]));
}

ws_proxy_stop(delete $proxy{$_}) for 1, 2;
done_testing();
