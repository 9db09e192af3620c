# The two ways to worldstate 1.1 give the same catalog: CREATE EXTENSION
# worldstate (the full script, worldstate--1.1.sql) on one server, and
# CREATE EXTENSION worldstate VERSION '1.0' followed by ALTER EXTENSION
# worldstate UPDATE (worldstate--1.0.sql, then worldstate--1.0--1.1.sql) on
# another.  Every object of the extension and of its schemas is described
# by name, never by OID, and the two descriptions must be equal line for
# line; the lines that differ are printed.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# One line per fact, "what | which | detail", sorted.  ACLs are sorted
# item by item (their order carries no meaning).
my $catalog = <<'SQL';
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'worldstate'),
nsp AS (SELECT oid FROM pg_namespace WHERE nspname IN ('ws', 'ws_derived')),
lines(line) AS (
  -- the extension: version, schema, configuration tables and conditions
  SELECT format('extension | %s | version %s, schema %s, relocatable %s',
                e.extname, e.extversion, e.extnamespace::regnamespace, e.extrelocatable)
  FROM pg_extension e, ext WHERE e.oid = ext.oid
  UNION ALL
  SELECT format('extconfig | %s | %L', c.tab::regclass, c.cond)
  FROM pg_extension e, ext,
       unnest(e.extconfig, e.extcondition) AS c(tab, cond)
  WHERE e.oid = ext.oid
  -- its members
  UNION ALL
  SELECT format('member | %s', pg_describe_object(d.classid, d.objid, d.objsubid))
  FROM pg_depend d, ext
  WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
  -- schemas
  UNION ALL
  SELECT format('schema | %s | owner %s, acl %s', n.nspname, n.nspowner::regrole,
                (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(n.nspacl) a))
  FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM nsp)
  -- functions, procedures and aggregates
  UNION ALL
  SELECT format('function | %s | %s', p.oid::regprocedure,
                concat_ws(', ', 'kind ' || p.prokind::text, 'args (' || pg_get_function_arguments(p.oid) || ')',
                          'returns ' || pg_get_function_result(p.oid), 'language ' || l.lanname,
                          'symbol ' || p.prosrc, 'library ' || p.probin,
                          'volatility ' || p.provolatile::text, 'strict ' || p.proisstrict,
                          'parallel ' || p.proparallel::text, 'security definer ' || p.prosecdef,
                          'leakproof ' || p.proleakproof, 'cost ' || p.procost, 'rows ' || p.prorows,
                          'config ' || coalesce(array_to_string(p.proconfig, ';'), '-'),
                          'owner ' || p.proowner::regrole,
                          'acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text)
                                              FROM unnest(p.proacl) a), '-')))
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
  WHERE p.pronamespace IN (SELECT oid FROM nsp)
  UNION ALL
  SELECT format('aggregate | %s | sfunc %s, stype %s, combine %s, final %s, sortop %s, init %L',
                a.aggfnoid::regprocedure, a.aggtransfn::regproc, format_type(a.aggtranstype, NULL),
                a.aggcombinefn::regproc, a.aggfinalfn::regproc, a.aggsortop::regoperator, a.agginitval)
  FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
  WHERE p.pronamespace IN (SELECT oid FROM nsp)
  -- relations: tables, views, sequences, indexes
  UNION ALL
  SELECT format('relation | %s | kind %s, persistence %s, options %s, owner %s, acl %s',
                c.oid::regclass, c.relkind, c.relpersistence, c.reloptions, c.relowner::regrole,
                (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(c.relacl) a))
  FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM nsp)
  UNION ALL
  SELECT format('column | %s.%s | #%s %s, not null %s, default %s, identity %L, generated %L, collation %s',
                c.oid::regclass, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated, a.attcollation::regcollation)
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  WHERE c.relnamespace IN (SELECT oid FROM nsp)
  UNION ALL
  SELECT format('constraint | %s | %s: %s, deferrable %s', co.conrelid::regclass, co.conname,
                pg_get_constraintdef(co.oid), co.condeferrable)
  FROM pg_constraint co WHERE co.connamespace IN (SELECT oid FROM nsp)
  UNION ALL
  SELECT format('index | %s | %s', i.indexrelid::regclass, pg_get_indexdef(i.indexrelid))
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  WHERE c.relnamespace IN (SELECT oid FROM nsp)
  UNION ALL
  SELECT format('trigger | %s | %s; enabled %s', t.tgrelid::regclass, pg_get_triggerdef(t.oid), t.tgenabled)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
  WHERE c.relnamespace IN (SELECT oid FROM nsp) AND NOT t.tgisinternal
  UNION ALL
  SELECT format('view | %s | %s', c.oid::regclass, pg_get_viewdef(c.oid))
  FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM nsp) AND c.relkind IN ('v', 'm')
  UNION ALL
  SELECT format('sequence | %s | %s %s..%s start %s by %s cache %s cycle %s', s.seqrelid::regclass,
                format_type(s.seqtypid, NULL), s.seqmin, s.seqmax, s.seqstart, s.seqincrement,
                s.seqcache, s.seqcycle)
  FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
  WHERE c.relnamespace IN (SELECT oid FROM nsp)
  -- types, operators, operator classes and families, casts
  UNION ALL
  SELECT format('type | %s | type %s, category %s, preferred %s, len %s, byval %s, align %s, storage %s, in %s, out %s, recv %s, send %s, acl %s',
                t.oid::regtype, t.typtype, t.typcategory, t.typispreferred, t.typlen, t.typbyval,
                t.typalign, t.typstorage, t.typinput, t.typoutput, t.typreceive, t.typsend,
                (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(t.typacl) a))
  FROM pg_type t WHERE t.typnamespace IN (SELECT oid FROM nsp)
  UNION ALL
  SELECT format('operator | %s | code %s, commutator %s, negator %s, restrict %s, join %s, hashes %s, merges %s',
                o.oid::regoperator, o.oprcode, o.oprcom::regoperator, o.oprnegate::regoperator,
                o.oprrest, o.oprjoin, o.oprcanhash, o.oprcanmerge)
  FROM pg_operator o WHERE o.oprnamespace IN (SELECT oid FROM nsp)
  UNION ALL
  SELECT format('opclass | %s using %s | type %s, default %s, family %s', oc.opcname, am.amname,
                format_type(oc.opcintype, NULL), oc.opcdefault, f.opfname)
  FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod JOIN pg_opfamily f ON f.oid = oc.opcfamily
  WHERE oc.opcnamespace IN (SELECT oid FROM nsp)
  UNION ALL
  SELECT format('amop | %s using %s | %s strategy %s: %s', f.opfname, am.amname,
                ao.amoppurpose, ao.amopstrategy, ao.amopopr::regoperator)
  FROM pg_amop ao JOIN pg_opfamily f ON f.oid = ao.amopfamily JOIN pg_am am ON am.oid = f.opfmethod
  WHERE f.opfnamespace IN (SELECT oid FROM nsp)
  UNION ALL
  SELECT format('amproc | %s using %s | %s, %s support %s: %s', f.opfname, am.amname,
                format_type(ap.amproclefttype, NULL), format_type(ap.amprocrighttype, NULL),
                ap.amprocnum, ap.amproc::regprocedure)
  FROM pg_amproc ap JOIN pg_opfamily f ON f.oid = ap.amprocfamily JOIN pg_am am ON am.oid = f.opfmethod
  WHERE f.opfnamespace IN (SELECT oid FROM nsp)
  UNION ALL
  SELECT format('cast | %s | function %s, context %s, method %s', pg_describe_object(ca.tableoid, ca.oid, 0),
                ca.castfunc::regprocedure, ca.castcontext, ca.castmethod)
  FROM pg_cast ca
  WHERE format_type(ca.castsource, NULL) LIKE 'ws.%' OR format_type(ca.casttarget, NULL) LIKE 'ws.%'
  -- comments on everything of the database made after initdb (columns too)
  UNION ALL
  SELECT format('comment | %s | %s', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
  FROM pg_description d WHERE d.objoid >= 16384
  -- privileges pg_dump treats as the extension's own
  UNION ALL
  SELECT format('init privileges | %s | %s', pg_describe_object(ip.classoid, ip.objoid, ip.objsubid),
                (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(ip.initprivs) a))
  FROM pg_init_privs ip WHERE ip.privtype = 'e'
  -- the roles the scripts create and their memberships
  UNION ALL
  SELECT format('role | %s | login %s, inherit %s, superuser %s, createrole %s, createdb %s',
                r.rolname, r.rolcanlogin, r.rolinherit, r.rolsuper, r.rolcreaterole, r.rolcreatedb)
  FROM pg_roles r WHERE r.rolname LIKE 'ws\_%'
  UNION ALL
  SELECT format('membership | %s in %s | admin option %s', m.member::regrole, m.roleid::regrole, m.admin_option)
  FROM pg_auth_members m
  WHERE m.roleid::regrole::text LIKE 'ws\_%' OR m.member::regrole::text LIKE 'ws\_%'
)
SELECT line FROM lines ORDER BY line COLLATE "C";
SQL

