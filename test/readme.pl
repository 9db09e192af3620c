#!/usr/bin/env perl
# Runs every ```sql block of README.md, in order, in one psql session on the
# database named by the environment (PGHOST, PGPORT, PGUSER, PGDATABASE),
# and checks each statement's output against what the README shows.
#
# What the README shows, right under a statement:
#   -- <line>             a line of its output as psql prints it (aligned:
#                         data lines start with a space; a header and its
#                         ---+--- line may be shown, and then are compared
#                         too); cells are compared trimmed
#   -- ERROR:  message    the statement fails with that message; an optional
#                         "(SQLSTATE XXXXX)" at the end is compared too
#   -- DETAIL:  text      compared when shown
#   -- HINT:  text        compared when shown
# "…" in any of these matches any text (for ids, HLCs and times).  Other
# comments are prose.  A statement that shows no output must still succeed.
# Output is TAP: one test per statement.
use strict;
use warnings;
use File::Temp qw(tempfile);
use Test::More;

my $readme = shift // 'README.md';
open(my $fh, '<', $readme) or die "cannot read $readme: $!";
my @lines = <$fh>;
close($fh);
chomp @lines;

# Statements: {line, sql, expect => [lines]}
my @stmts;
my ($in_block, $indent, $cur, $cur_line, $quote, $dollar) = (0, '', undef, 0, 0, undef);
for my $i (0 .. $#lines)
{
	my $l = $lines[$i];
	if (!$in_block)
	{
		($in_block, $indent) = (1, $1) if $l =~ /^(\s*)```sql\s*$/;
		next;
	}
	$l =~ s/^\Q$indent\E//;
	if ($l =~ /^```/)
	{
		die "$readme:" . ($i + 1) . ": statement not ended before the block ends\n"
		  if defined $cur && $cur =~ /\S/;
		($in_block, $cur) = (0, undef);
		next;
	}
	if (!defined $cur || $cur !~ /\S/)
	{
		# between statements: expected output of the previous one, or prose
		if (@stmts && !$stmts[-1]{closed})
		{
			if ($l =~ /^-- ( .*|-+(\+-+)*\s*|(ERROR|DETAIL|HINT):.*)$/)
			{
				push @{ $stmts[-1]{expect} }, $1;
				next;
			}
			$stmts[-1]{closed} = 1;
		}
		next if $l =~ /^\s*(--.*)?$/;
		($cur, $cur_line) = ('', $i + 1);
	}
	$cur .= "$l\n";
	# scan for the end of the statement outside quotes and comments
	my $code = '';
	my $s = $l;
	while (length $s)
	{
		if (defined $dollar)
		{
			if ($s =~ s/^.*?\Q$dollar\E//s) { $dollar = undef; next }
			$s = '';
			next;
		}
		if ($quote)
		{
			if ($s =~ s/^(?:[^']|'')*'(?!')//) { $quote = 0; $code .= "''"; next }
			$s = '';
			next;
		}
		if ($s =~ s/^--.*//) { next }
		if ($s =~ s/^(\$[A-Za-z_]*\$)//) { $dollar = $1; next }
		if ($s =~ s/^'//) { $quote = 1; next }
		$s =~ s/^(.)//s;
		$code .= $1;
	}
	next if $quote || defined $dollar;
	if ($code =~ /;\s*$/ || $code =~ /\\g(set|x)?\b[^']*$/ || $code =~ /^\s*\\/)
	{
		push @stmts, { line => $cur_line, sql => $cur, expect => [] };
		$cur = undef;
	}
}

my ($sfh, $script) = tempfile('readme-XXXXXX', TMPDIR => 1, SUFFIX => '.sql', UNLINK => 1);
print $sfh "\\set VERBOSITY verbose\n\\pset footer off\n\\pset null NULL\n\\pset pager off\n";
for my $n (0 .. $#stmts)
{
	print $sfh $stmts[$n]{sql};
	# the README may change psql's settings; the harness reads verbose errors
	print $sfh "\\echo '\@\@README $n'\n\\set VERBOSITY verbose\n";
}
close($sfh);

my $out = `psql -X -q -f $script 2>&1`;
my %chunk;
my $n = -1;
for my $l (split /\n/, $out)
{
	if ($l =~ /^\@\@README (\d+)$/) { $n = $1; next }
	push @{ $chunk{ $n + 1 } }, $l;
}

# expected text -> regex, "…" matching anything
sub pattern
{
	my ($text) = @_;
	return '^' . join('.*', map { quotemeta } split(/…/, $text, -1)) . '$';
}

sub cells
{
	my ($line) = @_;
	return join(' | ', map { s/^\s+|\s+$//gr } split(/\|/, $line, -1));
}

for my $n (0 .. $#stmts)
{
	my $st = $stmts[$n];
	my @got = @{ $chunk{$n} // [] };
	my $where = "README line $st->{line}";
	my ($err) = grep { /ERROR:/ } @got;
	my @exp = @{ $st->{expect} };
	my @exp_err = grep { /^(ERROR|DETAIL|HINT):/ } @exp;
	my @exp_rows = grep { !/^(ERROR|DETAIL|HINT):/ } @exp;

	if (@exp_err)
	{
		my %want;
		for (@exp_err) { $want{$1} = $2 if /^(ERROR|DETAIL|HINT):\s+(.*?)\s*$/ }
		my $state;
		$state = $1 if $want{ERROR} =~ s/\s+\(SQLSTATE (\w{5})\)$//;
		my %have;
		for (@got)
		{
			$have{ERROR} = [$1, $2] if /ERROR:  (\w{5}): (.*)$/;
			$have{$1} = $2 if /^(DETAIL|HINT):  (.*)$/;
		}
		my @bad;
		if (!$have{ERROR}) { push @bad, "no error" }
		else
		{
			push @bad, "message \"$have{ERROR}[1]\"" if $have{ERROR}[1] !~ pattern($want{ERROR});
			push @bad, "SQLSTATE $have{ERROR}[0], not $state" if defined $state && $have{ERROR}[0] ne $state;
			for my $k (qw(DETAIL HINT))
			{
				next unless defined $want{$k};
				push @bad, "$k \"" . ($have{$k} // '(none)') . '"'
				  if ($have{$k} // '') !~ pattern($want{$k});
			}
		}
		ok(!@bad, "$where: fails as shown") or diag(join('; ', @bad) . "\n" . join("\n", @got));
		next;
	}
	if ($err)
	{
		fail("$where: runs");
		diag($st->{sql} . join("\n", @got));
		next;
	}
	if (!@exp_rows)
	{
		pass("$where: runs");
		next;
	}
	# actual rows: drop psql's blank lines and notices; header when shown
	my @rows = grep { !/^\s*$/ && !/^(psql:|NOTICE:|WARNING:|LOCATION:|DETAIL:|HINT:|CONTEXT:)/ } @got;
	my $with_header = @exp_rows > 1 && $exp_rows[1] =~ /^-+(\+-+)*$/;
	if (@rows > 1 && $rows[1] =~ /^-+(\+-+)*$/)
	{
		splice(@rows, 0, 2) unless $with_header;
	}
	my @bad;
	push @bad, scalar(@rows) . " lines, not " . scalar(@exp_rows) if @rows != @exp_rows;
	for my $i (0 .. $#exp_rows)
	{
		last if $i > $#rows;
		next if $with_header && $i == 1;
		push @bad, "line " . ($i + 1) . ": \"" . cells($rows[$i]) . "\""
		  if cells($rows[$i]) !~ pattern(cells($exp_rows[$i]));
	}
	ok(!@bad, "$where: output as shown") or diag(join("\n", @bad, '--- got:', @got));
}
done_testing();
