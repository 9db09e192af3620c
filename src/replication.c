/*-------------------------------------------------------------------------
 *
 * replication.c
 *		The peers of this node: ws.add_peer, ws.remove_peer and
 *		ws._ensure_publication, over PostgreSQL's own logical replication.
 *
 * Only ws.events replicates.  Each node publishes the events it made, in
 * the publication ws_node_<id> on ws.events WHERE (origin_node = <id>)
 * WITH (publish = 'insert'); the row filter is what keeps an event from
 * coming back to its origin (PostgreSQL 15 has no origin = none), so
 * nothing is relayed and the nodes form a full mesh.  A node subscribes to
 * each peer's publication with the subscription ws_peer_<name>, fed by the
 * slot ws_node_<peer id>_to_<this node's id> on the peer.
 *
 * Design choice: what happens on the peer is not transactional, so it
 * comes last and is undone on failure.  ws.add_peer checks everything it
 * can first (here, then on the peer over an ordinary libpq connection),
 * makes sure the peer publishes (the publication must exist before the
 * slot, or decoding the slot would fail on the changes made before it),
 * writes the publication, the subscription and the ws.nodes row here, and
 * creates the slot on the peer as its last step; an error after that drops
 * the slot again, and so does an abort of the transaction after the call
 * returned (the connection stays open until the transaction ends).  Both
 * functions refuse to run inside a transaction block, so no later
 * statement of the caller's can roll back what the peer already did.
 * ws.remove_peer drops everything here first and the slot on the peer
 * last; a peer that cannot be reached gets a WARNING
 * naming the slot to drop there.
 *
 * Each subscription connects to its peer with application_name
 * ws_node_<this node's id> (one the caller's conninfo gives is replaced),
 * so the peer's WAL sender for it has a name known in advance:
 * ws.synchronous_standby_names() lists those of this node's peers, for
 * synchronous_standby_names, which makes a strong change wait until they
 * applied it (transition.c).
 *
 * The caller's name and conninfo are hostile input: the name must be a
 * lower-case identifier part, every name put into SQL is quoted, and the
 * conninfo only ever appears quoted as a literal.  Errors never show the
 * conninfo (which may hold a password); ws.nodes keeps it without the
 * password.  Waits on the peer are interruptible (the latch), so a
 * statement_timeout or a cancel ends them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "replication/logicallauncher.h"
#include "replication/slot.h"
#include "replication/walsender.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "args.h"
#include "replication.h"
#include "settings.h"
#include "spi.h"
#include "util.h"

PG_FUNCTION_INFO_V1(replication_add_peer);
PG_FUNCTION_INFO_V1(replication_remove_peer);
PG_FUNCTION_INFO_V1(replication_ensure_publication);
PG_FUNCTION_INFO_V1(replication_synchronous_standby_names);

/* subscription ws_peer_<name>: the longest name that keeps it a NAME */
#define SUBSCRIPTION_PREFIX "ws_peer_"
#define PEER_NAME_MAX (NAMEDATALEN - 1 - (int) strlen(SUBSCRIPTION_PREFIX))

/*
 * Background workers a node runs besides its apply workers: the logical
 * replication launcher and the worldstate worker.
 */
#define OTHER_WORKERS 2

/* A connection to a peer, and what this call made there. */
typedef struct PeerLink
{
	const char *name;			/* the peer's name, for messages */
	PGconn	   *conn;
	char	   *slot_made;		/* slot this call creates on the peer, or NULL */
	struct PeerLink *next;		/* in pending_links */
} PeerLink;

/* The peer as its checks found it. */
typedef struct PeerInfo
{
	int			node_id;
	int			peers;			/* its peers once linked with this node */
} PeerInfo;

/* 42501 unless the caller is a superuser. */
static void
require_superuser(const char *fn)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may call %s", fn),
				 errdetail("It opens connections to other servers with this server's credentials and changes replication on both."),
				 errhint("Ask a superuser to call %s.", fn)));
}

/*
 * 25001 inside a transaction block or subtransaction: what fn does on the
 * peer would outlive a rollback.  Otherwise the statement's transaction
 * commits as soon as it ends, as for PreventInTransactionBlock.
 */
static void
require_own_transaction(const char *fn)
{
	if (IsTransactionBlock() || IsSubTransaction())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run inside a transaction block", fn),
				 errdetail("It changes replication slots on the peer, which a rollback here would not undo."),
				 errhint("Call %s in a statement of its own, outside BEGIN ... COMMIT and exception blocks.", fn)));
	MyXactFlags |= XACT_FLAGS_NEEDIMMEDIATECOMMIT;
}

