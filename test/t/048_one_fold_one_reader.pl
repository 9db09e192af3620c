# An entity's state at a version is rebuilt in one place, src/fold.c, and
# the ws tables are read by index in one place, src/reader.c (the writer's
# locking fetch aside).  This reads the sources and fails when a file grows
# its own fold again -- patches applied one by one with ws_merge_patch, a
# member-by-member merge, a copy of the jsonb key order -- or its own index
# scans of the ws tables, or when a comment cites a document that is not
# part of the project.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use Test::More;
use WsSources;

ok(scalar(ws_source_files()) > 10, 'the sources are there');

my %have = map { $_ => 1 } ws_source_files();
ok($have{'fold.c'} && $have{'fold.h'}, 'the fold is src/fold.c');
ok($have{'reader.c'} && $have{'reader.h'}, 'the reader is src/reader.c');

# merge_patch.c defines it; transition.c applies a change (with its kind's
# counters); converge.c applies a peer's event by its kind's policy, which
# a plain fold of patches cannot do (its results are keyframes that the one
# fold starts from); query.c's ws.merge_patches aggregate is the reference
# the regression tests compare the fold with
is_deeply(ws_files_with(qr/\bws_merge_patch\s*\(/),
	[ 'converge.c', 'merge_patch.c', 'merge_patch.h', 'query.c', 'transition.c' ],
	'no file but the fold folds a history patch by patch');

is_deeply(ws_files_with(qr/\b(?:fold_members|collect_members|fold_patches)\s*\(/),
	['fold.c'], 'the one-pass fold is in fold.c only');

is_deeply(ws_files_with(qr/\bws_fold_patches\s*\(/),
	[ 'fold.c', 'fold.h', 'reader.c' ], 'point reads fold through fold.c');

is_deeply(ws_files_with(qr/\bws_fold_(?:patch|keyframe)\s*\(/),
	[ 'fold.c', 'fold.h', 'snapshot.c' ], 'replay and verification fold through fold.c');

# one definition of the order of jsonb object keys
is_deeply(
	ws_files_with(qr/^(?:static\s+(?:inline\s+)?)?int\s*\n\w*key_cmp\s*\(/m),
	['merge_patch.h'], 'one comparison of object keys');

is_deeply(ws_files_with(qr/\b(?:index_beginscan|table_beginscan\w*|systable_beginscan)\s*\(/),
	[ 'reader.c', 'writer.c' ], 'the ws tables are scanned by reader.c (and writer.c\'s fetch)');

is_deeply(ws_files_with(qr/PITFALLS|integration-issue/),
	[], 'no comment cites a document outside the project');

done_testing();
