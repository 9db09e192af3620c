#!/usr/bin/env perl
# The layers of src/: checks that the C files keep to the map of
# src/LAYERS, where each name (a .c and its .h) has a layer, lowest first.
# It fails, naming the file and the line, when
#   - a file of src/ (*.c, *.h) is not in the table;
#   - a file includes a header of a higher layer than its own;
#   - the headers' includes go round in a circle, or so do the files' (a
#     .c or .h including a header of another name is an edge between the
#     two names);
#   - a header declares a function or variable that a .c of another name
#     defines, or a .c declares one extern itself (a declaration lives in
#     the header of the file that defines it);
#   - the layer map of README.md's Development section does not list each
#     file under the layer the table gives it;
#   - a name breaks the rule of the ws_ prefix: it marks what a header
#     exports, so a static function or variable does not carry it and an
#     extern one does (functions SQL calls, PG_FUNCTION_ARGS, are named
#     after their SQL function).
#
#   perl test/layers.pl [--src DIR] [--layers FILE] [--readme FILE]
#       checks (default: src/, src/LAYERS, README.md); prints the problems
#       and exits 1 when there are any (make check-layers)
#   perl test/layers.pl --self-test
#       TAP: the check passes on this tree, and fails as it should on
#       copies of it with one fault each (make test runs it with prove)
# Plain Perl 5 with core modules only.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Spec;
use File::Temp qw(tempdir);
use Getopt::Long;

my $root = File::Spec->rel2abs(dirname($0) . '/..');