/* 55000 unless worldstate.node_id and wal_level allow replication here. */
static void
require_replication_setup(void)
{
	if (ws_node_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("worldstate.node_id is not set on this node"),
				 errdetail("Every node of a mesh needs its own node id, and 0 means a standalone node."),
				 errhint("Set worldstate.node_id to a number no other node uses in this node's postgresql.conf and restart the server.")));
	if (!XLogLogicalInfoActive())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("wal_level is not logical on this node"),
				 errdetail("Peers receive this node's events by logical replication."),
				 errhint("Set wal_level = logical in this node's postgresql.conf and restart the server.")));
}

/* 22023 unless name is a lower-case identifier part short enough. */
static void
check_peer_name(const char *name)
{
	bool		ok = strlen(name) <= (size_t) PEER_NAME_MAX;

	for (const char *p = name; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid peer name \"%s\"", ws_input_for_message(name)),
				 errdetail("The name becomes part of the subscription name %s<name>.", SUBSCRIPTION_PREFIX),
				 errhint("Use at most %d lower-case letters, digits and underscores.", PEER_NAME_MAX)));
}

/* Append value to buf as a quoted conninfo value. */
static void
append_conninfo_value(StringInfo buf, const char *value)
{
	appendStringInfoChar(buf, '\'');
	for (const char *c = value; *c; c++)
	{
		if (*c == '\'' || *c == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *c);
	}
	appendStringInfoChar(buf, '\'');
}

/*
 * The conninfo a subscription of this node uses: the caller's settings,
 * each value quoted, with application_name ws_node_<this node's id> in
 * place of any the caller gave; without the password unless
 * keep_password (ws.nodes keeps it without).  22023 when libpq cannot
 * parse it (libpq's message in errdetail names the fault, not the values).
 */
static char *
subscription_conninfo(const char *conninfo, bool keep_password)
{
	char	   *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	StringInfoData buf;

	if (opts == NULL)
	{
		char	   *detail = err ? pchomp(err) : pstrdup("out of memory");

		PQfreemem(err);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid conninfo"),
				 errdetail("%s", detail),
				 errhint("Pass a libpq connection string such as 'host=node2 port=5432 dbname=app user=replicator'.")));
	}
	initStringInfo(&buf);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		if (o->val == NULL || strcmp(o->keyword, "application_name") == 0 ||
			(!keep_password && strcmp(o->keyword, "password") == 0))
			continue;
		appendStringInfo(&buf, "%s=", o->keyword);
		append_conninfo_value(&buf, o->val);
		appendStringInfoChar(&buf, ' ');
	}
	PQconninfoFree(opts);
	appendStringInfoString(&buf, "application_name=");
	append_conninfo_value(&buf, psprintf(WS_NODE_APPLICATION_NAME, ws_node_id));
	return buf.data;
}

/*
 * 55000 unless setting, `have` on this node (peer NULL) or on the peer,
 * is at least `need`; `what` says what each peer takes of it.
 */
static void
check_setting(const char *peer, const char *setting, int have, int need,
			  int npeers, const char *what)
{
	if (have >= need)
		return;
	if (peer == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg_plural("%s is %d on this node, too small for %d peer",
							   "%s is %d on this node, too small for %d peers",
							   npeers, setting, have, npeers),
				 errdetail("A node needs %s.", what),
				 errhint("Set %s to at least %d in this node's postgresql.conf and restart the server.",
						 setting, need)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg_plural("%s is %d on peer \"%s\", too small for its %d peer",
						   "%s is %d on peer \"%s\", too small for its %d peers",
						   npeers, setting, have, peer, npeers),
			 errdetail("A node needs %s.", what),
			 errhint("Set %s to at least %d in the peer's postgresql.conf and restart it.",
					 setting, need)));
}

/* The four settings a node with npeers peers needs, as `have` gives them. */
static void
check_settings(const char *peer, const int have[4], int npeers)
{
	check_setting(peer, "max_replication_slots", have[0], npeers, npeers,
				  "a replication slot for each peer's subscription to it");
	check_setting(peer, "max_wal_senders", have[1], npeers, npeers,
				  "a WAL sender for each peer's subscription to it");
	check_setting(peer, "max_logical_replication_workers", have[2], npeers, npeers,
				  "an apply worker for its subscription to each peer");
	check_setting(peer, "max_worker_processes", have[3], npeers + OTHER_WORKERS, npeers,
				  "a background worker for each apply worker, plus the logical replication launcher and the worldstate worker");
}

