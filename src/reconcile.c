/*-------------------------------------------------------------------------
 *
 * reconcile.c
 *		Reconciliation: ws.reconcile() refolds every entity from its events
 *		and repairs what differs; ws.reconcile(peer) fetches from a peer,
 *		through the contrib module dblink, the events this node lacks.
 *
 * ws.reconcile() walks every entity (those with events, archived or not,
 * and those with a row in ws.entities) through a cursor, a batch of ids at
 * a time, and gives each one the fold of converge.c, first without writing
 * anything: only an entity whose row, keyframes or conflicts differ from
 * that fold is folded again for real, reported with what differed, and
 * checked once more.  An entity already right costs one read-only fold and
 * writes nothing.  Each entity runs in an SPI level of its own, so memory
 * stays that of one entity however large the world.
 *
 * ws.reconcile(peer) is anti-entropy for events whose origin is gone:
 * replication relays nothing (a full mesh), so an event that reached only
 * some nodes before its origin was lost travels no further by itself.  The
 * peer's events, archived ones included, are compared with this node's by
 * a digest of their ids per entity and origin node (events without an
 * entity, such as catalog events, per module and origin node); for the
 * groups that differ the peer lists its event ids, this node keeps those it
 * lacks and fetches them FETCH_BATCH at a time, in HLC order, and inserts
 * them one statement each with session_replication_role = replica: the
 * ENABLE REPLICA triggers of ws.events then integrate them exactly as they
 * integrate what the apply worker inserts (a re-delivery dropped, the HLC
 * receive rule, the arrival order, the fold).  Groups without an entity
 * come first, so definitions arrive before the entities that need them.
 *
 * Design choice: everything after the checks runs in a subtransaction; an
 * error rolls it back, closes the dblink connection and is raised again, so
 * nothing is left half-written and no connection outlives the call.  The
 * peer is only read.  Only superusers may call it: it connects with this
 * server's credentials (the subscription's conninfo, with its password)
 * and inserts events as a replica session.  The conninfo is passed to
 * dblink as a parameter; what the peer returns goes into SQL text only as
 * quoted literals.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "canon.h"
#include "converge.h"
#include "progress.h"
#include "replication.h"
#include "args.h"
#include "spi.h"
#include "util.h"

PG_FUNCTION_INFO_V1(reconcile_local);
PG_FUNCTION_INFO_V1(reconcile_peer);

/* entity ids read from the cursor at a time */
#define ENTITY_BATCH 1000
/* groups (entities) whose event ids are listed by one statement on the peer */
#define GROUP_BATCH 500
/* events fetched by one statement on the peer */
#define FETCH_BATCH 500

/* the name of the dblink connection of a call */
#define DBLINK_CONN "ws_reconcile"

/*
 * Horizon events (stable.c) are left out: each node publishes its own, and
 * they reach a peer by replication while the node lives; the horizon of a
 * node that is gone matters to nobody.
 */
#define NOT_HORIZON \
	" NOT (e.entity_id IS NULL AND e.module OPERATOR(pg_catalog.=) 'ws'" \
	"  AND e.event_type OPERATOR(pg_catalog.=) 'horizon')"

/*
 * The digest of the event ids of each group, on either node: a group is
 * an entity and an origin node, or for events without an entity a module
 * and an origin node.  The peer runs it through dblink, this node in the
 * comparison; the text is the same.
 */
#define DIGEST_SQL \
	"SELECT e.entity_id IS NOT NULL, COALESCE(e.entity_id, e.module), e.origin_node," \
	" pg_catalog.md5(pg_catalog.string_agg(e.event_id::pg_catalog.text, ','" \
	"  ORDER BY e.event_id USING OPERATOR(pg_catalog.<)))" \
	" FROM (SELECT entity_id, module, event_type, origin_node, event_id FROM ws.events" \
	"  UNION ALL SELECT entity_id, module, event_type, origin_node, event_id FROM ws.events_archive) e" \
	" WHERE" NOT_HORIZON \
	" GROUP BY 1, 2, 3"

/* Put a row (entity_id NULL for events without an entity) in the result. */
static void
put_row(ReturnSetInfo *rsinfo, const char *entity_id, const char *change)
{
	Datum		v[2];
	bool		n[2] = {entity_id == NULL, false};

	v[0] = entity_id ? CStringGetTextDatum(entity_id) : (Datum) 0;
	v[1] = CStringGetTextDatum(change);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
}

