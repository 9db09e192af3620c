# SQL on the ws tables goes through one layer, src/spi.c: statements run
# as the owner of schema ws, plans kept in slots of their own, and the one
# check that a module is registered.  This reads the sources and fails
# when a file grows a local copy of that layer again: its own SPI
# statement runner, its own switch to the owner, a list of plans walked
# with a hand-kept count, a second "module is not registered" error, or a
# second vformat loop (src/util.c has ws_append_vformat).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use Test::More;
use WsSources;

ok(scalar(ws_source_files()) > 10, 'the sources are there');

is_deeply(ws_files_with(qr/\bSPI_execute(?:_with_args|_extended)?\s*\(/),
	['spi.c'], 'statements run through ws_exec in spi.c only');

# derived.c switches to the owner of a derived view, not of schema ws,
# for the parse analysis of its query (a security-restricted operation)
is_deeply(ws_files_with(qr/\bSetUserIdAndSecContext\s*\(/),
	[ 'derived.c', 'spi.c' ], 'the switch to the owner of schema ws is in spi.c only');

is_deeply(ws_files_with(qr/is not registered/),
	['spi.c'], 'one place raises "module is not registered"');

is_deeply(ws_files_with(qr/#\s*define\s+\w*NPLANS\b|SPIPlanPtr\s*\*\s*\w+\s*=\s*&/),
	[], 'no list of plans is walked with a hand-kept count');

is_deeply(ws_files_with(qr/\bappendStringInfoVA\s*\(/),
	['util.c'], 'one vformat loop');

done_testing();