/*
 * Wait until the peer's socket is ready (for reading, or for writing when
 * `write`), or the latch is set; interrupts are served meanwhile.
 */
static void
peer_wait(PGconn *conn, bool write)
{
	int			rc = WaitLatchOrSocket(MyLatch,
									   WL_EXIT_ON_PM_DEATH | WL_LATCH_SET |
									   (write ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE),
									   PQsocket(conn), 0, PG_WAIT_EXTENSION);

	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Connect to the peer (replication = database when `replication`);
 * 08001 with libpq's message when it cannot be reached.  link->conn is
 * set at once, so the caller's error path closes it.
 */
static void
peer_connect(PeerLink *link, const char *conninfo, bool replication)
{
	const char *keys[] = {"dbname", "fallback_application_name", "replication", NULL};
	const char *vals[] = {conninfo, "worldstate", replication ? "database" : NULL, NULL};
	PostgresPollingStatusType status = PGRES_POLLING_WRITING;

	link->conn = PQconnectStartParams(keys, vals, true);
	if (link->conn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory connecting to peer \"%s\"", link->name)));
	while (PQstatus(link->conn) != CONNECTION_BAD &&
		   status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED)
	{
		peer_wait(link->conn, status == PGRES_POLLING_WRITING);
		status = PQconnectPoll(link->conn);
	}
	if (PQstatus(link->conn) != CONNECTION_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to peer \"%s\"", link->name),
				 errdetail("%s", pchomp(PQerrorMessage(link->conn))),
				 errhint("Check that the peer is running and that conninfo reaches it as this server connects (host, port, dbname, user; a password in ~/.pgpass of the server's operating-system user).")));
}

/*
 * Run one statement on the peer and return its result, which the caller
 * clears.  Parameters are text; a statement without them goes by the
 * simple protocol (replication commands need it).  An error on the peer
 * raises here with the peer's message in errdetail, its SQLSTATE kept.
 */
static PGresult *
peer_exec(PeerLink *link, const char *sql, int nparams, const char *const *params)
{
	PGresult   *res = NULL;
	PGresult   *next;
	bool		sent = nparams > 0
		? PQsendQueryParams(link->conn, sql, nparams, NULL, params, NULL, NULL, 0)
		: PQsendQuery(link->conn, sql);

	if (!sent)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not send a statement to peer \"%s\"", link->name),
				 errdetail("%s", pchomp(PQerrorMessage(link->conn))),
				 errhint("Check that the peer is running and reachable, then try again.")));
	for (;;)
	{
		while (PQisBusy(link->conn))
		{
			peer_wait(link->conn, false);
			if (!PQconsumeInput(link->conn))
				break;
		}
		next = PQgetResult(link->conn);
		if (next == NULL)
			break;
		PQclear(res);
		res = next;
	}
	if (res == NULL || (PQresultStatus(res) != PGRES_TUPLES_OK &&
						PQresultStatus(res) != PGRES_COMMAND_OK))
	{
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		char	   *message = pchomp(primary ? primary : PQerrorMessage(link->conn));
		int			code = state && strlen(state) == 5
			? MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4])
			: ERRCODE_CONNECTION_FAILURE;

		PQclear(res);
		ereport(ERROR,
				(errcode(code),
				 errmsg("a statement failed on peer \"%s\"", link->name),
				 errdetail("The peer said: %s", message),
				 errhint("Correct what the peer reports, then call the function again.")));
	}
	return res;
}

/*
 * The n columns of the one row of res, copied (NULL for SQL NULL); res is
 * cleared.  08P01 unless res has one row of n columns.
 */
static char **
peer_row(PeerLink *link, PGresult *res, int n)
{
	char	  **row = palloc0(sizeof(char *) * n);
	bool		shaped = PQntuples(res) == 1 && PQnfields(res) == n;

	for (int i = 0; shaped && i < n; i++)
		row[i] = PQgetisnull(res, 0, i) ? NULL : pstrdup(PQgetvalue(res, 0, i));
	PQclear(res);
	if (!shaped)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer \"%s\" answered with an unexpected result", link->name),
				 errhint("Point conninfo at a PostgreSQL 15 server with worldstate, not at a proxy or pooler that changes results.")));
	return row;
}