sub node_with
{
	my ($name, @sql) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'worldstate'\n");
	$node->start;
	$node->safe_psql('postgres', $_) for @sql;
	return $node;
}

my $full = node_with('full', 'CREATE EXTENSION worldstate');
my $steps = node_with('steps', "CREATE EXTENSION worldstate VERSION '1.0'",
	'ALTER EXTENSION worldstate UPDATE');

my $version = $full->safe_psql('postgres',
	"SELECT extversion FROM pg_extension WHERE extname = 'worldstate'");
is($version, $steps->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'worldstate'"),
	"both reach the same version ($version)");
isnt($version, '1.0', 'past 1.0');

my @full = split /\n/, $full->safe_psql('postgres', $catalog);
my @steps = split /\n/, $steps->safe_psql('postgres', $catalog);
my %in_full = map { $_ => 1 } @full;
my %in_steps = map { $_ => 1 } @steps;
my @only_full = grep { !$in_steps{$_} } @full;
my @only_steps = grep { !$in_full{$_} } @steps;
diag("only after CREATE EXTENSION worldstate: $_") for @only_full;
diag("only after VERSION '1.0' + UPDATE: $_") for @only_steps;
cmp_ok(scalar(@full), '>', 500, 'the catalog is described (' . scalar(@full) . ' lines)');
is(scalar(@only_full) + scalar(@only_steps), 0,
	'the full script and 1.0 + the upgrade script give the same catalog');

# the description covers what it promises: every kind of line is there
my %kinds = map { (split / \| /, $_)[0] => 1 } @full;
for my $kind ('extension', 'extconfig', 'member', 'schema', 'function', 'aggregate', 'relation',
	'column', 'constraint', 'index', 'trigger', 'view', 'sequence', 'type', 'operator',
	'opclass', 'amop', 'amproc', 'cast', 'comment', 'init privileges', 'role', 'membership')
{
	ok($kinds{$kind}, "the description has $kind lines");
}

# every column of every table and view of schema ws has a comment, and so
# has the schema, on both paths
for my $node ($full, $steps)
{
	is($node->safe_psql('postgres', q{
		SELECT string_agg(format('%s.%s', c.oid::regclass, a.attname), ', ')
		FROM pg_class c
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relnamespace = 'ws'::regnamespace AND c.relkind IN ('r', 'v', 'p')
		  AND col_description(c.oid, a.attnum) IS NULL}), '',
		$node->name . ': every column of schema ws has a comment');
	isnt($node->safe_psql('postgres', q{SELECT obj_description('ws'::regnamespace, 'pg_namespace')}), '',
		$node->name . ': schema ws has a comment');
}

$full->stop;
$steps->stop;
done_testing();