/* A description of differences as the fold gives it, without its last "; ". */
static char *
change_text(const char *diff)
{
	char	   *s = pstrdup(diff);
	size_t		len = strlen(s);

	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == ';'))
		s[--len] = '\0';
	return s;
}

/*
 * Reconcile one entity, in an SPI level of its own: fold it without
 * writing; where that differs from what is stored, fold it for real,
 * report what differed, and check again (what a fold cannot repair, such
 * as an entity without events or of a kind not defined here, is reported
 * as not repaired).
 */
static void
reconcile_entity(ReturnSetInfo *rsinfo, const char *entity_id)
{
	char	   *diff;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	diff = ws_converge_entity(entity_id, true);
	if (diff != NULL)
	{
		char	   *left;

		(void) ws_converge_entity(entity_id, false);
		left = ws_converge_entity(entity_id, true);
		if (left == NULL)
			put_row(rsinfo, entity_id, change_text(diff));
		else
			put_row(rsinfo, entity_id, psprintf("not repaired: %s", change_text(left)));
	}
	SPI_finish();
}

/*
 * ws.reconcile() -> TABLE(entity_id text, change text): every entity
 * folded again from its events; one row per entity whose row in
 * ws.entities, keyframes or conflicts differed and were repaired, saying
 * what differed.  ws_admin.
 */
Datum
reconcile_local(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WsAsOwner	saved;
	SPIPlanPtr	walk;
	Portal		portal;
	MemoryContext batch_cxt;
	int64		done = 0;

	ws_require_ws_admin("ws.reconcile");
	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_as_owner_begin(&saved);
	ws_progress_begin("reconcile", "refolding entities", WS_PROGRESS_UNKNOWN);
	walk = SPI_prepare("SELECT entity_id FROM ws.events WHERE entity_id IS NOT NULL"
					   " UNION SELECT entity_id FROM ws.events_archive WHERE entity_id IS NOT NULL"
					   " UNION SELECT entity_id FROM ws.entities"
					   " ORDER BY 1", 0, NULL);
	if (walk == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, walk, NULL, NULL, true);
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate reconcile batch",
									  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		uint64		n;
		char	  **ids;
		MemoryContext old;

		SPI_cursor_fetch(portal, true, ENTITY_BATCH);
		n = SPI_processed;
		if (n == 0)
			break;
		MemoryContextReset(batch_cxt);
		old = MemoryContextSwitchTo(batch_cxt);
		ids = palloc(sizeof(char *) * n);
		for (uint64 i = 0; i < n; i++)
			ids[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
		for (uint64 i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			reconcile_entity(rsinfo, ids[i]);
			ws_progress_count(++done);
		}
	}
	SPI_cursor_close(portal);
	SPI_freeplan(walk);
	MemoryContextDelete(batch_cxt);
	ws_progress_end();
	ws_as_owner_end(&saved);
	SPI_finish();
	return (Datum) 0;
}

/* ---- ws.reconcile(peer) ---- */

/* A group whose digest differs: an entity, or a module of events without one. */
typedef struct EvGroup
{
	bool		is_entity;
	char	   *key;			/* entity id, or module */
	ArrayType  *origins;		/* int4[]: the origin nodes whose digests differ */
	int64		fetched;
} EvGroup;

/* What a call works with. */
typedef struct Reconcile
{
	const char *peer;
	const char *conninfo;
	const char *dblink;			/* the quoted schema of dblink */
	char	   *columns;		/* the columns of ws.events: "a, b, ..." */
	char	   *coldefs;		/* and with their types: "a uuid, b text, ..." */
	int			ncols;
	Oid		   *coltypes;
	int			entity_col;		/* their positions, from 1 */
	int			module_col;
	SPIPlanPtr	insert;
	ReturnSetInfo *rsinfo;
} Reconcile;

/* 42501 unless the caller is a superuser. */
static void
require_superuser(void)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may call ws.reconcile(peer)"),
				 errdetail("It connects to the peer with this server's credentials and inserts the events it fetches as a replica session."),
				 errhint("Ask a superuser to call it; ws.reconcile() without a peer refolds this node's entities and is open to ws_admin.")));
}