/* 42710 when node `id` is a peer of this node already. */
static void
check_not_peer(int id)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(id)};

	ws_exec("SELECT name FROM ws.nodes WHERE node_id OPERATOR(pg_catalog.=) $1",
			1, types, args, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("node %d is a peer already, named \"%s\"", id,
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Remove it with ws.remove_peer first to link it again.")));
}

/* The extension version installed in this database. */
static char *
local_extension_version(void)
{
	ws_exec("SELECT extversion FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'worldstate'",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	return SPI_processed == 1 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
}

/*
 * Read the peer's settings and check them: node id set, not this node's
 * and not a peer's yet, wal_level logical, worldstate of this version in its database,
 * the settings for its peers once linked with this node, a replication
 * slot free and none named `slot` yet.
 */
static PeerInfo
peer_checks(PeerLink *link)
{
	char		me[16];
	char		mypub[NAMEDATALEN];
	const char *params[2] = {mypub, me};
	char	  **row;
	PeerInfo	info;
	char	   *local_version = local_extension_version();
	int			have[4];
	int			slots_used;

	snprintf(me, sizeof(me), "%d", ws_node_id);
	snprintf(mypub, sizeof(mypub), "ws_node_%d", ws_node_id);
	row = peer_row(link, peer_exec(link,
							 "SELECT pg_catalog.current_setting('worldstate.node_id', true),"
					" pg_catalog.current_setting('wal_level'),"
					" (SELECT e.extversion FROM pg_catalog.pg_extension e"
					"   WHERE e.extname OPERATOR(pg_catalog.=) 'worldstate'),"
					" pg_catalog.current_setting('max_replication_slots'),"
					" pg_catalog.current_setting('max_wal_senders'),"
					" pg_catalog.current_setting('max_logical_replication_workers'),"
					" pg_catalog.current_setting('max_worker_processes'),"
					" (SELECT pg_catalog.count(*) FROM pg_catalog.pg_subscription s"
					"   WHERE s.subdbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d"
					"     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())"
					"   AND s.subname OPERATOR(pg_catalog.~~) 'ws\\_peer\\_%'"
					"   AND NOT ($1::pg_catalog.text OPERATOR(pg_catalog.=) ANY (s.subpublications))),"
					" (SELECT pg_catalog.count(*) FROM pg_catalog.pg_replication_slots),"
					" (SELECT pg_catalog.count(*) FROM pg_catalog.pg_replication_slots r"
					"   WHERE r.slot_name::pg_catalog.text OPERATOR(pg_catalog.=) ('ws_node_'"
					"     OPERATOR(pg_catalog.||) pg_catalog.current_setting('worldstate.node_id', true)"
					"     OPERATOR(pg_catalog.||) '_to_' OPERATOR(pg_catalog.||) $2::pg_catalog.text))",
							 2, params), 10);

	/* only the version may be NULL; read anything else as empty text */
	for (int i = 1; i < 10; i++)
		if (i != 2 && row[i] == NULL)
			row[i] = "";
	info.node_id = row[0] ? pg_strtoint32(row[0]) : 0;
	if (info.node_id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("worldstate.node_id is not set on peer \"%s\"", link->name),
				 errdetail("Every node of a mesh needs its own node id, and 0 (or worldstate not preloaded) means a standalone node."),
				 errhint("Set worldstate.node_id on the peer to a number no other node uses, in its postgresql.conf, and restart it.")));
	if (info.node_id == ws_node_id)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peer \"%s\" has the node id of this node, %d", link->name, ws_node_id),
				 errdetail("Node ids tell the nodes' events apart; two nodes with one id would lose events."),
				 errhint("Give every node its own worldstate.node_id, or point conninfo at the peer if it reaches this node.")));
	check_not_peer(info.node_id);
	if (strcmp(row[1], "logical") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("wal_level is %s on peer \"%s\", not logical", row[1], link->name),
				 errdetail("This node receives the peer's events by logical replication."),
				 errhint("Set wal_level = logical in the peer's postgresql.conf and restart it.")));
	if (row[2] == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("worldstate is not installed in the database of peer \"%s\"", link->name),
				 errhint("Run CREATE EXTENSION worldstate there, or name the database that has it with dbname in conninfo.")));
	if (local_version == NULL || strcmp(row[2], local_version) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peer \"%s\" has worldstate %s, this node %s", link->name, row[2],
						local_version ? local_version : "none"),
				 errdetail("Nodes exchange rows of ws.events, which must have the same columns on both."),
				 errhint("Bring both to the same version with ALTER EXTENSION worldstate UPDATE on the older one.")));
	for (int i = 0; i < 4; i++)
		have[i] = pg_strtoint32(row[3 + i]);
	info.peers = (int) pg_strtoint64(row[7]) + 1;
	check_settings(link->name, have, info.peers);
	slots_used = (int) pg_strtoint64(row[8]);
	if (pg_strtoint64(row[9]) > 0)
	{
		char	   *slot = psprintf("ws_node_%d_to_%d", info.node_id, ws_node_id);

		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("replication slot \"%s\" already exists on peer \"%s\"", slot, link->name),
				 errdetail("It is left from an earlier link of this node to the peer."),
				 errhint("Drop it on the peer with SELECT pg_drop_replication_slot('%s'); then call ws.add_peer again.", slot)));
	}
	if (slots_used >= have[0])
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("all %d replication slots of peer \"%s\" are in use", have[0], link->name),
				 errhint("Set max_replication_slots on the peer to at least %d and restart it, or drop slots it no longer needs.",
						 slots_used + 1)));
	return info;
}

