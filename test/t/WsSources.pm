# The sources of the extension, read as text, for the TAP tests that check
# how the code is laid out (which file does what).
package WsSources;

use strict;
use warnings;
use FindBin;
use Exporter 'import';
our @EXPORT = qw(ws_source_files ws_source_text ws_files_with);

my (@files, %text);

# The .c and .h files of src/: WS_SRC (set by test/run-tests.sh), else
# the src/ beside test/t; sorted by name, read once.
sub ws_source_files
{
	return @files if @files;
	my $src = $ENV{WS_SRC} // "$FindBin::RealBin/../../src";
	opendir(my $dh, $src) or die "cannot read $src: $!";
	@files = sort grep { /\.[ch]$/ } readdir($dh);
	closedir($dh);
	for my $f (@files)
	{
		open(my $fh, '<', "$src/$f") or die "cannot read $src/$f: $!";
		local $/;
		$text{$f} = <$fh>;
		close($fh);
	}
	return @files;
}

# The text of one source file, by name (e.g. "writer.c").
sub ws_source_text
{
	my ($name) = @_;
	ws_source_files();
	return $text{$name};
}

# The source files in which a pattern occurs, sorted by name.
sub ws_files_with
{
	my ($re) = @_;
	return [ grep { $text{$_} =~ $re } ws_source_files() ];
}

1;