/* The quoted schema of the extension dblink; 55000 when it is missing. */
static char *
dblink_schema(void)
{
	ws_exec("SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n"
			" ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
			" WHERE e.extname OPERATOR(pg_catalog.=) 'dblink'",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the extension dblink is not installed in this database"),
				 errdetail("ws.reconcile(peer) reads the peer's events through dblink, a contrib module of PostgreSQL."),
				 errhint("Run CREATE EXTENSION dblink in this database as a superuser, then call ws.reconcile(peer) again.")));
	return pstrdup(quote_identifier(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)));
}

/*
 * Run `sql` (which calls dblink functions: %1$s is dblink's schema) with
 * the connection name as $1 and `arg` as $2; the SPI result code.
 */
static int
dblink_run(Reconcile *r, const char *sql, const char *arg, int expected)
{
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		a[2] = {CStringGetTextDatum(DBLINK_CONN), arg ? CStringGetTextDatum(arg) : (Datum) 0};

	return ws_exec(psprintf(sql, r->dblink), 2, t, a, arg ? "  " : " n", expected);
}

/* Close the call's dblink connection if it is open. */
static void
dblink_close(Reconcile *r)
{
	dblink_run(r, "SELECT %1$s.dblink_disconnect($1)"
			   " WHERE $1 OPERATOR(pg_catalog.=) ANY (%1$s.dblink_get_connections())",
			   NULL, SPI_OK_SELECT);
}

/* Run a command on the peer. */
static void
peer_command(Reconcile *r, const char *sql)
{
	dblink_run(r, "SELECT %1$s.dblink_exec($1, $2)", sql, SPI_OK_SELECT);
}

/*
 * The columns of ws.events here, in order, and a prepared statement that
 * inserts one event with their values.
 */
static void
describe_events(Reconcile *r)
{
	StringInfoData params;
	bool		isnull;

	ws_exec("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(attname), ', ' ORDER BY attnum),"
			" pg_catalog.string_agg(pg_catalog.quote_ident(attname) OPERATOR(pg_catalog.||) ' '"
			"  OPERATOR(pg_catalog.||) pg_catalog.format_type(atttypid, atttypmod), ', ' ORDER BY attnum),"
			" pg_catalog.array_agg(atttypid ORDER BY attnum),"
			" pg_catalog.array_position(pg_catalog.array_agg(attname::pg_catalog.text ORDER BY attnum), 'entity_id'),"
			" pg_catalog.array_position(pg_catalog.array_agg(attname::pg_catalog.text ORDER BY attnum), 'module')"
			" FROM pg_catalog.pg_attribute"
			" WHERE attrelid OPERATOR(pg_catalog.=) 'ws.events'::pg_catalog.regclass"
			" AND attnum OPERATOR(pg_catalog.>) 0 AND NOT attisdropped",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	r->columns = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	r->coldefs = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	{
		Datum	   *elems;
		int			n;

		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc, 3, &isnull)),
						  OIDOID, sizeof(Oid), true, TYPALIGN_INT, &elems, NULL, &n);
		r->ncols = n;
		r->coltypes = palloc(sizeof(Oid) * n);
		for (int i = 0; i < n; i++)
			r->coltypes[i] = DatumGetObjectId(elems[i]);
	}
	r->entity_col = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	r->module_col = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull));

	initStringInfo(&params);
	for (int i = 0; i < r->ncols; i++)
		appendStringInfo(&params, "%s$%d", i > 0 ? ", " : "", i + 1);
	r->insert = SPI_prepare(psprintf("INSERT INTO ws.events (%s) VALUES (%s) ON CONFLICT DO NOTHING"
									 " RETURNING true", r->columns, params.data),
							r->ncols, r->coltypes);
	if (r->insert == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
}

/* 55000 unless the peer has worldstate of this node's version. */
static void
check_peer_version(Reconcile *r)
{
	char	   *here;
	char	   *there;

	ws_exec("SELECT extversion FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'worldstate'",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	here = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	dblink_run(r, "SELECT v FROM %1$s.dblink($1, $2) AS t(v pg_catalog.text)",
			   "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'worldstate'",
			   SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("worldstate is not installed in the database of peer \"%s\"", r->peer),
				 errhint("Check the dbname of the peer's conninfo in ws.nodes.")));
	there = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(here, there) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peer \"%s\" has worldstate %s, this node %s", r->peer, there, here),
				 errhint("Run ALTER EXTENSION worldstate UPDATE on the node with the older version.")));
}