/*
 * Create this node's publication ws_node_<id> unless it exists, as the
 * owner of schema ws (who owns ws.events).  Returns whether it did.
 */
static bool
ensure_publication(void)
{
	char		pub[NAMEDATALEN];
	Oid			types[1] = {TEXTOID};
	Datum		args[1];

	snprintf(pub, sizeof(pub), "ws_node_%d", ws_node_id);
	args[0] = CStringGetTextDatum(pub);
	ws_exec("SELECT 1 FROM pg_catalog.pg_publication"
			" WHERE pubname::pg_catalog.text OPERATOR(pg_catalog.=) $1",
			1, types, args, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		return false;
	ws_exec_as_owner(psprintf("CREATE PUBLICATION %s FOR TABLE ws.events"
							  " WHERE (origin_node OPERATOR(pg_catalog.=) %d)"
							  " WITH (publish = 'insert')",
							  quote_identifier(pub), ws_node_id),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	return true;
}

/*
 * Run a statement that holds the conninfo; an error it raises loses its
 * context lines, which would quote the statement (and a password in it).
 */
static void
exec_hiding_statement(const char *sql, const char *what)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		ws_exec(sql, 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->context = pstrdup(what);
		edata->internalquery = NULL;
		ReThrowError(edata);
	}
	PG_END_TRY();
}

/*
 * Drop link->slot_made on the peer over the open connection, when it
 * exists; failing that, a WARNING names it.  Never raises.
 */
static void
drop_slot_made(PeerLink *link)
{
	const char *params[1] = {link->slot_made};
	PGresult   *res = PQexecParams(link->conn,
								   "SELECT pg_catalog.pg_drop_replication_slot(slot_name)"
								   " FROM pg_catalog.pg_replication_slots"
								   " WHERE slot_name OPERATOR(pg_catalog.=) $1",
								   1, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		ereport(WARNING,
				(errmsg("could not drop replication slot \"%s\" on peer \"%s\"",
						link->slot_made, link->name),
				 errdetail("%s", pchomp(PQerrorMessage(link->conn))),
				 errhint("Drop it on the peer with SELECT pg_drop_replication_slot('%s'); it retains WAL there until then.",
						 link->slot_made)));
	PQclear(res);
}

/*
 * The links of the calls of ws.add_peer that returned in this transaction,
 * kept open until it ends: should it abort after all (a later expression
 * of the same statement failing, the commit failing), the slots made on
 * the peers are dropped again.  Allocated in TopMemoryContext.
 */
static PeerLink *pending_links = NULL;

static void
pending_links_xact(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PREPARE)
		return;
	while (pending_links != NULL)
	{
		PeerLink   *link = pending_links;

		pending_links = link->next;
		if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
			drop_slot_made(link);
		PQfinish(link->conn);
		pfree(link->slot_made);
		pfree((char *) link->name);
		pfree(link);
	}
}

/* Keep link open until the transaction ends (see pending_links). */
static void
keep_until_transaction_end(const PeerLink *link)
{
	static bool registered = false;
	PeerLink   *kept = MemoryContextAlloc(TopMemoryContext, sizeof(PeerLink));

	if (!registered)
	{
		RegisterXactCallback(pending_links_xact, NULL);
		registered = true;
	}
	kept->name = MemoryContextStrdup(TopMemoryContext, link->name);
	kept->slot_made = MemoryContextStrdup(TopMemoryContext, link->slot_made);
	kept->conn = link->conn;
	kept->next = pending_links;
	pending_links = kept;
}

/*
 * Undo what this call made on the peer and close the connection, then
 * raise the error being handled (the caller's PG_CATCH).  A statement
 * still running on the peer (this backend was interrupted) is cancelled
 * there first; the slot, if its creation began, is dropped over the open
 * connection when it exists; failing that, a WARNING names it.
 */
static void
peer_abandon(PeerLink *link, MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	if (link->conn != NULL && PQtransactionStatus(link->conn) == PQTRANS_ACTIVE)
	{
		PGcancel   *cancel = PQgetCancel(link->conn);
		char		errbuf[256];
		PGresult   *res;

		if (cancel != NULL)
		{
			PQcancel(cancel, errbuf, sizeof(errbuf));
			PQfreeCancel(cancel);
		}
		while ((res = PQgetResult(link->conn)) != NULL)
			PQclear(res);
	}
	if (link->slot_made != NULL && link->conn != NULL)
		drop_slot_made(link);
	if (link->conn != NULL)
		PQfinish(link->conn);
	link->conn = NULL;
	ReThrowError(edata);
}

/*
 * The steps of ws.add_peer after the checks of this node, with link open
 * to the peer: check the peer, make both publications exist, subscribe,
 * record the peer, create the slot last.  Returns the ws.nodes row, made
 * with rowdesc in memory context cxt.
 */
static Datum
add_peer_steps(PeerLink *link, const char *conninfo, const char *stored,
			   TupleDesc rowdesc, MemoryContext cxt)
{
	PeerInfo	peer;
	char	   *sub = psprintf(SUBSCRIPTION_PREFIX "%s", link->name);
	char	   *slot;
	Oid			types[5] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[5];
	Datum		row;
	PGresult   *res;

	peer = peer_checks(link);
	slot = psprintf("ws_node_%d_to_%d", peer.node_id, ws_node_id);
	args[0] = Int32GetDatum(peer.node_id);

	/* the peer's publication first: the slot must not predate it */
	res = peer_exec(link, "SELECT ws._ensure_publication()", 0, NULL);
	PQclear(res);
	ensure_publication();

	exec_hiding_statement(psprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s"
								   " WITH (create_slot = false, slot_name = %s, copy_data = false)",
								   quote_identifier(sub), quote_literal_cstr(conninfo),
								   quote_identifier(psprintf("ws_node_%d", peer.node_id)),
								   quote_literal_cstr(slot)),
						  psprintf("creating subscription %s", sub));

	args[1] = CStringGetTextDatum(link->name);
	args[2] = CStringGetTextDatum(stored);
	args[3] = CStringGetTextDatum(sub);
	args[4] = CStringGetTextDatum(slot);
	ws_exec_as_owner("INSERT INTO ws.nodes (node_id, name, conninfo, subscription, slot)"
					 " VALUES ($1, $2, $3, $4::pg_catalog.name, $5::pg_catalog.name) RETURNING *",
					 5, types, args, NULL, SPI_OK_INSERT_RETURNING);
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		Datum	   *values = palloc(sizeof(Datum) * rowdesc->natts);
		bool	   *nulls = palloc(sizeof(bool) * rowdesc->natts);

		if (SPI_tuptable->tupdesc->natts != rowdesc->natts)
			elog(ERROR, "ws.nodes changed while ws.add_peer ran");
		heap_deform_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, values, nulls);
		row = HeapTupleGetDatum(heap_form_tuple(rowdesc, values, nulls));
		MemoryContextSwitchTo(old);
	}

	/* last: the slot on the peer, dropped again if anything fails now */
	{
		const char *params[1] = {slot};

		link->slot_made = slot;
		res = peer_exec(link,
						"SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')",
						1, params);
		PQclear(res);
	}
	return row;
}

