/*-------------------------------------------------------------------------
 *
 * derived.c
 *		Cache state: derived views of the world, ws.define_derived,
 *		ws.refresh_derived and ws.drop_derived.
 *
 * A derived view (the specification's "cache" state kind) is a query over
 * the world kept as a materialized view, ws_derived.<name>.  The query is
 * registered in ws.derived, so the materialized view holds nothing that
 * cannot be rebuilt: dropping it loses nothing, and ws.refresh_derived
 * re-creates it from the registered query when it is missing.
 *
 * Security: the query is parsed, planned and run only with the rights of
 * the role that wrote it, never with those of the extension's owner.
 * Parsing is execution: parse analysis already runs the input functions
 * and domain checks of the query's literals, which may call functions the
 * writer made.  So:
 *
 *	- the CREATE MATERIALIZED VIEW ... WITH NO DATA statement around the
 *	  query is parse-analysed as the view's owner (the role that defined
 *	  it), as a security-restricted operation whose setting changes are
 *	  undone afterwards -- exactly as PostgreSQL itself runs a
 *	  materialized view's query when refreshing it;
 *	- only the analysed statement is executed as the owner of schema ws
 *	  (schema ws_derived belongs to the extension and nobody else may
 *	  create objects in it).  Creating a view without data defines a
 *	  relation and stores the analysed query as its rule: nothing of the
 *	  query is evaluated, so nothing of the writer's runs as the owner;
 *	- the view is given to its owner at once and filled by REFRESH
 *	  MATERIALIZED VIEW, which plans and runs the query as the view's owner
 *	  whoever calls it; ws.refresh_derived re-creates a missing view the
 *	  same way, parsing the registered query as its owner, not as the
 *	  caller (a superuser refreshing a writer's view runs nothing of the
 *	  writer's with superuser rights).
 *
 * Names the owner could not look up itself (in schemas it has no USAGE on)
 * are refused at parse analysis, tables it may not read at the refresh.
 * The query must be one SELECT; the statement composed around it is parsed
 * again and compared with it, so no comment or semicolon in the query can
 * change what is executed.  Names in the query are resolved with
 * search_path = pg_catalog, pg_temp: qualify everything else.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodes.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "args.h"
#include "spi.h"

PG_FUNCTION_INFO_V1(derived_define);
PG_FUNCTION_INFO_V1(derived_refresh);
PG_FUNCTION_INFO_V1(derived_drop);

#define WS_DERIVED_SCHEMA "ws_derived"

/* A registered derived view. */
typedef struct WsDerived
{
	char	   *name;
	char	   *query;
	Oid			owner;
} WsDerived;

/*
 * 22023 unless name is a plain lower-case SQL identifier, so that it names
 * the materialized view without quoting surprises.
 */
static void
check_derived_name(const char *name)
{
	bool		ok = strlen(name) <= NAMEDATALEN - 1 &&
		((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_');

	for (const char *p = name; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid derived view name \"%s\"", name),
				 errhint("Use a lower-case identifier of at most %d characters: letters, digits and underscores.",
						 NAMEDATALEN - 1)));
}

/* The query without trailing white space and semicolons. */
static char *
trim_query(const char *query)
{
	char	   *q = pstrdup(query);
	size_t		len = strlen(q);

	while (len > 0 && (q[len - 1] == ';' || isspace((unsigned char) q[len - 1])))
		q[--len] = '\0';
	return q;
}

/* The raw parse tree of the query, which must be one plain SELECT. */
static Node *
parse_select(const char *query)
{
	List	   *stmts = raw_parser(query, RAW_PARSE_DEFAULT);
	Node	   *stmt;

	if (list_length(stmts) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of a derived view must be exactly one SELECT statement"),
				 errhint("Pass one SELECT ... or VALUES ... statement, without a second statement after it.")));
	stmt = linitial_node(RawStmt, stmts)->stmt;
	if (!IsA(stmt, SelectStmt) || ((SelectStmt *) stmt)->intoClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of a derived view must be a SELECT statement"),
				 errhint("Write the query as SELECT ... or VALUES ..., without INTO.")));
	return stmt;
}

/*
 * The CREATE MATERIALIZED VIEW statement for the query, checked to be
 * exactly that statement over exactly that query.
 */