/* The text form of a one-dimensional array of n values of type `type`, quoted. */
static char *
array_literal(Datum *values, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Oid			out;
	bool		varlena;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	getTypeOutputInfo(get_array_type(type), &out, &varlena);
	return quote_literal_cstr(OidOutputFunctionCall(out, PointerGetDatum(
																		 construct_array(values, n, type, typlen, typbyval, typalign))));
}

/*
 * The query, run on the peer, of the ids and HLCs of its events in
 * `table` (events or events_archive) of the groups g[0..n-1] that are
 * entities (entity) or modules of events without an entity (!entity).
 * NULL when no group is of that sort.
 */
static char *
list_sql(EvGroup *g, int n, bool entity, const char *table)
{
	Datum	   *keys = palloc(sizeof(Datum) * n * 4);
	Datum	   *origins = palloc(sizeof(Datum) * n * 4);
	int			m = 0;
	int			cap = n * 4;

	for (int i = 0; i < n; i++)
	{
		Datum	   *o;
		int			no;

		if (g[i].is_entity != entity)
			continue;
		deconstruct_array(g[i].origins, INT4OID, 4, true, TYPALIGN_INT, &o, NULL, &no);
		for (int j = 0; j < no; j++)
		{
			if (m == cap)
			{
				cap *= 2;
				keys = repalloc(keys, sizeof(Datum) * cap);
				origins = repalloc(origins, sizeof(Datum) * cap);
			}
			keys[m] = CStringGetTextDatum(g[i].key);
			origins[m++] = o[j];
		}
	}
	if (m == 0)
		return NULL;
	return psprintf("SELECT e.event_id, e.hlc FROM ws.%s e"
					" JOIN ROWS FROM (pg_catalog.unnest(%s::pg_catalog.text[]), pg_catalog.unnest(%s::pg_catalog.int4[]))"
					" AS g(k, origin)"
					" ON e.%s OPERATOR(pg_catalog.=) g.k AND e.origin_node OPERATOR(pg_catalog.=) g.origin%s",
					table, array_literal(keys, m, TEXTOID), array_literal(origins, m, INT4OID),
					entity ? "entity_id" : "module", entity ? "" : " WHERE e.entity_id IS NULL AND" NOT_HORIZON);
}

/* Order groups as the comparison returns them: without an entity first, then by key. */
static int
group_cmp(const void *a, const void *b)
{
	const EvGroup *x = a;
	const EvGroup *y = b;

	if (x->is_entity != y->is_entity)
		return x->is_entity ? 1 : -1;
	return strcmp(x->key, y->key);
}

/*
 * Insert the events of one fetched batch (SPI_tuptable of the fetch, in
 * HLC order) one statement each, as a replica session; count the ones
 * inserted against their groups g[0..n-1].
 */
static void
insert_fetched(Reconcile *r, SPITupleTable *rows, uint64 nrows, EvGroup *g, int n)
{
	Datum	   *v = palloc(sizeof(Datum) * r->ncols);
	char	   *nulls = palloc(r->ncols + 1);

	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		EvGroup		key;
		EvGroup	   *found;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		for (int c = 0; c < r->ncols; c++)
		{
			v[c] = SPI_getbinval(rows->vals[i], rows->tupdesc, c + 1, &isnull);
			nulls[c] = isnull ? 'n' : ' ';
		}
		nulls[r->ncols] = '\0';
		rc = SPI_execute_plan(r->insert, v, nulls, false, 0);
		if (rc != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "inserting a fetched event failed: %s", SPI_result_code_string(rc));
		SPI_freetuptable(SPI_tuptable);
		if (SPI_processed == 0)
			continue;			/* here already, or dropped on arrival */
		key.is_entity = nulls[r->entity_col - 1] != 'n';
		key.key = key.is_entity ? TextDatumGetCString(v[r->entity_col - 1]) :
			nulls[r->module_col - 1] == 'n' ? "" : TextDatumGetCString(v[r->module_col - 1]);
		found = bsearch(&key, g, n, sizeof(EvGroup), group_cmp);
		if (found)
			found->fetched++;
	}
}

/*
 * Fetch the events of ids[0..n-1] (missing here, in HLC order) from the
 * peer FETCH_BATCH at a time and insert them.
 */