/*
 * ws.add_peer(name text, conninfo text) RETURNS ws.nodes: link this node
 * with a peer, receiving its events from now on (see the file header).
 */
Datum
replication_add_peer(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	PeerLink   *link = palloc0(sizeof(PeerLink));
	const char *conninfo;
	const char *stored;
	const char *subconninfo;
	TupleDesc	rowdesc;
	int			npeers;
	int			have[4] = {max_replication_slots, max_wal_senders,
		max_logical_replication_workers, max_worker_processes};
	Datum		row;

	require_superuser("ws.add_peer");
	require_own_transaction("ws.add_peer");
	link->name = ws_arg_text(fcinfo, 0, "name", 0);
	check_peer_name(link->name);
	conninfo = ws_arg_text(fcinfo, 1, "conninfo", 0);
	stored = subscription_conninfo(conninfo, false);
	subconninfo = subscription_conninfo(conninfo, true);
	require_replication_setup();
	if (get_call_result_type(fcinfo, NULL, &rowdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ws.add_peer must return a row type");
	rowdesc = BlessTupleDesc(rowdesc);

	SPI_connect();
	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1] = {CStringGetTextDatum(link->name)};

		ws_exec("SELECT 1 FROM ws.nodes WHERE name OPERATOR(pg_catalog.=) $1",
				1, types, args, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("peer \"%s\" already exists", link->name),
					 errhint("Choose another name, or remove the peer with ws.remove_peer('%s') first.", link->name)));
		ws_exec("SELECT 1 FROM ws.nodes", 0, NULL, NULL, NULL, SPI_OK_SELECT);
		npeers = (int) SPI_processed + 1;
	}
	check_settings(NULL, have, npeers);

	PG_TRY();
	{
		peer_connect(link, conninfo, false);
		row = add_peer_steps(link, subconninfo, stored, rowdesc, cxt);
	}
	PG_CATCH();
	{
		peer_abandon(link, cxt);
	}
	PG_END_TRY();
	keep_until_transaction_end(link);
	SPI_finish();
	PG_RETURN_DATUM(row);
}