static char *
create_statement(const char *name, const char *query)
{
	Node	   *select = parse_select(query);
	char	   *sql;
	List	   *stmts;
	CreateTableAsStmt *ctas;

	sql = psprintf("CREATE MATERIALIZED VIEW %s.%s AS\n%s\nWITH NO DATA",
				   WS_DERIVED_SCHEMA, quote_identifier(name), query);
	stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	ctas = list_length(stmts) == 1 && IsA(linitial_node(RawStmt, stmts)->stmt, CreateTableAsStmt)
		? (CreateTableAsStmt *) linitial_node(RawStmt, stmts)->stmt : NULL;
	if (ctas == NULL || ctas->objtype != OBJECT_MATVIEW || ctas->into == NULL ||
		!ctas->into->skipData || ctas->into->colNames != NIL ||
		ctas->into->options != NIL || ctas->into->tableSpaceName != NULL ||
		ctas->into->accessMethod != NULL ||
		ctas->into->rel->schemaname == NULL ||
		strcmp(ctas->into->rel->schemaname, WS_DERIVED_SCHEMA) != 0 ||
		strcmp(ctas->into->rel->relname, name) != 0 ||
		!equal(ctas->query, select))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of a derived view must be exactly one SELECT statement"),
				 errdetail("The query changes the meaning of the statement that creates the view."),
				 errhint("Remove trailing comments and unbalanced parentheses from the query.")));
	return sql;
}

/* The registered derived view called name, or NULL. */
static WsDerived *
lookup_derived(const char *name, MemoryContext cxt)
{
	Oid			t[1] = {TEXTOID};
	Datum		a[1] = {CStringGetTextDatum(name)};
	WsDerived  *d;
	bool		isnull;
	MemoryContext old;

	ws_exec_as_owner("SELECT query, owner::pg_catalog.oid FROM ws.derived"
					 " WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE", 1, t, a, NULL, WS_SPI_ANY);
	if (SPI_processed == 0)
		return NULL;
	old = MemoryContextSwitchTo(cxt);
	d = palloc(sizeof(WsDerived));
	d->name = pstrdup(name);
	d->query = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	d->owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	MemoryContextSwitchTo(old);
	return d;
}

/* 22023 for a derived view that is not defined. */
static void
not_defined(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("derived view \"%s\" is not defined", name),
			 errhint("Define it with ws.define_derived().")));
}

/* 42501 unless the caller acts with the privileges of the view's owner. */
static void
require_owner(Oid caller, const WsDerived *d)
{
	if (!has_privs_of_role(caller, d->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for derived view \"%s\"", d->name),
				 errdetail("It belongs to role \"%s\".", GetUserNameFromId(d->owner, false)),
				 errhint("Only its owner, or a member of the owner's role, may change it.")));
}

/* The materialized view of a derived view, or InvalidOid when there is none. */
static Oid
matview_oid(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid(WS_DERIVED_SCHEMA, false));

	if (OidIsValid(relid) && get_rel_relkind(relid) != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s.%s is not a materialized view", WS_DERIVED_SCHEMA, name),
				 errhint("A ws_admin drops the object %s.%s; derived views own that schema.",
						 WS_DERIVED_SCHEMA, name)));
	return relid;
}

/*
 * Parse analysis of the statement that creates the view, as `owner` and
 * as a security-restricted operation; settings the analysis changes are
 * undone.  An error leaves through transaction abort, which restores the
 * role and the settings too.
 */
static Query *
analyse_as(Oid owner, RawStmt *raw, const char *sql)
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	Query	   *q;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	q = parse_analyze_fixedparams(raw, sql, NULL, 0, NULL);
	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return q;
}

/*
 * Create the empty materialized view of a derived view, owned by owner:
 * the query is parsed as owner, the analysed statement executed as the
 * owner of schema ws; see the file header.
 */
static void
create_matview(const char *name, const char *query, Oid owner)
{
	char	   *sql = create_statement(name, query);
	RawStmt    *raw = linitial_node(RawStmt, raw_parser(sql, RAW_PARSE_DEFAULT));
	Query	   *q = analyse_as(owner, raw, sql);
	PlannedStmt *pstmt;
	QueryCompletion qc;
	WsAsOwner	saved;

	if (q->commandType != CMD_UTILITY || !IsA(q->utilityStmt, CreateTableAsStmt))
		elog(ERROR, "unexpected statement for derived view \"%s\"", name);
	pstmt = makeNode(PlannedStmt);
	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = true;
	pstmt->utilityStmt = q->utilityStmt;
	pstmt->stmt_location = raw->stmt_location;
	pstmt->stmt_len = raw->stmt_len;
	InitializeQueryCompletion(&qc);

	ws_as_owner_begin(&saved);
	ProcessUtility(pstmt, sql, false, PROCESS_UTILITY_QUERY, NULL, NULL,
				   None_Receiver, &qc);
	CommandCounterIncrement();
	ws_as_owner_end(&saved);
	ws_exec_as_owner(psprintf("ALTER MATERIALIZED VIEW %s.%s OWNER TO %s",
							  WS_DERIVED_SCHEMA, quote_identifier(name),
							  quote_identifier(GetUserNameFromId(owner, false))),
					 0, NULL, NULL, NULL, WS_SPI_ANY);
}