static void
fetch_events(Reconcile *r, Datum *ids, int n, EvGroup *g, int ng)
{
	for (int from = 0; from < n; from += FETCH_BATCH)
	{
		int			m = Min(FETCH_BATCH, n - from);
		char	   *list = array_literal(ids + from, m, UUIDOID);
		char	   *remote = psprintf("SELECT %s FROM ws.events WHERE event_id = ANY (%s::pg_catalog.uuid[])"
									  " UNION ALL SELECT %s FROM ws.events_archive"
									  " WHERE event_id = ANY (%s::pg_catalog.uuid[])",
									  r->columns, list, r->columns, list);
		SPITupleTable *rows;
		uint64		nrows;
		int			nest;

		dblink_run(r, psprintf("SELECT r.* FROM %%1$s.dblink($1, $2) AS r(%s)"
							   " ORDER BY r.hlc USING OPERATOR(ws.<)", r->coldefs),
				   remote, SPI_OK_SELECT);
		rows = SPI_tuptable;
		nrows = SPI_processed;

		/* as the apply worker: the ENABLE REPLICA triggers integrate them */
		nest = NewGUCNestLevel();
		(void) set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		insert_fetched(r, rows, nrows, g, ng);
		AtEOXact_GUC(true, nest);
		SPI_freetuptable(rows);
	}
}

/*
 * Fetch what this node lacks of the groups g[0..n-1]: the peer lists its
 * event ids of them, this node keeps those it has neither in ws.events nor
 * in ws.events_archive, in HLC order, and fetches them.
 */
static void
reconcile_groups(Reconcile *r, EvGroup *g, int n)
{
	StringInfoData remote;
	Datum	   *ids;
	int			nids;

	initStringInfo(&remote);
	for (int entity = 0; entity <= 1; entity++)
	{
		char	   *live = list_sql(g, n, entity, "events");

		if (live == NULL)
			continue;
		appendStringInfo(&remote, "%s%s UNION ALL %s", remote.len > 0 ? " UNION ALL " : "",
						 live, list_sql(g, n, entity, "events_archive"));
	}
	dblink_run(r, "SELECT r.event_id FROM %1$s.dblink($1, $2) AS r(event_id pg_catalog.uuid, hlc ws.hlc)"
			   " WHERE NOT EXISTS (SELECT FROM ws.events v WHERE v.event_id OPERATOR(pg_catalog.=) r.event_id)"
			   " AND NOT EXISTS (SELECT FROM ws.events_archive v"
			   "  WHERE v.event_id OPERATOR(pg_catalog.=) r.event_id)"
			   " ORDER BY r.hlc USING OPERATOR(ws.<)",
			   remote.data, SPI_OK_SELECT);
	nids = (int) SPI_processed;
	ids = palloc(sizeof(Datum) * Max(nids, 1));
	for (int i = 0; i < nids; i++)
	{
		bool		isnull;
		pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

		memcpy(id, DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)),
			   sizeof(pg_uuid_t));
		ids[i] = UUIDPGetDatum(id);
	}
	SPI_freetuptable(SPI_tuptable);
	fetch_events(r, ids, nids, g, n);
}

/* Report the groups g[0..n-1] events were fetched for. */
static void
report_groups(Reconcile *r, EvGroup *g, int n)
{
	for (int i = 0; i < n; i++)
	{
		const char *what;

		if (g[i].fetched == 0)
			continue;
		what = g[i].fetched == 1 ? "event" : "events";
		if (g[i].is_entity)
			put_row(r->rsinfo, g[i].key, psprintf("fetched " INT64_FORMAT " %s", g[i].fetched, what));
		else
			put_row(r->rsinfo, NULL, psprintf("fetched " INT64_FORMAT " %s without an entity, of module %s",
											  g[i].fetched, what, quote_literal_cstr(g[i].key)));
	}
}

/*
 * The work of ws.reconcile(peer) once the checks passed: connect, compare
 * the digests, fetch and insert what differs, GROUP_BATCH groups at a time.
 * arg is the Reconcile; it runs in a subtransaction (ws_subxact_try).
 */