/*
 * Drop the slot `slot` on the peer, waiting until its WAL sender has let
 * it go; a slot already gone is fine.  Any other failure is a WARNING.
 */
static void
drop_peer_slot(const char *name, const char *conninfo, const char *slot)
{
	MemoryContext cxt = CurrentMemoryContext;
	PeerLink   *link = palloc0(sizeof(PeerLink));

	link->name = name;
	PG_TRY();
	{
		peer_connect(link, conninfo, true);
		PQclear(peer_exec(link, psprintf("DROP_REPLICATION_SLOT %s WAIT", quote_identifier(slot)),
						  0, NULL));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			peer_abandon(link, cxt);
		FlushErrorState();
		if (edata->sqlerrcode != ERRCODE_UNDEFINED_OBJECT)
			ereport(WARNING,
					(errmsg("could not drop replication slot \"%s\" on peer \"%s\"", slot, name),
					 errdetail("%s", edata->detail ? edata->detail : edata->message),
					 errhint("Drop it on the peer with SELECT pg_drop_replication_slot('%s'); it retains WAL there until then.",
							 slot)));
	}
	PG_END_TRY();
	if (link->conn != NULL)
		PQfinish(link->conn);
}

/*
 * The row of peer `name` as SPI_tuptable's only row: its subscription,
 * slot, whole conninfo (the subscription's, with its password; ws.nodes'
 * when the subscription is gone) and whether the subscription exists.
 * 42704 when no peer has that name.  Inside SPI.
 */
static void
node_row(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};

	ws_exec("SELECT n.subscription, n.slot, coalesce(s.subconninfo, n.conninfo), s.oid IS NOT NULL"
			" FROM ws.nodes n LEFT JOIN pg_catalog.pg_subscription s"
			"   ON s.subname OPERATOR(pg_catalog.=) n.subscription"
			"  AND s.subdbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d"
			"        WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())"
			" WHERE n.name OPERATOR(pg_catalog.=) $1",
			1, types, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("peer \"%s\" does not exist", ws_input_for_message(name)),
				 errhint("The table ws.nodes lists the peers of this node by name.")));
}

/*
 * The conninfo this node reaches peer `name` with, as ws.remove_peer
 * connects; 42704 when no peer has that name.  Inside SPI.
 */
char *
ws_peer_conninfo(const char *name)
{
	node_row(name);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
}

/*
 * ws.remove_peer(name text): stop receiving the peer's events and forget
 * it.  The subscription goes (disabled and detached from its slot first,
 * so that dropping it needs no connection), then the ws.nodes row, and
 * last the slot on the peer.  The publication of this node stays: other
 * nodes may still subscribe to it.
 */