sub stem { my ($f) = @_; return $f =~ s/\.[ch]$//r; }

sub slurp
{
	my ($file) = @_;
	open(my $fh, '<', $file) or die "cannot read $file: $!\n";
	local $/;
	my $text = <$fh>;
	close($fh);
	return $text;
}

# The table: "N name: stem stem ..." lines; '#' starts a comment.
# Returns ({stem => layer}, {layer => name}); problems go to @$problems.
sub read_layers
{
	my ($file, $problems) = @_;
	my (%layer, %name);
	my $n = 0;
	for my $line (split /\n/, slurp($file))
	{
		$n++;
		next if $line =~ /^\s*(#|$)/;
		if ($line !~ /^(\d+)\s+([^:]+):\s*(.*)$/)
		{
			push @$problems, "src/LAYERS:$n: not a layer line (\"N name: file file ...\")";
			next;
		}
		my ($l, $lname, $stems) = ($1, $2, $3);
		$name{$l} = $lname;
		for my $s (split ' ', $stems)
		{
			push @$problems, "src/LAYERS:$n: $s is in layer $layer{$s} already"
			  if exists $layer{$s};
			$layer{$s} = $l;
		}
	}
	return (\%layer, \%name);
}

# Circles of a graph {node => {next => where}}: one for each edge that
# closes one in a depth-first walk, each circle once; a circle is the list
# of its nodes, the first repeated at the end.
sub circles
{
	my ($graph) = @_;
	my (%state, @stack, @found, %seen);
	my $visit;
	$visit = sub {
		my ($node) = @_;
		$state{$node} = 1;
		push @stack, $node;
		for my $next (sort keys %{ $graph->{$node} || {} })
		{
			if (!$state{$next})
			{
				$visit->($next);
			}
			elsif ($state{$next} == 1)
			{
				my ($from) = grep { $stack[$_] eq $next } 0 .. $#stack;
				my @circle = (@stack[ $from .. $#stack ], $next);
				my $key = join(' ', sort @circle[ 0 .. $#circle - 1 ]);
				push @found, \@circle unless $seen{$key}++;
			}
		}
		pop @stack;
		$state{$node} = 2;
	};
	for my $node (sort keys %$graph)
	{
		$visit->($node) unless $state{$node};
	}
	return @found;
}

# "a -> b -> a (where a includes b, where b includes a)"
sub describe_circle
{
	my ($graph, $circle) = @_;
	my @where = map { $graph->{ $circle->[$_] }{ $circle->[ $_ + 1 ] } } 0 .. $#$circle - 1;
	return join(' -> ', @$circle) . ' (' . join('; ', @where) . ')';
}

# C text without comments and preprocessor lines, lines kept.
sub code_of
{
	my ($text) = @_;
	$text =~ s{/\*(.*?)\*/}{"\n" x ($1 =~ tr/\n//)}gse;
	$text =~ s{//[^\n]*}{}g;
	$text =~ s{^[ \t]*#(?:[^\n]*\\\n)*[^\n]*}{}mg;
	return $text;
}

# Names of the functions and variables that extern declarations in code
# declare: [name, line].
sub extern_names
{
	my ($code) = @_;
	my @names;
	while ($code =~ /\bextern\b([^;{]*);/g)
	{
		my $decl = $1;
		my $line = 1 + (substr($code, 0, $-[0]) =~ tr/\n//);
		$decl =~ s/\bPGDLL(?:IMPORT|EXPORT)\b//g;
		$decl =~ s/\bpg_attribute_\w+(?:\s*\((?:[^()]|\([^()]*\))*\))?//g;
		my $name;
		if ($decl =~ /\(\s*\*\s*(\w+)\s*\)\s*\(/)
		{
			$name = $1;
		}
		elsif ($decl =~ /(\w+)\s*\(/)
		{
			$name = $1;
		}
		elsif ($decl =~ /(\w+)\s*(?:\[[^\]]*\]\s*)*$/)
		{
			$name = $1;
		}
		push @names, [ $name, $line ] if defined $name;
	}
	return @names;
}

# The functions and variables a .c defines (not static): {name => 1}.
# PostgreSQL's style puts a function's name at the start of its line.
sub definitions
{
	my ($code) = @_;
	my %defined;
	while ($code =~ /^(?!static\b|extern\b|typedef\b)(?:[A-Za-z_][\w \t*]*?[\s*])?([A-Za-z_]\w*)[ \t]*(\(|=|;|\[)/mg)
	{
		my ($name, $next, $at) = ($1, $2, pos($code));
		if ($next eq '(')
		{
			# a definition when its body comes before any ';'
			my $rest = substr($code, $at);
			$defined{$name} = 1 if $rest =~ /\A[^;{]*\{/;
		}
		else
		{
			$defined{$name} = 1;
		}
	}
	return \%defined;
}

# The layer map of README.md's Development section: "Layer N, name: ..."
# lines, each followed by lines "  file.c, file.h   what they are".
# Returns ({file => [layer, line]}, {layer => [name, line]}).
sub readme_map
{
	my ($readme) = @_;
	my (%file, %layer);
	my ($in, $current) = (0, undef);
	my $n = 0;
	for my $line (split /\n/, slurp($readme))
	{
		$n++;
		if ($line =~ /^## /)
		{
			$in = $line =~ /^## Development\b/;
			next;
		}
		next unless $in;
		if ($line =~ /^Layer (\d+), ([^:]+):/)
		{
			$current = $1;
			$layer{$1} = [ $2, $n ];
		}
		elsif (defined $current && $line =~ /^ +((?:[\w.-]+\.[ch])(?:,? +[\w.-]+\.[ch])*)(?: {2,}|$)/)
		{
			$file{$_} = [ $current, $n ] for split /,? +/, $1;
		}
		elsif ($line !~ /^ /)
		{
			$current = undef;
		}
	}
	return (\%file, \%layer);
}

# Every problem of the tree, as messages.
sub check
{
	my (%o) = @_;
	my ($src, $layers_file, $readme) = @o{qw(src layers readme)};
	my @problems;
	my ($layer, $lname) = read_layers($layers_file, \@problems);
	my $where = sub { my ($l) = @_; return "layer $l ($lname->{$l})"; };

	opendir(my $dh, $src) or die "cannot read $src: $!\n";
	my @files = sort grep { /\.[ch]$/ && -f "$src/$_" } readdir($dh);
	closedir($dh);
	my %is_file = map { $_ => 1 } @files;
	my (%includes, %code);
	for my $f (@files)
	{
		my $text = slurp("$src/$f");
		my $n = 0;
		for my $line (split /\n/, $text)
		{
			$n++;
			push @{ $includes{$f} }, [ $n, $1 ]
			  if $line =~ /^\s*#\s*include\s+"([^"\/]+)"/ && $is_file{$1};
		}
		$code{$f} = code_of($text);
		push @problems, "src/$f: not in src/LAYERS; give its name a layer there, and README.md's layer map a line"
		  unless exists $layer->{ stem($f) };
	}

	# no include climbs a layer
	for my $f (@files)
	{
		my $l = $layer->{ stem($f) } // next;
		for my $inc (@{ $includes{$f} || [] })
		{
			my ($n, $h) = @$inc;
			my $hl = $layer->{ stem($h) } // next;
			push @problems,
			  sprintf('src/%s:%d: includes "%s", of %s, above its own %s',
				$f, $n, $h, $where->($hl), $where->($l))
			  if $hl > $l;
		}
	}

	# no circles: among the headers, and among the names
	my (%headers, %names);
	for my $f (@files)
	{
		for my $inc (@{ $includes{$f} || [] })
		{
			my ($n, $h) = @$inc;
			my $at = "src/$f:$n includes $h";
			$headers{$f}{$h} //= $at if $f =~ /\.h$/;
			$names{ stem($f) }{ stem($h) } //= $at if stem($f) ne stem($h);
		}
	}
	push @problems, 'include circle among headers: ' . describe_circle(\%headers, $_)
	  for circles(\%headers);
	push @problems, 'include circle among files: ' . describe_circle(\%names, $_)
	  for circles(\%names);

	# declarations live in the header of the file that defines them
	my @c_files = grep { /\.c$/ } @files;
	my %defined = map { $_ => definitions($code{$_}) } @c_files;
	for my $h (grep { /\.h$/ } @files)
	{
		for my $decl (extern_names($code{$h}))
		{
			my ($name, $n) = @$decl;
			my @def = grep { $defined{$_}{$name} } @c_files;
			if (!@def)
			{
				push @problems, "src/$h:$n: declares $name, which no file of src/ defines";
			}
			elsif (!grep { stem($_) eq stem($h) } @def)
			{
				push @problems,
				  "src/$h:$n: declares $name, defined in "
				  . join(', ', map { "src/$_" } @def)
				  . ': declare it in the header of that file';
			}
		}
	}
	# the ws_ prefix: exported names only
	for my $c (@c_files)
	{
		my $code = $code{$c};
		while ($code =~ /^static\b([^;{=(]*)[(=;\[]/mg)
		{
			my ($decl, $at) = ($1, $-[0]);
			next unless $decl =~ /\b(ws_\w+)\s*$/;
			my $n = 1 + (substr($code, 0, $at) =~ tr/\n//);
			push @problems, "src/$c:$n: static $1 carries the ws_ prefix, which marks exported names";
		}
	}
	for my $h (grep { /\.h$/ } @files)
	{
		while ($code{$h} =~ /\bextern\b([^;{]*);/g)
		{
			my ($decl, $at) = ($1, $-[0]);
			next if $decl =~ /PG_FUNCTION_ARGS/;
			my ($name) = map { $_->[0] } extern_names("extern$decl;");
			# _PG_ names are the ones PostgreSQL looks up in a library
			next if !defined $name || $name =~ /^(?:ws_|_PG_)/;
			my $n = 1 + (substr($code{$h}, 0, $at) =~ tr/\n//);
			push @problems, "src/$h:$n: exports $name without the ws_ prefix";
		}
	}

	for my $c (@c_files)
	{
		for my $decl (extern_names($code{$c}))
		{
			my ($name, $n) = @$decl;
			push @problems,
			  "src/$c:$n: declares $name extern itself; include the header of the file that defines it";
		}
	}

	# README.md's layer map: the same layers, every file under its own
	if (defined $readme)
	{
		my ($listed, $rlayer) = readme_map($readme);
		my $readme = 'README.md';    # in messages, wherever the copy is
		push @problems, "$readme: the Development section has no layer map (\"Layer N, name:\" lines)"
		  unless %$rlayer;
		for my $l (sort keys %$lname)
		{
			if (!$rlayer->{$l})
			{
				push @problems, "$readme: the layer map has no layer $l ($lname->{$l})" if %$rlayer;
			}
			elsif ($rlayer->{$l}[0] ne $lname->{$l})
			{
				push @problems,
				  "$readme:$rlayer->{$l}[1]: layer $l is \"$rlayer->{$l}[0]\", src/LAYERS names it \"$lname->{$l}\"";
			}
		}
		for my $f (sort keys %$listed)
		{
			my ($l, $n) = @{ $listed->{$f} };
			my $tl = $layer->{ stem($f) };
			if (!defined $tl)
			{
				push @problems, "$readme:$n: lists $f, whose name src/LAYERS does not have";
			}
			elsif ($tl != $l)
			{
				push @problems, "$readme:$n: lists $f in layer $l, src/LAYERS puts it in " . $where->($tl);
			}
		}
		for my $f (@files)
		{
			push @problems, "$readme: the layer map does not list src/$f"
			  if %$rlayer && !$listed->{$f};
		}
	}
	return @problems;
}

sub default_paths
{
	return (src => "$root/src", layers => "$root/src/LAYERS", readme => "$root/README.md");
}

# A copy of src/ and README.md in a new directory; returns the check's
# arguments for it.
sub copy_tree
{
	my %from = default_paths();
	my $dir  = tempdir(CLEANUP => 1);
	mkdir "$dir/src" or die "mkdir: $!\n";
	opendir(my $dh, $from{src}) or die "cannot read $from{src}: $!\n";
	for my $f (grep { -f "$from{src}/$_" } readdir($dh))
	{
		copy("$from{src}/$f", "$dir/src/$f") or die "copy $f: $!\n";
	}
	closedir($dh);
	copy($from{readme}, "$dir/README.md") or die "copy README.md: $!\n";
	return (src => "$dir/src", layers => "$dir/src/LAYERS", readme => "$dir/README.md");
}

# Change a copied file: put text in place of the first match of a
# pattern, or (insert_after) after it.
sub replace
{
	my ($file, $pattern, $with, $keep) = @_;
	my $text = slurp($file);
	$text =~ s/$pattern/($keep ? $& : '') . $with/e or die "$file: no match for $pattern\n";
	open(my $fh, '>', $file) or die "cannot write $file: $!\n";
	print $fh $text;
	close($fh);
}

sub insert_after { my ($file, $pattern, $with) = @_; replace($file, $pattern, $with, 1); }

sub self_test
{
	require Test::More;
	Test::More->import;

	my @problems = check(default_paths());
	ok(!@problems, 'src/ keeps to the layers of src/LAYERS and README.md')
	  or diag(join("\n", @problems));

	# each case: one fault in a copy, and a message that must name it
	my @cases = (
		[
			'an include that climbs a layer (bus.c, protocol, includes worker.h, outputs)',
			sub { my %t = @_; insert_after("$t{src}/bus.c", qr/^#include "bus\.h"\n/m, qq{#include "worker.h"\n}) },
			qr/^src\/bus\.c:\d+: includes "worker\.h", of layer 6 \(outputs\), above its own layer 5 \(protocol\)$/m
		],
		[
			'a file that is not in the table',
			sub { my %t = @_; copy("$t{src}/util.h", "$t{src}/extra.h") or die "copy: $!\n" },
			qr/^src\/extra\.h: not in src\/LAYERS/m
		],
		[
			'a circle among headers of one layer (spi.h and kindcache.h)',
			sub {
				my %t = @_;
				insert_after("$t{src}/spi.h", qr/^#include "executor\/spi\.h"\n/m, qq{#include "kindcache.h"\n});
				insert_after("$t{src}/kindcache.h", qr/^#include "postgres\.h"\n/m, qq{#include "spi.h"\n});
			},
			qr/^include circle among headers: (?:kindcache\.h -> spi\.h -> kindcache\.h|spi\.h -> kindcache\.h -> spi\.h) /m
		],
		[
			'a circle among files of one layer (canon.c includes module.h, module.c canon.h)',
			sub { my %t = @_; insert_after("$t{src}/canon.c", qr/^#include "canon\.h"\n/m, qq{#include "module.h"\n}) },
			qr/^include circle among files: (?:canon -> module -> canon|module -> canon -> module) \(.*src\/canon\.c:\d+ includes module\.h/m
		],
		[
			"a declaration in another file's header",
			sub {
				my %t = @_;
				replace("$t{src}/canon.h", qr/^#endif/m,
					"extern void ws_check_identifier(const char *name, const char *what);\n\n#endif");
			},
			qr/^src\/canon\.h:\d+: declares ws_check_identifier, defined in src\/module\.c/m
		],
		[
			'an extern declaration in a .c',
			sub { my %t = @_; insert_after("$t{src}/bus.c", qr/^#include "bus\.h"\n/m, "\nextern int ws_node_id;\n") },
			qr/^src\/bus\.c:\d+: declares ws_node_id extern itself/m
		],
		[
			'a static function with the ws_ prefix',
			sub { my %t = @_; insert_after("$t{src}/bus.c", qr/^#include "bus\.h"\n/m, "\nstatic void\nws_local_helper(void)\n{\n}\n") },
			qr/^src\/bus\.c:\d+: static ws_local_helper carries the ws_ prefix/m
		],
		[
			'an exported function without the ws_ prefix',
			sub {
				my %t = @_;
				replace("$t{src}/util.h", qr/\bws_empty_object\b/, 'empty_object');
				replace("$t{src}/util.c", qr/^ws_empty_object\(/m, 'empty_object(');
			},
			qr/^src\/util\.h:\d+: exports empty_object without the ws_ prefix/m
		],
		[
			'a file in another layer in the table than in README.md',
			sub {
				my %t = @_;
				insert_after($t{layers}, qr/^5 protocol:.*/m, ' decoder');
				replace($t{layers}, qr/^6 outputs: decoder /m, '6 outputs: ');
			},
			qr/README\.md:\d+: lists decoder\.c in layer 6, src\/LAYERS puts it in layer 5 \(protocol\)$/m
		],
		[
			'a file that README.md does not list',
			sub { my %t = @_; replace($t{readme}, qr/^ +worker\.c, worker\.h .*\n/m, '') },
			qr/README\.md: the layer map does not list src\/worker\.c$/m
		],);
	for my $case (@cases)
	{
		my ($what, $fault, $expect) = @$case;
		my %tree = copy_tree();
		my @before = check(%tree);
		$fault->(%tree);
		my $found = join("\n", check(%tree));
		note($found);
		ok(!@before && scalar($found =~ $expect), "fails on $what")
		  or diag("before the fault:\n" . join("\n", @before) . "\nafter:\n$found");
	}
	done_testing();
}

my %opt = default_paths();
my $self_test = 0;
GetOptions(
	'src=s'     => \$opt{src},
	'layers=s'  => \$opt{layers},
	'readme=s'  => \$opt{readme},
	'self-test' => \$self_test) or die "usage: $0 [--src DIR] [--layers FILE] [--readme FILE] | --self-test\n";

if ($self_test)
{
	self_test();
	exit 0;
}
my @problems = check(%opt);
if (@problems)
{
	print "$_\n" for @problems;
	print scalar(@problems) . " problem(s) with the layers of src/ (see src/LAYERS)\n";
	exit 1;
}
print "src/ keeps to its layers (src/LAYERS): no include climbs a layer or closes a circle\n";
# names the table gives a layer before their files exist
my ($layer) = read_layers($opt{layers}, []);
my @absent = grep { !-e "$opt{src}/$_.c" && !-e "$opt{src}/$_.h" } sort keys %$layer;
print "in src/LAYERS, no file yet: @absent\n" if @absent;
exit 0;