static void
reconcile_with_peer(void *arg)
{
	Reconcile  *r = (Reconcile *) arg;
	SPIPlanPtr	compare;
	Portal		portal;
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		a[2];
	MemoryContext batch_cxt;

	dblink_close(r);
	dblink_run(r, "SELECT %1$s.dblink_connect($1, $2)", r->conninfo, SPI_OK_SELECT);
	peer_command(r, "SET search_path = pg_catalog, pg_temp");
	peer_command(r, "SET DateStyle = ISO");
	check_peer_version(r);
	describe_events(r);

	/* the groups whose digests differ, without an entity first */
	compare = SPI_prepare(psprintf("SELECT r.is_entity, r.k, pg_catalog.array_agg(r.origin)"
								   " FROM %s.dblink($1, $2) AS r(is_entity pg_catalog.bool, k pg_catalog.text,"
								   "  origin pg_catalog.int4, digest pg_catalog.text)"
								   " LEFT JOIN (" DIGEST_SQL ") AS l(is_entity, k, origin, digest)"
								   " ON l.is_entity OPERATOR(pg_catalog.=) r.is_entity"
								   " AND l.k OPERATOR(pg_catalog.=) r.k AND l.origin OPERATOR(pg_catalog.=) r.origin"
								   " WHERE l.digest IS DISTINCT FROM r.digest"
								   " GROUP BY r.is_entity, r.k"
								   " ORDER BY r.is_entity, r.k COLLATE pg_catalog.\"C\"", r->dblink),
						  2, t);
	if (compare == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	a[0] = CStringGetTextDatum(DBLINK_CONN);
	a[1] = CStringGetTextDatum(DIGEST_SQL);
	portal = SPI_cursor_open(NULL, compare, a, NULL, true);
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate reconcile batch",
									  ALLOCSET_DEFAULT_SIZES);
	ws_progress_phase("fetching events, groups done", WS_PROGRESS_UNKNOWN);
	for (int64 done = 0;;)
	{
		uint64		n;
		EvGroup	   *g;
		MemoryContext old;

		SPI_cursor_fetch(portal, true, GROUP_BATCH);
		n = SPI_processed;
		if (n == 0)
			break;
		MemoryContextReset(batch_cxt);
		old = MemoryContextSwitchTo(batch_cxt);
		g = palloc0(sizeof(EvGroup) * n);
		for (uint64 i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			g[i].is_entity = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
			g[i].key = SPI_getvalue(tup, desc, 2);
			if (g[i].key == NULL)
				g[i].key = "";
			g[i].origins = DatumGetArrayTypePCopy(SPI_getbinval(tup, desc, 3, &isnull));
		}
		SPI_freetuptable(SPI_tuptable);
		reconcile_groups(r, g, (int) n);
		report_groups(r, g, (int) n);
		MemoryContextSwitchTo(old);
		done += (int64) n;
		ws_progress_count(done);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(compare);
	SPI_freeplan(r->insert);
	MemoryContextDelete(batch_cxt);
	dblink_close(r);
}

/*
 * ws.reconcile(peer text) -> TABLE(entity_id text, change text): fetch
 * from the peer the events this node lacks and integrate them; one row
 * per entity (or module of events without an entity) saying how many
 * events were fetched.  Superusers only.
 */
Datum
reconcile_peer(PG_FUNCTION_ARGS)
{
	Reconcile	r = {0};
	ErrorData  *ed;

	require_superuser();
	r.peer = ws_arg_text(fcinfo, 0, "peer", 0);
	InitMaterializedSRF(fcinfo, 0);
	r.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	r.dblink = dblink_schema();
	r.conninfo = ws_peer_conninfo(r.peer);
	r.peer = ws_input_for_message(r.peer);

	/* everything from here in a subtransaction: an error leaves nothing */
	ws_progress_begin("reconcile", "comparing with the peer", WS_PROGRESS_UNKNOWN);
	ed = ws_subxact_try(reconcile_with_peer, &r);
	if (ed != NULL)
	{
		dblink_close(&r);
		if (ed->sqlerrcode == ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION)
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not connect to peer \"%s\"", r.peer),
					 errdetail("%s", ed->detail ? ed->detail : ed->message),
					 errhint("Check that the peer is running and that its conninfo in ws.nodes reaches it as this server connects (host, port, dbname, user; a password in ~/.pgpass of the server's operating-system user).")));
		ReThrowError(ed);
	}
	ws_progress_end();
	SPI_finish();
	return (Datum) 0;
}