Datum
replication_remove_peer(PG_FUNCTION_ARGS)
{
	const char *name;
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	char	   *sub;
	char	   *slot;
	char	   *conninfo;

	require_superuser("ws.remove_peer");
	require_own_transaction("ws.remove_peer");
	name = ws_arg_text(fcinfo, 0, "name", 0);
	args[0] = CStringGetTextDatum(name);

	SPI_connect();
	node_row(name);
	sub = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	slot = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	conninfo = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4), "t") == 0)
	{
		const char *q = quote_identifier(sub);

		ws_exec(psprintf("ALTER SUBSCRIPTION %s DISABLE", q), 0, NULL, NULL, NULL, SPI_OK_UTILITY);
		ws_exec(psprintf("ALTER SUBSCRIPTION %s SET (slot_name = NONE)", q),
				0, NULL, NULL, NULL, SPI_OK_UTILITY);
		ws_exec(psprintf("DROP SUBSCRIPTION %s", q), 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	}
	ws_exec_as_owner("DELETE FROM ws.nodes WHERE name OPERATOR(pg_catalog.=) $1",
					 1, types, args, NULL, SPI_OK_DELETE);
	drop_peer_slot(name, conninfo, slot);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * ws._ensure_publication() RETURNS boolean: create this node's publication
 * unless it exists (true when it did).  ws.add_peer on another node calls
 * it here before creating its slot.  Open to superusers and to roles with
 * the REPLICATION attribute, which may read every event through a slot
 * anyway; the publication is the one this node's own ws.add_peer creates.
 */
Datum
replication_ensure_publication(PG_FUNCTION_ARGS)
{
	bool		created;

	if (!superuser() && !has_rolreplication(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers and replication roles may call ws._ensure_publication"),
				 errhint("Connect as the role a peer's subscription uses, which has the REPLICATION attribute.")));
	require_replication_setup();
	SPI_connect();
	created = ensure_publication();
	SPI_finish();
	PG_RETURN_BOOL(created);
}

/*
 * The node ids of this node's peers, in order, as ws.nodes lists them
 * (none on a database still at 1.0, which has no ws.nodes); *n is set to
 * how many.  Runs inside SPI, as the current user.
 */
static int *
peer_ids(int *n)
{
	static SPIPlanPtr plan = NULL;
	static Oid	plan_nsp = InvalidOid;
	int		   *ids;

	*n = 0;
	if (!OidIsValid(get_relname_relid("nodes", ws_namespace())))
		return NULL;
	if (plan == NULL || plan_nsp != ws_namespace())
	{
		ws_prepare(&plan, "SELECT node_id FROM ws.nodes ORDER BY node_id", 0, NULL);
		plan_nsp = ws_namespace();
	}
	if (SPI_execute_plan(plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ws.nodes");
	ids = palloc(sizeof(int) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	*n = (int) SPI_processed;
	return ids;
}

/*
 * Whether this node has peers (rows in ws.nodes); a standalone node never
 * has.  Runs inside SPI.
 */
bool
ws_has_peers(void)
{
	int			n;

	if (ws_node_id == 0)
		return false;
	(void) peer_ids(&n);
	return n > 0;
}

/*
 * The name ws.nodes gives the peer with this node id, palloc'd, or NULL
 * when it is no peer of this node.  Runs inside SPI.
 */
char *
ws_peer_name(int node_id)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(node_id)};
	MemoryContext caller = CurrentMemoryContext;

	if (!OidIsValid(get_relname_relid("nodes", ws_namespace())))
		return NULL;
	ws_exec("SELECT name FROM ws.nodes WHERE node_id OPERATOR(pg_catalog.=) $1",
			1, types, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	return MemoryContextStrdup(caller,
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

/*
 * ws.synchronous_standby_names(sync_peers int DEFAULT NULL) RETURNS text:
 * the value of synchronous_standby_names that makes a commit of this node
 * wait for sync_peers of its peers (NULL: all of them), the first in node
 * id order that are connected: FIRST n (ws_node_2, ws_node_3).  The names
 * are the application names of the peers' subscriptions to this node.
 * 22023 for a number out of 1 .. the number of peers, 55000 when there
 * are none.
 */
Datum
replication_synchronous_standby_names(PG_FUNCTION_ARGS)
{
	bool		all = PG_ARGISNULL(0);
	int			want = all ? 0 : PG_GETARG_INT32(0);
	MemoryContext caller = CurrentMemoryContext;
	int		   *ids;
	int			n;
	StringInfoData buf;
	text	   *result;

	if (!all && want < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sync_peers must be at least 1, not %d", want),
				 errhint("Give how many peers must apply a commit before it returns, or NULL for all of them; for none, set synchronous_standby_names to ''.")));
	SPI_connect();
	ids = peer_ids(&n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node has no peers"),
				 errdetail("ws.nodes is empty: no peer could apply a commit of this node."),
				 errhint("Link the other nodes with ws.add_peer first.")));
	if (all)
		want = n;
	if (want > n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_plural("sync_peers is %d, but this node has %d peer",
							   "sync_peers is %d, but this node has %d peers",
							   n, want, n),
				 errhint("Give a number from 1 to %d, or NULL for all peers.", n)));
	initStringInfo(&buf);
	appendStringInfo(&buf, "FIRST %d (", want);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfo(&buf, WS_NODE_APPLICATION_NAME, ids[i]);
	}
	appendStringInfoChar(&buf, ')');
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		result = cstring_to_text(buf.data);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}