/* Fill the materialized view, as the caller, and note when. */
static void
refresh_matview(const char *name)
{
	Oid			t[1] = {TEXTOID};
	Datum		a[1] = {CStringGetTextDatum(name)};

	/* as the caller: PostgreSQL checks ownership and runs the query as the owner */
	ws_exec(psprintf("REFRESH MATERIALIZED VIEW %s.%s", WS_DERIVED_SCHEMA, quote_identifier(name)),
			0, NULL, NULL, NULL, WS_SPI_ANY);
	ws_exec_as_owner("UPDATE ws.derived SET refreshed_at = pg_catalog.clock_timestamp()"
					 " WHERE name OPERATOR(pg_catalog.=) $1", 1, t, a, NULL, WS_SPI_ANY);
}

/*
 * ws.define_derived(name, query): register a derived view and build it,
 * or replace the query of one the caller owns.
 */
Datum
derived_define(PG_FUNCTION_ARGS)
{
	char	   *name = ws_arg_text(fcinfo, 0, "name", 0);
	char	   *query = trim_query(ws_arg_text(fcinfo, 1, "query", 0));
	Oid			caller = GetUserId();
	WsDerived  *existing;
	Oid			t[3] = {TEXTOID, TEXTOID, REGROLEOID};
	Datum		a[3];

	check_derived_name(name);
	(void) parse_select(query);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	existing = lookup_derived(name, CurrentMemoryContext);
	if (existing)
	{
		require_owner(caller, existing);
		if (OidIsValid(matview_oid(name)))
			ws_exec_as_owner(psprintf("DROP MATERIALIZED VIEW %s.%s",
									  WS_DERIVED_SCHEMA, quote_identifier(name)),
						 0, NULL, NULL, NULL, WS_SPI_ANY);
	}
	else if (OidIsValid(matview_oid(name)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("relation %s.%s already exists", WS_DERIVED_SCHEMA, name),
				 errhint("Choose another name, or drop the relation that is not a registered derived view.")));

	a[0] = CStringGetTextDatum(name);
	a[1] = CStringGetTextDatum(query);
	a[2] = ObjectIdGetDatum(caller);
	ws_exec_as_owner("INSERT INTO ws.derived (name, query, owner) VALUES ($1, $2, $3)"
					 " ON CONFLICT (name) DO UPDATE SET query = excluded.query,"
					 " owner = excluded.owner, defined_at = pg_catalog.now(), refreshed_at = NULL",
					 3, t, a, NULL, WS_SPI_ANY);
	create_matview(name, query, caller);
	refresh_matview(name);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * ws.refresh_derived(name): rebuild a derived view from the world, first
 * re-creating its materialized view if it was dropped.
 */
Datum
derived_refresh(PG_FUNCTION_ARGS)
{
	char	   *name = ws_arg_text(fcinfo, 0, "name", 0);
	Oid			caller = GetUserId();
	WsDerived  *d;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	d = lookup_derived(name, CurrentMemoryContext);
	if (d == NULL)
		not_defined(name);
	require_owner(caller, d);
	if (!OidIsValid(matview_oid(name)))
		create_matview(name, d->query, d->owner);
	refresh_matview(name);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ws.drop_derived(name): forget a derived view and drop its materialized view. */
Datum
derived_drop(PG_FUNCTION_ARGS)
{
	char	   *name = ws_arg_text(fcinfo, 0, "name", 0);
	Oid			caller = GetUserId();
	WsDerived  *d;
	Oid			t[1] = {TEXTOID};
	Datum		a[1];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	d = lookup_derived(name, CurrentMemoryContext);
	if (d == NULL)
		not_defined(name);
	require_owner(caller, d);
	if (OidIsValid(matview_oid(name)))
		ws_exec_as_owner(psprintf("DROP MATERIALIZED VIEW %s.%s",
								  WS_DERIVED_SCHEMA, quote_identifier(name)), 0, NULL, NULL, NULL, WS_SPI_ANY);
	a[0] = CStringGetTextDatum(name);
	ws_exec_as_owner("DELETE FROM ws.derived WHERE name OPERATOR(pg_catalog.=) $1",
					 1, t, a, NULL, WS_SPI_ANY);
	SPI_finish();
	PG_RETURN_VOID();
}
